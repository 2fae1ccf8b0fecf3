"""Series types common to the DICOM and NIfTI readers, and the air value they fill with.

A :class:`Series` is one axial stack of CT slices whose headers are known and whose pixels
are decoded only on request (:meth:`Series.read_slices`), so that a sampler can pick R% of
the slices and only those are read. Slices are indexed 0..n_slices-1 in ascending position
along the slice normal (inferior to superior for a standard axial DICOM series).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

AIR_HU = -1024.0
"""Air in Hounsfield units: padding, out-of-field fill and anything below it read as this value."""


@dataclass
class Series(ABC):
    """One axial CT stack, sorted along the slice normal, pixels read lazily.

    Attributes:
        source: ``"dicom"`` or ``"nifti"``.
        path: the folder holding the series' files (DICOM) or the file (NIfTI).
        n_slices: number of slices in the stack.
        shape: ``(rows, columns)`` of one slice.
        pixel_spacing: ``(row, column)`` spacing in mm, when known.
        slice_positions: ``(n_slices,)`` position of each slice along the normal, mm, ascending.
        study_uid, series_uid: DICOM identity (``None`` for NIfTI).
        acquisition: AcquisitionNumber when the DICOM series was split by acquisition.
        reconstruction: what sets this stack apart when one DICOM series held several
            reconstructions at the same positions (e.g. ``"ConvolutionKernel=BONE"``); its
            ``rec`` number is part of the series id.
        content_id: an identity computed from the file's bytes (NIfTI), so that the id and
            the slice draw do not depend on how the path was typed.
        description: SeriesDescription (free text typed at the scanner; never trusted for the label).
        warnings: non-fatal problems found while assembling the stack (gaps, dropped images, ...).
        qc: names of the quality flags the headers raise (:data:`ctphase.qc.QC_FLAGS`); each
            flag's reason is in ``warnings``.
    """

    source: str
    path: str
    n_slices: int
    shape: tuple[int, int]
    pixel_spacing: tuple[float, float] | None = None
    slice_positions: np.ndarray | None = None
    study_uid: str | None = None
    series_uid: str | None = None
    acquisition: int | None = None
    description: str | None = None
    warnings: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    reconstruction: str | None = None
    reconstruction_index: int | None = None
    content_id: str | None = None
    qc: list[str] = field(default_factory=list)

    @property
    def series_id(self) -> str:
        """A stable, patient-anonymous identity that does not depend on how a path was typed.

        DICOM: ``study_uid/series_uid``, plus ``/acqN`` or ``/recN`` when one series UID held
        several acquisitions or reconstructions. NIfTI: its :attr:`content_id`. The path only
        when neither exists.
        """
        if self.series_uid:
            sid = f"{self.study_uid}/{self.series_uid}"
            if self.acquisition is not None:
                sid += f"/acq{self.acquisition}"
            if self.reconstruction_index is not None:
                sid += f"/rec{self.reconstruction_index}"
            return sid
        return self.content_id or self.path

    def flag(self, name: str, message: str) -> None:
        """Raise quality flag ``name`` (once) and record ``message`` in the warnings."""
        if name not in self.qc:
            self.qc.append(name)
        self.warnings.append(message)

    @property
    def slice_spacing(self) -> float | None:
        """Median distance between neighbouring slices in mm (``None`` for a single slice)."""
        if self.slice_positions is None or len(self.slice_positions) < 2:
            return None
        return float(np.median(np.diff(self.slice_positions)))

    @abstractmethod
    def read_slices(self, indices: np.ndarray | list[int] | None = None) -> np.ndarray:
        """Decode the given slices (all when ``None``) to Hounsfield units.

        Returns:
            ``(N, rows, columns)`` float32 array in HU, in the order of ``indices``;
            padding pixels are set to :data:`AIR_HU` (-1024 HU, air).

        Raises:
            ctphase.errors.InputError: naming the file that could not be decoded.
        """

    def iter_slices(self, indices: np.ndarray | list[int], chunk: int) -> Iterator[np.ndarray]:
        """Decode ``indices`` in consecutive parts of at most ``chunk`` slices, so that memory stays bounded.

        Yields:
            ``(len(part), rows, columns)`` float32 HU arrays, together in the order of ``indices``.
        """
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        for start in range(0, len(idx), max(1, int(chunk))):
            yield self.read_slices(idx[start : start + chunk])

    def read_volume(self) -> np.ndarray:
        """All slices, ``(n_slices, rows, columns)`` float32 HU."""
        return self.read_slices(None)


@dataclass
class Skipped:
    """An input that was not classified, and why.

    A non-axial stack (a coronal or sagittal reformat) keeps its ``plane``, its header values
    in ``meta`` and the stack itself (``stack``, sorted along its normal, pixels unread), so
    that the study step can give it the phase of the acquisition it was made from, or the
    pipeline reslice it (:mod:`ctphase.io.reslice`).

    ``kind`` is ``"unused"`` for the files of one folder that are not read (neither DICOM nor
    NIfTI, hidden, DICOMDIR indexes: tallied, see :mod:`ctphase.io.unused`), ``"skipped"`` for
    inputs that are valid but not classifiable (MR, localizer,
    SR, too few slices, non-axial) and ``"error"`` for inputs that are broken (unreadable
    file, truncated, missing pixel data, inconsistent series).
    """

    path: str
    reason: str
    kind: str = "skipped"
    study_uid: str | None = None
    series_uid: str | None = None
    n_files: int = 0
    plane: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    stack: Series | None = field(default=None, repr=False, compare=False)

    @property
    def series_id(self) -> str:
        """Same identity rule as :attr:`Series.series_id`."""
        if self.series_uid:
            return f"{self.study_uid}/{self.series_uid}"
        return self.path
