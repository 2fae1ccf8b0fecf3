"""The series of a realistic study: reconstructions and reformats of each acquisition, their numbers,
UIDs, clocks and header values (see :mod:`ctphase.synth.studies`).

Reconstruction sets, drawn per study and kept for 80% of its acquisitions (:data:`RECON_SETS`):
a thin soft-tissue series for reformats and 3D next to a thick one for reading is the norm of
current PACS; older or storage-limited archives keep only the thick one, research exports often
only the thin one; a bone-kernel series is added for trauma, oncology and spine review. Coronal
and sagittal reformats are made mostly of the main (venous) acquisition.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import replace
from typing import Any

import numpy as np

from .dicom_writer import make_uid
from .series import body_width_mm
from .studies import Acquisition, SeriesPlan, StudyPlan
from .studies_headers import (
    AGENTS,
    CONTRAST_STYLES,
    DESCRIPTION_STYLES,
    P_INJECTOR_LOGGED,
    clock_tags,
    contrast_tags,
    describe,
    pick,
    pick_weighted,
    protocol_name,
    recon_suffix,
    series_clock_tags,
    slot_word,
    verdict,
)

RECON_SETS = ((("thick soft",), 0.18), (("thin soft",), 0.12), (("thin soft", "thick soft"), 0.50),
              (("thin soft", "thick soft", "bone"), 0.20))
"""Axial reconstructions of an acquisition (1: 30%, 2: 50%, 3: 20%)."""
THICK_MM = {"SIEMENS": (3.0, 5.0), "GE MEDICAL SYSTEMS": (2.5, 3.75, 5.0), "TOSHIBA": (3.0, 5.0), "Philips": (3.0, 5.0)}
BONE_KERNELS = {"SIEMENS": ("B70f", "Br64", "B60f"), "GE MEDICAL SYSTEMS": ("BONE", "BONEPLUS"), "TOSHIBA": ("FC30", "FC51"),
                "Philips": ("YC", "D")}
P_CORONAL = {"main": 0.35, "other": 0.08}
P_SAGITTAL = {"main": 0.15, "other": 0.03}
"""Chance of a coronal / sagittal reformat of the main acquisition (venous, split bolus) and of any other."""
P_WRONG_TIME = {"axial": 0.04, "reformat": 0.25}
"""Share of series, in studies with times, whose clock is off (re-sent or re-reconstructed and restamped,
or an hour off); reformats more often (workstations stamp their own time)."""


def plan_series(rng: np.random.Generator, plan: StudyPlan, folder: str) -> list[SeriesPlan]:
    """Every series of ``plan`` in creation order, with its header values (``tags``)."""
    habits = _habits(rng, plan)
    out: list[SeriesPlan] = []
    later: list[SeriesPlan] = []
    for acq in plan.acquisitions:
        recons = habits["recons"] if rng.random() < 0.8 else pick_weighted(rng, RECON_SETS)
        if habits["thick_first"]:
            recons = tuple(sorted(recons, key=lambda r: r != "thick soft"))
        for r, recon in enumerate(recons):
            out.append(_axial(rng, plan, acq, recon, r, habits))
        for plane in ("coronal", "sagittal"):
            role = "main" if acq.slot in ("V", "SB", "V2") else "other"
            if rng.random() < (P_CORONAL if plane == "coronal" else P_SAGITTAL)[role] * habits["mpr"]:
                sp = _reformat(rng, plan, acq, plane, habits)
                (out if habits["inline_mpr"] else later).append(sp)
    series = out + later
    _number(rng, series, habits["numbering"], len(out))
    word = {a.index: slot_word(rng, a.slot, a.label) for a in plan.acquisitions}
    contrast = {a.index: contrast_tags(rng, habits["contrast"], a, habits["agent"], habits["volume"], plan.injections,
                                       habits["logged"]) for a in plan.acquisitions}
    for sp in series:
        sp.series_uid = make_uid(plan.seed, plan.patient_index, "realistic", plan.study_index, "series", sp.series_number)
        sp.folder = f"{folder}/SE{sp.series_number:04d}"
        _wrong_clock(rng, plan, sp)
        _headers(rng, plan, sp, habits, word[sp.acquisition], contrast[sp.acquisition])
    return series


def _habits(rng: np.random.Generator, plan: StudyPlan) -> dict[str, Any]:
    """What stays the same over the study: site and scanner habits."""
    return {
        "recons": pick_weighted(rng, RECON_SETS),
        "thick_first": bool(rng.random() < 0.4),
        "mpr": float(pick(rng, (0.0, 1.0, 1.0, 2.0))),  # sites that never, sometimes or always reformat
        "inline_mpr": bool(rng.random() < 0.5),  # made on the scanner right away, or later on a workstation
        "numbering": pick_weighted(rng, (("sequential", 0.6), ("hundreds", 0.25), ("gaps", 0.15))),
        "series_time": "start" if rng.random() < 0.5 else "created",
        "description": pick_weighted(rng, DESCRIPTION_STYLES),
        "contrast": pick_weighted(rng, CONTRAST_STYLES),
        "logged": bool(rng.random() < P_INJECTOR_LOGGED),
        "agent": pick(rng, AGENTS),
        "volume": int(round(plan.patient.dose_factor * 20) * 5),
        "protocol_name": protocol_name(rng, plan.protocol),
        "post_delay": float(rng.uniform(120, 1200)),
    }


def _axial(rng: np.random.Generator, plan: StudyPlan, acq: Acquisition, recon: str, r: int, habits: dict) -> SeriesPlan:
    """One axial reconstruction: thin as rendered, thick (mean of ``group`` thin slices) or bone (sharpened)."""
    thin = acq.params
    vendor = thin.manufacturer
    group, params = 1, replace(thin)
    if recon == "thick soft":
        group = max(1, min(max(2, round(float(pick(rng, THICK_MM.get(vendor, (5.0,)))) / thin.slice_spacing)),
                           acq.n_slices // 2))
        mm = round(group * thin.slice_spacing, 3)
        params = replace(thin, slice_thickness=mm, slice_spacing=mm, noise_hu=round(thin.noise_hu / math.sqrt(group), 3))
    elif recon == "bone":
        params = replace(thin, kernel="sharp", kernel_name=str(pick(rng, BONE_KERNELS.get(vendor, ("BONE",)))),
                         noise_hu=round(thin.noise_hu * 1.8, 3))
    end = acq.start + dt.timedelta(seconds=acq.scan_seconds)
    if habits["series_time"] == "start":
        created = acq.start
    else:
        created = end + dt.timedelta(seconds=float(rng.uniform(5, 20)) + 15 * r)
    return SeriesPlan(acquisition=acq.index, series_uid="", series_number=0, reconstruction=recon, plane="axial",
                      params=params, n_images=acq.n_slices // group, group=group, created=created,
                      content_delay_s=round(float(rng.uniform(20, 90)) + 15 * r, 3), folder="")


def _reformat(rng: np.random.Generator, plan: StudyPlan, acq: Acquisition, plane: str, habits: dict) -> SeriesPlan:
    """A coronal or sagittal reformat of the thin volume: slabs of ``group`` rows (coronal) or columns
    (sagittal) across the body, ``span`` in pixel indices of the axial images."""
    thin = acq.params
    ps = thin.pixel_spacing
    slab = float(pick(rng, (2.0, 3.0, 3.0, 4.0, 5.0)))
    group = max(1, round(slab / ps))
    half = body_width_mm(plan.patient) * (0.38 if plane == "coronal" else 0.48)
    centre = thin.center_y if plane == "coronal" else thin.center_x
    first = int(np.clip(math.floor((centre - half - (centre - thin.fov_mm / 2)) / ps), 0, thin.matrix - 1))
    last = int(np.clip(math.ceil((centre + half - (centre - thin.fov_mm / 2)) / ps), first + 1, thin.matrix))
    n = max(1, min((last - first) // group, 120))
    mm = round(group * ps, 3)
    params = replace(thin, slice_thickness=mm, slice_spacing=mm, padding_hu=None)
    end = plan.acquisitions[-1].start + dt.timedelta(seconds=plan.acquisitions[-1].scan_seconds)
    own_end = acq.start + dt.timedelta(seconds=acq.scan_seconds)
    created = own_end + dt.timedelta(seconds=float(rng.uniform(30, 90))) if habits["inline_mpr"] else \
        end + dt.timedelta(seconds=habits["post_delay"] + float(rng.uniform(0, 60)))
    return SeriesPlan(acquisition=acq.index, series_uid="", series_number=0, reconstruction="mpr", plane=plane,
                      params=params, n_images=n, group=group, created=created, content_delay_s=0.0, folder="",
                      span=(first, first + n * group))


def _number(rng: np.random.Generator, series: list[SeriesPlan], style: str, n_first: int) -> None:
    """SeriesNumber in creation order: 2, 3, ... (the scout is 1), acquisition-wise hundreds (201, 202, 301, ...)
    or sequential with gaps (deleted series); reformats made later start at 600 or 1000."""
    n, last_acq, j = 1, -1, 0
    for k, sp in enumerate(series):
        if style == "hundreds":
            j = j + 1 if sp.acquisition == last_acq else 1
            last_acq = sp.acquisition
            sp.series_number = 100 * (sp.acquisition + 2) + j + (50 if sp.plane != "axial" else 0)
            continue
        if k == n_first and k < len(series):
            n = max(n, 599 if rng.random() < 0.5 else 999)
        n += 1 + (int(rng.geometric(0.6)) - 1 if style == "gaps" else 0)
        sp.series_number = n


def _wrong_clock(rng: np.random.Generator, plan: StudyPlan, sp: SeriesPlan) -> None:
    """Timing verdict of a series; shift its clock when it is wrong."""
    if plan.timing == "missing":
        sp.timing_tags = "missing"
        return
    sp.timing_tags = plan.timing
    if rng.random() < P_WRONG_TIME["axial" if sp.plane == "axial" else "reformat"]:
        sp.shift_s = float(pick(rng, (3600.0, -3600.0))) if rng.random() < 0.4 else round(float(rng.uniform(300, 2400)), 3)
        sp.timing_tags = "wrong"


def _headers(rng: np.random.Generator, plan: StudyPlan, sp: SeriesPlan, habits: dict, word: tuple[str, str | None],
             contrast: tuple[dict[str, Any], str, dt.datetime | None]) -> None:
    """Description, verdicts and every header value of the series' first image (``sp.tags``)."""
    acq = plan.acquisitions[sp.acquisition]
    p = sp.params
    suffix = recon_suffix(rng, p.manufacturer, p.slice_thickness, p.kernel_name)
    desc, named = describe(rng, habits["description"], word, sp.reconstruction, sp.plane, suffix)
    sp.header_text = verdict(named, acq.label)
    ctags, sp.contrast_tags, logged = contrast
    p.series_description = desc
    p.contrast_agent = ctags["ContrastBolusAgent"]
    mpr = ["DERIVED", "SECONDARY", "REFORMATTED" if p.manufacturer in ("GE MEDICAL SYSTEMS", "TOSHIBA") else "MPR"]
    sp.tags = {
        "SeriesNumber": sp.series_number, "AcquisitionNumber": acq.acquisition_number,
        "ImageType": ["ORIGINAL", "PRIMARY", "AXIAL"] if sp.plane == "axial" else mpr,
        "SeriesDescription": desc, "ProtocolName": habits["protocol_name"], "StudyDescription": plan.info.study_description,
        "ConvolutionKernel": p.kernel_name, "SliceThickness": f"{p.slice_thickness:g}",
        "SpacingBetweenSlices": f"{p.slice_spacing:g}",
        **({"WindowCenter": "450", "WindowWidth": "1500"} if sp.reconstruction == "bone" else {}),
        **ctags, **series_clock_tags(plan, acq, sp, logged), **clock_tags(plan, acq, sp, 0.0),
    }
