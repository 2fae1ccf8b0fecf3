import numpy as np
import pytest

from ctphase.errors import ConfigError
from ctphase.preprocessing import Preprocessing, window


def test_window_paper_range():
    hu = np.array([-1000, -150, 50, 250, 3000], dtype=np.float32)
    np.testing.assert_allclose(window(hu, 50, 400), [0, 0, 0.5, 1, 1])


def test_preprocessing_shapes_and_replicated_channels():
    hu = np.random.default_rng(0).normal(0, 200, (3, 64, 48)).astype(np.float32)
    out = Preprocessing(size=32, channels=3)(hu)
    assert out.shape == (3, 3, 32, 32) and out.dtype == np.float32
    assert np.array_equal(out[:, 0], out[:, 1]) and np.array_equal(out[:, 0], out[:, 2])
    assert out.min() >= 0 and out.max() <= 1


def test_multi_window_channels_differ():
    hu = np.linspace(-1000, 1500, 32 * 32, dtype=np.float32).reshape(1, 32, 32)
    pre = Preprocessing(windows=((50, 400), (400, 1800), (-600, 1500)), size=32, channels=3)
    out = pre(hu)
    assert not np.allclose(out[0, 0], out[0, 1])
    # the bone window separates 300 from 1000 HU; the paper window does not
    x = pre(np.array([[[300.0]], [[1000.0]]], dtype=np.float32).repeat(16, 1).repeat(16, 2))
    assert x[0, 0].mean() == x[1, 0].mean() == 1.0
    assert x[1, 1].mean() > x[0, 1].mean() + 0.3


def test_round_trip_dict():
    pre = Preprocessing(windows=((40, 350), (400, 1800)), size=160, channels=2, mean=0.5, std=0.25)
    assert Preprocessing.from_dict(pre.to_dict()) == pre


def test_normalisation_applied():
    hu = np.full((1, 8, 8), 50.0, dtype=np.float32)
    out = Preprocessing(size=16, mean=0.5, std=0.5)(hu)
    np.testing.assert_allclose(out, 0.0, atol=1e-6)


@pytest.mark.parametrize(
    ("kw", "msg"),
    [
        ({"windows": ((50, 0),)}, "width"),
        ({"size": 8}, "input size"),
        ({"windows": ((50, 400), (400, 1800)), "channels": 3}, "must equal"),
        ({"std": 0}, "std"),
    ],
)
def test_bad_preprocessing(kw, msg):
    with pytest.raises(ConfigError, match=msg):
        Preprocessing(**kw)


def test_unknown_key_rejected():
    with pytest.raises(ConfigError, match="unknown preprocessing keys"):
        Preprocessing.from_dict({"size": 64, "gamma": 2})
