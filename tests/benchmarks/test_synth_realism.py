"""benchmarks/synth_realism.py: the size of the stomach's pool of oral contrast."""

from __future__ import annotations

import numpy as np
import pytest
from benchmark_scripts import load

realism = load("synth_realism")
real_labels = load("real_labels")


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


def test_bright_open_keeps_pools_and_drops_thin_bright_lines() -> None:
    hu = np.zeros((40, 40), np.float32)
    hu[5:15, 5:15] = 300  # a 10x10 pool
    hu[25, :] = 400  # a one-pixel wall, as bright
    m = realism.bright_open(hu)
    assert m[5:15, 5:15].all() and m.sum() == 100


def test_real_stomach_pools_measure_hcc005() -> None:
    if not real_labels.has_labels(real_labels.REALDATA):
        pytest.skip("real data not present")
    pools = realism.real_stomach_pools()
    assert pools and all(k.startswith("hcc005") for k in pools)
    # measured 81-89 cm2 (251-261 HU) when the ROI was placed: a distended stomach, not a resting one
    assert all(70 < a < 100 for a in pools.values()), pools


def test_synthetic_food_spreads_from_fat_to_dense_like_the_real_meal() -> None:
    p10, p25, p50, p75, p90 = realism.synth_food(4, seed=0, size=128)
    assert p10 < -30 < 20 < p50 < 90 < p90  # fat patches and gas below, lumps above the water-like middle
    assert p10 < p25 < p50 < p75 < p90


def test_real_food_box_reads_the_petct_stomach() -> None:
    real = realism.real_food()
    if real is None:
        pytest.skip("real data not present")
    assert 40 < real[2] < 90 and real[0] < 0 < real[-1] - 80  # mottled: fat and denser parts around ~60 HU
