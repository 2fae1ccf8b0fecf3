"""Contrast phase labels and mappings from other labelling schemes.

This module imports nothing heavy (no torch, no numpy) so that listing phases or
reading a report is instant.

The canonical order is ``non_contrast, arterial, venous, other`` (indices 0..3).
The reference paper's code (Dao et al. 2022) orders its classes
``Non, Venous, Arterial, Others``; convert at the boundary with
:func:`from_paper_index` / :func:`to_paper_index`, never inside.
"""

from __future__ import annotations

from enum import IntEnum


class Phase(IntEnum):
    """The four scan-level contrast phases, in canonical index order."""

    NON_CONTRAST = 0
    ARTERIAL = 1
    VENOUS = 2
    OTHER = 3

    @property
    def label(self) -> str:
        """Lower-case label used in reports and manifests, e.g. ``"non_contrast"``."""
        return self.name.lower()

    @classmethod
    def parse(cls, value: str | int | Phase) -> Phase:
        """Return the phase for a label, alias, fine subphase or index.

        Raises:
            ValueError: naming the bad value and the accepted labels.
        """
        if isinstance(value, Phase):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            if 0 <= value < len(cls):
                return cls(value)
            msg = f"phase index {value} is out of range 0..{len(cls) - 1}"
            raise ValueError(msg)
        key = str(value).strip().lower().replace("-", "_").replace(" ", "_")
        if key in _BY_LABEL:
            return _BY_LABEL[key]
        if key in SUBPHASE_TO_PHASE:
            return SUBPHASE_TO_PHASE[key]
        msg = (
            f"unknown phase {value!r}; expected one of {', '.join(PHASE_NAMES)} "
            f"or a subphase ({', '.join(sorted(SUBPHASE_TO_PHASE))})"
        )
        raise ValueError(msg)


PHASE_NAMES: tuple[str, ...] = tuple(p.label for p in Phase)
"""Labels in canonical index order: ``("non_contrast", "arterial", "venous", "other")``."""

_BY_LABEL: dict[str, Phase] = {p.label: p for p in Phase}

SUBPHASE_TO_PHASE: dict[str, Phase] = {
    # non-contrast
    "non_contrast": Phase.NON_CONTRAST,
    "noncontrast": Phase.NON_CONTRAST,
    "unenhanced": Phase.NON_CONTRAST,
    "native": Phase.NON_CONTRAST,
    "plain": Phase.NON_CONTRAST,
    "pre": Phase.NON_CONTRAST,
    "non": Phase.NON_CONTRAST,
    # arterial
    "early_arterial": Phase.ARTERIAL,
    "late_arterial": Phase.ARTERIAL,
    "arterial": Phase.ARTERIAL,
    # venous
    "portal_venous": Phase.VENOUS,
    "portal": Phase.VENOUS,
    "venous": Phase.VENOUS,
    "nephrographic": Phase.VENOUS,
    # other
    "transitional": Phase.OTHER,
    "delayed": Phase.OTHER,
    "equilibrium": Phase.OTHER,
    "excretory": Phase.OTHER,
    "urographic": Phase.OTHER,
    "others": Phase.OTHER,
}
"""Fine subphases (and common aliases) mapped to the 4-class scheme: early/late arterial -> arterial;
portal venous, nephrographic -> venous; transitional, delayed, equilibrium, excretory -> other."""

SUBPHASE_NAMES: tuple[str, ...] = (
    "non_contrast", "early_arterial", "late_arterial", "portal_venous", "nephrographic",
    "transitional", "equilibrium", "excretory",
)
"""The fine subphases in time order (what the synthetic engine labels and a model's subphase head
outputs); each maps to one phase through ``SUBPHASE_TO_PHASE``."""

# Paper's class order: 0 Non, 1 Venous, 2 Arterial, 3 Others.
_PAPER_ORDER: tuple[Phase, ...] = (Phase.NON_CONTRAST, Phase.VENOUS, Phase.ARTERIAL, Phase.OTHER)


def from_paper_index(index: int) -> Phase:
    """Convert a class index of the paper's code (Non, Venous, Arterial, Others) to a Phase."""
    if not 0 <= int(index) < 4:
        msg = f"paper class index {index} is out of range 0..3 (0 Non, 1 Venous, 2 Arterial, 3 Others)"
        raise ValueError(msg)
    return _PAPER_ORDER[int(index)]


def to_paper_index(phase: Phase | str | int) -> int:
    """Convert a phase to the paper's class index (0 Non, 1 Venous, 2 Arterial, 3 Others)."""
    return _PAPER_ORDER.index(Phase.parse(phase))
