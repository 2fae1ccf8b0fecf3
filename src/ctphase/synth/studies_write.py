"""Write realistic studies (:mod:`ctphase.synth.studies`) as DICOM: each acquisition is rendered once,
thin, in chunks; its other series are derived from those slices as they come (thick: means of
consecutive thin slices; bone: the thin slices sharpened; reformats: slabs of rows or columns of
the thin volume), so a study costs little more than its thin series."""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .dicom_writer import CORONAL, SAGITTAL, write_tagged_series
from .render import render_slices
from .studies import Acquisition, SeriesPlan, StudyPlan, plan_patient
from .studies_headers import clock_tags

REALISTIC_COLUMNS = ("acquisition_id", "acquisition_index", "injection", "reconstruction", "plane", "protocol",
                     "timing_tags", "header_text", "contrast_tags", "note")
"""Manifest columns added after the simple mode's ones (see :func:`write_realistic`)."""
CHUNK = 16


def write_realistic(out: Path, patients: range, seed: int, matrix: int, max_slices: int, columns: tuple[str, ...],
                    progress: Callable[[int, int], None] | None, written: list[str], marker: Path) -> Path:
    """Write the studies of ``patients`` under ``out``, ``records.jsonl`` and ``manifest.csv``.

    Manifest columns: ``columns`` (the simple mode's) then :data:`REALISTIC_COLUMNS`:
    ``acquisition_id`` (``SYNTH000001-1-2``: patient, study, acquisition; unique in the dataset),
    ``acquisition_index`` (true time order in the study, 0 first), ``injection`` (1 or 2; empty
    before any injection), ``reconstruction`` (``thin soft``, ``thick soft``, ``bone``, ``mpr``),
    ``plane`` (axial, coronal, sagittal), ``protocol`` (e.g. ``NC+A+V``), ``timing_tags`` (true,
    missing, rounded, wrong), ``header_text`` and ``contrast_tags`` (right, missing, wrong) and
    ``note`` (``split_bolus``, ``second_injection``, ``crosses_midnight``; ``;``-separated).
    ``seconds_after_injection`` counts from the acquisition's own injection.
    """
    plans = [p for i in patients for p in plan_patient(seed, i, matrix=matrix, max_slices=max_slices)]
    total = sum(len(p.series) for p in plans)
    done = 0
    rows = []
    with open(out / "records.jsonl", "w") as rec_f:
        for plan in plans:
            if plan.info.patient_id not in written:
                written.append(plan.info.patient_id)
                marker.write_text(json.dumps({"written": written}))
            for acq in plan.acquisitions:
                series = [sp for sp in plan.series if sp.acquisition == acq.index]
                write_acquisition(out, plan, acq, series, max_slices)
                for sp in series:
                    record = _record(plan, acq, sp)
                    (out / sp.folder).with_suffix(".json").write_text(json.dumps(record, indent=1))
                    rec_f.write(json.dumps(record) + "\n")
                    rows.append(_row(plan, acq, sp))
                    done += 1
                    if progress is not None:
                        progress(done, total)
    rows.sort(key=lambda r: (r[0].split("/")[0], r[0].split("/")[1], int(r[8]), r[0]))
    manifest = out / "manifest.csv"
    with open(manifest, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow((*columns, *REALISTIC_COLUMNS))
        w.writerows(rows)
    return manifest


def _row(plan: StudyPlan, acq: Acquisition, sp: SeriesPlan) -> list[Any]:
    notes = [n for n in (acq.note, "crosses_midnight" if plan.crosses_midnight else "") if n]
    return [sp.folder, acq.label, plan.info.patient_id, plan.info.study_uid, sp.series_uid, acq.subphase,
            "" if acq.seconds_after_injection is None else f"{acq.seconds_after_injection:.2f}",
            acq.acquisition_id, acq.index, acq.injection or "", sp.reconstruction, sp.plane, plan.protocol,
            sp.timing_tags, sp.header_text, sp.contrast_tags, ";".join(notes)]


def _record(plan: StudyPlan, acq: Acquisition, sp: SeriesPlan) -> dict[str, Any]:
    """The JSON record of one series: every draw behind it and the truth about its headers."""
    iso = dt.datetime.isoformat
    return {
        "path": sp.folder, "label": acq.label, "patient_id": plan.info.patient_id, "study_id": plan.info.study_uid,
        "series_id": sp.series_uid, "seed": plan.seed, "patient_index": plan.patient_index, "n_slices": sp.n_images,
        "patient": plan.patient.to_dict(), "series": sp.params.to_dict(),
        "study": {"study_index": plan.study_index, "protocol": plan.protocol, "timing": plan.timing,
                  "injections": [iso(t) for t in plan.injections], "registered": iso(plan.registered),
                  "crosses_midnight": plan.crosses_midnight},
        "acquisition": {"acquisition_id": acq.acquisition_id, "index": acq.index, "slot": acq.slot, "label": acq.label,
                        "subphase": acq.subphase, "injection": acq.injection,
                        "seconds_after_injection": acq.seconds_after_injection, "start": iso(acq.start),
                        "scan_seconds": acq.scan_seconds, "acquisition_number": acq.acquisition_number, "note": acq.note},
        "reconstruction": sp.reconstruction, "plane": sp.plane, "group": sp.group, "created": iso(sp.created),
        "timing_tags": sp.timing_tags, "header_text": sp.header_text, "contrast_tags": sp.contrast_tags,
        "tags": sp.tags,
    }


def write_acquisition(out: Path, plan: StudyPlan, acq: Acquisition, series: list[SeriesPlan], max_slices: int) -> None:
    """Render the thin slices of ``acq`` once, in chunks, and write every series of ``series`` from them."""
    p = acq.params
    n = acq.n_slices
    z = p.z_top - np.arange(n) * p.slice_spacing
    z_dicom = z + plan.patient.table_offset_mm
    frac = (z[0] - z) / max(float(z[0] - z[-1]), 1e-6)
    sinks = [_Sink(out, plan, acq, sp, z_dicom, frac) for sp in series]
    for a in range(0, n, CHUNK):
        hu = render_slices(plan.patient, p, z[a:a + CHUNK], p.matrix)
        for sink in sinks:
            sink.feed(hu, a)
    for sink in sinks:
        sink.close()


class _Sink:
    """One series fed with consecutive chunks of thin slices."""

    def __init__(self, out: Path, plan: StudyPlan, acq: Acquisition, sp: SeriesPlan, z_dicom: np.ndarray,
                 frac: np.ndarray) -> None:
        self.out, self.plan, self.acq, self.sp = out / sp.folder, plan, acq, sp
        self.z, self.frac = z_dicom, frac
        p = acq.params
        self.x0 = p.center_x - p.fov_mm / 2 + p.pixel_spacing / 2
        self.y0 = p.center_y - p.fov_mm / 2 + p.pixel_spacing / 2
        self.pad = float(p.padding_hu) if p.padding_hu is not None else -1024.0
        self.done = 0  # images written
        self.buf: list[np.ndarray] = []  # thin slices not yet averaged (thick)
        self.acc = None
        if sp.plane != "axial":
            self.acc = np.empty((sp.n_images, acq.n_slices, p.matrix), np.float32)

    def feed(self, hu: np.ndarray, a: int) -> None:
        """Take thin slices ``a .. a + len(hu) - 1``."""
        sp = self.sp
        if sp.plane != "axial":
            self._reformat(hu, a)
        elif sp.reconstruction == "thick soft":
            self.buf.extend(hu)
            g = sp.group
            k = min(len(self.buf) // g, sp.n_images - self.done)
            if k > 0:
                block = np.stack(self.buf[:k * g]).reshape(k, g, *hu.shape[1:]).mean(axis=1)
                del self.buf[:k * g]
                idx = np.arange(self.done, self.done + k) * g
                zc = self.z[idx[:, None] + np.arange(g)].mean(axis=1)
                self._write(block, zc, self.frac[idx])
        elif sp.reconstruction == "bone":
            self._write(self._sharpen(hu), self.z[a:a + len(hu)], self.frac[a:a + len(hu)])
        else:
            self._write(hu, self.z[a:a + len(hu)], self.frac[a:a + len(hu)])

    def _sharpen(self, hu: np.ndarray) -> np.ndarray:
        """A bone kernel from a soft one: unsharp mask (edges and noise up), the padding left as it was."""
        out = np.empty_like(hu)
        for k, s in enumerate(hu):
            sharp = s + 1.2 * (s - cv2.GaussianBlur(s, (0, 0), sigmaX=1.0, borderType=cv2.BORDER_REFLECT))
            out[k] = np.where(s == self.pad, s, sharp)
        return out

    def _reformat(self, hu: np.ndarray, a: int) -> None:
        sp = self.sp
        lo, hi = sp.span
        air = np.maximum(hu, -1024.0)  # padding outside the circle reads as air in a reformat
        c, g, n = len(hu), sp.group, sp.n_images
        if sp.plane == "coronal":
            slabs = air[:, lo:hi, :].reshape(c, n, g, -1).mean(axis=2)  # (c, n, cols)
            self.acc[:, a:a + c, :] = slabs.transpose(1, 0, 2)
        else:
            slabs = air[:, :, lo:hi].reshape(c, -1, n, g).mean(axis=3)  # (c, rows, n)
            self.acc[:, a:a + c, :] = slabs.transpose(2, 0, 1)

    def _write(self, images: np.ndarray, z: np.ndarray, frac: np.ndarray) -> None:
        pos = np.stack([np.full(len(z), self.x0), np.full(len(z), self.y0), z], axis=1)
        write_tagged_series(self.out, images, pos, self.sp.params, self.plan.info, self.sp.series_uid, self.plan.seed,
                            self.sp.tags, lambda k: clock_tags(self.plan, self.acq, self.sp, float(frac[k])),
                            first_instance=self.done + 1)
        self.done += len(images)

    def close(self) -> None:
        """Write what waits until the last slice (reformats)."""
        sp = self.sp
        if self.acc is None:
            return
        p = self.acq.params
        ps, g, lo = p.pixel_spacing, sp.group, sp.span[0]
        centres = (lo + np.arange(sp.n_images) * g + (g - 1) / 2) * ps
        if sp.plane == "coronal":
            pos = np.stack([np.full(sp.n_images, self.x0), self.y0 + centres, np.full(sp.n_images, self.z[0])], axis=1)
            orient = CORONAL
        else:
            pos = np.stack([self.x0 + centres, np.full(sp.n_images, self.y0), np.full(sp.n_images, self.z[0])], axis=1)
            orient = SAGITTAL
        write_tagged_series(self.out, self.acc, pos, sp.params, self.plan.info, sp.series_uid, self.plan.seed, sp.tags,
                            plane=(orient, (float(p.slice_spacing), float(ps))))
