"""Scoring a model's subphase and seconds heads on scans whose truth is known (synthetic scans).

Each scan is summarised over the same seeded draw of R of its slices as its vote
(:func:`ctphase.evaluation.scan_level.vote_scans`), by the functions ``ctphase predict`` uses
(:mod:`ctphase.timing`). Scored per series:

* ``subphase_accuracy``: the most probable of the eight subphases is the true one;
* ``subphase_given_phase_accuracy``: the most probable subphase *of the true phase* is the true one
  (what a correct phase answer then reports: early vs late arterial, portal venous vs
  nephrographic, transitional vs equilibrium vs excretory);
* seconds (contrast-enhanced series): absolute error of the estimate, and the share of series
  whose true time lies in the reported 80% interval (``coverage``, to compare with 0.8), overall
  and per true phase (``by_phase``).

:func:`fit_seconds_scale` chooses the interval scale that makes the coverage 80% on fit scans, overall
or (``by_phase``) apart for the scans decided arterial, venous and other; ``heads_metrics`` scores each
scan's interval with the factor of its decided phase (:meth:`Calibration.seconds_scale_for`). A scan's decided
phase is the one ``ctphase predict`` gives it: its series reader's label on the drawn slices when the calibration
has a reader, else its vote.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..data import LabelledScan
from ..errors import ConfigError
from ..models.calibration import MIN_SECONDS_FIT, Calibration
from ..models.heads import SliceOutputs
from ..models.reader import SeriesReader
from ..phases import PHASE_NAMES, SUBPHASE_NAMES
from ..sampling import DEFAULT_MIN_SLICES, DEFAULT_SAMPLE_RATE
from ..timing import INTERVAL, Z_INTERVAL, log_seconds_gaussian, seconds_estimate, subphase_probabilities, subphase_within
from .scan_level import vote_scans


def _sampled(outputs: Sequence[SliceOutputs], scans: Sequence[LabelledScan], sample_rate: float, min_slices: int,
             seed: int, reader: SeriesReader | None = None) -> tuple[list[np.ndarray], list[str]]:
    """Each scan's sampled slice indices and decided phase name (``reader``'s label on them, else the vote)."""
    votes = vote_scans([o.probs for o in outputs], sample_rate, seed=seed, min_slices=min_slices,
                       scan_ids=[s.scan_id for s in scans], reader=None if reader is None else reader.reading(outputs))
    return list(votes.sampled), [PHASE_NAMES[int(k)] for k in votes.labels]


def heads_metrics(
    outputs: Sequence[SliceOutputs], scans: Sequence[LabelledScan], *, scale: float | Calibration = 1.0,
    sample_rate: float = DEFAULT_SAMPLE_RATE, min_slices: int = DEFAULT_MIN_SLICES, seed: int = 0,
) -> dict[str, Any] | None:
    """Series-level scores of the heads over the scans with a known subphase (None when there are none).

    ``scale``: the seconds interval factor, or a calibration whose factor for each scan's decided phase is used
    (its series reader's label when it has one, else the vote).
    """
    rows = [(i, s) for i, s in enumerate(scans) if s.subphase is not None]
    if not rows or outputs[0].subphase is None:
        return None
    reader = scale.reader if isinstance(scale, Calibration) else None
    sampled, decided = _sampled(outputs, scans, sample_rate, min_slices, seed, reader)
    factor = scale.seconds_scale_for if isinstance(scale, Calibration) else (lambda _label: float(scale))
    hit, hit_given, errors, covered, widths, phases, decided_as = [], [], [], [], [], [], []
    confusion = {t: dict.fromkeys(SUBPHASE_NAMES, 0) for t in SUBPHASE_NAMES}
    for i, scan in rows:
        o = outputs[i].take(sampled[i])
        probs = subphase_probabilities(o.subphase, SUBPHASE_NAMES)
        best = max(probs, key=lambda n: probs[n])
        confusion[scan.subphase][best] += 1
        hit.append(best == scan.subphase)
        hit_given.append(subphase_within(probs, PHASE_NAMES[int(scan.label)]) == scan.subphase)
        if scan.seconds is not None:
            est = seconds_estimate(o.log_seconds, factor(decided[i]))
            errors.append(abs(est["estimate"] - scan.seconds))
            covered.append(est["low"] <= scan.seconds <= est["high"])
            widths.append(est["high"] - est["low"])
            phases.append(PHASE_NAMES[int(scan.label)])
            decided_as.append(decided[i])
    out: dict[str, Any] = {
        "series": len(rows),
        "subphase_accuracy": float(np.mean(hit)),
        "subphase_given_phase_accuracy": float(np.mean(hit_given)),
        "subphase_confusion": {t: {p: n for p, n in row.items() if n} for t, row in confusion.items() if any(row.values())},
    }
    if errors:
        out["seconds"] = {
            "series": len(errors),
            "median_abs_error_s": float(np.median(errors)),
            "mean_abs_error_s": float(np.mean(errors)),
            "interval": INTERVAL,
            "coverage": float(np.mean(covered)),
            "median_interval_width_s": float(np.median(widths)),
            "scale": scale.seconds_scale if isinstance(scale, Calibration) else float(scale),
            "by_phase": {ph: {"series": int(sum(m)), "median_abs_error_s": float(np.median(np.asarray(errors)[m])),
                              "coverage": float(np.mean(np.asarray(covered)[m]))}
                         for ph in PHASE_NAMES if (m := np.asarray(phases) == ph).any()},
            "by_decided_phase": {ph: {"series": int(sum(m)), "coverage": float(np.mean(np.asarray(covered)[m])),
                                    "median_interval_width_s": float(np.median(np.asarray(widths)[m])),
                                    "scale": factor(ph)}
                               for ph in PHASE_NAMES if (m := np.asarray(decided_as) == ph).any()},
        }
    return out


def fit_seconds_scale(
    outputs: Sequence[SliceOutputs], scans: Sequence[LabelledScan], *, sample_rate: float = DEFAULT_SAMPLE_RATE,
    min_slices: int = DEFAULT_MIN_SLICES, seed: int = 0,
) -> float:
    """The factor on a series' ln(seconds) spread whose 80% interval covers 80% of the fit scans' true times.

    Raises:
        ConfigError: fewer than 10 contrast-enhanced scans with a known time, or no seconds head.
    """
    z, _ = _seconds_z(outputs, scans, sample_rate, min_slices, seed)
    return float(np.quantile(z, INTERVAL) / Z_INTERVAL)


def fit_seconds_scales_by_phase(
    outputs: Sequence[SliceOutputs], scans: Sequence[LabelledScan], *, sample_rate: float = DEFAULT_SAMPLE_RATE,
    min_slices: int = DEFAULT_MIN_SLICES, seed: int = 0, min_series: int = MIN_SECONDS_FIT,
    reader: SeriesReader | None = None,
) -> dict[str, float]:
    """:func:`fit_seconds_scale` apart for the scans decided into each contrast phase (at least ``min_series`` of
    them): by ``reader`` when the calibration will have one (the label ``ctphase predict`` then gives), else by the vote."""
    z, decided = _seconds_z(outputs, scans, sample_rate, min_slices, seed, reader)
    out = {}
    for ph in PHASE_NAMES[1:]:
        zs = z[decided == ph]
        if len(zs) >= min_series:
            out[ph] = float(np.quantile(zs, INTERVAL) / Z_INTERVAL)
    return out


def _seconds_z(outputs: Sequence[SliceOutputs], scans: Sequence[LabelledScan], sample_rate: float, min_slices: int,
               seed: int, reader: SeriesReader | None = None) -> tuple[np.ndarray, np.ndarray]:
    """|ln(true seconds) - mean| / spread of each scan with a known time, and its decided phase."""
    rows = [(i, s) for i, s in enumerate(scans) if s.seconds is not None]
    if len(rows) < 10 or not outputs or outputs[0].log_seconds is None:
        raise ConfigError(f"fitting the seconds interval needs >= 10 contrast-enhanced scans with a known time "
                          f"and a model with a seconds head; got {len(rows)} scans")
    sampled, decided = _sampled(outputs, scans, sample_rate, min_slices, seed, reader)
    z = []
    for i, scan in rows:
        mu, sd = log_seconds_gaussian(outputs[i].take(sampled[i]).log_seconds)
        z.append(abs(math.log(max(scan.seconds, 1.0)) - mu) / max(sd, 1e-6))
    return np.asarray(z), np.asarray([decided[i] for i, _ in rows])
