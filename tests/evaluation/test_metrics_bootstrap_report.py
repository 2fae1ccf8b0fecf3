"""Tests of ctphase.evaluation: metrics, patient-clustered bootstrap, sweep, plots, report."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, replace

import numpy as np
import pytest
from sklearn.metrics import f1_score, roc_auc_score

from ctphase.errors import ConfigError
from ctphase.evaluation import (
    EvaluationResults,
    bootstrap_ci,
    bootstrap_classification,
    classification_metrics,
    evaluate_predictions,
    macro_f1,
    plot_confusion_matrix,
    plot_roc_curves,
    plot_sweep,
    sampling_sweep,
    vote_scans,
    write_report,
)
from ctphase.evaluation.results import Counts
from ctphase.phases import PHASE_NAMES
from ctphase.sampling import DRAW, sample_slices, series_seed
from ctphase.voting import majority_vote

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _scan_probs(rng: np.random.Generator, labels: np.ndarray, p_correct: float, n_range=(40, 80)) -> list[np.ndarray]:
    """Per scan (n_i, 4) slice probabilities; each slice is right with probability p_correct."""
    out = []
    for y in labels:
        n = int(rng.integers(*n_range))
        right = rng.random(n) < p_correct
        wrong = (y + rng.integers(1, 4, n)) % 4
        lab = np.where(right, y, wrong)
        p = rng.dirichlet(np.ones(4), n) * 0.4
        p[np.arange(n), lab] += 0.6
        out.append(p.astype(np.float32))
    return out


# ---------------------------------------------------------------- metrics


def test_metrics_match_hand_computed_confusion():
    y_true = [0, 0, 1, 1, 2, 2, 3, 3]
    y_pred = [0, 1, 1, 1, 2, 3, 3, 0]
    m = classification_metrics(y_true, y_pred)
    assert m.confusion_matrix == [[1, 1, 0, 0], [0, 2, 0, 0], [0, 0, 1, 1], [1, 0, 0, 1]]
    assert m.accuracy == pytest.approx(5 / 8)
    pc = m.per_class
    assert [pc[n].precision for n in PHASE_NAMES] == pytest.approx([0.5, 2 / 3, 1.0, 0.5])
    assert [pc[n].recall for n in PHASE_NAMES] == pytest.approx([0.5, 1.0, 0.5, 0.5])
    assert [pc[n].f1 for n in PHASE_NAMES] == pytest.approx([0.5, 0.8, 2 / 3, 0.5])
    assert [pc[n].support for n in PHASE_NAMES] == [2, 2, 2, 2]
    assert m.macro.f1 == pytest.approx(np.mean([0.5, 0.8, 2 / 3, 0.5]))
    assert m.confusion_matrix_normalized[1] == pytest.approx([0, 1, 0, 0])
    assert m.roc_auc.macro is None and m.roc_auc.reasons["arterial"] == "no probabilities given"


def test_metrics_accept_names_and_aliases():
    m = classification_metrics(["non_contrast", "portal_venous", "delayed"], [0, 2, 3])
    assert m.accuracy == 1.0


def test_perfect_classifier_and_separable_auc():
    y = np.repeat(np.arange(4), 5)
    probs = np.full((20, 4), 0.1)
    probs[np.arange(20), y] = 0.7
    m = classification_metrics(y, y, probs)
    assert m.macro.f1 == 1.0 and m.accuracy == 1.0
    assert all(v == 1.0 for v in m.roc_auc.per_class.values())
    assert m.roc_auc.macro == 1.0
    curve = m.roc_curves["venous"]
    assert curve.fpr[0] == 0.0 and curve.tpr[-1] == 1.0


def test_random_scores_auc_near_half():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 4, 4000)
    probs = rng.dirichlet(np.ones(4), 4000)
    m = classification_metrics(y, probs.argmax(1), probs)
    for v in m.roc_auc.per_class.values():
        assert abs(v - 0.5) < 0.05


def test_auc_undefined_for_absent_class_and_macro_over_present():
    y = np.array([0, 0, 1, 1, 2, 2])  # no "other"
    probs = np.eye(4)[y] * 0.6 + 0.1
    m = classification_metrics(y, y, probs)
    assert m.roc_auc.per_class["other"] is None
    assert "no positive" in m.roc_auc.reasons["other"]
    assert m.roc_auc.macro == 1.0 and m.roc_auc.macro_classes == ["non_contrast", "arterial", "venous"]
    assert m.macro.classes == ["non_contrast", "arterial", "venous"]  # absent class not averaged as 0
    assert m.macro.f1 == 1.0


def test_macro_f1_fast_matches_sklearn():
    rng = np.random.default_rng(0)
    y, p = rng.integers(0, 4, 50), rng.integers(0, 3, 50)
    assert macro_f1(y, p) == pytest.approx(f1_score(y, p, average="macro", zero_division=0))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"y_true": [0, 1], "y_pred": [0]}, "differ in length"),
        ({"y_true": [0, 7], "y_pred": [0, 1]}, "label index 7"),
        ({"y_true": ["arterial", "bogus"], "y_pred": [0, 1]}, "bogus"),
        ({"y_true": [0, 1], "y_pred": [0, 1], "probs": np.ones((2, 3))}, r"shape \(2, 4\)"),
    ],
)
def test_metrics_reject_bad_arguments(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        classification_metrics(**kwargs)


# ---------------------------------------------------------------- bootstrap


def _dataset(rng, n_scans, p_right=0.8):
    y = rng.integers(0, 4, n_scans)
    pred = np.where(rng.random(n_scans) < p_right, y, (y + 1) % 4)
    probs = rng.dirichlet(np.ones(4), n_scans) * 0.5
    probs[np.arange(n_scans), pred] += 0.5
    return y, pred, probs


def test_bootstrap_contains_estimate_and_narrows_with_more_scans():
    rng = np.random.default_rng(1)
    widths = []
    for n in (40, 400):
        y, pred, probs = _dataset(rng, n)
        ci = bootstrap_classification(y, pred, probs, groups=np.arange(n) // 2, n_resamples=2000, seed=0)
        for iv in (ci.accuracy, ci.macro.f1, ci.roc_auc.macro):
            assert iv.low <= iv.estimate <= iv.high
        widths.append(ci.macro.f1.high - ci.macro.f1.low)
    assert widths[1] < 0.6 * widths[0]


def test_fast_bootstrap_equals_generic_with_sklearn_metrics():
    rng = np.random.default_rng(2)
    y, pred, probs = _dataset(rng, 60)
    groups = rng.integers(0, 25, 60)

    def metric(a, b, p):
        return {"f1": f1_score(a, b, average="macro", zero_division=0), "auc": roc_auc_score(a == 2, p[:, 2])}

    generic = bootstrap_ci(metric, y, pred, probs, groups=groups, n_resamples=300, seed=5)
    fast = bootstrap_classification(y, pred, probs, groups=groups, n_resamples=300, seed=5)
    for key in ("low", "high", "estimate"):
        assert getattr(fast.macro.f1, key) == pytest.approx(getattr(generic["f1"], key))
        assert getattr(fast.roc_auc.per_class["venous"], key) == pytest.approx(getattr(generic["auc"], key))


def test_clustering_by_patient_widens_interval():
    # patient 0 has 40 scans, all wrong; 20 other patients have 3 scans each, all right.
    n_big, n_small, per = 40, 20, 3
    y = np.zeros(n_big + n_small * per, dtype=int)
    pred = np.concatenate([np.ones(n_big, dtype=int), np.zeros(n_small * per, dtype=int)])
    patients = np.concatenate([np.zeros(n_big, dtype=int), 1 + np.arange(n_small * per) // per])
    acc = lambda a, b: float(np.mean(a == b))  # noqa: E731
    clustered = bootstrap_ci(acc, y, pred, groups=patients, n_resamples=2000, seed=0)
    independent = bootstrap_ci(acc, y, pred, groups=None, n_resamples=2000, seed=0)
    assert clustered.estimate == independent.estimate == pytest.approx(0.6)
    w_clustered = clustered.high - clustered.low
    w_independent = independent.high - independent.low
    assert w_clustered > 2.5 * w_independent
    # resampling patient 0 as a unit: accuracy jumps by 40/(40+60)-sized steps; 1.0 when it is not drawn
    assert clustered.high == pytest.approx(1.0)


def test_bootstrap_survives_degenerate_resamples():
    # "other" exists in one patient only: many resamples lack it entirely
    y = np.array([0, 1, 2, 3, 0, 1, 2, 0, 1, 2])
    pred = np.array([0, 1, 2, 3, 0, 2, 2, 0, 1, 1])
    probs = np.eye(4)[pred] * 0.7 + 0.075
    groups = [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]
    ci = bootstrap_classification(y, pred, probs, groups=groups, n_resamples=500, seed=0)
    assert ci.roc_auc.per_class["other"].n_valid < 500
    assert ci.per_class["other"].f1.n_valid == 500  # zero_division=0, never undefined
    assert 0.0 <= ci.macro.f1.low <= ci.macro.f1.high <= 1.0


def test_bootstrap_is_seeded_and_fast():
    rng = np.random.default_rng(4)
    y, pred, probs = _dataset(rng, 100)
    groups = np.arange(100) // 3
    t0 = time.perf_counter()
    a = bootstrap_classification(y, pred, probs, groups=groups, seed=11)  # default 5000 resamples
    assert time.perf_counter() - t0 < 5.0
    b = bootstrap_classification(y, pred, probs, groups=groups, seed=11)
    c = bootstrap_classification(y, pred, probs, groups=groups, seed=12)
    assert a == b
    assert a.macro.f1 != c.macro.f1
    assert a.n_resamples == 5000 and a.n_clusters == 34


def test_bootstrap_rejects_bad_arguments():
    with pytest.raises(ConfigError, match="n_resamples"):
        bootstrap_classification([0, 1], [0, 1], n_resamples=0)
    with pytest.raises(ConfigError, match="confidence"):
        bootstrap_classification([0, 1], [0, 1], confidence=95)
    with pytest.raises(ConfigError, match="groups"):
        bootstrap_classification([0, 1], [0, 1], groups=[1])


# ---------------------------------------------------------------- scan level and sweep


def test_vote_scans_replays_prediction_draws():
    rng = np.random.default_rng(0)
    probs = _scan_probs(rng, np.array([0, 1, 2]), 0.7)
    ids = ["1.2.3", "1.2.4", "1.2.5"]
    votes = vote_scans(probs, 0.3, seed=7, min_slices=8, scan_ids=ids)
    for p, sid, idx, label in zip(probs, ids, votes.sampled, votes.labels):
        expected = sample_slices(p.shape[0], 0.3, 8, series_seed(7, sid))
        np.testing.assert_array_equal(idx, expected)
        assert label == majority_vote(p[expected]).label
    full = vote_scans(probs, 1.0)
    assert [len(s) for s in full.sampled] == [p.shape[0] for p in probs]


def test_sweep_more_slices_help_and_is_deterministic():
    rng = np.random.default_rng(5)
    y = np.repeat(np.arange(4), 10)
    probs = _scan_probs(rng, y, 0.7, (60, 100))
    kw = {"rates": (0.01, 0.05, 0.2, 1.0), "repeats": 5, "seed": 3, "n_resamples": 200}
    sweep = sampling_sweep(probs, y, np.arange(40) // 2, **kw)
    f1 = {e.rate: e for e in sweep.per_rate}
    assert f1[1.0].mean > f1[0.05].mean
    assert f1[0.2].mean > f1[0.01].mean
    assert f1[1.0].mean > 0.95 and f1[1.0].std == 0.0
    assert len(f1[0.05].values) == 5
    assert f1[0.01].min <= f1[0.01].mean <= f1[0.01].max
    assert f1[0.01].mean_slices == pytest.approx(1.0)  # min_slices=1
    assert sampling_sweep(probs, y, np.arange(40) // 2, **kw) == sweep
    with pytest.raises(ConfigError, match="outside"):
        sampling_sweep(probs, y, rates=(0.0,))


# ---------------------------------------------------------------- evaluate, plots, report


@pytest.fixture(scope="module")
def results():
    rng = np.random.default_rng(8)
    y = np.repeat(np.arange(4), 8)
    probs = _scan_probs(rng, y, 0.65)
    return evaluate_predictions(
        probs,
        [PHASE_NAMES[i] for i in y],
        [f"patient{i // 2}" for i in range(32)],
        scan_ids=[f"1.2.840.{i}" for i in range(32)],
        n_resamples=300,
        sweep_rates=(0.01, 0.1, 0.5, 1.0),
        sweep_repeats=3,
        timings={"read": rng.random(32), "preprocess": rng.random(32) * 0.1, "model": rng.random(32)},
        dataset="synthetic",
        model_sha256="deadbeef",
        arguments={"sample_rate": 0.3},
    )


def test_evaluate_predictions_layout(results):
    assert results.counts == Counts(32, 16, results.counts.slices, dict.fromkeys(PHASE_NAMES, 8), True)
    assert results.slice_level.metrics.n == results.counts.slices
    assert results.scan_level.metrics.n == 32
    assert results.scan_level.ci.n_clusters == 16
    assert results.slice_level.ci.n_clusters == 16
    pred = results.scan_level.predictions[0]
    assert pred.scan_id == "1.2.840.0" and pred.n_voted >= 8 and "patient" not in json.dumps(asdict(pred))
    assert [e.rate for e in results.sweep.per_rate] == [0.01, 0.1, 0.5, 1.0]
    assert set(results.timing.stages) == {"read", "preprocess", "model"}


def test_repeated_draws_start_with_the_reported_one_and_vary(results):
    d = results.draws
    assert len(d.values) == 20 and d.values[0] == pytest.approx(results.scan_level.metrics.macro.f1)
    assert d.min <= d.mean <= d.max and d.std > 0 and len(set(d.values)) > 1  # 0.65 slices: draws disagree
    rng = np.random.default_rng(8)
    y = np.repeat(np.arange(4), 8)
    probs = _scan_probs(rng, y, 0.65)
    again = evaluate_predictions(probs, y, n_resamples=0, sweep_rates=None, draws=5)
    assert again.draws.values == evaluate_predictions(probs, y, n_resamples=0, sweep_rates=None, draws=5).draws.values
    assert evaluate_predictions(probs, y, n_resamples=0, sweep_rates=None, draws=0).draws is None
    with pytest.raises(ConfigError, match="draws must be >= 0"):
        evaluate_predictions(probs, y, n_resamples=0, sweep_rates=None, draws=-1)


def test_evaluate_with_sampled_slices_skips_sweep():
    rng = np.random.default_rng(9)
    y = np.array([0, 1, 2, 3])
    r = evaluate_predictions(_scan_probs(rng, y, 0.9, (5, 10)), y, all_slices=False, n_resamples=0)
    assert r.sweep is None and "all slices" in r.sweep_skipped and r.draws is None  # nothing left to draw from
    assert r.protocol.sample_rate == 1.0 and r.scan_level.ci is None
    with pytest.raises(ConfigError, match="labels has 3"):
        evaluate_predictions(_scan_probs(rng, y, 0.9), y[:3])
    with pytest.raises(ConfigError, match=r"scan 1"):
        evaluate_predictions([np.ones((3, 4)) / 4, np.ones((3, 2))], [0, 1])


def _assert_png(path):
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert len(data) > 5000


def test_plots_are_valid_deterministic_pngs(tmp_path, results):
    m = results.scan_level.metrics
    a = plot_confusion_matrix(m.confusion_matrix, tmp_path / "cm.png")
    b = plot_confusion_matrix(m.confusion_matrix, tmp_path / "cm2.png")
    _assert_png(a)
    assert a.read_bytes() == b.read_bytes()
    _assert_png(plot_roc_curves(m.roc_curves, tmp_path / "roc.png", m.roc_auc.per_class))
    _assert_png(plot_sweep(results.sweep, tmp_path / "sweep.png"))
    with pytest.raises(ConfigError, match="shape"):
        plot_confusion_matrix([[1, 2], [3, 4]], tmp_path / "bad.png")


def test_write_report(tmp_path, results):
    json_path, md_path = write_report(results, tmp_path / "out")
    data = json.loads(json_path.read_text())  # strict JSON: no NaN
    assert data["ctphase_version"] and data["model_sha256"] == "deadbeef"
    assert data["arguments"] == {"sample_rate": 0.3}
    assert data["scan_level"]["metrics"]["accuracy"] == pytest.approx(results.scan_level.metrics.accuracy)
    assert EvaluationResults.from_dict(data) == replace(results, plots=data["plots"])  # metrics.json reads back
    assert data["protocol"]["draw"] == DRAW
    del data["protocol"]["draw"]  # a metrics.json written before the spread draw says it drew uniformly
    assert EvaluationResults.from_dict(data).protocol.draw == "uniform"
    md = md_path.read_text()
    for name in PHASE_NAMES:
        assert f"| {name} | " in md
    assert "| **macro avg** |" in md and "| **accuracy** |" in md
    assert "slice F1" in md and "scan F1" in md
    assert "true \\ predicted" in md
    assert "| 10% |" in md and "| **total** |" in md
    for key, fname in data["plots"].items():
        assert f"]({fname})" in md
        _assert_png(tmp_path / "out" / fname)
    assert set(data["plots"]) == {"confusion_slice", "confusion_scan", "roc_slice", "roc_scan", "sweep", "reliability_scan"}
