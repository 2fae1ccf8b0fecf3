"""Milliseconds per slice of two checkpoints side by side: the bundled ONNX graphs on ONNX Runtime.

Both models are loaded as ``ctphase predict`` loads them (:class:`ctphase.inference.Classifier`,
engine onnx, CPU) and fed the same random HU slices of 512 x 512, preprocessing included, at
batch 16; the two are timed in alternating rounds (``--rounds``, median per model), so that load
changes on a shared machine hit both alike.

Usage::

    python benchmarks/model_latency.py --new runs/x/best_with_onnx.safetensors   # against the bundled model
    python benchmarks/model_latency.py --old A.safetensors --new B.safetensors --threads 1
    python benchmarks/model_latency.py --old A.safetensors --new B.safetensors --json latency.json   # also as JSON
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

from ctphase.inference import Classifier
from ctphase.models import default_checkpoint_path


def _time(clf: Classifier, hu: np.ndarray, batch: int) -> float:
    t0 = time.perf_counter()
    for i in range(0, len(hu), batch):
        clf.predict_hu(hu[i:i + batch])
    return (time.perf_counter() - t0) / len(hu) * 1000.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", type=Path, default=None, help="default: the bundled model")
    ap.add_argument("--new", type=Path, required=True)
    ap.add_argument("--slices", type=int, default=64)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--json", type=Path, default=None, help="also write each model's path and ms per slice (median) here")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    hu = rng.normal(0, 300, size=(args.slices, 512, 512)).astype(np.float32)
    models = {"old": args.old or default_checkpoint_path(), "new": args.new}
    clfs = {k: Classifier(p, device="cpu", engine="onnx", threads=args.threads) for k, p in models.items()}
    for clf in clfs.values():
        _time(clf, hu[: args.batch], args.batch)  # warm-up
    times: dict[str, list[float]] = {k: [] for k in clfs}
    for _ in range(args.rounds):
        for k, clf in clfs.items():
            times[k].append(_time(clf, hu, args.batch))
    for k, clf in clfs.items():
        ms = statistics.median(times[k])
        print(f"{k}: {models[k]}  ({clf.checkpoint.arch}, {clf.checkpoint.preprocessing.size} px, sha {clf.checkpoint.sha256[:12]})"
              f"  {ms:.2f} ms/slice median of {args.rounds} (min {min(times[k]):.2f}, max {max(times[k]):.2f})")
    ratio = statistics.median(times["new"]) / statistics.median(times["old"])
    print(f"new / old: {ratio:.2f}  ({args.slices} slices of 512x512, batch {args.batch}, preprocessing included)")
    if args.json:
        args.json.write_text(json.dumps({k: {"model": str(models[k]), "ms_per_slice": statistics.median(times[k])}
                                         for k in clfs}, indent=1) + "\n")


if __name__ == "__main__":
    main()
