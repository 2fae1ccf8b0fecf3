"""Periodic random texture tiles, sampled as sheared 3D fields so that textures vary smoothly along z."""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

TILE = 256
BIG = 512


@lru_cache(maxsize=None)
def tile(kind: int) -> np.ndarray:
    """A ``(256, 256)`` float32 periodic Gaussian random field with unit std (fixed per ``kind``).

    kind 0: fine (correlation ~2 px), 1: medium (~5 px), 2: coarse (~12 px), 3: banded/arciform.
    """
    rng = np.random.default_rng(1000 + kind)
    white = rng.standard_normal((TILE, TILE)).astype(np.float32)
    f = np.fft.rfft2(white)
    ky = np.fft.fftfreq(TILE)[:, None]
    kx = np.fft.rfftfreq(TILE)[None, :]
    k = np.sqrt(kx**2 + ky**2)
    if kind == 3:
        filt = np.exp(-(((k - 0.06) / 0.015) ** 2))
    else:
        sigma = {0: 2.0, 1: 5.0, 2: 12.0}[kind]
        filt = np.exp(-2 * (np.pi * k * sigma) ** 2)
    out = np.fft.irfft2(f * filt, s=(TILE, TILE)).astype(np.float32)
    out -= out.mean()
    out /= out.std() + 1e-6
    return out


@lru_cache(maxsize=None)
def stack() -> np.ndarray:
    """``(512, 512, 4)`` float32 periodic fields at 0.8 mm/texel, unit std:
    0 fine (~1.6 mm), 1 medium (~4 mm), 2 coarse (~10 mm), 3 banded (arciform, ~13 mm period)."""
    rng = np.random.default_rng(2024)
    ky = np.fft.fftfreq(BIG)[:, None]
    kx = np.fft.rfftfreq(BIG)[None, :]
    k = np.sqrt(kx**2 + ky**2)
    out = np.empty((BIG, BIG, 4), np.float32)
    for c, filt in enumerate((np.exp(-2 * (np.pi * k * 1.6) ** 2), np.exp(-2 * (np.pi * k * 4.5) ** 2),
                              np.exp(-2 * (np.pi * k * 11.0) ** 2), np.exp(-(((k - 0.06) / 0.015) ** 2)))):
        f = np.fft.rfft2(rng.standard_normal((BIG, BIG))) * filt
        a = np.fft.irfft2(f, s=(BIG, BIG))
        out[..., c] = (a - a.mean()) / (a.std() + 1e-9)
    return out


TEXEL_MM = 0.8


def sample_stack(xs: np.ndarray, ys: np.ndarray, z: float, offset: tuple[float, float] = (0, 0)) -> np.ndarray:
    """All four fields of :func:`stack` on the grid ``ys x xs`` (mm) at height ``z``: ``(h, w, 4)``.

    Sheared with z so neighbouring slices look alike; one affine warp in C.
    """
    t = stack()
    inv = 1.0 / TEXEL_MM
    px = float(xs[1] - xs[0]) if len(xs) > 1 else 1.0
    ox = (float(xs[0]) * inv + 0.37 * z * inv + offset[0]) % BIG
    oy = (float(ys[0]) * inv + 0.61 * z * inv + offset[1]) % BIG
    m = np.array([[px * inv, 0.0, ox], [0.0, px * inv, oy]], np.float64)
    flags = (cv2.INTER_LINEAR if px < 1.2 * TEXEL_MM else cv2.INTER_NEAREST) | cv2.WARP_INVERSE_MAP
    return cv2.warpAffine(t, m, (len(xs), len(ys)), flags=flags, borderMode=cv2.BORDER_WRAP)


def sample(
    kind: int, xs: np.ndarray, ys: np.ndarray, z: float, mm_per_texel: float, offset: tuple[float, float] = (0, 0),
    linear: bool = False,
) -> np.ndarray:
    """Sample tile ``kind`` on the regular grid ``ys x xs`` (mm) at height ``z`` (wraps around).

    The sampling position shifts with ``z`` (a sheared 3D field), so neighbouring slices look
    alike. One affine warp in C: cheap at any size.
    """
    t = tile(kind)
    inv = 1.0 / mm_per_texel
    px = float(xs[1] - xs[0]) if len(xs) > 1 else 1.0
    shx = 0.37 * z * inv + offset[0]
    shy = 0.61 * z * inv + offset[1]
    ox = (float(xs[0]) * inv + shx) % TILE
    oy = (float(ys[0]) * inv + shy) % TILE
    m = np.array([[px * inv, 0.0, ox], [0.0, px * inv, oy]], np.float64)
    flags = (cv2.INTER_LINEAR if linear else cv2.INTER_NEAREST) | cv2.WARP_INVERSE_MAP
    return cv2.warpAffine(t, m, (len(xs), len(ys)), flags=flags, borderMode=cv2.BORDER_WRAP)

