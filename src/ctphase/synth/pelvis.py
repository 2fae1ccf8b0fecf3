"""Pelvis and legs: bladder and the pelvic organ (prostate or uterus), gluteal and iliacus
muscles, iliac wings, sacrum, hip joints, pubis, ischium and femurs, and the thighs below the
trunk."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .draws import ShapeDraws
from .patient import PatientParams
from .shapes import (
    Canvas,
    Chain,
    Tube,
    ellipse_q,
    ellipsoid_tube,
    paint_chain,
    segment_q,
)
from .tissues import Tissue as T

if TYPE_CHECKING:
    from .anatomy import Anatomy

# iliac wing of the reference patient: rows (z, ax, ay, bx, by, r): the wing runs from (ax, ay)
# at the sacroiliac joint to (bx, by) at its lateral edge, ~r mm thick
_ILIUM = [(-225, 88, 62, 112, 15, 4), (-250, 68, 70, 126, 0, 6), (-290, 50, 76, 123, -15, 7), (-325, 48, 72, 112, -20, 11),
          (-350, 70, 45, 100, -5, 18), (-360, 80, 25, 95, 5, 20)]


@dataclass
class PelvicOrgans:
    """Bladder (sized by its filling) and the prostate (men) or uterus (women)."""

    bladder: Tube
    pelvic_organ: Tube


@dataclass
class Pelvis:
    """Pelvic muscles and bones; lists hold (right, left)."""

    glut: list[Tube]
    iliacus: list[Tube]
    fem_head: list[np.ndarray]  # centres of the femoral heads (x, y, z)
    head_r: float
    femur: list[Chain]  # head -> neck -> shaft
    troch: list[np.ndarray]  # greater trochanters
    pubis: list[Chain]
    ischium: list[Chain]
    ilium_ctrl: np.ndarray  # rows (z, ax, ay, bx, by, r) of the iliac wing, see ``_ILIUM``
    sacrum: Tube


def build_pelvic_organs(d: ShapeDraws, p: PatientParams) -> PelvicOrgans:
    """Draw the bladder and the prostate or uterus."""
    s, h = d.s, d.h
    bf = 0.55 + 0.6 * p.bladder_fill
    bladder = ellipsoid_tube((0, -25 * s, -378 * h), (45 * s * bf, 36 * s * bf, 38 * h * bf), 0.0, (0, 8), wob=d.wobble(0.04))
    bladder.ctrl[:, 0] -= 38 * h * bf * 0.3
    pelvic_organ = ellipsoid_tube((0, 25 * s, -420 * h) if p.sex == "M" else (0, 10 * s, -350 * h),
                                  (20 * s, 17 * s, 20 * h) if p.sex == "M" else (35 * s, 25 * s, 40 * h), 0, wob=d.wobble(0.06))
    return PelvicOrgans(bladder, pelvic_organ)


def build_pelvis(d: ShapeDraws, p: PatientParams) -> Pelvis:
    """Draw the pelvic muscles and bones (gluteus medius/minimus hug the outer iliac wing,
    maximus lies posterior over the sacrum)."""
    s, h = d.s, d.h
    glut = [Tube(np.array([(-470 * h, sd * 85 * s, 78 * s, 52 * s, 42 * s, 0.3 * sd), (-400 * h, sd * 92 * s, 72 * s, 48 * s, 40 * s, 0.35 * sd),
                           (-320 * h, sd * 108 * s, 58 * s, 32 * s, 24 * s, 0.6 * sd), (-255 * h, sd * 110 * s, 40 * s, 18 * s, 12 * s, 0.9 * sd)]), d.wobble(0.05)) for sd in (-1, 1)]
    iliacus = [Tube(np.array([(-360 * h, sd * 95 * s, -10 * s, 16 * s, 16 * s, 0), (-300 * h, sd * 90 * s, 15 * s, 18 * s, 14 * s, 0),
                              (-240 * h, sd * 85 * s, 40 * s, 14 * s, 10 * s, 0)]), d.wobble(0.05)) for sd in (-1, 1)]
    fem_head = [np.array([sd * 92 * s, 5 * s, -372 * h]) for sd in (-1, 1)]
    head_r = 24 * s
    femur = [Chain(np.array([fem_head[i], [sd * 122 * s, 15 * s, -392 * h], [sd * 118 * s, 10 * s, -430 * h],
                             [sd * 105 * s, 0, -700 * h]]), np.array([16, 18, 14, 13]) * s) for i, sd in enumerate((-1, 1))]
    troch = [np.array([sd * 128 * s, 18 * s, -395 * h]) for sd in (-1, 1)]
    pubis = [Chain(np.array([[sd * 75 * s, -20 * s, -385 * h], [sd * 35 * s, -50 * s, -400 * h], [sd * 6 * s, -62 * s, -405 * h]]), np.array([11, 9, 8]) * s) for sd in (-1, 1)]
    ischium = [Chain(np.array([[sd * 78 * s, 20 * s, -385 * h], [sd * 60 * s, 45 * s, -425 * h], [sd * 50 * s, 45 * s, -445 * h]]), np.array([15, 14, 12]) * s) for sd in (-1, 1)]
    ilium_ctrl = np.array(_ILIUM, float)
    ilium_ctrl[:, 0] *= h
    ilium_ctrl[:, 1:] *= s
    sacrum = Tube(np.array([(-390 * h, 0, 120 * s, 18 * s, 10 * s, 0), (-340 * h, 0, 110 * s, 35 * s, 14 * s, 0),
                            (-290 * h, 0, 95 * s, 48 * s, 20 * s, 0), (-250 * h, 0, 78 * s, 50 * s, 22 * s, 0)]), d.wobble(0.03))
    return Pelvis(glut, iliacus, fem_head, head_r, femur, troch, pubis, ischium, ilium_ctrl, sacrum)


def paint_pelvic_organs(anat: Anatomy, cv: Canvas, z: float, bladder_contrast: float) -> None:
    """Bladder wall and urine (dependent layer of excreted contrast: ``bladder_contrast`` of its
    height), prostate or uterus."""
    soft = (T.FAT_VISCERAL,)
    r = anat.pelvic_organs.bladder.q(cv, z)
    if r is not None:
        box, q, _, v = r
        cv.paint_if(box, q < 1, T.BOWEL_WALL, soft + (T.MUSCLE,))
        cv.paint_if(box, q < 1 - 3.0 / 40, T.BLADDER, (T.BOWEL_WALL,))
        if bladder_contrast > 0:
            cv.paint_if(box, (q < 1) & (v > 1 - 2 * bladder_contrast), T.BLADDER_CONTRAST, (T.BLADDER,))
    r = anat.pelvic_organs.pelvic_organ.q(cv, z)
    if r is not None:
        cv.paint_if(r[0], r[1] < 1, T.PELVIC_ORGAN, soft)


def paint_pelvis(anat: Anatomy, cv: Canvas, z: float) -> None:
    """Gluteal and iliacus muscles, iliac wings, sacrum, hip joints (or a hip prosthesis), pubis, ischium."""
    pv = anat.pelvis
    if z > -220 * anat.h:
        return
    for t in pv.glut + pv.iliacus:
        r = t.q(cv, z)
        if r is not None:
            cv.paint_if(r[0], r[1] < 1, T.MUSCLE, (T.FAT_VISCERAL, T.FAT_SC, T.MUSCLE))
    ic = pv.ilium_ctrl
    if ic[-1, 0] <= z <= ic[0, 0]:
        _paint_ilium(cv, z, ic)
    r = pv.sacrum.q(cv, z)
    if r is not None:
        box, q, u, v = r
        cv.paint(box, q < 1, T.BONE_CORTEX)
        cv.paint(box, q < 0.85, T.BONE_MARROW)
        cv.paint(box, (np.abs(u) < 0.15) & (np.abs(v - 0.2) < 0.3), T.CSF)
    hip = {m[1] for m in anat.metal_items if m[0] == "hip"}
    for i in range(2):
        _paint_hip(anat, cv, z, i, metal=i in hip)


def _paint_ilium(cv: Canvas, z: float, ic: np.ndarray) -> None:
    """Both iliac wings at ``z`` (inside the z range of ``ic``)."""
    row = np.array([np.interp(z, ic[::-1, 0], ic[::-1, k]) for k in range(1, 6)])
    # the wing: a curved plate (concave medially: iliac fossa), thick at the sacroiliac
    # joint and the crest, thin in the middle; cortex with a marrow core where thick enough
    ax_, ay_, bx_, by_, rr_ = row
    L = np.hypot(bx_ - ax_, by_ - ay_) + 1e-6
    nx, ny = (by_ - ay_) / L, -(bx_ - ax_) / L  # normal pointing laterally/posteriorly
    if nx < 0:
        nx, ny = -nx, -ny
    bul = 0.18 * L
    # quadratic Bezier A -> B with its control point pushed out along the normal
    pts = [(ax_ + t * (bx_ - ax_) + 2 * t * (1 - t) * nx * bul, ay_ + t * (by_ - ay_) + 2 * t * (1 - t) * ny * bul)
           for t in (0.0, 0.3, 0.65, 1.0)]
    rads = [rr_ * 0.75 + 2.5, rr_ * 0.45 + 1.8, rr_ * 0.45 + 1.8, rr_ * 0.55 + 2.5]
    for sd in (-1, 1):
        for j in range(3):
            r0, r1 = rads[j], rads[j + 1]
            rr = segment_q(cv, z, np.array([sd * pts[j][0], pts[j][1], z]), np.array([sd * pts[j + 1][0], pts[j + 1][1], z]), r0, r1)
            if rr is not None:
                rad = r0 + rr[2] * (r1 - r0)
                cv.paint(rr[0], rr[1] < 1, T.BONE_CORTEX)
                cv.paint(rr[0], rr[1] * rad < rad - 1.8, T.BONE_MARROW)


def _paint_hip(anat: Anatomy, cv: Canvas, z: float, i: int, metal: bool) -> None:
    """Hip ``i`` (0 right, 1 left): acetabulum, joint space, femoral head (or prosthesis), femur,
    greater trochanter, pubis and ischium."""
    s, pv = anat.s, anat.pelvis
    c = pv.fem_head[i]
    # acetabulum: shell around the head, medial and upper part
    r = segment_q(cv, z, c + np.array([0, 0, 4 * s]), c + np.array([0, 0, 4 * s]), pv.head_r + 9 * s, pv.head_r + 9 * s)
    if r is not None:
        X, _ = cv.grid(r[0])
        med = np.abs(X) < abs(c[0]) + 8 * s
        cv.paint(r[0], (r[1] < 1) & med, T.BONE_CORTEX)
        cv.paint(r[0], (r[1] < 0.9) & med, T.BONE_MARROW)
    r = segment_q(cv, z, c, c, pv.head_r + 1.5, pv.head_r + 1.5)
    if r is not None:
        cv.paint(r[0], r[1] < 1, T.DISC)  # joint space (cartilage)
    if metal:
        r = segment_q(cv, z, c, c, pv.head_r, pv.head_r)
        if r is not None:
            cv.paint(r[0], r[1] < 1, T.METAL)
    else:
        _paint_bone_sphere(cv, z, c, pv.head_r)
    paint_femur(anat, cv, z, i, metal=metal)
    _paint_bone_sphere(cv, z, pv.troch[i], 20 * s, 2.0)
    for ch in (pv.pubis[i], pv.ischium[i]):
        for _, p0, p1, r0, r1 in ch.segments(z):
            rr = segment_q(cv, z, p0, p1, r0, r1)
            if rr is not None:
                cv.paint(rr[0], rr[1] < 1, T.BONE_CORTEX)
                cv.paint(rr[0], rr[1] < 0.78, T.BONE_MARROW)


def _paint_bone_sphere(cv: Canvas, z: float, c: np.ndarray, rad: float, cortex: float = 2.5) -> None:
    r = segment_q(cv, z, c, c, rad, rad)
    if r is not None:
        cv.paint(r[0], r[1] < 1, T.BONE_CORTEX)
        cv.paint(r[0], r[1] < 1 - cortex / rad, T.BONE_MARROW)


def paint_femur(anat: Anatomy, cv: Canvas, z: float, i: int, metal: bool = False) -> None:
    """Femur ``i``: cortex, red marrow in the neck, yellow marrow in the shaft (stem of a prosthesis if ``metal``)."""
    for _, p0, p1, r0, r1 in anat.pelvis.femur[i].segments(z):
        rr = segment_q(cv, z, p0, p1, r0, r1)
        if rr is None:
            continue
        box, rho, _, _ = rr
        cv.paint(box, rho < 1, T.BONE_CORTEX)
        shaft = p1[2] < -420 * anat.h
        cv.paint(box, rho < (0.6 if shaft else 0.85), T.YELLOW_MARROW if shaft else T.BONE_MARROW)
        if metal:
            cv.paint(box, rho < 0.45, T.METAL)


def paint_legs(anat: Anatomy, cv: Canvas, z: float) -> None:
    """Both thighs below the trunk (skin, fat, muscle, femur, iliac/femoral vessels), perineum just below the split."""
    p, s = anat.p, anat.s
    depth = (anat.z_split - z) / (60 * anat.h)
    for i, sd in enumerate((-1, 1)):
        fem = anat.pelvis.femur[i]
        _, p0, p1, _, _ = next(iter(fem.segments(-430 * anat.h)), (0, fem.pts[-2], fem.pts[-1], 0, 0))
        t = np.clip((z - p0[2]) / (p1[2] - p0[2] + 1e-9), 0, 1)
        fx = p0[0] + t * (p1[0] - p0[0])
        lx = sd * (max(abs(fx) - 20 * s, 62 * s + 0.6 * p.sc_fat_mm))
        R = (78 * s - 6 * s * min(depth, 3)) * (1 + 0.12 * (p.sex == "F"))
        r = ellipse_q(cv, lx, 5 * s, R + p.sc_fat_mm, R * 0.92 + p.sc_fat_mm, 0.0, anat.body.body_wob, z)
        if r is None:
            continue
        cv.paint(r[0], r[1] < 1, T.SKIN)
        cv.paint(r[0], r[1] < 0.985, T.FAT_SC)
        r = ellipse_q(cv, lx, 5 * s, R, R * 0.92, 0.0, anat.body.wall_wob, z)
        if r is not None:
            cv.paint(r[0], r[1] < 1, T.MUSCLE)
        paint_femur(anat, cv, z, i)
        paint_chain(cv, z, anat.vessels.iliac_a[i], T.AORTA)
        paint_chain(cv, z, anat.vessels.iliac_v[i], T.IVC_INFRARENAL)
    if depth < 0.6:
        r = ellipse_q(cv, 0, 0, 40 * s, 60 * s, 0, None, z)  # perineum soft tissue
        if r is not None:
            cv.paint(r[0], r[1] < 1 - depth, T.FAT_SC)
