"""Milliseconds per slice: PyTorch eager (contiguous / channels_last) vs ONNX Runtime, batch 16.

Usage::

    python benchmarks/engine_speed.py            # ~2-3 min on 2 idle cores
    python benchmarks/engine_speed.py --quick    # EfficientNet-B2/224 only

Eager PyTorch is measured twice: in this process (glibc malloc defaults) and in a child
process started with ``GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=...``,
which stops glibc from returning freed memory to the OS after every op (page faults). ONNX
Runtime is measured in this process only (its arena allocator is not affected). Random-init
weights: speed does not depend on the values. ONNX graphs come from the legacy (TorchScript)
exporter, which exports in seconds; ``--exporter dynamo`` uses torch's default exporter instead.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
import torch

from ctphase.inference import Classifier
from ctphase.models import build_model, create_model, embed_onnx, new_checkpoint
from ctphase.preprocessing import Preprocessing

TUNABLES = "glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=17179869184"
BATCH = 16
FULL = [("efficientnet_b2", 224)] + [(a, s) for a in ("mobilenetv3_small", "resnet10t", "efficientnet_lite0") for s in (128, 160, 224)]
QUICK = [("efficientnet_b2", 224)]


def _bench(fns: dict, x: np.ndarray, rounds: int) -> dict[str, float]:  # noqa: ANN001
    """ms per slice for each engine: one warm-up batch each, then ``rounds`` interleaved rounds, best kept.

    Interleaving and keeping the minimum make the figures robust to other load on a shared machine.
    """
    for fn in fns.values():
        fn(x)
    best = {k: float("inf") for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn(x)
            best[k] = min(best[k], time.perf_counter() - t0)
    return {k: 1000.0 * v / x.shape[0] for k, v in best.items()}


def _checkpoint(arch: str, size: int):  # noqa: ANN202
    torch.manual_seed(0)
    return new_checkpoint(arch, Preprocessing(size=size), create_model(arch))


def measure(configs: list[tuple[str, int]], threads: int, rounds: int, exporter: str | None) -> dict[str, dict[str, float]]:
    """Eager torch (contiguous, channels_last) and, when ``exporter`` is given, ONNX Runtime."""
    torch.set_num_threads(threads)
    out: dict[str, dict[str, float]] = {}
    for arch, size in configs:
        ck = _checkpoint(arch, size)
        x = np.random.default_rng(0).random((BATCH, 3, size, size), dtype=np.float32)
        model = build_model(ck)

        def plain(batch: np.ndarray, model=model) -> None:  # noqa: ANN001
            with torch.inference_mode():
                model(torch.from_numpy(batch))

        fns = {
            "torch": plain,
            "torch_cl": Classifier(ck, engine="torch", device="cpu", batch_size=BATCH, threads=threads).predict_proba,
        }
        export_s = float("nan")
        if exporter is not None:
            t0 = time.perf_counter()
            ck = embed_onnx(ck, opset=17 if exporter == "legacy" else 18, exporter=exporter)
            export_s = time.perf_counter() - t0
            fns["onnx"] = Classifier(ck, engine="onnx", device="cpu", batch_size=BATCH, threads=threads).predict_proba
        out[f"{arch}@{size}"] = {**_bench(fns, x, rounds), "export_s": export_s}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="EfficientNet-B2/224 only")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="timed batches per engine (best kept)")
    parser.add_argument("--exporter", default="legacy", choices=["legacy", "dynamo"])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    configs = QUICK if args.quick else FULL

    if args.child:  # eager torch only, print JSON for the parent
        print(json.dumps(measure(configs, args.threads, args.rounds, None)))
        return

    t_start = time.perf_counter()
    tuned_here = TUNABLES in os.environ.get("GLIBC_TUNABLES", "")
    load_before = os.getloadavg()[0]
    here = measure(configs, args.threads, args.rounds, args.exporter)
    env = {**os.environ, "GLIBC_TUNABLES": TUNABLES}
    cmd = [sys.executable, __file__, "--child", "--threads", str(args.threads), "--rounds", str(args.rounds)]
    if args.quick:
        cmd.append("--quick")
    child = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    tuned_torch = json.loads(child.stdout.strip().splitlines()[-1])

    print(f"ms per slice, batch {BATCH}, {args.threads} threads, torch {torch.__version__}, "
          f"ONNX via {args.exporter} exporter{' (this process already had the tunables)' if tuned_here else ''}")
    print("'tuned' = eager torch in a child process with GLIBC_TUNABLES=" + TUNABLES)
    header = f"{'model':<24}{'torch':>9}{'torch_cl':>10}{'tuned':>9}{'tuned_cl':>10}{'onnx':>9}{'cl/onnx':>9}{'tcl/onnx':>9}{'export s':>9}"
    print(header)
    print("-" * len(header))
    for key in here:
        d, t, o = here[key], tuned_torch[key], here[key]
        print(
            f"{key:<24}{d['torch']:9.2f}{d['torch_cl']:10.2f}{t['torch']:9.2f}{t['torch_cl']:10.2f}{o['onnx']:9.2f}"
            f"{d['torch_cl'] / o['onnx']:8.2f}x{t['torch_cl'] / o['onnx']:8.2f}x{o['export_s']:9.1f}"
        )
    print(f"total {time.perf_counter() - t_start:.0f} s; 1-min load average {load_before:.1f} at start, "
          f"{os.getloadavg()[0]:.1f} at end on {os.cpu_count()} CPUs (figures are best of {args.rounds} interleaved batches)")


if __name__ == "__main__":
    main()
