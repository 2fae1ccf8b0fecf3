"""CT augmentation of HU slices (before windowing), drawing separated from applying."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np

from ..errors import ConfigError
from ..io import AIR_HU


@dataclass(frozen=True)
class Augment:
    """Random augmentation of one HU slice ``(H, W)``, applied before windowing.

    Geometry (one affine warp, air outside): rotation ``+-rotate_deg``, isotropic scale in
    ``scale``, translation up to ``translate`` of the side, after a random crop keeping
    ``crop`` of each side (the crop is resized back by Preprocessing). Intensity (HU): an
    offset ``+-hu_offset``, a gain ``1 +- hu_gain`` around 0 HU (kVp/calibration), Gaussian
    noise with a standard deviation drawn from ``noise_std``; a Gaussian blur (``blur_prob``)
    or an unsharp-mask sharpening (``sharpen_prob``). ``hflip`` enables left-right flips
    (off by default: liver right, spleen left). Set a field to 0/None to disable that part.

    Following TorchIO, drawing (:meth:`make_params`) is separate from applying
    (:meth:`apply`), so a draw can be recorded and replayed.
    """

    rotate_deg: float = 10.0
    scale: tuple[float, float] = (0.9, 1.1)
    translate: float = 0.06
    crop: tuple[float, float] = (0.85, 1.0)
    crop_prob: float = 0.5
    hu_offset: float = 15.0
    hu_gain: float = 0.05
    noise_std: tuple[float, float] = (0.0, 10.0)
    blur_prob: float = 0.15
    blur_sigma: tuple[float, float] = (0.4, 1.2)
    sharpen_prob: float = 0.15
    sharpen_amount: tuple[float, float] = (0.3, 1.0)
    hflip: bool = False
    fill_hu: float = AIR_HU

    def __post_init__(self) -> None:
        if not 0 <= self.rotate_deg <= 180:
            raise ConfigError(f"rotate_deg must be in [0, 180], got {self.rotate_deg}")
        lo, hi = self.scale
        if not 0 < lo <= hi:
            raise ConfigError(f"scale range must satisfy 0 < lo <= hi, got {self.scale}")
        lo, hi = self.crop
        if not 0 < lo <= hi <= 1:
            raise ConfigError(f"crop range must satisfy 0 < lo <= hi <= 1, got {self.crop}")
        for name in ("crop_prob", "blur_prob", "sharpen_prob"):
            v = getattr(self, name)
            if not 0 <= v <= 1:
                raise ConfigError(f"{name} must be in [0, 1], got {v}")
        if self.translate < 0 or self.hu_offset < 0 or self.hu_gain < 0 or self.noise_std[0] < 0:
            raise ConfigError("translate, hu_offset, hu_gain and noise_std must be >= 0")

    @classmethod
    def scaled(cls, strength: float = 1.0, hflip: bool = False) -> Augment:
        """The default augmentation with every magnitude and probability times ``strength`` (> 0; 1: the default).

        Rotation, scale and crop ranges, translation, HU offset, gain and noise grow linearly
        (scale and crop bounded to keep at least half the image); the crop, blur and sharpening
        probabilities too, capped at 1 (crop) and 0.5 (blur, sharpening). The blur sigmas and
        sharpening amounts stay as drawn by the default.
        """
        if not (strength > 0 and np.isfinite(strength)):
            raise ConfigError(f"augmentation strength must be > 0, got {strength}")
        d = cls()
        s = float(strength)
        scale = (1 - min(0.5, (1 - d.scale[0]) * s), 1 + min(0.5, (d.scale[1] - 1) * s))
        return cls(rotate_deg=min(180.0, d.rotate_deg * s), scale=scale,
                   translate=d.translate * s, crop=(max(0.5, 1 - (1 - d.crop[0]) * s), 1.0),
                   crop_prob=min(1.0, d.crop_prob * s), hu_offset=d.hu_offset * s, hu_gain=min(0.5, d.hu_gain * s),
                   noise_std=(0.0, d.noise_std[1] * s), blur_prob=min(0.5, d.blur_prob * s),
                   sharpen_prob=min(0.5, d.sharpen_prob * s), hflip=hflip)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (recorded in the checkpoint's recipe)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Augment:
        """Inverse of :meth:`to_dict`."""
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})

    def make_params(self, rng: np.random.Generator, shape: tuple[int, int]) -> dict[str, Any]:
        """Draw the random parameters for one slice of ``shape`` ``(H, W)``."""
        h, w = shape
        p: dict[str, Any] = {}
        if self.crop_prob and self.crop[0] < 1 and rng.random() < self.crop_prob:
            f = rng.uniform(*self.crop)
            ch, cw = max(8, round(h * f)), max(8, round(w * f))
            p["crop"] = (int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1)), ch, cw)
        p["angle"] = float(rng.uniform(-self.rotate_deg, self.rotate_deg)) if self.rotate_deg else 0.0
        p["scale"] = float(rng.uniform(*self.scale))
        p["shift"] = tuple(float(v) for v in rng.uniform(-self.translate, self.translate, size=2)) if self.translate else (0.0, 0.0)
        p["flip"] = bool(self.hflip and rng.random() < 0.5)
        p["offset"] = float(rng.uniform(-self.hu_offset, self.hu_offset)) if self.hu_offset else 0.0
        p["gain"] = float(rng.uniform(1 - self.hu_gain, 1 + self.hu_gain)) if self.hu_gain else 1.0
        p["noise"] = float(rng.uniform(*self.noise_std)) if self.noise_std[1] > 0 else 0.0
        p["noise_seed"] = int(rng.integers(0, 2**31))
        u = rng.random()
        if u < self.blur_prob:
            p["blur"] = float(rng.uniform(*self.blur_sigma))
        elif u < self.blur_prob + self.sharpen_prob:
            p["sharpen"] = float(rng.uniform(*self.sharpen_amount))
        return p

    def apply(self, hu: np.ndarray, p: dict[str, Any]) -> np.ndarray:
        """Apply drawn parameters to one ``(H, W)`` HU slice; returns a new float32 array (shape may shrink by the crop)."""
        img = np.asarray(hu, dtype=np.float32)
        if "crop" in p:
            y, x, ch, cw = p["crop"]
            img = img[y : y + ch, x : x + cw]
        h, w = img.shape
        if p["angle"] or p["scale"] != 1.0 or any(p["shift"]):
            m = cv2.getRotationMatrix2D((w / 2.0 - 0.5, h / 2.0 - 0.5), p["angle"], p["scale"])
            m[0, 2] += p["shift"][0] * w
            m[1, 2] += p["shift"][1] * h
            img = cv2.warpAffine(
                img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=float(self.fill_hu)
            )
        else:
            img = img.copy()
        if p["flip"]:
            img = np.ascontiguousarray(img[:, ::-1])
        if p.get("blur"):
            img = cv2.GaussianBlur(img, (0, 0), p["blur"])
        elif p.get("sharpen"):
            soft = cv2.GaussianBlur(img, (0, 0), 1.0)
            img = cv2.addWeighted(img, 1.0 + p["sharpen"], soft, -p["sharpen"], 0.0)
        if p["gain"] != 1.0:
            img *= np.float32(p["gain"])
        if p["offset"]:
            img += np.float32(p["offset"])
        if p["noise"] > 0:
            img += np.random.default_rng(p["noise_seed"]).standard_normal(img.shape, dtype=np.float32) * np.float32(p["noise"])
        return img

    def __call__(self, hu: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Draw and apply in one call."""
        return self.apply(hu, self.make_params(rng, hu.shape))
