"""Turning slice probabilities into one scan label.

Majority vote (the paper's rule): each sampled slice votes for its most probable class; the
scan gets the class with most votes. **Tie rule**: among the classes tied for most votes, the
one with the highest mean probability over the sampled slices wins; if that is tied too, the
lower class index wins (non_contrast < arterial < venous < other).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import ConfigError


@dataclass(frozen=True)
class Vote:
    """Result of voting over ``N`` slices of one scan.

    Attributes:
        label: winning class index.
        fractions: ``(K,)`` share of slices voting for each class (sums to 1).
        mean_probs: ``(K,)`` mean slice probability of each class.
        confidence: share of votes of the winning class.
        tie: whether the tie rule decided the label.
    """

    label: int
    fractions: np.ndarray
    mean_probs: np.ndarray
    confidence: float
    tie: bool


def _check(probs: np.ndarray) -> np.ndarray:
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[0] == 0 or probs.shape[1] < 2:
        msg = f"expected slice probabilities of shape (N>=1, K>=2), got {probs.shape}"
        raise ConfigError(msg)
    return probs


def majority_vote(probs: np.ndarray) -> Vote:
    """Majority vote over slice probabilities ``(N, K)`` with the documented tie rule."""
    probs = _check(probs)
    n, k = probs.shape
    counts = np.bincount(probs.argmax(axis=1), minlength=k)
    mean = probs.mean(axis=0)
    tied = np.flatnonzero(counts == counts.max())
    label = int(tied[np.argmax(mean[tied])])  # argmax takes the first (lowest index) on equal means
    fractions = counts / n
    return Vote(label, fractions, mean, float(fractions[label]), bool(len(tied) > 1))
