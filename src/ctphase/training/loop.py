"""The training loop: ``train(TrainConfig) -> run directory``.

A run directory holds::

    config.json          the resolved configuration (what `--resume` reads back)
    metrics.json         one row per epoch: train loss, val slice acc/F1, val scan acc/F1, lr, seconds, img/s
    last.safetensors     checkpoint after the latest epoch (a normal ctphase checkpoint)
    last_state.pt        optimizer, scheduler and AMP scaler state of that epoch (plain tensors/dicts,
                         loaded with ``torch.load(weights_only=True)``)
    best.safetensors     checkpoint of the epoch with the best validation scan-level macro F1

Recipe (Dao et al. 2022, from scratch): Adam, cosine annealing with a linear warm-up (per
step), binary cross-entropy on one-hot targets with sigmoid outputs (``loss="bce"``, the
paper's) or softmax cross-entropy (``loss="ce"``). Mixed precision (bf16 where supported, else
fp16 with a grad scaler) and channels_last on CUDA; channels_last on CPU too. Validation is
described in :mod:`ctphase.training.validate`.

The library is silent; progress goes to an optional callback ``on_event(kind, data)`` with
kinds ``"start"``, ``"step"``, ``"validate"`` and ``"epoch"``.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .. import __version__
from ..atomic import atomic_path, write_atomic
from ..errors import CheckpointError, ConfigError
from ..inference import resolve_device
from ..models.activation import activation_for_loss
from ..phases import PHASE_NAMES
from ..preprocessing import Preprocessing
from .batches import TrainingData, build_data
from .config import TrainConfig, resolve_config
from .datasets import derive_seed
from .heads import HeadsLoss, init_heads, kept_rows, widen_state
from .validate import validate

logger = logging.getLogger(__name__)

EventCallback = Callable[[str, dict[str, Any]], None]


def lr_factor(step: int, total_steps: int, warmup_steps: int, min_factor: float = 0.0) -> float:
    """Multiplier of the base lr at ``step``: linear warm-up from ~0 to 1, then cosine to ``min_factor``."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    span = max(1, total_steps - warmup_steps)
    t = min(1.0, (step - warmup_steps) / span)
    return min_factor + (1 - min_factor) * 0.5 * (1 + math.cos(math.pi * t))


def _amp_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    if amp == "off" or device.type != "cuda":
        return None
    if amp == "fp16":
        return torch.float16
    if amp == "bf16" or torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16


class PhaseLoss(nn.Module):
    """``"bce"``: BCE-with-logits on one-hot targets (paper); ``"ce"``: softmax cross-entropy."""

    def __init__(self, kind: str, num_classes: int, label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.kind = kind
        self.num_classes = num_classes
        self.smoothing = float(label_smoothing)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        if self.kind == "ce":
            return nn.functional.cross_entropy(logits, target, label_smoothing=self.smoothing)
        onehot = nn.functional.one_hot(target, self.num_classes).float()
        if self.smoothing:
            onehot = onehot * (1 - self.smoothing) + self.smoothing / self.num_classes
        return nn.functional.binary_cross_entropy_with_logits(logits, onehot)


def train_step(model: nn.Module, opt: torch.optim.Optimizer, scaler: torch.amp.GradScaler, loss_fn: nn.Module,
               x: torch.Tensor, y: torch.Tensor, targets: list[torch.Tensor], *, amp_dtype: torch.dtype | None,
               grad_clip: float | None) -> torch.Tensor:
    """One optimiser step on a batch already on the model's device: forward under autocast, the loss
    (heads targets after ``y``), backward through ``scaler``, gradient-norm clipping, Adam. Returns the loss, detached."""
    with torch.autocast(x.device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
        logits = model(x)
    loss = loss_fn(logits, y, *targets)
    opt.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    if grad_clip:
        scaler.unscale_(opt)
        nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    scaler.step(opt)
    scaler.update()
    return loss.detach()


def _write_json(path: Path, obj: Any) -> None:
    write_atomic(path, json.dumps(obj, indent=2) + "\n")


@dataclass
class _Run:
    """The mutable state of one training run: network, optimiser, schedule and history."""

    cfg: TrainConfig
    run: Path
    pp: Preprocessing
    data: TrainingData
    device: torch.device
    model: nn.Module
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler
    amp_dtype: torch.dtype | None
    memory_format: torch.memory_format
    history: list[dict[str, Any]] = field(default_factory=list)
    start_epoch: int = 0
    best_score: tuple[float, float] = (-1.0, -1.0)
    slices_seen: int = 0
    init_identity: dict[str, Any] = field(default_factory=dict)
    anchor: list[tuple[torch.Tensor, torch.Tensor]] = field(default_factory=list)

    @classmethod
    def create(cls, cfg: TrainConfig, run: Path, pp: Preprocessing, data: TrainingData, device: torch.device) -> _Run:
        """A fresh network and optimiser for ``cfg`` (seeded before this call)."""
        from ..models.registry import create_model

        heads = cfg.heads_spec()
        model = create_model(cfg.arch, num_classes=len(PHASE_NAMES) + (heads.width if heads else 0), in_chans=pp.channels)
        if heads is not None:
            init_heads(model)
        memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
        model = model.to(device=device, memory_format=memory_format)
        amp_dtype = _amp_dtype(cfg.amp, device)
        scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype is torch.float16)
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        total = cfg.epochs * data.steps_per_epoch
        warm = int(round(cfg.warmup_epochs * data.steps_per_epoch))
        min_factor = min(1.0, cfg.min_lr / cfg.lr)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, total, warm, min_factor))
        return cls(cfg, run, pp, data, device, model, opt, sched, scaler, amp_dtype, memory_format)

    def resume(self) -> None:
        """Load the weights, optimiser state and history of the run's last epoch."""
        from ..models.checkpoint import load_checkpoint

        run = self.run
        state_file = run / "last_state.pt"
        if not state_file.is_file() or not (run / "last.safetensors").is_file():
            raise CheckpointError(f"cannot resume {run}: last.safetensors or last_state.pt is missing")
        last = load_checkpoint(run / "last.safetensors")
        started_from = last.meta.get("recipe", {}).get("init", {}).get("model_sha256")
        if self.anchor and started_from != self.init_identity.get("model_sha256"):
            raise CheckpointError(f"cannot resume {run}: its --init checkpoint {self.cfg.init} is not the one the run "
                                  "started from (another model sha256), and the l2sp pull needs those weights")
        self.model.load_state_dict(last.state_dict)
        self.model = self.model.to(device=self.device, memory_format=self.memory_format)
        try:
            state = torch.load(state_file, map_location="cpu", weights_only=True)
            self.opt.load_state_dict(state["optimizer"])
            self.sched.load_state_dict(state["scheduler"])
            if state.get("scaler"):
                self.scaler.load_state_dict(state["scaler"])
            self.start_epoch = int(state["epoch"]) + 1
            self.best_score = (float(state["best_scan_f1"]), float(state["best_slice_f1"]))
            self.slices_seen = int(state["slices_seen"])
        except Exception as exc:  # noqa: BLE001 - torch.load/unpickling and load_state_dict raise many types
            raise CheckpointError(f"cannot resume {run}: last_state.pt is unreadable or does not fit this run ({exc})") from None
        if (run / "metrics.json").is_file():
            self.history = json.loads((run / "metrics.json").read_text()).get("epochs", [])[: self.start_epoch]

    def warm_start(self, path: str) -> None:
        """Start from the weights of the checkpoint ``path`` (same architecture and windows).

        The input size may differ: the backbones end in global pooling, so the same weights run
        at any size, and fine-tuning at a larger size than the parent's is the usual way to raise
        it (Touvron et al., "Fixing the train-test resolution discrepancy", NeurIPS 2019).
        """
        from ..models.checkpoint import load_checkpoint

        ckpt = load_checkpoint(path)
        cfg, pp = self.cfg, self.pp
        theirs = (ckpt.arch, [tuple(w) for w in ckpt.preprocessing.windows])
        ours = (cfg.arch, [tuple(w) for w in pp.windows])
        if theirs != ours:
            raise ConfigError(f"--init {path}: the checkpoint is {theirs[0]} with windows {theirs[1]}, "
                              f"this run is {ours[0]} with windows {ours[1]}; they must match")
        if ckpt.output_activation != activation_for_loss(cfg.loss):
            raise ConfigError(f"--init {path}: the checkpoint was trained with {ckpt.output_activation} outputs, "
                              f"--loss {cfg.loss} trains {activation_for_loss(cfg.loss)} outputs; they must match")
        if ckpt.heads is not None and not cfg.heads:
            raise ConfigError(f"--init {path}: the checkpoint has subphase and seconds heads; train with --heads")
        ours_heads = cfg.heads_spec()
        if ckpt.heads is not None and ours_heads is not None and (ckpt.heads.organs and not ours_heads.organs
                                                                   or ckpt.heads.subphases != ours_heads.subphases):
            raise ConfigError(f"--init {path}: the checkpoint's heads {ckpt.heads.to_dict()} do not fit this run's "
                              f"{ours_heads.to_dict()}{' (add --organ-head)' if ckpt.heads.organs else ''}")
        state = ckpt.state_dict
        if ours_heads is not None and ckpt.heads != ours_heads:  # their rows kept, new heads fresh
            state = widen_state(state, self.model.state_dict(), kept_rows(ckpt.heads, ours_heads, len(PHASE_NAMES)))
        try:
            self.model.load_state_dict({k: torch.as_tensor(v) for k, v in state.items()})
        except RuntimeError as exc:
            raise CheckpointError(f"--init {path}: its weights do not fit {cfg.arch} ({exc})") from None
        self.model = self.model.to(device=self.device, memory_format=self.memory_format)
        self.init_identity = {"path": str(path), "model_sha256": ckpt.sha256}
        if self.cfg.l2sp:  # L2-SP's starting point: the weights as loaded (fresh head rows at their initialisation)
            self.anchor = [(p, p.detach().clone()) for p in self.model.parameters()]

    def pull_to_anchor(self, lr: float) -> None:
        """L2-SP, decoupled: move each weight ``lr * l2sp`` of the way back to its starting value."""
        if self.anchor:
            with torch.no_grad():
                for p, start in self.anchor:
                    p.lerp_(start, lr * self.cfg.l2sp)

    def recipe(self) -> dict[str, Any]:
        """How the network is trained, recorded in every checkpoint."""
        cfg = self.cfg
        return {
            "optimizer": "adam",
            "lr": cfg.lr,
            "min_lr": cfg.min_lr,
            "weight_decay": cfg.weight_decay,
            "schedule": "linear warm-up then cosine annealing, per step",
            "warmup_epochs": cfg.warmup_epochs,
            "epochs": cfg.epochs,
            "steps_per_epoch": self.data.steps_per_epoch,
            "batch_size": cfg.batch_size,
            "loss": cfg.loss,
            "label_smoothing": cfg.label_smoothing,
            "augment": aug.to_dict() if (aug := cfg.augmentation()) else None,
            "amp": str(self.amp_dtype).replace("torch.", "") if self.amp_dtype else "off",
            "channels_last": cfg.channels_last,
            "seed": cfg.seed,
            "from_scratch": not cfg.init,
            **({"heads_weight": cfg.heads_weight} if cfg.heads else {}),
            **({"l2sp": cfg.l2sp} if cfg.l2sp else {}),
            **({"init": self.init_identity} if cfg.init else {}),
        }

    def train_epoch(self, epoch: int, loss_fn: nn.Module, emit: EventCallback) -> tuple[float, int, float]:
        """One pass of ``steps_per_epoch`` batches; returns (summed loss, slices seen, seconds)."""
        cfg, device, model = self.cfg, self.device, self.model
        model.train()
        t0 = time.perf_counter()
        loss_acc, n_seen = torch.zeros((), device=device), 0
        steps = self.data.steps_per_epoch
        sync_every = 1 if device.type == "cpu" else 25  # a host sync per step would stall the GPU
        for step, (x, y, *targets) in enumerate(self.data.batches(epoch), start=1):
            x = x.to(device, non_blocking=True).contiguous(memory_format=self.memory_format)
            y = torch.as_tensor(y, dtype=torch.long).to(device, non_blocking=True)
            if targets:  # subphase index, seconds (NaN: non-contrast) and organ HU (NaN: not in the slice) for the heads
                targets = [torch.as_tensor(targets[0], dtype=torch.long).to(device),
                           *(torch.as_tensor(t).float().to(device) for t in targets[1:])]
            loss = train_step(model, self.opt, self.scaler, loss_fn, x, y, targets, amp_dtype=self.amp_dtype,
                              grad_clip=cfg.grad_clip)
            self.pull_to_anchor(self.opt.param_groups[0]["lr"])
            self.sched.step()
            loss_acc += loss.float() * len(y)
            n_seen += len(y)
            if step % sync_every == 0 or step == steps:
                mean_loss = float(loss_acc) / n_seen
                if not math.isfinite(mean_loss):
                    raise ConfigError(f"training diverged in epoch {epoch + 1} by step {step} (loss {mean_loss}); lower --lr")
                emit("step", {"epoch": epoch + 1, "epochs": cfg.epochs, "step": step, "steps": steps, "loss": mean_loss,
                              "lr": self.opt.param_groups[0]["lr"], "img_per_s": n_seen / max(time.perf_counter() - t0, 1e-9)})
        loss_sum = float(loss_acc)
        if not math.isfinite(loss_sum):
            raise ConfigError(f"training diverged in epoch {epoch + 1} (loss {loss_sum}); lower --lr")
        if n_seen == 0:
            raise ConfigError("no training batch was produced; check the training data and --batch-size")
        return loss_sum, n_seen, time.perf_counter() - t0

    def end_epoch(self, epoch: int, row: dict[str, Any]) -> None:
        """Record the epoch, keep the best model, write last/best checkpoints, resume state and metrics."""
        score = (row.get("val_scan_f1", -1.0), row.get("val_slice_f1", -1.0))
        improved = score > self.best_score
        if improved:
            self.best_score = score
        row["best"] = improved
        self.history.append(row)
        meta = {
            "data": self.data.summary | {"slices_seen": self.slices_seen},
            "recipe": self.recipe(),
            "epoch": epoch + 1,
            "metrics": {k: v for k, v in row.items() if k.startswith("val_") or k == "train_loss"},
            "ctphase_version": __version__,
        }
        self._save_model(self.run / "last.safetensors", meta)
        if improved:
            self._save_model(self.run / "best.safetensors", meta)
        state = {
            "epoch": epoch,
            "optimizer": self.opt.state_dict(),
            "scheduler": self.sched.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else {},
            "best_scan_f1": self.best_score[0],
            "best_slice_f1": self.best_score[1],
            "slices_seen": self.slices_seen,
        }
        with atomic_path(self.run / "last_state.pt") as tmp:
            torch.save(state, tmp)
        best_row = max(self.history, key=lambda r: (r.get("val_scan_f1", -1.0), r.get("val_slice_f1", -1.0)))
        _write_json(self.run / "metrics.json", {"epochs": self.history, "best_epoch": best_row["epoch"], "data": meta["data"]})

    def _save_model(self, path: Path, meta: dict[str, Any]) -> None:
        from ..models.checkpoint import new_checkpoint, save_checkpoint

        ckpt = new_checkpoint(self.cfg.arch, self.pp, self.model, meta, class_names=tuple(PHASE_NAMES),
                              output_activation=activation_for_loss(self.cfg.loss), heads=self.cfg.heads_spec())
        save_checkpoint(ckpt, path)  # atomic


def _prepare_run(config: TrainConfig) -> _Run:
    cfg, run, resuming = resolve_config(config)
    cfg.check()
    device = torch.device(resolve_device(cfg.device))
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    pp = cfg.preprocessing()
    torch.manual_seed(derive_seed(cfg.seed, "init") % 2**63)
    np.random.seed(derive_seed(cfg.seed, "np") % 2**32)
    data = build_data(cfg, pp)
    try:
        run.mkdir(parents=True, exist_ok=True)
        if not resuming:
            _write_json(run / "config.json", cfg.to_dict())
    except OSError as exc:
        raise ConfigError(f"cannot write the run directory {run}: {exc.strerror or exc}; choose another --out") from None
    state = _Run.create(cfg, run, pp, data, device)
    if cfg.init and (not resuming or cfg.l2sp):  # a resumed L2-SP run needs its starting weights again
        state.warm_start(cfg.init)
    if resuming:
        state.resume()
    return state


def train(config: TrainConfig, on_event: EventCallback | None = None) -> Path:
    """Train a slice classifier; returns the run directory (see the module docstring for its files).

    Raises:
        ConfigError: bad configuration, or an output directory that already holds a run.
        CheckpointError: a resumed run whose state files are missing or unreadable.
    """
    emit = on_event or (lambda kind, data: None)
    r = _prepare_run(config)
    cfg, data = r.cfg, r.data
    loss_fn = HeadsLoss(PhaseLoss(cfg.loss, len(PHASE_NAMES), cfg.label_smoothing), len(PHASE_NAMES),
                        cfg.heads_spec(), cfg.heads_weight)
    activation = activation_for_loss(cfg.loss)
    emit("start", {"run": str(r.run), "arch": cfg.arch, "size": r.pp.size, "epochs": cfg.epochs, "start_epoch": r.start_epoch,
                   "steps": data.steps_per_epoch, "device": str(r.device), "data": data.summary})
    for epoch in range(r.start_epoch, cfg.epochs):
        t0 = time.perf_counter()
        loss_sum, n_seen, t_train = r.train_epoch(epoch, loss_fn, emit)
        r.slices_seen += n_seen
        emit("validate", {"epoch": epoch + 1, "scans": len(data.val_scans)})
        tv = time.perf_counter()
        val = validate(r.model, data.val_scans, r.pp, activation, r.device, slices_per_scan=cfg.val_slices_per_series,
                       sample_rate=cfg.val_sample_rate, seed=cfg.seed, amp_dtype=r.amp_dtype,
                       channels_last=cfg.channels_last) if data.val_scans else {}
        row = {
            "epoch": epoch + 1,
            "train_loss": loss_sum / n_seen,
            "train_slices": n_seen,
            "lr": r.opt.param_groups[0]["lr"],
            "seconds": time.perf_counter() - t0,
            "train_seconds": t_train,
            "val_seconds": time.perf_counter() - tv,
            "img_per_s": n_seen / max(t_train, 1e-9),
            **val,
        }
        r.end_epoch(epoch, row)
        emit("epoch", row)
    return r.run
