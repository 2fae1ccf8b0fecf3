"""benchmarks/errors_by_position.py: the position bins and the synthetic tally."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from benchmark_scripts import load

pos = load("errors_by_position")


def test_bins_split_the_stack_into_equal_parts_from_the_bottom() -> None:
    assert pos.position_bins(6, 3).tolist() == [0, 0, 1, 1, 2, 2]
    assert pos.position_bins(7, 3).tolist() == [0, 0, 0, 1, 1, 2, 2]
    assert np.searchsorted([top for _, top in pos.ZONES], [-400, -300, -100, 0, 100]).tolist() == [0, 0, 2, 3, 4]
    labels = np.array([1, 0, 1, 1, 2, 3, 1])  # truth: arterial (1)
    cm = pos.confusion(pos.position_bins(7, 3), 1, labels, 3)
    assert [int(np.trace(c)) for c in cm] == [2, 1, 1] and cm.sum(axis=(1, 2)).tolist() == [3, 2, 2]
    assert cm[0, 1, 0] == 1 and cm[2, 1, 3] == 1
    assert pos._cells(cm).split() == ["2/3", "67%", "1/2", "50%", "1/2", "50%"]
    assert pos._errors(cm.sum(axis=0)) == "arterial->non_contrast 1, arterial->venous 1, arterial->other 1"  # ties: class order


def test_synthetic_tally_counts_every_rendered_slice(tmp_path: Path) -> None:
    from model_factory import make_checkpoint

    from ctphase.inference import Classifier

    clf = Classifier(make_checkpoint(tmp_path / "m.safetensors", arch="resnet10t", size=32), engine="torch", threads=1)
    parts, zones = pos.synthetic_confusion(clf, range(200000, 200001), slices=4, bins=2, size=64)
    assert parts.sum(axis=(1, 2)).tolist() == [8, 8]  # 4 phases x 2 slices in each half
    assert parts.sum(axis=(0, 2)).tolist() == [4, 4, 4, 4]  # each true phase: its 4 slices
    assert (zones.sum(axis=0) == parts.sum(axis=0)).all()  # the same slices, counted by zone
    # the counts are the model's own labels: the same slices, classified again, give the same counts
    again, _ = pos.synthetic_confusion(clf, range(200000, 200001), slices=4, bins=2, size=64)
    assert (again == parts).all()
