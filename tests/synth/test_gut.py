"""The bowel of the engine: the distended stomach that a last drink of oral contrast leaves."""

from __future__ import annotations

import dataclasses

import numpy as np

from ctphase.phases import Phase
from ctphase.synth import SeriesParams, patient_params
from ctphase.synth.render import render_slices
from ctphase.synth.tissues import Tissue as T


def _stomach_content(p, z_mm: np.ndarray) -> tuple[int, int]:
    """Pixels of oral contrast and of any stomach content or air, summed over slices at ``z_mm``."""
    s = SeriesParams.draw(np.random.default_rng(0), p, phase=Phase.VENOUS)
    _, lab = render_slices(p, s, z_mm * p.height, 128, fov_mm=400.0, return_masks=True, noise=False)
    return int((lab == T.ORAL_CONTRAST).sum()), int(np.isin(lab, (T.ORAL_CONTRAST, T.BOWEL_AIR, T.BOWEL_FLUID)).sum())


def test_distension_is_drawn_for_some_patients_and_more_often_after_oral_contrast() -> None:
    ps = [patient_params(0, i) for i in range(300)]
    d = np.array([p.stomach_distension for p in ps])
    oral = np.array([p.oral_contrast for p in ps])
    assert ((d == 0) | ((d >= 0.3) & (d <= 1.0))).all()
    assert 0.35 < (d[oral] > 0).mean() < 0.65
    assert 0.05 < (d[~oral] > 0).mean() < 0.25


def test_a_distended_stomach_holds_more_contrast_higher_up() -> None:
    p = next(p for p in (patient_params(0, i) for i in range(200)) if p.oral_contrast and p.stomach_distension == 0)
    z = np.array([-15.0, -30, -45, -60, -80])
    resting = _stomach_content(p, z)
    full = _stomach_content(dataclasses.replace(p, stomach_distension=1.0), z)
    assert resting[0] > 0  # this patient's stomach holds contrast at rest (80% of those who drink do)
    assert full[0] > 1.5 * resting[0]
    assert full[1] > 1.2 * resting[1]
    top = np.array([-12.0])  # just under the highest resting fundus: the distended one rises above it
    assert _stomach_content(dataclasses.replace(p, stomach_distension=1.0), top)[1] > _stomach_content(p, top)[1]


def test_food_is_drawn_for_some_patients_without_a_distended_stomach() -> None:
    ps = [patient_params(0, i) for i in range(400)]
    f = np.array([p.gastric_food for p in ps])
    d = np.array([p.stomach_distension for p in ps])
    assert ((f == 0) | ((f >= 0.4) & (f <= 1.0))).all()
    assert not ((f > 0) & (d > 0)).any()
    assert 0.2 < (f[d == 0] > 0).mean() < 0.4


def test_food_fills_the_stomach_mottled_with_gas_and_dense_flecks() -> None:
    p = next(p for p in (patient_params(0, i) for i in range(200)) if not p.oral_contrast and p.gastric_food == 0)
    z = np.array([-30.0, -45, -60]) * p.height
    s = SeriesParams.draw(np.random.default_rng(0), p, phase=Phase.VENOUS)
    _, lab0 = render_slices(p, s, z, 192, fov_mm=400.0, return_masks=True, noise=False)
    hu, lab = render_slices(dataclasses.replace(p, gastric_food=1.0), s, z, 192, fov_mm=400.0, return_masks=True, noise=False)
    food = lab == T.GASTRIC_FOOD
    assert not (lab0 == T.GASTRIC_FOOD).any() and food.sum() > 0
    # the meal takes the place of the stomach's fluid and fills at least 95% of its lumen (no more air)
    assert (lab == T.BOWEL_FLUID).sum() < (lab0 == T.BOWEL_FLUID).sum()
    assert (lab == T.BOWEL_AIR).sum() <= (lab0 == T.BOWEL_AIR).sum()
    vals = hu[food]
    assert 30 < np.median(vals) < 90
    assert (vals < -500).mean() > 0.005  # gas bubbles inside the meal
    assert ((vals > -120) & (vals < -40)).mean() > 0.005  # patches of fat (noise=False: nothing else lies there)
    assert (vals > 150).mean() > 0.002  # a few dense flecks
    soft = vals[(vals > -20) & (vals < 200)]
    assert np.percentile(soft, 90) - np.percentile(soft, 10) > 50  # lumpy, not a uniform fluid
