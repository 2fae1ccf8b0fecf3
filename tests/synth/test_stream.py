"""The training stream: balance, determinism, patient ranges, phase filter and errors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from ctphase.errors import ConfigError
from ctphase.phases import Phase
from ctphase.synth import iter_training_slices


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
