"""DICOM output of the synthetic engine read back by pydicom, SimpleITK and dcmdump."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest
from synth_output import MATRIX, read_manifest, read_record

from ctphase.synth import PatientParams, SeriesParams, render_slices


def test_dicom_round_trip_pydicom(dicom_ds: Path) -> None:
    row = read_manifest(dicom_ds)[1]
    rec = read_record(dicom_ds, row)
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


def test_simpleitk_reads_series(dicom_ds: Path) -> None:
    sitk = pytest.importorskip("SimpleITK")
    row = read_manifest(dicom_ds)[1]
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
    f = sorted((dicom_ds / read_manifest(dicom_ds)[0]["path"]).glob("*.dcm"))[0]
    res = subprocess.run([exe, "-E", str(f)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert "CTImageStorage" in res.stdout and "(0028,1052)" in res.stdout
    assert "E:" not in res.stderr
