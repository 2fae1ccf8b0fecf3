"""The series reader: its features, its fit (against scikit-learn's own predictions), storage and refusals."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ctphase.errors import ConfigError
from ctphase.models.calibration import Calibration
from ctphase.models.heads import SliceOutputs
from ctphase.models.reader import DEFAULT_CS, SeriesReader, fit_reader, series_features
from ctphase.phases import SUBPHASE_NAMES

ORGANS = ("aorta", "liver")


def _outputs() -> SliceOutputs:
    probs = np.array([[0.7, 0.1, 0.1, 0.1], [0.1, 0.1, 0.2, 0.6], [0.1, 0.1, 0.5, 0.3]], np.float32)
    sub = np.full((3, 8), 1 / 8, np.float32)
    sub[0] = [0.3, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]
    sec = np.array([[4.0, -1.0], [5.0, 0.0], [6.0, 1.0]], np.float32)
    organs = np.array([[1.0, 0.5], [3.0, 0.7], [2.0, 0.0]], np.float32)
    return SliceOutputs(probs, sub, sec, organs)


def test_features_pool_every_output_of_the_drawn_slices() -> None:
    out = _outputs()
    f = series_features(out)
    assert f.shape == (4 + 4 + 8 + 3 + 3 * 2,)
    np.testing.assert_allclose(f[:4], np.log(out.probs.astype(np.float64)).mean(0), rtol=1e-6)
    np.testing.assert_allclose(f[4:8], [1 / 3, 0, 1 / 3, 1 / 3])  # one vote each for nc, venous, other
    assert f[8] == pytest.approx((0.3 + 2 / 8) / 3)
    np.testing.assert_allclose(f[16:19], [5.0, math.sqrt(2 / 3), 0.0], rtol=1e-6)
    np.testing.assert_allclose(f[19:], [2.0, 0.4, 1.0, 0.0, 3.0, 0.7], rtol=1e-6)  # organ means, minima, maxima
    with pytest.raises(ConfigError, match="organ heads"):
        series_features(SliceOutputs(out.probs, out.subphase, out.log_seconds))


def _separable(n_patients: int = 30, seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[int]]:
    rng = np.random.default_rng(seed)
    y = np.tile(np.arange(4), n_patients)
    x = rng.normal(0, 1, (len(y), 4 + 4 + 8 + 3 + 3 * len(ORGANS)))
    x[np.arange(len(y)), y] += 4.0  # the class shows in its own column
    return x, y, list(np.repeat(np.arange(n_patients), 4))


def test_fit_chooses_c_by_patient_cv_and_predicts_as_scikit_learn() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y, groups = _separable()
    reader, info = fit_reader(x, y, groups, SUBPHASE_NAMES, ORGANS)
    assert reader.C in DEFAULT_CS and info["cv_nll"][f"{reader.C:g}"] == min(info["cv_nll"].values())
    assert info["cv_probs"].shape == (len(y), 4) and (info["cv_probs"].argmax(1) == y).mean() > 0.8
    ref = make_pipeline(StandardScaler(), LogisticRegression(C=reader.C, max_iter=5000)).fit(x, y)
    np.testing.assert_allclose(reader.predict_proba(x), ref.predict_proba(x), atol=1e-9)
    np.testing.assert_allclose(reader.predict_proba(x[0]), ref.predict_proba(x[:1])[0], atol=1e-9)
    with pytest.raises(ConfigError, match="all four phases"):
        fit_reader(x[y < 3], y[y < 3], [g for g, c in zip(groups, y) if c < 3], SUBPHASE_NAMES, ORGANS)
    with pytest.raises(ConfigError, match="at least 5 patients"):
        fit_reader(x[:16], y[:16], groups[:16], SUBPHASE_NAMES, ORGANS)


def test_stored_reader_reads_back_and_is_refused_when_it_does_not_fit() -> None:
    x, y, groups = _separable(10)
    reader, _ = fit_reader(x, y, groups, SUBPHASE_NAMES, ORGANS, cs=(0.1,))
    back = SeriesReader.from_dict(reader.to_dict())
    assert back == reader
    np.testing.assert_array_equal(back.predict_proba(x), reader.predict_proba(x))
    assert np.allclose(reader.read(_outputs()).sum(), 1.0)
    # reading(i, idx): series i of a list, read from its slices idx (the evaluation's scan vote takes it)
    other = SliceOutputs(_outputs().probs[::-1].copy(), _outputs().subphase, _outputs().log_seconds, _outputs().organs)
    reading, idx = reader.reading([_outputs(), other]), np.array([0, 2])
    np.testing.assert_array_equal(reading(1, idx), reader.read(other.take(idx)))
    np.testing.assert_array_equal(reading(0, idx), reader.read(_outputs().take(idx)))
    with pytest.raises(ConfigError, match="another feature recipe"):
        SeriesReader.from_dict({**reader.to_dict(), "features": "something else"})
    with pytest.raises(ConfigError, match="shapes"):
        SeriesReader.from_dict({**reader.to_dict(), "organs": ["aorta"]})
    with pytest.raises(ConfigError, match="the network gives"):
        reader.check(SUBPHASE_NAMES, ("aorta",))
    reader.check(SUBPHASE_NAMES, ORGANS)


def test_a_calibration_with_a_reader_stores_it_and_changes_its_digest() -> None:
    x, y, groups = _separable(10)
    reader, _ = fit_reader(x, y, groups, SUBPHASE_NAMES, ORGANS, cs=(0.1,))
    plain = Calibration("temperature", 0.7)
    with_reader = Calibration("temperature", 0.7, reader=reader)
    assert with_reader.digest != plain.digest and not with_reader.is_identity
    assert not Calibration(reader=reader).is_identity
    assert "series reader (logistic regression over 25 features, C = 0.1)" in with_reader.describe()
    back = Calibration.from_dict(with_reader.to_dict())
    assert back.reader == reader and back.digest == with_reader.digest
    assert Calibration.from_dict(plain.to_dict()).reader is None
