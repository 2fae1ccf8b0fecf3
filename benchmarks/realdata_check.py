"""External check on the real series of a labelled folder such as ../shared/realdata (never pooled with synthetic results).

Prints, for each real series, the true phase, the predicted phase and the vote fractions at
R=30% (seed 0, as ``ctphase predict``), then over ``--draws`` more random draws of the sampled
slices: how many draws are right, the smallest and mean vote share of the true phase and the
smallest probability of it (``probabilities``: the series reader's when the model has one), so the
spread that sampling adds is visible. A model with subphase and seconds heads also gets the
subphase and the seconds after injection (estimate and 80% interval) of the seed-0 run, to hold
against what the folder's notes say of its timing. ``pred`` is the final label (``uncertain`` included;
the study step may set it from the series' own bolus timing tags), and the summary also counts
``image_label``, the images' vote alone. Each folder is classified alone, or with
``--together`` all in one run, where the study step sees each study whole
(``ctphase predict ../shared/realdata``). Twelve series are far too few to measure accuracy:
this is a sanity check, not an evaluation. A second summary line counts only the series that may
be used to choose between models (``--not-for-choice``: patients whose licence allows only tests
and sanity checks; by default rctt2022, whose source states no licence), so that model choices
are made with this script's own figures.

Usage::

    python benchmarks/realdata_check.py                       # bundled default model
    python benchmarks/realdata_check.py --model runs/x/best.safetensors --json out.json
    python benchmarks/realdata_check.py --together        # whole studies, as predict on the parent folder
    python benchmarks/realdata_check.py --together --no-early-stop   # shares of the whole draw
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ctphase.pipeline import classify

from real_labels import REALDATA, real_rows

NOT_FOR_CHOICE = ("rctt2022",)
"""Patients of the folder whose series may not be used for model choice (no licence stated)."""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--realdata", type=Path, default=REALDATA)
    ap.add_argument("--sample-rate", type=float, default=0.3)
    ap.add_argument("--draws", type=int, default=20, help="extra seeds to show the sampling spread")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    ap.add_argument("--not-for-choice", nargs="*", default=list(NOT_FOR_CHOICE), metavar="PATIENT",
                    help="patients (labels.csv column 'patient') left out of the model-choice summary")
    ap.add_argument("--together", action="store_true",
                    help="classify all folders in one run (the study step sees whole studies, as predict on the "
                         "parent folder does); default: each folder alone")
    ap.add_argument("--no-early-stop", dest="early_stop", action="store_false",
                    help="classify every drawn slice (predict --no-early-stop): the shares are those of the whole draw")
    args = ap.parse_args()
    rows = real_rows(args.realdata)
    out = []
    w = max(len("series"), *(len(r["name"]) for r in rows)) + 2
    print(f"{'series':<{w}}{'truth':<14}{'pred':<14}{'votes nc/art/ven/oth':<26}{'correct draws':>14}"
          f"{'share min':>10}{'mean':>6}{'p min':>7}")
    draws = {}  # seed -> {folder: prediction}
    for seed in range(args.draws + 1):
        if args.together:  # one run over every folder: the study step sees each study whole, as predict does
            found = [p for p in classify([args.realdata / r["folder"] for r in rows], model=args.model,
                                         sample_rate=args.sample_rate, seed=seed, early_stop=args.early_stop)
                     if p.status == "ok"]
            draws[seed] = {r["folder"]: _of(found, args.realdata / r["folder"]) for r in rows}
        else:  # each folder alone
            draws[seed] = {r["folder"]: _of([p for p in classify([args.realdata / r["folder"]], model=args.model,
                                                                  sample_rate=args.sample_rate, seed=seed,
                                                                  early_stop=args.early_stop)
                                             if p.status == "ok"], args.realdata / r["folder"]) for r in rows}
    for row in rows:
        pred = draws[0][row["folder"]]
        later = [draws[s][row["folder"]] for s in range(1, args.draws + 1)]
        correct = sum(p.label == row["phase"] for p in later)
        image_correct = sum(p.image_label == row["phase"] for p in later)
        shares = [p.vote_fractions.get(row["phase"], 0.0) for p in [pred, *later]]
        p_true = min(p.probabilities.get(row["phase"], 0.0) for p in [pred, *later])
        fr = " ".join(f"{v:.2f}" for v in pred.vote_fractions.values())
        t = pred.seconds_after_injection
        timing = (f"  {pred.subphase or '-'}" + (f" ~{t['estimate']:.0f} s ({t['low']:.0f}-{t['high']:.0f})" if t else "")
                  if pred.subphase_probabilities else "")
        print(f"{row['name']:<{w}}{row['phase']:<14}{pred.label:<14}{fr:<26}{correct:>11}/{args.draws}"
              f"{min(shares):>8.2f}{sum(shares) / len(shares):>7.2f}{p_true:>7.2f}{timing}")
        out.append({"name": row["name"], "truth": row["phase"], "predicted": pred.label, "image_label": pred.image_label,
                    "n_slices": pred.n_slices, "n_sampled": len(pred.sampled_indices), "n_used": len(pred.used_indices),
                    "vote_fractions": pred.vote_fractions,
                    "mean_probabilities": pred.mean_probabilities, "correct_draws": correct,
                    "image_correct_draws": image_correct, "draws": args.draws,
                    "true_vote_share_min": min(shares), "true_vote_share_mean": sum(shares) / len(shares),
                    "true_probability_min": p_true,
                    "subphase": pred.subphase, "seconds_after_injection": pred.seconds_after_injection,
                    "model_sha256": pred.model_sha256, "for_model_choice": row["patient"] not in args.not_for_choice})
    print()
    _summary(out, f"real series correct at seed 0 (R={args.sample_rate:.0%})")
    _summary([r for r in out if r["for_model_choice"]], "series allowed for model choice correct at seed 0")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")


def summary_figures(out: list[dict]) -> dict[str, int]:
    """Counts over result rows (``--json``'s): series, right at seed 0 with and without the study step, draws,
    right draws both ways, and series whose true share (probability) is >= 0.6 in every draw."""
    return {"n": len(out), "right_seed0": sum(r["truth"] == r["predicted"] for r in out),
            "image_right_seed0": sum(r["truth"] == r["image_label"] for r in out),
            "draws": sum(r["draws"] for r in out), "right_draws": sum(r["correct_draws"] for r in out),
            "image_right_draws": sum(r["image_correct_draws"] for r in out),
            "shares_06": sum(r["true_vote_share_min"] >= 0.6 for r in out),
            "probability_06": sum(r.get("true_probability_min", 0.0) >= 0.6 for r in out)}


def _summary(out: list[dict], what: str) -> None:
    """One line: right at seed 0, right draws, with and without the study step, and shares >= 0.6."""
    f = summary_figures(out)
    print(f"{f['right_seed0']}/{f['n']} {what}, {f['right_draws']}/{f['draws']} over the other draws; "
          f"by the images alone (image_label, before the study step): {f['image_right_seed0']}/{f['n']} and "
          f"{f['image_right_draws']}/{f['draws']}; {f['shares_06']} with a true share >= 0.6 in every draw, "
          f"{f['probability_06']} with a true probability >= 0.6 in every draw")


def _of(predictions, folder: Path):
    """The prediction of the series read from ``folder``."""
    (p,) = [p for p in predictions if Path(p.path).resolve() == folder.resolve()]
    return p


if __name__ == "__main__":
    main()
