"""DICOM series: discovery, grouping, ordering, HU conversion, compressed syntaxes, lazy reads."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from dicom_factory import (
    CORONAL,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    RLELossless,
    default_hu,
    write_series,
)

from ctphase.errors import InputError, SeriesError
from ctphase.io import Discovery, Series, discover, load_series
from ctphase.io import dicom as dicom_mod


def _only(found: Discovery) -> Series:
    assert [s.reason for s in found.skipped] == []
    assert len(found.series) == 1
    return found.series[0]


def test_shuffled_extensionless_nested_files(tmp_path: Path) -> None:
    info = write_series(tmp_path / "export", n=15, shuffle=True, nested=True, names=lambda i: f"IM{i * 7 % 15:05d}")
    series = _only(discover(tmp_path))
    assert series.source == "dicom"
    assert series.n_slices == 15
    assert series.shape == (32, 32)
    assert series.pixel_spacing == pytest.approx((0.8, 0.8))
    assert series.study_uid == info.study_uid and series.series_uid == info.series_uid
    assert series.acquisition is None
    assert series.path == str(tmp_path / "export")
    assert np.all(np.diff(series.slice_positions) > 0)
    assert series.slice_spacing == pytest.approx(2.5)
    assert series.warnings == []
    np.testing.assert_array_equal(series.read_slices(), info.hu)
    np.testing.assert_array_equal(series.read_slices([3, 0, 14]), info.hu[[3, 0, 14]])
    assert series.read_volume().dtype == np.float32


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


@pytest.mark.parametrize(
    "ts", [ExplicitVRLittleEndian, ImplicitVRLittleEndian, RLELossless, JPEG2000Lossless, JPEGLSLossless, JPEGLosslessSV1]
)
@pytest.mark.parametrize("dtype", ["int16", "uint16"])
def test_transfer_syntaxes_decode_exact_hu(tmp_path: Path, ts: str, dtype: str) -> None:
    intercept = 0.0 if dtype == "int16" else -1024.0
    info = write_series(tmp_path / "s", n=8, dtype=dtype, intercept=intercept, transfer_syntax=ts)
    series = _only(discover(tmp_path))
    assert series.slices[0].transfer_syntax == str(ts)
    np.testing.assert_array_equal(series.read_slices(), info.hu)


def test_padding_value_signed_and_clipping(tmp_path: Path) -> None:
    hu = default_hu(8, 32, 32)
    hu[:, :3, :] = -2000  # written as the padding value
    hu[:, -3:, :] = -3024 + 0  # reconstruction-circle fill without padding tag: clipped
    info = write_series(tmp_path / "s", hu=hu, dtype="int16", intercept=0.0, padding_value=-2001)
    series = load_series(tmp_path / "s")
    out = series.read_slices()
    np.testing.assert_array_equal(out, info.hu)
    assert np.all(out[:, :3, :] == -1024) and np.all(out[:, -3:, :] == -1024)
    assert out.min() == -1024


def test_padding_value_unsigned_range_limit(tmp_path: Path) -> None:
    hu = default_hu(8, 32, 32)
    hu[:, :, :2] = -2000
    stored_hu = hu.copy()
    stored_hu[:, :, 2] = -1024 + 5  # stored 5: inside the padding range [0, 10]
    info = write_series(tmp_path / "s", hu=stored_hu, padding_value=0, padding_limit=10)
    out = load_series(tmp_path / "s").read_slices()
    np.testing.assert_array_equal(out, info.hu)
    assert np.all(out[:, :, :3] == -1024)


def test_unsigned_padding_value_encoded_as_us_for_signed_pixels(tmp_path: Path) -> None:
    """Real files (hcc005) store -2000 as US 63536 with Pixel Representation 1."""
    hu = default_hu(8, 32, 32)
    hu[:, :4, :4] = -2000

    def as_us(ds, i):
        ds.add_new(0x00280120, "US", 63536)

    info = write_series(tmp_path / "s", hu=hu, dtype="int16", intercept=0.0, padding_value=-2000, edit=as_us)
    series = load_series(tmp_path / "s")
    assert series.slices[0].padding == -2000
    np.testing.assert_array_equal(series.read_slices(), info.hu)


def test_per_slice_rescale_values(tmp_path: Path) -> None:
    slopes = [1.0, 0.5, 2.0, 1.0, 0.5, 1.0, 2.0, 1.0]
    intercepts = [-1024.0, -1000.0, -2048.0, 0.0, -1024.0, -1024.0, -3000.0, -500.0]
    hu = default_hu(8, 32, 32)
    hu = np.round(hu / 2) * 2  # representable with slope 2
    info = write_series(tmp_path / "s", hu=hu, slope=slopes, intercept=intercepts, dtype="int16")
    np.testing.assert_array_equal(load_series(tmp_path / "s").read_slices(), info.hu)
    np.testing.assert_allclose(info.hu, np.maximum(hu, -1024))


def test_bits_stored_12_signed_matches_pydicom(tmp_path: Path) -> None:
    import pydicom

    hu = np.clip(default_hu(8, 32, 32), -1024, 1500)

    def twelve_bits(ds, i):
        ds.BitsStored, ds.HighBit = 12, 11

    write_series(tmp_path / "s", hu=hu, dtype="int16", intercept=0.0, edit=twelve_bits)
    series = load_series(tmp_path / "s")
    assert series.slices[0].pixel_offset is not None  # fast native path
    for i in range(series.n_slices):
        ds = pydicom.dcmread(series.slices[i].path)
        np.testing.assert_array_equal(series.read_slices([i])[0], ds.pixel_array.astype(np.float32))


def test_order_follows_position_not_instance_number_or_name(tmp_path: Path) -> None:
    info = write_series(tmp_path / "s", n=10, shuffle=True, seed=5)
    series = load_series(tmp_path / "s")
    expected_paths = [str(p) for p in info.paths]
    assert [h.path for h in series.slices] == expected_paths
    np.testing.assert_allclose(series.slice_positions, info.positions - 40.0)


def test_flipped_column_cosine_still_inferior_first(tmp_path: Path) -> None:
    """IOP 1\\0\\0\\0\\-1\\0 gives a normal towards -z; index 0 stays the most inferior slice."""
    info = write_series(tmp_path / "s", n=9, orientation=(1, 0, 0, 0, -1, 0))
    series = load_series(tmp_path / "s")
    zs = [h.ipp[2] for h in series.slices]
    assert zs == sorted(zs)
    np.testing.assert_array_equal(series.read_slices(), info.hu[::-1])


def test_oblique_axial_within_30_degrees_is_kept(tmp_path: Path) -> None:
    a = np.radians(20)
    info = write_series(tmp_path / "s", n=9, orientation=(1, 0, 0, 0, np.cos(a), -np.sin(a)))
    series = load_series(tmp_path / "s")
    assert series.n_slices == 9
    np.testing.assert_allclose(np.diff(series.slice_positions), 2.5, atol=1e-3)
    np.testing.assert_array_equal(series.read_slices(), info.hu)


def test_slice_location_fallback_when_ipp_missing(tmp_path: Path) -> None:
    def drop_ipp(ds, i):
        del ds.ImagePositionPatient

    info = write_series(tmp_path / "s", n=9, shuffle=True, edit=drop_ipp)
    series = load_series(tmp_path / "s")
    assert any("ordered by SliceLocation" in w for w in series.warnings)
    np.testing.assert_array_equal(series.read_slices(), info.hu)


def test_missing_ipp_and_slice_location_is_an_error(tmp_path: Path) -> None:
    def drop(ds, i):
        del ds.ImagePositionPatient

    write_series(tmp_path / "s", n=9, slice_location=False, edit=drop)
    found = discover(tmp_path)
    assert found.series == []
    (err,) = found.skipped
    assert err.kind == "error" and "neither ImagePositionPatient nor SliceLocation" in err.reason


def test_two_overlapping_acquisitions_are_split(tmp_path: Path) -> None:
    study, series_uid = "1.2.3.4", "1.2.3.4.5"
    a1 = write_series(tmp_path / "s", n=9, acquisition=1, study_uid=study, series_uid=series_uid, names="a{i}.dcm")
    a2 = write_series(
        tmp_path / "s", n=9, acquisition=2, study_uid=study, series_uid=series_uid, names="b{i}.dcm", seed=9
    )
    found = discover(tmp_path)
    assert found.skipped == []
    assert [s.acquisition for s in found.series] == [1, 2]
    assert found.series[0].series_id == "1.2.3.4/1.2.3.4.5/acq1"
    np.testing.assert_array_equal(found.series[0].read_slices(), a1.hu)
    np.testing.assert_array_equal(found.series[1].read_slices(), a2.hu)
    with pytest.raises(SeriesError, match="holds 2 series"):
        load_series(tmp_path / "s")


def test_sequential_acquisitions_tiling_the_volume_stay_one_stack(tmp_path: Path) -> None:
    def acq_per_4(ds, i):
        ds.AcquisitionNumber = i // 4 + 1

    info = write_series(tmp_path / "s", n=12, edit=acq_per_4)
    series = load_series(tmp_path / "s")
    assert series.n_slices == 12 and series.acquisition is None
    np.testing.assert_array_equal(series.read_slices(), info.hu)


def test_read_slices_reads_only_requested_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    info = write_series(tmp_path / "s", n=10, transfer_syntax=RLELossless)
    series = load_series(tmp_path / "s")
    calls: list[str] = []
    real = dicom_mod._stored_values

    def counting(h):
        calls.append(h.path)
        return real(h)

    monkeypatch.setattr(dicom_mod, "_stored_values", counting)
    for i, p in enumerate(info.paths):  # unsampled files vanish: reading them would fail
        if i != 4:
            os.remove(p)
    np.testing.assert_array_equal(series.read_slices([4]), info.hu[[4]])
    assert calls == [str(info.paths[4])]
    with pytest.raises(InputError, match="no longer exists"):
        series.read_slices([5])


def test_header_scan_never_decodes_pixels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pydicom

    write_series(tmp_path / "s", n=10)

    def boom(*a, **k):
        raise AssertionError("pydicom.dcmread called during the header scan")

    monkeypatch.setattr(pydicom, "dcmread", boom)
    monkeypatch.setattr(dicom_mod, "_stored_values", boom)
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
    series = _only(discover(tmp_path))
    np.testing.assert_array_equal(series.read_slices(), info.hu)


def test_dicomdir_is_ignored(tmp_path: Path) -> None:
    write_series(tmp_path / "s", n=8)
    (tmp_path / "DICOMDIR").write_bytes(bytes(128) + b"DICM" + b"garbage")
    _only(discover(tmp_path))


def test_progress_and_strict(tmp_path: Path) -> None:
    write_series(tmp_path / "s", n=8)
    (tmp_path / "s" / "junk.dcm").write_bytes(b"not dicom at all" * 20)
    seen: list[tuple[int, int]] = []
    found = discover(tmp_path, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (9, 9) and len(seen) == 9
    assert len(found.series) == 1 and found.n_errors == 1
    with pytest.raises(InputError, match="junk.dcm: not a DICOM file"):
        discover(tmp_path, strict=True)


def test_two_series_in_one_folder_and_several_paths(tmp_path: Path) -> None:
    write_series(tmp_path / "a", n=8, names="x{i}.dcm")
    write_series(tmp_path / "a", n=9, names="y{i}.dcm", seed=3)
    write_series(tmp_path / "b", n=10)
    found = discover([tmp_path / "a", tmp_path / "b", tmp_path / "b"])  # duplicates are read once
    assert sorted(s.n_slices for s in found.series) == [8, 9, 10]
    assert found.skipped == []


def test_coronal_stack_is_skipped_as_non_axial(tmp_path: Path) -> None:
    write_series(tmp_path / "cor", n=10, orientation=CORONAL)
    found = discover(tmp_path)
    assert found.series == []
    (sk,) = found.skipped
    assert sk.kind == "skipped" and "non-axial stack" in sk.reason and "coronal" in sk.reason
    assert sk.n_files == 10


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
