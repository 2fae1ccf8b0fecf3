"""Grouping DICOM slice headers into axial CT series.

DICOM reading happens in three steps, so that a sampler can pick R% of the slices and only
those are decoded:

1. :func:`ctphase.io.dicom_header.read_headers` reads each file's header, not its pixel data
   (one header per frame of an Enhanced CT file, :mod:`ctphase.io.dicom_enhanced`).
2. :func:`assemble` (this module) groups the headers into series (Study + Series Instance
   UID), drops what is not a CT image stack (other modalities, localizers, non-image objects,
   stray reformats), splits by orientation and, where acquisitions overlap, by Acquisition
   Number, orders the slices along the slice normal and checks duplicates and gaps.
3. :meth:`ctphase.io.dicom_pixels.DicomSeries.read_slices` decodes the requested slices only
   and converts them to HU.

Ordering follows DICOM PS3.3 C.7.6.2 Image Plane Module: slices are ordered by Image Position
(Patient) projected on the slice normal, the cross product of the row and column direction
cosines of Image Orientation (Patient). For axial stacks the normal is taken with a positive z
(LPS superior) component, so index 0 is the most inferior slice.

Identity is by UIDs and paths only; patient attributes are never read.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict

import numpy as np

from ..errors import DicomReadError, InputError, SeriesError
from ..qc import gap_flags
from .dicom_header import MEDIA_STORAGE_DIRECTORY, SliceHeader
from .dicom_pixels import DicomSeries
from .dicom_recon import split_reconstructions
from .findings import Findings
from .series import Series, Skipped

AXIAL_MAX_ANGLE_DEG = 30.0
STRAY_MAX_IMAGES = 8
"""A smaller cluster of another orientation or size with fewer images is a stray reformat, left out."""
POSITION_TOL_MM = 0.01

CT_IMAGE_SOP_CLASSES: dict[str, str] = {
    "1.2.840.10008.5.1.4.1.1.2": "CT Image Storage",
    "1.2.840.10008.5.1.4.1.1.2.1": "Enhanced CT Image Storage",
    "1.2.840.10008.5.1.4.1.1.2.2": "Legacy Converted Enhanced CT Image Storage",
}
"""The SOP classes (PS3.4 B.5) of CT images, with their names (read here; the watcher classifies only these)."""


def assemble(
    headers: list[SliceHeader],
    *,
    min_slices: int = 1,
    strict: bool = False,
    file_errors: dict[tuple[str, str], list[str]] | None = None,
    findings: Findings | None = None,
) -> tuple[list[Series], list[Skipped]]:
    """Group slice headers into axial CT series (see the module docstring for the rules).

    Args:
        headers: one per DICOM file.
        min_slices: stacks with fewer slices are skipped; inside a series, a smaller stack of
            another orientation or size with fewer images is left out as a stray reformat.
        strict: raise the first error instead of reporting it.
        file_errors: names of unreadable files per (study, series) UID, to warn the series they belong to.
        findings: where the series and skipped inputs are added (a new one when ``None``).
    Returns:
        the series, sorted by path then series id, and the skipped inputs.
    """
    findings = findings or Findings(strict)
    groups: dict[tuple[str, str], list[SliceHeader]] = defaultdict(list)
    for h in headers:
        if h.sop_class == MEDIA_STORAGE_DIRECTORY:
            continue
        groups[(h.study_uid, h.series_uid or h.series_key)].append(h)
    for key, hs in sorted(groups.items(), key=lambda kv: (_common_dir(kv[1]), kv[0])):
        try:
            _assemble_group(hs, min_slices, findings, (file_errors or {}).get(key, []))
        except InputError as exc:
            findings.error(exc, hs, len(hs))
    _fold_file_errors(findings)
    findings.series.sort(key=lambda s: (s.path, s.series_id))
    return findings.series, findings.skipped


def _fold_file_errors(findings: Findings) -> None:
    """One record per series: errors of single files of a series that was built stay on that series only.

    The series names those files in its warnings and carries the ``unreadable_files`` flag.
    """
    built: dict[tuple[str | None, str | None], list[Series]] = defaultdict(list)
    for series in findings.series:
        if series.series_uid:
            built[(series.study_uid, series.series_uid)].append(series)
    keep = []
    for i, k in enumerate(findings.skipped):
        if k.kind == "error" and k.n_files <= 1 and k.series_uid and (k.study_uid, k.series_uid) in built:
            for series in built[(k.study_uid, k.series_uid)]:
                series.warnings.append(f"{os.path.basename(k.path)}: {k.reason}")
        else:
            keep.append(i)
    if len(keep) == len(findings.skipped):
        return
    errors = iter(findings.exceptions)
    pairs = [(k, next(errors) if k.kind == "error" else None) for k in findings.skipped]
    findings.skipped[:] = [pairs[i][0] for i in keep]
    findings.exceptions[:] = [pairs[i][1] for i in keep if pairs[i][1] is not None]


def _assemble_group(hs: list[SliceHeader], min_slices: int, findings: Findings, bad_files: list[str]) -> None:
    """The files of one series UID (or fallback key): one stack per acquisition and reconstruction.

    A series yields one record, unless it is split into acquisitions (``/acqN``) or
    reconstructions (``/recN``), each with its own series id.
    """
    hs = sorted(hs, key=lambda h: h.path)
    folder = _common_dir(hs)
    hs = _drop_unusable(hs, folder, findings, bad_files)
    if not hs:
        return
    warnings = _group_warnings(hs, bad_files)
    stacks = _axial_stacks(hs, folder, findings, warnings)
    parts: list[tuple[int | None, str | None, list[SliceHeader]]] = []
    for matrix, cl in stacks:
        normal = _stack_normal(cl)
        if normal[2] < 0:
            normal = -normal
        for acq, part in _split_acquisitions(cl, normal):
            try:
                recons = split_reconstructions(part, normal, folder)
            except InputError as exc:
                findings.error(exc, part, len(part))
                continue
            parts += [(acq, ", ".join(x for x in (matrix, rec) if x) or None, sub) for rec, sub in recons]
    numbered = len({acq for acq, _, _ in parts}) < len(parts)  # reconstructions share an acquisition
    before = len(findings.series)
    for k, (acq, rec, part) in enumerate(parts):
        try:
            _finish(part, acq, (k + 1, rec) if numbered else None, folder, list(warnings), min_slices, findings)
        except InputError as exc:
            findings.error(exc, part, len(part))
    if bad_files:  # the reason is in the warnings (see _group_warnings)
        for series in findings.series[before:]:
            series.qc.append("unreadable_files")


def _drop_unusable(
    hs: list[SliceHeader], folder: str, findings: Findings, bad_files: list[str]
) -> list[SliceHeader]:
    """Report and leave out what is not a greyscale CT image (a single-frame file or an Enhanced CT frame) with pixel data."""
    # objects without pixel data: non-image (SR, KO, PR, RTSTRUCT...) or a CT image missing its pixels
    no_pix = [h for h in hs if not h.has_pixels]
    if no_pix:
        ct_img = [h for h in no_pix if h.modality == "CT" and (h.sop_class in CT_IMAGE_SOP_CLASSES or h.rows)]
        for h in ct_img:
            msg = "no PixelData element (7FE0,0010): the CT image file is incomplete"
            findings.error(DicomReadError(msg, h.path), [h])
            bad_files.append(h.name)
        empty = [h for h in no_pix if h not in ct_img and not h.sop_class and not h.modality]
        for h in empty:  # a DICM marker with (almost) nothing after it
            msg = "incomplete DICOM file: no SOP Class UID, no Modality and no pixel data"
            findings.error(DicomReadError(msg, h.path), [h])
        other = [h for h in no_pix if h not in ct_img and h not in empty]
        if other:
            findings.skip(folder, f"non-image object(s) without pixel data ({_describe_modality(other)})", other)
        hs = [h for h in hs if h.has_pixels]
    not_ct = [h for h in hs if h.modality != "CT"]
    if not_ct:
        findings.skip(folder, f"not CT ({_describe_modality(not_ct)}); ctphase classifies CT only", not_ct)
        hs = [h for h in hs if h.modality == "CT"]
    loc = [h for h in hs if "LOCALIZER" in h.image_type]
    if loc:
        findings.skip(folder, f"localizer/scout image(s), ImageType contains LOCALIZER: {_names(loc)}", loc)
        hs = [h for h in hs if "LOCALIZER" not in h.image_type]
    # Enhanced CT frames come expanded (frame set, see ctphase.io.dicom_enhanced); other multi-frame files do not
    multi = [h for h in hs if (h.frames > 1 and h.frame is None) or h.samples != 1]
    if multi:
        reason = (
            f"multi-frame or colour image(s) ({multi[0].frames} frames, {multi[0].samples} samples/pixel): "
            f"only greyscale CT images, single-frame or Enhanced CT, are supported ({_names(multi)})"
        )
        findings.skip(folder, reason, multi)
        hs = [h for h in hs if h not in multi]
    return hs


def _group_warnings(hs: list[SliceHeader], bad_files: list[str]) -> list[str]:
    """Warnings that every stack of the series carries."""
    warnings: list[str] = []
    if not hs[0].series_uid:
        warnings.append(
            "SeriesInstanceUID missing (anonymised export?): files grouped by folder, FrameOfReferenceUID, "
            "SeriesNumber and SeriesDescription"
        )
    if bad_files:
        warnings.append(
            f"{len(bad_files)} file(s) of this series could not be read and are left out: {', '.join(bad_files[:3])}"
            + (f" and {len(bad_files) - 3} more" if len(bad_files) > 3 else "")
        )
    return warnings


def _axial_stacks(
    hs: list[SliceHeader], folder: str, findings: Findings, warnings: list[str]
) -> list[tuple[str | None, list[SliceHeader]]]:
    """Split by size and orientation: the axial stacks, each labelled by its matrix when there are several.

    Non-axial stacks and small clusters of another orientation or size (stray reformats,
    screenshots) inside a series with an axial stack are left out with a warning on that
    series; a series with no axial stack at all is reported once, as skipped.
    """
    clusters = _cluster_geometry(hs)
    largest = len(clusters[0])
    axial: list[list[SliceHeader]] = []
    left_out: list[list[SliceHeader]] = []
    for cl in clusters:
        stray = cl is not clusters[0] and len(cl) < STRAY_MAX_IMAGES and len(cl) < largest
        if stray or _angle_from_z(_stack_normal(cl)) > AXIAL_MAX_ANGLE_DEG:
            left_out.append(cl)
        else:
            axial.append(cl)
    if not axial:
        planes = "; ".join(
            f"{_cluster_note(cl)} (slice normal {_angle_from_z(_stack_normal(cl)):.0f} deg from the z axis)"
            for cl in left_out
        )
        reason = f"non-axial stack: {planes}; ctphase reads axial slices (at most {AXIAL_MAX_ANGLE_DEG:.0f} deg)"
        findings.skip(folder, reason, hs)
        record = findings.skipped[-1]
        record.plane = _plane_name(_stack_normal(left_out[0]))
        record.meta = dict(left_out[0][0].meta)  # for the study step: a reformat's acquisition
        record.stack = _non_axial_stack(left_out[0], folder)
        return []
    for cl in left_out:
        warnings.append(f"left out {_cluster_note(cl)} with a different orientation or size: {_names(cl)}")
    if len(axial) == 1:
        return [(None, axial[0])]
    return [(f"matrix={cl[0].rows}x{cl[0].cols}", cl) for cl in axial]


def _non_axial_stack(cl: list[SliceHeader], folder: str) -> DicomSeries | None:
    """The stack of a non-axial cluster sorted along its normal (for reslicing), or None when it cannot be ordered."""
    warnings: list[str] = []
    try:
        hs, pos = _sort_positions(cl, warnings, folder)
        hs, pos = _drop_duplicates(hs, pos, warnings, folder)
    except InputError:
        return None
    first = hs[0]
    return DicomSeries(
        source="dicom", path=folder, n_slices=len(hs), shape=(first.rows, first.cols),
        pixel_spacing=Counter(h.pixel_spacing for h in hs).most_common(1)[0][0], slice_positions=pos.astype(np.float64),
        study_uid=first.study_uid or None, series_uid=first.series_uid or None,
        description=first.meta.get("SeriesDescription"), warnings=warnings, meta=dict(first.meta), slices=hs,
    )


def _cluster_note(cl: list[SliceHeader]) -> str:
    normal = _stack_normal(cl)
    return f"{len(cl)} {_plane_name(normal)} image(s) of {cl[0].rows}x{cl[0].cols} pixels"


def _finish(
    hs: list[SliceHeader],
    acq: int | None,
    recon: tuple[int, str | None] | None,
    folder: str,
    warnings: list[str],
    min_slices: int,
    findings: Findings,
) -> None:
    """Order one stack, drop duplicates, check its size and add it as a :class:`DicomSeries`."""
    label = f" (acquisition {acq})" if acq is not None else ""
    if recon is not None:
        what = f"reconstruction {recon[0]}" + (f" ({recon[1]})" if recon[1] else "")
        label += f" ({what})"
        warnings.append(f"the series holds several stacks (reconstructions); this is {what}, classified on its own")
    hs, pos = _sort_positions(hs, warnings, folder)
    hs, pos = _drop_duplicates(hs, pos, warnings, folder)
    if len(hs) < min_slices:
        findings.skip(folder, f"only {len(hs)} slice(s){label}, fewer than min_slices={min_slices}", hs)
        return
    first = hs[0]
    meta = dict(first.meta)
    if acq is not None:
        meta["AcquisitionNumber"] = str(acq)
    series = DicomSeries(
        source="dicom",
        path=folder,
        n_slices=len(hs),
        shape=(first.rows, first.cols),
        pixel_spacing=Counter(h.pixel_spacing for h in hs).most_common(1)[0][0],
        slice_positions=pos.astype(np.float64),
        study_uid=first.study_uid or None,
        series_uid=first.series_uid or None,
        acquisition=acq,
        reconstruction=recon[1] if recon else None,
        reconstruction_index=recon[0] if recon else None,
        description=first.meta.get("SeriesDescription"),
        warnings=warnings,
        meta=meta,
        slices=hs,
    )
    _flag_headers(series, hs)
    findings.series.append(series)


def _flag_headers(series: DicomSeries, hs: list[SliceHeader]) -> None:
    """The quality flags the headers alone raise (see :mod:`ctphase.qc`)."""
    for name, message in gap_flags(series.slice_positions):
        series.flag(name, message)
    no_rescale = [h for h in hs if not h.has_rescale]
    if no_rescale:  # read with slope 1, intercept 0 (PS3.3 C.11.1; see ctphase.io.dicom_pixels)
        series.flag(
            "missing_rescale",
            f"RescaleSlope/RescaleIntercept missing in {len(no_rescale)} file(s) ({_names(no_rescale)}): "
            "assumed slope 1, intercept 0 (stored values taken as HU)",
        )
    if any(h.iop is None for h in hs):
        series.flag("no_orientation", "ImageOrientationPatient missing: assumed axial slices")
    spacings = Counter(h.pixel_spacing for h in hs)
    if len(spacings) > 1:
        shown = ", ".join(f"{_spacing(ps)} ({n})" for ps, n in spacings.most_common(3))
        series.flag(
            "inconsistent_spacing",
            f"the slices' pixel spacing differs ({shown} mm); slices are resized as if they had the most common one",
        )


def _spacing(ps: tuple[float, float] | None) -> str:
    return "unknown" if ps is None else f"{ps[0]:g}x{ps[1]:g}"


def _stack_normal(cl: list[SliceHeader]) -> np.ndarray:
    """The slice normal of a stack (its first image's orientation; axial when unknown)."""
    return _normal(cl[0].iop) if cl[0].iop is not None else np.array([0.0, 0.0, 1.0])


def _normal(iop: tuple[float, ...]) -> np.ndarray:
    row = np.asarray(iop[:3], dtype=np.float64)
    col = np.asarray(iop[3:6], dtype=np.float64)
    n = np.cross(row, col)
    norm = np.linalg.norm(n)
    return n / norm if norm > 0 else np.array([0.0, 0.0, 1.0])


def _plane_name(normal: np.ndarray) -> str:
    axis = int(np.argmax(np.abs(normal)))
    angle = float(np.degrees(np.arccos(min(1.0, abs(normal[2])))))
    name = ("sagittal", "coronal", "axial")[axis]
    return name if angle < 1.0 or axis != 2 else f"oblique axial ({angle:.0f} deg)"


def _angle_from_z(normal: np.ndarray) -> float:
    return float(np.degrees(np.arccos(min(1.0, abs(float(normal[2]))))))


def _names(headers: list[SliceHeader], limit: int = 3) -> str:
    names = [h.name for h in headers[:limit]]
    more = len(headers) - limit
    return ", ".join(names) + (f" and {more} more" if more > 0 else "")


def _common_dir(headers: list[SliceHeader]) -> str:
    dirs = {os.path.dirname(h.path) for h in headers}
    if len(dirs) == 1:
        return dirs.pop()
    try:
        return os.path.commonpath(sorted(dirs))
    except ValueError:
        return sorted(dirs)[0]


def _cluster_geometry(headers: list[SliceHeader]) -> list[list[SliceHeader]]:
    """Split headers by image size and orientation (direction cosines equal within 0.01)."""
    clusters: list[tuple[tuple[int, int], np.ndarray, list[SliceHeader]]] = []
    for h in headers:
        iop = np.asarray(h.iop if h.iop is not None else (1, 0, 0, 0, 1, 0), dtype=np.float64)
        for shape, ref, members in clusters:
            if shape == (h.rows, h.cols) and np.max(np.abs(ref - iop)) < 0.01:
                members.append(h)
                break
        else:
            clusters.append(((h.rows, h.cols), iop, [h]))
    clusters.sort(key=lambda c: -len(c[2]))
    return [c[2] for c in clusters]


def _sort_positions(
    headers: list[SliceHeader], warnings: list[str], folder: str
) -> tuple[list[SliceHeader], np.ndarray]:
    """Positions along the slice normal (PS3.3 C.7.6.2), ascending; SliceLocation only when IPP is missing."""
    ref = next((h.iop for h in headers if h.iop is not None), None)
    normal = _normal(ref) if ref is not None else np.array([0.0, 0.0, 1.0])
    if normal[2] < 0:
        normal = -normal
    no_ipp = [h for h in headers if h.ipp is None]
    if not no_ipp:
        pos = np.array([float(np.dot(h.ipp, normal)) for h in headers])  # type: ignore[arg-type]
    else:
        no_loc = [h for h in headers if h.slice_location is None]
        if no_loc:
            msg = (
                f"{len(no_loc)} file(s) have neither ImagePositionPatient nor SliceLocation "
                f"({_names(no_loc)}): cannot order the slices"
            )
            raise SeriesError(msg, folder)
        warnings.append(
            f"ImagePositionPatient missing in {len(no_ipp)} file(s) ({_names(no_ipp)}): slices ordered by SliceLocation"
        )
        pos = np.array([float(h.slice_location) for h in headers])  # type: ignore[arg-type]
    order = np.argsort(pos, kind="stable")
    return [headers[i] for i in order], pos[order]


def _drop_duplicates(
    headers: list[SliceHeader], pos: np.ndarray, warnings: list[str], folder: str
) -> tuple[list[SliceHeader], np.ndarray]:
    keep = [0] if len(headers) else []
    dup_files: list[SliceHeader] = []
    for i in range(1, len(headers)):
        j = keep[-1]
        if abs(pos[i] - pos[j]) <= POSITION_TOL_MM:
            if headers[i].sop_uid == headers[j].sop_uid:
                dup_files.append(headers[i])
                continue
            msg = (
                f"two different images at the same slice position {pos[i]:.2f} mm "
                f"({headers[j].name} and {headers[i].name}, SOPInstanceUIDs differ): the series mixes "
                "reconstructions; cannot build one stack"
            )
            raise SeriesError(msg, folder)
        keep.append(i)
    if dup_files:
        warnings.append(
            f"dropped {len(dup_files)} duplicate file(s) of images already in the series (same SOPInstanceUID): "
            f"{_names(dup_files)}"
        )
    return [headers[i] for i in keep], pos[keep]


def _split_acquisitions(headers: list[SliceHeader], normal: np.ndarray) -> list[tuple[int | None, list[SliceHeader]]]:
    """Split by AcquisitionNumber only when the acquisitions cover overlapping z ranges (repeated scans).

    Acquisitions that tile the volume side by side (sequential/step-and-shoot scans number each
    rotation) stay one stack.
    """
    by_acq: dict[int | None, list[SliceHeader]] = defaultdict(list)
    for h in headers:
        by_acq[h.acquisition].append(h)
    if len(by_acq) < 2:
        return [(None, headers)]
    ranges = []
    for hs in by_acq.values():
        p = [float(np.dot(h.ipp, normal)) if h.ipp is not None else (h.slice_location or 0.0) for h in hs]
        ranges.append((min(p), max(p)))
    ranges.sort()
    overlap = False
    max_end = ranges[0][1]
    for lo, hi in ranges[1:]:
        if lo <= max_end + POSITION_TOL_MM:
            overlap = True
            break
        max_end = max(max_end, hi)
    if not overlap:
        return [(None, headers)]
    return [(acq, by_acq[acq]) for acq in sorted(by_acq, key=lambda a: (a is None, a or 0))]


def _describe_modality(headers: list[SliceHeader]) -> str:
    h = headers[0]
    try:
        from pydicom.uid import UID

        cls = UID(h.sop_class).name
    except Exception:  # pragma: no cover - pydicom always importable here
        cls = h.sop_class
    return f"Modality {h.modality or '(none)'}, SOP Class {cls}"


__all__ = ["AXIAL_MAX_ANGLE_DEG", "CT_IMAGE_SOP_CLASSES", "POSITION_TOL_MM", "STRAY_MAX_IMAGES", "assemble"]
