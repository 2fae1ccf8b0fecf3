"""Write evaluation results as metrics.json (machine-readable), report.md (human) and PNG figures."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..atomic import write_atomic
from . import plots

METRICS_JSON = "metrics.json"
REPORT_MD = "report.md"
PLOT_FILES = {
    "confusion_slice": "confusion_slice.png",
    "confusion_scan": "confusion_scan.png",
    "roc_slice": "roc_slice.png",
    "roc_scan": "roc_scan.png",
    "sweep": "sweep.png",
}


def to_jsonable(obj: Any) -> Any:
    """Plain-Python copy of ``obj``: numpy scalars/arrays converted, NaN and infinities as None."""
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


def _cell(estimate: float | None, interval: Mapping[str, Any] | None) -> str:
    if estimate is None:
        return "n/a"
    if not interval or interval.get("low") is None:
        return _num(estimate)
    return f"{estimate:.3f} [{interval['low']:.3f}, {interval['high']:.3f}]"


def _get(d: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(d, Mapping) or k not in d:
            return None
        d = d[k]
    return d


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


def _main_table(results: Mapping[str, Any], names: list[str]) -> list[str]:
    levels = [lv for lv in ("slice_level", "scan_level") if results.get(lv)]
    header = ["Phase"]
    for lv in levels:
        short = lv.split("_")[0]
        header += [f"{short} precision", f"{short} recall", f"{short} F1", f"{short} support"]
    rows = []
    for name in names:
        row = [name]
        for lv in levels:
            m, ci = results[lv]["metrics"], results[lv].get("ci")
            pc = m["per_class"][name]
            row += [_cell(pc[k], _get(ci, "per_class", name, k)) for k in ("precision", "recall", "f1")]
            row.append(str(pc["support"]))
        rows.append(row)
    row = ["**macro avg**"]
    for lv in levels:
        m, ci = results[lv]["metrics"], results[lv].get("ci")
        row += [_cell(m["macro"][k], _get(ci, "macro", k)) for k in ("precision", "recall", "f1")]
        row.append(str(m["n"]))
    rows.append(row)
    row = ["**accuracy**"]
    for lv in levels:
        m, ci = results[lv]["metrics"], results[lv].get("ci")
        row += ["", "", _cell(m["accuracy"], _get(ci, "accuracy")), str(m["n"])]
    rows.append(row)
    return _md_table(header, rows)


def _auc_table(results: Mapping[str, Any], names: list[str]) -> list[str]:
    levels = [lv for lv in ("slice_level", "scan_level") if results.get(lv)]
    header = ["Phase"] + [f"{lv.split('_')[0]} ROC AUC" for lv in levels]
    rows = []
    notes = []
    for name in [*names, "macro"]:
        row = [f"**{name}**" if name == "macro" else name]
        for lv in levels:
            auc = results[lv]["metrics"]["roc_auc"]
            ci = _get(results[lv].get("ci"), "roc_auc")
            if name == "macro":
                row.append(_cell(auc["macro"], _get(ci, "macro")))
            else:
                row.append(_cell(auc["per_class"][name], _get(ci, "per_class", name)))
            reason = auc["reasons"].get(name)
            if reason:
                notes.append(f"- {lv.replace('_', ' ')}, {name}: {reason}")
        rows.append(row)
    lines = _md_table(header, rows)
    if notes:
        lines += ["", *notes]
    return lines


def _confusion_table(cm: list[list[Any]], names: list[str], fmt: str) -> list[str]:
    header = ["true \\ predicted", *names]
    rows = [[names[i], *(format(v, fmt) for v in row)] for i, row in enumerate(cm)]
    return _md_table(header, rows)


def _write_plots(results: Mapping[str, Any], out: Path, names: list[str]) -> dict[str, str]:
    written: dict[str, str] = {}
    for lv in ("slice", "scan"):
        level = results.get(f"{lv}_level")
        if not level:
            continue
        m = level["metrics"]
        f = PLOT_FILES[f"confusion_{lv}"]
        plots.plot_confusion_matrix(m["confusion_matrix"], out / f, names, f"{lv.capitalize()}-level confusion matrix")
        written[f"confusion_{lv}"] = f
        if m.get("roc_curves"):
            f = PLOT_FILES[f"roc_{lv}"]
            plots.plot_roc_curves(m["roc_curves"], out / f, m["roc_auc"]["per_class"], f"{lv.capitalize()}-level one-vs-rest ROC")
            written[f"roc_{lv}"] = f
    if results.get("sweep"):
        plots.plot_sweep(results["sweep"], out / PLOT_FILES["sweep"])
        written["sweep"] = PLOT_FILES["sweep"]
    return written


def render_markdown(results: Mapping[str, Any]) -> str:
    """The report.md text for a results dict (figure links from ``results["plots"]``)."""
    names = list(results.get("class_names") or [])
    counts = results.get("counts", {})
    proto = results.get("protocol", {})
    title = "ctphase evaluation" + (f": {results['dataset']}" if results.get("dataset") else "")
    lines = [f"# {title}", ""]
    lines += [
        f"- ctphase {results.get('ctphase_version', '?')}; model sha256: `{results.get('model_sha256') or 'not given'}`",
        f"- {counts.get('scans', '?')} scans, {counts.get('patients', '?')} patients"
        f"{'' if counts.get('patient_ids_given', True) else ' (no patient ids: each scan its own cluster)'}, "
        f"{counts.get('slices', '?')} slices",
        f"- scan label: {proto.get('vote', 'majority vote')} over "
        + (f"a random {100 * proto['sample_rate']:g}% of slices (at least {proto.get('min_slices')}), seed {proto.get('seed')}"
           if proto.get("all_slices", True) else "the slices sampled by the prediction run"),
        "- 95% CI" if proto.get("confidence") in (None, 0.95) else f"- {100 * proto['confidence']:g}% CI",
    ]
    if proto.get("n_resamples"):
        lines[-1] += f": {proto.get('bootstrap', 'bootstrap')}, {proto['n_resamples']} resamples"
    else:
        lines[-1] += ": not computed"
    if counts.get("scans_per_class"):
        lines.append("- scans per class: " + ", ".join(f"{k} {v}" for k, v in counts["scans_per_class"].items()))
    lines += ["", "## Precision, recall and F1 (slice level | scan level)", ""]
    lines += ["Each cell: estimate [95% CI]. Accuracy is given in the F1 column.", ""]
    lines += _main_table(results, names)
    lines += ["", "## One-vs-rest ROC AUC", ""]
    lines += _auc_table(results, names)
    plot_links = results.get("plots") or {}
    for lv in ("slice", "scan"):
        level = results.get(f"{lv}_level")
        if not level:
            continue
        m = level["metrics"]
        lines += ["", f"## Confusion matrix, {lv} level (rows true, columns predicted)", "", "Counts:", ""]
        lines += _confusion_table(m["confusion_matrix"], names, "d")
        lines += ["", "Row-normalised (recall):", ""]
        lines += _confusion_table(m["confusion_matrix_normalized"], names, ".3f")
        for key in (f"confusion_{lv}", f"roc_{lv}"):
            if key in plot_links:
                lines += ["", f"![{key}]({plot_links[key]})"]
    lines += ["", "## Random-sampling sweep (scan-level macro F1)", ""]
    sweep = results.get("sweep")
    if sweep:
        lines += [f"{sweep['repeats']} independent draws per R, seed {sweep['seed']}, at least {sweep['min_slices']} slice per scan.", ""]
        rows = [
            [
                f"{100 * e['rate']:g}%",
                f"{e['mean_slices']:.1f}",
                _num(e["mean"]),
                _num(e["std"]),
                _num(e["min"]),
                _num(e["max"]),
                _cell(e["values"][0], e.get("ci")),
                _num(e["accuracy"]["mean"]),
            ]
            for e in sweep["per_rate"]
        ]
        lines += _md_table(["R", "slices/scan", "mean F1", "std", "min", "max", "draw 1 F1 [95% CI]", "mean accuracy"], rows)
        if "sweep" in plot_links:
            lines += ["", f"![sweep]({plot_links['sweep']})"]
    else:
        lines.append(f"Not run: {results.get('sweep_skipped') or 'no sweep in the results'}.")
    lines += ["", "## Time per scan (seconds)", ""]
    timing = results.get("timing")
    if timing:
        rows = []
        for stage, st in [*timing["stages"].items(), ("**total**", timing["total"])]:
            rows.append([stage, *(_num(st[k], 4) for k in ("mean", "median", "std", "p95", "max")), _num(st["total"], 2)])
        lines += _md_table(["stage", "mean", "median", "std", "p95", "max", "sum over scans"], rows)
        lines += ["", f"Measured over {timing['n_scans']} scans in this run."]
    else:
        lines.append("Not measured.")
    lines += ["", f"Every number is in [{METRICS_JSON}]({METRICS_JSON}).", ""]
    return "\n".join(lines)


def write_report(results: Mapping[str, Any], out_dir: str | Path, *, figures: bool = True) -> tuple[Path, Path]:
    """Write metrics.json, report.md and (``figures=True``) the PNG figures into ``out_dir``.

    Args:
        results: the dict from :func:`ctphase.evaluation.evaluate_predictions`.
        out_dir: folder, created if missing; existing files of the same names are replaced.
    Returns:
        ``(metrics.json path, report.md path)``.
    """
    if not isinstance(results, Mapping) or "class_names" not in results:
        msg = "results must be the dict returned by evaluate_predictions (it has no 'class_names')"
        raise ConfigError(msg)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        msg = f"output folder {out} exists and is not a folder; choose another --out"
        raise ConfigError(msg)
    res = dict(results)
    json_path = out / METRICS_JSON
    md_path = out / REPORT_MD
    try:
        out.mkdir(parents=True, exist_ok=True)
        res["plots"] = _write_plots(results, out, list(results["class_names"])) if figures else dict(results.get("plots") or {})
        write_atomic(json_path, json.dumps(to_jsonable(res), indent=2, allow_nan=False) + "\n")
        write_atomic(md_path, render_markdown(res))
    except OSError as exc:
        msg = f"cannot write the report into {out}: {exc.strerror or exc}; choose another --out"
        raise ConfigError(msg) from None
    return json_path, md_path
