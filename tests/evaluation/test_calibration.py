"""Calibration and abstention metrics (ECE, reliability bins, risk-coverage) and their place in the results."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from training_toys import toy_source

from ctphase.data import synthetic_scans
from ctphase.errors import ConfigError
from ctphase.evaluation import evaluate_predictions, write_report
from ctphase.evaluation.calibrate import fit_calibration, overlapping, reserved_patients, series_scores
from ctphase.evaluation.calibration import (
    calibration_scores,
    ece_noise_floor,
    expected_calibration_error,
    reliability,
    risk_coverage,
    scan_calibration,
)
from ctphase.evaluation.results import EvaluationResults
from ctphase.models.calibration import Calibration, mean_log_probs, softmax


def test_ece_of_perfectly_calibrated_data_is_near_zero_and_of_overconfident_data_large() -> None:
    rng = np.random.default_rng(0)
    conf = rng.uniform(0.25, 1.0, 200_000)
    assert expected_calibration_error(conf, rng.random(conf.size) < conf) < 0.005
    overconfident = expected_calibration_error(conf, rng.random(conf.size) < conf - 0.2)
    assert overconfident == pytest.approx(0.2, abs=0.01)


def test_reliability_bins_are_equal_width_and_right_closed() -> None:
    ece, bins = reliability([0.0, 1 / 15, 0.5, 1.0], [True, False, True, True])
    assert len(bins) == 15 and bins[0].low == 0.0 and bins[-1].high == 1.0
    assert bins[0].count == 2 and bins[7].count == 1 and bins[14].count == 1  # 0 and 1/15 in the first bin
    assert bins[0].accuracy == 0.5 and bins[0].mean_confidence == pytest.approx(1 / 30)
    assert bins[1].count == 0 and bins[1].accuracy is None
    assert ece == pytest.approx((2 * abs(0.5 - 1 / 30) + 0.5 + 0.0) / 4)
    with pytest.raises(ConfigError):
        reliability([0.5, 1.2], [True, False])
    with pytest.raises(ConfigError):
        reliability([], [])


def test_risk_coverage_on_a_hand_made_example() -> None:
    conf = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05]
    correct = [1, 1, 1, 0, 1, 1, 0, 1, 0, 0]
    order = np.random.default_rng(1).permutation(10)  # the input order does not matter
    rc = risk_coverage(np.array(conf)[order], np.array(correct, dtype=bool)[order], (1.0, 0.9, 0.8, 0.5), "test")
    got = [(p.target_coverage, p.n_kept, p.accuracy, p.threshold) for p in rc.points]
    assert got == [(1.0, 10, 0.6, 0.05), (0.9, 9, pytest.approx(6 / 9), 0.1), (0.8, 8, 0.75, 0.2), (0.5, 5, 0.8, 0.5)]
    assert rc.points[2].risk == pytest.approx(0.25) and rc.points[1].coverage == 0.9
    # risks after 1..10 kept: 0, 0, 0, 1/4, 1/5, 1/6, 2/7, 2/8, 3/9, 4/10
    assert rc.aurc == pytest.approx((0.25 + 0.2 + 1 / 6 + 2 / 7 + 0.25 + 1 / 3 + 0.4) / 10)
    assert rc.ranking == "test"


def test_calibration_scores_by_hand() -> None:
    p = np.array([[0.7, 0.1, 0.1, 0.1], [0.2, 0.5, 0.2, 0.1], [0.4, 0.3, 0.2, 0.1]])
    y = np.array([0, 2, 1])
    s = calibration_scores(p, y, predicted=np.array([0, 1, 1]))
    assert s.n == 3 and s.accuracy == pytest.approx(2 / 3) and s.label_not_top == 1
    assert s.mean_confidence == pytest.approx((0.7 + 0.5 + 0.3) / 3)
    assert s.nll == pytest.approx(-np.mean(np.log([0.7, 0.2, 0.3])))
    assert s.brier == pytest.approx(np.mean([0.09 + 0.03, 0.04 + 0.25 + 0.64 + 0.01, 0.16 + 0.49 + 0.04 + 0.01]))


def _toy_probs(n_scans: int = 24, n_slices: int = 10, seed: int = 0) -> tuple[list[np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(n_scans) % 4
    probs = []
    for label in y:
        logits = rng.normal(0, 1.5, size=(n_slices, 4))
        logits[:, label] += 1.5
        probs.append(softmax(logits))
    return probs, y


def test_scan_calibration_before_and_after() -> None:
    probs, y = _toy_probs()
    sampled = [np.arange(0, 10, 2)] * len(probs)
    z = np.stack([mean_log_probs(p[idx]) for p, idx in zip(probs, sampled)])
    pred = z.argmax(axis=1)
    res = scan_calibration(probs, sampled, y, pred, Calibration("temperature", 3.0))
    assert res.stored and res.digest and res.scan_calibrated is not None and res.n_bins == 15
    assert res.scan_uncalibrated.nll == pytest.approx(calibration_scores(softmax(z), y, pred).nll)
    assert res.scan_calibrated.nll == pytest.approx(calibration_scores(softmax(z / 3.0), y, pred).nll)
    assert res.slice_uncalibrated.n == 240 and "calibrated" in res.risk_coverage.ranking
    plain = scan_calibration(probs, sampled, y, pred, None)
    assert not plain.stored and plain.scan_calibrated is None and "uncalibrated" in plain.risk_coverage.ranking


def test_evaluation_results_carry_calibration_and_old_files_still_read(tmp_path: Path) -> None:
    probs, y = _toy_probs()
    res = evaluate_predictions(probs, y, n_resamples=0, sweep_rates=None, calibration=Calibration("temperature", 2.0))
    assert res.calibration is not None and res.calibration.scan_calibrated is not None
    assert [p.target_coverage for p in res.calibration.risk_coverage.points] == [1.0, 0.95, 0.9, 0.8]
    json_path, md_path = write_report(res, tmp_path / "r")
    data = json.loads(json_path.read_text())
    assert data["calibration"]["scan_calibrated"]["ece"] == pytest.approx(res.calibration.scan_calibrated.ece)
    assert data["plots"]["reliability_scan"] == "reliability_scan.png" and (tmp_path / "r" / "reliability_scan.png").is_file()
    back = EvaluationResults.from_dict(data)
    assert back.calibration == res.calibration  # typed all the way down
    text = md_path.read_text()
    assert "## Calibration and abstention" in text and "| 90% |" in text and "temperature scaling, T = 2.000" in text
    old = {k: v for k, v in data.items() if k != "calibration"}  # a metrics.json written before calibration existed
    assert EvaluationResults.from_dict(old).calibration is None


def test_fit_calibration_on_toy_scans_and_reserved_ranges(small_checkpoint: Path) -> None:
    scans = synthetic_scans(range(7, 12), slices_per_scan=6, size=32, source=toy_source)
    fit = fit_calibration(scans, small_checkpoint, device="cpu", data={"manifest": "toy"}, folds=3)
    info = fit.calibration.fitted_on
    assert fit.calibration.method in ("temperature", "vector") and info["scans"] == 20 and info["patients"] == 5
    assert info["data"] == {"manifest": "toy"} and info["selection"]["requested"] == "auto"
    assert info["metrics"]["nll_after"] <= info["metrics"]["nll_before"] + 1e-9
    assert fit.existing is None and info["model_sha256"] == fit.model_sha256
    z, voted = series_scores([np.full((6, 4), 0.25)] * 2, ["a", "b"])
    assert z.shape == (2, 4) and voted.shape == (2,)
    reserved = reserved_patients({"data": {"train_patients": [0, 5000], "val_patients": [100000, 100032]}})
    assert overlapping(range(300000, 300150), reserved) == []
    assert overlapping(range(4990, 5010), reserved) == ["training 0..4999"]
    assert overlapping(range(200040, 200060), reserved) == ["test (ctphase evaluate default) 200000..200049"]


def test_ece_noise_floor_is_the_ece_of_calibrated_outcomes_and_shrinks_with_n() -> None:
    rng = np.random.default_rng(3)
    small, large = rng.uniform(0.5, 1.0, 200), rng.uniform(0.5, 1.0, 20000)
    floor_small, floor_large = ece_noise_floor(small), ece_noise_floor(large)
    assert 0.02 < floor_small < 0.08 and floor_large < 0.01
    observed = [expected_calibration_error(small, rng.random(200) < small) for _ in range(300)]
    assert np.median(observed) == pytest.approx(floor_small, rel=0.15)
    assert ece_noise_floor(small) == floor_small  # seeded
