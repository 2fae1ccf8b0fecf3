"""The DICOM header scan: attributes kept, no pixel decoding, nested sequences, raw files, fallbacks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from dicom_factory import ExplicitVRLittleEndian, ImplicitVRLittleEndian, write_series

from ctphase.io import Discovery, Series, dicom_pixels, discover, load_series


def _only(found: Discovery) -> Series:
    assert [s.reason for s in found.skipped] == []
    assert len(found.series) == 1
    return found.series[0]


def test_meta_and_no_patient_identity(tmp_path: Path) -> None:
    write_series(tmp_path / "s", n=8)
    series = load_series(tmp_path / "s")
    json.dumps(series.meta)
    assert series.meta["SeriesDescription"] == "test series"
    assert series.meta["ContrastBolusAgent"] == "IOPAMIDOL"
    assert series.meta["KVP"] == "120"
    assert series.meta["ImageType"] == "ORIGINAL\\PRIMARY\\AXIAL"
    assert series.description == "test series"
    text = repr(series) + json.dumps(series.meta) + " ".join(series.warnings) + series.series_id
    assert "SECRET" not in text


def test_header_scan_never_decodes_pixels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pydicom

    write_series(tmp_path / "s", n=10)

    def boom(*a, **k):
        raise AssertionError("pydicom.dcmread called during the header scan")

    monkeypatch.setattr(pydicom, "dcmread", boom)
    monkeypatch.setattr(dicom_pixels, "_stored_values", boom)
    assert discover(tmp_path).series[0].n_slices == 10


def test_header_scan_handles_undefined_length_sequences(tmp_path: Path) -> None:
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence as Seq

    def add_seq(ds, i):
        inner = Dataset()
        inner.CodeValue = "X"
        inner.CodeMeaning = "nested"
        outer = Dataset()
        outer.ReferencedSOPInstanceUID = "1.2.3"
        outer.ConceptNameCodeSequence = Seq([inner])
        ds.ReferencedImageSequence = Seq([outer])
        ds.ReferencedImageSequence.is_undefined_length = True
        ds[0x00081140].value[0].is_undefined_length_sequence_item = True

    for ts in (ExplicitVRLittleEndian, ImplicitVRLittleEndian):
        info = write_series(tmp_path / ts.name, n=8, edit=add_seq, transfer_syntax=ts)
        s = load_series(tmp_path / ts.name)
        np.testing.assert_array_equal(s.read_slices(), info.hu)


def test_preamble_less_files_are_read_and_junk_ignored(tmp_path: Path) -> None:
    info = write_series(tmp_path / "s", n=8, preamble=False, names="raw{i}")
    (tmp_path / "s" / "notes").write_bytes(np.random.default_rng(0).bytes(3000))
    (tmp_path / "s" / "README.txt").write_text("export of 2024")
    (tmp_path / "s" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1" + bytes(600))
    found = discover(tmp_path)
    (junk,) = found.skipped  # ignored, but accounted for: one record for the folder
    assert (junk.path, junk.kind, junk.n_files) == (str(tmp_path / "s"), "unused", 3)
    assert junk.reason == (
        "2 file(s) that are neither DICOM nor NIfTI, ignored: README.txt, notes; "
        "1 hidden file(s) (name starting with '.'), ignored: .DS_Store"
    )
    (series,) = found.series
    np.testing.assert_array_equal(series.read_slices(), info.hu)


def test_dicomdir_is_ignored(tmp_path: Path) -> None:
    write_series(tmp_path / "s", n=8)
    (tmp_path / "DICOMDIR").write_bytes(bytes(128) + b"DICM" + b"garbage")
    found = discover(tmp_path)
    assert len(found.series) == 1
    (sk,) = found.skipped  # not read, but accounted for
    assert (sk.path, sk.kind, sk.n_files) == (str(tmp_path), "unused", 1)
    assert sk.reason == "1 DICOMDIR index (its files are read directly)"


def test_deflated_syntax_uses_pydicom_fallback(tmp_path: Path) -> None:
    import pydicom
    from pydicom.uid import DeflatedExplicitVRLittleEndian

    info = write_series(tmp_path / "s", n=8, dtype="int16", intercept=0.0)
    for p in info.paths:
        ds = pydicom.dcmread(p)
        ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
        ds.save_as(p, enforce_file_format=True)
    series = load_series(tmp_path / "s")
    assert series.slices[0].transfer_syntax == DeflatedExplicitVRLittleEndian
    assert series.meta["KVP"] == "120"
    np.testing.assert_array_equal(series.read_slices(), info.hu)
