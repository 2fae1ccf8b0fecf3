"""Body wall of the trunk: outline (skin, subcutaneous fat), breasts, arms at the side, the
muscular wall around the body cavity, and the back muscles (erector spinae, psoas, quadratus
lumborum)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .draws import ShapeDraws
from .patient import PatientParams
from .shapes import F32, Canvas, Tube, Wobble, ellipse_q, superellipse_q
from .skeleton import paint_ribs
from .tissues import Tissue as T

if TYPE_CHECKING:
    from .anatomy import Anatomy

# cavity inside the muscular wall of the reference patient: rows (z, cx, cy, a, b)
_CAVITY = [(-470, 0, 0, 110, 75), (-400, 0, -5, 115, 80), (-330, 0, -5, 120, 84), (-250, 0, -5, 124, 86),
           (-160, 0, -3, 127, 88), (-80, 0, 0, 130, 90), (0, 0, 0, 132, 92), (80, 0, 0, 130, 92),
           (160, 0, 2, 120, 84), (220, 0, 5, 100, 70), (265, 0, 8, 60, 48)]


@dataclass
class Body:
    """The trunk: body cavity, outline and wall wobbles, arm positions, small-vessel density."""

    cavity: Tube  # inside of the muscular wall (thorax and abdominopelvic cavity)
    wall_wob: Wobble  # outline of the muscles (trunk, legs, neck)
    vessel_density: float  # density of small vessels (liver, mesentery)
    box_p: float  # anterior body outline exponent: 2 ellipse .. 2.9 rounded box
    body_wob: Wobble  # outline of the skin
    arm_ctrl: list[np.ndarray]  # (x, y) of each arm beside the trunk (arms down)


@dataclass
class BackMuscles:
    """Psoas and quadratus lumborum of each side (erector spinae is painted from the spine line)."""

    psoas: list[Tube]
    ql: list[Tube]


def build_body(d: ShapeDraws, p: PatientParams) -> Body:
    """Draw the body cavity (widened by visceral fat between the pelvis and the diaphragm) and outline."""
    s, h = d.s, d.h
    vf = 1.0 + 0.22 * p.visceral_fat
    rows = []
    for z, cx, cy, a, b in _CAVITY:
        sc = vf if -330 < z < -20 else 1.0
        rows.append((z * h, cx, cy * s, a * s * sc, b * s * sc * p.ap_ratio, 0.0))
    cavity = Tube(np.array(rows), d.wobble(0.05, 4))
    wall_wob = d.wobble(0.03, 4)
    vessel_density = float(d.rng.uniform(0.7, 1.3))
    box_p = float(d.rng.uniform(2.0, 2.9))
    body_wob = d.wobble(0.04, 5)
    arm_ctrl = [np.array([sd * (cavity.at(-100)[2] + p.muscle_mm + p.sc_fat_mm + 45 * s), 10 * s]) for sd in (-1, 1)]
    return Body(cavity, wall_wob, vessel_density, box_p, body_wob, arm_ctrl)


def build_back_muscles(d: ShapeDraws, p: PatientParams) -> BackMuscles:
    """Psoas (bigger in men) from L1 to the groin, quadratus lumborum beside the lumbar spine."""
    s, h = d.s, d.h
    pm = 1.12 if p.sex == "M" else 0.95
    psoas = [Tube(np.array([(-360 * h, sd * 85 * s, -5 * s, 25 * s * pm, 21 * s * pm, 0), (-300 * h, sd * 68 * s, 10 * s, 28 * s * pm, 24 * s * pm, 0),
                            (-240 * h, sd * 52 * s, 33 * s, 27 * s * pm, 23 * s * pm, 0), (-170 * h, sd * 40 * s, 43 * s, 21 * s * pm, 18 * s * pm, 0),
                            (-110 * h, sd * 30 * s, 48 * s, 10 * s, 9 * s, 0)]), d.wobble(0.05)) for sd in (-1, 1)]
    ql = [Tube(np.array([(-250 * h, sd * 75 * s, 80 * s, 10 * s, 12 * s, 0.4 * sd), (-180 * h, sd * 70 * s, 80 * s, 20 * s, 12 * s, 0.4 * sd),
                         (-110 * h, sd * 62 * s, 82 * s, 14 * s, 9 * s, 0.4 * sd)]), d.wobble(0.05)) for sd in (-1, 1)]
    return BackMuscles(psoas, ql)


def paint_body_wall(anat: Anatomy, cv: Canvas, z: float) -> tuple[tuple[slice, slice], np.ndarray] | None:
    """Paint the trunk section at ``z`` down to the cavity (filled with visceral fat) and the ribs.

    Returns the cavity's box and inside mask, or None where the trunk does not reach ``z``.
    """
    p, h = anat.p, anat.h
    cav = anat.body.cavity.at(z)
    if cav is None:
        return None
    cx, cy, a, b, _ = cav
    chest = z > -40 * h
    fat = p.sc_fat_mm * (0.55 if z > 60 * h else 1.0)
    m = p.muscle_mm * (0.8 if chest else 1.0)
    ant = cy - b - m - fat * 1.25
    if not _paint_outline(anat, cv, z, cx, ant, a + m + fat):
        return None
    if p.sex == "F" and 40 * h < z < 190 * h:
        _paint_breasts(anat, cv, z, ant)
    if p.arms_down:
        _paint_arms(anat, cv, z, fat)
    _paint_muscle_wall(anat, cv, z, a, m, chest)
    cres = anat.body.cavity.q(cv, z)
    if cres is None:
        return None
    cbox, cq, _, _ = cres
    inside = cq < 1.0
    cv.paint(cbox, inside, T.FAT_VISCERAL)
    paint_ribs(anat, cv, z, cx, cy, a + m * 0.5, b + m * 0.5)
    return cbox, inside


def _paint_outline(anat: Anatomy, cv: Canvas, z: float, cx: float, ant: float, rx: float) -> bool:
    """Skin and subcutaneous fat (wider at the hips); False when off the canvas."""
    p, s, h = anat.p, anat.s, anat.h
    back = anat.body_back(z)
    if -400 * h < z < -250 * h:
        rx += 12 * s * np.clip((-250 * h - z) / (60 * h), 0, 1)  # hips
    if z < -300 * h and p.sex == "F":
        rx += 10 * s
    yc = 0.5 * (ant + back)
    res = superellipse_q(cv, cx, yc, rx, yc - ant, back - yc, anat.body.box_p, 3.0, anat.body.body_wob, z)
    if res is None:
        return False
    box, q = res
    cv.paint(box, q < 1.0, T.SKIN)
    cv.paint(box, q < 1.0 - 2.0 / max(rx, 1), T.FAT_SC)
    return True


def _paint_breasts(anat: Anatomy, cv: Canvas, z: float, ant: float) -> None:
    p, s = anat.p, anat.s
    for sd in (-1, 1):
        r = ellipse_q(cv, sd * 60 * s, ant - 10 * s, 55 * s, 45 * s * (1 + p.sc_fat_mm / 60), 0.0, None, z)
        if r is not None:
            box2, q2, _, v2 = r
            cv.paint(box2, (q2 < 1) & (v2 < 0.2), T.FAT_SC)
            cv.paint(box2, (q2 < 0.6) & (v2 < 0.1), T.BREAST)


def _paint_arms(anat: Anatomy, cv: Canvas, z: float, fat: float) -> None:
    s = anat.s
    for i, sd in enumerate((-1, 1)):
        ax, ay = anat.body.arm_ctrl[i]
        r = ellipse_q(cv, ax + sd * 10, ay, 48 * s + fat * 0.5, 48 * s + fat * 0.5, 0, None, z)
        if r is not None:
            box2, q2, _, _ = r
            cv.paint(box2, q2 < 1, T.FAT_SC)
            cv.paint(box2, q2 < 0.75, T.MUSCLE)
            cv.paint(box2, q2 < 0.25, T.BONE_CORTEX)
            cv.paint(box2, q2 < 0.15, T.YELLOW_MARROW)


def _paint_muscle_wall(anat: Anatomy, cv: Canvas, z: float, a: float, m: float, chest: bool) -> None:
    """Muscle ring around the cavity: thick laterally (obliques), rectus bellies, thin linea alba."""
    wall = anat.body.cavity.q(cv, z, grow=1.7 * m)
    if wall is None:
        return
    wb, wq, wu, wv = wall
    g = 1.7 * m / max(a, 1.0)
    # local wall thickness: thick laterally (obliques), thin at the linea alba, rectus bellies
    lat = np.abs(wu) / np.maximum(np.sqrt(wu * wu + wv * wv), 1e-3)
    # rectus bellies: lens-shaped bulges either side of a thin linea alba
    au = np.abs(wu)
    rc = np.sqrt(np.clip(1 - ((au - 0.2) / 0.18) ** 2, 0, 1)) * (wv < 0)
    thick = (np.where(wv < 0, 0.3 + 0.6 * lat, 0.55 + 0.4 * lat) + 0.5 * rc) * F32(1 / 1.7)
    thick = np.where((wv < 0) & (au < 0.02), F32(0.12), thick)
    qc = (wq * (1 + g) - 1) / g  # 0 at the cavity, 1 at the outer edge of the grown ellipse
    musc = (wq < 1 + g) & (qc < thick)
    if not chest:
        planes = (wv > -0.45) & ((np.abs(qc - 0.33 * thick) < 0.045) | (np.abs(qc - 0.66 * thick) < 0.045))
        musc &= ~planes
    cv.paint_if(wb, musc, T.MUSCLE, (T.FAT_SC,))


def paint_back_muscles(anat: Anatomy, cv: Canvas, z: float, ys: float) -> None:
    """Erector spinae + multifidus behind the spine (``ys``: vertebral body centre), psoas, quadratus lumborum."""
    s = anat.s
    if z < -420 * anat.h:
        return
    big = 1.0 if z < 0 else 0.75
    big *= float(np.interp(z, [-400 * anat.h, -260 * anat.h], [0.45, 1.0]))
    for sd in (-1, 1):
        # erector spinae + multifidus: a boxy block from the lamina to near the skin of the back
        r = ellipse_q(cv, sd * (6 + 34 * big) * s, ys + 50 * s, 34 * s * big, 24.5 * s * min(1.0, big + 0.2), 0.0, None, z, 1.05)
        if r is not None:
            box, _, u, v = r
            X, _ = cv.grid(box)
            au, av = np.abs(u), np.abs(v)
            qb = au * au * au + av * av * av  # boxy (superellipse p=3) section
            cv.paint_if(box, (qb < 1) & (sd * X > 3.5 * s), T.MUSCLE, (T.FAT_SC, T.FAT_VISCERAL, T.MUSCLE, T.LUNG, T.PULMONARY_VESSEL))
    for t in anat.back_muscles.psoas + anat.back_muscles.ql:
        r = t.q(cv, z)
        if r is not None:
            cv.paint_if(r[0], r[1] < 1, T.MUSCLE, (T.FAT_VISCERAL, T.MUSCLE, T.FAT_SC))
