"""benchmarks/series_reader.py: the series features and the draw table."""

from __future__ import annotations

import numpy as np
from benchmark_scripts import load

sr = load("series_reader")


def test_features_pool_each_output_group_over_the_drawn_slices() -> None:
    rng = np.random.default_rng(0)
    raw = rng.normal(size=(5, 4 + 3 + 2 + 2))  # 3 subphases, 2 organs
    raw[:, :4] = [[5, 0, 0, 0], [5, 0, 0, 0], [0, 5, 0, 0], [0, 0, 0, 5], [0, 0, 0, 5]]
    f = sr.features(raw, 3, 2)
    assert f.shape == (4 + 4 + 3 + 3 + 6,)
    assert np.allclose(f[4:8], [0.4, 0.2, 0.0, 0.4])  # vote shares
    assert np.isclose(f[11], raw[:, -2].mean()) and np.isclose(f[12], raw[:, -2].std())
    org = raw[:, 7:9]
    assert np.allclose(f[14:], np.concatenate([org.mean(0), org.min(0), org.max(0)]))
    assert np.argmax(f[:4]) == 0  # mean log probability: nc and other tie on votes, nc is surer


def test_draw_table_votes_the_same_draw_it_features() -> None:
    rng = np.random.default_rng(1)
    raws = [rng.normal(size=(32, 4 + 3 + 2 + 2)) for _ in range(3)]
    x, v = sr.draw_table(raws, ["a", "b", "c"], 0, 3, 2)
    assert x.shape == (3, 20) and v.shape == (3,)
    assert np.allclose(x[:, 4:8].sum(axis=1), 1.0)
    from ctphase.sampling import sample_slices, series_seed
    from ctphase.voting import majority_vote

    for raw, key, row, label in zip(raws, "abc", x, v):  # the features and the vote read the same drawn slices
        idx = sample_slices(32, 0.3, 8, series_seed(0, key))
        assert np.allclose(row, sr.features(raw[idx], 3, 2))
        assert label == majority_vote(sr.softmax(raw[idx, :4])).label
    x2, v2 = sr.draw_table(raws, ["a", "b", "c"], 0, 3, 2)
    assert np.array_equal(x, x2) and np.array_equal(v, v2)  # seeded by (draw, key)
