"""Joint assignment of phases to a study's acquisitions ordered in time (one injection).

The model is a small chain over the ordered acquisitions ``1..K`` with the four phases as
states (canonical order non_contrast < arterial < venous < other, which is also their order
in time after one injection). The score of an assignment ``phi`` is

    sum_k  e_k(phi_k)                                   image evidence: log calibrated probabilities
  + w [log start(phi_1) + sum_k log T(phi_{k-1}, phi_k)] protocol prior (how often each phase follows another)
  + sum_k log G(gap_k | phi_{k-1}, phi_k)               time between acquisitions, when times are known
  + sum_k log B(t_k | phi_k)                            seconds after ContrastBolusStartTime, when known

with ``T(i, j) = 0`` for ``j < i`` whatever the weight ``w`` (``params.protocol_weight``): a non-contrast acquisition never follows a contrast one and
arterial precedes venous precedes delayed. ``G`` and ``B`` are log-normal densities per phase
pair / phase (non-contrast before the bolus: a flat density). The terms are fitted on synthetic
studies (:mod:`ctphase.study.params`). :func:`decode` returns the most probable assignment
(Viterbi) and each acquisition's posterior marginals (forward-backward), so that every
answer keeps a probability.

The order itself may be wrong for one acquisition: a series re-sent and restamped, a clock an
hour off, a series number out of line. With ``params.order_doubt`` (the prior probability that an
acquisition's place is wrong) :func:`decode` weighs, besides the chain as ordered, each
hypothesis "acquisition j is out of place": the others decoded without it (the gap around it
merged), j answered by its images alone and its times scored as a clock that says nothing
(:data:`WRONG_CLOCK_SPAN_S`). The hypotheses are compared by their evidence (the marginal
likelihood of the images and times, every path prior normalised; the emissions are calibrated
probabilities, i.e. likelihood ratios against a flat prior). The labels are those of the most
probable hypothesis and the posterior is their mixture, so an order that overrules a series'
images never leaves it more certain than the doubt about that order allows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .params import StudyParams

N_PHASES = 4
NEG = -1e9
WRONG_CLOCK_SPAN_S = 7200.0
"""Seconds over which a wrong clock may put an acquisition (an hour either way): a wrong time has
density ``1 / WRONG_CLOCK_SPAN_S``, whatever its value."""


@dataclass
class Decoded:
    """The joint assignment: ``labels`` (K,) phase indices, ``posterior`` (K, 4), ``score`` (log),
    ``misplaced`` (K,) the probability that each acquisition's place in the order is wrong."""

    labels: np.ndarray
    posterior: np.ndarray
    score: float
    misplaced: np.ndarray


def _lognormal(x: float, mu: float, sigma: float) -> float:
    """Log density of a log-normal distribution at ``x`` > 0 (seconds)."""
    if x <= 0:
        return NEG
    z = (np.log(x) - mu) / sigma
    return float(-0.5 * z * z - np.log(x * sigma * np.sqrt(2 * np.pi)))


def bolus_term(t: float | None, params: StudyParams) -> np.ndarray:
    """``log B(t | phase)`` for the four phases; zeros when ``t`` (seconds after bolus start) is unknown."""
    out = np.zeros(N_PHASES)
    if t is None or not np.isfinite(t):
        return out
    lo, hi = params.non_contrast_window
    out[0] = -np.log(hi - lo) if lo <= t <= hi else params.log_floor
    for j in range(1, N_PHASES):
        mu, sigma = params.bolus[j]
        out[j] = max(_lognormal(t, mu, sigma), params.log_floor) if t > 0 else params.log_floor
    return out


def gap_term(gap: float | None, params: StudyParams) -> np.ndarray:
    """``log G(gap | i, j)`` as a (4, 4) matrix; zeros when the gap is unknown."""
    out = np.zeros((N_PHASES, N_PHASES))
    if gap is None or not np.isfinite(gap):
        return out
    for i in range(N_PHASES):
        for j in range(i, N_PHASES):
            mu, sigma = params.gaps[i][j]
            out[i, j] = max(_lognormal(max(gap, 0.5), mu, sigma), params.log_floor)
    return out


def decode(
    emissions: np.ndarray,
    params: StudyParams,
    gaps: list[float | None] | None = None,
    bolus_seconds: list[float | None] | None = None,
    *,
    use_start: bool = True,
    suspects: list[bool] | None = None,
) -> Decoded:
    """Most probable phases of ``K`` time-ordered acquisitions, and their posterior marginals.

    Args:
        emissions: ``(K, 4)`` log probabilities of each acquisition's images (series alone, calibrated).
        params: transition, timing and start terms.
        gaps: ``K - 1`` seconds between consecutive acquisitions (``None`` where unknown).
        bolus_seconds: ``K`` seconds after ContrastBolusStartTime (``None`` where unknown).
        use_start: weigh the first phase by the protocol prior (``False``: flat, e.g. for a
            study of one acquisition, where the prior would only repeat the class balance).
        suspects: ``K`` flags: acquisitions whose AcquisitionNumber runs against their time
            (their doubt's odds multiplied by ``params.number_conflict_lr``).
    """
    e = np.asarray(emissions, dtype=np.float64)
    k = e.shape[0]
    gaps = list(gaps) if gaps is not None else [None] * (k - 1)
    bolus_seconds = list(bolus_seconds) if bolus_seconds is not None else [None] * k
    node, edges, start = _terms(e, params, gaps, bolus_seconds, use_start)
    labels, score = _viterbi(node, edges, start)
    posterior = _marginals(node, edges, start)
    if params.order_doubt <= 0:
        return Decoded(labels=labels, posterior=posterior, score=score, misplaced=np.zeros(k))
    odds = np.log(params.order_doubt) - np.log1p(-params.order_doubt)
    odds = odds + np.log(params.number_conflict_lr) * np.asarray(suspects if suspects is not None else [False] * k, float)
    labels, posterior, misplaced = _with_doubt(e, params, gaps, bolus_seconds, use_start, (labels, posterior), odds)
    return Decoded(labels=labels, posterior=posterior, score=score, misplaced=misplaced)


def _log_transitions(params: StudyParams) -> np.ndarray:
    log_t = params.protocol_weight * np.log(np.maximum(np.asarray(params.transitions, dtype=np.float64), 1e-300))
    log_t[np.tril_indices(N_PHASES, -1)] = NEG  # never back in time
    return log_t


def _terms(e: np.ndarray, params: StudyParams, gaps: list[float | None], bolus_seconds: list[float | None],
           use_start: bool) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """Node scores (K, 4), edge scores (K-1 of (4, 4)) and start scores (4,) of the chain."""
    node = e + np.stack([bolus_term(t, params) for t in bolus_seconds])
    log_t = _log_transitions(params)
    edges = [log_t + gap_term(g, params) for g in gaps]
    start = params.protocol_weight * np.log(np.maximum(np.asarray(params.start, dtype=np.float64), 1e-300))
    return node, edges, (start if use_start else np.zeros(N_PHASES))


def _log_evidence(e: np.ndarray, params: StudyParams, gaps: list[float | None], bolus_seconds: list[float | None],
                  use_start: bool) -> float:
    """log p(images, times | one injection in this order), relative to images that say nothing.

    The rows of ``e`` are normalised log probabilities (likelihood ratios against a flat prior once
    ``log 4`` is added); the path prior (start and transitions) is normalised over the monotone paths.
    """
    if len(e) == 0:
        return 0.0
    e = e - _logsumexp(e, axis=1)[:, None] + np.log(N_PHASES)
    node, edges, start = _terms(e, params, gaps, bolus_seconds, use_start)
    flat, prior_edges, _ = _terms(np.zeros_like(e), params, [None] * len(gaps), [None] * len(e), use_start)
    return float(_logsumexp(_forward(node, edges, start)[-1], 0) - _logsumexp(_forward(flat, prior_edges, start)[-1], 0))


def _without(gaps: list[float | None], bolus_seconds: list[float | None], j: int) -> tuple[list, list, int]:
    """The chain's times without acquisition ``j`` (its two gaps merged) and how many of its time terms it had."""
    k = len(bolus_seconds)
    near = [g for g in (gaps[j - 1] if j > 0 else None, gaps[j] if j < k - 1 else None) if g is not None]
    if 0 < j < k - 1:
        merged = gaps[j - 1] + gaps[j] if len(near) == 2 else None
        rest = gaps[: j - 1] + [merged] + gaps[j + 1:]
    else:
        rest = gaps[1:] if j == 0 else gaps[:-1]
    terms = int(bool(near)) + int(bolus_seconds[j] is not None and np.isfinite(bolus_seconds[j]))
    return rest, bolus_seconds[:j] + bolus_seconds[j + 1:], terms


def _with_doubt(e: np.ndarray, params: StudyParams, gaps: list[float | None], bolus_seconds: list[float | None],
                use_start: bool, ordered: tuple[np.ndarray, np.ndarray], odds: np.ndarray,
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels of the most probable hypothesis, mixed posterior and P(out of place) per acquisition (prior log ``odds``)."""
    k = e.shape[0]
    own = np.exp(e - _logsumexp(e, axis=1)[:, None])
    log_h = [_log_evidence(e, params, gaps, bolus_seconds, use_start)]
    answers = [ordered]
    for j in range(k):
        rest_gaps, rest_bolus, terms = _without(gaps, bolus_seconds, j)
        rest = np.delete(e, j, axis=0)
        labels, post = np.argmax(own, axis=1), own.copy()
        if k > 1:
            node, edges, start = _terms(rest, params, rest_gaps, rest_bolus, use_start and k > 2)
            labels[np.arange(k) != j] = _viterbi(node, edges, start)[0]
            post[np.arange(k) != j] = _marginals(node, edges, start)
        log_h.append(odds[j] + _log_evidence(rest, params, rest_gaps, rest_bolus, use_start and k > 2)
                     - terms * np.log(WRONG_CLOCK_SPAN_S))
        answers.append((labels, post))
    w = np.exp(np.asarray(log_h) - _logsumexp(np.asarray(log_h), axis=0))
    posterior = sum(wi * post for wi, (_, post) in zip(w, answers))
    return answers[int(np.argmax(w))][0], posterior, w[1:]


def _viterbi(node: np.ndarray, edges: list[np.ndarray], start: np.ndarray) -> tuple[np.ndarray, float]:
    k = node.shape[0]
    best = start + node[0]
    back = np.zeros((k, N_PHASES), dtype=np.int64)
    for i in range(1, k):
        cand = best[:, None] + edges[i - 1]
        back[i] = np.argmax(cand, axis=0)
        best = cand[back[i], np.arange(N_PHASES)] + node[i]
    labels = np.zeros(k, dtype=np.int64)
    labels[-1] = int(np.argmax(best))
    for i in range(k - 1, 0, -1):
        labels[i - 1] = back[i, labels[i]]
    return labels, float(np.max(best))


def _logsumexp(a: np.ndarray, axis: int) -> np.ndarray:
    m = np.max(a, axis=axis, keepdims=True)
    return np.squeeze(m, axis=axis) + np.log(np.sum(np.exp(a - m), axis=axis))


def _forward(node: np.ndarray, edges: list[np.ndarray], start: np.ndarray) -> np.ndarray:
    alpha = np.zeros_like(node)
    alpha[0] = start + node[0]
    for i in range(1, node.shape[0]):
        alpha[i] = _logsumexp(alpha[i - 1][:, None] + edges[i - 1], axis=0) + node[i]
    return alpha


def _marginals(node: np.ndarray, edges: list[np.ndarray], start: np.ndarray) -> np.ndarray:
    k = node.shape[0]
    alpha = _forward(node, edges, start)
    beta = np.zeros((k, N_PHASES))
    for i in range(k - 2, -1, -1):
        beta[i] = _logsumexp(edges[i] + (node[i + 1] + beta[i + 1])[None, :], axis=1)
    post = alpha + beta
    post -= _logsumexp(post, axis=1)[:, None]
    return np.exp(post)


def order_cost(emissions: np.ndarray) -> float:
    """Image evidence (nats) given up by forcing the images into one injection's order.

    The best monotone assignment's summed emission against each acquisition's own best phase:
    0 when the images already follow non-contrast < arterial < venous < other.
    """
    e = np.asarray(emissions, dtype=np.float64)
    best = e[0].copy()
    for i in range(1, e.shape[0]):
        best = np.maximum.accumulate(best) + e[i]
    return float(np.sum(np.max(e, axis=1)) - np.max(best))


__all__ = ["WRONG_CLOCK_SPAN_S", "Decoded", "bolus_term", "decode", "gap_term", "order_cost"]
