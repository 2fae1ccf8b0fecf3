"""What an epoch boundary costs a run fed by render workers: one DataLoader iterator for the whole run
(``TrainingData.endless``, the synthetic stream's default) against a new iterator per epoch (the loader of
runs before it, v32 among them), side by side on the recipe's synthetic stream.

The network is stood in for by a fixed wait per step (``--step-ms``: the GPU step, during which the workers
render) and validation by a pause between epochs (``--pause-s``). A new iterator per epoch drops the batches
the workers had prefetched and leaves them idle through the pause, so every epoch starts cold; one iterator
keeps them rendering into its prefetch queue. Prints seconds of the timed epochs (the first, which fills the
shuffle buffers, is not timed), images/s and the ratio.

    python benchmarks/epoch_boundary.py --workers 1 --size 128 --batch 16 --steps 40 --epochs 3 --step-ms 150 --pause-s 10
"""

from __future__ import annotations

import argparse
import os
import time

from ctphase.preprocessing import PAPER_WINDOW
from ctphase.training.batches import build_data
from ctphase.training.config import TrainConfig


def timed_epochs(endless: bool, *, workers: int, size: int, batch: int, steps: int, epochs: int, step_s: float,
                 pause_s: float) -> float:
    """Seconds that epochs 2.. take (wait per step included) when the loader is ``endless`` or restarted."""
    cfg = TrainConfig(train="synth", size=size, windows=[PAPER_WINDOW], batch_size=batch, num_workers=workers,
                      synth_reuse=2, shuffle_buffer=64, heads=True, organ_head=True, loss="ce", device="cpu",
                      train_patients=(0, 100000), val_patients=(100000, 100001), steps_per_epoch=steps)
    data = build_data(cfg, cfg.preprocessing())
    data.endless = endless
    spent = 0.0
    for epoch in range(epochs):
        t0 = time.perf_counter()
        n = 0
        for _ in data.batches(epoch):
            time.sleep(step_s)
            n += 1
        if n != steps:
            raise SystemExit(f"epoch {epoch + 1} gave {n} of {steps} batches")
        if epoch:
            spent += time.perf_counter() - t0
        time.sleep(pause_s)
    return spent


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--step-ms", type=float, default=150.0)
    ap.add_argument("--pause-s", type=float, default=10.0)
    args = ap.parse_args(argv)
    if args.epochs < 2:
        ap.error("--epochs must be >= 2 (the first is not timed)")
    print(f"# cpu cores {os.cpu_count()}, load {os.getloadavg()[0]:.1f}, workers {args.workers}, size {args.size}, "
          f"batch {args.batch}, {args.steps} steps x {args.epochs} epochs, step {args.step_ms:g} ms, pause {args.pause_s:g} s")
    print("iterator,timed_s,img_per_s")
    timed = {}
    for name, endless in (("per_epoch", False), ("one_per_run", True)):
        s = timed_epochs(endless, workers=args.workers, size=args.size, batch=args.batch, steps=args.steps,
                         epochs=args.epochs, step_s=args.step_ms / 1000, pause_s=args.pause_s)
        timed[name] = s
        print(f"{name},{s:.2f},{(args.epochs - 1) * args.steps * args.batch / s:.1f}", flush=True)
    print(f"one_per_run / per_epoch time: {timed['one_per_run'] / timed['per_epoch']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
