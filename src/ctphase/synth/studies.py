"""Realistic synthetic studies: protocols, acquisitions in time, reconstructions, reformats and headers.

``ctphase synth --studies realistic`` (``generate_dataset(..., studies="realistic")``) writes each
synthetic patient's study (sometimes two, on different dates) as real archives hold them, so
that a study-level step (grouping series by study, linking the reconstructions of one
acquisition, ordering acquisitions in time, decoding the phases jointly) can be fitted and
measured:

- a **protocol** of 1 to 5 acquisitions of one injection (:data:`PROTOCOLS`, with frequencies),
  a split bolus (arterial and venous enhancement in one scan, labelled venous) or, rarely, a
  second injection; each acquisition's time after its injection, its subphase and label
  (:func:`ctphase.synth.subphase_at`, as in the simple mode);
- 1 to 3 **reconstructions** per acquisition (thin soft tissue, thick, bone kernel) as separate
  series sharing AcquisitionTime/Number and FrameOfReferenceUID, and sometimes coronal or
  sagittal **reformats** (DERIVED\\SECONDARY);
- **timing tags** true, removed (de-identified studies), rounded to the minute, wrong on a
  series, across midnight, ContrastBolusStartTime only where an injector logs it;
- **header text** right, missing or wrong (:mod:`ctphase.synth.studies_headers`).

The plan API draws a study without rendering anything, in about a millisecond:

``plan_study(seed, index, study=0, *, matrix=512, max_slices=400) -> StudyPlan`` and
``plan_patient(seed, index, ...) -> list[StudyPlan]`` (one or two studies). They depend only on
``(seed, index)`` and are exactly what ``generate_dataset(..., seed=seed, studies="realistic")``
writes for patient ``index``. A :class:`StudyPlan` holds the protocol, injection times and
:class:`Acquisition` s in true time order (``label``, ``subphase``, ``seconds_after_injection``,
``injection``, ``start``, ...) and every :class:`SeriesPlan` with the header values it carries
(``tags``: DICOM keyword -> value of its first image; a keyword absent from ``tags`` or None is
absent from the files, "" is present and empty) and the truth about them (``timing_tags``,
``header_text``, ``contrast_tags``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..errors import ConfigError
from .dataset import slice_positions
from .dicom_writer import StudyInfo, make_uid
from .patient import PatientParams
from .physiology import REF_ARRIVAL_S, label_of, subphase_at
from .series import KERNEL_NAMES, MultiBolusSeries, SeriesParams
from .stream import patient_params
from .studies_headers import STUDY_DESCRIPTIONS, pick, pick_weighted


@dataclass(frozen=True)
class Protocol:
    """A scan protocol: acquisition slots in time order and how often it is drawn.

    Slots: ``NC`` non-contrast, ``A`` arterial (bolus tracked, aimed at late arterial), ``EA``/``LA``
    early/late arterial, ``V`` venous, ``D`` delayed (transitional, equilibrium or excretory),
    ``U`` excretory (urography), ``SB`` split bolus, ``A2``/``V2`` after a second injection.
    """

    name: str
    slots: tuple[str, ...]
    p: float
    why: str


PROTOCOLS: tuple[Protocol, ...] = (
    Protocol("V", ("V",), 0.29, "routine abdomen/pelvis is one portal venous scan; archives gathered for phase "
             "work are enriched in multiphase studies, so less than the ~2/3 of routine"),
    Protocol("A+V", ("A", "V"), 0.14, "pancreas (pancreatic + portal venous phase), hypervascular tumours, GI bleeding"),
    Protocol("NC+A+V", ("NC", "A", "V"), 0.15, "triphasic liver; GI bleeding (non-contrast, arterial, venous)"),
    Protocol("NC+A+V+delayed", ("NC", "A", "V", "D"), 0.09, "LI-RADS multiphase liver CT: late arterial, portal "
             "venous and delayed, non-contrast recommended"),
    Protocol("NC+V", ("NC", "V"), 0.08, "adrenal and renal lesions, haematoma: unenhanced then venous"),
    Protocol("V+delayed", ("V", "D"), 0.07, "adrenal washout, cholangiocarcinoma, urinary tract"),
    Protocol("NC+V+excretory", ("NC", "V", "U"), 0.04, "CT urography / renal mass: unenhanced, nephrographic, excretory"),
    Protocol("EA+LA+V", ("EA", "LA", "V"), 0.04, "double arterial liver protocol (HCC)"),
    Protocol("EA+LA", ("EA", "LA"), 0.01, "double arterial phase only (CTA-like)"),
    Protocol("NC+EA+LA+V+delayed", ("NC", "EA", "LA", "V", "D"), 0.01, "full dynamic liver study, 5 acquisitions"),
    Protocol("split bolus", ("SB",), 0.03, "single-pass trauma CT with a split bolus: arterial and portal venous "
             "enhancement in one scan (labelled venous)"),
    Protocol("V|V2", ("V", "V2"), 0.03, "a venous scan repeated after a second bolus (failed bolus, extravasation)"),
    Protocol("A+V|V2", ("A", "V", "V2"), 0.02, "biphasic study plus a later venous scan after a second injection"),
)
"""Protocol mix of realistic studies (sums to 1); ``why`` says what each stands for."""
P_SECOND_STUDY = 0.15
"""Share of patients with a second study on a later date (follow-up)."""
P_FORCE_MIDNIGHT = 0.02
"""Share of studies placed across midnight (besides on-call studies that cross it by chance)."""
TIMING_MODES = (("true", 0.77), ("missing", 0.15), ("rounded", 0.08))
"""Time tags of whole studies: kept; removed or emptied (de-identification by PS3.15's basic profile
without its 'retain longitudinal temporal information' option); truncated to the minute (some
exports and anonymisers)."""
P_WRONG_TIME = 0.04
"""Share of axial series, in studies with times, whose clock is off (restamped when re-sent or
re-reconstructed, or an hour off); reformats 0.25 (workstations stamp their creation time)."""
SOFT_KERNELS = {"SIEMENS": ("B30f", "B31f", "Br36", "I31f", "Br40"), "GE MEDICAL SYSTEMS": ("STANDARD", "SOFT"),
                "TOSHIBA": ("FC03", "FC08", "FC18"), "Philips": ("B", "UB", "C")}
THIN_MM = {"SIEMENS": (0.6, 0.75, 1.0, 1.5), "GE MEDICAL SYSTEMS": (0.625, 1.25), "TOSHIBA": (0.5, 1.0),
           "Philips": (0.67, 0.9, 1.0)}
"""Thin slice thicknesses each vendor reconstructs (the acquisition is rendered at this spacing)."""


@dataclass
class Acquisition:
    """One pass of the table, reconstructed into one or more series.

    ``index``: true time order in the study (0 first); ``slot``: the protocol slot it was meant
    for (:class:`Protocol`); ``subphase`` and ``label`` follow its time; ``injection``: 0 before
    any injection (non-contrast), else 1 or 2; ``seconds_after_injection``: after the start of
    that injection (None for non-contrast); ``start``: true time of its first (top) slice (the
    series' tags may say otherwise); ``params``: the thin series as rendered (a
    :class:`~ctphase.synth.series.MultiBolusSeries` when a split bolus or an earlier injection
    shows too); ``note``: ``split_bolus``, ``second_injection`` or "".
    """

    index: int
    acquisition_id: str
    slot: str
    subphase: str
    label: str
    injection: int
    seconds_after_injection: float | None
    start: dt.datetime
    scan_seconds: float
    acquisition_number: int
    params: SeriesParams
    n_slices: int
    note: str = ""


@dataclass
class SeriesPlan:
    """One DICOM series: a reconstruction or a reformat of an acquisition, and its header values.

    ``reconstruction``: ``thin soft`` (the rendered slices), ``thick soft`` (means of ``group`` thin
    slices), ``bone`` (thin slices sharpened) or ``mpr`` (``plane`` coronal or sagittal: slabs of
    ``group`` image rows or columns, ``span`` their pixel range in the axial images). ``created``:
    true time the series was made (SeriesTime); ``shift_s``: offset of its clock when
    ``timing_tags`` is ``wrong``. ``tags``: see :mod:`ctphase.synth.studies`.
    """

    acquisition: int
    series_uid: str
    series_number: int
    reconstruction: str
    plane: str
    params: SeriesParams
    n_images: int
    group: int
    created: dt.datetime
    content_delay_s: float
    folder: str
    span: tuple[int, int] | None = None
    shift_s: float = 0.0
    timing_tags: str = "true"
    header_text: str = "missing"
    contrast_tags: str = "missing"
    tags: dict[str, Any] = field(default_factory=dict)


@dataclass
class StudyPlan:
    """One realistic study of one synthetic patient, drawn by :func:`plan_study`.

    ``info``: identity written to every file (UIDs, patient, accession, study description);
    ``protocol``: a :data:`PROTOCOLS` name; ``injections``: start of each injection;
    ``registered``: StudyDate/StudyTime; ``timing``: ``true``, ``missing`` (``missing_kind``
    ``removed`` or ``emptied``) or ``rounded`` for the whole study; ``per_image_times``: whether
    AcquisitionTime runs over the images or stays the scan's start; ``acquisition_datetime``:
    whether AcquisitionDateTime is written; ``crosses_midnight``: its true times span two dates.
    """

    seed: int
    patient_index: int
    study_index: int
    patient: PatientParams
    info: StudyInfo
    protocol: str
    injections: list[dt.datetime]
    registered: dt.datetime
    timing: str
    missing_kind: str
    per_image_times: bool
    acquisition_datetime: bool
    crosses_midnight: bool
    acquisitions: list[Acquisition] = field(default_factory=list)
    series: list[SeriesPlan] = field(default_factory=list)

    @property
    def labels(self) -> list[str]:
        """The label of every acquisition, in time order."""
        return [a.label for a in self.acquisitions]


def plan_patient(seed: int, index: int, *, matrix: int = 512, max_slices: int = 400) -> list[StudyPlan]:
    """The one or two studies of patient ``index`` (dates ascending)."""
    rng = np.random.default_rng([int(seed), int(index), 39])
    n = 2 if rng.random() < P_SECOND_STUDY else 1
    first = dt.date(2015, 1, 1) + dt.timedelta(days=int(rng.integers(0, 3000)))
    dates = [first, first + dt.timedelta(days=int(rng.integers(30, 700)))][:n]
    patient = patient_params(seed, index)
    return [_plan(seed, index, k, d, patient.age + (d - first).days // 365, patient, matrix, max_slices)
            for k, d in enumerate(dates)]


def plan_study(seed: int, index: int, study: int = 0, *, matrix: int = 512, max_slices: int = 400) -> StudyPlan:
    """Study ``study`` (0 or, for some patients, 1) of patient ``index``: see the module docstring."""
    plans = plan_patient(seed, index, matrix=matrix, max_slices=max_slices)
    if not 0 <= study < len(plans):
        raise ConfigError(f"patient {index} of seed {seed} has {len(plans)} study(ies); study={study} does not exist")
    return plans[study]


def _plan(seed: int, index: int, k: int, date: dt.date, age: int, patient: PatientParams, matrix: int,
          max_slices: int) -> StudyPlan:
    from .studies_series import plan_series

    rng = np.random.default_rng([int(seed), int(index), 40, k])
    proto = pick_weighted(rng, [(p, p.p) for p in PROTOCOLS])
    base = _scanner(rng, patient, matrix)
    ranges = [_coverage(rng, slot, base, patient) for slot in proto.slots]
    speed = rng.uniform(40, 90)  # table feed, mm/s
    scans = [float(np.clip((top - bottom) / speed, 2.0, 20.0)) for top, bottom in ranges]
    timeline = _timeline(rng, patient, proto.slots, scans)
    pid = f"SYNTH{index + 1:06d}"
    injection = _injection_time(rng, date, timeline, scans)
    info = StudyInfo(
        patient_name=f"SYNTH^PATIENT{index + 1:04d}", patient_id=pid, sex=patient.sex, age=age,
        study_uid=make_uid(seed, index, "realistic", k, "study"),
        frame_uid=make_uid(seed, index, "realistic", k, "frame"), study_date=date, injection_time=injection,
        accession=f"SYR{seed % 1000:03d}{index + 1:06d}{k}",
        study_description=None if rng.random() < 0.1 else pick(rng, STUDY_DESCRIPTIONS),
        patient_position="HFS" if rng.random() < 0.9 else "FFS",
    )
    offset = 1 if rng.random() < 0.25 else 0  # the scout counted as acquisition 1
    acqs = []
    for i, (ev, (top, bottom), scan_s) in enumerate(zip(timeline, ranges, scans)):
        params = _acquisition_params(rng, base, ev, top, bottom, i)
        n = len(slice_positions(params, max_slices))
        acqs.append(Acquisition(
            index=i, acquisition_id=f"{pid}-{k + 1}-{i + 1}", slot=ev["slot"], subphase=params.subphase,
            label=params.phase, injection=ev["injection"], seconds_after_injection=params.seconds_after_injection,
            start=injection + dt.timedelta(seconds=ev["t"]), scan_seconds=round(scan_s, 3),
            acquisition_number=i + 1 + offset, params=params, n_slices=n, note=ev["note"],
        ))
    times = _clock_style(rng)
    injections = [injection] + [injection + dt.timedelta(seconds=ev["t"] - ev["since"]) for ev in timeline
                                if ev["injection"] == 2][:1]
    registered = acqs[0].start - dt.timedelta(seconds=float(rng.uniform(120, 420)))
    plan = StudyPlan(seed=int(seed), patient_index=int(index), study_index=k, patient=patient, info=info,
                     protocol=proto.name, injections=injections, registered=registered, crosses_midnight=False,
                     acquisitions=acqs, **times)
    plan.series = plan_series(rng, plan, f"{pid}/ST{k + 1}")
    ends = [a.start + dt.timedelta(seconds=a.scan_seconds) for a in acqs]
    ends += [sp.created + dt.timedelta(seconds=sp.content_delay_s + acqs[sp.acquisition].scan_seconds) for sp in plan.series]
    plan.crosses_midnight = max(ends).date() != registered.date()
    return plan


def _scanner(rng: np.random.Generator, patient: PatientParams, matrix: int) -> SeriesParams:
    """The study's scanner and thin soft-tissue reconstruction (vendor, kVp, field of view, noise)."""
    base = SeriesParams.draw(rng, patient, subphase="portal_venous", matrix=matrix)
    thin = float(pick(rng, THIN_MM.get(base.manufacturer, (1.0,))))
    kernel = "soft" if rng.random() < 0.45 else "standard"
    noise = float(np.clip(base.noise_hu * (base.slice_thickness / thin) ** 0.3, 4, 28))
    spacing = thin if rng.random() < 0.75 else round(thin * 0.8, 3)
    name = str(pick(rng, SOFT_KERNELS.get(base.manufacturer, KERNEL_NAMES[kernel])))
    return replace(base, kernel=kernel, kernel_name=name, slice_thickness=thin,
                   slice_spacing=spacing, noise_hu=round(noise, 3), series_description=None, contrast_agent=None)


MIN_COVERAGE_MM = 60.0
"""A liver-only or kidneys-to-bladder cut of an acquisition's range is kept only if it leaves this much
(mm, times the height factor): a base range that is already short (pelvis only) is scanned whole, where
the cut used to leave an empty range and stopped the writer with an IndexError."""


def _coverage(rng: np.random.Generator, slot: str, base: SeriesParams, patient: PatientParams) -> tuple[float, float]:
    """Scan range (anatomical z top, bottom) of an acquisition: arterial and unenhanced scans may cover the
    liver only, delayed ones kidneys to bladder."""
    top, bottom = base.z_top, base.z_bottom
    h = patient.height
    if slot in ("A", "EA", "LA", "A2") and rng.random() < 0.35 or slot == "NC" and rng.random() < 0.3:
        cut = float(max(bottom, rng.uniform(-260, -180) * h))
        bottom = cut if cut <= top - MIN_COVERAGE_MM * h else bottom
    elif slot in ("D", "U") and rng.random() < 0.35:
        cut = float(min(top, rng.uniform(-100, -60) * h))
        top = cut if cut >= bottom + MIN_COVERAGE_MM * h else top
    return top, bottom


def _slot_tau(rng: np.random.Generator, slot: str) -> float:
    """Effective time (s, the curves' clock) a slot is scanned at: fixed delays or bolus tracking, spread
    by the operator; the label follows the time, so an 'arterial' scan may come out venous."""
    if slot in ("A", "A2"):
        return float(np.clip(rng.normal(38, 5), 22, 52))
    if slot == "EA":
        return float(rng.uniform(20, 30))
    if slot == "LA":
        return float(np.clip(rng.normal(42, 4), 34, 50))
    if slot == "SB":  # the first bolus's time; the second one's is drawn by _timeline
        return float(rng.uniform(60, 90))
    if slot in ("V", "V2"):
        return float(np.clip(rng.normal(70, 8) if rng.random() < 0.8 else rng.normal(100, 8), 52, 125))
    if slot == "U" or (slot == "D" and rng.random() < 0.25):
        lo, hi = (420.0, 900.0) if slot == "U" else (300.0, 900.0)
        return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    return float(rng.uniform(130, 180) if rng.random() < 1 / 3 else rng.uniform(180, 300))


def _timeline(rng: np.random.Generator, patient: PatientParams, slots: tuple[str, ...], scans: list[float]) -> list[dict]:
    """Each acquisition's start ``t`` (s after the first injection; negative before it), its injection,
    seconds after that injection (``since``), boluses seen and note. Later slots of one injection start
    after the previous scan ended plus a pause (6-12 s)."""
    lag = patient.bolus_arrival_s - REF_ARRIVAL_S  # t = tau + lag
    events: list[dict] = []
    inj_at, prev_end, last_end = 0.0, -1e9, 0.0
    for slot, scan_s in zip(slots, scans):
        ev = {"slot": slot, "injection": 1, "boluses": None, "note": ""}
        if slot == "NC":
            ev.update(t=-float(scan_s + rng.uniform(45, 240)), injection=0, since=None, tau=None)
            events.append(ev)
            continue
        if slot.endswith("2") and inj_at == 0.0:
            inj_at, prev_end = last_end + float(rng.uniform(600, 2400)), -1e9
            ev["note"] = "second_injection"
        tau = max(_slot_tau(rng, slot), prev_end + float(rng.uniform(6, 12)))
        since = round(tau + lag, 2)
        tau = since - lag
        ev.update(t=inj_at + since, since=since, tau=tau, injection=2 if inj_at else 1)
        if slot == "SB":
            ev["note"] = "split_bolus"
            ev["boluses"] = [(since, 0.6), (round(float(rng.uniform(25, 45)) + lag, 2), 0.4)]
        elif inj_at:
            ev["boluses"] = [(round(ev["t"], 2), 1.0), (since, float(rng.uniform(0.5, 1.0)))]
        prev_end = ev["tau"] + scan_s
        last_end = ev["t"] + scan_s
        events.append(ev)
    return events


def _injection_time(rng: np.random.Generator, date: dt.date, timeline: list[dict], scans: list[float]) -> dt.datetime:
    """Start of the first injection: daytime mostly, on call in 20%; 2% placed so the study crosses midnight."""
    midnight = dt.datetime.combine(date, dt.time(0)) + dt.timedelta(days=1)
    if rng.random() < P_FORCE_MIDNIGHT:
        first, last = timeline[0]["t"], timeline[-1]["t"] + scans[-1]
        return midnight - dt.timedelta(seconds=round(float(rng.uniform(first, last)), 3))
    if rng.random() < 0.8:
        tod = 7.5 * 3600 + rng.uniform(0, 10.5 * 3600)
    else:
        tod = 18 * 3600 + rng.uniform(0, 13.5 * 3600)
    return dt.datetime.combine(date, dt.time(0)) + dt.timedelta(seconds=round(float(tod), 3))


def _clock_style(rng: np.random.Generator) -> dict[str, Any]:
    """How the study's archive keeps time (see :data:`TIMING_MODES`) and the scanner's time habits."""
    return {
        "timing": pick_weighted(rng, TIMING_MODES),
        "missing_kind": "removed" if rng.random() < 0.5 else "emptied",
        "per_image_times": bool(rng.random() < 0.5),  # AcquisitionTime per image, or the scan's start on all
        "acquisition_datetime": bool(rng.random() < 0.5),  # AcquisitionDateTime written too
    }


def _acquisition_params(rng: np.random.Generator, base: SeriesParams, ev: dict, top: float, bottom: float,
                        i: int) -> SeriesParams:
    """The thin soft-tissue series of one acquisition, as rendered: its time, subphase and label, range, noise draw."""
    tau = ev["tau"]
    sub = subphase_at(tau)
    cls = MultiBolusSeries if ev["boluses"] else SeriesParams
    fields = {f: getattr(base, f) for f in SeriesParams.__dataclass_fields__}
    fields.update(
        phase=label_of(sub).label, subphase=sub, seconds_after_injection=ev["since"],
        effective_time_s=None if tau is None else round(tau, 3), z_top=top, z_bottom=bottom,
        streaks=bool(rng.random() < 0.5), noise_seed=int(rng.integers(0, 2**31 - 1)), series_index=i,
    )
    if ev["boluses"]:
        fields["boluses"] = ev["boluses"]
    return cls(**fields)
