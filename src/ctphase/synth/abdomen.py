"""Abdominal solid organs: liver (with its intrahepatic vessel network), gallbladder, spleen,
kidneys (cortex, medullary pyramids, sinus, pelvis), ureters, adrenals, liver lesions and cysts;
and the painter of the abdominal cavity below the diaphragm."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .draws import ShapeDraws
from .gut import paint_gut
from .patient import PatientParams
from .pelvis import paint_pelvic_organs
from .shapes import (
    F32,
    Canvas,
    Chain,
    Tube,
    bar_q,
    ellipsoid_tube,
    paint_chain,
    segment_q,
)
from .tissues import Tissue as T

if TYPE_CHECKING:
    from .anatomy import Anatomy

_LIVER_TISSUE = (T.LIVER, T.LIVER_PORTAL_BRANCH, T.LIVER_HEPATIC_BRANCH)


@dataclass
class Organs:
    """Liver (right lobe, left lobe), gallbladder (None after cholecystectomy), spleen, kidneys, adrenals."""

    liver: list[Tube]
    gallbladder: Tube | None
    spleen: Tube
    kidneys: list[tuple[Tube, int, float]]  # (shape, side -1 right / +1 left, z of the hilum)
    adrenals: list[tuple[Tube, tuple[float, float], float]]  # (centre line, limb vector, limb half width)


def build_organs(d: ShapeDraws, p: PatientParams) -> Organs:
    """Draw the solid abdominal organs, sized by the patient's organ size factors."""
    rng, s, h = d.rng, d.s, d.h
    ls = p.liver_size
    liver = [
        Tube(np.array([(10 * h, -55 * s, 5, 55 * s * ls, 50 * s, 0), (-10 * h, -55 * s, 5, 100 * s * ls, 90 * s, 0),
                       (-60 * h, -58 * s, 8, 110 * s * ls, 98 * s, 0), (-110 * h, -68 * s, 15, 98 * s * ls, 90 * s, 0),
                       (-150 * h * ls, -82 * s, 22, 72 * s, 70 * s, 0), (-190 * h * ls, -92 * s, 28, 40 * s, 42 * s, 0),
                       (-215 * h * ls, -98 * s, 30, 14 * s, 18 * s, 0)]), d.wobble(0.06)),
        Tube(np.array([(0, 15 * s, -40 * s, 55 * s * ls, 40 * s, 0.3), (-35 * h, 25 * s, -50 * s, 70 * s * ls, 38 * s, 0.35),
                       (-75 * h, 15 * s, -55 * s, 50 * s * ls, 28 * s, 0.3), (-100 * h, 5 * s, -55 * s, 18 * s, 12 * s, 0.3)]), d.wobble(0.08)),
    ]
    liver_extend_left = rng.uniform(0.4, 1.2)
    liver[1].ctrl[:, 3] *= liver_extend_left ** 0.5
    gallbladder = ellipsoid_tube((-45 * s, -42 * s, -115 * h), (16 * s, 13 * s, 32 * h), 0.4, (-5, -8), wob=d.wobble(0.05)) if p.gallbladder else None
    ss = p.spleen_size
    spleen = ellipsoid_tube((92 * s, 42 * s, -70 * h), (38 * s * ss ** 0.5, 66 * s * ss ** 0.5, 62 * h * ss ** 0.5), 0.75, (10, 5), wob=d.wobble(0.08))
    ks = p.kidney_size
    kidneys = []
    for side, zc, ang in ((-1, -150, -0.55), (1, -138, 0.55)):
        zc = (zc + rng.uniform(-15, 15)) * h
        c = (side * (75 + rng.uniform(-8, 8)) * s, (52 + rng.uniform(-6, 6)) * s, zc)
        t = ellipsoid_tube(c, (32 * s * ks, 25 * s * ks, 55 * h * ks), ang + side * rng.uniform(-0.2, 0.2), (side * -8, 6), wob=d.wobble(0.03))
        kidneys.append((t, side, zc))
    adrenals = [
        (Tube(np.array([(-115 * h, -35 * s, 35 * s, 0, 0, 0), (-80 * h, -40 * s, 40 * s, 0, 0, 0)])), (-15 * s, 22 * s), 3.0),
        (Tube(np.array([(-125 * h, 35 * s, 32 * s, 0, 0, 0), (-90 * h, 40 * s, 38 * s, 0, 0, 0)])), (12 * s, 22 * s), 3.0),
    ]
    return Organs(liver, gallbladder, spleen, kidneys, adrenals)


def build_ureters(d: ShapeDraws, kidneys: list[tuple[Tube, int, float]]) -> list[Chain]:
    """Ureters from each renal pelvis down to the bladder."""
    s, h = d.s, d.h
    ureters = []
    for (kt, side, zc) in kidneys:
        cx, cy = kt.at(zc)[:2]
        pts = d.points([(cx / s - side * 20, cy / s - 5, zc / h - 10), (side * 45, 45, -210), (side * 50, 40, -290), (side * 45, 35, -350), (side * 20, -20, -375)], 1.5)
        ureters.append(Chain(pts, [3.5, 2.2, 2.0, 2.0, 2.0]))
    return ureters


def paint_abdomen(anat: Anatomy, cv: Canvas, z: float, below: np.ndarray, bladder_contrast: float,
                  tex: np.ndarray | None) -> None:
    """Paint everything below the diaphragm (``below``: full-canvas mask) inside the cavity.

    ``bladder_contrast``: fraction of the bladder filled with excreted contrast; ``tex``: the
    texture stack on the canvas (intrahepatic vessels), None to leave them out.
    """
    _paint_liver(anat, cv, z, below, tex)
    _paint_spleen(anat, cv, z, below)
    for t, side, zc in anat.organs.kidneys:
        _paint_kidney(cv, z, t, side, zc, anat.h)
    for ch in anat.ureters:
        paint_chain(cv, z, ch, T.RENAL_PELVIS, allowed=(T.FAT_VISCERAL, T.MUSCLE, T.RENAL_SINUS))
    _paint_adrenals(anat, cv, z)
    paint_gut(anat, cv, z)
    paint_pelvic_organs(anat, cv, z, bladder_contrast)
    _paint_lesions_and_cysts(anat, cv, z)


def _paint_liver(anat: Anatomy, cv: Canvas, z: float, below: np.ndarray, tex: np.ndarray | None) -> None:
    """Liver (below the diaphragm only), its vessel network, the gallbladder."""
    for t in anat.organs.liver:
        r = t.q(cv, z)
        if r is not None:
            cv.paint(r[0], r[1] < 1, T.LIVER, below[r[0]])
    if tex is not None:
        _paint_liver_vessels(anat, cv, z, tex)
    gb = anat.organs.gallbladder
    if gb is not None:
        r = gb.q(cv, z)
        if r is not None:
            cv.paint_if(r[0], r[1] < 1, T.BOWEL_WALL, _LIVER_TISSUE + (T.FAT_VISCERAL,))
            cv.paint_if(r[0], r[1] < 0.85, T.GALLBLADDER, (T.BOWEL_WALL,))


def _paint_liver_vessels(anat: Anatomy, cv: Canvas, z: float, tex: np.ndarray) -> None:
    """Intrahepatic portal and hepatic vein branches: thin level-set curves of the coarse texture
    (a branching-looking network, ~2-6 mm wide), hepatic veins cranially/posteriorly, portal
    branches caudally and around the hilum; both enhance with their own curves."""
    liv = cv.lab == T.LIVER
    if not liv.any():
        return
    s, h = anat.s, anat.h
    tc = tex[..., 2]
    tm = tex[..., 1]
    # vessels run as segments that end (the slice leaves them) rather than closed loops, wider
    # toward the hilum, plus round cross-sections of vessels running through the slice
    X, Y = cv.xs[None, :], cv.ys[:, None]
    hil = np.exp(-((X + 35 * s) ** 2 + (Y - 5 * s) ** 2) * F32(1.0 / (2 * (45 * s) ** 2)))
    width = F32(0.06 * anat.body.vessel_density) * (F32(0.75) + F32(0.35) * tm + F32(0.9) * hil)
    ves = liv & (((np.abs(tc) < width) & (tex[..., 3] > -0.55)) | (tex[..., 0] > 2.45 - 0.6 * hil))
    if not ves.any():
        return
    hep = (z + 15 * tm) > (-75 * h + 0.25 * (Y - 20 * s))
    cv.lab[ves & hep] = T.LIVER_HEPATIC_BRANCH
    cv.lab[ves & ~hep] = T.LIVER_PORTAL_BRANCH


def _paint_spleen(anat: Anatomy, cv: Canvas, z: float, below: np.ndarray) -> None:
    """Spleen (crescent: medial cut-out)."""
    r = anat.organs.spleen.q(cv, z)
    if r is not None:
        box, q, u, v = r
        cut = ((u + 0.15) ** 2 + ((v) / 0.9) ** 2) < 0.35
        cv.paint(box, (q < 1) & ~((v < 0) & cut), T.SPLEEN, below[box])


def _paint_kidney(cv: Canvas, z: float, t: Tube, side: int, zc: float, h: float) -> None:
    """One kidney: cortex, medullary pyramids, renal sinus fat and pelvis (hilum at ``zc``)."""
    r = t.q(cv, z)
    if r is None:
        return
    box, q, _, _ = r
    # hilum faces anteromedially: local direction (-side * x, anterior)
    X, Y = cv.grid(box)
    kc = t.at(z)
    hx, hy = -side * 0.8, -0.6
    dx = (X - kc[0]) / max(kc[2], 1)
    dy = (Y - kc[1]) / max(kc[3], 1)
    hil = (dx * hx + dy * hy) / np.maximum(np.sqrt(dx * dx + dy * dy), 1e-3)
    mid = max(0.0, 1 - abs(z - zc) / (40 * h))
    kidney = q < 1
    cv.paint_if(box, kidney, T.KIDNEY_CORTEX, (T.FAT_VISCERAL, T.MUSCLE) + _LIVER_TISSUE + (T.SPLEEN,))
    # medullary pyramids: triangles with their base under the cortex (q ~ 0.8) and the
    # papilla pointing at the sinus; columns of Bertin (cortex) between them
    th = np.arctan2(dy, dx)
    th = th + F32(0.2) * np.sin(2 * th + F32(zc))  # irregular spacing of the lobes
    sp_ = F32(2 * np.pi / 6.5)
    th0 = np.arctan2(hy, hx) + 0.5 * sp_ + zc * 0.01 + z * 0.006
    u_ = (th - th0) / sp_
    dth = (u_ - np.floor(u_) - F32(0.5)) * sp_
    qb = F32(0.76) + F32(0.07) * np.cos(np.floor(u_) * F32(2.3) + F32(zc))  # base under the cortex
    tq = (q - 0.3) / (qb - F32(0.3))
    pyr = (tq > 0) & (tq < 1) & (np.abs(dth) < (0.1 + 0.26 * tq * (1.6 - tq))) & (hil < 0.93 - 0.25 * (mid < 0.3))
    pyr |= (q < 0.3) & (mid < 0.5)  # papillae / medulla at the poles, around the sinus
    cv.paint_if(box, pyr & kidney, T.KIDNEY_MEDULLA, (T.KIDNEY_CORTEX,))
    # renal sinus: a fat-filled cavity off-centre toward the hilum, opening through a narrow
    # hilum; the parenchyma forms a thick C around it
    if mid > 0.12:
        sx, sy = dx - hx * 0.38, dy - hy * 0.38
        sinus = ((sx * sx + sy * sy) < 0.2 * mid) | ((hil > 0.86) & (q > 0.35) & (mid > 0.45))
        cv.paint_if(box, sinus & (q < 1.05), T.RENAL_SINUS, (T.KIDNEY_CORTEX, T.KIDNEY_MEDULLA))
    if mid > 0.35:
        pel = ((dx - hx * 0.5) ** 2 + (dy - hy * 0.5) ** 2) < (0.24 * mid) ** 2
        cv.paint_if(box, pel, T.RENAL_PELVIS, (T.RENAL_SINUS, T.KIDNEY_MEDULLA, T.KIDNEY_CORTEX, T.FAT_VISCERAL))
        # its dependent (posterior, +y) third, where excreted contrast collects first
        cv.paint_if(box, pel & ((dy - hy * 0.5) > 0.08 * mid), T.URINE_CONTRAST, (T.RENAL_PELVIS,))


def _paint_adrenals(anat: Anatomy, cv: Canvas, z: float) -> None:
    """Adrenals: two thin limbs each."""
    for t, d, w in anat.organs.adrenals:
        c = t.at(z)
        if c is None:
            continue
        for ang in (-0.5, 0.5):
            e = (c[0] + d[0] * np.cos(ang) - d[1] * np.sin(ang), c[1] + d[0] * np.sin(ang) + d[1] * np.cos(ang))
            r = bar_q(cv, (c[0], c[1]), e, w * anat.s)
            if r is not None:
                cv.paint_if(r[0], r[1] < 1, T.ADRENAL, (T.FAT_VISCERAL,))


def _paint_lesions_and_cysts(anat: Anatomy, cv: Canvas, z: float) -> None:
    """Focal liver lesions and liver / kidney cysts of the patient."""
    s, h = anat.s, anat.h
    for les in anat.p.lesions:
        c = np.array([les["x"] * s, les["y"] * s, les["z"] * h])
        r = segment_q(cv, z, c, c, les["r"], les["r"])
        if r is not None:
            cv.paint_if(r[0], r[1] < 1, T.LESION, _LIVER_TISSUE)
    for cy_ in anat.p.cysts:
        if cy_["organ"] == "liver":
            c = np.array([cy_["x"] * s, cy_["y"] * s, cy_["z"] * h])
            allowed = _LIVER_TISSUE
        else:
            kt, _, zc = anat.organs.kidneys[0 if cy_["side"] < 0 else 1]
            kc = kt.at(zc)
            c = np.array([kc[0] + cy_["side"] * 20 * s, kc[1], zc + cy_["dz"] * h])
            allowed = (T.KIDNEY_CORTEX, T.KIDNEY_MEDULLA, T.FAT_VISCERAL)
        r = segment_q(cv, z, c, c, cy_["r"], cy_["r"])
        if r is not None:
            cv.paint_if(r[0], r[1] < 1, T.CYST, allowed)
