"""Turning HU slices into network input: windowing, resizing, channel stacking.

This is the one preprocessing implementation of ctphase, used by prediction, training,
evaluation and export alike. Its parameters travel inside every checkpoint
(:class:`Preprocessing` is serialised with :meth:`Preprocessing.to_dict`), so a model is
always fed the way it was trained.

Slice models (the product) get one ``(C, size, size)`` input per slice. Volume models (the
paper's 3D baseline) get the whole stack resampled along z to ``depth`` slices: one
``(C, depth, size, size)`` input per scan (:func:`resample_depth`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np

from .errors import ConfigError

PAPER_WINDOW: tuple[float, float] = (50.0, 400.0)
"""Window (center, width) of the reference paper: HU -150..250."""


def window(hu: np.ndarray, center: float, width: float) -> np.ndarray:
    """Map HU linearly so that ``center +- width/2`` becomes ``[0, 1]``, clipping outside.

    Args:
        hu: array of Hounsfield units, any shape.
    Returns:
        float32 array of the same shape in ``[0, 1]``.
    """
    if width <= 0:
        msg = f"window width must be > 0, got {width}"
        raise ConfigError(msg)
    lo = center - width / 2.0
    out = (np.asarray(hu, dtype=np.float32) - np.float32(lo)) * np.float32(1.0 / width)
    return np.clip(out, 0.0, 1.0, out=out)


def resize(image: np.ndarray, size: int) -> np.ndarray:
    """Resize one 2D slice to ``size x size`` (area interpolation when shrinking, linear when growing)."""
    h, w = image.shape
    if (h, w) == (size, size):
        return image
    interp = cv2.INTER_AREA if (h > size or w > size) else cv2.INTER_LINEAR
    return cv2.resize(image, (size, size), interpolation=interp)


def resample_depth(volume: np.ndarray, depth: int) -> np.ndarray:
    """Resample ``(C, Z, H, W)`` float32 along Z to ``depth`` slices.

    Shrinking averages every input slice into the output bins ``[floor(i Z / D), ceil((i + 1) Z / D))``
    (area interpolation, so every slice contributes); growing interpolates linearly between slice
    centres (half-pixel convention, clamped at the ends); equal sizes are returned unchanged.
    Both follow ``torch.nn.functional.interpolate`` (``area``, and ``linear`` with
    ``align_corners=False``) in float32 and in its order of operations, so results match it.
    """
    c, z, h, w = volume.shape
    if z == depth:
        return np.ascontiguousarray(volume)
    out = np.empty((c, depth, h, w), dtype=np.float32)
    if z > depth:
        for i in range(depth):
            start, stop = (i * z) // depth, -((-(i + 1) * z) // depth)
            acc = volume[:, start].copy()
            for j in range(start + 1, stop):
                acc += volume[:, j]
            out[:, i] = acc / np.float32(stop - start)
        return out
    scale = np.float32(z / depth)
    for i in range(depth):
        src = max(np.float32(scale * np.float32(i + 0.5) - np.float32(0.5)), np.float32(0.0))
        i0 = int(src)
        lam1 = np.float32(min(max(src - np.float32(i0), np.float32(0.0)), np.float32(1.0)))
        i1 = i0 + (1 if i0 < z - 1 else 0)
        # t0 * l0 + (t1 * l1) with one rounding, as torch's fused multiply-add kernel does
        far = (lam1 * volume[:, i1]).astype(np.float64)
        out[:, i] = (volume[:, i0].astype(np.float64) * np.float64(np.float32(1.0) - lam1) + far).astype(np.float32)
    return out


@dataclass(frozen=True)
class Preprocessing:
    """How HU slices become a ``(N, C, size, size)`` float32 tensor.

    Attributes:
        windows: one or more ``(center, width)`` windows; each gives one channel.
        size: output height and width in pixels.
        channels: number of input channels of the network. With a single window the channel
            is replicated ``channels`` times (the paper feeds 3 identical channels); with
            several windows ``channels`` must equal ``len(windows)``.
        mean, std: per-network normalisation applied after windowing (``(x - mean) / std``).
        depth: ``None`` for slice models; for volume models, the number of slices the whole
            stack is resampled to along z (after windowing, resizing and normalisation).
    """

    windows: tuple[tuple[float, float], ...] = (PAPER_WINDOW,)
    size: int = 224
    channels: int = 3
    mean: float = 0.0
    std: float = 1.0
    depth: int | None = None

    def __post_init__(self) -> None:
        windows = tuple((float(c), float(w)) for c, w in self.windows)
        object.__setattr__(self, "windows", windows)
        if not windows:
            raise ConfigError("preprocessing needs at least one window")
        for c, w in windows:
            if w <= 0:
                msg = f"window ({c}, {w}) has width <= 0"
                raise ConfigError(msg)
        if not 16 <= int(self.size) <= 1024:
            msg = f"input size must be between 16 and 1024 pixels, got {self.size}"
            raise ConfigError(msg)
        if len(windows) > 1 and self.channels != len(windows):
            msg = f"channels ({self.channels}) must equal the number of windows ({len(windows)})"
            raise ConfigError(msg)
        if self.channels < 1:
            msg = f"channels must be >= 1, got {self.channels}"
            raise ConfigError(msg)
        if self.std <= 0:
            msg = f"std must be > 0, got {self.std}"
            raise ConfigError(msg)
        if self.depth is not None and (isinstance(self.depth, bool) or int(self.depth) < 1):
            msg = f"depth must be None (slice model) or a positive number of slices, got {self.depth!r}"
            raise ConfigError(msg)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one network input: ``(C, size, size)``, or ``(C, depth, size, size)`` for a volume model."""
        if self.depth is None:
            return (self.channels, self.size, self.size)
        return (self.channels, int(self.depth), self.size, self.size)

    def __call__(self, hu: np.ndarray) -> np.ndarray:
        """Prepare slices for the network.

        Args:
            hu: ``(N, H, W)`` or ``(H, W)`` Hounsfield units (a volume model: the whole stack,
                slices in ascending position).
        Returns:
            ``(N, channels, size, size)`` float32, windowed to ``[0, 1]`` then normalised; a
            volume model: ``(1, channels, depth, size, size)``.
        """
        hu = np.asarray(hu, dtype=np.float32)
        if hu.ndim == 2:
            hu = hu[None]
        if hu.ndim != 3:
            msg = f"expected HU slices of shape (N, H, W), got {hu.shape}"
            raise ConfigError(msg)
        n = hu.shape[0]
        out = np.empty((n, self.channels, self.size, self.size), dtype=np.float32)
        for i in range(n):
            small = resize(hu[i], self.size)
            if len(self.windows) == 1:
                out[i, :] = window(small, *self.windows[0])[None]
            else:
                for c, (center, width) in enumerate(self.windows):
                    out[i, c] = window(small, center, width)
        if self.mean != 0.0 or self.std != 1.0:
            out -= np.float32(self.mean)
            out *= np.float32(1.0 / self.std)
        if self.depth is None:
            return out
        return resample_depth(out.transpose(1, 0, 2, 3), int(self.depth))[None]

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form, stored in checkpoints (``depth`` only for volume models)."""
        d = asdict(self)
        d["windows"] = [list(w) for w in self.windows]
        if d["depth"] is None:
            del d["depth"]  # slice models keep the configuration (and hash) they always had
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Preprocessing:
        """Inverse of :meth:`to_dict`; unknown keys are an error (they would be silently ignored otherwise)."""
        known = {"windows", "size", "channels", "mean", "std", "depth"}
        unknown = set(d) - known
        if unknown:
            msg = f"unknown preprocessing keys {sorted(unknown)}; known: {sorted(known)}"
            raise ConfigError(msg)
        kw = dict(d)
        if "windows" in kw:
            kw["windows"] = tuple(tuple(w) for w in kw["windows"])
        return cls(**kw)
