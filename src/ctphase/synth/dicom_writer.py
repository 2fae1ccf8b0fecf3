"""Write a synthetic series as CT Image Storage DICOM files (one file per slice).

Geometry follows PS3.3 C.7.6.2 (Image Plane: ImagePositionPatient is the centre of the first
transmitted pixel, LPS, ImageOrientationPatient 1/0/0/0/1/0 for supine axial) and pixel
values C.11.1 (Modality LUT: HU = stored * RescaleSlope + RescaleIntercept).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    CTImageStorage,
    ExplicitVRLittleEndian,
    generate_uid,
)

from .scanner import to_stored
from .series import SeriesParams


def make_uid(seed: int, *parts: object) -> str:
    """A valid UID derived deterministically from ``seed`` and ``parts`` (pydicom ``entropy_srcs``)."""
    return generate_uid(entropy_srcs=[f"ctphase-synth:{seed}", *map(str, parts)])


@dataclass
class StudyInfo:
    """Identity and clock of one synthetic study (common to all its series)."""

    patient_name: str
    patient_id: str
    sex: str
    age: int
    study_uid: str
    frame_uid: str
    study_date: dt.date
    injection_time: dt.datetime
    accession: str
    study_description: str | None
    patient_position: str = "HFS"


def _tm(t: dt.datetime) -> str:
    return t.strftime("%H%M%S.%f")[:13]


def acquisition_start(study: StudyInfo, series: SeriesParams, order: int) -> dt.datetime:
    """Start of acquisition of a series: before injection for non-contrast, else injection + time."""
    if series.seconds_after_injection is None:
        return study.injection_time - dt.timedelta(seconds=120 + 60 * order)
    return study.injection_time + dt.timedelta(seconds=float(series.seconds_after_injection))


def write_dicom_series(
    out_dir: Path,
    hu: np.ndarray,
    z_dicom: np.ndarray,
    series: SeriesParams,
    study: StudyInfo,
    series_uid: str,
    seed: int,
    series_number: int,
    first_instance: int = 1,
    start: dt.datetime | None = None,
    scan_seconds: float = 6.0,
    n_total: int | None = None,
) -> list[Path]:
    """Write slices ``hu (n, rows, cols)`` at DICOM z ``z_dicom`` (descending = head first) to ``out_dir``.

    Call repeatedly with consecutive chunks (``first_instance``) to keep memory low.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    n_total = n_total or (first_instance - 1 + hu.shape[0])
    start = start or acquisition_start(study, series, series_number)
    ps = series.pixel_spacing
    x0 = series.center_x - series.fov_mm / 2 + ps / 2
    y0 = series.center_y - series.fov_mm / 2 + ps / 2
    stored = to_stored(hu, series)
    paths = []
    recon_delay = dt.timedelta(seconds=20 + (series.noise_seed % 40))
    for k in range(hu.shape[0]):
        inst = first_instance + k
        path = out_dir / f"IM{inst:05d}.dcm"
        ds = _new_dataset(path, make_uid(seed, series_uid, "sop", inst), study, series_uid)
        _set_patient_and_study(ds, study)
        t_acq = start + dt.timedelta(seconds=scan_seconds * (inst - 1) / max(1, n_total - 1))
        _set_dates_and_times(ds, study, start, t_acq, recon_delay)
        _set_series_and_acquisition(ds, series, study, series_number, inst)
        _set_image(ds, series, (x0, y0, float(z_dicom[k])), stored[k])
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


AXIAL = (1, 0, 0, 0, 1, 0)
CORONAL = (1, 0, 0, 0, 0, -1)
SAGITTAL = (0, 1, 0, 0, 0, -1)
"""ImageOrientationPatient (row, then column direction cosines, LPS) of each plane; reformats run head to feet."""


def write_tagged_series(
    out_dir: Path,
    hu: np.ndarray,
    positions: np.ndarray,
    series: SeriesParams,
    study: StudyInfo,
    series_uid: str,
    seed: int,
    tags: Mapping[str, Any],
    slice_tags: Callable[[int], Mapping[str, Any]] | None = None,
    *,
    plane: tuple[tuple[int, ...], tuple[float, float]] | None = None,
    first_instance: int = 1,
) -> list[Path]:
    """Write images ``hu (n, rows, cols)`` whose first pixels lie at ``positions (n, 3)`` (LPS mm).

    The files start as :func:`write_dicom_series` writes them; then ``tags`` (DICOM keyword ->
    value, the same for every image) and ``slice_tags(k)`` (the values of image ``k``, 0-based
    within this call: acquisition and content times) are applied in that order, a value of None
    removing the attribute. ``plane`` as in :func:`_set_image` (None: axial). Call repeatedly with
    consecutive chunks (``first_instance``) to keep memory low.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    stored = to_stored(hu, series)
    paths = []
    for k in range(hu.shape[0]):
        inst = first_instance + k
        path = out_dir / f"IM{inst:05d}.dcm"
        ds = _new_dataset(path, make_uid(seed, series_uid, "sop", inst), study, series_uid)
        _set_patient_and_study(ds, study)
        _set_series_and_acquisition(ds, series, study, 1, inst)
        _set_image(ds, series, tuple(float(v) for v in positions[k]), stored[k], plane)
        values = dict(tags)
        if slice_tags is not None:
            values.update(slice_tags(k))
        for key, value in values.items():
            if value is None:
                if key in ds:
                    delattr(ds, key)
            else:
                setattr(ds, key, value)
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def _new_dataset(path: Path, sop: str, study: StudyInfo, series_uid: str) -> FileDataset:
    """A CT Image Storage file with its SOP, study, series and frame-of-reference identity."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = sop
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = sop
    ds.StudyInstanceUID = study.study_uid
    ds.SeriesInstanceUID = series_uid
    ds.FrameOfReferenceUID = study.frame_uid
    ds.Modality = "CT"
    return ds


def _set_patient_and_study(ds: FileDataset, study: StudyInfo) -> None:
    """Patient module and study identification."""
    ds.PatientName = study.patient_name
    ds.PatientID = study.patient_id
    ds.PatientSex = study.sex
    ds.PatientAge = f"{study.age:03d}Y"
    ds.PatientBirthDate = ""
    ds.AccessionNumber = study.accession
    ds.StudyID = study.accession[-6:]
    ds.ReferringPhysicianName = ""


def _set_dates_and_times(ds: FileDataset, study: StudyInfo, start: dt.datetime, t_acq: dt.datetime,
                         recon_delay: dt.timedelta) -> None:
    """Study, series, acquisition (``t_acq``) and content (reconstruction) dates and times."""
    date = study.study_date.strftime("%Y%m%d")
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = date
    ds.StudyTime = _tm(study.injection_time - dt.timedelta(minutes=10))
    ds.SeriesTime = _tm(start)
    ds.AcquisitionTime = _tm(t_acq)
    ds.ContentTime = _tm(t_acq + recon_delay)


def _set_series_and_acquisition(ds: FileDataset, series: SeriesParams, study: StudyInfo, series_number: int,
                                inst: int) -> None:
    """Descriptions, equipment, contrast bolus, CT acquisition and numbering."""
    if study.study_description is not None:
        ds.StudyDescription = study.study_description
    if series.series_description is not None:
        ds.SeriesDescription = series.series_description
    ds.Manufacturer = series.manufacturer
    ds.InstitutionName = "SYNTHETIC"
    ds.BodyPartExamined = "ABDOMEN"
    if series.contrast_agent is not None:
        ds.ContrastBolusAgent = series.contrast_agent
        if series.seconds_after_injection is not None and series.noise_seed % 3 == 0:
            ds.ContrastBolusStartTime = _tm(study.injection_time)
            ds.ContrastBolusRoute = "IV"
    ds.SliceThickness = f"{series.slice_thickness:g}"
    ds.SpacingBetweenSlices = f"{series.slice_spacing:g}"
    ds.KVP = str(series.kvp)
    ds.ConvolutionKernel = series.kernel_name
    ds.ReconstructionDiameter = f"{series.fov_mm:.1f}"
    ds.PatientPosition = study.patient_position
    ds.SeriesNumber = series_number
    ds.AcquisitionNumber = 1
    ds.InstanceNumber = inst


def _set_image(ds: FileDataset, series: SeriesParams, pos: tuple[float, float, float], stored: np.ndarray,
               plane: tuple[tuple[int, ...], tuple[float, float]] | None = None) -> None:
    """Image plane (``pos``: centre of the first pixel, LPS mm), image pixel and modality LUT, pixel data.

    ``plane``: ``(ImageOrientationPatient, (row spacing, column spacing))`` of a reformat; None: axial,
    square pixels of ``series.pixel_spacing``.
    """
    x0, y0, z = pos
    ps = series.pixel_spacing
    ds.ImagePositionPatient = [f"{x0:.4f}", f"{y0:.4f}", f"{z:.4f}"]
    if plane is None:
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.SliceLocation = f"{z:.4f}"
    else:
        ds.ImageOrientationPatient = list(plane[0])
        ds.SliceLocation = f"{float(np.dot(pos, np.cross(plane[0][:3], plane[0][3:]))):.4f}"
    ds.PositionReferenceIndicator = ""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = stored.shape
    spacing = (ps, ps) if plane is None else plane[1]
    ds.PixelSpacing = [f"{spacing[0]:.6g}", f"{spacing[1]:.6g}"]
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    signed = series.dtype == "int16"
    ds.PixelRepresentation = 1 if signed else 0
    ds.RescaleIntercept = str(series.rescale_intercept)
    ds.RescaleSlope = "1"
    ds.RescaleType = "HU"
    ds.WindowCenter = "40"
    ds.WindowWidth = "400"
    if series.padding_hu is not None and series.circle:
        pv = int(series.padding_hu - series.rescale_intercept)
        if (signed and -32768 <= pv <= 32767) or (not signed and 0 <= pv <= 65535):
            ds.PixelPaddingValue = pv
    ds.PixelData = stored.tobytes()
