"""``ctphase.sorting``: zip members extracted, resuming after an interruption."""

from __future__ import annotations

import hashlib
import zipfile

from ctphase.sorting import sort_series


def test_zip_members_are_extracted_and_a_partial_run_resumes(tmp_path, checkpoint):
    from dicom_factory import write_series

    info = write_series(tmp_path / "s", n=12, seed=3)
    archive = tmp_path / "src" / "scan.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as zf:
        for p in info.paths:
            zf.write(p, f"scan/{p.name}")
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    dest = tmp_path / "out"
    entries = sort_series([archive.parent], dest, model=checkpoint, link=True)
    (entry,) = entries
    assert entry.status == "copied" and len(entry.files) == 12  # members are never linked: extracted
    folder = dest / entry.destination
    assert sorted(p.read_bytes() for p in folder.iterdir()) == sorted(p.read_bytes() for p in info.paths)
    assert hashlib.sha256(archive.read_bytes()).hexdigest() == digest
    # an interrupted run: some files missing; the rerun places only those
    removed = sorted(folder.iterdir())[:5]
    for p in removed:
        p.unlink()
    kept = {p: p.stat().st_mtime_ns for p in folder.iterdir()}
    (again,) = sort_series([archive.parent], dest, model=checkpoint)
    assert again.status == "copied" and len(list(folder.iterdir())) == 12
    assert all(p.stat().st_mtime_ns == t for p, t in kept.items())
    (third,) = sort_series([archive.parent], dest, model=checkpoint)
    assert third.status == "present"
    assert not list(folder.glob(".*.part"))
