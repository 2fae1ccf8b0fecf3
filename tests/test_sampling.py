"""The slice sampler: how many, which, seeded by series."""

import numpy as np
import pytest

from ctphase.errors import ConfigError
from ctphase.sampling import n_samples, sample_slices, series_seed


@pytest.mark.parametrize(
    ("n", "rate", "min_slices", "expected"),
    [(300, 0.3, 8, 90), (100, 0.3, 8, 30), (10, 0.3, 8, 8), (5, 0.3, 8, 5), (20, 1.0, 1, 20), (7, 0.01, 1, 1), (10, 0.15, 1, 2)],
)
def test_n_samples(n, rate, min_slices, expected):
    assert n_samples(n, rate, min_slices) == expected


def test_sample_is_sorted_distinct_in_range_and_seeded():
    a = sample_slices(300, 0.3, 8, seed=7)
    b = sample_slices(300, 0.3, 8, seed=7)
    c = sample_slices(300, 0.3, 8, seed=8)
    assert len(a) == 90 and np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.all(np.diff(a) > 0) and a.min() >= 0 and a.max() < 300


def test_sample_all_when_rate_one():
    assert np.array_equal(sample_slices(12, 1.0, 1, seed=0), np.arange(12))


def test_sample_covers_uniformly():
    counts = np.zeros(50)
    for s in range(2000):
        counts[sample_slices(50, 0.2, 1, seed=s)] += 1
    # each index drawn with probability 0.2 -> 400 expected, binomial sd ~18
    assert counts.min() > 300 and counts.max() < 500


def test_series_seed_independent_of_order():
    a = sample_slices(100, 0.3, 1, series_seed(0, "1.2.3/4.5.6"))
    b = sample_slices(100, 0.3, 1, series_seed(0, "1.2.3/4.5.6"))
    c = sample_slices(100, 0.3, 1, series_seed(0, "1.2.3/4.5.7"))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


@pytest.mark.parametrize(("rate", "min_slices"), [(0.0, 1), (1.5, 1), (-0.1, 1), (0.3, 0)])
def test_bad_sampling_args(rate, min_slices):
    with pytest.raises(ConfigError, match=r"sample rate|min_slices"):
        sample_slices(10, rate, min_slices)
