"""Random shape draws for one patient's anatomy: jittered, scaled control points and wobbles.

Every builder of :class:`~ctphase.synth.anatomy.Anatomy` draws from one generator, in a fixed
order; :class:`ShapeDraws` bundles it with the patient's width (``s``) and height (``h``) scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .shapes import Wobble


@dataclass
class ShapeDraws:
    """The anatomy's random generator plus the patient's scale factors (width ``s``, height ``h``)."""

    rng: np.random.Generator
    s: float
    h: float

    def wobble(self, strength: float, kmax: int = 4) -> Wobble:
        """A cross-section :class:`~ctphase.synth.shapes.Wobble` (harmonics 2..``kmax``)."""
        return Wobble.draw(self.rng, strength, kmax)

    def points(self, pts: list[tuple[float, float, float]], sd: float = 2.0) -> np.ndarray:
        """Control points of the reference patient (x, y, z mm) scaled to this one, x/y jittered by ``sd`` mm."""
        a = np.array(pts, dtype=np.float64)
        a[:, 0] *= self.s
        a[:, 1] *= self.s
        a[:, 2] *= self.h
        a[:, :2] += self.rng.normal(0, sd, (len(a), 2))
        return a
