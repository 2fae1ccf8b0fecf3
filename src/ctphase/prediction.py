"""The result of classifying one series (:class:`ScanPrediction`), run summaries and exit codes.

One :class:`ScanPrediction` per input series, classified or not (``status`` says which and
``error`` says why), so that one broken file never hides the others. It never holds a patient
name or ID. Imports nothing heavy, so reading or writing a run record is instant.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .phases import PHASE_NAMES

STATUS_OK = "ok"
STATUS_SKIPPED = "skipped"
STATUS_ERROR = "error"
STATUSES: tuple[str, ...] = (STATUS_OK, STATUS_SKIPPED, STATUS_ERROR)
UNCERTAIN = "uncertain"
"""The final label of a classified series whose answer cannot be trusted (see :mod:`ctphase.qc`)."""
LABELS: tuple[str, ...] = (*PHASE_NAMES, UNCERTAIN)


@dataclass
class ScanPrediction:
    """The result for one series.

    Attributes:
        series_id: ``study_uid/series_uid[/acqN][/recN]`` for DICOM, ``nifti:<content hash>`` for
            NIfTI (never the path as typed); other inputs that are not series: their path.
        path: where the series was read from, as given (a separate field from the identity).
        source: ``"dicom"``, ``"nifti"``, ``"file"`` (an input that is not a series),
            ``"dicomweb"`` (a DICOMweb server or query that failed as a whole), or ``"unused"`` (a folder's tally of files that are not read: ``n_files`` of them,
            named in ``error``).
        status: ``"ok"`` (classified), ``"skipped"`` (not a classifiable CT series) or ``"error"``.
        label: the final answer: a phase name, or ``"uncertain"`` when a quality flag makes
            the images untrustworthy or the confidence is below ``--min-confidence``
            (``None`` unless status is ok).
        image_label: the phase of this series alone: the checkpoint's series reader's answer when it
            stores one (:mod:`ctphase.models.reader`), else the phase its slices voted for.
        study_label: the phase after the joint assignment of the study's acquisitions over
            time (``None`` when the study step did not apply: see ``evidence``).
        header_label: the phase the DICOM header text and timing suggest (a second opinion,
            never the answer unless ``--use-headers``); ``None`` when the headers say nothing.
        probabilities: calibrated series-level probability of each phase (the series reader's, or
            the checkpoint's calibration applied to the mean slice log-probabilities; after the
            study step, the posterior of the joint assignment).
        confidence: ``probabilities`` of the final label (of ``image_label`` when uncertain).
        acquisition_id: the acquisition this series belongs to (reconstructions of one
            acquisition share it and their evidence is pooled); ``acquisition_order`` its
            place in the study's time order (0 first), when known.
        evidence: short reasons behind the study and header steps, in words (and, when a series reader
            labels the series against its slices' majority vote, that it did).
        findings: what a curator should look at (a header that contradicts the images, ...).
        qc: quality flag names (:data:`ctphase.qc.QC_FLAGS`); their reasons are in ``warnings``.
        vote_fractions, mean_probabilities: per phase name (slice votes and mean slice
            probabilities, uncalibrated).
        sampled_indices: slice indices (0 = lowest position along the slice normal) drawn for
            classification (sorted): R% of the slices, at least ``min_slices``.
        used_indices: the drawn slices actually classified, in the order classified: with early
            stopping a seeded random order, cut where the vote became decided; without it (and
            always with a series reader) all of ``sampled_indices``. Votes and probabilities come from these slices.
        slice_labels: the phase each used slice voted for, aligned with ``used_indices`` (empty
            for a volume model, which gives one answer for the whole stack).
        subphase: the fine subphase of the final label (e.g. ``late_arterial``,
            ``nephrographic``, ``equilibrium``): the most probable one of that phase in
            ``subphase_probabilities``; ``None`` when uncertain or when the model has no
            subphase head (:mod:`ctphase.timing`).
        subphase_probabilities: mean slice probability of each fine subphase (empty without a head).
        seconds_after_injection: the time after the start of injection the images show:
            ``{"estimate", "low", "high", "interval"}`` (seconds; low-high an 80% interval);
            ``None`` for a non-contrast or uncertain answer or a model without a seconds head.
        timings: seconds spent reading pixels, preprocessing and running the model.
    """

    series_id: str
    path: str
    source: str
    status: str
    study_uid: str | None = None
    series_uid: str | None = None
    acquisition: int | None = None
    reconstruction: str | None = None
    n_slices: int | None = None
    sampled_indices: list[int] = field(default_factory=list)
    used_indices: list[int] = field(default_factory=list)
    slice_labels: list[str] = field(default_factory=list)
    label: str | None = None
    image_label: str | None = None
    study_label: str | None = None
    header_label: str | None = None
    qc: list[str] = field(default_factory=list)
    probabilities: dict[str, float] = field(default_factory=dict)
    vote_fractions: dict[str, float] = field(default_factory=dict)
    mean_probabilities: dict[str, float] = field(default_factory=dict)
    confidence: float | None = None
    acquisition_id: str | None = None
    acquisition_order: int | None = None
    evidence: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    tie: bool = False
    subphase: str | None = None
    subphase_probabilities: dict[str, float] = field(default_factory=dict)
    seconds_after_injection: dict[str, float] | None = None
    timings: dict[str, float] = field(default_factory=dict)
    model_sha256: str | None = None
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    n_files: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict."""
        return asdict(self)


def summarize(predictions: Sequence[ScanPrediction]) -> dict[str, int]:
    """Counts of ok / skipped / error records and of each final label (phases and ``uncertain``)."""
    out = dict.fromkeys(STATUSES, 0)
    out.update(dict.fromkeys(LABELS, 0))
    for p in predictions:
        out[p.status] += 1
        if p.label:
            out[p.label] += 1
    return out


def exit_code(predictions: Sequence[ScanPrediction]) -> int:
    """Exit code of ``ctphase predict``: 0 all classified, 1 some series or files failed, 2 nothing classifiable found.

    A classified series with files that could not be read (flag ``unreadable_files``) counts as a failure.
    """
    counts = summarize(predictions)
    if counts[STATUS_OK] == 0 and counts[STATUS_ERROR] == 0:
        return 2
    failed_files = any("unreadable_files" in p.qc for p in predictions)
    return 1 if counts[STATUS_ERROR] or failed_files else 0
