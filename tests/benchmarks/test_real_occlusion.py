"""benchmarks/real_occlusion.py: the patches, the de-enhancement fill and the occlusion map."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from benchmark_scripts import load

occ = load("real_occlusion")


def test_patches_cover_the_image_at_half_stride() -> None:
    boxes = occ.patch_boxes((100, 90), 32)
    cover = np.zeros((100, 90), int)
    for r, c in boxes:
        assert (r.stop - r.start, c.stop - c.start) == (32, 32) and r.stop <= 100 and c.stop <= 90
        cover[r, c] += 1
    assert cover.min() >= 1 and cover[20, 20] == 4  # every pixel; an inner one by four overlapping patches


def test_de_enhance_caps_contrast_inside_the_box_only() -> None:
    hu = np.array([[-1000.0, 20.0, 300.0], [150.0, 41.0, 900.0]], np.float32)
    assert occ.de_enhance(hu, 40.0).tolist() == [[-1000, 20, 40], [40, 40, 40]]
    boxed = occ.de_enhance(hu, 40.0, (slice(0, 1), slice(0, 3)))
    assert boxed.tolist() == [[-1000, 20, 40], [150, 41, 900]]
    assert hu[0, 2] == 300  # the input is left alone


def test_occlusion_map_is_the_drop_of_the_truth_per_patch(tmp_path: Path) -> None:
    from model_factory import make_checkpoint

    from ctphase.inference import Classifier

    clf = Classifier(make_checkpoint(tmp_path / "m.safetensors", arch="resnet10t", size=32), engine="torch", threads=1)
    rng = np.random.default_rng(0)
    hu = rng.normal(60, 80, (48, 48)).astype(np.float32)
    boxes, drops, emap = occ.occlusion_map(clf, hu, truth=2, patch=16, ceiling=40.0)
    assert boxes == occ.patch_boxes(hu.shape, 16)
    assert drops.shape == (len(boxes),) and emap.shape == hu.shape
    base = clf.predict_hu(hu[None])[0][0, 2]
    for k in (0, len(boxes) // 2, len(boxes) - 1):
        assert np.isclose(drops[k], base - clf.predict_hu(occ.de_enhance(hu, 40.0, boxes[k])[None])[0][0, 2], atol=1e-5)
    assert np.isclose(emap[0, 0], drops[0], atol=1e-6)  # the corner is covered by the first patch only
    assert np.abs(drops).max() > 0  # the fill changes what the network sees


def test_unknown_series_is_refused_by_name(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "labels.csv").write_text("folder,name,phase\nseries_a,series_a,venous\n")
    monkeypatch.setattr("sys.argv", ["real_occlusion.py", "--realdata", str(tmp_path), "--series", "nope"])
    with pytest.raises(SystemExit, match="none of \\['nope'\\] is a folder of"):
        occ.main()
