"""Training throughput (images/s) of the ctphase training loop, per architecture and input size.

Runs ``ctphase.training.train`` on the synthetic stream for about ``--seconds`` per setting and
prints the steady-state rate (after ``--warmup`` steps). ``--source toy`` replaces the synthetic
engine by a trivial image generator so the figure is bound by the model (forward, backward,
Adam) plus augmentation and preprocessing; ``--source synth`` is end to end, including the
rendering of synthetic slices (on a small CPU usually the bottleneck: give it ``--workers``).
``--source none`` times the training step alone on ``--device`` (random batches already there;
the recipe's heads loss, Adam, bf16 autocast and channels_last on CUDA): what a GPU run could
reach if the render workers kept up.

    python benchmarks/train_throughput.py --archs efficientnet_b0 resnet18 --sizes 128 160 --threads 1
    python benchmarks/train_throughput.py --source none --device cuda --batch-size 128 --sizes 224 \
        --archs mobilenetv3_small mobilenetv3_large efficientnet_b0 efficientnet_b2
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


def step_rate(arch: str, size: int, *, device: str, seconds: float, warmup: int, batch_size: int) -> tuple[float, int]:
    """Images/s of the recipe's training step alone (heads + organ head, CE, Adam, the recipe's gradient
    clipping; :func:`ctphase.training.loop.train_step`) on random batches on ``device``."""
    import torch

    from ctphase.models.heads import ENHANCEMENT_ORGANS, Heads
    from ctphase.models.registry import create_model
    from ctphase.phases import PHASE_NAMES, SUBPHASE_NAMES
    from ctphase.training.config import TrainConfig
    from ctphase.training.heads import HeadsLoss, init_heads
    from ctphase.training.loop import PhaseLoss, _amp_dtype, train_step

    dev = torch.device(device)
    heads = Heads(organs=ENHANCEMENT_ORGANS)
    model = create_model(arch, num_classes=len(PHASE_NAMES) + heads.width, in_chans=3)
    init_heads(model)
    model = model.to(device=dev, memory_format=torch.channels_last).train()
    loss_fn = HeadsLoss(PhaseLoss("ce", len(PHASE_NAMES)), len(PHASE_NAMES), heads, 0.5)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    amp = _amp_dtype("auto", dev)
    scaler = torch.amp.GradScaler("cuda", enabled=amp is torch.float16)
    grad_clip = TrainConfig().grad_clip
    g = torch.Generator(device="cpu").manual_seed(0)
    x = torch.rand(batch_size, 3, size, size, generator=g).to(dev).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, len(PHASE_NAMES), (batch_size,), generator=g).to(dev)
    targets = [torch.randint(0, len(SUBPHASE_NAMES), (batch_size,), generator=g).to(dev),
               (20 + 200 * torch.rand(batch_size, generator=g)).to(dev),
               (300 * torch.rand(batch_size, len(ENHANCEMENT_ORGANS), generator=g)).to(dev)]

    def step() -> None:
        train_step(model, opt, scaler, loss_fn, x, y, targets, amp_dtype=amp, grad_clip=grad_clip)

    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    for _ in range(warmup):
        step()
    sync()
    t0, n = time.perf_counter(), 0
    while time.perf_counter() - t0 < seconds:
        for _ in range(10):
            step()
        n += 10
        sync()
    return n * batch_size / (time.perf_counter() - t0), n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--archs", nargs="+", default=["efficientnet_b0", "resnet18", "resnet10t", "mobilenetv3_small", "efficientnet_lite0"])
    ap.add_argument("--sizes", nargs="+", type=int, default=[128, 160])
    ap.add_argument("--source", choices=("toy", "synth", "none"), default="toy")
    ap.add_argument("--device", default="cpu", help="with --source none: where the step runs (cpu, cuda)")
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
            if args.source == "none":
                rate, steps = step_rate(arch, size, device=args.device, seconds=args.seconds, warmup=args.warmup,
                                        batch_size=args.batch_size)
            else:
                rate, steps = measure(arch, size, source=args.source, seconds=args.seconds, warmup=args.warmup,
                                      batch_size=args.batch_size, threads=args.threads, workers=args.workers,
                                      channels_last=not args.no_channels_last)
            print(f"{arch},{size},{rate:.1f},{steps},{os.getloadavg()[0]:.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
