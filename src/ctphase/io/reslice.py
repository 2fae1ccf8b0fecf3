"""Axial planes resliced from a coronal or sagittal stack (a reformat that no axial series explains).

A reformat made from an acquisition gets that acquisition's phase from the study step; one that
cannot be linked is classified from axial planes cut out of its own volume. :func:`reslice`
wraps the non-axial :class:`~ctphase.io.dicom_pixels.DicomSeries` in a :class:`ReslicedSeries`:

- the in-plane image axis closest to the patient's z axis becomes the axial slice index
  (index 0 most inferior), the stack axis and the other in-plane axis span each axial plane;
- planes are laid out as standard axial images (rows anterior -> posterior, columns patient
  right -> left, LPS) by transposing/flipping on the direction cosines of Image Orientation
  (Patient) (PS3.3 C.7.6.2);
- each plane is resampled to square pixels (the stack spacing is usually coarser than the
  in-plane spacing), so that the preprocessing's square resize keeps the anatomy's proportions.

Reading a plane needs one row of every image, so the whole stack is decoded on the first read
and kept until :meth:`ReslicedSeries.release`: a reformat is small (a few hundred images).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .dicom_pixels import DicomSeries
from .series import Series


@dataclass
class ReslicedSeries(Series):
    """Axial planes of a non-axial stack (see the module docstring)."""

    stack: DicomSeries | None = field(default=None, repr=False)
    z_axis: int = field(default=1, repr=False)  # image axis (1 rows, 2 columns) closest to patient z
    z_flip: bool = field(default=False, repr=False)  # that axis runs superior -> inferior
    transpose: bool = field(default=False, repr=False)  # plane (stack, other) -> (other, stack)
    flip_rows: bool = field(default=False, repr=False)
    flip_cols: bool = field(default=False, repr=False)
    _volume: np.ndarray | None = field(default=None, repr=False)

    def read_slices(self, indices: np.ndarray | list[int] | None = None) -> np.ndarray:
        """Axial planes in HU, ``(N, rows, cols)`` float32, resampled to square pixels."""
        import cv2

        if self._volume is None:
            self._volume = self.stack.read_volume()  # type: ignore[union-attr]
        vol = self._volume
        idx = range(self.n_slices) if indices is None else [int(i) for i in np.asarray(indices).reshape(-1)]
        out = np.empty((len(idx), *self.shape), dtype=np.float32)
        for k, a in enumerate(idx):
            i = self.n_slices - 1 - a if self.z_flip else a
            plane = vol[:, i, :] if self.z_axis == 1 else vol[:, :, i]
            plane = plane.T if self.transpose else plane
            plane = plane[::-1] if self.flip_rows else plane
            plane = plane[:, ::-1] if self.flip_cols else plane
            out[k] = cv2.resize(np.ascontiguousarray(plane), (self.shape[1], self.shape[0]), interpolation=cv2.INTER_LINEAR)
        return out

    def release(self) -> None:
        """Drop the decoded stack."""
        self._volume = None


def reslice(stack: DicomSeries) -> ReslicedSeries:
    """Axial planes of a coronal, sagittal or oblique stack (sorted along its normal, as the reader gives it)."""
    first = stack.slices[0]
    iop = np.asarray(first.iop if first.iop is not None else (1, 0, 0, 0, 0, -1), dtype=np.float64)
    row_dir, col_dir = iop[:3], iop[3:6]  # along increasing column index j, along increasing row index i
    normal = np.cross(row_dir, col_dir)
    if normal[2] < 0:  # as the reader sorts: ascending along the normal with a non-negative z component
        normal = -normal
    pos = np.asarray(stack.slice_positions if stack.slice_positions is not None else np.arange(stack.n_slices))
    z_axis = 1 if abs(col_dir[2]) >= abs(row_dir[2]) else 2
    z_dir = col_dir if z_axis == 1 else row_dir
    other = row_dir if z_axis == 1 else col_dir  # the in-plane axis that stays in the axial plane
    # plane axes as cut: (stack axis along `normal`, in-plane axis along `other`)
    transpose = abs(normal[1]) < abs(other[1])  # rows must follow y (anterior -> posterior)
    rows_dir, cols_dir = (other, normal) if transpose else (normal, other)
    ps = stack.pixel_spacing or (1.0, 1.0)
    step = float(np.median(np.abs(np.diff(pos)))) if len(pos) > 1 else 1.0
    in_plane = ps[0] if z_axis == 2 else ps[1]
    rows_mm, cols_mm = (in_plane, step) if transpose else (step, in_plane)
    n_rows, n_cols = (stack.shape[2 - z_axis], stack.n_slices) if transpose else (stack.n_slices, stack.shape[2 - z_axis])
    spacing = min(rows_mm, cols_mm)
    shape = (max(1, round(n_rows * rows_mm / spacing)), max(1, round(n_cols * cols_mm / spacing)))
    n_axial = stack.shape[z_axis - 1]
    z_step = ps[0] if z_axis == 1 else ps[1]
    z0 = float(np.dot(first.ipp, [0, 0, 1])) if first.ipp is not None else 0.0
    z = z0 + np.arange(n_axial) * z_step * z_dir[2]
    return ReslicedSeries(
        source="dicom",
        path=stack.path,
        n_slices=n_axial,
        shape=shape,
        pixel_spacing=(spacing, spacing),
        slice_positions=np.sort(z),
        study_uid=stack.study_uid,
        series_uid=stack.series_uid,
        description=stack.description,
        warnings=[*stack.warnings, f"axial planes resliced from {stack.n_slices} non-axial images"],
        meta=dict(stack.meta),
        stack=stack,
        z_axis=z_axis,
        z_flip=bool(z_dir[2] < 0),
        transpose=bool(transpose),
        flip_rows=bool(rows_dir[1] < 0),
        flip_cols=bool(cols_dir[0] < 0),
    )


__all__ = ["ReslicedSeries", "reslice"]
