"""Evaluation orchestration behind ``ctphase evaluate``: load scans, classify all their slices, report.

Every slice of every scan is classified once (:func:`classify_scans`), so the scan-level vote
(or the checkpoint's series reader, when it stores one: :func:`series_reading`) at R and the
whole R sweep reuse the same slice outputs; then
:func:`ctphase.evaluation.evaluate_predictions` computes metrics, patient-clustered bootstrap
CIs and the sweep, and :func:`ctphase.evaluation.write_report` writes metrics.json, report.md
and the figures.

Scans are :class:`ctphase.data.LabelledScan` from a manifest or from the synthetic engine
(:mod:`ctphase.data.scans`).

Timings: ``read`` (decoding, or rendering for synthetic scans), ``preprocess`` and ``model``
are measured per scan over **all** its slices (what evaluation runs); a prediction run at R
classifies ``R * n`` slices, so its preprocess and model times are about R times these.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..data import LabelledScan
from ..errors import ConfigError, CTPhaseError, InputError
from ..models.calibration import IDENTITY, Calibration
from ..models.heads import Heads, SliceOutputs
from ..sampling import DEFAULT_EVAL_DRAWS, DEFAULT_MIN_SLICES, DEFAULT_SAMPLE_RATE
from .scan_level import SeriesReading

DEFAULT_SYNTH_PATIENT_OFFSET = 200_000
"""First synthetic test patient: far from the training (0..) and validation (100000..) defaults."""


@dataclass
class ClassifiedScans:
    """Slice probabilities of all slices of each scan, with per-scan timings and the model's calibration;
    for a model with heads (``heads``), every slice's outputs (subphase and seconds too) in ``outputs``."""

    scans: list[LabelledScan]
    slice_probs: list[np.ndarray]
    timings: list[dict[str, float]]
    model_sha256: str
    calibration: Calibration = IDENTITY
    outputs: list[SliceOutputs] | None = None
    heads: Heads | None = None


def series_reading(done: ClassifiedScans) -> SeriesReading | None:
    """The checkpoint's series reader over the classified scans (``reader(i, idx)``), or None when it stores none."""
    reader, outputs = done.calibration.reader, done.outputs
    if reader is None:
        return None
    if outputs is None:
        raise ConfigError("the checkpoint stores a series reader but its network gives no head outputs")
    return reader.reading(outputs)


def evaluation_scans(
    source: str,
    checkpoint: str | Path,
    *,
    patients: int = 50,
    patient_offset: int = DEFAULT_SYNTH_PATIENT_OFFSET,
    seed: int = 0,
    slices_per_scan: int = 32,
) -> tuple[list[LabelledScan], str]:
    """The labelled scans of ``source`` (a manifest CSV, or ``"synth"``) and a name of the data set.

    Synthetic test scans are rendered at the model's input size, at least 256 px, for patients
    ``patient_offset .. patient_offset + patients - 1`` of the population ``seed``.

    Raises:
        ConfigError: neither ``"synth"`` nor an existing file, or bad synthetic ranges;
            ManifestError / InputError: an unusable manifest.
    """
    from ..data import scans_from_manifest, synthetic_scans
    from ..models.checkpoint import load_checkpoint

    if source != "synth":
        if not Path(source).is_file():
            raise ConfigError(f"--manifest {source!r} is neither 'synth' nor an existing CSV file")
        return scans_from_manifest(source), str(source)
    if patients < 1:
        raise ConfigError(f"--patients must be >= 1, got {patients}")
    if patient_offset < 0:
        raise ConfigError(f"--patient-offset must be >= 0, got {patient_offset}")
    size = max(256, load_checkpoint(checkpoint).preprocessing.size)
    scans = synthetic_scans(range(patient_offset, patient_offset + patients), seed=seed, size=size,
                            slices_per_scan=slices_per_scan)
    return scans, f"synthetic (patients {patient_offset}..{patient_offset + patients - 1})"


def classify_scans(
    scans: Sequence[LabelledScan],
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
    probs, timings, outputs = [], [], []
    for i, scan in enumerate(scans):
        t0 = time.perf_counter()
        try:
            hu = scan.read()
        except CTPhaseError as exc:
            raise InputError(f"scan {scan.scan_id} cannot be read: {exc}") from None
        t_read = time.perf_counter() - t0
        out, t_pre, t_model = clf.predict_hu_outputs(hu)
        probs.append(np.asarray(out.probs, dtype=np.float64))
        outputs.append(out)
        timings.append({"read": t_read, "preprocess": float(t_pre), "model": float(t_model)})
        if on_progress:
            on_progress(i + 1, len(scans))
    heads = clf.checkpoint.heads
    return ClassifiedScans(list(scans), probs, timings, clf.sha256, clf.calibration, outputs if heads else None, heads)


def run_evaluation(
    scans: Sequence[LabelledScan],
    model: str | Path | Any,
    out_dir: str | Path | None,
    *,
    n_resamples: int = 5000,
    sweep: bool = False,
    draws: int = DEFAULT_EVAL_DRAWS,
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
        draws: also score the scans over this many seeded draws at R (0: only the reported one).
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
    args = dict(arguments or {})
    args.setdefault("timings", "read/preprocess/model seconds per scan over all its slices (evaluation classifies every slice)")
    results = evaluate_predictions(
        done.slice_probs,
        [int(s.label) for s in scans],
        [s.group for s in scans] if any(s.has_group for s in scans) else None,
        scan_ids=[s.scan_id for s in scans],
        all_slices=True,
        sample_rate=sample_rate,
        min_slices=min_slices,
        seed=seed,
        n_resamples=n_resamples,
        sweep_rates=DEFAULT_SWEEP_RATES if sweep else None,
        draws=draws,
        timings=done.timings,
        dataset=dataset,
        model_sha256=done.model_sha256,
        arguments=args,
        calibration=done.calibration,
        reader=series_reading(done),
    )
    if done.outputs is not None:
        from .heads import heads_metrics

        results = replace(results, heads=heads_metrics(done.outputs, scans, scale=done.calibration,
                                                       sample_rate=sample_rate, min_slices=min_slices, seed=seed))
    if out_dir is not None:
        write_report(results, out_dir, figures=figures)
    return results
