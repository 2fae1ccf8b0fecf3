"""Axial skeleton: the spine line, vertebrae (body, disc, posterior arch, canal), ribs and sternum.

The sacrum, hip bones and femurs are in :mod:`ctphase.synth.pelvis`; the cervical spine in
:mod:`ctphase.synth.neck`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .draws import ShapeDraws
from .patient import PatientParams
from .shapes import Canvas, bar_q, ellipse_q
from .tissues import Tissue as T

if TYPE_CHECKING:
    from .anatomy import Anatomy

# (z, y) of the vertebral body centre of the reference patient (mm)
_SPINE_LINE = [(-420, 85), (-330, 85), (-270, 62), (-200, 45), (-100, 46), (0, 52), (100, 58), (200, 55), (300, 40)]


@dataclass
class AxialSkeleton:
    """Spine line and the vertical layout of vertebral levels and ribs."""

    spine_ctrl: np.ndarray  # rows (z, y of the vertebral body centre)
    level_phase: float  # phase of the vertebral levels along z (0..1)
    rib_top: float  # z of rib 1 at the spine
    rib_spacing: float  # z distance between ribs at the spine
    rib_drop: float  # how far each rib descends from the spine to its anterior end


def build_axial_skeleton(d: ShapeDraws, p: PatientParams) -> AxialSkeleton:
    """Draw the level phase and the rib cage: rib 1 (posterior) high in the chest, rib 12
    (posterior end) ~ T12, well below the dome."""
    s, h = d.s, d.h
    spine_ctrl = np.array(_SPINE_LINE, float)
    spine_ctrl[:, 0] *= h
    spine_ctrl[:, 1] *= s * p.ap_ratio ** 0.5
    level_phase = d.rng.uniform(0, 1)
    rib_top = 205 * h + d.rng.uniform(-8, 8)
    rib_spacing = 25 * h * d.rng.uniform(0.93, 1.07)
    rib_drop = d.rng.uniform(85, 115) * h
    return AxialSkeleton(spine_ctrl, level_phase, rib_top, rib_spacing, rib_drop)


def paint_ribs(anat: Anatomy, cv: Canvas, z: float, cx: float, cy: float, a: float, b: float) -> None:
    """Ribs and costal cartilages in the wall (ellipse ``cx, cy, a, b`` through the ribs), sternum."""
    sk = anat.skeleton
    top, sp, drop = sk.rib_top, sk.rib_spacing, sk.rib_drop
    if z > top + 10 or z < top - 11 * sp - drop * 0.7:
        return
    res = ellipse_q(cv, cx, cy, a, b, 0.0, anat.body.cavity.wob, z, 1.12)
    if res is None:
        return
    box, q, u, v = res
    rt = 4.2 * anat.s  # half thickness of a rib (radial), mm
    d = (q - 1.0) * a
    ring = np.abs(d) < rt
    if not ring.any():
        return
    phi = np.arctan2(np.abs(u[ring]), v[ring])  # 0 posterior, pi anterior
    w = z + drop * (1 - np.cos(phi)) / 2
    k = (top - w) / sp
    ki = np.round(k)
    hz = 5.5 * anat.h * (1 - 0.25 * (phi > 0.75 * np.pi))  # half height (z) of the rib / cartilage
    e = np.hypot((k - ki) * sp / hz, d[ring] / rt)
    hit = (e < 1) & (ki >= 0) & (ki <= 11)
    hit &= ~((ki >= 10) & (phi > 0.55 * np.pi))  # floating ribs
    hit &= ~((ki <= 1) & (phi > 0.8 * np.pi))
    hit &= ~(phi < 0.12 * np.pi)  # ribs join the spine at the transverse processes
    cart = hit & (((ki <= 6) & (phi > 0.78 * np.pi)) | ((ki > 6) & (phi > 0.64 * np.pi)))
    rim = 1.0 - 1.6 / rt
    lab = np.where(cart, np.where(e > 0.75, T.CARTILAGE, T.MUSCLE), np.where(e < rim, T.BONE_MARROW, T.BONE_CORTEX)).astype(np.uint8)
    sub = cv.lab[box]
    idx = np.nonzero(ring)
    keep = hit & (sub[idx] != T.AIR)
    sub[idx[0][keep], idx[1][keep]] = lab[keep]
    # sternum
    if -30 * anat.h < z < 200 * anat.h:
        r = bar_q(cv, (cx - 9 * anat.s, cy - b - 2), (cx + 9 * anat.s, cy - b - 2), 5 * anat.s)
        if r is not None:
            cv.paint(r[0], r[1] < 1, T.BONE_CORTEX)
            cv.paint(r[0], r[1] < 0.55, T.BONE_MARROW)


def _paint_bone(cv: Canvas, r: tuple | None, marrow: float) -> None:
    """Cortex where ``rho < 1``, marrow where ``rho < marrow`` (``r`` from a ``*_q`` primitive)."""
    if r is not None:
        cv.paint(r[0], r[1] < 1, T.BONE_CORTEX)
        cv.paint(r[0], r[1] < marrow, T.BONE_MARROW)


def paint_spine(anat: Anatomy, cv: Canvas, z: float, ys: float) -> None:
    """Thoracic or lumbar vertebra (or disc) at ``z``, centred at ``y = ys``; the sacrum is painted with the pelvis."""
    s, h = anat.s, anat.h
    if z < -255 * h:
        return  # sacrum handled in the pelvis
    lumbar = z < -95 * h
    L = (34 if lumbar else 25) * h
    frac = ((z / L) + anat.skeleton.level_phase) % 1.0
    disc = frac < (0.26 if lumbar else 0.2)
    rx, ry = (25 * s, 18 * s) if lumbar else (17 * s, 15 * s)
    r = ellipse_q(cv, 0.0, ys, rx, ry, 0.0, None, z)
    if r is None:
        return
    box, q, _, _ = r
    if disc:
        cv.paint(box, q < 1.02, T.DISC)
    else:
        cv.paint(box, q < 1, T.BONE_CORTEX)
        cv.paint(box, q < 1 - 2.2 / rx, T.BONE_MARROW)
    yc = ys + ry + 9 * s
    _paint_posterior_arch(cv, z, s, yc, frac, lumbar)
    r = ellipse_q(cv, 0.0, yc, 9.5 * s, 8.5 * s, 0.0, None, z)
    if r is not None:
        cv.paint(r[0], r[1] < 1, T.CSF)


def _paint_posterior_arch(cv: Canvas, z: float, s: float, yc: float, frac: float, lumbar: bool) -> None:
    """Pedicles, laminae and processes around the canal (centre ``yc``) at level fraction ``frac``."""
    # at disc levels the facet joints and the lamina / spinous process of the vertebra above still show
    if frac < 0.3 or frac > 0.85:
        for sd in (-1, 1):
            _paint_bone(cv, ellipse_q(cv, sd * 16 * s, yc + 5 * s, 7 * s, 5.5 * s, 0.0, None, z), 0.55)
        if frac < 0.2:
            _paint_bone(cv, bar_q(cv, (0.0, yc + 9 * s), (0.0, yc + (28 if lumbar else 24) * s), (4.0 if lumbar else 3.5) * s), 0.5)
    if 0.22 < frac < 0.97:
        r = ellipse_q(cv, 0.0, yc, 15 * s, 14 * s, 0.0, None, z)
        if r is not None:
            box, q, u, v = r
            arch = (q < 1) & ((v > -0.1) | (np.abs(u) > 0.6))
            cv.paint(box, arch, T.BONE_CORTEX)
            cv.paint(box, arch & (q > 0.8) & (q < 0.9) & (v > 0.3), T.BONE_MARROW)
        if frac > 0.45:  # spinous process
            _paint_bone(cv, bar_q(cv, (0.0, yc + 11 * s), (0.0, yc + (30 if lumbar else 26) * s), (4.0 if lumbar else 3.5) * s), 0.5)
        if 0.35 < frac < 0.7:  # transverse processes (ribs articulate with them in the chest)
            for sd in (-1, 1):
                _paint_bone(cv, bar_q(cv, (sd * 11 * s, yc - 3 * s), (sd * (36 if lumbar else 26) * s, yc + (1 if lumbar else 8) * s), 4.0 * s), 0.55)
        if 0.6 < frac < 0.9:  # facet joints / articular processes
            for sd in (-1, 1):
                _paint_bone(cv, ellipse_q(cv, sd * 15 * s, yc + 6 * s, 6 * s, 5 * s, 0.0, None, z), 0.55)
