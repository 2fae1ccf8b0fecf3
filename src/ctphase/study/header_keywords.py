"""The words of DICOM headers: phase keywords of SeriesDescription / ProtocolName and the contrast agent's vocabulary.

Free text typed at the scanner (SeriesDescription (0008,103E), PS3.3 C.7.3.1 General Series;
ProtocolName (0018,1030), C.7.3.1) names a phase in many languages and abbreviations; the
Contrast/Bolus Module (C.7.6.4) says whether and how contrast was given. Text is folded
first (:func:`fold`: lower case, accents stripped), so ``Spät`` matches ``spat``.

Two vocabularies share one table (:data:`KEYWORDS`, each entry marked ``use``): the paper's
header baseline (``"paper"`` and ``"both"``: frozen, so that its published results do not move)
and the product's second opinion (``"product"`` and ``"both"``), which adds languages and
abbreviations, reads delays written in the text (``"PV 70s"``, ``"3 min"``) and first removes
false friends (:data:`FALSE_FRIENDS`: ``C-spine``, ``post-op``, ``CT AP`` = abdomen/pelvis, ...).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ..phases import PHASE_NAMES

NON, ART, VEN, OTH = PHASE_NAMES
CONTRAST = "contrast"
"""Pseudo-phase of keywords that say contrast was given without naming a phase."""


@dataclass(frozen=True)
class Keyword:
    """A pattern of header text.

    Attributes:
        phase: a phase label, or ``"contrast"`` (contrast given, phase not named).
        tier: ``"strong"`` (names the phase) or ``"weak"`` (a hint used only when no strong keyword matches).
        pattern: regular expression searched in the folded text (lower case, accents stripped:
            ``venös`` -> ``venos``, ``Spät`` -> ``spat``, ``tardía`` -> ``tardia``; ``_`` -> space).
        examples: texts it must match (checked by the tests).
        use: ``"both"``, ``"paper"`` (the paper's baseline only) or ``"product"`` (the second opinion only).
    """

    phase: str
    tier: str
    pattern: str
    examples: tuple[str, ...]
    use: str = "both"


K = Keyword
KEYWORDS: tuple[Keyword, ...] = (
    # non-contrast: English, German, Spanish, Italian, French, Dutch, scanner shorthand
    K(NON, "strong", r"\bnon[\s\-]?(contrast\w*|con|enhanced|ce)\b", ("NON CON", "non-contrast", "Noncontrast abd")),
    K(NON, "strong", r"\bun[\s\-]?enhanced\b|\bplain\b", ("unenhanced", "Abd plain")),
    K(NON, "strong", r"\bnativ[eoa]?\b", ("NATIVE", "Nativ 5.0 B30f", "fase nativa")),
    K(NON, "strong", r"\bpre[\s\-]?(contrast|kontrast|contraste|con|km|iv)?\b", ("PRE", "PRE LIVER", "pre-contrast")),
    K(NON, "strong", r"\bw/?o\b|\bwithout\s+(iv\s+)?contrast\b", ("WO", "W/O contrast", "without contrast")),
    K(NON, "strong", r"\bohne\s+(km|kontrast\w*)\b", ("Abdomen ohne KM", "ohne Kontrastmittel")),
    K(NON, "strong", r"\bsin\s+(contraste|civ|cte)\b|\bsimple\b|\bbasal\b", ("Sin contraste", "TC simple", "basal")),
    K(NON, "strong", r"\bsenza\s+(mdc|contrasto|mezzo\w*)\b", ("Senza mdc", "senza contrasto")),
    K(NON, "strong", r"\bsans\s+(injection|contraste|iv)\b|\bzonder\s+contrast\b|\bblanco\b", ("sans injection", "blanco")),
    K(NON, "strong", r"\bnc\b|(?<![a-z0-9])c-(?![a-z0-9])", ("ABD NC", "CT C-")),
    K(NON, "strong", r"\bnati[vf]\w*|\b(ne|nc|un)ct\b|\bsans\b|\bohne\b|\bsenza\b|\bzonder\b|\bbez\b",
      ("Nativphase", "natif", "NECT abdomen", "NCCT", "TDM TAP sans inj", "Abdomen ohne", "Bez kontrastu"), "product"),
    K(NON, "strong", r"\bno\s+(iv\s+)?(contrast\w*|km|con)\b|\b(utan|uden|uten)\s+kontrast|平扫|平掃|単純",
      ("no IV contrast", "utan kontrast", "腹部平扫", "単純CT"), "product"),
    # arterial
    K(ART, "strong", r"arteri", ("ARTERIAL", "Arteriell 3.0", "Arteriale", "Fase arterial", "spätarteriell", "artériel")),
    K(ART, "strong", r"\b(art|ap|hap|eap|lap)\b", ("Art", "AP", "HCC Art", "LAP 1.25")),
    K(ART, "strong", r"\bcta\b|\bangio", ("CTA abd", "Angio Aorta")),
    K(ART, "strong", r"\barter(e|es|y)\b|\btetnic|\bartar\b|动脉|動脈", ("artère", "Faza tętnicza", "artär", "动脉期"), "product"),
    K(ART, "weak", r"\b(early|fruh|frueh|precoce|temprana)\b", ("early", "Früh")),
    # venous (portal venous, nephrographic)
    K(VEN, "strong", r"ven(ous|os|osa|oso|euse|eux|ose)\b|\bven\b", ("VENOUS", "venös 3.0 B31f", "Fase venosa", "portalvenös", "VEN")),
    K(VEN, "strong", r"\bportal|\bpfortader", ("Portal venous", "Portale", "portalphase")),
    K(VEN, "strong", r"\b(pv|pvp|vp)\b|nephrogra", ("PV", "PVP 5mm", "nephrographic")),
    K(VEN, "strong", r"\bveine\w*|\bveneu[sz]e?\b|\bvenogra|\bzyln|静脉|靜脈|静脈|门脉|門脈",
      ("phase veineuse", "veneuze fase", "CT venography", "faza żylna", "门静脉期", "静脈相", "門脈相"), "product"),
    # other (delayed, equilibrium, excretory/urographic, transitional)
    K(OTH, "strong", r"\bdelay|\bequilib|\beqp\b|\btransitional\b", ("DELAY", "Delayed 5 min", "equilibrium", "EQP")),
    K(OTH, "strong", r"\b(spat|spaet)(phase)?\b", ("Spät", "Spaetphase")),
    K(OTH, "strong", r"\btardi(v[eao]|f|a|o)?\b|\britard", ("Tardiva", "tardive", "Fase tardía", "ritardata")),
    K(OTH, "strong", r"excret|\burogra|\buro\b|\bpyelo|\bausscheid", ("Excretory", "Urogram", "urographic", "Ausscheidung")),
    K(OTH, "strong", r"\b\d+\s*min\b", ("5 min", "10min"), "paper"),
    K(OTH, "strong", r"\bverzoger|\bgleichgewicht|\bevenwicht|\buitgesteld|\bopozn|延迟|延遲|遅延|排泄|平衡",
      ("verzögert", "Gleichgewicht", "opóźniona", "延迟期", "排泄期", "平衡相"), "product"),
    K(OTH, "weak", r"\blate\b", ("late",)),
    # contrast given, phase not named
    K(CONTRAST, "strong", r"\bc\+|\bwith\s+(iv\s+)?contrast\b|\bw/\s*(iv\s+)?(c|contrast)\b", ("C+", "with contrast", "W/ contrast")),
    K(CONTRAST, "strong", r"\bmit\s+(km|kontrast\w*)\b|\bcon\s+(contraste|mdc|contrasto)\b|\bavec\s+injection\b",
      ("mit KM", "con contraste", "con mdc")),
    K(CONTRAST, "strong", r"\bkm\b|\bcect\b|\bcontrast\w*\b|\benhanced\b|\biv\b", ("KM", "CECT", "contrast", "IV")),
    K(CONTRAST, "strong", r"\bpost[\s\-]?(contrast\w*|kontrast\w*|km|iv|inj\w*)?\b|\bavec\b|\binj(ect\w*)?\b|\bkontrast\w*",
      ("POST", "postcontrast", "avec inj", "injecté", "Kontrastmittel"), "product"),
    K(CONTRAST, "strong", r"\bw(ith)?\s*/?\s*con\b|\bce\b|\bmdc\b|增强|增強|造影", ("W CON", "CE 1mm", "mdc", "增强CT", "造影CT"), "product"),
)
"""Header text keywords. Strong keywords of one phase decide; strong keywords of several phases
are a conflict and decide nothing; weak ones decide only alone."""

FALSE_FRIENDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (r"\bc[\s\-]*(spine|arm|collar)\b", ("C-spine", "C- spine", "C-arm")),
    (r"\bpre[\s\-]?(op\w*|surg\w*|treat\w*|tace|rfa|ablat\w*|therap\w*|transplant\w*|proced\w*|interven\w*)\b",
     ("pre-op", "pre op planning", "pre-TACE")),
    ((r"\bpost[\s\-]?(op\w*|surg\w*|treat\w*|tace|rfa|ablat\w*|embol\w*|therap\w*|transplant\w*|proced\w*|interven\w*"
      r"|mortem|trauma\w*|process\w*|recon\w*)\b|\bpost\.?\s*fossa\b"), ("post-op", "POST TACE", "post fossa", "post processing")),
    (r"\bct[\s\-]ap\b|\bap\s*(/\s*lat|view|scout|topo\w*)\b", ("CT AP", "CT-AP", "AP/LAT", "AP scout")),
    (r"\(\s*a\s*/?\s*p\s*\)", ("LIVER 3 PHASE (AP)", "(A/P)")),  # the region in parentheses: abdomen/pelvis
    (r"\bpv\s*(map\w*|isolation|ablat\w*)\b|\bvp[\s\-]?shunt\b", ("PV mapping", "VP shunt")),
    (r"\bedge[\s\-]?enhanc\w*|\b(high|low|soft[\s\-]?tissue)[\s\-]?contrast\b", ("edge enhanced", "low contrast")),
    (r"\bbasal\s+(ganglia|cistern\w*)\b|\bno\s+delay\b", ("basal ganglia", "no delay")),
)
"""(pattern, examples): phrases that look like a keyword but are not one, removed from the
folded text before the product's keywords are searched (never in the paper's baseline)."""

_SECONDS = re.compile(r"(?<![\d.,])\b(\d{2,3})\s*(s|sec|secs|seconds?|sek|seg|segundos?|secondi)\b")
_MINUTES = re.compile(r"(?<![\d.,])\b(\d{1,2}(?:[.,]\d)?)\s*(min|mins|minutes?|minuten|minutos?|minuti)\b")
_COMPILED = {use: tuple((k, re.compile(k.pattern)) for k in KEYWORDS if k.use in ("both", use)) for use in ("paper", "product")}
_SCRUB = re.compile("|".join(f"(?:{p})" for p, _ in FALSE_FRIENDS))

_NONE_AGENT = re.compile(
    r"^\s*(none|no|nil|n/?a|-+|0|kein\w*|ohne|ninguno|nessuno|aucun\w*|without|not\s+(applied|given|used))\s*$"
)
_NONE_AGENT_MORE = re.compile(
    r"^\s*((no|kein\w*|ohne|without|sans|sin|senza|zonder|geen|bez|non)(\s+iv)?(\s+(contrast\w*|kontrast\w*|km|mdc|agent"
    r"|injection|inj))?(\s+given)?|none\s+given|nein|null|nada|nothing|not\s+administered|0+(\.0*)?\s*ml)\s*$"
)
_ORAL = re.compile(r"\b(oral\w*|per\s*os|p\.?o\.?|gastrografin|barium)\b")
_IV = re.compile(r"\b(iv|i\.v\.|intraven\w*|e\.?v\.?|endoven\w*)\b")
_ENTERAL = re.compile(r"\b(rectal\w*|enteral|carbon\s+dioxide|co2|water)\b")
_ORAL_OR_ENTERAL = re.compile(f"{_ORAL.pattern}|{_ENTERAL.pattern}")


def fold(text: str) -> str:
    """Lower-case ``text`` and strip accents (``"Spät"`` -> ``"spat"``); ``_`` becomes a space."""
    text = unicodedata.normalize("NFKD", str(text)).replace("ß", "ss")
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return text.casefold().replace("_", " ")


def scrub(folded: str) -> str:
    """Folded text with the :data:`FALSE_FRIENDS` blanked out (``"c-spine"`` -> ``" "``)."""
    return _SCRUB.sub(" ", folded)


def delay_phase(folded: str) -> str | None:
    """The phase of a delay written in folded text (``"pv 70s"`` -> venous, ``"3 min"`` -> other), or None.

    Seconds need two or three digits (``"0.6s"``, ``"B30s"`` kernels and ``"1s"`` rotation times
    are not delays); thresholds are those of :func:`phase_from_delay`.
    """
    m = _SECONDS.search(folded)
    if m:
        return phase_from_delay(float(m.group(1))) if int(m.group(1)) > 0 else None
    m = _MINUTES.search(folded)
    if m:
        minutes = float(m.group(1).replace(",", "."))
        return phase_from_delay(60.0 * minutes) if minutes > 0 else None
    return None


ARTERIAL_MAX_S = 45.0
VENOUS_MIN_S = 50.0
VENOUS_MAX_S = 100.0
OTHER_MIN_S = 150.0


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


@lru_cache(maxsize=4096)
def _text_phases(text: str, paper: bool) -> tuple[frozenset[str], frozenset[str]]:
    strong: set[str] = set()
    weak: set[str] = set()
    folded = fold(text)
    if not paper:
        folded = scrub(folded)
        delay = delay_phase(folded)
        if delay is not None:
            strong.add(delay)
    for kw, pattern in _COMPILED["paper" if paper else "product"]:
        if pattern.search(folded):
            (strong if kw.tier == "strong" else weak).add(kw.phase)
    if NON in strong:
        strong.discard(CONTRAST)  # "non contrast", "ohne KM" also contain the generic words
    return frozenset(strong), frozenset(weak)


def description_phases(description: str | None, *, paper: bool = False) -> tuple[set[str], set[str]]:
    """Phases named by header text (SeriesDescription, ProtocolName): (strong, weak) sets of phase labels or ``"contrast"``.

    ``paper=True`` uses the paper baseline's frozen vocabulary (no false friends removed, no delays read).
    """
    if not description:
        return set(), set()
    strong, weak = _text_phases(str(description), paper)
    return set(strong), set(weak)


def text_phase(text: str | None, *, paper: bool = False) -> tuple[str | None, str, bool]:
    """What header text decides: (phase or None, ``"strong"``/``"weak"``/``""``, contrast evidence)."""
    strong, weak = description_phases(text, paper=paper)
    named = strong - {CONTRAST}
    if len(named) == 1:
        phase = next(iter(named))
        return phase, "strong", phase != NON
    if len(named) > 1:
        return None, "", NON not in named  # a conflict decides nothing
    if CONTRAST in strong:
        return None, "", True
    weak_named = weak - {CONTRAST}
    if len(weak_named) == 1:
        return next(iter(weak_named)), "weak", True
    return None, "", False


def _volume(meta: Mapping[str, Any]) -> float | None:
    try:
        v = float(str(meta.get("ContrastBolusVolume") or "").split("\\")[0])
    except ValueError:
        return None
    return v if math.isfinite(v) and v >= 0 else None  # NaN, infinite and negative volumes are typing errors


def agent_evidence(meta: Mapping[str, Any], *, paper: bool = False) -> tuple[str, str | None]:
    """Classify the Contrast/Bolus Module (PS3.3 C.7.6.4): (kind, tag that decided).

    kind: ``"absent"``, ``"none"``, ``"oral"`` or ``"iv"``. Reads ContrastBolusAgent
    (0018,0010) and ContrastBolusRoute (0018,1040); unless ``paper``, also ContrastBolusIngredient
    (0018,1048: ``BARIUM`` is oral) and ContrastBolusVolume (0018,1041: 0 ml is none, more is
    contrast) when the agent is absent, and more ways to write "none" (``no contrast``, ``sans``).
    """
    agent = fold(str(meta.get("ContrastBolusAgent") or "")).strip()
    route = fold(str(meta.get("ContrastBolusRoute") or "")).strip()
    tag = "ContrastBolusAgent"
    oral = _ORAL if paper else _ORAL_OR_ENTERAL
    if not agent and not paper:
        agent, tag = fold(str(meta.get("ContrastBolusIngredient") or "")).strip(), "ContrastBolusIngredient"
        volume = _volume(meta)
        if not agent and volume is not None:
            return ("none" if volume == 0 else "oral" if oral.search(route) else "iv"), "ContrastBolusVolume"
    if not agent:
        return "absent", None
    if _NONE_AGENT.match(agent) or (not paper and _NONE_AGENT_MORE.match(agent)):
        return "none", tag
    if oral.search(agent) and not _IV.search(agent) and not _IV.search(route):
        return "oral", tag
    if route and oral.search(route) and not _IV.search(agent):
        return "oral", "ContrastBolusRoute"
    return "iv", tag


def agent_kind(meta: Mapping[str, Any], *, paper: bool = False) -> str:
    """``"absent"``, ``"none"``, ``"oral"`` or ``"iv"``: the kind of :func:`agent_evidence`."""
    return agent_evidence(meta, paper=paper)[0]


__all__ = [
    "CONTRAST",
    "FALSE_FRIENDS",
    "KEYWORDS",
    "Keyword",
    "agent_evidence",
    "agent_kind",
    "delay_phase",
    "description_phases",
    "fold",
    "phase_from_delay",
    "scrub",
    "text_phase",
]
