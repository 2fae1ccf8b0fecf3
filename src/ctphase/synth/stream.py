"""Endless stream of synthetic training slices (the fast path: no volumes are written)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..phases import Phase
from .conditions import check_conditions, check_extra_rates, extra_conditions, force_conditions
from .patient import PatientParams
from .physiology import tissue_tables
from .render import render_slices
from .series import SeriesParams
from .tissues import Tissue


def patient_params(seed: int, index: int) -> PatientParams:
    """Patient ``index`` of the synthetic population ``seed``: depends only on ``(seed, index)``."""
    return PatientParams.draw(np.random.default_rng([int(seed), int(index), 0]), index=int(index))


def draw_series(seed: int, index: int, phase: str | Phase, epoch: int = 0,
                force: Sequence[str] = ()) -> tuple[PatientParams, SeriesParams, np.random.Generator]:
    """Patient ``index``, the series :func:`iter_training_slices` draws for it in ``phase`` on its pass
    ``epoch`` (with the conditions of ``force``), and the generator that then draws its slice positions."""
    patient = patient_params(seed, index)
    srng = np.random.default_rng([int(seed), int(index), 1, int(epoch)])
    force_conditions((seed, index, 5), patient, force=force)
    series = SeriesParams.draw(srng, patient, phase=Phase.parse(phase))
    force_conditions((seed, index, 6, epoch), patient, series, force)
    return patient, series, srng


def series_truth(seed: int, index: int, phase: str | Phase, epoch: int = 0) -> tuple[str, float | None]:
    """``(subphase, seconds after injection or None)`` of the series that :func:`iter_training_slices`
    draws for patient ``index`` in ``phase`` on its pass ``epoch`` (no rendering)."""
    _, series, _ = draw_series(seed, index, phase, epoch)
    return series.subphase, series.seconds_after_injection


def organ_tissues(organs: Sequence[str]) -> list[Tissue]:
    """The :class:`Tissue` of each organ name (``"aorta"`` -> ``Tissue.AORTA``); ConfigError names an unknown one."""
    out = []
    for name in organs:
        try:
            out.append(Tissue[str(name).upper()])
        except KeyError:
            raise ConfigError(f"unknown organ {name!r}: organs are synthetic tissue names such as aorta, liver") from None
    return out


def visible_organ_hu(patient: PatientParams, series: SeriesParams, masks: np.ndarray, organs: Sequence[Tissue]) -> np.ndarray:
    """``(len(masks), len(organs))`` float32: each organ's mean HU in the series (noiseless, from
    :func:`~ctphase.synth.physiology.tissue_tables`) on the slices where it covers at least
    ``size**2 / 4000`` pixels (6 at 160 px), NaN where it is absent or a sliver."""
    hu = tissue_tables(patient, series)[0]
    n, size = len(masks), masks.shape[-1]
    counts = np.stack([np.bincount(m.ravel(), minlength=len(hu))[: len(hu)] for m in masks]) if n else np.zeros((0, len(hu)), int)
    lab = np.asarray([int(t) for t in organs], dtype=np.int64)
    out = np.where(counts[:, lab] >= max(4, size * size // 4000), hu[lab][None, :], np.nan)
    return out.astype(np.float32)


def _parse_phases(phases: Sequence[str | Phase] | None) -> list[Phase]:
    if phases is None:
        return list(Phase)
    out = []
    for p in phases:
        try:
            out.append(Phase.parse(p))
        except ValueError as e:
            raise ConfigError(str(e)) from None
    if not out:
        raise ConfigError("phases must name at least one of non_contrast, arterial, venous, other")
    return sorted(set(out))


def sample_z(rng: np.random.Generator, series: SeriesParams, n: int) -> np.ndarray:
    """``n`` slice positions drawn uniformly over the series' scan range (anatomical mm)."""
    return rng.uniform(series.z_bottom, series.z_top, n)


def iter_training_slices(
    seed: int,
    size: int,
    patients: range,
    slices_per_series: int = 16,
    phases: Sequence[str | Phase] | None = None,
    *,
    fov_mm: float | None = None,
    targets: bool = False,
    organs: Sequence[str] = (),
    force: Sequence[str] = (),
    extra: Mapping[str, float] | None = None,
    first_pass: int = 0,
) -> Iterator[tuple[Any, ...]]:
    """Endless stream of ``(hu (size, size) float32, label, patient_index)`` for training.

    With ``targets=True`` each item also carries the series' subphase name and its seconds after
    the start of injection (``None`` for non-contrast): ``(hu, label, patient, subphase, seconds)``;
    with ``organs`` as well, it ends with the slice's :func:`visible_organ_hu` of those organs
    (``(len(organs),)`` float32, NaN where the organ is not in the slice).

    Each pass visits every patient of ``patients`` once in a fresh random order; for each it
    draws one series (phase uniform over ``phases`` so classes are balanced, subphase and time
    anywhere in the class's range, scanner settings, scan range) and yields
    ``slices_per_series`` slices at random z over the scan range (including chest and pelvis
    slices, as real scans do). Patient anatomy depends only on ``(seed, index)``, so disjoint
    patient ranges give clean train/val/test splits. Consecutive slices come from one series:
    shuffle with a buffer if the training loop needs i.i.d. batches.

    ``force`` names conditions of :mod:`ctphase.synth.conditions` applied to every patient and
    series on top of those drawn (the robustness benchmark). ``extra`` maps condition names to a
    probability that a series also gets that condition forced on top of its drawn rate (training
    on more of an uncommon scan); its draws are separate, so every other series stays as it was.
    ``first_pass`` starts the stream at that pass (its own patient order and series), so that a
    resumed training run goes on with series it has not seen instead of those of pass 0.
    """
    if size < 16 or size > 1024:
        raise ConfigError(f"size must be between 16 and 1024 pixels, got {size}")
    if slices_per_series < 1:
        raise ConfigError(f"slices_per_series must be >= 1, got {slices_per_series}")
    plist = list(patients)
    if not plist:
        raise ConfigError("patients is empty; give a range such as range(0, 1000)")
    allowed = _parse_phases(phases)
    force = check_conditions(force)
    extra_rates = check_extra_rates(extra or {})
    tissues = organ_tissues(organs)
    epoch = int(first_pass)
    while True:
        rng = np.random.default_rng([int(seed), 1_000_003, epoch])
        for idx in rng.permutation(len(plist)):
            pi = plist[int(idx)]
            phase = allowed[int(rng.integers(len(allowed)))]
            forced = force + extra_conditions((seed, pi, 8, epoch), extra_rates)  # a name twice applies once
            patient, series, srng = draw_series(seed, pi, phase, epoch, forced)
            z = sample_z(srng, series, slices_per_series)
            label = int(series.label)
            extra = (series.subphase, series.seconds_after_injection) if targets else ()
            if targets and tissues:
                hu, masks = render_slices(patient, series, z, size, fov_mm, return_masks=True)
                organ_hu = visible_organ_hu(patient, series, masks, tissues)
            else:
                hu, organ_hu = render_slices(patient, series, z, size, fov_mm), None
            for k in range(len(z)):
                yield hu[k], label, int(pi), *extra, *(() if organ_hu is None else (organ_hu[k],))
        epoch += 1
