"""Patient anatomy as implicit shapes, painted into a tissue label map at any z and resolution.

:class:`PatientParams` holds every random draw of one patient (JSON-serialisable);
:class:`Anatomy` turns it into shapes (built once, cached) and :meth:`Anatomy.paint` paints one
axial slice. Coordinates follow DICOM LPS in mm (x to the patient's left, y posterior, z
superior). z = 0 is the top of the right hemidiaphragm; the abdomen lies at negative z, the
femoral heads near -370 mm (times the patient's height factor).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .shapes import F32, Canvas, Chain, Tube, Wobble, bar_q, ellipse_q, ellipsoid_tube, segment_q, superellipse_q
from .tissues import Tissue as T

METAL_KINDS = ("clips", "aortic_stent", "hip_prosthesis", "spine_screws", "biliary_stent")


@dataclass
class PatientParams:
    """Every random draw that defines one synthetic patient (anatomy, confounders, physiology).

    Use :meth:`draw`; patient ``i`` of a dataset with seed ``s`` uses ``rng = default_rng([s, i])``.
    """

    index: int = 0
    shape_seed: int = 0
    sex: str = "M"
    age: int = 60
    scale: float = 1.0
    height: float = 1.0
    ap_ratio: float = 1.0
    sc_fat_mm: float = 20.0
    visceral_fat: float = 0.4
    muscle_mm: float = 11.0
    liver_size: float = 1.0
    spleen_size: float = 1.0
    kidney_size: float = 1.0
    fatty_liver: bool = False
    liver_base_hu: float = 56.0
    blood_base_hu: float = 42.0
    lesions: list[dict[str, float]] = field(default_factory=list)
    cysts: list[dict[str, float]] = field(default_factory=list)
    aortic_calcification: float = 0.0
    oral_contrast: bool = False
    oral_contrast_hu: float = 0.0
    bowel_gas: float = 0.5
    metal: list[str] = field(default_factory=list)
    gallbladder: bool = True
    arms_down: bool = False
    bladder_fill: float = 0.6
    bolus_arrival_s: float = 17.0
    dose_factor: float = 1.0
    cardiac_output: float = 1.0
    excretion_factor: float = 1.0
    table_offset_mm: float = -600.0

    @classmethod
    def draw(cls, rng: np.random.Generator, index: int = 0) -> PatientParams:
        """Draw a random patient."""
        sex = "M" if rng.random() < 0.55 else "F"
        age = int(rng.integers(25, 90))
        scale = float(rng.normal(1.0 if sex == "M" else 0.94, 0.05))
        fatness = float(rng.beta(2.0, 2.6))
        lesions = []
        if rng.random() < 0.3:
            for _ in range(int(rng.integers(1, 5))):
                lesions.append(
                    {"x": float(rng.uniform(-100, -20)), "y": float(rng.uniform(-30, 40)),
                     "z": float(rng.uniform(-130, -30)), "r": float(rng.uniform(5, 28)),
                     "arterial_gain": float(rng.uniform(0.6, 1.4))}
                )
        cysts = []
        if rng.random() < 0.25:
            for _ in range(int(rng.integers(1, 4))):
                organ = str(rng.choice(["liver", "kidney"]))
                cysts.append(
                    {"organ": organ, "x": float(rng.uniform(-90, 20)), "y": float(rng.uniform(-30, 40)),
                     "z": float(rng.uniform(-120, -40)), "r": float(rng.uniform(4, 20)),
                     "side": float(rng.choice([-1.0, 1.0])), "dz": float(rng.uniform(-30, 30))}
                )
        metal = [m for m, p in zip(METAL_KINDS, (0.08, 0.04, 0.03, 0.03, 0.02)) if rng.random() < p]
        fatty = bool(rng.random() < 0.2)
        calc = float(np.clip((age - 45) / 40, 0, 1) * rng.uniform(0, 1.2)) if rng.random() < 0.7 else 0.0
        return cls(
            index=index,
            shape_seed=int(rng.integers(0, 2**31 - 1)),
            sex=sex,
            age=age,
            scale=scale,
            height=float(rng.normal(1.0 if sex == "M" else 0.95, 0.04)),
            ap_ratio=float(rng.uniform(0.85, 1.15) + 0.15 * fatness),
            sc_fat_mm=float(4 + 55 * fatness * rng.uniform(0.6, 1.4)),
            visceral_fat=float(np.clip(fatness * rng.uniform(0.5, 1.5) + (0.15 if sex == "M" else 0), 0, 1.2)),
            muscle_mm=float(rng.uniform(7, 16) * (1.0 if sex == "M" else 0.85)),
            liver_size=float(rng.uniform(0.85, 1.18)),
            spleen_size=float(rng.uniform(0.75, 1.4)),
            kidney_size=float(rng.uniform(0.88, 1.12)),
            fatty_liver=fatty,
            liver_base_hu=float(rng.uniform(0, 42) if fatty else rng.uniform(48, 66)),
            blood_base_hu=float(rng.uniform(32, 50)),
            lesions=lesions,
            cysts=cysts,
            aortic_calcification=calc,
            oral_contrast=bool(rng.random() < 0.35),
            oral_contrast_hu=float(rng.uniform(150, 650)),
            bowel_gas=float(rng.uniform(0.1, 1.0)),
            metal=metal,
            gallbladder=bool(rng.random() < 0.88),
            arms_down=bool(rng.random() < 0.08),
            bladder_fill=float(rng.uniform(0.2, 1.0)),
            bolus_arrival_s=float(rng.uniform(10, 25)),
            dose_factor=float(rng.uniform(0.75, 1.25)),
            cardiac_output=float(rng.uniform(0.75, 1.3)),
            excretion_factor=float(rng.uniform(0.5, 1.8)),
            table_offset_mm=float(rng.uniform(-900, -100)),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict of every field."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PatientParams:
        """Inverse of :meth:`to_dict`."""
        return cls(**d)


# ----------------------------------------------------------------------------------------------
# helpers

def _jit(rng: np.random.Generator, pts: list[tuple[float, float, float]], sd: float, s: float, h: float) -> np.ndarray:
    a = np.array(pts, dtype=np.float64)
    a[:, 0] *= s
    a[:, 1] *= s
    a[:, 2] *= h
    a[:, :2] += rng.normal(0, sd, (len(a), 2))
    return a


def _random_walk(rng: np.random.Generator, start, n: int, step: float, box) -> np.ndarray:
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


@dataclass
class _Lumen:
    chain: Chain
    wall: float
    content: int
    fill: float  # fraction of lumen (from posterior) filled with content, rest air
    haustra: float = 0.0


class Anatomy:
    """Shapes of one patient, built once from :class:`PatientParams`; :meth:`paint` renders a slice."""

    def __init__(self, p: PatientParams) -> None:
        self.p = p
        rng = np.random.default_rng(p.shape_seed)
        s, h = p.scale, p.height
        self.s, self.h = s, h
        vf = 1.0 + 0.22 * p.visceral_fat
        self.tex_off = tuple(rng.uniform(0, 256, 2))
        W = lambda st, k=4: Wobble.draw(rng, st, k)  # noqa: E731

        # landmarks (mm)
        self.z_neck = 255 * h
        self.z_split = (-445 + rng.uniform(-15, 15)) * h
        self.z_dome_r = 0.0
        self.z_dome_l = -rng.uniform(8, 28)
        self.dome_x = (-55 * s, 60 * s)
        self.dome_curv = rng.uniform(0.8, 1.2)

        # cavity inside the muscular wall: rows (z, cx, cy, a, b, ang)
        cav = [(-470, 0, 0, 110, 75), (-400, 0, -5, 115, 80), (-330, 0, -5, 120, 84), (-250, 0, -5, 124, 86),
               (-160, 0, -3, 127, 88), (-80, 0, 0, 130, 90), (0, 0, 0, 132, 92), (80, 0, 0, 130, 92),
               (160, 0, 2, 120, 84), (220, 0, 5, 100, 70), (265, 0, 8, 60, 48)]
        rows = []
        for z, cx, cy, a, b in cav:
            sc = vf if -330 < z < -20 else 1.0
            rows.append((z * h, cx, cy * s, a * s * sc, b * s * sc * p.ap_ratio, 0.0))
        self.cavity = Tube(np.array(rows), W(0.05, 4))
        self.wall_wob = W(0.03, 4)
        self.vessel_density = float(rng.uniform(0.7, 1.3))
        self.box_p = float(rng.uniform(2.0, 2.9))  # anterior body outline: ellipse .. rounded box
        self.body_wob = W(0.04, 5)

        # spine line y(z) (vertebral body centre)
        self.spine_ctrl = np.array([(-420, 85), (-330, 85), (-270, 62), (-200, 45), (-100, 46), (0, 52), (100, 58), (200, 55), (300, 40)], float)
        self.spine_ctrl[:, 0] *= h
        self.spine_ctrl[:, 1] *= s * p.ap_ratio ** 0.5
        self.level_phase = rng.uniform(0, 1)
        # rib 1 (posterior) high in the chest, rib 12 (posterior end) ~ T12, well below the dome
        self.rib_top = 205 * h + rng.uniform(-8, 8)
        self.rib_spacing = 25 * h * rng.uniform(0.93, 1.07)
        self.rib_drop = rng.uniform(85, 115) * h

        # organs
        ls = p.liver_size
        self.liver = [
            Tube(np.array([(10 * h, -55 * s, 5, 55 * s * ls, 50 * s, 0), (-10 * h, -55 * s, 5, 100 * s * ls, 90 * s, 0),
                           (-60 * h, -58 * s, 8, 110 * s * ls, 98 * s, 0), (-110 * h, -68 * s, 15, 98 * s * ls, 90 * s, 0),
                           (-150 * h * ls, -82 * s, 22, 72 * s, 70 * s, 0), (-190 * h * ls, -92 * s, 28, 40 * s, 42 * s, 0),
                           (-215 * h * ls, -98 * s, 30, 14 * s, 18 * s, 0)]), W(0.06)),
            Tube(np.array([(0, 15 * s, -40 * s, 55 * s * ls, 40 * s, 0.3), (-35 * h, 25 * s, -50 * s, 70 * s * ls, 38 * s, 0.35),
                           (-75 * h, 15 * s, -55 * s, 50 * s * ls, 28 * s, 0.3), (-100 * h, 5 * s, -55 * s, 18 * s, 12 * s, 0.3)]), W(0.08)),
        ]
        self.liver_extend_left = rng.uniform(0.4, 1.2)
        self.liver[1].ctrl[:, 3] *= self.liver_extend_left ** 0.5
        self.gallbladder = ellipsoid_tube((-45 * s, -42 * s, -115 * h), (16 * s, 13 * s, 32 * h), 0.4, (-5, -8), wob=W(0.05)) if p.gallbladder else None
        ss = p.spleen_size
        self.spleen = ellipsoid_tube((92 * s, 42 * s, -70 * h), (38 * s * ss ** 0.5, 66 * s * ss ** 0.5, 62 * h * ss ** 0.5), 0.75, (10, 5), wob=W(0.08))
        ks = p.kidney_size
        self.kidneys = []
        for side, zc, ang in ((-1, -150, -0.55), (1, -138, 0.55)):
            zc = (zc + rng.uniform(-15, 15)) * h
            c = (side * (75 + rng.uniform(-8, 8)) * s, (52 + rng.uniform(-6, 6)) * s, zc)
            t = ellipsoid_tube(c, (32 * s * ks, 25 * s * ks, 55 * h * ks), ang + side * rng.uniform(-0.2, 0.2), (side * -8, 6), wob=W(0.03))
            self.kidneys.append((t, side, zc))
        self.adrenals = [
            (Tube(np.array([(-115 * h, -35 * s, 35 * s, 0, 0, 0), (-80 * h, -40 * s, 40 * s, 0, 0, 0)])), (-15 * s, 22 * s), 3.0),
            (Tube(np.array([(-125 * h, 35 * s, 32 * s, 0, 0, 0), (-90 * h, 40 * s, 38 * s, 0, 0, 0)])), (12 * s, 22 * s), 3.0),
        ]
        self.heart = ellipsoid_tube((22 * s, -28 * s, 50 * h), (64 * s, 54 * s, 62 * h), -0.5, (0, 0), wob=W(0.04))
        # the heart rests on the central tendon (below the dome apex) with a broad, flat base
        self.heart.ctrl[0, 0] = -14 * h
        self.heart.ctrl[0, 3:5] = self.heart.ctrl[1, 3:5] * 0.8

        # vessels: chains (x, y, z)
        J = lambda pts, sd=2.0: _jit(rng, pts, sd, s, h)  # noqa: E731
        self.aorta = Chain(J([(5, -25, 110), (8, -20, 140), (22, 30, 145), (24, 42, 100), (24, 44, 40), (18, 38, -10), (12, 28, -60),
                              (9, 22, -110), (8, 22, -170), (6, 24, -245)], 1.5), [15, 14, 13, 13, 12.5, 12, 11.5, 10.5, 10, 9])
        self.aorta.radii *= s
        self.iliac_a = [Chain(J([(6, 24, -245), (sd * 35, 30, -285), (sd * 60, 20, -320), (sd * 80, -10, -370), (sd * 88, -25, -420), (sd * 95, -25, -600)]), [8, 7, 6, 5.5, 5, 4.5]) for sd in (-1, 1)]
        self.branches_a = [
            Chain(J([(9, 15, -88), (9, -5, -92), (-10, -15, -95), (-40, -10, -90)]), [4, 3.5, 3, 2.5]),  # celiac -> hepatic
            Chain(J([(9, -5, -92), (30, -5, -92), (60, 15, -85), (85, 30, -80)]), [3, 3, 2.5, 2.5]),  # splenic artery
            Chain(J([(8, 12, -108), (8, -12, -118), (4, -18, -160), (-5, -22, -220)]), [4, 4, 3.5, 2.5]),  # SMA
            Chain(J([(3, 22, -128), (-40, 35, -135), (-60, 42, -142)]), [3.2, 3, 2.5]),  # right renal artery
            Chain(J([(13, 22, -125), (45, 32, -128), (62, 40, -132)]), [3.2, 3, 2.5]),  # left renal artery
        ]
        self.ivc = Chain(J([(-10, 10, 15), (-18, 15, -20), (-25, 20, -80), (-25, 22, -125), (-22, 25, -180), (-15, 30, -255)], 1.5), [13, 13, 12, 12, 11, 10])
        self.ivc.radii *= s
        self.ivc_split = -125 * h
        self.iliac_v = [Chain(J([(-15, 30, -255), (sd * 40, 38, -290), (sd * 62, 30, -320), (sd * 78, 0, -370), (sd * 84, -18, -420), (sd * 88, -18, -600)]), [9, 8, 7.5, 7, 6.5, 6]) for sd in (-1, 1)]
        self.portal = [
            Chain(J([(-5, -25, -120), (-28, -10, -100), (-45, 0, -80)]), [8, 8, 7]),  # main portal vein
            Chain(J([(-45, 0, -80), (-80, 10, -70), (-110, 20, -60)]), [6, 5, 3]),  # right branch
            Chain(J([(-45, 0, -80), (-10, -20, -65), (15, -40, -55)]), [5, 4, 3]),  # left branch
            Chain(J([(-5, -25, -120), (30, 5, -110), (65, 25, -95), (85, 35, -85)]), [6, 5.5, 5, 4.5]),  # splenic vein
            Chain(J([(-5, -25, -120), (-10, -28, -160), (-12, -25, -230)]), [7, 6, 4]),  # SMV
        ]
        self.hepatic_v = [
            Chain(J([(-15, 15, -12), (-60, 0, -40), (-105, -10, -75)]), [7, 5, 2.5]),
            Chain(J([(-15, 15, -12), (-20, -35, -40), (-22, -60, -70)]), [6.5, 4.5, 2.5]),
            Chain(J([(-15, 15, -12), (15, -25, -25), (35, -50, -45)]), [6, 4, 2.5]),
        ]
        self.renal_v = [
            Chain(J([(-25, 22, -125), (-45, 30, -135), (-60, 38, -143)]), [6, 6, 5]),
            Chain(J([(-25, 22, -122), (10, 5, -120), (35, 20, -126), (60, 35, -132)]), [5.5, 4.5, 5.5, 5]),  # passes between aorta and SMA
        ]
        # ureters from the renal pelves to the bladder
        self.ureters = []
        for (kt, side, zc) in self.kidneys:
            cx, cy = kt.at(zc)[:2]
            pts = J([(cx / s - side * 20, cy / s - 5, zc / h - 10), (side * 45, 45, -210), (side * 50, 40, -290), (side * 45, 35, -350), (side * 20, -20, -375)], 1.5)
            self.ureters.append(Chain(pts, [3.5, 2.2, 2.0, 2.0, 2.0]))
        self.esophagus = Chain(J([(0, 20, 240), (2, 25, 150), (8, 30, 50), (20, 15, 0), (35, 0, -25)]), [8, 8, 8, 8, 9])
        self.trachea = Chain(J([(0, -5, 320), (0, 0, 190), (0, 5, 150)]), [9, 9, 9])
        self.bronchi = [Chain(J([(0, 5, 150), (sd * 35, 15, 125)]), [7, 6]) for sd in (-1, 1)]
        self.pulm_art = [Chain(J([(10, -40, 100), (12, -10, 125), (sd * 45, 5, 120)]), [14, 12, 10]) for sd in (-1, 1)]

        # stomach & duodenum, pancreas
        self.stomach = _Lumen(
            Chain(J([(55, 20, -20), (62, -5, -45), (55, -35, -75), (25, -55, -100), (-10, -50, -112), (-30, -35, -115),
                     (-48, -15, -125), (-55, 0, -150), (-35, 12, -175), (0, 12, -178), (30, 0, -165)], 3),
                  np.array([40, 42, 36, 28, 20, 13, 14, 13, 12, 12, 12]) * s * rng.uniform(0.8, 1.15)),
            wall=4.0, content=int(T.ORAL_CONTRAST if p.oral_contrast and rng.random() < 0.8 else T.BOWEL_FLUID),
            fill=float(rng.uniform(0.3, 0.95)))
        self.pancreas = Chain(J([(-40, -5, -140), (-25, -20, -125), (5, -38, -112), (40, -20, -102), (70, 10, -95), (85, 25, -88)], 3),
                              np.array([18, 15, 13, 12, 11, 9]) * s)
        self.pancreas_wob = Wobble.draw(rng, 0.0)
        # colon: cecum -> ascending -> transverse -> descending -> sigmoid -> rectum
        cpath = [(-80, -10, -300), (-95, 10, -240), (-100, 15, -180), (-85, -30, -150), (-40, -70, -165), (10, -75, -175),
                 (60, -60, -150), (95, -10, -140), (105, 15, -190), (100, 20, -260), (85, 5, -310), (40, 0, -330),
                 (10, 50, -345), (0, 70, -380), (0, 70, -440)]
        cr = np.array([30, 27, 25, 24, 23, 23, 23, 22, 20, 20, 18, 16, 15, 20, 18]) * s * rng.uniform(0.8, 1.2)
        self.colon = _Lumen(Chain(J(cpath, 8), cr), wall=3.0, content=int(T.FECES), fill=float(rng.uniform(0.4, 0.95)), haustra=0.12)
        self.small_bowel: list[_Lumen] = []
        for k in range(20):
            start = (rng.uniform(-80, 80) * s, rng.uniform(-75, 15) * s, rng.uniform(-330, -150) * h)
            pts = _random_walk(rng, start, 9, 26 * s, ((-90 * s, 90 * s), (-90 * s, 30 * s), (-350 * h, -140 * h)))
            content = int(T.ORAL_CONTRAST if (p.oral_contrast and rng.random() < 0.7) else T.BOWEL_FLUID)
            fill = float(rng.uniform(0.55, 1.0) if rng.random() > p.bowel_gas * 0.5 else rng.uniform(0.2, 0.6))
            self.small_bowel.append(_Lumen(Chain(pts, rng.uniform(10, 17) * s), wall=2.5, content=content, fill=fill))
        if p.oral_contrast and rng.random() < 0.5:
            self.colon.content = int(T.ORAL_CONTRAST)
        self.colon_feces_mix = rng.uniform(0.3, 1.0)
        # pelvis
        bf = 0.55 + 0.6 * p.bladder_fill
        self.bladder = ellipsoid_tube((0, -25 * s, -378 * h), (45 * s * bf, 36 * s * bf, 38 * h * bf), 0.0, (0, 8), wob=W(0.04))
        self.bladder.ctrl[:, 0] -= 38 * h * bf * 0.3
        self.pelvic_organ = ellipsoid_tube((0, 25 * s, -420 * h) if p.sex == "M" else (0, 10 * s, -350 * h),
                                           (20 * s, 17 * s, 20 * h) if p.sex == "M" else (35 * s, 25 * s, 40 * h), 0, wob=W(0.06))
        pm = 1.12 if p.sex == "M" else 0.95
        self.psoas = [Tube(np.array([(-360 * h, sd * 85 * s, -5 * s, 25 * s * pm, 21 * s * pm, 0), (-300 * h, sd * 68 * s, 10 * s, 28 * s * pm, 24 * s * pm, 0),
                                     (-240 * h, sd * 52 * s, 33 * s, 27 * s * pm, 23 * s * pm, 0), (-170 * h, sd * 40 * s, 43 * s, 21 * s * pm, 18 * s * pm, 0),
                                     (-110 * h, sd * 30 * s, 48 * s, 10 * s, 9 * s, 0)]), W(0.05)) for sd in (-1, 1)]
        self.ql = [Tube(np.array([(-250 * h, sd * 75 * s, 80 * s, 10 * s, 12 * s, 0.4 * sd), (-180 * h, sd * 70 * s, 80 * s, 20 * s, 12 * s, 0.4 * sd),
                                  (-110 * h, sd * 62 * s, 82 * s, 14 * s, 9 * s, 0.4 * sd)]), W(0.05)) for sd in (-1, 1)]
        # gluteal muscles: medius/minimus hug the outer iliac wing, maximus posterior over the sacrum
        self.glut = [Tube(np.array([(-470 * h, sd * 85 * s, 78 * s, 52 * s, 42 * s, 0.3 * sd), (-400 * h, sd * 92 * s, 72 * s, 48 * s, 40 * s, 0.35 * sd),
                                    (-320 * h, sd * 108 * s, 58 * s, 32 * s, 24 * s, 0.6 * sd), (-255 * h, sd * 110 * s, 40 * s, 18 * s, 12 * s, 0.9 * sd)]), W(0.05)) for sd in (-1, 1)]
        self.iliacus = [Tube(np.array([(-360 * h, sd * 95 * s, -10 * s, 16 * s, 16 * s, 0), (-300 * h, sd * 90 * s, 15 * s, 18 * s, 14 * s, 0),
                                       (-240 * h, sd * 85 * s, 40 * s, 14 * s, 10 * s, 0)]), W(0.05)) for sd in (-1, 1)]
        self.fem_head = [np.array([sd * 92 * s, 5 * s, -372 * h]) for sd in (-1, 1)]
        self.head_r = 24 * s
        self.femur = [Chain(np.array([self.fem_head[i], [sd * 122 * s, 15 * s, -392 * h], [sd * 118 * s, 10 * s, -430 * h],
                                      [sd * 105 * s, 0, -700 * h]]), np.array([16, 18, 14, 13]) * s) for i, sd in enumerate((-1, 1))]
        self.troch = [np.array([sd * 128 * s, 18 * s, -395 * h]) for sd in (-1, 1)]
        self.pubis = [Chain(np.array([[sd * 75 * s, -20 * s, -385 * h], [sd * 35 * s, -50 * s, -400 * h], [sd * 6 * s, -62 * s, -405 * h]]), np.array([11, 9, 8]) * s) for sd in (-1, 1)]
        self.ischium = [Chain(np.array([[sd * 78 * s, 20 * s, -385 * h], [sd * 60 * s, 45 * s, -425 * h], [sd * 50 * s, 45 * s, -445 * h]]), np.array([15, 14, 12]) * s) for sd in (-1, 1)]
        self.ilium_ctrl = np.array([  # z, ax, ay, bx, by, r
            (-225, 88, 62, 112, 15, 4), (-250, 68, 70, 126, 0, 6), (-290, 50, 76, 123, -15, 7), (-325, 48, 72, 112, -20, 11),
            (-350, 70, 45, 100, -5, 18), (-360, 80, 25, 95, 5, 20)], float)
        self.ilium_ctrl[:, 0] *= h
        self.ilium_ctrl[:, 1:] *= s
        self.sacrum = Tube(np.array([(-390 * h, 0, 120 * s, 18 * s, 10 * s, 0), (-340 * h, 0, 110 * s, 35 * s, 14 * s, 0),
                                     (-290 * h, 0, 95 * s, 48 * s, 20 * s, 0), (-250 * h, 0, 78 * s, 50 * s, 22 * s, 0)]), W(0.03))
        # confounders
        self.lesions = p.lesions
        self.cysts = p.cysts
        self.calc_phase = rng.uniform(0, 2 * np.pi, 3)
        self.metal_items: list[tuple[str, Any]] = []
        for m in p.metal:
            if m == "clips":
                self.metal_items.append(("sphere", [(np.array([-45 * s, -35 * s, -110 * h]) + rng.normal(0, 10, 3), 2.0) for _ in range(4)]))
            elif m == "hip_prosthesis":
                side = int(rng.integers(0, 2))
                self.metal_items.append(("hip", side))
            elif m == "biliary_stent":
                self.metal_items.append(("tube", Chain(J([(-45, 0, -80), (-30, -10, -110), (-40, -5, -140)]), [3, 3, 3])))
            else:
                self.metal_items.append((m, None))
        self.arm_ctrl = [np.array([sd * (self.cavity.at(-100)[2] + p.muscle_mm + p.sc_fat_mm + 45 * s), 10 * s]) for sd in (-1, 1)]

    # ------------------------------------------------------------------------------------------
    def spine_y(self, z: float) -> float:
        return float(np.interp(z, self.spine_ctrl[:, 0], self.spine_ctrl[:, 1]))

    def dome(self, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """z of the diaphragm surface under each (x, y): lungs above it, abdomen below."""
        c = self.dome_curv
        dr = self.z_dome_r - c * 42 * ((X - self.dome_x[0]) / (100 * self.s)) ** 2 - c * 30 * (Y / (90 * self.s)) ** 2
        dl = self.z_dome_l - c * 42 * ((X - self.dome_x[1]) / (95 * self.s)) ** 2 - c * 30 * (Y / (90 * self.s)) ** 2
        d = np.maximum(dr, dl) - 0.22 * np.maximum(Y - 20 * self.s, 0)
        return d

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
        self._tex = tex
        cv.lab[:] = T.AIR
        self._table(cv, z)
        if z > self.z_neck:
            self._neck(cv, z)
        elif z < self.z_split:
            self._legs(cv, z)
        else:
            self._trunk(cv, z, bladder_contrast, pulm_tex)
        self._metal(cv, z)
        return cv.lab

    def _table(self, cv: Canvas, z: float) -> None:
        yb = self._body_back(z) + 4
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

    def _body_back(self, z: float) -> float:
        if z > self.z_neck:
            return 60 * self.s + self.p.sc_fat_mm * 0.4
        return self.spine_y(min(z, 250)) + 76 * self.s + 0.3 * self.p.muscle_mm + 0.55 * self.p.sc_fat_mm

    # ------------------------------------------------------------------------------------------
    def _trunk(self, cv: Canvas, z: float, bladder_contrast: float, pulm_tex) -> None:
        p, s, h = self.p, self.s, self.h
        cav = self.cavity.at(z)
        if cav is None:
            return
        cx, cy, a, b, _ = cav
        chest = z > -40 * h
        fat = p.sc_fat_mm * (0.55 if z > 60 * h else 1.0)
        m = p.muscle_mm * (0.8 if chest else 1.0)
        yspine = self.spine_y(z)
        back = self._body_back(z)
        ant = cy - b - m - fat * 1.25
        rx = a + m + fat
        if -400 * h < z < -250 * h:
            rx += 12 * s * np.clip((-250 * h - z) / (60 * h), 0, 1)  # hips
        if z < -300 * h and p.sex == "F":
            rx += 10 * s
        yc = 0.5 * (ant + back)
        # body outline: skin then subcutaneous fat
        res = superellipse_q(cv, cx, yc, rx, yc - ant, back - yc, self.box_p, 3.0, self.body_wob, z)
        if res is None:
            return
        box, q = res
        cv.paint(box, q < 1.0, T.SKIN)
        cv.paint(box, q < 1.0 - 2.0 / max(rx, 1), T.FAT_SC)
        if p.sex == "F" and 40 * h < z < 190 * h:  # breasts
            for sd in (-1, 1):
                r = ellipse_q(cv, sd * 60 * s, ant - 10 * s, 55 * s, 45 * s * (1 + p.sc_fat_mm / 60), 0.0, None, z)
                if r is not None:
                    box2, q2, u2, v2 = r
                    cv.paint(box2, (q2 < 1) & (v2 < 0.2), T.FAT_SC)
                    cv.paint(box2, (q2 < 0.6) & (v2 < 0.1), T.BREAST)
        if p.arms_down:
            for i, sd in enumerate((-1, 1)):
                ax, ay = self.arm_ctrl[i]
                r = ellipse_q(cv, ax + sd * 10, ay, 48 * s + fat * 0.5, 48 * s + fat * 0.5, 0, None, z)
                if r is not None:
                    box2, q2, _, _ = r
                    cv.paint(box2, q2 < 1, T.FAT_SC)
                    cv.paint(box2, q2 < 0.75, T.MUSCLE)
                    cv.paint(box2, q2 < 0.25, T.BONE_CORTEX)
                    cv.paint(box2, q2 < 0.15, T.YELLOW_MARROW)
        # muscular wall and cavity
        wall = self.cavity.q(cv, z, grow=1.7 * m)
        if wall is not None:
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
        cres = self.cavity.q(cv, z)
        if cres is None:
            return
        cbox, cq, cu, cv_ = cres
        inside = cq < 1.0
        cv.paint(cbox, inside, T.FAT_VISCERAL)
        # abdominal wall fat planes (linea alba region is thinner muscle): rectus sheath fat line
        cav_mask = np.zeros(cv.lab.shape, bool)
        cav_mask[cbox] = inside
        # ribs in the wall
        self._ribs(cv, z, cx, cy, a + m * 0.5, b + m * 0.5)
        # thorax
        X, Y = cv.grid(cbox)
        zd = self.dome(X, Y)
        above = inside & (z > zd)
        if above.any():
            sub = cv.lab[cbox]
            sub[above] = T.LUNG
            if pulm_tex is not None:
                pt = pulm_tex[cbox]
                sub[above & (pt > 2.1)] = T.PULMONARY_VESSEL
            self._mediastinum(cv, z)
        below = inside & (z <= zd)
        below_full = np.zeros(cv.lab.shape, bool)
        below_full[cbox] = below
        self.below = below_full
        self._paraspinal(cv, z, yspine)
        if below.any():
            self._abdomen(cv, z, below_full, bladder_contrast)
        self._pelvis(cv, z, yspine)
        self._spine(cv, z, yspine)
        self._vessels(cv, z)

    def _ribs(self, cv: Canvas, z: float, cx: float, cy: float, a: float, b: float) -> None:
        top, sp, drop = self.rib_top, self.rib_spacing, self.rib_drop
        if z > top + 10 or z < top - 11 * sp - drop * 0.7:
            return
        res = ellipse_q(cv, cx, cy, a, b, 0.0, self.cavity.wob, z, 1.12)
        if res is None:
            return
        box, q, u, v = res
        rt = 4.2 * self.s  # half thickness of a rib (radial), mm
        d = (q - 1.0) * a
        ring = np.abs(d) < rt
        if not ring.any():
            return
        phi = np.arctan2(np.abs(u[ring]), v[ring])  # 0 posterior, pi anterior
        w = z + drop * (1 - np.cos(phi)) / 2
        k = (top - w) / sp
        ki = np.round(k)
        hz = 5.5 * self.h * (1 - 0.25 * (phi > 0.75 * np.pi))  # half height (z) of the rib / cartilage
        e = np.hypot((k - ki) * sp / hz, d[ring] / rt)
        hit = (e < 1) & (ki >= 0) & (ki <= 11)
        hit &= ~((ki >= 10) & (phi > 0.55 * np.pi))  # floating ribs
        hit &= ~((ki <= 1) & (phi > 0.8 * np.pi))
        hit &= ~((phi < 0.12 * np.pi))  # ribs join the spine at the transverse processes
        cart = hit & (((ki <= 6) & (phi > 0.78 * np.pi)) | ((ki > 6) & (phi > 0.64 * np.pi)))
        rim = 1.0 - 1.6 / rt
        lab = np.where(cart, np.where(e > 0.75, T.CARTILAGE, T.MUSCLE), np.where(e < rim, T.BONE_MARROW, T.BONE_CORTEX)).astype(np.uint8)
        sub = cv.lab[box]
        idx = np.nonzero(ring)
        keep = hit & (sub[idx] != T.AIR)
        sub[idx[0][keep], idx[1][keep]] = lab[keep]
        # sternum
        if -30 * self.h < z < 200 * self.h:
            r = bar_q(cv, (cx - 9 * self.s, cy - b - 2), (cx + 9 * self.s, cy - b - 2), 5 * self.s)
            if r is not None:
                cv.paint(r[0], r[1] < 1, T.BONE_CORTEX)
                cv.paint(r[0], r[1] < 0.55, T.BONE_MARROW)

    def _mediastinum(self, cv: Canvas, z: float) -> None:
        s, h = self.s, self.h
        if z > 20 * h:
            r = ellipse_q(cv, 8 * s, 0, 40 * s, 85 * s, 0.0, None, z)
            if r is not None and z > 120 * h:
                cv.paint_if(r[0], r[1] < 1, T.FAT_VISCERAL, (T.LUNG, T.PULMONARY_VESSEL))
        hq = self.heart.q(cv, z)
        if hq is not None:
            box, q, u, v = hq
            cv.paint(box, q < 1.12, T.FAT_VISCERAL)
            cv.paint(box, q < 1.0, T.MYOCARDIUM)
            sep = u - 0.35 * v * v  # curved interventricular septum
            cv.paint(box, (q < 0.8) & (sep > 0.02), T.HEART_LEFT)
            cv.paint(box, (q < 0.84) & (sep < -0.1), T.HEART_RIGHT)
        for ch in self.pulm_art:
            self._chain(cv, z, ch, T.HEART_RIGHT)
        self._chain(cv, z, self.trachea, T.BOWEL_AIR, wall=2.0, wall_label=T.CARTILAGE)
        for ch in self.bronchi:
            self._chain(cv, z, ch, T.BOWEL_AIR, wall=1.5, wall_label=T.MUSCLE)
        self._chain(cv, z, self.esophagus, T.ESOPHAGUS)

    def _paraspinal(self, cv: Canvas, z: float, ys: float) -> None:
        s = self.s
        if z < -420 * self.h:
            return
        big = 1.0 if z < 0 else 0.75
        big *= float(np.interp(z, [-400 * self.h, -260 * self.h], [0.45, 1.0]))
        for sd in (-1, 1):
            # erector spinae + multifidus: a boxy block from the lamina to near the skin of the back
            r = ellipse_q(cv, sd * (6 + 34 * big) * s, ys + 50 * s, 34 * s * big, 24.5 * s * min(1.0, big + 0.2), 0.0, None, z, 1.05)
            if r is not None:
                box, _, u, v = r
                X, _ = cv.grid(box)
                au, av = np.abs(u), np.abs(v)
                qb = au * au * au + av * av * av  # boxy (superellipse p=3) section
                cv.paint_if(box, (qb < 1) & (sd * X > 3.5 * s), T.MUSCLE, (T.FAT_SC, T.FAT_VISCERAL, T.MUSCLE, T.LUNG, T.PULMONARY_VESSEL))
        for t in self.psoas + self.ql:
            r = t.q(cv, z)
            if r is not None:
                cv.paint_if(r[0], r[1] < 1, T.MUSCLE, (T.FAT_VISCERAL, T.MUSCLE, T.FAT_SC))

    def _abdomen(self, cv: Canvas, z: float, below: np.ndarray, bladder_contrast: float) -> None:
        s, h = self.s, self.h
        soft = (T.FAT_VISCERAL,)
        # liver
        for t in self.liver:
            r = t.q(cv, z)
            if r is not None:
                cv.paint(r[0], r[1] < 1, T.LIVER, below[r[0]])
        tex = getattr(self, "_tex", None)
        if tex is not None:
            self._liver_vessels(cv, z, tex)
        if self.gallbladder is not None:
            r = self.gallbladder.q(cv, z)
            if r is not None:
                cv.paint_if(r[0], r[1] < 1, T.BOWEL_WALL, (T.LIVER, T.LIVER_PORTAL_BRANCH, T.LIVER_HEPATIC_BRANCH, T.FAT_VISCERAL))
                cv.paint_if(r[0], r[1] < 0.85, T.GALLBLADDER, (T.BOWEL_WALL,))
        # spleen (crescent: medial cut-out)
        r = self.spleen.q(cv, z)
        if r is not None:
            box, q, u, v = r
            cut = ((u + 0.15) ** 2 + ((v) / 0.9) ** 2) < 0.35
            cv.paint(box, (q < 1) & ~((v < 0) & cut), T.SPLEEN, below[box])
        # kidneys
        for t, side, zc in self.kidneys:
            r = t.q(cv, z)
            if r is None:
                continue
            box, q, u, v = r
            # hilum faces anteromedially: local direction (-side * x, anterior)
            X, Y = cv.grid(box)
            kc = t.at(z)
            hx, hy = -side * 0.8, -0.6
            dx = (X - kc[0]) / max(kc[2], 1)
            dy = (Y - kc[1]) / max(kc[3], 1)
            hil = (dx * hx + dy * hy) / np.maximum(np.sqrt(dx * dx + dy * dy), 1e-3)
            mid = max(0.0, 1 - abs(z - zc) / (40 * h))
            kidney = q < 1
            cv.paint_if(box, kidney, T.KIDNEY_CORTEX, (T.FAT_VISCERAL, T.MUSCLE, T.LIVER, T.LIVER_PORTAL_BRANCH, T.LIVER_HEPATIC_BRANCH, T.SPLEEN))
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
        for ch in self.ureters:
            self._chain(cv, z, ch, T.RENAL_PELVIS, allowed=(T.FAT_VISCERAL, T.MUSCLE, T.RENAL_SINUS))
        # adrenals: thin limbs
        for t, d, w in self.adrenals:
            c = t.at(z)
            if c is None:
                continue
            for ang in (-0.5, 0.5):
                e = (c[0] + d[0] * np.cos(ang) - d[1] * np.sin(ang), c[1] + d[0] * np.sin(ang) + d[1] * np.cos(ang))
                r = bar_q(cv, (c[0], c[1]), e, w * s)
                if r is not None:
                    cv.paint_if(r[0], r[1] < 1, T.ADRENAL, soft)
        # stomach, pancreas, bowel
        self._lumen(cv, z, self.stomach, allowed=(T.FAT_VISCERAL, T.LIVER, T.LIVER_PORTAL_BRANCH, T.LIVER_HEPATIC_BRANCH, T.SPLEEN))
        for i, p0, p1, r0, r1 in self.pancreas.segments(z):
            r = segment_q(cv, z, p0, p1, r0, r1)
            if r is not None:
                box, rho, _, _ = r
                cv.paint_if(box, rho < 1, T.PANCREAS, soft)
        self._lumen(cv, z, self.colon, allowed=soft)
        for lum in self.small_bowel:
            self._lumen(cv, z, lum, allowed=soft)
        # bladder
        r = self.bladder.q(cv, z)
        if r is not None:
            box, q, u, v = r
            cv.paint_if(box, q < 1, T.BOWEL_WALL, soft + (T.MUSCLE,))
            cv.paint_if(box, q < 1 - 3.0 / 40, T.BLADDER, (T.BOWEL_WALL,))
            if bladder_contrast > 0:
                cv.paint_if(box, (q < 1) & (v > 1 - 2 * bladder_contrast), T.BLADDER_CONTRAST, (T.BLADDER,))
        r = self.pelvic_organ.q(cv, z)
        if r is not None:
            cv.paint_if(r[0], r[1] < 1, T.PELVIC_ORGAN, soft)
        # liver lesions and cysts
        for les in self.lesions:
            c = np.array([les["x"] * s, les["y"] * s, les["z"] * h])
            r = segment_q(cv, z, c, c, les["r"], les["r"])
            if r is not None:
                cv.paint_if(r[0], r[1] < 1, T.LESION, (T.LIVER, T.LIVER_PORTAL_BRANCH, T.LIVER_HEPATIC_BRANCH))
        for cy_ in self.cysts:
            if cy_["organ"] == "liver":
                c = np.array([cy_["x"] * s, cy_["y"] * s, cy_["z"] * h])
                allowed = (T.LIVER, T.LIVER_PORTAL_BRANCH, T.LIVER_HEPATIC_BRANCH)
            else:
                kt, side, zc = self.kidneys[0 if cy_["side"] < 0 else 1]
                kc = kt.at(zc)
                c = np.array([kc[0] + cy_["side"] * 20 * s, kc[1], zc + cy_["dz"] * h])
                allowed = (T.KIDNEY_CORTEX, T.KIDNEY_MEDULLA, T.FAT_VISCERAL)
            r = segment_q(cv, z, c, c, cy_["r"], cy_["r"])
            if r is not None:
                cv.paint_if(r[0], r[1] < 1, T.CYST, allowed)

    def _liver_vessels(self, cv: Canvas, z: float, tex: np.ndarray) -> None:
        """Intrahepatic portal and hepatic vein branches: thin level-set curves of the coarse texture
        (a branching-looking network, ~2-6 mm wide), hepatic veins cranially/posteriorly, portal
        branches caudally and around the hilum; both enhance with their own curves."""
        liv = cv.lab == T.LIVER
        if not liv.any():
            return
        h = self.h
        tc = tex[..., 2]
        tm = tex[..., 1]
        # vessels run as segments that end (the slice leaves them) rather than closed loops, wider
        # toward the hilum, plus round cross-sections of vessels running through the slice
        X, Y = cv.xs[None, :], cv.ys[:, None]
        hil = np.exp(-((X + 35 * self.s) ** 2 + (Y - 5 * self.s) ** 2) * F32(1.0 / (2 * (45 * self.s) ** 2)))
        width = F32(0.06 * self.vessel_density) * (F32(0.75) + F32(0.35) * tm + F32(0.9) * hil)
        ves = liv & (((np.abs(tc) < width) & (tex[..., 3] > -0.55)) | (tex[..., 0] > 2.45 - 0.6 * hil))
        if not ves.any():
            return
        hep = (z + 15 * tm) > (-75 * h + 0.25 * (Y - 20 * self.s))
        cv.lab[ves & hep] = T.LIVER_HEPATIC_BRANCH
        cv.lab[ves & ~hep] = T.LIVER_PORTAL_BRANCH

    def _lumen(self, cv: Canvas, z: float, lum: _Lumen, allowed: tuple[int, ...]) -> None:
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
                # haustral folds: thin semilunar septa reaching into the lumen
                X, Y = cv.grid(box)
                ex = X - (p0[0] + t * (p1[0] - p0[0])).astype(F32)
                ey = Y - (p0[1] + t * (p1[1] - p0[1])).astype(F32)
                r3 = (ex * ex + ey * ey) ** F32(1.5) + F32(1e-6)
                c3 = (ex * ex * ex - F32(3) * ex * ey * ey) / r3  # cos(3 theta)
                s3 = (F32(3) * ex * ex * ey - ey * ey * ey) / r3  # sin(3 theta)
                ph = i + 0.05 * z
                fold = (rho > 0.55) & ((c3 * F32(np.cos(ph)) - s3 * F32(np.sin(ph))) > 0.96)
                lumen &= ~fold
            content = lumen & (dy > rad * (1 - 2 * lum.fill))
            sub = cv.lab[box]
            ok = sub == T.BOWEL_WALL
            sub[lumen & ok] = T.BOWEL_AIR
            sub[content & ok] = lum.content

    def _chain(self, cv: Canvas, z: float, ch: Chain, label: int, wall: float = 0.0, wall_label: int = 0,
               allowed: tuple[int, ...] | None = None) -> None:
        for i, p0, p1, r0, r1 in ch.segments(z):
            r = segment_q(cv, z, p0, p1, r0 + wall, r1 + wall)
            if r is None:
                continue
            box, rho, t, _ = r
            if wall:
                rad = r0 + wall + t * (r1 - r0)
                cv.paint(box, rho < 1, wall_label)
                inner = rho * rad < rad - wall
                cv.paint(box, inner, label)
            elif allowed is not None:
                cv.paint_if(box, rho < 1, label, allowed)
            else:
                cv.paint(box, rho < 1, label)

    def _vessels(self, cv: Canvas, z: float) -> None:
        calc = self.p.aortic_calcification
        for i, p0, p1, r0, r1 in self.aorta.segments(z):
            r = segment_q(cv, z, p0, p1, r0 + 1.5, r1 + 1.5)
            if r is None:
                continue
            box, rho, t, _ = r
            rad = r0 + 1.5 + t * (r1 - r0)
            cv.paint(box, rho < 1, T.BOWEL_WALL if z < 0 else T.MYOCARDIUM)
            cv.paint(box, rho * rad < rad - 1.5, T.AORTA)
            if calc > 0 and z < 60 * self.h:
                X, Y = cv.grid(box)
                ax, ay = p0[0] + t * (p1[0] - p0[0]), p0[1] + t * (p1[1] - p0[1])
                th = np.arctan2(Y - ay, X - ax)
                pat = np.cos(3 * th + self.calc_phase[0] + z * 0.07) + np.cos(5 * th + self.calc_phase[1] - z * 0.05)
                plaque = (rho < 1) & (rho * rad > rad - 2.5) & (pat > 2.0 - 1.6 * calc)
                cv.paint(box, plaque, T.CALCIFICATION)
        for ch in self.iliac_a + self.branches_a:
            self._chain(cv, z, ch, T.AORTA)
        # veins
        for i, p0, p1, r0, r1 in self.ivc.segments(z):
            r = segment_q(cv, z, p0, p1, r0, r1)
            if r is not None:
                lab = T.HEPATIC_VEIN if z > self.ivc_split else T.IVC_INFRARENAL
                # flatten IVC: squash in y
                cv.paint(r[0], r[1] < 1, lab)
        for ch in self.iliac_v:
            self._chain(cv, z, ch, T.IVC_INFRARENAL)
        for ch in self.hepatic_v:
            self._chain(cv, z, ch, T.HEPATIC_VEIN, allowed=(T.LIVER, T.LIVER_PORTAL_BRANCH, T.LIVER_HEPATIC_BRANCH, T.HEPATIC_VEIN, T.FAT_VISCERAL))
        for ch in self.portal:
            self._chain(cv, z, ch, T.PORTAL_VEIN, allowed=(T.LIVER, T.LIVER_PORTAL_BRANCH, T.LIVER_HEPATIC_BRANCH, T.FAT_VISCERAL, T.PANCREAS, T.PORTAL_VEIN, T.BOWEL_WALL))
        for ch in self.renal_v:
            self._chain(cv, z, ch, T.RENAL_VEIN, allowed=(T.FAT_VISCERAL, T.RENAL_SINUS, T.KIDNEY_CORTEX, T.KIDNEY_MEDULLA, T.RENAL_VEIN, T.PANCREAS))

    def _spine(self, cv: Canvas, z: float, ys: float) -> None:
        s, h = self.s, self.h
        if z < -255 * h:
            return  # sacrum handled in _pelvis
        lumbar = z < -95 * h
        L = (34 if lumbar else 25) * h
        frac = ((z / L) + self.level_phase) % 1.0
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
        # posterior arch (pedicles + laminae) around the canal; at disc levels the facet joints and
        # the lamina / spinous process of the vertebra above still show
        if frac < 0.3 or frac > 0.85:
            for sd in (-1, 1):
                rr = ellipse_q(cv, sd * 16 * s, yc + 5 * s, 7 * s, 5.5 * s, 0.0, None, z)
                if rr is not None:
                    cv.paint(rr[0], rr[1] < 1, T.BONE_CORTEX)
                    cv.paint(rr[0], rr[1] < 0.55, T.BONE_MARROW)
            if frac < 0.2:
                rr = bar_q(cv, (0.0, yc + 9 * s), (0.0, yc + (28 if lumbar else 24) * s), (4.0 if lumbar else 3.5) * s)
                if rr is not None:
                    cv.paint(rr[0], rr[1] < 1, T.BONE_CORTEX)
                    cv.paint(rr[0], rr[1] < 0.5, T.BONE_MARROW)
        if 0.22 < frac < 0.97:
            r = ellipse_q(cv, 0.0, yc, 15 * s, 14 * s, 0.0, None, z)
            if r is not None:
                box, q, u, v = r
                arch = (q < 1) & ((v > -0.1) | (np.abs(u) > 0.6))
                cv.paint(box, arch, T.BONE_CORTEX)
                cv.paint(box, arch & (q > 0.8) & (q < 0.9) & (v > 0.3), T.BONE_MARROW)
            if frac > 0.45:  # spinous process
                rr = bar_q(cv, (0.0, yc + 11 * s), (0.0, yc + (30 if lumbar else 26) * s), (4.0 if lumbar else 3.5) * s)
                if rr is not None:
                    cv.paint(rr[0], rr[1] < 1, T.BONE_CORTEX)
                    cv.paint(rr[0], rr[1] < 0.5, T.BONE_MARROW)
            if 0.35 < frac < 0.7:  # transverse processes (ribs articulate with them in the chest)
                for sd in (-1, 1):
                    rr = bar_q(cv, (sd * 11 * s, yc - 3 * s), (sd * (36 if lumbar else 26) * s, yc + (1 if lumbar else 8) * s), 4.0 * s)
                    if rr is not None:
                        cv.paint(rr[0], rr[1] < 1, T.BONE_CORTEX)
                        cv.paint(rr[0], rr[1] < 0.55, T.BONE_MARROW)
            if 0.6 < frac < 0.9:  # facet joints / articular processes
                for sd in (-1, 1):
                    rr = ellipse_q(cv, sd * 15 * s, yc + 6 * s, 6 * s, 5 * s, 0.0, None, z)
                    if rr is not None:
                        cv.paint(rr[0], rr[1] < 1, T.BONE_CORTEX)
                        cv.paint(rr[0], rr[1] < 0.55, T.BONE_MARROW)
        r = ellipse_q(cv, 0.0, yc, 9.5 * s, 8.5 * s, 0.0, None, z)
        if r is not None:
            cv.paint(r[0], r[1] < 1, T.CSF)

    def _bone_sphere(self, cv: Canvas, z: float, c: np.ndarray, rad: float, cortex: float = 2.5) -> None:
        r = segment_q(cv, z, c, c, rad, rad)
        if r is not None:
            cv.paint(r[0], r[1] < 1, T.BONE_CORTEX)
            cv.paint(r[0], r[1] < 1 - cortex / rad, T.BONE_MARROW)

    def _pelvis(self, cv: Canvas, z: float, ys: float) -> None:
        s, h = self.s, self.h
        if z > -220 * h:
            return
        for t in self.glut + self.iliacus:
            r = t.q(cv, z)
            if r is not None:
                cv.paint_if(r[0], r[1] < 1, T.MUSCLE, (T.FAT_VISCERAL, T.FAT_SC, T.MUSCLE))
        ic = self.ilium_ctrl
        if ic[-1, 0] <= z <= ic[0, 0]:
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
        r = self.sacrum.q(cv, z)
        if r is not None:
            box, q, u, v = r
            cv.paint(box, q < 1, T.BONE_CORTEX)
            cv.paint(box, q < 0.85, T.BONE_MARROW)
            cv.paint(box, (np.abs(u) < 0.15) & (np.abs(v - 0.2) < 0.3), T.CSF)
        hip = {m[1] for m in self.metal_items if m[0] == "hip"}
        for i in range(2):
            c = self.fem_head[i]
            # acetabulum: shell around the head, medial and upper part
            r = segment_q(cv, z, c + np.array([0, 0, 4 * s]), c + np.array([0, 0, 4 * s]), self.head_r + 9 * s, self.head_r + 9 * s)
            if r is not None:
                X, _ = cv.grid(r[0])
                med = np.abs(X) < abs(c[0]) + 8 * s
                cv.paint(r[0], (r[1] < 1) & med, T.BONE_CORTEX)
                cv.paint(r[0], (r[1] < 0.9) & med, T.BONE_MARROW)
            r = segment_q(cv, z, c, c, self.head_r + 1.5, self.head_r + 1.5)
            if r is not None:
                cv.paint(r[0], r[1] < 1, T.DISC)  # joint space (cartilage)
            if i in hip:
                r = segment_q(cv, z, c, c, self.head_r, self.head_r)
                if r is not None:
                    cv.paint(r[0], r[1] < 1, T.METAL)
            else:
                self._bone_sphere(cv, z, c, self.head_r)
            self._femur(cv, z, i, metal=i in hip)
            self._bone_sphere(cv, z, self.troch[i], 20 * s, 2.0)
            for ch in (self.pubis[i], self.ischium[i]):
                for _, p0, p1, r0, r1 in ch.segments(z):
                    rr = segment_q(cv, z, p0, p1, r0, r1)
                    if rr is not None:
                        cv.paint(rr[0], rr[1] < 1, T.BONE_CORTEX)
                        cv.paint(rr[0], rr[1] < 0.78, T.BONE_MARROW)

    def _femur(self, cv: Canvas, z: float, i: int, metal: bool = False) -> None:
        for _, p0, p1, r0, r1 in self.femur[i].segments(z):
            rr = segment_q(cv, z, p0, p1, r0, r1)
            if rr is None:
                continue
            box, rho, t, _ = rr
            cv.paint(box, rho < 1, T.BONE_CORTEX)
            shaft = p1[2] < -420 * self.h
            cv.paint(box, rho < (0.6 if shaft else 0.85), T.YELLOW_MARROW if shaft else T.BONE_MARROW)
            if metal:
                cv.paint(box, rho < 0.45, T.METAL)

    def _legs(self, cv: Canvas, z: float) -> None:
        p, s = self.p, self.s
        depth = (self.z_split - z) / (60 * self.h)
        for i, sd in enumerate((-1, 1)):
            fem = self.femur[i]
            _, p0, p1, _, _ = next(iter(fem.segments(-430 * self.h)), (0, fem.pts[-2], fem.pts[-1], 0, 0))
            t = np.clip((z - p0[2]) / (p1[2] - p0[2] + 1e-9), 0, 1)
            fx = p0[0] + t * (p1[0] - p0[0])
            lx = sd * (max(abs(fx) - 20 * s, 62 * s + 0.6 * p.sc_fat_mm))
            R = (78 * s - 6 * s * min(depth, 3)) * (1 + 0.12 * (p.sex == "F"))
            r = ellipse_q(cv, lx, 5 * s, R + p.sc_fat_mm, R * 0.92 + p.sc_fat_mm, 0.0, self.body_wob, z)
            if r is None:
                continue
            cv.paint(r[0], r[1] < 1, T.SKIN)
            cv.paint(r[0], r[1] < 0.985, T.FAT_SC)
            r = ellipse_q(cv, lx, 5 * s, R, R * 0.92, 0.0, self.wall_wob, z)
            if r is not None:
                cv.paint(r[0], r[1] < 1, T.MUSCLE)
            self._femur(cv, z, i)
            self._chain(cv, z, self.iliac_a[i], T.AORTA)
            self._chain(cv, z, self.iliac_v[i], T.IVC_INFRARENAL)
        if depth < 0.6:
            r = ellipse_q(cv, 0, 0, 40 * s, 60 * s, 0, None, z)  # perineum soft tissue
            if r is not None:
                cv.paint(r[0], r[1] < 1 - depth, T.FAT_SC)

    def _neck(self, cv: Canvas, z: float) -> None:
        p, s = self.p, self.s
        t = np.clip((z - self.z_neck) / 40.0, 0, 1)
        R = (75 - 15 * t) * s
        r = ellipse_q(cv, 0, 15 * s, R + 0.4 * p.sc_fat_mm, R * 0.85 + 0.4 * p.sc_fat_mm, 0.0, self.body_wob, z)
        if r is None:
            return
        cv.paint(r[0], r[1] < 1, T.SKIN)
        cv.paint(r[0], r[1] < 0.97, T.FAT_SC)
        r = ellipse_q(cv, 0, 15 * s, R, R * 0.85, 0.0, self.wall_wob, z)
        if r is not None:
            cv.paint(r[0], r[1] < 1, T.MUSCLE)
        ys = self.spine_y(z)
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
                if lab == T.THYROID and z > self.z_neck + 60:
                    continue
                c = np.array([sd * dx * s, dy * s, z])
                rr = segment_q(cv, z, c, c, rad * s, rad * s)
                if rr is not None:
                    cv.paint(rr[0], rr[1] < 1, lab)
        self._chain(cv, z, self.trachea, T.BOWEL_AIR, wall=2.0, wall_label=T.CARTILAGE)
        self._chain(cv, z, self.esophagus, T.ESOPHAGUS)

    def _metal(self, cv: Canvas, z: float) -> None:
        s, h = self.s, self.h
        for kind, obj in self.metal_items:
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
                for _, p0, p1, r0, r1 in self.aorta.segments(z):
                    tt = (z - p0[2]) / (p1[2] - p0[2] + 1e-9)
                    c = p0 + np.clip(tt, 0, 1) * (p1 - p0)
                    for k in range(8):
                        ang = k * np.pi / 4 + 0.3 * np.sin(z * 0.3)
                        q = c + np.array([np.cos(ang) * r0, np.sin(ang) * r0, 0])
                        r = segment_q(cv, z, q, q, 1.2, 1.2)
                        if r is not None:
                            cv.paint(r[0], r[1] < 1, T.METAL)
                    break
            elif kind == "spine_screws" and -230 * h < z < -150 * h and (z % (34 * h)) < 8:
                ys = self.spine_y(z)
                for sd in (-1, 1):
                    r = bar_q(cv, (sd * 20 * s, ys + 30 * s), (sd * 8 * s, ys - 5 * s), 3.0)
                    if r is not None:
                        cv.paint(r[0], r[1] < 1, T.METAL)
