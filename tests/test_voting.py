"""Majority vote over slice probabilities and its tie rule."""

import numpy as np
import pytest

from ctphase.errors import ConfigError
from ctphase.voting import majority_vote


def _onehot_probs(labels, k=4, p=0.7):
    probs = np.full((len(labels), k), (1 - p) / (k - 1))
    probs[np.arange(len(labels)), labels] = p
    return probs


def test_majority_vote_counts():
    v = majority_vote(_onehot_probs([2, 2, 2, 1, 0]))
    assert v.label == 2 and not v.tie
    np.testing.assert_allclose(v.fractions, [0.2, 0.2, 0.6, 0.0])
    assert v.confidence == pytest.approx(0.6)


def test_majority_vote_tie_rule_highest_mean_probability():
    probs = np.array(
        [
            [0.05, 0.9, 0.03, 0.02],  # arterial, very confident
            [0.05, 0.9, 0.03, 0.02],
            [0.05, 0.4, 0.5, 0.05],  # venous, barely
            [0.05, 0.4, 0.5, 0.05],
        ]
    )
    v = majority_vote(probs)
    assert v.tie and v.label == 1
    # swap the arterial and venous columns: now venous (index 2) is the confident tied class
    v2 = majority_vote(probs[:, [0, 2, 1, 3]])
    assert v2.tie and v2.label == 2


def test_majority_vote_full_tie_lowest_index():
    probs = np.array([[0.6, 0.4, 0, 0], [0.4, 0.6, 0, 0]])
    v = majority_vote(probs)
    assert v.tie and v.label == 0


def test_vote_rejects_bad_shapes():
    with pytest.raises(ConfigError, match="shape"):
        majority_vote(np.zeros((0, 4)))
