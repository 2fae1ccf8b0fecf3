"""Early stopping (sequential voting) against the paper's fixed R=30%, side by side, in one run.

For every series of each labelled dataset, :func:`ctphase.pipeline.predict_series` runs twice
with the same seed (the same drawn slices): ``early_stop=True`` and ``early_stop=False``. It
prints, per dataset: series, mean slices classified with each, how often the series-alone label
(``image_label``, before the study step) of early stopping equals the fixed-R% one, the accuracy
of both against the dataset's labels, and the wall time per series of both (read + model).

Datasets (each skipped when missing):

* ``--synth DIR``: folders with a ``manifest.csv`` (``path,label,...``), e.g. a held-out simple
  dataset (``ctphase synth /tmp/early_stop_synth --patients 40 --matrix 256 --first-patient 500000``)
  or the realistic ``/tmp/study_synth120``; may be given several times.
* ``--realdata DIR``: ``../shared/realdata`` (``labels.csv``: ``folder,phase``). A sanity check only.

Usage::

    python benchmarks/early_stop.py --synth /tmp/early_stop_synth --synth /tmp/study_synth120
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ctphase.data.manifest import read_manifest
from ctphase.inference import Classifier
from ctphase.io import discover
from ctphase.models.checkpoint import resolve_checkpoint
from ctphase.pipeline import predict_series

from real_labels import REALDATA, has_labels, real_rows


def labelled_series(root: Path, kind: str) -> list[tuple[object, str]]:
    """``(series, true label)`` of every discovered series of ``root`` that has a label."""
    if kind == "realdata":
        truth = {str((root / r["folder"]).resolve()): r["phase"] for r in real_rows(root)}
    else:
        truth = {str(r.path.resolve()): r.label.label for r in read_manifest(root / "manifest.csv").records}
    out = []
    for s in discover([root]).series:
        path = Path(s.path).resolve()
        label = truth.get(str(path)) or truth.get(str(path.parent))
        if label:
            out.append((s, label))
    return out


def run(name: str, items: list[tuple[object, str]], clf: Classifier, seed: int, sample_rate: float) -> dict:
    used = {True: 0, False: 0}
    secs = {True: 0.0, False: 0.0}
    correct = {True: 0, False: 0}
    agree = 0
    for series, truth in items:
        labels = {}
        for early in (False, True):
            t0 = time.perf_counter()
            p = predict_series(series, clf, sample_rate=sample_rate, seed=seed, early_stop=early)
            secs[early] += time.perf_counter() - t0
            used[early] += len(p.used_indices)
            labels[early] = p.image_label
            correct[early] += p.image_label == truth
        agree += labels[True] == labels[False]
    n = max(1, len(items))
    row = {"dataset": name, "series": len(items), "used_fixed": used[False] / n, "used_stop": used[True] / n,
           "agree": agree / n, "acc_fixed": correct[False] / n, "acc_stop": correct[True] / n,
           "s_fixed": secs[False] / n, "s_stop": secs[True] / n, "n_agree": agree}
    print(f"{name:<28}{len(items):>7}{row['used_fixed']:>9.1f}{row['used_stop']:>8.1f}"
          f"{agree:>6}/{len(items):<4}{100 * row['agree']:>6.1f}%{100 * row['acc_fixed']:>9.1f}%{100 * row['acc_stop']:>8.1f}%"
          f"{row['s_fixed']:>10.3f}{row['s_stop']:>10.3f}", flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--synth", type=Path, action="append", default=[], help="folder with manifest.csv (repeatable)")
    ap.add_argument("--realdata", type=Path, default=REALDATA)
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sample-rate", type=float, default=0.3)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    clf = Classifier(resolve_checkpoint(args.model), device=args.device)
    print(f"R={args.sample_rate:.0%}, seed {args.seed}, model {clf.sha256[:12]}, engine {clf.engine}, device {args.device}")
    print(f"{'dataset':<28}{'series':>7}{'used':>9}{'used':>8}{'label agreement':>17}{'accuracy':>10}{'accuracy':>9}"
          f"{'s/series':>10}{'s/series':>10}")
    print(f"{'':<28}{'':>7}{'fixed':>9}{'stop':>8}{'stop = fixed':>17}{'fixed':>10}{'stop':>9}{'fixed':>10}{'stop':>10}")
    rows = []
    for root in args.synth:
        if (root / "manifest.csv").is_file():
            rows.append(run(root.name, labelled_series(root, "synth"), clf, args.seed, args.sample_rate))
        else:
            print(f"{root.name:<28}(no manifest.csv: skipped)")
    if has_labels(args.realdata):
        rows.append(run("realdata (sanity only)", labelled_series(args.realdata, "realdata"), clf, args.seed,
                        args.sample_rate))
    synth = [r for r in rows if not r["dataset"].startswith("realdata")]
    if synth:
        n = sum(r["series"] for r in synth)
        agree = sum(r["n_agree"] for r in synth)
        saved = 1 - sum(r["used_stop"] * r["series"] for r in synth) / max(1e-9, sum(r["used_fixed"] * r["series"] for r in synth))
        print(f"\nsynthetic: early stop agrees with fixed R on {agree}/{n} series ({100 * agree / max(1, n):.1f}%), "
              f"{100 * saved:.0f}% fewer slices classified")


if __name__ == "__main__":
    main()
