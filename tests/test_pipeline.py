"""End-to-end: a folder tree mixing good and bad series through classify() and `ctphase predict`."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from dicom_factory import write_series
from model_factory import make_checkpoint
from typer.testing import CliRunner

import ctphase
from ctphase.cli import app
from ctphase.errors import ModelNotAvailableError
from ctphase.phases import PHASE_NAMES
from ctphase.pipeline import classify
from ctphase.prediction import exit_code


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("model") / "tiny.safetensors", arch="resnet18", size=32)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """Three good series (two DICOM, one NIfTI) beside an MR series, random bytes and a truncated series."""
    root = tmp_path_factory.mktemp("corpus")
    write_series(root / "study1" / "a", n=20, shuffle=True, names=lambda i: f"IM{i * 7 % 20:04d}", seed=1)
    write_series(root / "study1" / "b" / "deep", n=30, nested=True, seed=2)
    write_series(root / "mr", n=12, modality="MR", sop_class="1.2.840.10008.5.1.4.1.1.4", seed=3)
    (root / "junk").mkdir()
    (root / "junk" / "noise.dcm").write_bytes(os.urandom(4000))
    bad = write_series(root / "broken", n=10, seed=4)
    data = bad.paths[3].read_bytes()
    bad.paths[3].write_bytes(data[: len(data) - 500])  # one truncated slice inside a series
    vol = np.random.default_rng(0).normal(0, 100, (24, 24, 16)).astype(np.float32)
    nib.save(nib.Nifti1Image(vol, np.diag([0.8, 0.8, 2.5, 1.0])), str(root / "vol.nii.gz"))
    return root


def bad_name(corpus: Path) -> str:
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
        assert sum(p.vote_fractions.values()) == pytest.approx(1.0, abs=1e-5)
        assert sum(p.mean_probabilities.values()) == pytest.approx(1.0, abs=1e-4)
        assert p.model_sha256 and len(p.model_sha256) == 64
        assert set(p.timings) == {"read", "preprocess", "model"}
    broken = next(p for p in ok if p.n_slices == 9)
    assert any("could not be read" in w for w in broken.warnings)
    nifti = next(p for p in ok if p.source == "nifti")
    assert nifti.series_id.endswith("vol.nii.gz") and nifti.n_slices == 16
    skipped = " | ".join(p.error for p in by_status["skipped"])
    assert "not CT (Modality MR" in skipped
    errors = {Path(p.path).name: p.error for p in by_status["error"]}
    assert "not a DICOM file" in errors["noise.dcm"]
    assert "truncated" in errors[bad_name(corpus)]
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
    """The recorded indices replay the prediction: same slices, same probabilities, same vote."""
    from ctphase.inference import Classifier
    from ctphase.io import load_series
    from ctphase.voting import majority_vote

    (pred,) = classify([corpus / "study1" / "a"], model=checkpoint, seed=3)
    series = load_series(corpus / "study1" / "a")
    probs, _, _ = Classifier(checkpoint, engine="torch").predict_hu(series.read_slices(pred.sampled_indices))
    vote = majority_vote(probs)
    assert pred.label == PHASE_NAMES[vote.label]
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


# --------------------------------------------------------------------------- CLI

runner = CliRunner()


def test_cli_json_to_stdout(corpus, checkpoint):
    res = runner.invoke(app, ["predict", str(corpus), "--model", str(checkpoint), "--format", "json"])
    assert res.exit_code == 1, res.output  # the corpus holds broken files
    record = json.loads(res.stdout)
    assert record["summary"]["ok"] == 4 and record["summary"]["error"] >= 2
    assert record["arguments"]["sample_rate"] == 0.3
    assert "Traceback" not in res.output


def test_cli_csv_output_file_and_no_overwrite(corpus, checkpoint, tmp_path):
    out = tmp_path / "res.csv"
    res = runner.invoke(app, ["predict", str(corpus / "study1"), "--model", str(checkpoint), "-o", str(out)])
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(rows) == 2 and all(r["label"] in PHASE_NAMES for r in rows)
    before = out.read_text()
    res = runner.invoke(app, ["predict", str(corpus / "study1"), "--model", str(checkpoint), "-o", str(out)])
    assert res.exit_code == 2 and "exists" in res.output
    assert out.read_text() == before


def test_cli_table(corpus, checkpoint):
    res = runner.invoke(app, ["predict", str(corpus / "study1"), "--model", str(checkpoint)])
    assert res.exit_code == 0, res.output
    assert "ctphase predictions" in res.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sample-rate", "1.5"], "sample rate must be in (0, 1]"),
        (["--min-slices", "0"], "min_slices must be >= 1"),
        (["--device", "tpu"], "tpu"),
    ],
)
def test_cli_usage_errors(corpus, checkpoint, args, message):
    res = runner.invoke(app, ["predict", str(corpus / "study1"), "--model", str(checkpoint), *args])
    assert res.exit_code == 2
    assert message in res.output
    assert "Traceback" not in res.output


def test_cli_missing_path_and_missing_model(tmp_path, checkpoint):
    res = runner.invoke(app, ["predict", str(tmp_path / "nope"), "--model", str(checkpoint)])
    assert res.exit_code == 2 and "no such file or folder" in res.output
    res = runner.invoke(app, ["predict", str(tmp_path), "--model", str(tmp_path / "missing.safetensors")])
    assert res.exit_code == 2 and "missing.safetensors" in res.output


def test_cli_nothing_found(tmp_path, checkpoint):
    (tmp_path / "empty").mkdir()
    res = runner.invoke(app, ["predict", str(tmp_path / "empty"), "--model", str(checkpoint), "-f", "json"])
    assert res.exit_code == 2
    assert json.loads(res.stdout)["summary"]["ok"] == 0


def test_cli_error_messages_are_not_read_as_markup(tmp_path, checkpoint):
    odd = tmp_path / "[bold]scan[red]"
    res = runner.invoke(app, ["predict", str(odd), "--model", str(checkpoint)])
    assert res.exit_code == 2
    assert "[bold]scan[red]" in res.output


def test_strict_mode_stops_at_first_broken_series(corpus, checkpoint):
    res = runner.invoke(app, ["predict", str(corpus / "broken"), "--model", str(checkpoint), "--strict"])
    assert res.exit_code == 1
    assert "truncated" in res.output and "Traceback" not in res.output
