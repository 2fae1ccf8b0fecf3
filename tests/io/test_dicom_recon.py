"""Several reconstructions under one Series Instance UID are split, each classified on its own."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from dicom_factory import write_series

from ctphase.io import discover


def _two_recons(root: Path, **second: object) -> tuple[object, object]:
    a = write_series(root, n=10, names="a{i:03d}.dcm", seed=1, edit=lambda ds, i: setattr(ds, "ConvolutionKernel", "STANDARD"))
    b = write_series(root, n=10, names="b{i:03d}.dcm", seed=2, study_uid=a.study_uid, series_uid=a.series_uid, **second)
    return a, b


def test_split_by_kernel(tmp_path: Path) -> None:
    a, b = _two_recons(tmp_path, edit=lambda ds, i: setattr(ds, "ConvolutionKernel", "BONE"))
    found = discover(tmp_path)
    assert found.skipped == []
    assert [s.reconstruction for s in found.series] == ["ConvolutionKernel=BONE", "ConvolutionKernel=STANDARD"]
    assert [s.series_id.rsplit("/", 1)[1] for s in found.series] == ["rec1", "rec2"]
    bone, std = found.series
    assert bone.n_slices == std.n_slices == 10
    np.testing.assert_array_equal(bone.read_volume(), b.hu)
    np.testing.assert_array_equal(std.read_volume(), a.hu)
    assert any("reconstruction 1 (ConvolutionKernel=BONE)" in w for w in bone.warnings)


def test_split_by_thickness(tmp_path: Path) -> None:
    write_series(tmp_path, n=8, names="a{i}.dcm", edit=lambda ds, i: setattr(ds, "SliceThickness", "1.0"))
    first = discover(tmp_path).series[0]
    write_series(tmp_path, n=8, names="b{i}.dcm", seed=3, study_uid=first.study_uid, series_uid=first.series_uid,
                 edit=lambda ds, i: setattr(ds, "SliceThickness", "5.0"))
    found = discover(tmp_path)
    assert [s.reconstruction for s in found.series] == ["SliceThickness=1.0", "SliceThickness=5.0"]
    assert len({s.series_id for s in found.series}) == 2


def test_split_by_repeating_position_cycle(tmp_path: Path) -> None:
    """Nothing in the tags differs, but instance numbers 1..8 and 9..16 each visit the 8 positions once."""
    a = write_series(tmp_path, n=8, names="x{i:02d}.dcm", seed=1)
    write_series(tmp_path, n=8, names="y{i:02d}.dcm", seed=2, study_uid=a.study_uid, series_uid=a.series_uid,
                 edit=lambda ds, i: setattr(ds, "InstanceNumber", 9 + i))
    found = discover(tmp_path)
    assert found.skipped == []
    assert [s.reconstruction for s in found.series] == ["position cycle 1 of 2", "position cycle 2 of 2"]
    np.testing.assert_array_equal(found.series[0].read_volume(), a.hu)


def test_one_extra_image_is_not_a_reconstruction(tmp_path: Path) -> None:
    a = write_series(tmp_path, n=10)
    write_series(tmp_path, positions=[a.positions[3]], study_uid=a.study_uid, series_uid=a.series_uid,
                 names="extra{i}.dcm", seed=7)
    found = discover(tmp_path)
    assert found.series == []
    (sk,) = found.skipped
    assert sk.kind == "error" and "nothing separates them" in sk.reason and sk.n_files == 11


def test_two_matrix_sizes_are_two_reconstructions(tmp_path: Path) -> None:
    a = write_series(tmp_path, n=10, rows=32, cols=32)
    write_series(tmp_path, n=10, rows=48, cols=48, names="big{i}.dcm", study_uid=a.study_uid, series_uid=a.series_uid)
    found = discover(tmp_path)
    assert sorted(s.reconstruction for s in found.series) == ["matrix=32x32", "matrix=48x48"]
    assert len({s.series_id for s in found.series}) == 2 and found.skipped == []
