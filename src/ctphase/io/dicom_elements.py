"""The byte level of the fast DICOM header reader: walking data elements up to Pixel Data.

:func:`scan_elements` walks a DICOM byte stream held in memory, with or without the 128-byte
preamble, and returns the raw value bytes of the wanted tags. It reads the File Meta
Information (PS3.10 7.1, always explicit VR little endian), then the dataset in explicit or
implicit VR little endian (PS3.5 7.1), skipping sequences of defined or undefined length
(PS3.5 7.5), and stops at the Pixel Data element without reading its value. Datasets in
other encodings (big endian, deflated) are refused with :class:`NotNativeSyntax`; the caller
(:mod:`ctphase.io.dicom_header`) hands those to pydicom.
"""

from __future__ import annotations

import struct
from collections.abc import Container
from typing import NamedTuple

IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
NATIVE_SYNTAXES = {IMPLICIT_LE, EXPLICIT_LE}
# Syntaxes whose dataset is not little endian with a plain layout: left to pydicom.
PYDICOM_ONLY_SYNTAXES = {"1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"}  # big endian, deflated
TRANSFER_SYNTAX_TAG = 0x00020010
PIXEL_DATA_TAG = 0x7FE00010
UNDEFINED_LENGTH = 0xFFFFFFFF

_ITEM = 0xFFFEE000
_ITEM_DELIM = 0xFFFEE00D
_SEQ_DELIM = 0xFFFEE0DD
_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR", b"UT", b"SV", b"UV"}
_TAG = struct.Struct("<HH")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")


class NeedMore(Exception):
    """The parser ran past the bytes read so far."""


class Malformed(Exception):
    """The byte stream does not follow the DICOM encoding rules."""


class NotNativeSyntax(Malformed):
    """The dataset is encoded in a transfer syntax that only pydicom reads (big endian, deflated)."""


class ElementScan(NamedTuple):
    """What :func:`scan_elements` found in a byte stream."""

    transfer_syntax: str
    values: dict[int, bytes]  # raw value bytes by tag: the wanted tags and all of group 0002
    pixel_pos: int | None  # offset of the Pixel Data tag; None when absent
    pixel_header: bytes  # the bytes of the Pixel Data element header (up to 12)


def looks_like_raw_dataset(head: bytes) -> bool:
    """A preamble-less file may start directly with group 0002 or 0008 (little endian)."""
    if len(head) < 8:
        return False
    g, e = _TAG.unpack_from(head, 0)
    return g in (0x0002, 0x0008) and e < 0x0100


def scan_elements(buf: bytes, complete: bool, wanted: Container[int]) -> ElementScan:
    """Parse a DICOM byte stream (with or without preamble) up to Pixel Data.

    Args:
        buf: the first bytes of the file, or all of it.
        complete: whether ``buf`` holds the whole file (the end of ``buf`` is then a valid end).
        wanted: the top-level tags whose values are returned.
    Raises:
        NeedMore: (or ``struct.error``) the elements run past the end of ``buf``.
        Malformed: the bytes are not DICOM elements; :class:`NotNativeSyntax` for big endian
            or deflated datasets.
    """
    pos = 132 if buf[128:132] == b"DICM" else 0
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
    ts_raw = meta_found.get(TRANSFER_SYNTAX_TAG)
    if ts_raw is not None:
        ts = ts_raw.decode("latin-1").strip(" \x00")
    else:  # no file meta: guess from the first element (explicit VR has two letters at bytes 4-5)
        ts = EXPLICIT_LE if pos + 6 <= len(buf) and b"AA" <= buf[pos + 4 : pos + 6] <= b"ZZ" else IMPLICIT_LE
    if ts in PYDICOM_ONLY_SYNTAXES:
        raise NotNativeSyntax(ts)
    found: dict[int, bytes] = {}
    stop = _skip_elements(buf, pos, ts != IMPLICIT_LE, wanted, found, complete)
    found.update(meta_found)
    if stop + 8 <= len(buf) and _TAG.unpack_from(buf, stop) == (0x7FE0, 0x0010):
        return ElementScan(ts, found, stop, buf[stop : stop + 12])
    return ElementScan(ts, found, None, b"")


def pixel_value_span(header: bytes, pos: int, explicit: bool) -> tuple[int, int]:
    """Length and file offset of the Pixel Data value, from its element header at offset ``pos``.

    The length is :data:`UNDEFINED_LENGTH` for encapsulated (compressed) pixel data.
    """
    if explicit and header[4:6] in _LONG_VRS:
        return _U32.unpack_from(header, 8)[0], pos + 12
    return _U32.unpack_from(header, 4)[0], pos + 8


def _skip_sequence(buf: bytes, pos: int, explicit: bool) -> int:
    """Skip the items of an undefined-length sequence starting at ``pos``; return the position after its delimiter."""
    n = len(buf)
    while True:
        if pos + 8 > n:
            raise NeedMore
        g, e = _TAG.unpack_from(buf, pos)
        tag = g << 16 | e
        length = _U32.unpack_from(buf, pos + 4)[0]
        pos += 8
        if tag == _SEQ_DELIM:
            return pos
        if tag != _ITEM:
            raise Malformed(f"unexpected tag ({g:04X},{e:04X}) inside a sequence")
        if length != UNDEFINED_LENGTH:
            pos += length
        else:
            pos = _skip_elements(buf, pos, explicit, None, None)


def _skip_elements(
    buf: bytes,
    pos: int,
    explicit: bool,
    wanted: Container[int] | None,
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
            raise NeedMore
        g, e = _TAG.unpack_from(buf, pos)
        tag = g << 16 | e
        if tag == _ITEM_DELIM:
            if top:
                raise Malformed("item delimiter outside a sequence")
            return pos + 8
        if top and tag == PIXEL_DATA_TAG:
            return pos
        if explicit and g != 0xFFFE:
            vr = buf[pos + 4 : pos + 6]
            if vr in _LONG_VRS:
                if pos + 12 > n:
                    raise NeedMore
                length = _U32.unpack_from(buf, pos + 8)[0]
                vpos = pos + 12
            elif b"AA" <= vr <= b"ZZ":
                length = _U16.unpack_from(buf, pos + 6)[0]
                vpos = pos + 8
            else:
                raise Malformed(f"invalid VR {vr!r} at byte {pos}")
        else:
            length = _U32.unpack_from(buf, pos + 4)[0]
            vpos = pos + 8
        if length == UNDEFINED_LENGTH:
            pos = _skip_sequence(buf, vpos, explicit)
            continue
        end = vpos + length
        if top and tag in wanted:  # type: ignore[operator]
            if end > n:
                raise NeedMore
            found[tag] = buf[vpos:end]  # type: ignore[index]
        pos = end


__all__ = [
    "EXPLICIT_LE",
    "IMPLICIT_LE",
    "NATIVE_SYNTAXES",
    "PIXEL_DATA_TAG",
    "PYDICOM_ONLY_SYNTAXES",
    "TRANSFER_SYNTAX_TAG",
    "UNDEFINED_LENGTH",
    "ElementScan",
    "Malformed",
    "NeedMore",
    "NotNativeSyntax",
    "looks_like_raw_dataset",
    "pixel_value_span",
    "scan_elements",
]
