"""Contrast physiology: time-attenuation curves, subphases and the 4-class label of a series.

Curves are enhancement (HU above the unenhanced value) at 120 kVp and a reference dose, given
at key times of an *effective* clock ``tau = t - arrival + 15 s`` (the curve table assumes a
bolus arriving ~15 s after the start of injection). Enhancement scales with dose, cardiac
output (peak height) and kVp (x1.6 at 80 kVp, x1.3 at 100, x0.85 at 140).

Excretion: contrast reaches the collecting system from ~2 min and the whole collecting system
and ureters are opacified in the excretory phase, 5-15 min after injection (Van Der Molen et
al., ESUR CT urography guideline, Eur Radiol 2008;18:4-17; Kawashima et al., RadioGraphics
2004;24:S35-S54). Excreted contrast is denser than urine and, in a supine patient, collects first
in the dependent (posterior) calyces and pelvis: ``URINE_CONTRAST`` (the dependent part of the
pelvis, curve ``urine_early``) is dense from the equilibrium phase on, the rest of the pelvis and
the ureters (``RENAL_PELVIS``, curve ``urine``) only later. Before this split the whole pelvis
followed one curve, so early excretion was a filled pelvis of moderate HU where real scans show a
small bright spot (the organ readout of the model card).

Kidneys: the cortex peaks in the corticomedullary phase and the medulla catches up by ~60-75 s
(after a 50 HU bolus-tracking trigger with 2 mL/kg of 300 mgI/mL: cortical enhancement
195-217 HU at 10-30 s, medulla 145 HU at 55 s, cortex - medulla under 30 HU from 45 s; Eur J
Radiol 2007;63:420-426, doi:10.1016/j.ejrad.2007.02.005). Filtered iodine is concentrated in the
tubules, so the nephrogram persists after the blood pool has washed out: the parenchyma stays
above the aorta in the delayed and excretory phases (by 10-25 HU in the engine's medians).
That catch-up time varies between patients: the study above injected at 4 mL/s, and a slower or
longer injection or a weaker renal function delays it, so that a portal venous scan at 60-80 s can
still show a dark medulla. Two of the three real portal venous series measured here do (cortex -
medulla 110 and 135 HU, the third 29 HU; arterial series 99-151 HU; ``benchmarks/synth_realism.py``),
where the engine's portal venous kidneys had at most 25 HU (90th percentile of 40 patients). Each
patient's medulla curve is therefore read ``medulla_lag_s`` (uniform 0-45 s) later than the
cortex's, which spans a homogeneous kidney to a corticomedullary one at portal venous times while
the delayed phases stay homogeneous (the curves meet by 75-120 s, with the lag).
Targets at the reference dose, unenhanced 34 HU: renal parenchyma 120-150 HU at 3-5 min and
100-130 HU at 5-15 min, against an aorta of 100-130 and 90-110 HU, liver 75-90 and spleen 80-90 HU
in the excretory phase. Until model v2's engine work (v14) the late curves fell below these
ranges (excretory phase, medians of ``benchmarks/synth_realism.py``: cortex 85 HU, aorta 82 HU;
now 98 and 86), so the persisting nephrogram, a cue between portal venous and delayed, was all
but missing.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from ..phases import SUBPHASE_TO_PHASE, Phase
from .tissues import N_TISSUES
from .tissues import Tissue as T

if TYPE_CHECKING:
    from .patient import PatientParams
    from .series import SeriesParams

REF_ARRIVAL_S = 15.0

# effective time windows (s) of each contrast subphase: [lo, hi)
SUBPHASE_WINDOWS: dict[str, tuple[float, float]] = {
    "early_arterial": (18.0, 33.0),
    "late_arterial": (33.0, 50.0),
    "portal_venous": (50.0, 95.0),
    "nephrographic": (95.0, 130.0),
    "transitional": (130.0, 180.0),
    "equilibrium": (180.0, 300.0),
    "excretory": (300.0, 900.0),
}
"""Effective-time windows; ``non_contrast`` has no time. Labels follow ``SUBPHASE_TO_PHASE``.

The transitional phase lies between the venous and the delayed (equilibrium) phase, 2-3 min
after injection (LI-RADS v2018 CT/MRI manual: "transitional phase", 2-5 min; the delayed
phase of extracellular agents, 3-5 min). Until ctphase 0.1.0 it sat at 48-60 s, between late
arterial and portal venous, where the images are those of portal venous inflow: synthetic
series labelled ``other`` there looked arterial or venous (the README's demo study called
such a series arterial). The window 48-60 s now belongs to late arterial (to 50 s) and portal
venous (from 50 s, the portal venous inflow phase).
"""

SUBPHASES_BY_PHASE: dict[Phase, tuple[tuple[str, float], ...]] = {
    Phase.NON_CONTRAST: (("non_contrast", 1.0),),
    Phase.ARTERIAL: (("early_arterial", 0.5), ("late_arterial", 0.5)),
    Phase.VENOUS: (("portal_venous", 0.75), ("nephrographic", 0.25)),
    Phase.OTHER: (("transitional", 0.3), ("equilibrium", 0.4), ("excretory", 0.3)),
}
"""Subphases drawn for each 4-class label, with their probabilities."""

_TIMES = np.array([0, 12, 15, 18, 20, 22, 25, 28, 30, 35, 40, 45, 50, 60, 75, 90, 120, 150, 180, 240, 300, 600, 900], float)

# enhancement (HU) at _TIMES for each curve
_CURVES: dict[str, list[float]] = {
    #                0  12  15   18   20   22   25   28   30   35   40   45   50   60   75   90  120  150  180  240  300  600  900
    "artery":       [0, 0, 25, 160, 270, 350, 400, 415, 405, 360, 300, 255, 215, 165, 138, 122, 105, 92, 82, 72, 68, 58, 52],
    "right_heart":  [0, 60, 250, 330, 300, 260, 220, 200, 190, 180, 170, 160, 150, 135, 125, 115, 100, 90, 82, 72, 68, 58, 52],
    "portal":       [0, 0, 0, 0, 3, 6, 12, 22, 30, 62, 100, 128, 148, 172, 165, 150, 120, 100, 88, 75, 69, 58, 52],
    "hepatic_vein": [0, 0, 0, 0, 0, 0, 3, 8, 12, 25, 40, 60, 80, 115, 128, 122, 105, 92, 82, 72, 68, 58, 52],
    "ivc_low":      [0, 0, 0, 0, 0, 0, 0, 0, 2, 5, 10, 18, 28, 50, 75, 90, 88, 82, 76, 70, 67, 58, 52],
    "renal_vein":   [0, 0, 0, 5, 20, 45, 90, 140, 170, 190, 185, 175, 165, 150, 135, 125, 105, 92, 82, 72, 68, 58, 52],
    "liver":        [0, 0, 0, 0, 2, 3, 5, 8, 10, 18, 25, 32, 40, 50, 56, 54, 47, 42, 38, 34, 32, 27, 22],
    "spleen":       [0, 0, 0, 5, 20, 35, 60, 72, 80, 88, 90, 88, 85, 80, 75, 70, 60, 53, 48, 43, 40, 37, 34],
    "pancreas":     [0, 0, 0, 5, 20, 35, 50, 60, 65, 75, 80, 75, 70, 60, 52, 48, 38, 33, 28, 24, 22, 16, 13],
    "cortex":       [0, 0, 0, 30, 90, 150, 175, 180, 180, 178, 172, 166, 162, 156, 148, 140, 128, 120, 114, 108, 102, 88, 78],
    "medulla":      [0, 0, 0, 2, 5, 10, 18, 25, 30, 40, 52, 66, 85, 122, 142, 142, 128, 120, 114, 108, 102, 88, 78],
    "muscle":       [0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 13, 14, 14, 12, 11, 10, 9, 8, 6, 5],
    "bowel_wall":   [0, 0, 0, 5, 12, 20, 30, 36, 40, 45, 48, 50, 52, 55, 55, 52, 45, 40, 36, 32, 28, 22, 18],
    "lesion":       [0, 0, 0, 10, 30, 55, 80, 95, 100, 105, 100, 85, 70, 50, 40, 35, 28, 25, 22, 18, 15, 10, 8],
    "myocardium":   [0, 0, 10, 40, 60, 70, 80, 82, 80, 75, 70, 66, 62, 55, 50, 45, 40, 35, 32, 28, 25, 20, 18],
    "adrenal":      [0, 0, 0, 5, 15, 25, 40, 48, 52, 58, 60, 58, 55, 50, 45, 42, 35, 30, 26, 22, 20, 15, 12],
    "soft":         [0, 0, 0, 0, 2, 4, 6, 8, 10, 14, 18, 20, 22, 25, 26, 25, 22, 20, 18, 16, 14, 10, 8],
    "urine":        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 10, 40, 150, 300, 850, 1100],
    "urine_early":  [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 20, 200, 550, 900, 1050, 1150, 1200],
    "bladder":      [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10, 40, 150, 300, 700, 900],
}

_CURVE_OF: dict[int, str] = {
    T.AORTA: "artery", T.HEART_LEFT: "artery", T.ARTERY: "artery", T.HEART_RIGHT: "right_heart",
    T.PULMONARY_VESSEL: "right_heart", T.PORTAL_VEIN: "portal", T.HEPATIC_VEIN: "hepatic_vein",
    T.LIVER_PORTAL_BRANCH: "portal", T.LIVER_HEPATIC_BRANCH: "hepatic_vein",
    T.IVC_INFRARENAL: "ivc_low", T.VEIN_PERIPHERAL: "ivc_low", T.RENAL_VEIN: "renal_vein", T.LIVER: "liver",
    T.SPLEEN: "spleen", T.PANCREAS: "pancreas", T.KIDNEY_CORTEX: "cortex", T.KIDNEY_MEDULLA: "medulla",
    T.MUSCLE: "muscle", T.BOWEL_WALL: "bowel_wall", T.ESOPHAGUS: "bowel_wall", T.LESION: "lesion",
    T.MYOCARDIUM: "myocardium", T.ADRENAL: "adrenal", T.PELVIC_ORGAN: "soft", T.THYROID: "pancreas",
    T.RENAL_PELVIS: "urine", T.URINE_CONTRAST: "urine_early", T.BLADDER_CONTRAST: "bladder", T.BREAST: "soft", T.SKIN: "soft",
}

# unenhanced HU and texture amplitude (HU std of the fine/medium texture) per tissue
_BASE: dict[int, tuple[float, float]] = {
    T.AIR: (-1000, 0), T.FAT_SC: (-106, 2.5), T.FAT_VISCERAL: (-100, 4), T.MUSCLE: (50, 4.5), T.LUNG: (-860, 25),
    T.BONE_CORTEX: (1000, 120), T.BONE_MARROW: (200, 50), T.DISC: (85, 8), T.CSF: (12, 4), T.HEART_LEFT: (42, 3),
    T.MYOCARDIUM: (48, 4), T.AORTA: (42, 2), T.PORTAL_VEIN: (40, 2), T.HEPATIC_VEIN: (40, 2),
    T.IVC_INFRARENAL: (40, 2), T.RENAL_VEIN: (40, 2), T.LIVER: (56, 3.5), T.SPLEEN: (46, 4), T.PANCREAS: (44, 9),
    T.KIDNEY_CORTEX: (34, 3), T.KIDNEY_MEDULLA: (32, 3), T.RENAL_SINUS: (-90, 15), T.RENAL_PELVIS: (8, 3),
    T.BLADDER: (8, 2), T.ADRENAL: (35, 4), T.BOWEL_WALL: (40, 6), T.BOWEL_FLUID: (18, 8), T.BOWEL_AIR: (-990, 5),
    T.ORAL_CONTRAST: (300, 25), T.FECES: (-20, 60), T.GALLBLADDER: (12, 3), T.LESION: (42, 6), T.CYST: (6, 3),
    T.CALCIFICATION: (650, 150), T.METAL: (3000, 0), T.ESOPHAGUS: (42, 5), T.PELVIC_ORGAN: (45, 8),
    T.TABLE: (150, 40), T.CARTILAGE: (140, 60), T.PULMONARY_VESSEL: (40, 10), T.HEART_RIGHT: (42, 3),
    T.THYROID: (95, 8), T.BLADDER_CONTRAST: (8, 2), T.YELLOW_MARROW: (-40, 20), T.SKIN: (45, 6),
    T.ARTERY: (42, 2), T.VEIN_PERIPHERAL: (40, 2), T.BREAST: (10, 30),
    T.LIVER_PORTAL_BRANCH: (40, 3), T.LIVER_HEPATIC_BRANCH: (40, 3), T.URINE_CONTRAST: (8, 3),
    T.GASTRIC_FOOD: (60, 22),
}

_BLOOD = (T.HEART_LEFT, T.HEART_RIGHT, T.AORTA, T.PORTAL_VEIN, T.HEPATIC_VEIN, T.IVC_INFRARENAL, T.RENAL_VEIN,
          T.ARTERY, T.VEIN_PERIPHERAL, T.PULMONARY_VESSEL, T.LIVER_PORTAL_BRANCH, T.LIVER_HEPATIC_BRANCH)


def kvp_factor(kvp: float) -> float:
    """Iodine enhancement relative to 120 kVp (x1.6 at 80, x1.3 at 100, x0.85 at 140)."""
    return float(np.interp(kvp, [80, 100, 120, 140], [1.6, 1.3, 1.0, 0.85]))


def effective_time(t: float, arrival_s: float) -> float:
    """Map seconds after injection start to the effective clock of the curves."""
    return float(t) - float(arrival_s) + REF_ARRIVAL_S


def subphase_at(tau: float | None) -> str:
    """Subphase for an effective time (None: non-contrast). Times before arrival count as non_contrast."""
    if tau is None or tau < SUBPHASE_WINDOWS["early_arterial"][0]:
        return "non_contrast"
    for name, (lo, hi) in SUBPHASE_WINDOWS.items():
        if lo <= tau < hi:
            return name
    return "excretory"


def label_of(subphase: str) -> Phase:
    """4-class label of a subphase (via :data:`ctphase.phases.SUBPHASE_TO_PHASE`)."""
    return SUBPHASE_TO_PHASE[subphase]


def curve(name: str, tau: float) -> float:
    """Enhancement (HU) of curve ``name`` at effective time ``tau`` (reference dose, 120 kVp)."""
    return float(np.interp(tau, _TIMES, _CURVES[name]))


def tissue_tables(patient: PatientParams, series: SeriesParams) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """HU and texture-amplitude lookup tables (length ``N_TISSUES``) for one series of one patient.

    Returns ``(hu, tex, extra)``; ``extra`` holds scalar effects (spleen heterogeneity,
    IVC mixing, bladder contrast fraction, ...). A series with ``boluses`` (a
    :class:`~ctphase.synth.series.MultiBolusSeries`: split bolus, second injection) shows the sum
    of the enhancement of every bolus.
    """
    boluses = getattr(series, "boluses", None)
    if boluses:
        return _bolus_sum(patient, series, boluses)
    hu = np.zeros(N_TISSUES, np.float32)
    tex = np.zeros(N_TISSUES, np.float32)
    for lab, (b, a) in _BASE.items():
        hu[lab], tex[lab] = b, a
    for lab in _BLOOD:
        hu[lab] = patient.blood_base_hu
    hu[T.LIVER] = patient.liver_base_hu
    hu[T.ORAL_CONTRAST] = patient.oral_contrast_hu
    hu[T.LESION] = patient.liver_base_hu - 8 if not patient.fatty_liver else 40
    extra = {"spleen_het": 0.0, "ivc_mix": 0.0, "bladder_contrast": 0.0, "tau": -1.0, "lesion_gain": 1.0}
    t = series.seconds_after_injection
    if t is None:
        return hu, tex, extra
    tau = effective_time(t, patient.bolus_arrival_s)
    extra["tau"] = tau
    # stretch time with cardiac output: low output -> slower, lower, broader first pass
    co = patient.cardiac_output
    tau_c = REF_ARRIVAL_S + (tau - REF_ARRIVAL_S) * co if tau < 60 else tau
    gain = patient.dose_factor * kvp_factor(series.kvp) * (0.85 + 0.15 / co)
    for lab, name in _CURVE_OF.items():
        e = curve(name, tau_c - patient.medulla_lag_s if name == "medulla" else tau_c)
        if name in ("urine", "urine_early", "bladder"):
            e = curve(name, tau) * patient.excretion_factor * kvp_factor(series.kvp)
        else:
            e *= gain
        hu[lab] += e
    # bone marrow and cartilage enhance slightly
    hu[T.BONE_MARROW] += 15 * gain * min(1.0, max(0.0, (tau - 20) / 40))
    # heterogeneous (arciform) spleen in arterial phase
    extra["spleen_het"] = float(36 * gain * np.interp(tau_c, [18, 25, 40, 50, 60], [0.2, 1.0, 0.8, 0.3, 0.0]))
    # mixing of enhanced renal-vein blood with unenhanced infrarenal blood in the IVC
    extra["ivc_mix"] = float(35 * gain * np.interp(tau, [30, 50, 75, 110, 150], [0, 1, 0.8, 0.3, 0]))
    extra["bladder_contrast"] = float(np.clip(np.interp(tau, [150, 240, 600], [0.0, 0.15, 0.45]) * patient.excretion_factor, 0, 0.8))
    extra["lesion_gain"] = gain
    return hu, tex, extra


def _bolus_sum(patient: PatientParams, series: SeriesParams,
               boluses: list[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """Tables of a series that sees several boluses ``(seconds after that bolus, dose fraction)``.

    Iodine enhancement is linear in iodine concentration, so the enhancement (HU above the
    unenhanced value) of each bolus, at its own time and scaled by its share of the dose, adds.
    The scalar effects add too, except the bladder contrast fraction (the largest).
    """
    plain = replace(series, seconds_after_injection=None, boluses=None)
    hu0, tex, _ = tissue_tables(patient, plain)
    hu = hu0.copy()
    extra = {"spleen_het": 0.0, "ivc_mix": 0.0, "bladder_contrast": 0.0, "tau": -1.0, "lesion_gain": 0.0}
    for t, frac in boluses:
        p = replace(patient, dose_factor=patient.dose_factor * frac, excretion_factor=patient.excretion_factor * frac)
        hu_k, _, ex = tissue_tables(p, replace(series, seconds_after_injection=float(t), boluses=None))
        hu += hu_k - hu0
        for key in ("spleen_het", "ivc_mix", "lesion_gain"):
            extra[key] += ex[key]
        extra["bladder_contrast"] = max(extra["bladder_contrast"], ex["bladder_contrast"])
        extra["tau"] = max(extra["tau"], ex["tau"])
    return hu, tex, extra
