"""One call from per-scan slice probabilities to the full evaluation results.

``ctphase evaluate`` loads the model and data, computes slice probabilities per scan and
calls :func:`evaluate_predictions`; :func:`ctphase.evaluation.report.write_report` turns the
returned :class:`~ctphase.evaluation.results.EvaluationResults` into metrics.json, report.md
and figures. Slice and scan level, the sampling sweep, the timings and the calibration (ECE
before/after the checkpoint's calibration, risk-coverage) are computed from the same
probabilities; patient-clustered bootstrap intervals at both levels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .. import __version__
from ..errors import ConfigError
from ..phases import PHASE_NAMES
from ..sampling import DEFAULT_EVAL_DRAWS, DEFAULT_MIN_SLICES, DEFAULT_SAMPLE_RATE, DRAW, check_sampling
from ..models.calibration import Calibration
from .bootstrap import DEFAULT_CONFIDENCE, DEFAULT_N_RESAMPLES, bootstrap_classification, check_bootstrap_args
from .calibration import scan_calibration
from .metrics import classification_metrics, macro_f1, to_class_indices
from .results import (
    Counts,
    EvaluationProtocol,
    EvaluationResults,
    LevelResults,
    ScanResult,
    Spread,
    Timing,
    TimingStats,
)
from .scan_level import ScanVotes, SeriesReading, check_slice_probs, scan_keys, vote_scans
from .sweep import DEFAULT_SWEEP_RATES, DEFAULT_SWEEP_REPEATS, sampling_sweep, spread_of

RESULTS_SCHEMA = "ctphase.evaluation/1"
TIMING_STAGES: tuple[str, ...] = ("read", "preprocess", "model")

Timings = Mapping[str, Sequence[float]] | Sequence[Mapping[str, float]]
"""Seconds per scan: ``{"read": [...], "preprocess": [...], "model": [...]}`` or one dict per scan."""


def summarize_timings(timings: Timings, n_scans: int | None = None) -> Timing:
    """Per-stage summary of seconds per scan.

    Args:
        timings: ``{stage: (S,) seconds}`` or a list of S ``{stage: seconds}`` dicts; stages
            are usually read, preprocess, model (others are kept too).
        n_scans: expected S, checked when given.
    Returns:
        per stage (and for the per-scan sum of the stages) mean, median, std, p95, min, max
        and total seconds.
    """
    if isinstance(timings, Mapping):
        table = {str(k): np.asarray(v, dtype=np.float64).ravel() for k, v in timings.items()}
    else:
        rows = list(timings)
        stages = list(dict.fromkeys(k for r in rows for k in r))
        table = {str(s): np.array([float(r.get(s, np.nan)) for r in rows]) for s in stages}
    if not table:
        msg = "timings is empty: give seconds per scan for read, preprocess and model"
        raise ConfigError(msg)
    lengths = {k: v.size for k, v in table.items()}
    s = next(iter(lengths.values()))
    if any(n != s for n in lengths.values()) or (n_scans is not None and s != n_scans):
        msg = f"timings must give one value per scan ({n_scans if n_scans is not None else s}) for every stage, got {lengths}"
        raise ConfigError(msg)
    for k, v in table.items():
        if np.any(v[np.isfinite(v)] < 0):
            msg = f"timings for stage {k!r} contain negative seconds"
            raise ConfigError(msg)
    ordered = [k for k in TIMING_STAGES if k in table] + [k for k in table if k not in TIMING_STAGES]

    def _stats(v: np.ndarray) -> TimingStats:
        v = v[np.isfinite(v)]
        if v.size == 0:
            return TimingStats(None, None, None, None, None, None, None)
        return TimingStats(
            mean=float(v.mean()),
            median=float(np.median(v)),
            std=float(v.std(ddof=1)) if v.size > 1 else 0.0,
            p95=float(np.percentile(v, 95)),
            min=float(v.min()),
            max=float(v.max()),
            total=float(v.sum()),
        )

    total = np.nansum(np.stack([table[k] for k in ordered]), axis=0)
    return Timing(int(s), {k: _stats(table[k]) for k in ordered}, _stats(total))


def evaluate_predictions(
    slice_probs: Sequence[np.ndarray],
    labels: Sequence[Any] | np.ndarray,
    patient_ids: Sequence[Any] | None = None,
    *,
    scan_ids: Sequence[str] | None = None,
    all_slices: bool = True,
    sample_rate: float = DEFAULT_SAMPLE_RATE,
    min_slices: int = DEFAULT_MIN_SLICES,
    seed: int = 0,
    n_resamples: int = DEFAULT_N_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    sweep_rates: Sequence[float] | None = DEFAULT_SWEEP_RATES,
    sweep_repeats: int = DEFAULT_SWEEP_REPEATS,
    draws: int = DEFAULT_EVAL_DRAWS,
    timings: Timings | None = None,
    class_names: Sequence[str] = PHASE_NAMES,
    dataset: str | None = None, model_sha256: str | None = None, arguments: Mapping[str, Any] | None = None,
    calibration: Calibration | None = None, reader: SeriesReading | None = None,
) -> EvaluationResults:
    """Slice- and scan-level metrics with patient-bootstrap CIs, the R sweep, timings and calibration.

    Args:
        slice_probs: per scan, ``(n_i, K)`` float slice probabilities: of **all** slices
            (``all_slices=True``) or of the slices already sampled by a prediction run.
        labels: ``(S,)`` true scan labels (indices or names); every slice gets its scan's label.
        patient_ids: ``(S,)`` patient of each scan (bootstrap clusters); ``None``: each scan
            is its own patient. Never written to the results.
        scan_ids: ``(S,)`` series ids; seed each scan's draw (replaying ``ctphase predict``)
            and name the scans in the results.
        all_slices: whether ``slice_probs`` covers all slices. If so, the scan label votes a
            random ``sample_rate`` of them (seeded) and the sweep runs; if not, it votes all
            given slices and the sweep is skipped.
        sample_rate, min_slices, seed: R, the minimum number of voted slices per scan, seed of draws and bootstrap.
        n_resamples, confidence: bootstrap resamples (0 skips the CIs) and interval level.
        sweep_rates, sweep_repeats: R values and draws per R of the sweep (``None`` skips it).
        draws: also the scan macro F1 over this many seeded draws at R, draw 0 the reported one (0: none).
        timings: seconds per scan per stage (see :func:`summarize_timings`).
        class_names: the K class names in index order.
        dataset: name of the evaluation set (e.g. "synthetic", "realdata"); report separately, never pool.
        model_sha256, arguments: checkpoint hash and the run's arguments (CLI options), recorded as given.
        calibration: the checkpoint's series calibration (None: none stored, T = 1), for the
            ECE before/after and the risk-coverage table.
        reader: a series reader (:func:`vote_scans`): it, not the vote, labels the scans (all draws, sweep).
    Returns:
        :class:`~ctphase.evaluation.results.EvaluationResults`.
    """
    names = tuple(class_names)
    probs, y, keys, groups = _check_inputs(slice_probs, labels, patient_ids, scan_ids, names)
    check_sampling(sample_rate, min_slices)
    if n_resamples:
        check_bootstrap_args(n_resamples, confidence)
    timing = None if timings is None else summarize_timings(timings, len(probs))
    # slice level: every slice carries its scan's label and its scan's patient
    n_per_scan = np.array([p.shape[0] for p in probs])
    slice_p = np.concatenate(probs)
    codes = {g: i for i, g in enumerate(dict.fromkeys(groups))}
    scan_groups = [codes[g] for g in groups]
    slice_groups, slice_y = np.repeat(np.array(scan_groups), n_per_scan), np.repeat(y, n_per_scan)
    rate = sample_rate if all_slices else 1.0
    votes = vote_scans(probs, rate, seed=seed, min_slices=min_slices, scan_ids=keys, reader=reader)
    boot = {"n_resamples": n_resamples, "confidence": confidence, "seed": seed, "names": names}
    slice_level = _level(slice_y, slice_p.argmax(axis=1), slice_p, slice_groups, **boot)
    scan_level = _level(y, votes.labels, votes.scores, scan_groups, **boot)
    scan_level = LevelResults(scan_level.metrics, scan_level.ci,
                              _scan_results(votes, probs, y, keys, n_per_scan, names, scan_groups))
    calib = scan_calibration(probs, votes.sampled, y, votes.labels, calibration,
                             series_probs=None if reader is None else votes.scores) if names == PHASE_NAMES else None
    sweep, sweep_skipped = _sweep(probs, y, scan_groups, keys, all_slices, sweep_rates, sweep_repeats, seed, names,
                                  n_resamples, confidence, reader)
    per_class = {names[c]: int(np.sum(y == c)) for c in range(len(names))}
    counts = Counts(len(probs), len(codes), int(n_per_scan.sum()), per_class, patient_ids is not None)
    protocol = _protocol(all_slices, rate, min_slices, seed, n_resamples, confidence, reader is not None)
    return EvaluationResults(
        RESULTS_SCHEMA, __version__, model_sha256, dataset, dict(arguments) if arguments is not None else {},
        list(names), counts, protocol, slice_level, scan_level, sweep, sweep_skipped, timing, calibration=calib,
        draws=_repeated_draws(probs, y, votes.labels, keys, draws if all_slices else 0, rate, seed, min_slices, len(names),
                              reader),
    )


def _repeated_draws(probs: list[np.ndarray], y: np.ndarray, first: np.ndarray, keys: list[str], draws: int, rate: float,
                    seed: int, min_slices: int, k: int, reader: SeriesReading | None = None) -> Spread | None:
    """Scan macro F1 over ``draws`` seeded draws (repeat indices 0..draws-1; ``first``: the labels of draw 0,
    already voted), or None for none."""
    if draws < 0:
        raise ConfigError(f"draws must be >= 0, got {draws}")
    if not draws:
        return None
    labels = [first] + [vote_scans(probs, rate, seed=seed, min_slices=min_slices, scan_ids=keys, repeat=j, reader=reader).labels
                        for j in range(1, draws)]
    return spread_of(np.array([macro_f1(y, lab, k) for lab in labels]))


def _sweep(probs: list[np.ndarray], y: np.ndarray, groups: list[int], keys: list[str], all_slices: bool,
           rates: Sequence[float] | None, repeats: int, seed: int, names: tuple[str, ...], n_resamples: int,
           confidence: float, reader: SeriesReading | None = None) -> tuple[Any, str | None]:
    """The sampling sweep, or why it was skipped."""
    if rates is None:
        return None, "disabled"
    if not all_slices:
        return None, "needs the probabilities of all slices of each scan (all_slices=False)"
    return sampling_sweep(probs, y, groups, rates=rates, repeats=repeats, seed=seed, scan_ids=keys, min_slices=1,
                          class_names=names, n_resamples=n_resamples, confidence=confidence, reader=reader), None


def _protocol(all_slices: bool, rate: float, min_slices: int, seed: int, n_resamples: int,
              confidence: float, reader: bool = False) -> EvaluationProtocol:
    if reader:
        vote = "the checkpoint's series reader over all outputs of the drawn slices (the majority vote reported beside it)"
        score = "the series reader's probabilities (used for scan-level ROC AUC)"
    else:
        vote = "majority (tie: highest mean probability, then lowest class index)"
        score = "mean slice probability over the voted slices (used for scan-level ROC AUC)"
    return EvaluationProtocol(
        all_slices=bool(all_slices),
        sample_rate=float(rate),
        min_slices=int(min_slices),
        vote=vote,
        scan_score=score,
        slice_labels="each slice carries its scan's label",
        seed=seed,
        n_resamples=int(n_resamples),
        confidence=float(confidence),
        bootstrap="percentile intervals; patients resampled with replacement, all their scans/slices kept",
        draw=DRAW,
    )


def _check_inputs(
    slice_probs: Sequence[np.ndarray], labels: Sequence[Any] | np.ndarray, patient_ids: Sequence[Any] | None,
    scan_ids: Sequence[str] | None, names: tuple[str, ...],
) -> tuple[list[np.ndarray], np.ndarray, list[str], list[Any]]:
    """Validated probabilities, label indices, scan keys and bootstrap groups (each scan its own without ids)."""
    probs = check_slice_probs(slice_probs, len(names))
    s = len(probs)
    y = to_class_indices(labels, names)
    if y.size != s:
        msg = f"labels has {y.size} entries but slice_probs has {s} scans"
        raise ConfigError(msg)
    keys = scan_keys(s, scan_ids)
    if patient_ids is not None and len(patient_ids) != s:
        msg = f"patient_ids has {len(patient_ids)} entries but there are {s} scans"
        raise ConfigError(msg)
    return probs, y, keys, list(range(s)) if patient_ids is None else list(patient_ids)


def _level(
    y_true: np.ndarray, y_pred: np.ndarray, p: np.ndarray, groups: Sequence[int] | np.ndarray, *,
    n_resamples: int, confidence: float, seed: int, names: tuple[str, ...],
) -> LevelResults:
    ci = (
        bootstrap_classification(y_true, y_pred, p, groups=groups, class_names=names, n_resamples=n_resamples,
                                 confidence=confidence, seed=seed)
        if n_resamples
        else None
    )
    return LevelResults(classification_metrics(y_true, y_pred, p, names), ci)


def _scan_results(votes: ScanVotes, probs: Sequence[np.ndarray], y: np.ndarray, keys: Sequence[str],
                  n_per_scan: np.ndarray, names: tuple[str, ...], clusters: Sequence[int]) -> list[ScanResult]:
    return [
        ScanResult(
            scan_id=keys[i],
            label=names[int(y[i])],
            predicted=names[int(votes.labels[i])],
            correct=bool(votes.labels[i] == y[i]),
            n_slices=int(n_per_scan[i]),
            n_voted=len(votes.sampled[i]),
            vote_fractions=[float(v) for v in votes.fractions[i]],
            mean_probs=[float(v) for v in np.asarray(probs[i])[votes.sampled[i]].mean(axis=0)],
            confidence=float(votes.confidence[i]),
            tie=bool(votes.ties[i]),
            voted_indices=[int(j) for j in votes.sampled[i]],
            cluster=int(clusters[i]),
            slice_predicted=[int(k) for k in probs[i].argmax(axis=1)],
        )
        for i in range(len(keys))
    ]
