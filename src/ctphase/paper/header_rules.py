"""Header-only baseline: the contrast phase from DICOM header text and timing, no pixels.

This is what a curator does with a spreadsheet of DICOM tags, written down as explicit rules so
that its accuracy can be measured next to the image-based classifiers. It reads only the tags
ctphase keeps in ``Series.meta`` (:data:`ctphase.io.dicom_header.META_KEYWORDS`): SeriesDescription,
ContrastBolusAgent, ContrastBolusRoute, ContrastBolusStartTime and AcquisitionTime (DICOM
PS3.3 C.7.6.4 Contrast/Bolus Module and C.7.6.1 General Image Module). Headers are typed by
hand and often wrong or missing: the baseline follows its rules and nothing else, and says
which rule fired, so that results can be broken down by rule.

Rules, tried in order; the first that decides wins (:data:`RULES`):

====  ==============================  =====================================================================
 #    rule                            fires when / gives
====  ==============================  =====================================================================
 1    ``no_header``                   none of the five tags above (e.g. NIfTI): ``None``
 2    ``timing_before_bolus``         AcquisitionTime before the ContrastBolusStartTime of the series or,
                                      if it has none, the earliest one of its study: non_contrast
 2    ``timing_bolus``                t = AcquisitionTime - bolus start: t <= 45 s arterial, 50-100 s
                                      venous, > 150 s other (45-50 s and 100-150 s: not decided here)
 3    ``description``                 SeriesDescription strong keywords name exactly one phase
                                      (:data:`KEYWORDS`, several languages)
 3    ``description_weak``            no strong keyword; weak keywords (early, late, ...) name one phase
 4    ``agent_none``                  ContrastBolusAgent says none (NONE, NO, N/A, -, kein, ...): non_contrast
 4    ``agent_oral_only``             the agent (or route) is oral only, nothing intravenous: non_contrast
 5    ``timing_before_first_contrast``  acquired > 10 s before the study's earliest series with contrast
                                      evidence: non_contrast
 5    ``timing_relative_first_contrast``  the study holds >= 2 acquisition times with contrast: the earliest is
                                      assumed at 35 s (late arterial, the usual first multiphase scan),
                                      t = 35 s + delay since it, then the thresholds of rule 2
 6    ``contrast_phase_unknown``      contrast evident (agent given, or "C+", "mit KM", ...) but no phase:
                                      ``contrast_default`` (``None`` unless asked)
 7    ``agent_absent``                no ContrastBolusAgent and no contrast evidence: non_contrast
====  ==============================  =====================================================================

"Contrast evidence" of a series: its description names a contrast phase or says contrast
generically, or (without a non-contrast description) its agent is given and not oral only.
Times are DICOM TM values (``HHMMSS.FFFFFF``, also ``HH:MM:SS``); differences are wrapped
across midnight. ``Series.meta["AcquisitionTime"]`` is the first slice's, which for a
cranio-caudal scan is up to a scan duration (a few seconds) late: the thresholds have margins.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from ..phases import PHASE_NAMES

NON, ART, VEN, OTH = PHASE_NAMES
CONTRAST = "contrast"
"""Pseudo-phase of keywords that say contrast was given without naming a phase."""

ARTERIAL_MAX_S = 45.0
VENOUS_MIN_S = 50.0
VENOUS_MAX_S = 100.0
OTHER_MIN_S = 150.0
RELATIVE_ANCHOR_S = 35.0
"""Assumed time after injection of the earliest contrast series of a multiphase study."""
SAME_ACQUISITION_S = 10.0
"""Acquisition times closer than this count as one acquisition (several reconstructions)."""
MAX_PLAUSIBLE_S = 2 * 3600.0
"""Delays beyond this are taken as wrong tags and ignored."""

TIMING_TAGS = ("ContrastBolusStartTime", "AcquisitionTime")
HEADER_TAGS = ("SeriesDescription", "ContrastBolusAgent", "ContrastBolusRoute", *TIMING_TAGS)


@dataclass(frozen=True)
class HeaderRule:
    """One row of the rule table: its name, its order and what it does."""

    order: int
    name: str
    gives: str


RULES: tuple[HeaderRule, ...] = (
    HeaderRule(1, "no_header", "None: no phase-relevant tag at all"),
    HeaderRule(2, "timing_before_bolus", "non_contrast: acquired before the bolus start"),
    HeaderRule(2, "timing_bolus", "phase by AcquisitionTime - ContrastBolusStartTime"),
    HeaderRule(3, "description", "the one phase named by strong SeriesDescription keywords"),
    HeaderRule(3, "description_weak", "the one phase named by weak keywords (early/late)"),
    HeaderRule(4, "agent_none", "non_contrast: ContrastBolusAgent says none"),
    HeaderRule(4, "agent_oral_only", "non_contrast: oral contrast only"),
    HeaderRule(5, "timing_before_first_contrast", "non_contrast: before the study's first contrast series"),
    HeaderRule(5, "timing_relative_first_contrast", "phase by 35 s + delay after the study's first contrast series"),
    HeaderRule(6, "contrast_phase_unknown", "contrast_default (None): contrast given, phase unknown"),
    HeaderRule(7, "agent_absent", "non_contrast: no agent and no contrast evidence"),
)
"""The rule table, in the order the rules are tried (names are what :func:`predict_from_header` returns)."""


@dataclass(frozen=True)
class Keyword:
    """A SeriesDescription pattern.

    Attributes:
        phase: a phase label, or ``"contrast"`` (contrast given, phase not named).
        tier: ``"strong"`` (names the phase) or ``"weak"`` (a hint used only when no strong keyword matches).
        pattern: regular expression searched in the folded description (lower case, accents
            stripped: ``venös`` -> ``venos``, ``Spät`` -> ``spat``, ``tardía`` -> ``tardia``; ``_`` -> space).
        examples: descriptions it must match (checked by the tests).
    """

    phase: str
    tier: str
    pattern: str
    examples: tuple[str, ...]


KEYWORDS: tuple[Keyword, ...] = (
    # non-contrast: English, German, Spanish, Italian, French, Dutch, scanner shorthand
    Keyword(NON, "strong", r"\bnon[\s\-]?(contrast\w*|con|enhanced|ce)\b", ("NON CON", "non-contrast", "Noncontrast abd")),
    Keyword(NON, "strong", r"\bun[\s\-]?enhanced\b|\bplain\b", ("unenhanced", "Abd plain")),
    Keyword(NON, "strong", r"\bnativ[eoa]?\b", ("NATIVE", "Nativ 5.0 B30f", "fase nativa")),
    Keyword(NON, "strong", r"\bpre[\s\-]?(contrast|kontrast|contraste|con|km|iv)?\b", ("PRE", "PRE LIVER", "pre-contrast")),
    Keyword(NON, "strong", r"\bw/?o\b|\bwithout\s+(iv\s+)?contrast\b", ("WO", "W/O contrast", "without contrast")),
    Keyword(NON, "strong", r"\bohne\s+(km|kontrast\w*)\b", ("Abdomen ohne KM", "ohne Kontrastmittel")),
    Keyword(NON, "strong", r"\bsin\s+(contraste|civ|cte)\b|\bsimple\b|\bbasal\b", ("Sin contraste", "TC simple", "basal")),
    Keyword(NON, "strong", r"\bsenza\s+(mdc|contrasto|mezzo\w*)\b", ("Senza mdc", "senza contrasto")),
    Keyword(NON, "strong", r"\bsans\s+(injection|contraste|iv)\b|\bzonder\s+contrast\b|\bblanco\b", ("sans injection", "blanco")),
    Keyword(NON, "strong", r"\bnc\b|(?<![a-z0-9])c-(?![a-z0-9])", ("ABD NC", "CT C-")),
    # arterial
    Keyword(ART, "strong", r"arteri", ("ARTERIAL", "Arteriell 3.0", "Arteriale", "Fase arterial", "spätarteriell")),
    Keyword(ART, "strong", r"\b(art|ap|hap|eap|lap)\b", ("Art", "AP", "HCC Art", "LAP 1.25")),
    Keyword(ART, "strong", r"\bcta\b|\bangio", ("CTA abd", "Angio Aorta")),
    Keyword(ART, "weak", r"\b(early|fruh|frueh|precoce|temprana)\b", ("early", "Früh")),
    # venous (portal venous, nephrographic)
    Keyword(VEN, "strong", r"ven(ous|os|osa|oso|euse|eux|ose)\b|\bven\b", ("VENOUS", "venös 3.0 B31f", "Fase venosa", "portalvenös", "VEN")),
    Keyword(VEN, "strong", r"\bportal|\bpfortader", ("Portal venous", "Portale", "portalphase")),
    Keyword(VEN, "strong", r"\b(pv|pvp|vp)\b|nephrogra", ("PV", "PVP 5mm", "nephrographic")),
    # other (delayed, equilibrium, excretory/urographic, transitional)
    Keyword(OTH, "strong", r"\bdelay|\bequilib|\beqp\b|\btransitional\b", ("DELAY", "Delayed 5 min", "equilibrium", "EQP")),
    Keyword(OTH, "strong", r"\b(spat|spaet)(phase)?\b", ("Spät", "Spaetphase")),
    Keyword(OTH, "strong", r"\btardi(v[eao]|f|a|o)?\b|\britard", ("Tardiva", "tardive", "Fase tardía", "ritardata")),
    Keyword(OTH, "strong", r"excret|\burogra|\buro\b|\bpyelo|\bausscheid", ("Excretory", "Urogram", "urographic", "Ausscheidung")),
    Keyword(OTH, "strong", r"\b\d+\s*min\b", ("5 min", "10min")),
    Keyword(OTH, "weak", r"\blate\b", ("late",)),
    # contrast given, phase not named
    Keyword(CONTRAST, "strong", r"\bc\+|\bwith\s+(iv\s+)?contrast\b|\bw/\s*(iv\s+)?(c|contrast)\b", ("C+", "with contrast", "W/ contrast")),
    Keyword(CONTRAST, "strong", r"\bmit\s+(km|kontrast\w*)\b|\bcon\s+(contraste|mdc|contrasto)\b|\bavec\s+injection\b", ("mit KM", "con contraste", "con mdc")),
    Keyword(CONTRAST, "strong", r"\bkm\b|\bcect\b|\bcontrast\w*\b|\benhanced\b|\biv\b", ("KM", "CECT", "contrast", "IV")),
)
"""SeriesDescription keywords. Strong keywords of one phase decide (rule ``description``); strong
keywords of several phases are a conflict and decide nothing; weak ones decide only alone."""

_NONE_AGENT = re.compile(
    r"^\s*(none|no|nil|n/?a|-+|0|kein\w*|ohne|ninguno|nessuno|aucun\w*|without|not\s+(applied|given|used))\s*$"
)
_ORAL = re.compile(r"\b(oral\w*|per\s*os|p\.?o\.?|gastrografin|barium)\b")
_IV = re.compile(r"\b(iv|i\.v\.|intraven\w*|e\.?v\.?|endoven\w*)\b")
_PHASES = (NON, ART, VEN, OTH)


def fold(text: str) -> str:
    """Lower-case ``text`` and strip accents (``"Spät"`` -> ``"spat"``); ``_`` becomes a space."""
    text = unicodedata.normalize("NFKD", str(text)).replace("ß", "ss")
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return text.casefold().replace("_", " ")


def description_phases(description: str | None) -> tuple[set[str], set[str]]:
    """Phases named by a SeriesDescription: (strong, weak) sets of phase labels or ``"contrast"``."""
    strong: set[str] = set()
    weak: set[str] = set()
    if not description:
        return strong, weak
    text = fold(description)
    for kw in KEYWORDS:
        if re.search(kw.pattern, text):
            (strong if kw.tier == "strong" else weak).add(kw.phase)
    if NON in strong:
        strong.discard(CONTRAST)  # "non contrast", "ohne KM" also contain the generic words
    return strong, weak


def _description_phase(description: str | None) -> tuple[str | None, str | None, bool]:
    """(phase, rule name, contrast evidence) from the description alone."""
    strong, weak = description_phases(description)
    named = strong - {CONTRAST}
    if len(named) == 1:
        return next(iter(named)), "description", next(iter(named)) != NON
    if len(named) > 1:
        return None, None, NON not in named  # a conflict decides nothing
    if CONTRAST in strong:
        return None, None, True
    weak_named = weak - {CONTRAST}
    if len(weak_named) == 1:
        return next(iter(weak_named)), "description_weak", True
    return None, None, False


def agent_kind(meta: dict[str, Any]) -> str:
    """Classify ContrastBolusAgent (+ ContrastBolusRoute): ``"absent"``, ``"none"``, ``"oral"`` or ``"iv"``."""
    agent = fold(str(meta.get("ContrastBolusAgent") or "")).strip()
    route = fold(str(meta.get("ContrastBolusRoute") or "")).strip()
    if not agent:
        return "absent"
    if _NONE_AGENT.match(agent):
        return "none"
    if _ORAL.search(agent) and not _IV.search(agent) and not _IV.search(route):
        return "oral"
    if route and _ORAL.search(route) and not _IV.search(agent):
        return "oral"
    return "iv"


def parse_tm(value: Any) -> float | None:
    """Seconds since midnight of a DICOM TM value (``HHMMSS.FFFFFF``, ``HHMM``, ``HH:MM:SS``), or None."""
    if value is None:
        return None
    text = str(value).strip().split("\\")[0].replace(":", "")
    m = re.fullmatch(r"(\d{2})(\d{2})?(\d{2})?(\.\d+)?", text)
    if not m:
        return None
    h, mi, s = int(m.group(1)), int(m.group(2) or 0), int(m.group(3) or 0)
    if h > 23 or mi > 59 or s > 60:
        return None
    return h * 3600.0 + mi * 60.0 + s + (float(m.group(4)) if m.group(4) else 0.0)


def _delta(t: float, ref: float) -> float:
    d = t - ref
    if d < -43200:
        d += 86400
    elif d > 43200:
        d -= 86400
    return d


def phase_from_delay(seconds: float) -> str | None:
    """Phase for a delay after injection: <= 45 s arterial, 50-100 s venous, > 150 s other, else None.

    Negative delays give ``non_contrast``.
    """
    if seconds < 0:
        return NON
    if seconds <= ARTERIAL_MAX_S:
        return ART
    if VENOUS_MIN_S <= seconds <= VENOUS_MAX_S:
        return VEN
    if seconds > OTHER_MIN_S:
        return OTH
    return None


def _contrast_evidence(meta: dict[str, Any]) -> bool:
    phase, _, evidence = _description_phase(meta.get("SeriesDescription"))
    if phase == NON:
        return False
    return evidence or agent_kind(meta) == "iv"


def predict_from_header(
    meta: dict[str, Any],
    study_context: Sequence[dict[str, Any]] | None = None,
    *,
    contrast_default: str | None = None,
) -> tuple[str | None, str]:
    """Phase of one series from its header, by the rules of :data:`RULES`.

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
    if not any(meta.get(tag) not in (None, "") for tag in HEADER_TAGS):
        return None, "no_header"

    # 2: absolute timing against the bolus start of the series or of its study
    t_acq = parse_tm(meta.get("AcquisitionTime"))
    t_bolus = parse_tm(meta.get("ContrastBolusStartTime"))
    if t_bolus is None and t_acq is not None:
        starts = [t for t in (parse_tm(m.get("ContrastBolusStartTime")) for m in context) if t is not None]
        if starts:
            t_bolus = min(starts, key=lambda t: _delta(t, t_acq))  # the earliest relative to this scan
    if t_acq is not None and t_bolus is not None:
        delay = _delta(t_acq, t_bolus)
        if abs(delay) <= MAX_PLAUSIBLE_S:
            phase = phase_from_delay(delay)
            if phase == NON:
                return NON, "timing_before_bolus"
            if phase is not None:
                return phase, "timing_bolus"

    # 3: description keywords
    phase, rule, evidence = _description_phase(meta.get("SeriesDescription"))
    if phase is not None and rule is not None:
        return phase, rule

    # 4: the agent says none / oral only
    kind = agent_kind(meta)
    if kind == "none":
        return NON, "agent_none"
    if kind == "oral":
        return NON, "agent_oral_only"
    evidence = evidence or kind == "iv"

    # 5: timing relative to the study's first contrast series
    if t_acq is not None and context:
        times = [t for t in (parse_tm(m.get("AcquisitionTime")) for m in context if _contrast_evidence(m)) if t is not None]
        if evidence:
            times.append(t_acq)
        if times:
            first = min(times, key=lambda t: _delta(t, t_acq))
            delay = _delta(t_acq, first)
            if delay < -SAME_ACQUISITION_S:
                return NON, "timing_before_first_contrast"
            acquisitions = _count_acquisitions([*times, t_acq], first)
            if acquisitions >= 2 and delay <= MAX_PLAUSIBLE_S:
                phase = phase_from_delay(RELATIVE_ANCHOR_S + max(delay, 0.0))
                if phase is not None:
                    return phase, "timing_relative_first_contrast"

    # 6, 7
    if evidence:
        return contrast_default, "contrast_phase_unknown"
    return NON, "agent_absent"


def _count_acquisitions(times: Iterable[float], ref: float) -> int:
    rel = sorted(_delta(t, ref) for t in times)
    count, last = 0, None
    for r in rel:
        if last is None or r - last > SAME_ACQUISITION_S:
            count += 1
            last = r
    return count


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
