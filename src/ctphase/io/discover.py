"""Find the CT series under a set of paths: DICOM folders (any file names, nested) and NIfTI files.

:func:`discover` never stops at a bad input: every file or series that is not used comes back
as a :class:`~ctphase.io.series.Skipped` with the reason (``kind="skipped"`` for valid but
unclassifiable inputs, ``kind="error"`` for broken ones), unless ``strict=True``, which raises
the first error instead. See :mod:`ctphase.io.dicom` for the grouping and ordering rules.

Which files are looked at: every regular file under the given folders (symbolic links to files
followed; hidden files, names starting with ``.``, and ``DICOMDIR`` ignored). ``*.nii`` and
``*.nii.gz`` are NIfTI volumes, one series each. A file is DICOM when it carries the 'DICM'
marker at byte 128 (PS3.10 7.1), or, without it, when it parses as a raw dataset that holds
SOP Class and Series Instance UIDs. Other files are ignored silently unless they are named
like DICOM (``.dcm``, ``.dicom``, ``.dic``, ``.ima``), which is reported as an error. A broken
symbolic link is reported as an unreadable file.
"""

from __future__ import annotations

import logging
import os
import stat
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..errors import DicomReadError, InputError, SeriesError
from .dicom import assemble
from .dicom_header import MEDIA_STORAGE_DIRECTORY, SliceHeader, read_headers
from .findings import Findings
from .nifti import is_nifti_path, load_nifti
from .series import Series, Skipped

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]


@dataclass
class Discovery:
    """What :func:`discover` found: the series to classify and the inputs left out, with reasons."""

    series: list[Series] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    errors: list[InputError] = field(default_factory=list, repr=False, compare=False)

    @property
    def n_errors(self) -> int:
        """Number of inputs left out because they are broken (``kind == "error"``)."""
        return sum(1 for s in self.skipped if s.kind == "error")


def _as_paths(paths: PathLike | Iterable[PathLike]) -> list[str]:
    if isinstance(paths, (str, os.PathLike)):
        return [os.fspath(paths)]
    return [os.fspath(p) for p in paths]


def _walk(root: str, findings: Findings, seen: set[tuple[int, int]]) -> tuple[list[str], list[str]]:
    """All candidate files under ``root``: (DICOM candidates, NIfTI files), sorted; each file once."""
    files: list[str] = []
    niftis: list[str] = []

    def onerror(exc: OSError) -> None:
        findings.error(DicomReadError(f"cannot list folder: {exc.strerror or exc}", exc.filename or root))

    for dirpath, dirnames, filenames in os.walk(root, onerror=onerror, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith(".") or name.upper() == "DICOMDIR":
                continue
            p = os.path.join(dirpath, name)
            _classify_file(p, files, niftis, findings, seen)
    return files, niftis


def _classify_file(
    p: str, files: list[str], niftis: list[str], findings: Findings, seen: set[tuple[int, int]]
) -> None:
    try:
        st = os.stat(p)
    except FileNotFoundError:
        findings.error(DicomReadError("cannot read file: broken symbolic link (its target does not exist)", p))
        return
    except OSError as exc:
        findings.error(DicomReadError(f"cannot read file: {exc.strerror or exc}", p))
        return
    if not stat.S_ISREG(st.st_mode):  # FIFOs, sockets, devices: never opened
        return
    key = (st.st_dev, st.st_ino)
    if key in seen:  # the same file reached twice (overlapping paths, links)
        return
    seen.add(key)
    (niftis if is_nifti_path(p) else files).append(p)


def discover(
    paths: PathLike | Iterable[PathLike],
    *,
    min_slices: int = 1,
    strict: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> Discovery:
    """Find all classifiable CT series under ``paths`` (folders and/or files).

    Args:
        paths: folders to search recursively, DICOM files, or NIfTI files.
        min_slices: stacks with fewer slices are skipped (reported, not classified). Reading
            applies no sampling policy: the default keeps every stack, and a caller that
            samples slices passes the sampler's minimum.
        strict: raise the first error (an :class:`~ctphase.errors.InputError`) instead of
            reporting it in ``skipped``.
        progress: called as ``progress(done, total)`` while file headers are read.
    Returns:
        a :class:`Discovery`; series sorted by path then series id. Only headers are read;
        pixels are decoded later by ``Series.read_slices``.
    """
    if int(min_slices) < 1:
        msg = f"min_slices must be >= 1, got {min_slices}"
        raise SeriesError(msg)
    findings = Findings(strict)
    files, niftis, roots = _candidates(paths, findings)
    total = len(files) + len(niftis)
    headers, file_errors = _read_headers(files, findings, progress, total)
    assemble(headers, min_slices=min_slices, strict=strict, file_errors=file_errors, findings=findings)
    dicom_series = list(findings.series)
    nifti_series = _read_niftis(niftis, min_slices, findings, progress, len(files), total)
    series = sorted(dicom_series + nifti_series, key=lambda s: (s.path, s.series_id))
    for root, n_files in roots:  # say so when a folder yields nothing at all
        prefix = os.path.join(os.path.abspath(root), "")
        used = [s.path for s in series] + [k.path for k in findings.skipped]  # with this loop's own skips
        if not any(os.path.join(os.path.abspath(u), "").startswith(prefix) for u in used):
            extra = f" ({n_files} other file(s) ignored)" if n_files else " (the folder is empty)"
            findings.skip(root, f"no DICOM or NIfTI files found{extra}")
    return Discovery(series=series, skipped=findings.skipped, errors=findings.exceptions)


def _candidates(
    paths: PathLike | Iterable[PathLike], findings: Findings
) -> tuple[list[str], list[str], list[tuple[str, int]]]:
    """DICOM candidates, NIfTI files, and each given folder with its number of candidate files."""
    files: list[str] = []
    niftis: list[str] = []
    roots: list[tuple[str, int]] = []
    seen: set[tuple[int, int]] = set()
    for p in _as_paths(paths):
        if os.path.isdir(p):
            f, n = _walk(p, findings, seen)
            files += f
            niftis += n
            roots.append((p, len(f) + len(n)))
        elif os.path.lexists(p):
            _classify_file(p, files, niftis, findings, seen)
        else:
            findings.error(InputError("path does not exist", p))
    return files, niftis, roots


def _read_headers(
    files: list[str], findings: Findings, progress: Callable[[int, int], None] | None, total: int
) -> tuple[list[SliceHeader], dict[tuple[str, str], list[str]]]:
    """The DICOM headers, and the names of unreadable files by the (study, series) they belong to."""
    headers: list[SliceHeader] = []
    file_errors: dict[tuple[str, str], list[str]] = defaultdict(list)
    for i, f in enumerate(files):
        try:
            hs = read_headers(f)  # one per frame of an Enhanced CT file
        except DicomReadError as exc:
            key = getattr(exc, "group_key", None)
            if key is not None:
                file_errors[key].append(os.path.basename(f))
            findings.error(exc)
        else:
            if not hs:
                logger.debug("not DICOM, ignored: %s", f)
            headers += [h for h in hs if h.sop_class != MEDIA_STORAGE_DIRECTORY]
        if progress is not None:
            progress(i + 1, total)
    return headers, file_errors


def _read_niftis(
    niftis: list[str],
    min_slices: int,
    findings: Findings,
    progress: Callable[[int, int], None] | None,
    done: int,
    total: int,
) -> list[Series]:
    """The NIfTI volumes with at least ``min_slices`` slices; the others reported in ``findings``."""
    series: list[Series] = []
    for j, f in enumerate(niftis):
        try:
            s = load_nifti(f)
        except InputError as exc:
            findings.error(exc)
        else:
            if s.n_slices < min_slices:
                reason = f"only {s.n_slices} axial slice(s), fewer than min_slices={min_slices}"
                findings.skip(f, reason, n_files=1)
            else:
                series.append(s)
        if progress is not None:
            progress(done + j + 1, total)
    return series


def load_series(path: PathLike, *, min_slices: int = 1) -> Series:
    """The one series held by a folder (DICOM) or a NIfTI file.

    Files of the series that cannot be read are left out with a warning on the series, as in
    :func:`discover`; ``min_slices`` as there (the default keeps any stack).

    Raises:
        InputError: (a subclass) naming the path, when it holds no classifiable series (the
            reasons are listed) or more than one (their ids are listed: pass one of them).
    """
    p = os.fspath(path)
    if not os.path.lexists(p):
        raise InputError("path does not exist", p)
    found = discover([p], min_slices=min_slices)
    if len(found.series) == 1:
        return found.series[0]
    if not found.series:
        if len(found.errors) == 1 and len(found.skipped) == 1:
            raise found.errors[0]
        reasons = "; ".join(
            f"{_rel(s.path, p)}: {s.reason}" if _rel(s.path, p) else s.reason for s in found.skipped[:5]
        )
        more = f" (and {len(found.skipped) - 5} more)" if len(found.skipped) > 5 else ""
        msg = f"no classifiable CT series here: {reasons}{more}" if reasons else "no classifiable CT series here"
        raise SeriesError(msg, p)
    ids = ", ".join(s.series_id for s in found.series[:5])
    msg = (
        f"holds {len(found.series)} series ({ids}{', ...' if len(found.series) > 5 else ''}); "
        "pass the folder of one series, or use discover() to classify them all"
    )
    raise SeriesError(msg, p)


def _rel(child: str, parent: str) -> str:
    try:
        r = os.path.relpath(child, parent)
    except ValueError:
        return child
    return "" if r == "." else r


__all__ = ["Discovery", "discover", "load_series"]
