"""Periodic random texture tiles, sampled as sheared 3D fields so that textures vary smoothly along z."""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

TILE = 256


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


def sample(
    kind: int, xs: np.ndarray, ys: np.ndarray, z: float, mm_per_texel: float, offset: tuple[float, float] = (0, 0)
) -> np.ndarray:
    """Sample tile ``kind`` on the grid ``ys x xs`` (mm) at height ``z`` (nearest texel, wraps around).

    The sampling position shifts with ``z`` (a sheared 3D field), so neighbouring slices look alike.
    """
    t = tile(kind)
    inv = 1.0 / mm_per_texel
    shx = 0.37 * z * inv + offset[0]
    shy = 0.61 * z * inv + offset[1]
    ci = (np.floor(xs * inv + shx).astype(np.int64)) % TILE
    ri = (np.floor(ys * inv + shy).astype(np.int64)) % TILE
    return t[ri[:, None], ci[None, :]]


def smooth_sample(kind: int, size: int, xs: np.ndarray, ys: np.ndarray, z: float, mm_per_texel: float,
                  offset: tuple[float, float] = (0, 0)) -> np.ndarray:
    """Like :func:`sample` but bilinear when texels are larger than pixels (avoids blocky textures)."""
    px = float(xs[1] - xs[0]) if len(xs) > 1 else 1.0
    if mm_per_texel <= 1.5 * px:
        return sample(kind, xs, ys, z, mm_per_texel, offset)
    t = tile(kind)
    inv = 1.0 / mm_per_texel
    mx = (xs * inv + 0.37 * z * inv + offset[0]).astype(np.float32)
    my = (ys * inv + 0.61 * z * inv + offset[1]).astype(np.float32)
    mapx = np.broadcast_to(mx[None, :], (len(ys), len(xs))) % TILE
    mapy = np.broadcast_to(my[:, None], (len(ys), len(xs))) % TILE
    return cv2.remap(t, mapx.astype(np.float32), mapy.astype(np.float32), cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_WRAP)
