"""Gastrointestinal tract: stomach and duodenum, pancreas, colon (with haustra) and small-bowel
loops, as hollow tubes with a wall, air and a dependent fluid, contrast, food or stool level."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .draws import ShapeDraws
from .patient import PatientParams
from .shapes import F32, Canvas, Chain, segment_q
from .tissues import Tissue as T

if TYPE_CHECKING:
    from .anatomy import Anatomy

# colon of the reference patient: cecum -> ascending -> transverse -> descending -> sigmoid -> rectum
_COLON_PATH = [(-80, -10, -300), (-95, 10, -240), (-100, 15, -180), (-85, -30, -150), (-40, -70, -165), (10, -75, -175),
               (60, -60, -150), (95, -10, -140), (105, 15, -190), (100, 20, -260), (85, 5, -310), (40, 0, -330),
               (10, 50, -345), (0, 70, -380), (0, 70, -440)]
_COLON_RADII = [30, 27, 25, 24, 23, 23, 23, 22, 20, 20, 18, 16, 15, 20, 18]

# A distended stomach (``PatientParams.stomach_distension`` d in 0..1; 0 = as drawn): fundus and
# body radii grow by up to 35% (tapering towards the antrum), the fundus rises by up to 12 mm with
# the left hemidiaphragm, and the content fills at least 70-98% of the lumen (from behind). Positive
# oral contrast protocols end with a drink just before the scan to fill the stomach and duodenum
# (assumption of typical practice; the rates and sizes are assumptions). Measured on a real upper
# abdomen series of the realdata check: a pool of oral contrast of about 90-105 x 110-135 mm at a
# median 257-271 HU fills the stomach from the liver dome down, in all three of its phases, which
# the resting stomach (fundus radius 32-48 mm, filled 30-95%) does not reach.
STOMACH_GROWTH = 0.35
STOMACH_RISE_MM = 12.0
_STOMACH_GROWTH_ALONG = np.array([1, 1, 1, 0.7, 0.4, 0, 0, 0, 0, 0, 0])

# Food in the stomach (``PatientParams.gastric_food`` f in 0..1; 0 = none): fasting before contrast CT
# is asked for but not always kept, and PET/CT patients fast for the tracer, not for the CT. The meal
# takes the place of the stomach's fluid (a stomach holding positive oral contrast keeps it) and
# fills at least 50-95% of the lumen; it is rendered mottled (lumps of +-35 HU around 60 HU, patches of
# fat near -75 HU), with gas bubbles and a few dense flecks (the special textures of
# :mod:`ctphase.synth.render`). Seen on the real PET/CT series of the realdata check (a stomach with air
# and mottled contents, small dense spots), which models trained without food read as excreted
# contrast; measured there (``benchmarks/synth_realism.py``: a box in its stomach, 3 slices) at HU
# percentiles p10 / p50 / p90 of -58 / 63 / 112. The rate (30% of patients without a distended
# stomach) is an assumption.


@dataclass
class Lumen:
    """A hollow viscus: centre line, wall thickness (mm), content label and level."""

    chain: Chain
    wall: float
    content: int
    fill: float  # fraction of lumen (from posterior) filled with content, rest air
    haustra: float = 0.0


@dataclass
class Gut:
    """Stomach (with duodenum), pancreas, colon and small-bowel loops of one patient."""

    stomach: Lumen
    pancreas: Chain
    colon: Lumen
    small_bowel: list[Lumen]


def random_walk(rng: np.random.Generator, start: tuple[float, float, float], n: int, step: float,
                box: tuple[tuple[float, float], ...]) -> np.ndarray:
    """``n`` points of a smooth 3D random walk from ``start``, reflected inside ``box`` ((lo, hi) per axis)."""
    pts = [np.array(start, float)]
    d = rng.normal(0, 1, 3)
    for _ in range(n - 1):
        d = 0.55 * d + rng.normal(0, 1, 3)
        d /= np.linalg.norm(d) + 1e-9
        p = pts[-1] + d * step
        for k in range(3):
            lo, hi = box[k]
            if p[k] < lo or p[k] > hi:
                d[k] = -d[k]
                p[k] = np.clip(p[k], lo, hi)
        pts.append(p)
    return np.array(pts)


def build_gut(d: ShapeDraws, p: PatientParams) -> Gut:
    """Draw the bowel: calibre, fill level, oral contrast (if the patient drank it) per segment."""
    rng, s, h = d.rng, d.s, d.h
    pts = d.points([(55, 20, -20), (62, -5, -45), (55, -35, -75), (25, -55, -100), (-10, -50, -112), (-30, -35, -115),
                    (-48, -15, -125), (-55, 0, -150), (-35, 12, -175), (0, 12, -178), (30, 0, -165)], 3)
    radii = np.array([40, 42, 36, 28, 20, 13, 14, 13, 12, 12, 12]) * s * rng.uniform(0.8, 1.15)
    content = int(T.ORAL_CONTRAST if p.oral_contrast and rng.random() < 0.8 else T.BOWEL_FLUID)
    fill = float(rng.uniform(0.3, 0.95))
    if p.stomach_distension:  # no further draws: the rest of the bowel stays as drawn
        pts[:2, 2] += STOMACH_RISE_MM * p.stomach_distension  # the fundus lifts the left hemidiaphragm
        radii *= 1 + STOMACH_GROWTH * p.stomach_distension * _STOMACH_GROWTH_ALONG
        fill = max(fill, 0.7 + 0.28 * p.stomach_distension)
    if p.gastric_food and content == T.BOWEL_FLUID:  # no further draws; food takes the place of the fluid
        content = int(T.GASTRIC_FOOD)
        fill = max(fill, 0.5 + 0.45 * p.gastric_food)
    stomach = Lumen(Chain(pts, radii), wall=4.0, content=content, fill=fill)
    pancreas = Chain(d.points([(-40, -5, -140), (-25, -20, -125), (5, -38, -112), (40, -20, -102), (70, 10, -95), (85, 25, -88)], 3),
                     np.array([18, 15, 13, 12, 11, 9]) * s)
    d.wobble(0.0, 5)  # unused draw (a pancreas outline); kept so later draws stay the same
    cr = np.array(_COLON_RADII) * s * rng.uniform(0.8, 1.2)
    colon = Lumen(Chain(d.points(_COLON_PATH, 8), cr), wall=3.0, content=int(T.FECES), fill=float(rng.uniform(0.4, 0.95)), haustra=0.12)
    small_bowel: list[Lumen] = []
    for _ in range(20):
        start = (rng.uniform(-80, 80) * s, rng.uniform(-75, 15) * s, rng.uniform(-330, -150) * h)
        pts = random_walk(rng, start, 9, 26 * s, ((-90 * s, 90 * s), (-90 * s, 30 * s), (-350 * h, -140 * h)))
        content = int(T.ORAL_CONTRAST if (p.oral_contrast and rng.random() < 0.7) else T.BOWEL_FLUID)
        fill = float(rng.uniform(0.55, 1.0) if rng.random() > p.bowel_gas * 0.5 else rng.uniform(0.2, 0.6))
        small_bowel.append(Lumen(Chain(pts, rng.uniform(10, 17) * s), wall=2.5, content=content, fill=fill))
    if p.oral_contrast and rng.random() < 0.5:
        colon.content = int(T.ORAL_CONTRAST)
    rng.uniform(0.3, 1.0)  # unused draw (a stool mix); kept so later draws stay the same
    return Gut(stomach, pancreas, colon, small_bowel)


def paint_gut(anat: Anatomy, cv: Canvas, z: float) -> None:
    """Stomach, pancreas, colon and small bowel into the visceral fat (stomach also into liver and spleen)."""
    gut = anat.gut
    soft = (T.FAT_VISCERAL,)
    paint_lumen(cv, z, gut.stomach, allowed=(T.FAT_VISCERAL, T.LIVER, T.LIVER_PORTAL_BRANCH, T.LIVER_HEPATIC_BRANCH, T.SPLEEN))
    for i, p0, p1, r0, r1 in gut.pancreas.segments(z):
        r = segment_q(cv, z, p0, p1, r0, r1)
        if r is not None:
            box, rho, _, _ = r
            cv.paint_if(box, rho < 1, T.PANCREAS, soft)
    paint_lumen(cv, z, gut.colon, allowed=soft)
    for lum in gut.small_bowel:
        paint_lumen(cv, z, lum, allowed=soft)


def paint_lumen(cv: Canvas, z: float, lum: Lumen, allowed: tuple[int, ...]) -> None:
    """Wall (over ``allowed`` labels), air and the dependent content level of one hollow viscus."""
    for i, p0, p1, r0, r1 in lum.chain.segments(z):
        if lum.haustra:
            f = 1 + lum.haustra * np.cos(z * 0.35 + i)
            r0, r1 = r0 * f, r1 * f
        r = segment_q(cv, z, p0, p1, r0, r1)
        if r is None:
            continue
        box, rho, t, dy = r
        rad = r0 + t * (r1 - r0)
        inside = rho < 1
        if not inside.any():
            continue
        cv.paint_if(box, inside, T.BOWEL_WALL, allowed + (T.BOWEL_WALL,))
        lumen = inside & (rho * rad < rad - lum.wall)
        if lum.haustra:
            lumen &= ~_haustral_folds(cv, z, box, rho, t, p0, p1, i)
        content = lumen & (dy > rad * (1 - 2 * lum.fill))
        sub = cv.lab[box]
        ok = sub == T.BOWEL_WALL
        sub[lumen & ok] = T.BOWEL_AIR
        sub[content & ok] = lum.content


def _haustral_folds(cv: Canvas, z: float, box: tuple[slice, slice], rho: np.ndarray, t: np.ndarray,
                    p0: np.ndarray, p1: np.ndarray, i: int) -> np.ndarray:
    """Haustral folds of colon segment ``i``: thin semilunar septa reaching into the lumen."""
    X, Y = cv.grid(box)
    ex = X - (p0[0] + t * (p1[0] - p0[0])).astype(F32)
    ey = Y - (p0[1] + t * (p1[1] - p0[1])).astype(F32)
    r3 = (ex * ex + ey * ey) ** F32(1.5) + F32(1e-6)
    c3 = (ex * ex * ex - F32(3) * ex * ey * ey) / r3  # cos(3 theta)
    s3 = (F32(3) * ex * ex * ey - ey * ey * ey) / r3  # sin(3 theta)
    ph = i + 0.05 * z
    return (rho > 0.55) & ((c3 * F32(np.cos(ph)) - s3 * F32(np.sin(ph))) > 0.96)
