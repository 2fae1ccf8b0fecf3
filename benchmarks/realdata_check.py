"""External check on the real series of a labelled folder such as ../shared/realdata (never pooled with synthetic results).

Prints, for each real series, the true phase, the predicted phase and the vote fractions at
R=30% (seed 0, as ``ctphase predict``), then the same over ``--draws`` random draws of the
sampled slices, so the spread that sampling adds is visible. Six series are far too few to
measure accuracy: this is a sanity check, not an evaluation.

Usage::

    python benchmarks/realdata_check.py                       # bundled default model
    python benchmarks/realdata_check.py --model runs/x/best.safetensors --json out.json
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from ctphase.pipeline import classify

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--realdata", type=Path, default=REALDATA)
    ap.add_argument("--sample-rate", type=float, default=0.3)
    ap.add_argument("--draws", type=int, default=20, help="extra seeds to show the sampling spread")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args()
    if not (args.realdata / "labels.csv").is_file():
        raise SystemExit(f"real data not found at {args.realdata}")
    rows = list(csv.DictReader(open(args.realdata / "labels.csv")))
    out = []
    w = max(len("series"), *(len(r["name"]) for r in rows)) + 2
    print(f"{'series':<{w}}{'truth':<14}{'pred':<14}{'votes nc/art/ven/oth':<26}{'correct draws':>14}")
    for row in rows:
        folder = args.realdata / row["folder"]
        (pred,) = [p for p in classify([folder], model=args.model, sample_rate=args.sample_rate, seed=0) if p.status == "ok"]
        correct = 0
        for s in range(1, args.draws + 1):
            (p,) = [p for p in classify([folder], model=args.model, sample_rate=args.sample_rate, seed=s) if p.status == "ok"]
            correct += p.label == row["phase"]
        fr = " ".join(f"{v:.2f}" for v in pred.vote_fractions.values())
        print(f"{row['name']:<{w}}{row['phase']:<14}{pred.label:<14}{fr:<26}{correct:>11}/{args.draws}")
        out.append({"name": row["name"], "truth": row["phase"], "predicted": pred.label, "n_slices": pred.n_slices,
                    "vote_fractions": pred.vote_fractions, "mean_probabilities": pred.mean_probabilities,
                    "correct_draws": correct, "draws": args.draws, "model_sha256": pred.model_sha256})
    n_ok = sum(r["truth"] == r["predicted"] for r in out)
    print(f"\n{n_ok}/{len(out)} real series correct at seed 0 (R={args.sample_rate:.0%})")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
