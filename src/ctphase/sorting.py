"""Sorting classified series into phase folders: the library behind ``ctphase sort``.

:func:`sort_series` classifies every series under the source paths
(:func:`ctphase.pipeline.classify`), plans a destination folder for each classified series from a
pattern (default ``{study}/{phase}/{series}``) and copies, or hard-links, its files there. The
originals are only ever read. Rules:

- **Fields** of the pattern: ``study`` (the first 8 hex digits of the SHA-256 of the
  StudyInstanceUID; ``nifti`` for NIfTI files: never a patient name or ID), ``phase`` (the final
  label, ``uncertain`` included), ``series`` (the last 8 characters of the SeriesInstanceUID,
  plus ``_acqN``/``_recN`` when one series UID held several stacks; a NIfTI file's name without
  its suffix; ``-2``, ``-3`` ... appended when two series would share a folder) and
  ``acquisition_order`` (the series' place in its study's time order, ``na`` when unknown).
  ``{series}`` is required, so that two series never share a folder by design.
- **Files**: each series' own files (a DICOM series' slice files, a NIfTI file as a file), under
  their path relative to the series folder. Members of zip archives are *extracted*: their
  bytes are written into the destination, the archive is left untouched (never hard-linked).
- **No overwrite**: a file is written to a temporary name beside its destination and then
  hard-linked onto the final name, which fails if a file is already there. A different file at a
  destination is an error for that series (reported; the other series continue), never replaced.
- **Resumable**: a destination file that already exists with the same size and the same SHA-256
  content hash as its source counts as placed (a hard link to the source, same inode, without
  reading it). A rerun therefore copies nothing that is already there, and an interrupted run
  continues where it stopped (a file is never left half-written under its final name).
- ``link=True`` hard-links instead of copying; across file systems (or where links are refused)
  the file is copied and the series gets a warning.
"""

from __future__ import annotations

import csv
import errno
import hashlib
import io
import os
import shutil
import string
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from .errors import ConfigError
from .prediction import STATUS_OK, ScanPrediction

DEFAULT_PATTERN = "{study}/{phase}/{series}"
FIELDS: tuple[str, ...] = ("study", "phase", "series", "acquisition_order")
INDEX_NAME = "index.csv"
INDEX_COLUMNS: tuple[str, ...] = (
    "series_id", "source", "destination", "label", "confidence", "n_files", "status", "reason",
)
_CHUNK = 1 << 20


@dataclass
class SourceFile:
    """One file of a series: its address (a path, or ``archive.zip!/member``) and how to read it."""

    address: str
    relative: str  # its path under the series' destination folder
    opener: Callable[[], BinaryIO] | None = None  # an archive member; None: the file on disk

    def open(self) -> BinaryIO:
        return open(self.address, "rb") if self.opener is None else self.opener()


@dataclass
class SortEntry:
    """One series (or skipped input) and where its files go.

    ``status``: ``planned`` (dry run), ``copied`` / ``linked`` (files placed now; ``linked`` when
    every new file is a hard link), ``present`` (everything was already in place), ``failed``
    (a collision or an I/O error, in ``reason``), or the prediction's ``skipped`` / ``error``.
    """

    prediction: ScanPrediction
    files: list[SourceFile] = field(default_factory=list)
    destination: str | None = None  # relative to the destination root
    status: str = "planned"
    reason: str = ""
    warnings: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.status in ("failed", "error")


def check_pattern(pattern: str) -> None:
    """Raise :class:`~ctphase.errors.ConfigError` unless ``pattern`` is a usable folder pattern."""
    try:
        names = [name for _, name, spec, conv in string.Formatter().parse(pattern) if name is not None]
        bad_spec = any(spec or conv for _, name, spec, conv in string.Formatter().parse(pattern) if name is not None)
    except ValueError as exc:
        raise ConfigError(f"--pattern {pattern!r}: {exc}") from None
    unknown = sorted({n for n in names if n not in FIELDS})
    if unknown:
        raise ConfigError(f"--pattern {pattern!r}: unknown field(s) {', '.join(unknown)}; "
                          f"known: {', '.join(FIELDS)}")
    if bad_spec:
        raise ConfigError(f"--pattern {pattern!r}: fields take no format specification or conversion")
    if "series" not in names:
        raise ConfigError(f"--pattern {pattern!r} must contain {{series}} (each series gets its own folder)")
    parts = pattern.replace("\\", "/").split("/")
    if pattern.startswith(("/", "\\")) or any(p in ("", ".", "..") for p in parts):
        raise ConfigError(f"--pattern {pattern!r}: must be a relative path without empty, '.' or '..' parts")


def check_destination(sources: Sequence[str | Path], dest: str | Path) -> None:
    """Raise :class:`ConfigError` when ``dest`` is one of the sources or inside one (a rerun would sort the copies)."""
    d = Path(dest).resolve()
    for src in sources:
        s = Path(src).resolve()
        if d == s or s in d.parents:
            raise ConfigError(f"the destination {dest} is inside the source {src}; choose a folder outside it")
        if s.is_dir() and d in s.parents:
            raise ConfigError(f"the source {src} is inside the destination {dest}; choose another destination")


def _series_field(p: ScanPrediction) -> str:
    if p.series_uid:
        extra = "".join(f"_{part}" for part in p.series_id.split("/")[2:])
        return _safe(p.series_uid[-8:] + extra)
    name = os.path.basename(p.path.rstrip("/"))
    for suffix in (".nii.gz", ".nii"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return _safe(name) or "series"


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text).strip(".") or "_"


def fields_of(p: ScanPrediction) -> dict[str, str]:
    """The pattern fields of one classified series."""
    study = hashlib.sha256(p.study_uid.encode()).hexdigest()[:8] if p.study_uid else "nifti"
    order = "na" if p.acquisition_order is None else str(p.acquisition_order)
    return {"study": study, "phase": p.label or "uncertain", "series": _series_field(p), "acquisition_order": order}


def series_files(read: dict[tuple[str, str], Any]) -> dict[tuple[str, str], list[SourceFile]]:
    """The files of every series, by ``(series_id, path)`` as the predictions name them.

    ``read``: the series each record was read from, as :func:`ctphase.pipeline.classify` fills it.
    """
    return {key: _files_of(series) for key, series in read.items()}


def _files_of(series: Any) -> list[SourceFile]:
    slices = getattr(series, "slices", None)
    member = getattr(series, "member", None)
    if not slices:  # NIfTI: the file itself (or its archive member)
        return [SourceFile(series.path, _basename(series.path), member.open if member is not None else None)]
    files, seen, names = [], set(), set()
    root = series.path.rstrip("/")
    for h in slices:
        if h.path in seen:
            continue  # several frames of one Enhanced CT file
        seen.add(h.path)
        rel = _relative(h.path, root)
        stem, k = rel, 2
        while rel in names:
            rel, k = f"{stem}_{k}", k + 1
        names.add(rel)
        opener = h.opener.open if getattr(h, "opener", None) is not None else None
        files.append(SourceFile(h.path, rel, opener))
    return files


def _basename(address: str) -> str:
    return _safe(address.replace("!/", "/").rstrip("/").rsplit("/", 1)[-1])


def _relative(address: str, root: str) -> str:
    for sep in ("/", "!/"):
        if address.startswith(root + sep):
            parts = address[len(root) + len(sep):].replace("!/", "/").split("/")
            return "/".join(_safe(p) for p in parts if p not in ("", ".", ".."))
    return _basename(address)


def plan(predictions: Sequence[ScanPrediction], files: dict[tuple[str, str], list[SourceFile]],
         pattern: str = DEFAULT_PATTERN) -> list[SortEntry]:
    """One :class:`SortEntry` per prediction: classified series get a unique destination folder."""
    check_pattern(pattern)
    entries, used = [], set()
    for p in predictions:
        if p.status != STATUS_OK:
            entries.append(SortEntry(p, status=p.status, reason=p.error or ""))
            continue
        own = files.get((p.series_id, p.path))
        if not own:
            entries.append(SortEntry(p, status="failed", reason="the files of the series are not known"))
            continue
        base = pattern.format(**fields_of(p))
        dest, k = base, 2
        while dest in used:
            dest, k = f"{base}-{k}", k + 1
        used.add(dest)
        entries.append(SortEntry(p, files=own, destination=dest))
    return entries


def _sha256(fh: BinaryIO) -> str:
    h = hashlib.sha256()
    for chunk in iter(lambda: fh.read(_CHUNK), b""):
        h.update(chunk)
    return h.hexdigest()


def _same(src: SourceFile, target: Path) -> bool:
    """Whether ``target`` already holds ``src``'s bytes (same inode, or same size and SHA-256)."""
    if src.opener is None:
        a, b = os.stat(src.address), os.stat(target)
        if (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino):
            return True
        if a.st_size != b.st_size:
            return False
    with src.open() as fh_src, open(target, "rb") as fh_dst:
        return _sha256(fh_src) == _sha256(fh_dst)


def _place(src: SourceFile, target: Path, link: bool) -> str:
    """Put ``src`` at ``target`` without ever replacing a file: ``linked``, ``copied`` or ``cross-device``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    how = "copied"
    if link and src.opener is None:
        try:
            os.link(src.address, target)
            return "linked"
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EACCES, errno.EMLINK, errno.ENOTSUP):
                raise
            how = "cross-device"
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out, src.open() as fh:
            shutil.copyfileobj(fh, out, _CHUNK)
        if src.opener is None:
            shutil.copystat(src.address, tmp)
        os.link(tmp, target)  # fails (EEXIST) rather than replace a file that appeared meanwhile
    finally:
        os.unlink(tmp)
    return how


def _sort_one(entry: SortEntry, root: Path, link: bool) -> None:
    """Place the files of one planned series; a collision or I/O error fails this series only."""
    folder = root / entry.destination  # type: ignore[operator]
    placed = {"linked": 0, "copied": 0}
    try:
        for f in entry.files:
            target = folder / f.relative
            if target.exists() or target.is_symlink():
                if not target.is_file() or not _same(f, target):
                    entry.status, entry.reason = "failed", f"a different file is already at {target}; not replaced"
                    return
                continue
            how = _place(f, target, link)
            if how == "cross-device":
                how = "copied"
                if not entry.warnings:
                    entry.warnings.append("hard links not possible here (another file system?): files copied")
            placed[how] += 1
    except OSError as exc:
        entry.status, entry.reason = "failed", f"{exc.strerror or exc}: {getattr(exc, 'filename', '') or ''}".strip(": ")
        return
    entry.status = "present" if not any(placed.values()) else "copied" if placed["copied"] else "linked"
    entry.reason = "; ".join(entry.warnings)


def execute(entries: Sequence[SortEntry], dest: str | Path, *, link: bool = False,
            on_progress: Callable[[int, int], None] | None = None) -> None:
    """Place the files of every planned entry under ``dest`` (see the module rules); statuses are set in place."""
    todo = [e for e in entries if e.status == "planned"]
    for i, e in enumerate(todo):
        _sort_one(e, Path(dest), link)
        if on_progress:
            on_progress(i + 1, len(todo))


def index_csv(entries: Sequence[SortEntry], dest: str | Path) -> str:
    """The index: one row per entry (destination folder absolute, empty when nothing goes anywhere)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(INDEX_COLUMNS)
    for e in entries:
        p = e.prediction
        w.writerow([p.series_id, p.path, str(Path(dest) / e.destination) if e.destination else "", p.label or "",
                    "" if p.confidence is None else f"{p.confidence:.4f}", len(e.files) if e.files else p.n_files or 0,
                    e.status, e.reason])
    return buf.getvalue()


def write_index(entries: Sequence[SortEntry], dest: str | Path) -> Path:
    """Write ``dest/index.csv`` atomically; returns its path."""
    from .atomic import write_atomic

    return write_atomic(Path(dest) / INDEX_NAME, index_csv(entries, dest))


def sort_series(paths: Sequence[str | Path], dest: str | Path, *, pattern: str = DEFAULT_PATTERN, link: bool = False,
                dry_run: bool = False, on_progress: Callable[[str, int, int], None] | None = None,
                **classify_options: Any) -> list[SortEntry]:
    """Classify every series under ``paths`` and sort their files into ``dest`` (nothing written with ``dry_run``).

    ``classify_options``: as :func:`ctphase.pipeline.classify`; ``on_progress`` gets its stages and
    ``"sort"``. Returns one entry per prediction; ``dest/index.csv`` is written unless ``dry_run``.
    """
    from .pipeline import classify

    check_pattern(pattern)
    check_destination(paths, dest)
    read: dict[tuple[str, str], Any] = {}
    preds = classify(list(paths), on_progress=on_progress, read=read, **classify_options)
    entries = plan(preds, series_files(read), pattern)
    if dry_run:
        return entries
    execute(entries, dest, link=link, on_progress=(lambda d, t: on_progress("sort", d, t)) if on_progress else None)
    write_index(entries, dest)
    return entries


__all__ = [
    "DEFAULT_PATTERN", "FIELDS", "INDEX_COLUMNS", "INDEX_NAME", "SortEntry", "SourceFile", "check_destination",
    "check_pattern", "execute", "fields_of", "index_csv", "plan", "series_files", "sort_series", "write_index",
]
