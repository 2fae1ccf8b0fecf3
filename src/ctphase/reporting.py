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
from .prediction import UNCERTAIN, ScanPrediction, summarize

CSV_COLUMNS = (
    ["series_id", "status", "label", "image_label", "study_label", "header_label", "qc", "confidence", "subphase",
     "seconds_after_injection", "seconds_low", "seconds_high", "n_slices", "n_sampled", "n_used"]
    + [f"vote_{n}" for n in PHASE_NAMES]
    + [f"prob_{n}" for n in PHASE_NAMES]
    + ["read_s", "preprocess_s", "model_s", "source", "path", "study_uid", "series_uid", "acquisition", "reconstruction"]
    + ["acquisition_id", "acquisition_order", "findings", "evidence"]
    + ["sampled_indices", "model_sha256", "warnings", "error", "n_files"]
)


def run_record(predictions: Sequence[ScanPrediction], arguments: dict[str, Any]) -> dict[str, Any]:
    """The machine-readable record of one prediction run: version, arguments, summary, predictions."""
    return {
        "ctphase_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "arguments": arguments,
        "summary": summarize(predictions),
        "studies": studies(predictions),
        "predictions": [p.to_dict() for p in predictions],
    }


def studies(predictions: Sequence[ScanPrediction]) -> list[dict[str, Any]]:
    """Per study: its acquisitions in time order (when known) with their phase and series."""
    out: dict[str, dict[str, Any]] = {}
    for p in sorted((p for p in predictions if p.status == "ok" and p.study_uid), key=_study_order):
        st = out.setdefault(p.study_uid or "", {"study_uid": p.study_uid, "acquisitions": []})
        acq = next((a for a in st["acquisitions"] if a["acquisition_id"] == p.acquisition_id), None)
        if acq is None:
            acq = {"acquisition_id": p.acquisition_id, "order": p.acquisition_order,
                   "study_label": p.study_label, "series": []}
            st["acquisitions"].append(acq)
        acq["series"].append({"series_id": p.series_id, "label": p.label, "image_label": p.image_label})
    return list(out.values())


def to_json(predictions: Sequence[ScanPrediction], arguments: dict[str, Any]) -> str:
    """The run record as indented JSON."""
    return json.dumps(run_record(predictions, arguments), indent=2) + "\n"


def to_jsonl(predictions: Sequence[ScanPrediction]) -> str:
    """JSON Lines: one prediction (:meth:`ScanPrediction.to_dict`) per line."""
    return "".join(json.dumps(p.to_dict()) + "\n" for p in predictions)


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
            "image_label": p.image_label or "",
            "study_label": p.study_label or "",
            "header_label": p.header_label or "",
            "acquisition_id": p.acquisition_id or "",
            "acquisition_order": "" if p.acquisition_order is None else p.acquisition_order,
            "findings": ";".join(p.findings),
            "evidence": ";".join(p.evidence),
            "qc": ";".join(p.qc),
            "confidence": "" if p.confidence is None else f"{p.confidence:.4f}",
            "subphase": p.subphase or "",
            **_seconds_cells(p),
            "n_slices": "" if p.n_slices is None else p.n_slices,
            "n_sampled": len(p.sampled_indices),
            "n_used": len(p.used_indices),
            "read_s": _fmt_t(p.timings.get("read")),
            "preprocess_s": _fmt_t(p.timings.get("preprocess")),
            "model_s": _fmt_t(p.timings.get("model")),
            "source": p.source,
            "path": p.path,
            "study_uid": p.study_uid or "",
            "series_uid": p.series_uid or "",
            "acquisition": "" if p.acquisition is None else p.acquisition,
            "reconstruction": p.reconstruction or "",
            "sampled_indices": ";".join(str(i) for i in p.sampled_indices),
            "model_sha256": p.model_sha256 or "",
            "warnings": ";".join(p.warnings),
            "error": p.error or "",
            "n_files": "" if p.n_files is None else p.n_files,
        }
        for n in PHASE_NAMES:
            row[f"vote_{n}"] = f"{p.vote_fractions[n]:.4f}" if n in p.vote_fractions else ""
            row[f"prob_{n}"] = f"{p.probabilities[n]:.4f}" if n in p.probabilities else ""
        w.writerow(row)
    return buf.getvalue()


def _fmt_t(t: float | None) -> str:
    return "" if t is None else f"{t:.4f}"


PHASE_STYLES = {"non_contrast": "cyan", "arterial": "red", "venous": "blue", "other": "magenta"}
QC_SHORT = {
    "blank_images": "blank", "implausible_hu": "bad-HU", "few_slices": "few", "no_orientation": "no-orient",
    "inconsistent_spacing": "spacing", "slice_gaps": "gaps", "missing_rescale": "no-rescale", "unreadable_files": "unread",
}
"""Table abbreviations of the quality flags (:data:`ctphase.qc.QC_FLAGS`); others show in full."""
_MAX_PART = 20


def _clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis in the middle."""
    if len(text) <= limit:
        return text
    head = (limit - 1) // 2
    return text[:head] + "\u2026" + text[len(text) - (limit - 1 - head):]


def _parts(p: ScanPrediction) -> list[str]:
    return [x for x in p.path.replace("\\", "/").split("/") if x] or [p.path]


_UID_CHARS = (8, 16, None)


def _short_name(p: ScanPrediction, k: int, u: int, clip: bool) -> str:
    """The series' table name from its last ``k`` path parts and ``_UID_CHARS[u]`` UID characters."""
    tail = "/".join(_clip(x, _MAX_PART) if clip else x for x in _parts(p)[-k:])
    if p.source != "dicom" or not p.series_uid:
        return tail
    chars = _UID_CHARS[u]
    uid = p.series_uid if chars is None else p.series_uid[-chars:]
    extra = "".join(f"/{x}" for x in p.series_id.split("/")[2:])  # /acqN, /recN
    return f"{tail} \u2026{uid}{extra}"


def short_names(predictions: Sequence[ScanPrediction]) -> list[str]:
    """Short, unique table names: the file or folder name, the series UID's last 8 characters, /acqN, /recN.

    Names that would collide are lengthened until they differ: by more path parts where the
    paths differ, else by more UID characters. The full identity stays in JSON and CSV.
    """
    state = [[1, 0, True] for _ in predictions]  # path parts, UID length index, clip long parts
    names = [_short_name(p, *st) for p, st in zip(predictions, state)]
    for _ in range(64):
        groups: dict[str, list[int]] = {}
        for i, n in enumerate(names):
            groups.setdefault(n, []).append(i)
        changed = False
        for members in (g for g in groups.values() if len(g) > 1):
            paths_differ = len({predictions[i].path for i in members}) > 1
            for i in members:
                k, u, clip = state[i]
                if paths_differ and k < len(_parts(predictions[i])):
                    state[i][0] = k + 1
                elif paths_differ and clip:
                    state[i][2] = False
                elif not paths_differ and u + 1 < len(_UID_CHARS):
                    state[i][1] = u + 1
                else:
                    continue
                names[i] = _short_name(predictions[i], *state[i])
                changed = True
        if not changed:
            break
    return names


def _seconds_cells(p: ScanPrediction) -> dict[str, str]:
    t = p.seconds_after_injection
    keys = ("seconds_after_injection", "seconds_low", "seconds_high")
    return dict.fromkeys(keys, "") if not t else dict(zip(keys, (f"{t[k]:.1f}" for k in ("estimate", "low", "high"))))


def _cells(p: ScanPrediction) -> tuple[Any, str, str, str, str]:
    """label (rich Text), votes, confidence, qc flags and notes of one row."""
    from rich.text import Text

    if p.status != "ok":
        label = Text("skipped", style="yellow") if p.status == "skipped" else Text("error", style="bold red")
        return label, "", "", "", p.error or ""
    label = Text(p.label or "", style=PHASE_STYLES.get(p.label or "", "yellow"))
    if p.image_label and p.label != p.image_label:  # uncertain, or changed by the study step
        label += Text(f" ({p.image_label})", style="dim")
    if p.subphase and p.subphase != p.label:  # a model with heads: the fine subphase and the time
        label += Text(f" {p.subphase.replace('_', ' ')}", style="dim")
    if p.seconds_after_injection:
        label += Text(f" ~{p.seconds_after_injection['estimate']:.0f} s", style="dim")
    n = len(p.used_indices or p.sampled_indices)  # the slices that voted (fewer when the vote stopped early)
    share = p.vote_fractions.get(p.image_label or "", p.confidence or 0.0)
    remarks = [*p.findings, *p.warnings]  # findings first: what a curator should look at
    notes = remarks[0] if remarks else ""
    if len(remarks) > 1:
        notes += f"\0(+{len(remarks) - 1})"
    conf = "" if p.confidence is None else f"{p.confidence:.2f}"
    return label, f"{round(share * n)}/{n}", conf, ",".join(QC_SHORT.get(f, f) for f in p.qc), notes


def _study_order(p: ScanPrediction) -> tuple[int, str, int, str]:
    """Classified series grouped by study in time order, then the rest in their own order."""
    if p.status != "ok":
        return (1, "", 0, "")
    order = p.acquisition_order if p.acquisition_order is not None else 10**6
    return (0, p.study_uid or "~" + p.series_id, order, p.path)


def _fit(note: str, width: int) -> str:
    """``note`` cut to ``width`` with an ellipsis; a ``(+N)`` suffix (more warnings, after a NUL) is kept."""
    text, _, more = note.partition("\0")
    more = f" {more}" if more else ""
    if len(text) + len(more) <= width:
        return text + more
    return text[: max(width - len(more) - 1, 0)] + "\u2026" + more


def summary_line(predictions: Sequence[ScanPrediction]) -> str:
    """E.g. ``4 series: 3 classified (1 uncertain), 1 skipped; 6 other file(s) not used; details: ...``.

    Tallies of files that are not read (``source == "unused"``) are counted apart from the series.
    """
    unused = [p for p in predictions if p.source == "unused"]
    series = [p for p in predictions if p.source != "unused"]
    c = summarize(series)
    parts = [f"{c['ok']} classified" + (f" ({c[UNCERTAIN]} uncertain)" if c[UNCERTAIN] else "")]
    parts += [f"{c['skipped']} skipped"] if c["skipped"] else []
    parts += [f"{c['error']} failed"] if c["error"] else []
    line = f"{len(series)} series: {', '.join(parts)}"
    if unused:
        n = sum(p.n_files or 0 for p in unused)
        line += f"; {n} other file(s) not used"
    return line + "; details: --format json or csv"


def to_table(predictions: Sequence[ScanPrediction], width: int = 100):  # -> a rich renderable
    """A rich table for the terminal, one line per series, within ``width`` columns, and a summary line.

    Columns: series (:func:`short_names`), slices, label (``uncertain`` in yellow with the
    slices' vote in parentheses; ``skipped``/``error`` for series not classified), votes (k/n
    sampled slices), confidence, qc flags (:data:`QC_SHORT`) and notes (the first warning and
    ``(+N)`` more, or why the series was skipped or failed, cut to fit; the full text is in JSON
    and CSV). When that would leave notes under 16 columns, the confidence column goes (the
    votes say it too).
    """
    from rich import box
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    headers = ["series", "slices", "label", "votes", "conf", "qc", "notes"]
    shown = sorted((p for p in predictions if p.source != "unused"), key=_study_order)  # unused: in the summary
    rows = [[name, "" if p.n_slices is None else str(p.n_slices), *_cells(p)]
            for name, p in zip(short_names(shown), shown)]
    widths = [max([len(h)] + [len(r[i]) if isinstance(r[i], str) else r[i].cell_len for r in rows])
              for i, h in enumerate(headers[:-1])]
    notes_width = width - sum(widths) - 2 * (len(headers) - 1)  # two spaces between columns
    if notes_width < 16:  # a narrow terminal: drop the confidence, the votes say it too
        del headers[4], widths[4]
        rows = [r[:4] + r[5:] for r in rows]
        notes_width = width - sum(widths) - 2 * (len(headers) - 1)
    notes_width = max(notes_width, 8)
    table = Table(title="ctphase predictions", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
    for h in headers:
        # notes are cut to fit here; when the rest does not fit either, they are what rich wraps first
        table.add_column(h, justify="right" if h in ("slices", "votes", "conf") else "left", no_wrap=h != "notes",
                         overflow="ellipsis")
    previous = None
    for p, r in zip(shown, rows):
        if previous is not None and p.status == "ok" and p.study_uid != previous:
            table.add_section()  # a rule between studies
        previous = p.study_uid if p.status == "ok" else previous
        table.add_row(*r[:-1], _fit(r[-1], notes_width))
    return Group(table, Text(summary_line(predictions))) if rows else Text(summary_line(predictions))
