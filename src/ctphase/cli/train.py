"""``ctphase train``: train a slice classifier from scratch into a run directory."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any

import typer

from ..errors import CTPhaseError
from ..models.registry import ARCHITECTURES, DEFAULT_ARCH
from ..preprocessing import PAPER_WINDOW
from ..training.config import parse_extra, parse_window
from .common import DEVICE_HELP, Device, Tracker, check_output_folder, fail, fail_with, need_extra, say


class Loss(str, Enum):
    bce = "bce"
    ce = "ce"


class Amp(str, Enum):
    auto = "auto"
    bf16 = "bf16"
    fp16 = "fp16"
    off = "off"


ARCH_HELP = f"Backbone: {', '.join(ARCHITECTURES)} (ctphase models lists them, with plugins)."


def _parse_window(text: str) -> tuple[float, float]:
    try:
        return parse_window(text)
    except ValueError as exc:
        fail(f"--window {exc}", 2)


EXTRA_HELP = ("Give this share of synthetic training series an uncommon condition (pet_ct, small_fov, pelvis_only, "
              "paediatric, obese, thin, ...) on top of its own rate; repeatable.")


def _parse_extra(texts: list[str]) -> dict[str, float]:
    """``["pet_ct=0.12", ...]`` -> ``{"pet_ct": 0.12}`` (names and rates are checked by the config)."""
    try:
        return dict(parse_extra(t) for t in texts)
    except ValueError as exc:
        fail(f"--extra-condition {exc}", 2)


def _parse_range(text: str, option: str) -> tuple[int, int]:
    """``"N"`` -> (0, N); ``"A:B"`` or ``"A-B"`` -> (A, B) (stop exclusive)."""
    try:
        if ":" in text or "-" in text.lstrip("-"):
            a, b = text.replace(":", "-").split("-")
            return int(a), int(b)
        return 0, int(text)
    except ValueError:
        fail(f"{option} {text!r} must be N (patients 0..N-1) or START:STOP", 2)
    raise AssertionError  # unreachable


class _Reporter:
    """Training events as a progress bar (or progress lines) and one line per epoch."""

    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker
        self.task = ""

    def __call__(self, kind: str, data: dict[str, Any]) -> None:
        if kind == "start":
            self.tracker.say(f"training {data['arch']} at {data['size']} px on {data['device']}: epochs "
                             f"{data['start_epoch'] + 1}..{data['epochs']}, {data['steps']} steps/epoch -> {data['run']}")
        elif kind == "step":
            self.task = f"epoch {data['epoch']}/{data['epochs']}"
            self.tracker.update(self.task, data["step"], data["steps"], "steps",
                                f"loss {data['loss']:.4f} lr {data['lr']:.2e} {data['img_per_s']:.0f} img/s")
        elif kind == "validate" and self.task:
            self.tracker.finish(self.task)
            self.task = f"epoch {data['epoch']}: validating"
            self.tracker.update(self.task, 0, data["scans"], "scans")
        elif kind == "epoch":
            self.tracker.finish(self.task)
            nan = float("nan")
            self.tracker.say(
                f"epoch {data['epoch']}: loss {data['train_loss']:.4f}  "
                f"val slice acc {data.get('val_slice_acc', nan):.3f} F1 {data.get('val_slice_f1', nan):.3f}  "
                f"scan acc {data.get('val_scan_acc', nan):.3f} F1 {data.get('val_scan_f1', nan):.3f}  "
                f"{data['img_per_s']:.0f} img/s {data['seconds']:.0f}s{'  (best)' if data.get('best') else ''}"
            )


def train(
    train_source: str = typer.Option("synth", "--train", help="Training data: a manifest CSV or 'synth'."),
    val_source: str | None = typer.Option(
        None, "--val", help="Validation: a manifest CSV or 'synth' (default: 'synth' for synthetic training, else a 20% patient split)."
    ),
    arch: str = typer.Option(DEFAULT_ARCH, "--arch", help=ARCH_HELP),
    size: int = typer.Option(224, "--size", help="Input size in pixels."),
    epochs: int | None = typer.Option(None, "--epochs", help="Epochs (default: 15); with --resume, the new total."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Run folder to create (checkpoints, config.json, metrics.json)."),
    batch_size: int = typer.Option(32, "--batch-size", min=1, help="Slices per batch."),
    lr: float = typer.Option(1e-3, "--lr", help="Peak learning rate (Adam)."),
    weight_decay: float = typer.Option(0.0, "--weight-decay", help="Adam weight decay."),
    warmup_epochs: float = typer.Option(1.0, "--warmup-epochs", help="Linear warm-up length, then cosine annealing."),
    loss: Loss = typer.Option(Loss.bce, "--loss", help="bce (the paper's: sigmoid, BCE on one-hot) or ce (softmax cross-entropy)."),
    window: list[str] | None = typer.Option(
        None, "--window", metavar="<center,width>", help="HU window; repeat for one channel per window (default: 50,400)."
    ),
    steps_per_epoch: int | None = typer.Option(None, "--steps-per-epoch", help="Batches per epoch (synthetic stream: default 500; manifests: cap)."),
    train_patients: str = typer.Option("5000", "--train-patients", help="Synthetic training patients: N or START:STOP."),
    val_patients: str = typer.Option("100000:100032", "--val-patients", help="Synthetic validation patients (disjoint from training); each is rendered in all 4 phases."),
    slices_per_series: int = typer.Option(16, "--slices-per-series", min=1, help="Slices drawn from each rendered synthetic training series."),
    label_smoothing: float = typer.Option(0.0, "--label-smoothing", min=0.0, max=0.99, help="Label smoothing of the phase loss (0: none)."),
    synth_reuse: int = typer.Option(1, "--synth-reuse", min=1, help="Use each rendered synthetic slice N times (differently augmented): more img/s when rendering is the bottleneck."),
    shuffle_buffer: int = typer.Option(256, "--shuffle-buffer", min=1, help="Synthetic slices mixed per stream before a batch is drawn (a batch spans about this / --slices-per-series series)."),
    extra_condition: list[str] = typer.Option([], "--extra-condition", metavar="<name=rate>", help=EXTRA_HELP),
    no_augment: bool = typer.Option(False, "--no-augment", help="Disable augmentation."),
    augment_strength: float = typer.Option(1.0, "--augment-strength", help="Scale every augmentation magnitude and "
                                           "probability (1: the default; 2: twice as strong; > 0)."),
    hflip: bool = typer.Option(False, "--hflip", help="Allow left-right flips (off by default: anatomy is lateralised)."),
    seed: int = typer.Option(0, "--seed", help="Seed of initialisation, data and augmentation."),
    device: Device = typer.Option(Device.auto, "--device", help=DEVICE_HELP),
    workers: int = typer.Option(1, "--workers", min=0, help="DataLoader worker processes."),
    threads: int | None = typer.Option(None, "--threads", min=1, help="Torch threads (default: torch's; 1 is often fastest on a busy CPU)."),
    amp: Amp = typer.Option(Amp.auto, "--amp", help="Mixed precision on CUDA (auto: bf16 or fp16 on CUDA, off on CPU)."),
    resume: Path | None = typer.Option(None, "--resume", help="Continue the run in this folder from its last epoch."),
    init: Path | None = typer.Option(None, "--init", help="Start from this checkpoint's weights (fine-tuning; same "
                                     "--arch and windows, --size may differ); optimiser and schedule start fresh."),
    l2sp: float = typer.Option(0.0, "--l2sp", min=0.0, metavar="ALPHA", help="With --init: after each step pull every "
                               "weight lr*ALPHA of the way back to the checkpoint's (L2-SP, decoupled; 0: off)."),
    heads: bool = typer.Option(False, "--heads", help="Also train the subphase and seconds-after-injection heads (synthetic training only)."),
    organ_head: bool = typer.Option(False, "--organ-head", help="With --heads: also regress the enhancement (HU) of aorta, "
                                    "portal and hepatic veins, IVC, liver, spleen, kidneys and bladder where a slice shows them (training only)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars, progress lines or per-epoch lines (errors and warnings still print)."),
) -> None:
    """Train a slice classifier from scratch into a run folder: best.safetensors, last.safetensors, config.json, metrics.json.

    Examples: ctphase train --train synth --arch efficientnet_b0 --size 128 --epochs 15 --out runs/b0;
    ctphase train --resume runs/b0 --epochs 20; fine-tune the bundled model: ctphase train --init
    src/ctphase/weights/default.safetensors --heads --organ-head --loss ce --arch mobilenetv3_small --size 224
    --window 50,400 --window 100,200 --window 300,1500 --lr 3e-4 --epochs 4 --out runs/ft.
    """
    need_extra("ctphase train", "torch", "timm", "sklearn")
    from ..training.config import TrainConfig
    from ..training.loop import train as run_training

    if resume is None and out is None:
        fail("--out RUN_FOLDER is required (or --resume RUN_FOLDER)", 2)
    if resume is not None and init is not None:
        fail("--init starts a new run and --resume continues one: give only one of them", 2)
    if init is not None and not init.is_file():
        fail(f"--init {init}: no such checkpoint file", 2)
    check_output_folder(out, "--out")
    cfg = TrainConfig(
        train=train_source, val="synth" if val_source is None and train_source == "synth" else val_source,
        out=str(out or resume), arch=arch, size=size, windows=[_parse_window(w) for w in window] if window else [PAPER_WINDOW],
        epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay, warmup_epochs=warmup_epochs,
        loss=loss.value,  # type: ignore[arg-type]
        steps_per_epoch=steps_per_epoch, train_patients=_parse_range(train_patients, "--train-patients"),
        val_patients=_parse_range(val_patients, "--val-patients"), synth_reuse=synth_reuse, shuffle_buffer=shuffle_buffer,
        extra_conditions=_parse_extra(extra_condition), slices_per_series=slices_per_series, label_smoothing=label_smoothing, augment=not no_augment,
        augment_strength=augment_strength, hflip=hflip, seed=seed, num_workers=workers, threads=threads, device=device.value, amp=amp.value,
        resume=str(resume) if resume else None, init=str(init) if init else None, heads=heads,
        organ_head=organ_head, l2sp=l2sp,
    )
    with Tracker(quiet) as tracker:
        try:
            run = run_training(cfg, on_event=_Reporter(tracker))
        except (CTPhaseError, OSError) as exc:
            fail_with(exc)
    say(f"done: {run / 'best.safetensors'}", quiet)
