"""A corpus of broken and unclassifiable inputs next to good series: each gets its documented reason.

Unreadable files: tests run as root here, where ``chmod 000`` does not stop reading, so the
corpus uses a broken symbolic link named like a DICOM file (always fails to open); the
``chmod 000`` case runs only as non-root, and a PermissionError is also simulated.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from dicom_factory import CORONAL, truncate, write_series, write_sr

from ctphase.errors import DicomReadError, InputError, NiftiReadError, SeriesError
from ctphase.io import Discovery, Skipped, discover, load_series


@dataclass
class Corpus:
    root: Path
    found: Discovery
    good: dict[str, object]

    def skipped_at(self, rel: str) -> list[Skipped]:
        p = str(self.root / rel)
        return [s for s in self.found.skipped if s.path == p]

    def one(self, rel: str) -> Skipped:
        hits = self.skipped_at(rel)
        assert len(hits) == 1, (rel, hits)
        return hits[0]

    def series_at(self, rel: str):
        hits = [s for s in self.found.series if s.path == str(self.root / rel)]
        assert len(hits) == 1, (rel, [s.path for s in self.found.series])
        return hits[0]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    root = tmp_path_factory.mktemp("corpus")
    good: dict[str, object] = {}
    good["good1"] = write_series(root / "good1", n=10, shuffle=True, nested=True, names="{i}")
    good["good2"] = write_series(root / "good2", n=9, dtype="int16", intercept=0.0, seed=2)

    # truncated inside the pixel data, alone in its folder
    t = write_series(root / "truncated", n=1)
    truncate(t.paths[0], -100)
    # truncated inside the header
    h = write_series(root / "truncated_header", n=1)
    truncate(h.paths[0], 300)
    # one truncated file inside an otherwise good series
    good["with_bad_file"] = write_series(root / "with_bad_file", n=10)
    truncate(good["with_bad_file"].paths[4], -10)  # type: ignore[attr-defined]

    def no_pixels(ds, i):
        del ds.PixelData

    write_series(root / "no_pixeldata", n=1, edit=no_pixels)

    good["no_rescale"] = write_series(root / "no_rescale", n=8, rescale=False, dtype="int16")
    write_series(root / "mr", n=10, modality="MR", sop_class="1.2.840.10008.5.1.4.1.1.4")
    write_series(root / "localizer", n=2, image_type=("ORIGINAL", "PRIMARY", "LOCALIZER"), orientation=CORONAL)
    write_sr(root / "sr" / "report.dcm")
    write_series(root / "single", n=1)
    (root / "random").mkdir()
    (root / "random" / "image.dcm").write_bytes(np.random.default_rng(1).bytes(5000))
    (root / "random" / "blob").write_bytes(np.random.default_rng(2).bytes(5000))  # ignored: not named DICOM
    (root / "empty_folder").mkdir()
    (root / "unreadable").mkdir()
    os.symlink(root / "unreadable" / "gone.dcm", root / "unreadable" / "slice1.dcm")

    # 4D NIfTI and a good NIfTI
    (root / "nifti").mkdir()
    nib.save(nib.Nifti1Image(np.zeros((8, 8, 10, 3), np.int16), np.eye(4)), root / "nifti" / "dyn.nii.gz")
    nib.save(nib.Nifti1Image(np.zeros((16, 16, 12), np.int16), np.eye(4)), root / "nifti" / "ok.nii.gz")
    (root / "nifti" / "broken.nii").write_bytes(b"\x00" * 100)

    # duplicates: another image at the same position -> error; the same image twice -> warning
    d = write_series(root / "dup_conflict", n=10)
    write_series(
        root / "dup_conflict",
        positions=[d.positions[3]],
        study_uid=d.study_uid,
        series_uid=d.series_uid,
        names="extra{i}.dcm",
        seed=7,
    )
    good["dup_copy"] = write_series(root / "dup_copy", n=10)
    (root / "dup_copy" / "copy_of_slice003.dcm").write_bytes(good["dup_copy"].paths[3].read_bytes())  # type: ignore[attr-defined]

    # gap: positions 0..4 * 2.5, then a 10 mm jump
    good["gap"] = write_series(root / "gap", positions=[0, 2.5, 5, 7.5, 10, 20, 22.5, 25, 27.5, 30])

    # a coronal reformat image inside an axial series (as in the rctt2022 real data)
    r = write_series(root / "reformat", n=10)
    good["reformat"] = r
    write_series(
        root / "reformat",
        n=1,
        orientation=CORONAL,
        study_uid=r.study_uid,
        series_uid=r.series_uid,
        names="coronal{i}.dcm",
        image_type=("DERIVED", "SECONDARY", "REFORMATTED"),
    )
    write_series(root / "coronal_stack", n=10, orientation=CORONAL)
    found = discover(root, min_slices=8)
    return Corpus(root, found, good)


def test_good_series_found_with_exact_hu(corpus: Corpus) -> None:
    for name in ("good1", "good2", "no_rescale", "dup_copy", "gap", "reformat"):
        s = corpus.series_at(name)
        info = corpus.good[name]
        assert s.n_slices == len(info.paths), name  # type: ignore[attr-defined]
        assert np.all(np.diff(s.slice_positions) > 0)
        np.testing.assert_array_equal(s.read_slices(), info.hu, err_msg=name)  # type: ignore[attr-defined]
    paths = {s.path for s in corpus.found.series}
    assert paths == {
        str(corpus.root / n)
        for n in ("good1", "good2", "with_bad_file", "no_rescale", "dup_copy", "gap", "reformat")
    } | {str(corpus.root / "nifti" / "ok.nii.gz")}


def test_every_skip_names_its_path_and_no_patient_data(corpus: Corpus) -> None:
    for s in corpus.found.skipped:
        assert s.path.startswith(str(corpus.root)), s
        assert s.kind in ("skipped", "error", "unused")
        assert "Traceback" not in s.reason and "SECRET" not in s.reason
    for s in corpus.found.series:
        assert not any("SECRET" in w for w in s.warnings)


def test_truncated_pixel_data(corpus: Corpus) -> None:
    (sk,) = corpus.skipped_at("truncated/slice000.dcm")
    assert sk.kind == "error"
    assert "file is truncated: PixelData declares 2048 bytes but only 1948 are present" == sk.reason
    assert sk.series_uid is not None


def test_truncated_header(corpus: Corpus) -> None:
    sk = corpus.one("truncated_header/slice000.dcm")
    assert sk.kind == "error" and "truncated" in sk.reason and "header" in sk.reason


def test_truncated_file_inside_good_series(corpus: Corpus) -> None:
    assert corpus.skipped_at("with_bad_file/slice004.dcm") == []  # one record per series: the file is on it
    s = corpus.series_at("with_bad_file")
    assert s.n_slices == 9 and "unreadable_files" in s.qc
    assert any("could not be read and are left out: slice004.dcm" in w for w in s.warnings)
    assert any(w.startswith("slice004.dcm: file is truncated") for w in s.warnings)
    assert any("gap of 5.0 mm between slices 3 and 4" in w for w in s.warnings)


def test_missing_pixel_data(corpus: Corpus) -> None:
    sk = corpus.one("no_pixeldata/slice000.dcm")
    assert sk.kind == "error"
    assert sk.reason == "no PixelData element (7FE0,0010): the CT image file is incomplete"


def test_missing_rescale_is_a_warning(corpus: Corpus) -> None:
    s = corpus.series_at("no_rescale")
    assert any("RescaleSlope/RescaleIntercept missing in 8 file(s)" in w and "slope 1, intercept 0" in w for w in s.warnings)


def test_mr_is_skipped(corpus: Corpus) -> None:
    sk = corpus.one("mr")
    assert sk.kind == "skipped" and sk.n_files == 10
    assert sk.reason.startswith("not CT (Modality MR, SOP Class MR Image Storage)")


def test_localizer_is_skipped(corpus: Corpus) -> None:
    sk = corpus.one("localizer")
    assert sk.kind == "skipped" and "localizer/scout image(s), ImageType contains LOCALIZER" in sk.reason


def test_sr_is_skipped_as_non_image(corpus: Corpus) -> None:
    sk = corpus.one("sr")
    assert sk.kind == "skipped"
    assert sk.reason == "non-image object(s) without pixel data (Modality SR, SOP Class Basic Text SR Storage)"


def test_single_slice_is_too_few(corpus: Corpus) -> None:
    sk = corpus.one("single")
    assert sk.kind == "skipped" and sk.reason == "only 1 slice(s), fewer than min_slices=8"


def test_random_bytes_named_dcm(corpus: Corpus) -> None:
    sk = corpus.one("random/image.dcm")
    assert sk.kind == "error" and sk.reason.startswith("not a DICOM file: no 'DICM' marker at byte 128")
    assert corpus.skipped_at("random/blob") == []  # unnamed junk is ignored silently


def test_unreadable_file(corpus: Corpus) -> None:
    sk = corpus.one("unreadable/slice1.dcm")
    assert sk.kind == "error" and "cannot read file: broken symbolic link" in sk.reason


def test_nifti_4d_and_broken(corpus: Corpus) -> None:
    sk = corpus.one("nifti/dyn.nii.gz")
    assert sk.kind == "error" and "4D image of shape (8, 8, 10, 3) holds 3 volumes" in sk.reason
    sk = corpus.one("nifti/broken.nii")
    assert sk.kind == "error" and sk.reason.startswith("not a readable NIfTI file")


def test_duplicate_position_conflict_is_an_error(corpus: Corpus) -> None:
    sk = corpus.one("dup_conflict")
    assert sk.kind == "error"
    assert "two different images at the same slice position -32.50 mm" in sk.reason
    assert "extra0.dcm" in sk.reason and "slice003.dcm" in sk.reason
    assert sk.n_files == 11


def test_exact_duplicate_file_dropped_with_warning(corpus: Corpus) -> None:
    s = corpus.series_at("dup_copy")
    assert s.n_slices == 10
    assert any("dropped 1 duplicate file(s)" in w and "same SOPInstanceUID" in w for w in s.warnings)


def test_gap_warning(corpus: Corpus) -> None:
    s = corpus.series_at("gap")
    (w,) = s.warnings
    assert w.startswith("gap of 10.0 mm between slices 4 and 5 (at -30.0 -> -20.0 mm); median spacing 2.50 mm")


def test_coronal_reformat_inside_axial_series(corpus: Corpus) -> None:
    s = corpus.series_at("reformat")
    assert s.n_slices == 10
    assert s.warnings == ["left out 1 coronal image(s) of 32x32 pixels with a different orientation or size: coronal0.dcm"]
    assert corpus.skipped_at("reformat") == []  # one record per series: the left-out image is not a second one


def test_coronal_stack(corpus: Corpus) -> None:
    sk = corpus.one("coronal_stack")
    assert sk.kind == "skipped"
    assert sk.reason.startswith("non-axial stack: 10 coronal image(s) of 32x32 pixels (slice normal 90 deg from the z axis)")


def test_empty_folder(tmp_path: Path) -> None:
    found = discover(tmp_path)
    assert found.series == []
    (sk,) = found.skipped
    assert sk.path == str(tmp_path) and sk.reason == "no DICOM or NIfTI files found (the folder is empty)"
    (tmp_path / "notes.txt").write_text("hello")
    (sk,) = discover(tmp_path).skipped  # one record, naming the file (not a second one for the folder's junk)
    assert sk.reason == "no DICOM or NIfTI files found (1 file(s) that are neither DICOM nor NIfTI, ignored: notes.txt)"
    assert sk.n_files == 1
    with pytest.raises(SeriesError, match="no classifiable CT series here"):
        load_series(tmp_path)


def test_missing_path(tmp_path: Path) -> None:
    found = discover(tmp_path / "nope")
    assert found.skipped[0].reason == "path does not exist" and found.skipped[0].kind == "error"
    with pytest.raises(InputError, match="nope: path does not exist"):
        load_series(tmp_path / "nope")


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads files whatever their mode")
def test_chmod_000_file(tmp_path: Path) -> None:
    info = write_series(tmp_path / "s", n=9)
    os.chmod(info.paths[0], 0)
    try:
        found = discover(tmp_path)
    finally:
        os.chmod(info.paths[0], 0o644)
    sk = [s for s in found.skipped if s.kind == "error"]
    assert sk and sk[0].reason == "cannot read file: permission denied"
    assert found.series[0].n_slices == 8


def test_permission_error_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Simulated EACCES (root ignores chmod 000)."""
    import builtins

    info = write_series(tmp_path / "s", n=9)
    bad = str(info.paths[2])
    real_open = builtins.open

    def guarded(file, *a, **k):
        if str(file) == bad:
            raise PermissionError(13, "Permission denied", bad)
        return real_open(file, *a, **k)

    monkeypatch.setattr(builtins, "open", guarded)
    found = discover(tmp_path)
    (sk,) = found.skipped
    assert (sk.path, sk.reason, sk.kind) == (bad, "cannot read file: permission denied", "error")
    assert found.series[0].n_slices == 8


def test_strict_raises_first_error(corpus: Corpus) -> None:
    with pytest.raises(InputError) as exc:
        discover(corpus.root, strict=True)
    assert str(exc.value).startswith(str(corpus.root))


def test_load_series_raises_typed_errors(corpus: Corpus) -> None:
    with pytest.raises(DicomReadError, match="file is truncated"):
        load_series(corpus.root / "truncated")
    with pytest.raises(NiftiReadError, match="4D image"):
        load_series(corpus.root / "nifti" / "dyn.nii.gz")
    with pytest.raises(SeriesError, match="two different images at the same slice position"):
        load_series(corpus.root / "dup_conflict")
    with pytest.raises(SeriesError, match=r"no classifiable CT series here: not CT \(Modality MR"):
        load_series(corpus.root / "mr")
    s = load_series(corpus.root / "with_bad_file")
    assert s.n_slices == 9


def test_min_slices_argument(tmp_path: Path) -> None:
    write_series(tmp_path / "s", n=5)
    assert discover(tmp_path, min_slices=8).series == []
    assert discover(tmp_path, min_slices=5).series[0].n_slices == 5
    assert discover(tmp_path).series[0].n_slices == 5  # io's own default keeps every stack
    with pytest.raises(SeriesError, match="min_slices must be >= 1"):
        discover(tmp_path, min_slices=0)


def test_truncated_compressed_file(tmp_path: Path) -> None:
    from dicom_factory import RLELossless

    info = write_series(tmp_path / "s", n=9, transfer_syntax=RLELossless)
    truncate(info.paths[0], -30)
    found = discover(tmp_path)
    assert found.skipped == []  # the broken file is reported on its series
    (s,) = found.series
    assert s.n_slices == 8 and "unreadable_files" in s.qc
    name = info.paths[0].name
    assert f"{name}: file is truncated: the encapsulated (compressed) PixelData has no end delimiter" in s.warnings


@pytest.mark.parametrize("cut", range(1, 13))
def test_file_ending_inside_the_pixel_data_element_header(tmp_path: Path, cut: int) -> None:
    """Every cut within the PixelData element's tag, VR and length is a named error, never a crash."""
    info = write_series(tmp_path / "s", n=10, seed=1)
    data = info.paths[2].read_bytes()
    pos = data.rfind(b"\xe0\x7f\x10\x00")  # (7FE0,0010), little endian
    info.paths[2].write_bytes(data[: pos + cut])
    found = discover([tmp_path / "s"], min_slices=1)
    (s,) = found.series
    assert s.n_slices == 9
    on_series = [w for w in s.warnings if w.startswith(f"{info.paths[2].name}: file is truncated")]
    alone = [k for k in found.skipped if k.path == str(info.paths[2]) and "truncated" in k.reason and k.kind == "error"]
    # reported once: on its series when the header told which series it belongs to, else as its own record
    assert len(on_series) + len(alone) == 1 and len(found.skipped) == len(alone)
