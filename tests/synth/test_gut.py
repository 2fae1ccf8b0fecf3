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
