"""Training: manifests, datasets and the training loop (``ctphase train``)."""

from __future__ import annotations

from typing import Any

__all__ = [
    "Augment",
    "Manifest",
    "SeriesRecord",
    "SliceRecord",
    "TrainConfig",
    "read_manifest",
    "split_by_patient",
    "train",
]


def __getattr__(name: str) -> Any:  # lazy: reading a manifest does not import torch
    if name in {"Manifest", "SeriesRecord", "SliceRecord", "read_manifest", "split_by_patient"}:
        from . import manifest

        return getattr(manifest, name)
    if name == "Augment":
        from .datasets import Augment

        return Augment
    if name in {"TrainConfig", "train"}:
        from . import loop

        return getattr(loop, name)
    raise AttributeError(f"module 'ctphase.training' has no attribute {name!r}")
