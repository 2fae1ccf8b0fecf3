"""The fast DICOM header reader: one :class:`SliceHeader` per file (per frame for Enhanced CT), pixel data left unread.

:func:`read_headers` is the entry point: one header per classic single-frame file, one per
frame of an Enhanced CT file (its functional groups are read by :mod:`ctphase.io.dicom_enhanced`).
:func:`read_header` reads each file up to (not into) its Pixel Data element with a small
purpose-built parser (:mod:`ctphase.io.dicom_elements`: explicit/implicit VR little endian;
anything else falls back to pydicom) and keeps only the few attributes that grouping and
decoding need, and the text the header second opinion reads (:data:`HEADER_TAGS` and
:data:`META_KEYWORDS`, in :mod:`ctphase.io.dicom_tags`; text decoded by its Specific Character
Set). It checks from the Pixel Data element header and the file
size that the pixel data is complete, without decoding it. Identity is by UIDs and paths only;
patient attributes are never read.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import numpy as np

from ..errors import DicomReadError
from .dicom_elements import (
    IMPLICIT_LE,
    NATIVE_SYNTAXES,
    PIXEL_DATA_TAG,
    TRANSFER_SYNTAX_TAG,
    UNDEFINED_LENGTH,
    Malformed,
    NeedMore,
    NotNativeSyntax,
    looks_like_raw_dataset,
    pixel_value_span,
    scan_elements,
)
from .dicom_tags import CHARSETS, HEADER_TAGS, META_KEYWORDS, TEXT_VRS

MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"  # DICOMDIR (PS3.10)
DICOM_SUFFIXES = (".dcm", ".dicom", ".dic", ".ima")

_FIRST_CHUNK = 1 << 16
_CHARSET_TAG = 0x00080005  # SpecificCharacterSet (PS3.3 C.12.1.1.2)
_U16 = struct.Struct("<H")
_SEQUENCE_DELIMITER = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"  # (FFFE,E0DD), length 0


@dataclass(slots=True)
class SliceHeader:
    """What the grouping and decoding steps need from one DICOM file (no pixel data)."""

    path: str
    study_uid: str
    series_uid: str
    sop_uid: str  # SOPInstanceUID; "<SOPInstanceUID>#<frame>" for a frame, so that frames stay distinct images
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
    frame: int | None = None  # 1-based frame of a multi-frame file (Enhanced CT); None: the file is the image
    opener: Any = field(default=None, repr=False, compare=False)  # a file inside an archive: see open_file()

    @property
    def name(self) -> str:
        """The file name (and frame), for messages."""
        base = os.path.basename(self.path)
        return base if self.frame is None else f"{base} frame {self.frame}"

    def open_file(self) -> BinaryIO:
        """The file's bytes as a binary stream: the file on disk, or the archive member that
        ``path`` addresses (``opener``, see :mod:`ctphase.io.archive`), the archive reopened."""
        return open(self.path, "rb") if self.opener is None else self.opener.open()


@dataclass
class _FileScan:
    """The decoded header values of one file and where its pixel data lies."""

    values: dict[str, Any]
    has_pixels: bool
    preamble: bool
    size: int
    pixel_pos: int | None = None
    pixel_header: bytes = b""
    tail: bytes = b""  # the last 4 KiB of the file, for encapsulated pixel data


def read_headers(path: str | os.PathLike[str]) -> list[SliceHeader]:
    """The images of one file (``[]`` if not DICOM): one per frame for Enhanced CT, else :func:`read_header`'s.

    Raises :class:`DicomReadError` as :func:`read_header`, and for unreadable Enhanced CT functional groups.
    """
    h = read_header(path)
    if h is None:
        return []
    from .dicom_enhanced import frames_of  # it imports this module

    return frames_of(h)


def read_header(
    path: str | os.PathLike[str], *, stream: BinaryIO | None = None, size: int | None = None
) -> SliceHeader | None:
    """Read the header of one file, up to but not including its pixel data.

    ``stream`` (with its length ``size``) reads an already open file instead, a member of an
    archive whose address is ``path`` (:mod:`ctphase.io.archive`); the caller sets ``opener``.

    For an Enhanced CT file this is the file-level header only (``frame`` is ``None``); use
    :func:`read_headers` for its frames.

    Returns ``None`` when the file is not DICOM (no 'DICM' marker at byte 128 and no plausible
    raw dataset start), so that unrelated files in a folder are ignored.

    Raises:
        DicomReadError: the file is DICOM (or named like it) but cannot be used: unreadable,
            truncated, missing essential attributes, or named ``*.dcm`` without being DICOM.
    """
    path = os.fspath(path)
    named_dicom = path.lower().endswith(DICOM_SUFFIXES)
    try:
        if stream is not None:
            scan = _scan_file(stream, path, named_dicom, _stream_size(stream) if size is None else size)
        else:
            with open(path, "rb") as fh:
                scan = _scan_file(fh, path, named_dicom, os.fstat(fh.fileno()).st_size)
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
    if scan is None:
        return None
    values = scan.values
    if not scan.preamble and not (_first(values, "SOPClassUID") and _first(values, "SeriesInstanceUID")):
        # preamble-less bytes that merely look like a dataset start
        if named_dicom:
            msg = "not a DICOM file: no 'DICM' marker at byte 128 and no SOP Class / Series Instance UID"
            raise DicomReadError(msg, path)
        return None
    return _make_header(path, scan)


def _stream_size(fh: BinaryIO) -> int:
    size = fh.seek(0, os.SEEK_END)
    fh.seek(0)
    return size


def _scan_file(fh: BinaryIO, path: str, named_dicom: bool, size: int) -> _FileScan | None:
    """Header values of an open file of ``size`` bytes: the fast parser, or pydicom for what it leaves alone.

    Returns ``None`` for a file that is not DICOM and not named like it.
    """
    buf = fh.read(_FIRST_CHUNK)
    preamble = buf[128:132] == b"DICM"
    if not preamble and not looks_like_raw_dataset(buf):
        if named_dicom:
            if size == 0:
                raise DicomReadError("empty file (0 bytes)", path)
            msg = "not a DICOM file: no 'DICM' marker at byte 128 and no DICOM data elements at the start"
            raise DicomReadError(msg, path)
        return None
    try:
        try:
            scan = _parse_values(buf, len(buf) >= size, preamble, size)
        except (NeedMore, struct.error):
            if len(buf) >= size:
                raise
            fh.seek(0)
            buf = fh.read()
            scan = _parse_values(buf, True, preamble, size)
    except Malformed as exc:
        to_pydicom = isinstance(exc, NotNativeSyntax)
        if not to_pydicom and not preamble and not named_dicom:
            return None
        # The fast parser is only an accelerator: whatever it cannot parse, pydicom decides.
        values, has_pixels = _fallback(fh, path, None if to_pydicom else str(exc))
        scan = _FileScan(values, has_pixels, preamble, size)
    except (NeedMore, struct.error):
        if not preamble and not named_dicom:
            return None
        msg = f"file is truncated: the header ends unexpectedly after {size} bytes"
        raise DicomReadError(msg, path) from None
    ts = _first(scan.values, "TransferSyntaxUID") or IMPLICIT_LE
    if scan.has_pixels and scan.pixel_pos is not None and ts not in NATIVE_SYNTAXES:
        fh.seek(max(0, size - 4096))
        scan.tail = fh.read()
    return scan


def _parse_values(buf: bytes, complete: bool, preamble: bool, size: int) -> _FileScan:
    """Run the fast parser on ``buf`` and decode the :data:`HEADER_TAGS` values by keyword."""
    elements = scan_elements(buf, complete, HEADER_TAGS)
    values: dict[str, Any] = {"TransferSyntaxUID": [elements.transfer_syntax]}
    charset = elements.values.get(_CHARSET_TAG, b"").decode("latin-1").strip(" \x00").upper()
    codec = CHARSETS.get(charset, "latin_1")
    for tag, raw in elements.values.items():
        spec = HEADER_TAGS.get(tag)
        if spec is not None and tag != TRANSFER_SYNTAX_TAG:
            values[spec[0]] = _decode_value(spec[1], raw, codec)
    pos = elements.pixel_pos
    return _FileScan(values, pos is not None, preamble, size, pos, elements.pixel_header)


def _decode_value(vr: str, raw: bytes, codec: str = "latin_1") -> Any:
    if vr == "US":
        return _U16.unpack_from(raw)[0] if len(raw) >= 2 else None
    if vr == "xs":
        return raw[:2] if len(raw) >= 2 else None
    text = _decode_text(raw, codec if vr in TEXT_VRS else "latin_1").strip(" \x00")
    return [s.strip(" \x00") for s in text.split("\\")] if text else []


def _decode_text(raw: bytes, codec: str) -> str:
    """Text in the file's character set; bytes that are not valid in it are read as latin-1."""
    try:
        return raw.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return raw.decode("latin-1")


def _fallback(fh: BinaryIO, path: str, fast_reason: str | None = None) -> tuple[dict[str, Any], bool]:
    try:
        return _values_from_pydicom(fh)
    except Exception as exc:  # pydicom raises many types on broken input
        if fast_reason is not None:
            raise DicomReadError(f"not a valid DICOM file: {fast_reason}", path) from None
        msg = f"cannot parse DICOM header ({type(exc).__name__}: {exc})"
        raise DicomReadError(msg, path) from None


def _values_from_pydicom(fh: BinaryIO) -> tuple[dict[str, Any], bool]:
    """Fallback header reader for encodings the fast parser leaves alone (big endian, deflated)."""
    import pydicom

    fh.seek(0)
    ds = pydicom.dcmread(fh, force=True, defer_size=1024)
    return _values_from_dataset(ds), PIXEL_DATA_TAG in ds


def header_from_dataset(ds: Any, path: str) -> SliceHeader:
    """The :class:`SliceHeader` of a pydicom ``Dataset`` whose pixel data is elsewhere (no pixel data check).

    For metadata read without the file, e.g. DICOMweb metadata JSON (``Dataset.from_json``,
    :mod:`ctphase.io.dicomweb`): ``path`` names the instance, the caller sets ``opener``.
    ``has_pixels`` says whether the dataset holds a Pixel Data element (a bulk data reference counts).

    Raises:
        DicomReadError: naming ``path``, for malformed values (as :func:`read_header`).
    """
    return _make_header(path, _FileScan(_values_from_dataset(ds), PIXEL_DATA_TAG in ds, False, 0))


def _values_from_dataset(ds: Any) -> dict[str, Any]:
    """The :data:`HEADER_TAGS` values of a pydicom ``Dataset``, decoded as the fast parser decodes them."""
    values: dict[str, Any] = {}
    for tag, (kw, vr) in HEADER_TAGS.items():
        elem = ds.get(tag)
        if tag >> 16 == 0x0002 and getattr(ds, "file_meta", None) is not None and tag in ds.file_meta:
            elem = ds.file_meta[tag]
        if elem is None or elem.value is None or elem.value == "":
            continue
        v = elem.value
        if vr in ("US", "xs"):
            values[kw] = int(v[0] if isinstance(v, (list, tuple)) else v) if not isinstance(v, bytes) else None
        else:
            seq = list(v) if isinstance(v, (list, tuple)) or type(v).__name__ == "MultiValue" else [v]
            values[kw] = [_text(x) for x in seq]
    return values


def _text(x: Any) -> str:
    """A value as the file's text: numbers read from JSON (DICOMweb) as the shortest decimal (120, not 120.0)."""
    original = getattr(x, "original_string", None)
    if isinstance(original, str):
        return original.strip()
    return format(float(x), ".12g") if isinstance(x, float) else str(x)


def _make_header(path: str, scan: _FileScan) -> SliceHeader:
    """The :class:`SliceHeader` of a parsed file; checks that its pixel data is complete."""
    values = scan.values
    ts = _first(values, "TransferSyntaxUID") or IMPLICIT_LE
    sop_class = _first(values, "SOPClassUID") or _first(values, "MediaStorageSOPClassUID") or ""
    if sop_class == MEDIA_STORAGE_DIRECTORY:
        return SliceHeader(path, "", "", "", MEDIA_STORAGE_DIRECTORY, "", ts)
    h = _header_fields(path, values, ts, sop_class, scan.has_pixels)
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
    if scan.pixel_pos is not None:
        try:
            _check_pixel_element(h, scan.pixel_pos, scan.pixel_header, scan.size, scan.tail)
        except DicomReadError as exc:
            exc.study_uid, exc.series_uid = h.study_uid or None, h.series_uid or None  # type: ignore[attr-defined]
            exc.group_key = (h.study_uid, h.series_uid or h.series_key)  # type: ignore[attr-defined]
            raise
    return h


def _header_fields(path: str, values: dict[str, Any], ts: str, sop_class: str, has_pixels: bool) -> SliceHeader:
    """Convert decoded values to typed :class:`SliceHeader` fields (malformed numbers raise)."""
    pixrep = int(values.get("PixelRepresentation") or 0)
    # Modality LUT (PS3.3 C.11.1): without RescaleSlope/Intercept, slope 1 and intercept 0.
    slope = _number(values, "RescaleSlope", path)
    intercept = _number(values, "RescaleIntercept", path)
    nframes = _number(values, "NumberOfFrames", path)
    acq = _number(values, "AcquisitionNumber", path)
    ps = _floats(values, "PixelSpacing", 2, path)
    return SliceHeader(
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
    """Pixel Padding Value / Range Limit (PS3.3 C.7.5.1.1.2) as a stored value of the image's sign."""
    if v is None:
        return None
    if isinstance(v, bytes):
        return struct.unpack("<h" if pixel_representation == 1 else "<H", v[:2])[0]
    v = int(v)
    if pixel_representation == 1 and v >= 32768:  # US-encoded value of a signed image
        v -= 65536
    return v


def _check_pixel_element(h: SliceHeader, pos: int, hdr: bytes, size: int, tail: bytes) -> None:
    """Detect truncated pixel data from the element header and the file size (no decoding)."""
    try:
        length, vpos = pixel_value_span(hdr, pos, explicit=h.transfer_syntax != IMPLICIT_LE)
    except struct.error:
        raise DicomReadError("file is truncated: it ends inside the PixelData element header", h.path) from None
    if h.rows == 0 or h.cols == 0:
        raise DicomReadError(f"image of {h.rows}x{h.cols} pixels: Rows and Columns must be at least 1", h.path)
    if length == UNDEFINED_LENGTH:  # encapsulated (PS3.5 A.4): must end with a sequence delimiter
        if _SEQUENCE_DELIMITER not in tail:
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
        _check_native_length(h, length)
        h.pixel_offset = vpos
        h.pixel_length = length


def _check_native_length(h: SliceHeader, length: int) -> None:
    """Native pixel data holds what the image attributes need (PS3.5 8.1.1); excess under one row is padding."""
    expected = h.rows * h.cols * h.samples * h.frames * h.bits_allocated // 8
    what = f"{h.rows}x{h.cols} pixels" + (f" x {h.frames} frames" if h.frames > 1 else "")
    if length < expected or length - expected >= max(2, h.cols * h.samples * h.bits_allocated // 8):
        msg = f"PixelData holds {length} bytes, {what} at {h.bits_allocated} bits need {expected}" + (
            ": Rows, Columns, NumberOfFrames or BitsAllocated do not describe the pixel data" if length > expected else ""
        )
        raise DicomReadError(msg, h.path)


__all__ = [
    "DICOM_SUFFIXES", "HEADER_TAGS", "MEDIA_STORAGE_DIRECTORY", "META_KEYWORDS", "SliceHeader", "header_from_dataset",
    "read_header", "read_headers",
]
