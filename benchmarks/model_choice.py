"""The model-choice rule of the model card, checked on the outputs of ``scripts/score_candidate.sh``.

A candidate replaces the baseline (the bundled default) only if, scored in the same run on the same data:

1. paired on the synthetic selection patients (110000..110099), its scan and slice macro F1 differences
   B - A are >= -0.010 (non-inferiority; ``compare.sel.json``);
2. the real series allowed for model choice (``for_model_choice`` in ``realdata_check.py --json``; not
   rctt2022) are all right at draw seed 0;
3. its right draws of them, with the study step and by the images alone, are at least the baseline's;
4. its mean true vote share over them is at least the baseline's;
5. its ONNX Runtime cost is <= 3.5 ms per slice (``benchmarks/model_latency.py --json``, same run), or, when
   the baseline itself measures over 3.5 ms in that run (a slower machine than the one the budget was set on),
   at most ``MAX_RATIO`` times the baseline's (the rule of v33 and later, which read it on the ratio);

and only then, with ``--test``: its paired test-set differences (patients 200000..200049) are >= -0.010.
Prints each criterion with both models' figures; exits 0 when all hold, 1 when one fails.

Usage::

    python benchmarks/model_choice.py runs/v27/score            # criteria 1-5
    python benchmarks/model_choice.py runs/v27/score --test     # the test set (after 1-5 hold)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from realdata_check import summary_figures

MARGIN = -0.010
"""Smallest paired macro F1 difference (candidate - baseline) that still counts as no worse."""
MAX_MS_PER_SLICE = 3.5
"""Issue 12's inference budget, ONNX Runtime on the 2-core CPU."""
MAX_RATIO = 1.20
"""Candidate / baseline ms per slice allowed when the baseline is over the budget in the same run: the same network
at the same size read 1.00-1.17 against itself side by side on this shared CPU (the model card, v32's scoring); the
paper's EfficientNet-B2/224 cost 9.6x the 160-px default of then in one run (docs/results.md)."""


def paired(path: Path, what: str) -> tuple[str, str, bool]:
    """The non-inferiority criterion on a ``ctphase compare --json`` file: scan and slice macro F1 differences B - A."""
    data = json.loads(path.read_text())
    scan = _macro(data["metrics"])
    sl = _macro(data["slice_metrics"]) if data.get("slice_metrics") else None
    figures = f"scan {scan:+.3f}, slice " + ("n/a (no slice predictions)" if sl is None else f"{sl:+.3f}")
    return (f"{what}: scan and slice macro F1 differences >= {MARGIN:.3f}", figures,
            scan >= MARGIN and (sl is None or sl >= MARGIN))


def _macro(metrics: list[dict]) -> float:
    (m,) = [m for m in metrics if m["name"] == "macro F1"]
    return m["difference"]["estimate"]


def real_figures(path: Path) -> dict[str, float]:
    """The allowed series' figures of a ``realdata_check.py --json`` file (its summary counts and the mean true share)."""
    rows = [r for r in json.loads(path.read_text()) if r["for_model_choice"]]
    return {**summary_figures(rows), "mean_share": sum(r["true_vote_share_mean"] for r in rows) / len(rows)}


def check(folder: Path, test: bool = False) -> list[tuple[str, str, bool]]:
    """Each criterion: (what, the figures, holds)."""
    if test:
        return [paired(folder / "compare.test.json", "test set")]
    a, b = real_figures(folder / "base.real.json"), real_figures(folder / "cand.real.json")
    ms = {k: v["ms_per_slice"] for k, v in json.loads((folder / "latency.json").read_text()).items()}
    return [
        paired(folder / "compare.sel.json", "1 selection set"),
        ("2 allowed real series right at seed 0", f"{b['right_seed0']}/{b['n']} (baseline {a['right_seed0']})",
         b["right_seed0"] == b["n"]),
        ("3 allowed right draws, study step (images alone) >= baseline's",
         f"{b['right_draws']} ({b['image_right_draws']}) of {b['draws']}; baseline {a['right_draws']} "
         f"({a['image_right_draws']})",
         b["right_draws"] >= a["right_draws"] and b["image_right_draws"] >= a["image_right_draws"]),
        ("4 mean allowed true share >= baseline's",
         f"{b['mean_share']:.3f} (baseline {a['mean_share']:.3f}); shares >= 0.6 in every draw {b['shares_06']} "
         f"(baseline {a['shares_06']})", b["mean_share"] >= a["mean_share"]),
        latency(ms["old"], ms["new"]),
    ]


def latency(old: float, new: float) -> tuple[str, str, bool]:
    """Criterion 5: within the budget, or within ``MAX_RATIO`` of a baseline that is itself over it in the same run."""
    figures = f"{new:.2f} (baseline {old:.2f}, ratio {new / old:.2f})"
    if old <= MAX_MS_PER_SLICE:
        return f"5 ONNX Runtime ms per slice <= {MAX_MS_PER_SLICE}", figures, new <= MAX_MS_PER_SLICE
    return (f"5 ONNX Runtime ms per slice <= {MAX_MS_PER_SLICE}, or (baseline over it on this machine) ratio <= "
            f"{MAX_RATIO:.2f}", figures, new <= MAX_MS_PER_SLICE or new / old <= MAX_RATIO)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path, help="the OUT folder of scripts/score_candidate.sh")
    ap.add_argument("--test", action="store_true", help="check the test-set criterion (compare.test.json)")
    args = ap.parse_args()
    try:
        results = check(args.folder, args.test)
    except (FileNotFoundError, KeyError, ValueError) as exc:
        raise SystemExit(f"{args.folder}: not a complete scoring folder ({exc})") from None
    for what, figures, holds in results:
        print(f"{'holds' if holds else 'FAILS'}  {what}: {figures}")
    ok = all(h for _, _, h in results)
    print("the rule holds" if ok else "the rule fails")
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
