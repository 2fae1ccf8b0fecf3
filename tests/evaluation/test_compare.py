"""Paired comparison of two evaluations (``ctphase.evaluation.compare``, ``ctphase compare``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from ctphase.cli.main import app
from ctphase.errors import InputError
from ctphase.evaluation import EvaluationResults, evaluate_predictions, write_report
from ctphase.evaluation.compare import compare_results


def _probs(rng: np.random.Generator, y: np.ndarray, right: np.ndarray) -> list[np.ndarray]:
    """Five slices per scan, all voting the label where ``right``, else the next class."""
    out = []
    for label, ok in zip(y, right):
        p = np.full((5, 4), 0.02) + rng.uniform(0, 0.01, (5, 4))
        p[:, label if ok else (label + 1) % 4] = 0.9
        out.append(p / p.sum(axis=1, keepdims=True))
    return out


def _run(probs: list[np.ndarray], y: np.ndarray, patients: list[int]) -> dict:
    res = evaluate_predictions(probs, y, patients, scan_ids=[f"s{i}" for i in range(len(y))], n_resamples=0,
                               sweep_rates=None)
    return json.loads(json.dumps(res.to_dict()))


@pytest.fixture()
def pair() -> tuple[dict, dict, np.ndarray, np.ndarray, np.ndarray]:
    """60 patients x 4 scans; A right on 70% of the scans, B right wherever A is and on 20 more."""
    rng = np.random.default_rng(0)
    y = np.tile(np.arange(4), 60)
    patients = list(np.repeat(np.arange(60), 4))
    right_a = rng.uniform(size=y.size) < 0.7
    right_b = right_a.copy()
    right_b[np.flatnonzero(~right_a)[:20]] = True
    return _run(_probs(rng, y, right_a), y, patients), _run(_probs(rng, y, right_b), y, patients), y, right_a, right_b


def test_the_paired_interval_sees_a_difference_the_runs_alone_do_not(pair) -> None:
    a, b, y, right_a, right_b = pair
    c = compare_results(a, b, n_resamples=2000)
    assert (c.n_scans, c.n_clusters, c.clusters) == (240, 60, "patients")
    assert (c.only_a_right, c.only_b_right) == (0, 20)
    assert c.mcnemar_p == pytest.approx(2 * 0.5 ** 20)
    acc = next(m for m in c.metrics if m.name == "accuracy")
    assert acc.a == pytest.approx(right_a.mean()) and acc.b == pytest.approx(right_b.mean())
    assert acc.difference.estimate == pytest.approx(20 / 240)
    # B is never worse on any patient, so every resample's difference is >= 0, and the interval excludes 0
    macro = c.metrics[0]
    assert macro.name == "macro F1" and macro.b > macro.a
    assert 0 < macro.difference.low < macro.difference.estimate < macro.difference.high
    # slice level: every slice of a scan votes as the scan here, so the slices tell the same story, paired
    assert c.n_slices == 5 * 240 and c.slice_metrics is not None
    sacc = next(m for m in c.slice_metrics if m.name == "accuracy")
    assert (sacc.a, sacc.b) == pytest.approx((right_a.mean(), right_b.mean()))
    assert 0 < sacc.difference.low < sacc.difference.estimate == pytest.approx(20 / 240)
    # the same run against itself: no difference at all
    same = compare_results(a, a, n_resamples=200)
    assert all(m.difference.low == m.difference.high == 0 for m in same.metrics)
    assert (same.only_a_right, same.only_b_right, same.mcnemar_p) == (0, 0, 1.0)


def test_runs_on_other_scans_or_labels_are_refused(pair) -> None:
    a, b, *_ = pair
    fewer = {**b, "scan_level": {**b["scan_level"], "predictions": b["scan_level"]["predictions"][:-1]}}
    with pytest.raises(InputError, match="not on the same scans"):
        compare_results(a, fewer, names=("runA", "runB"))
    relabelled = json.loads(json.dumps(b))
    relabelled["scan_level"]["predictions"][3]["label"] = "venous"
    with pytest.raises(InputError, match="scan s3: labelled other in runA, venous in runB"):
        compare_results(a, relabelled, names=("runA", "runB"))
    with pytest.raises(InputError, match="not the metrics.json"):
        compare_results(a, {"schema": "something else"}, names=("runA", "runB"))


def test_slice_level_pairs_each_slice(pair) -> None:
    a, b, y, right_a, right_b = pair
    one_wrong = json.loads(json.dumps(b))
    row = one_wrong["scan_level"]["predictions"][0]
    row["slice_predicted"][2] = (int(y[0]) + 1) % 4  # one slice of a scan both runs get right, now wrong in B
    assert right_a[0] and right_b[0]
    c = compare_results(a, one_wrong, n_resamples=200)
    sacc = next(m for m in c.slice_metrics if m.name == "accuracy")
    assert sacc.b - sacc.a == pytest.approx((right_b.sum() - right_a.sum()) * 5 / 1200 - 1 / 1200)
    assert next(m for m in c.metrics if m.name == "accuracy").difference.estimate == pytest.approx(20 / 240)
    fewer = json.loads(json.dumps(b))
    fewer["scan_level"]["predictions"][7]["slice_predicted"].pop()
    with pytest.raises(InputError, match="scan s7: 5 slice predictions in runA, 4 in runB"):
        compare_results(a, fewer, names=("runA", "runB"))
    bad = json.loads(json.dumps(b))
    bad["scan_level"]["predictions"][1]["slice_predicted"][0] = 4
    with pytest.raises(InputError, match="scan s1: slice prediction 4 is not a class index"):
        compare_results(a, bad, names=("runA", "runB"))
    old = json.loads(json.dumps(b))
    for r in old["scan_level"]["predictions"]:
        del r["slice_predicted"]
    c = compare_results(a, old, n_resamples=200)
    assert c.slice_metrics is None and c.n_slices == 0 and c.metrics[0].difference.estimate > 0
    assert EvaluationResults.from_dict(old).scan_level.predictions[0].slice_predicted is None  # an older metrics.json
    assert EvaluationResults.from_dict(b).scan_level.predictions[0].slice_predicted == b["scan_level"]["predictions"][0][
        "slice_predicted"]


def test_repeated_draws_are_paired_draw_by_draw(pair) -> None:
    a, b, *_ = pair
    c = compare_results(a, b, n_resamples=200)
    d, macro = c.draws, c.metrics[0]
    # every slice of a scan votes alike here, so each draw gives the reported labels
    assert d.n_draws == 20 and d.b_better == 20 and d.a_mean == pytest.approx(macro.a) and d.b_mean == pytest.approx(macro.b)
    assert d.difference_min == pytest.approx(d.difference_max) == pytest.approx(macro.difference.estimate)
    other_seed = json.loads(json.dumps(b))
    other_seed["protocol"]["seed"] = 1  # other draws: not paired
    no_draws = json.loads(json.dumps(b))
    del no_draws["draws"]  # a run written before --draws
    assert compare_results(a, other_seed, n_resamples=200).draws is None
    assert compare_results(a, no_draws, n_resamples=200).draws is None


def test_runs_without_patients_fall_back_to_scans(pair) -> None:
    a, b, *_ = pair
    old = json.loads(json.dumps(b))
    for r in old["scan_level"]["predictions"]:
        del r["cluster"]
    c = compare_results(a, old, n_resamples=200)
    assert (c.clusters, c.n_clusters) == ("scans", 240)


def test_cli_compares_two_evaluation_folders(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    y = np.tile(np.arange(4), 30)
    patients = list(np.repeat(np.arange(30), 4))
    right_a = rng.uniform(size=y.size) < 0.6
    folders = []
    for name, right in (("a", right_a), ("b", np.ones_like(right_a))):
        res = evaluate_predictions(_probs(rng, y, right), y, patients, scan_ids=[f"s{i}" for i in range(y.size)],
                                   n_resamples=0, sweep_rates=None)
        write_report(res, tmp_path / name, figures=False)
        folders.append(tmp_path / name)
    out = tmp_path / "cmp.json"
    r = CliRunner().invoke(app, ["compare", str(folders[0]), str(folders[1] / "metrics.json"), "--bootstrap", "300",
                                 "--json", str(out)])
    assert r.exit_code == 0, r.output
    assert "120 scans of 30 patients" in r.output and "slice level (600 slices)" in r.output
    assert "scan macro F1 over the same 20 draws of the slices" in r.output and "B higher in 20 of 20" in r.output
    line = next(ln for ln in r.output.splitlines() if ln.startswith("accuracy"))
    assert float(line.split()[2]) == 1.0 and float(line.split()[1]) == pytest.approx(right_a.mean(), abs=1e-3)
    saved = json.loads(out.read_text())
    assert saved["only_b_right"] == int((~right_a).sum()) and saved["only_a_right"] == 0
    # refused: a folder without metrics.json, and an existing --json without --overwrite
    bad = CliRunner().invoke(app, ["compare", str(tmp_path), str(folders[1])])
    assert bad.exit_code == 1 and "metrics.json" in bad.output and "Traceback" not in bad.output
    again = CliRunner().invoke(app, ["compare", str(folders[0]), str(folders[1]), "--json", str(out)])
    assert again.exit_code == 2 and "exists" in again.output
