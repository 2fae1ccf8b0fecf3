"""Manifest parsing (series manifests and the paper's per-slice CSV) and patient-disjoint splits."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ctphase.errors import ConfigError, InputError
from ctphase.phases import Phase
from ctphase.data.manifest import ManifestError, SeriesRecord, read_manifest, split_by_patient


def _write(tmp_path: Path, text: str, name: str = "m.csv") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_series_manifest_relative_paths_labels_and_extra_columns(tmp_path: Path) -> None:
    (tmp_path / "data" / "s1").mkdir(parents=True)
    (tmp_path / "data" / "s2.nii.gz").write_bytes(b"")
    m = _write(
        tmp_path,
        "path,label,patient_id,study_id,series_id,site\n"
        "data/s1,portal venous,P1,ST1,SE1,a\n"
        f"{tmp_path / 'data' / 's2.nii.gz'},Early-Arterial,,ST2,,b\n",
    )
    man = read_manifest(m)
    assert man.kind == "series"
    r1, r2 = man.records
    assert r1.path == tmp_path / "data" / "s1" and r1.label is Phase.VENOUS
    assert (r1.patient_id, r1.study_id, r1.series_id, r1.extra) == ("P1", "ST1", "SE1", {"site": "a"})
    assert r2.label is Phase.ARTERIAL and r2.patient_id is None and r2.group == "study:ST2"
    assert r1.group == "patient:P1" and r1.line == 2 and r2.line == 3
    assert man.label_counts() == {"non_contrast": 0, "arterial": 1, "venous": 1, "other": 0}


def test_paper_csv_converts_paper_label_order(tmp_path: Path) -> None:
    for i in range(4):
        (tmp_path / f"{i}.png").write_bytes(b"")
    m = _write(tmp_path, "image,label,study,series\n0.png,0,A,1\n1.png,1,A,2\n2.png,2,B,1\n3.png,3,B,2\n")
    man = read_manifest(m)
    assert man.kind == "paper_slices"
    # paper order: 0 Non, 1 Venous, 2 Arterial, 3 Others
    assert [r.label for r in man.records] == [Phase.NON_CONTRAST, Phase.VENOUS, Phase.ARTERIAL, Phase.OTHER]
    assert man.records[1].scan_key == "A/2" and man.records[2].group == "study:B"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("path,label\nx,venous\n", r"line 2, column 'path'.*does not exist"),
        ("path,label\n.,blue\n", r"line 2, column 'label'.*unknown phase 'blue'"),
        ("path,label\n.,2\n", r"line 2, column 'label'.*numeric label '2' is ambiguous"),
        ("path,label\n.,\n", r"line 2, column 'label'.*empty label"),
        ("file,phase\n.,venous\n", r"line 1.*unknown manifest header"),
        ("path,label\n", r"no data rows"),
        ("image,label,study,series\n.,7,A,1\n", r"line 2, column 'label'.*0 Non, 1 Venous, 2 Arterial, 3 Others"),
        ("image,label,study,series\n.,venous,A,1\n", r"column 'label'.*bad label 'venous'"),
        ("image,label,study,series\n.,1,,1\n", r"column 'study'.*empty study"),
        ("path,label\n.,venous,extra\n", r"line 2.*more fields"),
    ],
)
def test_manifest_errors_name_file_line_and_column(tmp_path: Path, text: str, match: str) -> None:
    m = _write(tmp_path, text)
    with pytest.raises(ManifestError, match=match) as info:
        read_manifest(m)
    assert str(m) in str(info.value)
    assert isinstance(info.value, InputError) and isinstance(info.value, ConfigError)


def test_every_bad_row_is_reported_at_once(tmp_path: Path) -> None:
    rows = ["path,label", ".,venous", "nope,venous", ".,blue", ".,arterial", ".,", ".,venous,extra"]
    with pytest.raises(ManifestError) as info:
        read_manifest(_write(tmp_path, "\n".join(rows) + "\n"))
    msg = str(info.value)
    assert msg.startswith(str(tmp_path)) and "4 bad rows" in msg
    for pattern in (r"line 3, column 'path'.*does not exist", r"line 4, column 'label'.*unknown phase 'blue'",
                    r"line 6, column 'label'.*empty label", r"line 7.*more fields"):
        assert re.search(pattern, msg), pattern
    assert "line 2" not in msg and "line 5" not in msg  # good rows are not blamed


def test_many_bad_rows_are_listed_up_to_a_limit(tmp_path: Path) -> None:
    from ctphase.errors import MAX_LISTED_PROBLEMS

    n = MAX_LISTED_PROBLEMS + 7
    with pytest.raises(ManifestError) as info:
        read_manifest(_write(tmp_path, "path,label\n" + ".,blue\n" * n))
    msg = str(info.value)
    assert f"{n} bad rows" in msg and "... and 7 more" in msg
    assert msg.count("unknown phase 'blue'") == MAX_LISTED_PROBLEMS


def test_missing_manifest(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="manifest file not found"):
        read_manifest(tmp_path / "nope.csv")


def test_check_paths_off(tmp_path: Path) -> None:
    man = read_manifest(_write(tmp_path, "path,label\nmissing/dir,other\n"), check_paths=False)
    assert man.records[0].path == tmp_path / "missing" / "dir"


def _records(n_patients: int, per_patient: int = 3) -> list[SeriesRecord]:
    return [
        SeriesRecord(Path(f"/d/p{p}/s{s}"), Phase(s % 4), patient_id=f"p{p}", study_id=f"st{p}_{s % 2}")
        for p in range(n_patients)
        for s in range(per_patient)
    ]


def test_split_by_patient_is_disjoint_complete_and_seeded() -> None:
    recs = _records(40)
    train, val = split_by_patient(recs, (0.8, 0.2), seed=3)
    assert {r.patient_id for r in train}.isdisjoint({r.patient_id for r in val})
    assert len(train) + len(val) == len(recs)
    assert abs(len(val) - 0.2 * len(recs)) <= 3  # one patient of slack
    again = split_by_patient(list(reversed(recs)), (0.8, 0.2), seed=3)
    assert {r.path for r in again[1]} == {r.path for r in val}  # independent of input order
    other = split_by_patient(recs, (0.8, 0.2), seed=4)
    assert {r.path for r in other[1]} != {r.path for r in val}


def test_split_falls_back_to_study_and_keeps_parts_nonempty() -> None:
    recs = [SeriesRecord(Path(f"/d/{i}"), Phase.VENOUS, study_id=f"st{i // 2}") for i in range(6)]
    parts = split_by_patient(recs, (0.98, 0.01, 0.01), seed=0)
    assert all(parts)
    studies = [{r.study_id for r in part} for part in parts]
    assert all(a.isdisjoint(b) for i, a in enumerate(studies) for b in studies[i + 1 :])


def test_split_errors() -> None:
    with pytest.raises(ConfigError, match="positive"):
        split_by_patient(_records(3), (0.8, -0.2))
    with pytest.raises(ConfigError, match="cannot split 2 patient group"):
        split_by_patient(_records(2), (0.5, 0.3, 0.2))
