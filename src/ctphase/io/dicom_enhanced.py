"""Enhanced CT: one multi-frame file read as one :class:`SliceHeader` per frame.

Enhanced CT Image Storage and Legacy Converted Enhanced CT Image Storage (PS3.3 A.38, A.70)
hold a whole stack in one file. What a classic CT file keeps at the top level is kept per
frame in functional groups (PS3.3 C.7.6.16): each attribute comes from the frame's item of the
Per-Frame Functional Groups Sequence, else from the Shared Functional Groups Sequence.

The fast header reader (:mod:`ctphase.io.dicom_header`) reads the file-level attributes and
checks that the pixel data is complete; this module reads the functional groups with pydicom
(nested sequences, which the fast parser skips) and gives every frame its own header:

- Plane Position (C.7.6.16.2.3) ``ImagePositionPatient``, required per frame;
- Plane Orientation (C.7.6.16.2.4) ``ImageOrientationPatient``, Pixel Measures (C.7.6.16.2.1)
  ``PixelSpacing`` and ``SliceThickness``;
- Pixel Value Transformation (C.7.6.16.2.9) ``RescaleSlope``/``RescaleIntercept``, per frame;
- Frame Content (C.7.6.16.2.2) ``TemporalPositionIndex``: a file with several temporal
  positions numbers its frames' acquisitions by it, so that :mod:`ctphase.io.dicom` splits
  repeated scans of one volume as it does classic acquisitions;
- CT Image Frame Type ``FrameType`` (for the localizer check), CT Reconstruction
  ``ConvolutionKernel``, CT X-Ray Details ``KVP``, the Enhanced Contrast/Bolus agent (its route,
  volume, ingredient and bolus start time) and the acquisition date and time, kept as text in
  ``meta`` under the classic keywords (:data:`ctphase.io.dicom_tags.META_KEYWORDS`).

Frames then go through grouping, ordering, duplicate and gap checks and sampling exactly like
slice files; :mod:`ctphase.io.dicom_pixels` decodes only the frames asked for. A frame's
``sop_uid`` is ``"<SOPInstanceUID>#<frame>"``. Multi-frame files of other kinds (colour,
secondary capture, other modalities) are not expanded and stay skipped by the grouping step.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ..errors import DicomReadError
from .dicom_header import SliceHeader

ENHANCED_CT_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.2.1",  # Enhanced CT Image Storage
    "1.2.840.10008.5.1.4.1.1.2.2",  # Legacy Converted Enhanced CT Image Storage
}
PER_FRAME = "PerFrameFunctionalGroupsSequence"
SHARED = "SharedFunctionalGroupsSequence"


def is_enhanced_ct(h: SliceHeader) -> bool:
    """Whether the file is a greyscale Enhanced CT image with pixel data (its frames are expanded)."""
    return h.sop_class in ENHANCED_CT_SOP_CLASSES and h.has_pixels and h.samples == 1 and h.modality == "CT"


def frames_of(h: SliceHeader) -> list[SliceHeader]:
    """The images of the file of header ``h``: its frames for Enhanced CT (:func:`expand_frames`), else ``[h]``."""
    return expand_frames(h) if is_enhanced_ct(h) else [h]


def expand_frames(h: SliceHeader) -> list[SliceHeader]:
    """One header per frame of the Enhanced CT file of ``h`` (its file-level header).

    Raises:
        DicomReadError: naming the file (and frame), when the functional groups are missing,
            do not match NumberOfFrames, or hold no usable position or rescale values.
    """
    try:
        return _frames(h, _read_groups(h))
    except DicomReadError as exc:
        exc.study_uid, exc.series_uid = h.study_uid or None, h.series_uid or None  # type: ignore[attr-defined]
        exc.group_key = (h.study_uid, h.series_uid or h.series_key)  # type: ignore[attr-defined]
        raise


def _read_groups(h: SliceHeader) -> Any:
    """The functional groups and the few file-level Enhanced CT attributes, read by pydicom."""
    import pydicom

    tags = [PER_FRAME, SHARED, "AcquisitionDateTime", "ContrastBolusAgentSequence"]
    try:
        with h.open_file() as fh:  # the file, or the archive member it names
            ds = pydicom.dcmread(fh, stop_before_pixels=True, force=True, specific_tags=tags)
            for kw in (PER_FRAME, SHARED):
                _ = ds.get(kw)  # sequences are parsed here: let malformed items fail now
    except OSError as exc:
        raise DicomReadError(f"cannot read file: {exc.strerror or exc}", h.path) from None
    except Exception as exc:  # pydicom raises many types on broken input
        msg = f"Enhanced CT: cannot parse the functional groups ({type(exc).__name__}: {exc})"
        raise DicomReadError(msg, h.path) from None
    return ds


def _frames(h: SliceHeader, ds: Any) -> list[SliceHeader]:
    try:
        per = _sequence(ds, PER_FRAME)
        shared_items = _sequence(ds, SHARED)
        shared = shared_items[0] if shared_items else None
        temporal = [_int(_get((item, shared), "FrameContentSequence", "TemporalPositionIndex")) for item in per]
        file_meta = dict(h.meta)
        file_meta.update(_file_meta(ds, h.meta))
    except Exception as exc:  # pydicom converts values lazily and raises many types on broken ones
        msg = f"Enhanced CT: malformed functional groups ({type(exc).__name__}: {exc})"
        raise DicomReadError(msg, h.path) from None
    if len(per) != h.frames:
        msg = (
            f"Enhanced CT: {PER_FRAME} holds {len(per)} item(s) but NumberOfFrames is {h.frames}: "
            "the frames cannot be placed"
        )
        raise DicomReadError(msg, h.path)
    several_times = len(set(temporal)) > 1
    out = []
    for i, item in enumerate(per):
        try:
            f = _frame(h, i + 1, (item, shared), file_meta)
        except DicomReadError:
            raise
        except Exception as exc:  # pydicom converts values lazily and raises many types on broken ones
            msg = f"Enhanced CT frame {i + 1}: malformed functional group value ({type(exc).__name__}: {exc})"
            raise DicomReadError(msg, h.path) from None
        if several_times and temporal[i] is not None:
            f.acquisition = temporal[i]
        out.append(f)
    return out


def _frame(h: SliceHeader, n: int, groups: tuple[Any, Any], file_meta: dict[str, str]) -> SliceHeader:
    """The header of frame ``n`` (1-based) from its functional groups (per-frame, then shared)."""
    where = f"Enhanced CT frame {n}"
    ipp = _floats(groups, "PlanePositionSequence", "ImagePositionPatient", 3, where, h.path)
    if ipp is None:
        msg = f"{where}: no ImagePositionPatient in PlanePositionSequence (per-frame or shared functional groups)"
        raise DicomReadError(msg, h.path)
    iop = _floats(groups, "PlaneOrientationSequence", "ImageOrientationPatient", 6, where, h.path)
    spacing = _floats(groups, "PixelMeasuresSequence", "PixelSpacing", 2, where, h.path)
    slope = _floats(groups, "PixelValueTransformationSequence", "RescaleSlope", 1, where, h.path)
    intercept = _floats(groups, "PixelValueTransformationSequence", "RescaleIntercept", 1, where, h.path)
    if slope is not None and slope[0] == 0:
        raise DicomReadError(f"{where}: RescaleSlope is 0", h.path)
    frame_type = _get(groups, "CTImageFrameTypeSequence", "FrameType")
    meta = dict(file_meta)
    for kw, (seq, attr) in _FRAME_META.items():
        v = _text(_get(groups, seq, attr))
        if v:
            meta[kw] = v
    if "AcquisitionDateTime" not in meta:  # the frame's own time (Frame Content, C.7.6.16.2.2)
        meta.update(_datetime_meta(_get(groups, "FrameContentSequence", "FrameAcquisitionDateTime"), meta))
    has_slope, has_intercept = slope is not None or h.has_rescale, intercept is not None or h.has_rescale
    return dataclasses.replace(
        h,
        sop_uid=f"{h.sop_uid}#{n}",
        frame=n,
        ipp=ipp,  # type: ignore[arg-type]
        iop=iop if iop is not None else h.iop,
        pixel_spacing=spacing if spacing is not None else h.pixel_spacing,  # type: ignore[arg-type]
        slope=slope[0] if slope is not None else h.slope,
        intercept=intercept[0] if intercept is not None else h.intercept,
        has_rescale=has_slope and has_intercept,
        image_type=tuple(str(s).upper() for s in _values(frame_type)) or h.image_type,
        meta=meta,
    )


# meta keyword -> (functional group sequence, attribute) for the per-frame text kept in ``meta``
_FRAME_META = {
    "SliceThickness": ("PixelMeasuresSequence", "SliceThickness"),
    "ConvolutionKernel": ("CTReconstructionSequence", "ConvolutionKernel"),
    "KVP": ("CTXRayDetailsSequence", "KVP"),
}


def _file_meta(ds: Any, known: dict[str, str]) -> dict[str, str]:
    """File-level text of the Enhanced CT modules that replace classic tags: the acquisition's date and
    time (from AcquisitionDateTime, C.7.6.1) and the Enhanced Contrast/Bolus Module (C.7.6.4b)."""
    meta: dict[str, str] = {}
    if "AcquisitionDateTime" in known or ds.get("AcquisitionDateTime") is not None:
        meta.update(_datetime_meta(known.get("AcquisitionDateTime") or ds.get("AcquisitionDateTime"), known))
    agents = _sequence(ds, "ContrastBolusAgentSequence")
    if agents:
        meta.update(_agent_meta(agents, known))
    return meta


def _datetime_meta(dt: Any, known: dict[str, str]) -> dict[str, str]:
    """AcquisitionDateTime of a DT value, and the AcquisitionDate and AcquisitionTime classic files would carry."""
    text = _text(dt)
    meta: dict[str, str] = {}
    if text and "AcquisitionDateTime" not in known:
        meta["AcquisitionDateTime"] = text
    t = _time_of(text)
    if t and "AcquisitionTime" not in known:
        meta["AcquisitionTime"] = t
    if t and text[:8].isdigit() and "AcquisitionDate" not in known:
        meta["AcquisitionDate"] = text[:8]
    return meta


def _agent_meta(agents: list[Any], known: dict[str, str]) -> dict[str, str]:
    """The classic Contrast/Bolus tags (C.7.6.4) from the items of ContrastBolusAgentSequence (C.7.6.4b)."""
    meta: dict[str, str] = {}
    names = [_text(a.get("CodeMeaning")) or _text(a.get("CodeValue")) for a in agents]
    if any(names):
        meta["ContrastBolusAgent"] = "\\".join(x for x in names if x)
    routes = _sequence(agents[0], "ContrastBolusAdministrationRouteSequence")
    route = _text(routes[0].get("CodeMeaning")) if routes else ""
    if route:
        meta["ContrastBolusRoute"] = route.upper()
    volumes = [_text(a.get("ContrastBolusVolume")) for a in agents]
    if any(volumes):
        meta["ContrastBolusVolume"] = "\\".join(v for v in volumes if v)
    ingredients = [_text(c.get("CodeMeaning")).upper() for a in agents
                   for c in _sequence(a, "ContrastBolusIngredientCodeSequence")]
    if any(ingredients):
        meta["ContrastBolusIngredient"] = "\\".join(x for x in ingredients if x)
    starts = [_text(p.get("ContrastBolusStartTime")) for a in agents
              for p in _sequence(a, "ContrastAdministrationProfileSequence")]
    if any(starts):
        meta["ContrastBolusStartTime"] = next(x for x in starts if x)
    return {k: v for k, v in meta.items() if k not in known}


def _sequence(ds: Any, kw: str) -> list[Any]:
    """The items of sequence ``kw`` of ``ds`` (``[]`` when absent, empty or not a sequence)."""
    v = ds.get(kw) if ds is not None else None
    if v is None or isinstance(v, (str, bytes)):
        return []
    try:
        return [item for item in v if hasattr(item, "get")]
    except TypeError:
        return []


def _get(groups: tuple[Any, Any], seq_kw: str, kw: str) -> Any:
    """Attribute ``kw`` of functional group ``seq_kw``: the frame's item first, then the shared one."""
    for item in groups:
        for sub in _sequence(item, seq_kw)[:1]:
            v = sub.get(kw)
            if v is not None and v != "":
                return v
    return None


def _values(v: Any) -> list[Any]:
    if v is None:
        return []
    if isinstance(v, (str, bytes)) or not hasattr(v, "__iter__"):
        return [v]
    return list(v)


def _floats(groups: tuple[Any, Any], seq_kw: str, kw: str, n: int, where: str, path: str) -> tuple[float, ...] | None:
    """``n`` finite numbers from a functional group, or ``None`` when absent."""
    raw = _get(groups, seq_kw, kw)
    if raw is None:
        return None
    vals = _values(raw)
    try:
        out = tuple(float(x) for x in vals)
    except (TypeError, ValueError):
        out = ()
    if len(out) != n or not all(np.isfinite(out)):
        text = "\\".join(str(x) for x in vals)
        msg = f"{where}: {seq_kw} > {kw} must hold {n} finite number(s), got {text!r}"
        raise DicomReadError(msg, path)
    return out


def _int(v: Any) -> int | None:
    try:
        return None if v is None else int(v)
    except (TypeError, ValueError):
        return None


def _text(v: Any) -> str:
    return "\\".join(str(x).strip() for x in _values(v)) if v is not None else ""


def _time_of(dt: Any) -> str:
    """The time part (HHMMSS.FFFFFF) of a DICOM DT value, without its UTC offset."""
    s = _text(dt)
    if len(s) < 10 or not s[:8].isdigit():
        return ""
    return s[8:].split("+")[0].split("-")[0]


__all__ = ["ENHANCED_CT_SOP_CLASSES", "expand_frames", "frames_of", "is_enhanced_ct"]
