"""NIfTI CT volumes (``.nii``, ``.nii.gz``) as axial :class:`~ctphase.io.series.Series`.

Each file is one series. The voxel axes are matched to RAS+ world axes with
``nibabel.orientations.io_orientation`` (the same rule as ``as_closest_canonical``), but
without loading the volume: slices are taken along the axis closest to S, index 0 most
inferior, and each slice is laid out like a standard axial DICOM image (LPS, Image
Orientation (Patient) ``1\\0\\0\\0\\1\\0``): rows run anterior -> posterior, columns patient
right -> left. Values are scaled by the header's ``scl_slope``/``scl_inter`` (nibabel applies
them) and taken as HU; values below -1024 (and NaN) become -1024
(:data:`~ctphase.io.series.AIR_HU`).

A NIfTI series is identified by its content, not its path: ``content_id`` is ``nifti:`` and the
first 16 hex digits of the SHA-256 of the file's bytes, so the series id, and the slice draw
seeded by it, are the same however the path is typed. A file without qform and sform (both
codes 0) is read with nibabel's fallback affine (voxel sizes, no rotation) and flagged
``no_orientation``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import NiftiReadError
from .series import AIR_HU, Series

NIFTI_SUFFIXES = (".nii", ".nii.gz")


def is_nifti_path(path: str | os.PathLike[str]) -> bool:
    """Whether the file name ends in ``.nii`` or ``.nii.gz`` (case-insensitive)."""
    return os.fspath(path).lower().endswith(NIFTI_SUFFIXES)


@dataclass
class NiftiSeries(Series):
    """A NIfTI volume read lazily slice by slice (``.nii.gz`` is read as one slab per call)."""

    s_axis: int = field(default=2, repr=False)  # voxel axis closest to S
    s_flip: bool = field(default=False, repr=False)  # True when that axis runs S -> I
    row_axis: int = field(default=1, repr=False)  # voxel axis closest to A/P (image rows)
    row_flip: bool = field(default=True, repr=False)  # flip so that rows run A -> P
    col_axis: int = field(default=0, repr=False)  # voxel axis closest to R/L (image columns)
    col_flip: bool = field(default=True, repr=False)  # flip so that columns run R -> L
    n_dims: int = field(default=3, repr=False)

    def _voxel_index(self, k: int) -> int:
        return self.n_slices - 1 - k if self.s_flip else k

    def _to_image(self, plane: np.ndarray) -> np.ndarray:
        """A 2D plane with the two remaining voxel axes (in voxel order) -> (rows, cols) image layout."""
        img = plane.T if self.row_axis > self.col_axis else plane  # remaining axes are in voxel order
        if self.row_flip:
            img = img[::-1, :]
        if self.col_flip:
            img = img[:, ::-1]
        return img

    def read_slices(self, indices: np.ndarray | list[int] | None = None) -> np.ndarray:
        """Decode the given axial slices (all when ``None``) to HU, ``(N, rows, cols)`` float32."""
        idx = list(range(self.n_slices)) if indices is None else [int(i) for i in np.asarray(indices).reshape(-1)]
        return self._read(self._open(keep_open=False), idx)

    def iter_slices(self, indices: np.ndarray | list[int], chunk: int) -> Iterator[np.ndarray]:
        """As :meth:`Series.iter_slices`, with the file opened once (a .nii.gz is decompressed in one pass)."""
        idx = [int(i) for i in np.asarray(indices).reshape(-1)]
        proxy = self._open(keep_open=True)
        for start in range(0, len(idx), max(1, int(chunk))):
            yield self._read(proxy, idx[start : start + chunk])

    def _open(self, keep_open: bool) -> Any:
        import nibabel as nib

        try:
            return nib.load(self.path, keep_file_open=keep_open).dataobj
        except Exception as exc:  # nibabel raises many types on broken files
            msg = f"cannot read voxel data ({type(exc).__name__}: {exc})"
            raise NiftiReadError(msg, self.path) from None

    def _read(self, proxy: Any, idx: list[int]) -> np.ndarray:
        for i in idx:
            if not 0 <= i < self.n_slices:
                msg = f"slice index {i} out of range for a volume of {self.n_slices} slices"
                raise NiftiReadError(msg, self.path)
        out = np.empty((len(idx), *self.shape), dtype=np.float32)
        if not idx:
            return out
        try:
            extra = (0,) * (self.n_dims - 3)
            vox = [self._voxel_index(i) for i in idx]
            if self.path.lower().endswith(".gz"):
                # gzip streams cannot seek cheaply: read one slab covering all requested slices
                lo, hi = min(vox), max(vox)
                sl: list[Any] = [slice(None)] * 3
                sl[self.s_axis] = slice(lo, hi + 1)
                slab = np.asanyarray(proxy[(*sl, *extra)])
                for k, v in enumerate(vox):
                    out[k] = self._to_image(np.take(slab, v - lo, axis=self.s_axis))
            else:
                for k, v in enumerate(vox):
                    sl = [slice(None)] * 3
                    sl[self.s_axis] = v
                    out[k] = self._to_image(np.asanyarray(proxy[(*sl, *extra)]))
        except Exception as exc:  # nibabel/gzip/numpy raise many types on broken files
            msg = f"cannot read voxel data ({type(exc).__name__}: {exc})"
            raise NiftiReadError(msg, self.path) from None
        np.nan_to_num(out, copy=False, nan=AIR_HU, posinf=AIR_HU, neginf=AIR_HU)
        np.maximum(out, AIR_HU, out=out)
        return out


def load_nifti(
    path: str | os.PathLike[str], *, image: Any = None, identity: str | None = None, cls: type[NiftiSeries] = NiftiSeries
) -> NiftiSeries:
    """Open a NIfTI file as one axial series (header only; voxels are read by ``read_slices``).

    ``image`` (nibabel's, already read), ``identity`` (its content id) and ``cls`` serve files
    inside an archive (:mod:`ctphase.io.archive`): ``path``, the member's address, is not opened.

    Raises:
        NiftiReadError: unreadable file, not 3D (2D, or 4D with more than one volume), or a
            singular affine.
    """
    import nibabel as nib
    from nibabel.orientations import io_orientation

    path = os.fspath(path)
    try:
        img = nib.load(path) if image is None else image
    except FileNotFoundError:
        raise NiftiReadError("cannot read file: it does not exist (broken symbolic link?)", path) from None
    except PermissionError:
        raise NiftiReadError("cannot read file: permission denied", path) from None
    except Exception as exc:
        msg = f"not a readable NIfTI file ({type(exc).__name__}: {exc})"
        raise NiftiReadError(msg, path) from None
    shape = tuple(int(s) for s in img.shape)
    if len(shape) < 3:
        msg = f"{len(shape)}D image of shape {shape}; ctphase needs a 3D CT volume"
        raise NiftiReadError(msg, path)
    if any(s != 1 for s in shape[3:]):
        msg = (
            f"{len(shape)}D image of shape {shape} holds {int(np.prod(shape[3:]))} volumes; "
            "ctphase needs one 3D CT volume per file: split it (e.g. nibabel.funcs.four_to_three)"
        )
        raise NiftiReadError(msg, path)
    affine = np.asarray(img.affine, dtype=np.float64)
    if not np.all(np.isfinite(affine)) or abs(np.linalg.det(affine[:3, :3])) < 1e-12:
        raise NiftiReadError("the affine (qform/sform) is singular or not finite", path)
    ornt = io_orientation(affine)
    axis_of = {int(world): (vox, int(flip)) for vox, (world, flip) in enumerate(ornt)}
    col_axis, col_dir = axis_of[0]  # R
    row_axis, row_dir = axis_of[1]  # A
    s_axis, s_dir = axis_of[2]  # S
    zooms = [float(z) for z in img.header.get_zooms()[:3]]
    n = shape[s_axis]
    vox_idx = np.arange(n) if s_dir > 0 else np.arange(n)[::-1]
    ijk = np.zeros((n, 4))
    ijk[:, s_axis] = vox_idx
    ijk[:, 3] = 1
    positions = (ijk @ affine.T)[:, 2]
    warnings: list[str] = []
    if n > 1 and not np.all(np.diff(positions) > 0):
        warnings.append("slice positions along S are not strictly increasing (unusual affine)")
    series = cls(
        source="nifti",
        path=path,
        n_slices=n,
        shape=(shape[row_axis], shape[col_axis]),
        pixel_spacing=(zooms[row_axis], zooms[col_axis]),
        slice_positions=positions,
        warnings=warnings,
        meta={"orientation": "".join(nib.orientations.ornt2axcodes(ornt))},
        s_axis=s_axis,
        s_flip=s_dir < 0,
        row_axis=row_axis,
        row_flip=row_dir > 0,  # voxel index runs towards A: flip so that rows run A -> P
        col_axis=col_axis,
        col_flip=col_dir > 0,  # voxel index runs towards R: flip so that columns run R -> L
        n_dims=len(shape),
        content_id=content_id(path) if identity is None else identity,
    )
    if not _has_orientation(img.header):
        series.flag(
            "no_orientation",
            "no orientation in the header (qform_code and sform_code are 0): axes, slice direction and "
            f"spacing assumed from voxel order and sizes ({series.meta['orientation']})",
        )
    return series


def _has_orientation(header: Any) -> bool:
    try:
        return int(header["qform_code"]) > 0 or int(header["sform_code"]) > 0
    except (KeyError, TypeError, ValueError):  # not a NIfTI-1/2 header: nibabel gave its own affine
        return False


def content_id(path: str) -> str:
    """``nifti:`` + the first 16 hex digits of the SHA-256 of the file's bytes.

    Raises:
        NiftiReadError: when the file cannot be read.
    """
    try:
        with open(path, "rb") as fh:
            digest = hashlib.file_digest(fh, "sha256").hexdigest()
    except OSError as exc:
        raise NiftiReadError(f"cannot read file: {exc.strerror or exc}", path) from None
    return f"nifti:{digest[:16]}"
