"""Write evaluation results as metrics.json (machine-readable), report.md (human) and PNG figures."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, is_dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..atomic import write_atomic
from . import plots
from .results import CalibrationResults, CalibrationScores, EvaluationResults, Interval, LevelResults, Sweep, Timing

METRICS_JSON = "metrics.json"
REPORT_MD = "report.md"
PLOT_FILES = {
    "confusion_slice": "confusion_slice.png",
    "confusion_scan": "confusion_scan.png",
    "roc_slice": "roc_slice.png",
    "roc_scan": "roc_scan.png",
    "sweep": "sweep.png",
    "reliability_scan": "reliability_scan.png",
}


def to_jsonable(obj: Any) -> Any:
    """Plain-Python copy of ``obj``: dataclasses as dicts, numpy scalars/arrays converted, NaN and infinities as None."""
    if is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(asdict(obj))
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer, int)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def _num(v: Any, digits: int = 3) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def _cell(estimate: float | None, interval: Interval | None) -> str:
    """The estimate with its interval when there is one (``n/a`` without an estimate)."""
    if estimate is None:
        return "n/a"
    if interval is None:
        return _num(estimate)
    return Interval(estimate, interval.low, interval.high, interval.n_valid).format()


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


def _levels(results: EvaluationResults) -> list[tuple[str, LevelResults]]:
    return [("slice", results.slice_level), ("scan", results.scan_level)]


def _main_table(results: EvaluationResults, names: list[str]) -> list[str]:
    header = ["Phase"]
    for short, _ in _levels(results):
        header += [f"{short} precision", f"{short} recall", f"{short} F1", f"{short} support"]
    rows = []
    for name in names:
        row = [name]
        for _, level in _levels(results):
            pc, ci = level.metrics.per_class[name], level.ci.per_class[name] if level.ci else None
            row += [_cell(pc.precision, ci and ci.precision), _cell(pc.recall, ci and ci.recall), _cell(pc.f1, ci and ci.f1)]
            row.append(str(pc.support))
        rows.append(row)
    row = ["**macro avg**"]
    for _, level in _levels(results):
        m, ci = level.metrics.macro, level.ci.macro if level.ci else None
        row += [_cell(m.precision, ci and ci.precision), _cell(m.recall, ci and ci.recall), _cell(m.f1, ci and ci.f1)]
        row.append(str(level.metrics.n))
    rows.append(row)
    row = ["**accuracy**"]
    for _, level in _levels(results):
        row += ["", "", _cell(level.metrics.accuracy, level.ci.accuracy if level.ci else None), str(level.metrics.n)]
    rows.append(row)
    return _md_table(header, rows)


def _auc_table(results: EvaluationResults, names: list[str]) -> list[str]:
    header = ["Phase"] + [f"{short} ROC AUC" for short, _ in _levels(results)]
    rows = []
    notes = []
    for name in [*names, "macro"]:
        row = [f"**{name}**" if name == "macro" else name]
        for short, level in _levels(results):
            auc = level.metrics.roc_auc
            ci = level.ci.roc_auc if level.ci else None
            if name == "macro":
                row.append(_cell(auc.macro, ci.macro if ci else None))
            else:
                row.append(_cell(auc.per_class[name], ci.per_class[name] if ci else None))
            reason = auc.reasons.get(name)
            if reason:
                notes.append(f"- {short} level, {name}: {reason}")
        rows.append(row)
    lines = _md_table(header, rows)
    if notes:
        lines += ["", *notes]
    return lines


def _confusion_table(cm: list[list[Any]], names: list[str], fmt: str) -> list[str]:
    header = ["true \\ predicted", *names]
    rows = [[names[i], *(format(v, fmt) for v in row)] for i, row in enumerate(cm)]
    return _md_table(header, rows)


def _write_plots(results: EvaluationResults, out: Path, names: list[str]) -> dict[str, str]:
    written: dict[str, str] = {}
    for lv, level in _levels(results):
        m = level.metrics
        f = PLOT_FILES[f"confusion_{lv}"]
        plots.plot_confusion_matrix(m.confusion_matrix, out / f, names, f"{lv.capitalize()}-level confusion matrix")
        written[f"confusion_{lv}"] = f
        if m.roc_curves:
            f = PLOT_FILES[f"roc_{lv}"]
            plots.plot_roc_curves(m.roc_curves, out / f, m.roc_auc.per_class, f"{lv.capitalize()}-level one-vs-rest ROC")
            written[f"roc_{lv}"] = f
    if results.sweep:
        plots.plot_sweep(results.sweep, out / PLOT_FILES["sweep"])
        written["sweep"] = PLOT_FILES["sweep"]
    if results.calibration:
        cal = results.calibration
        plots.plot_reliability(cal.scan_uncalibrated, cal.scan_calibrated, out / PLOT_FILES["reliability_scan"])
        written["reliability_scan"] = PLOT_FILES["reliability_scan"]
    return written


def _header(results: EvaluationResults) -> list[str]:
    counts, proto = results.counts, results.protocol
    title = "ctphase evaluation" + (f": {results.dataset}" if results.dataset else "")
    draw = (f"a random {100 * proto.sample_rate:g}% of slices (at least {proto.min_slices}; {proto.draw} draw), seed {proto.seed}"
            if proto.all_slices else "the slices sampled by the prediction run")
    lines = [
        f"# {title}",
        "",
        f"- ctphase {results.ctphase_version}; model sha256: `{results.model_sha256 or 'not given'}`",
        f"- {counts.scans} scans, {counts.patients} patients"
        f"{'' if counts.patient_ids_given else ' (no patient ids: each scan its own cluster)'}, {counts.slices} slices",
        f"- scan label: {proto.vote} over {draw}",
        "- 95% CI" if proto.confidence == 0.95 else f"- {100 * proto.confidence:g}% CI",
    ]
    lines[-1] += f": {proto.bootstrap}, {proto.n_resamples} resamples" if proto.n_resamples else ": not computed"
    if results.draws is not None:
        lines.append(f"- scan macro F1 over {len(results.draws.values)} seeded draws of the slices: {results.draws.format()}; "
                     "the tables below are draw 0's (the intervals hold the draw fixed)")
    if counts.scans_per_class:
        lines.append("- scans per class: " + ", ".join(f"{k} {v}" for k, v in counts.scans_per_class.items()))
    return lines


def _sweep_section(sweep: Sweep | None, skipped: str | None, plot_links: Mapping[str, str]) -> list[str]:
    lines = ["", "## Random-sampling sweep (scan-level macro F1)", ""]
    if not sweep:
        return [*lines, f"Not run: {skipped or 'no sweep in the results'}."]
    lines += [f"{sweep.repeats} independent draws per R, seed {sweep.seed}, at least {sweep.min_slices} slice per scan.", ""]
    rows = [
        [f"{100 * e.rate:g}%", f"{e.mean_slices:.1f}", _num(e.mean), _num(e.std), _num(e.min), _num(e.max),
         _cell(e.values[0], e.ci), _num(e.accuracy.mean)]
        for e in sweep.per_rate
    ]
    lines += _md_table(["R", "slices/scan", "mean F1", "std", "min", "max", "draw 1 F1 [95% CI]", "mean accuracy"], rows)
    if "sweep" in plot_links:
        lines += ["", f"![sweep]({plot_links['sweep']})"]
    return lines


def _calibration_row(name: str, sc: CalibrationScores) -> list[str]:
    return [name, str(sc.n), _num(sc.ece), _num(sc.ece_floor), _num(sc.nll), _num(sc.brier), _num(sc.mean_confidence),
            _num(sc.accuracy), str(sc.label_not_top)]


def _calibration_section(cal: CalibrationResults | None, plot_links: Mapping[str, str]) -> list[str]:
    lines = ["", "## Calibration and abstention", ""]
    if cal is None:
        return [*lines, "Not computed (needs the four canonical classes)."]
    lines += [f"Calibration stored in the checkpoint: {cal.method}.", "",
              f"Scan confidence: {cal.scan_confidence}. ECE over {cal.n_bins} equal-width bins; slice level: "
              "maximum slice probability (no calibration applies to single slices).", ""]
    rows = [_calibration_row("scan, uncalibrated (T = 1)", cal.scan_uncalibrated)]
    if cal.scan_calibrated is not None:
        rows.append(_calibration_row("**scan, calibrated**", cal.scan_calibrated))
    rows.append(_calibration_row("slice, uncalibrated", cal.slice_uncalibrated))
    lines += _md_table(["probabilities", "n", "ECE", "ECE if calibrated", "NLL", "Brier", "mean confidence", "accuracy",
                        "label not most probable"], rows)
    lines += ["", "ECE if calibrated: the median ECE of outcomes drawn as if the confidences were exact (sampling "
              "noise of the ECE at this n); an ECE near it is consistent with perfect calibration."]
    rc = cal.risk_coverage
    lines += ["", f"Risk-coverage (the least confident scans abstain; ranked by {rc.ranking}):", ""]
    lines += _md_table(["coverage", "scans kept", "accuracy", "risk", "confidence threshold"],
                       [[f"{100 * p.target_coverage:g}%", str(p.n_kept), _num(p.accuracy), _num(p.risk),
                         _num(p.threshold, 4)] for p in rc.points])
    lines += ["", f"Area under the risk-coverage curve (AURC): {_num(rc.aurc, 4)}."]
    if "reliability_scan" in plot_links:
        lines += ["", f"![reliability_scan]({plot_links['reliability_scan']})"]
    return lines


def _timing_section(timing: Timing | None) -> list[str]:
    lines = ["", "## Time per scan (seconds)", ""]
    if not timing:
        return [*lines, "Not measured."]
    rows = []
    for stage, st in [*timing.stages.items(), ("**total**", timing.total)]:
        rows.append([stage, *(_num(v, 4) for v in (st.mean, st.median, st.std, st.p95, st.max)), _num(st.total, 2)])
    lines += _md_table(["stage", "mean", "median", "std", "p95", "max", "sum over scans"], rows)
    return [*lines, "", f"Measured over {timing.n_scans} scans in this run."]


def _heads_section(heads: Mapping[str, Any] | None) -> list[str]:
    if not heads:
        return []
    lines = ["", "## Subphase and time after injection (series level)", "",
             f"Over {heads['series']} series with a known subphase: the most probable of the eight subphases is right for "
             f"{_num(heads['subphase_accuracy'])}; the most probable subphase of the true phase for "
             f"{_num(heads['subphase_given_phase_accuracy'])}.", ""]
    rows = [[t, ", ".join(f"{p} {n}" for p, n in row.items())] for t, row in heads["subphase_confusion"].items()]
    lines += _md_table(["true subphase", "predicted (series)"], rows)
    sec = heads.get("seconds")
    if sec:
        lines += ["", f"Seconds after injection, {sec['series']} contrast-enhanced series: median absolute error "
                  f"{_num(sec['median_abs_error_s'], 1)} s (mean {_num(sec['mean_abs_error_s'], 1)} s); the "
                  f"{sec['interval']:.0%} interval holds the true time for {_num(sec['coverage'])} of them "
                  f"(median width {_num(sec['median_interval_width_s'], 0)} s, interval scale {_num(sec['scale'])}).", ""]
        rows = [[ph, str(v["series"]), _num(v["median_abs_error_s"], 1), _num(v["coverage"])] for ph, v in sec.get("by_phase", {}).items()]
        lines += _md_table(["true phase", "series", "median absolute error (s)", "80% interval coverage"], rows)
        rows = [[ph, str(v["series"]), _num(v["coverage"]), _num(v["median_interval_width_s"], 0), _num(v["scale"])]
                for ph, v in sec.get("by_decided_phase", {}).items()]
        if rows:
            lines += ["", "By the series' decided phase (series reader, else vote: the factor a prediction uses):", ""]
            lines += _md_table(["decided phase", "series", "80% interval coverage", "median width (s)", "interval scale"], rows)
    return lines


def render_markdown(results: EvaluationResults) -> str:
    """The report.md text of ``results`` (figure links from ``results.plots``)."""
    names = list(results.class_names)
    lines = _header(results)
    lines += ["", "## Precision, recall and F1 (slice level | scan level)", ""]
    lines += ["Each cell: estimate [95% CI]. Accuracy is given in the F1 column.", ""]
    lines += _main_table(results, names)
    lines += ["", "## One-vs-rest ROC AUC", ""]
    lines += _auc_table(results, names)
    for lv, level in _levels(results):
        m = level.metrics
        lines += ["", f"## Confusion matrix, {lv} level (rows true, columns predicted)", "", "Counts:", ""]
        lines += _confusion_table(m.confusion_matrix, names, "d")
        lines += ["", "Row-normalised (recall):", ""]
        lines += _confusion_table(m.confusion_matrix_normalized, names, ".3f")
        for key in (f"confusion_{lv}", f"roc_{lv}"):
            if key in results.plots:
                lines += ["", f"![{key}]({results.plots[key]})"]
    lines += _calibration_section(results.calibration, results.plots)
    lines += _heads_section(results.heads)
    lines += _sweep_section(results.sweep, results.sweep_skipped, results.plots)
    lines += _timing_section(results.timing)
    lines += ["", f"Every number is in [{METRICS_JSON}]({METRICS_JSON}).", ""]
    return "\n".join(lines)


def write_report(results: EvaluationResults, out_dir: str | Path, *, figures: bool = True) -> tuple[Path, Path]:
    """Write metrics.json, report.md and (``figures=True``) the PNG figures into ``out_dir``.

    Args:
        results: from :func:`ctphase.evaluation.evaluate_predictions`.
        out_dir: folder, created if missing; existing files of the same names are replaced.
    Returns:
        ``(metrics.json path, report.md path)``.
    """
    if not isinstance(results, EvaluationResults):
        msg = f"results must be the EvaluationResults of evaluate_predictions, got {type(results).__name__}"
        raise ConfigError(msg)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        msg = f"output folder {out} exists and is not a folder; choose another --out"
        raise ConfigError(msg)
    json_path = out / METRICS_JSON
    md_path = out / REPORT_MD
    try:
        out.mkdir(parents=True, exist_ok=True)
        plot_links = _write_plots(results, out, list(results.class_names)) if figures else dict(results.plots)
        res = replace(results, plots=plot_links)
        write_atomic(json_path, json.dumps(res.to_dict(), indent=2, allow_nan=False) + "\n")
        write_atomic(md_path, render_markdown(res))
    except OSError as exc:
        msg = f"cannot write the report into {out}: {exc.strerror or exc}; choose another --out"
        raise ConfigError(msg) from None
    return json_path, md_path
