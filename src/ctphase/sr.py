"""DICOM Comprehensive SR output: one structured report per classified DICOM series (``predict --sr-out``, ``--sr-store``).

Each report is a new series in the source study (same StudyInstanceUID; the patient and study
module attributes are copied from the first source file, as DICOM requires: the file carries
the patient identity of its study, which ctphase never prints). It references the source
series and the instances whose slices were classified (``used_indices``; every instance of
the stack for a reformat classified from resliced planes) and holds:

- the final phase as a coded concept, concept name DCM 109058 "Contrast Phase" (DICOM PS3.16,
  DCM coding scheme), with the image, study and header labels beside it;
- the calibrated probability of each phase and the confidence, as numeric items (UCUM "1");
- for a model with subphase and seconds heads: the fine subphase (coded, :data:`SCHEME`) and the
  seconds after the start of injection with its 80% interval (numeric items, UCUM "s");
- the model as the device observer (TID 1004) and its identity as the algorithm (TID 4019:
  name, ctphase version, checkpoint sha256);
- "research use only, not for clinical use", as a text item and in the SeriesDescription.

Codes: no standard code set matches ctphase's four classes (``other`` covers delayed and
other late phases; RadLex RID11081 "Delayed phase", used by DICOM CID 6346, is narrower), so
the phase values and the per-phase item names use the private coding scheme designator
``99CTPHASE`` (:data:`PHASE_CODES`). Needs highdicom: ``pip install "ctphase[sr]"``.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import CTPhaseError
from .extras import SR_HINT, require
from .prediction import STATUS_OK, UNCERTAIN, ScanPrediction

SCHEME = "99CTPHASE"
"""Private coding scheme designator of ctphase's own codes."""
PHASE_CODES: dict[str, tuple[str, str]] = {
    "non_contrast": ("NONCON", "Non-contrast phase"),
    "arterial": ("ARTERIAL", "Arterial phase"),
    "venous": ("VENOUS", "Venous phase"),
    "other": ("OTHER", "Other phase (delayed or other)"),
    UNCERTAIN: ("UNCERTAIN", "Uncertain phase"),
}
"""Label -> (code value, code meaning) in :data:`SCHEME`."""
SUBPHASE_CODES: dict[str, tuple[str, str]] = {
    "non_contrast": ("SUB_NONCON", "Non-contrast"),
    "early_arterial": ("SUB_EARLY_ART", "Early arterial"),
    "late_arterial": ("SUB_LATE_ART", "Late arterial"),
    "portal_venous": ("SUB_PORTAL_VEN", "Portal venous"),
    "nephrographic": ("SUB_NEPHRO", "Nephrographic"),
    "transitional": ("SUB_TRANSIT", "Transitional"),
    "equilibrium": ("SUB_EQUILIB", "Equilibrium"),
    "excretory": ("SUB_EXCRETORY", "Excretory"),
}
"""Fine subphase -> (code value, code meaning) in :data:`SCHEME` (values within the 16 characters of CodeValue)."""
SERIES_DESCRIPTION = "ctphase phase (research use only)"
DISCLAIMER = ("Research use only: not for clinical use. Contrast phase estimated automatically by ctphase; "
              "not reviewed by a physician.")
SERIES_NUMBER = 990


def sr_filename(prediction: ScanPrediction) -> Path:
    """``<study8>/<series8>.dcm``: short anonymous ids (hashes of the study UID and of the series id)."""
    study = hashlib.sha256((prediction.study_uid or "").encode()).hexdigest()[:8]
    series = hashlib.sha256(prediction.series_id.encode()).hexdigest()[:8]
    return Path(study) / f"{series}.dcm"


def _code(value: str, meaning: str, scheme: str = SCHEME) -> Any:
    from highdicom.sr import CodedConcept

    return CodedConcept(value=value, scheme_designator=scheme, meaning=meaning)


def _phase(label: str) -> Any:
    value, meaning = PHASE_CODES[label]
    return _code(value, meaning)


def _instances(prediction: ScanPrediction, headers: Sequence[Any]) -> list[tuple[str, str, list[int]]]:
    """``(sop_class, sop_uid, frames)`` of the classified slices (all, when indices do not map to the stack)."""
    indices = prediction.used_indices if prediction.n_slices == len(headers) else range(len(headers))
    found: dict[str, tuple[str, list[int]]] = {}
    for i in sorted(set(indices)):
        h = headers[i]
        uid, _, frame = h.sop_uid.partition("#")
        sop_class, frames = found.setdefault(uid, (h.sop_class, []))
        if frame:
            frames.append(int(frame))
    return [(c, uid, frames) for uid, (c, frames) in found.items()]


_TYPE2 = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
          "ReferringPhysicianName", "StudyID", "AccessionNumber")


def _evidence(headers: Sequence[Any], refs: list[tuple[str, str, list[int]]]) -> list[Any]:
    """The source datasets: the first classified file's header (patient and study), then minimal stubs."""
    import pydicom
    from pydicom.dataset import Dataset

    first = next(h for h in headers if h.sop_uid.partition("#")[0] == refs[0][1])
    with first.open_file() as fh:  # the file, an archive member, or a DICOMweb instance
        source = pydicom.dcmread(fh, stop_before_pixels=True)
    for keyword in _TYPE2:  # empty when the source lacks them (Type 2 in the SR's patient and study modules)
        if keyword not in source:
            setattr(source, keyword, None)
    out = [source]
    for sop_class, uid, _ in refs[1:]:
        ds = Dataset()
        ds.SOPClassUID, ds.SOPInstanceUID = sop_class, uid
        ds.StudyInstanceUID, ds.SeriesInstanceUID = source.StudyInstanceUID, source.SeriesInstanceUID
        out.append(ds)
    return out


def _content(prediction: ScanPrediction, refs: list[tuple[str, str, list[int]]], model_name: str,
             version: str) -> Any:
    """The content tree: observer, disclaimer, algorithm, phase (with its source images), labels, numbers."""
    from highdicom.sr import (
        AlgorithmIdentification, CodeContentItem, ContainerContentItem, DeviceObserverIdentifyingAttributes,
        ImageContentItem, NumContentItem, ObserverContext, TextContentItem,
    )
    from pydicom.sr.codedict import codes
    from pydicom.uid import generate_uid

    sha = prediction.model_sha256 or "unknown"
    root = ContainerContentItem(name=_code("REPORT", "CT contrast phase classification"))
    device = DeviceObserverIdentifyingAttributes(
        uid=generate_uid(entropy_srcs=["ctphase", sha]), name="ctphase", manufacturer_name="ctphase",
        model_name=model_name[:64])
    items: list[Any] = list(ObserverContext(codes.DCM.Device, device))
    items.append(TextContentItem(codes.DCM.Comment, DISCLAIMER, relationship_type="CONTAINS"))
    items.extend(AlgorithmIdentification(model_name[:64], version, parameters=[f"sha256={sha}"]))
    phase = CodeContentItem(codes.DCM.ContrastPhase, _phase(prediction.label or UNCERTAIN), relationship_type="CONTAINS")
    phase.ContentSequence = [
        ImageContentItem(codes.SCT.Source, c, uid, referenced_frame_numbers=frames or None,
                         relationship_type="INFERRED FROM")
        for c, uid, frames in refs
    ]
    items.append(phase)
    for key, meaning in (("image_label", "Phase from the images"), ("study_label", "Phase after the study step"),
                         ("header_label", "Phase from the DICOM headers")):
        label = getattr(prediction, key)
        if label in PHASE_CODES:
            items.append(CodeContentItem(_code(key.upper(), meaning), _phase(label), relationship_type="CONTAINS"))
    unit = _code("1", "no units", "UCUM")
    for name, p in prediction.probabilities.items():
        items.append(NumContentItem(_code(f"P_{PHASE_CODES[name][0]}", f"Probability of {PHASE_CODES[name][1].lower()}"),
                                    float(p), unit, relationship_type="CONTAINS"))
    if prediction.confidence is not None:
        items.append(NumContentItem(_code("CONFIDENCE", "Confidence"), float(prediction.confidence), unit,
                                    relationship_type="CONTAINS"))
    if prediction.subphase in SUBPHASE_CODES:
        items.append(CodeContentItem(_code("SUBPHASE", "Contrast subphase"), _code(*SUBPHASE_CODES[prediction.subphase]),
                                     relationship_type="CONTAINS"))
    seconds = _code("s", "second", "UCUM")
    for key, meaning in (("estimate", "Time after injection start"), ("low", "Time after injection start, 80% interval low"),
                         ("high", "Time after injection start, 80% interval high")):
        if prediction.seconds_after_injection:
            items.append(NumContentItem(_code(f"SECONDS_{key.upper()}", meaning), float(prediction.seconds_after_injection[key]),
                                        seconds, relationship_type="CONTAINS"))
    root.ContentSequence = items
    return root


def build_sr(prediction: ScanPrediction, headers: Sequence[Any], *, model_name: str = "ctphase default model") -> Any:
    """The Comprehensive SR dataset of one classified DICOM series.

    Args:
        prediction: a classified (status ok) DICOM series.
        headers: its :class:`~ctphase.io.dicom_header.SliceHeader` list in index order
            (the ``slices`` of the series :func:`ctphase.pipeline.classify` puts in ``read``).
        model_name: the model's name (e.g. the checkpoint's file name).
    """
    require("DICOM SR output", "highdicom", hint=SR_HINT)
    from highdicom.sr import ComprehensiveSR
    from pydicom.uid import generate_uid

    from . import __version__

    refs = _instances(prediction, headers)
    if not refs:
        raise ValueError(f"series {prediction.series_id}: no classified instances to reference")
    return ComprehensiveSR(
        evidence=_evidence(headers, refs),
        content=_content(prediction, refs, model_name, __version__),
        series_instance_uid=generate_uid(), series_number=SERIES_NUMBER, sop_instance_uid=generate_uid(),
        instance_number=1, manufacturer="ctphase", is_complete=True, series_description=SERIES_DESCRIPTION,
    )


def write_new_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, never replacing a file (``FileExistsError`` if it exists)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".sr-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.link(tmp, path)  # fails when path exists: no overwrite, no race
    finally:
        os.unlink(tmp)


def write_srs(predictions: Sequence[ScanPrediction], read: dict[tuple[str, str], Any], folder: Path, *,
              model_name: str = "ctphase default model") -> tuple[list[Path], list[str], list[str]]:
    """Write one SR per classified DICOM series under ``folder``: ``(written, notes, errors)``.

    Series that are not classified are left out silently; classified series without DICOM
    identity (NIfTI) get a note; a file that exists already is an error for that series.
    """
    written: list[Path] = []
    notes: list[str] = []
    errors: list[str] = []
    nifti = 0
    for p in predictions:
        if p.status != STATUS_OK:
            continue
        slices = getattr(read.get((p.series_id, p.path)), "slices", None)  # DICOM stacks only
        if not slices or not p.study_uid:
            nifti += 1
            continue
        path = folder / sr_filename(p)
        try:
            ds = build_sr(p, slices, model_name=model_name)
            buf = io.BytesIO()
            ds.save_as(buf, enforce_file_format=True)
            write_new_file(path, buf.getvalue())
        except FileExistsError:
            errors.append(f"{path} exists: SR not written (never overwritten)")
            continue
        except Exception as exc:  # one series never stops the others
            errors.append(f"{path}: SR not written: {type(exc).__name__}: {exc}")
            continue
        written.append(path)
    if nifti:
        notes.append(f"{nifti} classified series without DICOM UIDs (NIfTI): no SR written for them")
    return written, notes, errors


def store_srs(predictions: Sequence[ScanPrediction], read: dict[tuple[str, str], Any], *,
              model_name: str = "ctphase default model") -> tuple[list[str], list[str], list[str]]:
    """Store one SR per classified DICOMweb series on the server it came from (STOW-RS): ``(stored, notes, errors)``.

    ``stored`` names each series whose SR the server accepted; each SR is one STOW-RS request,
    so a failure stores nothing of that SR (the error names the series and the server). Series
    read from files get a note; series not classified are left out silently.
    """
    from .io.dicomweb import dicomweb_source, store_instances

    stored: list[str] = []
    errors: list[str] = []
    local = 0
    for p in predictions:
        if p.status != STATUS_OK:
            continue
        slices = getattr(read.get((p.series_id, p.path)), "slices", None)
        source = dicomweb_source(slices or ())
        if source is None or not p.study_uid:
            local += 1
            continue
        try:
            store_instances(source[0], [build_sr(p, slices, model_name=model_name)], source[1])  # type: ignore[arg-type]
        except Exception as exc:  # one series never stops the others
            reason = str(exc) if isinstance(exc, CTPhaseError) else f"{type(exc).__name__}: {exc}"
            errors.append(f"{p.path}: SR not stored: {reason}")
            continue
        stored.append(p.path)
    notes = [f"{local} classified series not read from a DICOMweb server: no SR stored for them"] if local else []
    return stored, notes, errors
