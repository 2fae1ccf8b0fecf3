"""Evaluation orchestration: every slice classified once, then scored (ctphase.evaluation.run)."""

from __future__ import annotations

from pathlib import Path

import pytest
from training_toys import toy_source, write_paper_csv

from ctphase.data import scans_from_manifest, synthetic_scans
from ctphase.errors import ConfigError
from ctphase.evaluation.run import classify_scans, evaluation_scans, run_evaluation


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_paper_slices_are_classified_and_scored(tmp_path: Path, small_checkpoint: Path) -> None:
    scans = scans_from_manifest(write_paper_csv(tmp_path / "p", n_scans=2, labels=(1, 2), n_slices=3))
    done = classify_scans(scans, small_checkpoint, device="cpu")
    assert [p.shape for p in done.slice_probs] == [(3, 4)] * 4
    assert set(done.timings[0]) == {"read", "preprocess", "model"}
    res = run_evaluation(scans, small_checkpoint, None, n_resamples=0, device="cpu")
    assert res.counts.slices == 12 and res.counts.patients == 2 and res.sweep is None


def test_synthetic_scans_are_evaluated_by_patient(small_checkpoint: Path) -> None:
    scans = synthetic_scans(range(7, 9), slices_per_scan=3, size=32, source=toy_source)
    res = run_evaluation(scans, small_checkpoint, None, n_resamples=20, device="cpu")
    assert res.counts.scans == 8 and res.counts.patients == 2 and res.counts.patient_ids_given


def test_evaluation_scans_checks_the_source(tmp_path: Path, small_checkpoint: Path) -> None:
    with pytest.raises(ConfigError, match="neither 'synth' nor an existing CSV"):
        evaluation_scans(str(tmp_path / "none.csv"), small_checkpoint)
    with pytest.raises(ConfigError, match="--patients must be >= 1"):
        evaluation_scans("synth", small_checkpoint, patients=0)
