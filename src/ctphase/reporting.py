"""Writing predictions as a table, JSON or CSV. No patient name or ID is ever written."""

from __future__ import annotations

import csv
import io
import json
import platform
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from . import __version__
from .phases import PHASE_NAMES
from .prediction import ScanPrediction, summarize

CSV_COLUMNS = (
    ["series_id", "status", "label", "confidence", "n_slices", "n_sampled"]
    + [f"vote_{n}" for n in PHASE_NAMES]
    + [f"prob_{n}" for n in PHASE_NAMES]
    + ["read_s", "preprocess_s", "model_s", "source", "path", "study_uid", "series_uid", "acquisition"]
    + ["sampled_indices", "model_sha256", "warnings", "error"]
)


def run_record(predictions: Sequence[ScanPrediction], arguments: dict[str, Any]) -> dict[str, Any]:
    """The machine-readable record of one prediction run: version, arguments, summary, predictions."""
    return {
        "ctphase_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "arguments": arguments,
        "summary": summarize(predictions),
        "predictions": [p.to_dict() for p in predictions],
    }


def to_json(predictions: Sequence[ScanPrediction], arguments: dict[str, Any]) -> str:
    """The run record as indented JSON."""
    return json.dumps(run_record(predictions, arguments), indent=2) + "\n"


def to_csv(predictions: Sequence[ScanPrediction]) -> str:
    """One row per series; lists joined with ``;``."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    w.writeheader()
    for p in predictions:
        row: dict[str, Any] = {
            "series_id": p.series_id,
            "status": p.status,
            "label": p.label or "",
            "confidence": "" if p.confidence is None else f"{p.confidence:.4f}",
            "n_slices": "" if p.n_slices is None else p.n_slices,
            "n_sampled": len(p.sampled_indices),
            "read_s": _fmt_t(p.timings.get("read")),
            "preprocess_s": _fmt_t(p.timings.get("preprocess")),
            "model_s": _fmt_t(p.timings.get("model")),
            "source": p.source,
            "path": p.path,
            "study_uid": p.study_uid or "",
            "series_uid": p.series_uid or "",
            "acquisition": "" if p.acquisition is None else p.acquisition,
            "sampled_indices": ";".join(str(i) for i in p.sampled_indices),
            "model_sha256": p.model_sha256 or "",
            "warnings": ";".join(p.warnings),
            "error": p.error or "",
        }
        for n in PHASE_NAMES:
            row[f"vote_{n}"] = f"{p.vote_fractions[n]:.4f}" if n in p.vote_fractions else ""
            row[f"prob_{n}"] = f"{p.mean_probabilities[n]:.4f}" if n in p.mean_probabilities else ""
        w.writerow(row)
    return buf.getvalue()


def _fmt_t(t: float | None) -> str:
    return "" if t is None else f"{t:.4f}"


def to_table(predictions: Sequence[ScanPrediction]):  # -> rich.table.Table
    """A rich table for the terminal: one row per series."""
    from rich.table import Table

    table = Table(title="ctphase predictions", show_lines=False)
    table.add_column("series", overflow="fold", max_width=48)
    table.add_column("slices", justify="right")
    table.add_column("phase")
    table.add_column("votes", justify="right")
    table.add_column("vote fractions (nc/art/ven/oth)")
    table.add_column("time s", justify="right")
    table.add_column("notes", overflow="fold", max_width=60)
    styles = {"non_contrast": "cyan", "arterial": "red", "venous": "blue", "other": "magenta"}
    for p in predictions:
        name = p.path if p.source == "nifti" or not p.series_uid else f"{p.path} [{p.series_uid[-12:]}]"
        if p.status == "ok":
            phase = f"[{styles.get(p.label or '', '')}]{p.label}[/]"
            votes = f"{round((p.confidence or 0) * len(p.sampled_indices))}/{len(p.sampled_indices)}"
            fr = " ".join(f"{p.vote_fractions[n]:.2f}" for n in PHASE_NAMES)
            t = f"{sum(p.timings.values()):.2f}"
            notes = "; ".join(p.warnings)
        else:
            phase = "[yellow]skipped[/]" if p.status == "skipped" else "[bold red]error[/]"
            votes = fr = t = ""
            notes = p.error or ""
        table.add_row(name, "" if p.n_slices is None else str(p.n_slices), phase, votes, fr, t, notes)
    return table
