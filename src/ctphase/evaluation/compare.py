"""Paired comparison of two evaluations of the same scans: is model B better than model A?

Two ``ctphase evaluate`` runs on the same labelled scans (two checkpoints, the same manifest or
synthetic patients) each give a scan-level macro F1 with its own interval; the intervals overlap
even when one model is reliably better, because most of their spread is which patients happen to
be in the set, and both models see the same ones. This module measures the *difference*:

* a **paired patient bootstrap**: each resample draws the patients with replacement (the
  ``cluster`` index each run records per scan) and computes both models' metrics on the very same
  draw, so the interval is that of ``B - A`` (the per-patient confusion matrices of
  :mod:`ctphase.evaluation.bootstrap`);
* the same at the **slice level**, from each scan's slice predictions (every slice carries its
  scan's label and patient; the resamples are the very same draws of patients);
* an **exact McNemar test** on the scans only one of the two gets right (scipy's binomial test):
  it ignores the clustering, so it is reported beside the bootstrap, not instead of it.

Runs written before the cluster index was recorded fall back to scans as clusters, and the
result says so (``clusters``); runs written before the slice predictions were recorded get no
slice-level comparison (``slice_metrics`` is None).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError, InputError
from .bootstrap import (
    DEFAULT_CONFIDENCE, DEFAULT_N_RESAMPLES, DEFAULT_SEED, ClusterParts, check_bootstrap_args, cluster_codes,
    percentile_interval, resample_counts,
)
from .metrics import check_pair
from .results import Interval


@dataclass(frozen=True)
class MetricDifference:
    """One metric of A and B on the same scans, and the paired interval of ``B - A``."""

    name: str
    a: float
    b: float
    difference: Interval


@dataclass(frozen=True)
class Comparison:
    """The paired comparison of two evaluations (scan level, and slice level where both runs hold slices)."""

    n_scans: int
    n_clusters: int
    clusters: str
    """``"patients"`` or ``"scans"`` (when a run does not record its patients)."""
    metrics: list[MetricDifference]
    """Scan level (the vote of each scan)."""
    slice_metrics: list[MetricDifference] | None
    """Slice level, paired slice by slice; None when a run holds no slice predictions."""
    n_slices: int
    only_a_right: int
    only_b_right: int
    mcnemar_p: float
    """Exact two-sided McNemar p-value of the discordant scans (1.0 when there are none)."""
    n_resamples: int
    confidence: float
    seed: int
    draws: DrawsDifference | None = None
    """The scan macro F1 of both over the same repeated draws; None when a run has none, or not the same ones."""


@dataclass(frozen=True)
class DrawsDifference:
    """Scan macro F1 of A and B over the same seeded draws of the slices (``ctphase evaluate --draws``), draw by draw."""

    n_draws: int
    a_mean: float
    b_mean: float
    difference_mean: float
    difference_min: float
    difference_max: float
    b_better: int
    """Draws in which B's macro F1 is higher than A's (ties count for neither)."""


def _draws(a: Mapping[str, Any], b: Mapping[str, Any]) -> DrawsDifference | None:
    """Both runs' ``draws`` paired draw by draw, where they drew the same way (R, minimum, seed, draw)."""
    da, db = (a.get("draws") or {}).get("values"), (b.get("draws") or {}).get("values")
    pa, pb = a.get("protocol") or {}, b.get("protocol") or {}
    if not da or not db or len(da) != len(db) or any(pa.get(k) != pb.get(k) for k in ("sample_rate", "min_slices", "seed", "draw")):
        return None
    fa, fb = np.asarray(da, np.float64), np.asarray(db, np.float64)
    d = fb - fa
    return DrawsDifference(len(d), float(fa.mean()), float(fb.mean()), float(d.mean()), float(d.min()), float(d.max()),
                           int(np.sum(d > 0)))


def _scan_rows(results: Mapping[str, Any], name: str) -> list[Mapping[str, Any]]:
    if not str(results.get("schema", "")).startswith("ctphase.evaluation/"):
        raise InputError(f"{name}: not the metrics.json of ctphase evaluate (schema {results.get('schema')!r})")
    rows = (results.get("scan_level") or {}).get("predictions")
    if not rows:
        raise InputError(f"{name}: holds no scan predictions (scan_level.predictions)")
    return rows


def compare_results(a: Mapping[str, Any], b: Mapping[str, Any], *, names: tuple[str, str] = ("A", "B"),
                    n_resamples: int = DEFAULT_N_RESAMPLES, confidence: float = DEFAULT_CONFIDENCE,
                    seed: int = DEFAULT_SEED) -> Comparison:
    """Compare two evaluations (the loaded ``metrics.json`` of each) at the scan and the slice level.

    The two must hold the same scans (by ``scan_id``) with the same labels and class list;
    anything else raises :class:`~ctphase.errors.InputError` naming the run and the scan.
    """
    check_bootstrap_args(n_resamples, confidence)
    rows_a, rows_b = _scan_rows(a, names[0]), _scan_rows(b, names[1])
    classes = list(a.get("class_names") or [])
    if classes != list(b.get("class_names") or []):
        raise InputError(f"{names[0]} and {names[1]} have different classes: {a.get('class_names')} vs {b.get('class_names')}")
    by_id = {r["scan_id"]: r for r in rows_b}
    if len(by_id) != len(rows_b) or len({r["scan_id"] for r in rows_a}) != len(rows_a):
        raise InputError(f"{names[0]} or {names[1]} lists a scan twice")
    missing = [r["scan_id"] for r in rows_a if r["scan_id"] not in by_id]
    if missing or len(rows_a) != len(rows_b):
        extra = len(rows_b) - (len(rows_a) - len(missing))
        raise InputError(f"{names[0]} and {names[1]} are not on the same scans: {len(missing)} of {names[0]}'s are not in "
                         f"{names[1]} (first: {missing[0] if missing else '-'}), {extra} of {names[1]}'s are not in {names[0]}")
    pairs = [(r, by_id[r["scan_id"]]) for r in rows_a]
    for r, s in pairs:
        if r["label"] != s["label"]:
            raise InputError(f"scan {r['scan_id']}: labelled {r['label']} in {names[0]}, {s['label']} in {names[1]}")
    labels = [r["label"] for r, _ in pairs]
    try:
        y_, pa_ = check_pair(labels, [r["predicted"] for r, _ in pairs], classes)
        _, pb_ = check_pair(labels, [s["predicted"] for _, s in pairs], classes)
    except ConfigError as exc:
        raise InputError(f"{names[0]} or {names[1]}: {exc}") from None
    ca, cb = [r.get("cluster") for r, _ in pairs], [s.get("cluster") for _, s in pairs]
    by_patient = None not in ca and ca == cb
    codes, n_clusters = cluster_codes(ca if by_patient else None, len(pairs))
    clusters = "patients" if by_patient else "scans"
    w = resample_counts(n_clusters, n_resamples, seed).astype(np.float64)
    scan_diffs = _paired(y_, pa_, pb_, codes, n_clusters, classes, w, confidence)
    slices = _slice_pairs(pairs, y_, codes, classes, names)
    slice_diffs = None if slices is None else _paired(*slices, n_clusters, classes, w, confidence)
    right_a, right_b = pa_ == y_, pb_ == y_
    only_a, only_b = int(np.sum(right_a & ~right_b)), int(np.sum(right_b & ~right_a))
    return Comparison(len(pairs), n_clusters, clusters, scan_diffs, slice_diffs, 0 if slices is None else len(slices[0]),
                      only_a, only_b, _mcnemar(only_a, only_b), n_resamples, confidence, seed, _draws(a, b))


def _paired(y: np.ndarray, pa: np.ndarray, pb: np.ndarray, codes: np.ndarray, n_clusters: int, classes: list[str],
            w: np.ndarray, confidence: float) -> list[MetricDifference]:
    """Macro F1, accuracy and F1 per class of A and B, and the intervals of B - A over the resamples ``w``."""
    full = np.ones((1, n_clusters))
    out = {}
    for tag, p in (("a", pa), ("b", pb)):
        parts = ClusterParts(y, p, None, codes, n_clusters, tuple(classes))
        out[tag] = (parts.metrics(full), parts.metrics(w))
    diffs = [_difference("macro F1", out, "macro_f1", None, confidence),
             _difference("accuracy", out, "accuracy", None, confidence)]
    return diffs + [_difference(f"F1 {c}", out, "f1", j, confidence) for j, c in enumerate(classes)]


def _slice_pairs(pairs: list[tuple[Mapping[str, Any], Mapping[str, Any]]], y: np.ndarray, codes: np.ndarray,
                 classes: list[str], names: tuple[str, str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """Slice labels, A's and B's slice predictions and the slices' cluster codes (None: a run has none).

    Every slice carries its scan's label ``y`` and cluster code, as in :func:`ctphase.evaluation.evaluate_predictions`.
    """
    if any(r.get("slice_predicted") is None or s.get("slice_predicted") is None for r, s in pairs):
        return None
    for r, s in pairs:
        sa, sb = r["slice_predicted"], s["slice_predicted"]
        if len(sa) != len(sb):
            raise InputError(f"scan {r['scan_id']}: {len(sa)} slice predictions in {names[0]}, {len(sb)} in {names[1]} "
                             "(not the same slices)")
        bad = [v for v in (*sa, *sb) if not (isinstance(v, int) and 0 <= v < len(classes))]
        if bad:
            raise InputError(f"scan {r['scan_id']}: slice prediction {bad[0]!r} is not a class index of {classes}")
    n = [len(r["slice_predicted"]) for r, _ in pairs]
    pa = np.array([v for r, _ in pairs for v in r["slice_predicted"]], np.int64)
    pb = np.array([v for _, s in pairs for v in s["slice_predicted"]], np.int64)
    return np.repeat(y, n), pa, pb, np.repeat(codes, n)


def _difference(name: str, out: Mapping[str, Any], key: str, column: int | None, confidence: float) -> MetricDifference:
    def pick(m: Mapping[str, np.ndarray]) -> np.ndarray:
        return m[key] if column is None else m[key][:, column]

    a, b = float(pick(out["a"][0])[0]), float(pick(out["b"][0])[0])
    return MetricDifference(name, a, b, percentile_interval(pick(out["b"][1]) - pick(out["a"][1]), confidence, b - a))


def _mcnemar(only_a: int, only_b: int) -> float:
    if only_a + only_b == 0:
        return 1.0
    from scipy.stats import binomtest

    return float(binomtest(only_b, only_a + only_b, 0.5).pvalue)
