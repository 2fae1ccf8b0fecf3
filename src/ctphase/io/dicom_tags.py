"""The DICOM attributes the fast header reader decodes (:data:`HEADER_TAGS`) and keeps as text (:data:`META_KEYWORDS`).

Only what grouping, decoding and the header second opinion (:mod:`ctphase.study.headers`)
need: identity by UIDs, image attributes, and the acquisition's text, contrast and timing tags
(PS3.3 C.7.3.1 General Series, C.7.4.1 Frame of Reference, C.7.6.1 General Image, C.7.6.4
Contrast/Bolus, C.7.2.1 General Study, C.8.2.1 CT Image). Patient attributes are never read.
"""

from __future__ import annotations

# tag -> (keyword, VR used for decoding); "xs" = US or SS by Pixel Representation.
HEADER_TAGS: dict[int, tuple[str, str]] = {
    0x00020002: ("MediaStorageSOPClassUID", "UI"),
    0x00020003: ("MediaStorageSOPInstanceUID", "UI"),
    0x00020010: ("TransferSyntaxUID", "UI"),
    0x00080005: ("SpecificCharacterSet", "CS"),
    0x00080008: ("ImageType", "CS"),
    0x00080016: ("SOPClassUID", "UI"),
    0x00080018: ("SOPInstanceUID", "UI"),
    0x00080020: ("StudyDate", "DA"),
    0x00080021: ("SeriesDate", "DA"),
    0x00080022: ("AcquisitionDate", "DA"),
    0x00080023: ("ContentDate", "DA"),
    0x0008002A: ("AcquisitionDateTime", "DT"),
    0x00080030: ("StudyTime", "TM"),
    0x00080031: ("SeriesTime", "TM"),
    0x00080032: ("AcquisitionTime", "TM"),
    0x00080033: ("ContentTime", "TM"),
    0x00080060: ("Modality", "CS"),
    0x00080070: ("Manufacturer", "LO"),
    0x0008103E: ("SeriesDescription", "LO"),
    0x00180010: ("ContrastBolusAgent", "LO"),
    0x00180050: ("SliceThickness", "DS"),
    0x00180060: ("KVP", "DS"),
    0x00181030: ("ProtocolName", "LO"),
    0x00181040: ("ContrastBolusRoute", "LO"),
    0x00181041: ("ContrastBolusVolume", "DS"),
    0x00181042: ("ContrastBolusStartTime", "TM"),
    0x00181048: ("ContrastBolusIngredient", "CS"),
    0x00181210: ("ConvolutionKernel", "SH"),
    0x0020000D: ("StudyInstanceUID", "UI"),
    0x0020000E: ("SeriesInstanceUID", "UI"),
    0x00200011: ("SeriesNumber", "IS"),
    0x00200012: ("AcquisitionNumber", "IS"),
    0x00200013: ("InstanceNumber", "IS"),
    0x00200032: ("ImagePositionPatient", "DS"),
    0x00200037: ("ImageOrientationPatient", "DS"),
    0x00200052: ("FrameOfReferenceUID", "UI"),
    0x00201041: ("SliceLocation", "DS"),
    0x00280002: ("SamplesPerPixel", "US"),
    0x00280008: ("NumberOfFrames", "IS"),
    0x00280010: ("Rows", "US"),
    0x00280011: ("Columns", "US"),
    0x00280030: ("PixelSpacing", "DS"),
    0x00280100: ("BitsAllocated", "US"),
    0x00280101: ("BitsStored", "US"),
    0x00280103: ("PixelRepresentation", "US"),
    0x00280120: ("PixelPaddingValue", "xs"),
    0x00280121: ("PixelPaddingRangeLimit", "xs"),
    0x00281052: ("RescaleIntercept", "DS"),
    0x00281053: ("RescaleSlope", "DS"),
}

META_KEYWORDS: tuple[str, ...] = (
    # text typed at the scanner (General Series, CT Image)
    "SeriesDescription",
    "ProtocolName",
    # Contrast/Bolus Module (PS3.3 C.7.6.4)
    "ContrastBolusAgent",
    "ContrastBolusRoute",
    "ContrastBolusVolume",
    "ContrastBolusIngredient",
    "ContrastBolusStartTime",
    # dates and times (General Study, General Series, General Image; AcquisitionDateTime: PS3.3 C.7.6.1)
    "AcquisitionDateTime",
    "AcquisitionDate",
    "AcquisitionTime",
    "SeriesDate",
    "SeriesTime",
    "ContentDate",
    "ContentTime",
    "StudyDate",
    "StudyTime",
    # acquisition identity and technique
    "FrameOfReferenceUID",
    "SeriesNumber",
    "AcquisitionNumber",
    "KVP",
    "SliceThickness",
    "ImageType",
    "Manufacturer",
    "ConvolutionKernel",
    "InstanceNumber",
)
"""Attributes kept as text in ``SliceHeader.meta`` (and ``Series.meta``) for the header second
opinion and the paper's header baseline (multi-valued ones joined by ``\\``)."""

TEXT_VRS = frozenset({"LO", "SH", "ST", "LT", "UT", "PN", "UC"})
"""Value representations whose bytes are decoded by the Specific Character Set (PS3.5 6.1.2.3)."""

CHARSETS: dict[str, str] = {
    "": "latin_1",  # default repertoire (ASCII); latin-1 keeps stray 8-bit bytes readable
    "ISO_IR 6": "latin_1",
    "ISO_IR 100": "latin_1",
    "ISO_IR 101": "iso8859_2",
    "ISO_IR 109": "iso8859_3",
    "ISO_IR 110": "iso8859_4",
    "ISO_IR 144": "iso8859_5",
    "ISO_IR 127": "iso8859_6",
    "ISO_IR 126": "iso8859_7",
    "ISO_IR 138": "iso8859_8",
    "ISO_IR 148": "iso8859_9",
    "ISO_IR 203": "iso8859_15",
    "ISO_IR 166": "tis_620",
    "ISO_IR 192": "utf_8",
    "GB18030": "gb18030",
    "GBK": "gbk",
}
"""Single-value Specific Character Sets (0008,0005) -> Python codec (PS3.3 C.12.1.1.2). Others
(ISO 2022 code extensions) are read as latin-1."""

__all__ = ["CHARSETS", "HEADER_TAGS", "META_KEYWORDS", "TEXT_VRS"]
