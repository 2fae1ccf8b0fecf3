"""The paper's comparisons with other methods: 3DSE and CD-GAN (Table 6), header rules, real CT (Table 7).

Every learned model is scored through the product's :class:`~ctphase.inference.Classifier` from
its checkpoint, and timed through :func:`ctphase.pipeline.predict_series`, the path of
``ctphase predict``: the 2D methods read and classify R = 30% of the slices, 3DSE reads the
whole stack.
"""

from __future__ import annotations

import csv
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..data import read_manifest
from ..errors import ConfigError
from ..evaluation import EvaluationResults, Interval
from ..phases import PHASE_NAMES
from .models import BUNDLED, CDGAN_KEY, SE3D, bundled_description
from .tables import ci, num, table
from .workspace import SAMPLE_RATE, TimedMethod, Workspace

SHIPPED = "ctphase bundled model ({}, ONNX Runtime), R=30%"
"""Row label of the shipped model; ``{}`` takes :func:`~ctphase.paper.models.bundled_description`."""
TIMING_BATCH = 16
"""Slices per forward pass when timing (16 is fastest on CPU)."""


def _timed(clf: Any) -> TimedMethod:
    """Classify one series from disk as ``ctphase predict`` does; seconds per stage."""
    from ..io import load_series
    from ..pipeline import predict_series

    def run(path: Path, seed: int) -> dict[str, float]:
        t0 = time.perf_counter()
        pred = predict_series(load_series(path), clf, sample_rate=SAMPLE_RATE, seed=seed)
        total = time.perf_counter() - t0
        t = pred.timings
        return {"total": total, "read": total - t["preprocess"] - t["model"], "preprocess": t["preprocess"],
                "model": t["model"]}

    return run


def _shipped_scan_f1(ws: Workspace) -> tuple[Interval, float]:
    """The shipped model through ``predict_series`` on every test series: scan macro F1 interval and accuracy."""
    from ..evaluation.bootstrap import bootstrap_classification
    from ..evaluation.metrics import classification_metrics
    from ..io import load_series
    from ..pipeline import predict_series

    clf = ws.classifier(BUNDLED)
    test = ws.scans("test")
    pred = [predict_series(load_series(s.path), clf, sample_rate=SAMPLE_RATE, seed=ws.seed).label for s in test]
    y = [int(s.label) for s in test]
    boot = bootstrap_classification(y, pred, groups=[s.group for s in test], n_resamples=ws.scale.n_resamples,
                                    seed=ws.seed)
    return boot.macro.f1, classification_metrics(y, pred).accuracy


def baselines(ws: Workspace) -> tuple[dict[str, Any], str]:
    """Table 6: the 2D method against 3DSE and CD-GAN: scan-level F1 and inference time per scan."""
    import torch

    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    keys = {f"2D + random sampling ({ws.chosen})": ws.chosen, "CD-GAN (128 px, R=30%)": CDGAN_KEY,
            f"3DSE ({'x'.join(map(str, ws.scale.se3d_shape))})": SE3D}
    scores: dict[str, tuple[Interval, float]] = {}
    for label, key in keys.items():
        ev: EvaluationResults = ws.evaluate(key)
        assert ev.scan_level.ci is not None
        scores[label] = (ev.scan_level.ci.macro.f1, ev.scan_level.metrics.accuracy)
    methods = {label: _timed(ws.classifier(key, batch_size=TIMING_BATCH)) for label, key in keys.items()}
    if ws.bundled_path() is not None:
        shipped = SHIPPED.format(bundled_description(ws.bundled_path()))
        scores[shipped] = _shipped_scan_f1(ws)
        keys[shipped] = "bundled default"
        methods[shipped] = _timed(ws.classifier(BUNDLED))
    timing = ws.time_methods(methods)
    ref = timing[next(iter(methods))]["total"]
    rows, res = [], {}
    for label, (f1, acc) in scores.items():
        t = timing[label]
        train = ws.model(keys[label]).train if keys[label] != "bundled default" else None
        res[label] = {"model": keys[label], "scan_f1_ci": f1, "scan_accuracy": acc, "timing": t, "train": train}
        rows.append([label, ci(f1), num(acc), f"{t['total']:.3f}", f"{t['read']:.3f}", f"{t['preprocess']:.3f}",
                     f"{t['model']:.3f}", f"{t['total'] / ref:.2f}", "–" if train is None else f"{train['seconds'] / 60:.1f}"])
    n_timing = ws.scale.timing_slices
    md = (f"Scan-level F1 on the {len(ws.scans('test'))} test series; time per scan = median over "
          f"{ws.scale.timing_repeats} passes over {len(read_manifest(ws.manifest('timing')))} full-length "
          f"{ws.scale.timing_matrix}x{ws.scale.timing_matrix} series of up to {n_timing} slices, read from DICOM "
          f"through `ctphase.pipeline.predict_series` (the trained models: PyTorch, {torch.get_num_threads()} threads, "
          f"batch {TIMING_BATCH}, after one warm-up pass; 'read' includes discovering the series and parsing its headers). The "
          "last row is ctphase's shipped model (trained much longer, on other synthetic patients), as a reference "
          "for the product, not part of the paper's comparison.\n\n")
    md += table(["method", "scan F1 [95% CI]", "accuracy", "s / scan", "read", "preprocess", "model",
                 "time vs 2D", "train min"], rows)
    return {"methods": res, "timing_series": n_timing}, md


def header(ws: Workspace) -> tuple[dict[str, Any], str]:
    """Header-only rules on the test studies (tags messy on purpose) next to the image model."""
    from ..evaluation.scan_level import vote_scans
    from ..io import load_series
    from .header_rules import header_baseline_predictions

    test = ws.scans("test")
    series = [load_series(s.path) for s in test]
    y = np.array([int(s.label) for s in test])
    scan_ids = [s.scan_id for s in test]

    def r30(key: str) -> np.ndarray:
        """Scan labels voted from R = 30% of the slices, the draws of :meth:`Workspace.evaluate`."""
        return vote_scans(ws.model(key).probs, SAMPLE_RATE, seed=ws.seed, min_slices=1, scan_ids=scan_ids).labels

    score = _HeaderScores(y)
    preds = {}
    for default in (None, "venous"):
        out = header_baseline_predictions(series, contrast_default=default)
        pred = np.array([-1 if p is None else PHASE_NAMES.index(p) for p, _ in out])
        name = "header rules" + ("" if default is None else f" (contrast, phase unknown -> {default})")
        score.add(name, pred, pred >= 0, [r for _, r in out])
        preds[default] = pred
    hdr, image = preds[None], r30(ws.chosen)
    everything = np.ones(len(y), bool)
    score.add(f"image model ({ws.chosen}, R=30%)", image, everything)
    score.add("header where it decides, else image", np.where(hdr >= 0, hdr, image), everything)
    note = ""
    if ws.bundled_path() is not None:
        shipped = r30(BUNDLED)
        score.add(f"shipped image model ({bundled_description(ws.bundled_path())}, R=30%)", shipped, everything)
        agree = (hdr >= 0) & (hdr == shipped)
        score.add("header and shipped model agree (others flagged)", np.where(agree, hdr, -1), agree)
        note = (" The last row keeps a label only where the header rules and the shipped image model agree, "
                "and flags the rest for review.")
    md = (f"{len(test)} synthetic test series ({len(test) // 4} studies). Undecided series count as wrong in "
          f"macro F1 and accuracy.{note}\n\n")
    md += table(["method", "macro F1", "accuracy", "decided", "accuracy when decided"], score.rows)
    rules = score.res["header rules"]["rules"]
    md += "\n\nHeader rules that fired (strict rules):\n\n" + table(
        ["rule", "series", "correct"], [[r, str(v["n"]), str(v["correct"])] for r, v in rules.items()])
    return score.res, md


class _HeaderScores:
    """Macro F1, accuracy and coverage of label vectors (-1: undecided) against the truth ``y``."""

    def __init__(self, y: np.ndarray) -> None:
        self.y = y
        self.rows: list[list[str]] = []
        self.res: dict[str, Any] = {}

    def add(self, name: str, pred: np.ndarray, decided: np.ndarray, rules: list[str] | None = None) -> None:
        from sklearn.metrics import f1_score

        y = self.y
        f1 = float(f1_score(y, pred, labels=[0, 1, 2, 3], average="macro", zero_division=0))
        acc_dec = float(np.mean(pred[decided] == y[decided])) if decided.any() else None
        self.res[name] = {"macro_f1": f1, "accuracy": float(np.mean(pred == y)), "coverage": float(decided.mean()),
                          "accuracy_when_decided": acc_dec}
        if rules is not None:
            by: dict[str, list[int]] = {}
            for r, ok in zip(rules, pred == y):
                b = by.setdefault(r, [0, 0])
                b[0] += 1
                b[1] += int(ok)
            self.res[name]["rules"] = {r: {"n": n, "correct": c} for r, (n, c) in sorted(by.items())}
        self.rows.append([name, f"{f1:.3f}", f"{np.mean(pred == y):.3f}", f"{decided.mean():.0%}", num(acc_dec)])


def external(ws: Workspace) -> tuple[dict[str, Any], str]:
    """Table 7: every model on the real series of ``realdata`` (never pooled with synthetic results)."""
    from ..evaluation.scan_level import vote_scans
    from ..io import load_series
    from ..pipeline import classify
    from ..sampling import DEFAULT_MIN_SLICES
    from .header_rules import header_baseline_predictions

    if ws.realdata is None:
        raise ConfigError("the external experiment needs the real series: pass --realdata DIR (labels.csv + one folder per series)")
    if not (Path(ws.realdata) / "labels.csv").is_file():
        raise ConfigError(f"no real data: {ws.realdata} has no labels.csv (pass --realdata DIR)")
    root = Path(ws.realdata)
    with open(root / "labels.csv", newline="") as f:
        rows_in = list(csv.DictReader(f))
    series = [load_series(root / r["folder"], min_slices=DEFAULT_MIN_SLICES) for r in rows_in]
    hus = [s.read_volume() for s in series]
    draws = ws.scale.external_draws
    ids = [s.series_id for s in series]
    models: dict[str, list[dict[str, Any]]] = {}
    for key in (ws.chosen, CDGAN_KEY):
        clf = ws.classifier(key)
        probs = [clf.predict_hu(hu)[0] for hu in hus]
        labs = np.array([vote_scans(probs, SAMPLE_RATE, seed=ws.seed, min_slices=DEFAULT_MIN_SLICES, scan_ids=ids,
                                    repeat=j).labels for j in range(draws + 1)])  # (draws + 1, series)
        models[key] = [{"predicted": PHASE_NAMES[labs[0, i]],
                        "correct_draws": int(sum(PHASE_NAMES[v] == r["phase"] for v in labs[1:, i])), "draws": draws}
                       for i, r in enumerate(rows_in)]
    clf3 = ws.classifier(SE3D)
    models[SE3D] = [{"predicted": PHASE_NAMES[int(clf3.predict_hu(hu)[0][0].argmax())]} for hu in hus]
    models["header rules"] = [{"predicted": p} for p, _ in header_baseline_predictions(series)]
    default = []
    for r in rows_in:
        (pred,) = [p for p in classify([root / r["folder"]], sample_rate=SAMPLE_RATE, seed=ws.seed) if p.status == "ok"]
        default.append({"predicted": pred.label})
    models["bundled default model"] = default
    return _external_table(ws, rows_in, series, models, draws)


def _external_table(ws: Workspace, rows_in: list[dict[str, str]], series: list[Any],
                    models: dict[str, list[dict[str, Any]]], draws: int) -> tuple[dict[str, Any], str]:
    from ..sampling import DEFAULT_MIN_SLICES

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
    n_patients = len({r.get("patient") for r in rows_in})
    md = (f"{len(rows_in)} real series from `shared/realdata` ({n_patients} patients); the 2D models vote R = 30% of the "
          f"slices (at least {DEFAULT_MIN_SLICES}), seed {ws.seed}, and in brackets the draws out of {draws} further "
          "random draws that were right. ✗ marks a wrong seed-0 prediction. So few series measure nothing "
          "statistically: this is an external sanity check.\n\n")
    md += table(["series", "truth", "slices", *names], rows)
    return {"series": [r["name"] for r in rows_in], "truth": truth, "models": models, "summary": summary}, md
