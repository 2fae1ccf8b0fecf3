"""Evaluating and calibrating with a series reader: it, not the vote, labels the scans; ``ctphase calibrate`` fits it."""

from __future__ import annotations

import numpy as np
import pytest

from ctphase.evaluation import evaluate_predictions, vote_scans
from ctphase.phases import PHASE_NAMES


def test_a_reader_labels_the_scans_and_keeps_the_vote_shares() -> None:
    probs = [np.tile([0.7, 0.1, 0.1, 0.1], (10, 1)) for _ in range(4)]  # every slice votes non-contrast
    y = np.arange(4)
    seen: list[tuple[int, np.ndarray]] = []

    def truth(i: int, idx: np.ndarray) -> np.ndarray:
        seen.append((i, idx))
        return np.eye(4)[y[i]] * 0.9 + 0.025

    votes = vote_scans(probs, 0.3, min_slices=3, reader=truth)
    plain = vote_scans(probs, 0.3, min_slices=3)
    assert votes.labels.tolist() == [0, 1, 2, 3] and plain.labels.tolist() == [0, 0, 0, 0]
    np.testing.assert_allclose(votes.confidence, 0.925)
    np.testing.assert_array_equal(votes.fractions, plain.fractions)
    assert [i for i, _ in seen] == [0, 1, 2, 3] and all(np.array_equal(a, b) for (_, a), b in zip(seen, plain.sampled))
    with_reader = evaluate_predictions(probs, y, n_resamples=0, sweep_rates=None, draws=3, reader=truth)
    without = evaluate_predictions(probs, y, n_resamples=0, sweep_rates=None, draws=3)
    assert with_reader.scan_level.metrics.macro.f1 == 1.0 and with_reader.draws.mean == 1.0
    assert without.scan_level.metrics.macro.f1 == pytest.approx(0.1)


def test_calibrate_fits_a_reader_for_a_network_with_organ_heads_and_evaluate_uses_it(tmp_path) -> None:
    from model_factory import make_checkpoint

    from ctphase.data import synthetic_scans
    from ctphase.evaluation.calibrate import fit_calibration
    from ctphase.evaluation.run import classify_scans, run_evaluation
    from ctphase.models import load_checkpoint, save_checkpoint
    from ctphase.models.calibration import Calibration, with_calibration
    from ctphase.models.heads import Heads
    from ctphase.models.reader import fit_reader, series_features

    organs = ("aorta", "liver")
    model = make_checkpoint(tmp_path / "organs.safetensors", arch="resnet10t", size=32, heads=Heads(organs=organs))
    scans = synthetic_scans(range(500000, 500006), size=32, slices_per_scan=4)
    fit = fit_calibration(scans, model, device="cpu", reader_draws=2)
    rec = fit.calibration.fitted_on["reader"]
    assert rec["draws"] == 2 and rec["rows"] == 2 * len(scans) and rec["features"] == 4 + 4 + 8 + 3 + 6
    assert rec["kept"] == (rec["cv_nll"] < rec["calibration_cv_nll"] and rec["cv_macro_f1"] >= rec["vote_macro_f1"])
    assert (fit.calibration.reader is not None) == rec["kept"]
    assert "reader" not in fit_calibration(scans, model, device="cpu", reader_draws=0).calibration.fitted_on

    # a reader stored in the checkpoint labels the scans of ctphase evaluate (at R = 100% it reads every slice)
    outs = classify_scans(scans, model, device="cpu").outputs
    x = np.array([series_features(o) for o in outs])
    y = np.array([int(s.label) for s in scans])
    rows = np.concatenate([x + np.random.default_rng(j).normal(0, 1e-2, x.shape) for j in range(5)])
    reader, _ = fit_reader(rows, np.tile(y, 5), list(range(len(rows))), Heads().subphases, organs, cs=(100.0,))
    cal = Calibration("temperature", 1.0, reader=reader)
    stored = save_checkpoint(with_calibration(load_checkpoint(model), cal), tmp_path / "reader.safetensors")
    results = run_evaluation(scans, stored, None, n_resamples=0, figures=False, device="cpu", sample_rate=1.0, draws=0)
    predicted = [PHASE_NAMES.index(r.predicted) for r in results.scan_level.predictions]
    assert predicted == reader.predict_proba(x).argmax(1).tolist()
    assert results.calibration.scan_calibrated is not None and "series reader" in results.calibration.method
    assert results.protocol.vote.startswith("the checkpoint's series reader")
