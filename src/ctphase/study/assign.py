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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .params import StudyParams

N_PHASES = 4
NEG = -1e9


@dataclass
class Decoded:
    """The joint assignment: ``labels`` (K,) phase indices, ``posterior`` (K, 4), ``score`` (log)."""

    labels: np.ndarray
    posterior: np.ndarray
    score: float


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
) -> Decoded:
    """Most probable phases of ``K`` time-ordered acquisitions, and their posterior marginals.

    Args:
        emissions: ``(K, 4)`` log probabilities of each acquisition's images (series alone, calibrated).
        params: transition, timing and start terms.
        gaps: ``K - 1`` seconds between consecutive acquisitions (``None`` where unknown).
        bolus_seconds: ``K`` seconds after ContrastBolusStartTime (``None`` where unknown).
        use_start: weigh the first phase by the protocol prior (``False``: flat, e.g. for a
            study of one acquisition, where the prior would only repeat the class balance).
    """
    e = np.asarray(emissions, dtype=np.float64)
    k = e.shape[0]
    gaps = list(gaps) if gaps is not None else [None] * (k - 1)
    bolus_seconds = list(bolus_seconds) if bolus_seconds is not None else [None] * k
    node = e + np.stack([bolus_term(t, params) for t in bolus_seconds])
    log_t = params.protocol_weight * np.log(np.maximum(np.asarray(params.transitions, dtype=np.float64), 1e-300))
    log_t[np.tril_indices(N_PHASES, -1)] = NEG  # never back in time
    edges = [log_t + gap_term(g, params) for g in gaps]
    start = params.protocol_weight * np.log(np.maximum(np.asarray(params.start, dtype=np.float64), 1e-300))
    if not use_start:
        start = np.zeros(N_PHASES)
    labels, score = _viterbi(node, edges, start)
    posterior = _marginals(node, edges, start)
    return Decoded(labels=labels, posterior=posterior, score=score)


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


def _marginals(node: np.ndarray, edges: list[np.ndarray], start: np.ndarray) -> np.ndarray:
    k = node.shape[0]
    alpha = np.zeros((k, N_PHASES))
    beta = np.zeros((k, N_PHASES))
    alpha[0] = start + node[0]
    for i in range(1, k):
        alpha[i] = _logsumexp(alpha[i - 1][:, None] + edges[i - 1], axis=0) + node[i]
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


__all__ = ["Decoded", "bolus_term", "decode", "gap_term", "order_cost"]
