"""Acquisitions of a study: linking reconstructions, and ordering acquisitions in time.

**Linking.** Two series of one study are reconstructions of one acquisition (thin/thick,
soft/bone kernel) when they share their FrameOfReferenceUID (where both have one), their
acquisition times are within :data:`LINK_TOLERANCE_S` and their z ranges overlap; times
rounded to the whole minute do not tell acquisitions of one minute apart (an arterial and a
portal venous scan 40 s apart), so there different AcquisitionNumbers keep them apart. Without
times, only the stacks the reader split out of one Series Instance UID (``/recN``) are
linked. Series of one acquisition share one phase: their image evidence is pooled.

**Ordering**, by the strongest evidence every acquisition of the study has:

1. ``times``: acquisition clock times (with dates, so midnight is crossed correctly); the
   gaps between acquisitions are known too, unless every time is a whole minute (rounded
   times: the order stands, the gaps are not used). Gaps over :data:`INJECTION_GAP_S` start
   a new chain (another injection, or another examination on the same study).
2. ``AcquisitionNumber``, ties broken by SeriesNumber (de-identified archives strip times
   but keep both; the non-contrast and the arterial acquisition often share number 1).
3. ``SeriesNumber`` alone (a weak cue: operators renumber).

When none orders every acquisition there is no order: the study step keeps the series-alone
answers and says why. Times and AcquisitionNumbers are checked against each other: numbers may
repeat (the non-contrast and the arterial acquisition often share one) but not run backwards in
time. Where they do and one acquisition's removal would put them in line, that acquisition (or
each such one) is a *suspect*: its time is probably wrong, and the study model weighs that
(``Ordering.suspects``); where no single removal, or every one, would, there is no order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

LINK_TOLERANCE_S = 2.0
INJECTION_GAP_S = 20 * 60.0


@dataclass
class Acquisition:
    """The series (indices into the study's items) of one acquisition, and what orders it."""

    members: list[int]
    time: float | None = None
    number: int | None = None
    series_number: int | None = None
    bolus_seconds: float | None = None
    frame_of_reference: str | None = None
    z_range: tuple[float, float] | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class Ordering:
    """Chains of acquisition indices in time order (one per injection) and what ordered them."""

    chains: list[list[int]]
    source: str | None
    reason: str
    gaps: dict[tuple[int, int], float] = field(default_factory=dict)
    suspects: set[int] = field(default_factory=set)


def _int(v: object) -> int | None:
    try:
        return int(float(str(v).strip()))
    except (TypeError, ValueError):
        return None


def same_frame(a: Mapping[str, str], b: Mapping[str, str]) -> bool:
    """Same FrameOfReferenceUID, or one of the two has none (then the frame says nothing)."""
    fa, fb = a.get("FrameOfReferenceUID"), b.get("FrameOfReferenceUID")
    return not (fa and fb) or fa == fb


def same_time(ta: float | None, tb: float | None) -> bool:
    """Both acquisition times known and within :data:`LINK_TOLERANCE_S`."""
    return ta is not None and tb is not None and abs(ta - tb) <= LINK_TOLERANCE_S


def whole_minute(t: float) -> bool:
    """Whether a clock time (seconds) falls on a whole minute: a time rounded to the minute, most likely."""
    return abs(t - 60.0 * round(t / 60.0)) < 0.5


def _numbers_differ(a: Mapping[str, str], b: Mapping[str, str]) -> bool:
    na, nb = _int(a.get("AcquisitionNumber")), _int(b.get("AcquisitionNumber"))
    return na is not None and nb is not None and na != nb


def _overlap(a: tuple[float, float] | None, b: tuple[float, float] | None) -> bool:
    if a is None or b is None:
        return True
    return min(a[1], b[1]) >= max(a[0], b[0])


def link(
    metas: Sequence[Mapping[str, str]],
    z_ranges: Sequence[tuple[float, float] | None],
    series_uids: Sequence[str | None],
    times: Sequence[float | None],
    bolus: Sequence[float | None],
) -> list[Acquisition]:
    """Group a study's series into acquisitions (see the module docstring)."""
    acqs: list[Acquisition] = []
    for i, meta in enumerate(metas):
        for a in acqs:
            j = a.members[0]
            if times[i] is not None and times[j] is not None:
                same = same_time(times[i], times[j]) and not (
                    whole_minute(times[i]) and whole_minute(times[j]) and _numbers_differ(meta, metas[j]))
            else:
                same = bool(series_uids[i]) and series_uids[i] == series_uids[j] and times[i] is None and times[j] is None
            if same and same_frame(meta, metas[j]) and _overlap(z_ranges[i], z_ranges[j]):
                a.members.append(i)
                break
        else:
            acqs.append(
                Acquisition(
                    members=[i],
                    time=times[i],
                    number=_int(meta.get("AcquisitionNumber")),
                    series_number=_int(meta.get("SeriesNumber")),
                    bolus_seconds=bolus[i],
                    frame_of_reference=meta.get("FrameOfReferenceUID") or None,
                    z_range=z_ranges[i],
                )
            )
    for a in acqs:  # what the members agree on
        nums = {_int(metas[i].get("AcquisitionNumber")) for i in a.members}
        a.number = nums.pop() if len(nums) == 1 else None
        sns = [n for n in (_int(metas[i].get("SeriesNumber")) for i in a.members) if n is not None]
        a.series_number = min(sns) if sns else None
        bs = [bolus[i] for i in a.members if bolus[i] is not None]
        a.bolus_seconds = min(bs) if bs else None
    return acqs


def order(acqs: Sequence[Acquisition]) -> Ordering:
    """Order acquisitions by the strongest evidence all of them have (see the module docstring)."""
    n = len(acqs)
    idx = list(range(n))
    if n == 1:
        return Ordering([idx], "single", "one acquisition in the study")
    if all(a.time is not None for a in acqs):
        by_time = sorted(idx, key=lambda i: acqs[i].time)  # type: ignore[arg-type, return-value]
        suspects = out_of_line(by_time, [a.number for a in acqs])
        if suspects is None:
            return Ordering([], None, "acquisition times and AcquisitionNumbers give different orders")
        chains: list[list[int]] = [[by_time[0]]]
        gaps: dict[tuple[int, int], float] = {}
        for a, b in zip(by_time[:-1], by_time[1:]):
            gap = float(acqs[b].time - acqs[a].time)  # type: ignore[operator]
            if gap > INJECTION_GAP_S:
                chains.append([b])
            else:
                chains[-1].append(b)
                gaps[(a, b)] = gap
        reason = "ordered by acquisition time"
        if all(whole_minute(a.time) for a in acqs):  # type: ignore[arg-type]
            gaps = {}  # a gap of "1 min" may be 1 s or 119 s
            reason += " (times rounded to the minute: gaps not used)"
        if len(chains) > 1:
            reason += f"; {len(chains)} chains (gaps over {INJECTION_GAP_S / 60:.0f} min: another injection)"
        if suspects:
            reason += f"; AcquisitionNumbers run against the times at {len(suspects)} acquisition(s)"
        return Ordering(chains, "times", reason, gaps, suspects)
    if all(a.number is not None for a in acqs):
        keys = [(a.number, a.series_number if a.series_number is not None else -1) for a in acqs]
        if len(set(keys)) == n and (len({a.number for a in acqs}) == n or all(a.series_number is not None for a in acqs)):
            tie = len({a.number for a in acqs}) < n
            why = "ordered by AcquisitionNumber" + (", ties by SeriesNumber" if tie else "") + " (no acquisition times)"
            return Ordering([sorted(idx, key=lambda i: keys[i])], "acquisition_number", why)
    if all(a.series_number is not None for a in acqs) and len({a.series_number for a in acqs}) == n:
        return Ordering([sorted(idx, key=lambda i: acqs[i].series_number)], "series_number",  # type: ignore[arg-type, return-value]
                        "ordered by SeriesNumber only (no times, no AcquisitionNumbers: a weak cue)")
    return Ordering([], None, "no acquisition times, AcquisitionNumbers or SeriesNumbers that order every acquisition")


def _backwards(nums: Sequence[int | None]) -> bool:
    known = [x for x in nums if x is not None]
    return any(b < a for a, b in zip(known[:-1], known[1:]))


def out_of_line(time_order: list[int], numbers: Sequence[int | None]) -> set[int] | None:
    """Acquisitions whose removal would put the AcquisitionNumbers in line with the time order.

    Empty when the numbers never run backwards along the times (repeats allowed; unknown numbers
    say nothing); ``None`` (no order) when they do and no single removal, or every one, mends it.
    """
    nums = [numbers[i] for i in time_order]
    if not _backwards(nums):
        return set()
    mend = {time_order[k] for k in range(len(nums)) if not _backwards(nums[:k] + nums[k + 1:])}
    return mend if mend and len(mend) < len(nums) else None


TimeFn = Callable[[Mapping[str, str]], float | None]

__all__ = ["INJECTION_GAP_S", "LINK_TOLERANCE_S", "Acquisition", "Ordering", "link", "order", "out_of_line", "same_frame",
           "same_time"]
