"""Header-only baseline: the contrast phase from DICOM header text and timing, no pixels.

This is what a curator does with a spreadsheet of DICOM tags, written down as explicit rules so
that its accuracy can be measured next to the image-based classifiers. The rule engine is the
product's header second opinion (:func:`ctphase.study.headers.evaluate_header`) run with the
paper's frozen rule set (``paper=True``): it reads SeriesDescription, ContrastBolusAgent,
ContrastBolusRoute, ContrastBolusStartTime and AcquisitionTime only (PS3.3 C.7.6.4
Contrast/Bolus Module, C.7.6.1 General Image Module), with the paper's keywords
(:data:`KEYWORDS`), and decides ``non_contrast`` when no agent and no contrast evidence is
found. The rule table is in :mod:`ctphase.study.headers` (:data:`RULES` here: the paper's rows).

This module keeps the baseline's calling conventions: :func:`predict_from_header` (one series,
``(phase, rule)``) and :func:`header_baseline_predictions` (many series, grouped by study).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import ConfigError
from ..phases import PHASE_NAMES
from ..study import header_keywords as _kw
from ..study.header_keywords import CONTRAST, Keyword, fold, phase_from_delay
from ..study.header_times import parse_tm
from ..study.headers import (
    MAX_PLAUSIBLE_S,
    PAPER_TAGS,
    RELATIVE_ANCHOR_S,
    SAME_ACQUISITION_S,
    TIMING_TAGS,
    HeaderRule,
    evaluate_header,
)
from ..study.headers import RULES as _ALL_RULES

HEADER_TAGS = PAPER_TAGS
KEYWORDS: tuple[Keyword, ...] = tuple(k for k in _kw.KEYWORDS if k.use != "product")
"""The paper's SeriesDescription keywords (frozen)."""
RULES: tuple[HeaderRule, ...] = tuple(r for r in _ALL_RULES if r.use != "product")
"""The paper's rule table, in the order the rules are tried (names are what :func:`predict_from_header` returns)."""


def description_phases(description: str | None) -> tuple[set[str], set[str]]:
    """Phases named by a SeriesDescription (the paper's keywords): (strong, weak) sets of phase labels or ``"contrast"``."""
    return _kw.description_phases(description, paper=True)


def agent_kind(meta: dict[str, Any]) -> str:
    """Classify ContrastBolusAgent (+ ContrastBolusRoute): ``"absent"``, ``"none"``, ``"oral"`` or ``"iv"``."""
    return _kw.agent_kind(meta, paper=True)


def predict_from_header(
    meta: dict[str, Any],
    study_context: Sequence[dict[str, Any]] | None = None,
    *,
    contrast_default: str | None = None,
) -> tuple[str | None, str]:
    """Phase of one series from its header, by the paper's rules (:data:`RULES`).

    Args:
        meta: the series' tags by DICOM keyword (``Series.meta``): SeriesDescription,
            ContrastBolusAgent, ContrastBolusRoute, ContrastBolusStartTime, AcquisitionTime.
            Missing keys are missing tags.
        study_context: the metas of every series of the same study (may include ``meta``
            itself), for the study-level bolus start and relative timing rules.
        contrast_default: phase given by ``contrast_phase_unknown`` (e.g. ``"venous"``, the
            usual single-phase protocol); ``None`` leaves such series undecided.
    Returns:
        (phase label or ``None`` when undecidable, name of the rule that fired).
    Raises:
        ConfigError: ``meta`` is not a dict or ``contrast_default`` is not a phase label.
    """
    if not isinstance(meta, dict):
        msg = f"meta must be a dict of DICOM keyword -> value, got {type(meta).__name__}"
        raise ConfigError(msg)
    if contrast_default is not None and contrast_default not in PHASE_NAMES:
        msg = f"contrast_default {contrast_default!r} must be None or one of {', '.join(PHASE_NAMES)}"
        raise ConfigError(msg)
    context = [m for m in (study_context or []) if isinstance(m, dict)]
    opinion = evaluate_header(meta, context, paper=True, contrast_default=contrast_default)
    return opinion.label, opinion.rule


def _meta_of(item: Any) -> dict[str, Any]:
    if isinstance(item, dict):
        return item
    meta = getattr(item, "meta", None)
    if not isinstance(meta, dict):
        msg = f"expected a Series (with .meta) or a dict of tags, got {type(item).__name__}"
        raise ConfigError(msg)
    meta = dict(meta)
    desc = getattr(item, "description", None)
    if desc and not meta.get("SeriesDescription"):
        meta["SeriesDescription"] = desc
    return meta


def _study_of(item: Any, meta: dict[str, Any]) -> str | None:
    uid = getattr(item, "study_uid", None) if not isinstance(item, dict) else None
    return uid or meta.get("StudyInstanceUID") or None


def header_baseline_predictions(
    series_list: Sequence[Any], *, contrast_default: str | None = None
) -> list[tuple[str | None, str]]:
    """Header-only predictions for many series, using each study's series as timing context.

    Args:
        series_list: :class:`ctphase.io.Series` objects (``meta``, ``study_uid``,
            ``description``) or plain dicts of tags (study from ``StudyInstanceUID``). Series
            without a study are predicted alone.
        contrast_default: see :func:`predict_from_header`.
    Returns:
        one ``(phase or None, rule)`` per input, in input order.
    """
    metas = [_meta_of(s) for s in series_list]
    studies: dict[str, list[dict[str, Any]]] = {}
    keys = [_study_of(s, m) for s, m in zip(series_list, metas)]
    for key, meta in zip(keys, metas):
        if key is not None:
            studies.setdefault(key, []).append(meta)
    return [
        predict_from_header(meta, studies.get(key) if key is not None else None, contrast_default=contrast_default)
        for key, meta in zip(keys, metas)
    ]


__all__ = [
    "CONTRAST",
    "HEADER_TAGS",
    "KEYWORDS",
    "MAX_PLAUSIBLE_S",
    "RELATIVE_ANCHOR_S",
    "RULES",
    "SAME_ACQUISITION_S",
    "TIMING_TAGS",
    "agent_kind",
    "description_phases",
    "fold",
    "header_baseline_predictions",
    "parse_tm",
    "phase_from_delay",
    "predict_from_header",
]
