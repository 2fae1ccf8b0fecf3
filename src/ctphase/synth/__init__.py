"""Synthetic multi-phase abdominal CT engine.

Patients (:class:`PatientParams`) and series (:class:`SeriesParams`) are random draws,
recorded as JSON; :func:`render_slices` renders any axial slice at any size directly (the
fast path used by :func:`iter_training_slices`); :func:`generate_dataset` writes whole DICOM
or NIfTI studies plus a manifest (what ``ctphase synth`` calls).
"""

from __future__ import annotations

from .anatomy import Anatomy
from .dataset import generate_dataset
from .patient import PatientParams
from .physiology import SUBPHASE_WINDOWS, effective_time, subphase_at, tissue_tables
from .render import anatomy_of, render_slices
from .series import SeriesParams
from .stream import iter_training_slices, patient_params, series_truth
from .tissues import Tissue

__all__ = [
    "Anatomy",
    "PatientParams",
    "SUBPHASE_WINDOWS",
    "SeriesParams",
    "Tissue",
    "anatomy_of",
    "effective_time",
    "generate_dataset",
    "iter_training_slices",
    "patient_params",
    "render_slices",
    "series_truth",
    "subphase_at",
    "tissue_tables",
]
