"""``ctphase sort``: phase-folder layout, index, hard links, dry run, reruns, collisions, pattern errors."""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ctphase.cli import app
from ctphase.prediction import LABELS

runner = CliRunner()


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*"))
            if p.is_file()}


@pytest.fixture
def two_series(tmp_path: Path) -> Path:
    """Two CT series of one study (one nested) and a NIfTI file."""
    import nibabel as nib
    import numpy as np
    from dicom_factory import write_series

    src = tmp_path / "src"
    write_series(src / "a", n=12, study_uid="1.2.3.4", series_uid="1.2.3.4.100001", seed=1)
    write_series(src / "b", n=14, nested=True, study_uid="1.2.3.4", series_uid="1.2.3.4.200002", seed=2)
    vol = np.random.default_rng(0).normal(0, 100, (24, 24, 16)).astype(np.float32)
    nib.save(nib.Nifti1Image(vol, np.diag([0.8, 0.8, 2.5, 1.0])), str(src / "vol.nii.gz"))
    return src


def _index(dest: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO((dest / "index.csv").read_text())))


def _sort(src: Path, dest: Path, checkpoint: Path, *args: str):
    return runner.invoke(app, ["sort", str(src), str(dest), "--model", str(checkpoint), "--quiet", *args])


def test_layout_index_and_originals_untouched(two_series, checkpoint, tmp_path):
    before = _hashes(two_series)
    dest = tmp_path / "out"
    res = _sort(two_series, dest, checkpoint)
    assert res.exit_code == 0, res.output
    rows = _index(dest)
    assert len(rows) == 3 and {r["status"] for r in rows} == {"copied"}
    for r in rows:
        folder = Path(r["destination"])
        rel = folder.relative_to(dest).parts
        assert len(rel) == 3 and rel[1] == r["label"] and r["label"] in LABELS
        assert len(list(p for p in folder.rglob("*") if p.is_file())) == int(r["n_files"])
    dicom = [r for r in rows if r["series_id"].startswith("1.2.3.4/")]
    assert {Path(r["destination"]).name for r in dicom} == {"4.100001", "4.200002"}
    assert len({Path(r["destination"]).relative_to(dest).parts[0] for r in dicom}) == 1  # one study folder
    assert sum(int(r["n_files"]) for r in dicom) == 26
    assert "1.2.3.4" not in "".join(str(p) for p in dest.rglob("*"))  # the study is hashed, not named
    assert _hashes(two_series) == before
    # a rerun copies nothing
    res = _sort(two_series, dest, checkpoint)
    assert res.exit_code == 0, res.output
    assert {r["status"] for r in _index(dest)} == {"present"}


def test_link_makes_hard_links(two_series, checkpoint, tmp_path):
    before = _hashes(two_series)
    dest = tmp_path / "linked"
    res = _sort(two_series, dest, checkpoint, "--link")
    assert res.exit_code == 0, res.output
    assert {r["status"] for r in _index(dest)} == {"linked"}
    originals = {p.stat().st_ino for p in two_series.rglob("*") if p.is_file()}
    placed = [p for p in dest.rglob("*") if p.is_file() and p.name != "index.csv"]
    assert len(placed) == 27 and {p.stat().st_ino for p in placed} == originals
    assert _hashes(two_series) == before


def test_dry_run_writes_nothing(two_series, checkpoint, tmp_path):
    dest = tmp_path / "plan"
    res = _sort(two_series, dest, checkpoint, "--dry-run")
    assert res.exit_code == 0, res.output
    assert not dest.exists()
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert len(rows) == 3 and {r["status"] for r in rows} == {"planned"}


def test_collision_is_reported_not_overwritten(two_series, checkpoint, tmp_path):
    dest = tmp_path / "out"
    plan = list(csv.DictReader(io.StringIO(_sort(two_series, dest, checkpoint, "--dry-run").stdout)))
    nifti = next(r for r in plan if r["series_id"].startswith("nifti:"))
    target = Path(nifti["destination"]) / "vol.nii.gz"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"someone else's file")
    res = _sort(two_series, dest, checkpoint)
    assert res.exit_code == 1
    assert "already at" in res.output
    assert target.read_bytes() == b"someone else's file"
    status = {r["series_id"]: r["status"] for r in _index(dest)}
    assert status[nifti["series_id"]] == "failed"
    assert sorted(status.values()) == ["copied", "copied", "failed"]


def test_skipped_and_broken_inputs_are_listed(corpus, checkpoint, tmp_path):
    dest = tmp_path / "out"
    res = _sort(corpus, dest, checkpoint, "--pattern", "{phase}/{acquisition_order}_{series}")
    assert res.exit_code == 1  # the corpus holds broken files
    rows = _index(dest)
    by_status = {s: [r for r in rows if r["status"] == s] for s in {r["status"] for r in rows}}
    assert len(by_status["copied"]) == 4 and by_status["error"] and by_status["skipped"]
    assert all(r["destination"] == "" for r in rows if r["status"] in ("error", "skipped"))
    assert all(Path(r["destination"]).parent.parent == dest for r in by_status["copied"])


@pytest.mark.parametrize(("pattern", "message"), [
    ("{study}/{patient}/{series}", "unknown field"),
    ("{study}/{phase}", "{series}"),
    ("../{series}", "relative"),
    ("{series:>10}", "format"),
])
def test_pattern_errors(two_series, checkpoint, tmp_path, pattern, message):
    res = _sort(two_series, tmp_path / "out", checkpoint, "--pattern", pattern)
    assert res.exit_code == 2 and message in res.output and "Traceback" not in res.output
    assert not (tmp_path / "out").exists()


def test_destination_inside_source_is_refused(two_series, checkpoint):
    res = _sort(two_series, two_series / "sorted", checkpoint)
    assert res.exit_code == 2 and "inside" in res.output
