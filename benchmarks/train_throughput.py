"""Training throughput (images/s) of the ctphase training loop, per architecture and input size.

Runs ``ctphase.training.train`` on the synthetic stream for about ``--seconds`` per setting and
prints the steady-state rate (after ``--warmup`` steps). ``--source toy`` replaces the synthetic
engine by a trivial image generator so the figure is bound by the model (forward, backward,
Adam) plus augmentation and preprocessing; ``--source synth`` is end to end, including the
rendering of synthetic slices (on a small CPU usually the bottleneck: give it ``--workers``).

    python benchmarks/train_throughput.py --archs efficientnet_b0 resnet18 --sizes 128 160 --threads 1
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


class _Stop(Exception):
    pass


def _toy_source(seed, size, patients, slices_per_series=16, phases=None):
    rng = np.random.default_rng(seed)
    base = np.full((size, size), -1000.0, np.float32)
    yy, xx = np.mgrid[:size, :size] / size
    base[((yy - 0.5) / 0.38) ** 2 + ((xx - 0.5) / 0.46) ** 2 < 1] = 50.0
    while True:
        for p in patients:
            label = int(rng.integers(4))
            for _ in range(slices_per_series):
                yield base + rng.normal(0, 10, base.shape).astype(np.float32) + 40 * label, label, p


def measure(arch: str, size: int, *, source: str, seconds: float, warmup: int, batch_size: int, threads: int | None,
            workers: int, channels_last: bool) -> tuple[float, int]:
    """Steady-state training images/s and the number of timed steps."""
    import ctphase.synth
    from ctphase.training.config import TrainConfig
    from ctphase.training.loop import train

    if source == "toy":
        ctphase.synth.iter_training_slices = _toy_source  # type: ignore[assignment]
    marks: list[tuple[int, float]] = []

    def on_event(kind: str, data: dict) -> None:
        if kind != "step":
            return
        marks.append((data["step"], time.perf_counter()))
        timed = [m for m in marks if m[0] > warmup]
        if len(timed) >= 2 and timed[-1][1] - timed[0][1] >= seconds:
            raise _Stop

    with tempfile.TemporaryDirectory() as tmp:
        cfg = TrainConfig(
            train="synth", val="synth", out=str(Path(tmp) / "run"), arch=arch, size=size, epochs=1,
            steps_per_epoch=100000, batch_size=batch_size, val_patients=(100000, 100001), val_slices_per_series=1,
            num_workers=workers, threads=threads, channels_last=channels_last, device="cpu",
        )
        try:
            train(cfg, on_event=on_event)
        except _Stop:
            pass
    timed = [m for m in marks if m[0] > warmup]
    steps = timed[-1][0] - timed[0][0]
    return steps * batch_size / (timed[-1][1] - timed[0][1]), steps


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--archs", nargs="+", default=["efficientnet_b0", "resnet18", "resnet10t", "mobilenetv3_small", "efficientnet_lite0"])
    ap.add_argument("--sizes", nargs="+", type=int, default=[128, 160])
    ap.add_argument("--source", choices=("toy", "synth"), default="toy")
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--no-channels-last", action="store_true")
    args = ap.parse_args(argv)
    print(f"# cpu cores {os.cpu_count()}, load {os.getloadavg()[0]:.1f}, source {args.source}, batch {args.batch_size}, "
          f"threads {args.threads}, workers {args.workers}, channels_last {not args.no_channels_last}")
    print("arch,size,img_per_s,timed_steps,load1")
    for arch in args.archs:
        for size in args.sizes:
            rate, steps = measure(arch, size, source=args.source, seconds=args.seconds, warmup=args.warmup,
                                  batch_size=args.batch_size, threads=args.threads, workers=args.workers,
                                  channels_last=not args.no_channels_last)
            print(f"{arch},{size},{rate:.1f},{steps},{os.getloadavg()[0]:.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
