"""Patient anatomy as implicit shapes, painted into a tissue label map at any z and resolution.

:class:`Anatomy` turns a :class:`~ctphase.synth.patient.PatientParams` into shapes (built once,
region by region, from one random generator) and :meth:`Anatomy.paint` paints one axial slice,
dispatching to the region painters. Coordinates follow DICOM LPS in mm (x to the patient's left,
y posterior, z superior). z = 0 is the top of the right hemidiaphragm; the abdomen lies at
negative z, the femoral heads near -370 mm (times the patient's height factor).
"""

from __future__ import annotations

import numpy as np

from .abdomen import build_organs, build_ureters, paint_abdomen
from .draws import ShapeDraws
from .gut import STOMACH_RISE_MM, build_gut
from .metal import build_metal, paint_metal
from .neck import paint_neck
from .patient import PatientParams
from .pelvis import build_pelvic_organs, build_pelvis, paint_legs, paint_pelvis
from .shapes import Canvas
from .skeleton import build_axial_skeleton, paint_spine
from .thorax import build_heart, build_thorax, paint_lungs
from .tissues import Tissue as T
from .trunk import build_back_muscles, build_body, paint_back_muscles, paint_body_wall
from .vessels import build_vessels, paint_vessels


def dome_drop(u: np.ndarray) -> np.ndarray:
    """Drop (mm) of a hemidiaphragm below its apex where a paraboloid would drop ``u`` mm.

    Flatter over the top and steeper towards the rim, equal to the paraboloid at ``u`` = 42 mm:
    the hemidiaphragm is a broad dome that curves down into the costophrenic recesses. With the
    paraboloid alone, the slices 1-4 cm below the apex showed a small disc of liver in a wide ring
    of lung, where real ones show the liver across the right half of the body and the lung as a
    thin rim behind and beside it (engine v16, model card).
    """
    return u * (0.4 + 0.6 * u / 42.0)


class Anatomy:
    """Shapes of one patient, built once from :class:`PatientParams`; :meth:`paint` renders a slice.

    Attributes hold the landmarks (``z_neck``, ``z_split``: top of the thighs, diaphragm domes)
    and one geometry record per region: ``body``, ``skeleton``, ``organs``, ``ureters``,
    ``vessels``, ``thorax``, ``gut``, ``pelvic_organs``, ``back_muscles``, ``pelvis``, plus the
    implants (``metal_items``).
    """

    def __init__(self, p: PatientParams) -> None:
        self.p = p
        self.s, self.h = p.scale, p.height
        rng = np.random.default_rng(p.shape_seed)
        d = ShapeDraws(rng, self.s, self.h)
        # the order of the draws below is part of the patient: changing it changes every image
        self.tex_off = tuple(rng.uniform(0, 256, 2))  # texture offset (texels)
        self._draw_landmarks(rng)
        self.body = build_body(d, p)
        self.skeleton = build_axial_skeleton(d, p)
        self.organs = build_organs(d, p)
        heart = build_heart(d)
        self.vessels = build_vessels(d)
        self.ureters = build_ureters(d, self.organs.kidneys)
        self.thorax = build_thorax(d, heart)
        self.gut = build_gut(d, p)
        self.pelvic_organs = build_pelvic_organs(d, p)
        self.back_muscles = build_back_muscles(d, p)
        self.pelvis = build_pelvis(d, p)
        self.calc_phase = rng.uniform(0, 2 * np.pi, 3)  # pattern of aortic wall calcification
        self.metal_items = build_metal(d, p)

    def _draw_landmarks(self, rng: np.random.Generator) -> None:
        """Neck and thigh levels, the two diaphragm domes (mm)."""
        s, h = self.s, self.h
        self.z_neck = 255 * h
        self.z_split = (-445 + rng.uniform(-15, 15)) * h
        self.z_dome_r = 0.0
        # a distended stomach lifts the left hemidiaphragm with the fundus (no extra draw)
        self.z_dome_l = min(-2.0, -rng.uniform(8, 28) + STOMACH_RISE_MM * self.p.stomach_distension)
        self.dome_x = (-55 * s, 60 * s)
        self.dome_curv = rng.uniform(0.8, 1.2)

    # ------------------------------------------------------------------------------------------
    def spine_y(self, z: float) -> float:
        """y (mm) of the vertebral body centre at ``z``."""
        sc = self.skeleton.spine_ctrl
        return float(np.interp(z, sc[:, 0], sc[:, 1]))

    def dome(self, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """z of the diaphragm surface under each (x, y): lungs above it, abdomen below."""
        c = self.dome_curv
        yy = 30 * (Y / (90 * self.s)) ** 2
        dr = self.z_dome_r - c * dome_drop(42 * ((X - self.dome_x[0]) / (100 * self.s)) ** 2 + yy)
        dl = self.z_dome_l - c * dome_drop(42 * ((X - self.dome_x[1]) / (95 * self.s)) ** 2 + yy)
        d = np.maximum(dr, dl) - 0.22 * np.maximum(Y - 20 * self.s, 0)
        return d

    def body_back(self, z: float) -> float:
        """y (mm) of the skin of the back at ``z`` (where the patient lies on the table)."""
        if z > self.z_neck:
            return 60 * self.s + self.p.sc_fat_mm * 0.4
        return self.spine_y(min(z, 250)) + 76 * self.s + 0.3 * self.p.muscle_mm + 0.55 * self.p.sc_fat_mm

    # ------------------------------------------------------------------------------------------
    def paint(self, cv: Canvas, z: float, bladder_contrast: float = 0.0, pulm_tex: np.ndarray | None = None,
              tex: np.ndarray | None = None) -> np.ndarray:
        """Paint the slice at ``z`` into ``cv.lab`` and return it.

        Args:
            bladder_contrast: fraction (0..1) of the bladder height filled with excreted contrast
                (dependent layer), 0 before excretion.
            pulm_tex: medium texture field on the canvas (pulmonary vessels).
            tex: the full ``(h, w, 4)`` texture stack on the canvas (intrahepatic vessel network).
        """
        cv.lab[:] = T.AIR
        self._paint_table(cv, z)
        if z > self.z_neck:
            paint_neck(self, cv, z)
        elif z < self.z_split:
            paint_legs(self, cv, z)
        else:
            self._paint_trunk(cv, z, bladder_contrast, pulm_tex, tex)
        paint_metal(self, cv, z)
        return cv.lab

    def _paint_table(self, cv: Canvas, z: float) -> None:
        """The table top under the patient: two curved plates."""
        yb = self.body_back(z) + 4
        X = cv.xs
        inv = 1.0 / cv.px
        cols = np.nonzero(np.abs(X) < 230)[0]
        for off, r in ((0.0, 2.5), (28.0, 2.0)):
            yt = yb + off + (X[cols] ** 2) / 1200.0
            r0 = np.floor((yt - r - cv.y0) * inv).astype(int)
            r1 = np.floor((yt + r - cv.y0) * inv).astype(int)
            for d in range(int(np.max(r1 - r0)) + 1):
                rr = r0 + d
                ok = (rr <= r1) & (rr >= 0) & (rr < cv.size)
                cv.lab[rr[ok], cols[ok]] = T.TABLE

    def _paint_trunk(self, cv: Canvas, z: float, bladder_contrast: float, pulm_tex: np.ndarray | None,
                     tex: np.ndarray | None) -> None:
        """Body wall, then the cavity split by the diaphragm (chest above, abdomen below), back
        muscles, pelvis, spine and great vessels."""
        yspine = self.spine_y(z)
        cav = paint_body_wall(self, cv, z)
        if cav is None:
            return
        cbox, inside = cav
        X, Y = cv.grid(cbox)
        zd = self.dome(X, Y)
        above = inside & (z > zd)
        if above.any():
            paint_lungs(self, cv, z, cbox, above, pulm_tex)
        below = inside & (z <= zd)
        below_full = np.zeros(cv.lab.shape, bool)
        below_full[cbox] = below
        paint_back_muscles(self, cv, z, yspine)
        if below.any():
            paint_abdomen(self, cv, z, below_full, bladder_contrast, tex)
        paint_pelvis(self, cv, z)
        paint_spine(self, cv, z, yspine)
        paint_vessels(self, cv, z)
