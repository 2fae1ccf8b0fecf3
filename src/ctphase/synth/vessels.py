"""Great vessels of the trunk: aorta (wall, calcified plaque) with its visceral branches and the
iliac arteries; inferior vena cava, iliac, portal, hepatic and renal veins."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .draws import ShapeDraws
from .shapes import Canvas, Chain, paint_chain, segment_q
from .tissues import Tissue as T

if TYPE_CHECKING:
    from .anatomy import Anatomy


@dataclass
class Vessels:
    """Centre lines and radii (mm) of the great vessels; index 0 of a pair is the patient's right."""

    aorta: Chain
    iliac_a: list[Chain]
    branches_a: list[Chain]  # celiac -> hepatic, splenic, SMA, right and left renal arteries
    ivc: Chain
    ivc_split: float  # z above which the IVC carries hepatic-vein (suprarenal) blood
    iliac_v: list[Chain]
    portal: list[Chain]  # main portal vein, right and left branch, splenic vein, SMV
    hepatic_v: list[Chain]
    renal_v: list[Chain]


def build_vessels(d: ShapeDraws) -> Vessels:
    """Draw the vessel centre lines (reference control points, jittered and scaled)."""
    s, h = d.s, d.h
    J = d.points
    aorta = Chain(J([(5, -25, 110), (8, -20, 140), (22, 30, 145), (24, 42, 100), (24, 44, 40), (18, 38, -10), (12, 28, -60),
                     (9, 22, -110), (8, 22, -170), (6, 24, -245)], 1.5), [15, 14, 13, 13, 12.5, 12, 11.5, 10.5, 10, 9])
    aorta.radii *= s
    iliac_a = [Chain(J([(6, 24, -245), (sd * 35, 30, -285), (sd * 60, 20, -320), (sd * 80, -10, -370), (sd * 88, -25, -420), (sd * 95, -25, -600)]), [8, 7, 6, 5.5, 5, 4.5]) for sd in (-1, 1)]
    branches_a = [
        Chain(J([(9, 15, -88), (9, -5, -92), (-10, -15, -95), (-40, -10, -90)]), [4, 3.5, 3, 2.5]),  # celiac -> hepatic
        Chain(J([(9, -5, -92), (30, -5, -92), (60, 15, -85), (85, 30, -80)]), [3, 3, 2.5, 2.5]),  # splenic artery
        Chain(J([(8, 12, -108), (8, -12, -118), (4, -18, -160), (-5, -22, -220)]), [4, 4, 3.5, 2.5]),  # SMA
        Chain(J([(3, 22, -128), (-40, 35, -135), (-60, 42, -142)]), [3.2, 3, 2.5]),  # right renal artery
        Chain(J([(13, 22, -125), (45, 32, -128), (62, 40, -132)]), [3.2, 3, 2.5]),  # left renal artery
    ]
    ivc = Chain(J([(-10, 10, 15), (-18, 15, -20), (-25, 20, -80), (-25, 22, -125), (-22, 25, -180), (-15, 30, -255)], 1.5), [13, 13, 12, 12, 11, 10])
    ivc.radii *= s
    ivc_split = -125 * h
    iliac_v = [Chain(J([(-15, 30, -255), (sd * 40, 38, -290), (sd * 62, 30, -320), (sd * 78, 0, -370), (sd * 84, -18, -420), (sd * 88, -18, -600)]), [9, 8, 7.5, 7, 6.5, 6]) for sd in (-1, 1)]
    portal = [
        Chain(J([(-5, -25, -120), (-28, -10, -100), (-45, 0, -80)]), [8, 8, 7]),  # main portal vein
        Chain(J([(-45, 0, -80), (-80, 10, -70), (-110, 20, -60)]), [6, 5, 3]),  # right branch
        Chain(J([(-45, 0, -80), (-10, -20, -65), (15, -40, -55)]), [5, 4, 3]),  # left branch
        Chain(J([(-5, -25, -120), (30, 5, -110), (65, 25, -95), (85, 35, -85)]), [6, 5.5, 5, 4.5]),  # splenic vein
        Chain(J([(-5, -25, -120), (-10, -28, -160), (-12, -25, -230)]), [7, 6, 4]),  # SMV
    ]
    hepatic_v = [
        Chain(J([(-15, 15, -12), (-60, 0, -40), (-105, -10, -75)]), [7, 5, 2.5]),
        Chain(J([(-15, 15, -12), (-20, -35, -40), (-22, -60, -70)]), [6.5, 4.5, 2.5]),
        Chain(J([(-15, 15, -12), (15, -25, -25), (35, -50, -45)]), [6, 4, 2.5]),
    ]
    renal_v = [
        Chain(J([(-25, 22, -125), (-45, 30, -135), (-60, 38, -143)]), [6, 6, 5]),
        Chain(J([(-25, 22, -122), (10, 5, -120), (35, 20, -126), (60, 35, -132)]), [5.5, 4.5, 5.5, 5]),  # passes between aorta and SMA
    ]
    return Vessels(aorta, iliac_a, branches_a, ivc, ivc_split, iliac_v, portal, hepatic_v, renal_v)


def paint_vessels(anat: Anatomy, cv: Canvas, z: float) -> None:
    """Aorta and arteries, then the veins (each vein only over the tissues it runs through)."""
    v = anat.vessels
    _paint_aorta(anat, cv, z)
    for ch in v.iliac_a + v.branches_a:
        paint_chain(cv, z, ch, T.AORTA)
    for i, p0, p1, r0, r1 in v.ivc.segments(z):
        r = segment_q(cv, z, p0, p1, r0, r1)
        if r is not None:
            lab = T.HEPATIC_VEIN if z > v.ivc_split else T.IVC_INFRARENAL
            cv.paint(r[0], r[1] < 1, lab)
    for ch in v.iliac_v:
        paint_chain(cv, z, ch, T.IVC_INFRARENAL)
    for ch in v.hepatic_v:
        paint_chain(cv, z, ch, T.HEPATIC_VEIN, allowed=(T.LIVER, T.LIVER_PORTAL_BRANCH, T.LIVER_HEPATIC_BRANCH, T.HEPATIC_VEIN, T.FAT_VISCERAL))
    for ch in v.portal:
        paint_chain(cv, z, ch, T.PORTAL_VEIN, allowed=(T.LIVER, T.LIVER_PORTAL_BRANCH, T.LIVER_HEPATIC_BRANCH, T.FAT_VISCERAL, T.PANCREAS, T.PORTAL_VEIN, T.BOWEL_WALL))
    for ch in v.renal_v:
        paint_chain(cv, z, ch, T.RENAL_VEIN, allowed=(T.FAT_VISCERAL, T.RENAL_SINUS, T.KIDNEY_CORTEX, T.KIDNEY_MEDULLA, T.RENAL_VEIN, T.PANCREAS))


def _paint_aorta(anat: Anatomy, cv: Canvas, z: float) -> None:
    """Aortic lumen inside a 1.5 mm wall, with calcified plaque below the arch when the patient has it."""
    calc = anat.p.aortic_calcification
    for i, p0, p1, r0, r1 in anat.vessels.aorta.segments(z):
        r = segment_q(cv, z, p0, p1, r0 + 1.5, r1 + 1.5)
        if r is None:
            continue
        box, rho, t, _ = r
        rad = r0 + 1.5 + t * (r1 - r0)
        cv.paint(box, rho < 1, T.BOWEL_WALL if z < 0 else T.MYOCARDIUM)
        cv.paint(box, rho * rad < rad - 1.5, T.AORTA)
        if calc > 0 and z < 60 * anat.h:
            X, Y = cv.grid(box)
            ax, ay = p0[0] + t * (p1[0] - p0[0]), p0[1] + t * (p1[1] - p0[1])
            th = np.arctan2(Y - ay, X - ax)
            ph = anat.calc_phase
            pat = np.cos(3 * th + ph[0] + z * 0.07) + np.cos(5 * th + ph[1] - z * 0.05)
            plaque = (rho < 1) & (rho * rad > rad - 2.5) & (pat > 2.0 - 1.6 * calc)
            cv.paint(box, plaque, T.CALCIFICATION)
