"""Training a slice classifier (``ctphase train``): configuration, datasets, augmentation, loop, validation.

Manifests and labelled scans live in :mod:`ctphase.data`; this package imports torch when a
name is first used.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Augment", "TrainConfig", "train"]


def __getattr__(name: str) -> Any:  # lazy: importing ctphase.training does not import torch
    if name == "Augment":
        from .augment import Augment

        return Augment
    if name == "TrainConfig":
        from .config import TrainConfig

        return TrainConfig
    if name == "train":
        from .loop import train

        return train
    raise AttributeError(f"module 'ctphase.training' has no attribute {name!r}")
