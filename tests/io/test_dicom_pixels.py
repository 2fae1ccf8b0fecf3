"""DICOM pixel decoding: exact HU for every transfer syntax, padding, rescale, bits stored, lazy reads."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from dicom_factory import (
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    RLELossless,
    default_hu,
    write_series,
)

from ctphase.errors import InputError
from ctphase.io import Discovery, Series, dicom_pixels, discover, load_series


def _only(found: Discovery) -> Series:
    assert [s.reason for s in found.skipped] == []
    assert len(found.series) == 1
    return found.series[0]


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


def test_read_slices_reads_only_requested_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    info = write_series(tmp_path / "s", n=10, transfer_syntax=RLELossless)
    series = load_series(tmp_path / "s")
    calls: list[str] = []
    real = dicom_pixels._stored_values

    def counting(h):
        calls.append(h.path)
        return real(h)

    monkeypatch.setattr(dicom_pixels, "_stored_values", counting)
    for i, p in enumerate(info.paths):  # unsampled files vanish: reading them would fail
        if i != 4:
            os.remove(p)
    np.testing.assert_array_equal(series.read_slices([4]), info.hu[[4]])
    assert calls == [str(info.paths[4])]
    with pytest.raises(InputError, match="no longer exists"):
        series.read_slices([5])


@pytest.mark.parametrize("ts", [ExplicitVRLittleEndian, RLELossless])
def test_threaded_decode_equals_serial(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ts: str) -> None:
    info = write_series(tmp_path / "s", n=24, transfer_syntax=ts)
    series = load_series(tmp_path / "s")
    order = [17, 3, 3, 0, 23, 9, 12, 5, 1, 20, 8, 14]  # unsorted, with a repeat
    monkeypatch.setattr(dicom_pixels, "_cpus", lambda: 4)
    monkeypatch.setattr(dicom_pixels, "READ_THREADS", 4)
    threaded = series.read_slices(order)
    monkeypatch.setattr(dicom_pixels, "READ_THREADS", 1)
    serial = series.read_slices(order)
    assert threaded.dtype == serial.dtype == np.float32
    np.testing.assert_array_equal(threaded, serial)
    np.testing.assert_array_equal(threaded, info.hu[order])


def test_threaded_decode_raises_the_first_failing_slice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    info = write_series(tmp_path / "s", n=16)
    series = load_series(tmp_path / "s")
    monkeypatch.setattr(dicom_pixels, "_cpus", lambda: 4)
    monkeypatch.setattr(dicom_pixels, "READ_THREADS", 4)
    os.remove(info.paths[6])
    os.remove(info.paths[11])
    with pytest.raises(InputError, match="no longer exists") as err:
        series.read_slices(list(range(16)))
    assert os.path.basename(str(err.value.path)) == os.path.basename(str(info.paths[6]))
    with pytest.raises(InputError, match="out of range"):
        series.read_slices([0, 16])


def test_prefetch_yields_the_same_chunks_in_order(tmp_path: Path) -> None:
    info = write_series(tmp_path / "s", n=12)
    series = load_series(tmp_path / "s")
    idx = [11, 0, 5, 7, 2, 9, 1]
    got = list(dicom_pixels.prefetch(series.iter_slices(idx, 3)))
    want = list(series.iter_slices(idx, 3))
    assert [g.shape for g in got] == [w.shape for w in want] == [(3, 32, 32), (3, 32, 32), (1, 32, 32)]
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    np.testing.assert_array_equal(np.concatenate(got), info.hu[idx])
    assert list(dicom_pixels.prefetch(iter([]))) == []


def test_prefetch_raises_where_the_source_raises() -> None:
    def source():
        yield np.zeros(1)
        raise ValueError("bad chunk")

    it = dicom_pixels.prefetch(source())
    np.testing.assert_array_equal(next(it), np.zeros(1))
    with pytest.raises(ValueError, match="bad chunk"):
        next(it)
