"""Seed and lineage ensembles on held-out synthetic patients: does averaging the slice probabilities
of several checkpoints beat each of them alone?

Every slice of the same rendered scans is classified once by each model (as ``ctphase evaluate``
does); an ensemble's slice probabilities are the mean of its members' (probabilities, or with
``--average logprobs`` the softmax of their mean log probabilities), and its scan label is the
majority vote of the same seeded R = 30% draw of slices that ``ctphase evaluate`` votes. Printed per
model and per ensemble (every subset of at least two of the models, or only those of ``--sizes``):
scan and slice macro F1 and the scan F1 of each class, beside the best member's. With ``--against
NAME`` every other row is also paired with that model by ``ctphase compare``'s patient bootstrap
(the interval of B - A): trust no difference of a few hundredths without it. The ONNX cost of an
ensemble is the sum of its members'.

With ``--real DIR`` (a labelled folder such as ../shared/realdata) each real series is also voted
by the images alone over ``--draws`` + 1 draws (seeds 0..draws, ``ctphase predict``'s draw of each
series), for every model and ensemble: right draws, and the smallest and mean vote share of the
true phase. No study step and no header timing: these are the images' votes (realdata_check's
``image_label``). Twelve series are a sanity check, not an evaluation.

Usage::

    python benchmarks/ensemble.py --model a.safetensors --model b.safetensors --model c.safetensors
    python benchmarks/ensemble.py --model a.safetensors --model b.safetensors --patients 100 \\
        --patient-offset 110000 --against a --json ens.json
    python benchmarks/ensemble.py --model a.safetensors --model b.safetensors --patients 0 --real ../shared/realdata
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

import numpy as np

from ctphase.data import synthetic_scans
from ctphase.evaluation.compare import compare_results
from ctphase.evaluation.evaluate import evaluate_predictions
from ctphase.evaluation.run import classify_scans
from ctphase.inference import Classifier
from ctphase.io import load_series
from ctphase.phases import PHASE_NAMES
from ctphase.sampling import DEFAULT_MIN_SLICES, DEFAULT_SAMPLE_RATE, sample_slices, series_seed
from ctphase.voting import majority_vote

from real_labels import real_rows


def combine(member_probs: list[list[np.ndarray]], average: str = "probs") -> list[np.ndarray]:
    """Per scan, the ensemble's ``(n_i, K)`` slice probabilities from each member's.

    ``average="probs"``: the mean probability; ``"logprobs"``: the renormalised geometric mean.
    """
    if average not in ("probs", "logprobs"):
        raise ValueError(f"average must be 'probs' or 'logprobs', got {average!r}")
    out = []
    for per_model in zip(*member_probs):
        stack = np.stack(per_model)  # (M, n_i, K)
        if average == "probs":
            out.append(stack.mean(axis=0))
        else:
            z = np.log(np.clip(stack, 1e-12, 1.0)).mean(axis=0)
            z -= z.max(axis=1, keepdims=True)
            p = np.exp(z)
            out.append(p / p.sum(axis=1, keepdims=True))
    return out


def scores(probs: list[np.ndarray], labels: list[int], groups: list[str], scan_ids: list[str],
           seed: int) -> tuple[dict, dict]:
    """Scan and slice macro F1 and the scan F1 per class (no bootstrap), ``ctphase evaluate``'s draw;
    and the evaluation as its metrics.json would hold it (for :func:`paired`)."""
    res = evaluate_predictions(probs, labels, groups, scan_ids=scan_ids, n_resamples=0, sweep_rates=None, seed=seed)
    scan, sl = res.scan_level.metrics, res.slice_level.metrics
    return ({"scan_f1": scan.macro.f1, "slice_f1": sl.macro.f1,
             "scan_f1_per_class": {k: v.f1 for k, v in scan.per_class.items()}}, res.to_dict())


def paired(a: dict, b: dict, names: tuple[str, str]) -> dict[str, list[float]]:
    """``ctphase compare``'s paired patient bootstrap of B - A: scan and slice macro F1 as [difference, low, high]."""
    cmp = compare_results(a, b, names=names)
    out = {}
    for level, diffs in (("scan", cmp.metrics), ("slice", cmp.slice_metrics or [])):
        for d in diffs:
            if d.name == "macro F1":
                out[level] = [d.difference.estimate, d.difference.low, d.difference.high]
    return out


def real_votes(probs: np.ndarray, series_id: str, truth: int, draws: int) -> dict:
    """Images-only votes of one real series over seeds ``0..draws`` from its ``(n, K)`` slice
    probabilities: right draws (seeds 1..draws, as realdata_check counts them), right at seed 0,
    and the smallest and mean vote share of the ``truth`` class over all draws."""
    right, shares, first = 0, [], False
    for seed in range(draws + 1):
        idx = sample_slices(len(probs), DEFAULT_SAMPLE_RATE, DEFAULT_MIN_SLICES, series_seed(seed, series_id))
        vote = majority_vote(probs[idx])
        shares.append(float(vote.fractions[truth]))
        if seed == 0:
            first = vote.label == truth
        else:
            right += vote.label == truth
    return {"right_seed0": bool(first), "right_draws": right, "share_min": min(shares),
            "share_mean": float(np.mean(shares))}


def real_table(realdata: Path, models: list[Path], names: list[str], members: dict[str, list[str]],
               average: str, draws: int) -> dict[str, dict[str, dict]]:
    """Per model and ensemble, per real series: :func:`real_votes` (every slice classified once per model)."""
    clfs = [Classifier(m) for m in models]
    out: dict[str, dict[str, dict]] = {key: {} for key in members}
    for row in real_rows(realdata):
        series = load_series(realdata / row["folder"])
        hu = series.read_volume()
        probs = {n: np.asarray(c.predict_hu_outputs(hu)[0].probs, np.float64) for n, c in zip(names, clfs)}
        truth = PHASE_NAMES.index(row["phase"])
        for key, combo in members.items():
            p = combine([[probs[n]] for n in combo], average)[0]
            out[key][row["name"]] = real_votes(p, series.series_id, truth, draws)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, action="append", required=True, help="checkpoint (repeat, at least two)")
    ap.add_argument("--patients", type=int, default=25)
    ap.add_argument("--patient-offset", type=int, default=110_000)
    ap.add_argument("--slices", type=int, default=32, help="slices rendered per series")
    ap.add_argument("--seed", type=int, default=0, help="population and slice-draw seed (as ctphase evaluate)")
    ap.add_argument("--average", choices=["probs", "logprobs"], default="probs")
    ap.add_argument("--sizes", type=int, nargs="+", default=None, help="ensemble sizes to score (default: 2..all)")
    ap.add_argument("--against", default=None, help="a model's name: pair every other row with it (ctphase compare)")
    ap.add_argument("--real", type=Path, default=None, help="also vote the real series of this labelled folder")
    ap.add_argument("--draws", type=int, default=20, help="with --real: draws after seed 0")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args()
    if len(args.model) < 2:
        ap.error("give at least two --model")
    for m in args.model:
        if not m.is_file():
            ap.error(f"--model {m}: no such file")
    names = [m.parent.name if m.name == "best.safetensors" else m.stem for m in args.model]
    if args.patients < 0 or args.slices < 1 or args.draws < 0:
        ap.error("--patients and --draws must be >= 0 and --slices >= 1")
    if len(set(names)) != len(names):
        ap.error(f"model names must differ: {names}")
    if args.against is not None and args.against not in names:
        ap.error(f"--against {args.against!r} is not one of the models {names}")
    sizes = args.sizes or list(range(2, len(names) + 1))
    members: dict[str, list[str]] = {name: [name] for name in names}
    for k in sizes:
        members.update({"+".join(c): list(c) for c in itertools.combinations(names, k)})
    result: dict[str, object] = {"average": args.average, "members": members}
    if args.patients > 0:
        result["synthetic"] = synthetic_table(args, names, members)
    if args.real is not None:
        result["real"] = real = real_table(args.real, args.model, names, members, args.average, args.draws)
        print_real(real, args.draws)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


def synthetic_table(args: argparse.Namespace, names: list[str], members: dict[str, list[str]]) -> dict:
    """Score every model and ensemble on the held-out synthetic patients of ``args``; prints the table."""
    patients = range(args.patient_offset, args.patient_offset + args.patients)
    scans = synthetic_scans(patients, seed=args.seed, size=256, slices_per_scan=args.slices, cache=True)
    labels = [int(s.label) for s in scans]
    groups = [s.group for s in scans]
    ids = [s.scan_id for s in scans]
    print(f"patients {patients.start}..{patients.stop - 1}: {len(scans)} series of {args.slices} slices, "
          f"R = 30%, draw seed {args.seed}, average {args.average}")
    probs: dict[str, list[np.ndarray]] = {}
    for model, name in zip(args.model, names):
        t0 = time.perf_counter()
        probs[name] = classify_scans(scans, model).slice_probs
        print(f"  classified with {name} in {time.perf_counter() - t0:.0f} s")
    rows, evals = {}, {}
    for key, combo in members.items():
        rows[key], evals[key] = scores(combine([probs[n] for n in combo], args.average), labels, groups, ids, args.seed)
    if args.against:
        for key in rows:
            if key != args.against:
                rows[key]["paired_against"] = {args.against: paired(evals[args.against], evals[key], (args.against, key))}
    head = f"{'model':<40}{'scan F1':>9}{'slice F1':>10}   scan F1 " + " / ".join(n[:3] for n in PHASE_NAMES)
    head += "   best member scan / slice"
    print(head)
    print("-" * len(head))
    for key, r in rows.items():
        pc = " / ".join(f"{r['scan_f1_per_class'][n]:.3f}" for n in PHASE_NAMES)
        best = ""
        if len(members[key]) > 1:
            best = (f"   {max(rows[m]['scan_f1'] for m in members[key]):.3f}"
                    f" / {max(rows[m]['slice_f1'] for m in members[key]):.3f}")
        print(f"{key:<40}{r['scan_f1']:>9.3f}{r['slice_f1']:>10.3f}   {pc}{best}")
    if args.against:
        print(f"\npaired against {args.against} (patient bootstrap, as ctphase compare): B - A [95% CI], scan / slice macro F1")
        for key, r in rows.items():
            if "paired_against" in r:
                d = r["paired_against"][args.against]
                print(f"{key:<40}" + " / ".join(f"{v[0]:+.3f} [{v[1]:+.3f}, {v[2]:+.3f}]" for v in (d["scan"], d["slice"])))
    return {"patients": [patients.start, patients.stop - 1], "rows": rows}


def print_real(real: dict[str, dict[str, dict]], draws: int) -> None:
    """Per real series and model: right draws of ``draws`` and the smallest / mean true share; then totals."""
    keys = list(real)
    series = list(real[keys[0]])
    w = max(len("series"), *(len(n) for n in series)) + 2
    print(f"\nreal series, images alone: right draws of {draws} (seeds 1..{draws}), true share min / mean (seeds 0..{draws})")
    print(f"{'series':<{w}}" + "".join(f"{k:>24}" for k in keys))
    for name in series:
        cells = [real[k][name] for k in keys]
        print(f"{name:<{w}}" + "".join(f"{c['right_draws']:>8}{c['share_min']:>8.2f}{c['share_mean']:>8.2f}"
                                       for c in cells))
    for k in keys:
        v = list(real[k].values())
        print(f"{k}: right at seed 0 {sum(c['right_seed0'] for c in v)}/{len(v)}, "
              f"right draws {sum(c['right_draws'] for c in v)}/{draws * len(v)}, "
              f"true share >= 0.6 in every draw {sum(c['share_min'] >= 0.6 for c in v)}, "
              f"mean share {np.mean([c['share_mean'] for c in v]):.3f}")


if __name__ == "__main__":
    main()
