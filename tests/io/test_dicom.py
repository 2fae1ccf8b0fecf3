"""DICOM grouping: series found in nested folders, order along the slice normal, acquisitions, orientation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from dicom_factory import CORONAL, write_series

from ctphase.errors import SeriesError
from ctphase.io import Discovery, Series, discover, load_series


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


def test_coronal_stack_is_skipped_as_non_axial(tmp_path: Path) -> None:
    write_series(tmp_path / "cor", n=10, orientation=CORONAL)
    found = discover(tmp_path)
    assert found.series == []
    (sk,) = found.skipped
    assert sk.kind == "skipped" and "non-axial stack" in sk.reason and "coronal" in sk.reason
    assert sk.n_files == 10
