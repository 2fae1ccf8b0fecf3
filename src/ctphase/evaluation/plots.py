"""Evaluation figures as PNG files (matplotlib, Agg canvas, no pyplot global state).

Output is deterministic: the same inputs give byte-identical files (the PNG ``Software``
metadata, which carries the matplotlib version, is left out).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..errors import ConfigError
from ..phases import PHASE_NAMES
from .results import CalibrationScores, RocCurve, Sweep

_DPI = 120
_PNG_METADATA = {"Software": None}


def _new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=_DPI)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: str | Path) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png", dpi=_DPI, metadata=_PNG_METADATA)
    return out


def _matrix_panel(ax: Any, matrix: np.ndarray, names: Sequence[str], title: str, fmt: str, vmax: float) -> None:
    im = ax.imshow(matrix, cmap="Blues", vmin=0.0, vmax=vmax if vmax > 0 else 1.0)
    k = len(names)
    ax.set_xticks(range(k), labels=list(names), rotation=30, ha="right")
    ax.set_yticks(range(k), labels=list(names))
    ax.set_xlabel("predicted phase")
    ax.set_ylabel("true phase")
    ax.set_title(title)
    for i in range(k):
        for j in range(k):
            v = matrix[i, j]
            colour = "white" if vmax > 0 and v > 0.6 * vmax else "black"
            ax.text(j, i, format(v, fmt), ha="center", va="center", color=colour, fontsize=9)
    ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)


def plot_confusion_matrix(
    confusion: Sequence[Sequence[int]] | np.ndarray,
    path: str | Path,
    class_names: Sequence[str] = PHASE_NAMES,
    title: str = "Confusion matrix",
) -> Path:
    """Write counts and row-normalised confusion matrices side by side.

    Args:
        confusion: ``(K, K)`` counts, rows true, columns predicted.
        path: output ``.png``.
    Returns:
        the written path.
    """
    cm = np.asarray(confusion, dtype=np.float64)
    k = len(class_names)
    if cm.shape != (k, k):
        msg = f"confusion matrix must have shape ({k}, {k}) for classes {', '.join(class_names)}, got {cm.shape}"
        raise ConfigError(msg)
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    fig = _new_figure(11.0, 4.6)
    ax1, ax2 = fig.subplots(1, 2)
    _matrix_panel(ax1, cm, class_names, "counts", ".0f", float(cm.max()))
    _matrix_panel(ax2, norm, class_names, "row-normalised (recall)", ".2f", 1.0)
    fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def plot_roc_curves(
    roc_curves: Mapping[str, RocCurve],
    path: str | Path,
    aucs: Mapping[str, float | None] | None = None,
    title: str = "One-vs-rest ROC curves",
) -> Path:
    """Write one-vs-rest ROC curves, one line per class.

    ``aucs`` (class -> AUC) adds the AUC to the legend. Classes without a curve are listed as undefined.
    """
    fig = _new_figure(5.6, 5.2)
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="chance")
    for name, curve in roc_curves.items():
        auc = None if aucs is None else aucs.get(name)
        label = name if auc is None else f"{name} (AUC {auc:.3f})"
        ax.plot(curve.fpr, curve.tpr, linewidth=1.6, label=label, drawstyle="default")
    if aucs is not None:
        for name, auc in aucs.items():
            if name not in roc_curves:
                ax.plot([], [], linestyle="none", label=f"{name} (undefined)")
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.set_xlabel("false positive rate (1 - specificity)")
    ax.set_ylabel("true positive rate (sensitivity)")
    ax.set_title(title)
    ax.set_aspect("equal")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def plot_sweep(sweep: Sweep, path: str | Path, title: str = "Random-sampling sweep") -> Path:
    """Write scan-level macro F1 against the sampled percentage R: mean line, min-max band, std error bars."""
    entries = sweep.per_rate
    if not entries:
        msg = "sweep has no per_rate entries to plot"
        raise ConfigError(msg)
    x = np.array([100.0 * e.rate for e in entries])
    mean = np.array([e.mean for e in entries])
    std = np.array([e.std for e in entries])
    lo = np.array([e.min for e in entries])
    hi = np.array([e.max for e in entries])
    fig = _new_figure(6.4, 4.2)
    ax = fig.subplots()
    ax.fill_between(x, lo, hi, color="tab:blue", alpha=0.2, linewidth=0, label="min-max over draws")
    ax.errorbar(x, mean, yerr=std, color="tab:blue", marker="o", markersize=4, capsize=3, linewidth=1.6, label="mean ± std")
    ax.set_xlabel("sampled slices R (%)")
    ax.set_ylabel("scan-level macro F1")
    ax.set_title(f"{title} ({sweep.repeats} draws per R)")
    ax.set_xlim(0, 101)
    ax.set_ylim(max(0.0, float(lo.min()) - 0.05), 1.0 + 0.01)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def _reliability_panel(ax: Any, scores: CalibrationScores, title: str) -> None:
    width = scores.bins[0].high - scores.bins[0].low if scores.bins else 1.0
    centres = [b.low + width / 2 for b in scores.bins if b.count]
    acc = [b.accuracy for b in scores.bins if b.count]
    conf = [b.mean_confidence for b in scores.bins if b.count]
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="perfect calibration")
    ax.bar(centres, acc, width=width * 0.9, color="tab:blue", alpha=0.75, label="accuracy in bin")
    ax.plot(conf, acc, marker="o", markersize=3, linestyle="none", color="tab:red", label="(mean confidence, accuracy)")
    for c, a, b in zip(centres, acc, [b for b in scores.bins if b.count]):
        ax.text(c, min(1.0, a + 0.02), str(b.count), ha="center", va="bottom", fontsize=6)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.08)
    ax.set_xlabel("confidence (probability of the predicted label)")
    ax.set_ylabel("accuracy")
    ax.set_title(f"{title}\nECE {scores.ece:.3f}, NLL {scores.nll:.3f}, n = {scores.n}", fontsize=9)
    ax.set_aspect("equal")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", fontsize=7)


def plot_reliability(
    before: CalibrationScores,
    after: CalibrationScores | None,
    path: str | Path,
    title: str = "Scan-level reliability diagram",
) -> Path:
    """Write reliability diagrams (accuracy against confidence per bin, counts on the bars) before and after calibration.

    ``after`` None (no calibration stored): one panel.
    """
    panels = [(before, "uncalibrated (T = 1)")] + ([(after, "calibrated")] if after is not None else [])
    fig = _new_figure(5.0 * len(panels), 5.2)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (scores, label) in zip(axes, panels):
        _reliability_panel(ax, scores, label)
    fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)
