"""Peak memory of ``ctphase predict`` on a short and a long series, chunked versus all-at-once.

Writes two synthetic 512x512 DICOM series (48 and 2000 slices; the long one repeats 50
rendered slices at 2000 distinct positions: memory does not depend on the content), then, for
each series and each way of reading, starts a fresh Python process that discovers the series,
loads the bundled model and classifies it at R=30%, and reports that process's peak resident
memory (``ru_maxrss``):

* ``chunked``   the sampled slices decoded, checked and classified 32 at a time (what predict does);
* ``at once``   all sampled slices decoded before classification (the behaviour before chunking).

Usage::

    python benchmarks/predict_memory.py            # ~2-3 min on 2 cores, ~1.1 GB of temporary files
    python benchmarks/predict_memory.py --long 1000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

CHILD = r"""
import json, resource, sys
from ctphase.inference import Classifier
from ctphase.io import discover
from ctphase.models.checkpoint import resolve_checkpoint
from ctphase.pipeline import predict_series
folder, chunk = sys.argv[1], int(sys.argv[2])
(series,) = discover([folder]).series
clf = Classifier(resolve_checkpoint(None), device="cpu", engine="onnx")
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
p = predict_series(series, clf, sample_rate=0.3, seed=0, chunk=chunk)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"n_slices": series.n_slices, "n_sampled": len(p.sampled_indices), "label": p.label,
                  "peak_mb": peak / 1024, "before_mb": base / 1024}))
"""


def write_series(folder: Path, n: int, matrix: int = 512, seed: int = 7) -> Path:
    """A synthetic portal venous series of ``n`` slices (50 rendered slices, repeated along z)."""
    from ctphase.phases import Phase
    from ctphase.synth import render_slices
    from ctphase.synth.dataset import plan_series
    from ctphase.synth.dicom_writer import StudyInfo, make_uid, write_dicom_series

    patient, (series,) = plan_series(seed, 0, [Phase.VENOUS], matrix)
    z_render = np.linspace(series.z_top, series.z_bottom, min(n, 50))
    hu = render_slices(patient, series, z_render, matrix)
    spacing = 0.5
    series.slice_spacing = spacing
    series.slice_thickness = spacing
    study = StudyInfo(
        patient_name="SYNTH^BENCHMARK", patient_id="SYNTHBENCH", sex="O", age=60,
        study_uid=make_uid(seed, "study"), frame_uid=make_uid(seed, "frame"), study_date=dt.date(2020, 1, 1),
        injection_time=dt.datetime(2020, 1, 1, 9, 0), accession="BENCH1", study_description="CT ABDOMEN",
    )
    uid = make_uid(seed + n, "series")
    z = series.z_top - spacing * np.arange(n)
    for a in range(0, n, len(hu)):
        k = min(len(hu), n - a)
        write_dicom_series(folder, hu[:k], z[a : a + k] + patient.table_offset_mm, series, study, uid, seed, 1,
                           first_instance=a + 1, n_total=n)
    return folder


def measure(folder: Path, chunk: int) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", CHILD, str(folder), str(chunk)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--short", type=int, default=48)
    ap.add_argument("--long", type=int, default=2000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="ctphase_mem_") as tmp:
        folders = {n: write_series(Path(tmp) / f"s{n}", n) for n in (args.short, args.long)}
        rows = {}
        for name, chunk in (("chunked", 32), ("at once", 1_000_000)):
            for n, folder in folders.items():
                rows[(name, n)] = measure(folder, chunk)
    print(f"{'reading':<9} {'slices':>7} {'sampled':>8} {'peak MB':>9} {'before model run MB':>20}")
    for (name, n), r in rows.items():
        print(f"{name:<9} {n:>7} {r['n_sampled']:>8} {r['peak_mb']:>9.0f} {r['before_mb']:>20.0f}")
    for name in ("chunked", "at once"):
        grow = rows[(name, args.long)]["peak_mb"] - rows[(name, args.short)]["peak_mb"]
        print(f"{name}: peak grows by {grow:.0f} MB from {args.short} to {args.long} slices")
    ratio = (rows[("at once", args.long)]["peak_mb"]) / rows[("chunked", args.long)]["peak_mb"]
    print(f"peak at {args.long} slices, at once / chunked: {ratio:.2f}x")


if __name__ == "__main__":
    main()
