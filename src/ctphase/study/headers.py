"""Header evidence: the phase that DICOM header text and timing suggest, a second opinion next to the images.

Headers are typed by hand and often wrong or missing, so they never decide a series' label on
their own (unless the user asks for it): :func:`header_opinion` gives the study step a phase (or
``None`` when the headers say nothing), the rule that fired and a short reason in words. It
reads only the text tags of ``Series.meta`` (:data:`ctphase.io.dicom_tags.META_KEYWORDS`):

- Contrast/Bolus Module (PS3.3 C.7.6.4): ContrastBolusAgent (0018,0010), ContrastBolusRoute
  (0018,1040), ContrastBolusVolume (0018,1041), ContrastBolusStartTime (0018,1042),
  ContrastBolusIngredient (0018,1048);
- General Image (C.7.6.1): AcquisitionDateTime (0008,002A), AcquisitionDate (0008,0022),
  AcquisitionTime (0008,0032); General Series (C.7.3.1): SeriesDescription (0008,103E),
  ProtocolName (0018,1030), SeriesDate/Time; General Study (C.7.2.1): StudyDate/Time.

The same rule engine (:func:`evaluate_header`) is the paper's header-only baseline
(:mod:`ctphase.paper.header_rules`, ``paper=True``: its frozen vocabulary and rules). Rules,
tried in order; the first that decides wins (:data:`RULES`):

====  ==================================  ==============================================================
 #    rule                                fires when / gives
====  ==================================  ==============================================================
 1    ``no_header``                       no phase-relevant tag at all (e.g. NIfTI): ``None``
 2    ``timing_before_bolus``             acquired before the ContrastBolusStartTime of the series or,
                                          if it has none, the earliest one of its study: non_contrast
 2    ``timing_bolus``                    t = acquisition - bolus start: t <= 45 s arterial, 50-100 s
                                          venous, > 150 s other (45-50 s and 100-150 s: not decided here)
 3    ``description``                     SeriesDescription strong keywords name exactly one phase
 3    ``description_weak``                no strong keyword; weak keywords (early, late) name one phase
 3    ``protocol`` / ``protocol_weak``    (product) the same for ProtocolName, when the study's other
                                          acquisitions do not share it (a shared protocol names no phase)
 4    ``agent_none``                      the agent (or, without one, ContrastBolusVolume 0) says none
 4    ``agent_oral_only``                 the agent, route or ingredient is oral/enteral only: non_contrast
 5    ``timing_before_first_contrast``    acquired > 10 s before the study's earliest series with contrast
                                          evidence: non_contrast
 5    ``timing_relative_first_contrast``  the study holds >= 2 acquisition times with contrast: the earliest
                                          is assumed at 35 s (late arterial), t = 35 s + delay since it
 6    ``contrast_phase_unknown``          contrast evident but no phase: ``None`` (paper: its default)
 7    ``agent_absent``                    no agent and no contrast evidence: ``None`` (paper: non_contrast)
====  ==================================  ==============================================================

"Contrast evidence" of a series: its text names a contrast phase or says contrast generically,
or (without a non-contrast text) its agent is given and not oral only. Keywords, false friends
and the agent vocabulary: :mod:`ctphase.study.header_keywords`; times:
:mod:`ctphase.study.header_times` (differences of times of day are wrapped across midnight).
``Series.meta`` holds the first slice's times, a few seconds off for a long scan: the
thresholds have margins.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from .header_keywords import NON, agent_evidence, fold, phase_from_delay, text_phase
from .header_times import (
    acquisition_seconds,
    acquisition_time_of_day,
    parse_tm,
    time_source,
    wrapped_delta,
)

RELATIVE_ANCHOR_S = 35.0
"""Assumed time after injection of the earliest contrast series of a multiphase study."""
SAME_ACQUISITION_S = 10.0
"""Acquisition times closer than this count as one acquisition (several reconstructions)."""
MAX_PLAUSIBLE_S = 2 * 3600.0
"""Delays beyond this are taken as wrong tags and ignored."""

TIMING_TAGS = ("ContrastBolusStartTime", "AcquisitionTime")
PAPER_TAGS = ("SeriesDescription", "ContrastBolusAgent", "ContrastBolusRoute", *TIMING_TAGS)
"""The tags the paper's baseline reads (rule ``no_header`` when none is set)."""
PRODUCT_TAGS = (*PAPER_TAGS, "ProtocolName", "ContrastBolusVolume", "ContrastBolusIngredient", "AcquisitionDateTime")
"""The tags :func:`header_opinion` reads besides the dates that only date them."""


@dataclass(frozen=True)
class HeaderRule:
    """One row of the rule table: its order, its name, what it gives, and which rule set has it."""

    order: int
    name: str
    gives: str
    use: str = "both"


RULES: tuple[HeaderRule, ...] = (
    HeaderRule(1, "no_header", "None: no phase-relevant tag at all"),
    HeaderRule(2, "timing_before_bolus", "non_contrast: acquired before the bolus start"),
    HeaderRule(2, "timing_bolus", "phase by AcquisitionTime - ContrastBolusStartTime"),
    HeaderRule(3, "description", "the one phase named by strong SeriesDescription keywords"),
    HeaderRule(3, "description_weak", "the one phase named by weak keywords (early/late)"),
    HeaderRule(3, "protocol", "the one phase named by strong ProtocolName keywords", "product"),
    HeaderRule(3, "protocol_weak", "the one phase named by weak ProtocolName keywords", "product"),
    HeaderRule(4, "agent_none", "non_contrast: ContrastBolusAgent says none"),
    HeaderRule(4, "agent_oral_only", "non_contrast: oral contrast only"),
    HeaderRule(5, "timing_before_first_contrast", "non_contrast: before the study's first contrast series"),
    HeaderRule(5, "timing_relative_first_contrast", "phase by 35 s + delay after the study's first contrast series"),
    HeaderRule(6, "contrast_phase_unknown", "contrast given, phase unknown: None (paper: contrast_default)"),
    HeaderRule(7, "agent_absent", "no agent and no contrast evidence: None (paper: non_contrast)"),
)
"""The rule table, in the order the rules are tried (``rule`` of :class:`HeaderOpinion`)."""


@dataclass(frozen=True)
class HeaderOpinion:
    """What the headers of one series say about its phase.

    Attributes:
        label: a phase name, or ``None`` when the headers say nothing about the phase.
        rule: the rule that fired (:data:`RULES`).
        reason: short words for a result's ``evidence`` (tag names, the text typed at the
            scanner, delays in seconds; never dates or patient attributes).
        seconds_after_injection: acquisition time minus ContrastBolusStartTime of the series (or
            of its study), wrapped across midnight; negative before the injection; ``None`` when
            either is missing or the difference is over 2 h (a wrong tag).
        contrast: ``True`` when the headers show contrast, ``False`` when they say none was
            given (or the timing says before it), ``None`` when they do not say.
    """

    label: str | None
    rule: str
    reason: str
    seconds_after_injection: float | None = None
    contrast: bool | None = None


def header_opinion(meta: Mapping[str, Any], study: Sequence[Mapping[str, Any]] = ()) -> HeaderOpinion:
    """The headers' opinion on the phase of one series (the product's rules, never an exception).

    Args:
        meta: the series' tags by DICOM keyword (``Series.meta``); missing keys are missing tags.
        study: the metas of every series of the same study (may include ``meta`` itself), for
            the study's bolus start, the relative timing rules and whether ProtocolName is shared.
    Reads the Contrast/Bolus Module (PS3.3 C.7.6.4), SeriesDescription and ProtocolName (C.7.3.1)
    and the acquisition times (C.7.6.1); see the module docstring for the rules.
    """
    return evaluate_header(meta, study)


def evaluate_header(
    meta: Mapping[str, Any],
    study: Iterable[Any] = (),
    *,
    paper: bool = False,
    contrast_default: str | None = None,
) -> HeaderOpinion:
    """The rule engine behind :func:`header_opinion` and the paper's baseline (``paper=True``).

    ``paper`` selects the paper's frozen rules: its vocabulary, no ProtocolName, AcquisitionTime
    only, ``contrast_default`` for ``contrast_phase_unknown`` and non_contrast for ``agent_absent``.
    """
    context = [m for m in study if isinstance(m, Mapping)]
    if not any(meta.get(tag) not in (None, "") for tag in (PAPER_TAGS if paper else PRODUCT_TAGS)):
        return HeaderOpinion(None, "no_header", "no header tag says anything about contrast")
    t_acq = _acquired(meta, paper)
    timed, seconds = _bolus_timing(meta, context, t_acq, paper)
    if timed is not None:
        return timed
    phase, rule, evidence, said = _text_opinion(meta, context, paper)
    if phase is not None:
        verb = "says" if rule in ("description", "protocol") else "hints"
        return HeaderOpinion(phase, rule, f"header {verb} {_phase_words(phase)} ({said})", seconds, phase != NON)
    kind, tag = agent_evidence(meta, paper=paper)
    if kind in ("none", "oral"):
        what = "no contrast" if kind == "none" else "oral contrast only"
        rule = "agent_none" if kind == "none" else "agent_oral_only"
        return HeaderOpinion(NON, rule, f"header says {what} ({_said(meta, tag)})", seconds, False)
    evidence = evidence or kind == "iv"
    relative = _relative_timing(meta, context, t_acq, evidence, paper)
    if relative is not None:
        return HeaderOpinion(relative[0], relative[1], relative[2], seconds, relative[0] != NON)
    if evidence:
        why = said or _said(meta, tag)
        return HeaderOpinion(contrast_default, "contrast_phase_unknown",
                             f"headers say contrast was given ({why}), not which phase", seconds, True)
    return HeaderOpinion(NON if paper else None, "agent_absent", "headers name no contrast agent and no phase", seconds)


def _acquired(meta: Mapping[str, Any], paper: bool) -> float | None:
    """Time of day of the acquisition: AcquisitionTime (paper), else AcquisitionDateTime first."""
    return parse_tm(meta.get("AcquisitionTime")) if paper else acquisition_time_of_day(meta)


def _bolus_timing(
    meta: Mapping[str, Any], context: list[Mapping[str, Any]], t_acq: float | None, paper: bool
) -> tuple[HeaderOpinion | None, float | None]:
    """Rule 2: (opinion or None, seconds after the bolus start or None)."""
    t_bolus = parse_tm(meta.get("ContrastBolusStartTime"))
    whose = ""
    if t_bolus is None and t_acq is not None:
        starts = [t for t in (parse_tm(m.get("ContrastBolusStartTime")) for m in context) if t is not None]
        if starts:
            t_bolus = min(starts, key=lambda t: wrapped_delta(t, t_acq))  # the earliest relative to this scan
            whose = " of the study"
    if t_acq is None or t_bolus is None:
        return None, None
    delay = wrapped_delta(t_acq, t_bolus)
    if abs(delay) > MAX_PLAUSIBLE_S:
        return None, None
    phase = phase_from_delay(delay)
    if phase == NON:
        reason = f"header timing says non-contrast: acquired {-delay:.0f} s before ContrastBolusStartTime{whose}"
        return HeaderOpinion(NON, "timing_before_bolus", reason, delay, False), delay
    if phase is not None:
        reason = f"header timing says {_phase_words(phase)}: acquired {delay:.0f} s after ContrastBolusStartTime{whose}"
        return HeaderOpinion(phase, "timing_bolus", reason, delay, True), delay
    return None, delay


def _text_opinion(
    meta: Mapping[str, Any], context: list[Mapping[str, Any]], paper: bool
) -> tuple[str | None, str, bool, str]:
    """Rule 3: (phase or None, rule, contrast evidence, what was read) from SeriesDescription, then ProtocolName."""
    desc = meta.get("SeriesDescription")
    phase, tier, evidence = text_phase(desc, paper=paper)
    said = _said(meta, "SeriesDescription") if desc and (phase or evidence) else ""
    if phase is not None:
        return phase, "description" if tier == "strong" else "description_weak", evidence, said
    proto = meta.get("ProtocolName")
    if paper or not proto or _protocol_shared(meta, context):
        return None, "", evidence, said
    p_phase, p_tier, p_evidence = text_phase(proto)
    if p_phase is not None:
        return p_phase, "protocol" if p_tier == "strong" else "protocol_weak", p_evidence, _said(meta, "ProtocolName")
    return None, "", evidence or p_evidence, said or (_said(meta, "ProtocolName") if p_evidence else "")


def _protocol_shared(meta: Mapping[str, Any], context: list[Mapping[str, Any]]) -> bool:
    """Whether another acquisition of the study has the same ProtocolName (then it names the exam, not a phase).

    Another acquisition: acquired over :data:`SAME_ACQUISITION_S` apart or, without times, another SeriesDescription.
    """
    key = _fold(meta.get("ProtocolName"))
    t = acquisition_time_of_day(meta)
    for m in context:
        if m is meta or m == meta or _fold(m.get("ProtocolName")) != key:
            continue
        tm = acquisition_time_of_day(m)
        if t is None or tm is None:
            if _fold(m.get("SeriesDescription")) != _fold(meta.get("SeriesDescription")):
                return True
        elif abs(wrapped_delta(tm, t)) > SAME_ACQUISITION_S:
            return True
    return False


def _contrast_evidence(meta: Mapping[str, Any], context: list[Mapping[str, Any]], paper: bool) -> bool:
    phase, _, evidence, _ = _text_opinion(meta, context, paper)
    if phase == NON:
        return False
    return evidence or agent_evidence(meta, paper=paper)[0] == "iv"


def _relative_timing(
    meta: Mapping[str, Any], context: list[Mapping[str, Any]], t_acq: float | None, evidence: bool, paper: bool
) -> tuple[str, str, str] | None:
    """Rule 5: (phase, rule, reason) from the delay after the study's first series with contrast evidence."""
    if t_acq is None or not context:
        return None
    contrasted = (_acquired(m, paper) for m in context if _contrast_evidence(m, context, paper))
    times = [t for t in contrasted if t is not None]
    if evidence:
        times.append(t_acq)
    if not times:
        return None
    first = min(times, key=lambda t: wrapped_delta(t, t_acq))
    delay = wrapped_delta(t_acq, first)
    if delay < -SAME_ACQUISITION_S:
        return NON, "timing_before_first_contrast", (
            f"header timing suggests non-contrast: acquired {-delay:.0f} s before the study's first series with contrast")
    if _count_acquisitions([*times, t_acq], first) >= 2 and delay <= MAX_PLAUSIBLE_S:
        phase = phase_from_delay(RELATIVE_ANCHOR_S + max(delay, 0.0))
        if phase is not None:
            return phase, "timing_relative_first_contrast", (
                f"header timing suggests {_phase_words(phase)}: {max(delay, 0.0):.0f} s after the study's first "
                f"contrast acquisition (assumed at {RELATIVE_ANCHOR_S:.0f} s)")
    return None


def _count_acquisitions(times: Iterable[float], ref: float) -> int:
    rel = sorted(wrapped_delta(t, ref) for t in times)
    count, last = 0, None
    for r in rel:
        if last is None or r - last > SAME_ACQUISITION_S:
            count += 1
            last = r
    return count


@lru_cache(maxsize=4096)
def _fold_text(text: str) -> str:
    return fold(text).strip()


def _fold(value: Any) -> str:
    return _fold_text(str(value or ""))


def _phase_words(phase: str) -> str:
    return phase.replace("_", "-")


def _said(meta: Mapping[str, Any], tag: str | None) -> str:
    """``Tag 'value'`` for a reason: the value shortened to 40 characters, control characters dropped."""
    if tag is None:
        return ""
    text = "".join(ch if ch.isprintable() else " " for ch in str(meta.get(tag) or "")).strip()
    text = text if len(text) <= 40 else text[:39] + "…"
    return f"{tag} {text!r}"


__all__ = [
    "MAX_PLAUSIBLE_S",
    "PAPER_TAGS",
    "PRODUCT_TAGS",
    "RELATIVE_ANCHOR_S",
    "RULES",
    "SAME_ACQUISITION_S",
    "HeaderOpinion",
    "HeaderRule",
    "acquisition_seconds",
    "evaluate_header",
    "header_opinion",
    "time_source",
]
