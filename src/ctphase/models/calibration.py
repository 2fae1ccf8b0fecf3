"""Series-level calibration of a checkpoint: fitting (scipy) and applying (numpy only).

The series score of a scan is ``z = mean over its sampled slices of log(max(p, LOG_FLOOR))``, per
class, in canonical order (``ctphase.phases.PHASE_NAMES``): :func:`mean_log_probs`. The calibrated
series probabilities are

* ``"temperature"`` (Guo et al. 2017): ``softmax(z / T)``;
* ``"vector"`` (vector scaling): ``softmax(scale * z + bias)``, per-class ``scale`` and ``bias``;
* ``"none"``: ``softmax(z)``, i.e. ``T = 1`` (a checkpoint that stores no calibration).

A checkpoint with a seconds head (:mod:`ctphase.models.heads`) also stores ``seconds_scale``: the
factor on the spread of a series' ln(seconds) estimate that makes its 80% interval cover 80% of
the fit series (:mod:`ctphase.timing`); absent (1.0) otherwise. ``seconds_scale_by_phase`` holds
the same factor fitted apart for the series voted arterial, venous and other (where the fit had at
least ``MIN_SECONDS_FIT`` of them), since the estimate's error grows with time: one factor gave 80%
intervals that held the true time of 83% of arterial but 64% of other series (v4, test patients).

A checkpoint whose network has organ heads may also store a series reader
(:class:`ctphase.models.reader.SeriesReader`, key ``"reader"``): when present it, not ``z``,
gives the series probabilities and the series label (``image_label``), from all of the network's
outputs on the drawn slices; the vote is still reported beside it.

Temperature scaling keeps the ranking of the classes; vector scaling can change the most probable
class away from the vote, so it is chosen only when it is clearly better on held-out scans and
its changes of the top class are right more often than not (:func:`select_calibration`).

Storage: ``Checkpoint.meta["calibration"]`` (:meth:`Calibration.to_dict`)::

    {"method": "temperature", "temperature": 1.7, "scale": null, "bias": null,
     "class_names": [...PHASE_NAMES...], "score": "<how z is computed>", "log_floor": 1e-06,
     "fitted_on": {...data, selection, metrics: free-form JSON...}}

``meta`` is protected by ``meta_sha256`` but is not part of the model hash (``Checkpoint.sha256``):
calibrating changes probabilities, never the weights or the vote, and keeps the model's identity.
:attr:`Calibration.digest` identifies the calibration itself.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConfigError
from ..phases import PHASE_NAMES
from .reader import SeriesReader

if TYPE_CHECKING:  # pragma: no cover
    from .checkpoint import Checkpoint

logger = logging.getLogger(__name__)

META_KEY = "calibration"
"""Key of the calibration in ``Checkpoint.meta``."""
LOG_FLOOR = 1e-6
"""Slice probabilities are floored here before the log (one slice cannot veto a class alone)."""
METHODS: tuple[str, ...] = ("none", "temperature", "vector")
SCORE = "z = mean over the sampled slices of log(max(p, 1e-06)), per class in class_names order"
VECTOR_MARGIN = 0.03
"""Vector scaling is chosen only when its cross-validated NLL is at least 3% below temperature scaling's."""
MIN_SECONDS_FIT = 30
"""Fewest series with a known time voted into a phase for that phase's own seconds factor."""


def mean_log_probs(slice_probs: np.ndarray) -> np.ndarray:
    """The series score ``z`` ``(K,)`` of ``(N, K)`` slice probabilities (the sampled slices of one series)."""
    p = np.asarray(slice_probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] == 0:
        msg = f"expected slice probabilities of shape (N>=1, K), got {p.shape}"
        raise ConfigError(msg)
    return np.log(np.maximum(p, LOG_FLOOR)).mean(axis=0)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of ``(..., K)`` float64."""
    u = np.asarray(logits, dtype=np.float64)
    u = u - u.max(axis=-1, keepdims=True)
    e = np.exp(u)
    return e / e.sum(axis=-1, keepdims=True)


def nll(probs: np.ndarray, y: np.ndarray) -> float:
    """Mean negative log-likelihood of the true classes ``y`` under ``(N, K)`` probabilities."""
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    return float(-np.mean(np.log(np.maximum(p[np.arange(y.size), y], 1e-300))))


@dataclass(frozen=True)
class Calibration:
    """How series scores become calibrated probabilities (see the module docstring).

    Attributes:
        method: ``"none"``, ``"temperature"`` or ``"vector"``.
        temperature: ``T`` of temperature scaling (1.0 otherwise).
        scale, bias: ``(K,)`` vector-scaling parameters in ``PHASE_NAMES`` order (None otherwise).
        seconds_scale: factor on the spread of the seconds estimate (1.0: none fitted).
        seconds_scale_by_phase: that factor per series label (arterial, venous, other), where fitted;
            :meth:`seconds_scale_for` falls back to ``seconds_scale``.
        reader: the series reader that gives the probabilities and the label instead of ``z`` (None: the vote decides).
        fitted_on: provenance: data, selection, fit metrics (JSON; not used to compute anything).
    """

    method: str = "none"
    temperature: float = 1.0
    scale: tuple[float, ...] | None = None
    bias: tuple[float, ...] | None = None
    seconds_scale: float = 1.0
    seconds_scale_by_phase: dict[str, float] = field(default_factory=dict, hash=False)
    reader: SeriesReader | None = None
    fitted_on: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"calibration method {self.method!r} must be one of {', '.join(METHODS)}")
        t = float(self.temperature)
        if not (np.isfinite(t) and t > 0):
            raise ConfigError(f"calibration temperature must be a positive number, got {self.temperature!r}")
        object.__setattr__(self, "temperature", t)
        k = len(PHASE_NAMES)
        for name in ("scale", "bias"):
            value = getattr(self, name)
            if self.method == "vector":
                arr = np.asarray(value if value is not None else [], dtype=np.float64)
                if arr.shape != (k,) or not np.all(np.isfinite(arr)):
                    raise ConfigError(f"vector calibration needs {k} finite {name} values, got {value!r}")
                object.__setattr__(self, name, tuple(float(v) for v in arr))
            elif value is not None:
                raise ConfigError(f"calibration method {self.method!r} takes no {name}")
        s = float(self.seconds_scale)
        if not (np.isfinite(s) and s > 0):
            raise ConfigError(f"calibration seconds_scale must be a positive number, got {self.seconds_scale!r}")
        object.__setattr__(self, "seconds_scale", s)
        by_phase = {}
        for name, value in dict(self.seconds_scale_by_phase or {}).items():
            v = float(value)
            if name not in PHASE_NAMES or name == "non_contrast" or not (np.isfinite(v) and v > 0):
                raise ConfigError(f"calibration seconds_scale_by_phase needs positive factors for contrast phases, "
                                  f"got {name!r}: {value!r}")
            by_phase[name] = v
        object.__setattr__(self, "seconds_scale_by_phase", {n: by_phase[n] for n in PHASE_NAMES if n in by_phase})
        if self.method == "none" and t != 1.0:
            raise ConfigError("calibration method 'none' has temperature 1")

    @property
    def is_identity(self) -> bool:
        """Whether this is no calibration (``softmax(z)``, T = 1, seconds spread unscaled)."""
        return self.method == "none" and self.seconds_scale == 1.0 and not self.seconds_scale_by_phase and self.reader is None

    def seconds_scale_for(self, label: str | None) -> float:
        """The seconds interval factor of a series labelled ``label`` (the overall one when none is fitted for it)."""
        return self.seconds_scale_by_phase.get(label or "", self.seconds_scale)

    def logits(self, z: np.ndarray) -> np.ndarray:
        """The calibrated logits of series scores ``(..., K)``."""
        z = np.asarray(z, dtype=np.float64)
        if z.shape[-1:] != (len(PHASE_NAMES),):
            raise ConfigError(f"series scores must have {len(PHASE_NAMES)} columns (PHASE_NAMES order), got shape {z.shape}")
        if self.method == "vector":
            return z * np.asarray(self.scale) + np.asarray(self.bias)
        return z / self.temperature

    def apply(self, z: np.ndarray) -> np.ndarray:
        """Calibrated probabilities ``(K,)`` or ``(N, K)`` of series scores of the same shape (rows sum to 1)."""
        return softmax(self.logits(z))

    def describe(self) -> str:
        """One line: ``"temperature scaling, T = 1.734"``, ..., or that there is none."""
        if self.method == "temperature":
            text = f"temperature scaling, T = {self.temperature:.3f}"
        elif self.method == "vector":
            text = "vector scaling, scale " + ", ".join(f"{v:.3f}" for v in self.scale or ()) + \
                "; bias " + ", ".join(f"{v:.3f}" for v in self.bias or ())
        else:
            text = "none (T = 1)"
        if self.reader is not None:
            text = f"{self.reader.describe()}; without it {text}"
        if self.seconds_scale_by_phase:
            return text + "; seconds interval " + ", ".join(f"{n} x{v:.3f}" for n, v in self.seconds_scale_by_phase.items())
        if self.seconds_scale != 1.0:
            return text + f"; seconds interval x{self.seconds_scale:.3f}"
        if self.method != "none" or self.reader is not None:
            return text
        return "none (the checkpoint stores no calibration: T = 1)"

    def parameters(self) -> dict[str, Any]:
        """The parameters that compute probabilities and the seconds interval (what :attr:`digest` hashes;
        the seconds factors only when fitted, so earlier calibrations keep their digest)."""
        out = {"method": self.method, "temperature": self.temperature,
               "scale": list(self.scale) if self.scale else None, "bias": list(self.bias) if self.bias else None,
               "class_names": list(PHASE_NAMES), "log_floor": LOG_FLOOR}
        if self.seconds_scale != 1.0:
            out["seconds_scale"] = self.seconds_scale
        if self.seconds_scale_by_phase:
            out["seconds_scale_by_phase"] = dict(self.seconds_scale_by_phase)
        if self.reader is not None:
            out["reader"] = self.reader.parameters()
        return out

    @property
    def digest(self) -> str:
        """sha256 (hex) of the canonical JSON of :meth:`parameters`."""
        text = json.dumps(self.parameters(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        """The JSON stored as ``meta["calibration"]``."""
        reader = {} if self.reader is None else {"reader": self.reader.to_dict()}
        return {**self.parameters(), **reader, "score": SCORE, "fitted_on": dict(self.fitted_on)}

    @classmethod
    def from_dict(cls, data: Any) -> Calibration:
        """Read :meth:`to_dict` (parameters in another class order are put in ``PHASE_NAMES`` order)."""
        if not isinstance(data, dict):
            raise ConfigError(f"a stored calibration must be a JSON object, got {type(data).__name__}")
        names = list(data.get("class_names") or PHASE_NAMES)
        if sorted(names) != sorted(PHASE_NAMES):
            raise ConfigError(f"calibration class_names {names} must be a permutation of {list(PHASE_NAMES)}")
        floor = data.get("log_floor", LOG_FLOOR)
        if floor != LOG_FLOOR:
            raise ConfigError(f"calibration was fitted with log floor {floor}; this ctphase uses {LOG_FLOOR}: refit it")
        order = [names.index(n) for n in PHASE_NAMES]
        scale, bias = data.get("scale"), data.get("bias")
        try:
            return cls(
                method=str(data.get("method", "none")),
                temperature=float(data.get("temperature", 1.0)),
                scale=None if scale is None else tuple(float(scale[i]) for i in order),
                bias=None if bias is None else tuple(float(bias[i]) for i in order),
                seconds_scale=float(data.get("seconds_scale", 1.0)),
                seconds_scale_by_phase=dict(data.get("seconds_scale_by_phase") or {}),
                reader=None if data.get("reader") is None else SeriesReader.from_dict(data["reader"]),
                fitted_on=dict(data.get("fitted_on") or {}),
            )
        except (TypeError, ValueError, IndexError) as exc:
            raise ConfigError(f"stored calibration is invalid: {exc}") from None


IDENTITY = Calibration()
"""No calibration: ``softmax(z)``."""


def calibration_of(ckpt: Checkpoint) -> Calibration:
    """The calibration stored in ``ckpt`` (``IDENTITY``, logged, when it stores none).

    Raises:
        ConfigError: a stored calibration that cannot be used.
    """
    data = ckpt.meta.get(META_KEY)
    if data is None:
        logger.info("checkpoint %s stores no calibration: series probabilities use T = 1", ckpt.sha256[:12])
        return IDENTITY
    return Calibration.from_dict(data)


def with_calibration(ckpt: Checkpoint, calibration: Calibration) -> Checkpoint:
    """A copy of ``ckpt`` storing ``calibration`` in its meta (same weights, ONNX export and sha256).

    ``IDENTITY`` removes a stored calibration.
    """
    meta = {k: v for k, v in ckpt.meta.items() if k != META_KEY}
    if not calibration.is_identity:
        meta[META_KEY] = calibration.to_dict()
    out = replace(ckpt, meta=meta)
    out._sha256.append(ckpt.sha256)
    return out


# --------------------------------------------------------------------------- fitting


def _check_fit_data(z: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    z = np.asarray(z, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    if z.ndim != 2 or z.shape[1] != len(PHASE_NAMES) or z.shape[0] != y.size or y.size < 2:
        raise ConfigError(f"need series scores (N>=2, {len(PHASE_NAMES)}) and N labels, got {z.shape} and {y.shape}")
    if not np.all(np.isfinite(z)):
        raise ConfigError("series scores contain NaN or infinite values")
    if y.min() < 0 or y.max() >= z.shape[1]:
        raise ConfigError(f"labels must be class indices 0..{z.shape[1] - 1}")
    return z, y


def fit_temperature(z: np.ndarray, y: np.ndarray, *, bounds: tuple[float, float] = (0.02, 50.0)) -> float:
    """The temperature minimising the NLL of ``softmax(z / T)`` (1-D bounded search on log T)."""
    from scipy.optimize import minimize_scalar

    z, y = _check_fit_data(z, y)
    res = minimize_scalar(lambda s: nll(softmax(z * np.exp(-s)), y), bounds=tuple(np.log(bounds)), method="bounded",
                          options={"xatol": 1e-6})
    t = float(np.exp(res.x))
    if not bounds[0] * 1.01 < t < bounds[1] / 1.01:
        logger.warning("fitted temperature %.3g is at the search bound %s: the scores carry (almost) no information", t, bounds)
    return t


def fit_vector_scaling(z: np.ndarray, y: np.ndarray, *, l2: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """Per-class ``(scale, bias)`` minimising the NLL of ``softmax(scale * z + bias)`` (+ ``l2`` on the bias).

    Starts from temperature scaling; the small penalty pins the bias (softmax ignores a common shift).
    """
    from scipy.optimize import minimize

    z, y = _check_fit_data(z, y)
    n, k = z.shape
    onehot = np.eye(k)[y]

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        a, b = theta[:k], theta[k:]
        p = softmax(z * a + b)
        value = nll(p, y) + l2 * float(b @ b)
        g = (p - onehot) / n
        return value, np.concatenate([(g * z).sum(axis=0), g.sum(axis=0) + 2 * l2 * b])

    start = np.concatenate([np.full(k, 1.0 / fit_temperature(z, y)), np.zeros(k)])
    res = minimize(loss, start, jac=True, method="L-BFGS-B")
    return res.x[:k].copy(), res.x[k:].copy()


def fit(method: str, z: np.ndarray, y: np.ndarray) -> Calibration:
    """Fit one method (``"none"`` returns ``IDENTITY``)."""
    if method == "temperature":
        return Calibration("temperature", fit_temperature(z, y))
    if method == "vector":
        scale, bias = fit_vector_scaling(z, y)
        return Calibration("vector", scale=tuple(scale), bias=tuple(bias))
    if method == "none":
        return IDENTITY
    raise ConfigError(f"calibration method {method!r} must be one of {', '.join(METHODS)}")


def cross_validated_nll(
    z: np.ndarray, y: np.ndarray, groups: Sequence[Any] | None = None, *, folds: int = 5, seed: int = 0,
    methods: Sequence[str] = METHODS,
) -> dict[str, float]:
    """Held-out NLL of each method: fitted on ``folds - 1`` folds, scored on the last, folds by group (patient).

    Returns:
        ``{method: mean NLL over all scans, each scored by the fit that did not see its group}``.
    """
    return {m: float(np.mean(loss)) for m, (loss, _) in _out_of_fold(z, y, groups, folds, seed, methods).items()}


def _out_of_fold(
    z: np.ndarray, y: np.ndarray, groups: Sequence[Any] | None, folds: int, seed: int, methods: Sequence[str],
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per method: each scan's NLL and most probable class under the fit that did not see its group."""
    z, y = _check_fit_data(z, y)
    keys = list(range(y.size)) if groups is None else list(groups)
    unique = list(dict.fromkeys(keys))
    if len(unique) < 2:
        raise ConfigError("cross-validation needs scans of at least 2 patients")
    folds = min(folds, len(unique))
    order = np.random.default_rng(seed).permutation(len(unique))
    fold_of_group = {unique[g]: i % folds for i, g in enumerate(order)}
    fold = np.array([fold_of_group[key] for key in keys])
    out = {}
    for method in methods:
        losses, top = np.empty(y.size), np.empty(y.size, dtype=np.int64)
        for f in range(folds):
            test = fold == f
            p = fit(method, z[~test], y[~test]).apply(z[test])
            losses[test] = -np.log(np.maximum(p[np.arange(test.sum()), y[test]], 1e-300))
            top[test] = np.argmax(p, axis=1)
        out[method] = (losses, top)
    return out


def vote_changes(top: np.ndarray, voted: np.ndarray, y: np.ndarray) -> dict[str, int]:
    """Scans whose most probable calibrated class is not their vote, and which of the two was right there."""
    top, voted, y = (np.asarray(a, dtype=np.int64) for a in (top, voted, y))
    changed = top != voted
    return {"changed": int(changed.sum()), "top_right": int(np.sum(changed & (top == y))),
            "vote_right": int(np.sum(changed & (voted == y)))}


def select_calibration(
    z: np.ndarray, y: np.ndarray, groups: Sequence[Any] | None = None, *, method: str = "auto", folds: int = 5,
    seed: int = 0, voted: np.ndarray | None = None,
) -> tuple[Calibration, dict[str, Any]]:
    """Choose and fit a calibration on series scores ``z`` ``(N, K)`` with true classes ``y``.

    ``method="auto"``: temperature scaling, unless vector scaling's patient-grouped cross-validated NLL
    is at least :data:`VECTOR_MARGIN` (relative) lower and, when the scans' voted labels ``voted``
    are given, where its held-out most probable class differs from the vote it is right more often
    than the vote. (The answer is the vote; a calibration whose top class leaves the vote without
    being right more often only makes answers contradict their own probabilities: v4's vector
    scaling did so for 35 of 600 fit scans, 17 right either way, and was worse held out.)
    The chosen method is then refitted on all scans.

    Returns:
        (the calibration, the selection record: criterion, cross-validated NLL per method, the
        held-out vote changes per method (with ``voted``), chosen, and the temperature that
        temperature scaling fits on all scans, whichever method is chosen).
    """
    if method not in ("auto", *METHODS):
        raise ConfigError(f"calibration method {method!r} must be auto or one of {', '.join(METHODS)}")
    oof = _out_of_fold(z, y, groups, folds, seed, METHODS)
    cv = {m: float(np.mean(loss)) for m, (loss, _) in oof.items()}
    changes = {m: vote_changes(top, voted, y) for m, (_, top) in oof.items()} if voted is not None else None
    chosen = method
    if method == "auto":
        helps = changes is None or changes["vector"]["top_right"] > changes["vector"]["vote_right"]
        chosen = "vector" if cv["vector"] < (1 - VECTOR_MARGIN) * cv["temperature"] and helps else "temperature"
    n_groups = len(set(groups)) if groups is not None else len(y)
    record: dict[str, Any] = {
        "criterion": f"{min(folds, n_groups)}-fold cross-validated NLL, folds by patient; vector scaling only "
                     f"if its NLL is at least {100 * VECTOR_MARGIN:g}% below temperature scaling's"
                     + (" and, where its top class is not the vote, it is right more often than the vote"
                        if changes is not None else ""),
        "requested": method,
        "cv_nll": {k: round(v, 6) for k, v in cv.items()},
        "chosen": chosen,
    }
    if changes is not None:
        record["cv_vote_changes"] = changes
    cal = fit(chosen, z, y)
    record["temperature"] = round(cal.temperature if chosen == "temperature" else fit_temperature(z, y), 6)
    return cal, record
