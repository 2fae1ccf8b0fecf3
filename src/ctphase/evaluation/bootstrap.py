"""Cluster (patient-level) bootstrap confidence intervals.

Each resample draws the patients (clusters) with replacement, as many as there are, and
keeps all scans/slices of every drawn patient (a patient drawn twice counts twice). The
interval is the percentile interval of the metric over the resamples. Resamples where a
metric is undefined (e.g. AUC of a class with no positives) are skipped for that metric and
counted: ``n_valid`` says how many resamples the interval rests on.

Two entry points share the same draws for the same seed:

- :func:`bootstrap_ci` for any metric function (a Python loop; ~1 ms per resample and metric call);
- :func:`bootstrap_classification` for the standard metrics of
  :func:`~ctphase.evaluation.metrics.classification_metrics`, vectorised: per-patient
  confusion matrices and per-patient-pair AUC counts are computed once, each resample is a
  weighted sum of them (5000 resamples take well under a second).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..phases import PHASE_NAMES
from .metrics import check_pair, auc_reason, check_probs, metrics_from_confusion
from .results import AucIntervals, ClassificationIntervals, Interval, ScoreIntervals

DEFAULT_N_RESAMPLES = 5000
DEFAULT_CONFIDENCE = 0.95
DEFAULT_SEED = 0



def check_bootstrap_args(n_resamples: int, confidence: float) -> None:
    """Validate bootstrap arguments, naming the bad value."""
    if isinstance(n_resamples, bool) or int(n_resamples) != n_resamples or n_resamples < 1:
        msg = f"n_resamples must be an integer >= 1, got {n_resamples!r}"
        raise ConfigError(msg)
    if not 0.0 < float(confidence) < 1.0:
        msg = f"confidence must be in (0, 1) (0.95 for a 95% interval), got {confidence!r}"
        raise ConfigError(msg)


def cluster_codes(groups: Sequence[Any] | np.ndarray | None, n: int) -> tuple[np.ndarray, int]:
    """Map ``(N,)`` cluster ids (patient ids) to codes ``0..P-1`` in order of first appearance.

    ``None`` makes every sample its own cluster. Returns ``(codes (N,) int64, P)``.
    """
    if groups is None:
        return np.arange(n, dtype=np.int64), n
    g = list(groups)
    if len(g) != n:
        msg = f"groups (patient ids) has {len(g)} entries but there are {n} samples"
        raise ConfigError(msg)
    first: dict[Any, int] = {}
    codes = np.empty(n, dtype=np.int64)
    for i, key in enumerate(g):
        if key is None or (isinstance(key, float) and np.isnan(key)):
            msg = f"group (patient id) of sample {i} is missing; give every sample a patient id or pass groups=None"
            raise ConfigError(msg)
        codes[i] = first.setdefault(key, len(first))
    return codes, len(first)


def resample_counts(n_clusters: int, n_resamples: int = DEFAULT_N_RESAMPLES, seed: int | None = DEFAULT_SEED) -> np.ndarray:
    """How often each cluster is drawn in each resample: ``(B, P)`` int64, every row sums to ``P``."""
    check_bootstrap_args(n_resamples, 0.5)
    if n_clusters < 1:
        msg = f"need at least one cluster (patient) to bootstrap, got {n_clusters}"
        raise ConfigError(msg)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_clusters, size=(n_resamples, n_clusters))
    offsets = (np.arange(n_resamples, dtype=np.int64) * n_clusters)[:, None]
    return np.bincount((draws + offsets).ravel(), minlength=n_resamples * n_clusters).reshape(n_resamples, n_clusters)


def percentile_interval(values: np.ndarray, confidence: float = DEFAULT_CONFIDENCE, estimate: float | None = None) -> Interval:
    """Percentile interval of the finite entries of ``values`` ``(B,)``; ``low``/``high`` are None if none."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    est = None if estimate is None or not np.isfinite(estimate) else float(estimate)
    if v.size == 0:
        return Interval(est, None, None, 0)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.percentile(v, [100.0 * alpha, 100.0 * (1.0 - alpha)])
    return Interval(est, float(low), float(high), int(v.size))


def _call(metric: Callable[..., Any], yt: np.ndarray, yp: np.ndarray, p: np.ndarray | None) -> Any:
    try:
        return metric(yt, yp) if p is None else metric(yt, yp, p)
    except (ValueError, ZeroDivisionError, FloatingPointError):
        return np.nan


def bootstrap_ci(
    metric: Callable[..., float | Mapping[str, float]],
    y_true: Sequence[Any] | np.ndarray,
    y_pred: Sequence[Any] | np.ndarray,
    probs: np.ndarray | None = None,
    *,
    groups: Sequence[Any] | np.ndarray | None = None,
    n_resamples: int = DEFAULT_N_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int | None = DEFAULT_SEED,
) -> Interval | dict[str, Interval]:
    """Cluster-bootstrap percentile interval of any metric.

    Args:
        metric: ``metric(y_true, y_pred)`` or, when ``probs`` is given,
            ``metric(y_true, y_pred, probs)``, returning a float or a dict of floats. A
            resample where it raises ValueError or returns NaN/None is skipped.
        y_true, y_pred: ``(N,)`` labels, passed to ``metric`` as given (resampled).
        probs: optional ``(N, K)`` scores, resampled alongside.
        groups: ``(N,)`` patient id of each sample; ``None``: each sample is its own cluster.
        n_resamples, confidence, seed: resamples B, interval level, RNG seed.
    Returns:
        an :data:`Interval` (or a dict of them, one per key the metric returns), with the
        metric on the full data as ``estimate``.
    """
    check_bootstrap_args(n_resamples, confidence)
    yt = np.asarray(y_true)
    yp = np.asarray(y_pred)
    if yt.ndim != 1 or yt.shape != yp.shape or yt.size == 0:
        msg = f"y_true and y_pred must be non-empty 1-D arrays of equal length, got shapes {yt.shape} and {yp.shape}"
        raise ConfigError(msg)
    p = None if probs is None else np.asarray(probs)
    if p is not None and p.shape[0] != yt.size:
        msg = f"probs has {p.shape[0]} rows but there are {yt.size} labels"
        raise ConfigError(msg)
    codes, n_clusters = cluster_codes(groups, yt.size)
    counts = resample_counts(n_clusters, n_resamples, seed)
    full = _call(metric, yt, yp, p)
    keys = list(full) if isinstance(full, Mapping) else None
    values = np.full((n_resamples, len(keys) if keys else 1), np.nan)
    base = np.arange(yt.size)
    for b in range(n_resamples):
        idx = np.repeat(base, counts[b, codes])
        r = _call(metric, yt[idx], yp[idx], None if p is None else p[idx])
        row = [r.get(k) for k in keys] if keys is not None and isinstance(r, Mapping) else [r]
        values[b] = [np.nan if v is None else float(v) for v in row]

    def _est(v: Any) -> float | None:
        return None if v is None or not np.isfinite(float(v)) else float(v)

    if keys is None:
        return percentile_interval(values[:, 0], confidence, _est(full))
    return {k: percentile_interval(values[:, j], confidence, _est(full[k])) for j, k in enumerate(keys)}


def _pairwise_auc_counts(scores: np.ndarray, positive: np.ndarray, codes: np.ndarray, n_clusters: int) -> np.ndarray:
    """``A[a, b]``: Mann-Whitney count of (positive of cluster a, negative of cluster b) pairs (ties 1/2)."""
    pos_s, pos_c = scores[positive], codes[positive]
    neg_s, neg_c = scores[~positive], codes[~positive]
    a = np.zeros((n_clusters, n_clusters), dtype=np.float64)
    order = np.argsort(neg_c, kind="stable")
    neg_s, neg_c = neg_s[order], neg_c[order]
    bounds = np.searchsorted(neg_c, np.arange(n_clusters + 1))
    for b in range(n_clusters):
        negs = np.sort(neg_s[bounds[b] : bounds[b + 1]])
        if negs.size == 0:
            continue
        less = np.searchsorted(negs, pos_s, side="left")
        leq = np.searchsorted(negs, pos_s, side="right")
        a[:, b] = np.bincount(pos_c, weights=less + 0.5 * (leq - less), minlength=n_clusters)
    return a


class ClusterParts:
    """Per-cluster sufficient statistics (confusion counts, AUC pair counts): each resample's metrics
    are weighted sums of them, so two models resampled with the same weights are paired."""

    def __init__(
        self, yt: np.ndarray, yp: np.ndarray, p: np.ndarray | None, codes: np.ndarray, n_clusters: int,
        names: tuple[str, ...],
    ) -> None:
        k = self.k = len(names)
        cm = np.bincount(codes * k * k + yt * k + yp, minlength=n_clusters * k * k).reshape(n_clusters, k * k)
        self.cm = cm.astype(np.float64)
        self.auc_classes = [c for c in range(k) if auc_reason(yt, c, names[c], p is not None) is None]
        self.auc: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        for c in self.auc_classes:
            assert p is not None
            pos = yt == c
            self.auc[c] = (
                _pairwise_auc_counts(p[:, c], pos, codes, n_clusters),
                np.bincount(codes[pos], minlength=n_clusters).astype(np.float64),
                np.bincount(codes[~pos], minlength=n_clusters).astype(np.float64),
            )

    def metrics(self, w: np.ndarray) -> dict[str, np.ndarray]:
        """Metrics of the resamples whose cluster counts are the rows of ``w`` ``(B, P)``."""
        k, auc_classes = self.k, self.auc_classes
        out = metrics_from_confusion((w @ self.cm).reshape(-1, k, k))
        aucs = np.full((w.shape[0], k), np.nan)
        for c, (a, npos, nneg) in self.auc.items():
            denom = (w @ npos) * (w @ nneg)
            num = ((w @ a) * w).sum(axis=1)  # w^T A w per resample
            with np.errstate(invalid="ignore", divide="ignore"):
                aucs[:, c] = np.where(denom > 0, num / np.where(denom > 0, denom, 1), np.nan)
        out["auc"] = aucs
        with np.errstate(invalid="ignore"):
            valid = np.isfinite(aucs[:, auc_classes]) if auc_classes else np.zeros((w.shape[0], 0), bool)
            out["macro_auc"] = (
                np.where(valid.any(axis=1), np.nansum(aucs[:, auc_classes], axis=1) / np.maximum(valid.sum(axis=1), 1), np.nan)
                if auc_classes
                else np.full(w.shape[0], np.nan)
            )
        return out


def bootstrap_classification(
    y_true: Sequence[Any] | np.ndarray,
    y_pred: Sequence[Any] | np.ndarray,
    probs: np.ndarray | None = None,
    *,
    groups: Sequence[Any] | np.ndarray | None = None,
    class_names: Sequence[str] = PHASE_NAMES,
    n_resamples: int = DEFAULT_N_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int | None = DEFAULT_SEED,
    chunk: int = 1000,
) -> ClassificationIntervals:
    """Vectorised cluster-bootstrap intervals of every metric of ``classification_metrics``.

    Args:
        y_true, y_pred: ``(N,)`` labels (indices or names).
        probs: optional ``(N, K)`` scores; adds one-vs-rest AUC intervals.
        groups: ``(N,)`` patient id per sample (per slice at slice level); ``None``: no clustering.
        class_names: the K class names in index order.
        n_resamples, confidence, seed: resamples B, interval level, RNG seed.
        chunk: resamples processed at once (bounds memory).
    Returns:
        :class:`~ctphase.evaluation.results.ClassificationIntervals`; AUC entries are None
        where the AUC of the full data is undefined.
    """
    check_bootstrap_args(n_resamples, confidence)
    names = tuple(class_names)
    k = len(names)
    yt, yp = check_pair(y_true, y_pred, names)
    p = None if probs is None else check_probs(probs, yt.size, k)
    codes, n_clusters = cluster_codes(groups, yt.size)
    counts = resample_counts(n_clusters, n_resamples, seed).astype(np.float64)
    stats = ClusterParts(yt, yp, p, codes, n_clusters, names)
    est = stats.metrics(np.ones((1, n_clusters)))
    parts = [stats.metrics(counts[i : i + chunk]) for i in range(0, n_resamples, chunk)]
    boot = {key: np.concatenate([part[key] for part in parts]) for key in est}

    def iv(key: str, col: int | None = None) -> Interval:
        values = boot[key] if col is None else boot[key][:, col]
        e = est[key][0] if col is None else est[key][0, col]
        return percentile_interval(values, confidence, float(e))

    def scores(col: int | None = None) -> ScoreIntervals:
        if col is None:
            return ScoreIntervals(iv("macro_precision"), iv("macro_recall"), iv("macro_f1"))
        return ScoreIntervals(iv("precision", col), iv("recall", col), iv("f1", col))

    return ClassificationIntervals(
        method="percentile; resampling patients with replacement (cluster bootstrap)" if groups is not None
        else "percentile; resampling samples with replacement (no patient ids)",
        n_resamples=int(n_resamples),
        confidence=float(confidence),
        seed=seed,
        n_clusters=int(n_clusters),
        accuracy=iv("accuracy"),
        macro=scores(),
        per_class={names[c]: scores(c) for c in range(k)},
        roc_auc=AucIntervals(
            per_class={names[c]: (iv("auc", c) if c in stats.auc else None) for c in range(k)},
            macro=iv("macro_auc") if stats.auc_classes else None,
        ),
    )
