"""Axial planes resliced from coronal and sagittal stacks equal the volume they were cut from."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from dicom_factory import CORONAL, write_series

from ctphase.io import discover
from ctphase.io.dicom import assemble  # noqa: F401 - the reader builds the stack
from ctphase.io.reslice import reslice

SAGITTAL = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)


def _volume(nz: int = 16, ny: int = 10, nx: int = 12) -> np.ndarray:
    """(z ascending, y anterior->posterior, x right->left) HU with a distinct value per voxel."""
    return (np.arange(nz * ny * nx, dtype=np.float64).reshape(nz, ny, nx) % 2000) - 1000


def _stack(tmp_path: Path, images: np.ndarray, orientation, positions) -> object:  # noqa: ANN001
    write_series(tmp_path / "r", hu=images, orientation=orientation, positions=positions, pixel_spacing=(0.8, 0.8),
                 intercept=-1024.0)
    found = discover(tmp_path / "r")
    (sk,) = found.skipped
    assert sk.plane in ("coronal", "sagittal") and sk.stack is not None
    return sk.stack


@pytest.mark.parametrize("plane", ["coronal", "sagittal"])
def test_reslice_gives_back_the_axial_volume(tmp_path: Path, plane: str) -> None:
    v = _volume()
    nz, ny, nx = v.shape
    if plane == "coronal":  # image k at y = k: rows run down z (superior first), columns along +x
        images = np.stack([v[::-1, k, :] for k in range(ny)])
        stack = _stack(tmp_path, images, CORONAL, [0.8 * k for k in range(ny)])
    else:  # image k at x: rows run down z, columns along +y; the normal points to -x
        images = np.stack([v[::-1, :, k] for k in range(nx)])
        stack = _stack(tmp_path, images, SAGITTAL, [-0.8 * k for k in range(nx)])
    axial = reslice(stack)
    assert axial.n_slices == nz and axial.shape == (ny, nx)
    np.testing.assert_allclose(axial.read_slices(), v, atol=1e-4)
    np.testing.assert_allclose(axial.read_slices([3, 0]), v[[3, 0]], atol=1e-4)
    assert np.all(np.diff(axial.slice_positions) > 0)


def test_coarse_stack_spacing_is_resampled_to_square_pixels(tmp_path: Path) -> None:
    v = _volume(nz=8, ny=6, nx=24)
    images = np.stack([v[::-1, k, :] for k in range(6)])
    stack = _stack(tmp_path, images, CORONAL, [4.0 * k for k in range(6)])  # 4 mm apart, 0.8 mm pixels
    axial = reslice(stack)
    assert axial.shape == (30, 24) and axial.pixel_spacing == (0.8, 0.8)
    assert axial.read_slices([0]).shape == (1, 30, 24)
