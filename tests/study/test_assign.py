"""The joint assignment over time-ordered acquisitions: order constraint, timing terms, marginals."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ctphase.study.assign import decode, order_cost
from ctphase.study.params import StudyParams, fit_params, load_params, prior_params


def _log(*rows: list[float]) -> np.ndarray:
    a = np.asarray(rows, dtype=np.float64)
    return np.log(a / a.sum(axis=1, keepdims=True))


def _scores(e: np.ndarray, params: StudyParams, gaps, bolus) -> tuple[np.ndarray, list]:
    """Exhaustive scores of every assignment of the chain (every sequence, backward ones at NEG)."""
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
    return np.asarray(scores), seqs


def _brute(e: np.ndarray, params: StudyParams, gaps, bolus) -> tuple[np.ndarray, np.ndarray]:
    """Most probable assignment and marginals by enumeration (the reference for Viterbi and forward-backward)."""
    k = len(e)
    scores, seqs = _scores(e, params, gaps, bolus)
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
    params.order_doubt = 0.0  # the order taken as certain: one chain
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


def _brute_log_evidence(e: np.ndarray, params: StudyParams, gaps, bolus) -> float:
    """log p(images, times | this order) by enumeration: emissions against a flat prior, path prior normalised."""
    if len(e) == 0:
        return 0.0
    en = np.log(np.exp(e) / np.exp(e).sum(axis=1, keepdims=True)) + np.log(4)
    s, _ = _scores(en, params, gaps, bolus)
    p, _ = _scores(np.zeros_like(e), params, [None] * len(gaps), [None] * len(e))
    return float(np.log(np.sum(np.exp(s - s.max()))) + s.max() - np.log(np.sum(np.exp(p - p.max()))) - p.max())


@pytest.mark.parametrize("seed", range(4))
def test_doubt_about_the_order_matches_enumerated_hypotheses(seed: int) -> None:
    from ctphase.study.assign import WRONG_CLOCK_SPAN_S

    rng = np.random.default_rng(seed)
    e = np.log(rng.dirichlet(np.ones(4) * 0.5, size=4))
    gaps, bolus = [30.0, None, 200.0], [None, 40.0, None, 300.0]
    params = load_params()
    params.protocol_weight = float(seed % 2)
    params.order_doubt = 0.1
    # acquisition j out of place: the others' gaps (the two around j merged) and bolus times, and how many of
    # j's time terms become a clock that says nothing (an adjacent known gap, a known bolus time)
    without = {0: ([None, 200.0], 1), 1: ([None, 200.0], 2), 2: ([30.0, None], 1), 3: ([30.0, None], 2)}
    own = np.exp(e) / np.exp(e).sum(axis=1, keepdims=True)
    labels, post = _brute(e, params, gaps, bolus)
    hyps = [(_brute_log_evidence(e, params, gaps, bolus), labels, post)]
    for j, (rest_gaps, terms) in without.items():
        rest, rest_bolus = np.delete(e, j, axis=0), bolus[:j] + bolus[j + 1:]
        rl, rp = _brute(rest, params, rest_gaps, rest_bolus)
        labels, post = np.argmax(own, axis=1), own.copy()
        keep = np.arange(4) != j
        labels[keep], post[keep] = rl, rp
        log_h = np.log(0.1 / 0.9) + _brute_log_evidence(rest, params, rest_gaps, rest_bolus) - terms * np.log(WRONG_CLOCK_SPAN_S)
        log_h += np.log(params.number_conflict_lr) * (j == seed)  # acquisition `seed` is a suspect (its number)
        hyps.append((log_h, labels, post))
    log_h = np.array([h[0] for h in hyps])
    w = np.exp(log_h - log_h.max())
    w /= w.sum()
    d = decode(e, params, gaps, bolus, suspects=[j == seed for j in range(4)])
    np.testing.assert_allclose(d.misplaced, w[1:], atol=1e-9)
    np.testing.assert_allclose(d.posterior, sum(wi * h[2] for wi, h in zip(w, hyps)), atol=1e-9)
    np.testing.assert_array_equal(d.labels, hyps[int(np.argmax(w))][1])


def _late_venous_study() -> tuple[np.ndarray, list[float]]:
    """Non-contrast, venous, excretory, then a series whose images say venous (0.85) but whose clock puts it last."""
    e = _log([0.97, 0.01, 0.01, 0.01], [0.01, 0.04, 0.9, 0.05], [0.01, 0.01, 0.08, 0.9], [0.01, 0.02, 0.85, 0.12])
    return e, [300.0, 240.0, 400.0]


def test_an_order_that_overrules_the_images_is_not_given_with_certainty() -> None:
    e, gaps = _late_venous_study()
    certain = load_params()
    certain.order_doubt = 0.0
    d0 = decode(e, certain, gaps)
    assert d0.labels[3] == 3 and d0.posterior[3, 3] > 0.999  # the order alone: "other", sure of it
    d = decode(e, load_params(), gaps)
    assert d.labels[3] == 3  # still its place's answer (the gap of 400 s fits a later delayed scan)
    assert d.misplaced[3] > 10 * d.misplaced[:3].max()
    # the images' venous share comes back in proportion to the doubt about its place
    assert d.posterior[3, 2] == pytest.approx(d.misplaced[3] * np.exp(e[3, 2]), rel=0.05)
    assert d.posterior[3, 3] < d0.posterior[3, 3] - 0.01
    np.testing.assert_array_equal(d.labels[:3], d0.labels[:3])


def test_doubt_leaves_a_study_that_follows_its_order_as_it_was() -> None:
    e = _log([0.97, 0.01, 0.01, 0.01], [0.02, 0.9, 0.07, 0.01], [0.01, 0.04, 0.9, 0.05], [0.01, 0.01, 0.1, 0.88])
    gaps = [240.0, 40.0, 180.0]
    certain = load_params()
    certain.order_doubt = 0.0
    d0, d = decode(e, certain, gaps), decode(e, load_params(), gaps)
    np.testing.assert_array_equal(d.labels, d0.labels)
    assert list(d.labels) == [0, 1, 2, 3]
    assert np.max(np.abs(d.posterior - d0.posterior)) < 0.02
    assert d.misplaced.max() < 0.01


def test_strong_images_against_their_place_keep_their_own_answer() -> None:
    # venous images (0.99) placed after the excretory acquisition: out of place is the better explanation
    e = _log([0.97, 0.01, 0.01, 0.01], [0.01, 0.04, 0.9, 0.05], [0.01, 0.01, 0.08, 0.9], [0.002, 0.003, 0.99, 0.005])
    d = decode(e, load_params(), [300.0, 240.0, 2400.0])  # 40 minutes after the excretory scan
    assert d.misplaced[3] > 0.5
    assert d.labels[3] == 2 and list(d.labels[:3]) == [0, 2, 3]


@settings(max_examples=60, deadline=None)
@given(
    probs=st.lists(st.lists(st.floats(0.001, 1.0), min_size=4, max_size=4), min_size=1, max_size=6),
    gap=st.one_of(st.none(), st.floats(1.0, 3000.0)),
    doubt=st.floats(1e-4, 0.5),
)
def test_doubt_keeps_probabilities_proper_and_vanishes_with_its_prior(probs, gap, doubt) -> None:
    e = _log(*probs)
    gaps = [gap] * (len(probs) - 1)
    params = load_params()
    params.order_doubt = doubt
    d = decode(e, params, gaps)
    np.testing.assert_allclose(d.posterior.sum(axis=1), 1.0, atol=1e-9)
    assert np.all(d.misplaced >= 0) and d.misplaced.sum() <= 1 + 1e-9  # one hypothesis at a time
    params.order_doubt = 1e-12
    near, params.order_doubt = decode(e, params, gaps), 0.0
    np.testing.assert_allclose(near.posterior, decode(e, params, gaps).posterior, atol=1e-6)
