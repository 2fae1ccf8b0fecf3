"""Write tiny, valid CT DICOM series with pydicom, and know the HU truth.

Reusable from any test (``from dicom_factory import write_series``; ``tests/`` is on
``sys.path`` through conftest). Everything is built in a caller-given folder, usually
``tmp_path``.

Example::

    info = write_series(tmp_path / "s", n=12, spacing=2.5, intercept=-1024, shuffle=True)
    info.hu          # (12, 32, 32) float32, expected HU in ascending slice-position order
    info.paths       # file of each slice, same order
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    UID,
    CTImageStorage,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    RLELossless,
    generate_uid,
)

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
CORONAL = (1.0, 0.0, 0.0, 0.0, 0.0, -1.0)
SAGITTAL = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)
MR_IMAGE_STORAGE = UID("1.2.840.10008.5.1.4.1.1.4")
BASIC_TEXT_SR = UID("1.2.840.10008.5.1.4.1.1.88.11")
# transfer syntaxes written through python-gdcm (pydicom has no encoder for them)
GDCM_SYNTAXES = {JPEGLSLossless, JPEGLosslessSV1}


@dataclass
class SeriesInfo:
    """What :func:`write_series` wrote. Arrays are in ascending slice-position order."""

    folder: Path
    paths: list[Path]
    hu: np.ndarray  # (n, rows, cols) float32: expected HU after padding/clipping rules
    stored: np.ndarray  # (n, rows, cols) stored pixel values
    positions: np.ndarray  # (n,) position along the slice normal (mm)
    study_uid: str
    series_uid: str
    sop_uids: list[str] = field(default_factory=list)


def normal_of(orientation: Sequence[float]) -> np.ndarray:
    """Slice normal = row x column direction cosines (PS3.3 C.7.6.2)."""
    return np.cross(np.asarray(orientation[:3], float), np.asarray(orientation[3:6], float))


def default_hu(n: int, rows: int, cols: int, seed: int = 0) -> np.ndarray:
    """A body-like test pattern: air outside a disc of fat/soft tissue/bone, distinct per slice."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:rows, :cols]
    r = np.hypot(yy - rows / 2 + 0.5, xx - cols / 2 + 0.5) / (min(rows, cols) / 2)
    out = np.empty((n, rows, cols), np.float32)
    for i in range(n):
        img = np.where(r < 0.9, -100.0, -1000.0)
        img = np.where(r < 0.7, 40.0 + i, img)
        img = np.where(r < 0.15, 700.0, img)
        img += rng.integers(-20, 21, size=(rows, cols))
        out[i] = img
    return out


def make_ct_dataset(
    stored: np.ndarray,
    *,
    position: Sequence[float],
    orientation: Sequence[float] = AXIAL,
    pixel_spacing: tuple[float, float] = (0.8, 0.8),
    slope: float | None = 1.0,
    intercept: float | None = -1024.0,
    padding_value: int | None = None,
    padding_limit: int | None = None,
    modality: str = "CT",
    sop_class: str = CTImageStorage,
    image_type: Sequence[str] = ("ORIGINAL", "PRIMARY", "AXIAL"),
    acquisition: int | None = 1,
    study_uid: str,
    series_uid: str,
    sop_uid: str | None = None,
    instance_number: int = 1,
    slice_location: float | None = None,
    description: str = "test series",
) -> Dataset:
    """One CT image dataset with the given stored values (``int16`` -> signed, ``uint16`` -> unsigned)."""
    sop_uid = sop_uid or generate_uid()
    signed = stored.dtype == np.int16
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = list(image_type)
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.StudyDate = "20240101"
    ds.AcquisitionTime = "101500.000"
    ds.Modality = modality
    ds.Manufacturer = "ctphase-tests"
    ds.SeriesDescription = description
    ds.PatientName = "SECRET^PATIENT"
    ds.PatientID = "SECRET-ID-42"
    ds.KVP = "120"
    ds.SliceThickness = "2.5"
    ds.ContrastBolusAgent = "IOPAMIDOL"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = 3
    if acquisition is not None:
        ds.AcquisitionNumber = acquisition
    ds.InstanceNumber = instance_number
    ds.ImagePositionPatient = [f"{v:.4f}" for v in position]
    ds.ImageOrientationPatient = [f"{v:.6f}" for v in orientation]
    ds.FrameOfReferenceUID = generate_uid(entropy_srcs=[study_uid, "frame"])
    if slice_location is not None:
        ds.SliceLocation = f"{slice_location:.4f}"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = stored.shape
    ds.PixelSpacing = [f"{v:.4f}" for v in pixel_spacing]
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1 if signed else 0
    if padding_value is not None:
        ds.add_new(0x00280120, "SS" if signed else "US", int(padding_value))
    if padding_limit is not None:
        ds.add_new(0x00280121, "SS" if signed else "US", int(padding_limit))
    if intercept is not None:
        ds.RescaleIntercept = f"{intercept:g}"
    if slope is not None:
        ds.RescaleSlope = f"{slope:g}"
    if intercept is not None or slope is not None:
        ds.RescaleType = "HU"
    ds.PixelData = np.ascontiguousarray(stored).astype("<i2" if signed else "<u2").tobytes()
    return ds


def save(ds: Dataset, path: str | os.PathLike[str], *, transfer_syntax: str = ExplicitVRLittleEndian, preamble: bool = True) -> Path:
    """Write ``ds`` as a DICOM file (PS3.10), compressing when ``transfer_syntax`` asks for it.

    RLE Lossless and JPEG 2000 Lossless use pydicom's encoders; JPEG-LS Lossless and JPEG
    Lossless SV1 are written through python-gdcm. ``preamble=False`` writes a raw implicit VR
    dataset without preamble or file meta (as some old archives hold).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ts = UID(transfer_syntax)
    if not preamble:
        ds = ds.copy()
        ds.preamble = None
        del ds.file_meta
        pydicom.dcmwrite(path, ds, implicit_vr=True, little_endian=True)
        return path
    if ts in (ExplicitVRLittleEndian, ImplicitVRLittleEndian):
        ds.file_meta.TransferSyntaxUID = ts
        ds.save_as(path, enforce_file_format=True, implicit_vr=ts == ImplicitVRLittleEndian)
        return path
    if ts in (RLELossless, JPEG2000Lossless):
        ds = ds.copy()
        ds.compress(ts, encoding_plugin="pydicom" if ts == RLELossless else "")
        ds.save_as(path, enforce_file_format=True)
        return path
    if ts in GDCM_SYNTAXES:
        import gdcm

        tmp = path.with_name(path.name + ".tmp")
        ds.save_as(tmp, enforce_file_format=True)
        reader = gdcm.ImageReader()
        reader.SetFileName(str(tmp))
        if not reader.Read():
            raise RuntimeError(f"gdcm could not read {tmp}")
        change = gdcm.ImageChangeTransferSyntax()
        change.SetTransferSyntax(gdcm.TransferSyntax(gdcm.TransferSyntax.GetTSType(str(ts))))
        change.SetInput(reader.GetImage())
        if not change.Change():
            raise RuntimeError(f"gdcm could not encode {ts.name}")
        writer = gdcm.ImageWriter()
        writer.SetFileName(str(path))
        writer.SetFile(reader.GetFile())
        writer.SetImage(change.GetOutput())
        if not writer.Write():
            raise RuntimeError(f"gdcm could not write {path}")
        tmp.unlink()
        return path
    raise ValueError(f"unsupported transfer syntax for the test factory: {ts}")


def expected_hu(
    stored: np.ndarray, slope: float, intercept: float, padding_value: int | None = None, padding_limit: int | None = None
) -> np.ndarray:
    """The HU ctphase must return: stored*slope+intercept, padding and anything below -1024 -> -1024."""
    hu = stored.astype(np.float64) * slope + intercept
    if padding_value is not None:
        lo, hi = (padding_value, padding_value) if padding_limit is None else sorted((padding_value, padding_limit))
        hu[(stored >= lo) & (stored <= hi)] = -1024
    return np.maximum(hu, -1024).astype(np.float32)


def write_series(
    folder: str | os.PathLike[str],
    *,
    n: int = 10,
    rows: int = 32,
    cols: int = 32,
    hu: np.ndarray | None = None,
    spacing: float = 2.5,
    positions: Sequence[float] | None = None,
    pixel_spacing: tuple[float, float] = (0.8, 0.8),
    orientation: Sequence[float] = AXIAL,
    origin: Sequence[float] = (-12.8, -12.8, -40.0),
    slope: float | Sequence[float] = 1.0,
    intercept: float | Sequence[float] = -1024.0,
    rescale: bool = True,
    dtype: str = "uint16",
    padding_value: int | None = None,
    padding_limit: int | None = None,
    modality: str = "CT",
    sop_class: str = CTImageStorage,
    image_type: Sequence[str] = ("ORIGINAL", "PRIMARY", "AXIAL"),
    acquisition: int | None = 1,
    study_uid: str | None = None,
    series_uid: str | None = None,
    transfer_syntax: str = ExplicitVRLittleEndian,
    names: str | Callable[[int], str] = "slice{i:03d}.dcm",
    shuffle: bool = False,
    nested: bool = False,
    preamble: bool = True,
    slice_location: bool = True,
    seed: int = 0,
    edit: Callable[[Dataset, int], None] | None = None,
) -> SeriesInfo:
    """Write an ``n``-slice CT series into ``folder``; return the files and the expected HU.

    Args:
        hu: ``(n, rows, cols)`` HU to store (rounded to what slope/intercept can represent);
            a body-like pattern when ``None``.
        spacing / positions: slice spacing along the normal, or explicit positions (mm).
        orientation: Image Orientation (Patient); slice ``i`` sits at ``origin + pos_i * normal``.
        slope, intercept: Rescale values, one for all slices or one per slice; ``rescale=False``
            omits both tags (then stored values are the HU).
        dtype: ``"uint16"`` or ``"int16"`` stored pixels (Pixel Representation 0 / 1).
        padding_value, padding_limit: Pixel Padding Value (and Range Limit), stored-value space.
            Pixels of ``hu`` equal to -2000 are written as ``padding_value``.
        names: file-name pattern with ``{i}`` (write order) or a function of ``i``.
        shuffle: write the slices in random order, so that file names and Instance Numbers
            do not follow the position.
        nested: spread files over nested sub-folders.
        edit: called as ``edit(dataset, slice_index)`` before saving, to break things.
    """
    folder = Path(folder)
    rng = np.random.default_rng(seed)
    if hu is not None:
        n = len(hu)
    if positions is None:
        positions = [i * spacing for i in range(n)]
    pos = np.asarray(positions, dtype=np.float64)
    n = len(pos)
    if hu is None:
        hu = default_hu(n, rows, cols, seed)
    hu = np.asarray(hu, dtype=np.float64)
    rows, cols = hu.shape[1:]
    slopes = np.broadcast_to(np.asarray(slope, float), (n,)) if rescale else np.ones(n)
    intercepts = np.broadcast_to(np.asarray(intercept, float), (n,)) if rescale else np.zeros(n)
    np_dtype = np.int16 if dtype == "int16" else np.uint16
    info_lim = np.iinfo(np_dtype)
    study_uid = study_uid or generate_uid()
    series_uid = series_uid or generate_uid()
    normal = normal_of(orientation)
    order = rng.permutation(n) if shuffle else np.arange(n)
    stored_all = np.empty((n, rows, cols), dtype=np_dtype)
    expected = np.empty((n, rows, cols), dtype=np.float32)
    paths: list[Path] = [Path()] * n
    sops: list[str] = [""] * n
    for w, i in enumerate(order):  # w = write order, i = position index
        st = np.round((hu[i] - intercepts[i]) / slopes[i])
        pad_mask = hu[i] == -2000
        if padding_value is not None:
            st[pad_mask] = padding_value
        if st.min() < info_lim.min or st.max() > info_lim.max:
            raise ValueError(f"HU of slice {i} do not fit {dtype} with slope {slopes[i]} intercept {intercepts[i]}")
        stored = st.astype(np_dtype)
        stored_all[i] = stored
        expected[i] = expected_hu(stored, slopes[i], intercepts[i], padding_value, padding_limit)
        xyz = np.asarray(origin, float) + pos[i] * normal
        ds = make_ct_dataset(
            stored,
            position=xyz,
            orientation=orientation,
            pixel_spacing=pixel_spacing,
            slope=float(slopes[i]) if rescale else None,
            intercept=float(intercepts[i]) if rescale else None,
            padding_value=padding_value,
            padding_limit=padding_limit,
            modality=modality,
            sop_class=sop_class,
            image_type=image_type,
            acquisition=acquisition,
            study_uid=study_uid,
            series_uid=series_uid,
            instance_number=int(w + 1),
            slice_location=float(xyz[2]) if slice_location else None,
        )
        if edit is not None:
            edit(ds, int(i))
        name = names(int(w)) if callable(names) else names.format(i=int(w))
        sub = Path(f"d{w % 3}") / f"e{w % 2}" if nested else Path()
        paths[i] = save(ds, folder / sub / name, transfer_syntax=transfer_syntax, preamble=preamble)
        sops[i] = str(ds.SOPInstanceUID)
    return SeriesInfo(folder, paths, expected, stored_all, pos, study_uid, series_uid, sops)


def write_sr(path: str | os.PathLike[str], *, study_uid: str | None = None, series_uid: str | None = None) -> Path:
    """A Basic Text SR object (no pixel data)."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = BASIC_TEXT_SR
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = BASIC_TEXT_SR
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality = "SR"
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.ValueType = "CONTAINER"
    item = Dataset()
    item.ValueType = "TEXT"
    item.TextValue = "Findings: none."
    ds.ContentSequence = [item]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def truncate(path: str | os.PathLike[str], keep: int) -> None:
    """Cut a file to its first ``keep`` bytes (negative: drop that many from the end)."""
    data = Path(path).read_bytes()
    Path(path).write_bytes(data[:keep])


ENHANCED_CT_STORAGE = UID("1.2.840.10008.5.1.4.1.1.2.1")


@dataclass
class EnhancedInfo:
    """What :func:`write_enhanced_ct` wrote. Arrays are in ascending slice-position order."""

    path: Path
    hu: np.ndarray  # (n, rows, cols) float32 expected HU
    positions: np.ndarray  # (n,) position along the slice normal (mm)
    frame_of_slice: np.ndarray  # (n,) 0-based frame index holding each position-ordered slice
    study_uid: str
    series_uid: str
    sop_uid: str


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def _item(**attrs: object) -> Dataset:
    """A sequence item; text values of binary float attributes (VR FD/FL) are converted."""
    from pydicom.datadict import dictionary_VR

    item = Dataset()
    for k, v in attrs.items():
        if dictionary_VR(k) in ("FD", "FL"):
            v = [float(x) for x in v] if isinstance(v, list) else float(v)  # type: ignore[arg-type,union-attr]
        setattr(item, k, v)
    return item


def _enhanced_file_level(ds: Dataset, *, study_uid: str, series_uid: str, sop_uid: str, n: int) -> None:
    """The modules of an Enhanced CT Image (PS3.3 A.38) that do not depend on the pixels."""
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "VOLUME", "NONE"]
    ds.SOPClassUID = ENHANCED_CT_STORAGE
    ds.SOPInstanceUID = sop_uid
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = "20240101"
    ds.StudyTime = ds.SeriesTime = "101000"
    ds.ContentTime = "101500"
    ds.AcquisitionDateTime = "20240101101500.000"
    ds.AccessionNumber = ""
    ds.Modality = "CT"
    ds.Manufacturer = "ctphase-tests"
    ds.ManufacturerModelName = "synthetic"
    ds.DeviceSerialNumber = "0"
    ds.SoftwareVersions = "1"
    ds.InstitutionName = "nowhere"
    ds.ReferringPhysicianName = ""
    ds.SeriesDescription = "enhanced test series"
    ds.PatientName = "SECRET^PATIENT"
    ds.PatientID = "SECRET-ID-42"
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.StudyID = "1"
    ds.SeriesNumber = 3
    ds.InstanceNumber = 1
    ds.FrameOfReferenceUID = generate_uid(entropy_srcs=[study_uid, "frame"])
    ds.PositionReferenceIndicator = ""
    ds.ContentQualification = "RESEARCH"
    ds.ImageComments = "synthetic"
    ds.BurnedInAnnotation = "NO"
    ds.LossyImageCompression = "00"
    ds.PresentationLUTShape = "IDENTITY"
    ds.AcquisitionNumber = 1
    ds.AcquisitionDuration = 10.0
    ds.PatientPosition = "FFS"
    ds.PixelPresentation = "MONOCHROME"
    ds.VolumetricProperties = "VOLUME"
    ds.VolumeBasedCalculationTechnique = "NONE"
    ds.NumberOfFrames = n
    ds.AcquisitionContextSequence = []
    ds.ContrastBolusAgentSequence = [
        _item(
            CodeValue="387314000", CodingSchemeDesignator="SCT", CodeMeaning="Iopamidol",
            ContrastBolusAgentNumber=1, ContrastBolusVolume="100", ContrastBolusIngredientConcentration="300",
            ContrastBolusAdministrationRouteSequence=[_code("47625008", "SCT", "Intravenous route")],
            ContrastBolusIngredientCodeSequence=[_code("44588005", "SCT", "Iodine")],
        )
    ]
    dim_uid = generate_uid(entropy_srcs=[sop_uid, "dimension"])
    ds.DimensionOrganizationSequence = [_item(DimensionOrganizationUID=dim_uid)]
    ds.DimensionIndexSequence = [
        _item(DimensionOrganizationUID=dim_uid, DimensionIndexPointer=0x00209057,
              FunctionalGroupPointer=0x00209111, DimensionDescriptionLabel="In-Stack Position"),
    ]
    ds.DimensionOrganizationType = "3D"


def _enhanced_shared(orientation: Sequence[float], pixel_spacing: tuple[float, float]) -> Dataset:
    """The Shared Functional Groups item: orientation, pixel measures, CT acquisition groups."""
    shared = Dataset()
    shared.PlaneOrientationSequence = [_item(ImageOrientationPatient=[f"{v:.6f}" for v in orientation])]
    shared.PixelMeasuresSequence = [_item(PixelSpacing=[f"{v:.4f}" for v in pixel_spacing], SliceThickness="2.5")]
    shared.FrameAnatomySequence = [
        _item(FrameLaterality="U", AnatomicRegionSequence=[_code("818981001", "SCT", "Abdomen")])
    ]
    shared.IrradiationEventIdentificationSequence = [_item(IrradiationEventUID=generate_uid())]
    shared.CTImageFrameTypeSequence = [
        _item(FrameType=["ORIGINAL", "PRIMARY", "VOLUME", "NONE"], PixelPresentation="MONOCHROME",
              VolumetricProperties="VOLUME", VolumeBasedCalculationTechnique="NONE")
    ]
    shared.CTAcquisitionTypeSequence = [_item(AcquisitionType="SPIRAL", ConstantVolumeFlag="NO",
                                              FluoroscopyFlag="NO")]
    shared.CTAcquisitionDetailsSequence = [
        _item(DataCollectionDiameter="500", GantryDetectorTilt="0", TableHeight="150", RotationDirection="CW",
              RevolutionTime="0.5", SingleCollimationWidth="0.625", TotalCollimationWidth="40")
    ]
    shared.CTTableDynamicsSequence = [_item(TableSpeed="80", TableFeedPerRotation="40", SpiralPitchFactor="1")]
    shared.CTGeometrySequence = [_item(DistanceSourceToDetector="1000", DistanceSourceToDataCollectionCenter="540")]
    shared.CTReconstructionSequence = [
        _item(ReconstructionAlgorithm="FILTER_BACK_PROJ", ConvolutionKernel="SOFT", ConvolutionKernelGroup="SOFT_TISSUE",
              ReconstructionDiameter="400",
              ReconstructionPixelSpacing=[f"{v:.4f}" for v in pixel_spacing], ReconstructionAngle="360",
              ImageFilter="NONE")
    ]
    shared.CTExposureSequence = [_item(ExposureTimeInms="500", XRayTubeCurrentInmA="200", ExposureInmAs="100",
                                       ExposureModulationType="NONE")]
    shared.CTXRayDetailsSequence = [_item(KVP="120", FocalSpots=["1.2"], FilterType="BODY", FilterMaterial=["ALUMINUM"])]
    shared.ContrastBolusUsageSequence = [_item(ContrastBolusAgentNumber=1, ContrastBolusAgentAdministered="YES",
                                              ContrastBolusAgentDetected="NO")]
    return shared


def write_enhanced_ct(
    path: str | os.PathLike[str],
    *,
    n: int = 12,
    rows: int = 64,
    cols: int = 64,
    spacing: float = 2.5,
    orientation: Sequence[float] = AXIAL,
    origin: Sequence[float] = (-25.6, -25.6, -40.0),
    pixel_spacing: tuple[float, float] = (0.8, 0.8),
    slopes: Sequence[float] | None = None,
    intercepts: Sequence[float] | None = None,
    shuffle: bool = False,
    transfer_syntax: str = ExplicitVRLittleEndian,
    seed: int = 0,
    edit: Callable[[Dataset], None] | None = None,
) -> EnhancedInfo:
    """Write one Enhanced CT Image Storage file (PS3.3 A.38) of ``n`` frames; return the HU truth.

    Frame ``k`` sits at ``origin + pos * normal`` with per-frame Plane Position and Pixel Value
    Transformation (the rescale differs between frames: ``slopes``/``intercepts``, by default
    alternating slope 1/2 and intercept -1024/-1000); orientation and pixel spacing are shared.
    ``shuffle`` stores the frames in random position order. ``transfer_syntax`` as in
    :func:`save` (RLE Lossless encodes every frame). ``edit`` is called on the dataset before
    saving, to break things.
    """
    path = Path(path)
    rng = np.random.default_rng(seed)
    slopes_a = np.asarray(slopes if slopes is not None else [1.0 + (i % 2) for i in range(n)], float)
    intercepts_a = np.asarray(intercepts if intercepts is not None else [-1024.0 + 24 * (i % 2) for i in range(n)], float)
    hu_true = default_hu(n, rows, cols, seed)
    pos = np.arange(n, dtype=np.float64) * spacing
    order = rng.permutation(n) if shuffle else np.arange(n)  # order[k] = position index stored in frame k
    normal = normal_of(orientation)
    stored = np.empty((n, rows, cols), np.uint16)
    expected = np.empty((n, rows, cols), np.float32)
    per_frame = []
    for k, i in enumerate(order):
        st = np.round((hu_true[i] - intercepts_a[k]) / slopes_a[k]).astype(np.uint16)
        stored[k] = st
        expected[i] = expected_hu(st, slopes_a[k], intercepts_a[k])
        xyz = np.asarray(origin, float) + pos[i] * normal
        per_frame.append(
            _item(
                FrameContentSequence=[_item(StackID="1", InStackPositionNumber=int(i + 1), DimensionIndexValues=[int(i + 1)],
                                            FrameAcquisitionDateTime="20240101101500.000",
                                            FrameReferenceDateTime="20240101101500.000",
                                            FrameAcquisitionDuration="500")],
                PlanePositionSequence=[_item(ImagePositionPatient=[f"{v:.4f}" for v in xyz])],
                CTPositionSequence=[_item(TablePosition=float(xyz[2]), DataCollectionCenterPatient=[0.0, 0.0, float(xyz[2])],
                                          ReconstructionTargetCenterPatient=[0.0, 0.0, float(xyz[2])])],
                PixelValueTransformationSequence=[_item(RescaleIntercept=f"{intercepts_a[k]:g}",
                                                        RescaleSlope=f"{slopes_a[k]:g}", RescaleType="HU")],
                FrameVOILUTSequence=[_item(WindowCenter="40", WindowWidth="400")],
            )
        )
    study_uid, series_uid, sop_uid = generate_uid(), generate_uid(), generate_uid()
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ENHANCED_CT_STORAGE
    ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    _enhanced_file_level(ds, study_uid=study_uid, series_uid=series_uid, sop_uid=sop_uid, n=n)
    ds.SharedFunctionalGroupsSequence = [_enhanced_shared(orientation, pixel_spacing)]
    ds.PerFrameFunctionalGroupsSequence = per_frame
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = rows, cols
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelData = stored.astype("<u2").tobytes()
    if edit is not None:
        edit(ds)
    save(ds, path, transfer_syntax=transfer_syntax)
    frame_of_slice = np.empty(n, dtype=np.int64)
    frame_of_slice[order] = np.arange(n)
    return EnhancedInfo(path, expected, pos, frame_of_slice, study_uid, series_uid, sop_uid)
