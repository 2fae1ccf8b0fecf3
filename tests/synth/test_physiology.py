"""Synthetic engine: determinism, physiology in the engine's own masks, the training stream."""

from __future__ import annotations

import itertools
import json

import cv2
import numpy as np
import pytest

from ctphase.errors import ConfigError
from ctphase.phases import Phase
from ctphase.synth import (
    PatientParams,
    SeriesParams,
    Tissue,
    iter_training_slices,
    patient_params,
    render_slices,
    subphase_at,
)
from ctphase.synth.physiology import REF_ARRIVAL_S, SUBPHASE_WINDOWS, tissue_tables


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


def test_patient_deterministic_and_json() -> None:
    a, b = patient_params(7, 3), patient_params(7, 3)
    assert a.to_dict() == b.to_dict()
    assert patient_params(7, 4).to_dict() != a.to_dict()
    d = json.loads(json.dumps(a.to_dict()))
    assert PatientParams.from_dict(d) == a
    s = SeriesParams.draw(np.random.default_rng(1), a, phase="venous")
    assert SeriesParams.from_dict(json.loads(json.dumps(s.to_dict()))) == s


def test_render_deterministic_shape_dtype() -> None:
    p = patient_params(1, 0)
    s = SeriesParams.draw(np.random.default_rng(2), p, phase="arterial")
    z = np.array([-50.0, -150.0, -300.0])
    x1, m1 = render_slices(p, s, z, 96, return_masks=True)
    x2 = render_slices(patient_params(1, 0), s, z, 96)
    assert x1.shape == (3, 96, 96) and x1.dtype == np.float32
    assert m1.shape == (3, 96, 96) and m1.dtype == np.uint8
    np.testing.assert_array_equal(x1, x2)


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
    s = _series(p, "portal_venous", 75.0)
    aorta = _median(p, s, Tissue.AORTA, AORTA_Z)
    portal = _median(p, s, Tissue.PORTAL_VEIN, PORTAL_Z)
    assert portal >= aorta - 20, (aorta, portal)
    cortex = _median(p, s, Tissue.KIDNEY_CORTEX, KIDNEY_Z)
    medulla = _median(p, s, Tissue.KIDNEY_MEDULLA, KIDNEY_Z)
    assert abs(cortex - medulla) < 40, (cortex, medulla)
    liver = _median(p, s, Tissue.LIVER, PORTAL_Z)
    assert liver > p.liver_base_hu + 30


@pytest.mark.parametrize("tau", [200.0, 600.0])
def test_delayed_excretion_in_renal_pelvis(tau: float) -> None:
    p = patient_params(13, 0)
    p.excretion_factor = 1.0
    s = _series(p, "excretory" if tau >= 300 else "equilibrium", tau)
    assert _median(p, s, Tissue.RENAL_PELVIS, KIDNEY_Z) > 200


def test_non_contrast_has_no_iv_enhancement() -> None:
    p = patient_params(14, 0)
    s = _series(p, "non_contrast", None)
    assert _median(p, s, Tissue.AORTA, AORTA_Z) < 70
    hu, tex, extra = tissue_tables(p, s)
    assert hu[Tissue.RENAL_PELVIS] < 20


def test_subphase_windows_and_labels() -> None:
    assert subphase_at(None) == "non_contrast"
    assert subphase_at(25) == "early_arterial"
    assert subphase_at(40) == "late_arterial"
    assert subphase_at(55) == "transitional"
    assert subphase_at(75) == "portal_venous"
    assert subphase_at(110) == "nephrographic"
    assert subphase_at(200) == "equilibrium"
    assert subphase_at(700) == "excretory"
    p = patient_params(0, 0)
    for sub, (lo, hi) in SUBPHASE_WINDOWS.items():
        s = SeriesParams.draw(np.random.default_rng(5), p, subphase=sub)
        assert lo <= s.effective_time_s < hi
        assert subphase_at(s.effective_time_s) == sub
    with pytest.raises(ConfigError, match="unknown subphase"):
        SeriesParams.draw(np.random.default_rng(0), p, subphase="lunch")


def test_stream_balanced_deterministic_and_patient_bound() -> None:
    it = iter_training_slices(3, 64, range(10, 18), slices_per_series=2)
    items = list(itertools.islice(it, 64))
    labels = [lab for _, lab, _ in items]
    pats = {pi for _, _, pi in items}
    assert pats <= set(range(10, 18)) and len(pats) == 8
    assert all(x.shape == (64, 64) and x.dtype == np.float32 for x, _, _ in items)
    assert len(set(labels)) >= 3
    again = list(itertools.islice(iter_training_slices(3, 64, range(10, 18), slices_per_series=2), 4))
    for (a, la, pa), (b, lb, pb) in zip(items[:4], again):
        np.testing.assert_array_equal(a, b)
        assert (la, pa) == (lb, pb)


def test_stream_phase_filter_and_errors() -> None:
    it = iter_training_slices(0, 48, range(4), slices_per_series=1, phases=["venous"])
    assert {lab for _, lab, _ in itertools.islice(it, 6)} == {int(Phase.VENOUS)}
    with pytest.raises(ConfigError):
        next(iter_training_slices(0, 48, range(0)))
    with pytest.raises(ConfigError, match="unknown phase"):
        next(iter_training_slices(0, 48, range(2), phases=["lunch"]))


def test_confounders_present_in_population() -> None:
    ps = [patient_params(0, i) for i in range(60)]
    assert any(p.oral_contrast for p in ps) and not all(p.oral_contrast for p in ps)
    assert any(p.fatty_liver for p in ps)
    assert any(p.lesions for p in ps)
    assert any(p.aortic_calcification > 0 for p in ps)
    assert 10 <= min(p.bolus_arrival_s for p in ps) and max(p.bolus_arrival_s for p in ps) <= 25
