"""Scanner effects on HU slices: in-plane blur, correlated noise, streaks, reconstruction circle,
padding, and the vendor conventions of stored pixel values (PS3.3 C.11.1 Modality LUT)."""

from __future__ import annotations

import cv2
import numpy as np

from .series import KERNELS, SeriesParams

F32 = np.float32


def psf_blur(hu: np.ndarray, series: SeriesParams, px_mm: float) -> np.ndarray:
    """Blur one slice by the kernel's in-plane PSF plus anti-aliasing of the pixel grid."""
    sig = np.hypot(KERNELS[series.kernel]["psf_mm"] / px_mm, 0.42)
    return cv2.GaussianBlur(hu, (0, 0), sigmaX=float(sig), borderType=cv2.BORDER_REFLECT)


def noise_field(rng: np.random.Generator, shape: tuple[int, int], series: SeriesParams, px_mm: float) -> np.ndarray:
    """Spatially correlated noise with the series' std scaled to the output pixel size.

    The noise std ``series.noise_hu`` holds at the native pixel spacing (grain of ~1-2 native
    pixels, mid-frequency peaked like filtered back-projection noise); larger output pixels (the
    fast path renders 224 px over the full field of view) average it down as an area resize of
    the native image would.
    """
    corr = KERNELS[series.kernel]["corr_mm"]
    w = rng.standard_normal(shape, dtype=np.float32)
    s1 = corr / px_mm
    if s1 > 0.3:
        a = cv2.GaussianBlur(w, (0, 0), sigmaX=s1, borderType=cv2.BORDER_REFLECT)
        b = cv2.GaussianBlur(a, (0, 0), sigmaX=2.5 * s1 + 0.5, borderType=cv2.BORDER_REFLECT)
        n = a - 0.5 * b  # suppress low frequencies: CT noise power peaks at mid frequencies
        std = float(n[:: 4, :: 4].std()) + 1e-6
    else:
        n, std = w, 1.0
    # correlation length of the native noise (~1.5 native pixels) vs the output pixel
    native = 1.5 * max(series.pixel_spacing, corr)
    sigma = series.noise_hu * min(1.0, native / max(px_mm, 1e-6))
    return n * F32(sigma / std)


def streaks(
    rng: np.random.Generator, shape: tuple[int, int], xs: np.ndarray, ys: np.ndarray,
    sources: list[tuple[float, float, float]], n_lines: int = 10,
) -> np.ndarray:
    """Bright/dark streaks radiating through dense objects (lines drawn, blurred, faded with distance).

    Args:
        sources: ``(x_mm, y_mm, strength_hu)`` of each dense object.
    """
    h, w = shape
    px = float(xs[1] - xs[0])
    out = np.zeros(shape, F32)
    fall = np.zeros(shape, F32)
    for cx, cy, amp in sources:
        c = ((cx - xs[0]) / px, (cy - ys[0]) / px)
        img = np.zeros(shape, F32)
        for _ in range(n_lines):
            th = rng.uniform(0, np.pi)
            L = 2 * max(h, w)
            p0 = (int(c[0] - L * np.cos(th)), int(c[1] - L * np.sin(th)))
            p1 = (int(c[0] + L * np.cos(th)), int(c[1] + L * np.sin(th)))
            sign = 1.0 if rng.random() < 0.45 else -1.0
            cv2.line(img, p0, p1, sign * amp * rng.uniform(0.3, 1.0), thickness=1, lineType=cv2.LINE_AA)
        img = cv2.GaussianBlur(img, (0, 0), sigmaX=max(0.6, 1.2 / px))
        dx = xs[None, :] - F32(cx)
        dy = ys[:, None] - F32(cy)
        fall = F32(1.0) / (F32(1.0) + np.sqrt(dx * dx + dy * dy) / F32(60.0))
        out += img * fall
    return out


def band(xs: np.ndarray, ys: np.ndarray, a: tuple[float, float], b: tuple[float, float], amp: float, width: float) -> np.ndarray:
    """A dark (negative ``amp``) beam-hardening band between two dense objects ``a`` and ``b``."""
    X = xs[None, :]
    Y = ys[:, None]
    dx, dy = b[0] - a[0], b[1] - a[1]
    L = np.hypot(dx, dy) + 1e-6
    t = ((X - a[0]) * dx + (Y - a[1]) * dy) / (L * L)
    d = np.abs((X - a[0]) * dy - (Y - a[1]) * dx) / L
    inside = (t > 0) & (t < 1)
    return (F32(amp) * np.exp(-(d * d) / F32(2 * width * width)) * inside).astype(F32)


def circle_mask(xs: np.ndarray, ys: np.ndarray, center: tuple[float, float], radius: float) -> np.ndarray:
    """True outside the reconstruction circle."""
    return ((xs[None, :] - center[0]) ** 2 + (ys[:, None] - center[1]) ** 2) > radius * radius


def to_stored(hu: np.ndarray, series: SeriesParams) -> np.ndarray:
    """Quantise HU to stored pixel values with the series' RescaleIntercept and dtype (slope 1)."""
    v = np.rint(hu - series.rescale_intercept)
    if series.dtype == "uint16":
        return np.clip(v, 0, 65535).astype(np.uint16)
    return np.clip(v, -32768, 32767).astype(np.int16)
