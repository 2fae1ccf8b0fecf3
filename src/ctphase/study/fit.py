"""Fit the study model's terms on synthetic study plans and write ``study_params.json``.

Usage::

    python -m ctphase.study.fit                       # 20000 studies of seed 0 (patients 0..19999)
    python -m ctphase.study.fit --studies 5000 --out my_params.json

The plans are drawn by :func:`ctphase.synth.studies.plan_patient` (no rendering: ~1 ms a
study) from the same population as training (seed 0, patients 0..N-1), never from the held-out
patients that the study-level benchmark (``benchmarks/study_level.py``) evaluates on. Each
study's acquisitions are split by injection (a second injection starts a new chain, as the
study step does at long gaps); the true seconds after injection feed the bolus-time terms, and
the true start times the gap terms (:func:`ctphase.study.params.fit_params`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..phases import PHASE_NAMES
from .params import DEFAULT_PARAMS_PATH, StudyParams, fit_params


def chains_of_plans(seed: int, patients: range) -> list[list[tuple[int, float | None, float | None]]]:
    """Time-ordered ``(phase index, seconds after injection, clock seconds)`` per injection of each planned study."""
    from ..synth.studies import plan_patient

    chains = []
    for i in patients:
        for plan in plan_patient(seed, i, matrix=64, max_slices=16):
            current: list[tuple[int, float | None, float | None]] = []
            injection = None
            for acq in plan.acquisitions:
                if injection is not None and acq.injection not in (0, injection):
                    chains.append(current)
                    current = []
                injection = acq.injection or injection
                current.append((PHASE_NAMES.index(acq.label), acq.seconds_after_injection, acq.start.timestamp()))
            chains.append(current)
    return chains


def fit_from_synthetic(studies: int = 20000, seed: int = 0) -> StudyParams:
    """Terms fitted on the plans of synthetic patients ``0..studies-1`` of ``seed``."""
    chains = chains_of_plans(seed, range(studies))
    return fit_params(chains, fitted_on=f"ctphase.synth realistic study plans, seed {seed}, patients 0..{studies - 1}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--studies", type=int, default=20000, help="synthetic patients to plan (one or two studies each)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=DEFAULT_PARAMS_PATH)
    args = ap.parse_args(argv)
    params = fit_from_synthetic(args.studies, args.seed)
    args.out.write_text(params.to_json() + "\n")
    print(f"wrote {args.out}: start {[round(x, 3) for x in params.start]}")


if __name__ == "__main__":
    main()
