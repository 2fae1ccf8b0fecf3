"""Write synthetic multiphase studies to disk (DICOM or NIfTI) with a manifest and JSON records."""

from __future__ import annotations

import csv
import datetime as dt
import json
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..phases import PHASE_NAMES, Phase
from .conditions import check_conditions, force_conditions
from .patient import PatientParams
from .render import render_slices
from .series import SeriesParams
from .stream import _parse_phases, patient_params

MARKER = ".ctphase-synth"
MANIFEST_COLUMNS = ("path", "label", "patient_id", "study_id", "series_id", "subphase", "seconds_after_injection")
FORMATS = ("dicom", "nifti")
STUDY_MODES = ("simple", "realistic")
"""``simple``: one study per patient, one series per phase; ``realistic``: see :mod:`ctphase.synth.studies`."""


def _check_out(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} exists and is not a folder; choose a new or empty folder")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise ConfigError(f"--out {out} is not empty; choose an empty folder or pass --overwrite to replace a previous ctphase synth output")
        if not (out / MARKER).is_file():
            raise ConfigError(
                f"--out {out} holds files that ctphase synth did not write; refusing to overwrite them (choose an empty folder)"
            )
        _remove_previous(out)


def _remove_previous(out: Path) -> None:
    """Delete what a previous run listed in its marker (and nothing else)."""
    listed = json.loads((out / MARKER).read_text() or "{}").get("written", [])
    for rel in listed:
        p = (out / rel).resolve()
        if out.resolve() not in p.parents:
            continue
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()


def plan_series(seed: int, index: int, phases: Sequence[Phase], matrix: int,
                force: Sequence[str] = ()) -> tuple[PatientParams, list[SeriesParams]]:
    """The patient and the series of its study (time order), all drawn from ``(seed, index)``;
    ``force`` names conditions (:mod:`ctphase.synth.conditions`) given to the patient and every series."""
    patient = patient_params(seed, index)
    force_conditions((seed, index, 5), patient, force=force)
    rng = np.random.default_rng([int(seed), int(index), 2])
    region = None
    series = []
    kvp = int(rng.choice([80, 100, 120, 140], p=[0.1, 0.3, 0.5, 0.1]))
    for k, ph in enumerate(phases):
        s = SeriesParams.draw(rng, patient, phase=ph, region=region, kvp=kvp, matrix=matrix, series_index=k)
        region = region or s.region
        if rng.random() < 0.25:  # e.g. an arterial series covering only the liver
            s.z_bottom = float(max(s.z_bottom, rng.uniform(-260, -180) * patient.height))
        force_conditions((seed, index, 6, k), patient, s, force)
        series.append(s)
    series.sort(key=lambda s: -1.0 if s.seconds_after_injection is None else s.seconds_after_injection)
    for k, s in enumerate(series):
        s.series_index = k
    return patient, series


def slice_positions(series: SeriesParams, max_slices: int) -> np.ndarray:
    """Anatomical z of every slice, top to bottom; widens spacing/thickness if over ``max_slices``."""
    extent = series.z_top - series.z_bottom
    n = int(extent / series.slice_spacing) + 1
    if n > max_slices:
        f = n / max_slices
        series.slice_spacing = round(series.slice_spacing * f, 3)
        series.slice_thickness = round(max(series.slice_thickness, series.slice_spacing), 3)
        n = int(extent / series.slice_spacing) + 1
    return series.z_top - np.arange(n) * series.slice_spacing


def generate_dataset(
    out: Path,
    patients: int,
    seed: int = 0,
    phases: Sequence[str | Phase] = PHASE_NAMES,
    fmt: str = "dicom",
    matrix: int = 512,
    progress: Callable[[int, int], None] | None = None,
    *,
    overwrite: bool = False,
    max_slices: int = 400,
    first_patient: int = 0,
    studies: str = "simple",
    force: Sequence[str] = (),
) -> Path:
    """Write ``patients`` synthetic patients, one study each with one series per phase.

    Layout: ``out/SYNTH0001/study/02_arterial/IM00001.dcm`` (or ``.../02_arterial.nii.gz``), a JSON
    record of every drawn parameter beside each series, ``out/records.jsonl`` and ``out/manifest.csv``
    (path,label,patient_id,study_id,series_id,subphase,seconds_after_injection; paths relative to ``out``).

    With ``studies="realistic"`` (DICOM only; ``phases`` left at its default) each patient gets one
    or two studies as real archives hold them: a drawn protocol of 1-5 acquisitions, 1-3
    reconstructions and sometimes reformats of each, time tags and header text right, missing or
    wrong, laid out as ``out/SYNTH000001/ST1/SE0002/IM00001.dcm``; the manifest adds the columns of
    :func:`ctphase.synth.studies_write.write_realistic` (see :mod:`ctphase.synth.studies`).

    ``force`` (simple studies) gives every patient and series the named uncommon conditions of
    :mod:`ctphase.synth.conditions` (e.g. ``["pet_ct"]`` for a PET/CT-like stress set).

    Args:
        progress: called as ``progress(done_series, total_series)``.
    Returns:
        path of the manifest.
    Raises:
        ConfigError: bad arguments, or ``out`` not empty (see ``overwrite``).
    """
    plist = _check_args(patients, fmt, matrix, max_slices, phases, studies)
    force = check_conditions(force)
    if force and studies == "realistic":
        raise ConfigError("--condition applies to --studies simple; realistic studies draw their conditions")
    out = Path(out)
    _check_out(out, overwrite)
    out.mkdir(parents=True, exist_ok=True)
    written: list[str] = ["manifest.csv", "records.jsonl"]
    (out / MARKER).write_text(json.dumps({"written": written}))
    if studies == "realistic":
        from .studies_write import write_realistic

        return write_realistic(out, range(first_patient, first_patient + int(patients)), seed, matrix, max_slices,
                               MANIFEST_COLUMNS, progress, written, out / MARKER)
    rows = _write_simple(out, range(first_patient, first_patient + int(patients)), seed, plist, fmt, matrix,
                         max_slices, force, progress, written)
    manifest = out / "manifest.csv"
    with open(manifest, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(MANIFEST_COLUMNS)
        w.writerows(rows)
    return manifest


def _write_simple(out: Path, patients: range, seed: int, plist: list[Phase], fmt: str, matrix: int, max_slices: int,
                  force: Sequence[str], progress: Callable[[int, int], None] | None, written: list[str]) -> list[list[str]]:
    """Write the simple studies of ``patients`` and their records; the manifest rows."""
    total = len(patients) * len(plist)
    done = 0
    rows = []
    with open(out / "records.jsonl", "w") as rec_f:
        for i in patients:
            patient, series_list = plan_series(seed, i, plist, matrix, force)
            pid = f"SYNTH{i + 1:06d}"
            written.append(pid)
            study = _study_info(seed, i, patient, pid)
            for s in series_list:
                sdir_name = f"{s.series_index + 1:02d}_{s.phase}"
                z = slice_positions(s, max_slices)
                z_dicom = z + patient.table_offset_mm
                series_uid = _uid(seed, i, "series", s.series_index)
                rel = Path(pid) / "study" / (sdir_name if fmt == "dicom" else f"{sdir_name}.nii.gz")
                _write_series(out / rel, fmt, patient, s, z, z_dicom, study, series_uid, seed)
                record = {
                    "path": rel.as_posix(), "label": s.phase, "patient_id": pid, "study_id": study.study_uid,
                    "series_id": series_uid, "seed": seed, "patient_index": i, "n_slices": len(z),
                    "patient": patient.to_dict(), "series": s.to_dict(),
                }
                (out / rel.parent / f"{sdir_name}.json").write_text(json.dumps(record, indent=1))
                rec_f.write(json.dumps(record) + "\n")
                rows.append([rel.as_posix(), s.phase, pid, study.study_uid, series_uid, s.subphase,
                             "" if s.seconds_after_injection is None else f"{s.seconds_after_injection:.2f}"])
                done += 1
                if progress is not None:
                    progress(done, total)
            (out / MARKER).write_text(json.dumps({"written": written}))
    return rows


def _check_args(patients: int, fmt: str, matrix: int, max_slices: int, phases: Sequence[str | Phase],
                studies: str) -> list[Phase]:
    """Check the arguments of :func:`generate_dataset`; the phases, parsed."""
    if int(patients) < 1:
        raise ConfigError(f"--patients must be >= 1, got {patients}")
    if fmt not in FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if not 32 <= int(matrix) <= 2048:
        raise ConfigError(f"--matrix must be between 32 and 2048, got {matrix}")
    if max_slices < 2:
        raise ConfigError(f"max_slices must be >= 2, got {max_slices}")
    plist = _parse_phases(phases)
    if studies not in STUDY_MODES:
        raise ConfigError(f"--studies must be one of {', '.join(STUDY_MODES)}, got {studies!r}")
    if studies == "realistic" and fmt != "dicom":
        raise ConfigError("--studies realistic writes DICOM only (its point is the headers); use --format dicom")
    if studies == "realistic" and plist != list(Phase):
        raise ConfigError(
            "--phases applies to --studies simple; realistic studies draw their protocols (leave --phases out)"
        )
    return plist


def _uid(seed: int, i: int, *parts: object) -> str:
    from .dicom_writer import make_uid

    return make_uid(seed, i, *parts)


def _study_info(seed: int, i: int, patient: PatientParams, pid: str):
    from .dicom_writer import StudyInfo

    rng = np.random.default_rng([int(seed), int(i), 3])
    date = dt.date(2015, 1, 1) + dt.timedelta(days=int(rng.integers(0, 3000)))
    inj = dt.datetime.combine(date, dt.time(7, 30)) + dt.timedelta(seconds=int(rng.integers(0, 10 * 3600)))
    desc = [None, "CT ABDOMEN", "ABD/PELVIS", "CT Abdomen mit KM", "TC ADDOME", "Leber 3-Phasen", "TAC ABDOMEN", "LIVER 3 PHASE"]
    return StudyInfo(
        patient_name=f"SYNTH^PATIENT{i + 1:04d}", patient_id=pid, sex=patient.sex, age=patient.age,
        study_uid=_uid(seed, i, "study"), frame_uid=_uid(seed, i, "frame"), study_date=date, injection_time=inj,
        accession=f"SYN{seed % 1000:03d}{i + 1:07d}", study_description=desc[int(rng.integers(len(desc)))],
        patient_position="HFS" if rng.random() < 0.85 else "FFS",
    )


def _write_series(path: Path, fmt: str, patient: PatientParams, s: SeriesParams, z: np.ndarray, z_dicom: np.ndarray,
                  study, series_uid: str, seed: int, chunk: int = 16) -> None:
    if fmt == "nifti":
        from .nifti_writer import write_nifti

        hu = np.concatenate([render_slices(patient, s, z[a:a + chunk], s.matrix) for a in range(0, len(z), chunk)])
        write_nifti(path, hu, z_dicom, s)
        return
    from .dicom_writer import acquisition_start, write_dicom_series

    start = acquisition_start(study, s, s.series_index)
    scan_s = float(np.clip(len(z) * s.slice_spacing / 60.0, 2.0, 15.0))
    for a in range(0, len(z), chunk):
        hu = render_slices(patient, s, z[a:a + chunk], s.matrix)
        write_dicom_series(path, hu, z_dicom[a:a + chunk], s, study, series_uid, seed, s.series_index + 1,
                           first_instance=a + 1, start=start, scan_seconds=scan_s, n_total=len(z))
