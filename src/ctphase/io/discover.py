"""Find the CT series under a set of paths: DICOM folders, NIfTI files, zip archives, DICOMDIRs.

:func:`discover` never stops at a bad input: every file or series that is not used comes back
as a :class:`~ctphase.io.series.Skipped` with the reason (``kind="skipped"`` for valid but
unclassifiable inputs, ``kind="error"`` for broken ones), unless ``strict=True``, which raises
the first error instead. See :mod:`ctphase.io.dicom` for the grouping and ordering rules.

Which files are looked at: every regular file under the given folders (symbolic links to files
followed; hidden folders and symbolic links to folders not searched). ``*.nii`` and ``*.nii.gz``
are NIfTI volumes, one series each. ``*.zip`` archives, named or found, are read in place, their
members like the files of a folder, headers first and pixels only when asked for
(:mod:`ctphase.io.archive`, which also defines a member's address: ``archive.zip!/inner/path``).
A file is DICOM when it carries the 'DICM' marker at byte 128 (PS3.10 7.1), or, without it, when
it parses as a raw dataset that holds SOP Class and Series Instance UIDs. A file named like DICOM
(``.dcm``, ``.dicom``, ``.dic``, ``.ima``) that is not, and a broken symbolic link, are errors.

A path that is an ``http://`` or ``https://`` URL is a DICOMweb server, read by
:func:`ctphase.io.dicomweb.discover_dicomweb` (metadata first, pixels of sampled slices later).

A DICOMDIR named directly (a file named ``DICOMDIR``, or any file of SOP Class Media Storage
Directory) stands for the files it lists (:mod:`ctphase.io.dicomdir`); listed files that are
missing are one error naming the DICOMDIR and those files. Inside searched folders a DICOMDIR
is not read: the files it lists are found there anyway.

Every input is accounted for. A file named directly that is neither DICOM nor NIfTI (nor a zip
or a DICOMDIR), or is not a regular file, is one ``skipped`` record naming it. Under searched
folders and in archives, the files not read (neither DICOM nor NIfTI, hidden, DICOMDIR indexes,
FIFOs/sockets/devices, zips inside archives) are one record per folder with their count and up
to five names; a folder or archive given that yields nothing at all (and any empty folder under
a given one) gets one record instead, "no DICOM or NIfTI files found (...)"
(:mod:`ctphase.io.unused`). Nothing is reported twice.
"""

from __future__ import annotations

import logging
import os
import stat
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import DicomReadError, InputError, SeriesError
from .archive import SEPARATOR, Reader, ZipMember, is_zip_path, list_archive, tidy
from .dicom import assemble
from .dicom_header import MEDIA_STORAGE_DIRECTORY, SliceHeader, read_headers
from .dicomdir import referenced_files
from .dicomweb import is_dicomweb_url
from .findings import Findings
from .nifti import is_nifti_path, load_nifti
from .series import Series, Skipped
from .unused import DICOMDIR, HIDDEN, HIDDEN_DIR, LINKED_DIR, OTHER, SPECIAL, Unused

if TYPE_CHECKING:  # pragma: no cover
    from .dicomweb import DicomWebQuery

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]
Candidate = str | ZipMember  # a file on disk, or a member of a zip archive


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


@dataclass
class _Inputs:
    """The files to read, and what the walk found besides them."""

    files: list[Candidate] = field(default_factory=list)  # DICOM candidates
    niftis: list[Candidate] = field(default_factory=list)
    roots: list[tuple[str, str]] = field(default_factory=list)  # (folder or archive searched, its kind)
    direct: set[str] = field(default_factory=set)  # files named directly (or listed by a DICOMDIR named so)
    unused: Unused = field(default_factory=Unused)
    seen: set[tuple[int, int]] = field(default_factory=set)  # (device, inode): each file once

    @property
    def total(self) -> int:
        return len(self.files) + len(self.niftis)


def _as_paths(paths: PathLike | Iterable[PathLike]) -> list[str]:
    if isinstance(paths, (str, os.PathLike)):
        return [os.fspath(paths)]
    return [os.fspath(p) for p in paths]


def _name(f: Candidate) -> str:
    return f.address if isinstance(f, ZipMember) else f


def _walk(root: str, inputs: _Inputs, findings: Findings) -> None:
    """Add the files under ``root``, sorted; tally what is not read."""

    def onerror(exc: OSError) -> None:
        findings.error(DicomReadError(f"cannot list folder: {exc.strerror or exc}", exc.filename or root))

    for dirpath, dirnames, filenames in os.walk(root, onerror=onerror, followlinks=False):
        if not dirnames and not filenames and dirpath != root:  # an empty folder: reported as a given one would be
            inputs.roots.append((dirpath, "folder"))
        searched = []
        for d in sorted(dirnames):
            if d.startswith("."):
                inputs.unused.add(dirpath, HIDDEN_DIR, d)
            elif os.path.islink(os.path.join(dirpath, d)):
                inputs.unused.add(dirpath, LINKED_DIR, d)
            else:
                searched.append(d)
        dirnames[:] = searched
        for name in sorted(filenames):
            if name.startswith("."):
                inputs.unused.add(dirpath, HIDDEN, name)
            elif name.upper() == "DICOMDIR":
                inputs.unused.add(dirpath, DICOMDIR, name)
            else:
                _add_file(os.path.join(dirpath, name), inputs, findings, direct=False)


def _add_file(p: str, inputs: _Inputs, findings: Findings, *, direct: bool) -> None:
    try:
        st = os.stat(p)
    except FileNotFoundError:
        findings.error(DicomReadError("cannot read file: broken symbolic link (its target does not exist)", p))
        return
    except OSError as exc:
        findings.error(DicomReadError(f"cannot read file: {exc.strerror or exc}", p))
        return
    if not stat.S_ISREG(st.st_mode):  # FIFOs, sockets, devices: never opened
        if direct:
            findings.skip(p, f"not a regular file ({_special_kind(st.st_mode)}): not read", n_files=1)
        else:
            inputs.unused.add(os.path.dirname(p), SPECIAL, os.path.basename(p))
        return
    key = (st.st_dev, st.st_ino)
    if key in inputs.seen:  # the same file reached twice (overlapping paths, links)
        return
    inputs.seen.add(key)
    if direct:
        inputs.direct.add(p)
    if is_nifti_path(p):
        inputs.niftis.append(p)
    elif is_zip_path(p):
        listing = list_archive(p, findings)
        inputs.files += listing.dicom
        inputs.niftis += listing.nifti
        for folder, category, name in listing.unused:
            inputs.unused.add(folder, category, name)
        inputs.roots.append((p, "archive"))
    else:
        inputs.files.append(p)


def _special_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a file"


def discover(
    paths: PathLike | Iterable[PathLike],
    *,
    min_slices: int = 1,
    strict: bool = False,
    progress: Callable[[int, int], None] | None = None,
    dicomweb: DicomWebQuery | None = None,
) -> Discovery:
    """Find all classifiable CT series under ``paths`` (folders and/or files) and on DICOMweb servers.

    Args:
        paths: folders to search recursively, DICOM files, NIfTI files, zip archives, DICOMDIRs,
            and DICOMweb roots (``http(s)://`` strings, :mod:`ctphase.io.dicomweb`).
        min_slices: stacks with fewer slices are skipped (reported, not classified). Reading
            applies no sampling policy: the default keeps every stack, and a caller that
            samples slices passes the sampler's minimum.
        strict: raise the first error (an :class:`~ctphase.errors.InputError`) instead of
            reporting it in ``skipped``.
        progress: called as ``progress(done, total)`` while file headers are read (``total``
            grows when a DICOMDIR named directly adds the files it lists).
        dicomweb: filters and credentials for the DICOMweb URLs of ``paths`` (default: all CT
            series, credentials from the environment); its own ``url`` is read too.
    Returns:
        a :class:`Discovery`; series sorted by path then series id. Only headers are read;
        pixels are decoded later by ``Series.read_slices``.
    """
    if int(min_slices) < 1:
        msg = f"min_slices must be >= 1, got {min_slices}"
        raise SeriesError(msg)
    paths = _as_paths(paths)
    urls = [p for p in paths if is_dicomweb_url(p)]
    if dicomweb is not None or urls:
        return _with_dicomweb(dicomweb, urls, [p for p in paths if p not in urls], min_slices, strict, progress)
    findings = Findings(strict)
    inputs = _candidates(paths, findings)
    with Reader() as members:  # one archive open at a time, closed on return
        headers, file_errors = _read_headers(inputs, findings, progress, members)
        nifti_series = _read_niftis(inputs, min_slices, findings, progress, members)
    assemble(headers, min_slices=min_slices, strict=strict, file_errors=file_errors, findings=findings)
    series = list(findings.series) + nifti_series
    for item in [*series, *findings.skipped]:
        item.path = tidy(item.path)  # an archive's top level is named by the archive
    series.sort(key=lambda s: (s.path, s.series_id))
    inputs.unused.report(findings, inputs.roots, [s.path for s in series] + [k.path for k in findings.skipped])
    return Discovery(series=series, skipped=findings.skipped, errors=findings.exceptions)


def _with_dicomweb(
    query: DicomWebQuery | None, urls: list[str], files: list[str], min_slices: int, strict: bool,
    progress: Callable[[int, int], None] | None,
) -> Discovery:
    """What :func:`discover` finds in ``files``, then on each DICOMweb server (``urls`` and ``query.url``)."""
    from dataclasses import replace

    from .dicomweb import DicomWebQuery, auth_from_env, discover_dicomweb

    found = discover(files, min_slices=min_slices, strict=strict, progress=progress) if files else Discovery()
    if query is None:
        query = DicomWebQuery(urls[0], auth=auth_from_env())
    for url in dict.fromkeys(u.rstrip("/") for u in [*urls, query.url]):
        more = discover_dicomweb(replace(query, url=url), min_slices=min_slices, strict=strict, progress=progress)
        found.series += more.series
        found.skipped += more.skipped
        found.errors += more.errors
    return found


def _candidates(paths: PathLike | Iterable[PathLike], findings: Findings) -> _Inputs:
    """The files to read under ``paths`` (each given path once, each file once)."""
    inputs = _Inputs()
    given: set[str] = set()
    for p in _as_paths(paths):
        if os.path.abspath(p) in given:
            continue
        given.add(os.path.abspath(p))
        if os.path.isdir(p):
            _walk(p, inputs, findings)
            inputs.roots.append((p, "folder"))
        elif os.path.lexists(p):
            _add_file(p, inputs, findings, direct=True)
        else:
            findings.error(InputError("path does not exist", p))
    return inputs


def _read_headers(
    inputs: _Inputs, findings: Findings, progress: Callable[[int, int], None] | None, members: Reader
) -> tuple[list[SliceHeader], dict[tuple[str, str], list[str]]]:
    """The DICOM headers, and the names of unreadable files by the (study, series) they belong to.

    ``inputs.files`` may grow while it is read: a DICOMDIR named directly adds the files it lists.
    """
    headers: list[SliceHeader] = []
    file_errors: dict[tuple[str, str], list[str]] = defaultdict(list)
    i = 0
    while i < len(inputs.files):
        f = inputs.files[i]
        i += 1
        try:
            hs = members.header(f) if isinstance(f, ZipMember) else read_headers(f)  # one per frame of Enhanced CT
        except DicomReadError as exc:
            key = getattr(exc, "group_key", None)
            if key is not None:
                file_errors[key].append(os.path.basename(_name(f)))
            findings.error(exc)
        else:
            if not hs:
                _not_dicom(_name(f), inputs, findings)
            elif hs[0].sop_class == MEDIA_STORAGE_DIRECTORY:
                _dicomdir(_name(f), inputs, findings)
            else:
                headers += hs
        if progress is not None:
            progress(i, inputs.total)
    return headers, file_errors


def _not_dicom(name: str, inputs: _Inputs, findings: Findings) -> None:
    """A file that is neither DICOM nor NIfTI: its own record when named directly, else tallied."""
    if name not in inputs.direct:
        inputs.unused.add(tidy(os.path.dirname(name)), OTHER, os.path.basename(name))
        return
    try:
        empty = os.path.getsize(name) == 0
    except OSError:
        empty = False
    why = (
        "empty file, 0 bytes"
        if empty
        else "no 'DICM' marker at byte 128 and no DICOM data elements at the start; NIfTI files end in .nii or .nii.gz"
    )
    findings.skip(name, f"not a DICOM or NIfTI file ({why})", n_files=1)


def _dicomdir(name: str, inputs: _Inputs, findings: Findings) -> None:
    """A DICOMDIR: named directly, the files it lists are read in its place; found in a folder, tallied."""
    if name not in inputs.direct:
        inputs.unused.add(tidy(os.path.dirname(name)), DICOMDIR, os.path.basename(name))
        return
    try:
        found, missing = referenced_files(name)
    except DicomReadError as exc:
        findings.error(exc)
        return
    if missing:
        shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        msg = f"{len(missing)} of the {len(found) + len(missing)} file(s) this DICOMDIR lists are missing: {shown}"
        findings.error(DicomReadError(msg, name), n_files=len(missing))
    elif not found:
        findings.skip(name, "DICOMDIR that lists no files", n_files=1)
    for p in found:
        _add_file(p, inputs, findings, direct=True)


def _read_niftis(
    inputs: _Inputs,
    min_slices: int,
    findings: Findings,
    progress: Callable[[int, int], None] | None,
    members: Reader,
) -> list[Series]:
    """The NIfTI volumes with at least ``min_slices`` slices; the others reported in ``findings``."""
    series: list[Series] = []
    for j, f in enumerate(inputs.niftis):
        try:
            s = members.nifti(f) if isinstance(f, ZipMember) else load_nifti(f)
        except InputError as exc:
            findings.error(exc)
        else:
            if s.n_slices < min_slices:
                reason = f"only {s.n_slices} axial slice(s), fewer than min_slices={min_slices}"
                findings.skip(s.path, reason, n_files=1)
            else:
                series.append(s)
        if progress is not None:
            progress(len(inputs.files) + j + 1, inputs.total)
    return series


def load_series(path: PathLike, *, min_slices: int = 1) -> Series:
    """The one series held by a folder (DICOM), a NIfTI file, a zip archive or a DICOMDIR.

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
    if child.startswith(parent + SEPARATOR):  # a member of the archive ``parent``
        return child[len(parent) + len(SEPARATOR) :]
    try:
        r = os.path.relpath(child, parent)
    except ValueError:
        return child
    return "" if r == "." else r


__all__ = ["Discovery", "discover", "load_series"]
