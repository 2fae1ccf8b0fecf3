"""The work folder of one run of the paper's experiments: its data, trained models, probabilities and results.

Layout of ``WORK``::

    scale.json                       the scale the folder was made at (another scale is refused)
    data/{train,test,timing}/        the fixed synthetic DICOM sets and their manifests
    models/KEY.safetensors           each trained model, a ctphase checkpoint
    models/KEY.probs.npz             its probabilities on every test input (computed once)
    results/NAME.{json,md}, results/figures/   what each experiment measured

Models and probabilities are shared by the experiments, so a stopped run resumes where it
stopped and no model is trained twice.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..data import LabelledScan, read_manifest
from ..errors import ConfigError
from ..evaluation import EvaluationResults
from ..preprocessing import Preprocessing
from .data import SPLITS, Scale, ensure_split, load_split, slice_arrays
from .models import BUNDLED, SCORE_BATCH, classifier_for, parse_key, train_model

SAMPLE_RATE = 0.3
CHOSEN_ARCH = "efficientnet_b2"
SWEEP_RATES = (0.01, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
ProgressFn = Callable[[str, int, int], None]
TimedMethod = Callable[[Path, int], dict[str, float]]


@dataclass
class ModelRun:
    """A trained (or the shipped) model and its probabilities on the test set.

    Attributes:
        train: training statistics from :mod:`ctphase.paper.trainers` (``None`` for the shipped model).
        probs: per test scan, ``(n_i, 4)`` slice probabilities (3DSE: one ``(1, 4)`` row per scan).
        checkpoint: the model's checkpoint file (``None`` for the shipped model's in-package file).
    """

    key: str
    train: dict[str, Any] | None
    predict_seconds: float
    n_test_inputs: int
    n_params: int | None
    probs: list[np.ndarray]
    checkpoint: Path | None


class Workspace:
    """The work folder of one run (see the module docstring).

    Args:
        work: folder for everything the run writes (created).
        scale: how big the run is (:data:`ctphase.paper.data.SCALES`).
        realdata: folder of the real series (``labels.csv`` + one folder per series), or None.
        progress: ``progress(task, done, total)`` for long steps; the library prints nothing.
        seed: seed of training and of the slice draws.
    Raises:
        ConfigError: ``work`` holds a run made at another scale.
    """

    def __init__(
        self, work: Path, scale: Scale, *, realdata: Path | None = None, progress: ProgressFn | None = None, seed: int = 0
    ) -> None:
        self.work = Path(work)
        self.scale = scale
        self.realdata = realdata
        self.progress = progress
        self.seed = seed
        self._scans: dict[str, list[LabelledScan]] = {}
        self._slices: dict[tuple[str, Preprocessing], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._bundled: ModelRun | None = None
        self.work.mkdir(parents=True, exist_ok=True)
        meta = self.work / "scale.json"
        if meta.is_file():
            prev = json.loads(meta.read_text())
            if prev.get("name") != scale.name:
                msg = (f"{self.work} holds a run of the paper's experiments at scale {prev.get('name')!r}, not "
                       f"{scale.name!r}; choose another --work folder")
                raise ConfigError(msg)
        else:
            from ..atomic import write_atomic

            write_atomic(meta, json.dumps(scale.to_dict(), indent=1))

    # ------------------------------------------------------------------ data

    def tick(self, task: str) -> Callable[[int, int], None] | None:
        """A ``(done, total)`` progress callback for ``task``, or None."""
        if self.progress is None:
            return None
        fn = self.progress
        return lambda done, total: fn(task, done, total)

    def manifest(self, split: str) -> Path:
        """The manifest of ``split`` (``train``, ``test``, ``timing``), written on first use."""
        return ensure_split(self.work / "data", split, self.scale, self.tick(f"writing {split} set"))

    def scans(self, split: str) -> list[LabelledScan]:
        """Every series of ``split`` in memory."""
        if split not in self._scans:
            if split not in SPLITS:
                raise ConfigError(f"unknown split {split!r}")
            self._scans[split] = load_split(self.manifest(split), self.tick(f"reading {split} set"))
        return self._scans[split]

    def slices(self, split: str, pp: Preprocessing) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(x, y, scan_index)`` of all slices of ``split`` prepared by ``pp`` (cached)."""
        if (split, pp) not in self._slices:
            self._slices[(split, pp)] = slice_arrays(self.scans(split), pp)
        return self._slices[(split, pp)]

    # ------------------------------------------------------------------ models

    def _paths(self, key: str) -> tuple[Path, Path]:
        d = self.work / "models"
        return d / f"{key}.safetensors", d / f"{key}.probs.npz"

    def model(self, key: str) -> ModelRun:
        """``key`` trained on the train set (unless done before) and its probabilities on every test input."""
        from ..models.checkpoint import load_checkpoint, save_checkpoint

        if key == BUNDLED:
            return self._bundled_run()
        parse_key(key)
        cpath, ppath = self._paths(key)
        if not cpath.is_file():
            ckpt = train_model(key, self.scale, self.scans("train"), seed=self.seed,
                               slices=lambda pp: self.slices("train", pp), progress=self.tick(f"training {key}"))
            save_checkpoint(ckpt, cpath)
        meta = load_checkpoint(cpath).meta
        if not ppath.is_file():
            self._score(cpath, ppath)
        with np.load(ppath) as z:
            probs, offsets, seconds = z["probs"], z["offsets"], float(z["seconds"])
        per_scan = [probs[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)]
        return ModelRun(key, meta["train"], seconds, len(probs), meta["n_params"], per_scan, cpath)

    def _classify_test(self, clf: Any) -> tuple[list[np.ndarray], float]:
        """Probabilities of every test input through ``clf``, and the seconds spent preparing and classifying."""
        from ..evaluation.run import classify_scans

        done = classify_scans(self.scans("test"), clf)
        return done.slice_probs, sum(t["preprocess"] + t["model"] for t in done.timings)

    def _score(self, checkpoint: Path, out: Path) -> None:
        """Probabilities of every test input through the product's Classifier, written to ``out``."""
        from ..atomic import atomic_path

        probs, seconds = self._classify_test(classifier_for(checkpoint))
        per_scan = [p.astype(np.float32) for p in probs]
        offsets = np.cumsum([0] + [len(q) for q in per_scan])
        with atomic_path(out) as tmp, open(tmp, "wb") as f:
            np.savez(f, probs=np.concatenate(per_scan), offsets=offsets, seconds=seconds)

    def classifier(self, key: str, batch_size: int = SCORE_BATCH) -> Any:
        """The :class:`~ctphase.inference.Classifier` of ``key`` (trained first if needed)."""
        if key == BUNDLED:
            path = self.bundled_path()
            if path is None:
                raise ConfigError("the bundled default model is not installed (ctphase/weights/default.safetensors)")
            from ..inference import Classifier

            return Classifier(path)
        return classifier_for(self.model(key).checkpoint, batch_size)

    @staticmethod
    def bundled_path() -> Path | None:
        """The shipped model's checkpoint, when installed."""
        from ..models.checkpoint import default_checkpoint_path

        return default_checkpoint_path()

    def _bundled_run(self) -> ModelRun:
        """Probabilities of every test slice from the shipped model (its own preprocessing; nothing trained)."""
        if self._bundled is None:
            probs, seconds = self._classify_test(self.classifier(BUNDLED))
            self._bundled = ModelRun(BUNDLED, None, seconds, sum(len(p) for p in probs), None, probs, None)
        return self._bundled

    def evaluate(self, key: str, *, sweep: bool = False, min_slices: int = 1) -> EvaluationResults:
        """Slice- and scan-level metrics of ``key`` on the test set (R = 30%), with bootstrap CIs."""
        from ..evaluation import evaluate_predictions

        test = self.scans("test")
        return evaluate_predictions(
            self.model(key).probs, [int(s.label) for s in test], [s.group for s in test],
            scan_ids=[s.scan_id for s in test], sample_rate=SAMPLE_RATE, min_slices=min_slices, seed=self.seed,
            n_resamples=self.scale.n_resamples, sweep_rates=SWEEP_RATES if sweep else None,
            sweep_repeats=self.scale.sweep_repeats, dataset=f"ctphase paper {self.scale.name} test set",
        )

    @property
    def chosen(self) -> str:
        """The model of the per-class, sampling and baseline experiments: B2 at its largest size."""
        return f"{CHOSEN_ARCH}@{max(self.scale.sizes)}"

    def figure(self, name: str) -> Path:
        """Path for a figure of the results."""
        d = self.work / "results" / "figures"
        d.mkdir(parents=True, exist_ok=True)
        return d / name

    def time_methods(self, methods: dict[str, TimedMethod]) -> dict[str, dict[str, float]]:
        """Median seconds per scan (and its read/preprocess/model split) of each method on the timing set."""
        paths = [r.path for r in read_manifest(self.manifest("timing")).records]
        out = {}
        total = len(methods) * (self.scale.timing_repeats + 1) * len(paths)
        done = 0
        tick = self.tick("timing inference")
        for name, fn in methods.items():
            runs = []
            for rep in range(self.scale.timing_repeats + 1):  # pass 0 warms caches and is dropped
                for i, p in enumerate(paths):
                    t = fn(p, rep * 100 + i)
                    if rep:
                        runs.append(t)
                    done += 1
                    if tick:
                        tick(done, total)
            out[name] = {k: float(np.median([r[k] for r in runs])) for k in runs[0]}
        return out


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    import torch

    return {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "platform": platform.platform(),
            "python": platform.python_version(), "torch": torch.__version__,
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
