"""benchmarks/real_labels.py: the real series' labels file, read one way."""

from __future__ import annotations

import pytest
from benchmark_scripts import load

real_labels = load("real_labels")


def test_real_rows_filter_by_folder_and_name_what_is_missing(tmp_path) -> None:
    assert not real_labels.has_labels(tmp_path)
    with pytest.raises(SystemExit, match="real data not found at .*no labels.csv"):
        real_labels.real_rows(tmp_path)
    (tmp_path / "labels.csv").write_text("folder,name,phase\na,a,venous\nb,b,arterial\n")
    assert real_labels.has_labels(tmp_path)
    assert [r["folder"] for r in real_labels.real_rows(tmp_path)] == ["a", "b"]
    assert [r["phase"] for r in real_labels.real_rows(tmp_path, ["b"])] == ["arterial"]
    with pytest.raises(SystemExit, match="none of \\['c'\\] is a folder of .*labels.csv"):
        real_labels.real_rows(tmp_path, ["c"])


def test_real_rows_reads_the_shared_real_series() -> None:
    if not real_labels.has_labels(real_labels.REALDATA):
        pytest.skip("real data not present")
    rows = real_labels.real_rows(real_labels.REALDATA)
    assert len(rows) == 12 and {r["phase"] for r in rows} == {"non_contrast", "arterial", "venous", "other"}
    assert all((real_labels.REALDATA / r["folder"]).is_dir() for r in rows)
