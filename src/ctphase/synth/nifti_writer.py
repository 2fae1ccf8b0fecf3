"""Write a synthetic series as one NIfTI-1 volume (int16 HU) with a RAS affine."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .series import SeriesParams


def nifti_affine(series: SeriesParams, z0_dicom: float, dz: float) -> np.ndarray:
    """Affine from voxel ``(i=column, j=row, k=slice)`` to RAS mm for slices ascending in z from ``z0_dicom``.

    DICOM LPS ``(x, y, z)`` maps to RAS ``(-x, -y, z)``.
    """
    ps = series.pixel_spacing
    x0 = series.center_x - series.fov_mm / 2 + ps / 2
    y0 = series.center_y - series.fov_mm / 2 + ps / 2
    aff = np.diag([-ps, -ps, dz, 1.0])
    aff[:3, 3] = (-x0, -y0, z0_dicom)
    return aff


def write_nifti(path: Path, hu: np.ndarray, z_dicom: np.ndarray, series: SeriesParams) -> Path:
    """Write ``hu (n, rows, cols)`` (any z order) as ``path`` (.nii.gz), slices sorted by ascending z."""
    import nibabel as nib

    order = np.argsort(z_dicom)
    z = np.asarray(z_dicom)[order]
    dz = float(np.median(np.diff(z))) if len(z) > 1 else float(series.slice_spacing)
    vol = np.clip(np.rint(hu[order]), -32768, 32767).astype(np.int16)  # (k, j, i)
    data = np.ascontiguousarray(vol.transpose(2, 1, 0))  # (i, j, k)
    img = nib.Nifti1Image(data, nifti_affine(series, float(z[0]), dz))
    img.header.set_xyzt_units("mm", "sec")
    img.header["descrip"] = f"ctphase synth {series.phase}/{series.subphase}".encode()[:79]
    img.set_qform(img.affine, code=1)
    img.set_sform(img.affine, code=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(img, str(path))
    return path
