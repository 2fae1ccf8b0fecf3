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
fp16 with a grad scaler) and channels_last on CUDA; channels_last on CPU too.

Validation is done at the scan level the way prediction works: every validation scan's slices
are classified, R=30% of them drawn (seeded by the scan id, :func:`ctphase.evaluation.scan_level.vote_scans`)
and majority-voted; the scan macro F1 selects ``best.safetensors``.

The library is silent; progress goes to an optional callback ``on_event(kind, data)`` with
kinds ``"start"``, ``"step"``, ``"validate"`` and ``"epoch"``.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from .. import __version__
from ..errors import CheckpointError, ConfigError
from ..atomic import atomic_path, write_atomic
from ..inference import activate, resolve_device
from ..phases import PHASE_NAMES
from ..preprocessing import PAPER_WINDOW, Preprocessing
from .datasets import (
    Augment,
    PaperSliceDataset,
    SeriesBlockSampler,
    SeriesSliceDataset,
    SynthSliceStream,
    derive_seed,
    read_8bit_as_hu,
)
from .manifest import Manifest, read_manifest, split_by_patient

logger = logging.getLogger(__name__)

SYNTH = "synth"
RUN_FILES = ("config.json", "metrics.json", "last.safetensors", "last_state.pt", "best.safetensors")
"""Files a training run writes into its run directory."""
LOSSES = ("bce", "ce")
EventCallback = Callable[[str, dict[str, Any]], None]


@dataclass
class TrainConfig:
    """Everything a training run depends on (saved as ``config.json``).

    Attributes:
        train: a manifest CSV (series or the paper's per-slice CSV) or ``"synth"``.
        val: a manifest, ``"synth"``, or ``None``: for a manifest ``train``, a ``val_fraction``
            patient-disjoint split of it; for ``"synth"``, synthetic validation patients.
        out: the run directory (created; must not hold another run unless ``resume``).
        arch: backbone name of the model registry (``ctphase.models``).
        size: input size in pixels; windows: ``(center, width)`` per channel (one window is
            replicated to ``channels``).
        loss: ``"bce"`` (paper: sigmoid outputs, BCE on one-hot targets) or ``"ce"`` (softmax).
        warmup_epochs: linear warm-up length (fractional allowed), then cosine to ``min_lr``.
        steps_per_epoch: batches per epoch; required meaning for the synthetic stream
            (default 500), an optional cap for manifests.
        train_patients, val_patients: ``[start, stop)`` synthetic patient indices (disjoint).
        slices_per_series: slices drawn per rendered synthetic training series.
        synth_reuse: times each rendered synthetic slice is used (differently augmented);
            >1 trades diversity for throughput where rendering is the bottleneck.
        val_slices_per_series: slices per validation scan (synthetic: rendered once and cached;
            manifest series: evenly spread slices, 0 = all).
        val_sample_rate: R used to vote validation scans.
        augment, hflip: CT augmentation (no left-right flips unless ``hflip``).
        amp: ``"auto"`` (bf16/fp16 on CUDA, off on CPU), ``"bf16"``, ``"fp16"`` or ``"off"``.
        threads: torch intra-op threads of this process (``torch.set_num_threads``; ``None``
            leaves the default). On a shared CPU, 1 thread can be many times faster than
            oversubscribed threads.
        resume: a run directory to continue (its config.json is used; ``epochs``,
            ``num_workers``, ``device`` and ``threads`` may be changed; a changed ``epochs``
            stretches the cosine schedule from the current step on).
    """

    train: str = SYNTH
    val: str | None = SYNTH
    out: str = "runs/ctphase"
    arch: str = "efficientnet_b2"
    size: int = 224
    windows: list[tuple[float, float]] = field(default_factory=lambda: [PAPER_WINDOW])
    channels: int = 3
    epochs: int = 15
    batch_size: int = 32
    lr: float = 1e-3
    min_lr: float = 1e-6
    weight_decay: float = 0.0
    warmup_epochs: float = 1.0
    loss: Literal["bce", "ce"] = "bce"
    label_smoothing: float = 0.0
    steps_per_epoch: int | None = None
    train_patients: tuple[int, int] = (0, 5000)
    val_patients: tuple[int, int] = (100000, 100032)
    slices_per_series: int = 16
    synth_reuse: int = 1
    val_slices_per_series: int = 16
    val_sample_rate: float = 0.3
    val_fraction: float = 0.2
    augment: bool = True
    hflip: bool = False
    seed: int = 0
    num_workers: int = 1
    device: str = "auto"
    amp: str = "auto"
    channels_last: bool = True
    grad_clip: float | None = 5.0
    cache_gb: float = 1.0
    threads: int | None = None
    resume: str | None = None

    def check(self) -> None:
        """Validate values, naming the bad one (ConfigError)."""
        if self.loss not in LOSSES:
            raise ConfigError(f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        for name in ("epochs", "batch_size", "slices_per_series", "synth_reuse"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.steps_per_epoch is not None and self.steps_per_epoch < 1:
            raise ConfigError(f"steps_per_epoch must be >= 1, got {self.steps_per_epoch}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError(f"lr must be > 0, got {self.lr}")
        if self.weight_decay < 0 or self.warmup_epochs < 0 or self.min_lr < 0:
            raise ConfigError("weight_decay, warmup_epochs and min_lr must be >= 0")
        if not 0 <= self.label_smoothing < 1:
            raise ConfigError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if not 0 < self.val_fraction < 1:
            raise ConfigError(f"val_fraction must be in (0, 1), got {self.val_fraction}")
        if self.amp not in ("auto", "bf16", "fp16", "off"):
            raise ConfigError(f"amp must be auto, bf16, fp16 or off, got {self.amp!r}")
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"threads must be >= 1, got {self.threads}")
        if self.num_workers < 0:
            raise ConfigError(f"num_workers must be >= 0, got {self.num_workers}")
        if self.val_slices_per_series < 0:
            raise ConfigError(f"val_slices_per_series must be >= 0, got {self.val_slices_per_series}")
        tr, va = _range(self.train_patients, "train_patients"), _range(self.val_patients, "val_patients")
        if self.train == SYNTH and self.val in (SYNTH, None) and _overlap(tr, va):
            raise ConfigError(
                f"train_patients {tuple(self.train_patients)} and val_patients {tuple(self.val_patients)} overlap; "
                "synthetic validation patients must be disjoint from training patients"
            )
        if self.train != SYNTH and not Path(self.train).is_file():
            raise ConfigError(f"train source {self.train!r} is neither 'synth' nor an existing manifest file")
        if self.val not in (None, SYNTH) and not Path(self.val).is_file():
            raise ConfigError(f"val source {self.val!r} is neither 'synth' nor an existing manifest file")
        self.preprocessing()  # validates size/windows/channels
        from ..models.registry import resolve_arch

        self.arch = resolve_arch(self.arch)

    def preprocessing(self) -> Preprocessing:
        """The preprocessing stored in the checkpoint."""
        windows = tuple(tuple(w) for w in self.windows)
        channels = len(windows) if len(windows) > 1 else self.channels
        return Preprocessing(windows=windows, size=int(self.size), channels=int(channels))

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        d = asdict(self)
        d["windows"] = [list(map(float, w)) for w in self.windows]
        d["train_patients"] = list(self.train_patients)
        d["val_patients"] = list(self.val_patients)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ConfigError(f"unknown training config keys {sorted(unknown)}")
        kw = dict(d)
        if "windows" in kw:
            kw["windows"] = [tuple(w) for w in kw["windows"]]
        for k in ("train_patients", "val_patients"):
            if k in kw:
                kw[k] = tuple(kw[k])
        return cls(**kw)


def _range(pair: Sequence[int], name: str) -> range:
    if len(pair) != 2 or int(pair[0]) < 0 or int(pair[1]) <= int(pair[0]):
        raise ConfigError(f"{name} must be [start, stop) with 0 <= start < stop, got {tuple(pair)}")
    return range(int(pair[0]), int(pair[1]))


def _overlap(a: range, b: range) -> bool:
    return max(a.start, b.start) < min(a.stop, b.stop)


# --------------------------------------------------------------------------------------------
# schedule, loss, device
# --------------------------------------------------------------------------------------------


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


def output_activation(loss: str) -> str:
    """Activation that turns logits into probabilities for a model trained with ``loss``."""
    return "sigmoid" if loss == "bce" else "softmax"


# --------------------------------------------------------------------------------------------
# validation scans
# --------------------------------------------------------------------------------------------


@dataclass
class ValScan:
    """One validation scan: its slices (loaded on demand as HU) and scan label."""

    key: str
    label: int
    group: str
    load: Callable[[], list[np.ndarray]]


def _spread(n: int, k: int) -> np.ndarray:
    if k <= 0 or k >= n:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, k).round().astype(np.int64))


def synth_val_scans(
    patients: range, size: int, slices_per_series: int, seed: int, source: Callable[..., Any] | None = None
) -> list[ValScan]:
    """Render synthetic validation series once (cached HU): every patient in each of the 4 phases.

    ``seed`` is the population seed shared with training (disjoint patient ranges keep the
    sets apart); each scan holds ``slices_per_series`` slices at random z of one series.
    """
    if source is None:
        from ..synth import iter_training_slices as source
    acc: dict[tuple[int, int], list[np.ndarray]] = defaultdict(list)
    n = len(patients) * slices_per_series
    for phase in range(len(PHASE_NAMES)):
        stream = source(seed, size, patients, slices_per_series=slices_per_series, phases=[phase])
        for hu, label, patient in itertools.islice(stream, n):  # one pass: each patient once
            acc[(int(patient), int(label))].append(np.asarray(hu, dtype=np.float32))
    return [
        ValScan(f"synth/{patient}/{PHASE_NAMES[label]}", label, f"patient:{patient}", (lambda s=slices: s))
        for (patient, label), slices in sorted(acc.items())
    ]


def manifest_val_scans(manifest: Manifest, records: Sequence[Any], slices_per_series: int) -> list[ValScan]:
    """Validation scans of a manifest: series (evenly spread slices) or the paper's slices grouped by scan."""
    scans: list[ValScan] = []
    if manifest.kind == "series":
        from .datasets import default_series_loader

        for r in records:
            series = default_series_loader(r.path)
            idx = _spread(series.n_slices, slices_per_series)
            scans.append(
                ValScan(r.scan_key, int(r.label), r.group, (lambda s=series, i=idx: list(s.read_slices(i))))
            )
    else:
        by_scan: dict[str, list[Any]] = defaultdict(list)
        for r in records:
            by_scan[r.scan_key].append(r)
        for key, rs in by_scan.items():
            labels = {int(r.label) for r in rs}
            label = max(labels, key=lambda c: sum(int(r.label) == c for r in rs))
            paths = [r.path for r in sorted(rs, key=lambda r: str(r.path))]
            scans.append(ValScan(key, label, rs[0].group, (lambda ps=paths: [read_8bit_as_hu(p) for p in ps])))
    return scans


@torch.no_grad()
def predict_probs(
    model: nn.Module,
    x: torch.Tensor | np.ndarray,
    activation: str,
    device: torch.device,
    *,
    batch_size: int = 64,
    amp_dtype: torch.dtype | None = None,
    channels_last: bool = False,
) -> np.ndarray:
    """``(N, C, H, W)`` prepared slices -> ``(N, K)`` float64 probabilities (model in eval mode)."""
    model.eval()
    x = torch.as_tensor(x)
    out = []
    for i in range(0, x.shape[0], batch_size):
        xb = x[i : i + batch_size].to(device, non_blocking=True)
        if channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            logits = model(xb)
        out.append(activate(logits.float().cpu().numpy(), activation).astype(np.float64))
    return np.concatenate(out) if out else np.zeros((0, len(PHASE_NAMES)))


def validate(
    model: nn.Module,
    scans: Sequence[ValScan],
    preprocessing: Preprocessing,
    activation: str,
    device: torch.device,
    *,
    sample_rate: float = 0.3,
    seed: int = 0,
    batch_size: int = 64,
    amp_dtype: torch.dtype | None = None,
    channels_last: bool = False,
) -> dict[str, float]:
    """Slice- and scan-level accuracy and macro F1 of ``model`` on validation scans.

    Scan labels: R=``sample_rate`` of each scan's slices, drawn with the scan id as seed key,
    majority-voted (:func:`ctphase.evaluation.scan_level.vote_scans`).
    """
    from ..evaluation.metrics import macro_f1
    from ..evaluation.scan_level import vote_scans

    probs, slice_true = [], []
    for s in scans:
        hu = s.load()
        x = np.concatenate([preprocessing(h) for h in hu]) if hu else np.zeros((0,))
        p = predict_probs(model, x, activation, device, batch_size=batch_size, amp_dtype=amp_dtype, channels_last=channels_last)
        probs.append(p)
        slice_true.append(np.full(len(p), s.label, dtype=np.int64))
    yt = np.concatenate(slice_true)
    all_p = np.concatenate(probs)
    yp = all_p.argmax(axis=1)
    eps = 1e-7
    nll = float(-np.mean(np.log(np.clip(all_p[np.arange(len(yt)), yt], eps, 1.0))))
    votes = vote_scans(probs, sample_rate, seed=seed, scan_ids=[s.key for s in scans])
    st = np.array([s.label for s in scans], dtype=np.int64)
    return {
        "val_slices": int(len(yt)),
        "val_scans": len(scans),
        "val_nll": nll,
        "val_slice_acc": float(np.mean(yp == yt)),
        "val_slice_f1": macro_f1(yt, yp),
        "val_scan_acc": float(np.mean(votes.labels == st)),
        "val_scan_f1": macro_f1(st, votes.labels),
    }


# --------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------


@dataclass
class _Data:
    loader: DataLoader
    steps_per_epoch: int
    epoch_setters: list[Any]
    summary: dict[str, Any]
    val_scans: list[ValScan]
    stream: bool


def _build_data(cfg: TrainConfig, pp: Preprocessing) -> _Data:
    aug = Augment(hflip=cfg.hflip) if cfg.augment else None
    summary: dict[str, Any] = {"train": cfg.train, "val": cfg.val}
    val_scans: list[ValScan] = []
    setters: list[Any] = []
    loader_kw: dict[str, Any] = {
        "batch_size": cfg.batch_size,
        "num_workers": cfg.num_workers,
        "pin_memory": torch.cuda.is_available() and cfg.device != "cpu",
        "drop_last": True,
    }
    if cfg.num_workers > 0:
        loader_kw["prefetch_factor"] = 4
    if cfg.train == SYNTH:
        tr = _range(cfg.train_patients, "train_patients")
        ds = SynthSliceStream(
            pp, tr, seed=cfg.seed, slices_per_series=cfg.slices_per_series, augment=aug, reuse=cfg.synth_reuse
        )
        loader = DataLoader(ds, persistent_workers=cfg.num_workers > 0, **loader_kw)
        steps = cfg.steps_per_epoch or 500
        setters.append(ds)
        summary.update(
            {
                "train_patients": [tr.start, tr.stop],
                "population_seed": cfg.seed,
                "slices_per_series": cfg.slices_per_series,
                "synth_reuse": cfg.synth_reuse,
            }
        )
        stream = True
        train_manifest = None
        val_records: list[Any] = []
    else:
        train_manifest = read_manifest(cfg.train)
        records = list(train_manifest.records)
        val_records = []
        if cfg.val is None:
            records, val_records = split_by_patient(records, (1 - cfg.val_fraction, cfg.val_fraction), cfg.seed)
        if train_manifest.kind == "series":
            mds: Any = SeriesSliceDataset(records, pp, aug, cache_bytes=int(cfg.cache_gb * 2**30), seed=cfg.seed)
            sampler = SeriesBlockSampler(mds.sample_groups(), seed=cfg.seed)
            setters += [mds, sampler]
            loader = DataLoader(mds, sampler=sampler, **loader_kw)
        else:
            mds = PaperSliceDataset(records, pp, aug, seed=cfg.seed)
            gen = torch.Generator()
            gen.manual_seed(cfg.seed)
            setters.append(mds)
            loader = DataLoader(mds, shuffle=True, generator=gen, **loader_kw)
        if len(loader) == 0:
            raise ConfigError(f"train manifest {cfg.train} has fewer slices ({len(mds)}) than one batch ({cfg.batch_size})")
        steps = min(len(loader), cfg.steps_per_epoch or len(loader))
        stream = False
        summary.update(
            {
                "manifest_kind": train_manifest.kind,
                "train_records": len(records),
                "train_groups": len({r.group for r in records}),
                "train_labels": _label_counts(records),
                "train_slices": len(mds),
            }
        )
    # validation
    if cfg.val == SYNTH or (cfg.val is None and cfg.train == SYNTH):
        va = _range(cfg.val_patients, "val_patients")
        val_scans = synth_val_scans(va, pp.size, cfg.val_slices_per_series or 16, cfg.seed)
        summary["val_patients"] = [va.start, va.stop]
    elif cfg.val is None:
        assert train_manifest is not None
        val_scans = manifest_val_scans(train_manifest, val_records, cfg.val_slices_per_series)
        summary["val_split"] = {"fraction": cfg.val_fraction, "seed": cfg.seed, "records": len(val_records)}
    else:
        vm = read_manifest(cfg.val)
        if train_manifest is not None:
            _check_disjoint(train_manifest.records, vm.records, cfg.train, cfg.val)
        val_scans = manifest_val_scans(vm, vm.records, cfg.val_slices_per_series)
    summary["val_scans"] = len(val_scans)
    summary["val_labels"] = {PHASE_NAMES[c]: sum(s.label == c for s in val_scans) for c in range(len(PHASE_NAMES))}
    return _Data(loader, steps, setters, summary, val_scans, stream)


def _label_counts(records: Sequence[Any]) -> dict[str, int]:
    out = {n: 0 for n in PHASE_NAMES}
    for r in records:
        out[PHASE_NAMES[int(r.label)]] += 1
    return out


def _check_disjoint(train: Sequence[Any], val: Sequence[Any], tpath: str, vpath: str) -> None:
    """Refuse validation data that shares a patient/study group or a series/image path with training.

    The message names manifest lines, never the patient identifiers themselves.
    """
    tg = {r.group for r in train if not r.group.startswith("path:")}
    tp = {Path(r.path).resolve() for r in train}
    shared = [r for r in val if r.group in tg or Path(r.path).resolve() in tp]
    if shared:
        raise ConfigError(
            f"{len(shared)} record(s) of {vpath} share a patient, study or path with {tpath} "
            f"(e.g. line {shared[0].line}); validation must be patient-disjoint"
        )


def _batches(data: _Data, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    for s in data.epoch_setters:
        s.set_epoch(epoch)
    it = iter(data.loader)
    for _ in range(data.steps_per_epoch):
        try:
            yield next(it)
        except StopIteration:
            return


# --------------------------------------------------------------------------------------------
# checkpoints
# --------------------------------------------------------------------------------------------


def _save_model(path: Path, model: nn.Module, cfg: TrainConfig, pp: Preprocessing, meta: dict[str, Any]) -> None:
    from ..models.checkpoint import new_checkpoint, save_checkpoint

    ckpt = new_checkpoint(
        cfg.arch, pp, model, meta, class_names=tuple(PHASE_NAMES), output_activation=output_activation(cfg.loss)
    )
    save_checkpoint(ckpt, path)  # atomic


def _load_weights(path: Path) -> dict[str, torch.Tensor]:
    from ..models.checkpoint import load_checkpoint

    return load_checkpoint(path).state_dict


def _write_json(path: Path, obj: Any) -> None:
    write_atomic(path, json.dumps(obj, indent=2) + "\n")


def _resolve_config(config: TrainConfig) -> tuple[TrainConfig, Path, bool]:
    if config.resume:
        run = Path(config.resume)
        cfg_file = run / "config.json"
        if not cfg_file.is_file():
            raise ConfigError(f"cannot resume {run}: no config.json there (is it a ctphase training run directory?)")
        try:
            saved = TrainConfig.from_dict(json.loads(cfg_file.read_text()))
        except (OSError, ValueError, TypeError) as exc:  # unreadable, not JSON, or wrong field types
            raise ConfigError(f"cannot resume {run}: config.json is unreadable or damaged ({exc})") from None
        saved.epochs = config.epochs
        saved.num_workers = config.num_workers
        saved.device = config.device
        saved.threads = config.threads
        saved.out = str(run)
        saved.resume = str(run)
        return saved, run, True
    out = Path(config.out)
    if any((out / name).exists() for name in RUN_FILES):  # never overwrite another run's files
        raise ConfigError(f"{out} already holds a training run; continue it with --resume {out} or choose another --out")
    return config, out, False


# --------------------------------------------------------------------------------------------
# train
# --------------------------------------------------------------------------------------------


def train(config: TrainConfig, on_event: EventCallback | None = None) -> Path:
    """Train a slice classifier; returns the run directory (see the module docstring for its files).

    Raises:
        ConfigError: bad configuration, or an output directory that already holds a run.
        CheckpointError: a resumed run whose state files are missing or unreadable.
    """
    from ..models.registry import create_model

    cfg, run, resuming = _resolve_config(config)
    cfg.check()
    emit = on_event or (lambda kind, data: None)
    device = torch.device(resolve_device(cfg.device))
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    pp = cfg.preprocessing()
    torch.manual_seed(derive_seed(cfg.seed, "init") % 2**63)
    np.random.seed(derive_seed(cfg.seed, "np") % 2**32)

    data = _build_data(cfg, pp)
    try:
        run.mkdir(parents=True, exist_ok=True)
        if not resuming:
            _write_json(run / "config.json", cfg.to_dict())
    except OSError as exc:
        raise ConfigError(f"cannot write the run directory {run}: {exc.strerror or exc}; choose another --out") from None

    model = create_model(cfg.arch, num_classes=len(PHASE_NAMES), in_chans=pp.channels)
    memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
    model = model.to(device=device, memory_format=memory_format)
    amp_dtype = _amp_dtype(cfg.amp, device)
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype is torch.float16)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    total = cfg.epochs * data.steps_per_epoch
    warm = int(round(cfg.warmup_epochs * data.steps_per_epoch))
    min_factor = min(1.0, cfg.min_lr / cfg.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, total, warm, min_factor))
    loss_fn = PhaseLoss(cfg.loss, len(PHASE_NAMES), cfg.label_smoothing)
    activation = output_activation(cfg.loss)

    history: list[dict[str, Any]] = []
    start_epoch, best_score, slices_seen = 0, (-1.0, -1.0), 0
    if resuming:
        state_file = run / "last_state.pt"
        if not state_file.is_file() or not (run / "last.safetensors").is_file():
            raise CheckpointError(f"cannot resume {run}: last.safetensors or last_state.pt is missing")
        model.load_state_dict(_load_weights(run / "last.safetensors"))
        model = model.to(device=device, memory_format=memory_format)
        try:
            state = torch.load(state_file, map_location="cpu", weights_only=True)
            opt.load_state_dict(state["optimizer"])
            sched.load_state_dict(state["scheduler"])
            if state.get("scaler"):
                scaler.load_state_dict(state["scaler"])
            start_epoch = int(state["epoch"]) + 1
            best_score = (float(state["best_scan_f1"]), float(state["best_slice_f1"]))
            slices_seen = int(state["slices_seen"])
        except Exception as exc:  # noqa: BLE001 - torch.load/unpickling and load_state_dict raise many types
            raise CheckpointError(f"cannot resume {run}: last_state.pt is unreadable or does not fit this run ({exc})") from None
        if (run / "metrics.json").is_file():
            history = json.loads((run / "metrics.json").read_text()).get("epochs", [])[:start_epoch]

    recipe = {
        "optimizer": "adam",
        "lr": cfg.lr,
        "min_lr": cfg.min_lr,
        "weight_decay": cfg.weight_decay,
        "schedule": "linear warm-up then cosine annealing, per step",
        "warmup_epochs": cfg.warmup_epochs,
        "epochs": cfg.epochs,
        "steps_per_epoch": data.steps_per_epoch,
        "batch_size": cfg.batch_size,
        "loss": cfg.loss,
        "label_smoothing": cfg.label_smoothing,
        "augment": Augment(hflip=cfg.hflip).to_dict() if cfg.augment else None,
        "amp": str(amp_dtype).replace("torch.", "") if amp_dtype else "off",
        "channels_last": cfg.channels_last,
        "seed": cfg.seed,
        "from_scratch": True,
    }
    emit("start", {"run": str(run), "arch": cfg.arch, "size": pp.size, "epochs": cfg.epochs, "start_epoch": start_epoch, "steps": data.steps_per_epoch,
                   "device": str(device), "data": data.summary})

    for epoch in range(start_epoch, cfg.epochs):
        model.train()
        t0 = time.perf_counter()
        loss_acc, n_seen, step = torch.zeros((), device=device), 0, 0
        sync_every = 1 if device.type == "cpu" else 25  # a host sync per step would stall the GPU
        for step, (x, y) in enumerate(_batches(data, epoch), start=1):
            x = x.to(device, non_blocking=True).contiguous(memory_format=memory_format)
            y = torch.as_tensor(y, dtype=torch.long).to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                logits = model(x)
            loss = loss_fn(logits, y)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if cfg.grad_clip:
                scaler.unscale_(opt)
                nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            scaler.step(opt)
            scaler.update()
            sched.step()
            loss_acc += loss.detach().float() * len(y)
            n_seen += len(y)
            if step % sync_every == 0 or step == data.steps_per_epoch:
                mean_loss = float(loss_acc) / n_seen
                if not math.isfinite(mean_loss):
                    raise ConfigError(f"training diverged in epoch {epoch + 1} by step {step} (loss {mean_loss}); lower --lr")
                emit("step", {"epoch": epoch + 1, "epochs": cfg.epochs, "step": step, "steps": data.steps_per_epoch,
                              "loss": mean_loss, "lr": opt.param_groups[0]["lr"],
                              "img_per_s": n_seen / max(time.perf_counter() - t0, 1e-9)})
        loss_sum = float(loss_acc)
        if not math.isfinite(loss_sum):
            raise ConfigError(f"training diverged in epoch {epoch + 1} (loss {loss_sum}); lower --lr")
        t_train = time.perf_counter() - t0
        if n_seen == 0:
            raise ConfigError("no training batch was produced; check the training data and --batch-size")
        slices_seen += n_seen
        emit("validate", {"epoch": epoch + 1, "scans": len(data.val_scans)})
        tv = time.perf_counter()
        val = validate(model, data.val_scans, pp, activation, device, sample_rate=cfg.val_sample_rate,
                       seed=cfg.seed, amp_dtype=amp_dtype, channels_last=cfg.channels_last) if data.val_scans else {}
        row = {
            "epoch": epoch + 1,
            "train_loss": loss_sum / n_seen,
            "train_slices": n_seen,
            "lr": opt.param_groups[0]["lr"],
            "seconds": time.perf_counter() - t0,
            "train_seconds": t_train,
            "val_seconds": time.perf_counter() - tv,
            "img_per_s": n_seen / max(t_train, 1e-9),
            **val,
        }
        history.append(row)
        score = (val.get("val_scan_f1", -1.0), val.get("val_slice_f1", -1.0))
        improved = score > best_score
        if improved:
            best_score = score
        row["best"] = improved
        meta = {
            "data": data.summary | {"slices_seen": slices_seen},
            "recipe": recipe,
            "epoch": epoch + 1,
            "metrics": {k: v for k, v in row.items() if k.startswith("val_") or k == "train_loss"},
            "ctphase_version": __version__,
        }
        _save_model(run / "last.safetensors", model, cfg, pp, meta)
        if improved:
            _save_model(run / "best.safetensors", model, cfg, pp, meta)
        state = {
            "epoch": epoch,
            "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict(),
            "scaler": scaler.state_dict() if scaler.is_enabled() else {},
            "best_scan_f1": best_score[0],
            "best_slice_f1": best_score[1],
            "slices_seen": slices_seen,
        }
        with atomic_path(run / "last_state.pt") as tmp:
            torch.save(state, tmp)
        best_row = max(history, key=lambda r: (r.get("val_scan_f1", -1.0), r.get("val_slice_f1", -1.0)))
        _write_json(run / "metrics.json", {"epochs": history, "best_epoch": best_row["epoch"], "data": meta["data"]})
        emit("epoch", row)
    return run
