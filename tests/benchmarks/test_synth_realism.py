"""benchmarks/synth_realism.py: the size of the stomach's pool of oral contrast."""

from __future__ import annotations

import numpy as np
from benchmark_scripts import load

realism = load("synth_realism")


def test_largest_area_counts_the_biggest_component_only() -> None:
    m = np.zeros((20, 20), bool)
    m[1:4, 1:4] = True  # 9 pixels
    m[10:15, 10:14] = True  # 20 pixels
    assert realism._largest_area(m) == 20
    assert realism._largest_area(np.zeros((5, 5), bool)) == 0


def test_distended_stomachs_hold_larger_pools_than_resting_ones() -> None:
    pools = realism.synth_stomach_pools(30, seed=0, size=96)
    assert pools["resting"] and pools["distended"]
    assert all(a > 0 for a in pools["distended"])
    assert np.median(pools["distended"]) > 1.3 * np.median(pools["resting"])
