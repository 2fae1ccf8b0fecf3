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


def vote_decided(counts: np.ndarray, remaining: int) -> bool:
    """Whether the majority vote can no longer change, whatever the ``remaining`` votes are.

    Sequential stopping rule of early stopping (``early_stop=True``): with ``counts`` the votes
    of the slices classified so far, the leader's lead over the runner-up must be **larger**
    than the number of votes still to come. Then even if every remaining vote went to the
    runner-up it would end strictly behind, so the full vote's label is the leader's, exactly
    (a lead equal to ``remaining`` could end in a tie, which mean probabilities decide: not
    stopped). With no vote left the vote is decided.
    """
    c = np.sort(np.asarray(counts, dtype=np.int64).reshape(-1))[::-1]
    if remaining <= 0:
        return True
    lead = int(c[0] - (c[1] if len(c) > 1 else 0))
    return lead > int(remaining)


def votes_until_decided(counts: np.ndarray, remaining: int) -> int:
    """The fewest further votes after which :func:`vote_decided` could hold (all going to the leader).

    0 when already decided; classifying fewer is never enough, so early stopping classifies at
    least this many slices before it checks again (as if it checked after every slice).
    """
    if vote_decided(counts, remaining):
        return 0
    c = np.sort(np.asarray(counts, dtype=np.int64).reshape(-1))[::-1]
    lead = int(c[0] - (c[1] if len(c) > 1 else 0))
    # after t more votes for the leader: lead + t > remaining - t  <=>  t > (remaining - lead) / 2
    return min(int(remaining), (int(remaining) - lead) // 2 + 1)

