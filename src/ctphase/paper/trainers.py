"""Fixed-budget training of the models the experiments compare, on arrays held in memory.

The experiments compare architectures "on the same data with the same budget": every 2D model
sees exactly ``samples`` training slices (random order, seeded), with the same optimiser
(Adam, linear warm-up over 5% of the steps, then cosine decay) and the paper's loss (BCE on
one-hot targets; :class:`ctphase.training.loop.PhaseLoss`). No augmentation: every model gets
the same pixels. CD-GAN trains its generator and discriminator on the same slices and budget
(:func:`ctphase.paper.cdgan.cdgan_train_step`); 3DSE trains on the same series, one
volume per series. The trained networks become ctphase checkpoints in :mod:`ctphase.paper.models`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError
from ..models.activation import activation_for_loss
from ..training.loop import PhaseLoss, lr_factor

Progress = Callable[[int, int], None]
LOSS = "bce"
ACTIVATION = activation_for_loss(LOSS)
WARMUP_FRACTION = 0.05


def _batch_indices(n: int, steps: int, batch_size: int, seed: int) -> list[np.ndarray]:
    """``steps`` batches drawn epoch by epoch from seeded permutations of ``range(n)``."""
    if n < 1:
        raise ConfigError("no training samples")
    rng = np.random.default_rng(seed)
    order = np.zeros(0, np.int64)
    out = []
    for _ in range(steps):
        while len(order) < batch_size:
            order = np.concatenate([order, rng.permutation(n)])
        out.append(order[:batch_size])
        order = order[batch_size:]
    return out


def _set_lr(opt: torch.optim.Optimizer, base: float, step: int, steps: int) -> None:
    f = lr_factor(step, steps, max(1, int(WARMUP_FRACTION * steps)))
    for g in opt.param_groups:
        g["lr"] = base * f


def _as_input(x: torch.Tensor, channels: int) -> torch.Tensor:
    if x.shape[1] != channels:
        x = x.expand(-1, channels, -1, -1)
    return x.contiguous(memory_format=torch.channels_last)


def train_slice_classifier(
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    *,
    samples: int,
    batch_size: int,
    lr: float,
    channels: int = 3,
    seed: int = 0,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Train a 2D classifier on ``samples`` slices drawn from ``x`` (one channel, repeated to ``channels``).

    Args:
        x: ``(N, 1, S, S)`` float32 windowed slices; ``y``: ``(N,)`` labels.
        samples: slices seen in total (the budget); ``samples // batch_size`` steps (at least 1).
    Returns:
        ``{"steps", "samples", "seconds", "images_per_s", "final_loss"}`` (mean loss of the last 10% of steps).
    """
    steps = max(1, samples // batch_size)
    model.to(memory_format=torch.channels_last)
    dt, loss = _fit(model, x, y, steps, batch_size, lr, seed, progress, lambda xb: _as_input(xb, channels))
    return {"steps": steps, "samples": steps * batch_size, "seconds": dt, "images_per_s": steps * batch_size / dt,
            "final_loss": loss}


def _fit(
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    steps: int,
    batch_size: int,
    lr: float,
    seed: int,
    progress: Progress | None,
    prepare: Callable[[torch.Tensor], torch.Tensor],
) -> tuple[float, float]:
    """The supervised loop shared by the 2D and 3D trainers: ``steps`` Adam steps on seeded batches.

    Returns:
        (seconds, mean loss over the last 10% of the steps).
    """
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = PhaseLoss(LOSS, 4)
    losses = []
    t0 = time.perf_counter()
    for step, idx in enumerate(_batch_indices(len(xt), steps, batch_size, seed)):
        _set_lr(opt, lr, step, steps)
        ti = torch.from_numpy(idx)
        loss = loss_fn(model(prepare(xt[ti])), yt[ti])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if progress:
            progress(step + 1, steps)
    return time.perf_counter() - t0, float(np.mean(losses[-max(1, steps // 10) :]))


def train_cdgan(
    cdgan: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    *,
    samples: int,
    batch_size: int,
    lr: float,
    seed: int = 0,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Train CD-GAN (AC-GAN form) on ``samples`` real slices: alternating D and G steps.

    Args:
        cdgan: a :class:`ctphase.paper.cdgan.CDGAN` (its slices are one channel, 128 px).
        x: ``(N, 1, 128, 128)`` windowed slices in [0, 1]; ``y``: ``(N,)`` labels.
        lr: Adam rate of both networks (betas 0.5, 0.999, as usual for GANs), warm-up + cosine.
    Returns:
        ``{"steps", "samples", "seconds", "images_per_s", "final_loss", "final_acc_real"}``
        (``final_loss``: the discriminator's phase loss on real slices over the last 10% of steps).
    """
    from .cdgan import cdgan_train_step

    steps = max(1, samples // batch_size)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    g, d = cdgan.generator, cdgan.discriminator
    cdgan.train()
    opt_g = torch.optim.Adam(g.parameters(), lr=lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=lr, betas=(0.5, 0.999))
    rng = torch.Generator().manual_seed(seed)
    cls, acc = [], []
    t0 = time.perf_counter()
    for step, idx in enumerate(_batch_indices(len(xt), steps, batch_size, seed)):
        _set_lr(opt_g, lr, step, steps)
        _set_lr(opt_d, lr, step, steps)
        ti = torch.from_numpy(idx)
        r = cdgan_train_step(g, d, opt_g, opt_d, xt[ti], yt[ti], rng=rng)
        cls.append(r["d_cls_real"])
        acc.append(r["acc_real"])
        if progress:
            progress(step + 1, steps)
    recalibrate_batchnorm(d, x, seed=seed)
    dt = time.perf_counter() - t0
    k = max(1, steps // 10)
    return {"steps": steps, "samples": steps * batch_size, "seconds": dt, "images_per_s": steps * batch_size / dt,
            "final_loss": float(np.mean(cls[-k:])), "final_acc_real": float(np.mean(acc[-k:]))}


@torch.no_grad()
def recalibrate_batchnorm(module: nn.Module, x: np.ndarray, *, max_samples: int = 2048, batch_size: int = 64,
                          seed: int = 0) -> None:
    """Re-estimate the BatchNorm running statistics of ``module`` on real slices ``x`` only.

    During GAN training the discriminator's BatchNorm layers see real and generated batches in
    turn, so their running statistics (used in eval mode) describe a mix of both and misfit
    real scans at test time. This recomputes them as a plain average of batch statistics over up to
    ``max_samples`` real training slices (seeded choice); the weights are not changed.
    """
    bns = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns or len(x) == 0:
        return
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over all batches
    was_training = module.training
    module.train()
    idx = np.sort(np.random.default_rng(seed).permutation(len(x))[:max_samples])
    for i in range(0, len(idx), batch_size):
        module(torch.from_numpy(x[idx[i : i + batch_size]]))
    for m, mom in zip(bns, momenta):
        m.momentum = mom
    module.train(was_training)


def train_volume_classifier(
    model: nn.Module,
    volumes: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int = 0,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Train 3DSE on whole resampled scans for ``epochs`` passes.

    Args:
        volumes: ``(V, 1, D, H, W)`` float32, each prepared by the 3DSE checkpoint's preprocessing.
    Returns:
        ``{"steps", "volumes_seen", "seconds", "volumes_per_s", "final_loss"}``.
    """
    steps = max(1, epochs * len(volumes) // batch_size)
    dt, loss = _fit(model, volumes, y, steps, batch_size, lr, seed, progress, lambda xb: xb)
    return {"steps": steps, "volumes_seen": steps * batch_size, "seconds": dt,
            "volumes_per_s": steps * batch_size / dt, "final_loss": loss}
