"""DICOM dates and times of a series' header: parsing (TM, DA, DT) and when it was acquired.

Value representations (PS3.5 6.2): TM ``HHMMSS.FFFFFF`` (minutes, seconds and fraction
optional; the ACR-NEMA form ``HH:MM:SS`` accepted), DA ``YYYYMMDD`` (also ``YYYY.MM.DD``), DT
``YYYYMMDDHHMMSS.FFFFFF&ZZXX``. Every parser gives ``None`` for a malformed, empty or
impossible value (``"999999"``, ``"20241301"``), never an exception: headers are typed by hand.
Times are local clock times; a DT's UTC offset is ignored, as TM values have none.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Mapping
from typing import Any

DAY_S = 86400.0
_EPOCH = _dt.date(1970, 1, 1).toordinal()
_TM = re.compile(r"(\d{2})(\d{2})?(\d{2})?(\.\d+)?")
_DA = re.compile(r"(\d{4})[.\-]?(\d{2})[.\-]?(\d{2})")
_DT = re.compile(r"(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})?(\d{2})?(\.\d+)?)?(?:[+\-]\d{4})?")

TIME_SOURCES: tuple[tuple[str, str | None], ...] = (
    ("AcquisitionDateTime", None),
    ("AcquisitionTime", "AcquisitionDate"),
    ("SeriesTime", "SeriesDate"),
    ("ContentTime", "ContentDate"),
)
"""(time tag, its date tag) in the order :func:`acquisition_seconds` tries them."""
DATE_FALLBACKS: tuple[tuple[str, str], ...] = (
    ("AcquisitionDate", "AcquisitionTime"),
    ("SeriesDate", "SeriesTime"),
    ("ContentDate", "ContentTime"),
    ("StudyDate", "StudyTime"),
)
"""(date tag, its time tag) that date a time whose own date tag is missing."""


def _first(value: Any) -> str:
    """The first value of a (possibly multi-valued, ``\\``-joined) header string, stripped."""
    if value is None:
        return ""
    return str(value).split("\\")[0].strip(" \x00\t\r\n")


def parse_tm(value: Any) -> float | None:
    """Seconds since midnight of a DICOM TM value (``HHMMSS.FFFFFF``, ``HHMM``, ``HH:MM:SS``), or None."""
    text = _first(value).replace(":", "")
    m = _TM.fullmatch(text)
    if not m:
        return None
    h, mi, s = int(m.group(1)), int(m.group(2) or 0), int(m.group(3) or 0)
    if h > 23 or mi > 59 or s > 60:
        return None
    return h * 3600.0 + mi * 60.0 + s + (float(m.group(4)) if m.group(4) else 0.0)


def parse_da(value: Any) -> _dt.date | None:
    """The date of a DICOM DA value (``YYYYMMDD``; ``YYYY.MM.DD`` of ACR-NEMA), or None."""
    m = _DA.fullmatch(_first(value))
    if not m:
        return None
    try:
        return _dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None


def parse_dt(value: Any) -> tuple[_dt.date, float | None] | None:
    """(date, seconds since midnight or None) of a DICOM DT value (``YYYYMMDDHHMMSS.FFFFFF&ZZXX``), or None.

    The time is ``None`` when the value holds a date only; the UTC offset is ignored.
    """
    m = _DT.fullmatch(_first(value))
    if not m:
        return None
    try:
        day = _dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None
    if m.group(4) is None:
        return day, None
    h, mi, s = int(m.group(4)), int(m.group(5) or 0), int(m.group(6) or 0)
    if h > 23 or mi > 59 or s > 60:
        return None
    return day, h * 3600.0 + mi * 60.0 + s + (float(m.group(7)) if m.group(7) else 0.0)


def wrapped_delta(t: float, ref: float) -> float:
    """``t - ref`` for two times of day, taken across midnight when that is shorter (within +-12 h)."""
    d = t - ref
    if d < -43200:
        d += DAY_S
    elif d > 43200:
        d -= DAY_S
    return d


def acquisition_time_of_day(meta: Mapping[str, Any]) -> float | None:
    """Seconds since midnight the acquisition started: AcquisitionDateTime (0008,002A), else AcquisitionTime (0008,0032).

    PS3.3 C.7.6.1 General Image Module (C.8.2.1 CT Image; Enhanced CT keeps AcquisitionDateTime).
    """
    dt = parse_dt(meta.get("AcquisitionDateTime"))
    if dt is not None and dt[1] is not None:
        return dt[1]
    return parse_tm(meta.get("AcquisitionTime"))


def _instant(meta: Mapping[str, Any]) -> tuple[float, str] | None:
    """(seconds, source) of :func:`acquisition_seconds` and :func:`time_source`."""
    dt = parse_dt(meta.get("AcquisitionDateTime"))
    if dt is not None and dt[1] is not None:
        return (dt[0].toordinal() - _EPOCH) * DAY_S + dt[1], "AcquisitionDateTime"
    for time_tag, date_tag in TIME_SOURCES[1:]:
        t = parse_tm(meta.get(time_tag))
        if t is None:
            continue
        own = parse_da(meta.get(date_tag)) if date_tag else None
        if own is not None:
            return (own.toordinal() - _EPOCH) * DAY_S + t, f"{date_tag}+{time_tag}"
        for other_date, other_time in DATE_FALLBACKS:
            day = parse_da(meta.get(other_date))
            if day is None:
                continue
            base = (day.toordinal() - _EPOCH) * DAY_S
            ref = parse_tm(meta.get(other_time))
            # a borrowed date belongs to its own time: past midnight, the acquisition is a day later
            seconds = base + t if ref is None else base + ref + wrapped_delta(t, ref)
            return seconds, f"{other_date}+{time_tag}"
        return t, time_tag
    return None


def acquisition_seconds(meta: Mapping[str, Any]) -> float | None:
    """When the series was acquired, in seconds, to order a study's acquisitions; None without a usable time.

    Reads, first usable wins (PS3.3 C.7.6.1 General Image, C.7.3.1 General Series, C.7.2.1 General Study):

    1. AcquisitionDateTime (0008,002A) with a time part;
    2. AcquisitionTime (0008,0032), dated by AcquisitionDate (0008,0022);
    3. SeriesTime (0008,0031), dated by SeriesDate (0008,0021);
    4. ContentTime (0008,0033), dated by ContentDate (0008,0023).

    A time whose own date is missing takes the first of AcquisitionDate, SeriesDate, ContentDate,
    StudyDate (0008,0020), a day later when it lies over 12 h before that date's own time (the
    scan ran past midnight). Dated: seconds since 1970-01-01 00:00 local time. Undated (no valid
    date tag at all): seconds since midnight, which do not compare across midnight;
    :func:`time_source` says which.
    """
    got = _instant(meta)
    return None if got is None else got[0]


def time_source(meta: Mapping[str, Any]) -> str | None:
    """The tags :func:`acquisition_seconds` used: ``"AcquisitionDateTime"``, ``"AcquisitionDate+AcquisitionTime"``,
    ``"StudyDate+SeriesTime"``, ..., or a time tag alone (``"ContentTime"``: undated, seconds since midnight); None when no time."""
    got = _instant(meta)
    return None if got is None else got[1]


__all__ = [
    "acquisition_seconds",
    "acquisition_time_of_day",
    "parse_da",
    "parse_dt",
    "parse_tm",
    "time_source",
    "wrapped_delta",
]
