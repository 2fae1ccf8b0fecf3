"""A corpus of hostile inputs, each with the exact records ``ctphase predict`` must give for it.

Each :class:`Case` builds one input (a folder or a file) under a root and says what every
record coming from it must be: its status, its label class (a phase, ``uncertain`` or none),
its quality flags, and a fragment of its message (the error, or one of the warnings). The
corpus is built once per test session by :func:`build`; see tests/test_hostile_inputs.py.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np
from dicom_factory import CORONAL, RLELossless, default_hu, truncate, write_enhanced_ct, write_series, write_sr

PHASE = "phase"  # any of the four phases
UNCERTAIN = "uncertain"


@dataclass(frozen=True)
class Expect:
    """One record: status, label class (PHASE, UNCERTAIN or None), exact qc flags, a message fragment."""

    status: str
    label: str | None = None
    qc: frozenset[str] = frozenset()
    message: str = ""


def ok(*qc: str, message: str = "") -> Expect:
    return Expect("ok", PHASE, frozenset(qc), message)


def uncertain(*qc: str, message: str = "") -> Expect:
    return Expect("ok", UNCERTAIN, frozenset(qc), message)


def skipped(message: str) -> Expect:
    return Expect("skipped", None, frozenset(), message)


def error(message: str) -> Expect:
    return Expect("error", None, frozenset(), message)


@dataclass
class Case:
    """One hostile input: ``build(path)`` creates it at ``path`` (and returns the path to name)."""

    name: str
    build: Callable[[Path], Path]
    expect: list[Expect] = field(default_factory=list)


def _series(**kw: object) -> Callable[[Path], Path]:
    def build(p: Path) -> Path:
        write_series(p, **kw)  # type: ignore[arg-type]
        return p

    return build


def _nifti(data: np.ndarray, sform: np.ndarray | None = None, *, no_orientation: bool = False) -> Callable[[Path], Path]:
    def build(p: Path) -> Path:
        p.mkdir(parents=True)
        img = nib.Nifti1Image(data, None if no_orientation else np.diag([0.8, 0.8, 2.5, 1.0]))  # None: codes 0
        if sform is not None:
            img.set_sform(sform, code=1)
            img.set_qform(None, code=0)
        f = p / "ct.nii.gz"
        nib.save(img, f)
        return f

    return build


def _body(n: int = 12) -> np.ndarray:
    """A body-like volume in NIfTI voxel order (x, y, z)."""
    return np.ascontiguousarray(default_hu(n, 32, 32).transpose(2, 1, 0)).astype(np.int16)


def _with(build: Callable[[Path], Path], then: Callable[[Path], None]) -> Callable[[Path], Path]:
    def run(p: Path) -> Path:
        out = build(p)
        then(p)
        return out

    return run


def _bytes(name: str, data: bytes) -> Callable[[Path], Path]:
    def build(p: Path) -> Path:
        p.mkdir(parents=True)
        (p / name).write_bytes(data)
        return p / name

    return build


def _truncate_one(index: int, keep: int) -> Callable[[Path], None]:
    return lambda p: truncate(sorted(p.glob("*.dcm"))[index], keep)


def _two_series_one_uid(p: Path, **second: object) -> None:
    import pydicom

    first = pydicom.dcmread(sorted(p.glob("*.dcm"))[0], stop_before_pixels=True)
    write_series(p, n=10, names="b{i:03d}.dcm", seed=9, study_uid=first.StudyInstanceUID,
                 series_uid=first.SeriesInstanceUID, **second)  # type: ignore[arg-type]


def _symlink_loop(p: Path) -> Path:
    write_series(p, n=10)
    os.symlink(p, p / "loop")
    os.symlink(p / "missing_target", p / "dangling")
    return p


def _kernel(value: str) -> Callable[..., None]:
    return lambda ds, i: setattr(ds, "ConvolutionKernel", value)


def _spacing_edit(ds, i):  # noqa: ANN001
    if i % 2:
        ds.PixelSpacing = ["0.7", "0.7"]


def _drop(keyword: str) -> Callable[..., None]:
    return lambda ds, i: delattr(ds, keyword) if keyword in ds else None


def _no_position(ds, i):  # noqa: ANN001
    del ds.ImagePositionPatient
    if "SliceLocation" in ds:
        del ds.SliceLocation


ZEROS = np.zeros((10, 32, 32))
CLIPPED = np.clip(default_hu(10, 32, 32), 0, 2000)


def cases() -> list[Case]:
    """Every hostile case with its expected records."""
    return [
        Case("good_axial", _series(n=20), [ok()]),
        Case("shuffled_nested_noext", _series(n=15, shuffle=True, nested=True, names=lambda i: f"IM{i * 7 % 15:05d}"), [ok()]),
        Case("unicode_ÄÖÜ_名前", _series(n=10), [ok()]),
        Case("int16_signed", _series(n=10, dtype="int16", intercept=0.0), [ok()]),
        Case("padding_values", _series(n=10, padding_value=0, hu=np.where(default_hu(10, 32, 32) < -900, -2000, default_hu(10, 32, 32))), [ok()]),
        Case("rle_compressed", _series(n=10, transfer_syntax=RLELossless), [ok()]),
        Case("all_zero_pixels", _series(hu=ZEROS), [uncertain("blank_images", message="constant")]),
        Case("clipped_0_2000", _series(hu=CLIPPED), [uncertain("implausible_hu", message="no fat or air")]),
        Case("lost_rescale", _series(hu=default_hu(10, 32, 32) + 1024, rescale=False), [uncertain("missing_rescale", "implausible_hu", message="no fat or air")]),
        Case("inconsistent_spacing", _series(n=10, edit=_spacing_edit), [ok("inconsistent_spacing", message="pixel spacing differs")]),
        Case("gap", _series(positions=[0, 2.5, 5, 7.5, 10, 20, 22.5, 25, 27.5, 30]), [ok("slice_gaps", message="gap of 10.0 mm")]),
        Case("three_slices", _series(n=3), [ok("few_slices", message="only 3 slice(s)")]),
        Case("one_slice", _series(n=1), [ok("few_slices", message="only 1 slice(s)")]),
        Case("no_orientation_dicom", _series(n=10, edit=_drop("ImageOrientationPatient")), [ok("no_orientation", message="ImageOrientationPatient missing")]),
        Case("no_series_uid", _series(n=10, edit=_drop("SeriesInstanceUID")), [ok(message="SeriesInstanceUID missing")]),
        Case("no_position", _series(n=10, edit=_no_position), [error("neither ImagePositionPatient nor SliceLocation")]),
        Case("truncated_file_in_series", _with(_series(n=10), _truncate_one(4, -10)), [ok("unreadable_files", "slice_gaps", message="file is truncated")]),
        Case("truncated_alone", _with(_series(n=1), _truncate_one(0, -100)), [error("truncated")]),
        Case("truncated_header", _with(_series(n=1), _truncate_one(0, 300)), [error("truncated")]),
        Case("empty_file", _bytes("empty.dcm", b""), [error("")]),
        Case("random_bytes_named_dcm", _bytes("noise.dcm", np.random.default_rng(1).bytes(5000)), [error("not a DICOM file")]),
        Case("dicm_marker_only", _bytes("marker.dcm", b"\0" * 128 + b"DICM"), [error("incomplete DICOM file")]),
        Case("no_pixel_data", _series(n=1, edit=_drop("PixelData")), [error("no PixelData element")]),
        Case("mr_series", _series(n=10, modality="MR", sop_class="1.2.840.10008.5.1.4.1.1.4"), [skipped("not CT (Modality MR")]),
        Case("localizer", _series(n=2, image_type=("ORIGINAL", "PRIMARY", "LOCALIZER"), orientation=CORONAL), [skipped("localizer")]),
        Case("sr_object", lambda p: write_sr(p / "report.dcm").parent, [skipped("without pixel data")]),
        Case("coronal_stack", _series(n=10, orientation=CORONAL), [ok(message="axial planes resliced from 10 non-axial images")]),
        Case("coronal_without_positions", _series(n=10, orientation=CORONAL, edit=_no_position), [skipped("non-axial stack")]),
        Case("stray_coronal_in_axial", _with(_series(n=10), lambda p: _two_series_one_uid_coronal(p)), [ok(message="left out 1 coronal")]),
        Case("two_kernels_one_uid", _with(_series(n=10, edit=_kernel("STANDARD")), lambda p: _two_series_one_uid(p, edit=_kernel("BONE"))),
             [ok(message="ConvolutionKernel=BONE"), ok(message="ConvolutionKernel=STANDARD")]),
        Case("extra_image_same_position", _with(_series(n=10), lambda p: _two_series_one_uid(p, positions=[7.5])),
             [error("nothing separates them")]),
        Case("exact_duplicate_file", _with(_series(n=10), lambda p: (p / "copy.dcm").write_bytes(sorted(p.glob("slice*.dcm"))[3].read_bytes())),
             [ok(message="dropped 1 duplicate file(s)")]),
        Case("two_acquisitions", _with(_series(n=10, acquisition=1), lambda p: _two_series_one_uid(p, acquisition=2)),
             [ok(message=""), ok(message="")]),
        Case("symlink_loop_and_dangling", _symlink_loop, [ok(), error("broken symbolic link"), skipped("symbolic link(s) to folders, not followed")]),
        Case("empty_folder", lambda p: (p.mkdir(parents=True), p)[1], [skipped("the folder is empty")]),
        Case("nifti_good", _nifti(_body()), [ok()]),
        Case("nifti_nan_voxels", _nifti(np.where(np.arange(32)[:, None, None] < 3, np.nan, _body().astype(np.float32))), [ok()]),
        Case("nifti_no_orientation", _nifti(_body(), no_orientation=True), [ok("no_orientation", message="no orientation")]),
        Case("nifti_4d", _nifti(np.zeros((8, 8, 10, 3), np.int16)), [error("holds 3 volumes")]),
        Case("nifti_2d", _nifti(np.zeros((8, 8), np.int16)), [error("2D image")]),
        Case("nifti_broken", _bytes("broken.nii", b"\0" * 100), [error("not a readable NIfTI")]),
        Case("nifti_zeros", _nifti(np.zeros((16, 16, 10), np.int16)), [uncertain("blank_images")]),
        Case("zip_of_dicom_series", _zipped(_series(n=12, nested=True)), [ok()]),
        Case("zip_of_nifti", _zipped(_nifti(_body()), members="vols/"), [ok()]),
        Case("zip_of_enhanced_ct", _zipped(_enhanced), [ok()]),
        Case("zip_corrupt", _bytes("broken.zip", b"PK\x03\x04" + np.random.default_rng(4).bytes(500)), [error("")]),
        Case("zip_with_junk_member", _zipped(_junk), [ok(), skipped("neither DICOM nor NIfTI")]),
        Case("dicomdir_named_directly", _dicomdir, [ok()]),
        Case("enhanced_ct_multiframe", _enhanced, [ok()]),
        Case("random_file_named_directly", _bytes("photo.jpg", np.random.default_rng(5).bytes(3000)), [skipped("not a DICOM or NIfTI file")]),
        Case("folder_with_junk", _junk, [ok(), skipped("neither DICOM nor NIfTI")]),
        Case("nifti_singular_affine", _nifti(_body(), np.diag([0.8, 0.8, 0.0, 1.0])), [error("singular")]),
    ]


def _zipped(inner: Callable[[Path], Path], members: str = "") -> Callable[[Path], Path]:
    """``inner`` built in a scratch folder, then zipped (nested paths kept) into ``p/archive.zip``."""

    def build(p: Path) -> Path:
        scratch = p.parent / f".{p.name}.src"
        inner(scratch)
        p.mkdir(parents=True)
        z = p / "archive.zip"
        with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
            for f in sorted(scratch.rglob("*")):
                if f.is_file():
                    zf.write(f, f"{members}{f.relative_to(scratch)}")
        for f in sorted(scratch.rglob("*"), reverse=True):
            f.unlink() if f.is_file() else f.rmdir()
        scratch.rmdir()
        return z

    return build


def _dicomdir(p: Path) -> Path:
    import pydicom
    from pydicom.fileset import FileSet

    src = p.parent / f".{p.name}.src"
    info = write_series(src, n=10, edit=lambda ds, i: (setattr(ds, "StudyTime", "101500"), setattr(ds, "StudyID", "1")))
    fs = FileSet()
    for f in info.paths:
        fs.add(pydicom.dcmread(f))
    fs.write(p)
    for f in info.paths:
        f.unlink()
    src.rmdir()
    return p / "DICOMDIR"


def _enhanced(p: Path) -> Path:
    p.mkdir(parents=True)
    write_enhanced_ct(p / "enhanced.dcm", n=12, shuffle=True)
    return p


def _junk(p: Path) -> Path:
    write_series(p / "series", n=10)
    (p / "notes.txt").write_text("scanned on Tuesday")
    (p / "photo.jpg").write_bytes(np.random.default_rng(3).bytes(2000))
    (p / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    return p


def _two_series_one_uid_coronal(p: Path) -> None:
    import pydicom

    first = pydicom.dcmread(sorted(p.glob("*.dcm"))[0], stop_before_pixels=True)
    write_series(p, n=1, orientation=CORONAL, names="coronal{i}.dcm", study_uid=first.StudyInstanceUID,
                 series_uid=first.SeriesInstanceUID, image_type=("DERIVED", "SECONDARY", "REFORMATTED"))


def build(root: Path) -> dict[str, Path]:
    """Build every case under ``root``; returns the path to name for each case."""
    return {c.name: c.build(root / c.name) for c in cases()}
