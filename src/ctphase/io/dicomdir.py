"""A DICOMDIR named directly: the files it lists are read in its place.

A DICOMDIR (PS3.10 Media Storage Directory, SOP Class 1.2.840.10008.1.3.10) indexes the files
of a DICOM medium. Each directory record may name a file by its Referenced File ID (0004,1500),
path components relative to the folder that holds the DICOMDIR (PS3.10 8.5). When the exact name
is missing, a component is matched case-insensitively, as media written on case-insensitive file
systems require. Inside walked folders a DICOMDIR is not read at all: the files it lists are
walked anyway (see :mod:`ctphase.io.discover`).
"""

from __future__ import annotations

import os

from ..errors import DicomReadError


def referenced_files(path: str) -> tuple[list[str], list[str]]:
    """The files a DICOMDIR lists: those present (paths), and the missing ones (as listed).

    Raises:
        DicomReadError: naming the DICOMDIR, when it cannot be parsed or holds no directory records.
    """
    import pydicom

    try:
        ds = pydicom.dcmread(path, force=True)
        records = ds.get("DirectoryRecordSequence")
        ids = [_file_id(r) for r in records or ()]
    except Exception as exc:  # pydicom raises many types on broken input
        msg = f"cannot read DICOMDIR ({type(exc).__name__}: {exc})"
        raise DicomReadError(msg, path) from None
    if records is None:
        raise DicomReadError("DICOMDIR without a DirectoryRecordSequence (0004,1220): it lists no files", path)
    base = os.path.dirname(os.path.abspath(path))
    found: list[str] = []
    missing: list[str] = []
    seen: set[tuple[str, ...]] = set()
    for parts in ids:
        if not parts or parts in seen:
            continue
        seen.add(parts)
        p = _resolve(base, parts)
        if p is None:
            missing.append("/".join(parts))
        else:
            found.append(p)
    return found, missing


def _file_id(record: object) -> tuple[str, ...]:
    fid = getattr(record, "ReferencedFileID", None)
    if fid is None or fid == "":
        return ()
    values = [fid] if isinstance(fid, str) else list(fid)  # type: ignore[arg-type]
    return tuple(str(v).strip() for v in values if str(v).strip())


def _resolve(base: str, parts: tuple[str, ...]) -> str | None:
    """``base/parts...`` as it exists on disk, each component matched case-insensitively if need be."""
    p = base
    for part in parts:
        exact = os.path.join(p, part)
        if os.path.lexists(exact):
            p = exact
            continue
        try:
            match = [n for n in os.listdir(p) if n.casefold() == part.casefold()]
        except OSError:
            return None
        if not match:
            return None
        p = os.path.join(p, sorted(match)[0])
    return p if os.path.isfile(p) else None


__all__ = ["referenced_files"]
