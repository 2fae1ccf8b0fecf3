"""CD-GAN: the GAN baseline of the reference paper (after Tang et al. 2020), as an AC-GAN.

Tang et al., *Contrast phase classification with a generative adversarial network* (2020),
train a multi-domain disentangling GAN (anatomy code + phase code, unpaired translation
between phases) whose ResNet-style discriminator also classifies the phase; only that
discriminator is used at test time. We keep the part that matters at test time and simplify
the generator to the auxiliary-classifier GAN (AC-GAN) form: a :class:`Generator` maps noise
(the shared "common representation") fused with a phase embedding (the "class-specific code")
to a ``(1, 128, 128)`` slice in ``[0, 1]``; a :class:`Discriminator` of residual downsampling
blocks has two heads, real/fake (1 logit) and phase (4 logits). Training
(:func:`cdgan_train_step`) alternates a discriminator step (adversarial + phase classification
on real and generated slices) and a generator step (adversarial + classification of its own
slices). :class:`CDGANClassifier` exposes the phase head as a plain 2D slice classifier
``(N, C, 128, 128) -> (N, 4)`` logits: it is what a checkpoint of architecture ``"cdgan"``
(registered by :mod:`ctphase.paper`) holds, sampled and voted exactly like the 2D method.

Logits are in the canonical class order of :data:`ctphase.phases.PHASE_NAMES`.
"""

from __future__ import annotations

import itertools
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .se3d import NUM_CLASSES, positive_int

CDGAN_SIZE = 128
"""Slice size (H = W) of CD-GAN."""


class Generator(nn.Module):
    """Noise fused with a phase embedding -> one ``(out_chans, 128, 128)`` slice in ``[0, 1]``.

    ``fc`` maps ``[z, embed(label)]`` to ``(8w, 4, 4)``, then five (upsample x2, conv3, BN, ReLU)
    stages reach 128 px with channels ``8w, 8w, 4w, 2w, w`` and a final conv3 + sigmoid.
    Nearest upsampling + conv avoids the checkerboard of transposed convolutions.

    Args:
        latent_dim: length of the noise vector.
        embed_dim: length of the phase embedding.
        width: base channels ``w``.
        out_chans: channels of the generated slice (the discriminator's ``in_chans``).
        num_classes: number of phases.
    """

    def __init__(
        self,
        latent_dim: int = 128,
        embed_dim: int = 32,
        width: int = 32,
        out_chans: int = 1,
        num_classes: int = NUM_CLASSES,
    ) -> None:
        super().__init__()
        self.latent_dim = positive_int("latent_dim", latent_dim)
        embed_dim = positive_int("embed_dim", embed_dim)
        w = positive_int("width", width)
        self.out_chans = positive_int("out_chans", out_chans)
        self.num_classes = positive_int("num_classes", num_classes)
        self.embed = nn.Embedding(self.num_classes, embed_dim)
        self.fc = nn.Sequential(nn.Linear(self.latent_dim + embed_dim, 8 * w * 16), nn.ReLU(inplace=True))
        chans = [8 * w, 8 * w, 4 * w, 2 * w, w, w]
        blocks: list[nn.Module] = []
        for cin, cout in itertools.pairwise(chans):
            blocks += [
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv2d(cin, cout, 3, padding=1, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU(inplace=True),
            ]
        self.up = nn.Sequential(*blocks)
        self.out = nn.Conv2d(w, self.out_chans, 3, padding=1)
        self._w = w

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """``z`` ``(N, latent_dim)``, ``labels`` ``(N,)`` int64 -> ``(N, out_chans, 128, 128)`` in ``[0, 1]``."""
        h = self.fc(torch.cat([z, self.embed(labels)], dim=1)).view(-1, 8 * self._w, 4, 4)
        return torch.sigmoid(self.out(self.up(h)))

    def sample_noise(self, n: int, generator: torch.Generator | None = None, device: Any = None) -> torch.Tensor:
        """Standard normal noise ``(n, latent_dim)``."""
        return torch.randn(n, self.latent_dim, generator=generator, device=device)


class _ResDown(nn.Module):
    """Residual downsampling block of the discriminator: conv3 s2 - BN - LReLU - conv3 - BN + shortcut."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential(nn.AvgPool2d(2), nn.Conv2d(cin, cout, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.leaky_relu(self.bn1(self.conv1(x)), 0.2, inplace=True)
        y = self.bn2(self.conv2(y))
        return F.leaky_relu(y + self.shortcut(x), 0.2)


class Discriminator(nn.Module):
    """ResNet-style discriminator with a real/fake head and a phase head.

    ``(N, in_chans, 128, 128)``: stem conv3 (w ch, LReLU) then five residual downsampling
    blocks (``w, 2w, 4w, 8w, 8w``) to ``(N, 8w, 4, 4)``, global average pooling, dropout, and two
    linear heads.

    Args:
        in_chans: input channels (1: one window).
        width: base channels ``w``.
        num_classes: number of phases.
        drop_rate: dropout before the heads.
    """

    def __init__(self, in_chans: int = 1, width: int = 32, num_classes: int = NUM_CLASSES, drop_rate: float = 0.3) -> None:
        super().__init__()
        self.in_chans = positive_int("in_chans", in_chans)
        w = positive_int("width", width)
        self.num_classes = positive_int("num_classes", num_classes)
        if not 0.0 <= float(drop_rate) < 1.0:
            msg = f"drop_rate must be in [0, 1), got {drop_rate!r}"
            raise ConfigError(msg)
        self.stem = nn.Sequential(nn.Conv2d(self.in_chans, w, 3, padding=1), nn.LeakyReLU(0.2, inplace=True))
        chans = [w, w, 2 * w, 4 * w, 8 * w, 8 * w]
        self.blocks = nn.Sequential(*[_ResDown(a, b) for a, b in itertools.pairwise(chans)])
        self.drop = nn.Dropout(float(drop_rate))
        self.adv_head = nn.Linear(8 * w, 1)
        self.cls_head = nn.Linear(8 * w, self.num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, in_chans, H, W)`` -> pooled features ``(N, 8w)``."""
        return self.drop(self.blocks(self.stem(x)).mean(dim=(2, 3)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(N, in_chans, 128, 128)`` -> (real/fake logits ``(N,)``, phase logits ``(N, num_classes)``)."""
        f = self.features(x)
        return self.adv_head(f).squeeze(1), self.cls_head(f)

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """Phase logits only, ``(N, in_chans, H, W)`` -> ``(N, num_classes)``."""
        return self.cls_head(self.features(x))


class CDGANClassifier(nn.Module):
    """The discriminator's phase head as a plain 2D slice classifier (what is voted at test time).

    Input ``(N, C, H, W)``: when ``C`` differs from the discriminator's ``in_chans`` (1), the
    channels are averaged (the paper's 2D pipeline feeds 3 identical channels), so slices
    prepared for the 2D method can be passed unchanged. Output ``(N, 4)`` logits.
    """

    def __init__(self, discriminator: Discriminator) -> None:
        super().__init__()
        if not isinstance(discriminator, Discriminator):
            msg = f"CDGANClassifier wraps a Discriminator, got {type(discriminator).__name__}"
            raise ConfigError(msg)
        self.discriminator = discriminator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C, H, W)`` float32 -> ``(N, num_classes)`` logits."""
        d = self.discriminator
        if x.shape[1] != d.in_chans:
            if d.in_chans != 1:
                msg = f"input has {x.shape[1]} channels but the discriminator expects {d.in_chans}"
                raise ConfigError(msg)
            x = x.mean(dim=1, keepdim=True)
        return d.classify(x)


class CDGAN(nn.Module):
    """Generator + discriminator pair; calling it classifies slices like :class:`CDGANClassifier`.

    Args:
        latent_dim, embed_dim: generator noise and phase-embedding lengths.
        width: base channels of both networks.
        in_chans: slice channels (generated and classified).
        num_classes: number of phases.
        drop_rate: discriminator dropout.
    """

    def __init__(
        self,
        latent_dim: int = 128,
        embed_dim: int = 32,
        width: int = 32,
        in_chans: int = 1,
        num_classes: int = NUM_CLASSES,
        drop_rate: float = 0.3,
    ) -> None:
        super().__init__()
        self.generator = Generator(latent_dim, embed_dim, width, in_chans, num_classes)
        self.discriminator = Discriminator(in_chans, width, num_classes, drop_rate)

    def classifier(self) -> CDGANClassifier:
        """The test-time slice classifier (shares the discriminator's weights)."""
        return CDGANClassifier(self.discriminator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C, 128, 128)`` -> ``(N, num_classes)`` phase logits."""
        return CDGANClassifier(self.discriminator)(x)


def discriminator_loss(
    discriminator: Discriminator,
    real: torch.Tensor,
    labels: torch.Tensor,
    fake: torch.Tensor,
    fake_labels: torch.Tensor,
    cls_weight: float = 1.0,
) -> dict[str, torch.Tensor]:
    """AC-GAN discriminator loss: BCE(real -> 1, fake -> 0) + ``cls_weight`` x CE on real and fake.

    ``fake`` is detached here, so the loss only reaches the discriminator.

    Args:
        real: ``(N, C, 128, 128)`` real slices in ``[0, 1]``; ``labels`` ``(N,)`` int64 phases.
        fake: ``(M, C, 128, 128)`` generated slices; ``fake_labels`` ``(M,)`` their conditioning phases.
    Returns:
        ``loss`` (scalar to backpropagate) and its parts ``adv``, ``cls_real``, ``cls_fake``,
        plus ``acc_real`` (phase accuracy on the real batch, no grad).
    """
    adv_r, cls_r = discriminator(real)
    adv_f, cls_f = discriminator(fake.detach())
    adv = F.binary_cross_entropy_with_logits(adv_r, torch.ones_like(adv_r)) + F.binary_cross_entropy_with_logits(
        adv_f, torch.zeros_like(adv_f)
    )
    cls_real = F.cross_entropy(cls_r, labels)
    cls_fake = F.cross_entropy(cls_f, fake_labels)
    loss = adv + cls_weight * (cls_real + cls_fake)
    acc = (cls_r.detach().argmax(1) == labels).float().mean()
    return {"loss": loss, "adv": adv, "cls_real": cls_real, "cls_fake": cls_fake, "acc_real": acc}


def generator_loss(
    discriminator: Discriminator,
    fake: torch.Tensor,
    fake_labels: torch.Tensor,
    cls_weight: float = 1.0,
) -> dict[str, torch.Tensor]:
    """AC-GAN generator loss: BCE(D(fake) -> real) + ``cls_weight`` x CE(phase of fake, its label).

    Its gradient also reaches the discriminator's parameters; zero those before the next
    discriminator step (:func:`cdgan_train_step` does).

    Returns:
        ``loss`` and its parts ``adv``, ``cls``.
    """
    adv_f, cls_f = discriminator(fake)
    adv = F.binary_cross_entropy_with_logits(adv_f, torch.ones_like(adv_f))
    cls = F.cross_entropy(cls_f, fake_labels)
    return {"loss": adv + cls_weight * cls, "adv": adv, "cls": cls}


def _fake_batch(
    generator: Generator, n: int, labels: torch.Tensor, rng: torch.Generator | None
) -> tuple[torch.Tensor, torch.Tensor]:
    # the fake batch is conditioned on the real batch's phases: balanced exactly as the data
    z = generator.sample_noise(n, generator=rng).to(labels.device)
    return generator(z, labels), labels


def cdgan_losses(
    generator: Generator,
    discriminator: Discriminator,
    real: torch.Tensor,
    labels: torch.Tensor,
    *,
    cls_weight: float = 1.0,
    rng: torch.Generator | None = None,
) -> dict[str, torch.Tensor]:
    """Both CD-GAN losses on one generated batch, for a simultaneous update or for logging.

    One fake batch is generated from fresh noise, conditioned on ``labels``. ``d_loss`` sees it
    detached; ``g_loss`` backpropagates through the discriminator into the generator. Call both
    ``backward()`` before any optimiser step (a step changes weights the other graph needs),
    and clear the discriminator's gradients from ``g_loss`` if you step it. For the usual
    alternating update use :func:`cdgan_train_step`.

    Args:
        real: ``(N, C, 128, 128)`` float32 slices in ``[0, 1]``.
        labels: ``(N,)`` int64 phase indices (canonical order).
        cls_weight: weight of the classification terms.
        rng: torch generator for the noise (seeded runs).
    Returns:
        ``d_loss``, ``g_loss`` (scalars) and the parts ``d_adv``, ``d_cls_real``, ``d_cls_fake``,
        ``g_adv``, ``g_cls``, ``acc_real``, plus ``fake`` ``(N, C, 128, 128)``.
    """
    _check_batch(real, labels, discriminator)
    fake, fl = _fake_batch(generator, real.shape[0], labels, rng)
    d = discriminator_loss(discriminator, real, labels, fake, fl, cls_weight)
    g = generator_loss(discriminator, fake, fl, cls_weight)
    return {
        "d_loss": d["loss"],
        "g_loss": g["loss"],
        "d_adv": d["adv"],
        "d_cls_real": d["cls_real"],
        "d_cls_fake": d["cls_fake"],
        "g_adv": g["adv"],
        "g_cls": g["cls"],
        "acc_real": d["acc_real"],
        "fake": fake,
    }


def cdgan_train_step(
    generator: Generator,
    discriminator: Discriminator,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    real: torch.Tensor,
    labels: torch.Tensor,
    *,
    cls_weight: float = 1.0,
    rng: torch.Generator | None = None,
) -> dict[str, float]:
    """One alternating AC-GAN step: discriminator first, then generator on the same fake batch.

    Args:
        opt_g, opt_d: optimisers over the generator's and the discriminator's parameters.
        real: ``(N, C, 128, 128)`` float32 slices in ``[0, 1]``; ``labels`` ``(N,)`` int64.
    Returns:
        floats ``d_loss``, ``g_loss``, ``d_adv``, ``d_cls_real``, ``d_cls_fake``, ``g_adv``,
        ``g_cls``, ``acc_real``.
    """
    _check_batch(real, labels, discriminator)
    fake, fl = _fake_batch(generator, real.shape[0], labels, rng)
    d = discriminator_loss(discriminator, real, labels, fake, fl, cls_weight)
    opt_d.zero_grad(set_to_none=True)
    d["loss"].backward()
    opt_d.step()
    g = generator_loss(discriminator, fake, fl, cls_weight)
    opt_g.zero_grad(set_to_none=True)
    g["loss"].backward()
    opt_g.step()
    opt_d.zero_grad(set_to_none=True)  # drop what g_loss left in the discriminator
    return {
        "d_loss": d["loss"].item(),
        "g_loss": g["loss"].item(),
        "d_adv": d["adv"].item(),
        "d_cls_real": d["cls_real"].item(),
        "d_cls_fake": d["cls_fake"].item(),
        "g_adv": g["adv"].item(),
        "g_cls": g["cls"].item(),
        "acc_real": d["acc_real"].item(),
    }


def _check_batch(real: torch.Tensor, labels: torch.Tensor, discriminator: Discriminator) -> None:
    if real.ndim != 4 or real.shape[1] != discriminator.in_chans:
        msg = f"real slices must be (N, {discriminator.in_chans}, H, W), got {tuple(real.shape)}"
        raise ConfigError(msg)
    if labels.shape != (real.shape[0],) or labels.dtype != torch.int64:
        msg = f"labels must be int64 of shape ({real.shape[0]},), got {labels.dtype} {tuple(labels.shape)}"
        raise ConfigError(msg)
    if int(labels.min()) < 0 or int(labels.max()) >= discriminator.num_classes:
        msg = f"labels must be in 0..{discriminator.num_classes - 1}, got {labels.tolist()}"
        raise ConfigError(msg)
