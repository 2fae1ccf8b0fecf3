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


def test_disc_takes_the_pixels_inside_the_disc_only() -> None:
    rng = np.random.default_rng(0)
    im = np.full((64, 64), 1000.0)  # far outside the disc: would dominate the SD if it leaked in
    im[16:48, 16:48] = 60 + rng.normal(0, 12, (32, 32))
    assert realism.disc(im, 32, 32, 10).size == 317  # pixels within radius 10 of a pixel centre
    assert 10.5 < np.std(realism.disc(im, 32, 32, 10)) < 13.5
    assert realism.roi_median(im, (0.0, 32, 32, 10)) == np.median(realism.disc(im, 32, 32, 10))


def test_the_petct_condition_coarsens_the_synthetic_grain() -> None:
    plain, petct = realism.synth_grain(6, seed=0, size=128), realism.synth_grain(6, seed=0, condition="pet_ct", size=128)
    assert len(plain["liver"]) == len(petct["liver"]) == 6
    assert np.median(petct["liver"]) > 1.2 * np.median(plain["liver"])  # low dose on 3 of 4 series: noise x1.6-2.8


def test_real_grain_reads_the_petct_liver_at_network_size() -> None:
    if not real_labels.has_labels(real_labels.REALDATA):
        pytest.skip("real data not present")
    grain = realism.real_grain()
    # measured 10.2 HU when written: smooth, for a low-dose series (soft kernel, 0.98 mm pixels shrunk to 224)
    assert 5 < grain["ts_petct_dicom_venous"]["liver"] < 15
    assert set(grain) >= {"hcc005_s1_s103_venous", "rctt2022_eqp_other"}
