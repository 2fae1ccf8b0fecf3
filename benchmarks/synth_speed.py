"""Speed of the synthetic engine on one core: fast-path slices/s at 224x224 (noise included), the
cost of planning realistic studies beside rendering one slice, and seconds per 512x512x300 DICOM series.

    OMP_NUM_THREADS=1 python benchmarks/synth_speed.py [--slices 320] [--no-dicom]
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from ctphase.synth import SeriesParams, iter_training_slices, patient_params, render_slices
from ctphase.synth.studies import plan_patient


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--slices", type=int, default=320)
    ap.add_argument("--no-dicom", action="store_true")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    it = iter_training_slices(0, 224, range(0, 1000), slices_per_series=16)
    list(itertools.islice(it, 16))  # warm-up (texture tiles)
    t = time.perf_counter()
    list(itertools.islice(it, args.slices))
    dt = time.perf_counter() - t
    print(f"fast path (iter_training_slices, 224x224, 16 slices/series, noise on): {args.slices / dt:.1f} slices/s")
    t = time.perf_counter()
    n = sum(len(plan_patient(1, i)) for i in range(200))
    plan_ms = (time.perf_counter() - t) / n * 1000
    print(f"realistic study plans (plan_patient, 200 patients): {plan_ms:.2f} ms per acquisition, "
          f"{plan_ms / (1000 * dt / args.slices):.2f} x the time of one fast-path slice")
    if args.no_dicom:
        return
    from ctphase.synth.dataset import _study_info, _write_series
    from ctphase.synth.dicom_writer import make_uid

    p = patient_params(0, 1)
    s = SeriesParams.draw(np.random.default_rng(0), p, phase="venous")
    s.slice_thickness = s.slice_spacing = 1.5
    z = s.z_top - np.arange(300) * 1.5
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        _write_series(Path(d) / "s", "dicom", p, s, z, z + p.table_offset_mm, _study_info(0, 1, p, "SYNTH000002"),
                      make_uid(0, 1, "series"), 0)
        dt = time.perf_counter() - t
    print(f"DICOM series 512x512x300 (1.5 mm, render + write): {dt:.1f} s")
    t = time.perf_counter()
    render_slices(p, s, z[:30], 512)
    print(f"  of which rendering: ~{(time.perf_counter() - t) * 10:.1f} s")


if __name__ == "__main__":
    main()
