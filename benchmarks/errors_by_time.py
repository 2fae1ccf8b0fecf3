"""Where the errors are in time: scan votes of held-out synthetic scans, binned by the true seconds
after the start of injection (the synthetic clock), with the true and the voted phases per bin.

The synthetic labels follow effective-time windows (:data:`ctphase.synth.physiology.SUBPHASE_WINDOWS`:
arterial to 50 s, venous 50-130 s, other from 130 s, each shifted by the patient's bolus arrival),
so a bin near a boundary holds two true phases. A model whose errors sit in those bins, and
whose bins far from them are right, is limited by how little the images change across the
boundary rather than by a missing cue. Non-contrast scans (no time) are counted apart.

Usage::

    python benchmarks/errors_by_time.py                                   # bundled model, test + calibration patients
    python benchmarks/errors_by_time.py --model m.safetensors --range 110000:110100
"""

from __future__ import annotations

import argparse
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from ctphase.evaluation.calibrate import series_scores
from ctphase.evaluation.run import classify_scans, evaluation_scans
from ctphase.inference import Classifier
from ctphase.models import default_checkpoint_path
from ctphase.phases import PHASE_NAMES

EDGES = (0, 33, 45, 55, 70, 95, 115, 130, 145, 165, 200, 300, 10_000)


def _range(text: str) -> range:
    lo, hi = (int(x) for x in text.split(":"))
    return range(lo, hi)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=None, help="checkpoint (default: the bundled model)")
    ap.add_argument("--range", dest="ranges", type=_range, action="append",
                    help="synthetic patients FIRST:STOP (repeatable; default: the test set 200000:200050 and "
                         "the calibration set 300000:300150, both held out from training)")
    args = ap.parse_args()
    model = args.model or default_checkpoint_path()
    if model is None:
        raise SystemExit("no --model given and no bundled model installed")
    clf = Classifier(model, device="cpu")  # loaded once for every range
    ranges = args.ranges or [range(200000, 200050), range(300000, 300150)]
    bins: dict[int, Counter] = defaultdict(Counter)
    nc = Counter()
    t0 = time.perf_counter()
    for r in ranges:
        scans, _ = evaluation_scans("synth", model, patients=len(r), patient_offset=r.start)
        done = classify_scans(scans, clf)
        _, voted = series_scores(done.slice_probs, [s.scan_id for s in scans])
        for s, v in zip(scans, voted):
            y = int(s.label)
            if s.seconds is None:
                nc["n"] += 1
                nc["right"] += int(v) == y
                continue
            b = int(np.searchsorted(EDGES, s.seconds, side="right")) - 1
            c = bins[b]
            c["n"] += 1
            c["right"] += int(v) == y
            c[("true", y)] += 1
            c[("voted", int(v))] += 1
    names = ", ".join(f"{r.start}..{r.stop - 1}" for r in ranges)
    print(f"model {model.name}; synthetic patients {names}; R = 30%, seed 0; {time.perf_counter() - t0:.0f} s\n")
    print("| true seconds | scans | true art / ven / oth | voted nc / art / ven / oth | right |")
    print("|---|---|---|---|---|")
    for b in sorted(bins):
        c = bins[b]
        hi = f"{EDGES[b + 1]}" if b + 2 < len(EDGES) else ""
        true = " / ".join(str(c[("true", k)]) for k in range(1, len(PHASE_NAMES)))
        voted = " / ".join(str(c[("voted", k)]) for k in range(len(PHASE_NAMES)))
        print(f"| {EDGES[b]}-{hi} s | {c['n']} | {true} | {voted} | {c['right']}/{c['n']} ({c['right'] / c['n']:.2f}) |")
    if nc["n"]:
        print(f"| non-contrast | {nc['n']} | - | - | {nc['right']}/{nc['n']} |")


if __name__ == "__main__":
    main()
