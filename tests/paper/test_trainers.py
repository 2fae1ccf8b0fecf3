"""Fixed-budget trainers of the paper's experiments: each must learn a separable toy task."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from ctphase.paper import trainers
from ctphase.paper.cdgan import CDGAN
from ctphase.paper.se3d import SE3DNet
from ctphase.training.validate import predict_probs


def _predict(net: nn.Module, x: np.ndarray, channels: int | None = None) -> np.ndarray:
    """Probabilities of the trainers' activation; 2D slices repeated to ``channels`` as a view."""
    xt = torch.from_numpy(x)
    if channels is not None:
        xt = xt.expand(-1, channels, -1, -1)
    return predict_probs(net, xt, trainers.ACTIVATION, torch.device("cpu"))


def _toy_slices(n: int, size: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Label k = quadrant k is bright, plus noise: separable, so any working trainer must learn it."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    x = rng.normal(0.2, 0.05, (n, 1, size, size)).astype(np.float32)
    h = size // 2
    for i, k in enumerate(y):
        x[i, 0, (k // 2) * h : (k // 2 + 1) * h, (k % 2) * h : (k % 2 + 1) * h] += 0.5
    return np.clip(x, 0, 1), y.astype(np.int64)


class _TinyNet(nn.Module):
    def __init__(self, in_chans: int = 3, size: int = 16) -> None:
        super().__init__()
        self.fc = nn.Linear(in_chans * size * size, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1))


def test_batches_visit_every_sample_once_per_epoch():
    batches = trainers._batch_indices(10, steps=5, batch_size=4, seed=3)  # 20 draws = 2 epochs
    flat = np.concatenate(batches)
    assert len(flat) == 20
    assert sorted(flat[:10]) == list(range(10)) and sorted(flat[10:]) == list(range(10))
    assert [b.tolist() for b in batches] == [b.tolist() for b in trainers._batch_indices(10, 5, 4, seed=3)]


def test_slice_trainer_learns_a_separable_task_within_its_budget():
    torch.manual_seed(0)
    x, y = _toy_slices(256)
    net = _TinyNet()
    stats = trainers.train_slice_classifier(net, x, y, samples=1600, batch_size=16, lr=0.02)
    assert stats["steps"] == 100 and stats["samples"] == 1600
    xt, yt = _toy_slices(200, seed=1)
    p = _predict(net, xt, channels=3)
    assert p.shape == (200, 4) and np.allclose(p.sum(1), 1, atol=1e-5)
    assert (p.argmax(1) == yt).mean() > 0.9


@pytest.mark.slow
def test_volume_trainer_learns_3dse_on_toy_volumes():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 48)
    v = rng.normal(0.2, 0.05, (48, 1, 8, 16, 16)).astype(np.float32)
    for i, k in enumerate(y):  # class k: slab k of the volume is bright
        v[i, 0, 2 * k : 2 * k + 2] += 0.5
    net = SE3DNet(width=4, drop_rate=0.0)
    stats = trainers.train_volume_classifier(net, v, y.astype(np.int64), epochs=15, batch_size=8, lr=0.01)
    assert stats["steps"] == 15 * 48 // 8
    p = _predict(net, v)
    assert (p.argmax(1) == y).mean() > 0.9


@pytest.mark.slow
def test_cdgan_trainer_trains_the_discriminator_phase_head():
    torch.manual_seed(0)
    x, y = _toy_slices(64, size=128)
    gan = CDGAN(width=4, latent_dim=8, embed_dim=4)
    before = _predict(gan.classifier(), x)
    stats = trainers.train_cdgan(gan, x, y, samples=480, batch_size=16, lr=2e-3)
    assert stats["steps"] == 30
    after = _predict(gan.classifier(), x)
    assert (after.argmax(1) == y).mean() > max(0.6, (before.argmax(1) == y).mean())


def test_batchnorm_recalibration_uses_only_the_given_real_slices():
    bn = nn.Sequential(nn.BatchNorm2d(1))
    bn[0].running_mean.fill_(5.0)  # as if polluted by generated batches
    x = np.random.default_rng(0).normal(0.3, 0.1, (100, 1, 8, 8)).astype(np.float32)
    bn.eval()
    trainers.recalibrate_batchnorm(bn, x, batch_size=25)  # equal batches: the mean of batch means is the mean
    assert not bn.training and bn[0].momentum == 0.1
    assert bn[0].running_mean.item() == pytest.approx(float(x.mean()), abs=1e-4)
