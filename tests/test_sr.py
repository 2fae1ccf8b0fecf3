"""DICOM Comprehensive SR output (:mod:`ctphase.sr`, ``ctphase predict --sr-out``)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

pytest.importorskip("highdicom")


@pytest.fixture(scope="module")
def classified(tmp_path_factory, checkpoint):
    from dicom_factory import write_series

    from ctphase.pipeline import classify

    root = tmp_path_factory.mktemp("srcorpus")
    info = write_series(root / "ct", n=12, shuffle=True, seed=1)
    read: dict = {}
    preds = classify(root, model=checkpoint, device="cpu", read=read)
    return info, preds, read


def _sr(tmp_path: Path, classified) -> tuple[Path, object, object]:
    from ctphase.sr import write_srs

    info, preds, read = classified
    written, notes, errors = write_srs(preds, read, tmp_path / "sr", model_name="tiny.safetensors")
    assert len(written) == 1 and not errors and not notes, (errors, notes)
    return written[0], info, preds[0]


def test_sr_holds_phase_probabilities_and_references(tmp_path, classified) -> None:
    import highdicom as hd
    import pydicom

    from ctphase.sr import PHASE_CODES, SCHEME, SERIES_DESCRIPTION

    path, info, pred = _sr(tmp_path, classified)
    assert path.relative_to(tmp_path / "sr").parts[0] == path.parent.name and len(path.stem) == 8
    ds = pydicom.dcmread(path)
    sr = hd.sr.ComprehensiveSR.from_dataset(ds)
    assert ds.StudyInstanceUID == info.study_uid and ds.SeriesInstanceUID != info.series_uid
    assert ds.PatientID == pydicom.dcmread(info.paths[0]).PatientID
    assert ds.SeriesDescription == SERIES_DESCRIPTION and ds.Modality == "SR"
    items = {item.ConceptNameCodeSequence[0].CodeMeaning: item for item in sr.ContentSequence}
    phase = items["Contrast Phase"]
    code = phase.ConceptCodeSequence[0]
    assert (code.CodingSchemeDesignator, code.CodeValue) == (SCHEME, PHASE_CODES[pred.label][0])
    refs = {i.ReferencedSOPSequence[0].ReferencedSOPInstanceUID for i in phase.ContentSequence}
    assert refs == {info.sop_uids[i] for i in pred.used_indices}
    assert "not for clinical use" in items["Comment"].TextValue
    for name, p in pred.probabilities.items():
        item = items[f"Probability of {PHASE_CODES[name][1].lower()}"]
        assert float(item.MeasuredValueSequence[0].NumericValue) == pytest.approx(p, abs=1e-6)
    assert float(items["Confidence"].MeasuredValueSequence[0].NumericValue) == pytest.approx(pred.confidence, abs=1e-6)
    assert any(pred.model_sha256 in str(i.get("TextValue", "")) for i in sr.ContentSequence)
    evidence = ds.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0]
    assert evidence.SeriesInstanceUID == info.series_uid


def test_sr_is_never_overwritten(tmp_path, classified) -> None:
    from ctphase.sr import write_srs

    path, _, _ = _sr(tmp_path, classified)
    before = path.read_bytes()
    _, preds, read = classified
    written, _, errors = write_srs(preds, read, tmp_path / "sr")
    assert not written and len(errors) == 1 and "exists" in errors[0]
    assert path.read_bytes() == before


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dciodvfy (dicom3tools) not installed")
def test_sr_passes_dciodvfy(tmp_path, classified) -> None:
    path, _, _ = _sr(tmp_path, classified)
    run = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True)
    out = run.stdout + run.stderr
    assert "Error" not in out, out


@pytest.mark.skipif(shutil.which("dsrdump") is None, reason="dsrdump (dcmtk) not installed")
def test_sr_passes_dsrdump(tmp_path, classified) -> None:
    path, _, _ = _sr(tmp_path, classified)
    run = subprocess.run(["dsrdump", str(path)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Contrast Phase" in run.stdout


def test_nifti_series_get_a_note_not_an_sr(tmp_path, checkpoint) -> None:
    import nibabel as nib
    import numpy as np

    from ctphase.pipeline import classify
    from ctphase.sr import write_srs

    vol = np.random.default_rng(0).normal(0, 100, (24, 24, 16)).astype(np.float32)
    nib.save(nib.Nifti1Image(vol, np.diag([0.8, 0.8, 2.5, 1.0])), str(tmp_path / "vol.nii.gz"))
    read: dict = {}
    preds = classify(tmp_path / "vol.nii.gz", model=checkpoint, device="cpu", read=read)
    written, notes, errors = write_srs(preds, read, tmp_path / "sr")
    assert not written and not errors and "NIfTI" in notes[0]
    assert not (tmp_path / "sr").exists()


def test_cli_sr_out(tmp_path, classified, checkpoint) -> None:
    from typer.testing import CliRunner

    from ctphase.cli import app

    info = classified[0]
    out = tmp_path / "sr"
    args = ["predict", str(info.folder), "--model", str(checkpoint), "--device", "cpu", "--quiet", "--sr-out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    files = list(out.rglob("*.dcm"))
    assert len(files) == 1
    again = CliRunner().invoke(app, args)  # the same series again: the SR exists, never replaced
    assert again.exit_code == 1 and "exists" in again.output
    (tmp_path / "file").write_text("x")
    bad = CliRunner().invoke(app, [*args[:-1], str(tmp_path / "file")])
    assert bad.exit_code == 2


def test_sr_holds_subphase_and_seconds_of_a_model_with_heads(tmp_path, classified) -> None:
    """The subphase (coded) and the time after injection with its interval (UCUM s); the file stays valid."""
    import dataclasses

    import highdicom as hd
    import pydicom

    from ctphase.sr import write_srs

    info, preds, read = classified
    timed = [dataclasses.replace(preds[0], label="venous", subphase="nephrographic",
                                 seconds_after_injection={"estimate": 104.0, "low": 80.5, "high": 131.0, "interval": 0.8})]
    written, notes, errors = write_srs(timed, read, tmp_path / "sr")
    assert len(written) == 1 and not errors and not notes
    sr = hd.sr.ComprehensiveSR.from_dataset(pydicom.dcmread(written[0]))
    items = {item.ConceptNameCodeSequence[0].CodeMeaning: item for item in sr.ContentSequence}
    assert items["Contrast subphase"].ConceptCodeSequence[0].CodeValue == "SUB_NEPHRO"
    for meaning, value in (("Time after injection start", 104.0), ("Time after injection start, 80% interval low", 80.5),
                           ("Time after injection start, 80% interval high", 131.0)):
        mv = items[meaning].MeasuredValueSequence[0]
        assert float(mv.NumericValue) == value and mv.MeasurementUnitsCodeSequence[0].CodeValue == "s"
    if shutil.which("dciodvfy"):
        run = subprocess.run(["dciodvfy", str(written[0])], capture_output=True, text=True)
        assert "Error" not in run.stdout + run.stderr, run.stdout + run.stderr


def test_subphase_codes_cover_every_subphase_and_fit_code_value() -> None:
    from ctphase.phases import SUBPHASE_NAMES
    from ctphase.sr import SUBPHASE_CODES

    assert set(SUBPHASE_CODES) == set(SUBPHASE_NAMES)
    assert all(len(value) <= 16 for value, _ in SUBPHASE_CODES.values())
