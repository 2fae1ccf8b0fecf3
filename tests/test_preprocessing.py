import numpy as np
import pytest

from ctphase.errors import ConfigError
from ctphase.preprocessing import PAPER_WINDOW, Preprocessing, resample_depth, window


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


# --------------------------------------------------------------------------- volume models (depth)


def test_volume_preprocessing_shape_range_and_window() -> None:
    pp = Preprocessing(windows=(PAPER_WINDOW,), size=32, channels=1, depth=8)
    assert pp.input_shape == (1, 8, 32, 32)
    for z in (3, 8, 50):
        hu = np.random.default_rng(z).uniform(-1100, 1500, size=(z, 48, 48)).astype(np.float32)
        out = pp(hu)
        assert out.shape == (1, 1, 8, 32, 32) and out.dtype == np.float32
        assert out.min() >= 0.0 and out.max() <= 1.0
    hu = np.random.default_rng(1).uniform(-400, 600, size=(8, 32, 32)).astype(np.float32)
    np.testing.assert_array_equal(pp(hu)[0, 0], window(hu, *PAPER_WINDOW))  # nothing to resample: exactly the window
    two = Preprocessing(windows=((50, 400), (300, 1500)), size=16, channels=2, depth=4)
    assert two(np.zeros((5, 20, 20), np.float32)).shape == (1, 2, 4, 16, 16)


def test_area_resampling_averages_slices_along_z() -> None:
    hu = np.repeat(np.linspace(-150, 250, 64, dtype=np.float32)[:, None, None], 16, axis=1).repeat(16, axis=2)
    out = Preprocessing(windows=((50, 400),), size=16, channels=1, depth=32)(hu)
    w = window(hu, 50, 400)
    np.testing.assert_allclose(out[0, 0], (w[0::2] + w[1::2]) / 2, atol=1e-6)  # 64 -> 32: pairs averaged


@pytest.mark.parametrize("z", [7, 20, 31, 32, 33, 48, 69, 300])
def test_resample_depth_matches_torch_interpolate(z: int) -> None:
    torch = pytest.importorskip("torch")
    vol = np.random.default_rng(z).uniform(-1, 2, size=(2, z, 6, 6)).astype(np.float32)
    t = torch.from_numpy(vol).permute(0, 2, 3, 1).reshape(1, 2 * 36, z)
    mode = "area" if z > 32 else "linear"
    kw = {} if mode == "area" else {"align_corners": False}
    ref = torch.nn.functional.interpolate(t, size=32, mode=mode, **kw).reshape(2, 6, 6, 32).permute(0, 3, 1, 2).numpy()
    out = resample_depth(vol, 32)
    if z == 32:
        np.testing.assert_array_equal(out, vol)
    else:
        np.testing.assert_allclose(out, ref, rtol=0, atol=2.5e-7)


def test_depth_is_validated_and_only_stored_for_volume_models() -> None:
    with pytest.raises(ConfigError, match="depth must be"):
        Preprocessing(depth=0)
    assert "depth" not in Preprocessing().to_dict()  # slice models keep their configuration and hash
    vol = Preprocessing(size=32, channels=1, depth=8)
    assert Preprocessing.from_dict(vol.to_dict()) == vol
