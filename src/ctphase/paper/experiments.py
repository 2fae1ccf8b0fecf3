"""The reference paper's experiments (Dao et al. 2022), rerun on ctphase's fixed benchmark data.

One function per experiment, each taking the run's :class:`~ctphase.paper.workspace.Workspace`
and returning ``(record, markdown)``; :func:`run_experiment` writes both to ``results/``.

=================  ===========================================================================
experiment         what it measures (paper item)
=================  ===========================================================================
``architectures``  slice-level macro P/R/F1 of the paper's 2D CNNs and CD-GAN at 128 px (Table 3)
``input-size``     EfficientNet-B2 at each size of ``Scale.sizes``: F1, training time (Table 4)
``per-class``      per-class P/R/F1 with patient-bootstrap CIs of the chosen model (Table 5)
``sampling``       scan-level macro F1 against the sampled fraction R over repeated draws (Fig. 7)
``baselines``      2D + random sampling vs 3DSE vs CD-GAN: scan F1 and time per scan (Table 6)
``header``         rules on the DICOM header only, on the same (messy) synthetic studies
``external``       every model on the real series kept apart for external validation (Table 7)
=================  ===========================================================================
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from ..errors import ConfigError
from ..phases import PHASE_NAMES
from . import comparisons
from .models import BUNDLED, CDGAN_KEY, bundled_description
from .tables import ci, num, table
from .workspace import CHOSEN_ARCH, Workspace, machine

ARCHS = ("resnet18", "resnet34", "seresnet18", "resnext50", "efficientnet_b0", "efficientnet_b2", "ghostnet")
"""The paper's 2D CNNs (Table 3), in its order."""
PAPER = {
    "slice_f1": 0.86,
    "scan_f1_r30": 0.92,
    "external_f1": (0.87, 0.77),
    "speedup_vs_3dse": 30.0,
}
"""The paper's headline figures as stated in its abstract/results (EfficientNet-B2, 224 px)."""
SHIPPED_NOTE = "trained on other synthetic patients, not under this experiment's budget"
Experiment = Callable[[Workspace], tuple[dict[str, Any], str]]


def architectures(ws: Workspace) -> tuple[dict[str, Any], str]:
    """Table 3: every 2D CNN and CD-GAN at ``Scale.slice_size``, same data, same budget."""
    size = ws.scale.slice_size
    keys = [f"{a}@{size}" for a in ARCHS] + [CDGAN_KEY]
    rows, res = [], {}
    for key in keys:
        run = ws.model(key)
        ev = ws.evaluate(key)
        sl, sc = ev.slice_level, ev.scan_level
        assert sl.ci is not None and sc.ci is not None and run.train is not None and run.n_params is not None
        res[key] = {"train": run.train, "n_params": run.n_params, "predict_seconds": run.predict_seconds,
                    "slice": {"accuracy": sl.metrics.accuracy, "macro": sl.metrics.macro, "f1_ci": sl.ci.macro.f1},
                    "scan": {"accuracy": sc.metrics.accuracy, "macro": sc.metrics.macro, "f1_ci": sc.ci.macro.f1}}
        m = sl.metrics.macro
        rows.append([key.split("@")[0] + (" (128 px)" if key == CDGAN_KEY else ""), f"{run.n_params / 1e6:.1f}",
                     num(m.precision), num(m.recall), ci(sl.ci.macro.f1), num(sc.metrics.macro.f1),
                     f"{run.train['seconds'] / 60:.1f}", f"{run.train['images_per_s']:.0f}",
                     f"{run.n_test_inputs / run.predict_seconds:.0f}"])
    md = table(["model", "params (M)", "slice precision", "slice recall", "slice F1 [95% CI]",
                "scan F1 (R=30%)", "train min", "train img/s", "infer img/s"], rows)
    return res, md


def input_size(ws: Workspace) -> tuple[dict[str, Any], str]:
    """Table 4: EfficientNet-B2 at each of ``Scale.sizes``: F1 and training time per epoch."""
    n_train = sum(s.n_slices for s in ws.scans("train"))
    rows, res = [], {}
    for size in ws.scale.sizes:
        key = f"{CHOSEN_ARCH}@{size}"
        run = ws.model(key)
        ev = ws.evaluate(key)
        assert ev.slice_level.ci is not None and ev.scan_level.ci is not None and run.train is not None
        tr = run.train
        epoch_s = tr["seconds"] / tr["samples"] * n_train
        infer = run.n_test_inputs / run.predict_seconds
        res[key] = {"train": tr, "epoch_seconds": epoch_s, "n_train_slices": n_train,
                    "slice_f1_ci": ev.slice_level.ci.macro.f1, "scan_f1_ci": ev.scan_level.ci.macro.f1,
                    "infer_images_per_s": infer}
        rows.append([f"{size} x {size}", ci(ev.slice_level.ci.macro.f1), ci(ev.scan_level.ci.macro.f1),
                     f"{epoch_s / 60:.1f}", f"{tr['images_per_s']:.1f}", f"{infer:.0f}"])
    md = table(["input", "slice F1 [95% CI]", "scan F1 (R=30%) [95% CI]",
                f"train min / epoch ({n_train} slices)", "train img/s", "infer img/s"], rows)
    return res, md


def per_class(ws: Workspace) -> tuple[dict[str, Any], str]:
    """Table 5: per-class precision/recall/F1 with patient-clustered bootstrap CIs, slice and scan level.

    For the chosen model, and for the shipped model on the same test set as a reference.
    """
    res, md = _per_class_block(ws, ws.chosen)
    if ws.bundled_path() is not None:
        ref, ref_md = _per_class_block(ws, BUNDLED)
        ref["description"] = bundled_description(ws.bundled_path())
        res["bundled"] = ref
        md += (f"\n\n**Reference: ctphase's shipped model** ({ref['description']}, {SHIPPED_NOTE}), same test "
               "series:\n\n" + ref_md)
    return res, md


def _per_class_block(ws: Workspace, key: str) -> tuple[dict[str, Any], str]:
    from ..evaluation.plots import plot_confusion_matrix

    ev = ws.evaluate(key)
    levels = {"slice_level": ev.slice_level, "scan_level": ev.scan_level}
    rows = []
    for name in [*PHASE_NAMES, "macro"]:
        row = [name]
        for level in levels.values():
            assert level.ci is not None
            scores = level.ci.macro if name == "macro" else level.ci.per_class[name]
            row += [ci(scores.precision), ci(scores.recall), ci(scores.f1)]
        rows.append(row)
    rows.append(["accuracy", "", "", ci(ev.slice_level.ci.accuracy if ev.slice_level.ci else None), "", "",
                 ci(ev.scan_level.ci.accuracy if ev.scan_level.ci else None)])
    md = f"Model: `{key}`; scan label = majority of R = 30% of the slices (seed {ws.seed}).\n\n"
    md += table(["class", "slice P", "slice R", "slice F1", "scan P", "scan R", "scan F1"], rows)
    tag = key.replace("@", "_")
    figs = {}
    for name, level in levels.items():
        p = plot_confusion_matrix(level.metrics.confusion_matrix, ws.figure(f"confusion_{tag}_{name}.png"),
                                  title=f"{key}, {name.replace('_', ' ')}")
        figs[name] = p.name
    cm = ev.scan_level.metrics.confusion_matrix
    md += "\n\nScan-level confusion matrix (rows: truth, columns: prediction):\n\n"
    md += table(["", *PHASE_NAMES], [[PHASE_NAMES[i], *map(str, r)] for i, r in enumerate(cm)])
    md += f"\n\n![scan-level confusion of {key}](figures/{figs['scan_level']})"
    res = {"model": key, "counts": ev.counts, "figures": figs}
    for name, level in levels.items():
        metrics = {k: v for k, v in asdict(level.metrics).items() if k != "roc_curves"}
        res[name] = {"metrics": metrics, "ci": level.ci}
    return res, md


def sampling(ws: Workspace) -> tuple[dict[str, Any], str]:
    """Figure 7: scan-level macro F1 against R, ``Scale.sweep_repeats`` draws per R (chosen and shipped model)."""
    res, md = _sampling_block(ws, ws.chosen)
    if ws.bundled_path() is not None:
        ref, ref_md = _sampling_block(ws, BUNDLED)
        res["bundled"] = ref
        md += "\n\n**Reference: ctphase's shipped model**, same test series and draws:\n\n" + ref_md
    return res, md


def _sampling_block(ws: Workspace, key: str) -> tuple[dict[str, Any], str]:
    from ..evaluation.plots import plot_sweep

    sw = ws.evaluate(key, sweep=True).sweep
    assert sw is not None
    rows = [[f"{100 * e.rate:g}", f"{e.mean_slices:.1f}", f"{e.mean:.3f} ± {e.std:.3f}", f"{e.min:.3f} – {e.max:.3f}",
             ci(e.ci), f"{e.accuracy.mean:.3f}"] for e in sw.per_rate]
    md = (f"Model: `{key}`; test series of {ws.scale.slices_per_series} slices; {sw.repeats} independent draws per R "
          "(at least 1 slice per scan).\n\n")
    md += table(["R (%)", "slices voted", "macro F1 mean ± std", "min – max", "95% CI (draw 0)", "accuracy"], rows)
    p = plot_sweep(sw, ws.figure(f"sampling_sweep_{key.replace('@', '_')}.png"), title=f"{key}: scan F1 vs R")
    md += f"\n\n![sampling sweep of {key}](figures/{p.name})"
    return {"model": key, "sweep": sw}, md


EXPERIMENTS: dict[str, Experiment] = {
    "architectures": architectures,
    "input-size": input_size,
    "per-class": per_class,
    "sampling": sampling,
    "baselines": comparisons.baselines,
    "header": comparisons.header,
    "external": comparisons.external,
}
"""The experiments in the paper's order, by name."""


def run_experiment(ws: Workspace, name: str, command: str | None = None) -> tuple[dict[str, Any], str]:
    """Run one experiment, write ``results/NAME.json`` and ``results/NAME.md``; return both."""
    from ..atomic import write_atomic
    from ..evaluation.report import to_jsonable

    if name not in EXPERIMENTS:
        raise ConfigError(f"unknown experiment {name!r}; choose from {', '.join(EXPERIMENTS)} or all")
    t0 = time.perf_counter()
    res, md = EXPERIMENTS[name](ws)
    res = {"experiment": name, "scale": ws.scale.to_dict(), "seconds": time.perf_counter() - t0,
           "command": command, "machine": machine(), "finished": time.strftime("%Y-%m-%d %H:%M:%S"), **res}
    out = ws.work / "results"
    write_atomic(out / f"{name}.json", json.dumps(to_jsonable(res), indent=1))
    write_atomic(out / f"{name}.md", md + "\n")
    return res, md
