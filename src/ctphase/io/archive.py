"""Zip archives read in place: the DICOM and NIfTI files inside a ``.zip``, never extracted to disk.

Addressing. A file inside an archive is named by its *address*: the archive's path, ``!/``, and
the member's name as the archive stores it (``/``-separated), e.g. ``/data/study.zip!/CT/3/IM1``.
``SliceHeader.path``, ``Series.path`` and ``Skipped.path`` hold addresses for such files, so every
message names both the archive and the member. The folder of a DICOM series inside an archive is
the address of that folder (``study.zip!/CT/3``); a series or record at the archive's top level is
named by the archive's path alone (:func:`tidy`). An address is a name only: code reaches the
bytes through the ``opener`` of a :class:`~ctphase.io.dicom_header.SliceHeader` (a
:class:`ZipMember`; ``SliceHeader.open_file()``) or the ``member`` of an
:class:`ArchiveNiftiSeries`, never by parsing the address (a real folder may contain ``!``).

Laziness. Discovery lists each archive, then reads member headers with the archive open once
(:class:`Reader`): the first 64 KiB of each DICOM member; a NIfTI member is read through once to
hash it (its content id, as for a NIfTI file on disk). Pixels are read later: each
:meth:`ZipMember.open` reopens the archive and closing the stream closes it, so nothing is held
open between calls. A NIfTI member is decompressed whole into memory when its voxels are read.

Limits and refusals. A member over :data:`MAX_MEMBER_BYTES` (2 GiB) uncompressed is refused with
an error (a zip bomb, or not one CT file); encrypted members and compression methods Python
cannot read are one error per archive and reason; a ``.zip`` that is not a readable zip archive
is one error naming it. Members named ``DICOMDIR``, hidden members (a name part starting with
``.``, or under ``__MACOSX/``) and zips inside the archive are not read: they are counted with
the other unused files (:mod:`ctphase.io.unused`).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import lzma
import os
import posixpath
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from ..errors import DicomReadError, InputError, NiftiReadError
from .dicom_header import SliceHeader, read_header
from .findings import Findings
from .nifti import NiftiSeries, is_nifti_path, load_nifti
from .unused import ARCHIVE, DICOMDIR, HIDDEN

SEPARATOR = "!/"
MAX_MEMBER_BYTES = 2 * 1024**3
"""Largest uncompressed member read (2 GiB): a CT slice file or volume is far smaller."""
NIFTI_HEADER_BYTES = 1 << 20  # decompressed bytes read for a NIfTI member's header and extensions

_READABLE_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
_METHOD_NAMES = {6: "implode", 9: "deflate64", 93: "zstandard", 95: "xz", 98: "PPMd", 99: "AES"}
_DATA_ERRORS = (zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, NotImplementedError, RuntimeError)


def is_zip_path(path: str | os.PathLike[str]) -> bool:
    """Whether the file name ends in ``.zip`` (case-insensitive)."""
    return os.fspath(path).lower().endswith(".zip")


def address(archive: str, name: str) -> str:
    """The address of member ``name`` of ``archive``: ``archive!/name``."""
    return f"{archive}{SEPARATOR}{name}"


def tidy(path: str) -> str:
    """Name an archive's top level by the archive itself: ``a.zip!`` (a member's folder) -> ``a.zip``."""
    return path[:-1] if path.endswith("!") and is_zip_path(path[:-1]) else path


@dataclass(frozen=True)
class ZipMember:
    """One file inside a zip archive: enough to find it again after the archive was closed."""

    archive: str  # the archive's path on disk
    name: str  # the member's name inside it
    index: int  # its place in the archive's central directory (names may repeat)
    size: int  # uncompressed bytes

    @property
    def address(self) -> str:
        """``archive!/name``: how paths and messages name this member."""
        return address(self.archive, self.name)

    def open(self) -> BinaryIO:
        """Reopen the archive and stream this member; closing the stream closes the archive.

        Raises:
            OSError: the archive is gone or unreadable, or no longer holds the member
                (``FileNotFoundError`` when the archive does not exist).
        """
        try:
            zf = zipfile.ZipFile(self.archive)
        except zipfile.BadZipFile as exc:
            raise OSError(f"the zip archive is no longer readable ({exc})") from None
        try:
            return _MemberStream(_open_member(zf, self), owner=zf)  # type: ignore[return-value]
        except BaseException:
            zf.close()
            raise


def _open_member(zf: zipfile.ZipFile, m: ZipMember) -> BinaryIO:
    infos = zf.infolist()
    info = infos[m.index] if m.index < len(infos) else None
    if info is None or info.filename != m.name:
        raise OSError("the zip archive no longer holds this member")
    try:
        return zf.open(info)  # type: ignore[return-value]
    except _DATA_ERRORS as exc:
        raise OSError(f"cannot open the archive member ({type(exc).__name__}: {exc})") from None


class _MemberStream(io.RawIOBase):
    """A member's decompressed bytes, seekable; zip data errors surface as ``OSError``."""

    def __init__(self, fh: BinaryIO, owner: zipfile.ZipFile | None = None) -> None:
        super().__init__()
        self._fh = fh
        self._owner = owner

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        return self._guard(self._fh.read, size)

    def readinto(self, buf: Any) -> int:
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)

    def seek(self, pos: int, whence: int = 0) -> int:
        return self._guard(self._fh.seek, pos, whence)

    def tell(self) -> int:
        return self._fh.tell()

    def close(self) -> None:
        if not self.closed:
            self._fh.close()
            if self._owner is not None:
                self._owner.close()
        super().close()

    @staticmethod
    def _guard(fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except _DATA_ERRORS as exc:
            raise OSError(f"the zip data of this member is corrupt ({type(exc).__name__}: {exc})") from None


@dataclass
class Listing:
    """What an archive holds: DICOM candidates, NIfTI members, and members not read.

    ``unused`` holds ``(folder, category, name)`` as :meth:`ctphase.io.unused.Unused.add` takes them.
    """

    dicom: list[ZipMember] = field(default_factory=list)
    nifti: list[ZipMember] = field(default_factory=list)
    unused: list[tuple[str, str, str]] = field(default_factory=list)


def list_archive(path: str, findings: Findings) -> Listing:
    """The members of the zip archive at ``path``; archives and members that cannot be read go to ``findings``."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, EOFError, ValueError, NotImplementedError, RuntimeError) as exc:
        findings.error(InputError(f"not a readable zip archive ({type(exc).__name__}: {exc})", path))
        return Listing()
    except OSError as exc:
        findings.error(InputError(f"cannot read file: {exc.strerror or exc}", path))
        return Listing()
    listing = Listing()
    refused: dict[str, list[str]] = {}
    for i, info in sorted(enumerate(infos), key=lambda t: t[1].filename):
        if info.is_dir():
            continue
        _sort_member(path, i, info, listing, refused, findings)
    for reason, names in refused.items():
        shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        findings.error(InputError(f"{len(names)} member(s) {reason}: {shown}", path), n_files=len(names))
    return listing


def _sort_member(
    path: str, i: int, info: zipfile.ZipInfo, listing: Listing, refused: dict[str, list[str]], findings: Findings
) -> None:
    name = info.filename
    parts = [p for p in name.split("/") if p]
    base = parts[-1] if parts else name
    folder = tidy(posixpath.dirname(address(path, name)))
    if parts[0] == "__MACOSX" or any(p.startswith(".") for p in parts):
        listing.unused.append((path, HIDDEN, name))  # named from the archive's top: __MACOSX holds many folders
    elif base.upper() == "DICOMDIR":
        listing.unused.append((folder, DICOMDIR, base))
    elif is_zip_path(base):
        listing.unused.append((folder, ARCHIVE, base))
    elif info.flag_bits & 0x1:
        refused.setdefault("are encrypted (password-protected) and cannot be read", []).append(name)
    elif info.compress_type not in _READABLE_METHODS:
        method = _METHOD_NAMES.get(info.compress_type, "unknown")
        refused.setdefault(f"use a compression method Python cannot read ({method}, id {info.compress_type})", []).append(name)
    elif info.file_size > MAX_MEMBER_BYTES:
        msg = (
            f"{info.file_size} bytes uncompressed, more than the {MAX_MEMBER_BYTES // 1024**3} GiB accepted for one "
            "file (a zip bomb?): not read"
        )
        findings.error(InputError(msg, address(path, name)))
    else:
        member = ZipMember(path, name, i, info.file_size)
        (listing.nifti if is_nifti_path(base) else listing.dicom).append(member)


class Reader:
    """Reads member headers during one discovery pass, keeping one archive open at a time.

    Use as a context manager: the archive open last is closed on exit.
    """

    def __init__(self) -> None:
        self._path: str | None = None
        self._zf: zipfile.ZipFile | None = None

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._zf is not None:
            self._zf.close()
        self._zf, self._path = None, None

    def _stream(self, m: ZipMember) -> _MemberStream:
        if self._path != m.archive or self._zf is None:
            self.close()
            try:
                self._zf = zipfile.ZipFile(m.archive)
            except zipfile.BadZipFile as exc:
                raise OSError(f"the zip archive is no longer readable ({exc})") from None
            self._path = m.archive
        return _MemberStream(_open_member(self._zf, m))

    def header(self, m: ZipMember) -> list[SliceHeader]:
        """The images of a member (``[]`` when it is not DICOM), as ``read_headers`` gives them for a file.

        One header, or one per frame of an Enhanced CT file (its functional groups are read
        through ``SliceHeader.open_file``, the archive reopened).

        Raises:
            DicomReadError: naming the member's address.
        """
        try:
            with self._stream(m) as fh:
                h = read_header(m.address, stream=fh, size=m.size)
        except OSError as exc:
            raise DicomReadError(f"cannot read file: {exc.strerror or exc}", m.address) from None
        if h is None:
            return []
        h.opener = m
        from .dicom_enhanced import frames_of  # it imports dicom_header, as this module does

        return frames_of(h)

    def nifti(self, m: ZipMember) -> ArchiveNiftiSeries:
        """A NIfTI member as a series (its header only; voxels are read by ``read_slices``).

        Raises:
            NiftiReadError: naming the member's address.
        """
        try:
            with self._stream(m) as fh:
                identity = "nifti:" + hashlib.file_digest(fh, "sha256").hexdigest()[:16]  # as nifti.content_id
            with self._stream(m) as fh:
                head = _nifti_bytes(fh, NIFTI_HEADER_BYTES)
                try:
                    img = _nifti_image(head)
                except Exception:  # extensions beyond the first MiB: read the member whole
                    fh.seek(0)
                    img = _nifti_image(_nifti_bytes(fh, MAX_MEMBER_BYTES))
        except OSError as exc:
            raise NiftiReadError(f"cannot read file: {exc.strerror or exc}", m.address) from None
        except Exception as exc:  # nibabel raises many types on broken headers
            raise NiftiReadError(f"not a readable NIfTI file ({type(exc).__name__}: {exc})", m.address) from None
        series = load_nifti(m.address, image=img, identity=identity, cls=ArchiveNiftiSeries)
        series.member = m  # type: ignore[attr-defined]
        return series  # type: ignore[return-value]


@dataclass
class ArchiveNiftiSeries(NiftiSeries):
    """A NIfTI volume inside a zip archive; the member is read whole when voxels are asked for."""

    member: ZipMember | None = field(default=None, repr=False)

    def _open(self, keep_open: bool) -> Any:
        """The voxel proxy over the member's bytes, read whole (the archive is closed again)."""
        try:
            if self.member is None:  # pragma: no cover - always set by Reader.nifti
                raise OSError("archive member unknown")
            with self.member.open() as fh:
                return _nifti_image(_nifti_bytes(fh, MAX_MEMBER_BYTES)).dataobj
        except Exception as exc:  # zip, gzip and nibabel raise many types on broken data
            msg = f"cannot read voxel data ({type(exc).__name__}: {exc})"
            raise NiftiReadError(msg, self.path) from None


def _nifti_bytes(fh: BinaryIO, limit: int) -> bytes:
    """Up to ``limit`` bytes of the NIfTI data, gunzipped when the member is gzip-compressed."""
    magic = fh.read(2)
    fh.seek(0)
    if magic != b"\x1f\x8b":
        return fh.read(limit)
    data = gzip.GzipFile(fileobj=fh, mode="rb").read(limit + 1)
    if len(data) > limit >= MAX_MEMBER_BYTES:
        raise OSError(f"the gzip data decompresses to more than {MAX_MEMBER_BYTES // 1024**3} GiB (a zip bomb?)")
    return data[:limit]


def _nifti_image(data: bytes) -> Any:
    """A nibabel image over ``data`` (NIfTI-1 or NIfTI-2 by the header size field, either byte order)."""
    import nibabel as nib

    sizes = {int.from_bytes(data[:4], "little"), int.from_bytes(data[:4], "big")}
    klass = nib.Nifti2Image if 540 in sizes else nib.Nifti1Image
    return klass.from_bytes(data)


__all__ = [
    "MAX_MEMBER_BYTES",
    "SEPARATOR",
    "ArchiveNiftiSeries",
    "Listing",
    "Reader",
    "ZipMember",
    "address",
    "is_zip_path",
    "list_archive",
    "tidy",
]
