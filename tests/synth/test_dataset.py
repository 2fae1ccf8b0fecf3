"""Synthetic engine output on disk: DICOM (pydicom, SimpleITK, dcmdump), NIfTI, manifest, CLI."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest
from typer.testing import CliRunner

from ctphase.cli import app
from ctphase.errors import ConfigError
from ctphase.synth import PatientParams, SeriesParams, generate_dataset, render_slices
from ctphase.synth.dataset import MANIFEST_COLUMNS

MATRIX = 64


@pytest.fixture(scope="module")
def dicom_ds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth_dicom") / "ds"
    generate_dataset(out, 1, seed=5, phases=["non_contrast", "arterial"], fmt="dicom", matrix=MATRIX, max_slices=20)
    return out


def _rows(out: Path) -> list[dict[str, str]]:
    with open(out / "manifest.csv", newline="") as f:
        return list(csv.DictReader(f))


def _record(out: Path, row: dict[str, str]) -> dict:
    p = out / row["path"]
    return json.loads((p.parent / (p.name.replace(".nii.gz", "") + ".json")).read_text())


def test_manifest_columns_and_records(dicom_ds: Path) -> None:
    rows = _rows(dicom_ds)
    assert tuple(rows[0].keys()) == MANIFEST_COLUMNS
    assert [r["label"] for r in rows] == ["non_contrast", "arterial"]
    assert rows[0]["seconds_after_injection"] == "" and float(rows[1]["seconds_after_injection"]) > 0
    assert len({r["study_id"] for r in rows}) == 1 and len({r["series_id"] for r in rows}) == 2
    rec = _record(dicom_ds, rows[1])
    assert PatientParams.from_dict(rec["patient"]).index == 0
    assert SeriesParams.from_dict(rec["series"]).subphase == rows[1]["subphase"]
    assert len((dicom_ds / "records.jsonl").read_text().splitlines()) == 2


def test_dicom_round_trip_pydicom(dicom_ds: Path) -> None:
    row = _rows(dicom_ds)[1]
    rec = _record(dicom_ds, row)
    p, s = PatientParams.from_dict(rec["patient"]), SeriesParams.from_dict(rec["series"])
    files = sorted((dicom_ds / row["path"]).glob("*.dcm"))
    assert len(files) == rec["n_slices"]
    dss = [pydicom.dcmread(f) for f in files]
    d0 = dss[0]
    assert d0.SOPClassUID == pydicom.uid.CTImageStorage and d0.Modality == "CT"
    assert str(d0.PatientName).startswith("SYNTH^PATIENT")
    assert d0.SeriesInstanceUID == row["series_id"] and d0.StudyInstanceUID == row["study_id"]
    assert len({d.SOPInstanceUID for d in dss}) == len(dss)
    assert [int(d.InstanceNumber) for d in dss] == list(range(1, len(dss) + 1))
    z = np.array([float(d.ImagePositionPatient[2]) for d in dss])
    assert np.all(np.diff(z) < 0)  # instance 1 at the top (head first)
    np.testing.assert_allclose(-np.diff(z), s.slice_spacing, atol=1e-3)
    assert float(d0.PixelSpacing[0]) == pytest.approx(s.pixel_spacing, rel=1e-5)
    assert int(d0.KVP) == s.kvp and float(d0.RescaleIntercept) == s.rescale_intercept
    times = [d.AcquisitionTime for d in dss]
    assert times == sorted(times) and all(d.ContentTime >= d.AcquisitionTime for d in dss)
    hu = np.stack([d.pixel_array * float(d.RescaleSlope) + float(d.RescaleIntercept) for d in dss[:16]])
    z_anat = z[:16] - p.table_offset_mm
    expect = render_slices(p, s, z_anat, MATRIX)
    inside = expect > -1024 + 1e-3 if s.padding_hu is None else np.ones_like(expect, bool)
    np.testing.assert_allclose(hu[inside], np.rint(expect)[inside], atol=1.0)


def test_study_timing_consistent(dicom_ds: Path) -> None:
    rows = _rows(dicom_ds)
    pre = pydicom.dcmread(sorted((dicom_ds / rows[0]["path"]).glob("*.dcm"))[0])
    art = pydicom.dcmread(sorted((dicom_ds / rows[1]["path"]).glob("*.dcm"))[0])
    assert pre.AcquisitionTime < art.AcquisitionTime
    assert pre.FrameOfReferenceUID == art.FrameOfReferenceUID


def test_simpleitk_reads_series(dicom_ds: Path) -> None:
    sitk = pytest.importorskip("SimpleITK")
    row = _rows(dicom_ds)[1]
    folder = str(dicom_ds / row["path"])
    reader = sitk.ImageSeriesReader()
    names = reader.GetGDCMSeriesFileNames(folder)
    reader.SetFileNames(names)
    img = reader.Execute()
    arr = sitk.GetArrayFromImage(img)  # (z ascending as sorted by GDCM, rows, cols)
    assert arr.shape[1:] == (MATRIX, MATRIX)
    dss = sorted((pydicom.dcmread(f) for f in (dicom_ds / row["path"]).glob("*.dcm")),
                 key=lambda d: float(d.ImagePositionPatient[2]))
    ref = np.stack([d.pixel_array * float(d.RescaleSlope) + float(d.RescaleIntercept) for d in dss])
    if np.allclose(arr, ref[::-1]):
        ref = ref[::-1]
    np.testing.assert_allclose(arr, ref)
    assert img.GetSpacing()[0] == pytest.approx(float(dss[0].PixelSpacing[0]), rel=1e-5)


def test_dcmdump_parses(dicom_ds: Path) -> None:
    exe = shutil.which("dcmdump")
    if exe is None:
        pytest.skip("dcmdump (dcmtk) not installed")
    f = sorted((dicom_ds / _rows(dicom_ds)[0]["path"]).glob("*.dcm"))[0]
    res = subprocess.run([exe, "-E", str(f)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert "CTImageStorage" in res.stdout and "(0028,1052)" in res.stdout
    assert "E:" not in res.stderr


def test_nifti_output(tmp_path: Path) -> None:
    nib = pytest.importorskip("nibabel")
    out = tmp_path / "nii"
    m = generate_dataset(out, 1, seed=2, phases=["venous"], fmt="nifti", matrix=48, max_slices=12)
    row = _rows(out)[0]
    assert row["path"].endswith(".nii.gz") and m == out / "manifest.csv"
    rec = _record(out, row)
    s = SeriesParams.from_dict(rec["series"])
    img = nib.load(out / row["path"])
    assert img.shape == (48, 48, rec["n_slices"])
    a = img.affine
    np.testing.assert_allclose(np.abs(np.diag(a)[:2]), s.pixel_spacing, rtol=1e-5)
    assert a[0, 0] < 0 and a[1, 1] < 0 and a[2, 2] == pytest.approx(s.slice_spacing, rel=1e-3)
    x0 = s.center_x - s.fov_mm / 2 + s.pixel_spacing / 2
    assert a[0, 3] == pytest.approx(-x0, abs=1e-3)  # RAS = (-x, -y, z) of LPS
    assert nib.aff2axcodes(a) == ("L", "P", "S")


def test_refuses_non_empty_and_overwrite(tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("precious")
    with pytest.raises(ConfigError, match="not empty"):
        generate_dataset(other, 1, matrix=32, max_slices=4, phases=["venous"])
    with pytest.raises(ConfigError, match="did not write"):
        generate_dataset(other, 1, matrix=32, max_slices=4, phases=["venous"], overwrite=True)
    assert (other / "keep.txt").read_text() == "precious"
    out = tmp_path / "ds"
    generate_dataset(out, 1, matrix=32, max_slices=4, phases=["venous"])
    generate_dataset(out, 1, matrix=32, max_slices=4, phases=["arterial"], overwrite=True, seed=1)
    assert [r["label"] for r in _rows(out)] == ["arterial"]
    assert not list(out.glob("*/study/*venous*"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--patients", "0"], "--patients must be >= 1"),
        (["--patients", "1", "--format", "png"], "--format must be one of"),
        (["--patients", "1", "--phases", "lunch"], "unknown phase"),
        (["--patients", "1", "--matrix", "8"], "--matrix must be between"),
    ],
)
def test_cli_bad_arguments(tmp_path: Path, args: list[str], message: str) -> None:
    res = CliRunner().invoke(app, ["synth", "--out", str(tmp_path / "o"), *args])
    assert res.exit_code == 2
    assert "error:" in res.output and message in res.output
    assert "Traceback" not in res.output


def test_cli_writes_dataset(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["synth", "--out", str(tmp_path / "o"), "--patients", "1", "--matrix", "32",
                                   "--phases", "arterial,venous", "--seed", "3", "--max-slices", "4",
                                   "--first-patient", "200000"])
    assert res.exit_code == 0, res.output
    rows = _rows(tmp_path / "o")
    assert [r["label"] for r in rows] == ["arterial", "venous"]
    assert {r["patient_id"] for r in rows} == {"SYNTH200001"}
    for r in rows:
        assert len(list((tmp_path / "o" / r["path"]).iterdir())) <= 4
    res = CliRunner().invoke(app, ["synth", "--out", str(tmp_path / "o"), "--patients", "1"])
    assert res.exit_code == 2 and "not empty" in res.output
