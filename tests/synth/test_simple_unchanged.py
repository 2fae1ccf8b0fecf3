"""The simple mode (the default of ``ctphase synth`` and ``generate_dataset``) and the training
stream write exactly what they wrote before realistic studies existed (byte for byte).

The digests were taken before ``--studies realistic`` was added. Since the uncommon conditions
(:mod:`ctphase.synth.conditions`) were added, every record carries a ``conditions`` list; an empty
one is dropped before hashing, so the digests also prove that patients and series that drew no
condition are written exactly as before (the stream's digest is the one taken before). Each of
the three written fixtures holds one series or patient that drew a condition
(:data:`CONDITIONS_DRAWN`), and those digests were retaken then. The header-only digests hold
everywhere; the full ones also hash rendered pixels, which depend on OpenCV's and numpy's float
arithmetic, so they are compared only with the library versions they were taken with.

Every digest was retaken once more when the engine's physiology changed on purpose (model v2 work:
the iodine dose per kg drawn from 0.55-1.4 instead of 0.75-1.25, which also changes the contrast volume in
the headers, and excreted contrast filling the dependent renal pelvis first); the conditions drawn
stayed the same. The late curves (the nephrogram persisting above the washed-out blood pool in the
delayed and excretory phases) changed the pixels of the ``four_phases`` and ``nifti`` fixtures,
whose venous and other series reach those times; their full digests were retaken, the headers and
the other digests did not change. The chest anatomy of engine v16 (the heart's inferior wall without
blood pool, a flatter diaphragm dome) changed the pixels of every fixture, whose series reach the
diaphragm; all four full digests were retaken, the header digests did not change. Engine v18's
distended stomach (``stomach_distension``, drawn after every other patient draw) is dropped from the
records where it is 0, like an empty ``conditions`` list; the fixtures whose patients drew one
(:data:`DISTENDED`: the ``dicom_ds`` patient and one patient of the stream) had their digests
retaken, the ``four_phases`` and ``nifti`` digests stayed the same. The medullary lag of the engine
after v20 (``medulla_lag_s``, drawn after every other patient draw) is dropped from the records: the
header digests stayed the same, which shows every other draw did; it changes the kidneys' pixels, so
the full digests were retaken then, with the library versions of that day (:data:`VERSIONS`; the
old digests still held under OpenCV 5.1.0, so only the engine moved them). Food in the stomach
(``gastric_food``, drawn after every other patient draw) is dropped from the records where it is 0;
of the fixtures' patients only one of the stream drew it (:data:`FOOD`), and only the stream's
digest was retaken; the header digests and the other full digests stayed the same.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from pathlib import Path

import cv2
import numpy as np
import pydicom
import pytest

from ctphase.synth import generate_dataset, iter_training_slices, patient_params

VERSIONS = {"numpy": "2.4.6", "cv2": "5.1.0", "pydicom": "3.0.2"}
FULL = {
    "dicom_ds": "a73fb8731c00de4377711d288682e071105f2708d85ea4e33edb494b8f6ce697",
    "four_phases": "839f97ff657fed9dc6cd31ee6c6e1d124999e7646fa02791ffa431faaddd5b18",
    "nifti": "26988abcc335be04bb6c20c0dd808f1ed4bba93d36229260d73451631b7d02c7",
    "stream": "398442bce858a4e41cce9b331990e12213ba179c9e00d4a3d718af3d4dce6a27",
}
CONDITIONS_DRAWN = {  # fixture -> (record path, series conditions, patient conditions) of each record with any
    "dicom_ds": [("SYNTH000001/study/01_non_contrast", ["small_fov"], [])],
    "four_phases": [("SYNTH000008/study/01_non_contrast", ["pet_ct"], [])],
    "nifti": [(f"SYNTH000001/study/{s}.nii.gz", [], ["obese"])
              for s in ("01_non_contrast", "02_arterial", "03_venous", "04_other")],
}
DISTENDED = {  # (population seed, patient indices) of each fixture -> the patients with a distended stomach
    "dicom_ds": ((5, range(0, 1)), [0]),
    "four_phases": ((1, range(7, 9)), []),
    "nifti": ((2, range(0, 1)), []),
    "stream": ((3, range(10, 14)), [12]),
}
FOOD = {"dicom_ds": [], "four_phases": [], "nifti": [], "stream": [11]}  # fixture -> patients with food in the stomach
HEADERS = {
    "dicom_ds": "e00647cb7eb1e751e7e361181822096ef42a1fc6181f06ba600c0f9191302d5f",
    "four_phases": "5acfec1f4351162cd89f9971f394e96dd36bad18a7f04d2f372f0995278d0714",
}


def _drop_empty_conditions(record: dict) -> dict:
    """``record`` without the fields added since the digests were taken where they hold their
    neutral value: an empty ``conditions`` list, a ``stomach_distension`` of 0; and without the
    patient's ``medulla_lag_s`` (drawn after every other patient draw, so the rest is as before)."""
    for part in (record, *(v for v in record.values() if isinstance(v, dict))):
        part.pop("medulla_lag_s", None)
        if part.get("conditions") == []:
            del part["conditions"]
        for key in ("stomach_distension", "gastric_food"):
            if part.get(key) == 0.0:
                del part[key]
    return record


def file_bytes(p: Path) -> bytes:
    """The file's bytes, with empty ``conditions`` lists dropped from the JSON records."""
    if p.suffix == ".json" and p.parent.name == "study":
        return json.dumps(_drop_empty_conditions(json.loads(p.read_text())), indent=1).encode()
    if p.suffix == ".jsonl":
        return b"".join(json.dumps(_drop_empty_conditions(json.loads(line))).encode() + b"\n"
                        for line in p.read_text().splitlines())
    return p.read_bytes()


def tree_digest(root: Path) -> str:
    """sha256 over every file under ``root`` (relative path and bytes), in path order."""
    h = hashlib.sha256()
    for p in sorted(x for x in root.rglob("*") if x.is_file()):
        h.update(p.relative_to(root).as_posix().encode() + b"\0")
        h.update(file_bytes(p))
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
            h.update(file_bytes(p))
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


def drawn_conditions(root: Path) -> list[tuple[str, list[str], list[str]]]:
    recs = [json.loads(line) for line in (root / "records.jsonl").read_text().splitlines()]
    return [(r["path"], r["series"]["conditions"], r["patient"]["conditions"]) for r in recs
            if r["series"]["conditions"] or r["patient"]["conditions"]]


def test_fixtures_draw_the_listed_conditions(dicom_ds: Path, four_phases: Path, tmp_path: Path) -> None:
    assert drawn_conditions(dicom_ds) == CONDITIONS_DRAWN["dicom_ds"]
    assert drawn_conditions(four_phases) == CONDITIONS_DRAWN["four_phases"]
    pytest.importorskip("nibabel")
    generate_dataset(tmp_path / "n", 1, seed=2, fmt="nifti", matrix=48, max_slices=12)
    assert drawn_conditions(tmp_path / "n") == CONDITIONS_DRAWN["nifti"]


def test_fixtures_draw_the_listed_distended_stomachs() -> None:
    for (seed, patients), distended in DISTENDED.values():
        assert [i for i in patients if patient_params(seed, i).stomach_distension > 0] == distended


def test_fixtures_draw_the_listed_stomachs_with_food() -> None:
    for name, ((seed, patients), _) in DISTENDED.items():
        assert [i for i in patients if patient_params(seed, i).gastric_food > 0] == FOOD[name]


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
