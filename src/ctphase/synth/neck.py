"""Neck above the trunk: outline, muscles, cervical vertebra and canal, carotid arteries, jugular
veins, thyroid, trachea and oesophagus."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .shapes import Canvas, ellipse_q, paint_chain, segment_q
from .tissues import Tissue as T

if TYPE_CHECKING:
    from .anatomy import Anatomy


def paint_neck(anat: Anatomy, cv: Canvas, z: float) -> None:
    """Paint the neck section at ``z`` (above ``anat.z_neck``), narrowing upward."""
    p, s = anat.p, anat.s
    t = np.clip((z - anat.z_neck) / 40.0, 0, 1)
    R = (75 - 15 * t) * s
    r = ellipse_q(cv, 0, 15 * s, R + 0.4 * p.sc_fat_mm, R * 0.85 + 0.4 * p.sc_fat_mm, 0.0, anat.body.body_wob, z)
    if r is None:
        return
    cv.paint(r[0], r[1] < 1, T.SKIN)
    cv.paint(r[0], r[1] < 0.97, T.FAT_SC)
    r = ellipse_q(cv, 0, 15 * s, R, R * 0.85, 0.0, anat.body.wall_wob, z)
    if r is not None:
        cv.paint(r[0], r[1] < 1, T.MUSCLE)
    ys = anat.spine_y(z)
    rr = ellipse_q(cv, 0, ys - 15 * s, 14 * s, 11 * s, 0.0, None, z)
    if rr is not None:
        cv.paint(rr[0], rr[1] < 1, T.BONE_CORTEX)
        cv.paint(rr[0], rr[1] < 0.8, T.BONE_MARROW)
    rr = ellipse_q(cv, 0, ys + 6 * s, 8 * s, 7 * s, 0.0, None, z)
    if rr is not None:
        cv.paint(rr[0], rr[1] < 1.3, T.BONE_CORTEX)
        cv.paint(rr[0], rr[1] < 1, T.CSF)
    for sd in (-1, 1):
        for (dx, dy, rad, lab) in ((24, -8, 4.0, T.ARTERY), (34, -8, 6.0, T.VEIN_PERIPHERAL), (14, -30, 9.0, T.THYROID)):
            if lab == T.THYROID and z > anat.z_neck + 60:
                continue
            c = np.array([sd * dx * s, dy * s, z])
            rr = segment_q(cv, z, c, c, rad * s, rad * s)
            if rr is not None:
                cv.paint(rr[0], rr[1] < 1, lab)
    paint_chain(cv, z, anat.thorax.trachea, T.BOWEL_AIR, wall=2.0, wall_label=T.CARTILAGE)
    paint_chain(cv, z, anat.thorax.esophagus, T.ESOPHAGUS)
