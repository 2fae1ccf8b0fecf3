"""Images/s that a training recipe's synthetic stream delivers (render workers only, no network), and the
steps per epoch that fit a time budget at that rate. ``scripts/train_gpu.sh`` sizes its run with it, so that
the learning-rate schedule ends inside the lent machine's time instead of being cut half-way.

    python scripts/stream_rate.py --workers 15 --reuse 4 --size 224 --batch 128 --seconds 20 \
        --plan-seconds 400 --epochs 10 --buffer 2048 --max-steps 1000 --efficiency 0.65 \
        --window 50,400 --window 100,200 --window 300,1500 --heads --organ-head [--extra-condition pet_ct=0.12]

The probe runs with a small shuffle buffer (the steady rate does not depend on it: each yielded slice costs
the same rendering and augmentation); the run's own buffer is filled once before its first batch, which the
plan subtracts: ``buffer * reuse * workers / rate`` seconds. Training reaches only a part of the probe's rate (the
network's process shares the cores with the workers, and the first H200 run restarted the loader's iterator each
epoch, which no longer happens): that run trained at 0.69 of it over epochs 2-8 (model card, "The GPU recipe run on an H200"), so the plan takes
``--efficiency`` of the rate. Prints ``rate=<img/s> fill=<s> steps=<n>``.
"""

from __future__ import annotations

import argparse
import time

from ctphase.preprocessing import PAPER_WINDOW
from ctphase.training.batches import build_data
from ctphase.training.config import TrainConfig, parse_extra, parse_window


def measure(workers: int, reuse: int, size: int, batch: int, seconds: float, *,
            windows: list[tuple[float, float]], heads: bool, organ_head: bool,
            extra_conditions: dict[str, float] | None = None) -> float:
    """Steady images/s of the recipe's stream (with the run's windows and targets), after its first batches."""
    cfg = TrainConfig(train="synth", size=size, windows=windows, batch_size=batch, num_workers=workers,
                      synth_reuse=reuse, shuffle_buffer=64, heads=heads, organ_head=organ_head, loss="ce", device="cpu",
                      extra_conditions=dict(extra_conditions or {}),
                      train_patients=(0, 100000), val_patients=(100000, 100001), steps_per_epoch=10**9)
    data = build_data(cfg, cfg.preprocessing())
    start = mark = None
    n = 0
    for _x, y, *_ in data.batches(0):
        now = time.perf_counter()
        if start is None:  # the first batch waits for the workers to start: not counted
            start = mark = now
            continue
        n += len(y)
        mark = now
        if now - start >= seconds:
            break
    if start is None or mark is None or mark <= start:
        raise SystemExit("the stream produced too few batches to measure")
    return n / (mark - start)


def _option(parse):  # noqa: ANN001, ANN202
    """An argparse type that shows the parser's own message (argparse hides a ValueError's)."""
    def typed(text: str):  # noqa: ANN202
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return typed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--window", type=_option(parse_window), action="append", help="CENTER,WIDTH in HU, repeatable (the run's "
                    "windows; default the paper's 50,400)")
    ap.add_argument("--heads", action="store_true", help="the run trains the subphase and seconds heads")
    ap.add_argument("--organ-head", action="store_true", help="... and the organ enhancement head")
    ap.add_argument("--extra-condition", type=_option(parse_extra), action="append", default=[], metavar="NAME=RATE",
                    help="an uncommon synthetic condition on top of its rate, repeatable (as ctphase train)")
    ap.add_argument("--workers", type=int, required=True)
    ap.add_argument("--reuse", type=int, default=2)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--plan-seconds", type=float, required=True, help="seconds of training the run may take")
    ap.add_argument("--epochs", type=int, required=True)
    ap.add_argument("--buffer", type=int, default=2048, help="the run's shuffle buffer per worker")
    ap.add_argument("--max-steps", type=int, default=10**9)
    ap.add_argument("--efficiency", type=float, default=1.0, help="share of the probe's rate that training reaches")
    args = ap.parse_args()
    rate = measure(args.workers, args.reuse, args.size, args.batch, args.seconds, windows=args.window or [PAPER_WINDOW],
                   heads=args.heads, organ_head=args.heads and args.organ_head, extra_conditions=dict(args.extra_condition))
    fill = args.buffer * args.reuse * args.workers / rate
    steps = int(max(args.plan_seconds - fill, 0.0) * rate * args.efficiency / (args.epochs * args.batch))
    steps = max(1, min(steps, args.max_steps))
    print(f"rate={rate:.1f} fill={fill:.1f} steps={steps}", flush=True)


if __name__ == "__main__":
    main()
