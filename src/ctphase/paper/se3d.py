"""The paper's two learned baselines: a 3D squeeze-and-excitation CNN (3DSE) and CD-GAN.

Dao et al. (2022) compare their 2D slice classifier + random sampling + majority vote with
two published methods. Both are rebuilt here from their papers' descriptions; where a paper
is vague the choice made is written next to the code and summarised below.

3DSE (:class:`SE3DNet`), after Zhou et al. 2019, *Automatic contrast phase estimation in CT volumes*
    One whole scan is resampled to ``32 x 128 x 128`` (D, H, W), windowed to ``[0, 1]`` and
    classified at once by a small 3D CNN with squeeze-and-excitation (SE) blocks. Assumed where
    the paper is vague: a stem conv that halves H and W only (the z axis is already coarse), three
    residual SE stages that each halve every axis, channels 16-32-64-128, SE reduction 4,
    BatchNorm + ReLU, global average pooling, dropout 0.3 and one linear layer; about 0.9 M
    parameters and ~0.5 GMAC per scan. The input is prepared by :func:`volume_to_3dse_input`
    with the one preprocessing implementation (:mod:`ctphase.preprocessing`).

CD-GAN (:class:`CDGAN`), after Tang et al. 2020, *Contrast phase classification with a generative adversarial network*
    The original is a multi-domain disentangling GAN (anatomy code + phase code, unpaired
    translation between phases) whose ResNet-style discriminator also classifies the phase;
    only that discriminator is used at test time. We keep the part that matters at test time
    and simplify the generator to the auxiliary-classifier GAN (AC-GAN) form: a
    :class:`Generator` maps noise (the shared "common representation") fused with a phase
    embedding (the "class-specific code") to a ``(1, 128, 128)`` slice in ``[0, 1]``; a
    :class:`Discriminator` of residual downsampling blocks has two heads, real/fake (1 logit)
    and phase (4 logits). Training (:func:`cdgan_train_step`) alternates a discriminator step
    (adversarial + phase classification on real and generated slices) and a generator step
    (adversarial + classification of its own slices). :class:`CDGANClassifier` exposes the
    phase head as a plain 2D slice classifier ``(N, C, 128, 128) -> (N, 4)`` logits, so it is
    sampled and voted exactly like the 2D method.

Both networks output logits in the canonical class order of :data:`ctphase.phases.PHASE_NAMES`.
They are registered in :data:`BASELINES` (not in the 2D backbone registry): the checkpoint
format does not know them yet.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..preprocessing import PAPER_WINDOW, Preprocessing

logger = logging.getLogger(__name__)

NUM_CLASSES = 4
SE3D_INPUT: tuple[int, int, int] = (32, 128, 128)
"""Input volume size (D, H, W) of 3DSE."""
CDGAN_SIZE = 128
"""Slice size (H = W) of CD-GAN."""
SE3D_PREPROCESSING = Preprocessing(windows=(PAPER_WINDOW,), size=SE3D_INPUT[1], channels=1)
"""Default 3DSE preprocessing: the paper's 50/400 window, 128 px in-plane, one channel."""
CDGAN_PREPROCESSING = Preprocessing(windows=(PAPER_WINDOW,), size=CDGAN_SIZE, channels=1)
"""Default CD-GAN preprocessing: 50/400 window, 128 px, one channel, no normalisation
(the generator's sigmoid output lives in the same ``[0, 1]`` range as real slices)."""


def _positive_int(label: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        msg = f"{label} must be a positive integer, got {value!r}"
        raise ConfigError(msg)
    return int(value)


# --------------------------------------------------------------------------- 3DSE


class SqueezeExcite3d(nn.Module):
    """Squeeze-and-excitation over channels of a ``(N, C, D, H, W)`` tensor (Hu et al. 2018)."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        hidden = max(4, channels // reduction)
        self.fc1 = nn.Conv3d(channels, hidden, 1)
        self.fc2 = nn.Conv3d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean(dim=(2, 3, 4), keepdim=True)
        s = torch.sigmoid(self.fc2(F.relu(self.fc1(s), inplace=True)))
        return x * s


class SEResBlock3d(nn.Module):
    """Residual block: conv3-BN-ReLU-conv3-BN-SE plus (projected) shortcut, then ReLU."""

    def __init__(self, cin: int, cout: int, stride: int = 2, reduction: int = 4) -> None:
        super().__init__()
        self.conv1 = nn.Conv3d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm3d(cout)
        self.conv2 = nn.Conv3d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm3d(cout)
        self.se = SqueezeExcite3d(cout, reduction)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv3d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm3d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)), inplace=True)
        y = self.se(self.bn2(self.conv2(y)))
        return F.relu(y + self.shortcut(x), inplace=True)


class SE3DNet(nn.Module):
    """3DSE: a light 3D SE-ResNet classifying a whole resampled scan.

    Layout for the default ``(N, 1, 32, 128, 128)`` input (``width=16``)::

        stem   conv 3x3x3 stride (1,2,2), 16 ch, BN, ReLU   -> (N, 16, 32, 64, 64)
        stage1 SE residual block, stride 2, 32 ch           -> (N, 32, 16, 32, 32)
        stage2 SE residual block, stride 2, 64 ch           -> (N, 64,  8, 16, 16)
        stage3 SE residual block, stride 2, 128 ch          -> (N, 128, 4,  8,  8)
        head   global average pool, dropout, linear         -> (N, 4) logits

    Global pooling makes any input of at least ``(8, 16, 16)`` work (small volumes are used in
    tests); :data:`SE3D_INPUT` is the size the baseline is trained and evaluated at.

    Args:
        num_classes: number of logits.
        in_chans: input channels (1 for one window).
        width: channels of the stem; stages use ``2x, 4x, 8x`` width.
        se_reduction: SE bottleneck reduction.
        drop_rate: dropout before the classifier.
    """

    input_size: tuple[int, int, int] = SE3D_INPUT

    def __init__(
        self,
        num_classes: int = NUM_CLASSES,
        in_chans: int = 1,
        width: int = 16,
        se_reduction: int = 4,
        drop_rate: float = 0.3,
    ) -> None:
        super().__init__()
        num_classes = _positive_int("num_classes", num_classes)
        in_chans = _positive_int("in_chans", in_chans)
        width = _positive_int("width", width)
        se_reduction = _positive_int("se_reduction", se_reduction)
        if not 0.0 <= float(drop_rate) < 1.0:
            msg = f"drop_rate must be in [0, 1), got {drop_rate!r}"
            raise ConfigError(msg)
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.stem = nn.Sequential(
            nn.Conv3d(in_chans, width, 3, stride=(1, 2, 2), padding=1, bias=False),
            nn.BatchNorm3d(width),
            nn.ReLU(inplace=True),
        )
        self.stages = nn.Sequential(
            SEResBlock3d(width, 2 * width, 2, se_reduction),
            SEResBlock3d(2 * width, 4 * width, 2, se_reduction),
            SEResBlock3d(4 * width, 8 * width, 2, se_reduction),
        )
        self.drop = nn.Dropout(float(drop_rate))
        self.fc = nn.Linear(8 * width, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, in_chans, D, H, W)`` -> pooled features ``(N, 8 * width)``."""
        return self.stages(self.stem(x)).mean(dim=(2, 3, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, in_chans, D, H, W)`` float32 in ``[0, 1]`` -> ``(N, num_classes)`` logits."""
        return self.fc(self.drop(self.forward_features(x)))


def volume_to_3dse_input(
    hu: np.ndarray,
    preprocessing: Preprocessing | None = None,
    depth: int = SE3D_INPUT[0],
) -> np.ndarray:
    """Resample a whole scan to the 3DSE input.

    Every slice is windowed and resized in-plane by ``preprocessing`` (the one preprocessing
    implementation: :class:`ctphase.preprocessing.Preprocessing`, i.e. ``cv2`` area/linear
    resize then :func:`ctphase.preprocessing.window`), then the stack is resampled along z to
    ``depth`` slices with :func:`torch.nn.functional.interpolate` (``area`` when shrinking, so
    every slice contributes; ``linear`` when growing; untouched when equal).

    Args:
        hu: ``(Z, H, W)`` Hounsfield units, slices in ascending position (any Z >= 1).
        preprocessing: windows, in-plane size and channels; default :data:`SE3D_PREPROCESSING`
            (50/400, 128 px, 1 channel). Its mean/std normalisation is applied too.
        depth: output slices.
    Returns:
        ``(C, depth, size, size)`` float32 (``(1, 32, 128, 128)`` by default), in ``[0, 1]``
        when mean=0 and std=1. Add a batch axis before calling :class:`SE3DNet`.
    Raises:
        ConfigError: ``hu`` is not 3D or empty, or ``depth`` is not a positive integer.
    """
    pre = SE3D_PREPROCESSING if preprocessing is None else preprocessing
    if not isinstance(pre, Preprocessing):
        msg = f"preprocessing must be a ctphase.preprocessing.Preprocessing, got {type(pre).__name__}"
        raise ConfigError(msg)
    depth = _positive_int("depth", depth)
    hu = np.asarray(hu)
    if hu.ndim != 3 or min(hu.shape) < 1:
        msg = f"expected a volume of shape (Z, H, W) with Z, H, W >= 1, got {hu.shape}"
        raise ConfigError(msg)
    slices = pre(hu)  # (Z, C, S, S)
    z, c, s, _ = slices.shape
    if z == depth:
        return np.ascontiguousarray(slices.transpose(1, 0, 2, 3))
    t = torch.from_numpy(slices).permute(1, 2, 3, 0).reshape(1, c * s * s, z)
    mode = "area" if z > depth else "linear"
    kw = {} if mode == "area" else {"align_corners": False}
    t = F.interpolate(t, size=depth, mode=mode, **kw)
    out = t.reshape(c, s, s, depth).permute(0, 3, 1, 2).contiguous().numpy()
    return out.astype(np.float32, copy=False)


# --------------------------------------------------------------------------- CD-GAN


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
        self.latent_dim = _positive_int("latent_dim", latent_dim)
        embed_dim = _positive_int("embed_dim", embed_dim)
        w = _positive_int("width", width)
        self.out_chans = _positive_int("out_chans", out_chans)
        self.num_classes = _positive_int("num_classes", num_classes)
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
        self.in_chans = _positive_int("in_chans", in_chans)
        w = _positive_int("width", width)
        self.num_classes = _positive_int("num_classes", num_classes)
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


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class BaselineSpec:
    """One registered baseline.

    Attributes:
        name: registry name.
        factory: builds the network (keyword arguments of its constructor).
        input_kind: ``"volume"`` (one ``(N, C, D, H, W)`` per scan, no voting) or ``"slice"``
            (``(N, C, H, W)`` slices, sampled and voted like the 2D method).
        preprocessing: default preprocessing (window, size, channels).
        note: one line for listings.
    """

    name: str
    factory: Callable[..., nn.Module]
    input_kind: str
    preprocessing: Preprocessing
    note: str


BASELINES: Mapping[str, BaselineSpec] = MappingProxyType(
    {
        "3dse": BaselineSpec(
            "3dse", SE3DNet, "volume", SE3D_PREPROCESSING, "Zhou et al. 2019: 3D SE-CNN on a 32x128x128 volume"
        ),
        "cdgan": BaselineSpec(
            "cdgan", CDGAN, "slice", CDGAN_PREPROCESSING, "Tang et al. 2020: GAN discriminator phase head, 128 px slices"
        ),
    }
)
"""The paper's learned baselines by name (read-only)."""


def create_baseline(name: str, **kw: Any) -> nn.Module:
    """Build a randomly initialised baseline in training mode.

    Args:
        name: ``"3dse"`` or ``"cdgan"`` (case-insensitive; ``"se3d"``, ``"cd-gan"`` accepted).
        **kw: constructor arguments (e.g. ``width``, ``drop_rate``).
    Returns:
        :class:`SE3DNet` ``(N, 1, 32, 128, 128) -> (N, 4)`` or :class:`CDGAN` ``(N, C, 128, 128) -> (N, 4)``.
    Raises:
        ConfigError: unknown name (listing the known ones) or bad constructor arguments.
    """
    key = str(name).strip().lower().replace("-", "").replace("_", "")
    key = {"se3d": "3dse", "se3dnet": "3dse", "3dsenet": "3dse"}.get(key, key)
    if key not in BASELINES:
        msg = f"unknown baseline {name!r}; choose one of {', '.join(BASELINES)}"
        raise ConfigError(msg)
    try:
        return BASELINES[key].factory(**kw)
    except TypeError as exc:
        msg = f"bad option for baseline {key!r} ({', '.join(sorted(kw)) or 'none'}): {exc}"
        raise ConfigError(msg) from exc
