"""Enhanced CT (one multi-frame file): one header per frame, ordered by position, only the asked frames decoded."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from dicom_factory import (
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    RLELossless,
    EnhancedInfo,
    write_enhanced_ct,
)
from pydicom.dataset import Dataset

from ctphase.io import Series, discover
from ctphase.io.dicom_header import read_header, read_headers

LEGACY_ENHANCED_CT = "1.2.840.10008.5.1.4.1.1.2.2"
MULTIFRAME_WORD_SC = "1.2.840.10008.5.1.4.1.1.7.3"  # Multi-frame Grayscale Word Secondary Capture


def _one_series(folder: Path) -> Series:
    found = discover(folder)
    assert [s.reason for s in found.skipped] == []
    assert len(found.series) == 1
    return found.series[0]


def _check_volume(series: Series, info: EnhancedInfo) -> None:
    assert series.n_slices == len(info.positions)
    assert series.shape == info.hu.shape[1:]
    assert series.slice_positions is not None
    np.testing.assert_allclose(np.diff(series.slice_positions), np.diff(info.positions), atol=1e-3)
    np.testing.assert_array_equal(series.read_slices(), info.hu)


@pytest.mark.parametrize(
    ("syntax", "shuffle"),
    [
        (ExplicitVRLittleEndian, False),
        (ExplicitVRLittleEndian, True),
        (ImplicitVRLittleEndian, True),
        (RLELossless, True),
        (JPEG2000Lossless, False),
    ],
    ids=["explicit", "explicit-shuffled", "implicit-shuffled", "rle-shuffled", "j2k"],
)
def test_enhanced_ct_is_one_series_in_position_order(tmp_path: Path, syntax: str, shuffle: bool) -> None:
    info = write_enhanced_ct(tmp_path / "s" / "volume.dcm", n=12, rows=64, cols=64, shuffle=shuffle,
                             transfer_syntax=syntax, seed=3)
    series = _one_series(tmp_path / "s")
    _check_volume(series, info)
    assert series.series_id == f"{info.study_uid}/{info.series_uid}"
    assert series.pixel_spacing == (0.8, 0.8)
    assert series.warnings == []
    # frames keep their own rescale: slopes 1 and 2 alternate in storage order
    slices = series.slices  # type: ignore[attr-defined]
    assert [h.frame - 1 for h in slices] == list(info.frame_of_slice)
    assert {h.slope for h in slices} == {1.0, 2.0}
    assert len({h.sop_uid for h in slices}) == 12


def test_frame_headers_carry_the_functional_groups(tmp_path: Path) -> None:
    info = write_enhanced_ct(tmp_path / "e.dcm", n=5, rows=16, cols=16)
    file_level = read_header(tmp_path / "e.dcm")
    assert file_level is not None and file_level.frame is None and file_level.frames == 5
    hs = read_headers(tmp_path / "e.dcm")
    assert [h.frame for h in hs] == [1, 2, 3, 4, 5]
    assert [h.sop_uid for h in hs] == [f"{info.sop_uid}#{k}" for k in range(1, 6)]
    assert [h.intercept for h in hs] == [-1024.0, -1000.0, -1024.0, -1000.0, -1024.0]
    assert all(h.iop == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0) and h.has_rescale for h in hs)
    assert hs[2].ipp == pytest.approx((-25.6, -25.6, -35.0))
    assert hs[0].name == "e.dcm frame 1"
    meta = hs[0].meta
    assert meta["ConvolutionKernel"] == "SOFT" and meta["KVP"] == "120" and meta["SliceThickness"] == "2.5"
    assert meta["AcquisitionTime"] == "101500.000"
    assert meta["ContrastBolusAgent"] == "Iopamidol" and meta["ContrastBolusRoute"] == "INTRAVENOUS ROUTE"
    assert "SECRET" not in repr(hs)


def test_only_the_requested_frames_are_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pydicom
    import pydicom.pixels

    info = write_enhanced_ct(tmp_path / "big" / "v.dcm", n=150, rows=64, cols=64, shuffle=True, seed=1)
    series = _one_series(tmp_path / "big")

    def boom(*a: object, **k: object) -> None:
        raise AssertionError("native frames are read at their offset, without pydicom")

    monkeypatch.setattr(pydicom, "dcmread", boom)
    monkeypatch.setattr(pydicom.pixels, "pixel_array", boom)
    got = series.read_slices([140, 3])
    np.testing.assert_array_equal(got, info.hu[[140, 3]])


def test_compressed_frames_are_decoded_one_by_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pydicom.pixels

    info = write_enhanced_ct(tmp_path / "rle" / "v.dcm", n=40, rows=32, cols=32, shuffle=True,
                             transfer_syntax=RLELossless, seed=2)
    series = _one_series(tmp_path / "rle")
    real = pydicom.pixels.pixel_array
    asked: list[object] = []

    def spy(src: object, **kw: object) -> np.ndarray:
        asked.append(kw.get("index"))
        return real(src, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(pydicom.pixels, "pixel_array", spy)
    got = series.read_slices([7, 31])
    np.testing.assert_array_equal(got, info.hu[[7, 31]])
    assert asked == [int(info.frame_of_slice[7]), int(info.frame_of_slice[31])]


def test_rescale_and_orientation_from_shared_groups(tmp_path: Path) -> None:
    def share_rescale(ds: Dataset) -> None:
        shared = ds.SharedFunctionalGroupsSequence[0]
        shared.PixelValueTransformationSequence = ds.PerFrameFunctionalGroupsSequence[0].PixelValueTransformationSequence
        for item in ds.PerFrameFunctionalGroupsSequence:
            del item.PixelValueTransformationSequence

    info = write_enhanced_ct(tmp_path / "s" / "v.dcm", n=6, rows=16, cols=16, slopes=[1.0] * 6,
                             intercepts=[-1024.0] * 6, shuffle=True, edit=share_rescale)
    _check_volume(_one_series(tmp_path / "s"), info)


def test_legacy_converted_enhanced_ct_is_read(tmp_path: Path) -> None:
    def legacy(ds: Dataset) -> None:
        ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = LEGACY_ENHANCED_CT

    info = write_enhanced_ct(tmp_path / "s" / "v.dcm", n=8, rows=16, cols=16, shuffle=True, edit=legacy)
    _check_volume(_one_series(tmp_path / "s"), info)


def test_temporal_positions_become_acquisitions(tmp_path: Path) -> None:
    """Two passes over the same 6 positions in one file: split like repeated acquisitions."""

    def two_passes(ds: Dataset) -> None:
        items = ds.PerFrameFunctionalGroupsSequence
        for k, item in enumerate(items):
            item.FrameContentSequence[0].TemporalPositionIndex = 1 + k // 6
            item.PlanePositionSequence[0].ImagePositionPatient = items[k % 6].PlanePositionSequence[0].ImagePositionPatient

    write_enhanced_ct(tmp_path / "s" / "v.dcm", n=12, rows=16, cols=16, edit=two_passes)
    found = discover(tmp_path / "s")
    assert [s.reason for s in found.skipped] == []
    assert [(s.n_slices, s.acquisition) for s in found.series] == [(6, 1), (6, 2)]


def test_other_multiframe_files_stay_skipped(tmp_path: Path) -> None:
    def secondary_capture(ds: Dataset) -> None:
        ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = MULTIFRAME_WORD_SC

    write_enhanced_ct(tmp_path / "sc" / "v.dcm", n=4, rows=16, cols=16, edit=secondary_capture)
    found = discover(tmp_path / "sc")
    assert found.series == []
    assert len(found.skipped) == 1 and found.skipped[0].kind == "skipped"
    assert "multi-frame" in found.skipped[0].reason and found.skipped[0].n_files == 1


def test_localizer_frames_are_skipped(tmp_path: Path) -> None:
    def localizer(ds: Dataset) -> None:
        ds.SharedFunctionalGroupsSequence[0].CTImageFrameTypeSequence[0].FrameType = [
            "ORIGINAL", "PRIMARY", "LOCALIZER", "NONE"
        ]

    write_enhanced_ct(tmp_path / "loc" / "v.dcm", n=3, rows=16, cols=16, edit=localizer)
    found = discover(tmp_path / "loc")
    assert found.series == []
    assert "LOCALIZER" in found.skipped[0].reason
    assert found.skipped[0].n_files == 1  # one file, three frames


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("fewer_items", "PerFrameFunctionalGroupsSequence holds 3 item(s) but NumberOfFrames is 4"),
        ("no_position", "frame 2: no ImagePositionPatient"),
        ("bad_position", "frame 1: PlanePositionSequence > ImagePositionPatient must hold 3 finite number(s)"),
        ("zero_slope", "frame 3: RescaleSlope is 0"),
    ],
)
def test_broken_functional_groups_are_errors_naming_the_file(tmp_path: Path, case: str, expected: str) -> None:
    def breaker(ds: Dataset) -> None:
        items = ds.PerFrameFunctionalGroupsSequence
        if case == "fewer_items":
            del items[3]
        elif case == "no_position":
            del items[1].PlanePositionSequence
        elif case == "bad_position":
            items[0].PlanePositionSequence[0].ImagePositionPatient = ["1", "2"]
        else:
            items[2].PixelValueTransformationSequence[0].RescaleSlope = "0"

    write_enhanced_ct(tmp_path / "b" / "v.dcm", n=4, rows=16, cols=16, edit=breaker)
    found = discover(tmp_path / "b")
    assert found.series == []
    assert len(found.skipped) == 1 and found.skipped[0].kind == "error"
    assert expected in found.skipped[0].reason
    assert found.skipped[0].path.endswith("v.dcm")


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dciodvfy (dicom3tools) not installed")
@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, RLELossless])
def test_the_test_file_is_a_valid_enhanced_ct(tmp_path: Path, syntax: str) -> None:
    write_enhanced_ct(tmp_path / "v.dcm", n=4, rows=16, cols=16, shuffle=True, transfer_syntax=syntax)
    run = subprocess.run(["dciodvfy", str(tmp_path / "v.dcm")], capture_output=True, text=True, timeout=60)
    report = run.stdout + run.stderr
    assert "EnhancedCTImage" in report
    assert [line for line in report.splitlines() if line.startswith(("Error", "Warning"))] == []
