"""Evaluation of phase classifiers: metrics, patient-clustered bootstrap CIs, the R sweep, figures, reports.

Pure numpy / scikit-learn / matplotlib (no torch). Typical use::

    from ctphase.evaluation import evaluate_predictions, write_report
    results = evaluate_predictions(slice_probs, labels, patient_ids, scan_ids=series_ids,
                                   timings=timings, model_sha256=sha, arguments=vars(args))
    json_path, md_path = write_report(results, "eval_out")

Results dict (``evaluate_predictions``)::

    schema, ctphase_version, model_sha256, dataset, arguments, class_names,
    counts:   {scans, patients, slices, scans_per_class, patient_ids_given}
    protocol: {all_slices, sample_rate, min_slices, vote, scan_score, slice_labels,
               seed, n_resamples, confidence, bootstrap}
    slice_level / scan_level:
        metrics: classification_metrics(...) -> {n, accuracy, macro{precision,recall,f1,classes},
                 per_class{name:{precision,recall,f1,support}}, confusion_matrix,
                 confusion_matrix_normalized, roc_auc{per_class, macro, reasons, macro_classes},
                 roc_curves{name:{fpr,tpr,thresholds}}}
        ci:      bootstrap_classification(...) -> same keys, each an Interval
                 {estimate, low, high, n_valid} (None if not computed)
        predictions (scan level only): [{scan_id, label, predicted, correct, n_slices, n_voted,
                 vote_fractions, mean_probs, confidence, tie, voted_indices}]
    sweep:    sampling_sweep(...) -> {rates, repeats, seed, min_slices, metric,
               per_rate[{rate, mean, std, min, max, values, accuracy{...}, mean_slices, ci}]} | None
    sweep_skipped: reason | None
    timing:   summarize_timings(...) -> {n_scans, stages{stage:{mean,median,std,p95,min,max,total}}, total} | None
    plots:    {name: file name} (filled by write_report)
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
from .evaluate import RESULTS_SCHEMA, evaluate_predictions, summarize_timings
from .metrics import classification_metrics, macro_f1, metrics_from_confusion, to_class_indices
from .plots import plot_confusion_matrix, plot_roc_curves, plot_sweep
from .report import render_markdown, write_report
from .scan_level import ScanVotes, vote_scans
from .sweep import DEFAULT_SWEEP_RATES, DEFAULT_SWEEP_REPEATS, sampling_sweep

__all__ = [
    "DEFAULT_CONFIDENCE",
    "DEFAULT_N_RESAMPLES",
    "DEFAULT_SWEEP_RATES",
    "DEFAULT_SWEEP_REPEATS",
    "RESULTS_SCHEMA",
    "ScanVotes",
    "bootstrap_ci",
    "bootstrap_classification",
    "classification_metrics",
    "cluster_codes",
    "evaluate_predictions",
    "macro_f1",
    "metrics_from_confusion",
    "percentile_interval",
    "plot_confusion_matrix",
    "plot_roc_curves",
    "plot_sweep",
    "render_markdown",
    "resample_counts",
    "sampling_sweep",
    "summarize_timings",
    "to_class_indices",
    "vote_scans",
    "write_report",
]
