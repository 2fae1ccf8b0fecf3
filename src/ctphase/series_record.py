"""The record of one series (:class:`~ctphase.prediction.ScanPrediction`) from what was read and classified.

:func:`scan_prediction` turns a classified series' slice outputs into its record: the series
label from the checkpoint's series reader when it has one (:mod:`ctphase.models.reader`), else
from the majority vote, which is reported either way. :func:`from_skipped` and :func:`failed`
record the inputs that were not classified.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import CTPhaseError
from .io import Series, Skipped
from .models.heads import SliceOutputs
from .phases import PHASE_NAMES
from .prediction import STATUS_ERROR, STATUS_OK, STATUS_SKIPPED, UNCERTAIN, ScanPrediction
from .qc import PixelCheck, is_untrustworthy
from .voting import majority_vote


def reads_series(classifier: Any) -> bool:
    """Whether ``classifier`` decides a series with a series reader (else by the vote)."""
    return getattr(classifier, "series_reader", None) is not None


def scan_prediction(
    series: Series, classifier: Any, outputs: SliceOutputs, indices: np.ndarray, used: np.ndarray,
    timings: dict[str, float], check: PixelCheck, min_slices: int,
) -> ScanPrediction:
    """The record of a classified series from the outputs of its used slices."""
    probs_all = outputs.probs
    vote = majority_vote(probs_all)
    reader = getattr(classifier, "series_reader", None)
    if reader is not None:
        calibrated = reader.read(outputs)
        label = int(np.argmax(calibrated))
    else:
        calibrated, label = classifier.series_probabilities(probs_all), vote.label
    timing = getattr(classifier, "series_timing", None)
    extra = timing(outputs, PHASE_NAMES[label]) if timing is not None else {}
    identity = _identity(series)
    qc, warnings = identity["qc"], identity["warnings"]
    if series.n_slices < min_slices:
        qc.append("few_slices")
        warnings.append(f"only {series.n_slices} slice(s), fewer than min_slices={min_slices}: all classified (low evidence)")
    for name, message in check.flags():
        qc.append(name)
        warnings.append(message)
    names = list(PHASE_NAMES)
    image_label = names[label]
    evidence = []
    if reader is not None and label != vote.label:  # the record says why its label is not the majority of its votes
        evidence.append(f"series reader: {image_label} ({calibrated[label]:.2f}) over the slices' majority vote for "
                        f"{names[vote.label]} ({vote.fractions[vote.label]:.2f} of the votes)")
    return ScanPrediction(
        **identity,
        status=STATUS_OK,
        sampled_indices=[int(i) for i in indices],
        used_indices=[int(i) for i in used],
        slice_labels=_slice_labels(probs_all, used),
        label=UNCERTAIN if is_untrustworthy(qc) else image_label,
        image_label=image_label,
        probabilities={n: round(float(v), 6) for n, v in zip(names, calibrated)},
        vote_fractions={n: round(float(v), 6) for n, v in zip(names, vote.fractions)},
        mean_probabilities={n: round(float(v), 6) for n, v in zip(names, vote.mean_probs)},
        confidence=round(float(calibrated[label]), 6),
        tie=vote.tie and reader is None,
        evidence=evidence,
        **extra,
        timings=dict(timings),
        model_sha256=classifier.sha256,
    )


def _slice_labels(probs: np.ndarray, used: np.ndarray) -> list[str]:
    """Each used slice's vote, in the order of ``used`` (``probs`` rows are in ascending index order)."""
    if len(probs) != len(used):  # a volume model: one answer for the stack
        return []
    return [PHASE_NAMES[int(k)] for k in probs.argmax(axis=1)[np.argsort(np.argsort(used, kind="stable"))]]


def _identity(series: Series) -> dict[str, Any]:
    """The fields of a ScanPrediction that describe the series itself."""
    return {
        "series_id": series.series_id,
        "path": series.path,
        "source": series.source,
        "study_uid": series.study_uid,
        "series_uid": series.series_uid,
        "acquisition": series.acquisition,
        "reconstruction": series.reconstruction,
        "n_slices": series.n_slices,
        "qc": list(series.qc),
        "warnings": list(series.warnings),
    }


def from_skipped(s: Skipped) -> ScanPrediction:
    from .io import is_nifti_path
    from .io.dicomweb import is_dicomweb_url

    source = ("unused" if s.kind == "unused" else "dicom" if s.series_uid else "nifti" if is_nifti_path(s.path)
              else "dicomweb" if is_dicomweb_url(s.path) else "file")
    return ScanPrediction(
        series_id=s.series_id,
        path=s.path,
        source=source,
        status=STATUS_ERROR if s.kind == "error" else STATUS_SKIPPED,
        study_uid=s.study_uid,
        series_uid=s.series_uid,
        error=s.reason,
        n_files=s.n_files,
    )


def failed(series: Series, exc: BaseException, sha: str | None) -> ScanPrediction:
    reason = str(exc) if isinstance(exc, CTPhaseError) else f"unexpected error: {type(exc).__name__}: {exc}"
    return ScanPrediction(**_identity(series), status=STATUS_ERROR, model_sha256=sha, error=reason)
