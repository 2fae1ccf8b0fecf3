"""Physiology seen in the engine's own masks: arterial, venous, delayed and non-contrast enhancement."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ctphase.synth import (
    PatientParams,
    SeriesParams,
    Tissue,
    patient_params,
    render_slices,
)
from ctphase.synth.patient import MEDULLA_LAG_MAX_S
from ctphase.synth.physiology import REF_ARRIVAL_S, tissue_tables


def _series(p: PatientParams, subphase: str, tau: float | None, seed: int = 0) -> SeriesParams:
    s = SeriesParams.draw(np.random.default_rng(seed), p, subphase=subphase, kvp=120)
    if tau is not None:
        s.seconds_after_injection = tau + p.bolus_arrival_s - REF_ARRIVAL_S
    s.streaks = False
    return s


def _median(p: PatientParams, s: SeriesParams, tissue: Tissue, zs) -> float:
    hu, m = render_slices(p, s, np.asarray(zs, float) * p.height, 160, return_masks=True, sub_slices=1)
    vals = []
    for k in range(len(zs)):
        mk = cv2.erode((m[k] == tissue).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        vals.append(hu[k][mk])
    v = np.concatenate(vals)
    assert v.size > 3, f"{tissue.name} not found at z={zs}"
    return float(np.median(v))


AORTA_Z = [-100, -150, -200]
PORTAL_Z = [-85, -100, -112, -120]
KIDNEY_Z = [-130, -140, -150, -160]


@pytest.mark.parametrize("index", [0, 1, 2])
def test_arterial_aorta_far_above_portal_vein(index: int) -> None:
    p = patient_params(11, index)
    for tau in (25.0, 40.0):
        s = _series(p, "early_arterial" if tau < 33 else "late_arterial", tau)
        aorta = _median(p, s, Tissue.AORTA, AORTA_Z)
        portal = _median(p, s, Tissue.PORTAL_VEIN, PORTAL_Z)
        assert aorta > portal + 100, (tau, aorta, portal)
        cortex = _median(p, s, Tissue.KIDNEY_CORTEX, KIDNEY_Z)
        medulla = _median(p, s, Tissue.KIDNEY_MEDULLA, KIDNEY_Z)
        assert cortex > medulla + 50  # corticomedullary differentiation


@pytest.mark.parametrize("index", [0, 1, 2])
def test_venous_portal_vein_and_homogeneous_nephrogram(index: int) -> None:
    p = patient_params(12, index)
    p.medulla_lag_s = 0.0  # a medulla that catches up as in the bolus-tracked reference study
    s = _series(p, "portal_venous", 75.0)
    aorta = _median(p, s, Tissue.AORTA, AORTA_Z)
    portal = _median(p, s, Tissue.PORTAL_VEIN, PORTAL_Z)
    assert portal >= aorta - 20, (aorta, portal)
    cortex = _median(p, s, Tissue.KIDNEY_CORTEX, KIDNEY_Z)
    medulla = _median(p, s, Tissue.KIDNEY_MEDULLA, KIDNEY_Z)
    assert abs(cortex - medulla) < 40, (cortex, medulla)
    liver = _median(p, s, Tissue.LIVER, PORTAL_Z)
    assert liver > p.liver_base_hu + 30


def test_medullary_lag_keeps_portal_venous_kidneys_corticomedullary() -> None:
    p = patient_params(12, 0)
    diffs = {}
    for lag in (0.0, MEDULLA_LAG_MAX_S):
        p.medulla_lag_s = lag
        for tau in (65.0, 300.0):
            s = _series(p, "portal_venous" if tau < 95 else "equilibrium", tau)
            diffs[lag, tau] = _median(p, s, Tissue.KIDNEY_CORTEX, KIDNEY_Z) - _median(p, s, Tissue.KIDNEY_MEDULLA, KIDNEY_Z)
    assert diffs[0.0, 65.0] < 40 < 80 < diffs[MEDULLA_LAG_MAX_S, 65.0], diffs  # homogeneous vs corticomedullary
    assert abs(diffs[0.0, 300.0]) < 15 and abs(diffs[MEDULLA_LAG_MAX_S, 300.0]) < 15, diffs  # delayed: homogeneous either way
    lags = [patient_params(12, i).medulla_lag_s for i in range(40)]
    assert 0.0 <= min(lags) < 10 and MEDULLA_LAG_MAX_S - 10 < max(lags) <= MEDULLA_LAG_MAX_S


def _pelvis_pixels(p: PatientParams, s: SeriesParams, tissue: Tissue) -> np.ndarray:
    hu, m = render_slices(p, s, np.asarray(KIDNEY_Z, float) * p.height, 160, return_masks=True, sub_slices=1)
    v = hu[m == tissue]
    assert v.size > 8, f"{tissue.name} not found"
    return v


@pytest.mark.parametrize("tau", [75.0, 200.0, 600.0])
def test_excretion_fills_the_dependent_pelvis_first(tau: float) -> None:
    p = patient_params(13, 0)
    p.excretion_factor = 1.0
    s = _series(p, "portal_venous" if tau < 95 else "excretory" if tau >= 300 else "equilibrium", tau)
    dependent = np.percentile(_pelvis_pixels(p, s, Tissue.URINE_CONTRAST), 90)
    rest = np.percentile(_pelvis_pixels(p, s, Tissue.RENAL_PELVIS), 90)
    if tau < 95:  # no excretion yet: urine, blurred with sinus fat and enhancing parenchyma
        assert dependent < 120 and rest < 120, (dependent, rest)
    elif tau < 300:  # early excretion: a dense dependent spot, the rest barely opacified
        assert dependent > 400 and rest < 250 and dependent > rest + 200, (dependent, rest)
    else:  # excretory phase: the whole collecting system dense
        assert dependent > 400 and rest > 400, (dependent, rest)


def test_non_contrast_has_no_iv_enhancement() -> None:
    p = patient_params(14, 0)
    s = _series(p, "non_contrast", None)
    assert _median(p, s, Tissue.AORTA, AORTA_Z) < 70
    hu, tex, extra = tissue_tables(p, s)
    assert hu[Tissue.RENAL_PELVIS] < 20 and hu[Tissue.URINE_CONTRAST] < 20
