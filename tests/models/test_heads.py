"""The subphase and seconds heads: their spec, the checkpoint's config, ONNX export and both engines."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ctphase.errors import ConfigError
from ctphase.models import load_checkpoint
from ctphase.models.heads import Heads, SliceOutputs, split_heads
from ctphase.phases import SUBPHASE_NAMES


def test_heads_spec_validates_and_round_trips() -> None:
    h = Heads()
    assert h.width == len(SUBPHASE_NAMES) + 2 == 10
    assert Heads.from_dict(json.loads(json.dumps(h.to_dict()))) == h
    with pytest.raises(ConfigError, match="distinct subphase names"):
        Heads(subphases=("portal_venous", "lunch"))
    with pytest.raises(ConfigError, match="cover all four phases"):
        Heads(subphases=("non_contrast", "early_arterial", "portal_venous"))
    with pytest.raises(ConfigError, match="unknown to this ctphase"):
        Heads(seconds="minutes")
    with pytest.raises(ConfigError, match="JSON object"):
        Heads.from_dict(["early_arterial"])
    assert "organs" not in h.to_dict()  # the hashed config of networks without the organ head is unchanged
    o = Heads(organs=("aorta", "liver"))
    assert o.width == 12 and Heads.from_dict(json.loads(json.dumps(o.to_dict()))) == o and o != h
    with pytest.raises(ConfigError, match="distinct organ names"):
        Heads(organs=("aorta", "aorta"))
    with pytest.raises(ConfigError, match="distinct organ names"):
        Heads(organs=("appendix",))


def test_split_heads_columns() -> None:
    h = Heads()
    raw = np.zeros((2, 4 + h.width), np.float32)
    raw[:, :4] = [[1, 2, 3, 4], [4, 3, 2, 1]]
    raw[0, 4 + 3] = 10.0  # portal_venous
    raw[:, -2] = [4.0, 5.0]
    raw[:, -1] = [-20.0, 0.5]  # clamped below
    logits, sub, sec, organs = split_heads(raw, 4, h)
    assert organs is None
    np.testing.assert_array_equal(logits, raw[:, :4])
    np.testing.assert_allclose(sub.sum(axis=1), 1.0, rtol=1e-6)
    assert sub[0].argmax() == SUBPHASE_NAMES.index("portal_venous")
    np.testing.assert_allclose(sub[1], 1 / 8, rtol=1e-6)
    np.testing.assert_allclose(sec, [[4.0, -8.0], [5.0, 0.5]])
    with pytest.raises(ConfigError, match="gave 6 outputs"):
        split_heads(raw[:, :6], 4, h)
    assert split_heads(raw[:, :4], 4, None)[1] is None
    # organ columns sit between the subphases and the seconds, and come out apart
    o = Heads(organs=("aorta", "liver"))
    wide = np.concatenate([raw[:, :12], np.array([[99.0, 7.0], [98.0, 6.0]], np.float32), raw[:, -2:]], axis=1)
    w_logits, w_sub, w_sec, w_org = split_heads(wide, 4, o)
    np.testing.assert_array_equal(w_logits, logits)
    np.testing.assert_allclose(w_sub, sub)
    np.testing.assert_allclose(w_sec, sec)
    np.testing.assert_array_equal(w_org, [[99.0, 7.0], [98.0, 6.0]])


def test_slice_outputs_concatenate_and_take() -> None:
    a = SliceOutputs(np.eye(4)[:2], np.ones((2, 8)) / 8, np.array([[1.0, 0.0], [2.0, 0.0]]))
    b = SliceOutputs(np.eye(4)[2:3], np.ones((1, 8)) / 8, np.array([[3.0, 0.0]]))
    c = SliceOutputs.concatenate([a, b])
    assert c.probs.shape == (3, 4) and c.subphase.shape == (3, 8)
    np.testing.assert_array_equal(c.take(np.array([2, 0])).log_seconds[:, 0], [3.0, 1.0])
    assert c.organs is None
    plain = SliceOutputs.concatenate([SliceOutputs(np.eye(4)), SliceOutputs(np.eye(4))])
    assert plain.subphase is None and plain.log_seconds is None and plain.probs.shape == (8, 4)
    org = SliceOutputs.concatenate([SliceOutputs(np.eye(4)[:1], organs=np.array([[1.0, 2.0]])),
                                    SliceOutputs(np.eye(4)[1:2], organs=np.array([[3.0, 4.0]]))])
    np.testing.assert_array_equal(org.take(np.array([1])).organs, [[3.0, 4.0]])


def test_checkpoint_with_heads_keeps_them_in_its_hashed_config(tmp_path) -> None:
    from model_factory import make_checkpoint

    plain = load_checkpoint(make_checkpoint(tmp_path / "plain.safetensors", arch="resnet10t", size=32))
    with_heads = load_checkpoint(make_checkpoint(tmp_path / "heads.safetensors", arch="resnet10t", size=32, heads=True))
    assert "heads" not in plain.config and plain.heads is None and plain.num_outputs == 4
    assert with_heads.config["heads"] == Heads().to_dict() and with_heads.num_outputs == 14
    assert with_heads.heads == Heads()
    # the heads are part of the identity: the same weights without them are another model
    from dataclasses import replace

    assert replace(with_heads, heads=None).sha256 != with_heads.sha256


@pytest.mark.parametrize("heads", [Heads(), Heads(organs=("aorta", "portal_vein", "liver"))], ids=["heads", "organ_head"])
def test_onnx_and_torch_agree_on_every_head(tmp_path, heads: Heads) -> None:
    pytest.importorskip("onnxruntime")
    from model_factory import make_checkpoint

    from ctphase.inference import Classifier

    path = make_checkpoint(tmp_path / "h.safetensors", arch="resnet10t", size=32, heads=heads, with_onnx=True)
    ckpt = load_checkpoint(path)
    import onnx

    props = {p.key: p.value for p in onnx.load_from_string(ckpt.onnx).metadata_props}
    assert json.loads(props["heads"]) == heads.to_dict() and ckpt.num_outputs == 4 + heads.width
    hu = np.random.default_rng(0).normal(40, 200, (5, 48, 48)).astype(np.float32)
    a, _, _ = Classifier(ckpt, engine="torch", device="cpu").predict_hu_outputs(hu)
    b, _, _ = Classifier(ckpt, engine="onnx", device="cpu").predict_hu_outputs(hu)
    for x, y in ((a.probs, b.probs), (a.subphase, b.subphase), (a.log_seconds, b.log_seconds)):
        assert x.shape == y.shape and x.shape[0] == 5
        np.testing.assert_allclose(x, y, atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(a.probs.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(a.subphase.sum(axis=1), 1.0, rtol=1e-5)


def test_classifier_without_heads_gives_no_timing(small_checkpoint) -> None:
    from ctphase.inference import Classifier

    clf = Classifier(small_checkpoint, engine="torch", device="cpu")
    out, _, _ = clf.predict_hu_outputs(np.zeros((2, 40, 40), np.float32))
    assert out.subphase is None and out.log_seconds is None
    assert clf.series_timing(out) == {"subphase_probabilities": {}, "seconds_after_injection": None}
