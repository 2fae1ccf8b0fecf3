"""Scoring the subphase and seconds heads against known truth, and fitting the seconds interval."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ctphase.data import LabelledScan
from ctphase.errors import ConfigError
from ctphase.evaluation.heads import fit_seconds_scale, fit_seconds_scales_by_phase, heads_metrics
from ctphase.models.calibration import Calibration
from ctphase.models.heads import SliceOutputs
from ctphase.phases import SUBPHASE_NAMES, SUBPHASE_TO_PHASE, Phase


def _scan(i: int, sub: str, seconds: float | None, n: int = 20) -> LabelledScan:
    return LabelledScan(f"s{i}", SUBPHASE_TO_PHASE[sub], f"patient:{i}", n, lambda idx: None, subphase=sub, seconds=seconds)


def _outputs(sub: str, log_mu: float, sd: float, n: int = 20, said: str | None = None) -> SliceOutputs:
    probs = np.zeros((n, 4), np.float32)
    probs[:, int(SUBPHASE_TO_PHASE[sub])] = 1.0
    subp = np.full((n, 8), 0.01, np.float32)
    subp[:, SUBPHASE_NAMES.index(said or sub)] = 0.93
    return SliceOutputs(probs, subp, np.tile(np.array([[log_mu, math.log(sd**2)]], np.float32), (n, 1)))


def test_heads_metrics_score_against_the_truth() -> None:
    scans = [_scan(0, "late_arterial", 40.0), _scan(1, "portal_venous", 70.0), _scan(2, "non_contrast", None),
             _scan(3, "equilibrium", 240.0)]
    outs = [_outputs("late_arterial", math.log(40.0), 0.1), _outputs("portal_venous", math.log(100.0), 0.1),
            _outputs("non_contrast", 0.0, 1.0), _outputs("equilibrium", math.log(240.0), 0.1, said="excretory")]
    m = heads_metrics(outs, scans)
    assert m["series"] == 4
    assert m["subphase_accuracy"] == 0.75  # the delayed series said excretory
    assert m["subphase_given_phase_accuracy"] == 0.75
    assert m["subphase_confusion"]["equilibrium"] == {"excretory": 1}
    sec = m["seconds"]
    assert sec["series"] == 3  # the non-contrast series has no time
    assert sec["median_abs_error_s"] == pytest.approx(0.0, abs=0.1)
    assert sec["mean_abs_error_s"] == pytest.approx(10.0, abs=0.1)  # 30 s off once
    assert sec["coverage"] == pytest.approx(2 / 3)  # 70 s is outside 100 s x exp(+-1.28 x 0.1)
    assert set(sec["by_phase"]) == {"arterial", "venous", "other"} and sec["by_phase"]["venous"]["coverage"] == 0.0
    assert sec["by_phase"]["venous"]["median_abs_error_s"] == pytest.approx(30.0, abs=0.1)


def test_heads_metrics_need_truth_and_heads() -> None:
    plain = LabelledScan("s", Phase.VENOUS, "patient:1", 5, lambda idx: None)
    assert heads_metrics([_outputs("portal_venous", 4.0, 0.1, n=5)], [plain]) is None
    assert heads_metrics([SliceOutputs(np.eye(4))], [_scan(0, "portal_venous", 70.0, n=4)]) is None


def test_fit_seconds_scale_reaches_the_nominal_coverage() -> None:
    rng = np.random.default_rng(0)
    truth = np.exp(rng.uniform(math.log(20), math.log(600), 200))
    # the model says sd 0.1, but its means are off by N(0, 0.3): intervals too narrow by about 3x
    scans = [_scan(i, "portal_venous", float(t)) for i, t in enumerate(truth)]
    outs = [_outputs("portal_venous", float(math.log(t) + rng.normal(0, 0.3)), 0.1) for t in truth]
    assert heads_metrics(outs, scans)["seconds"]["coverage"] < 0.5
    scale = fit_seconds_scale(outs, scans)
    assert 2.0 < scale < 4.5
    assert heads_metrics(outs, scans, scale=scale)["seconds"]["coverage"] == pytest.approx(0.8, abs=0.01)
    with pytest.raises(ConfigError, match=">= 10 contrast-enhanced scans"):
        fit_seconds_scale(outs[:5], scans[:5])


def test_seconds_factors_per_decided_phase_reach_the_nominal_coverage_in_each_phase() -> None:
    """Late series whose times are far more uncertain than early ones: one factor over-covers the early
    and under-covers the late series; a factor per decided (here: voted) phase gives each about 80%."""
    rng = np.random.default_rng(1)
    scans, outs = [], []
    for i in range(300):
        sub, lo, hi, err = [("late_arterial", 33, 50, 0.05), ("portal_venous", 50, 95, 0.15), ("equilibrium", 180, 300, 0.6)][i % 3]
        t = float(rng.uniform(lo, hi))
        scans.append(_scan(i, sub, t))
        outs.append(_outputs(sub, float(math.log(t) + rng.normal(0, err)), 0.1))
    one = heads_metrics(outs, scans, scale=fit_seconds_scale(outs, scans))["seconds"]["by_decided_phase"]
    assert one["arterial"]["coverage"] > 0.95 and one["other"]["coverage"] < 0.6
    by_phase = fit_seconds_scales_by_phase(outs, scans)
    assert by_phase["arterial"] < by_phase["venous"] < by_phase["other"]
    cal = Calibration("temperature", 1.0, seconds_scale=fit_seconds_scale(outs, scans), seconds_scale_by_phase=by_phase)
    each = heads_metrics(outs, scans, scale=cal)["seconds"]["by_decided_phase"]
    for ph in ("arterial", "venous", "other"):
        assert each[ph]["coverage"] == pytest.approx(0.8, abs=0.02) and each[ph]["scale"] == by_phase[ph]
    assert each["arterial"]["median_interval_width_s"] < one["arterial"]["median_interval_width_s"]
    # phases with fewer than min_series scans get no factor of their own (the overall one applies)
    assert set(fit_seconds_scales_by_phase(outs[:60], scans[:60], min_series=25)) == set()
    assert set(fit_seconds_scales_by_phase(outs, scans, min_series=100)) == {"arterial", "venous", "other"}


def test_with_a_series_reader_the_factors_follow_the_readers_label_not_the_vote() -> None:
    """Every series is voted venous; a reader calls the late ones other (as ``ctphase predict`` would label them):
    their far wider times get the other factor, fitted on the series the reader calls other."""
    from ctphase.models.reader import SeriesReader

    rng = np.random.default_rng(2)
    organs = ("aorta",)
    scans, outs = [], []
    for i in range(200):
        sub, lo, hi, err = [("portal_venous", 50, 95, 0.1), ("equilibrium", 180, 300, 0.6)][i % 2]
        t = float(rng.uniform(lo, hi))
        scans.append(_scan(i, sub, t))
        o = _outputs(sub, float(math.log(t) + rng.normal(0, err)), 0.1)
        probs = np.zeros_like(o.probs)
        probs[:, 2] = 1.0  # the vote: venous
        outs.append(SliceOutputs(probs, o.subphase, o.log_seconds, np.zeros((len(probs), 1), np.float32)))
    n = 4 + 4 + len(SUBPHASE_NAMES) + 3 + 3 * len(organs)
    coef = np.zeros((4, n))
    coef[3, 4 + 4 + len(SUBPHASE_NAMES)] = 10.0  # other when the mean ln(seconds) is above ln(150)
    reader = SeriesReader(SUBPHASE_NAMES, organs, (0.0,) * n, (1.0,) * n, tuple(map(tuple, coef)),
                          (-20.0, -20.0, 10.0 * math.log(150.0), 0.0))
    assert set(fit_seconds_scales_by_phase(outs, scans)) == {"venous"}  # by the vote: one mixed group
    by_reader = fit_seconds_scales_by_phase(outs, scans, reader=reader)
    assert set(by_reader) == {"venous", "other"} and by_reader["venous"] < by_reader["other"]
    cal = Calibration("temperature", 1.0, seconds_scale=fit_seconds_scale(outs, scans), seconds_scale_by_phase=by_reader,
                      reader=reader)
    each = heads_metrics(outs, scans, scale=cal)["seconds"]["by_decided_phase"]
    assert each["venous"]["series"] + each["other"]["series"] == 200 and each["other"]["series"] >= 50
    for ph in ("venous", "other"):
        assert each[ph]["coverage"] == pytest.approx(0.8, abs=0.02) and each[ph]["scale"] == by_reader[ph]


def test_evaluate_and_calibrate_a_model_with_heads(tmp_path) -> None:
    from model_factory import make_checkpoint

    from ctphase.data import synthetic_scans
    from ctphase.evaluation.calibrate import fit_calibration
    from ctphase.evaluation.run import run_evaluation

    model = make_checkpoint(tmp_path / "heads.safetensors", arch="resnet10t", size=32, heads=True)
    scans = synthetic_scans(range(500000, 500004), size=32, slices_per_scan=4)
    assert all(s.subphase is not None and (s.seconds is None) == (s.label == Phase.NON_CONTRAST) for s in scans)
    results = run_evaluation(scans, model, tmp_path / "eval", n_resamples=0, figures=False, device="cpu")
    assert results.heads["series"] == 16 and results.heads["seconds"]["series"] == 12
    assert "Subphase and time after injection" in (tmp_path / "eval" / "report.md").read_text()

    fit = fit_calibration(scans, model, device="cpu")
    sec = fit.calibration.fitted_on["seconds"]
    assert fit.calibration.seconds_scale == pytest.approx(sec["scale"], rel=1e-5) and sec["series"] == 12
    assert sec["coverage_after"] == pytest.approx(0.8, abs=0.1)
    assert sec["scale_by_phase"] == {}  # 4 scans per phase: too few for factors of their own
