"""Rendering: determinism, shapes and dtypes of images and label masks."""

from __future__ import annotations

import numpy as np

from ctphase.synth import SeriesParams, patient_params, render_slices


def test_render_deterministic_shape_dtype() -> None:
    p = patient_params(1, 0)
    s = SeriesParams.draw(np.random.default_rng(2), p, phase="arterial")
    z = np.array([-50.0, -150.0, -300.0])
    x1, m1 = render_slices(p, s, z, 96, return_masks=True)
    x2 = render_slices(patient_params(1, 0), s, z, 96)
    assert x1.shape == (3, 96, 96) and x1.dtype == np.float32
    assert m1.shape == (3, 96, 96) and m1.dtype == np.uint8
    np.testing.assert_array_equal(x1, x2)
