"""The paper's models by key: their preprocessing, training into ctphase checkpoints, and scoring.

Keys: ``ARCH@SIZE`` for the 2D CNNs of the registry (``efficientnet_b2@224``), ``cdgan@128``
(the CD-GAN discriminator's phase head) and ``3dse`` (the 3D baseline); :data:`BUNDLED` names
ctphase's shipped model, which is scored but never trained here.

:func:`preprocessing_for` is the one place that says how each model is fed (the paper's 50/400
window; 3 identical channels for the 2D CNNs, 1 for CD-GAN and 3DSE; 3DSE resamples the whole
stack to its depth). The preprocessing is stored in every checkpoint :func:`train_model`
writes, and every model is scored through :class:`ctphase.inference.Classifier`, exactly as
``ctphase predict --model`` would.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ..data import LabelledScan
from ..errors import ConfigError
from ..models.checkpoint import Checkpoint
from ..phases import PHASE_NAMES
from ..preprocessing import PAPER_WINDOW, Preprocessing
from .data import Scale, slice_arrays

BUNDLED = "bundled"
"""Key of ctphase's shipped model (evaluated as a reference, never trained here)."""
SE3D = "3dse"
CDGAN = "cdgan"
CDGAN_KEY = "cdgan@128"
SCORE_BATCH = 64
"""Slices per forward pass when the experiments score a model."""


def parse_key(key: str) -> tuple[str, int | None]:
    """``"efficientnet_b2@224"`` -> ``("efficientnet_b2", 224)``; ``"3dse"`` -> ``("3dse", None)``.

    Raises:
        ConfigError: a 2D key without an input size.
    """
    name, _, size = key.partition("@")
    if name != SE3D and not size:
        raise ConfigError(f"model key {key!r} needs an input size, e.g. {key}@128")
    return name, int(size) if size else None


def preprocessing_for(key: str, scale: Scale) -> Preprocessing:
    """How the model ``key`` is fed, as stored in its checkpoint."""
    name, size = parse_key(key)
    if name == SE3D:
        depth, side, _ = scale.se3d_shape
        return Preprocessing(windows=(PAPER_WINDOW,), size=side, channels=1, depth=depth)
    return Preprocessing(windows=(PAPER_WINDOW,), size=int(size or 0), channels=1 if name == CDGAN else 3)


def train_model(
    key: str, scale: Scale, train: Sequence[LabelledScan], *, seed: int = 0,
    slices: Callable[[Preprocessing], tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Checkpoint:
    """Train ``key`` from random weights on ``train`` under the scale's fixed budget; returns its checkpoint.

    Args:
        slices: ``slices(pp)`` returns the training slices prepared by ``pp`` (a cache shared
            by models of the same input); default: prepared here.
    Returns:
        a checkpoint whose meta records the key, the training statistics (``train``), the
        number of parameters of the classifier and of training series.
    """
    import torch

    from ..models.checkpoint import new_checkpoint
    from ..models.registry import create_model
    from . import trainers
    from .cdgan import CDGAN as CDGANNet
    from .se3d import SE3DNet

    name, _ = parse_key(key)
    pp = preprocessing_for(key, scale)
    prepare = slices or (lambda p: slice_arrays(train, p))
    torch.manual_seed(seed)
    if name == SE3D:
        net: Any = SE3DNet()
        x = np.concatenate([pp(s.read()) for s in train])
        y = np.array([int(s.label) for s in train], np.int64)
        stats = trainers.train_volume_classifier(net, x, y, epochs=scale.se3d_epochs, batch_size=scale.se3d_batch,
                                                 lr=scale.lr, seed=seed, progress=progress)
        classifier = net
    elif name == CDGAN:
        net = CDGANNet()
        x, y, _ = prepare(pp)
        stats = trainers.train_cdgan(net, x, y, samples=scale.samples, batch_size=scale.batch_size, lr=scale.gan_lr,
                                     seed=seed, progress=progress)
        classifier = net.classifier()
    else:
        net = create_model(name, num_classes=len(PHASE_NAMES), in_chans=pp.channels)
        x, y, _ = prepare(replace(pp, channels=1))  # one channel in memory, repeated as a view while training
        stats = trainers.train_slice_classifier(net, x, y, samples=scale.samples, batch_size=scale.batch_size,
                                                lr=scale.lr, channels=pp.channels, seed=seed, progress=progress)
        classifier = net
    meta = {"paper_key": key, "train": stats, "n_params": sum(int(t.numel()) for t in classifier.parameters()),
            "n_train_series": len(train), "scale": scale.name, "seed": seed}
    arch = SE3D if name == SE3D else CDGAN if name == CDGAN else name
    return new_checkpoint(arch, pp, classifier, meta, output_activation=trainers.ACTIVATION)


def bundled_description(path: str | Path) -> str:
    """Architecture, input size and windows of the shipped model, e.g. ``"MobileNetV3-small/224, 3 windows"``."""
    from ..models.checkpoint import load_checkpoint

    ckpt = load_checkpoint(path)
    names = {"mobilenetv3_small": "MobileNetV3-small", "efficientnet_b2": "EfficientNet-B2", "efficientnet_b0": "EfficientNet-B0"}
    n = len(ckpt.preprocessing.windows)
    return f"{names.get(ckpt.arch, ckpt.arch)}/{ckpt.preprocessing.size}, {n} window{'s' if n > 1 else ''}"


def classifier_for(checkpoint: Checkpoint | str | Path, batch_size: int = SCORE_BATCH) -> Any:
    """The product's :class:`~ctphase.inference.Classifier` for a paper model (PyTorch on the CPU)."""
    from ..inference import Classifier

    return Classifier(checkpoint, device="cpu", engine="torch", batch_size=batch_size)
