"""The spread (stratified) slice draw against the paper's uniform draw, side by side on the same slices.

Both draws classify R = 30% of a series' slices and majority-vote them (``ctphase.sampling``'s
``sample_slices``, ``spread=True`` is ``ctphase predict``'s draw, ``spread=False`` the paper's). Every
slice of each series is classified once; then each series is voted over ``--draws`` seeded draws of
each kind (draw d of series s uses ``series_seed(d, series_id)``, as ``ctphase predict --seed d``).

- **Synthetic series**: held-out patients (default the selection set 110000..110099), 4 phases
  each, each series rendered as a stack of ``--slices`` slices evenly spaced over its scan range (in
  z order, as a real series is read) at 256 px, or with ``--stacks evaluate`` as ``ctphase evaluate
  --manifest synth`` renders it (slices at random z, in the order drawn: there the spread draw is a
  uniform one in all but name, and the run shows how much one draw's scan F1 varies). Printed per draw kind: scan macro F1 and
  accuracy averaged over the draws, the per-class F1, the mean over series of the standard deviation
  of the true phase's vote share, and the share of (series, draw) pairs voted wrong; then the
  difference spread - uniform of the mean macro F1 with a 95% interval by bootstrap over patients.
- **Real series** (``--real DIR``, a labelled folder such as ../shared/realdata): per series the mean
  and standard deviation of the true phase's vote share over the draws, the smallest share over
  seeds 0..20 (the 21 draws of ``realdata_check.py --draws 20``), the right draws of seeds 1..20 and
  the share of draws under a vote share of 0.6. Images' votes alone: no study step, no header timing,
  no early stopping. Twelve series are a sanity check, not an evaluation.

Usage::

    python benchmarks/spread_draw.py                                      # bundled model, selection set
    python benchmarks/spread_draw.py --patients 100 --real ../shared/realdata --json spread.json
    python benchmarks/spread_draw.py --model runs/x/best.safetensors --patients 0 --real ../shared/realdata
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from ctphase.data import synthetic_scans
from ctphase.evaluation.bootstrap import percentile_interval, resample_counts
from ctphase.evaluation.run import classify_scans
from ctphase.evaluation.metrics import metrics_from_confusion
from ctphase.inference import Classifier
from ctphase.io import load_series
from ctphase.models import default_checkpoint_path
from ctphase.phases import PHASE_NAMES, Phase
from ctphase.sampling import DEFAULT_MIN_SLICES, DEFAULT_SAMPLE_RATE, sample_slices, series_seed
from ctphase.synth import render_slices
from ctphase.synth.stream import draw_series
from ctphase.voting import majority_vote

from real_labels import real_rows

KINDS = {"uniform": False, "spread": True}
K = len(PHASE_NAMES)


def vote_draws(probs: np.ndarray, series_id: str, draws: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per draw kind: the voted labels ``(draws,)`` and vote fractions ``(draws, K)`` of one series'
    ``(n, K)`` slice probabilities over seeds ``0..draws - 1``."""
    out = {}
    for kind, spread in KINDS.items():
        labels, fractions = [], []
        for seed in range(draws):
            idx = sample_slices(len(probs), DEFAULT_SAMPLE_RATE, DEFAULT_MIN_SLICES, series_seed(seed, series_id),
                                spread=spread)
            vote = majority_vote(probs[idx])
            labels.append(vote.label)
            fractions.append(vote.fractions)
        out[kind] = (np.array(labels), np.array(fractions))
    return out


def ordered_stacks(clf: Classifier, patients: range, n_slices: int) -> tuple[list[np.ndarray], list[int], list[str]]:
    """Slice probabilities, phases and series ids of ``patients``' series rendered as ordered stacks of
    ``n_slices`` slices evenly spaced over each scan range (z order, as a real series is read), 256 px."""
    probs, truth, ids = [], [], []
    t0 = time.perf_counter()
    for i in patients:
        for phase in Phase:
            patient, series, _ = draw_series(0, i, phase)
            hu = render_slices(patient, series, np.linspace(series.z_top, series.z_bottom, n_slices), 256)
            probs.append(np.asarray(clf.predict_hu_outputs(np.asarray(hu, np.float32))[0].probs, np.float64))
            truth.append(int(phase))
            ids.append(f"synth/{i}/{phase.label}")
        if (i - patients.start) % 10 == 9:
            print(f"  {i - patients.start + 1}/{len(patients)} patients rendered and classified "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)
    return probs, truth, ids


def evaluate_scans(clf: Classifier, patients: range, n_slices: int) -> tuple[list[np.ndarray], list[int], list[str]]:
    """The same for the scans ``ctphase evaluate --manifest synth`` renders: ``n_slices`` slices at random z,
    in the order drawn (not z order)."""
    scans = synthetic_scans(patients, size=256, slices_per_scan=n_slices)
    return classify_scans(scans, clf).slice_probs, [int(s.label) for s in scans], [s.scan_id for s in scans]


def synthetic(probs: list[np.ndarray], truth: list[int], ids: list[str], draws: int, n_resamples: int) -> dict:
    """Both draw kinds on synthetic series, 4 per patient in order (see the module docstring)."""
    votes = {kind: [] for kind in KINDS}
    for p, key in zip(probs, ids):
        for kind, pair in vote_draws(p, key, draws).items():
            votes[kind].append(pair)
    y = np.array(truth)
    n_patients = len(y) // len(Phase)
    groups = np.repeat(np.arange(n_patients), len(Phase))
    counts = resample_counts(n_patients, n_resamples, seed=0)
    out, boot = {}, {}
    for kind, pairs in votes.items():
        labels = np.stack([p[0] for p in pairs])  # (scans, draws)
        shares = np.stack([p[1][:, t] for p, t in zip(pairs, y)])  # (scans, draws): true phase's share
        # per draw, per patient: the confusion counts of its scans, then weighted by each resample
        cell = y[:, None] * K + labels
        per_patient = np.zeros((draws, n_patients, K * K))
        np.add.at(per_patient, (np.arange(draws)[None, :], groups[:, None], cell), 1.0)
        full = metrics_from_confusion(per_patient.sum(axis=1).reshape(draws, K, K))
        boot[kind] = np.mean([metrics_from_confusion((counts @ per_patient[d]).reshape(-1, K, K))["macro_f1"]
                              for d in range(draws)], axis=0)
        out[kind] = {"macro_f1": float(full["macro_f1"].mean()), "macro_f1_min": float(full["macro_f1"].min()),
                     "macro_f1_max": float(full["macro_f1"].max()), "macro_f1_draws": full["macro_f1"].tolist(),
                     "accuracy": float(full["accuracy"].mean()),
                     "f1": [float(v) for v in full["f1"].mean(axis=0)],
                     "share_sd": float(shares.std(axis=1).mean()), "wrong": float(np.mean(labels != y[:, None]))}
    diff = out["spread"]["macro_f1"] - out["uniform"]["macro_f1"]
    interval = percentile_interval(boot["spread"] - boot["uniform"], 0.95, estimate=diff)
    out["difference"] = {"macro_f1": diff, "low": interval.low, "high": interval.high}
    out["scans"], out["draws"] = len(y), draws
    return out


def real(clf: Classifier, realdata: Path, draws: int) -> dict[str, dict]:
    """Both draw kinds on every series of ``realdata`` (see the module docstring)."""
    out = {}
    for row in real_rows(realdata):
        series = load_series(realdata / row["folder"])
        probs = np.asarray(clf.predict_hu_outputs(series.read_volume())[0].probs, np.float64)
        t = PHASE_NAMES.index(row["phase"])
        cells = {}
        for kind, (labels, fractions) in vote_draws(probs, series.series_id, max(draws, 21)).items():
            share = fractions[:, t]
            cells[kind] = {"mean": float(share.mean()), "sd": float(share.std()), "min21": float(share[:21].min()),
                           "right20": int(np.sum(labels[1:21] == t)), "under06": float(np.mean(share < 0.6))}
        out[row["name"]] = {"n_slices": len(probs), **cells}
    return out


def print_synthetic(s: dict, patients: range) -> None:
    print(f"\nsynthetic series ({s['stacks']}): patients {patients.start}..{patients.stop - 1}, {s['scans']} series, "
          f"{s['draws']} draws each")
    print(f"{'draw':<9}{'macro F1':>9}{'(min-max)':>15}{'acc':>7}   F1 nc / art / ven / oth   share sd  wrong")
    for kind in KINDS:
        r = s[kind]
        print(f"{kind:<9}{r['macro_f1']:>9.3f}  ({r['macro_f1_min']:.3f}-{r['macro_f1_max']:.3f}){r['accuracy']:>7.3f}   "
              + " / ".join(f"{v:.3f}" for v in r["f1"]) + f"   {r['share_sd']:>8.3f}  {r['wrong']:.3f}")
    d = s["difference"]
    print(f"spread - uniform, mean macro F1: {d['macro_f1']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}] (bootstrap over patients)")


def print_real(rows: dict[str, dict], draws: int) -> None:
    print(f"\nreal series, images' votes, {max(draws, 21)} draws: true share mean / sd, smallest of seeds 0..20, "
          "right of seeds 1..20, share of draws under 0.6")
    w = max(len(n) for n in rows) + 2
    print(f"{'series':<{w}}{'n':>4}  " + "".join(f"{kind:^34}" for kind in KINDS))
    for name, r in rows.items():
        cells = "".join(f"  {c['mean']:.3f} {c['sd']:.3f} {c['min21']:.2f} {c['right20']:>2}/20 {c['under06']:.3f}  "
                        for c in (r[kind] for kind in KINDS))
        print(f"{name:<{w}}{r['n_slices']:>4}  {cells}")
    for kind in KINDS:
        cells = [r[kind] for r in rows.values()]
        print(f"{kind}: smallest share >= 0.6 over seeds 0..20 in {sum(c['min21'] >= 0.6 for c in cells)} of {len(cells)} "
              f"series; right draws {sum(c['right20'] for c in cells)} of {20 * len(cells)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=None, help="checkpoint (default: the bundled model)")
    ap.add_argument("--patients", type=int, default=100, help="synthetic patients (0: none)")
    ap.add_argument("--patient-offset", type=int, default=110_000)
    ap.add_argument("--slices", type=int, default=48, help="slices per synthetic series")
    ap.add_argument("--stacks", choices=["ordered", "evaluate"], default="ordered",
                    help="synthetic series as ordered stacks, or as ctphase evaluate renders them (random z, unordered)")
    ap.add_argument("--draws", type=int, default=50, help="seeded draws of each kind per series")
    ap.add_argument("--bootstrap", type=int, default=1000, help="patient resamples for the difference's interval")
    ap.add_argument("--real", type=Path, default=None, help="a labelled folder of real series")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args()
    if args.patients < 0 or args.draws < 1 or args.slices < 1 or args.bootstrap < 1:
        ap.error("--patients must be >= 0, and --draws, --slices and --bootstrap >= 1")
    clf = Classifier(args.model or default_checkpoint_path())
    print(f"model {args.model or 'bundled default'}, R = {DEFAULT_SAMPLE_RATE:.0%}, at least {DEFAULT_MIN_SLICES} slices")
    result: dict = {}
    if args.patients:
        patients = range(args.patient_offset, args.patient_offset + args.patients)
        render = ordered_stacks if args.stacks == "ordered" else evaluate_scans
        result["synthetic"] = synthetic(*render(clf, patients, args.slices), args.draws, args.bootstrap)
        result["synthetic"]["stacks"] = args.stacks
        print_synthetic(result["synthetic"], patients)
    if args.real is not None:
        result["real"] = real(clf, args.real, args.draws)
        print_real(result["real"], args.draws)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
