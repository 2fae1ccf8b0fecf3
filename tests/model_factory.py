"""Tiny random-init checkpoints for tests (``from model_factory import make_checkpoint``).

Random weights are fine for pipeline tests: the probabilities are valid, just meaningless.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ctphase.phases import PHASE_NAMES
from ctphase.preprocessing import Preprocessing


def make_checkpoint(
    path: str | Path,
    arch: str = "resnet18",
    size: int = 32,
    seed: int = 0,
    with_onnx: bool = False,
    *,
    channels: int = 3,
    class_names: tuple[str, ...] = PHASE_NAMES,
    output_activation: str = "softmax",
    meta: dict | None = None,
    heads: bool | Any = False,
) -> Path:
    """Write a random-init checkpoint of ``arch`` at ``size`` px to ``path`` and return the path.

    With ``with_onnx`` the ONNX export (legacy exporter, opset 17: about 1 s) is embedded. With
    ``heads`` the network has the subphase and seconds heads (:mod:`ctphase.models.heads`; a ``Heads``: those).
    """
    import torch

    from ctphase.models import create_model, embed_onnx, new_checkpoint, save_checkpoint

    torch.manual_seed(seed)
    from ctphase.models.heads import Heads

    spec = heads if isinstance(heads, Heads) else Heads() if heads else None
    model = create_model(arch, num_classes=len(class_names) + (spec.width if spec else 0), in_chans=channels)
    windows = ((50.0, 400.0),) if channels == 1 or channels == 3 else tuple((50.0, 400.0 + 100 * i) for i in range(channels))
    pre = Preprocessing(windows=windows, size=size, channels=channels)
    meta = {"training": {"note": "random init for tests", "seed": seed}, **(meta or {})}
    ckpt = new_checkpoint(arch, pre, model, meta, class_names=class_names, output_activation=output_activation,
                          heads=spec)
    if with_onnx:
        ckpt = embed_onnx(ckpt, opset=17, exporter="legacy")
    return save_checkpoint(ckpt, path)
