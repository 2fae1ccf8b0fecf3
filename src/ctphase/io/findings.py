"""What reading found: the series kept and the inputs left out, each with its reason.

The readers never stop at a bad input. Every file or series that is not used is recorded as a
:class:`~ctphase.io.series.Skipped`: ``kind="skipped"`` for inputs that are valid but not
classifiable, ``kind="error"`` for broken ones. In strict mode the first error is raised
instead. :func:`ctphase.io.discover` fills one :class:`Findings` while it walks the folders,
and :func:`ctphase.io.dicom.assemble` adds the DICOM series and their rejects to it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import InputError
from .series import Series, Skipped

if TYPE_CHECKING:
    from .dicom_header import SliceHeader


class Findings:
    """The series found so far and the inputs left out; raises the first error when ``strict``.

    Attributes:
        strict: raise each error passed to :meth:`error` instead of recording it.
        series: the series kept, in the order they were added.
        skipped: the inputs left out, in the order they were reported.
        exceptions: the errors recorded, one per ``kind="error"`` entry of ``skipped``.
    """

    def __init__(self, strict: bool = False) -> None:
        self.strict = strict
        self.series: list[Series] = []
        self.skipped: list[Skipped] = []
        self.exceptions: list[InputError] = []

    def skip(
        self, path: str, reason: str, headers: list[SliceHeader] | None = None, n_files: int = 0, kind: str = "skipped"
    ) -> None:
        """Record a valid input that is not classified (``kind="skipped"``).

        Args:
            path: the file or folder left out.
            reason: why, in words.
            headers: the DICOM files (or frames) concerned: they give the UIDs and the file count.
            n_files: the file count when no headers are given.
            kind: ``"skipped"``, or ``"unused"`` for a folder's tally of files not read.
        """
        h = headers[0] if headers else None
        self.skipped.append(
            Skipped(
                path=path,
                reason=reason,
                kind=kind,
                study_uid=(h.study_uid or None) if h else None,
                series_uid=(h.series_uid or None) if h else None,
                n_files=_count_files(headers) if headers else n_files,
            )
        )

    def error(self, exc: InputError, headers: list[SliceHeader] | None = None, n_files: int = 1) -> None:
        """Record a broken input (``kind="error"``), or raise ``exc`` in strict mode.

        Args:
            exc: the error; its ``path`` and ``reason`` are recorded, and its ``study_uid`` and
                ``series_uid`` attributes when set and no headers are given.
            headers: the DICOM files concerned: they give the UIDs and the file count.
            n_files: the file count when no headers are given.
        """
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
                n_files=_count_files(headers) if headers else n_files,
            )
        )


def _count_files(headers: list[SliceHeader]) -> int:
    """The number of files behind ``headers`` (the frames of an Enhanced CT file count once)."""
    return len({h.path for h in headers})


__all__ = ["Findings"]
