"""Evaluation orchestration behind ``ctphase evaluate``: load scans, classify all their slices, report.

Every slice of every scan is classified once (:func:`classify_scans`), so the scan-level vote
at R and the whole R sweep reuse the same slice probabilities; then
:func:`ctphase.evaluation.evaluate_predictions` computes metrics, patient-clustered bootstrap
CIs and the sweep, and :func:`ctphase.evaluation.write_report` writes metrics.json, report.md
and the figures.

Scans come from a manifest (:func:`scans_from_manifest`: DICOM series folders / NIfTI files,
or the paper's per-slice images grouped by ``study/series``) or from the synthetic engine
(:func:`scans_from_synth`: held-out virtual patients rendered on the fly).

Timings: ``read`` (decoding, or rendering for synthetic scans), ``preprocess`` and ``model``
are measured per scan over **all** its slices (what evaluation runs); a prediction run at R
classifies ``R * n`` slices, so its preprocess and model times are about R times these.
"""

from __future__ import annotations

import itertools
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, CTPhaseError, InputError
from ..phases import PHASE_NAMES
from ..sampling import DEFAULT_MIN_SLICES, DEFAULT_SAMPLE_RATE

DEFAULT_SYNTH_PATIENT_OFFSET = 200_000
"""First synthetic test patient: far from the training (0..) and validation (100000..) defaults."""


@dataclass
class EvalScan:
    """One labelled scan to evaluate.

    Attributes:
        scan_id: series id (seeds the slice draw, as ``ctphase predict`` does).
        label: true class index (canonical order).
        patient: bootstrap cluster (patient, else study); ``None``: the scan is its own cluster.
        read: returns all slices as ``(n, H, W)`` float32 HU, in slice order.
        n_slices: number of slices when known before reading.
    """

    scan_id: str
    label: int
    patient: str | None
    read: Callable[[], np.ndarray]
    n_slices: int | None = None


@dataclass
class ClassifiedScans:
    """Slice probabilities of all slices of each scan, with per-scan timings."""

    scans: list[EvalScan]
    slice_probs: list[np.ndarray]
    timings: list[dict[str, float]]
    model_sha256: str


def scans_from_manifest(path: str | Path) -> list[EvalScan]:
    """Scans of a manifest (series manifest or the paper's per-slice CSV).

    Raises:
        ManifestError / InputError: naming the manifest line or series that cannot be used.
    """
    from ..io import load_series
    from ..training.datasets import read_8bit_as_hu
    from ..training.manifest import read_manifest

    manifest = read_manifest(path)
    scans: list[EvalScan] = []
    if manifest.kind == "series":
        for r in manifest.records:
            try:
                series = load_series(r.path, min_slices=1)
            except InputError as exc:
                raise InputError(f"manifest {manifest.path} line {r.line}: {exc.reason}", r.path) from None
            scans.append(
                EvalScan(
                    scan_id=r.series_id or series.series_id,
                    label=int(r.label),
                    patient=r.patient_id or r.study_id,
                    read=series.read_volume,
                    n_slices=series.n_slices,
                )
            )
        return scans
    groups: dict[str, list[Any]] = defaultdict(list)
    for r in manifest.records:
        groups[r.scan_key].append(r)
    for key, rs in groups.items():
        labels = {int(r.label) for r in rs}
        if len(labels) > 1:
            names = sorted(PHASE_NAMES[c] for c in labels)
            raise ConfigError(f"{manifest.path}: scan {key} has slices with different labels ({', '.join(names)})")
        paths = [r.path for r in sorted(rs, key=lambda r: r.line)]

        def read(ps: list[Path] = paths) -> np.ndarray:
            slices = [read_8bit_as_hu(p) for p in ps]
            shapes = {s.shape for s in slices}
            if len(shapes) > 1:
                raise InputError(f"images of one scan differ in size {sorted(shapes)}", ps[0].parent)
            return np.stack(slices)

        scans.append(EvalScan(key, labels.pop(), rs[0].patient_id or rs[0].study_id, read, len(paths)))
    return scans


def scans_from_synth(
    n_patients: int,
    *,
    patient_offset: int = DEFAULT_SYNTH_PATIENT_OFFSET,
    seed: int = 0,
    size: int = 256,
    slices_per_scan: int = 32,
    phases: Sequence[int] | None = None,
    source: Callable[..., Any] | None = None,
) -> list[EvalScan]:
    """Held-out synthetic test scans: one per (patient, phase), rendered when read.

    Patients ``patient_offset .. patient_offset + n_patients - 1`` of the population ``seed``
    (the engine's patients depend only on ``(seed, index)``: use the training seed and a range
    disjoint from the training and validation ranges). Each scan is ``slices_per_scan`` slices
    at random z of one series of :func:`ctphase.synth.iter_training_slices` (chest and pelvis
    slices included, as in real scans).
    """
    if n_patients < 1:
        raise ConfigError(f"--patients must be >= 1, got {n_patients}")
    if patient_offset < 0:
        raise ConfigError(f"--patient-offset must be >= 0, got {patient_offset}")
    if slices_per_scan < 1:
        raise ConfigError(f"slices per scan must be >= 1, got {slices_per_scan}")
    if source is None:
        from ..synth import iter_training_slices as source
    phase_list = list(range(len(PHASE_NAMES))) if phases is None else [int(p) for p in phases]
    scans = []
    for p in range(patient_offset, patient_offset + n_patients):
        for ph in phase_list:

            def read(p: int = p, ph: int = ph) -> np.ndarray:
                stream = source(seed, size, range(p, p + 1), slices_per_series=slices_per_scan, phases=[ph])
                out = [
                    np.asarray(hu, dtype=np.float32)
                    for hu, label, _ in itertools.islice(stream, slices_per_scan)  # the engine's stream is endless
                    if int(label) == ph
                ]
                if not out:
                    raise InputError(f"the synthetic engine rendered no {PHASE_NAMES[ph]} slices for patient {p}")
                return np.stack(out)

            scans.append(EvalScan(f"synth/{p}/{PHASE_NAMES[ph]}", ph, f"synth{p}", read, slices_per_scan))
    return scans


def classify_scans(
    scans: Sequence[EvalScan],
    model: str | Path | Any,
    *,
    batch_size: int = 16,
    device: str = "auto",
    engine: str = "auto",
    threads: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> ClassifiedScans:
    """Classify every slice of every scan once.

    Args:
        model: checkpoint path or a :class:`ctphase.inference.Classifier`.
    Returns:
        per scan ``(n_i, 4)`` probabilities (canonical class order) and
        ``{"read", "preprocess", "model"}`` seconds.
    Raises:
        InputError: naming the scan that could not be read.
    """
    from ..inference import Classifier

    clf = (
        model
        if isinstance(model, Classifier)
        else Classifier(model, device=device, engine=engine, batch_size=batch_size, threads=threads)
    )
    probs, timings = [], []
    for i, scan in enumerate(scans):
        t0 = time.perf_counter()
        try:
            hu = scan.read()
        except CTPhaseError as exc:
            raise InputError(f"scan {scan.scan_id} cannot be read: {exc}") from None
        t_read = time.perf_counter() - t0
        p, t_pre, t_model = clf.predict_hu(hu)
        probs.append(np.asarray(p, dtype=np.float64))
        timings.append({"read": t_read, "preprocess": float(t_pre), "model": float(t_model)})
        if on_progress:
            on_progress(i + 1, len(scans))
    return ClassifiedScans(list(scans), probs, timings, clf.sha256)


def run_evaluation(
    scans: Sequence[EvalScan],
    model: str | Path | Any,
    out_dir: str | Path | None,
    *,
    n_resamples: int = 5000,
    sweep: bool = False,
    sample_rate: float = DEFAULT_SAMPLE_RATE,
    min_slices: int = DEFAULT_MIN_SLICES,
    seed: int = 0,
    batch_size: int = 16,
    device: str = "auto",
    engine: str = "auto",
    threads: int | None = None,
    dataset: str | None = None,
    arguments: Mapping[str, Any] | None = None,
    figures: bool = True,
    on_progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Classify all slices of ``scans``, evaluate (metrics, bootstrap CIs, optional R sweep) and write the report.

    Args:
        out_dir: where metrics.json, report.md and the figures go (``None``: write nothing).
        n_resamples: bootstrap resamples over patients (0 skips the CIs).
        sweep: run the random-sampling sweep over R.
        device, engine, threads, batch_size: passed to :class:`ctphase.inference.Classifier`.
    Returns:
        the results dict of :func:`ctphase.evaluation.evaluate_predictions`.
    """
    from .evaluate import evaluate_predictions
    from .report import write_report
    from .sweep import DEFAULT_SWEEP_RATES

    if not scans:
        raise ConfigError("no scans to evaluate")
    if n_resamples < 0:
        raise ConfigError(f"bootstrap resamples must be >= 0, got {n_resamples}")
    done = classify_scans(
        scans, model, batch_size=batch_size, device=device, engine=engine, threads=threads, on_progress=on_progress
    )
    patients = [s.patient for s in scans]
    args = dict(arguments or {})
    args.setdefault("timings", "read/preprocess/model seconds per scan over all its slices (evaluation classifies every slice)")
    results = evaluate_predictions(
        done.slice_probs,
        [s.label for s in scans],
        None if all(p is None for p in patients) else [p if p is not None else f"scan:{s.scan_id}" for p, s in zip(patients, scans)],
        scan_ids=[s.scan_id for s in scans],
        all_slices=True,
        sample_rate=sample_rate,
        min_slices=min_slices,
        seed=seed,
        n_resamples=n_resamples,
        sweep_rates=DEFAULT_SWEEP_RATES if sweep else None,
        timings=done.timings,
        dataset=dataset,
        model_sha256=done.model_sha256,
        arguments=args,
    )
    if out_dir is not None:
        write_report(results, out_dir, figures=figures)
    return results
