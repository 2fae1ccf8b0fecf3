"""A series reader: one series decision from all of a network's outputs on its drawn slices.

The vote (the paper's rule) reads only each slice's most probable phase. A network with heads
(:mod:`ctphase.models.heads`) says more of every slice: the subphase probabilities, ln(seconds)
with its variance and, with an organ head, the enhancement of the vessels and organs that time a
scan. The reader pools them over the drawn slices into :func:`series_features` and maps those to
the four phases with a multinomial logistic regression (standardised features, L2), fitted on
held-out synthetic scans by ``ctphase calibrate`` (:func:`fit_reader`, scikit-learn) and applied
with numpy alone (:meth:`SeriesReader.predict_proba`).

The features of a series, in order (``F = 4 + 4 + S + 3 + 3 O``):

* ``z``: the mean log phase probability (the calibration's series score);
* ``frac``: the vote shares;
* ``sub``: the mean subphase probabilities (``S`` of them);
* ``sec``: mean and spread of ln(seconds), mean log-variance;
* ``org``: each organ's mean, then each organ's minimum, then each organ's maximum (``O`` organs).

Measured on the bundled network (benchmarks/series_reader.py, before it was built in): scan
macro F1 on held-out synthetic patients 0.909 (vote) -> 0.936 (reader), same draws.

Storage: ``Calibration.reader`` (``meta["calibration"]["reader"]``, :meth:`SeriesReader.to_dict`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..phases import PHASE_NAMES
from ..voting import majority_vote
from .heads import SliceOutputs

FEATURES = "z 4, frac 4, sub S, sec 3 (mean, std of ln s; mean log-variance), org 3*O (mean, min, max)"
"""How the features are built (stored beside the coefficients; a reader with another recipe is refused)."""
MODEL = "multinomial logistic regression on standardised features"
DEFAULT_CS: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3, 1.0)
"""Inverse L2 strengths tried by :func:`fit_reader` (cross-validated by patient)."""


def series_features(outputs: SliceOutputs) -> np.ndarray:
    """The ``(F,)`` features of one series from the outputs of its drawn slices (see the module docstring).

    Raises:
        ConfigError: outputs without the subphase, seconds or organ columns.
    """
    from .calibration import mean_log_probs

    if outputs.subphase is None or outputs.log_seconds is None or outputs.organs is None:
        raise ConfigError("a series reader needs a network with subphase, seconds and organ heads")
    p = np.asarray(outputs.probs, dtype=np.float64)
    if len(p) == 0:
        raise ConfigError("a series reader needs at least one classified slice")
    m, lv = (np.asarray(outputs.log_seconds[:, j], dtype=np.float64) for j in (0, 1))
    org = np.asarray(outputs.organs, dtype=np.float64)
    return np.concatenate([mean_log_probs(p), majority_vote(p).fractions,
                           np.asarray(outputs.subphase, dtype=np.float64).mean(0), [m.mean(), m.std(), lv.mean()],
                           org.mean(0), org.min(0), org.max(0)])


@dataclass(frozen=True)
class SeriesReader:
    """A fitted reader: standardisation and logistic-regression weights over :func:`series_features`.

    Attributes:
        subphases, organs: the head columns it was fitted on (the network must give the same).
        mean, scale: ``(F,)`` standardisation of the features.
        coef: ``(4, F)`` weights, rows in ``PHASE_NAMES`` order; ``intercept``: ``(4,)``.
        C: the inverse L2 strength it was fitted with (provenance; not used to predict).
    """

    subphases: tuple[str, ...]
    organs: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[tuple[float, ...], ...]
    intercept: tuple[float, ...]
    C: float = 1.0
    fitted_on: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        n = 4 + len(PHASE_NAMES) + len(self.subphases) + 3 + 3 * len(self.organs)
        shapes = {"mean": np.shape(self.mean), "scale": np.shape(self.scale), "coef": np.shape(self.coef),
                  "intercept": np.shape(self.intercept)}
        want = {"mean": (n,), "scale": (n,), "coef": (len(PHASE_NAMES), n), "intercept": (len(PHASE_NAMES),)}
        if shapes != want or not self.organs:
            raise ConfigError(f"a series reader over {len(self.subphases)} subphases and {len(self.organs)} organs "
                              f"needs shapes {want} and at least one organ, got {shapes}")
        arrays = (self.mean, self.scale, self.coef, self.intercept)
        if not all(np.all(np.isfinite(np.asarray(a, dtype=np.float64))) for a in arrays) or min(self.scale) <= 0:
            raise ConfigError("a series reader's parameters must be finite, with positive scales")

    def check(self, subphases: Sequence[str], organs: Sequence[str]) -> None:
        """Raise :class:`ConfigError` unless a network's heads give the columns this reader was fitted on."""
        if tuple(subphases) != self.subphases or tuple(organs) != self.organs:
            raise ConfigError(f"the series reader was fitted on subphases {list(self.subphases)} and organs "
                              f"{list(self.organs)}; the network gives {list(subphases)} and {list(organs)}")

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """Phase probabilities ``(4,)`` or ``(N, 4)`` (``PHASE_NAMES`` order) of features ``(F,)`` or ``(N, F)``."""
        from .calibration import softmax

        return softmax(self.standardise(features) @ np.asarray(self.coef).T + np.asarray(self.intercept))

    def standardise(self, features: np.ndarray) -> np.ndarray:
        """Features ``(F,)`` or ``(N, F)`` in the fit data's standard deviations from its mean (what the weights read)."""
        return (np.asarray(features, dtype=np.float64) - np.asarray(self.mean)) / np.asarray(self.scale)

    def read(self, outputs: SliceOutputs) -> np.ndarray:
        """Phase probabilities ``(4,)`` of one series from its drawn slices' outputs."""
        return self.predict_proba(series_features(outputs))

    def reading(self, outputs: Sequence[SliceOutputs]) -> Callable[[int, np.ndarray], np.ndarray]:
        """``reading(i, idx)``: the probabilities of series ``i`` of ``outputs`` from its slices ``idx`` (what the
        evaluation's scan vote takes as its ``reader``)."""
        return lambda i, idx: self.read(outputs[i].take(idx))

    def describe(self) -> str:
        """One line, e.g. ``"series reader (logistic regression over 52 features, C = 0.1)"``."""
        return f"series reader (logistic regression over {len(self.mean)} features, C = {self.C:g})"

    def parameters(self) -> dict[str, Any]:
        """What computes the probabilities (hashed into the calibration's digest)."""
        return {"model": MODEL, "features": FEATURES, "class_names": list(PHASE_NAMES),
                "subphases": list(self.subphases), "organs": list(self.organs), "C": self.C,
                "mean": list(self.mean), "scale": list(self.scale), "coef": [list(r) for r in self.coef],
                "intercept": list(self.intercept)}

    def to_dict(self) -> dict[str, Any]:
        """The stored JSON (:meth:`parameters` and ``fitted_on``)."""
        return {**self.parameters(), "fitted_on": dict(self.fitted_on)}

    @classmethod
    def from_dict(cls, data: Any) -> SeriesReader:
        """Read :meth:`to_dict` back.

        Raises:
            ConfigError: another feature recipe or class order, or malformed parameters.
        """
        if not isinstance(data, dict):
            raise ConfigError(f"a stored series reader must be a JSON object, got {type(data).__name__}")
        if data.get("features") != FEATURES or data.get("model") != MODEL or data.get("class_names") != list(PHASE_NAMES):
            raise ConfigError("the stored series reader was fitted with another feature recipe or class order "
                              "than this ctphase reads: refit it with ctphase calibrate")
        try:
            return cls(subphases=tuple(data["subphases"]), organs=tuple(data["organs"]),
                       mean=tuple(float(v) for v in data["mean"]), scale=tuple(float(v) for v in data["scale"]),
                       coef=tuple(tuple(float(v) for v in r) for r in data["coef"]),
                       intercept=tuple(float(v) for v in data["intercept"]), C=float(data.get("C", 1.0)),
                       fitted_on=dict(data.get("fitted_on") or {}))
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"stored series reader is invalid: {exc}") from None


def _pipeline(C: float):  # noqa: ANN202, N803
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=5000))


def cross_validated(x: np.ndarray, y: np.ndarray, groups: Sequence[Any], C: float, folds: int) -> np.ndarray:  # noqa: N803
    """Out-of-fold reader probabilities ``(N, 4)``; folds by ``groups`` (a patient's rows stay together)."""
    from sklearn.model_selection import GroupKFold

    out = np.zeros((len(y), len(PHASE_NAMES)))
    for train, held in GroupKFold(n_splits=folds).split(x, y, groups=list(groups)):
        model = _pipeline(C).fit(x[train], y[train])
        out[np.ix_(held, model[-1].classes_)] = model.predict_proba(x[held])
    return out


def fit_reader(x: np.ndarray, y: np.ndarray, groups: Sequence[Any], subphases: Sequence[str], organs: Sequence[str],
               *, cs: Sequence[float] = DEFAULT_CS, folds: int = 5) -> tuple[SeriesReader, dict[str, Any]]:
    """Choose ``C`` by patient-grouped cross-validated NLL and fit a reader on all rows.

    Args:
        x: ``(N, F)`` :func:`series_features` of the fit series (several draws of each may be stacked).
        y: ``(N,)`` phase indices (``PHASE_NAMES`` order; all four must occur).
        groups: ``(N,)`` patient of each row (folds keep a patient's rows together).
    Returns:
        the reader and ``{"cv_nll": {C: nll}, "cv_probs": out-of-fold probabilities at the chosen C}``.
    """
    from .calibration import nll

    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.int64)
    if x.ndim != 2 or len(x) != len(y) or len(groups) != len(y):
        raise ConfigError(f"reader fit data: features {x.shape}, labels {y.shape}, groups {len(groups)} do not match")
    if set(y.tolist()) != set(range(len(PHASE_NAMES))):
        raise ConfigError("a series reader must be fitted on scans of all four phases")
    if len(set(groups)) < folds:
        raise ConfigError(f"a series reader needs at least {folds} patients to cross-validate, got {len(set(groups))}")
    probs = {c: cross_validated(x, y, groups, c, folds) for c in cs}
    scores = {c: nll(p, y) for c, p in probs.items()}
    best = min(scores, key=lambda c: (scores[c], c))
    model = _pipeline(best).fit(x, y)
    scaler, lr = model[0], model[-1]
    reader = SeriesReader(subphases=tuple(subphases), organs=tuple(organs), mean=tuple(scaler.mean_.tolist()),
                          scale=tuple(scaler.scale_.tolist()), coef=tuple(tuple(r) for r in lr.coef_.tolist()),
                          intercept=tuple(lr.intercept_.tolist()), C=float(best))
    return reader, {"cv_nll": {f"{c:g}": round(v, 6) for c, v in scores.items()}, "cv_probs": probs[best]}
