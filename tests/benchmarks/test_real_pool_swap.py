"""benchmarks/real_pool_swap.py: which bright regions count as a stomach pool."""

from __future__ import annotations

import numpy as np
from benchmark_scripts import load

swap = load("real_pool_swap")


def _slice() -> np.ndarray:
    hu = np.full((200, 200), 40.0, np.float32)
    hu[40:90, 120:180] = 260  # left upper quadrant, 50 x 60 px = 30 cm2 at 1 mm: a pool
    hu[150:190, 90:110] = 700  # spine: behind, in the middle
    hu[40:90, 20:80] = 260  # as large, in the patient's right half (image left): not a pool
    hu[100:104, 150:154] = 300  # small bright spot on the left: too small
    return hu


def test_only_a_large_bright_region_in_the_left_upper_quadrant_is_a_pool() -> None:
    m = swap.pool_mask(_slice(), spacing_mm=1.0)
    assert m[40:90, 120:180].all()  # the pool, and a 2 px margin around it
    assert m[38, 150] and not m[30, 150]
    assert not m[150:190, 90:110].any() and not m[40:90, 20:80].any() and not m[100:104, 150:154].any()
    assert not swap.pool_mask(_slice(), spacing_mm=0.5).any()  # the same pixels cover 7.5 cm2 at 0.5 mm


def test_label_counts_give_every_class() -> None:
    assert swap.label_counts(np.array([1, 1, 3])) == "0 / 2 / 0 / 1"
