"""NIfTI series: axial slices in DICOM layout whatever the voxel order, lazy reads, bad shapes."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from dicom_factory import default_hu, write_series
from nibabel.orientations import axcodes2ornt, io_orientation, ornt_transform

from ctphase.errors import NiftiReadError
from ctphase.io import discover, load_series
from ctphase.io.nifti import NiftiSeries, load_nifti

ORIGIN = (-12.8, -12.8, -40.0)  # LPS, as written by dicom_factory
PS = 0.8
DZ = 2.5


def _lps_axial_as_nifti(hu: np.ndarray) -> nib.Nifti1Image:
    """The NIfTI equivalent of a DICOM axial stack (IOP 1\\0\\0\\0\\1\\0): voxel (col, row, slice)."""
    ox, oy, oz = ORIGIN
    affine = np.array(
        [
            [-PS, 0, 0, -ox],  # column index runs towards patient left = -x in RAS
            [0, -PS, 0, -oy],  # row index runs towards posterior = -y in RAS
            [0, 0, DZ, oz],
            [0, 0, 0, 1],
        ]
    )
    data = np.ascontiguousarray(hu.transpose(2, 1, 0)).astype(np.int16)
    return nib.Nifti1Image(data, affine)


@pytest.fixture
def hu() -> np.ndarray:
    h = default_hu(9, 32, 24, seed=4)  # non-square: catches transposes
    h[:, 2:5, 3:6] = 1200  # an asymmetric marker: catches flips
    h[3, 0, 0] = -3000
    return h


@pytest.mark.parametrize("codes", ["LPS", "RAS", "LAS", "PIR", "SRA", "ILP"])
@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_any_voxel_order_gives_dicom_layout(tmp_path: Path, hu: np.ndarray, codes: str, suffix: str) -> None:
    img = _lps_axial_as_nifti(hu)
    ornt = ornt_transform(io_orientation(img.affine), axcodes2ornt(tuple(codes)))
    img = img.as_reoriented(ornt)
    assert "".join(nib.aff2axcodes(img.affine)) == codes
    path = tmp_path / f"ct{suffix}"
    nib.save(img, path)
    s = load_series(path, min_slices=1)
    assert isinstance(s, NiftiSeries)
    assert s.source == "nifti" and s.path == str(path)
    assert s.series_id == s.content_id and s.content_id.startswith("nifti:") and len(s.content_id) == 22
    assert s.n_slices == 9 and s.shape == (32, 24)
    assert s.pixel_spacing == pytest.approx((PS, PS))
    np.testing.assert_allclose(s.slice_positions, -40.0 + DZ * np.arange(9), atol=1e-4)
    np.testing.assert_array_equal(s.read_slices(), np.maximum(hu, -1024))
    np.testing.assert_array_equal(s.read_slices([7, 2]), np.maximum(hu[[7, 2]], -1024))


def test_nifti_matches_dicom_of_same_volume(tmp_path: Path, hu: np.ndarray) -> None:
    info = write_series(tmp_path / "dcm", hu=hu, dtype="int16", intercept=0.0, pixel_spacing=(PS, PS), origin=ORIGIN)
    nib.save(_lps_axial_as_nifti(hu), tmp_path / "ct.nii.gz")
    found = discover(tmp_path, min_slices=1)
    assert found.skipped == []
    dcm, nii = sorted(found.series, key=lambda s: s.source)
    np.testing.assert_array_equal(dcm.read_slices(), nii.read_slices())
    np.testing.assert_array_equal(nii.read_slices(), info.hu)
    np.testing.assert_allclose(dcm.slice_positions, nii.slice_positions, atol=1e-3)


def test_scaling_and_clipping(tmp_path: Path) -> None:
    data = np.full((4, 4, 8), 1600, np.int16)
    data[0, 0, :] = 0  # -> -3024 after scaling: clipped to -1024
    img = nib.Nifti1Image(data, np.eye(4))
    img.header.set_slope_inter(2.0, -3024.0)
    nib.save(img, tmp_path / "s.nii")
    out = load_series(tmp_path / "s.nii").read_slices()
    assert out.dtype == np.float32
    assert np.all(out[:, -1, -1] == -1024)  # voxel (0, 0) of a RAS volume: last row (posterior), last column (left)
    out[:, -1, -1] = 176
    assert np.all(out == 176)


def test_float_nan_becomes_air(tmp_path: Path) -> None:
    data = np.zeros((4, 4, 8), np.float32)
    data[1, 1, 2] = np.nan
    nib.save(nib.Nifti1Image(data, np.eye(4)), tmp_path / "f.nii.gz")
    out = load_series(tmp_path / "f.nii.gz").read_slices([2])
    assert np.isfinite(out).all() and out.min() == -1024


def test_singleton_4th_dimension_is_3d(tmp_path: Path) -> None:
    nib.save(nib.Nifti1Image(np.zeros((4, 5, 9, 1), np.int16), np.eye(4)), tmp_path / "a.nii")
    s = load_nifti(tmp_path / "a.nii")
    assert s.n_slices == 9 and s.read_slices([0]).shape == (1, 5, 4)


def test_4d_and_2d_are_errors(tmp_path: Path) -> None:
    nib.save(nib.Nifti1Image(np.zeros((4, 4, 9, 2), np.int16), np.eye(4)), tmp_path / "d.nii.gz")
    nib.save(nib.Nifti1Image(np.zeros((4, 4), np.int16), np.eye(4)), tmp_path / "flat.nii")
    with pytest.raises(NiftiReadError, match=r"d\.nii\.gz: 4D image of shape \(4, 4, 9, 2\) holds 2 volumes"):
        load_series(tmp_path / "d.nii.gz")
    with pytest.raises(NiftiReadError, match=r"flat\.nii: 2D image of shape \(4, 4\); ctphase needs a 3D CT volume"):
        load_nifti(tmp_path / "flat.nii")
    found = discover(tmp_path)
    assert sorted((Path(s.path).name, s.kind) for s in found.skipped) == [("d.nii.gz", "error"), ("flat.nii", "error")]


def test_too_few_slices_and_bad_index(tmp_path: Path) -> None:
    nib.save(nib.Nifti1Image(np.zeros((4, 4, 3), np.int16), np.eye(4)), tmp_path / "thin.nii")
    found = discover(tmp_path, min_slices=8)
    assert found.series == []
    assert found.skipped[0].reason == "only 3 axial slice(s), fewer than min_slices=8"
    s = load_nifti(tmp_path / "thin.nii")
    with pytest.raises(NiftiReadError, match="slice index 3 out of range"):
        s.read_slices([3])


def test_truncated_gz_fails_on_read_with_message(tmp_path: Path) -> None:
    p = tmp_path / "t.nii.gz"
    nib.save(nib.Nifti1Image(np.arange(16 * 16 * 10, dtype=np.int16).reshape(16, 16, 10), np.eye(4)), p)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    try:
        s = load_nifti(p)
    except NiftiReadError as exc:  # header already unreadable
        assert str(p) in str(exc)
        return
    with pytest.raises(NiftiReadError, match="cannot read voxel data"):
        s.read_slices()
