"""The simple mode (the default of ``ctphase synth`` and ``generate_dataset``) and the training
stream write exactly what they wrote before realistic studies existed (byte for byte).

The digests were taken before ``--studies realistic`` was added. The header-only digests hold
everywhere; the full ones also hash rendered pixels, which depend on OpenCV's and numpy's float
arithmetic, so they are compared only with the library versions they were taken with.
"""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path

import cv2
import numpy as np
import pydicom
import pytest

from ctphase.synth import generate_dataset, iter_training_slices

VERSIONS = {"numpy": "2.4.6", "cv2": "5.0.0", "pydicom": "3.0.2"}
FULL = {
    "dicom_ds": "b4b211c28b5b8e55cb761afb994bfc9beeb576c48fdd6587d7f558ee10997373",
    "four_phases": "372290559693d3637a726a3f39d0cd880113a5e9ca50ea6dbcf247cb076736de",
    "nifti": "219cdec51c3212d8a2029021bff8454725b93e7d8a22e9238af8abafcad625d5",
    "stream": "7ee9cf30ef7f7ba16219c89ba30fb17ba8d52cc1a79e47beaf3f47ed45b96163",
}
HEADERS = {
    "dicom_ds": "402ee062604b02beb99c0334da7465c9a0d1ed22739783217ec0809dd1651d1e",
    "four_phases": "c911a0180ecb394513e2ef86016813ac64cc4739324d7a316a206d9d41025bad",
}


def tree_digest(root: Path) -> str:
    """sha256 over every file under ``root`` (relative path and bytes), in path order."""
    h = hashlib.sha256()
    for p in sorted(x for x in root.rglob("*") if x.is_file()):
        h.update(p.relative_to(root).as_posix().encode() + b"\0")
        h.update(p.read_bytes())
    return h.hexdigest()


def header_digest(root: Path) -> str:
    """sha256 over the non-DICOM files and every DICOM header without its pixel data, in path order."""
    h = hashlib.sha256()
    for p in sorted(x for x in root.rglob("*") if x.is_file()):
        h.update(p.relative_to(root).as_posix().encode() + b"\0")
        if p.suffix == ".dcm":
            ds = pydicom.dcmread(p)
            del ds.PixelData
            h.update(repr(sorted((str(e.tag), str(e.value)) for e in ds.iterall())).encode())
        else:
            h.update(p.read_bytes())
    return h.hexdigest()


def stream_digest() -> str:
    h = hashlib.sha256()
    for x, lab, pi in itertools.islice(iter_training_slices(3, 64, range(10, 14), slices_per_series=2), 16):
        h.update(x.tobytes() + bytes([lab, pi]))
    return h.hexdigest()


def _same_versions() -> bool:
    return (np.__version__, cv2.__version__, pydicom.__version__) == tuple(VERSIONS.values())


@pytest.fixture(scope="module")
def four_phases(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("simple") / "four"
    generate_dataset(out, 2, seed=1, matrix=32, max_slices=6, first_patient=7)
    return out


def test_simple_headers_unchanged(dicom_ds: Path, four_phases: Path) -> None:
    assert header_digest(dicom_ds) == HEADERS["dicom_ds"]
    assert header_digest(four_phases) == HEADERS["four_phases"]


def test_simple_files_and_stream_unchanged(dicom_ds: Path, four_phases: Path, tmp_path: Path) -> None:
    if not _same_versions():
        pytest.skip(f"pixel digests were taken with {VERSIONS}")
    assert tree_digest(dicom_ds) == FULL["dicom_ds"]
    assert tree_digest(four_phases) == FULL["four_phases"]
    pytest.importorskip("nibabel")
    generate_dataset(tmp_path / "n", 1, seed=2, fmt="nifti", matrix=48, max_slices=12)
    assert tree_digest(tmp_path / "n") == FULL["nifti"]
    assert stream_digest() == FULL["stream"]
