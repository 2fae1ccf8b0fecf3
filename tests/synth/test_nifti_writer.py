"""NIfTI output of the synthetic engine: shape and LPS/RAS affine."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from synth_output import read_manifest, read_record

from ctphase.synth import SeriesParams, generate_dataset


def test_nifti_output(tmp_path: Path) -> None:
    nib = pytest.importorskip("nibabel")
    out = tmp_path / "nii"
    m = generate_dataset(out, 1, seed=2, phases=["venous"], fmt="nifti", matrix=48, max_slices=12)
    row = read_manifest(out)[0]
    assert row["path"].endswith(".nii.gz") and m == out / "manifest.csv"
    rec = read_record(out, row)
    s = SeriesParams.from_dict(rec["series"])
    img = nib.load(out / row["path"])
    assert img.shape == (48, 48, rec["n_slices"])
    a = img.affine
    np.testing.assert_allclose(np.abs(np.diag(a)[:2]), s.pixel_spacing, rtol=1e-5)
    assert a[0, 0] < 0 and a[1, 1] < 0 and a[2, 2] == pytest.approx(s.slice_spacing, rel=1e-3)
    x0 = s.center_x - s.fov_mm / 2 + s.pixel_spacing / 2
    assert a[0, 3] == pytest.approx(-x0, abs=1e-3)  # RAS = (-x, -y, z) of LPS
    assert nib.aff2axcodes(a) == ("L", "P", "S")
