"""The chest contents of the synthetic body: the heart's inferior wall and the diaphragm's dome."""

from __future__ import annotations

import numpy as np
import pytest

from ctphase.synth import SeriesParams, patient_params, render_slices
from ctphase.synth.anatomy import dome_drop
from ctphase.synth.render import anatomy_of
from ctphase.synth.thorax import HEART_FLOOR_MM, chamber_extent
from ctphase.synth.tissues import Tissue as T

CHAMBERS = (T.HEART_LEFT, T.HEART_RIGHT)


def _counts(patient: int, heights: list[float]) -> list[dict[int, int]]:
    """Pixels of myocardium and of each chamber in slices ``heights`` mm above the heart's lowest point."""
    p = patient_params(patient, 0)
    base = anatomy_of(p).thorax.heart.ctrl[0, 0]
    s = SeriesParams.draw(np.random.default_rng(patient), p, phase="arterial")
    _, masks = render_slices(p, s, base + np.array(heights), 192, return_masks=True, noise=False)
    return [{t: int((m == t).sum()) for t in (T.MYOCARDIUM, *CHAMBERS)} for m in masks]


@pytest.mark.parametrize("patient", [0, 7, 31])
def test_the_lowest_slices_of_the_heart_are_wall_without_blood(patient: int) -> None:
    h = patient_params(patient, 0).height
    floor, above = _counts(patient, [0.5 * HEART_FLOOR_MM * h, 2.5 * HEART_FLOOR_MM * h])
    assert floor[T.MYOCARDIUM] > 200
    assert floor[T.HEART_LEFT] + floor[T.HEART_RIGHT] == 0
    assert above[T.HEART_LEFT] > 200 and above[T.HEART_RIGHT] > 200


def test_chamber_extent_is_zero_in_the_wall_then_rises_to_full_over_one_wall_height() -> None:
    f = HEART_FLOOR_MM
    k = chamber_extent(np.array([-5.0, 0.0, 0.9 * f, 1.5 * f, 2 * f, 4 * f]), 1.0)
    np.testing.assert_allclose(k, [0, 0, 0, 0.5, 1, 1])
    assert chamber_extent(2 * f, 1.2) < 1.0  # the floor scales with the patient's height factor


def test_the_dome_is_flatter_over_the_top_and_steeper_at_the_rim_than_a_paraboloid() -> None:
    u = np.array([10.0, 21.0, 42.0, 70.0])
    d = dome_drop(u)
    assert np.all(d[:2] < u[:2]) and d[2] == pytest.approx(42.0) and d[3] > u[3]
    assert np.all(np.diff(d) > 0)
