"""Auxiliary outputs of a slice network: the fine subphase and the time after injection.

A network with heads outputs one row of ``K = 4 + S + 2`` numbers per slice:

* columns ``0..3``: the phase logits, in the checkpoint's ``class_names`` order (as any ctphase
  network; everything that reads only the phase keeps working);
* the next ``S``: subphase logits, in :attr:`Heads.subphases` order (softmax);
* the next ``O`` (only when :attr:`Heads.organs` is not empty): the enhancement of those organs,
  ``(HU - 100) / 100`` of the organ's mean attenuation in the series, a training-only auxiliary target
  (:data:`ORGAN_HU_CENTER`, :data:`ORGAN_HU_SCALE`) that teaches the network where the phase is read;
  prediction does not report it, a series reader (:mod:`ctphase.models.reader`) reads it;
* the last two: the mean and the log-variance of ``ln(seconds after the start of injection)``, a
  Gaussian (trained with its negative log-likelihood on contrast-enhanced slices only).

The heads are part of a checkpoint's hashed configuration (key ``"heads"``, present only when
the network has them, and its ``"organs"`` only when there are any, so the identity of older
checkpoints is unchanged). Imports numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..phases import PHASE_NAMES, SUBPHASE_NAMES, SUBPHASE_TO_PHASE

SECONDS_KIND = "gaussian_log_seconds"
"""How the seconds head is read: mean and log-variance of ln(seconds after injection)."""

LOGVAR_RANGE: tuple[float, float] = (-8.0, 4.0)
"""The log-variance output is clamped to this range (training and prediction alike)."""

ENHANCEMENT_ORGANS: tuple[str, ...] = ("aorta", "portal_vein", "hepatic_vein", "ivc_infrarenal", "liver", "spleen",
                                       "kidney_cortex", "kidney_medulla", "renal_pelvis", "bladder", "urine_contrast")
"""Organs an enhancement head may regress: the vessels and parenchyma whose attenuation over time
separates the phases (the phase physiology of the design notes), named as :class:`ctphase.synth.tissues.Tissue`
(``urine_contrast``: the dependent renal pelvis, where excreted contrast shows first)."""

ORGAN_HU_CENTER, ORGAN_HU_SCALE = 100.0, 100.0
"""An organ's HU is regressed as ``(HU - ORGAN_HU_CENTER) / ORGAN_HU_SCALE`` (unenhanced ~0.5 .. aorta ~3)."""


@dataclass(frozen=True)
class Heads:
    """The auxiliary heads of a network: subphase names (softmax), organ enhancement (training only)
    and the seconds head."""

    subphases: tuple[str, ...] = SUBPHASE_NAMES
    seconds: str = SECONDS_KIND
    organs: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        names = tuple(str(n) for n in self.subphases)
        unknown = [n for n in names if n not in SUBPHASE_TO_PHASE]
        if unknown or len(set(names)) != len(names) or not names:
            raise ConfigError(f"heads.subphases {list(names)} must be distinct subphase names ({', '.join(SUBPHASE_NAMES)})")
        covered = {SUBPHASE_TO_PHASE[n].label for n in names}
        if covered != set(PHASE_NAMES):
            raise ConfigError(f"heads.subphases {list(names)} must cover all four phases, they cover {sorted(covered)}")
        if self.seconds != SECONDS_KIND:
            raise ConfigError(f"heads.seconds {self.seconds!r} is unknown to this ctphase (known: {SECONDS_KIND})")
        organs = tuple(str(n) for n in self.organs)
        if len(set(organs)) != len(organs) or any(n not in ENHANCEMENT_ORGANS for n in organs):
            raise ConfigError(f"heads.organs {list(organs)} must be distinct organ names ({', '.join(ENHANCEMENT_ORGANS)})")
        object.__setattr__(self, "subphases", names)
        object.__setattr__(self, "organs", organs)

    @property
    def width(self) -> int:
        """Columns the heads add after the four phase logits."""
        return len(self.subphases) + len(self.organs) + 2

    def organ_columns(self, n_classes: int) -> slice:
        """The columns of the organ outputs in a row of ``n_classes`` phase logits and these heads."""
        start = n_classes + len(self.subphases)
        return slice(start, start + len(self.organs))

    def to_dict(self) -> dict[str, Any]:
        """JSON form, as stored in a checkpoint's config (``organs`` only when there are any)."""
        return {"subphases": list(self.subphases), "seconds": self.seconds, **({"organs": list(self.organs)} if self.organs else {})}

    @classmethod
    def from_dict(cls, data: Any) -> Heads:
        """Read the JSON form back (:meth:`to_dict`)."""
        if not isinstance(data, dict) or "subphases" not in data:
            raise ConfigError(f"heads must be a JSON object with 'subphases' and 'seconds', got {data!r}")
        return cls(subphases=tuple(data["subphases"]), seconds=str(data.get("seconds", SECONDS_KIND)),
                   organs=tuple(data.get("organs", ())))


@dataclass
class SliceOutputs:
    """What a network says of each classified slice.

    Attributes:
        probs: ``(N, 4)`` phase probabilities in ``PHASE_NAMES`` order.
        subphase: ``(N, S)`` subphase probabilities (``None`` without heads).
        log_seconds: ``(N, 2)`` mean and log-variance of ln(seconds after injection) (``None`` without heads).
        organs: ``(N, O)`` organ enhancement readouts in :attr:`Heads.organs` order (``None`` without them).
    """

    probs: np.ndarray
    subphase: np.ndarray | None = None
    log_seconds: np.ndarray | None = None
    organs: np.ndarray | None = None

    @classmethod
    def concatenate(cls, parts: list[SliceOutputs]) -> SliceOutputs:
        """Stack the rows of several parts (in order)."""
        if not parts:
            raise ValueError("no outputs to concatenate")
        def stack(name: str) -> np.ndarray | None:
            return None if getattr(parts[0], name) is None else np.concatenate([getattr(p, name) for p in parts])

        return cls(np.concatenate([p.probs for p in parts]), stack("subphase"), stack("log_seconds"), stack("organs"))

    def take(self, order: np.ndarray) -> SliceOutputs:
        """The rows ``order`` (a permutation or selection)."""
        def rows(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[order]

        return SliceOutputs(self.probs[order], rows(self.subphase), rows(self.log_seconds), rows(self.organs))


def split_heads(raw: np.ndarray, n_classes: int, heads: Heads | None
                ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """Split network outputs ``(N, K)`` into phase logits, subphase probabilities, (mean, clamped
    log-variance) and organ readouts (``None`` when the heads have no organs)."""
    raw = np.asarray(raw)
    if heads is None:
        return raw, None, None, None
    if raw.shape[1] != n_classes + heads.width:
        raise ConfigError(f"the network gave {raw.shape[1]} outputs, its heads need {n_classes + heads.width}")
    sub = raw[:, n_classes : n_classes + len(heads.subphases)].astype(np.float64)
    sub = np.exp(sub - sub.max(axis=1, keepdims=True))
    sub = (sub / sub.sum(axis=1, keepdims=True)).astype(np.float32)
    sec = raw[:, -2:].astype(np.float32).copy()
    sec[:, 1] = np.clip(sec[:, 1], *LOGVAR_RANGE)
    organs = raw[:, heads.organ_columns(n_classes)].astype(np.float32) if heads.organs else None
    return raw[:, :n_classes], sub, sec, organs
