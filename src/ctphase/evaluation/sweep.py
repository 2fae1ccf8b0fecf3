"""The random-sampling sweep: scan-level macro F1 as a function of the sampled fraction R.

Slice probabilities of all slices of each scan are computed once; for each R and each of
``repeats`` independent draws, a random R of every scan's slices (at least one) are
majority-voted (or read by a series reader) into scan labels and scored. The spread over draws is the variability that
random sampling adds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..phases import PHASE_NAMES
from .bootstrap import DEFAULT_CONFIDENCE, DEFAULT_N_RESAMPLES, bootstrap_classification
from .metrics import macro_f1, to_class_indices
from .results import Spread, Sweep, SweepPoint
from .scan_level import SeriesReading, check_slice_probs, vote_scans

DEFAULT_SWEEP_RATES: tuple[float, ...] = (0.01, 0.05, 0.10, 0.15, 0.20, 0.30, 0.40, 0.50, 0.60, 0.70, 0.80, 0.90, 1.00)
"""R values of the paper's sweep: 1, 5, 10, 15, 20, 30, ..., 100%."""

DEFAULT_SWEEP_REPEATS = 10


def spread_of(values: np.ndarray) -> Spread:
    """Mean, sample sd, range and values of ``values`` (one metric over repeated draws)."""
    return Spread(
        mean=float(values.mean()),
        std=float(values.std(ddof=1)) if values.size > 1 else 0.0,
        min=float(values.min()),
        max=float(values.max()),
        values=[float(v) for v in values],
    )


def sampling_sweep(
    slice_probs: Sequence[np.ndarray],
    labels: Sequence[Any] | np.ndarray,
    patient_ids: Sequence[Any] | None = None,
    *,
    rates: Sequence[float] = DEFAULT_SWEEP_RATES,
    repeats: int = DEFAULT_SWEEP_REPEATS,
    seed: int = 0,
    scan_ids: Sequence[str] | None = None,
    min_slices: int = 1,
    class_names: Sequence[str] = PHASE_NAMES,
    n_resamples: int = DEFAULT_N_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    reader: SeriesReading | None = None,
) -> Sweep:
    """Scan-level macro F1 (and accuracy) for each sampling rate R over repeated seeded draws.

    Args:
        slice_probs: per scan, ``(n_i, K)`` probabilities of **all** its slices.
        labels: ``(S,)`` true scan labels (indices or names).
        patient_ids: ``(S,)`` patient of each scan, for the patient-clustered bootstrap
            interval of the first draw's macro F1 (``None``: scans are independent).
        rates: fractions R in (0, 1].
        repeats: independent draws per R; draw j uses seed ``seed + j`` (draw 0 matches
            :func:`~ctphase.evaluation.scan_level.vote_scans` with the same seed).
        seed: run seed.
        scan_ids: stable scan keys (series ids) that seed each scan's draw.
        min_slices: at least this many slices are voted per scan.
        class_names: the K class names.
        n_resamples, confidence: bootstrap settings for the per-R interval (0 disables it).
        reader: a series reader that labels each draw instead of the vote (:func:`vote_scans`).
    Returns:
        a :class:`~ctphase.evaluation.results.Sweep`: per R the macro F1 over draws (``std`` is
        the sample standard deviation), the accuracy, the mean number of voted slices and the
        interval of draw 0.
    """
    probs = check_slice_probs(slice_probs, len(class_names))
    y = to_class_indices(labels, class_names)
    if y.size != len(probs):
        msg = f"labels has {y.size} entries but slice_probs has {len(probs)} scans"
        raise ConfigError(msg)
    if isinstance(repeats, bool) or int(repeats) != repeats or repeats < 1:
        msg = f"repeats must be an integer >= 1, got {repeats!r}"
        raise ConfigError(msg)
    rate_list = [float(r) for r in rates]
    if not rate_list:
        msg = "rates is empty: give at least one sampling rate in (0, 1]"
        raise ConfigError(msg)
    for r in rate_list:
        if not 0.0 < r <= 1.0:
            msg = f"sampling rate {r} is outside (0, 1] (a fraction: 0.05 for 5%)"
            raise ConfigError(msg)
    k = len(class_names)
    per_rate = []
    for r in rate_list:
        f1s = np.empty(repeats)
        accs = np.empty(repeats)
        n_sampled = 0.0
        first = None
        for j in range(repeats):
            votes = vote_scans(probs, r, seed=seed, min_slices=min_slices, scan_ids=scan_ids, repeat=j, reader=reader)
            f1s[j] = macro_f1(y, votes.labels, k)
            accs[j] = float(np.mean(votes.labels == y))
            n_sampled += float(np.mean([len(s) for s in votes.sampled]))
            if j == 0:
                first = votes.labels
        ci = None
        if n_resamples and first is not None:
            boot = bootstrap_classification(
                y, first, groups=patient_ids, class_names=class_names, n_resamples=n_resamples, confidence=confidence, seed=seed
            )
            ci = boot.macro.f1
        f1 = spread_of(f1s)
        per_rate.append(SweepPoint(r, f1.mean, f1.std, f1.min, f1.max, f1.values, spread_of(accs), n_sampled / repeats, ci))
    return Sweep(rate_list, int(repeats), seed, int(min_slices), "macro_f1", per_rate)
