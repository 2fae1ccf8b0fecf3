"""Evaluation of phase classifiers: metrics, patient-clustered bootstrap CIs, the R sweep, figures, reports.

Numpy / scikit-learn / matplotlib (no torch). Typical use::

    from ctphase.evaluation import evaluate_predictions, write_report
    results = evaluate_predictions(slice_probs, labels, patient_ids, scan_ids=series_ids,
                                   timings=timings, model_sha256=sha, arguments=vars(args))
    print(results.scan_level.metrics.macro.f1, results.scan_level.ci.macro.f1.format())
    json_path, md_path = write_report(results, "eval_out")

Results are typed (:mod:`ctphase.evaluation.results`): :class:`EvaluationResults` holds the
counts, the protocol, slice- and scan-level :class:`LevelResults` (metrics, intervals, each
scan's vote), the sweep, the timings and the calibration (ECE before/after the checkpoint's series
calibration, reliability bins, risk-coverage); ``to_dict()`` is the ``metrics.json`` content.
"""

from __future__ import annotations

from .bootstrap import (
    DEFAULT_CONFIDENCE,
    DEFAULT_N_RESAMPLES,
    bootstrap_ci,
    bootstrap_classification,
    cluster_codes,
    percentile_interval,
    resample_counts,
)
from .calibration import calibration_scores, expected_calibration_error, risk_coverage, scan_calibration
from .evaluate import RESULTS_SCHEMA, evaluate_predictions, summarize_timings
from .metrics import classification_metrics, macro_f1, metrics_from_confusion, to_class_indices
from .plots import plot_confusion_matrix, plot_reliability, plot_roc_curves, plot_sweep
from .report import render_markdown, write_report
from .results import (
    CalibrationResults,
    ClassificationIntervals,
    ClassificationMetrics,
    EvaluationResults,
    Interval,
    LevelResults,
    Sweep,
)
from .scan_level import ScanVotes, vote_scans
from .sweep import DEFAULT_SWEEP_RATES, DEFAULT_SWEEP_REPEATS, sampling_sweep

__all__ = [
    "CalibrationResults",
    "ClassificationIntervals",
    "ClassificationMetrics",
    "EvaluationResults",
    "Interval",
    "LevelResults",
    "Sweep",
    "DEFAULT_CONFIDENCE",
    "DEFAULT_N_RESAMPLES",
    "DEFAULT_SWEEP_RATES",
    "DEFAULT_SWEEP_REPEATS",
    "RESULTS_SCHEMA",
    "ScanVotes",
    "bootstrap_ci",
    "bootstrap_classification",
    "calibration_scores",
    "classification_metrics",
    "cluster_codes",
    "evaluate_predictions",
    "expected_calibration_error",
    "macro_f1",
    "metrics_from_confusion",
    "percentile_interval",
    "plot_confusion_matrix",
    "plot_reliability",
    "plot_roc_curves",
    "plot_sweep",
    "render_markdown",
    "resample_counts",
    "risk_coverage",
    "sampling_sweep",
    "scan_calibration",
    "summarize_timings",
    "to_class_indices",
    "vote_scans",
    "write_report",
]
