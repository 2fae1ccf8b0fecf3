"""The slice sampler: how many, which, seeded by series."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ctphase.errors import ConfigError
from ctphase.sampling import classification_order, n_samples, sample_slices, series_seed


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


@pytest.mark.parametrize("spread", [True, False])
def test_sample_covers_uniformly_when_runs_differ_in_length(spread):
    counts = np.zeros(89)
    for s in range(3000):
        idx = sample_slices(89, 0.3, 1, seed=s, spread=spread)
        assert len(idx) == 27 and np.all(np.diff(idx) > 0)
        counts[idx] += 1
    # 27 of 89: each index about 0.303 (binomial sd ~0.008); runs of 3 or 4 slices keep a stratified draw within 0.03
    assert counts.min() / 3000 > 0.26 and counts.max() / 3000 < 0.35


@pytest.mark.parametrize(("n", "rate", "min_slices"), [(300, 0.3, 8), (89, 0.3, 8), (20, 0.3, 8), (9, 0.3, 8), (1000, 0.05, 1)])
def test_spread_draw_takes_one_slice_per_run(n, rate, min_slices):
    for s in range(50):
        idx = sample_slices(n, rate, min_slices, seed=s)
        k = len(idx)
        longest = -(-n // k)  # runs hold n // k or n // k + 1 slices
        assert k == n_samples(n, rate, min_slices) and len(np.unique(idx)) == k
        assert idx[0] < longest and idx[-1] >= n - longest and np.diff(idx).max() <= 2 * longest - 1


def test_spread_draw_steadies_the_count_from_a_block_of_slices():
    """A run of 30 alike slices at one end of 100: the uniform draw of 30 counts 9 of them +- 2.1
    (hypergeometric), the spread draw 9 +- at most 1."""
    in_block = {True: [], False: []}
    for spread in in_block:
        for s in range(500):
            in_block[spread].append(int(np.sum(sample_slices(100, 0.3, 1, seed=s, spread=spread) < 30)))
    assert 1.6 < np.std(in_block[False]) < 2.6 and np.std(in_block[True]) < 0.7
    assert abs(np.mean(in_block[True]) - 9) < 0.2 and abs(np.mean(in_block[False]) - 9) < 0.4


def test_series_seed_independent_of_order():
    a = sample_slices(100, 0.3, 1, series_seed(0, "1.2.3/4.5.6"))
    b = sample_slices(100, 0.3, 1, series_seed(0, "1.2.3/4.5.6"))
    c = sample_slices(100, 0.3, 1, series_seed(0, "1.2.3/4.5.7"))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


@pytest.mark.parametrize(("rate", "min_slices"), [(0.0, 1), (1.5, 1), (-0.1, 1), (0.3, 0)])
def test_bad_sampling_args(rate, min_slices):
    with pytest.raises(ConfigError, match=r"sample rate|min_slices"):
        sample_slices(10, rate, min_slices)


@pytest.mark.parametrize("k", [1, 2, 5, 27, 32, 90])
def test_classification_order_is_a_seeded_permutation_of_the_draw(k):
    drawn = np.sort(np.random.default_rng(k).choice(500, size=k, replace=False))
    a, b = classification_order(drawn, 3, "1.2.3"), classification_order(drawn, 3, "1.2.3")
    assert np.array_equal(a, b) and np.array_equal(np.sort(a), drawn)
    if k > 4:
        assert not np.array_equal(a, classification_order(drawn, 4, "1.2.3"))
        assert not np.array_equal(a, classification_order(drawn, 3, "1.2.4"))


def test_classification_order_spreads_every_power_of_two_prefix():
    drawn = np.arange(64) * 3
    for seed in range(20):
        order = classification_order(drawn, seed, "s") // 3  # positions in the draw
        for t in range(7):
            blocks = order[: 2**t] // (64 // 2**t)
            assert sorted(blocks) == list(range(2**t)), (seed, t)


def test_an_early_stopped_prefix_reads_both_ends_of_the_stack():
    """The first 8 of 30 drawn slices, 9 of them at one end: a random order holds 2.4 +- 1.1 of
    them, the spread order 2.4 +- about 0.5."""
    drawn = np.arange(30)
    spread = [np.sum(classification_order(drawn, s, "x")[:8] < 9) for s in range(400)]
    shuffled = [np.sum(np.random.default_rng(s).permutation(drawn)[:8] < 9) for s in range(400)]
    assert abs(np.mean(spread) - 2.4) < 0.2 and abs(np.mean(shuffled) - 2.4) < 0.25
    assert np.std(spread) < 0.6 < 0.9 < np.std(shuffled)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(n=st.integers(1, 3000), rate=st.floats(0.001, 1.0), min_slices=st.integers(1, 64), seed=st.integers(0, 2**32 - 1))
def test_spread_draw_properties(n, rate, min_slices, seed):
    idx = sample_slices(n, rate, min_slices, seed=seed)
    k = n_samples(n, rate, min_slices)
    longest = -(-n // k)
    assert idx.dtype == np.int64 and len(idx) == k and np.all(np.diff(idx) > 0) and 0 <= idx[0] and idx[-1] < n
    assert idx[0] < longest and idx[-1] >= n - longest
    if k > 1:
        assert np.diff(idx).max() <= 2 * longest - 1
    order = classification_order(idx, seed, "s")
    assert np.array_equal(np.sort(order), idx)
