"""The terms of the study model (:mod:`ctphase.study.assign`): protocol prior and timing densities.

:data:`DEFAULT_PARAMS_PATH` (``study_params.json`` beside this module) holds the terms fitted on
synthetic studies by :func:`fit_params` (``python -m ctphase.study.fit``); without it the
hand-set :func:`prior_params` (from the physiology table of the design notes: arterial
~20-45 s, portal venous 60-90 s, delayed 3-5 min after injection) are used.

Fitting is counting: the start and transition probabilities are the frequencies of the first
phase and of each (phase, next phase) pair over the planned studies' acquisitions in time
order (add-one smoothed, only forward pairs, mixed with :data:`PRIOR_MIX` of a uniform
prior); each timing density is a log-normal whose mean
and standard deviation are those of the log seconds observed for that phase (after bolus
start) or phase pair (gap), widened by a floor so that no term is overconfident.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

N_PHASES = 4
DEFAULT_PARAMS_PATH = Path(__file__).with_name("study_params.json")
MIN_SIGMA = 0.35
"""Floor of every fitted log-normal's width: real protocols vary more than the synthetic ones."""
ORDER_DOUBT = 0.04
"""Prior probability that an acquisition's place in its study's order is wrong: the share of axial
series whose clock the synthetic studies put wrong (re-sent and restamped, an hour off), a guess
for real archives as that share is; it keeps the study step from being surer of an order than that."""
NUMBER_CONFLICT_LR = 10.0
"""Numbers out of line with the times are 10x likelier under a wrong clock than a right one: a
guess that leaves scanners that number acquisitions their own way a 10% chance of doing so."""
PRIOR_MIX = 0.1
"""Share of a uniform prior mixed into the fitted start and transition probabilities, so that
protocols the synthetic population lacks (arterial then delayed, a delayed scan alone) stay possible."""


@dataclass
class StudyParams:
    """Start, transition and timing terms. Phases are indices in canonical order.

    Attributes:
        start: (4,) probability of the first acquisition's phase.
        transitions: (4, 4) probability of the next acquisition's phase given this one's
            (rows sum to 1; zero below the diagonal).
        gaps: (4, 4) ``(mu, sigma)`` of log seconds between consecutive acquisitions of phases i -> j.
        bolus: (4,) ``(mu, sigma)`` of log seconds after ContrastBolusStartTime (index 0 unused).
        non_contrast_window: seconds after bolus start where a non-contrast acquisition lies.
        log_floor: the lowest log density any timing term gives (a wrong tag cannot veto).
        max_order_cost: nats of image evidence the order may overrule before the study is
            judged not to follow one injection (series-alone answers then).
        order_doubt: prior probability that one acquisition's place in the order is wrong (its
            clock restamped or an hour off, its numbers out of line); 0 treats the order as certain.
        number_conflict_lr: how many times likelier AcquisitionNumbers that run against the time
            order at an acquisition are when its time is wrong than when it is right.
        protocol_weight: weight of the start and transition log-probabilities (0: only the
            order constraint counts, every protocol is equally likely; 1: the fitted protocol
            frequencies). 0 by default: the frequencies of the synthetic protocols are a guess,
            not a measurement, and a real "arterial + delayed" study (one of our real test studies)
            is rare among them; the timing terms are physiology and stay on.
        fitted_on: what the terms were fitted on.
    """

    start: list[float]
    transitions: list[list[float]]
    gaps: list[list[tuple[float, float]]]
    bolus: list[tuple[float, float]]
    non_contrast_window: tuple[float, float] = (-3600.0, 10.0)
    log_floor: float = -12.0
    max_order_cost: float = 4.0
    order_doubt: float = ORDER_DOUBT
    number_conflict_lr: float = NUMBER_CONFLICT_LR
    protocol_weight: float = 0.0
    fitted_on: str = "prior"
    extra: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> str:
        """The terms as JSON."""
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> StudyParams:
        """Terms from :meth:`to_json` output."""
        d = json.loads(text)
        d["gaps"] = [[tuple(x) for x in row] for row in d["gaps"]]
        d["bolus"] = [tuple(x) for x in d["bolus"]]
        d["non_contrast_window"] = tuple(d["non_contrast_window"])
        return cls(**d)


def prior_params() -> StudyParams:
    """Hand-set terms from the physiology table (used until fitted terms are shipped)."""
    ln = np.log
    gap_means = {  # seconds between consecutive acquisitions i -> j
        (0, 0): 60, (0, 1): 240, (0, 2): 300, (0, 3): 420,
        (1, 1): 15, (1, 2): 40, (1, 3): 200,
        (2, 2): 60, (2, 3): 180, (3, 3): 300,
    }
    gaps = [[(float(ln(gap_means.get((i, j), 120))), 0.8) for j in range(N_PHASES)] for i in range(N_PHASES)]
    transitions = np.triu(np.ones((N_PHASES, N_PHASES)))
    transitions /= transitions.sum(axis=1, keepdims=True)
    return StudyParams(
        start=[0.35, 0.3, 0.3, 0.05],
        transitions=transitions.tolist(),
        gaps=gaps,
        bolus=[(0.0, 1.0), (float(ln(35)), 0.3), (float(ln(75)), 0.3), (float(ln(240)), 0.6)],
    )


def load_params(path: str | Path | None = None) -> StudyParams:
    """The shipped fitted terms (or those at ``path``); the prior when none are shipped."""
    p = Path(path) if path is not None else DEFAULT_PARAMS_PATH
    if not p.is_file():
        return prior_params()
    return StudyParams.from_json(p.read_text())


def fit_params(
    studies: Iterable[Sequence[tuple[int, float | None, float | None]]], *, fitted_on: str
) -> StudyParams:
    """Fit the terms on studies given as time-ordered ``(phase, seconds_after_injection, absolute_seconds)``.

    ``seconds_after_injection`` is ``None`` for non-contrast acquisitions; ``absolute_seconds``
    is the acquisition's clock time (for the gaps), ``None`` when unknown.
    """
    start = np.ones(N_PHASES)
    trans = np.triu(np.ones((N_PHASES, N_PHASES)))
    gap_logs: dict[tuple[int, int], list[float]] = {}
    bolus_logs: dict[int, list[float]] = {}
    for study in studies:
        if not study:
            continue
        start[study[0][0]] += 1
        for (a, _, ta), (b, tb_inj, tb) in zip(study[:-1], study[1:]):
            if b >= a:
                trans[a, b] += 1
            if ta is not None and tb is not None and tb > ta and b >= a:
                gap_logs.setdefault((a, b), []).append(float(np.log(tb - ta)))
        for phase, t_inj, _ in study:
            if phase > 0 and t_inj is not None and t_inj > 0:
                bolus_logs.setdefault(phase, []).append(float(np.log(t_inj)))
    base = prior_params()
    allowed = np.triu(np.ones((N_PHASES, N_PHASES)))
    uniform_t = allowed / allowed.sum(axis=1, keepdims=True)
    fitted_t = trans / trans.sum(axis=1, keepdims=True)
    gaps = [[_fit_lognormal(gap_logs.get((i, j)), base.gaps[i][j]) for j in range(N_PHASES)] for i in range(N_PHASES)]
    bolus = [base.bolus[0]] + [_fit_lognormal(bolus_logs.get(j), base.bolus[j]) for j in range(1, N_PHASES)]
    return StudyParams(
        start=((1 - PRIOR_MIX) * start / start.sum() + PRIOR_MIX / N_PHASES).tolist(),
        transitions=((1 - PRIOR_MIX) * fitted_t + PRIOR_MIX * uniform_t).tolist(),
        gaps=gaps,
        bolus=bolus,
        fitted_on=fitted_on,
    )


def _fit_lognormal(logs: list[float] | None, fallback: tuple[float, float]) -> tuple[float, float]:
    if not logs or len(logs) < 5:
        return fallback
    a = np.asarray(logs)
    return (float(a.mean()), float(max(a.std(), MIN_SIGMA)))


__all__ = ["DEFAULT_PARAMS_PATH", "NUMBER_CONFLICT_LR", "ORDER_DOUBT", "StudyParams", "fit_params", "load_params", "prior_params"]
