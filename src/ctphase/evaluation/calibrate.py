"""Fitting a checkpoint's series calibration on held-out labelled scans (behind ``ctphase calibrate``).

The scans are classified by the evaluation loop (:func:`ctphase.evaluation.run.classify_scans`);
each scan votes a seeded random R of its slices exactly as ``ctphase predict`` draws them
(:func:`ctphase.evaluation.scan_level.vote_scans`), and its series score is the mean log
probability over those slices. :func:`ctphase.models.calibration.select_calibration` chooses and
fits the calibration (patient-grouped cross-validated NLL); the NLL and ECE before (T = 1) and
after are measured on the same scans (in-sample: report held-out numbers from ``ctphase evaluate``).

A network with organ heads also gets a series reader (:mod:`ctphase.models.reader`), fitted on
the same scans over several draws each (:func:`fit_series_reader`); it is kept only when, cross-
validated by patient, its NLL is below the chosen calibration's and its macro F1 not below the
vote's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..data import LabelledScan
from ..errors import ConfigError
from ..phases import PHASE_NAMES
from ..models.calibration import IDENTITY, Calibration, mean_log_probs, select_calibration
from ..models.heads import Heads, SliceOutputs
from ..models.reader import SeriesReader
from ..sampling import DEFAULT_MIN_SLICES, DEFAULT_SAMPLE_RATE
from .calibration import DEFAULT_N_BINS, calibration_scores
from .results import CalibrationScores
from .run import classify_scans
from .scan_level import vote_scans


@dataclass(frozen=True)
class CalibrationFit:
    """A fitted calibration and how the fit scans score before and after it.

    Attributes:
        calibration: the fitted calibration, its ``fitted_on`` filled (data, selection, metrics).
        before: scores of ``softmax(z)`` (T = 1) on the fit scans.
        after: scores of the fitted calibration on the same scans (in-sample).
        existing: scores of the calibration the checkpoint stored already (None if it stored none).
        model_sha256: the checkpoint's model hash.
    """

    calibration: Calibration
    before: CalibrationScores
    after: CalibrationScores
    existing: CalibrationScores | None
    model_sha256: str


def series_scores(
    slice_probs: Sequence[np.ndarray], scan_ids: Sequence[str], *, sample_rate: float = DEFAULT_SAMPLE_RATE,
    min_slices: int = DEFAULT_MIN_SLICES, seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """``(S, K)`` series scores ``z`` and ``(S,)`` voted labels, over each scan's seeded draw of slices."""
    votes = vote_scans(slice_probs, sample_rate, seed=seed, min_slices=min_slices, scan_ids=scan_ids)
    z = np.stack([mean_log_probs(np.asarray(p)[idx]) for p, idx in zip(slice_probs, votes.sampled)])
    return z, votes.labels


def fit_calibration(
    scans: Sequence[LabelledScan],
    model: str | Path | Any,
    *,
    method: str = "auto",
    sample_rate: float = DEFAULT_SAMPLE_RATE,
    min_slices: int = DEFAULT_MIN_SLICES,
    seed: int = 0,
    folds: int = 5,
    data: Mapping[str, Any] | None = None,
    batch_size: int = 16,
    device: str = "auto",
    engine: str = "auto",
    threads: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    reader_draws: int = 3,
) -> CalibrationFit:
    """Classify ``scans``, then choose and fit a series calibration on them.

    Args:
        scans: held-out labelled scans (never the model's training or test scans).
        model: checkpoint path or :class:`ctphase.inference.Classifier`.
        method: ``"auto"`` (temperature scaling unless vector scaling is clearly better and its
            changes of the top class away from the vote are right more often than not),
            ``"temperature"`` or ``"vector"``.
        sample_rate, min_slices, seed: the slice draw of prediction (R, minimum, run seed).
        folds: cross-validation folds (by patient) of the method choice.
        data: what the scans are (recorded in ``fitted_on["data"]``).
        reader_draws: draws of each scan the series reader is fitted on (0: fit no reader).
    Returns:
        :class:`CalibrationFit`.
    """
    if not scans:
        raise ConfigError("no scans to fit a calibration on")
    if method not in ("auto", "temperature", "vector"):
        raise ConfigError(f"calibration method {method!r} must be auto, temperature or vector")
    done = classify_scans(scans, model, batch_size=batch_size, device=device, engine=engine, threads=threads,
                          on_progress=on_progress)
    y = np.array([int(s.label) for s in scans], dtype=np.int64)
    if len(set(y.tolist())) < 2:
        raise ConfigError("the calibration scans must cover at least 2 phases")
    z, voted = series_scores(done.slice_probs, [s.scan_id for s in scans], sample_rate=sample_rate,
                             min_slices=min_slices, seed=seed)
    groups = [s.group for s in scans]
    cal, selection = select_calibration(z, y, groups, method=method, folds=folds, seed=seed, voted=voted)
    before = calibration_scores(IDENTITY.apply(z), y, voted, DEFAULT_N_BINS)
    after = calibration_scores(cal.apply(z), y, voted, DEFAULT_N_BINS)
    existing = None if done.calibration.is_identity else calibration_scores(done.calibration.apply(z), y, voted)
    fitted_on = _provenance(scans, data, selection, before, after, sample_rate, min_slices, seed)
    fitted_on["model_sha256"] = done.model_sha256
    fitted: dict[str, Any] = {}
    if reader_draws and done.outputs is not None and done.heads is not None and done.heads.organs:
        reader = fit_series_reader(done.outputs, scans, done.heads, selection["cv_nll"][cal.method], draws=reader_draws,
                                   sample_rate=sample_rate, min_slices=min_slices, seed=seed, folds=folds)
        fitted_on["reader"] = reader.fitted_on
        fitted["reader"] = reader if reader.fitted_on["kept"] else None
    if done.outputs is not None and sum(s.seconds is not None for s in scans) >= 10:  # per phase as the reader decides
        seconds, fitted_on["seconds"] = _fit_seconds(done.outputs, scans, replace(cal, reader=fitted.get("reader")),
                                                     sample_rate, min_slices, seed)
        fitted |= seconds
    cal = replace(cal, **fitted, fitted_on=fitted_on)
    return CalibrationFit(cal, before, after, existing, done.model_sha256)


def fit_series_reader(outputs: Sequence[SliceOutputs], scans: Sequence[LabelledScan], heads: Heads,
                      calibration_cv_nll: float, *,
                      draws: int = 3, sample_rate: float = DEFAULT_SAMPLE_RATE, min_slices: int = DEFAULT_MIN_SLICES,
                      seed: int = 0, folds: int = 5) -> SeriesReader:
    """Fit a series reader on ``draws`` draws of each scan (draw j as ``ctphase evaluate``'s repeat j) and
    record in its ``fitted_on`` whether it beats the vote and the calibration, cross-validated by patient
    (``"kept"``: its NLL below ``calibration_cv_nll`` and its macro F1 not below the vote's)."""
    from ..models.reader import fit_reader, series_features
    from .metrics import macro_f1

    ids, y1 = [s.scan_id for s in scans], np.array([int(s.label) for s in scans], dtype=np.int64)
    probs = [o.probs for o in outputs]
    x, voted = [], []
    for j in range(draws):
        votes = vote_scans(probs, sample_rate, seed=seed, min_slices=min_slices, scan_ids=ids, repeat=j)
        x += [series_features(o.take(idx)) for o, idx in zip(outputs, votes.sampled)]
        voted.append(votes.labels)
    y, groups = np.tile(y1, draws), [s.group for s in scans] * draws
    reader, info = fit_reader(np.array(x), y, groups, heads.subphases, heads.organs, folds=folds)
    k = len(PHASE_NAMES)
    f1_reader = float(np.mean([macro_f1(y1, p, k) for p in info["cv_probs"].argmax(1).reshape(draws, -1)]))
    f1_vote = float(np.mean([macro_f1(y1, v, k) for v in voted]))
    cv_nll = min(info["cv_nll"].values())
    record = {"draws": draws, "rows": len(y), "features": len(reader.mean), "C": reader.C, "cv_nll_by_C": info["cv_nll"],
              "cv_nll": cv_nll, "calibration_cv_nll": round(calibration_cv_nll, 6),
              "cv_macro_f1": round(f1_reader, 6), "vote_macro_f1": round(f1_vote, 6),
              "kept": bool(cv_nll < calibration_cv_nll and f1_reader >= f1_vote),
              "criterion": f"{folds}-fold cross-validated by patient: NLL below the calibration's and macro F1 not below the vote's"}
    return replace(reader, fitted_on=record)


def _fit_seconds(outputs: Sequence[Any], scans: Sequence[LabelledScan], cal: Calibration, sample_rate: float,
                 min_slices: int, seed: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The seconds interval factors (overall and per decided phase: ``cal``'s reader's label, else the vote) and
    their record: coverage before (factor 1) and after, overall and per decided phase, in-sample."""
    from .heads import fit_seconds_scale, fit_seconds_scales_by_phase, heads_metrics

    kw = {"sample_rate": sample_rate, "min_slices": min_slices, "seed": seed}
    scale = fit_seconds_scale(outputs, scans, **kw)
    by_phase = fit_seconds_scales_by_phase(outputs, scans, reader=cal.reader, **kw)
    fitted = replace(cal, seconds_scale=scale, seconds_scale_by_phase=by_phase)
    before, after = (heads_metrics(outputs, scans, scale=s, **kw)["seconds"] for s in (1.0, fitted))  # type: ignore[index]
    record = {"scale": round(scale, 6), "scale_by_phase": {k: round(v, 6) for k, v in by_phase.items()},
              "series": before["series"], "in_sample": True,
              "coverage_before": round(before["coverage"], 6), "coverage_after": round(after["coverage"], 6),
              "coverage_by_decided_phase": {k: round(v["coverage"], 6) for k, v in after["by_decided_phase"].items()},
              "median_abs_error_s": round(after["median_abs_error_s"], 3)}
    return {"seconds_scale": scale, "seconds_scale_by_phase": by_phase}, record


def _provenance(scans: Sequence[LabelledScan], data: Mapping[str, Any] | None, selection: dict[str, Any],
                before: CalibrationScores, after: CalibrationScores, sample_rate: float, min_slices: int,
                seed: int) -> dict[str, Any]:
    """The ``fitted_on`` record: data, slice draw, method selection, in-sample metrics, when and by what."""
    counts = Counter(PHASE_NAMES[int(s.label)] for s in scans)
    return {
        "data": dict(data or {}),
        "scans": len(scans),
        "patients": len({s.group for s in scans}),
        "scans_per_class": {n: counts[n] for n in PHASE_NAMES if counts[n]},
        "sample_rate": sample_rate,
        "min_slices": min_slices,
        "seed": seed,
        "selection": selection,
        "metrics": {
            "n_bins": DEFAULT_N_BINS,
            "in_sample": True,
            "accuracy": round(after.accuracy, 6),
            "nll_before": round(before.nll, 6),
            "nll_after": round(after.nll, 6),
            "ece_before": round(before.ece, 6),
            "ece_after": round(after.ece, 6),
        },
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "ctphase_version": __version__,
    }


def reserved_patients(meta: Mapping[str, Any]) -> dict[str, range]:
    """Synthetic patient ranges a calibration must not use: the checkpoint's training and validation
    ranges (from ``meta["data"]``, when recorded) and the default synthetic test range of ``ctphase evaluate``."""
    from .run import DEFAULT_SYNTH_PATIENT_OFFSET

    out = {"test (ctphase evaluate default)": range(DEFAULT_SYNTH_PATIENT_OFFSET, DEFAULT_SYNTH_PATIENT_OFFSET + 50)}
    data = meta.get("data") if isinstance(meta.get("data"), Mapping) else {}
    for key, name in (("train_patients", "training"), ("val_patients", "validation")):
        value = data.get(key)
        if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, int) for v in value):
            out[name] = range(value[0], value[1])
    return out


def overlapping(patients: range, reserved: Mapping[str, range]) -> list[str]:
    """``"training 0..4999"``-style names of the reserved ranges that ``patients`` overlaps."""
    return [f"{name} {r.start}..{r.stop - 1}" for name, r in reserved.items()
            if len(r) and len(patients) and patients.start < r.stop and r.start < patients.stop]
