"""Zip archives, DICOMDIRs named directly, and every other input accounted for (issue 10)."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from dicom_factory import write_series

from ctphase.errors import InputError
from ctphase.io import archive, discover, load_series
from ctphase.io.nifti import load_nifti


def _zip(dest: Path, files: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(dest, "w", compression=method) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return dest


def _tree(folder: Path, prefix: str = "") -> dict[str, bytes]:
    """Every file under ``folder`` by its name relative to it, under ``prefix``."""
    return {prefix + p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _volume(tmp_path: Path) -> Path:
    data = (np.arange(20 * 16 * 12, dtype=np.int16).reshape(20, 16, 12) % 500) - 100
    path = tmp_path / "vol.nii.gz"
    nib.save(nib.Nifti1Image(data, np.diag([0.8, 0.8, 2.5, 1.0])), path)
    return path


# ---- zip archives -------------------------------------------------------------------------------------


def test_zip_of_a_nested_dicom_series_reads_like_the_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    info = write_series(tmp_path / "plain", n=8, shuffle=True, nested=True, names="{i}")
    zpath = _zip(tmp_path / "study.zip", _tree(tmp_path / "plain", "export/CT/"))
    found = discover(zpath)
    assert found.skipped == []
    (s,) = found.series
    assert s.path == f"{zpath}!/export/CT" and s.n_slices == 8
    assert s.slices[0].path.startswith(f"{zpath}!/export/CT/d")  # type: ignore[attr-defined]
    (plain,) = discover(tmp_path / "plain").series
    assert s.series_id == plain.series_id
    np.testing.assert_array_equal(s.read_slices(), plain.read_slices())
    np.testing.assert_array_equal(s.read_slices(), info.hu)

    # lazy: each slice asked for reopens the archive and reads its own member only
    opened: list[str] = []
    real_open = zipfile.ZipFile.open

    def spy(self: zipfile.ZipFile, name: object, *a: object, **k: object) -> object:
        opened.append(getattr(name, "filename", name))  # type: ignore[arg-type]
        return real_open(self, name, *a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(zipfile.ZipFile, "open", spy)
    np.testing.assert_array_equal(s.read_slices([2, 5]), info.hu[[2, 5]])
    expected = [h.path.split("!/", 1)[1] for h in (s.slices[2], s.slices[5])]  # type: ignore[attr-defined]
    assert opened == expected


def test_compressed_and_deflated_members(tmp_path: Path) -> None:
    """pydicom decodes (RLE) and parses (deflated header: the fallback reader) through the member stream."""
    from dicom_factory import RLELossless
    from pydicom.uid import DeflatedExplicitVRLittleEndian

    rle = write_series(tmp_path / "rle", n=4, transfer_syntax=RLELossless)
    defl = write_series(tmp_path / "defl", n=4, seed=1)
    for p in defl.paths:
        ds = pydicom.dcmread(p)
        ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
        ds.save_as(p, enforce_file_format=True)
    zpath = _zip(tmp_path / "c.zip", _tree(tmp_path / "rle", "rle/") | _tree(tmp_path / "defl", "defl/"))
    found = discover(zpath)
    assert found.skipped == [] and [s.path for s in found.series] == [f"{zpath}!/defl", f"{zpath}!/rle"]
    np.testing.assert_array_equal(found.series[0].read_slices(), defl.hu)
    np.testing.assert_array_equal(found.series[1].read_slices([3, 0]), rle.hu[[3, 0]])


def test_enhanced_ct_member_is_read_frame_by_frame(tmp_path: Path) -> None:
    from dicom_factory import write_enhanced_ct

    info = write_enhanced_ct(tmp_path / "enh.dcm", n=6, rows=16, cols=16, shuffle=True)
    zpath = _zip(tmp_path / "e.zip", {"x/enh.dcm": info.path.read_bytes()})
    found = discover(zpath)
    assert found.skipped == []
    (s,) = found.series
    assert (s.path, s.n_slices) == (f"{zpath}!/x", 6)
    np.testing.assert_array_equal(s.read_slices([4, 1]), info.hu[[4, 1]])


def test_zip_found_under_a_folder_and_load_series(tmp_path: Path) -> None:
    write_series(tmp_path / "plain", n=6)
    (tmp_path / "in").mkdir()
    _zip(tmp_path / "in" / "a.zip", _tree(tmp_path / "plain"))
    found = discover(tmp_path / "in")
    assert [(s.path, s.n_slices) for s in found.series] == [(str(tmp_path / "in" / "a.zip"), 6)]  # top level: the archive
    assert found.skipped == []
    assert load_series(tmp_path / "in" / "a.zip").n_slices == 6


def test_zip_with_nifti_members(tmp_path: Path) -> None:
    vol = _volume(tmp_path)
    raw = tmp_path / "vol.nii"
    nib.save(nib.load(vol), raw)
    zpath = _zip(tmp_path / "v.zip", {"a/vol.nii.gz": vol.read_bytes(), "b/vol.nii": raw.read_bytes()}, zipfile.ZIP_STORED)
    found = discover(zpath)
    assert found.skipped == []
    assert [s.path for s in found.series] == [f"{zpath}!/a/vol.nii.gz", f"{zpath}!/b/vol.nii"]
    disk = load_nifti(vol)
    for s in found.series:
        assert (s.source, s.n_slices, s.shape) == ("nifti", disk.n_slices, disk.shape)
        np.testing.assert_array_equal(s.read_slices([0, 7, 11]), disk.read_slices([0, 7, 11]))
    assert found.series[0].series_id == disk.series_id  # the same bytes, the same identity


def test_zip_member_not_dicom_and_unread_members_are_accounted_for(tmp_path: Path) -> None:
    write_series(tmp_path / "plain", n=6)
    files = _tree(tmp_path / "plain", "CT/")
    files |= {"CT/notes.txt": b"hello", "CT/DICOMDIR": b"x", "__MACOSX/CT/._slice000.dcm": b"\x00" * 50, "inner.zip": b"PK"}
    zpath = _zip(tmp_path / "m.zip", files)
    found = discover(zpath)
    assert [s.n_slices for s in found.series] == [6]
    by_path = {k.path: k for k in found.skipped}
    assert sorted(by_path) == [str(zpath), f"{zpath}!/CT"]
    ct = by_path[f"{zpath}!/CT"]
    assert (ct.kind, ct.n_files) == ("unused", 2)
    assert ct.reason == "1 file(s) that are neither DICOM nor NIfTI, ignored: notes.txt; 1 DICOMDIR index (its files are read directly)"
    top = by_path[str(zpath)]
    assert (top.kind, top.n_files) == ("unused", 2)
    assert "1 hidden file(s)" in top.reason and "__MACOSX/CT/._slice000.dcm" in top.reason
    assert "1 zip archive(s) inside an archive, not opened: inner.zip" in top.reason


@pytest.mark.parametrize("content", [b"this is not a zip at all" * 10, b""], ids=["random", "empty"])
def test_not_really_a_zip(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "bad.zip").write_bytes(content)
    found = discover(tmp_path / "bad.zip")
    (sk,) = found.skipped
    assert (sk.path, sk.kind) == (str(tmp_path / "bad.zip"), "error")
    assert sk.reason == "not a readable zip archive (BadZipFile: File is not a zip file)"
    with pytest.raises(InputError, match=r"bad\.zip: not a readable zip archive"):
        discover(tmp_path / "bad.zip", strict=True)


def test_truncated_zip_and_corrupt_member(tmp_path: Path) -> None:
    write_series(tmp_path / "plain", n=6)
    good = _zip(tmp_path / "good.zip", _tree(tmp_path / "plain"), zipfile.ZIP_STORED)
    (tmp_path / "cut.zip").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    (sk,) = discover(tmp_path / "cut.zip").skipped
    assert sk.kind == "error" and sk.reason.startswith("not a readable zip archive (BadZipFile")
    data = bytearray(good.read_bytes())
    pos = data.find(b"slice003.dcm") + len(b"slice003.dcm") + 300  # inside the first stored member's bytes
    data[pos] ^= 0xFF
    (tmp_path / "crc.zip").write_bytes(bytes(data))
    found = discover(tmp_path / "crc.zip")
    assert [s.n_slices for s in found.series] == [5]
    (bad,) = found.skipped
    assert (bad.path, bad.kind) == (f"{tmp_path / 'crc.zip'}!/slice003.dcm", "error")
    assert bad.reason.startswith("cannot read file: the zip data of this member is corrupt (BadZipFile: Bad CRC-32")


def test_zip_bomb_and_encrypted_members_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_series(tmp_path / "plain", n=4)
    files = _tree(tmp_path / "plain") | {"big.dcm": bytes(5000), "secret/a.dcm": b"x" * 10, "secret/b.dcm": b"y" * 10}
    zpath = _zip(tmp_path / "z.zip", files)
    data = bytearray(zpath.read_bytes())
    for name in (b"secret/a.dcm", b"secret/b.dcm"):  # set the 'encrypted' flag in the central directory
        entry = data.rfind(b"PK\x01\x02", 0, data.rfind(name))
        data[entry + 8] |= 0x01
    zpath.write_bytes(bytes(data))
    monkeypatch.setattr(archive, "MAX_MEMBER_BYTES", 4096)
    found = discover(zpath)
    assert [s.n_slices for s in found.series] == [4]  # the slice files are under the (patched) limit
    errors = {k.path: k for k in found.skipped if k.kind == "error"}
    assert sorted(errors) == [str(zpath), f"{zpath}!/big.dcm"]
    assert errors[f"{zpath}!/big.dcm"].reason.startswith("5000 bytes uncompressed, more than the")
    assert "zip bomb?" in errors[f"{zpath}!/big.dcm"].reason
    enc = errors[str(zpath)]
    assert enc.n_files == 2
    assert enc.reason == "2 member(s) are encrypted (password-protected) and cannot be read: secret/a.dcm, secret/b.dcm"


def test_pixels_after_the_archive_changed(tmp_path: Path) -> None:
    write_series(tmp_path / "plain", n=4)
    zpath = _zip(tmp_path / "z.zip", _tree(tmp_path / "plain"))
    (s,) = discover(zpath).series
    zpath.unlink()
    with pytest.raises(InputError, match=r"z\.zip!/slice00\d\.dcm: cannot read file"):
        s.read_slices([0])
    _zip(zpath, {"other.txt": b"x"})
    with pytest.raises(InputError, match="no longer holds this member"):
        s.read_slices([1])


# ---- DICOMDIR named directly --------------------------------------------------------------------------


def _media(tmp_path: Path, n: int = 5) -> tuple[Path, object]:
    def study_attrs(ds: pydicom.Dataset, i: int) -> None:  # what a DICOMDIR's STUDY record requires
        ds.StudyTime, ds.StudyID = "101500", "1"

    info = write_series(tmp_path / "src", n=n, edit=study_attrs)
    from pydicom.fileset import FileSet

    fs = FileSet()
    for p in info.paths:
        fs.add(pydicom.dcmread(p))
    fs.write(tmp_path / "media")
    return tmp_path / "media" / "DICOMDIR", info


def test_dicomdir_named_directly_reads_the_files_it_lists(tmp_path: Path) -> None:
    dicomdir, info = _media(tmp_path)
    found = discover(dicomdir)
    assert found.skipped == []
    (s,) = found.series
    assert s.n_slices == 5 and s.path.startswith(str(tmp_path / "media"))
    np.testing.assert_array_equal(s.read_slices(), info.hu)  # type: ignore[attr-defined]
    renamed = dicomdir.with_name("INDEX")  # recognised by its SOP Class, whatever its name
    dicomdir.rename(renamed)
    assert [s.n_slices for s in discover(renamed).series] == [5]


def test_dicomdir_listing_a_missing_file(tmp_path: Path) -> None:
    dicomdir, _ = _media(tmp_path)
    victim = next((tmp_path / "media").rglob("IM000002"))
    victim.unlink()
    found = discover(dicomdir)
    assert [s.n_slices for s in found.series] == [4]
    (sk,) = found.skipped
    assert (sk.path, sk.kind, sk.n_files) == (str(dicomdir), "error", 1)
    assert sk.reason == "1 of the 5 file(s) this DICOMDIR lists are missing: PT000000/ST000000/SE000000/IM000002"


def test_dicomdir_in_a_searched_folder_is_counted_not_read(tmp_path: Path) -> None:
    _media(tmp_path)
    found = discover(tmp_path / "media")
    assert [s.n_slices for s in found.series] == [5]
    (sk,) = found.skipped
    assert (sk.path, sk.n_files, sk.reason) == (str(tmp_path / "media"), 1, "1 DICOMDIR index (its files are read directly)")


# ---- nothing dropped silently -------------------------------------------------------------------------


def test_random_file_named_directly(tmp_path: Path) -> None:
    (tmp_path / "photo.jpg").write_bytes(np.random.default_rng(0).bytes(3000))
    (tmp_path / "empty").write_bytes(b"")
    found = discover([tmp_path / "photo.jpg", tmp_path / "empty"])
    assert found.series == []
    assert [(k.path, k.kind, k.n_files) for k in found.skipped] == [
        (str(tmp_path / "photo.jpg"), "skipped", 1),
        (str(tmp_path / "empty"), "skipped", 1),
    ]
    assert found.skipped[0].reason.startswith("not a DICOM or NIfTI file (no 'DICM' marker at byte 128")
    assert found.skipped[1].reason == "not a DICOM or NIfTI file (empty file, 0 bytes)"


def test_folder_with_mixed_junk_is_one_record_per_folder(tmp_path: Path) -> None:
    write_series(tmp_path / "s", n=6)
    for name in ("notes.txt", "a.jpg", "b.pdf", "c.csv", "d.bin", "e.doc"):
        (tmp_path / "s" / name).write_bytes(b"junk " * 40)
    (tmp_path / "s" / ".DS_Store").write_bytes(b"\x00" * 100)
    (tmp_path / "s" / ".git").mkdir()
    (tmp_path / "s" / "sub").mkdir()
    (tmp_path / "s" / "sub" / "readme").write_text("hello")
    found = discover(tmp_path)
    assert [s.n_slices for s in found.series] == [6]
    assert [(k.path, k.kind, k.n_files) for k in found.skipped] == [
        (str(tmp_path / "s"), "unused", 7),
        (str(tmp_path / "s" / "sub"), "unused", 1),
    ]
    assert found.skipped[0].reason == (
        "6 file(s) that are neither DICOM nor NIfTI, ignored: a.jpg, b.pdf, c.csv, d.bin, e.doc, ...; "
        "1 hidden file(s) (name starting with '.'), ignored: .DS_Store; 1 hidden folder(s), not searched: .git"
    )
    assert found.skipped[1].reason == "1 file(s) that are neither DICOM nor NIfTI, ignored: readme"


def test_folder_with_only_junk_is_one_record(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "x.txt").write_text("x")
    (tmp_path / "y.txt").write_text("y")
    (tmp_path / ".hidden").write_text("h")
    (sk,) = discover(tmp_path).skipped
    assert (sk.path, sk.kind, sk.n_files) == (str(tmp_path), "skipped", 3)
    assert sk.reason == (
        "no DICOM or NIfTI files found (2 file(s) that are neither DICOM nor NIfTI, ignored: y.txt, sub/x.txt; "
        "1 hidden file(s) (name starting with '.'), ignored: .hidden)"
    )
    _zip(tmp_path / "empty.zip", {})
    (sk,) = discover(tmp_path / "empty.zip").skipped
    assert (sk.kind, sk.reason) == ("skipped", "no DICOM or NIfTI files found (the archive is empty)")


def test_empty_subfolder_next_to_a_series(tmp_path: Path) -> None:
    write_series(tmp_path / "s", n=6)
    (tmp_path / "later" / "empty").mkdir(parents=True)
    found = discover(tmp_path)
    assert [s.n_slices for s in found.series] == [6]
    (sk,) = found.skipped  # the empty leaf only: its parent holds nothing but it
    assert (sk.path, sk.kind, sk.n_files) == (str(tmp_path / "later" / "empty"), "skipped", 0)
    assert sk.reason == "no DICOM or NIfTI files found (the folder is empty)"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_is_reported_not_opened(tmp_path: Path) -> None:
    write_series(tmp_path / "s", n=6)
    os.mkfifo(tmp_path / "s" / "pipe")
    found = discover(tmp_path)
    assert [s.n_slices for s in found.series] == [6]
    (sk,) = found.skipped
    assert (sk.path, sk.n_files) == (str(tmp_path / "s"), 1)
    assert sk.reason == "1 special file(s) (FIFO, socket or device), not read: pipe"
    (direct,) = discover(tmp_path / "s" / "pipe").skipped
    assert (direct.kind, direct.reason) == ("skipped", "not a regular file (a FIFO): not read")
