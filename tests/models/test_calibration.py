"""Series-level calibration: fitting recovers known parameters, storage round-trips, the Classifier applies it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from model_factory import make_checkpoint

from ctphase.errors import ConfigError
from ctphase.inference import Classifier
from ctphase.models.calibration import (
    IDENTITY,
    LOG_FLOOR,
    META_KEY,
    Calibration,
    calibration_of,
    cross_validated_nll,
    fit_temperature,
    fit_vector_scaling,
    mean_log_probs,
    nll,
    select_calibration,
    softmax,
    with_calibration,
)
from ctphase.models.checkpoint import load_checkpoint, save_checkpoint
from ctphase.phases import PHASE_NAMES


def _draw(n: int, logits_fn, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scores ``z`` with labels drawn from ``softmax(logits_fn(z))`` (so that calibration is known)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 2.0, size=(n, 4)) - 2.0
    p = softmax(logits_fn(z))
    y = (rng.random(n)[:, None] > np.cumsum(p, axis=1)).sum(axis=1)
    return z, np.minimum(y, 3), p


@pytest.mark.parametrize("true_t", [0.4, 1.0, 2.5])
def test_temperature_fitting_recovers_a_known_temperature(true_t: float) -> None:
    z, y, _ = _draw(20000, lambda z: z / true_t, seed=1)
    t = fit_temperature(z, y)
    assert abs(t - true_t) / true_t < 0.05
    assert nll(softmax(z / t), y) <= nll(softmax(z), y) + 1e-9


def test_vector_scaling_recovers_scale_and_bias_up_to_a_common_shift() -> None:
    scale, bias = np.array([0.5, 1.0, 1.5, 0.8]), np.array([0.5, -0.5, 0.0, 1.0])
    z, y, _ = _draw(40000, lambda z: scale * z + bias, seed=2)
    a, b = fit_vector_scaling(z, y)
    assert np.allclose(a, scale, atol=0.07)
    assert np.allclose(b - b.mean(), bias - bias.mean(), atol=0.12)


def test_auto_selection_prefers_temperature_unless_vector_scaling_is_clearly_better() -> None:
    z, y, _ = _draw(3000, lambda z: z / 2.0, seed=3)
    groups = [f"patient:{i // 4}" for i in range(len(y))]
    cal, record = select_calibration(z, y, groups)
    assert cal.method == "temperature" and record["chosen"] == "temperature"
    assert set(record["cv_nll"]) == {"none", "temperature", "vector"}
    assert record["cv_nll"]["temperature"] < record["cv_nll"]["none"]
    z, y, _ = _draw(3000, lambda z: np.array([0.3, 1.0, 2.0, 1.0]) * z + np.array([2.0, 0.0, -1.0, 0.0]), seed=4)
    cal, record = select_calibration(z, y, groups)
    assert cal.method == "vector" and record["cv_nll"]["vector"] < 0.97 * record["cv_nll"]["temperature"]
    forced, _ = select_calibration(z, y, groups, method="temperature")
    assert forced.method == "temperature"


def test_auto_selection_keeps_temperature_when_vector_scaling_moves_answers_off_the_vote_for_nothing() -> None:
    # labels follow the scores' own ranking; vector scaling's extra bias lowers the NLL a little
    # but is fitted on noise, so where it moves the top class away from the vote it is not right more often
    z, y, _ = _draw(3000, lambda z: np.array([0.3, 1.0, 2.0, 1.0]) * z + np.array([2.0, 0.0, -1.0, 0.0]), seed=4)
    groups = [f"patient:{i // 4}" for i in range(len(y))]
    good_vote = y.copy()  # a vote that is always right: no change of the top class can be right more often
    cal, record = select_calibration(z, y, groups, voted=good_vote)
    assert record["cv_nll"]["vector"] < 0.97 * record["cv_nll"]["temperature"]  # NLL alone would pick vector
    ch = record["cv_vote_changes"]["vector"]
    assert ch["changed"] > 0 and ch["vote_right"] == ch["changed"] and ch["top_right"] == 0
    assert cal.method == "temperature" and "right more often than the vote" in record["criterion"]
    bad_vote = np.argmax(z, axis=1)  # the raw ranking: vector scaling's changes fix it more often than not
    cal, record = select_calibration(z, y, groups, voted=bad_vote)
    ch = record["cv_vote_changes"]["vector"]
    assert ch["top_right"] > ch["vote_right"] and cal.method == "vector"


def test_vote_changes_counts_which_side_was_right() -> None:
    from ctphase.models.calibration import vote_changes

    assert vote_changes(np.array([0, 1, 2, 3]), np.array([0, 2, 1, 3]), np.array([0, 1, 3, 3])) == \
        {"changed": 2, "top_right": 1, "vote_right": 0}


def test_cross_validation_folds_by_group() -> None:
    z, y, _ = _draw(200, lambda z: z, seed=5)
    cv = cross_validated_nll(z, y, ["same"] * 100 + ["other"] * 100, folds=5)
    assert set(cv) == {"none", "temperature", "vector"} and all(np.isfinite(v) for v in cv.values())
    with pytest.raises(ConfigError, match="at least 2 patients"):
        cross_validated_nll(z, y, ["same"] * 200)


def test_mean_log_probs_floors_zero_probabilities() -> None:
    p = np.array([[1.0, 0.0, 0.0, 0.0], [0.5, 0.5, 0.0, 0.0]])
    z = mean_log_probs(p)
    assert z.shape == (4,)
    assert np.allclose(z, [np.log(0.5) / 2, (np.log(LOG_FLOOR) + np.log(0.5)) / 2, np.log(LOG_FLOOR), np.log(LOG_FLOOR)])
    with pytest.raises(ConfigError):
        mean_log_probs(np.zeros((0, 4)))


def test_apply_shapes_and_identity() -> None:
    z = np.log(np.array([[0.7, 0.1, 0.1, 0.1], [0.25, 0.25, 0.25, 0.25]]))
    assert np.allclose(IDENTITY.apply(z), np.exp(z))
    cal = Calibration("temperature", 2.0)
    assert cal.apply(z[0]).shape == (4,)
    assert np.allclose(cal.apply(z).sum(axis=1), 1.0)
    assert cal.apply(z)[0, 0] < 0.7 and np.allclose(cal.apply(z)[1], 0.25)
    with pytest.raises(ConfigError, match="4 columns"):
        cal.apply(np.zeros(3))


def test_dict_round_trip_and_validation() -> None:
    cal = Calibration("vector", scale=(1.0, 2.0, 3.0, 4.0), bias=(0.1, 0.2, 0.3, 0.4), fitted_on={"scans": 8})
    back = Calibration.from_dict(json.loads(json.dumps(cal.to_dict())))
    assert back == cal and back.fitted_on == {"scans": 8} and back.digest == cal.digest
    # parameters stored in another class order come back in PHASE_NAMES order
    d = cal.to_dict()
    d["class_names"] = list(reversed(PHASE_NAMES))
    d["scale"], d["bias"] = list(reversed(d["scale"])), list(reversed(d["bias"]))
    assert Calibration.from_dict(d) == cal
    for bad in ({"method": "platt"}, {"method": "temperature", "temperature": -1}, {"method": "vector", "scale": [1, 2]},
                {"method": "temperature", "temperature": 2, "log_floor": 1e-3}, {"method": "none", "temperature": 2}):
        with pytest.raises(ConfigError):
            Calibration.from_dict(bad)
    assert Calibration("temperature", 1.5).digest != Calibration("temperature", 1.6).digest
    assert "T = 1" in IDENTITY.describe() and "T = 1.500" in Calibration("temperature", 1.5).describe()


def test_seconds_factors_per_voted_phase() -> None:
    plain = Calibration("temperature", 1.5, seconds_scale=0.6)
    cal = Calibration("temperature", 1.5, seconds_scale=0.6, seconds_scale_by_phase={"other": 0.9, "arterial": 0.5})
    assert list(cal.seconds_scale_by_phase) == ["arterial", "other"]  # PHASE_NAMES order
    assert cal.seconds_scale_for("other") == 0.9 and cal.seconds_scale_for("arterial") == 0.5
    assert cal.seconds_scale_for("venous") == 0.6 and cal.seconds_scale_for(None) == 0.6  # not fitted: overall
    back = Calibration.from_dict(json.loads(json.dumps(cal.to_dict())))
    assert back == cal and back.digest == cal.digest
    assert cal.digest != plain.digest and "seconds_scale_by_phase" not in plain.parameters()  # old digests kept
    assert "other x0.900" in cal.describe() and not Calibration(seconds_scale_by_phase={"venous": 0.7}).is_identity
    for bad in ({"non_contrast": 1.0}, {"venous": 0.0}, {"delayed": 1.0}, {"other": float("nan")}):
        with pytest.raises(ConfigError, match="seconds_scale_by_phase"):
            Calibration("temperature", 1.5, seconds_scale_by_phase=bad)


def test_calibration_round_trips_through_a_checkpoint(tmp_path: Path) -> None:
    path = make_checkpoint(tmp_path / "m.safetensors", arch="resnet10t", size=32)
    ckpt = load_checkpoint(path)
    assert calibration_of(ckpt) is IDENTITY
    cal = Calibration("temperature", 1.7, fitted_on={"data": {"manifest": "synth"}})
    out = save_checkpoint(with_calibration(ckpt, cal), tmp_path / "cal.safetensors")
    back = load_checkpoint(out)
    assert back.sha256 == ckpt.sha256  # same model
    assert calibration_of(back) == cal and back.meta[META_KEY]["fitted_on"] == {"data": {"manifest": "synth"}}
    assert {k: v for k, v in back.meta.items() if k != META_KEY} == ckpt.meta
    # removing it again
    plain = load_checkpoint(save_checkpoint(with_calibration(back, IDENTITY), tmp_path / "plain.safetensors"))
    assert META_KEY not in plain.meta and calibration_of(plain) is IDENTITY


def test_classifier_applies_the_stored_calibration_with_either_engine(tmp_path: Path) -> None:
    path = make_checkpoint(tmp_path / "m.safetensors", arch="resnet10t", size=32, with_onnx=True)
    ckpt = load_checkpoint(path)
    plain = Classifier(ckpt, device="cpu", engine="torch")
    z = np.log(np.array([[0.6, 0.2, 0.1, 0.1], [0.1, 0.1, 0.1, 0.7]]))
    assert not plain.has_calibration and np.allclose(plain.calibrate(z), np.exp(z))
    out = save_checkpoint(with_calibration(ckpt, Calibration("temperature", 2.0)), tmp_path / "cal.safetensors")
    loaded = load_checkpoint(out)
    assert loaded.onnx == ckpt.onnx  # the ONNX export is kept
    for engine in ("torch", "onnx"):
        clf = Classifier(out, device="cpu", engine=engine)
        assert clf.engine == engine and clf.has_calibration and clf.calibration.temperature == 2.0
        assert np.allclose(clf.calibrate(z), softmax(z / 2.0))
        assert np.allclose(clf.calibrate(z[1]), softmax(z[1] / 2.0))
        slices = np.array([[0.6, 0.2, 0.1, 0.1], [0.8, 0.1, 0.05, 0.05]])
        assert np.allclose(clf.series_probabilities(slices), softmax(mean_log_probs(slices) / 2.0))
