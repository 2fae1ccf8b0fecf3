"""A series' fine subphase and its time after injection, from the slice outputs of a network with heads.

* Subphase probabilities of a series: the mean over its classified slices of each slice's
  subphase probabilities. The reported ``subphase`` is the most probable subphase *of the final
  label's phase* (so that it never contradicts the label: a series called venous is
  ``portal_venous`` or ``nephrographic``), and none when the label is ``uncertain``.
* Seconds after the start of injection: each slice gives a Gaussian on ln(seconds) (mean ``m_i``,
  variance ``v_i``). The series estimate is ``exp(mean m_i)``; its spread adds the mean slice
  variance and the spread of the slice means (slices of one series are not independent
  evidence, so the variance is not divided by their number), times the checkpoint's interval
  scale (fitted so that the 80% interval covers 80% of held-out synthetic series, apart for each
  phase the images decide, by the series reader or else the vote: :meth:`ctphase.models.calibration.Calibration.seconds_scale_for`; a label the study
  step changes gets its own phase's factor, :func:`interval_for_label`). None for a non-contrast or
  uncertain answer.

The time is that of the images, not of a clock: bolus arrival varies by 10-25 s with cardiac
output, and the images show time since arrival, so the interval is wide by nature. Imports numpy only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .phases import PHASE_NAMES, SUBPHASE_TO_PHASE

INTERVAL = 0.8
"""Nominal coverage of the reported seconds interval."""
Z_INTERVAL = 1.2815515655446004
"""Standard normal quantile of 0.9: the half-width of a central 80% interval in standard deviations."""


def subphase_probabilities(subphase: np.ndarray, names: Sequence[str]) -> dict[str, float]:
    """Mean of ``(N, S)`` slice subphase probabilities, by subphase name (rounded to 6 places)."""
    mean = np.asarray(subphase, dtype=np.float64).mean(axis=0)
    return {n: round(float(v), 6) for n, v in zip(names, mean)}


def subphase_within(probabilities: Mapping[str, float], label: str | None) -> str | None:
    """The most probable subphase of phase ``label`` (``None`` for no probabilities or a non-phase label)."""
    if not probabilities or label not in PHASE_NAMES:
        return None
    mine = {n: p for n, p in probabilities.items() if SUBPHASE_TO_PHASE[n].label == label}
    return max(mine, key=lambda n: mine[n]) if mine else None


def log_seconds_gaussian(log_seconds: np.ndarray) -> tuple[float, float]:
    """Series mean and (unscaled) standard deviation of ln(seconds) from ``(N, 2)`` slice (mean, log-variance)."""
    a = np.asarray(log_seconds, dtype=np.float64)
    m, v = a[:, 0], np.exp(a[:, 1])
    return float(m.mean()), math.sqrt(float(v.mean()) + float(m.var()))


def seconds_estimate(log_seconds: np.ndarray, scale: float = 1.0) -> dict[str, float]:
    """Series time after injection from ``(N, 2)`` slice (mean, log-variance) of ln(seconds).

    Returns:
        ``{"estimate", "low", "high"}`` in seconds (the 80% interval) and ``"interval": 0.8``.
    """
    mu, sd = log_seconds_gaussian(log_seconds)
    sd *= float(scale)
    return {"estimate": round(math.exp(mu), 1), "low": round(math.exp(mu - Z_INTERVAL * sd), 1),
            "high": round(math.exp(mu + Z_INTERVAL * sd), 1), "interval": INTERVAL}


def settle(p: Any) -> None:
    """Align a finished record's ``subphase`` and ``seconds_after_injection`` with its final ``label``.

    ``p`` is a :class:`ctphase.prediction.ScanPrediction` whose label has just been set.
    """
    p.subphase = subphase_within(p.subphase_probabilities, p.label)
    if p.label not in PHASE_NAMES or p.label == "non_contrast":
        p.seconds_after_injection = None


def interval_for_label(p: Any, factor: Callable[[str | None], float]) -> None:
    """Rescale a finished record's seconds interval from the factor of its image label to that of its final label.

    The interval is symmetric in ln(seconds) around the estimate, so its half-width scales with the
    factor. Nothing changes when the record has no time, or both labels share a factor.
    """
    sec = p.seconds_after_injection
    if not sec or p.label not in PHASE_NAMES or p.label == p.image_label:
        return
    old, new = factor(p.image_label), factor(p.label)
    if old == new or not old > 0:
        return
    est, low, high = float(sec["estimate"]), float(sec["low"]), float(sec["high"])
    if not est > 0:
        return
    # a very wide interval can round its low end to 0.0 s: then its high end alone gives the width
    half = max(math.log(high / est), math.log(est / low) if low > 0 else 0.0) * new / old
    p.seconds_after_injection = {**sec, "low": round(est * math.exp(-half), 1), "high": round(est * math.exp(half), 1)}
