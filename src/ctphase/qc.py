"""Input quality checks: named flags that say when a phase answer cannot be trusted.

Every classified series carries a ``qc`` list of flag names (see :data:`QC_FLAGS`). A flag is
either *untrustworthy* (the images are not CT as the model knows it: the final label becomes
``uncertain`` and the model's guess is kept in ``image_label``) or a *caution* (the answer
stands, with less evidence or less certain geometry behind it). The reason for every flag is
also written, in words, to the series' ``warnings``.

Header-level flags are set by the readers (they know the headers); the pixel-level checks run
here, on the sampled slices, one batch at a time (:class:`PixelCheck`), before or alongside
the model. This module imports numpy only.

Thresholds, and why:

- *Blank*: a slice whose HU range (max - min) is under :data:`BLANK_RANGE_HU` holds no image
  (all zeros, all padding, a constant fill). The series is flagged when more than half of the
  sampled slices are blank.
- *Implausible HU*: every CT slice of a body holds fat (-150..-50 HU) or air (lung, bowel gas,
  the air around the body). When not one sampled slice has :data:`LOW_HU_MIN_FRACTION` of its
  pixels in :data:`LOW_HU_RANGE`, the values are not Hounsfield units as scanners write them:
  clipped at 0, a lost or wrong rescale (stored values taken as HU), or a non-CT image.
  Pixels set to exactly -1024 (padding, out-of-field fill) are not counted as air.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

UNTRUSTWORTHY = "untrustworthy"
CAUTION = "caution"


@dataclass(frozen=True)
class QCFlag:
    """One quality flag: its name, its severity and what it means."""

    name: str
    severity: str
    meaning: str


QC_FLAGS: dict[str, QCFlag] = {
    f.name: f
    for f in (
        QCFlag("blank_images", UNTRUSTWORTHY, "most sampled slices are constant: no image content"),
        QCFlag(
            "implausible_hu",
            UNTRUSTWORTHY,
            "no fat or air in any sampled slice: values clipped, rescale lost or wrong, or not CT",
        ),
        QCFlag("few_slices", CAUTION, "fewer slices than --min-slices: classified from all of them (low evidence)"),
        QCFlag("no_orientation", CAUTION, "orientation unknown (NIfTI without qform/sform, DICOM without IOP)"),
        QCFlag("inconsistent_spacing", CAUTION, "the slices' pixel spacing differs"),
        QCFlag("slice_gaps", CAUTION, "gaps between slices larger than 1.5x the median spacing"),
        QCFlag("unreadable_files", CAUTION, "some files of the series could not be read and are left out"),
        QCFlag("missing_rescale", CAUTION, "RescaleSlope/Intercept missing: stored values taken as HU"),
    )
}
"""Every flag ctphase sets, by name."""

BLANK_RANGE_HU = 1.0
BLANK_MAX_FRACTION = 0.5
LOW_HU_RANGE = (-1000.0, -30.0)
LOW_HU_MIN_FRACTION = 0.002
FILL_HU = -1024.0
GAP_FACTOR = 1.5


def is_untrustworthy(flags: list[str] | tuple[str, ...]) -> bool:
    """Whether any of ``flags`` makes the answer untrustworthy (the label becomes ``uncertain``)."""
    return any(QC_FLAGS[f].severity == UNTRUSTWORTHY for f in flags if f in QC_FLAGS)


class PixelCheck:
    """Accumulates per-slice statistics over batches of HU slices; :meth:`flags` gives the verdict."""

    def __init__(self) -> None:
        self.n = 0
        self.n_blank = 0
        self.max_low_fraction = 0.0
        self.lowest = np.inf
        self.highest = -np.inf

    def update(self, hu: np.ndarray) -> None:
        """Add a batch of ``(N, H, W)`` HU slices."""
        if hu.size == 0:
            return
        flat = hu.reshape(hu.shape[0], -1)
        lo = flat.min(axis=1)
        hi = flat.max(axis=1)
        self.n += flat.shape[0]
        self.n_blank += int(np.count_nonzero(hi - lo < BLANK_RANGE_HU))
        low = (flat > LOW_HU_RANGE[0]) & (flat < LOW_HU_RANGE[1])
        self.max_low_fraction = max(self.max_low_fraction, float(low.mean(axis=1).max()))
        inside = flat[flat != FILL_HU]
        if inside.size:
            self.lowest = min(self.lowest, float(inside.min()))
            self.highest = max(self.highest, float(inside.max()))

    def flags(self) -> list[tuple[str, str]]:
        """``(flag, message)`` pairs for what the slices seen so far show."""
        if self.n == 0:
            return []
        if self.n_blank > BLANK_MAX_FRACTION * self.n:
            return [("blank_images", f"{self.n_blank} of {self.n} sampled slices are constant (no image content)")]
        if self.max_low_fraction < LOW_HU_MIN_FRACTION:
            span = f"{self.lowest:.0f}..{self.highest:.0f}" if np.isfinite(self.lowest) else "only fill values"
            msg = (
                f"no fat or air in any of {self.n} sampled slices (values {span} HU): not Hounsfield units as a "
                "CT scanner writes them (clipped at 0, lost or wrong rescale, or not CT)"
            )
            return [("implausible_hu", msg)]
        return []


def gap_flags(positions: np.ndarray | None, factor: float = GAP_FACTOR) -> list[tuple[str, str]]:
    """``slice_gaps`` when neighbouring positions are further apart than ``factor`` x the median spacing.

    Returns:
        one ``("slice_gaps", message)`` per gap (the first three, then one for the rest), or nothing.
    """
    if positions is None or len(positions) < 3:
        return []
    pos = np.asarray(positions, dtype=np.float64)
    d = np.diff(pos)
    med = float(np.median(d))
    gaps = np.flatnonzero(d > factor * med) if med > 0 else np.array([], dtype=np.int64)
    out = [
        (
            "slice_gaps",
            f"gap of {d[g]:.1f} mm between slices {g} and {g + 1} (at {pos[g]:.1f} -> {pos[g + 1]:.1f} mm); "
            f"median spacing {med:.2f} mm: slices are not evenly spaced, index-based sampling is uneven here",
        )
        for g in gaps[:3]
    ]
    if len(gaps) > 3:
        out.append(("slice_gaps", f"{len(gaps) - 3} more gap(s) larger than {factor}x the median spacing"))
    return out


__all__ = ["CAUTION", "QC_FLAGS", "UNTRUSTWORTHY", "PixelCheck", "QCFlag", "gap_flags", "is_untrustworthy"]
