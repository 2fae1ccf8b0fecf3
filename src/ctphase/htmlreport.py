"""The HTML QC report: one self-contained page to review a prediction run by eye.

Per study in time order, each series is a card: a strip of its classified slices (windowed
50/400 thumbnails, each marked with the phase it voted for), a ribbon of every slice's vote
along the stack, the vote bars, the confidence, QC flags and findings. The page sorts and
filters the cards by label, confidence and finding in plain JavaScript. Everything is inline
(CSS, JS, images as ``data:`` URIs): it opens offline and loads nothing from the network.

It never holds a patient name or ID (ctphase never reads them); series show as in the terminal
table (:func:`ctphase.reporting.short_names`), with the series id and the path as given.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError
from .phases import PHASE_NAMES
from .prediction import STATUS_OK, UNCERTAIN, ScanPrediction, summarize
from .reporting import QC_SHORT, _study_order, short_names

WINDOW = (50.0, 400.0)
"""Level and width (HU) of the thumbnails: the paper's abdominal window."""
THUMB_HEIGHT = 64
"""Height of one thumbnail in pixels (the width follows the slice's physical aspect)."""
MAX_THUMBS = 24
"""At most this many thumbnails per series, spread evenly over its classified slices."""
RIBBON_BINS = 256
"""Resolution of the vote ribbon along the stack (one pixel per slice up to this many slices)."""
PHASE_COLOURS = {"non_contrast": "#1b9aaa", "arterial": "#d62828", "venous": "#3a5fcd", "other": "#9b5de5"}
_RIBBON_RGB = {name: tuple(int(c[i:i + 2], 16) for i in (1, 3, 5)) for name, c in PHASE_COLOURS.items()}
_TEMPLATE = "report.html.j2"

SeriesKey = tuple[str, str]
"""``(series_id, path)``: how :func:`ctphase.pipeline.classify` keys the series it read."""


@dataclass
class Strip:
    """The pictures of one series: thumbnails of some classified slices and the vote ribbon.

    Attributes:
        image: the thumbnails side by side, one JPEG ``data:`` URI (``None`` when not read).
        cells: ``(slice index, vote)`` of each thumbnail, left to right.
        cell_width: width of one thumbnail in pixels.
        ribbon: a one-row PNG ``data:`` URI: the vote of every classified slice along the stack.
        note: why there is no image (the series could not be read again), else ``None``.
    """

    image: str | None = None
    cells: list[tuple[int, str]] = field(default_factory=list)
    cell_width: int = THUMB_HEIGHT
    ribbon: str | None = None
    note: str | None = None


def _data_uri(kind: str, data: bytes) -> str:
    return f"data:image/{kind};base64,{base64.b64encode(data).decode('ascii')}"


def _encode(image: np.ndarray, kind: str, quality: int = 70) -> str:
    import cv2

    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if kind == "jpeg" else []
    ok, buf = cv2.imencode(".jpg" if kind == "jpeg" else ".png", image, params)
    if not ok:  # pragma: no cover - OpenCV always encodes uint8 images
        msg = f"OpenCV could not encode a {image.shape} {kind} image"
        raise RuntimeError(msg)
    return _data_uri(kind, buf.tobytes())


def windowed(hu: np.ndarray, level: float = WINDOW[0], width: float = WINDOW[1]) -> np.ndarray:
    """HU ``(..., H, W)`` -> uint8 grey values of the window ``level``/``width`` (below black, above white)."""
    lo = level - width / 2.0
    return np.clip(np.rint((hu - lo) * (255.0 / width)), 0, 255).astype(np.uint8)


def pick_thumbnails(indices: Sequence[int], labels: Sequence[str], max_thumbs: int = MAX_THUMBS) -> list[tuple[int, str]]:
    """``(slice index, vote)`` of at most ``max_thumbs`` classified slices, evenly spread, in ascending index order."""
    pairs = sorted(zip((int(i) for i in indices), labels))
    if len(pairs) <= max_thumbs:
        return pairs
    keep = np.unique(np.linspace(0, len(pairs) - 1, max(1, max_thumbs)).round().astype(int))
    return [pairs[k] for k in keep]


def _thumb_width(shape: tuple[int, int], spacing: tuple[float, float] | None, height: int) -> int:
    rows, cols = shape
    sy, sx = spacing or (1.0, 1.0)
    aspect = (cols * sx) / max(rows * sy, 1e-6)
    return int(min(max(round(height * aspect), height // 4), 4 * height))


def vote_ribbon(n_slices: int, indices: Sequence[int], labels: Sequence[str], bins: int = RIBBON_BINS) -> str | None:
    """A one-row PNG ``data:`` URI: each pixel a stretch of the stack, coloured by the vote of its classified slices.

    Stretches with no classified slice are light grey; a stretch whose slices disagree takes
    the most frequent vote. ``None`` when there is nothing to draw.
    """
    if n_slices < 1 or not len(indices) or len(indices) != len(labels):
        return None
    width = min(n_slices, bins)
    counts = np.zeros((width, len(PHASE_NAMES)), dtype=np.int64)
    for i, label in zip(indices, labels):
        if label in PHASE_NAMES:
            counts[min(int(i) * width // n_slices, width - 1), PHASE_NAMES.index(label)] += 1
    row = np.full((1, width, 3), 225, dtype=np.uint8)
    for x in np.flatnonzero(counts.sum(axis=1)):
        r, g, b = _RIBBON_RGB[PHASE_NAMES[int(counts[x].argmax())]]
        row[0, x] = (b, g, r)  # OpenCV writes BGR
    return _encode(row, "png")


def thumbnail_strip(series: Any, prediction: ScanPrediction, *, height: int = THUMB_HEIGHT,
                    max_thumbs: int = MAX_THUMBS) -> Strip:
    """The :class:`Strip` of one classified series, reading only the slices it shows.

    ``series``: the :class:`ctphase.io.Series` the prediction was made from (``None``: not
    available). Reading problems never raise: the strip then carries a ``note`` and no image.
    """
    import cv2

    p = prediction
    ribbon = vote_ribbon(p.n_slices or 0, p.used_indices, p.slice_labels)
    labels = p.slice_labels if len(p.slice_labels) == len(p.used_indices) else ["?"] * len(p.used_indices)
    cells = pick_thumbnails(p.used_indices, labels, max_thumbs)
    if series is None:
        return Strip(ribbon=ribbon, note="slices not shown: the series was not available to read again")
    if not cells:
        return Strip(ribbon=ribbon)
    width = _thumb_width(tuple(series.shape), series.pixel_spacing, height)
    try:
        hu = series.read_slices([i for i, _ in cells])
    except Exception as exc:  # noqa: BLE001 - a report never fails on one series; it says why instead
        return Strip(ribbon=ribbon, note=f"slices could not be read again: {exc}")
    finally:
        release = getattr(series, "release", None)
        if callable(release):
            release()
    thumbs = [cv2.resize(np.ascontiguousarray(s, dtype=np.float32), (width, height), interpolation=cv2.INTER_AREA)
              for s in hu]
    image = _encode(windowed(np.hstack(thumbs)), "jpeg")
    return Strip(image=image, cells=cells, cell_width=width, ribbon=ribbon)


def _finding_key(text: str) -> str:
    """A finding's kind, for the filter: its text before any parenthesis (``header says X, images say Y``)."""
    return text.split(" (", 1)[0].strip()


def _card(p: ScanPrediction, name: str, strip: Strip | None, position: int) -> dict[str, Any]:
    """What the template shows of one series."""
    n = len(p.used_indices or p.sampled_indices)
    votes = [{"phase": ph, "colour": PHASE_COLOURS[ph], "fraction": p.vote_fractions.get(ph, 0.0),
              "count": round(p.vote_fractions.get(ph, 0.0) * n), "probability": p.probabilities.get(ph)}
             for ph in PHASE_NAMES] if p.status == STATUS_OK else []
    label = p.label if p.status == STATUS_OK else p.status
    return {
        "p": p, "name": name, "position": position, "label": label or "", "votes": votes, "n_votes": n,
        "colour": PHASE_COLOURS.get(label or "", "#b8860b" if label == UNCERTAIN else "#777"),
        "confidence": -1.0 if p.confidence is None else p.confidence,
        "qc": [(f, QC_SHORT.get(f, f)) for f in p.qc],
        "finding_keys": sorted({_finding_key(f) for f in p.findings}),
        "strip": strip, "study": p.study_uid or "",
    }


def _studies(cards: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Cards grouped by study (consecutive, as ordered), each group with a title."""
    groups: list[dict[str, Any]] = []
    for c in cards:
        p = c["p"]
        key = p.study_uid if p.status == STATUS_OK and p.study_uid else None
        if not groups or key is None or groups[-1]["key"] != key:
            title = (f"study \u2026{key[-12:]}" if key else "series without a study" if p.status == STATUS_OK
                     else "not classified")
            if groups and key is None and groups[-1]["key"] is None and groups[-1]["title"] == title:
                groups[-1]["cards"].append(c)
                continue
            groups.append({"key": key, "title": title, "study_uid": key or "", "cards": []})
        groups[-1]["cards"].append(c)
    return groups


def render_html(
    predictions: Sequence[ScanPrediction],
    series: Mapping[SeriesKey, Any] | None = None,
    *,
    notes: Mapping[SeriesKey, str] | None = None,
    arguments: Mapping[str, Any] | None = None,
    created: str | None = None,
    title: str = "ctphase QC report",
    thumb_height: int = THUMB_HEIGHT,
    max_thumbs: int = MAX_THUMBS,
) -> str:
    """The report page for ``predictions``, as one self-contained HTML string.

    Args:
        predictions: the records of one run (files that are not read, ``source="unused"``, are
            only counted).
        series: ``(series_id, path)`` -> the series each record was read from (the ``read`` of
            :func:`ctphase.pipeline.classify`, or :func:`reopen_series`); without it no thumbnails.
        notes: ``(series_id, path)`` -> why a series could not be read again (shown on its card).
        arguments: the run's arguments (shown in the page's header).
        created: when the run was made (ISO 8601), shown as is.
    """
    import jinja2

    series = series or {}
    notes = notes or {}
    shown = sorted((p for p in predictions if p.source != "unused"), key=_study_order)
    cards = []
    for i, (p, name) in enumerate(zip(shown, short_names(shown))):
        strip = None
        if p.status == STATUS_OK and p.used_indices:
            key = (p.series_id, p.path)
            s = series.get(key)
            s = _axial(s, p) if s is not None else None
            strip = thumbnail_strip(s, p, height=thumb_height, max_thumbs=max_thumbs)
            if key in notes or (key in series and s is None):
                strip.note = notes.get(key, "slices not shown: the series read has a different size than recorded")
        cards.append(_card(p, name, strip, i))
    env = jinja2.Environment(loader=jinja2.PackageLoader("ctphase", "templates"),
                             autoescape=jinja2.select_autoescape(default=True), trim_blocks=True, lstrip_blocks=True)
    counts = summarize(shown)
    return env.get_template(_TEMPLATE).render(
        title=title, created=created or "", arguments=dict(arguments or {}), studies=_studies(cards),
        n_cards=len(cards), counts=counts, labels=[*PHASE_NAMES, UNCERTAIN], colours=PHASE_COLOURS,
        statuses=[s for s in ("skipped", "error") if counts[s]],
        qc_flags=sorted({f for c in cards for f, _ in c["qc"]}),
        finding_keys=sorted({k for c in cards for k in c["finding_keys"]}),
        n_unused=sum(p.n_files or 0 for p in predictions if p.source == "unused"),
        window=WINDOW, thumb_height=thumb_height,
    )


def read_run_record(path: str | Path) -> tuple[list[ScanPrediction], dict[str, Any]]:
    """The predictions and run fields (``arguments``, ``created``, ...) of a saved ``ctphase predict`` JSON record.

    Raises:
        InputError: naming the file, when it is missing, not JSON or not a ctphase run record.
    """
    from dataclasses import fields

    path = Path(path)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("no such file; give the JSON record of a run (ctphase predict ... -o run.json)", path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read it: {exc}", path) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"not JSON ({exc.msg} at line {exc.lineno}); give the record of ctphase predict -o run.json",
                         path) from None
    if not isinstance(record, dict) or "ctphase_version" not in record or not isinstance(record.get("predictions"), list):
        raise InputError("not a ctphase run record (no ctphase_version and predictions); give the JSON written by "
                         "ctphase predict -o run.json", path)
    known = {f.name for f in fields(ScanPrediction)}
    try:
        predictions = [ScanPrediction(**{k: v for k, v in p.items() if k in known}) for p in record["predictions"]]
    except (TypeError, AttributeError) as exc:
        raise InputError(f"not a ctphase run record: a prediction is malformed ({exc})", path) from None
    return predictions, {k: v for k, v in record.items() if k != "predictions"}


def reopen_series(predictions: Sequence[ScanPrediction]) -> tuple[dict[SeriesKey, Any], dict[SeriesKey, str]]:
    """Find again, from their recorded paths, the series of classified records (headers only; pixels stay unread).

    Relative paths are taken from the current folder, as ``ctphase predict`` was given them.

    Returns:
        ``(series, notes)``: ``(series_id, path)`` -> the series found, and -> why it was not
        (the path is gone or unreadable, the series is not there or has changed).
    """
    from .io import discover
    from .io.archive import SEPARATOR

    wanted: dict[str, list[ScanPrediction]] = {}
    for p in predictions:
        if p.status == STATUS_OK and p.used_indices:  # a series inside an archive: the archive is searched again
            wanted.setdefault(p.path.split(SEPARATOR, 1)[0], []).append(p)
    found: dict[SeriesKey, Any] = {}
    notes: dict[SeriesKey, str] = {}
    for path, preds in wanted.items():
        try:
            d = discover(path)
            stacks = [(s.series_id, s.path, s) for s in d.series]
            stacks += [(s.series_id, s.path, s.stack) for s in d.skipped if s.stack is not None]
            by_id: dict[Any, Any] = {}
            for sid, where, s in stacks:
                by_id.setdefault(sid, s)
                by_id[(sid, where)] = s
        except Exception as exc:  # noqa: BLE001 - gone, unreadable, ...: the cards say so
            by_id, why = {}, f"slices not shown: {path} could not be read again ({exc})"
        else:
            why = f"slices not shown: series not found again under {path}"
        for p in preds:
            key = (p.series_id, p.path)
            s = by_id.get(key, by_id.get(p.series_id))  # the same path, else the same series elsewhere under it
            if s is None:
                notes[key] = why
            elif (s := _axial(s, p)) is None:
                notes[key] = f"slices not shown: the series at {path} has changed since the run"
            else:
                found[key] = s
    return found, notes


def _axial(series: Any, p: ScanPrediction) -> Any:
    """``series`` as the record saw it: resliced into axial planes when it was; ``None`` when its size changed."""
    if series.n_slices != p.n_slices and getattr(series, "slices", None) is not None:
        from .io.reslice import reslice

        series = reslice(series)  # a reformat classified from axial planes (ctphase.pipeline.reslice_unlinked)
    return series if series.n_slices == p.n_slices else None


__all__ = ["MAX_THUMBS", "THUMB_HEIGHT", "WINDOW", "Strip", "pick_thumbnails", "read_run_record", "render_html",
           "reopen_series", "thumbnail_strip", "vote_ribbon", "windowed"]
