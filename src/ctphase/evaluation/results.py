"""Typed evaluation results: every metric, interval, sweep point and timing, read by attribute.

The dataclasses nest as the results of ``ctphase evaluate`` do; :meth:`EvaluationResults.to_dict`
gives the JSON written to ``metrics.json`` (undefined values are ``None``) and
:meth:`EvaluationResults.from_dict` reads it back (files written before a field existed read with
its default, e.g. ``calibration=None``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from typing import Any, TypeVar, get_args, get_origin, get_type_hints

T = TypeVar("T")


def _build(tp: Any, value: Any) -> Any:
    """``value`` (plain JSON) converted to the annotated type ``tp`` (dataclasses, dicts, lists, optionals)."""
    if value is None:
        return None
    origin = get_origin(tp)
    if origin is None and is_dataclass(tp):
        return from_dict(tp, value)
    args = get_args(tp)
    if origin is dict:
        return {k: _build(args[1], v) for k, v in value.items()}
    if origin is list:
        return [_build(args[0], v) for v in value]
    if args and type(None) in args:  # X | None
        inner = [a for a in args if a is not type(None)]
        return _build(inner[0], value) if len(inner) == 1 else value
    return value


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """An instance of the dataclass ``cls`` from its :func:`dataclasses.asdict` form."""
    hints = get_type_hints(cls)
    return cls(**{f.name: _build(hints[f.name], data[f.name]) for f in fields(cls) if f.name in data})  # type: ignore[arg-type]


@dataclass(frozen=True)
class Interval:
    """A point estimate and its percentile bootstrap interval (``low``/``high`` None when no resample was valid)."""

    estimate: float | None
    low: float | None
    high: float | None
    n_valid: int

    def format(self, digits: int = 3) -> str:
        """``"0.912 [0.870, 0.950]"``, the estimate alone without an interval, ``"n/a"`` without an estimate."""
        if self.estimate is None:
            return "n/a"
        if self.low is None or self.high is None:
            return f"{self.estimate:.{digits}f}"
        return f"{self.estimate:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"


@dataclass(frozen=True)
class ClassScores:
    """Precision, recall and F1 of one class, and its number of true samples."""

    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class MacroScores:
    """Macro averages over ``classes`` (those present in the true or predicted labels)."""

    precision: float
    recall: float
    f1: float
    classes: list[str]


@dataclass(frozen=True)
class RocAuc:
    """One-vs-rest ROC AUC per class (None where undefined, with the reason) and their mean."""

    per_class: dict[str, float | None]
    macro: float | None
    reasons: dict[str, str]
    macro_classes: list[str]


@dataclass(frozen=True)
class RocCurve:
    """Vertices of one class's one-vs-rest ROC curve."""

    fpr: list[float]
    tpr: list[float]
    thresholds: list[float | None]


@dataclass(frozen=True)
class ClassificationMetrics:
    """Metrics of one level (slices or scans); confusion matrices have rows true, columns predicted."""

    n: int
    accuracy: float
    macro: MacroScores
    per_class: dict[str, ClassScores]
    confusion_matrix: list[list[int]]
    confusion_matrix_normalized: list[list[float]]
    roc_auc: RocAuc
    roc_curves: dict[str, RocCurve] = field(default_factory=dict)


@dataclass(frozen=True)
class ScoreIntervals:
    """Intervals of precision, recall and F1 (of one class, or of the macro averages)."""

    precision: Interval
    recall: Interval
    f1: Interval


@dataclass(frozen=True)
class AucIntervals:
    """Intervals of the one-vs-rest AUCs (None where the AUC of the full data is undefined)."""

    per_class: dict[str, Interval | None]
    macro: Interval | None


@dataclass(frozen=True)
class ClassificationIntervals:
    """Cluster-bootstrap intervals of every metric of :class:`ClassificationMetrics`."""

    method: str
    n_resamples: int
    confidence: float
    seed: int | None
    n_clusters: int
    accuracy: Interval
    macro: ScoreIntervals
    per_class: dict[str, ScoreIntervals]
    roc_auc: AucIntervals


@dataclass(frozen=True)
class ScanResult:
    """The decision on one scan (``vote_fractions`` and ``mean_probs`` in class order): the vote's, or the
    series reader's when the checkpoint has one (``predicted`` and ``confidence`` are then the reader's)."""

    scan_id: str
    label: str
    predicted: str
    correct: bool
    n_slices: int
    n_voted: int
    vote_fractions: list[float]
    mean_probs: list[float]
    confidence: float
    tie: bool
    voted_indices: list[int]
    cluster: int
    """The scan's patient as an index of this run (0, 1, ... in order of first appearance; not an
    identifier): what a paired comparison of two runs resamples (``ctphase compare``)."""
    slice_predicted: list[int] | None = None
    """The predicted class index of every slice given for the scan, in slice order (its slice-level
    predictions; ``ctphase compare`` pairs two runs' slices with them). None in runs written before
    this field existed."""


@dataclass(frozen=True)
class LevelResults:
    """Metrics of one level, their intervals (None when not computed) and, for scans, each scan's vote."""

    metrics: ClassificationMetrics
    ci: ClassificationIntervals | None
    predictions: list[ScanResult] | None = None


@dataclass(frozen=True)
class Spread:
    """Mean, sample standard deviation, range and values of a metric over repeated draws."""

    mean: float
    std: float
    min: float
    max: float
    values: list[float]

    def format(self, digits: int = 3) -> str:
        """``"mean 0.853, sd 0.010, range 0.835-0.872"``."""
        return f"mean {self.mean:.{digits}f}, sd {self.std:.{digits}f}, range {self.min:.{digits}f}-{self.max:.{digits}f}"


@dataclass(frozen=True)
class SweepPoint:
    """Scan-level macro F1 at one sampling rate over repeated draws (flat: mean/std/... are of F1)."""

    rate: float
    mean: float
    std: float
    min: float
    max: float
    values: list[float]
    accuracy: Spread
    mean_slices: float
    ci: Interval | None


@dataclass(frozen=True)
class Sweep:
    """The random-sampling sweep: one :class:`SweepPoint` per rate R."""

    rates: list[float]
    repeats: int
    seed: int
    min_slices: int
    metric: str
    per_rate: list[SweepPoint]


@dataclass(frozen=True)
class TimingStats:
    """Seconds per scan of one stage (None where no finite value was measured)."""

    mean: float | None
    median: float | None
    std: float | None
    p95: float | None
    min: float | None
    max: float | None
    total: float | None


@dataclass(frozen=True)
class Timing:
    """Per-stage seconds per scan (read, preprocess, model, ...) and their per-scan sum."""

    n_scans: int
    stages: dict[str, TimingStats]
    total: TimingStats


@dataclass(frozen=True)
class Counts:
    """What was evaluated."""

    scans: int
    patients: int
    slices: int
    scans_per_class: dict[str, int]
    patient_ids_given: bool


@dataclass(frozen=True)
class EvaluationProtocol:
    """How scan labels, scores and intervals were computed."""

    all_slices: bool
    sample_rate: float
    min_slices: int
    vote: str
    scan_score: str
    slice_labels: str
    seed: int
    n_resamples: int
    confidence: float
    bootstrap: str
    draw: str = "uniform"  # how the R% were drawn (ctphase.sampling.DRAW); results written before the spread draw lack it


@dataclass(frozen=True)
class ReliabilityBin:
    """One equal-width confidence bin ``(low, high]`` (the first includes 0); means are None when empty."""

    low: float
    high: float
    count: int
    mean_confidence: float | None
    accuracy: float | None


@dataclass(frozen=True)
class CalibrationScores:
    """How well one set of probabilities is calibrated.

    ``ece``: expected calibration error, ``sum_b n_b / n * |accuracy_b - mean_confidence_b|`` over
    equal-width bins of the confidence (the probability of the predicted label); ``nll``: mean
    negative log-likelihood of the true class; ``brier``: mean squared error of the probability
    vector; ``label_not_top``: samples whose predicted label is not their most probable class;
    ``ece_floor``: the median ECE of perfectly calibrated outcomes at the same confidences (the
    sampling noise of the ECE at this ``n``, see :func:`ctphase.evaluation.calibration.ece_noise_floor`).
    """

    n: int
    ece: float
    nll: float
    brier: float
    accuracy: float
    mean_confidence: float
    label_not_top: int
    ece_floor: float
    bins: list[ReliabilityBin]


@dataclass(frozen=True)
class RiskCoveragePoint:
    """Accuracy on the ``n_kept`` most confident samples (``coverage`` of all); ``threshold``: the lowest kept confidence."""

    target_coverage: float
    n_kept: int
    coverage: float
    accuracy: float
    risk: float
    threshold: float


@dataclass(frozen=True)
class RiskCoverage:
    """Selective accuracy when the least confident scans abstain; ``aurc``: area under the risk-coverage curve."""

    ranking: str
    points: list[RiskCoveragePoint]
    aurc: float


@dataclass(frozen=True)
class CalibrationResults:
    """Calibration of the scan probabilities (before/after the checkpoint's calibration) and abstention.

    ``scan_uncalibrated``: ``softmax(z)`` (T = 1), ``z`` the mean log probability over the voted slices;
    ``scan_calibrated``: the checkpoint's calibration applied to ``z`` (None when it stores none);
    ``slice_uncalibrated``: the slice probabilities (max probability, argmax label).
    """

    method: str
    stored: bool
    parameters: dict[str, Any]
    digest: str | None
    n_bins: int
    scan_confidence: str
    scan_uncalibrated: CalibrationScores
    scan_calibrated: CalibrationScores | None
    slice_uncalibrated: CalibrationScores
    risk_coverage: RiskCoverage


@dataclass(frozen=True)
class EvaluationResults:
    """Everything one evaluation measured (the content of ``metrics.json``)."""

    schema: str
    ctphase_version: str
    model_sha256: str | None
    dataset: str | None
    arguments: dict[str, Any]
    class_names: list[str]
    counts: Counts
    protocol: EvaluationProtocol
    slice_level: LevelResults
    scan_level: LevelResults
    sweep: Sweep | None
    sweep_skipped: str | None
    timing: Timing | None
    plots: dict[str, str] = field(default_factory=dict)
    calibration: CalibrationResults | None = None
    heads: dict[str, Any] | None = None
    """Scores of the subphase and seconds heads (:func:`ctphase.evaluation.heads.heads_metrics`), when the model has them."""
    draws: Spread | None = None
    """Scan macro F1 over repeated draws at the evaluation's R (draw 0 is the one the tables report); None when
    the slices were sampled by a prediction run, or no repeated draws were asked for."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready plain Python (NaN and infinities as None)."""
        return _finite(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvaluationResults:
        """Read back a :meth:`to_dict` (e.g. a loaded ``metrics.json``)."""
        return from_dict(cls, data)


def _finite(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
