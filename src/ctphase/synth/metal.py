"""Metal implants (surgical clips, aortic stent, hip prosthesis, spine screws, biliary stent):
where each sits, and painting them (the hip prosthesis is painted with the hip joint)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .draws import ShapeDraws
from .patient import PatientParams
from .shapes import Canvas, Chain, bar_q, segment_q
from .tissues import Tissue as T

if TYPE_CHECKING:
    from .anatomy import Anatomy


def build_metal(d: ShapeDraws, p: PatientParams) -> list[tuple[str, Any]]:
    """Place the patient's implants: ``(kind, geometry)`` with kind ``sphere`` (clips: list of
    (centre, radius)), ``hip`` (side index), ``tube`` (biliary stent: a :class:`Chain`) or the
    implant's name (``aortic_stent``, ``spine_screws``: positioned from the anatomy)."""
    rng, s, h = d.rng, d.s, d.h
    items: list[tuple[str, Any]] = []
    for m in p.metal:
        if m == "clips":
            items.append(("sphere", [(np.array([-45 * s, -35 * s, -110 * h]) + rng.normal(0, 10, 3), 2.0) for _ in range(4)]))
        elif m == "hip_prosthesis":
            side = int(rng.integers(0, 2))
            items.append(("hip", side))
        elif m == "biliary_stent":
            items.append(("tube", Chain(d.points([(-45, 0, -80), (-30, -10, -110), (-40, -5, -140)]), [3, 3, 3])))
        else:
            items.append((m, None))
    return items


def paint_metal(anat: Anatomy, cv: Canvas, z: float) -> None:
    """Paint clips, the biliary stent, the aortic stent's struts and pedicle screws at ``z``."""
    s, h = anat.s, anat.h
    for kind, obj in anat.metal_items:
        if kind == "sphere":
            for c, rad in obj:
                r = segment_q(cv, z, c, c, rad, rad)
                if r is not None:
                    cv.paint(r[0], r[1] < 1, T.METAL)
        elif kind == "tube":
            for _, p0, p1, r0, r1 in obj.segments(z):
                r = segment_q(cv, z, p0, p1, r0, r1)
                if r is not None:
                    cv.paint(r[0], (r[1] < 1) & (r[1] > 0.6), T.METAL)
        elif kind == "aortic_stent" and -245 * h < z < -135 * h:
            _paint_aortic_stent(anat, cv, z)
        elif kind == "spine_screws" and -230 * h < z < -150 * h and (z % (34 * h)) < 8:
            ys = anat.spine_y(z)
            for sd in (-1, 1):
                r = bar_q(cv, (sd * 20 * s, ys + 30 * s), (sd * 8 * s, ys - 5 * s), 3.0)
                if r is not None:
                    cv.paint(r[0], r[1] < 1, T.METAL)


def _paint_aortic_stent(anat: Anatomy, cv: Canvas, z: float) -> None:
    """Eight struts on the wall of the first aortic segment cut at ``z``."""
    for _, p0, p1, r0, r1 in anat.vessels.aorta.segments(z):
        tt = (z - p0[2]) / (p1[2] - p0[2] + 1e-9)
        c = p0 + np.clip(tt, 0, 1) * (p1 - p0)
        for k in range(8):
            ang = k * np.pi / 4 + 0.3 * np.sin(z * 0.3)
            q = c + np.array([np.cos(ang) * r0, np.sin(ang) * r0, 0])
            r = segment_q(cv, z, q, q, 1.2, 1.2)
            if r is not None:
                cv.paint(r[0], r[1] < 1, T.METAL)
        break
