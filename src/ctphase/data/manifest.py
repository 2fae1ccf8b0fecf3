"""Reading training/evaluation manifests and splitting them by patient.

Two formats are accepted:

- **series manifest**, CSV with columns ``path,label`` and optional ``patient_id,study_id,series_id``
  (extra columns are kept in :attr:`SeriesRecord.extra`). ``path`` is a DICOM series folder or a
  NIfTI file, relative paths are resolved against the manifest's folder; ``label`` is a phase
  name, alias or fine subphase (:meth:`ctphase.phases.Phase.parse`). Numeric labels are refused
  here because their meaning depends on the labelling scheme.
- **the paper's per-slice CSV** (Dao et al. 2022), columns ``image,label,study,series``: one row
  per pre-rendered 8-bit slice image, labels in the paper's order ``0 Non, 1 Venous, 2 Arterial,
  3 Others``. They are converted to canonical phases here, at the boundary
  (:func:`ctphase.phases.from_paper_index`), and nowhere else.

Errors name the file, the (1-based, header = line 1) line and the column.
"""

from __future__ import annotations

import csv
import zlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar

import numpy as np

from ..errors import ConfigError, InputError, listed
from ..phases import Phase, from_paper_index

SERIES_COLUMNS = ("path", "label")
OPTIONAL_SERIES_COLUMNS = ("patient_id", "study_id", "series_id")
PAPER_COLUMNS = ("image", "label", "study", "series")


class ManifestError(InputError, ConfigError):
    """A manifest cannot be read: names the file, line and column at fault."""


def group_key(patient_id: str | None, study_id: str | None, fallback: str) -> str:
    """Split key of a record: ``patient:ID``, else ``study:ID``, else ``fallback``.

    Slices or series with the same key always land on the same side of a split.
    """
    if patient_id:
        return f"patient:{patient_id}"
    if study_id:
        return f"study:{study_id}"
    return fallback


@dataclass(frozen=True)
class SeriesRecord:
    """One labelled series of a series manifest.

    Attributes:
        path: absolute path of the DICOM series folder or NIfTI file.
        label: scan-level phase.
        patient_id, study_id, series_id: optional identities (``None`` when the column is absent or empty).
        line: line of the manifest the record came from (header = 1).
        extra: the other columns of the row, as strings.
    """

    path: Path
    label: Phase
    patient_id: str | None = None
    study_id: str | None = None
    series_id: str | None = None
    line: int = 0
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def group(self) -> str:
        """Split key: the patient, else the study, else the series path (it is its own group)."""
        return group_key(self.patient_id, self.study_id, f"path:{self.path}")

    @property
    def scan_key(self) -> str:
        """Identity of the scan this record belongs to (series id, else its path)."""
        return self.series_id or str(self.path)


@dataclass(frozen=True)
class SliceRecord:
    """One pre-rendered slice image of the paper's per-slice CSV.

    Attributes:
        path: absolute path of the 8-bit image (PNG/JPEG/...), already windowed by the paper's pipeline.
        label: canonical phase (converted from the paper's index).
        study_id, series_id: from the ``study`` and ``series`` columns.
        patient_id: from an optional ``patient_id`` column.
    """

    path: Path
    label: Phase
    study_id: str | None = None
    series_id: str | None = None
    patient_id: str | None = None
    line: int = 0
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def group(self) -> str:
        """Split key: the patient, else the study, else the series."""
        return group_key(self.patient_id, self.study_id, f"series:{self.series_id}")

    @property
    def scan_key(self) -> str:
        """Identity of the scan (``study/series``) the slice belongs to."""
        return f"{self.study_id}/{self.series_id}"


@dataclass
class Manifest:
    """The records of one manifest file.

    Attributes:
        path: the manifest file.
        kind: ``"series"`` (``path,label`` rows) or ``"paper_slices"`` (the paper's per-slice CSV).
        records: one record per data row, in file order.
    """

    path: Path
    kind: Literal["series", "paper_slices"]
    records: list[SeriesRecord] | list[SliceRecord]

    def __len__(self) -> int:
        return len(self.records)

    @property
    def groups(self) -> list[str]:
        """Distinct split groups (patients, else studies), in order of first appearance."""
        return list(dict.fromkeys(r.group for r in self.records))

    def label_counts(self) -> dict[str, int]:
        """Number of records per phase label."""
        out = {p.label: 0 for p in Phase}
        for r in self.records:
            out[r.label.label] += 1
        return out


def _fail(path: Path, message: str, line: int | None = None, column: str | None = None) -> ManifestError:
    where = "" if line is None else f"line {line}"
    if column is not None:
        where += f"{', ' if where else ''}column {column!r}"
    return ManifestError(f"{where}: {message}" if where else message, path)


def _opt(row: dict[str, str | None], key: str) -> str | None:
    value = row.get(key)
    if value is None:
        return None
    value = value.strip()
    return value or None


def read_manifest(path: str | Path, *, check_paths: bool = True) -> Manifest:
    """Read a series manifest or the paper's per-slice CSV (detected from the header).

    Args:
        path: the CSV file.
        check_paths: fail when a referenced series/image does not exist.
    Raises:
        ManifestError: missing file, unknown header, empty manifest, bad label or missing path,
            naming the file, line and column; every bad row is listed (the first
            ``errors.MAX_LISTED_PROBLEMS``, then a count), so one pass fixes them all.
    """
    path = Path(path)
    if not path.is_file():
        raise _fail(path, "manifest file not found (pass a CSV with columns path,label, or 'synth')")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(path, f"cannot read manifest: {exc}") from None
    reader = csv.DictReader(text.splitlines())
    header = [h.strip() for h in (reader.fieldnames or [])]
    reader.fieldnames = header
    if not header:
        raise _fail(path, "manifest is empty; expected a header line 'path,label[,patient_id,study_id,series_id]'")
    base = path.parent
    if "path" in header and "label" in header:
        kind: Literal["series", "paper_slices"] = "series"
    elif all(c in header for c in PAPER_COLUMNS):
        kind = "paper_slices"
    else:
        raise _fail(
            path,
            f"unknown manifest header {header}; expected 'path,label' (+ optional {','.join(OPTIONAL_SERIES_COLUMNS)}) "
            f"or the paper's per-slice header '{','.join(PAPER_COLUMNS)}'",
            line=1,
        )
    records: list = []
    problems: list[ManifestError] = []  # every bad row is reported at once, not only the first
    for line, row in enumerate(reader, start=2):
        if None in row:
            problems.append(_fail(path, f"row has more fields than the header ({len(header)})", line))
            continue
        if all((v or "").strip() == "" for v in row.values()):
            continue  # blank line
        try:
            if kind == "series":
                records.append(_series_record(path, base, line, row, check_paths))
            else:
                records.append(_slice_record(path, base, line, row, check_paths))
        except ManifestError as exc:
            problems.append(exc)
    if problems:
        raise _combine(path, problems)
    if not records:
        raise _fail(path, "manifest has a header but no data rows")
    return Manifest(path=path, kind=kind, records=records)


def _combine(path: Path, problems: Sequence[ManifestError]) -> ManifestError:
    """One error for all bad rows: the only one's message, or a count and the first ``errors.MAX_LISTED_PROBLEMS``."""
    if len(problems) == 1:
        return problems[0]
    return ManifestError(listed([p.reason for p in problems], "bad rows"), path)


def _resolve(path: Path, base: Path, line: int, value: str | None, column: str, check: bool) -> Path:
    value = (value or "").strip()
    if not value:
        raise _fail(path, "empty path", line, column)
    p = Path(value).expanduser()
    if not p.is_absolute():
        p = base / p
    if check and not p.exists():
        raise _fail(path, f"{p} does not exist (relative paths are resolved against the manifest's folder)", line, column)
    return p


def _series_record(path: Path, base: Path, line: int, row: dict, check: bool) -> SeriesRecord:
    raw = (row.get("label") or "").strip()
    if not raw:
        raise _fail(path, "empty label", line, "label")
    if raw.lstrip("-").isdigit():
        raise _fail(
            path,
            f"numeric label {raw!r} is ambiguous; write the phase name (non_contrast, arterial, venous, other)",
            line,
            "label",
        )
    try:
        label = Phase.parse(raw)
    except ValueError as exc:
        raise _fail(path, str(exc), line, "label") from None
    known = set(SERIES_COLUMNS) | set(OPTIONAL_SERIES_COLUMNS)
    return SeriesRecord(
        path=_resolve(path, base, line, row.get("path"), "path", check),
        label=label,
        patient_id=_opt(row, "patient_id"),
        study_id=_opt(row, "study_id"),
        series_id=_opt(row, "series_id"),
        line=line,
        extra={k: (v or "") for k, v in row.items() if k not in known},
    )


def _slice_record(path: Path, base: Path, line: int, row: dict, check: bool) -> SliceRecord:
    raw = (row.get("label") or "").strip()
    try:
        label = from_paper_index(int(raw))
    except ValueError:
        raise _fail(
            path,
            f"bad label {raw!r}; the paper's per-slice CSV uses 0 Non, 1 Venous, 2 Arterial, 3 Others",
            line,
            "label",
        ) from None
    study, series = _opt(row, "study"), _opt(row, "series")
    if study is None:
        raise _fail(path, "empty study", line, "study")
    if series is None:
        raise _fail(path, "empty series", line, "series")
    known = set(PAPER_COLUMNS) | {"patient_id"}
    return SliceRecord(
        path=_resolve(path, base, line, row.get("image"), "image", check),
        label=label,
        study_id=study,
        series_id=series,
        patient_id=_opt(row, "patient_id"),
        line=line,
        extra={k: (v or "") for k, v in row.items() if k not in known},
    )


R = TypeVar("R", SeriesRecord, SliceRecord)


def split_by_patient(records: Sequence[R], fractions: Sequence[float], seed: int = 0) -> list[list[R]]:
    """Split records into parts of about ``fractions`` of the records, keeping each patient on one side.

    Records are grouped by :attr:`SeriesRecord.group` (patient, else study, else the series
    itself); groups are shuffled with ``seed`` and each goes to the part furthest below its
    target size. With at least as many groups as parts, every part gets at least one group.

    Args:
        records: series or slice records.
        fractions: positive shares, e.g. ``(0.8, 0.2)``; normalised to sum to 1.
        seed: seed of the shuffle (the split depends only on the set of groups and the seed).
    Returns:
        one list of records per fraction, each in the input order.
    Raises:
        ConfigError: bad fractions, or fewer groups than parts.
    """
    fr = np.asarray([float(f) for f in fractions], dtype=np.float64)
    if fr.ndim != 1 or fr.size < 1 or np.any(~np.isfinite(fr)) or np.any(fr <= 0):
        msg = f"split fractions must be positive numbers, got {list(fractions)}"
        raise ConfigError(msg)
    fr = fr / fr.sum()
    by_group: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(records):
        by_group[r.group].append(i)
    if len(by_group) < fr.size:
        msg = f"cannot split {len(by_group)} patient group(s) into {fr.size} parts; need at least one group per part"
        raise ConfigError(msg)
    # order groups by a seeded hash of their key: independent of record order
    keys = sorted(by_group, key=lambda k: (zlib.crc32(f"{seed}:{k}".encode()), k))
    total = len(records)
    target = fr * total
    sizes = np.zeros(fr.size)
    assign: dict[str, int] = {}
    for n, key in enumerate(keys):
        empty = np.flatnonzero(sizes == 0)
        remaining = len(keys) - n
        if empty.size and remaining <= empty.size:
            part = int(empty[np.argmax(target[empty])])  # keep every part non-empty
        else:
            part = int(np.argmax(target - sizes))
        assign[key] = part
        sizes[part] += len(by_group[key])
    parts: list[list[R]] = [[] for _ in range(fr.size)]
    for r in records:
        parts[assign[r.group]].append(r)
    return parts
