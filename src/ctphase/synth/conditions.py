"""Uncommon bodies and scans: drawn at set rates by the generator, forced one at a time by the
robustness benchmark (``benchmarks/synth_conditions.py``) and ``iter_training_slices(force=...)``.

A *patient* condition changes a drawn :class:`~ctphase.synth.patient.PatientParams` (before its
series are drawn); a *series* condition changes a drawn :class:`~ctphase.synth.series.SeriesParams`.
Each applied condition is named in the record's ``conditions`` list. Conditions whose rate is
``None`` are already drawn by the base generator (arms down, metal, oral contrast, a stomach
distended by a last drink, with oral contrast when forced, food in the stomach); forcing them only
makes them certain.

Values and where they come from (the rest are assumptions, marked as such):

- PET/CT: the CT of a PET/CT is often a low-dose scan for attenuation correction and anatomical
  localisation, with or without IV contrast (EANM procedure guidelines for FDG PET/CT, Boellaard
  et al., Eur J Nucl Med Mol Imaging 2015;42:328-354). Slices 3-5 mm; a 500 mm reconstruction
  diameter on the contrast-enhanced PET/CT series of TotalSegmentator's test data (Siemens
  Biograph mCT, 3 mm, Br38f, 0.977 mm pixels), up to 700 mm (extended field of view; assumption). Noise
  grows as 1/sqrt(dose): a quarter to an eighth of a diagnostic dose doubles to nearly triples it.
- Small field of view: targeted liver reconstructions (display FOV well under the body width)
  cut off the body wall and the left side; centred on the liver (assumption: 250-350 mm).
- Pelvis only: scans from the iliac crests down (bladder, prostate or uterus; assumption).
- Paediatric: age 2-17, body size growing with age (scale 0.5-0.9 of an adult), little fat, a
  relatively larger liver, no atherosclerosis or implants, faster circulation (bolus arrival
  8-14 s instead of 10-25 s): all assumptions of size, not measured paediatric data.
- Obese and thin bodies: subcutaneous fat stretched to 80-160 mm (bodies wider than a 500 mm
  field of view are cut off, as on real scanners) or shrunk to 1-5 mm, with less visceral fat.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError

Applier = Callable[[np.random.Generator, Any, Any], None]


@dataclass(frozen=True)
class Condition:
    """A named change of a drawn patient (``level="patient"``) or series (``"series"``)."""

    name: str
    level: str
    rate: float | None  # probability per drawn patient/series; None: drawn by the base generator
    apply: Applier  # (rng, patient, series or None) -> None, changes the record in place


def _paediatric(rng: np.random.Generator, p: Any, _: Any) -> None:
    p.age = int(rng.integers(2, 18))
    grow = (p.age - 2) / 15
    p.scale = float(0.5 + 0.4 * grow + rng.normal(0, 0.03))
    p.height = float(0.5 + 0.42 * grow + rng.normal(0, 0.03))
    p.sc_fat_mm = float(rng.uniform(3, 15))
    p.visceral_fat = float(rng.uniform(0.0, 0.2))
    p.muscle_mm = float(rng.uniform(4, 9))
    p.liver_size = float(p.liver_size * rng.uniform(1.05, 1.25))
    p.fatty_liver = False
    p.liver_base_hu = float(rng.uniform(52, 66))
    p.aortic_calcification = 0.0
    p.metal = []
    p.bolus_arrival_s = float(rng.uniform(8, 14))


def _obese(rng: np.random.Generator, p: Any, _: Any) -> None:
    p.sc_fat_mm = float(rng.uniform(80, 160))
    p.visceral_fat = float(rng.uniform(0.8, 1.2))
    p.ap_ratio = float(max(p.ap_ratio, rng.uniform(1.05, 1.3)))


def _thin(rng: np.random.Generator, p: Any, _: Any) -> None:
    p.sc_fat_mm = float(rng.uniform(1, 5))
    p.visceral_fat = float(rng.uniform(0.0, 0.1))
    p.muscle_mm = float(p.muscle_mm * rng.uniform(0.6, 0.9))


def _arms_down(rng: np.random.Generator, p: Any, _: Any) -> None:
    p.arms_down = True


def _metal(rng: np.random.Generator, p: Any, _: Any) -> None:
    from .patient import METAL_KINDS

    kinds = list(METAL_KINDS)
    p.metal = sorted(set(p.metal) | {str(k) for k in rng.choice(kinds, size=int(rng.integers(1, 3)), replace=False)})


def _oral_contrast(rng: np.random.Generator, p: Any, _: Any) -> None:
    p.oral_contrast = True
    p.oral_contrast_hu = float(rng.uniform(250, 650))


def _distended_stomach(rng: np.random.Generator, p: Any, s: Any) -> None:
    if not p.oral_contrast:
        _oral_contrast(rng, p, s)
    p.stomach_distension = float(rng.uniform(0.3, 1.0))


def _gastric_food(rng: np.random.Generator, p: Any, _: Any) -> None:
    p.gastric_food = float(rng.uniform(0.4, 1.0))


def _pet_ct(rng: np.random.Generator, p: Any, s: Any) -> None:
    s.slice_thickness = float(rng.choice([3.0, 3.75, 4.0, 5.0]))
    s.slice_spacing = s.slice_thickness if rng.random() < 0.7 else float(s.slice_thickness * rng.choice([0.5, 0.8]))
    s.kernel = "soft"
    s.kernel_name = str(rng.choice(["B30f", "Br38f", "B31s", "FC08", "SOFT"]))
    s.kvp = int(rng.choice([100, 120, 140], p=[0.15, 0.7, 0.15]))
    low_dose = rng.random() < 0.75
    s.noise_hu = round(float(np.clip(s.noise_hu * (rng.uniform(1.6, 2.8) if low_dose else 1.0), 5, 50)), 3)
    s.pixel_spacing = round(float(rng.uniform(500, 700)) / s.matrix, 5)
    s.center_x, s.center_y = float(rng.normal(0, 15)), float(rng.normal(20, 15))
    s.circle = True
    if rng.random() < 0.6:
        s.series_description = str(rng.choice(["CTAC 5.0", "CT WB 3.75", "PET/CT CT", "AC CT Body", "CT Body 3.0", "CT LD"]))


def _small_fov(rng: np.random.Generator, p: Any, s: Any) -> None:
    from .series import body_width_mm

    fov = float(np.clip(body_width_mm(p) * rng.uniform(0.55, 0.85), 180, 350))
    s.pixel_spacing = round(fov / s.matrix, 5)
    s.center_x, s.center_y = float(rng.uniform(-80, -30)), float(rng.normal(0, 12))


def _pelvis_only(rng: np.random.Generator, p: Any, s: Any) -> None:
    from .series import REGIONS

    (t0, t1), (b0, b1), _ = REGIONS["pelvis"]
    s.z_top = float(rng.uniform(t0, t1) * p.height)
    s.z_bottom = float(min(s.z_bottom, rng.uniform(b0, b1) * p.height))
    s.region = "pelvis"


CONDITIONS: dict[str, Condition] = {c.name: c for c in (
    Condition("paediatric", "patient", 0.03, _paediatric),
    Condition("obese", "patient", 0.04, _obese),
    Condition("thin", "patient", 0.03, _thin),
    Condition("arms_down", "patient", None, _arms_down),
    Condition("metal", "patient", None, _metal),
    Condition("oral_contrast", "patient", None, _oral_contrast),
    Condition("distended_stomach", "patient", None, _distended_stomach),
    Condition("gastric_food", "patient", None, _gastric_food),
    Condition("pet_ct", "series", 0.03, _pet_ct),
    Condition("small_fov", "series", 0.03, _small_fov),
    Condition("pelvis_only", "series", 0.03, _pelvis_only),
)}
"""Every condition by name, patient conditions first (the order they are drawn and applied in)."""


def check_conditions(names: Iterable[str]) -> tuple[str, ...]:
    """``names`` as a tuple, or a :class:`ConfigError` naming the unknown one and the known ones."""
    out = tuple(names)
    for n in out:
        if n not in CONDITIONS:
            raise ConfigError(f"unknown synthetic condition {n!r}; expected one of {', '.join(CONDITIONS)}")
    return out


def check_extra_rates(rates: Mapping[str, float]) -> dict[str, float]:
    """``rates`` (condition name -> extra probability per series) as a dict, or a :class:`ConfigError`
    naming an unknown condition or a rate outside [0, 1]."""
    out = {str(n): float(r) for n, r in dict(rates).items()}
    check_conditions(out)
    for n, r in out.items():
        if not 0.0 <= r <= 1.0:
            raise ConfigError(f"extra rate of condition {n!r} must be in [0, 1], got {r:g}")
    return out


def extra_conditions(key: Sequence[int], rates: Mapping[str, float]) -> tuple[str, ...]:
    """The conditions of ``rates`` (name -> probability) drawn for one series from a generator seeded
    by ``key``: one uniform draw per condition in name order, so the base draws are left as they were."""
    if not rates:
        return ()
    rng = np.random.default_rng([int(k) for k in key])
    return tuple(n for n in sorted(rates) if rng.random() < rates[n])


def apply_conditions(rng: np.random.Generator, level: str, patient: Any, series: Any = None, *,
                     draw: bool = True, force: Iterable[str] = ()) -> None:
    """Apply the conditions of ``level`` (``"patient"`` or ``"series"``) to the drawn records.

    With ``draw``, each condition that has a rate is drawn at it (one uniform draw each, in a fixed
    order); every condition of ``level`` named in ``force`` is applied too. The record
    (``patient``, or ``series`` for the series level) lists the applied ones in ``conditions``.
    """
    forced = set(check_conditions(force))
    record = patient if level == "patient" else series
    for c in CONDITIONS.values():
        if c.level != level:
            continue
        drawn = draw and c.rate is not None and rng.random() < c.rate
        if (drawn or c.name in forced) and c.name not in record.conditions:
            c.apply(rng, patient, series)
            record.conditions.append(c.name)


def force_conditions(key: Sequence[int], patient: Any, series: Any = None, force: Iterable[str] = ()) -> None:
    """Apply the conditions named in ``force`` (none drawn) at the patient level, or at the series
    level when ``series`` is given, from a generator seeded by ``key``; nothing when ``force`` is empty."""
    force = tuple(force)
    if force:
        level = "patient" if series is None else "series"
        apply_conditions(np.random.default_rng([int(k) for k in key]), level, patient, series, draw=False, force=force)
