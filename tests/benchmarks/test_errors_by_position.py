"""benchmarks/errors_by_position.py: the position bins and the synthetic tally."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from benchmark_scripts import load

pos = load("errors_by_position")


def test_bins_split_the_stack_into_equal_parts_from_the_bottom() -> None:
    assert pos.position_bins(6, 3).tolist() == [0, 0, 1, 1, 2, 2]
    assert pos.position_bins(7, 3).tolist() == [0, 0, 0, 1, 1, 2, 2]
    right = np.array([True, False, True, True, False, False, True])
    assert np.searchsorted([top for _, top in pos.ZONES], [-400, -300, -100, 0, 100]).tolist() == [0, 0, 2, 3, 4]
    assert pos.tally(pos.position_bins(7, 3), right, 3).tolist() == [[2, 3], [1, 2], [1, 2]]


def test_synthetic_tally_counts_every_rendered_slice(tmp_path: Path) -> None:
    from model_factory import make_checkpoint

    from ctphase.inference import Classifier

    clf = Classifier(make_checkpoint(tmp_path / "m.safetensors", arch="resnet10t", size=32), engine="torch", threads=1)
    t, zones = pos.synthetic_tally(clf, range(200000, 200001), slices=4, bins=2, size=64)
    assert t[:, 1].tolist() == [8, 8]  # 4 phases x 2 slices in each half
    assert zones[:, 1].sum() == 16 and zones[:, 0].sum() == t[:, 0].sum()  # the same slices, counted by zone
    assert ((0 <= t[:, 0]) & (t[:, 0] <= t[:, 1])).all()
    # the tally is the model's own labels: the same slices, classified again, give the same counts
    again, _ = pos.synthetic_tally(clf, range(200000, 200001), slices=4, bins=2, size=64)
    assert (again == t).all()
