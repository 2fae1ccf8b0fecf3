"""Chest contents above the diaphragm: lungs with pulmonary vessels, heart (myocardium, left and
right chambers), mediastinal fat, pulmonary arteries, trachea, bronchi and oesophagus."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .draws import ShapeDraws
from .shapes import Canvas, Chain, Tube, ellipse_q, ellipsoid_tube, paint_chain
from .tissues import Tissue as T

if TYPE_CHECKING:
    from .anatomy import Anatomy


HEART_FLOOR_MM = 8.0
"""Height (mm, scaled by the patient's height factor) of the heart's inferior wall below its chambers;
the chambers' rounded floors then widen to their full section over as many mm again."""


@dataclass
class Thorax:
    """Heart and the tubes of the chest (index 0 of a pair is the patient's right)."""

    heart: Tube
    esophagus: Chain
    trachea: Chain
    bronchi: list[Chain]
    pulm_art: list[Chain]


def build_heart(d: ShapeDraws) -> Tube:
    """The heart: an ellipsoid resting on the central tendon (below the dome apex) with a broad, flat base."""
    s, h = d.s, d.h
    heart = ellipsoid_tube((22 * s, -28 * s, 50 * h), (64 * s, 54 * s, 62 * h), -0.5, (0, 0), wob=d.wobble(0.04))
    heart.ctrl[0, 0] = -14 * h
    heart.ctrl[0, 3:5] = heart.ctrl[1, 3:5] * 0.8
    return heart


def build_thorax(d: ShapeDraws, heart: Tube) -> Thorax:
    """Draw the oesophagus, airway and pulmonary arteries around ``heart``."""
    J = d.points
    esophagus = Chain(J([(0, 20, 240), (2, 25, 150), (8, 30, 50), (20, 15, 0), (35, 0, -25)]), [8, 8, 8, 8, 9])
    trachea = Chain(J([(0, -5, 320), (0, 0, 190), (0, 5, 150)]), [9, 9, 9])
    bronchi = [Chain(J([(0, 5, 150), (sd * 35, 15, 125)]), [7, 6]) for sd in (-1, 1)]
    pulm_art = [Chain(J([(10, -40, 100), (12, -10, 125), (sd * 45, 5, 120)]), [14, 12, 10]) for sd in (-1, 1)]
    return Thorax(heart, esophagus, trachea, bronchi, pulm_art)


def paint_lungs(anat: Anatomy, cv: Canvas, z: float, box: tuple[slice, slice], above: np.ndarray,
                pulm_tex: np.ndarray | None) -> None:
    """Lung where ``above`` (cavity above the diaphragm, on ``box``), vessels where the texture
    ``pulm_tex`` (full canvas) peaks, then the mediastinum."""
    sub = cv.lab[box]
    sub[above] = T.LUNG
    if pulm_tex is not None:
        pt = pulm_tex[box]
        sub[above & (pt > 2.1)] = T.PULMONARY_VESSEL
    paint_mediastinum(anat, cv, z)


def chamber_extent(above_base: float | np.ndarray, h: float) -> float | np.ndarray:
    """Share (0..1) of the heart's section its chambers may fill, ``above_base`` mm above the heart's
    lowest point: 0 in the wall (:data:`HEART_FLOOR_MM`), rising to 1 over the next as many mm.

    The lowest ~1 cm of the heart is its inferior wall: ventricular myocardium (the left
    ventricular wall is ~10 mm thick) lying on the central tendon, with no blood pool in it, so
    the slices at the liver dome show a heart that enhances like muscle, not like blood. Without
    this floor the engine's heart began with full chambers. Added because real arterial series lose
    their liver-dome slices to non_contrast (``benchmarks/errors_by_position.py``); the fine-tunes on
    this engine did not lose fewer beyond their seed spread (model card, v16).
    """
    return np.clip(np.asarray(above_base) / (HEART_FLOOR_MM * h) - 1.0, 0.0, 1.0)


def paint_mediastinum(anat: Anatomy, cv: Canvas, z: float) -> None:
    """Upper mediastinal fat, heart in its fat, pulmonary arteries, airway and oesophagus."""
    s, h, th = anat.s, anat.h, anat.thorax
    if z > 20 * h:
        r = ellipse_q(cv, 8 * s, 0, 40 * s, 85 * s, 0.0, None, z)
        if r is not None and z > 120 * h:
            cv.paint_if(r[0], r[1] < 1, T.FAT_VISCERAL, (T.LUNG, T.PULMONARY_VESSEL))
    hq = th.heart.q(cv, z)
    if hq is not None:
        box, q, u, v = hq
        cv.paint(box, q < 1.12, T.FAT_VISCERAL)
        cv.paint(box, q < 1.0, T.MYOCARDIUM)
        sep = u - 0.35 * v * v  # curved interventricular septum
        k = chamber_extent(z - th.heart.ctrl[0, 0], h)
        cv.paint(box, (q < 0.8 * k) & (sep > 0.02), T.HEART_LEFT)
        cv.paint(box, (q < 0.84 * k) & (sep < -0.1), T.HEART_RIGHT)
    for ch in th.pulm_art:
        paint_chain(cv, z, ch, T.HEART_RIGHT)
    paint_chain(cv, z, th.trachea, T.BOWEL_AIR, wall=2.0, wall_label=T.CARTILAGE)
    for ch in th.bronchi:
        paint_chain(cv, z, ch, T.BOWEL_AIR, wall=1.5, wall_label=T.MUSCLE)
    paint_chain(cv, z, th.esophagus, T.ESOPHAGUS)
