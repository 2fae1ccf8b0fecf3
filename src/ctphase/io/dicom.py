"""DICOM CT series: fast header scan, grouping into axial stacks, lazy HU decoding.

Reading happens in two passes, so that a sampler can pick R% of the slices and only those
are decoded:

1. :func:`read_header` parses each file up to (not into) its Pixel Data element with a small
   purpose-built parser (explicit/implicit VR little endian; anything else falls back to
   pydicom) and keeps only a :class:`SliceHeader` of the few attributes needed.
2. :func:`assemble` groups headers into series (Study + Series Instance UID), drops what is
   not a CT image stack (other modalities, localizers, non-image objects, stray reformats),
   splits by orientation and, where acquisitions overlap, by Acquisition Number, orders the
   slices along the slice normal and checks duplicates and gaps.
3. :meth:`DicomSeries.read_slices` decodes the requested slices only and converts them to HU.

Standard references (DICOM PS3.3):

- C.7.6.2 Image Plane Module: slices are ordered by Image Position (Patient) projected on the
  slice normal, the cross product of the row and column direction cosines of Image Orientation
  (Patient). For axial stacks the normal is taken with a positive z (LPS superior) component,
  so index 0 is the most inferior slice.
- C.11.1 Modality LUT: HU = stored value x Rescale Slope + Rescale Intercept, per slice.
  A CT file without Rescale Slope/Intercept is read with slope 1 and intercept 0 (stored
  values taken as HU) and the series gets a warning: CT Image IOD makes both mandatory, and
  files that lack them in practice come from converters that stored HU directly.
- C.7.5.1.1.2 Pixel Padding Value / Pixel Padding Range Limit (stored-value space): padded
  pixels become -1024 HU. Values below -1024 HU after rescale (reconstruction-circle fill
  such as -2000 or -3024) are clipped to -1024.

Identity is by UIDs and paths only; patient attributes are never read.
"""

from __future__ import annotations

import logging
import os
import struct
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import DicomReadError, InputError, SeriesError
from .volume import Series, Skipped

logger = logging.getLogger(__name__)

AIR_HU = -1024.0
AXIAL_MAX_ANGLE_DEG = 30.0
GAP_FACTOR = 1.5
POSITION_TOL_MM = 0.01

CT_IMAGE_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.2",  # CT Image Storage
    "1.2.840.10008.5.1.4.1.1.2.1",  # Enhanced CT Image Storage
    "1.2.840.10008.5.1.4.1.1.2.2",  # Legacy Converted Enhanced CT Image Storage
}
MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"  # DICOMDIR (PS3.10)
IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
NATIVE_SYNTAXES = {IMPLICIT_LE, EXPLICIT_LE}
# Syntaxes whose dataset is not little endian with a plain layout: left to pydicom.
PYDICOM_ONLY_SYNTAXES = {"1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"}  # big endian, deflated

# tag -> (keyword, VR used for decoding); "xs" = US or SS by Pixel Representation.
HEADER_TAGS: dict[int, tuple[str, str]] = {
    0x00020002: ("MediaStorageSOPClassUID", "UI"),
    0x00020003: ("MediaStorageSOPInstanceUID", "UI"),
    0x00020010: ("TransferSyntaxUID", "UI"),
    0x00080008: ("ImageType", "CS"),
    0x00080016: ("SOPClassUID", "UI"),
    0x00080018: ("SOPInstanceUID", "UI"),
    0x00080032: ("AcquisitionTime", "TM"),
    0x00080060: ("Modality", "CS"),
    0x00080070: ("Manufacturer", "LO"),
    0x0008103E: ("SeriesDescription", "LO"),
    0x00180010: ("ContrastBolusAgent", "LO"),
    0x00180050: ("SliceThickness", "DS"),
    0x00180060: ("KVP", "DS"),
    0x00181040: ("ContrastBolusRoute", "LO"),
    0x00181042: ("ContrastBolusStartTime", "TM"),
    0x00181210: ("ConvolutionKernel", "SH"),
    0x0020000D: ("StudyInstanceUID", "UI"),
    0x0020000E: ("SeriesInstanceUID", "UI"),
    0x00200011: ("SeriesNumber", "IS"),
    0x00200012: ("AcquisitionNumber", "IS"),
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
META_KEYWORDS = (
    "SeriesDescription",
    "ContrastBolusAgent",
    "ContrastBolusRoute",
    "ContrastBolusStartTime",
    "AcquisitionTime",
    "KVP",
    "SliceThickness",
    "ImageType",
    "Manufacturer",
    "ConvolutionKernel",
)
DICOM_SUFFIXES = (".dcm", ".dicom", ".dic", ".ima")

_PIXEL_DATA = 0x7FE00010
_ITEM = 0xFFFEE000
_ITEM_DELIM = 0xFFFEE00D
_SEQ_DELIM = 0xFFFEE0DD
_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR", b"UT", b"SV", b"UV"}
_FIRST_CHUNK = 1 << 16
_TAG = struct.Struct("<HH")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")


@dataclass(slots=True)
class SliceHeader:
    """What the grouping and decoding steps need from one DICOM file (no pixel data)."""

    path: str
    study_uid: str
    series_uid: str
    sop_uid: str
    sop_class: str
    modality: str
    transfer_syntax: str
    image_type: tuple[str, ...] = ()
    acquisition: int | None = None
    ipp: tuple[float, float, float] | None = None
    iop: tuple[float, ...] | None = None
    slice_location: float | None = None
    rows: int = 0
    cols: int = 0
    pixel_spacing: tuple[float, float] | None = None
    slope: float = 1.0
    intercept: float = 0.0
    has_rescale: bool = True
    padding: int | None = None
    padding_limit: int | None = None
    bits_allocated: int = 16
    bits_stored: int = 16
    pixel_representation: int = 0
    samples: int = 1
    frames: int = 1
    has_pixels: bool = False
    pixel_offset: int | None = None  # file offset of the Pixel Data value (native syntaxes)
    pixel_length: int | None = None
    series_key: str = ""  # grouping key when SeriesInstanceUID is missing (anonymised exports)
    meta: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The file name, for messages."""
        return os.path.basename(self.path)


class _NeedMore(Exception):
    """The parser ran past the bytes read so far."""


class _Malformed(Exception):
    """The byte stream does not follow the DICOM encoding rules."""


# --------------------------------------------------------------------------- header parsing


def _skip_sequence(buf: bytes, pos: int, explicit: bool) -> int:
    """Skip the items of an undefined-length sequence starting at ``pos``; return the position after its delimiter."""
    n = len(buf)
    while True:
        if pos + 8 > n:
            raise _NeedMore
        g, e = _TAG.unpack_from(buf, pos)
        tag = g << 16 | e
        length = _U32.unpack_from(buf, pos + 4)[0]
        pos += 8
        if tag == _SEQ_DELIM:
            return pos
        if tag != _ITEM:
            raise _Malformed(f"unexpected tag ({g:04X},{e:04X}) inside a sequence")
        if length != 0xFFFFFFFF:
            pos += length
        else:
            pos = _skip_elements(buf, pos, explicit, None, None)


def _skip_elements(
    buf: bytes,
    pos: int,
    explicit: bool,
    wanted: dict[int, tuple[str, str]] | None,
    found: dict[int, bytes] | None,
    complete: bool = True,
) -> int:
    """Walk data elements from ``pos``; collect ``wanted`` values into ``found`` (top level only).

    Stops at an item delimiter (nested items, ``wanted is None``) or, at the top level, at the
    Pixel Data element or the end of ``buf``. Returns the stop position (at the Pixel Data tag
    for the top level).
    """
    n = len(buf)
    top = wanted is not None
    while True:
        if pos + 8 > n:
            if top and pos == n and complete:
                return pos
            raise _NeedMore
        g, e = _TAG.unpack_from(buf, pos)
        tag = g << 16 | e
        if tag == _ITEM_DELIM:
            if top:
                raise _Malformed("item delimiter outside a sequence")
            return pos + 8
        if top and tag == _PIXEL_DATA:
            return pos
        if explicit and g != 0xFFFE:
            vr = buf[pos + 4 : pos + 6]
            if vr in _LONG_VRS:
                if pos + 12 > n:
                    raise _NeedMore
                length = _U32.unpack_from(buf, pos + 8)[0]
                vpos = pos + 12
            elif b"AA" <= vr <= b"ZZ":
                length = _U16.unpack_from(buf, pos + 6)[0]
                vpos = pos + 8
            else:
                raise _Malformed(f"invalid VR {vr!r} at byte {pos}")
        else:
            length = _U32.unpack_from(buf, pos + 4)[0]
            vpos = pos + 8
        if length == 0xFFFFFFFF:
            pos = _skip_sequence(buf, vpos, explicit)
            continue
        end = vpos + length
        if top and tag in wanted:  # type: ignore[operator]
            if end > n:
                raise _NeedMore
            found[tag] = buf[vpos:end]  # type: ignore[index]
        pos = end


def _decode_value(vr: str, raw: bytes) -> Any:
    if vr == "US":
        return _U16.unpack_from(raw)[0] if len(raw) >= 2 else None
    if vr == "xs":
        return raw[:2] if len(raw) >= 2 else None
    text = raw.decode("latin-1").strip(" \x00")
    return [s.strip(" \x00") for s in text.split("\\")] if text else []


def _parse_bytes(buf: bytes, complete: bool) -> tuple[dict[str, Any], int | None, bytes]:
    """Parse a DICOM byte stream (with or without preamble) up to Pixel Data.

    Returns decoded values by keyword, the offset of the Pixel Data tag (``None`` when absent)
    and the 12 bytes of its element header.
    """
    found: dict[int, bytes] = {}
    if buf[128:132] == b"DICM":
        pos = 132
    else:
        pos = 0
    # File Meta Information (PS3.10 7.1): group 0002, always explicit VR little endian.
    meta_found: dict[int, bytes] = {}
    while pos + 8 <= len(buf) and _TAG.unpack_from(buf, pos)[0] == 0x0002:
        vr = buf[pos + 4 : pos + 6]
        if vr in _LONG_VRS:
            length = _U32.unpack_from(buf, pos + 8)[0]
            vpos = pos + 12
        else:
            length = _U16.unpack_from(buf, pos + 6)[0]
            vpos = pos + 8
        tag = _TAG.unpack_from(buf, pos)
        meta_found[tag[0] << 16 | tag[1]] = buf[vpos : vpos + length]
        pos = vpos + length
    ts_raw = meta_found.get(0x00020010)
    if ts_raw is not None:
        ts = ts_raw.decode("latin-1").strip(" \x00")
    else:  # no file meta: guess from the first element (explicit VR has two letters at bytes 4-5)
        ts = EXPLICIT_LE if pos + 6 <= len(buf) and b"AA" <= buf[pos + 4 : pos + 6] <= b"ZZ" else IMPLICIT_LE
    if ts in PYDICOM_ONLY_SYNTAXES:
        raise _Malformed("pydicom")
    stop = _skip_elements(buf, pos, ts != IMPLICIT_LE, HEADER_TAGS, found, complete)
    found.update(meta_found)
    values: dict[str, Any] = {"TransferSyntaxUID": [ts]}
    for tag, raw in found.items():
        spec = HEADER_TAGS.get(tag)
        if spec is not None and tag != 0x00020010:
            values[spec[0]] = _decode_value(spec[1], raw)
    if stop + 8 <= len(buf) and _TAG.unpack_from(buf, stop) == (0x7FE0, 0x0010):
        return values, stop, buf[stop : stop + 12]
    return values, None, b""


def _values_from_pydicom(path: str) -> tuple[dict[str, Any], bool]:
    """Fallback header reader for encodings the fast parser leaves alone (big endian, deflated)."""
    import pydicom

    ds = pydicom.dcmread(path, force=True, defer_size=1024)
    values: dict[str, Any] = {}
    for tag, (kw, vr) in HEADER_TAGS.items():
        if tag >> 16 == 0x0002:
            elem = ds.file_meta.get(tag) if getattr(ds, "file_meta", None) is not None else None
        else:
            elem = ds.get(tag)
        if elem is None or elem.value is None or elem.value == "":
            continue
        v = elem.value
        if vr in ("US", "xs"):
            values[kw] = int(v[0] if isinstance(v, (list, tuple)) else v) if not isinstance(v, bytes) else None
        else:
            seq = list(v) if isinstance(v, (list, tuple)) or type(v).__name__ == "MultiValue" else [v]
            values[kw] = [str(x) for x in seq]
    return values, _PIXEL_DATA in ds


def _first(values: dict[str, Any], kw: str) -> str | None:
    v = values.get(kw)
    if not v:
        return None
    return v[0] if isinstance(v, list) else str(v)


def _floats(values: dict[str, Any], kw: str, n: int, path: str) -> tuple[float, ...] | None:
    v = values.get(kw)
    if not v:
        return None
    try:
        out = tuple(float(x) for x in v)
    except ValueError:
        msg = f"{kw} {_join(v)!r} is not numeric"
        raise DicomReadError(msg, path) from None
    if len(out) != n or not all(np.isfinite(out)):
        msg = f"{kw} must hold {n} finite numbers, got {_join(v)!r}"
        raise DicomReadError(msg, path)
    return out


def _join(v: list[str]) -> str:
    return "\\".join(v)


def _number(values: dict[str, Any], kw: str, path: str) -> float | None:
    s = _first(values, kw)
    if s is None or s == "":
        return None
    try:
        x = float(s)
    except ValueError:
        msg = f"{kw} {s!r} is not a number"
        raise DicomReadError(msg, path) from None
    if not np.isfinite(x):
        msg = f"{kw} {s!r} is not finite"
        raise DicomReadError(msg, path)
    return x


def _padding(v: Any, pixel_representation: int) -> int | None:
    if v is None:
        return None
    if isinstance(v, bytes):
        return struct.unpack("<h" if pixel_representation == 1 else "<H", v[:2])[0]
    v = int(v)
    if pixel_representation == 1 and v >= 32768:  # US-encoded value of a signed image
        v -= 65536
    return v


def _looks_like_raw_dataset(head: bytes) -> bool:
    """A preamble-less file may start directly with group 0002 or 0008 (little endian)."""
    if len(head) < 8:
        return False
    g, e = _TAG.unpack_from(head, 0)
    return g in (0x0002, 0x0008) and e < 0x0100


def read_header(path: str | os.PathLike[str]) -> SliceHeader | None:
    """Read the header of one file, up to but not including its pixel data.

    Returns ``None`` when the file is not DICOM (no 'DICM' marker at byte 128 and no plausible
    raw dataset start), so that unrelated files in a folder are ignored.

    Raises:
        DicomReadError: the file is DICOM (or named like it) but cannot be used: unreadable,
            truncated, missing essential attributes, or named ``*.dcm`` without being DICOM.
    """
    path = os.fspath(path)
    named_dicom = path.lower().endswith(DICOM_SUFFIXES)
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            buf = fh.read(_FIRST_CHUNK)
            preamble = buf[128:132] == b"DICM"
            if not preamble and not _looks_like_raw_dataset(buf):
                if named_dicom:
                    if size == 0:
                        raise DicomReadError("empty file (0 bytes)", path)
                    msg = "not a DICOM file: no 'DICM' marker at byte 128 and no DICOM data elements at the start"
                    raise DicomReadError(msg, path)
                return None
            has_pixels: bool
            try:
                try:
                    values, pix_pos, pix_hdr = _parse_bytes(buf, len(buf) >= size)
                except (_NeedMore, struct.error):
                    if len(buf) >= size:
                        raise
                    fh.seek(0)
                    buf = fh.read()
                    values, pix_pos, pix_hdr = _parse_bytes(buf, True)
                has_pixels = pix_pos is not None
            except _Malformed as exc:
                if str(exc) != "pydicom" and not preamble and not named_dicom:
                    return None
                # The fast parser is only an accelerator: whatever it cannot parse, pydicom decides.
                values, has_pixels = _fallback(path, None if str(exc) == "pydicom" else str(exc))
                pix_pos = None
                pix_hdr = b""
            except (_NeedMore, struct.error):
                if not preamble and not named_dicom:
                    return None
                msg = f"file is truncated: the header ends unexpectedly after {size} bytes"
                raise DicomReadError(msg, path) from None
            tail = b""
            ts = _first(values, "TransferSyntaxUID") or IMPLICIT_LE
            if has_pixels and pix_pos is not None and ts not in NATIVE_SYNTAXES:
                fh.seek(max(0, size - 4096))
                tail = fh.read()
    except DicomReadError:
        raise
    except IsADirectoryError:
        raise DicomReadError("is a directory, expected a file", path) from None
    except FileNotFoundError:
        msg = "cannot read file: it does not exist (broken symbolic link?)"
        raise DicomReadError(msg, path) from None
    except PermissionError:
        raise DicomReadError("cannot read file: permission denied", path) from None
    except OSError as exc:
        raise DicomReadError(f"cannot read file: {exc.strerror or exc}", path) from None

    if not preamble and not (_first(values, "SOPClassUID") and _first(values, "SeriesInstanceUID")):
        # preamble-less bytes that merely look like a dataset start
        if named_dicom:
            msg = "not a DICOM file: no 'DICM' marker at byte 128 and no SOP Class / Series Instance UID"
            raise DicomReadError(msg, path)
        return None
    return _make_header(path, values, has_pixels, pix_pos, pix_hdr, size, tail)


def _fallback(path: str, fast_reason: str | None = None) -> tuple[dict[str, Any], bool]:
    try:
        return _values_from_pydicom(path)
    except Exception as exc:  # pydicom raises many types on broken input
        if fast_reason is not None:
            raise DicomReadError(f"not a valid DICOM file: {fast_reason}", path) from None
        msg = f"cannot parse DICOM header ({type(exc).__name__}: {exc})"
        raise DicomReadError(msg, path) from None


def _make_header(
    path: str,
    values: dict[str, Any],
    has_pixels: bool,
    pix_pos: int | None,
    pix_hdr: bytes,
    size: int,
    tail: bytes,
) -> SliceHeader:
    ts = _first(values, "TransferSyntaxUID") or IMPLICIT_LE
    sop_class = _first(values, "SOPClassUID") or _first(values, "MediaStorageSOPClassUID") or ""
    if sop_class == MEDIA_STORAGE_DIRECTORY:
        return SliceHeader(path, "", "", "", MEDIA_STORAGE_DIRECTORY, "", ts)
    pixrep = int(values.get("PixelRepresentation") or 0)
    slope = _number(values, "RescaleSlope", path)
    intercept = _number(values, "RescaleIntercept", path)
    nframes = _number(values, "NumberOfFrames", path)
    acq = _number(values, "AcquisitionNumber", path)
    ps = _floats(values, "PixelSpacing", 2, path)
    h = SliceHeader(
        path=path,
        study_uid=_first(values, "StudyInstanceUID") or "",
        series_uid=_first(values, "SeriesInstanceUID") or "",
        sop_uid=_first(values, "SOPInstanceUID") or _first(values, "MediaStorageSOPInstanceUID") or path,
        sop_class=sop_class,
        modality=(_first(values, "Modality") or "").upper(),
        transfer_syntax=ts,
        image_type=tuple(s.upper() for s in values.get("ImageType") or ()),
        acquisition=None if acq is None else int(acq),
        ipp=_floats(values, "ImagePositionPatient", 3, path),  # type: ignore[arg-type]
        iop=_floats(values, "ImageOrientationPatient", 6, path),
        slice_location=_number(values, "SliceLocation", path),
        rows=int(values.get("Rows") or 0),
        cols=int(values.get("Columns") or 0),
        pixel_spacing=ps,  # type: ignore[arg-type]
        slope=1.0 if slope is None else slope,
        intercept=0.0 if intercept is None else intercept,
        has_rescale=slope is not None and intercept is not None,
        padding=_padding(values.get("PixelPaddingValue"), pixrep),
        padding_limit=_padding(values.get("PixelPaddingRangeLimit"), pixrep),
        bits_allocated=int(values.get("BitsAllocated") or 16),
        bits_stored=int(values.get("BitsStored") or values.get("BitsAllocated") or 16),
        pixel_representation=pixrep,
        samples=int(values.get("SamplesPerPixel") or 1),
        frames=1 if nframes is None else max(1, int(nframes)),
        has_pixels=has_pixels,
    )
    if h.slope == 0:
        raise DicomReadError("RescaleSlope is 0", path)
    if not h.series_uid:
        h.series_key = "|".join(
            (
                os.path.dirname(path),
                _first(values, "FrameOfReferenceUID") or "",
                _first(values, "SeriesNumber") or "",
                _first(values, "SeriesDescription") or "",
            )
        )
    for kw in META_KEYWORDS:
        v = values.get(kw)
        if v:
            h.meta[kw] = "\\".join(v)
    if pix_pos is not None:
        try:
            _check_pixel_element(h, pix_pos, pix_hdr, size, tail)
        except DicomReadError as exc:
            exc.study_uid, exc.series_uid = h.study_uid or None, h.series_uid or None  # type: ignore[attr-defined]
            exc.group_key = (h.study_uid, h.series_uid or h.series_key)  # type: ignore[attr-defined]
            raise
    return h


def _check_pixel_element(h: SliceHeader, pos: int, hdr: bytes, size: int, tail: bytes) -> None:
    """Detect truncated pixel data from the element header and the file size (no decoding)."""
    explicit = h.transfer_syntax != IMPLICIT_LE
    if explicit and hdr[4:6] in _LONG_VRS:
        length = _U32.unpack_from(hdr, 8)[0]
        vpos = pos + 12
    else:
        length = _U32.unpack_from(hdr, 4)[0]
        vpos = pos + 8
    if length == 0xFFFFFFFF:  # encapsulated (PS3.5 A.4): must end with a sequence delimiter
        if b"\xfe\xff\xdd\xe0\x00\x00\x00\x00" not in tail:
            msg = "file is truncated: the encapsulated (compressed) PixelData has no end delimiter"
            raise DicomReadError(msg, h.path)
        return
    if length == 0:
        h.has_pixels = False
        return
    if vpos + length > size:
        msg = f"file is truncated: PixelData declares {length} bytes but only {max(0, size - vpos)} are present"
        raise DicomReadError(msg, h.path)
    if h.transfer_syntax in NATIVE_SYNTAXES:
        expected = h.rows * h.cols * h.samples * h.frames * h.bits_allocated // 8
        if length < expected:
            msg = f"PixelData holds {length} bytes, {h.rows}x{h.cols} pixels at {h.bits_allocated} bits need {expected}"
            raise DicomReadError(msg, h.path)
        h.pixel_offset = vpos
        h.pixel_length = length


# --------------------------------------------------------------------------- decoding


def _stored_values(h: SliceHeader) -> np.ndarray:
    """Decode one slice's stored values ``(rows, cols)``: direct read for native 16-bit data, pydicom otherwise."""
    if h.pixel_offset is not None and h.bits_allocated == 16 and h.samples == 1 and h.frames == 1:
        n = h.rows * h.cols
        with open(h.path, "rb") as fh:
            fh.seek(h.pixel_offset)
            raw = fh.read(2 * n)
        if len(raw) < 2 * n:
            raise DicomReadError("file is truncated: PixelData is shorter than the header says", h.path)
        arr = np.frombuffer(raw, dtype="<i2" if h.pixel_representation == 1 else "<u2").reshape(h.rows, h.cols)
        if h.bits_stored < 16:
            shift = 16 - h.bits_stored
            if h.pixel_representation == 1:  # sign-extend from the high stored bit (PS3.5 8.1.1)
                arr = (arr << shift) >> shift
            else:
                arr = arr & ((1 << h.bits_stored) - 1)
        return arr
    import pydicom

    ds = pydicom.dcmread(h.path, force=True)
    arr = ds.pixel_array
    if arr.shape != (h.rows, h.cols):
        msg = f"decoded pixel array has shape {arr.shape}, expected ({h.rows}, {h.cols})"
        raise DicomReadError(msg, h.path)
    return arr


def stored_to_hu(
    stored: np.ndarray,
    slope: float = 1.0,
    intercept: float = 0.0,
    padding: int | None = None,
    padding_limit: int | None = None,
) -> np.ndarray:
    """Stored pixel values -> HU float32 (PS3.3 C.11.1), padding -> -1024, values below -1024 clipped.

    Padding (PS3.3 C.7.5.1.1.2) is matched on stored values: ``padding`` alone, or the inclusive
    range between ``padding`` and ``padding_limit``.
    """
    hu = stored.astype(np.float32)
    mask = None
    if padding is not None:
        if padding_limit is None:
            mask = stored == padding
        else:
            lo, hi = sorted((padding, padding_limit))
            mask = (stored >= lo) & (stored <= hi)
    if slope != 1.0:
        hu *= np.float32(slope)
    if intercept != 0.0:
        hu += np.float32(intercept)
    if mask is not None:
        hu[mask] = AIR_HU
    np.maximum(hu, AIR_HU, out=hu)
    return hu


def read_slice_hu(h: SliceHeader) -> np.ndarray:
    """One slice in HU, ``(rows, cols)`` float32."""
    try:
        stored = _stored_values(h)
    except InputError:
        raise
    except FileNotFoundError:
        raise DicomReadError("cannot read file: it no longer exists", h.path) from None
    except OSError as exc:
        raise DicomReadError(f"cannot read file: {exc.strerror or exc}", h.path) from None
    except Exception as exc:  # decoder plugins raise many types
        msg = f"cannot decode pixel data ({type(exc).__name__}: {exc}); transfer syntax {h.transfer_syntax}"
        raise DicomReadError(msg, h.path) from None
    return stored_to_hu(stored, h.slope, h.intercept, h.padding, h.padding_limit)


@dataclass
class DicomSeries(Series):
    """A DICOM CT stack; ``slices`` holds one :class:`SliceHeader` per index, sorted."""

    slices: list[SliceHeader] = field(default_factory=list, repr=False)

    def read_slices(self, indices: np.ndarray | list[int] | None = None) -> np.ndarray:
        """Decode the given slices (all when ``None``) to HU, ``(N, rows, cols)`` float32; only those files are read."""
        idx = range(self.n_slices) if indices is None else [int(i) for i in np.asarray(indices).reshape(-1)]
        out = np.empty((len(idx), *self.shape), dtype=np.float32)
        for k, i in enumerate(idx):
            if not 0 <= i < self.n_slices:
                msg = f"slice index {i} out of range for a series of {self.n_slices} slices"
                raise SeriesError(msg, self.path)
            out[k] = read_slice_hu(self.slices[i])
        return out


# --------------------------------------------------------------------------- assembling series


def _normal(iop: tuple[float, ...]) -> np.ndarray:
    row = np.asarray(iop[:3], dtype=np.float64)
    col = np.asarray(iop[3:6], dtype=np.float64)
    n = np.cross(row, col)
    norm = np.linalg.norm(n)
    return n / norm if norm > 0 else np.array([0.0, 0.0, 1.0])


def _plane_name(normal: np.ndarray) -> str:
    axis = int(np.argmax(np.abs(normal)))
    angle = float(np.degrees(np.arccos(min(1.0, abs(normal[2])))))
    name = ("sagittal", "coronal", "axial")[axis]
    return name if angle < 1.0 or axis != 2 else f"oblique axial ({angle:.0f} deg)"


def _angle_from_z(normal: np.ndarray) -> float:
    return float(np.degrees(np.arccos(min(1.0, abs(float(normal[2]))))))


def _names(headers: list[SliceHeader], limit: int = 3) -> str:
    names = [h.name for h in headers[:limit]]
    more = len(headers) - limit
    return ", ".join(names) + (f" and {more} more" if more > 0 else "")


def _common_dir(headers: list[SliceHeader]) -> str:
    dirs = {os.path.dirname(h.path) for h in headers}
    if len(dirs) == 1:
        return dirs.pop()
    try:
        return os.path.commonpath(sorted(dirs))
    except ValueError:
        return sorted(dirs)[0]


def _cluster_geometry(headers: list[SliceHeader]) -> list[list[SliceHeader]]:
    """Split headers by image size and orientation (direction cosines equal within 0.01)."""
    clusters: list[tuple[tuple[int, int], np.ndarray, list[SliceHeader]]] = []
    for h in headers:
        iop = np.asarray(h.iop if h.iop is not None else (1, 0, 0, 0, 1, 0), dtype=np.float64)
        for shape, ref, members in clusters:
            if shape == (h.rows, h.cols) and np.max(np.abs(ref - iop)) < 0.01:
                members.append(h)
                break
        else:
            clusters.append(((h.rows, h.cols), iop, [h]))
    clusters.sort(key=lambda c: -len(c[2]))
    return [c[2] for c in clusters]


def _sort_positions(headers: list[SliceHeader], warnings: list[str], folder: str) -> tuple[list[SliceHeader], np.ndarray]:
    """Positions along the slice normal (PS3.3 C.7.6.2), ascending; SliceLocation only when IPP is missing."""
    ref = next((h.iop for h in headers if h.iop is not None), None)
    normal = _normal(ref) if ref is not None else np.array([0.0, 0.0, 1.0])
    if normal[2] < 0:
        normal = -normal
    if ref is None:
        warnings.append("ImageOrientationPatient missing: assumed axial slices")
    no_ipp = [h for h in headers if h.ipp is None]
    if not no_ipp:
        pos = np.array([float(np.dot(h.ipp, normal)) for h in headers])  # type: ignore[arg-type]
    else:
        no_loc = [h for h in headers if h.slice_location is None]
        if no_loc:
            msg = (
                f"{len(no_loc)} file(s) have neither ImagePositionPatient nor SliceLocation "
                f"({_names(no_loc)}): cannot order the slices"
            )
            raise SeriesError(msg, folder)
        warnings.append(
            f"ImagePositionPatient missing in {len(no_ipp)} file(s) ({_names(no_ipp)}): slices ordered by SliceLocation"
        )
        pos = np.array([float(h.slice_location) for h in headers])  # type: ignore[arg-type]
    order = np.argsort(pos, kind="stable")
    return [headers[i] for i in order], pos[order]


def _drop_duplicates(
    headers: list[SliceHeader], pos: np.ndarray, warnings: list[str], folder: str
) -> tuple[list[SliceHeader], np.ndarray]:
    keep = [0] if len(headers) else []
    dup_files: list[SliceHeader] = []
    for i in range(1, len(headers)):
        j = keep[-1]
        if abs(pos[i] - pos[j]) <= POSITION_TOL_MM:
            if headers[i].sop_uid == headers[j].sop_uid:
                dup_files.append(headers[i])
                continue
            msg = (
                f"two different images at the same slice position {pos[i]:.2f} mm "
                f"({headers[j].name} and {headers[i].name}, SOPInstanceUIDs differ): the series mixes "
                "reconstructions; cannot build one stack"
            )
            raise SeriesError(msg, folder)
        keep.append(i)
    if dup_files:
        warnings.append(
            f"dropped {len(dup_files)} duplicate file(s) of images already in the series (same SOPInstanceUID): "
            f"{_names(dup_files)}"
        )
    return [headers[i] for i in keep], pos[keep]


def _gap_warnings(pos: np.ndarray) -> list[str]:
    if len(pos) < 3:
        return []
    d = np.diff(pos)
    med = float(np.median(d))
    gaps = np.flatnonzero(d > GAP_FACTOR * med)
    out = [
        f"gap of {d[g]:.1f} mm between slices {g} and {g + 1} (at {pos[g]:.1f} -> {pos[g + 1]:.1f} mm); "
        f"median spacing {med:.2f} mm: slices are not evenly spaced, index-based sampling is uneven here"
        for g in gaps[:3]
    ]
    if len(gaps) > 3:
        out.append(f"{len(gaps) - 3} more gap(s) larger than {GAP_FACTOR}x the median spacing")
    return out


def _split_acquisitions(headers: list[SliceHeader], normal: np.ndarray) -> list[tuple[int | None, list[SliceHeader]]]:
    """Split by AcquisitionNumber only when the acquisitions cover overlapping z ranges (repeated scans).

    Acquisitions that tile the volume side by side (sequential/step-and-shoot scans number each
    rotation) stay one stack.
    """
    by_acq: dict[int | None, list[SliceHeader]] = defaultdict(list)
    for h in headers:
        by_acq[h.acquisition].append(h)
    if len(by_acq) < 2:
        return [(None, headers)]
    ranges = []
    for acq, hs in by_acq.items():
        p = [float(np.dot(h.ipp, normal)) if h.ipp is not None else (h.slice_location or 0.0) for h in hs]
        ranges.append((min(p), max(p)))
    ranges.sort()
    overlap = False
    max_end = ranges[0][1]
    for lo, hi in ranges[1:]:
        if lo <= max_end + POSITION_TOL_MM:
            overlap = True
            break
        max_end = max(max_end, hi)
    if not overlap:
        return [(None, headers)]
    return [(acq, by_acq[acq]) for acq in sorted(by_acq, key=lambda a: (a is None, a or 0))]


class _Sink:
    """Collects results; raises the first error in strict mode."""

    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self.series: list[Series] = []
        self.skipped: list[Skipped] = []
        self.exceptions: list[InputError] = []

    def skip(self, path: str, reason: str, headers: list[SliceHeader] | None = None) -> None:
        h = headers[0] if headers else None
        self.skipped.append(
            Skipped(
                path=path,
                reason=reason,
                kind="skipped",
                study_uid=(h.study_uid or None) if h else None,
                series_uid=(h.series_uid or None) if h else None,
                n_files=len(headers) if headers else 0,
            )
        )

    def error(self, exc: InputError, headers: list[SliceHeader] | None = None, n_files: int = 1) -> None:
        if self.strict:
            raise exc
        h = headers[0] if headers else None
        self.exceptions.append(exc)
        self.skipped.append(
            Skipped(
                path=exc.path or "",
                reason=exc.reason,
                kind="error",
                study_uid=(h.study_uid or None) if h else getattr(exc, "study_uid", None),
                series_uid=(h.series_uid or None) if h else getattr(exc, "series_uid", None),
                n_files=len(headers) if headers else n_files,
            )
        )


def _describe_modality(headers: list[SliceHeader]) -> str:
    h = headers[0]
    try:
        from pydicom.uid import UID

        cls = UID(h.sop_class).name
    except Exception:  # pragma: no cover - pydicom always importable here
        cls = h.sop_class
    return f"Modality {h.modality or '(none)'}, SOP Class {cls}"


def assemble(
    headers: list[SliceHeader],
    *,
    min_slices: int = 8,
    strict: bool = False,
    file_errors: dict[tuple[str, str], list[str]] | None = None,
    sink: _Sink | None = None,
) -> tuple[list[Series], list[Skipped]]:
    """Group slice headers into axial CT series (see the module docstring for the rules).

    Args:
        headers: one per DICOM file.
        min_slices: stacks with fewer slices are skipped.
        strict: raise the first error instead of reporting it.
        file_errors: names of unreadable files per (study, series) UID, to warn the series they belong to.
    Returns:
        the series, sorted by path then series id, and the skipped inputs.
    """
    sink = sink or _Sink(strict)
    groups: dict[tuple[str, str], list[SliceHeader]] = defaultdict(list)
    for h in headers:
        if h.sop_class == MEDIA_STORAGE_DIRECTORY:
            continue
        groups[(h.study_uid, h.series_uid or h.series_key)].append(h)
    for key, hs in sorted(groups.items(), key=lambda kv: (_common_dir(kv[1]), kv[0])):
        try:
            _assemble_group(hs, min_slices, sink, (file_errors or {}).get(key, []))
        except InputError as exc:
            sink.error(exc, hs, len(hs))
    sink.series.sort(key=lambda s: (s.path, s.series_id))
    return sink.series, sink.skipped


def _assemble_group(hs: list[SliceHeader], min_slices: int, sink: _Sink, bad_files: list[str]) -> None:
    hs = sorted(hs, key=lambda h: h.path)
    folder = _common_dir(hs)
    # objects without pixel data: non-image (SR, KO, PR, RTSTRUCT...) or a CT image missing its pixels
    no_pix = [h for h in hs if not h.has_pixels]
    if no_pix:
        ct_img = [h for h in no_pix if h.modality == "CT" and (h.sop_class in CT_IMAGE_SOP_CLASSES or h.rows)]
        for h in ct_img:
            msg = "no PixelData element (7FE0,0010): the CT image file is incomplete"
            sink.error(DicomReadError(msg, h.path), [h])
            bad_files.append(h.name)
        other = [h for h in no_pix if h not in ct_img]
        if other:
            sink.skip(folder, f"non-image object(s) without pixel data ({_describe_modality(other)})", other)
        hs = [h for h in hs if h.has_pixels]
    not_ct = [h for h in hs if h.modality != "CT"]
    if not_ct:
        sink.skip(folder, f"not CT ({_describe_modality(not_ct)}); ctphase classifies CT only", not_ct)
        hs = [h for h in hs if h.modality == "CT"]
    loc = [h for h in hs if "LOCALIZER" in h.image_type]
    if loc:
        sink.skip(folder, f"localizer/scout image(s), ImageType contains LOCALIZER: {_names(loc)}", loc)
        hs = [h for h in hs if "LOCALIZER" not in h.image_type]
    multi = [h for h in hs if h.frames > 1 or h.samples != 1]
    if multi:
        reason = (
            f"multi-frame or colour image(s) ({multi[0].frames} frames, {multi[0].samples} samples/pixel): "
            f"only single-frame greyscale CT images are supported ({_names(multi)})"
        )
        sink.skip(folder, reason, multi)
        hs = [h for h in hs if h not in multi]
    if not hs:
        return
    warnings: list[str] = []
    if not hs[0].series_uid:
        warnings.append(
            "SeriesInstanceUID missing (anonymised export?): files grouped by folder, FrameOfReferenceUID, "
            "SeriesNumber and SeriesDescription"
        )
    if bad_files:
        warnings.append(
            f"{len(bad_files)} file(s) of this series could not be read and are left out: {', '.join(bad_files[:3])}"
            + (f" and {len(bad_files) - 3} more" if len(bad_files) > 3 else "")
        )
    clusters = _cluster_geometry(hs)
    largest = len(clusters[0])
    main: list[list[SliceHeader]] = []
    for cl in clusters:
        normal = _normal(cl[0].iop) if cl[0].iop is not None else np.array([0.0, 0.0, 1.0])
        plane = _plane_name(normal)
        if cl is not clusters[0] and len(cl) < min_slices and len(cl) < largest:
            reason = (
                f"{len(cl)} {plane} image(s) of {cl[0].rows}x{cl[0].cols} pixels inside a series of "
                f"{largest} images with another orientation or size (reformat or localizer): {_names(cl)}; "
                "left out of the stack"
            )
            sink.skip(folder, reason, cl)
            warnings.append(
                f"left out {len(cl)} {plane} image(s) with a different orientation or size: {_names(cl)}"
            )
            continue
        if _angle_from_z(normal) > AXIAL_MAX_ANGLE_DEG:
            reason = (
                f"non-axial stack: {len(cl)} {plane} images (slice normal {_angle_from_z(normal):.0f} deg from the "
                f"z axis, more than {AXIAL_MAX_ANGLE_DEG:.0f}); ctphase reads axial slices only"
            )
            sink.skip(folder, reason, cl)
            continue
        main.append(cl)
    for cl in main:
        normal = _normal(cl[0].iop) if cl[0].iop is not None else np.array([0.0, 0.0, 1.0])
        if normal[2] < 0:
            normal = -normal
        for acq, part in _split_acquisitions(cl, normal):
            try:
                _finish(part, acq, folder, list(warnings), min_slices, sink, len(main) > 1)
            except InputError as exc:
                sink.error(exc, part, len(part))


def _finish(
    hs: list[SliceHeader],
    acq: int | None,
    folder: str,
    warnings: list[str],
    min_slices: int,
    sink: _Sink,
    several_shapes: bool,
) -> None:
    label = f" (acquisition {acq})" if acq is not None else ""
    hs, pos = _sort_positions(hs, warnings, folder)
    hs, pos = _drop_duplicates(hs, pos, warnings, folder)
    if len(hs) < min_slices:
        sink.skip(folder, f"only {len(hs)} slice(s){label}, fewer than min_slices={min_slices}", hs)
        return
    warnings.extend(_gap_warnings(pos))
    no_rescale = [h for h in hs if not h.has_rescale]
    if no_rescale:
        warnings.append(
            f"RescaleSlope/RescaleIntercept missing in {len(no_rescale)} file(s) ({_names(no_rescale)}): "
            "assumed slope 1, intercept 0 (stored values taken as HU)"
        )
    if several_shapes:
        warnings.append("the series holds several stacks of different size or orientation; this is one of them")
    first = hs[0]
    ps = Counter(h.pixel_spacing for h in hs).most_common(1)[0][0]
    meta = dict(first.meta)
    if acq is not None:
        meta["AcquisitionNumber"] = str(acq)
    sink.series.append(
        DicomSeries(
            source="dicom",
            path=folder,
            n_slices=len(hs),
            shape=(first.rows, first.cols),
            pixel_spacing=ps,
            slice_positions=pos.astype(np.float64),
            study_uid=first.study_uid or None,
            series_uid=first.series_uid or None,
            acquisition=acq,
            description=first.meta.get("SeriesDescription"),
            warnings=warnings,
            meta=meta,
            slices=hs,
        )
    )
