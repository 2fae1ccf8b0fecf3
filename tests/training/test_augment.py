"""CT augmentation of HU slices: shapes, no flips by default, replayable draws."""

from __future__ import annotations

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
