"""The configuration of a training run (``TrainConfig``), saved as ``config.json`` in its run directory."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..errors import ConfigError
from ..preprocessing import PAPER_WINDOW, Preprocessing

if TYPE_CHECKING:
    from ..models.heads import Heads
    from .augment import Augment

SYNTH = "synth"
"""Training or validation source meaning the synthetic CT engine."""
LOSSES = ("bce", "ce")
DEFAULT_EPOCHS = 15
RUN_FILES = ("config.json", "metrics.json", "last.safetensors", "last_state.pt", "best.safetensors")
"""Files a training run writes into its run directory."""


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
        shuffle_buffer: slices each synthetic stream (one per DataLoader worker) mixes before
            it yields; the engine yields a series' slices one after another, so a batch comes
            from about ``shuffle_buffer / slices_per_series`` series.
        extra_conditions: synthetic condition name -> probability that a training series also
            gets it (:mod:`ctphase.synth.conditions`), on top of the rate the engine draws it at.
        val_slices_per_series: slices per validation scan (synthetic: rendered once and cached;
            manifest scans: evenly spread slices, 0 = all).
        val_sample_rate: R used to vote validation scans.
        augment, augment_strength, hflip: CT augmentation (:meth:`~.augment.Augment.scaled`: magnitudes
            times ``augment_strength``; no left-right flips unless ``hflip``).
        amp: ``"auto"`` (bf16/fp16 on CUDA, off on CPU), ``"bf16"``, ``"fp16"`` or ``"off"``.
        threads: torch intra-op threads of this process (``torch.set_num_threads``; ``None``
            leaves the default). On a shared CPU, 1 thread can be many times faster than
            oversubscribed threads.
        epochs: training epochs; ``None``: 15 for a new run, the run's own number when resuming.
        resume: a run directory to continue (its config.json is used; ``epochs``,
            ``num_workers``, ``device`` and ``threads`` may be changed; a changed ``epochs``
            stretches the cosine schedule from the current step on).
        init: a checkpoint (``.safetensors``) whose weights start the run instead of a random
            initialisation (fine-tuning, e.g. the bundled model on new data or corrected labels);
            its architecture and windows must be this run's; the input size may differ (fine-tuning
            at a new size). The optimiser and the
            schedule start fresh.
        heads: also train the subphase and seconds-after-injection heads (:mod:`ctphase.models.heads`)
            on the synthetic stream's targets, weighted ``heads_weight`` against the phase loss
            (synthetic training only: manifests carry no reliable times). With ``init`` from a
            checkpoint without heads, the phase logits keep its weights and the heads start fresh.
        organ_head: with ``heads``, also regress the enhancement of the
            :data:`~ctphase.models.heads.ENHANCEMENT_ORGANS` on the slices that show them (a
            training-only auxiliary target, same weight). With ``init`` from a checkpoint whose heads
            lack it, the other heads keep their weights and the organ rows start fresh.
        l2sp: with ``init``, pull every weight back towards its value at the start of the run
            after each optimiser step, ``w -= lr * l2sp * (w - w_init)`` (L2-SP, Li et al., "Explicit
            inductive bias for transfer learning with convolutional networks", ICML 2018, applied
            decoupled from Adam as AdamW applies weight decay). It keeps a fine-tune near the
            checkpoint it starts from; ``lr * l2sp`` must stay <= 1. 0: off.
    """

    train: str = SYNTH
    val: str | None = SYNTH
    out: str = "runs/ctphase"
    arch: str = "efficientnet_b2"
    size: int = 224
    windows: list[tuple[float, float]] = field(default_factory=lambda: [PAPER_WINDOW])
    channels: int = 3
    epochs: int | None = None
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
    shuffle_buffer: int = 256
    extra_conditions: dict[str, float] = field(default_factory=dict)
    val_slices_per_series: int = 16
    val_sample_rate: float = 0.3
    val_fraction: float = 0.2
    augment: bool = True
    augment_strength: float = 1.0
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
    init: str | None = None
    heads: bool = False
    heads_weight: float = 0.5
    organ_head: bool = False
    l2sp: float = 0.0

    def heads_spec(self) -> Heads | None:
        """The auxiliary heads this run trains (``None`` without ``heads``)."""
        from ..models.heads import ENHANCEMENT_ORGANS, Heads

        if not self.heads:
            return None
        return Heads(organs=ENHANCEMENT_ORGANS) if self.organ_head else Heads()

    def check(self) -> None:
        """Validate values, naming the bad one (ConfigError)."""
        if self.epochs is None:
            self.epochs = DEFAULT_EPOCHS
        if self.loss not in LOSSES:
            raise ConfigError(f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        for name in ("epochs", "batch_size", "slices_per_series", "synth_reuse", "shuffle_buffer"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.steps_per_epoch is not None and self.steps_per_epoch < 1:
            raise ConfigError(f"steps_per_epoch must be >= 1, got {self.steps_per_epoch}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError(f"lr must be > 0, got {self.lr}")
        if self.weight_decay < 0 or self.warmup_epochs < 0 or self.min_lr < 0:
            raise ConfigError("weight_decay, warmup_epochs and min_lr must be >= 0")
        if not (self.augment_strength > 0 and math.isfinite(self.augment_strength)):
            raise ConfigError(f"augment_strength must be > 0, got {self.augment_strength}")
        if not 0 <= self.label_smoothing < 1:
            raise ConfigError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.heads and self.train != SYNTH:
            raise ConfigError("heads (subphase and seconds) train on the synthetic stream only: use --train synth")
        if self.extra_conditions:
            if self.train != SYNTH:
                raise ConfigError("extra_conditions change the synthetic training stream: use --train synth")
            from ..synth.conditions import check_extra_rates

            self.extra_conditions = check_extra_rates(self.extra_conditions)
        if self.organ_head and not self.heads:
            raise ConfigError("the organ enhancement head comes with the other heads: add --heads")
        if not (0 < self.heads_weight and math.isfinite(self.heads_weight)):
            raise ConfigError(f"heads_weight must be > 0, got {self.heads_weight}")
        if not (self.l2sp >= 0 and math.isfinite(self.l2sp)):
            raise ConfigError(f"l2sp must be >= 0, got {self.l2sp}")
        if self.l2sp and not self.init:
            raise ConfigError("l2sp pulls the weights towards the checkpoint a run starts from: give init (--init)")
        if self.l2sp * self.lr > 1:
            raise ConfigError(f"lr * l2sp must be <= 1 (a pull past the starting weights), got {self.lr * self.l2sp:g}")
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
        tr, va = patient_range(self.train_patients, "train_patients"), patient_range(self.val_patients, "val_patients")
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

    def augmentation(self) -> Augment | None:
        """The training augmentation (``None`` with ``augment=False``)."""
        from .augment import Augment

        return Augment.scaled(self.augment_strength, hflip=self.hflip) if self.augment else None

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


def parse_window(text: str) -> tuple[float, float]:
    """``"50,400"`` -> ``(50.0, 400.0)``, a window's centre and width in HU.

    Raises:
        ValueError: not two numbers separated by a comma (the message names the text and what is expected;
            the caller names the option).
    """
    try:
        center, width = (float(v) for v in text.split(","))
    except ValueError:
        raise ValueError(f"{text!r} must be CENTER,WIDTH in HU, e.g. 50,400") from None
    return center, width


def parse_extra(text: str) -> tuple[str, float]:
    """``"pet_ct=0.12"`` -> ``("pet_ct", 0.12)`` (the name and the rate are checked by :class:`TrainConfig`).

    Raises:
        ValueError: not NAME=RATE with a numeric rate.
    """
    name, _, rate = text.partition("=")
    try:
        return name.strip(), float(rate)
    except ValueError:
        raise ValueError(f"{text!r} must be NAME=RATE, e.g. pet_ct=0.12") from None


def patient_range(pair: Sequence[int], name: str) -> range:
    """``[start, stop)`` synthetic patient indices as a range; ConfigError naming ``name`` when invalid."""
    if len(pair) != 2 or int(pair[0]) < 0 or int(pair[1]) <= int(pair[0]):
        raise ConfigError(f"{name} must be [start, stop) with 0 <= start < stop, got {tuple(pair)}")
    return range(int(pair[0]), int(pair[1]))


def _overlap(a: range, b: range) -> bool:
    return max(a.start, b.start) < min(a.stop, b.stop)




def resolve_config(config: TrainConfig) -> tuple[TrainConfig, Path, bool]:
    """The configuration to run, its run directory and whether it resumes an earlier run.

    Raises:
        ConfigError: no or a damaged config.json to resume, or an output folder holding another run.
    """
    if config.resume:
        run = Path(config.resume)
        cfg_file = run / "config.json"
        if not cfg_file.is_file():
            raise ConfigError(f"cannot resume {run}: no config.json there (is it a ctphase training run directory?)")
        try:
            saved = TrainConfig.from_dict(json.loads(cfg_file.read_text()))
        except (OSError, ValueError, TypeError) as exc:  # unreadable, not JSON, or wrong field types
            raise ConfigError(f"cannot resume {run}: config.json is unreadable or damaged ({exc})") from None
        if config.epochs is not None:
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
