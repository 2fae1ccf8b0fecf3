"""From slice probabilities per scan to scan predictions, by random sampling and voting.

The draw for a scan uses :func:`ctphase.sampling.series_seed` with the run seed and the
scan's id, as ``ctphase predict`` does, so giving the series ids as ``scan_ids`` replays the
exact slices a prediction run with the same seed, R and ``min_slices`` classified.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from ..sampling import DEFAULT_MIN_SLICES, check_sampling, sample_slices, series_seed
from ..voting import majority_vote


SeriesReading = Callable[[int, np.ndarray], np.ndarray]
"""``reader(i, idx)``: the ``(K,)`` series probabilities of scan ``i`` from its slices ``idx`` (a series reader)."""


@dataclass(frozen=True)
class ScanVotes:
    """Voting results for ``S`` scans.

    Attributes:
        labels: ``(S,)`` int64 predicted class per scan.
        scores: ``(S, K)`` float64 mean probability over the sampled slices (the scan's score for ROC AUC).
        fractions: ``(S, K)`` float64 share of sampled slices voting for each class.
        confidence: ``(S,)`` float64 vote share of the winning class.
        ties: ``(S,)`` bool, whether the tie rule decided the label.
        sampled: per scan, the sorted ``(k_i,)`` int64 indices of the slices that voted.
    """

    labels: np.ndarray
    scores: np.ndarray
    fractions: np.ndarray
    confidence: np.ndarray
    ties: np.ndarray
    sampled: list[np.ndarray]


def check_slice_probs(slice_probs: Sequence[np.ndarray], n_classes: int | None = None) -> list[np.ndarray]:
    """Validate a list of per-scan slice probabilities ``(n_i, K)`` and return float64 arrays.

    Raises:
        ConfigError: naming the first scan (by position) with a bad shape or values.
    """
    if isinstance(slice_probs, np.ndarray) and slice_probs.ndim == 2:
        msg = "slice_probs must be a list with one (n_slices, K) array per scan, got a single 2-D array"
        raise ConfigError(msg)
    out = []
    for i, arr in enumerate(slice_probs):
        a = np.asarray(arr, dtype=np.float64)
        if a.ndim != 2 or a.shape[0] == 0:
            msg = f"slice probabilities of scan {i} must have shape (n_slices>=1, K), got {a.shape}"
            raise ConfigError(msg)
        if n_classes is None:
            n_classes = a.shape[1]
        if a.shape[1] != n_classes:
            msg = f"slice probabilities of scan {i} have {a.shape[1]} classes, expected {n_classes}"
            raise ConfigError(msg)
        if not np.all(np.isfinite(a)):
            msg = f"slice probabilities of scan {i} contain NaN or infinite values"
            raise ConfigError(msg)
        out.append(a)
    if not out:
        msg = "slice_probs is empty: need at least one scan"
        raise ConfigError(msg)
    return out


def scan_keys(n_scans: int, scan_ids: Sequence[str] | None) -> list[str]:
    """Keys that seed each scan's draw: its id, or its position when no ids are given."""
    if scan_ids is None:
        return [str(i) for i in range(n_scans)]
    keys = [str(s) for s in scan_ids]
    if len(keys) != n_scans:
        msg = f"scan_ids has {len(keys)} entries but there are {n_scans} scans"
        raise ConfigError(msg)
    return keys


def vote_scans(
    slice_probs: Sequence[np.ndarray],
    sample_rate: float = 1.0,
    *,
    seed: int = 0,
    min_slices: int = DEFAULT_MIN_SLICES,
    scan_ids: Sequence[str] | None = None,
    repeat: int = 0,
    reader: SeriesReading | None = None,
) -> ScanVotes:
    """Sample R of each scan's slices (seeded) and vote them into scan predictions.

    Args:
        slice_probs: per scan, ``(n_i, K)`` probabilities of all its slices (in slice order).
        sample_rate: fraction R in (0, 1]; 1.0 votes all given slices (no draw).
        seed: run seed; scan i draws with ``series_seed(seed + repeat, scan_ids[i])``.
        min_slices: draw at least this many slices per scan (capped at ``n_i``).
        scan_ids: stable scan keys (series ids); default: the scan's position.
        repeat: index of an independent repeated draw (0 is the main draw).
        reader: a series reader (:data:`SeriesReading`); when given, its probabilities are the
            scans' ``scores``, its most probable class the label and its probability of it the
            confidence (``ties`` all False); ``fractions`` stay the vote shares.
    Returns:
        :class:`ScanVotes` for the S scans.
    """
    probs = check_slice_probs(slice_probs)
    check_sampling(sample_rate, min_slices)
    keys = scan_keys(len(probs), scan_ids)
    k = probs[0].shape[1]
    s = len(probs)
    labels = np.empty(s, dtype=np.int64)
    scores = np.empty((s, k))
    fractions = np.empty((s, k))
    confidence = np.empty(s)
    ties = np.empty(s, dtype=bool)
    sampled = []
    for i, (p, key) in enumerate(zip(probs, keys)):
        idx = sample_slices(p.shape[0], sample_rate, min_slices, series_seed(int(seed) + int(repeat), key))
        v = majority_vote(p[idx])
        labels[i], scores[i], fractions[i], confidence[i], ties[i] = v.label, v.mean_probs, v.fractions, v.confidence, v.tie
        if reader is not None:
            scores[i] = reader(i, idx)
            labels[i], ties[i] = int(np.argmax(scores[i])), False
            confidence[i] = scores[i, labels[i]]
        sampled.append(idx)
    return ScanVotes(labels, scores, fractions, confidence, ties, sampled)
