"""Datasets on disk: manifest columns, JSON records, study timing, refusing to overwrite."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from synth_output import read_manifest, read_record

from ctphase.errors import ConfigError
from ctphase.synth import PatientParams, SeriesParams, generate_dataset
from ctphase.synth.dataset import MANIFEST_COLUMNS


def test_manifest_columns_and_records(dicom_ds: Path) -> None:
    rows = read_manifest(dicom_ds)
    assert tuple(rows[0].keys()) == MANIFEST_COLUMNS
    assert [r["label"] for r in rows] == ["non_contrast", "arterial"]
    assert rows[0]["seconds_after_injection"] == "" and float(rows[1]["seconds_after_injection"]) > 0
    assert len({r["study_id"] for r in rows}) == 1 and len({r["series_id"] for r in rows}) == 2
    rec = read_record(dicom_ds, rows[1])
    assert PatientParams.from_dict(rec["patient"]).index == 0
    assert SeriesParams.from_dict(rec["series"]).subphase == rows[1]["subphase"]
    assert len((dicom_ds / "records.jsonl").read_text().splitlines()) == 2


def test_study_timing_consistent(dicom_ds: Path) -> None:
    rows = read_manifest(dicom_ds)
    pre = pydicom.dcmread(sorted((dicom_ds / rows[0]["path"]).glob("*.dcm"))[0])
    art = pydicom.dcmread(sorted((dicom_ds / rows[1]["path"]).glob("*.dcm"))[0])
    assert pre.AcquisitionTime < art.AcquisitionTime
    assert pre.FrameOfReferenceUID == art.FrameOfReferenceUID


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
    assert [r["label"] for r in read_manifest(out)] == ["arterial"]
    assert not list(out.glob("*/study/*venous*"))
