"""Per-scan time of ``ctphase predict``: lazy reading at R=30% versus reading every slice.

Writes one synthetic 300-slice 512x512 CT series (uncompressed DICOM, a portal venous scan
from ``ctphase.synth``), then times, in one run and on the same files (warm page cache):

* ``lazy R=30%``   headers of all files, pixels of the 90 sampled slices only (what predict does);
* ``eager R=30%``  every slice decoded, then the same 90 slices classified;
* ``all slices``   every slice decoded and classified (R=100%).

Each row splits the time into headers / read / preprocess / model (median of ``--repeats``).

Usage::

    python benchmarks/predict_latency.py                 # bundled default model
    python benchmarks/predict_latency.py --model CKPT    # any checkpoint
    python benchmarks/predict_latency.py --engine torch  # eager PyTorch instead of ONNX Runtime
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from ctphase.inference import Classifier
from ctphase.io import load_series
from ctphase.phases import Phase
from ctphase.models.checkpoint import resolve_checkpoint
from ctphase.sampling import sample_slices, series_seed
from ctphase.synth import render_slices
from ctphase.synth.dataset import plan_series
from ctphase.synth.dicom_writer import StudyInfo, make_uid, write_dicom_series


def write_benchmark_series(folder: Path, n: int = 300, matrix: int = 512, seed: int = 7) -> Path:
    """A synthetic portal venous series of exactly ``n`` slices, ``matrix`` x ``matrix``."""
    patient, (series,) = plan_series(seed, 0, [Phase.VENOUS], matrix)
    z = np.linspace(series.z_top, series.z_bottom, n)
    series.slice_spacing = float(abs(z[1] - z[0]))
    series.slice_thickness = max(series.slice_thickness, series.slice_spacing)
    study = StudyInfo(
        patient_name="SYNTH^BENCHMARK", patient_id="SYNTHBENCH", sex="O", age=60,
        study_uid=make_uid(seed, "study"), frame_uid=make_uid(seed, "frame"), study_date=dt.date(2020, 1, 1),
        injection_time=dt.datetime(2020, 1, 1, 9, 0), accession="BENCH1", study_description="CT ABDOMEN",
    )
    uid = make_uid(seed, "series")
    for a in range(0, n, 20):
        hu = render_slices(patient, series, z[a : a + 20], matrix)
        write_dicom_series(folder, hu, z[a : a + 20] + patient.table_offset_mm, series, study, uid, seed, 1,
                           first_instance=a + 1, n_total=n)
    return folder


def run_once(folder: Path, clf: Classifier, rate: float, mode: str, seed: int = 0) -> dict[str, float]:
    """One timed prediction. ``mode``: ``lazy`` (sampled pixels only), ``eager`` (decode all), ``all`` (R=100%)."""
    t0 = time.perf_counter()
    series = load_series(folder)
    t_headers = time.perf_counter() - t0
    idx = sample_slices(series.n_slices, 1.0 if mode == "all" else rate, 8, series_seed(seed, series.series_id))
    t0 = time.perf_counter()
    if mode == "lazy":
        hu = series.read_slices(idx)
    else:
        hu = series.read_volume()[idx]
    t_read = time.perf_counter() - t0
    _, t_pre, t_model = clf.predict_hu(hu)
    return {"headers": t_headers, "read": t_read, "preprocess": t_pre, "model": t_model,
            "total": t_headers + t_read + t_pre + t_model, "slices": float(len(idx))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=None, help="checkpoint (default: the bundled model)")
    ap.add_argument("--engine", default="auto", choices=["auto", "torch", "onnx"])
    ap.add_argument("--rate", type=float, default=0.3)
    ap.add_argument("--slices", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=16)
    args = ap.parse_args()

    ckpt = resolve_checkpoint(args.model)
    clf = Classifier(ckpt, engine=args.engine, batch_size=args.batch_size)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        folder = write_benchmark_series(Path(tmp) / "series", n=args.slices)
        print(f"wrote {args.slices} slices 512x512 in {time.perf_counter() - t0:.1f} s")
        print(f"model {ckpt.name} ({clf.engine}, sha {clf.sha256[:12]}), input {clf.preprocessing.size} px, "
              f"batch {args.batch_size}, R={args.rate:.0%}, median of {args.repeats} runs, warm page cache\n")
        run_once(folder, clf, args.rate, "lazy")  # warm-up: page cache, ONNX session
        rows = {}
        for mode in ("lazy", "eager", "all"):
            runs = [run_once(folder, clf, args.rate, mode) for _ in range(args.repeats)]
            rows[mode] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    names = {"lazy": f"lazy R={args.rate:.0%}", "eager": f"eager R={args.rate:.0%}", "all": "all slices"}
    print(f"{'mode':<14}{'slices':>7}{'headers':>9}{'read':>8}{'prep':>8}{'model':>8}{'total s':>9}")
    for mode, r in rows.items():
        print(f"{names[mode]:<14}{int(r['slices']):>7}{r['headers']:>9.3f}{r['read']:>8.3f}{r['preprocess']:>8.3f}"
              f"{r['model']:>8.3f}{r['total']:>9.3f}")
    lazy, eager, full = rows["lazy"], rows["eager"], rows["all"]
    print(f"\nread time, eager / lazy: {eager['read'] / lazy['read']:.1f}x")
    print(f"total time, eager / lazy: {eager['total'] / lazy['total']:.2f}x; all slices / lazy: {full['total'] / lazy['total']:.2f}x")
    print(f"model share of lazy total: {lazy['model'] / lazy['total']:.0%}")


if __name__ == "__main__":
    main()
