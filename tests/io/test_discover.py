"""discover(): progress, strict mode, several paths and several series per folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from dicom_factory import write_series

from ctphase.errors import InputError
from ctphase.io import discover


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
