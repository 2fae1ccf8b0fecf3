"""Robustness by condition: scan accuracy of one or more models on synthetic series that all carry
one uncommon body or scan (paediatric, obese, thin, arms down, metal, oral contrast, a distended stomach, food in the
stomach, PET/CT, small field of view, pelvis only; :mod:`ctphase.synth.conditions`), next to the same patients
without it (``none``, the plain generator).

Each condition renders the same held-out patients (default 12 from 600000, 4 phases each: 48
series of 32 slices at random z), R = 30% as ``ctphase evaluate``; the models see the same
rendered slices. Printed per condition and model: scans right, scan accuracy, the mean vote
share of the true phase, and the scan recall per true phase (nc / art / ven / oth). With 48 scans
per row a difference of one or two scans is noise: read the table for conditions that collapse.

Usage::

    python benchmarks/synth_conditions.py                                  # bundled default model
    python benchmarks/synth_conditions.py --model a.safetensors --model b.safetensors --json out.json
    python benchmarks/synth_conditions.py --conditions none pet_ct small_fov --patients 25
"""

from __future__ import annotations

import argparse
import functools
import json
import time
from pathlib import Path

import numpy as np

from ctphase.data import synthetic_scans
from ctphase.evaluation.run import run_evaluation
from ctphase.models import default_checkpoint_path
from ctphase.phases import PHASE_NAMES
from ctphase.synth import iter_training_slices
from ctphase.synth.conditions import CONDITIONS


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, action="append", help="checkpoint (repeat to compare; default: bundled)")
    ap.add_argument("--conditions", nargs="+", default=["none", *CONDITIONS], choices=["none", *CONDITIONS])
    ap.add_argument("--patients", type=int, default=12)
    ap.add_argument("--patient-offset", type=int, default=600_000)
    ap.add_argument("--slices", type=int, default=32, help="slices rendered per series")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args()
    models = args.model or [default_checkpoint_path()]
    names = [m.parent.name if m.name == "best.safetensors" else m.stem for m in models]
    patients = range(args.patient_offset, args.patient_offset + args.patients)
    print(f"patients {patients.start}..{patients.stop - 1}, 4 phases each, {args.slices} slices per series, R = 30%")
    head = f"{'condition':<19}{'model':<22}{'right':>8}{'acc':>7}{'share':>7}   recall nc / art / ven / oth"
    print(head)
    print("-" * len(head))
    out: dict[str, dict[str, object]] = {}
    for cond in args.conditions:
        force = () if cond == "none" else (cond,)
        source = functools.partial(iter_training_slices, force=force)
        scans = synthetic_scans(patients, size=256, slices_per_scan=args.slices, source=source, cache=True)
        out[cond] = {}
        for model, name in zip(models, names):
            t0 = time.perf_counter()
            res = run_evaluation(scans, model, None, n_resamples=0, figures=False)
            row = _row(res.to_dict())
            row["seconds"] = round(time.perf_counter() - t0, 1)
            out[cond][name] = row
            recall = " / ".join(f"{row['recall'][c]:.2f}" for c in PHASE_NAMES)
            print(f"{cond:<19}{name:<22}{row['right']:>4}/{row['n']:<3}{row['accuracy']:>7.3f}{row['share']:>7.3f}   {recall}",
                  flush=True)
    if len(models) > 1:
        print("\naccuracy ratio to the first model, per condition:")
        for cond, rows in out.items():
            base = rows[names[0]]["accuracy"] or float("nan")
            print(f"  {cond:<19}" + "  ".join(f"{n} {rows[n]['accuracy'] / base:.2f}" for n in names[1:]))
    if args.json:
        args.json.write_text(json.dumps({"patients": [patients.start, patients.stop], "results": out}, indent=1))


def _row(res: dict) -> dict[str, object]:
    scan = res["scan_level"]
    preds = scan["predictions"]
    idx = {n: i for i, n in enumerate(PHASE_NAMES)}
    share = [p["vote_fractions"][idx[p["label"]]] for p in preds]
    return {
        "n": len(preds),
        "right": int(sum(p["correct"] for p in preds)),
        "accuracy": float(scan["metrics"]["accuracy"]),
        "share": float(np.mean(share)),
        "recall": {c: float(v["recall"]) for c, v in scan["metrics"]["per_class"].items()},
        "wrong": [f"{p['scan_id']}: {p['label']} -> {p['predicted']}" for p in preds if not p["correct"]],
    }


if __name__ == "__main__":
    main()
