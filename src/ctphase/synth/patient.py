"""One synthetic patient's random draws: body habitus, organ sizes, confounders, physiology.

:class:`PatientParams` is JSON-serialisable (the record written beside every series) and is
all :class:`~ctphase.synth.anatomy.Anatomy` and the physiology tables need.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

MEDULLA_LAG_MAX_S = 45.0
"""Patients' medullary lag is drawn uniformly in [0, this] seconds (:mod:`ctphase.synth.physiology`)."""
GASTRIC_FOOD_RATE = 0.3
"""Share of patients (of those without a distended stomach) drawn with food in the stomach (assumption)."""
# implants a patient may carry, each drawn independently by :meth:`PatientParams.draw`
METAL_KINDS = ("clips", "aortic_stent", "hip_prosthesis", "spine_screws", "biliary_stent")


@dataclass
class PatientParams:
    """Every random draw that defines one synthetic patient (anatomy, confounders, physiology).

    Use :meth:`draw`; patient ``i`` of a population with seed ``s`` uses ``rng = default_rng([s, i, 0])``
    (:func:`ctphase.synth.patient_params`).
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
    stomach_distension: float = 0.0
    gastric_food: float = 0.0
    bowel_gas: float = 0.5
    metal: list[str] = field(default_factory=list)
    gallbladder: bool = True
    arms_down: bool = False
    bladder_fill: float = 0.6
    bolus_arrival_s: float = 17.0
    dose_factor: float = 1.0
    cardiac_output: float = 1.0
    excretion_factor: float = 1.0
    medulla_lag_s: float = 0.0
    table_offset_mm: float = -600.0
    conditions: list[str] = field(default_factory=list)

    @classmethod
    def draw(cls, rng: np.random.Generator, index: int = 0) -> PatientParams:
        """Draw a random patient (uncommon bodies at the rates of :mod:`ctphase.synth.conditions`)."""
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
        p = cls(
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
            # iodine dose per kg relative to the reference: enhancement falls in proportion to body
            # weight under a fixed dose (Bae, Radiology 2010;256:32-61). 0.55-1.4 (was 0.75-1.25, mean
            # about the same) covers weakly enhancing scans such as a real portal venous series with
            # aorta 143 / portal vein 135 HU, and strong ones
            dose_factor=float(rng.uniform(0.55, 1.4)),
            cardiac_output=float(rng.uniform(0.75, 1.3)),
            excretion_factor=float(rng.uniform(0.5, 1.8)),
            table_offset_mm=float(rng.uniform(-900, -100)),
        )
        from .conditions import apply_conditions

        apply_conditions(rng, "patient", p)  # after every other draw: the common patients stay as they were
        # a stomach distended by a last drink just before the scan: half of those who drank oral
        # contrast, 15% of the others (water); drawn last so every earlier draw stays as it was
        u, v = rng.random(), rng.uniform(0.3, 1.0)
        p.stomach_distension = float(v) if u < (0.5 if p.oral_contrast else 0.15) else 0.0
        # how late the renal medulla catches up with the cortex (injection rate, renal function; see
        # ctphase.synth.physiology): drawn after every other draw, so the rest of the patient is unchanged
        p.medulla_lag_s = float(rng.uniform(0.0, MEDULLA_LAG_MAX_S))
        # food left in a stomach not distended by a drink (share of the lumen's content that is food;
        # see ctphase.synth.gut): drawn last, so every earlier draw stays as it was
        w, f = rng.random(), rng.uniform(0.4, 1.0)
        p.gastric_food = float(f) if w < GASTRIC_FOOD_RATE and p.stomach_distension == 0 else 0.0
        return p

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict of every field."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PatientParams:
        """Inverse of :meth:`to_dict`."""
        return cls(**d)
