"""Property-based fuzzing of the DICOM reading path: corrupted files never crash ctphase.

Small valid files from :mod:`dicom_factory` (a classic CT slice in explicit and implicit VR, an
RLE-compressed one, an Enhanced CT file) are corrupted at random: truncated, bytes overwritten,
wrong VRs or absurd lengths written into element headers, absurd image attributes (Rows,
Columns, BitsAllocated, NumberOfFrames, ...). Then :func:`ctphase.io.discover` must not raise at
all (non-strict mode records every problem), strict mode and ``read_slices`` may raise only
ctphase's own errors, and what ``read_slices`` returns is finite HU of the promised shape.

Deterministic (``derandomize=True``, no example database) and bounded in time so that CI on a
small, noisy machine gives the same verdict every run.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from dicom_factory import (
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    RLELossless,
    make_ct_dataset,
    save,
    write_enhanced_ct,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.datadict import dictionary_VR

from ctphase.errors import CTPhaseError
from ctphase.io import discover

FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
BASES = ("explicit", "implicit", "rle", "enhanced")
VRS = [b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FD", b"FL", b"IS", b"LO", b"LT", b"OB", b"OD", b"OF",
       b"OL", b"OV", b"OW", b"PN", b"SH", b"SL", b"SQ", b"SS", b"ST", b"SV", b"TM", b"UC", b"UI", b"UL", b"UN",
       b"UR", b"US", b"UT", b"UV", b"XX", b"\x00\x00", b"\xff\xff"]
_VR_AT = re.compile(rb"(?=(" + b"|".join(re.escape(v) for v in VRS[:34]) + rb"))")


def _classic(syntax: str) -> Callable[[Path], None]:
    def build(path: Path) -> None:
        stored = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 7 + 900).astype(np.uint16)
        ds = make_ct_dataset(stored, position=(0.0, 0.0, 0.0), study_uid="1.2.3.4", series_uid="1.2.3.4.5",
                             sop_uid="1.2.3.4.5.6", slice_location=0.0)
        save(ds, path, transfer_syntax=syntax)

    return build


def _enhanced(path: Path) -> None:
    write_enhanced_ct(path, n=3, rows=8, cols=8, shuffle=True, seed=5)


BUILDERS: dict[str, Callable[[Path], None]] = {
    "explicit": _classic(ExplicitVRLittleEndian),
    "implicit": _classic(ImplicitVRLittleEndian),
    "rle": _classic(RLELossless),
    "enhanced": _enhanced,
}


class Bases(dict):
    """The valid files' bytes by name (a short repr keeps hypothesis' failure reports readable)."""

    def __repr__(self) -> str:
        return f"<valid files {sorted(self)}>"


@pytest.fixture(scope="module")
def bases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("fuzz-bases")
    out = Bases()
    for name, build in BUILDERS.items():
        build(folder / f"{name}.dcm")
        out[name] = (folder / f"{name}.dcm").read_bytes()
        assert len(discover(folder / f"{name}.dcm").series) == 1, name  # valid before corruption
    return out


@pytest.fixture(scope="module")
def originals(bases: dict[str, bytes], tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray]:
    """The HU volume of each valid file."""
    folder = tmp_path_factory.mktemp("fuzz-originals")
    out = Bases()
    for name, data in bases.items():
        (folder / f"{name}.dcm").write_bytes(data)
        out[name] = discover(folder / f"{name}.dcm").series[0].read_slices()
    return out


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def element_headers(data: bytes) -> list[tuple[int, bool]]:
    """Offsets of explicit-VR element headers (tag then a VR the data dictionary expects), with 'long form' flags."""
    out = []
    for m in _VR_AT.finditer(data):
        p = m.start() - 4
        if p < 132:
            continue
        group, elem = int.from_bytes(data[p : p + 2], "little"), int.from_bytes(data[p + 2 : p + 4], "little")
        try:
            vr = dictionary_VR(group << 16 | elem)
        except KeyError:
            continue
        if vr.encode() == m.group(1):
            out.append((p, vr in ("OB", "OD", "OF", "OL", "OV", "OW", "SQ", "UC", "UN", "UR", "UT", "SV", "UV")))
    return out


def check_never_crashes(path: Path) -> list[np.ndarray]:
    """The invariant: discover never raises, strict mode and pixel reading raise only ctphase errors.

    Returns the volumes that could be read: non-empty, finite float32 HU of the promised shape.
    """
    volumes = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about the invalid values it meets
        found = discover([path])
        for series in found.series:
            try:
                hu = series.read_slices()
            except CTPhaseError:
                continue
            assert hu.shape == (series.n_slices, *series.shape) and hu.size > 0
            assert hu.dtype == np.float32 and np.isfinite(hu).all()
            volumes.append(hu)
        try:
            discover([path], strict=True)
        except CTPhaseError:
            pass
    return volumes


def _write(workdir: Path, data: bytes) -> Path:
    path = workdir / "fuzzed.dcm"
    path.write_bytes(data)
    return path


@FUZZ
@given(base=st.sampled_from(BASES), cut=st.floats(0.0, 1.0))
def test_truncated_anywhere(bases: dict[str, bytes], workdir: Path, base: str, cut: float) -> None:
    data = bases[base]
    check_never_crashes(_write(workdir, data[: int(cut * len(data))]))


@FUZZ
@given(
    base=st.sampled_from(BASES),
    edits=st.lists(st.tuples(st.floats(0.0, 1.0, exclude_max=True), st.binary(min_size=1, max_size=4)), min_size=1,
                   max_size=6),
)
def test_overwritten_bytes(bases: dict[str, bytes], workdir: Path, base: str, edits: list[tuple[float, bytes]]) -> None:
    data = bytearray(bases[base])
    for where, new in edits:
        p = int(where * len(data))
        data[p : p + len(new)] = new
    check_never_crashes(_write(workdir, bytes(data)))


@FUZZ
@given(base=st.sampled_from(("explicit", "rle", "enhanced")), data=st.data())
def test_wrong_vr_in_element_headers(bases: dict[str, bytes], workdir: Path, base: str, data: st.DataObject) -> None:
    raw = bytearray(bases[base])
    heads = element_headers(bytes(raw))
    for p, _ in data.draw(st.lists(st.sampled_from(heads), min_size=1, max_size=3)):
        raw[p + 4 : p + 6] = data.draw(st.sampled_from(VRS))
    check_never_crashes(_write(workdir, bytes(raw)))


ABSURD_LENGTHS = st.one_of(
    st.sampled_from([0, 1, 2, 3, 0xFFFF, 0xFFFE, 0x7FFFFFFF, 0xFFFFFFFF, 0xFFFFFFFE]), st.integers(0, 0xFFFFFFFF)
)


@FUZZ
@given(base=st.sampled_from(("explicit", "rle", "enhanced")), data=st.data())
def test_absurd_element_lengths(bases: dict[str, bytes], workdir: Path, base: str, data: st.DataObject) -> None:
    raw = bytearray(bases[base])
    heads = element_headers(bytes(raw))
    for p, long_form in data.draw(st.lists(st.sampled_from(heads), min_size=1, max_size=2)):
        length = data.draw(ABSURD_LENGTHS)
        if long_form:
            raw[p + 8 : p + 12] = length.to_bytes(4, "little")
        else:
            raw[p + 6 : p + 8] = (length & 0xFFFF).to_bytes(2, "little")
    check_never_crashes(_write(workdir, bytes(raw)))


US_VALUES = st.one_of(st.sampled_from([0, 1, 2, 3, 7, 8, 12, 15, 16, 17, 24, 32, 33, 64, 255, 32768, 65535]),
                      st.integers(0, 65535))
IS_VALUES = st.sampled_from(["0", "1", "2", "3", "4", "-1", "-3", "100", "99999999", "2147483647", "1e3", "3.5",
                             "abc", "", " ", "NaN", "inf"])
GEOMETRY = {"Rows", "Columns", "NumberOfFrames", "SamplesPerPixel", "BitsAllocated"}
ATTRIBUTES = {
    "Rows": US_VALUES,
    "Columns": US_VALUES,
    "BitsAllocated": US_VALUES,
    "BitsStored": US_VALUES,
    "HighBit": US_VALUES,
    "SamplesPerPixel": US_VALUES,
    "PixelRepresentation": US_VALUES,
    "NumberOfFrames": IS_VALUES,
}


@FUZZ
@given(
    base=st.sampled_from(("explicit", "implicit", "rle", "enhanced")),
    changes=st.lists(st.sampled_from(sorted(ATTRIBUTES)), min_size=1, max_size=3, unique=True),
    data=st.data(),
)
def test_absurd_image_attributes(
    bases: dict[str, bytes], originals: dict[str, np.ndarray], workdir: Path, base: str, changes: list[str],
    data: st.DataObject,
) -> None:
    import pydicom
    from pydicom.filebase import DicomBytesIO

    texts: dict[bytes, bytes] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(DicomBytesIO(bases[base]))
        for kw in changes:
            value = data.draw(ATTRIBUTES[kw], label=kw)
            if isinstance(value, str):  # pydicom refuses invalid IS text: write a marker, then the text over it
                marker = f"{len(texts) + 1:012d}".encode()
                texts[marker] = value.encode().ljust(len(marker))
                value = marker.decode()
            setattr(ds, kw, value)
        out = DicomBytesIO()
        ds.save_as(out)
    raw = out.getvalue()
    for marker, text in texts.items():
        raw = raw.replace(marker, text)
    volumes = check_never_crashes(_write(workdir, raw))
    if set(changes) <= GEOMETRY:  # a header that misdescribes the pixel data must not yield another image
        for hu in volumes:
            assert np.array_equal(hu, originals[base]), f"{changes} gave a different image of shape {hu.shape}"


# ----------------------------------------------------------------------------- what the fuzzer found


def _edited(bases: dict[str, bytes], base: str, workdir: Path, **attrs: int) -> Path:
    import pydicom
    from pydicom.filebase import DicomBytesIO

    ds = pydicom.dcmread(DicomBytesIO(bases[base]))
    for kw, v in attrs.items():
        setattr(ds, kw, v)
    path = workdir / "regression" / "x.dcm"
    path.parent.mkdir(exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.save_as(path)
    return path


@pytest.mark.parametrize(
    ("base", "attrs", "reason"),
    [
        ("explicit", {"Columns": 1}, "PixelData holds 128 bytes, 8x1 pixels at 16 bits need 16: Rows, Columns"),
        ("explicit", {"Rows": 4}, "PixelData holds 128 bytes, 4x8 pixels at 16 bits need 64: Rows, Columns"),
        ("enhanced", {"NumberOfFrames": 2}, "PixelData holds 384 bytes, 8x8 pixels x 2 frames at 16 bits need 256: Rows"),
        ("explicit", {"Columns": 0}, "image of 8x0 pixels: Rows and Columns must be at least 1"),
        ("rle", {"Rows": 0}, "image of 0x8 pixels: Rows and Columns must be at least 1"),
    ],
)
def test_misdescribed_pixel_data_is_an_error(
    bases: dict[str, bytes], workdir: Path, base: str, attrs: dict[str, int], reason: str
) -> None:
    """Native data that holds a row or more beyond what Rows x Columns x frames need, or an empty
    image, used to be read as a garbled or empty image; now the file is an error naming it."""
    found = discover(_edited(bases, base, workdir, **attrs))
    assert found.series == []
    (sk,) = found.skipped
    assert sk.kind == "error" and sk.reason.startswith(reason), sk.reason


def test_a_panicking_decoder_is_a_read_error(bases: dict[str, bytes], workdir: Path) -> None:
    """pylibjpeg-rle panics (pyo3 PanicException, a BaseException) on RLE data larger than Rows
    says; read_slices used to let it through instead of a DicomReadError naming the file."""
    from ctphase.errors import DicomReadError

    path = _edited(bases, "rle", workdir, Rows=4)
    (series,) = discover(path).series
    with pytest.raises(DicomReadError, match="x.dcm: cannot decode pixel data"):
        series.read_slices()
