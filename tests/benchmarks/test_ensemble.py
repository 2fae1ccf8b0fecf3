"""benchmarks/ensemble.py: how members' slice probabilities are combined."""

from __future__ import annotations

import numpy as np
import pytest
from benchmark_scripts import load

ens = load("ensemble")


def _members() -> list[list[np.ndarray]]:
    a = [np.array([[0.7, 0.1, 0.1, 0.1], [0.1, 0.6, 0.2, 0.1]]), np.array([[0.25, 0.25, 0.25, 0.25]])]
    b = [np.array([[0.1, 0.1, 0.1, 0.7], [0.1, 0.2, 0.6, 0.1]]), np.array([[0.1, 0.1, 0.1, 0.7]])]
    return [a, b]


def test_probability_average_is_the_mean_per_slice() -> None:
    out = ens.combine(_members(), "probs")
    assert [p.shape for p in out] == [(2, 4), (1, 4)]
    np.testing.assert_allclose(out[0][0], [0.4, 0.1, 0.1, 0.4])
    np.testing.assert_allclose(out[1][0], [0.175, 0.175, 0.175, 0.475])


def test_log_average_is_the_renormalised_geometric_mean() -> None:
    out = ens.combine(_members(), "logprobs")
    g = np.sqrt(np.array([0.1 * 0.1, 0.6 * 0.2, 0.2 * 0.6, 0.1 * 0.1]))
    np.testing.assert_allclose(out[0][1], g / g.sum())
    for p in out:
        np.testing.assert_allclose(p.sum(axis=1), 1.0)
    h = np.sqrt(np.array([0.025, 0.025, 0.025, 0.175]))
    np.testing.assert_allclose(out[1][0], h / h.sum())


def test_unknown_average_is_refused() -> None:
    with pytest.raises(ValueError, match="average must be"):
        ens.combine(_members(), "median")
