"""The training stream: balance, determinism, patient ranges, phase filter and errors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from ctphase.errors import ConfigError
from ctphase.phases import Phase
from ctphase.synth import iter_training_slices, render_slices, series_truth
from ctphase.synth.stream import draw_series, sample_z


def test_stream_balanced_deterministic_and_patient_bound() -> None:
    it = iter_training_slices(3, 64, range(10, 18), slices_per_series=2)
    items = list(itertools.islice(it, 64))
    labels = [lab for _, lab, _ in items]
    pats = {pi for _, _, pi in items}
    assert pats <= set(range(10, 18)) and len(pats) == 8
    assert all(x.shape == (64, 64) and x.dtype == np.float32 for x, _, _ in items)
    assert len(set(labels)) >= 3
    again = list(itertools.islice(iter_training_slices(3, 64, range(10, 18), slices_per_series=2), 4))
    for (a, la, pa), (b, lb, pb) in zip(items[:4], again):
        np.testing.assert_array_equal(a, b)
        assert (la, pa) == (lb, pb)


def test_stream_phase_filter_and_errors() -> None:
    it = iter_training_slices(0, 48, range(4), slices_per_series=1, phases=["venous"])
    assert {lab for _, lab, _ in itertools.islice(it, 6)} == {int(Phase.VENOUS)}
    with pytest.raises(ConfigError):
        next(iter_training_slices(0, 48, range(0)))
    with pytest.raises(ConfigError, match="unknown phase"):
        next(iter_training_slices(0, 48, range(2), phases=["lunch"]))


@pytest.mark.parametrize("force", [(), ("pet_ct", "obese")])
def test_draw_series_is_the_series_the_stream_renders(force: tuple[str, ...]) -> None:
    it = iter_training_slices(2, 48, range(30, 34), slices_per_series=3, targets=True, force=force)
    first = list(itertools.islice(it, 3))
    _, label, index, subphase, seconds = first[0]
    patient, series, srng = draw_series(2, index, Phase(label), 0, force)
    assert (int(series.label), series.subphase, series.seconds_after_injection) == (label, subphase, seconds)
    assert all(c in series.conditions + patient.conditions for c in force)
    rendered = render_slices(patient, series, sample_z(srng, series, 3), 48)
    for k, (hu, *_rest) in enumerate(first):
        np.testing.assert_array_equal(hu, rendered[k])
    if not force:
        assert series_truth(2, index, Phase(label)) == (subphase, seconds)
