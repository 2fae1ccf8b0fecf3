"""Separating reconstructions that share one Series Instance UID.

Some scanners and exports store two reconstructions of one acquisition (a soft-tissue and a
bone kernel, 1 mm and 5 mm slices, ...) under one SeriesInstanceUID, so that two different
images sit at the same slice position. Rather than reject the series, :func:`split_reconstructions`
separates the stacks by the first attribute that tells them apart, in this order:

1. ConvolutionKernel, SliceThickness, ImageType (the usual differences between reconstructions);
2. a repeating cycle of positions in InstanceNumber order (file order when InstanceNumber is
   missing): 1..n at z1..zn, then n+1..2n at z1..zn again.

Each candidate split is accepted only when every part has distinct positions. When nothing
separates them, :class:`~ctphase.errors.SeriesError` says so. Acquisitions (AcquisitionNumber)
are split earlier, by :mod:`ctphase.io.dicom`.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from ..errors import SeriesError
from .dicom_header import SliceHeader

SPLIT_ATTRIBUTES = ("ConvolutionKernel", "SliceThickness", "ImageType")
POSITION_TOL_MM = 0.01


def positions(headers: list[SliceHeader], normal: np.ndarray) -> np.ndarray:
    """Each header's position along ``normal`` (SliceLocation when ImagePositionPatient is missing, else NaN)."""
    return np.array(
        [
            float(np.dot(h.ipp, normal))
            if h.ipp is not None
            else float(h.slice_location)
            if h.slice_location is not None
            else np.nan
            for h in headers
        ]
    )


def has_duplicate_positions(headers: list[SliceHeader], normal: np.ndarray) -> bool:
    """Whether two different images (different SOPInstanceUIDs) share a slice position."""
    pos = positions(headers, normal)
    order = np.argsort(pos, kind="stable")
    for a, b in zip(order[:-1], order[1:]):
        if abs(pos[b] - pos[a]) <= POSITION_TOL_MM and _identity(headers[a]) != _identity(headers[b]):
            return True
    return False


def _identity(h: SliceHeader) -> tuple[str, object]:
    return (h.sop_uid, getattr(h, "frame", None))


def split_reconstructions(
    headers: list[SliceHeader], normal: np.ndarray, where: str
) -> list[tuple[str | None, list[SliceHeader]]]:
    """The reconstructions of one stack: ``[(label, headers), ...]``; ``[(None, headers)]`` when only one.

    Args:
        headers: the images of one orientation and acquisition.
        normal: the slice normal, for positions.
        where: the folder, for the error message.
    Raises:
        SeriesError: when two different images share a position and no attribute or position
            cycle separates them.
    """
    if not has_duplicate_positions(headers, normal):
        return [(None, headers)]
    for attr in SPLIT_ATTRIBUTES:
        groups: dict[str, list[SliceHeader]] = defaultdict(list)
        for h in headers:
            groups[h.meta.get(attr, "")].append(h)
        if len(groups) > 1 and not any(has_duplicate_positions(g, normal) for g in groups.values()):
            return [(f"{attr}={value or '(none)'}", groups[value]) for value in sorted(groups, key=_sort_key)]
    cycles = _position_cycles(headers, normal)
    if cycles is not None:
        return [(f"position cycle {i + 1} of {len(cycles)}", c) for i, c in enumerate(cycles)]
    pos = positions(headers, normal)
    order = np.argsort(pos, kind="stable")
    i, j = next(
        (i, j)
        for i, j in zip(order[:-1], order[1:])
        if abs(pos[j] - pos[i]) <= POSITION_TOL_MM and _identity(headers[i]) != _identity(headers[j])
    )
    a, b = sorted((headers[i], headers[j]), key=lambda h: h.name)
    msg = (
        f"two different images at the same slice position {pos[i]:.2f} mm ({a.name} and {b.name}, SOPInstanceUIDs differ) "
        f"and nothing separates them (same {', '.join(SPLIT_ATTRIBUTES)}, no repeating position cycle): "
        "the series mixes reconstructions; cannot build one stack"
    )
    raise SeriesError(msg, where)


def _sort_key(value: str) -> tuple[int, float, str]:
    try:
        return (0, float(value), value)
    except ValueError:
        return (1, 0.0, value)


def _instance_order(headers: list[SliceHeader]) -> list[SliceHeader]:
    def key(h: SliceHeader) -> tuple[int, float, str]:
        try:
            return (0, float(h.meta.get("InstanceNumber", "")), h.path)
        except ValueError:
            return (1, 0.0, h.path)

    return sorted(headers, key=key)


def _position_cycles(headers: list[SliceHeader], normal: np.ndarray) -> list[list[SliceHeader]] | None:
    """Cut the images, in instance order, into runs that each visit a position once; ``None`` if that fails."""
    ordered = _instance_order(headers)
    pos = positions(ordered, normal)
    runs: list[list[int]] = [[]]
    seen: list[float] = []
    for i, p in enumerate(pos):
        if any(abs(p - q) <= POSITION_TOL_MM for q in seen):
            runs.append([])
            seen = []
        runs[-1].append(i)
        seen.append(float(p))
    if len(runs) < 2:
        return None
    sizes = [len(r) for r in runs]
    if min(sizes) < 2 or max(sizes) > 2 * min(sizes):  # not a clean repetition: refuse to guess
        return None
    sets = [np.round(pos[r] / POSITION_TOL_MM) for r in runs]
    for a, b in zip(sets[:-1], sets[1:]):  # each run revisits (mostly) the positions of the one before
        if len(np.intersect1d(a, b)) < 0.5 * min(len(a), len(b)):
            return None
    return [[ordered[i] for i in r] for r in runs]


__all__ = ["SPLIT_ATTRIBUTES", "has_duplicate_positions", "positions", "split_reconstructions"]
