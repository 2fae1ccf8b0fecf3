"""Labelled scans: one type for every scan whose phase is known, whatever its source.

Training validation, evaluation and the paper's experiments all work on :class:`LabelledScan`.
The builders here make them from

- a series manifest (:func:`scans_from_manifest`): DICOM series folders and NIfTI files, read
  lazily through :func:`ctphase.io.load_series`;
- the paper's per-slice CSV (:func:`scans_from_manifest` too): 8-bit slice images grouped by
  ``study/series`` into scans, in manifest line order;
- the synthetic engine (:func:`synthetic_scans`): held-out virtual patients, one scan per
  patient and phase, rendered when first read;
- arrays already in memory (:meth:`LabelledScan.from_array`).

``scan_id`` seeds each scan's slice draw exactly as ``ctphase predict`` seeds a series
(:func:`ctphase.sampling.series_seed`), so a scan whose id is its series id replays the draw of
a prediction run. ``group`` is the unit of patient-disjoint splits and of bootstrap clusters:
``patient:ID``, else ``study:ID``, else ``scan:SCAN_ID`` (the scan is its own cluster).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, InputError, listed
from ..phases import PHASE_NAMES, Phase
from .manifest import Manifest, SeriesRecord, SliceRecord, read_manifest

SCAN_GROUP_PREFIX = "scan:"
"""Prefix of the group of a scan with no known patient or study (its own cluster)."""

Reader = Callable[[np.ndarray | None], np.ndarray]
"""``indices (k,) or None`` -> ``(k, H, W)`` float32 HU (all slices for ``None``)."""


@dataclass(frozen=True)
class LabelledScan:
    """One scan with a known phase; its slices are read on demand.

    Attributes:
        scan_id: stable key: seeds the slice draw and names the scan in results (never a
            patient identifier).
        label: the scan's phase.
        group: split / bootstrap unit: ``patient:ID``, ``study:ID`` or ``scan:SCAN_ID``.
        n_slices: number of slices.
        reader: see :data:`Reader`; use :meth:`read`.
        path: the series folder, NIfTI file or first slice image, when the scan is on disk.
        subphase, seconds: the true fine subphase and seconds after the start of injection,
            when known (synthetic scans; ``seconds`` is None for non-contrast), to score a
            model's subphase and seconds heads.
    """

    scan_id: str
    label: Phase
    group: str
    n_slices: int
    reader: Reader = field(repr=False, compare=False)
    path: Path | None = None
    subphase: str | None = None
    seconds: float | None = None

    @property
    def has_group(self) -> bool:
        """Whether the patient or study of the scan is known (else it is its own cluster)."""
        return not self.group.startswith(SCAN_GROUP_PREFIX)

    def read(self, indices: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
        """``(k, H, W)`` float32 HU of the slices ``indices`` (all when ``None``), in their order."""
        return self.reader(None if indices is None else np.asarray(indices, dtype=np.int64))

    def read_spread(self, k: int) -> np.ndarray:
        """``k`` slices evenly spread over the scan (all when ``k <= 0`` or ``k >= n_slices``)."""
        return self.read(spread_indices(self.n_slices, k))

    @classmethod
    def from_array(
        cls, scan_id: str, label: Phase | str | int, group: str, hu: np.ndarray, path: Path | None = None
    ) -> LabelledScan:
        """A scan held in memory: ``hu`` ``(Z, H, W)`` HU, slices in ascending position."""
        hu = np.asarray(hu, dtype=np.float32)
        if hu.ndim != 3 or hu.shape[0] < 1:
            raise ConfigError(f"scan {scan_id}: expected HU of shape (Z>=1, H, W), got {hu.shape}")
        return cls(scan_id, Phase.parse(label), group, int(hu.shape[0]), lambda idx: hu if idx is None else hu[idx], path)


def spread_indices(n: int, k: int) -> np.ndarray:
    """``k`` indices evenly spread over ``range(n)`` (all of them when ``k <= 0`` or ``k >= n``)."""
    if k <= 0 or k >= n:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, k).round().astype(np.int64))


def record_group(record: SeriesRecord | SliceRecord, scan_id: str) -> str:
    """Group of a manifest record's scan: its patient, else its study, else the scan itself."""
    if record.patient_id or record.study_id:
        return record.group
    return SCAN_GROUP_PREFIX + scan_id


def scans_from_manifest(
    manifest: Manifest | str | Path, records: Sequence[SeriesRecord] | Sequence[SliceRecord] | None = None
) -> list[LabelledScan]:
    """The labelled scans of a manifest (all records, or the given subset of its records).

    Series manifests: one scan per row; headers are read now (``n_slices``), pixels when read.
    The scan id is the ``series_id`` column, else the series' own id (UIDs, or the NIfTI path).
    Paper per-slice CSV: the images of one ``study/series`` form a scan, in manifest line order.

    Raises:
        ManifestError / InputError: naming the manifest line or series that cannot be used;
            ConfigError: a paper scan whose slices carry different labels.
    """
    m = manifest if isinstance(manifest, Manifest) else read_manifest(manifest)
    rows = list(m.records if records is None else records)
    if m.kind == "series":
        scans, problems = [], []  # every series that cannot be read is named at once
        for r in rows:
            try:
                scans.append(_series_scan(r))
            except InputError as exc:
                problems.append(f"line {r.line}: {r.path}: {exc.reason}")
        if len(problems) == 1:
            raise InputError(f"manifest {m.path} {problems[0]}")
        if problems:
            raise InputError(f"manifest {m.path}: " + listed(problems, "series cannot be read"))
        return scans
    return _paper_scans(m, rows)


def _series_scan(r: SeriesRecord) -> LabelledScan:
    from ..io import load_series

    series = load_series(r.path, min_slices=1)
    scan_id = r.series_id or series.series_id
    return LabelledScan(scan_id, r.label, record_group(r, scan_id), series.n_slices, series.read_slices, r.path)


def _paper_scans(manifest: Manifest, records: Sequence[Any]) -> list[LabelledScan]:
    from ..io.paper_slices import read_8bit_as_hu
    from ..preprocessing import PAPER_WINDOW

    groups: dict[str, list[SliceRecord]] = defaultdict(list)
    for r in records:
        groups[r.scan_key].append(r)
    scans = []
    for key, rs in groups.items():
        labels = {r.label for r in rs}
        if len(labels) > 1:
            names = sorted(p.label for p in labels)
            raise ConfigError(f"{manifest.path}: scan {key} has slices with different labels ({', '.join(names)})")
        paths = [r.path for r in sorted(rs, key=lambda r: r.line)]

        def read(idx: np.ndarray | None, ps: list[Path] = paths) -> np.ndarray:
            chosen = ps if idx is None else [ps[int(i)] for i in idx]
            slices = [read_8bit_as_hu(p, PAPER_WINDOW) for p in chosen]
            shapes = {s.shape for s in slices}
            if len(shapes) > 1:
                raise InputError(f"images of one scan differ in size {sorted(shapes)}", ps[0].parent)
            return np.stack(slices)

        scans.append(LabelledScan(key, labels.pop(), record_group(rs[0], key), len(paths), read, paths[0]))
    return scans


def synthetic_scans(
    patients: range,
    *,
    seed: int = 0,
    size: int = 256,
    slices_per_scan: int = 32,
    phases: Sequence[int] | None = None,
    source: Callable[..., Any] | None = None,
    cache: bool = False,
) -> list[LabelledScan]:
    """Held-out synthetic scans: one per (patient, phase), rendered when first read.

    Patients of the population ``seed`` (the engine's patients depend only on ``(seed, index)``:
    use the training seed and a patient range disjoint from the training range). Each scan is
    ``slices_per_scan`` slices at random z of one series of :func:`ctphase.synth.iter_training_slices`
    (chest and pelvis slices included, as in real scans); scan ids are ``synth/PATIENT/PHASE``.

    Args:
        source: stand-in for ``iter_training_slices`` (tests).
        cache: keep the rendered slices after the first read (validation sets read every epoch).
    """
    if len(patients) < 1:
        raise ConfigError(f"synthetic patients must be a non-empty range, got {patients}")
    if patients.start < 0:
        raise ConfigError(f"synthetic patient indices must be >= 0, got {patients}")
    if slices_per_scan < 1:
        raise ConfigError(f"slices per scan must be >= 1, got {slices_per_scan}")
    truth: Callable[..., tuple[str | None, float | None]] = lambda *_: (None, None)
    if source is None:
        from ..synth import iter_training_slices as source
        from ..synth import series_truth as truth
    phase_list = list(Phase) if phases is None else [Phase.parse(p) for p in phases]
    scans = []
    for p in patients:
        for ph in phase_list:
            render = _synthetic_renderer(source, seed, size, p, ph, slices_per_scan, cache)
            sub, seconds = truth(seed, p, ph)
            scans.append(LabelledScan(f"synth/{p}/{ph.label}", ph, f"patient:synth{p}", slices_per_scan, render,
                                      subphase=sub, seconds=seconds))
    return scans


def _synthetic_renderer(
    source: Callable[..., Any], seed: int, size: int, patient: int, phase: Phase, n: int, cache: bool
) -> Reader:
    memo: list[np.ndarray] = []

    def read(idx: np.ndarray | None) -> np.ndarray:
        if memo:
            hu = memo[0]
        else:
            stream = source(seed, size, range(patient, patient + 1), slices_per_series=n, phases=[int(phase)])
            out = [
                np.asarray(hu, dtype=np.float32)
                for hu, label, _ in itertools.islice(stream, n)  # the engine's stream is endless
                if int(label) == int(phase)
            ]
            if not out:
                raise InputError(f"the synthetic engine rendered no {PHASE_NAMES[phase]} slices for patient {patient}")
            hu = np.stack(out)
            if cache:
                memo.append(hu)
        return hu if idx is None else hu[idx]

    return read
