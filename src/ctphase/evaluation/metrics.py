"""Classification metrics for slice- and scan-level phase predictions (scikit-learn based).

Conventions (shared with :mod:`ctphase.evaluation.bootstrap`, so point estimates and
bootstrap resamples agree):

- classes are indices ``0..K-1`` in the order of ``class_names`` (canonical:
  non_contrast, arterial, venous, other);
- per-class precision/recall/F1 use ``zero_division=0`` (a class never predicted has
  precision 0, a class never present has recall 0);
- **macro** averages run over the classes present in ``y_true`` or ``y_pred`` (the
  scikit-learn default), so a class absent from an evaluation set does not count as 0;
- one-vs-rest ROC AUC of class k scores ``probs[:, k]`` against ``y_true == k``; it is
  ``None`` (with a reason) when ``probs`` is not given or the class has no positives or no
  negatives; the macro AUC is the mean over the classes whose AUC is defined.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support, roc_auc_score, roc_curve

from ..errors import ConfigError
from ..phases import PHASE_NAMES, Phase
from .results import ClassificationMetrics, ClassScores, MacroScores, RocAuc, RocCurve


def to_class_indices(labels: Sequence[Any] | np.ndarray, class_names: Sequence[str] = PHASE_NAMES) -> np.ndarray:
    """Convert labels (indices, names or, for the canonical classes, aliases) to ``(N,)`` int64 indices.

    Raises:
        ConfigError: naming the first label that is not a class of ``class_names``.
    """
    names = tuple(class_names)
    arr = np.asarray(labels)
    if arr.ndim != 1:
        msg = f"labels must be one-dimensional, got shape {arr.shape}"
        raise ConfigError(msg)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if np.issubdtype(arr.dtype, np.integer):
        out = arr.astype(np.int64)
        bad = out[(out < 0) | (out >= len(names))]
        if bad.size:
            msg = f"label index {int(bad[0])} is out of range 0..{len(names) - 1} ({', '.join(names)})"
            raise ConfigError(msg)
        return out
    lookup = {n: i for i, n in enumerate(names)}
    canonical = names == PHASE_NAMES
    out = np.empty(arr.size, dtype=np.int64)
    for i, value in enumerate(arr.tolist()):
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and 0 <= int(value) < len(names):
            out[i] = int(value)
        elif value in lookup:
            out[i] = lookup[value]
        elif canonical:
            try:
                out[i] = int(Phase.parse(value))
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
        else:
            msg = f"unknown label {value!r}; expected one of {', '.join(names)} or an index 0..{len(names) - 1}"
            raise ConfigError(msg)
    return out


def check_probs(probs: Any, n: int, n_classes: int, what: str = "probs") -> np.ndarray:
    """Validate an ``(N, K)`` array of class scores and return it as float64."""
    p = np.asarray(probs, dtype=np.float64)
    if p.shape != (n, n_classes):
        msg = f"{what} must have shape ({n}, {n_classes}) (one row per label, one column per class), got {p.shape}"
        raise ConfigError(msg)
    if not np.all(np.isfinite(p)):
        msg = f"{what} contains NaN or infinite values"
        raise ConfigError(msg)
    return p


def check_pair(y_true: Any, y_pred: Any, class_names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    yt = to_class_indices(y_true, class_names)
    yp = to_class_indices(y_pred, class_names)
    if yt.shape != yp.shape:
        msg = f"y_true and y_pred differ in length: {yt.shape[0]} != {yp.shape[0]}"
        raise ConfigError(msg)
    if yt.size == 0:
        msg = "cannot compute metrics on zero samples (y_true is empty)"
        raise ConfigError(msg)
    return yt, yp


def auc_reason(y_true: np.ndarray, k: int, name: str, have_probs: bool) -> str | None:
    """Why the one-vs-rest AUC of class ``k`` is undefined, or ``None`` when it is defined."""
    if not have_probs:
        return "no probabilities given"
    n_pos = int(np.sum(y_true == k))
    if n_pos == 0:
        return f"class {name} has no positive samples"
    if n_pos == y_true.size:
        return f"class {name} has no negative samples (every sample is {name})"
    return None


def classification_metrics(
    y_true: Sequence[Any] | np.ndarray,
    y_pred: Sequence[Any] | np.ndarray,
    probs: np.ndarray | None = None,
    class_names: Sequence[str] = PHASE_NAMES,
    *,
    roc_points: bool = True,
    max_roc_points: int = 1000,
) -> ClassificationMetrics:
    """Accuracy, macro and per-class precision/recall/F1, confusion matrix and one-vs-rest ROC AUC.

    Args:
        y_true: ``(N,)`` true labels (indices or class names).
        y_pred: ``(N,)`` predicted labels.
        probs: optional ``(N, K)`` float class scores (slice softmax, or mean slice
            probabilities for scans); enables ROC AUC and ROC curves.
        class_names: the K class names, in index order.
        roc_points: include ROC curve points (``fpr``, ``tpr``, ``thresholds``) per class.
        max_roc_points: keep at most this many evenly spaced vertices per curve (first and
            last kept), so slice-level curves stay small in JSON.
    Returns:
        :class:`~ctphase.evaluation.results.ClassificationMetrics` (undefined values are ``None``;
        ROC curves only for the classes whose AUC is defined).
    """
    names = tuple(class_names)
    k = len(names)
    if k < 2:
        msg = f"class_names must name at least 2 classes, got {names}"
        raise ConfigError(msg)
    yt, yp = check_pair(y_true, y_pred, names)
    p = None if probs is None else check_probs(probs, yt.size, k)
    labels = list(range(k))

    prec, rec, f1, support = precision_recall_fscore_support(yt, yp, labels=labels, zero_division=0)
    present = sorted(set(yt.tolist()) | set(yp.tolist()))
    mp, mr, mf, _ = precision_recall_fscore_support(yt, yp, labels=present, average="macro", zero_division=0)
    cm = confusion_matrix(yt, yp, labels=labels)
    rows = cm.sum(axis=1, keepdims=True)
    cm_norm = np.divide(cm, rows, out=np.zeros(cm.shape, dtype=np.float64), where=rows > 0)

    roc_auc, curves = _roc(yt, p, names, roc_points, max_roc_points)
    return ClassificationMetrics(
        n=int(yt.size),
        accuracy=float(np.mean(yt == yp)),
        macro=MacroScores(float(mp), float(mr), float(mf), [names[i] for i in present]),
        per_class={
            name: ClassScores(float(prec[c]), float(rec[c]), float(f1[c]), int(support[c])) for c, name in enumerate(names)
        },
        confusion_matrix=cm.astype(int).tolist(),
        confusion_matrix_normalized=cm_norm.tolist(),
        roc_auc=roc_auc,
        roc_curves=curves,
    )


def _roc(
    yt: np.ndarray, p: np.ndarray | None, names: tuple[str, ...], roc_points: bool, max_roc_points: int
) -> tuple[RocAuc, dict[str, RocCurve]]:
    """One-vs-rest AUC per class (with reasons where undefined), their mean, and the curves."""
    k = len(names)
    aucs: dict[str, float | None] = {}
    reasons: dict[str, str] = {}
    curves: dict[str, RocCurve] = {}
    for c, name in enumerate(names):
        why = auc_reason(yt, c, name, p is not None)
        if why is not None:
            aucs[name] = None
            reasons[name] = why
            continue
        assert p is not None  # for type checkers; guaranteed by auc_reason
        pos = (yt == c).astype(np.int64)
        aucs[name] = float(roc_auc_score(pos, p[:, c]))
        if roc_points:
            fpr, tpr, thr = roc_curve(pos, p[:, c])
            if fpr.size > max_roc_points >= 2:
                keep = np.unique(np.round(np.linspace(0, fpr.size - 1, max_roc_points)).astype(np.int64))
                fpr, tpr, thr = fpr[keep], tpr[keep], thr[keep]
            curves[name] = RocCurve(
                fpr=[float(v) for v in fpr],
                tpr=[float(v) for v in tpr],
                thresholds=[float(v) if np.isfinite(v) else None for v in thr],
            )
    defined = [n for n in names if aucs[n] is not None]
    macro_auc = float(np.mean([aucs[n] for n in defined])) if defined else None
    if defined and len(defined) < k:
        reasons["macro"] = f"mean over the {len(defined)} classes with a defined AUC ({', '.join(defined)})"
    elif not defined:
        reasons["macro"] = "no class has a defined AUC"

    return RocAuc(aucs, macro_auc, reasons, defined), curves


def macro_f1(y_true: Sequence[Any] | np.ndarray, y_pred: Sequence[Any] | np.ndarray, n_classes: int = len(PHASE_NAMES)) -> float:
    """Macro F1 over the classes present in ``y_true`` or ``y_pred`` (zero_division=0); fast, no sklearn call.

    ``y_true``/``y_pred``: ``(N,)`` int class indices in ``[0, n_classes)``.
    """
    yt = np.asarray(y_true, dtype=np.int64)
    yp = np.asarray(y_pred, dtype=np.int64)
    cm = np.bincount(yt * n_classes + yp, minlength=n_classes * n_classes).reshape(n_classes, n_classes)
    return float(metrics_from_confusion(cm[None])["macro_f1"][0])


def metrics_from_confusion(cms: np.ndarray) -> dict[str, np.ndarray]:
    """Vectorised metrics of a stack of confusion matrices ``(B, K, K)`` (rows true, columns predicted).

    Same conventions as :func:`classification_metrics`. Returns arrays: ``accuracy``,
    ``macro_precision``, ``macro_recall``, ``macro_f1`` of shape ``(B,)`` and ``precision``,
    ``recall``, ``f1`` of shape ``(B, K)``; a resample with zero samples gives NaN.
    """
    cms = np.asarray(cms, dtype=np.float64)
    tp = np.diagonal(cms, axis1=1, axis2=2)
    n_true = cms.sum(axis=2)
    n_pred = cms.sum(axis=1)
    total = n_true.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(n_pred > 0, tp / np.where(n_pred > 0, n_pred, 1), 0.0)
        recall = np.where(n_true > 0, tp / np.where(n_true > 0, n_true, 1), 0.0)
        denom = n_pred + n_true
        f1 = np.where(denom > 0, 2 * tp / np.where(denom > 0, denom, 1), 0.0)
        present = (n_true > 0) | (n_pred > 0)
        n_present = present.sum(axis=1)
        out = {
            "accuracy": np.where(total > 0, tp.sum(axis=1) / np.where(total > 0, total, 1), np.nan),
            "precision": precision,
            "recall": recall,
            "f1": f1,
        }
        for key, arr in (("macro_precision", precision), ("macro_recall", recall), ("macro_f1", f1)):
            out[key] = np.where(n_present > 0, (arr * present).sum(axis=1) / np.maximum(n_present, 1), np.nan)
    return out
