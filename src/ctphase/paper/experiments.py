"""The reference paper's experiments (Dao et al. 2022), rerun on ctphase's fixed benchmark data.

One function per experiment; each returns ``(results, markdown)`` and is run by
``ctphase bench run NAME``. Trained models and their test-set probabilities are kept under the
work folder, so experiments share them (the input-size experiment reuses EfficientNet-B2 at
128 px from the architecture comparison) and a stopped run resumes where it stopped.

=================  ===========================================================================
experiment         what it measures (paper item)
=================  ===========================================================================
``architectures``  slice-level macro P/R/F1 of the paper's 2D CNNs and CD-GAN at 128 px (Table 3)
``input-size``     EfficientNet-B2 at each size of ``Scale.sizes``: F1, training time (Table 4)
``per-class``      per-class P/R/F1 with patient-bootstrap CIs of the chosen model (Table 5)
``sampling``       scan-level macro F1 against the sampled fraction R over repeated draws (Fig. 7)
``baselines``      2D + random sampling vs 3DSE vs CD-GAN: scan F1 and time per scan (Table 6)
``header``         rules on the DICOM header only, on the same (messy) synthetic studies
``external``       every model on the real series of ``shared/realdata`` (Table 7), kept apart
=================  ===========================================================================
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..phases import PHASE_NAMES
from .data import (
    SPLITS,
    Scale,
    Scan,
    ensure_split,
    load_split,
    manifest_rows,
    slice_arrays,
)

ARCHS = ("resnet18", "resnet34", "seresnet18", "resnext50", "efficientnet_b0", "efficientnet_b2", "ghostnet")
"""The paper's 2D CNNs (Table 3), in its order."""
CHOSEN_ARCH = "efficientnet_b2"
BUNDLED = "bundled"
"""Model key of ctphase's shipped model (evaluated as a reference, never trained here)."""
SAMPLE_RATE = 0.3
EXPERIMENTS = ("architectures", "input-size", "per-class", "sampling", "baselines", "header", "external")
PAPER = {
    "slice_f1": 0.86,
    "scan_f1_r30": 0.92,
    "external_f1": (0.87, 0.77),
    "speedup_vs_3dse": 30.0,
}
"""The paper's headline figures as stated in its abstract/results (EfficientNet-B2, 224 px)."""

ProgressFn = Callable[[str, int, int], None]


def _f(v: Any, digits: int = 3) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def _ci(iv: dict[str, Any] | None, digits: int = 3) -> str:
    if not iv or iv.get("estimate") is None:
        return "–"
    if iv.get("low") is None:
        return _f(iv["estimate"], digits)
    return f"{iv['estimate']:.{digits}f} [{iv['low']:.{digits}f}, {iv['high']:.{digits}f}]"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


class Bench:
    """The work folder of one benchmark run: data, trained models, probabilities, results.

    Args:
        work: folder for everything the run writes (created).
        scale: how big the run is (:data:`ctphase.bench.data.SCALES`).
        realdata: folder of the real series (``labels.csv`` + one folder per series), or None.
        progress: ``progress(task, done, total)`` for long steps (the CLI shows bars); the
            library itself prints nothing.
        seed: seed of training and of the slice draws.
    """

    def __init__(
        self, work: Path, scale: Scale, *, realdata: Path | None = None, progress: ProgressFn | None = None, seed: int = 0
    ) -> None:
        self.work = Path(work)
        self.scale = scale
        self.realdata = realdata
        self.progress = progress
        self.seed = seed
        self._scans: dict[str, list[Scan]] = {}
        self._slices: dict[tuple[str, int], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._cache: dict[str, Any] = {}
        self.work.mkdir(parents=True, exist_ok=True)
        meta = self.work / "scale.json"
        if meta.is_file():
            prev = json.loads(meta.read_text())
            if prev.get("name") != scale.name:
                msg = (f"{self.work} holds a benchmark run at scale {prev.get('name')!r}, not {scale.name!r}; "
                       "choose another --work folder")
                raise ConfigError(msg)
        else:
            from ..atomic import write_atomic

            write_atomic(meta, json.dumps(scale.to_dict(), indent=1))

    # ------------------------------------------------------------------ data

    def _tick(self, task: str) -> Callable[[int, int], None] | None:
        if self.progress is None:
            return None
        fn = self.progress
        return lambda done, total: fn(task, done, total)

    def manifest(self, split: str) -> Path:
        """The manifest of ``split`` (``train``, ``test``, ``timing``), written on first use."""
        return ensure_split(self.work / "data", split, self.scale, self._tick(f"writing {split} set"))

    def scans(self, split: str) -> list[Scan]:
        """Every series of ``split`` in memory."""
        if split not in self._scans:
            if split not in SPLITS:
                raise ConfigError(f"unknown split {split!r}")
            self._scans[split] = load_split(self.manifest(split), self._tick(f"reading {split} set"))
        return self._scans[split]

    def slices(self, split: str, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(x, y, scan_index)`` of all slices of ``split`` at ``size`` px (see :func:`slice_arrays`)."""
        key = (split, int(size))
        if key not in self._slices:
            self._slices[key] = slice_arrays(self.scans(split), int(size))
        return self._slices[key]

    # ------------------------------------------------------------------ models

    def _paths(self, key: str) -> tuple[Path, Path, Path]:
        d = self.work / "models"
        return d / f"{key}.pt", d / f"{key}.json", d / f"{key}.probs.npz"

    def build(self, key: str) -> Any:
        """A fresh (untrained) network for ``key`` (``arch@size``, ``cdgan@128`` or ``3dse``)."""
        from ..models.baselines import create_baseline
        from ..models.registry import create_model

        name, _, _ = key.partition("@")
        if name == "3dse":
            return create_baseline("3dse")
        if name == "cdgan":
            return create_baseline("cdgan")
        return create_model(name, num_classes=4, in_chans=3)

    @staticmethod
    def size_of(key: str) -> int | None:
        """Input size of a 2D key (``None`` for ``3dse``)."""
        _, _, size = key.partition("@")
        return int(size) if size else None

    def se3d_inputs(self, split: str) -> np.ndarray:
        """``(V, 1, D, H, W)`` 3DSE inputs of every series of ``split``."""
        from ..models.baselines import volume_to_3dse_input
        from ..preprocessing import PAPER_WINDOW, Preprocessing

        d, h, _ = self.scale.se3d_shape
        pp = Preprocessing(windows=(PAPER_WINDOW,), size=h, channels=1)
        return np.stack([volume_to_3dse_input(s.hu, pp, depth=d) for s in self.scans(split)])

    def model(self, key: str) -> dict[str, Any]:
        """Train ``key`` on the train set (unless done before) and classify every test slice.

        Returns:
            ``{"key", "train": stats, "predict_seconds", "n_params", "probs": [per test scan (n_i, 4)]}``
            (3DSE: one ``(1, 4)`` row per scan).
        """
        import torch

        from . import trainers

        if key == BUNDLED:
            return self._bundled_probs()
        wpath, jpath, ppath = self._paths(key)
        if wpath.is_file() and jpath.is_file() and ppath.is_file():
            info = json.loads(jpath.read_text())
            with np.load(ppath) as z:
                probs, offsets = z["probs"], z["offsets"]
            info["probs"] = [probs[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)]
            return info
        torch.manual_seed(self.seed)
        net = self.build(key)
        sc = self.scale
        tick = self._tick(f"training {key}")
        if key == "3dse":
            xtr = self.se3d_inputs("train")
            ytr = np.array([s.label for s in self.scans("train")], np.int64)
            stats = trainers.train_volume_classifier(
                net, xtr, ytr, epochs=sc.se3d_epochs, batch_size=sc.se3d_batch, lr=sc.lr, seed=self.seed, progress=tick
            )
            xte = self.se3d_inputs("test")
            t0 = time.perf_counter()
            p = trainers.predict(net, xte, channels=None, batch_size=4)
            pred_s = time.perf_counter() - t0
            per_scan = [p[i : i + 1] for i in range(len(p))]
        else:
            size = self.size_of(key)
            if size is None:
                raise ConfigError(f"model key {key!r} needs an input size, e.g. {key}@128")
            xtr, ytr, _ = self.slices("train", size)
            if key.startswith("cdgan"):
                stats = trainers.train_cdgan(
                    net, xtr, ytr, samples=sc.samples, batch_size=sc.batch_size, lr=sc.gan_lr, seed=self.seed, progress=tick
                )
                channels = 1
            else:
                stats = trainers.train_slice_classifier(
                    net, xtr, ytr, samples=sc.samples, batch_size=sc.batch_size, lr=sc.lr, seed=self.seed, progress=tick
                )
                channels = 3
            xte, _, idx = self.slices("test", size)
            t0 = time.perf_counter()
            p = trainers.predict(net, xte, channels=channels)
            pred_s = time.perf_counter() - t0
            per_scan = [p[idx == i] for i in range(len(self.scans("test")))]
        n_params = sum(int(t.numel()) for t in (net.discriminator if key.startswith("cdgan") else net).parameters())
        info = {"key": key, "train": stats, "predict_seconds": pred_s, "n_test_inputs": len(p),
                "n_params": n_params, "n_train_series": len(self.scans("train"))}
        from ..atomic import atomic_path, write_atomic

        with atomic_path(wpath) as tmp:
            torch.save(net.state_dict(), tmp)
        offsets = np.cumsum([0] + [len(q) for q in per_scan])
        with atomic_path(ppath) as tmp, open(tmp, "wb") as f:
            np.savez(f, probs=np.concatenate(per_scan), offsets=offsets)
        write_atomic(jpath, json.dumps(info, indent=1))
        info["probs"] = per_scan
        return info

    @staticmethod
    def _bundled_path() -> Path | None:
        from ..models.checkpoint import default_checkpoint_path

        return default_checkpoint_path()

    def _bundled_probs(self) -> dict[str, Any]:
        """Probabilities of every test slice from the shipped model (its own preprocessing; nothing trained)."""
        from ..inference import Classifier

        if "bundled" not in self._cache:
            path = self._bundled_path()
            if path is None:
                raise ConfigError("the bundled default model is not installed (ctphase/weights/default.safetensors)")
            clf = Classifier(path)
            t0 = time.perf_counter()
            probs = [np.asarray(clf.predict_hu(s.hu)[0], np.float64) for s in self.scans("test")]
            self._cache["bundled"] = {"key": BUNDLED, "train": None, "predict_seconds": time.perf_counter() - t0,
                                      "n_test_inputs": sum(len(p) for p in probs), "probs": probs}
        return self._cache["bundled"]

    def trained(self, key: str) -> Any:
        """The trained network of ``key`` (trains it first if needed), in eval mode."""
        import torch

        self.model(key)
        net = self.build(key)
        net.load_state_dict(torch.load(self._paths(key)[0], map_location="cpu", weights_only=True))
        return net.eval()

    def evaluate(self, key: str, *, sweep: bool = False, min_slices: int = 1) -> dict[str, Any]:
        """Slice- and scan-level metrics of ``key`` on the test set (R = 30%), with bootstrap CIs."""
        from ..evaluation import evaluate_predictions

        test = self.scans("test")
        return evaluate_predictions(
            self.model(key)["probs"], [s.label for s in test], [s.patient for s in test],
            scan_ids=[s.scan_id for s in test], sample_rate=SAMPLE_RATE, min_slices=min_slices, seed=self.seed,
            n_resamples=self.scale.n_resamples,
            sweep_rates=None if not sweep else (0.01, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
            sweep_repeats=self.scale.sweep_repeats, dataset=f"ctphase bench {self.scale.name} test set",
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

    # ------------------------------------------------------------------ experiments

    def architectures(self) -> tuple[dict[str, Any], str]:
        """Table 3: every 2D CNN and CD-GAN at ``Scale.slice_size``, same data, same budget."""
        size = self.scale.slice_size
        keys = [f"{a}@{size}" for a in ARCHS] + ["cdgan@128"]
        rows, res = [], {}
        for key in keys:
            info = self.model(key)
            ev = self.evaluate(key)
            sl, sc = ev["slice_level"], ev["scan_level"]
            res[key] = {"train": info["train"], "n_params": info["n_params"], "predict_seconds": info["predict_seconds"],
                        "slice": {"accuracy": sl["metrics"]["accuracy"], "macro": sl["metrics"]["macro"],
                                  "f1_ci": sl["ci"]["macro"]["f1"]},
                        "scan": {"accuracy": sc["metrics"]["accuracy"], "macro": sc["metrics"]["macro"],
                                 "f1_ci": sc["ci"]["macro"]["f1"]}}
            m = sl["metrics"]["macro"]
            rows.append([key.split("@")[0] + (" (128 px)" if key.startswith("cdgan") else ""),
                         f"{info['n_params'] / 1e6:.1f}", _f(m["precision"]), _f(m["recall"]),
                         _ci(sl["ci"]["macro"]["f1"]), _f(sc["metrics"]["macro"]["f1"]),
                         f"{info['train']['seconds'] / 60:.1f}", f"{info['train']['images_per_s']:.0f}",
                         f"{info['n_test_inputs'] / info['predict_seconds']:.0f}"])
        md = _table(["model", "params (M)", "slice precision", "slice recall", "slice F1 [95% CI]",
                     "scan F1 (R=30%)", "train min", "train img/s", "infer img/s"], rows)
        return res, md

    def input_size(self) -> tuple[dict[str, Any], str]:
        """Table 4: EfficientNet-B2 at each of ``Scale.sizes``: F1 and training time per epoch."""
        n_train = len(self.slices("train", min(self.scale.sizes))[1])
        rows, res = [], {}
        for size in self.scale.sizes:
            key = f"{CHOSEN_ARCH}@{size}"
            info = self.model(key)
            ev = self.evaluate(key)
            tr = info["train"]
            epoch_s = tr["seconds"] / tr["samples"] * n_train
            res[key] = {"train": tr, "epoch_seconds": epoch_s, "n_train_slices": n_train,
                        "slice_f1_ci": ev["slice_level"]["ci"]["macro"]["f1"],
                        "scan_f1_ci": ev["scan_level"]["ci"]["macro"]["f1"],
                        "infer_images_per_s": info["n_test_inputs"] / info["predict_seconds"]}
            rows.append([f"{size} x {size}", _ci(ev["slice_level"]["ci"]["macro"]["f1"]),
                         _ci(ev["scan_level"]["ci"]["macro"]["f1"]), f"{epoch_s / 60:.1f}",
                         f"{tr['images_per_s']:.1f}", f"{res[key]['infer_images_per_s']:.0f}"])
        md = _table(["input", "slice F1 [95% CI]", "scan F1 (R=30%) [95% CI]",
                     f"train min / epoch ({n_train} slices)", "train img/s", "infer img/s"], rows)
        return res, md

    def per_class(self) -> tuple[dict[str, Any], str]:
        """Table 5: per-class precision/recall/F1 with patient-clustered bootstrap CIs, slice and scan level.

        For the chosen model, and for the shipped model on the same test set as a reference.
        """
        res, md = self._per_class_block(self.chosen)
        if self._bundled_path() is not None:
            ref, ref_md = self._per_class_block(BUNDLED)
            res["bundled"] = ref
            md += ("\n\n**Reference: ctphase's shipped model** (MobileNetV3-small, 160 px, 3 windows, trained for 78 min "
                   "on other synthetic patients; not trained under this experiment's budget), same test series:\n\n" + ref_md)
        return res, md

    def _per_class_block(self, key: str) -> tuple[dict[str, Any], str]:
        from ..evaluation.plots import plot_confusion_matrix

        ev = self.evaluate(key)
        rows = []
        for name in [*PHASE_NAMES, "macro"]:
            row = [name]
            for level in ("slice_level", "scan_level"):
                ci = ev[level]["ci"]["macro"] if name == "macro" else ev[level]["ci"]["per_class"][name]
                row += [_ci(ci["precision"]), _ci(ci["recall"]), _ci(ci["f1"])]
            rows.append(row)
        rows.append(["accuracy", "", "", _ci(ev["slice_level"]["ci"]["accuracy"]), "", "",
                     _ci(ev["scan_level"]["ci"]["accuracy"])])
        md = f"Model: `{key}`; scan label = majority of R = 30% of the slices (seed {self.seed}).\n\n"
        md += _table(["class", "slice P", "slice R", "slice F1", "scan P", "scan R", "scan F1"], rows)
        figs = {}
        tag = key.replace("@", "_")
        for level in ("slice_level", "scan_level"):
            p = plot_confusion_matrix(ev[level]["metrics"]["confusion_matrix"], self.figure(f"confusion_{tag}_{level}.png"),
                                      title=f"{key}, {level.replace('_', ' ')}")
            figs[level] = p.name
        md += "\n\nScan-level confusion matrix (rows: truth, columns: prediction):\n\n"
        cm = ev["scan_level"]["metrics"]["confusion_matrix"]
        md += _table(["", *PHASE_NAMES], [[PHASE_NAMES[i], *map(str, r)] for i, r in enumerate(cm)])
        md += f"\n\n![scan-level confusion of {key}](figures/{figs['scan_level']})"
        res = {"model": key, "counts": ev["counts"], "slice_level": {"metrics": _drop_curves(ev["slice_level"]["metrics"]),
               "ci": ev["slice_level"]["ci"]}, "scan_level": {"metrics": _drop_curves(ev["scan_level"]["metrics"]),
               "ci": ev["scan_level"]["ci"]}, "figures": figs}
        return res, md

    def sampling(self) -> tuple[dict[str, Any], str]:
        """Figure 7: scan-level macro F1 against R, ``Scale.sweep_repeats`` draws per R (chosen and shipped model)."""
        res, md = self._sampling_block(self.chosen)
        if self._bundled_path() is not None:
            ref, ref_md = self._sampling_block(BUNDLED)
            res["bundled"] = ref
            md += "\n\n**Reference: ctphase's shipped model**, same test series and draws:\n\n" + ref_md
        return res, md

    def _sampling_block(self, key: str) -> tuple[dict[str, Any], str]:
        from ..evaluation.plots import plot_sweep

        ev = self.evaluate(key, sweep=True)
        sw = ev["sweep"]
        rows = [[f"{100 * e['rate']:g}", f"{e['mean_slices']:.1f}", f"{e['mean']:.3f} ± {e['std']:.3f}",
                 f"{e['min']:.3f} – {e['max']:.3f}", _ci(e.get("ci")), f"{e['accuracy']['mean']:.3f}"]
                for e in sw["per_rate"]]
        n = self.scale.slices_per_series
        md = (f"Model: `{key}`; test series of {n} slices; {sw['repeats']} independent draws per R "
              "(at least 1 slice per scan).\n\n")
        md += _table(["R (%)", "slices voted", "macro F1 mean ± std", "min – max", "95% CI (draw 0)", "accuracy"], rows)
        p = plot_sweep(sw, self.figure(f"sampling_sweep_{key.replace('@', '_')}.png"), title=f"{key}: scan F1 vs R")
        md += f"\n\n![sampling sweep of {key}](figures/{p.name})"
        return {"model": key, "sweep": sw}, md

    def _time_methods(self, methods: dict[str, Callable[[Path, int], dict[str, float]]]) -> dict[str, dict[str, float]]:
        """Median seconds per scan (and its read/preprocess/model split) of each method on the timing set."""
        paths = [self.work / "data" / "timing" / r["path"] for r in manifest_rows(self.manifest("timing"))]
        out = {}
        total = len(methods) * (self.scale.timing_repeats + 1) * len(paths)
        done = 0
        tick = self._tick("timing inference")
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

    def baselines(self) -> tuple[dict[str, Any], str]:
        """Table 6: the 2D method against 3DSE and CD-GAN: scan-level F1 and inference time per scan."""
        import torch

        from ..inference import activate
        from ..io import load_series
        from ..models.baselines import volume_to_3dse_input
        from ..preprocessing import PAPER_WINDOW, Preprocessing
        from ..sampling import sample_slices
        from ..voting import majority_vote
        from .trainers import ACTIVATION

        torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
        key2d = self.chosen
        keys = {"2D + random sampling (" + key2d + ")": key2d, "CD-GAN (128 px, R=30%)": "cdgan@128",
                f"3DSE ({'x'.join(map(str, self.scale.se3d_shape))})": "3dse"}
        evals = {label: self.evaluate(k) for label, k in keys.items()}
        nets = {k: self.trained(k) for k in keys.values()}

        def slice_method(key: str, channels: int) -> Callable[[Path, int], dict[str, float]]:
            pp = Preprocessing(windows=(PAPER_WINDOW,), size=self.size_of(key) or 128, channels=channels)
            net = nets[key]

            def run(path: Path, seed: int) -> dict[str, float]:
                t0 = time.perf_counter()
                s = load_series(path, min_slices=1)
                hu = s.read_slices(sample_slices(s.n_slices, SAMPLE_RATE, 1, seed))
                t1 = time.perf_counter()
                x = torch.from_numpy(pp(hu))
                t2 = time.perf_counter()
                with torch.no_grad():
                    logits = torch.cat([net(x[i : i + 16]) for i in range(0, len(x), 16)])
                majority_vote(activate(logits.numpy(), ACTIVATION))
                t3 = time.perf_counter()
                return {"total": t3 - t0, "read": t1 - t0, "preprocess": t2 - t1, "model": t3 - t2}

            return run

        d, h, _ = self.scale.se3d_shape
        pp3 = Preprocessing(windows=(PAPER_WINDOW,), size=h, channels=1)

        def run_3dse(path: Path, seed: int) -> dict[str, float]:
            t0 = time.perf_counter()
            hu = load_series(path, min_slices=1).read_volume()
            t1 = time.perf_counter()
            x = torch.from_numpy(volume_to_3dse_input(hu, pp3, depth=d))[None]
            t2 = time.perf_counter()
            with torch.no_grad():
                nets["3dse"](x)
            t3 = time.perf_counter()
            return {"total": t3 - t0, "read": t1 - t0, "preprocess": t2 - t1, "model": t3 - t2}

        labels = list(keys)
        methods = {labels[0]: slice_method(key2d, 3), labels[1]: slice_method("cdgan@128", 1), labels[2]: run_3dse}
        product = self._bundled_default()
        if product is not None:
            clf, product_eval = product
            label_p = "ctphase bundled model (MobileNetV3-small/160, ONNX Runtime), R=30%"
            evals[label_p] = product_eval
            keys[label_p] = "bundled default"
            labels.append(label_p)

            def run_product(path: Path, seed: int) -> dict[str, float]:
                from ..pipeline import predict_series

                t0 = time.perf_counter()
                pred = predict_series(load_series(path, min_slices=1), clf, sample_rate=SAMPLE_RATE, seed=seed)
                t = pred.timings
                return {"total": time.perf_counter() - t0, "read": time.perf_counter() - t0 - t["preprocess"] - t["model"],
                        "preprocess": t["preprocess"], "model": t["model"]}

            methods[label_p] = run_product
        timing = self._time_methods(methods)
        n_timing = self.scale.timing_slices
        ref = timing[labels[0]]["total"]
        rows, res = [], {}
        for label in labels:
            ev, t = evals[label], timing[label]
            res[label] = {"model": keys[label], "scan_f1_ci": ev["scan_level"]["ci"]["macro"]["f1"],
                          "scan_accuracy": ev["scan_level"]["metrics"]["accuracy"], "timing": t,
                          "train": self.model(keys[label])["train"] if keys[label] != "bundled default" else None}
            rows.append([label, _ci(ev["scan_level"]["ci"]["macro"]["f1"]), _f(ev["scan_level"]["metrics"]["accuracy"]),
                         f"{t['total']:.3f}", f"{t['read']:.3f}", f"{t['preprocess']:.3f}", f"{t['model']:.3f}",
                         f"{t['total'] / ref:.2f}",
                         "–" if res[label]["train"] is None else f"{res[label]['train']['seconds'] / 60:.1f}"])
        md = (f"Scan-level F1 on the {len(self.scans('test'))} test series; time per scan = median over "
              f"{self.scale.timing_repeats} passes over {len(manifest_rows(self.manifest('timing')))} full-length "
              f"{self.scale.timing_matrix}x{self.scale.timing_matrix} series of up to {n_timing} slices, read from DICOM "
              f"(eager PyTorch, {torch.get_num_threads()} threads, batch 16, after one warm-up pass; 'read' includes "
              "discovering the series and parsing its headers). The last row is ctphase's shipped model through "
              "`ctphase.pipeline` (trained much longer, on other synthetic patients), as a reference for the product, "
              "not part of the paper's comparison.\n\n")
        md += _table(["method", "scan F1 [95% CI]", "accuracy", "s / scan", "read", "preprocess", "model",
                      "time vs 2D", "train min"], rows)
        return {"methods": res, "timing_series": n_timing}, md

    def _bundled_default(self) -> tuple[Any, dict[str, Any]] | None:
        """The shipped model as a :class:`Classifier` and its scan-level results on the test set (None if absent)."""
        from ..evaluation.bootstrap import bootstrap_classification
        from ..evaluation.metrics import classification_metrics
        from ..inference import Classifier
        from ..io import load_series
        from ..pipeline import predict_series

        path = self._bundled_path()
        if path is None:
            return None
        clf = Classifier(path)
        test = self.scans("test")
        pred = [predict_series(load_series(s.path, min_slices=1), clf, sample_rate=SAMPLE_RATE, seed=self.seed).label
                for s in test]
        y = [s.label for s in test]
        ev = {"scan_level": {"metrics": classification_metrics(y, pred), "ci": bootstrap_classification(
            y, pred, groups=[s.patient for s in test], n_resamples=self.scale.n_resamples, seed=self.seed)}}
        return clf, ev

    def header(self) -> tuple[dict[str, Any], str]:
        """Header-only rules on the test studies (tags messy on purpose) next to the image model."""
        from sklearn.metrics import f1_score

        from ..baselines.header import header_baseline_predictions
        from ..evaluation.scan_level import vote_scans
        from ..io import load_series

        test = self.scans("test")
        series = [load_series(s.path, min_slices=1) for s in test]
        y = np.array([s.label for s in test])
        scan_ids = [s.scan_id for s in test]

        def r30(key: str) -> np.ndarray:
            """Scan labels voted from R = 30% of the slices, the draws of :meth:`evaluate`."""
            return vote_scans(self.model(key)["probs"], SAMPLE_RATE, seed=self.seed, min_slices=1, scan_ids=scan_ids).labels

        image = r30(self.chosen)
        rows, res = [], {}

        def score(name: str, pred: np.ndarray, decided: np.ndarray, rules: list[str] | None) -> None:
            f1 = float(f1_score(y, pred, labels=[0, 1, 2, 3], average="macro", zero_division=0))
            acc_dec = float(np.mean(pred[decided] == y[decided])) if decided.any() else None
            res[name] = {"macro_f1": f1, "accuracy": float(np.mean(pred == y)), "coverage": float(decided.mean()),
                         "accuracy_when_decided": acc_dec}
            if rules is not None:
                by = {}
                for r, ok in zip(rules, pred == y):
                    b = by.setdefault(r, [0, 0])
                    b[0] += 1
                    b[1] += int(ok)
                res[name]["rules"] = {r: {"n": n, "correct": c} for r, (n, c) in sorted(by.items())}
            rows.append([name, f"{f1:.3f}", f"{np.mean(pred == y):.3f}", f"{decided.mean():.0%}", _f(acc_dec)])

        preds = {}
        for default in (None, "venous"):
            out = header_baseline_predictions(series, contrast_default=default)
            pred = np.array([-1 if p is None else PHASE_NAMES.index(p) for p, _ in out])
            name = "header rules" + ("" if default is None else f" (contrast, phase unknown -> {default})")
            score(name, pred, pred >= 0, [r for _, r in out])
            preds[default] = pred
        hdr = preds[None]
        score(f"image model ({self.chosen}, R=30%)", image, np.ones(len(y), bool), None)
        score("header where it decides, else image", np.where(hdr >= 0, hdr, image), np.ones(len(y), bool), None)
        note = ""
        if self._bundled_path() is not None:
            shipped = r30(BUNDLED)
            score("shipped image model (MobileNetV3-small/160, R=30%)", shipped, np.ones(len(y), bool), None)
            agree = (hdr >= 0) & (hdr == shipped)
            score("header and shipped model agree (others flagged)", np.where(agree, hdr, -1), agree, None)
            note = (" The last row keeps a label only where the header rules and the shipped image model agree, "
                    "and flags the rest for review.")
        md = (f"{len(test)} synthetic test series ({len(test) // 4} studies). Undecided series count as wrong in "
              f"macro F1 and accuracy.{note}\n\n")
        md += _table(["method", "macro F1", "accuracy", "decided", "accuracy when decided"], rows)
        rules = res["header rules"]["rules"]
        md += "\n\nHeader rules that fired (strict rules):\n\n" + _table(
            ["rule", "series", "correct"], [[r, str(v["n"]), str(v["correct"])] for r, v in rules.items()])
        return res, md

    def external(self) -> tuple[dict[str, Any], str]:
        """Table 7: every model on the real series of ``realdata`` (never pooled with synthetic results)."""
        import csv

        import torch

        from ..baselines.header import header_baseline_predictions
        from ..evaluation.scan_level import vote_scans
        from ..io import load_series
        from ..models.baselines import volume_to_3dse_input
        from ..pipeline import classify
        from ..preprocessing import PAPER_WINDOW, Preprocessing
        from ..sampling import DEFAULT_MIN_SLICES
        from . import trainers

        if self.realdata is None or not (Path(self.realdata) / "labels.csv").is_file():
            raise ConfigError(f"no real data: {self.realdata} has no labels.csv (pass --realdata)")
        root = Path(self.realdata)
        with open(root / "labels.csv", newline="") as f:
            rows_in = list(csv.DictReader(f))
        series = [load_series(root / r["folder"]) for r in rows_in]
        hus = [s.read_volume() for s in series]
        draws = self.scale.external_draws
        models: dict[str, list[dict[str, Any]]] = {}

        def voted(name: str, probs: list[np.ndarray]) -> None:
            ids = [s.series_id for s in series]
            labs = np.array([vote_scans(probs, SAMPLE_RATE, seed=self.seed, min_slices=DEFAULT_MIN_SLICES, scan_ids=ids,
                                        repeat=j).labels for j in range(draws + 1)])  # (draws + 1, series)
            models[name] = [{"predicted": PHASE_NAMES[labs[0, i]],
                             "correct_draws": int(sum(PHASE_NAMES[v] == r["phase"] for v in labs[1:, i])), "draws": draws}
                            for i, r in enumerate(rows_in)]

        for key, channels in ((self.chosen, 3), ("cdgan@128", 1)):
            net = self.trained(key)
            pp = Preprocessing(windows=(PAPER_WINDOW,), size=self.size_of(key) or 128, channels=1)
            voted(key, [trainers.predict(net, pp(hu), channels=channels) for hu in hus])
        net3 = self.trained("3dse")
        d, h, _ = self.scale.se3d_shape
        pp3 = Preprocessing(windows=(PAPER_WINDOW,), size=h, channels=1)
        with torch.no_grad():
            models["3dse"] = [{"predicted": PHASE_NAMES[int(trainers.predict(net3, volume_to_3dse_input(hu, pp3, depth=d)[None],
                                                                            channels=None)[0].argmax())]}
                              for hu in hus]
        models["header rules"] = [{"predicted": p} for p, _ in header_baseline_predictions(series)]
        default = []
        for r in rows_in:
            (pred,) = [p for p in classify([root / r["folder"]], sample_rate=SAMPLE_RATE, seed=self.seed) if p.status == "ok"]
            default.append({"predicted": pred.label})
        models["bundled default model"] = default

        names = list(models)
        rows = []
        for i, r in enumerate(rows_in):
            cells = [r["name"], r["phase"], str(series[i].n_slices)]
            for n in names:
                e = models[n][i]
                mark = "" if e["predicted"] == r["phase"] else " ✗"
                extra = f" ({e['correct_draws']}/{e['draws']})" if "draws" in e else ""
                cells.append(f"{e['predicted'] or 'undecided'}{mark}{extra}")
            rows.append(cells)
        truth = [r["phase"] for r in rows_in]
        summary = {}
        for n in names:
            pred = [e["predicted"] for e in models[n]]
            summary[n] = {"correct": sum(p == t for p, t in zip(pred, truth)), "n": len(truth)}
        rows.append(["**correct**", "", "", *[f"{summary[n]['correct']}/{summary[n]['n']}" for n in names]])
        md = (f"{len(rows_in)} real series from `shared/realdata` (3 patients); the 2D models vote R = 30% of the slices "
              f"(at least {DEFAULT_MIN_SLICES}), seed {self.seed}, and in brackets the draws out of {draws} further "
              "random draws that were right. ✗ marks a wrong seed-0 prediction. Six series measure nothing "
              "statistically: this is an external sanity check.\n\n")
        md += _table(["series", "truth", "slices", *names], rows)
        return {"series": [r["name"] for r in rows_in], "truth": truth, "models": models, "summary": summary}, md

    # ------------------------------------------------------------------ driver

    def run(self, name: str, command: str | None = None) -> tuple[dict[str, Any], str]:
        """Run one experiment, write ``results/NAME.json`` and ``results/NAME.md``; return both."""
        from ..evaluation.report import to_jsonable
        from ..atomic import write_atomic

        if name not in EXPERIMENTS:
            raise ConfigError(f"unknown experiment {name!r}; choose from {', '.join(EXPERIMENTS)} or all")
        fn = getattr(self, name.replace("-", "_"))
        t0 = time.perf_counter()
        res, md = fn()
        res = {"experiment": name, "scale": self.scale.to_dict(), "seconds": time.perf_counter() - t0,
               "command": command, "machine": machine(), "finished": time.strftime("%Y-%m-%d %H:%M:%S"), **res}
        out = self.work / "results"
        write_atomic(out / f"{name}.json", json.dumps(to_jsonable(res), indent=1))
        write_atomic(out / f"{name}.md", md + "\n")
        return res, md


def _drop_curves(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metrics.items() if k != "roc_curves"}


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    import torch

    return {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "platform": platform.platform(),
            "python": platform.python_version(), "torch": torch.__version__,
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


__all__ = ["ARCHS", "EXPERIMENTS", "PAPER", "Bench", "machine"]
