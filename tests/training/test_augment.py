"""CT augmentation of HU slices: shapes, no flips by default, replayable draws."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from ctphase.errors import ConfigError
from ctphase.preprocessing import Preprocessing
from ctphase.training.augment import Augment


def _lateral_image(size: int = 64) -> np.ndarray:
    img = np.full((size, size), -1000.0, np.float32)
    img[16:48, 4:20] = 300.0  # bright block on the image's left side
    return img


def test_augment_keeps_dtype_and_output_shape() -> None:
    rng = np.random.default_rng(0)
    aug = Augment(crop_prob=0.0)
    pp = Preprocessing(size=48)
    for _ in range(20):
        hu = _lateral_image()
        out = aug(hu, rng)
        assert out.shape == hu.shape and out.dtype == np.float32
        assert np.isfinite(out).all()
    aug = Augment(crop_prob=1.0)
    x = pp(aug(_lateral_image(), rng))
    assert x.shape == (1, 3, 48, 48) and x.dtype == np.float32


def _left_mass(img: np.ndarray) -> float:
    w = np.clip(img - 100.0, 0, None)
    cols = np.arange(img.shape[1])
    return float((w.sum(axis=0) * cols).sum() / w.sum())


def test_augment_does_not_flip_by_default() -> None:
    rng = np.random.default_rng(1)
    aug = Augment()
    assert not aug.hflip
    centers = [_left_mass(aug(_lateral_image(), rng)) for _ in range(60)]
    assert max(centers) < 32  # the block stays on the left half
    flipping = Augment(hflip=True)
    centers = [_left_mass(flipping(_lateral_image(), rng)) for _ in range(60)]
    assert max(centers) > 32 and min(centers) < 32


def test_augment_params_replay_and_validation() -> None:
    aug = Augment()
    p = aug.make_params(np.random.default_rng(5), (64, 64))
    a, b = aug.apply(_lateral_image(), p), aug.apply(_lateral_image(), p)
    np.testing.assert_array_equal(a, b)
    assert Augment.from_dict(aug.to_dict()) == aug
    with pytest.raises(ConfigError, match="crop range"):
        Augment(crop=(0.5, 1.5))


def _mean_change(aug: Augment, n: int = 80) -> float:
    """Mean absolute HU change of a body-like slice over ``n`` draws (crops off: same shape)."""
    aug = replace(aug, crop_prob=0.0)
    rng = np.random.default_rng(7)
    img = np.full((64, 64), -1000.0, np.float32)
    img[8:56, 8:56] = 40.0
    img[24:40, 12:30] = 300.0
    return float(np.mean([np.abs(aug(img, rng) - img).mean() for _ in range(n)]))


def test_augment_strength_scales_every_magnitude() -> None:
    assert Augment.scaled(1.0) == Augment()
    assert Augment.scaled(1.0, hflip=True) == Augment(hflip=True)
    strong, weak = Augment.scaled(2.0), Augment.scaled(0.5)
    assert (strong.rotate_deg, strong.translate, strong.hu_offset, strong.noise_std) == (20.0, 0.12, 30.0, (0.0, 20.0))
    assert strong.scale == pytest.approx((0.8, 1.2)) and strong.crop == pytest.approx((0.7, 1.0))
    assert (strong.crop_prob, strong.blur_prob, strong.sharpen_prob) == pytest.approx((1.0, 0.3, 0.3))
    assert weak.rotate_deg == 5.0 and weak.scale == pytest.approx((0.95, 1.05))
    extreme = Augment.scaled(100.0)  # bounded: still a valid augmentation that keeps half the image
    assert extreme.rotate_deg == 180 and extreme.scale[0] == 0.5 and extreme.crop[0] == 0.5
    assert _mean_change(weak) < _mean_change(Augment()) < _mean_change(strong)
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ConfigError, match="strength must be > 0"):
            Augment.scaled(bad)


def test_training_config_builds_its_augmentation() -> None:
    from ctphase.training.config import TrainConfig

    assert TrainConfig(out="x", augment_strength=2.0, hflip=True).augmentation() == Augment.scaled(2.0, hflip=True)
    assert TrainConfig(out="x", augment=False).augmentation() is None
    with pytest.raises(ConfigError, match="augment_strength must be > 0"):
        TrainConfig(out="x", augment_strength=0.0).check()
