"""Calibration and abstention metrics: expected calibration error, reliability bins, risk-coverage.

Conventions:

- **confidence** is the probability given to the predicted label. At slice level that is the
  maximum slice probability (the label is the argmax). At scan level the label is the vote and
  the probabilities are the series probabilities of the checkpoint's calibration (``softmax(z / T)``,
  or ``softmax(scale * z + bias)``; ``z``: mean log probability over the voted slices); the vote is
  nearly always their most probable class too (``label_not_top`` counts the exceptions).
- **ECE**: ``DEFAULT_N_BINS`` = 15 equal-width bins on ``[0, 1]``, bin ``b`` = ``(b/15, (b+1)/15]``
  (0 falls in the first), ``ECE = sum_b n_b / n * |accuracy_b - mean confidence_b|``.
- **risk-coverage**: scans ranked by confidence, most confident first (ties keep the scan order);
  coverage ``c`` keeps the first ``round(c * n)`` (at least 1) and reports their accuracy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import ConfigError
from ..models.calibration import IDENTITY, Calibration, mean_log_probs
from .results import CalibrationResults, CalibrationScores, ReliabilityBin, RiskCoverage, RiskCoveragePoint

DEFAULT_N_BINS = 15
DEFAULT_COVERAGES: tuple[float, ...] = (1.0, 0.95, 0.9, 0.8)
SCAN_CONFIDENCE = (
    "probability of the voted scan label under the calibrated series probabilities (softmax(z / T), or "
    "softmax(scale * z + bias) for vector scaling; softmax(z) before calibration), z = mean log slice probability "
    "over the voted slices"
)
READER_CONFIDENCE = (
    "probability of the scan label under the series reader's probabilities (calibrated row); softmax(z) before, "
    "z = mean log slice probability over the drawn slices"
)


def _check(confidence: np.ndarray, correct: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    conf = np.asarray(confidence, dtype=np.float64).ravel()
    ok = np.asarray(correct, dtype=bool).ravel()
    if conf.size == 0 or conf.size != ok.size:
        raise ConfigError(f"need as many confidences as correctness flags (>= 1), got {conf.size} and {ok.size}")
    if not np.all(np.isfinite(conf)) or conf.min() < 0 or conf.max() > 1 + 1e-9:
        raise ConfigError("confidences must be finite probabilities in [0, 1]")
    return conf, ok


def reliability(
    confidence: np.ndarray, correct: np.ndarray, n_bins: int = DEFAULT_N_BINS
) -> tuple[float, list[ReliabilityBin]]:
    """ECE and the reliability bins of confidences ``(N,)`` and correctness flags ``(N,)``."""
    conf, ok = _check(confidence, correct)
    if n_bins < 1:
        raise ConfigError(f"n_bins must be >= 1, got {n_bins}")
    idx = np.clip(np.ceil(conf * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
    bins, ece = [], 0.0
    for b in range(n_bins):
        sel = idx == b
        n = int(sel.sum())
        mc = float(conf[sel].mean()) if n else None
        acc = float(ok[sel].mean()) if n else None
        if n:
            ece += n / conf.size * abs(acc - mc)  # type: ignore[operator]
        bins.append(ReliabilityBin(b / n_bins, (b + 1) / n_bins, n, mc, acc))
    return float(ece), bins


def ece_noise_floor(confidence: np.ndarray, n_bins: int = DEFAULT_N_BINS, draws: int = 1000, seed: int = 0) -> float:
    """Median ECE of perfectly calibrated outcomes at these confidences (each sample correct with
    probability equal to its confidence; ``draws`` seeded draws): the ECE that sampling noise alone
    gives at this ``n``. An observed ECE near it is consistent with perfect calibration."""
    conf, _ = _check(confidence, np.ones(np.size(confidence), dtype=bool))
    idx = np.clip(np.ceil(conf * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
    onehot = np.eye(n_bins)[idx]  # (n, B)
    rng = np.random.default_rng(seed)
    eces = np.empty(draws)
    for start in range(0, draws, 100):  # chunks keep memory at 100 x n
        stop = min(draws, start + 100)
        ok = rng.random((stop - start, conf.size)) < conf
        eces[start:stop] = np.abs(ok @ onehot - conf @ onehot).sum(axis=1) / conf.size
    return float(np.median(eces))


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, n_bins: int = DEFAULT_N_BINS) -> float:
    """ECE of confidences ``(N,)`` against correctness flags ``(N,)`` (equal-width bins)."""
    return reliability(confidence, correct, n_bins)[0]


def calibration_scores(
    probs: np.ndarray, y: np.ndarray, predicted: np.ndarray | None = None, n_bins: int = DEFAULT_N_BINS
) -> CalibrationScores:
    """ECE, NLL, Brier score and reliability bins of ``(N, K)`` probabilities for true classes ``y``.

    ``predicted``: the labels whose probability is the confidence (default: the argmax).
    """
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    if p.ndim != 2 or p.shape[0] != y.size:
        raise ConfigError(f"probabilities must have shape ({y.size}, K), got {p.shape}")
    top = p.argmax(axis=1)
    pred = top if predicted is None else np.asarray(predicted, dtype=np.int64)
    rows = np.arange(y.size)
    conf, ok = p[rows, pred], pred == y
    ece, bins = reliability(conf, ok, n_bins)
    onehot = np.eye(p.shape[1])[y]
    return CalibrationScores(
        n=int(y.size),
        ece=ece,
        nll=float(-np.mean(np.log(np.maximum(p[rows, y], 1e-300)))),
        brier=float(np.mean(np.sum((p - onehot) ** 2, axis=1))),
        accuracy=float(ok.mean()),
        mean_confidence=float(conf.mean()),
        label_not_top=int(np.sum(p[rows, pred] < p[rows, top])),
        ece_floor=ece_noise_floor(conf, n_bins),
        bins=bins,
    )


def risk_coverage(
    confidence: np.ndarray, correct: np.ndarray, coverages: Sequence[float] = DEFAULT_COVERAGES, ranking: str = ""
) -> RiskCoverage:
    """Accuracy of the most confident ``round(c * N)`` samples at each coverage ``c``, and the AURC."""
    conf, ok = _check(confidence, correct)
    order = np.argsort(-conf, kind="stable")
    hits = np.cumsum(ok[order])
    n = conf.size
    points = []
    for c in coverages:
        if not 0 < c <= 1:
            raise ConfigError(f"coverages must be in (0, 1], got {c}")
        k = max(1, int(round(c * n)))
        acc = float(hits[k - 1] / k)
        points.append(RiskCoveragePoint(float(c), k, k / n, acc, 1.0 - acc, float(conf[order[k - 1]])))
    risks = 1.0 - hits / np.arange(1, n + 1)
    return RiskCoverage(ranking, points, float(risks.mean()))


def scan_calibration(
    slice_probs: Sequence[np.ndarray],
    sampled: Sequence[np.ndarray],
    y: np.ndarray,
    predicted: np.ndarray,
    calibration: Calibration | None,
    *,
    n_bins: int = DEFAULT_N_BINS,
    coverages: Sequence[float] = DEFAULT_COVERAGES,
    series_probs: np.ndarray | None = None,
) -> CalibrationResults:
    """Calibration before/after ``calibration`` at scan level, slice-level ECE and the risk-coverage table.

    Args:
        slice_probs: per scan, ``(n_i, K)`` probabilities of its slices.
        sampled: per scan, the indices of the slices that voted.
        y: ``(S,)`` true scan classes; predicted: ``(S,)`` voted labels.
        calibration: the checkpoint's calibration (None or the identity: none stored; the
            risk-coverage table then ranks by the uncalibrated confidence).
        series_probs: ``(S, K)`` the series reader's probabilities of the scans (``calibration.reader``):
            the calibrated side when given.
    """
    cal = calibration or IDENTITY
    y = np.asarray(y, dtype=np.int64)
    pred = np.asarray(predicted, dtype=np.int64)
    z = np.stack([mean_log_probs(np.asarray(p)[idx]) for p, idx in zip(slice_probs, sampled)])
    before = calibration_scores(IDENTITY.apply(z), y, pred, n_bins)
    probs = cal.apply(z) if series_probs is None else np.asarray(series_probs, dtype=np.float64)
    after = None if cal.is_identity else calibration_scores(probs, y, pred, n_bins)
    conf = probs[np.arange(y.size), pred]
    ranking = ("calibrated" if after is not None else "uncalibrated (no calibration stored)") + " scan confidence"
    slices = np.concatenate([np.asarray(p, dtype=np.float64) for p in slice_probs])
    slice_y = np.repeat(y, [len(p) for p in slice_probs])
    return CalibrationResults(
        method=cal.describe(),
        stored=not cal.is_identity,
        parameters=cal.parameters(),
        digest=None if cal.is_identity else cal.digest,
        n_bins=n_bins,
        scan_confidence=SCAN_CONFIDENCE if series_probs is None else READER_CONFIDENCE,
        scan_uncalibrated=before,
        scan_calibrated=after,
        slice_uncalibrated=calibration_scores(slices, slice_y, None, n_bins),
        risk_coverage=risk_coverage(conf, pred == y, coverages, ranking),
    )
