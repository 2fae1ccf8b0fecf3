"""Per-series parameters: timing, scanner settings, scan range, vendor conventions and header text."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..phases import Phase
from .physiology import REF_ARRIVAL_S, SUBPHASE_WINDOWS, SUBPHASES_BY_PHASE, label_of

KERNELS: dict[str, dict[str, float]] = {
    # correlation length of noise (mm), in-plane PSF sigma (mm). Real STANDARD/B30-40 abdomen
    # recons at ~0.75 mm pixels show a lag-1 noise autocorrelation of ~0.55 and edges ~1.5 px wide
    "soft": {"corr_mm": 0.75, "psf_mm": 0.85},
    "standard": {"corr_mm": 0.55, "psf_mm": 0.7},
    "sharp": {"corr_mm": 0.35, "psf_mm": 0.45},
}
KERNEL_NAMES = {
    "soft": ["B30f", "SOFT", "FC03", "Br36", "UB"],
    "standard": ["STANDARD", "B40f", "FC08", "Br40", "I40f"],
    "sharp": ["B60f", "LUNG", "BONE", "FC51", "Br64", "YC"],
}

REGIONS: dict[str, tuple[tuple[float, float], tuple[float, float], float]] = {
    # name: (top z range, bottom z range, probability) in mm of the reference patient
    "abdomen_pelvis": ((15, 70), (-470, -420), 0.5),
    "upper_abdomen": ((10, 60), (-260, -170), 0.22),
    "chest_abdomen_pelvis": ((220, 300), (-480, -420), 0.14),
    "abdomen_to_thighs": ((15, 70), (-650, -520), 0.08),
    "neck_to_pelvis": ((300, 335), (-470, -430), 0.06),
    # never drawn here (probability 0, last, so the draws above are unchanged): the range of the
    # pelvis_only condition (ctphase.synth.conditions), and of the study's other series after it
    "pelvis": ((-270, -200), (-480, -420), 0.0),
}


@dataclass
class SeriesParams:
    """Every random draw of one series (one phase of one study).

    ``seconds_after_injection`` is None for a non-contrast series. z values (``z_top``,
    ``z_bottom``) are anatomical mm (0 = right hemidiaphragm); DICOM z adds the patient's
    ``table_offset_mm``.
    """

    phase: str = "venous"
    subphase: str = "portal_venous"
    seconds_after_injection: float | None = 70.0
    effective_time_s: float | None = 70.0
    kvp: int = 120
    kernel: str = "standard"
    kernel_name: str = "STANDARD"
    noise_hu: float = 12.0
    slice_thickness: float = 2.5
    slice_spacing: float = 2.5
    pixel_spacing: float = 0.75
    matrix: int = 512
    center_x: float = 0.0
    center_y: float = 0.0
    region: str = "abdomen_pelvis"
    z_top: float = 40.0
    z_bottom: float = -440.0
    streaks: bool = False
    rescale_intercept: int = -1024
    dtype: str = "int16"
    padding_hu: int | None = -3024
    circle: bool = True
    manufacturer: str = "SYNTHETIC"
    series_description: str | None = None
    contrast_agent: str | None = None
    noise_seed: int = 0
    series_index: int = 0
    conditions: list[str] = field(default_factory=list)

    @property
    def fov_mm(self) -> float:
        """Display field of view (mm) = pixel spacing x matrix."""
        return self.pixel_spacing * self.matrix

    @property
    def label(self) -> Phase:
        """4-class label."""
        return label_of(self.subphase)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict of every field."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SeriesParams:
        """Inverse of :meth:`to_dict` (a dict with ``boluses`` gives a :class:`MultiBolusSeries`)."""
        if cls is SeriesParams and "boluses" in d:
            return MultiBolusSeries(**d)
        return cls(**d)

    @classmethod
    def draw(
        cls,
        rng: np.random.Generator,
        patient: Any,
        phase: str | Phase | None = None,
        subphase: str | None = None,
        region: str | None = None,
        kvp: int | None = None,
        matrix: int = 512,
        series_index: int = 0,
    ) -> SeriesParams:
        """Draw a series of ``patient``: phase (uniform if None), subphase, time and scanner settings.

        Uncommon scans (:mod:`ctphase.synth.conditions`: PET/CT, small field of view, pelvis only)
        are drawn from a generator seeded by the series' ``noise_seed``, so they do not shift the
        draws of the other series of a study.
        """
        subphase, t, tau = _draw_timing(rng, patient, phase, subphase)
        if region is None:
            names = list(REGIONS)
            pr = np.array([REGIONS[n][2] for n in names])
            region = str(rng.choice(names, p=pr / pr.sum()))
        (t0, t1), (b0, b1), _ = REGIONS[region]
        kvp = int(kvp if kvp is not None else rng.choice([80, 100, 120, 140], p=[0.1, 0.3, 0.5, 0.1]))
        kernel = str(rng.choice(list(KERNELS), p=[0.4, 0.5, 0.1]))
        thick = float(rng.choice([0.625, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 5.0], p=[0.08, 0.08, 0.12, 0.1, 0.07, 0.1, 0.15, 0.12, 0.18]))
        spacing = thick if rng.random() < 0.75 else float(thick * rng.choice([0.5, 0.8]))
        if thick < 2 and rng.random() < 0.3:
            spacing = thick
        # thin slices are noisier; sharp kernels noisier; large patients noisier. Liver SD in real
        # abdominal CT at 50/400 is ~8-15 HU, up to ~25 in obese or thin-slice scans
        base = float(np.exp(rng.uniform(np.log(5), np.log(14))))
        noise = base * (2.5 / thick) ** 0.3 * {"soft": 0.85, "standard": 1.0, "sharp": 1.35}[kernel]
        noise *= (patient.scale * (1 + patient.sc_fat_mm / 120)) ** 1.5 * {80: 1.25, 100: 1.1, 120: 1.0, 140: 0.92}[kvp]
        noise = float(np.clip(noise, 4, 28))
        vendor = int(rng.integers(0, 4))
        intercept, dtype, padding = [(-1024, "uint16", None), (-1024, "int16", -3024), (0, "int16", -2000), (0, "int16", -3024)][vendor]
        if rng.random() < 0.2:
            padding = None
        manufacturer = ["SIEMENS", "GE MEDICAL SYSTEMS", "TOSHIBA", "Philips"][vendor]
        s = cls(
            phase=label_of(subphase).label,
            subphase=subphase,
            seconds_after_injection=t,
            effective_time_s=None if tau is None else round(tau, 3),
            kvp=kvp,
            kernel=kernel,
            kernel_name=str(rng.choice(KERNEL_NAMES[kernel])),
            noise_hu=round(noise, 3),
            slice_thickness=thick,
            slice_spacing=spacing,
            pixel_spacing=round(_pixel_spacing(rng, patient) * 512 / int(matrix), 5),
            matrix=int(matrix),
            center_x=float(rng.normal(0, 10)),
            center_y=float(rng.normal(5, 10)),
            region=region,
            z_top=float(rng.uniform(t0, t1) * patient.height),
            z_bottom=float(rng.uniform(b0, b1) * patient.height),
            streaks=bool(rng.random() < 0.5),
            rescale_intercept=intercept,
            dtype=dtype,
            padding_hu=padding,
            circle=bool(rng.random() < 0.8),
            manufacturer=manufacturer,
            series_description=_description(rng, subphase, thick),
            contrast_agent=_agent(rng, subphase),
            noise_seed=int(rng.integers(0, 2**31 - 1)),
            series_index=series_index,
        )
        from .conditions import apply_conditions

        apply_conditions(np.random.default_rng([s.noise_seed, 17]), "series", patient, s)
        return s


@dataclass
class MultiBolusSeries(SeriesParams):
    """A series that shows more than one bolus of contrast (written by ``--studies realistic``).

    ``boluses`` lists ``(seconds after that bolus started, share of the reference dose)``:
    a split bolus (e.g. ``[(70, 0.6), (25, 0.4)]``: portal venous and arterial enhancement in
    one scan) or a scan after a second injection (the first one's contrast still circulating and
    excreted). ``seconds_after_injection`` and ``subphase`` stay those of the label.
    """

    boluses: list[tuple[float, float]] | None = None


def _draw_timing(rng: np.random.Generator, patient: Any, phase: str | Phase | None,
                 subphase: str | None) -> tuple[str, float | None, float | None]:
    """Subphase (drawn from ``phase`` unless given), seconds after injection and effective time
    (both None for non-contrast); the time is rounded to 0.01 s and the effective time follows it."""
    if subphase is not None:
        if subphase != "non_contrast" and subphase not in SUBPHASE_WINDOWS:
            msg = f"unknown subphase {subphase!r}; expected non_contrast or one of {', '.join(SUBPHASE_WINDOWS)}"
            raise ConfigError(msg)
    else:
        ph = Phase(int(rng.integers(0, 4))) if phase is None else _parse_phase(phase)
        names, probs = zip(*SUBPHASES_BY_PHASE[ph])
        subphase = str(rng.choice(names, p=np.array(probs) / sum(probs)))
    if subphase == "non_contrast":
        return subphase, None, None
    lo, hi = SUBPHASE_WINDOWS[subphase]
    u = rng.random()
    if subphase == "excretory":
        tau = float(np.exp(np.log(lo) + u * (np.log(hi) - np.log(lo))))
    else:
        tau = float(lo + u * (hi - lo) * 0.999)
    t = round(tau + patient.bolus_arrival_s - REF_ARRIVAL_S, 2)
    tau = t - patient.bolus_arrival_s + REF_ARRIVAL_S
    return subphase, t, tau


def body_width_mm(patient: Any) -> float:
    """Approximate widest body diameter (mm) of a patient, for choosing the field of view."""
    return 2 * (130 * patient.scale * (1 + 0.22 * patient.visceral_fat) + patient.muscle_mm + patient.sc_fat_mm + 14 * patient.scale)


def _pixel_spacing(rng: np.random.Generator, patient: Any) -> float:
    # FOV is fitted to the patient: the body fills ~70-97% of the image width (real abdominal CT);
    # body_width_mm overestimates the painted width by ~10%
    u = rng.uniform(0.0, 1.0)
    fov = 0.9 * body_width_mm(patient) * (1.03 + 0.37 * u * u)
    return round(float(np.clip(fov / 512, 0.5, 1.0)), 4)


def _parse_phase(phase: str | Phase) -> Phase:
    try:
        return Phase.parse(phase)
    except ValueError as e:
        raise ConfigError(str(e)) from None


_DESC = {
    "non_contrast": ["NATIVE", "Nativ 5.0 B30f", "PRE", "PRE LIVER", "NON CON", "Sin contraste", "Senza mdc", "WO", "Abd plain", "blanco"],
    "arterial": ["ARTERIAL", "Arteriell 3.0", "AP", "Art", "LIVER 3 PHASE", "Arteriale", "early art", "CTA abd", "Fase arterial", "HCC Art"],
    "venous": ["PV", "Portal venous", "venös 3.0 B31f", "VENOUS", "ABD PEL 5mm", "Portale", "Fase venosa", "C+", "ABDOMEN", "Body 3.0"],
    "other": ["DELAY", "Delayed 5 min", "Spät", "EQP", "Tardiva", "Urogram", "Excretory", "Fase tardía", "late", "ABD/PELVIS"],
}


def _description(rng: np.random.Generator, subphase: str, thick: float) -> str | None:
    r = rng.random()
    if r < 0.12:
        return None
    if r < 0.3:
        return str(rng.choice(["Abdomen", "ABD/PELVIS", f"Body {thick:.1f}", "Recon 2", "AXIAL", f"{thick:.2f}mm"]))
    ph = label_of(subphase).label
    if r < 0.36:  # wrong on purpose
        ph = str(rng.choice([k for k in _DESC if k != ph]))
    return str(rng.choice(_DESC[ph]))


def _agent(rng: np.random.Generator, subphase: str) -> str | None:
    r = rng.random()
    if r < 0.35:
        return None
    if subphase == "non_contrast":
        return str(rng.choice(["", "NONE", "ORAL", "Omnipaque oral"])) if r < 0.5 else None
    return str(rng.choice(["APPLIED", "Omnipaque 350", "Iomeron 400", "Visipaque", "IV", "Ultravist 370", "CONTRAST", "Oral & IV", "60ml"]))
