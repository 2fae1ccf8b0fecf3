"""End-to-end: a folder tree mixing good and bad series through classify() and `ctphase predict`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import ctphase
from ctphase.errors import ModelNotAvailableError
from ctphase.phases import PHASE_NAMES
from ctphase.pipeline import classify
from ctphase.prediction import exit_code


def bad_name(corpus: Path) -> str:
    """File name of the truncated slice inside ``corpus/broken`` (see the ``corpus`` fixture)."""
    return sorted((corpus / "broken").iterdir())[3].name


def test_classify_mixed_corpus(corpus, checkpoint):
    preds = classify([corpus], model=checkpoint, sample_rate=0.3, min_slices=8, seed=0)
    by_status: dict[str, list] = {}
    for p in preds:
        by_status.setdefault(p.status, []).append(p)
    ok = by_status["ok"]
    # study1/a, study1/b, vol.nii.gz, and the broken series (9 readable slices, with a warning)
    assert sorted(p.n_slices for p in ok) == [9, 16, 20, 30]
    for p in ok:
        assert p.label in PHASE_NAMES
        assert len(p.sampled_indices) == max(8, int(np.ceil(0.3 * p.n_slices))) or len(p.sampled_indices) == p.n_slices
        assert sorted(set(p.sampled_indices)) == p.sampled_indices
        assert set(p.used_indices) <= set(p.sampled_indices) and len(set(p.used_indices)) == len(p.used_indices)
        assert sum(p.vote_fractions.values()) == pytest.approx(1.0, abs=1e-5)
        assert sum(p.mean_probabilities.values()) == pytest.approx(1.0, abs=1e-4)
        assert p.model_sha256 and len(p.model_sha256) == 64
        assert set(p.timings) == {"read", "preprocess", "model"}
    broken = next(p for p in ok if p.n_slices == 9)
    assert any("could not be read" in w for w in broken.warnings)
    nifti = next(p for p in ok if p.source == "nifti")
    assert nifti.path.endswith("vol.nii.gz") and nifti.series_id.startswith("nifti:") and nifti.n_slices == 16
    skipped = " | ".join(p.error for p in by_status["skipped"])
    assert "not CT (Modality MR" in skipped
    errors = {Path(p.path).name: p.error for p in by_status["error"]}
    assert "not a DICOM file" in errors["noise.dcm"]
    assert bad_name(corpus) not in errors  # one record per series: the truncated file is reported on its series
    assert "unreadable_files" in broken.qc and any(w.startswith(f"{bad_name(corpus)}: file is truncated") for w in broken.warnings)
    assert exit_code(preds) == 1


def test_results_are_reproducible_and_seeded(corpus, checkpoint):
    a = classify([corpus / "study1"], model=checkpoint, seed=5)
    b = classify([corpus / "study1"], model=checkpoint, seed=5)
    c = classify([corpus / "study1"], model=checkpoint, seed=6)
    assert [p.sampled_indices for p in a] == [p.sampled_indices for p in b]
    assert [p.mean_probabilities for p in a] == [p.mean_probabilities for p in b]
    assert [p.sampled_indices for p in a] != [p.sampled_indices for p in c]
    assert exit_code(a) == 0


def test_prediction_matches_classifier_on_the_sampled_slices(corpus, checkpoint):
    """The recorded indices replay the prediction: same slices, same probabilities, same vote.

    ``used_indices`` are the slices classified (all of ``sampled_indices`` without early stopping).
    """
    from ctphase.inference import Classifier
    from ctphase.io import load_series
    from ctphase.voting import majority_vote

    (pred,) = classify([corpus / "study1" / "a"], model=checkpoint, seed=3)
    series = load_series(corpus / "study1" / "a")
    probs, _, _ = Classifier(checkpoint, engine="torch").predict_hu(series.read_slices(pred.used_indices))
    vote = majority_vote(probs)
    assert pred.image_label == PHASE_NAMES[vote.label]
    np.testing.assert_allclose([pred.mean_probabilities[n] for n in PHASE_NAMES], vote.mean_probs, atol=1e-5)


def test_no_identifiers_in_results(corpus, checkpoint):
    text = json.dumps([p.to_dict() for p in classify([corpus], model=checkpoint)])
    import pydicom

    ds = pydicom.dcmread(next((corpus / "study1" / "a").iterdir()), stop_before_pixels=True)
    values = [str(ds.PatientName), str(ds.PatientID)]
    assert all(values)
    for value in values:
        assert value not in text


def test_no_model_error_names_the_fix(corpus, monkeypatch):
    monkeypatch.setattr("ctphase.models.checkpoint.default_checkpoint_path", lambda: None)
    with pytest.raises(ModelNotAvailableError, match="--model"):
        classify([corpus], model=None)


def test_top_level_api_is_lazy():
    assert ctphase.classify is classify


def test_nifti_result_does_not_depend_on_how_the_path_is_typed(corpus, checkpoint, monkeypatch):
    """Relative, absolute, from inside its folder, through a symlink: the same id, draw and answer."""
    import json
    import os

    vol = corpus / "vol.nii.gz"
    link = corpus.parent / f"{corpus.name}_link.nii.gz"
    if not link.exists():
        os.symlink(vol, link)
    monkeypatch.chdir(corpus.parent)
    typed = [str(vol), os.path.join(corpus.name, "vol.nii.gz"), os.path.join(corpus.name, ".", "vol.nii.gz"), str(link)]
    runs = [classify([t], model=checkpoint, seed=0) for t in typed]
    monkeypatch.chdir(corpus)
    runs.append(classify(["vol.nii.gz"], model=checkpoint, seed=0))
    dumps = []
    for (pred,) in runs:
        d = pred.to_dict()
        del d["path"], d["timings"]
        dumps.append(json.dumps(d, sort_keys=True))
    assert len(set(dumps)) == 1, dumps
    assert runs[0][0].series_id.startswith("nifti:")


def test_a_model_with_heads_reports_subphase_and_seconds(corpus, tmp_path):
    """The subphase and time come from the same used slices as the vote, and follow the final label."""
    from model_factory import make_checkpoint

    from ctphase.inference import Classifier
    from ctphase.io import load_series
    from ctphase.phases import SUBPHASE_NAMES, SUBPHASE_TO_PHASE
    from ctphase.reporting import to_csv
    from ctphase.timing import seconds_estimate

    model = make_checkpoint(tmp_path / "heads.safetensors", arch="resnet10t", size=32, heads=True)
    preds = [p for p in classify([corpus / "study1"], model=model, seed=3, early_stop=False) if p.status == "ok"]
    assert len(preds) == 2
    timed = 0
    for p in preds:
        assert list(p.subphase_probabilities) == list(SUBPHASE_NAMES)
        assert sum(p.subphase_probabilities.values()) == pytest.approx(1.0, abs=1e-4)
        if p.label in PHASE_NAMES:
            assert SUBPHASE_TO_PHASE[p.subphase].label == p.label
        else:
            assert p.subphase is None and p.seconds_after_injection is None
        if p.label not in PHASE_NAMES or p.label == "non_contrast":
            assert p.seconds_after_injection is None
            continue
        series = load_series(corpus / "study1" / ("a" if p.n_slices == 20 else "b/deep"))
        out, _, _ = Classifier(model, engine="torch").predict_hu_outputs(series.read_slices(p.used_indices))
        assert p.seconds_after_injection == seconds_estimate(out.log_seconds)
        timed += 1
    assert timed  # this seeded random model calls both series arterial: the time is checked
    rows = to_csv(preds).splitlines()
    assert "subphase" in rows[0].split(",") and "seconds_after_injection" in rows[0].split(",")


def test_the_seconds_interval_uses_the_factor_of_the_series_image_label(corpus, tmp_path):
    from model_factory import make_checkpoint

    from ctphase.inference import Classifier
    from ctphase.io import load_series
    from ctphase.models import load_checkpoint, save_checkpoint
    from ctphase.models.calibration import Calibration, with_calibration
    from ctphase.timing import seconds_estimate

    raw = make_checkpoint(tmp_path / "heads.safetensors", arch="resnet10t", size=32, heads=True)
    factors = {"arterial": 2.0, "venous": 3.0, "other": 4.0}
    cal = Calibration("temperature", 1.0, seconds_scale=0.5, seconds_scale_by_phase=factors)
    model = save_checkpoint(with_calibration(load_checkpoint(raw), cal), tmp_path / "cal.safetensors")
    preds = [p for p in classify([corpus / "study1"], model=model, seed=3, early_stop=False)
             if p.status == "ok" and p.seconds_after_injection is not None]
    assert preds  # the seeded random model calls these series arterial (see the test above)
    for p in preds:
        series = load_series(corpus / "study1" / ("a" if p.n_slices == 20 else "b/deep"))
        out, _, _ = Classifier(raw, engine="torch").predict_hu_outputs(series.read_slices(p.used_indices))
        assert p.seconds_after_injection == seconds_estimate(out.log_seconds, factors[p.image_label])
        assert p.seconds_after_injection != seconds_estimate(out.log_seconds, 0.5)


def _always(phase_index: int, organs: tuple[str, ...]):
    """A hand-made series reader that answers ``phase_index`` whatever the slices show."""
    from ctphase.models.reader import SeriesReader
    from ctphase.phases import SUBPHASE_NAMES

    n = 4 + 4 + len(SUBPHASE_NAMES) + 3 + 3 * len(organs)
    intercept = tuple(8.0 if k == phase_index else 0.0 for k in range(4))
    return SeriesReader(SUBPHASE_NAMES, organs, (0.0,) * n, (1.0,) * n, ((0.0,) * n,) * 4, intercept)


def test_a_series_reader_decides_the_series_and_reads_every_drawn_slice(corpus, tmp_path):
    from model_factory import make_checkpoint

    from ctphase.errors import ConfigError
    from ctphase.inference import Classifier
    from ctphase.models import load_checkpoint, save_checkpoint
    from ctphase.models.calibration import Calibration, with_calibration
    from ctphase.models.heads import Heads

    organs = ("aorta", "liver")
    raw = make_checkpoint(tmp_path / "organs.safetensors", arch="resnet10t", size=32, heads=Heads(organs=organs))
    plain = [p for p in classify([corpus / "study1"], model=raw, seed=3, early_stop=False) if p.status == "ok"]
    voted = {PHASE_NAMES.index(p.image_label) for p in plain}
    other = next(k for k in range(4) if k not in voted)  # a phase the vote gives no series
    cal = Calibration("temperature", 1.0, reader=_always(other, organs))
    model = save_checkpoint(with_calibration(load_checkpoint(raw), cal), tmp_path / "reader.safetensors")
    preds = [p for p in classify([corpus / "study1"], model=model, seed=3) if p.status == "ok"]
    assert len(preds) == len(plain) == 2
    for p, q in zip(preds, plain):
        assert p.image_label == PHASE_NAMES[other] != q.image_label
        assert p.probabilities[PHASE_NAMES[other]] == p.confidence > 0.99
        # early stop (the default) does not apply to a reader: every drawn slice is read, and the vote is still reported
        assert p.used_indices == q.used_indices == p.sampled_indices and p.vote_fractions == q.vote_fractions
        assert p.vote_fractions[p.image_label] == 0.0 and not p.tie
        # the record says that the reader overruled the vote (the plain model's records say nothing of it)
        assert any(e.startswith(f"series reader: {PHASE_NAMES[other]} (1.00) over the slices' majority vote for "
                                f"{q.image_label} (") for e in p.evidence), p.evidence
        assert not any(e.startswith("series reader") for e in q.evidence)
    no_organs = make_checkpoint(tmp_path / "heads.safetensors", arch="resnet10t", size=32, heads=True)
    with pytest.raises(ConfigError, match="the network gives"):
        Classifier(with_calibration(load_checkpoint(no_organs), cal), engine="torch")
