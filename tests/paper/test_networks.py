"""The paper's learned baselines: 3DSE and CD-GAN networks on tiny tensors, and their registry entries."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ctphase.paper  # noqa: F401  (registers 3dse and cdgan)
from ctphase.errors import ConfigError
from ctphase.models.registry import create_model
from ctphase.paper.cdgan import CDGAN, CDGANClassifier, Discriminator, Generator, cdgan_losses, cdgan_train_step
from ctphase.paper.se3d import SE3DNet


@pytest.fixture(autouse=True)
def _one_torch_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_se3dnet_full_size_forward_shape() -> None:
    model = create_model("3dse", in_chans=1).eval()
    assert isinstance(model, SE3DNet)
    with torch.no_grad():
        out = model(torch.rand(1, 1, 32, 128, 128))
    assert out.shape == (1, 4) and torch.isfinite(out).all()


def test_se3dnet_overfits_four_tiny_volumes() -> None:
    torch.manual_seed(0)
    x = torch.rand(4, 1, 8, 32, 32)
    y = torch.arange(4)
    model = SE3DNet(width=8, drop_rate=0.0)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(15):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses


def _small_gan() -> tuple[Generator, Discriminator]:
    torch.manual_seed(0)
    return Generator(latent_dim=16, embed_dim=8, width=4), Discriminator(width=4)


def test_cdgan_shapes() -> None:
    g, d = _small_gan()
    fake = g(g.sample_noise(3), torch.tensor([0, 2, 3]))
    assert fake.shape == (3, 1, 128, 128) and 0.0 <= fake.min().item() and fake.max().item() <= 1.0
    adv, cls = d(fake)
    assert adv.shape == (3,) and cls.shape == (3, 4)


def test_cdgan_train_step_and_losses_are_finite() -> None:
    g, d = _small_gan()
    real, y = torch.rand(2, 1, 128, 128), torch.tensor([1, 3])
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    before = [p.detach().clone() for p in g.parameters()]
    logs = cdgan_train_step(g, d, opt_g, opt_d, real, y, rng=torch.Generator().manual_seed(0))
    assert set(logs) >= {"d_loss", "g_loss", "d_cls_real", "d_cls_fake", "g_adv", "g_cls"}
    assert all(np.isfinite(v) for v in logs.values())
    assert any(not torch.equal(a, b) for a, b in zip(before, g.parameters()))
    assert all(p.grad is None for p in d.parameters())
    out = cdgan_losses(g, d, real, y)
    out["d_loss"].backward(retain_graph=True)
    out["g_loss"].backward()
    assert torch.isfinite(out["d_loss"]) and torch.isfinite(out["g_loss"])
    with pytest.raises(ConfigError, match=r"labels must be in 0\.\.3, got \[1, 4\]"):
        cdgan_train_step(g, d, opt_g, opt_d, real, torch.tensor([1, 4]))


def test_cdgan_classifier_wrapper_votes_like_a_2d_model() -> None:
    model = CDGAN(latent_dim=16, embed_dim=8, width=4).eval()
    clf = model.classifier().eval()
    assert isinstance(clf, CDGANClassifier)
    x3 = torch.rand(5, 3, 128, 128)
    with torch.no_grad():
        logits = clf(x3)
        assert logits.shape == (5, 4)
        torch.testing.assert_close(logits, model.discriminator.classify(x3.mean(1, keepdim=True)))
        torch.testing.assert_close(model(x3), logits)
    with pytest.raises(ConfigError, match="wraps a Discriminator"):
        CDGANClassifier(torch.nn.Linear(2, 2))  # type: ignore[arg-type]


def test_registry_builds_the_baselines_and_names_errors() -> None:
    assert isinstance(create_model("3dse", in_chans=1, width=4), SE3DNet)
    assert isinstance(create_model("cdgan", in_chans=1, width=4), CDGANClassifier)
    with pytest.raises(ConfigError, match="unknown architecture 'vit3d'.*3dse, cdgan"):
        create_model("vit3d")
    with pytest.raises(ConfigError, match="bad option for architecture '3dse'"):
        create_model("3dse", depth=3)
    with pytest.raises(ConfigError, match="width must be a positive integer, got 0"):
        SE3DNet(width=0)
