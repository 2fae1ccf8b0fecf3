"""Header text and clocks of realistic synthetic studies (``ctphase synth --studies realistic``).

What a real archive's headers say about the contrast phase, right, missing or wrong: series
descriptions with phase words in several languages and the usual abbreviations, protocol and
study names, the Contrast/Bolus attributes, and the date and time attributes as scanners,
exports and de-identification leave them (removed, rounded to the minute, shifted on one
series, across midnight). :mod:`ctphase.synth.studies` draws a study and calls these helpers;
every proportion is set and explained here or there.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .studies import Acquisition, SeriesPlan, StudyPlan

PHASE_WORDS: dict[str, tuple[str, ...]] = {
    # words that name one phase (English, German, French, Italian, Spanish, Dutch, Polish; abbreviations)
    "non_contrast": ("Nativ", "NATIVE", "non contrast", "NC", "Sans IV", "sans injection", "C-", "w/o", "PRE",
                     "Senza mdc", "Sin contraste", "blanco", "plain", "ohne KM", "Basale", "bez kontrastu", "WO"),
    "arterial": ("Arterial", "art", "ART", "arteriell", "Artériel", "Arteriale", "Fase arterial", "AP", "HAP",
                 "Pankreas", "pancreatic", "CTA", "arteriële fase", "Art. Phase"),
    "venous": ("PV", "portal", "Portal venous", "ven", "venös", "Venous", "Veineux", "Portale", "Portalvenös",
               "Fase venosa", "Venosa", "Nephro", "portal 70s", "veneuze fase", "VP"),
    "other": ("delay", "Delayed", "Spät", "Spätphase", "Tardif", "Tardiva", "Fase tardía", "Equilibrium", "EQ",
              "Urogram", "Ausscheidung", "Excretory", "5 min", "10min", "Urographie"),
}
"""Phase words by the label they name. The slot of a protocol is named, not the true timing:
a scan meant to be arterial that came late is still called arterial (then ``header_text`` is wrong)."""
SLOT_WORDS: dict[str, tuple[str, ...]] = {
    "EA": ("early art", "früh arteriell", "EAP", "art 1", "arterial early"),
    "LA": ("late art", "spät arteriell", "LAP", "art 2", "arterial late"),
    "SB": ("split bolus", "Polytrauma", "Trauma KM", "Schockraum", "Trauma C+"),
}
"""Words of slots that are not one of the four labels (``SB``, a split bolus, names no single phase)."""
CONTRAST_WORDS = ("C+", "KM", "mit KM", "con contraste", "avec injection", "IV contrast", "+KM", "CE")
"""Words that say contrast was given without naming a phase."""
GENERIC = ("Abdomen", "Abdomen/Becken", "ABD/PELVIS", "Body", "AXIAL", "TC ADDOME", "Thorax-Abdomen", "Oberbauch",
           "Routine", "Abd Pel", "CAP", "Abdomen^Routine", "Recon 2", "ABDOMEN 5mm")
SECOND_INJECTION = (" 2. KM", " repeat", " Nachinjektion", " 2nd inj", " bis")
PROTOCOL_NAMES: dict[str, tuple[str, ...]] = {
    "generic": ("Abdomen", "ABD_PEL_ROUTINE", "Abdomen/Becken", "TC ADDOME", "Abdomen^01_Routine", "3.2 ABD/PEL",
                "Thorax-Abdomen-Becken", "TAP", "Body", "Abdomen KM"),
    "liver": ("Leber 3-Phasen", "LIVER 3 PHASE", "Foie 3 temps", "Fegato trifasico", "HCC protocol", "Liver_Multiphase"),
    "pancreas": ("Pankreas", "PANCREAS 2 PHASE", "Pancreas protocol", "Oberbauch biphasisch"),
    "urography": ("Urographie", "CT UROGRAM", "Uro-CT", "Renal mass", "Niere 3-Phasen"),
    "trauma": ("Polytrauma", "TRAUMA SPLIT BOLUS", "Schockraum", "Trauma WB"),
    "nc_v": ("Abdomen nativ + KM", "ABD WO/W", "Nebenniere", "Abdomen C-/C+"),
}
STUDY_DESCRIPTIONS = ("CT ABDOMEN", "CT Abdomen mit KM", "CT ABD PELVIS W CONTRAST", "TC ADDOME", "CT Oberbauch",
                      "Scanner abdomino-pelvien", "TAC ABDOMEN", "CT ABD/PEL WO/W", "CT Thorax/Abdomen", "ABDOMEN")
AGENTS = ("Omnipaque 350", "IOMERON 400", "Ultravist 370", "Visipaque 320", "Imeron 350", "Xenetix 350", "APPLIED",
          "C+", "IV CONTRAST", "Iopamiro 370")

DESCRIPTION_STYLES = (("phase", 0.55), ("generic", 0.35), ("empty", 0.10))
"""How a site names its series. ``phase``: the slot's phase word in most series; ``generic``:
region and reconstruction only, a phase word in a few; ``empty``: no SeriesDescription. Chosen
to give phase words in about half of all series, 5% of them wrong: real archives name the
phase inconsistently, and protocols reused outside their context leave stale names (Gueld et
al., Proc. SPIE 4685, 2002: 15% of Body Part Examined tags wrong for that reason)."""
CONTRAST_STYLES = (("none", 0.55), ("recorded", 0.27), ("study_wide", 0.18))
"""Contrast/Bolus attributes. ``none``: never filled; ``recorded``: on the enhanced series (NC
series without, or "NONE"); ``study_wide``: typed once per exam and copied onto every series,
the non-contrast one included. The module is user-optional (type 3 / conditional, filled only
when the operator types it or an injector is connected), hence missing or wrong in most series,
as the issue asks."""
P_WRONG_SLOT_NAME = 0.06
"""Share of acquisitions whose description names another phase (a stale slot name)."""
P_INJECTOR_LOGGED = 0.3
"""Share of studies with contrast tags whose injector writes ContrastBolusStartTime (~13% of all)."""


def pick(rng: np.random.Generator, options: Sequence[Any]) -> Any:
    """One of ``options``, uniformly."""
    return options[int(rng.integers(len(options)))]


def pick_weighted(rng: np.random.Generator, table: Sequence[tuple[Any, float]]) -> Any:
    """A key of ``((key, probability), ...)``."""
    u = rng.random() * sum(p for _, p in table)
    for key, p in table:
        u -= p
        if u < 0:
            return key
    return table[-1][0]


def verdict(named: str | None, label: str) -> str:
    """``right``, ``missing`` or ``wrong``: what a phase word (a label, ``contrast`` or None) says of ``label``."""
    if named is None:
        return "missing"
    if named == "contrast":
        return "wrong" if label == "non_contrast" else "missing"
    return "right" if named == label else "wrong"


def slot_word(rng: np.random.Generator, slot: str, label: str) -> tuple[str, str | None]:
    """A phase word for an acquisition of protocol slot ``slot``, and the label it names (or None, ``contrast``)."""
    named = {"NC": "non_contrast", "A": "arterial", "EA": "arterial", "LA": "arterial", "A2": "arterial",
             "V": "venous", "V2": "venous", "D": "other", "U": "other", "SB": None}[slot]
    if rng.random() < P_WRONG_SLOT_NAME:
        named = pick(rng, [k for k in PHASE_WORDS if k != label])
        return pick(rng, PHASE_WORDS[named]), named
    if slot in SLOT_WORDS and rng.random() < 0.7:
        return pick(rng, SLOT_WORDS[slot]), named
    if named is None:
        return pick(rng, CONTRAST_WORDS), "contrast"
    word = pick(rng, PHASE_WORDS[named])
    return (word + pick(rng, SECOND_INJECTION), named) if slot.endswith("2") else (word, named)


def recon_suffix(rng: np.random.Generator, vendor: str, thickness: float, kernel_name: str) -> str:
    """The reconstruction part of a description, in the vendor's habit (e.g. ``1.0 B30f``, ``5mm``)."""
    if vendor == "SIEMENS":
        return f"{thickness:.1f} {kernel_name}"
    if vendor == "GE MEDICAL SYSTEMS":
        return f"{thickness:g}mm" if rng.random() < 0.7 else f"{thickness:g} {kernel_name}"
    return f"{thickness:g}mm {kernel_name}" if rng.random() < 0.5 else f"{thickness:g}"


def describe(rng: np.random.Generator, style: str, word: tuple[str, str | None], recon: str, plane: str,
             suffix: str) -> tuple[str | None, str | None]:
    """SeriesDescription of one series and the label its phase word names (None: no phase word)."""
    if style == "empty":
        return (None if rng.random() < 0.7 else ""), None
    text, named = word
    use_word = rng.random() < (0.9 if style == "phase" else 0.2)
    if plane != "axial":
        use_word = use_word and rng.random() < 0.5
        head = pick(rng, ("Cor", "COR", "Coronal", "MPR cor") if plane == "coronal" else ("Sag", "SAG", "Sagittal", "MPR sag"))
        return (f"{head} {text} 3mm" if use_word else f"{head} 3mm"), (named if use_word else None)
    if not use_word:
        bone = recon == "bone" and rng.random() < 0.5
        return f"{pick(rng, ('Bone', 'Knochen', 'BONE') if bone else GENERIC)} {suffix}", None
    if recon == "bone" and rng.random() < 0.4:
        text = f"{text} Knochen"
    if rng.random() < 0.3:
        return f"{pick(rng, GENERIC)} {text} {suffix}", named
    return f"{text} {suffix}", named


def protocol_name(rng: np.random.Generator, protocol: str) -> str | None:
    """ProtocolName of a study (absent in 15%): the protocol's kind, or a generic name."""
    if rng.random() < 0.15:
        return None
    kind = "generic"
    if rng.random() < 0.7:
        if "EA" in protocol or protocol.startswith("NC+A+V"):
            kind = "liver"
        elif protocol in ("A+V",):
            kind = "pancreas"
        elif "excretory" in protocol:
            kind = "urography"
        elif "split" in protocol:
            kind = "trauma"
        elif protocol == "NC+V":
            kind = "nc_v"
    return pick(rng, PROTOCOL_NAMES[kind])


def contrast_tags(rng: np.random.Generator, style: str, acq: Acquisition, agent: str, volume_ml: int,
                  injections: Sequence[dt.datetime], logged: bool) -> tuple[dict[str, Any], str, dt.datetime | None]:
    """ContrastBolus Agent/Route/Volume of one acquisition's series (None: absent), their verdict, and the
    bolus start time the injector logged (None: not logged). ``agent``: the study's contrast agent."""
    tags: dict[str, Any] = dict.fromkeys(("ContrastBolusAgent", "ContrastBolusRoute", "ContrastBolusVolume"))
    enhanced = acq.label != "non_contrast"
    if style == "none":
        return tags, "missing", None
    if not enhanced and style == "recorded":
        if rng.random() < 0.3:
            tags["ContrastBolusAgent"] = pick(rng, ("NONE", "", "NO"))
        return tags, "right", None
    stale = enhanced and rng.random() < 0.05
    tags["ContrastBolusAgent"] = "NONE" if stale else agent
    if not stale and rng.random() < 0.6:
        tags["ContrastBolusRoute"] = pick(rng, ("IV", "INTRAVENOUS", "IV BOLUS"))
    if not stale and rng.random() < 0.5:
        tags["ContrastBolusVolume"] = str(volume_ml)
    start = injections[acq.injection - 1] if enhanced and logged and not stale else None
    return tags, ("wrong" if stale or not enhanced else "right"), start


def clock_tags(study: StudyPlan, acq: Acquisition, sp: SeriesPlan, frac: float) -> dict[str, Any]:
    """Acquisition and content date/time of the image at ``frac`` (0 top .. 1 bottom) of the scan range."""
    if sp.plane == "axial":
        t_acq = acq.start + dt.timedelta(seconds=frac * acq.scan_seconds if study.per_image_times else 0.0)
        t_content = t_acq + dt.timedelta(seconds=sp.content_delay_s)
    else:
        t_acq, t_content = acq.start, sp.created
    return {
        "AcquisitionDate": fmt_date(study, sp, t_acq), "AcquisitionTime": fmt_time(study, sp, t_acq),
        "ContentDate": fmt_date(study, sp, t_content), "ContentTime": fmt_time(study, sp, t_content),
        "AcquisitionDateTime": fmt_time(study, sp, t_acq, datetime=True) if study.acquisition_datetime else None,
    }


def series_clock_tags(study: StudyPlan, acq: Acquisition, sp: SeriesPlan, logged_start: dt.datetime | None) -> dict[str, Any]:
    """Study, series and bolus dates and times of a series (the same on all its images)."""
    return {
        "StudyDate": study.registered.strftime("%Y%m%d"), "StudyTime": fmt_time(study, None, study.registered),
        "SeriesDate": fmt_date(study, sp, sp.created), "SeriesTime": fmt_time(study, sp, sp.created),
        "ContrastBolusStartTime": None if logged_start is None else fmt_time(study, None, logged_start),
    }


def fmt_date(study: StudyPlan, sp: SeriesPlan | None, t: dt.datetime) -> str:
    """DA of ``t`` on the series' clock (shifted when its times are wrong); dates survive de-identification."""
    if sp is not None and sp.shift_s:
        t = t + dt.timedelta(seconds=sp.shift_s)
    return t.strftime("%Y%m%d")


def fmt_time(study: StudyPlan, sp: SeriesPlan | None, t: dt.datetime, datetime: bool = False) -> str | None:
    """TM (or DT) of ``t`` as the study's archive keeps it: true, rounded to the minute, or removed/emptied."""
    if study.timing == "missing":
        return None if study.missing_kind == "removed" else ""
    if sp is not None and sp.shift_s:
        t = t + dt.timedelta(seconds=sp.shift_s)
    if study.timing == "rounded":
        return t.strftime("%Y%m%d%H%M00" if datetime else "%H%M00")
    return t.strftime("%Y%m%d%H%M%S.%f" if datetime else "%H%M%S.%f")
