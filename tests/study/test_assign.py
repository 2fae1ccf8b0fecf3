"""The joint assignment over time-ordered acquisitions: order constraint, timing terms, marginals."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from ctphase.study.assign import decode, order_cost
from ctphase.study.params import StudyParams, fit_params, load_params, prior_params


def _log(*rows: list[float]) -> np.ndarray:
    a = np.asarray(rows, dtype=np.float64)
    return np.log(a / a.sum(axis=1, keepdims=True))


def _brute(e: np.ndarray, params: StudyParams, gaps, bolus) -> tuple[np.ndarray, np.ndarray]:
    """Exhaustive scores of every assignment (the reference for Viterbi and forward-backward)."""
    from ctphase.study.assign import NEG, bolus_term, gap_term

    k = len(e)
    w = params.protocol_weight
    lt = w * np.log(np.maximum(np.asarray(params.transitions), 1e-300))
    scores, seqs = [], []
    for seq in itertools.product(range(4), repeat=k):
        s = w * np.log(params.start[seq[0]]) + e[0, seq[0]] + bolus_term(bolus[0], params)[seq[0]]
        for i in range(1, k):
            a, b = seq[i - 1], seq[i]
            s += (lt[a, b] if b >= a else NEG) + gap_term(gaps[i - 1], params)[a, b] + e[i, b] + bolus_term(bolus[i], params)[b]
        scores.append(s)
        seqs.append(seq)
    scores = np.asarray(scores)
    post = np.zeros((k, 4))
    w = np.exp(scores - scores.max())
    for seq, wi in zip(seqs, w):
        for i, ph in enumerate(seq):
            post[i, ph] += wi
    return np.asarray(seqs[int(np.argmax(scores))]), post / w.sum()


@pytest.mark.parametrize("seed", range(6))
def test_viterbi_and_marginals_match_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    e = np.log(rng.dirichlet(np.ones(4), size=4))
    gaps = [30.0, None, 200.0]
    bolus = [None, 40.0, None, 300.0]
    params = load_params()
    params.protocol_weight = float(seed % 2)  # off (the default) and fully on
    d = decode(e, params, gaps, bolus)
    labels, post = _brute(e, params, gaps, bolus)
    np.testing.assert_array_equal(d.labels, labels)
    np.testing.assert_allclose(d.posterior, post, atol=1e-9)


def test_order_overrules_weak_images_but_never_runs_backwards() -> None:
    # images: arterial-ish, then slightly more arterial than venous; the later one must not be earlier
    e = _log([0.05, 0.8, 0.1, 0.05], [0.05, 0.45, 0.4, 0.1])
    d = decode(e, prior_params(), [40.0])
    assert list(d.labels) == [1, 2]
    assert np.all(np.diff(d.labels) >= 0)


def test_bolus_time_moves_a_venous_scan_called_other() -> None:
    e = _log([0.01, 0.01, 0.13, 0.85])
    assert decode(e, load_params()).labels[0] == 3  # no timing: the images win
    assert decode(e, load_params(), bolus_seconds=[96.0]).labels[0] == 2  # 96 s after bolus start: venous
    assert decode(e, load_params(), bolus_seconds=[400.0]).labels[0] == 3


def test_order_cost() -> None:
    assert order_cost(_log([0.9, 0.05, 0.03, 0.02], [0.02, 0.9, 0.05, 0.03])) == pytest.approx(0.0)
    backwards = _log([0.02, 0.03, 0.9, 0.05], [0.02, 0.9, 0.05, 0.03])  # venous then arterial
    assert order_cost(backwards) > 2.0


def test_fit_params_counts_and_lognormals() -> None:
    studies = []
    rng = np.random.default_rng(0)
    for _ in range(200):
        t0 = 1000.0
        studies.append([(0, None, t0), (1, 35.0 * rng.lognormal(0, 0.1), t0 + 300), (2, 75.0, t0 + 340.0 + rng.normal(0, 3))])
    p = fit_params(studies, fitted_on="test")
    assert p.start[0] > 0.9
    assert p.transitions[0][1] > 0.9 and p.transitions[1][2] > 0.9
    assert np.exp(p.gaps[1][2][0]) == pytest.approx(40.0, rel=0.1)
    assert np.exp(p.bolus[1][0]) == pytest.approx(35.0, rel=0.05)
    assert StudyParams.from_json(p.to_json()) == p
