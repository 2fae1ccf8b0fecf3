"""Classifier: engines agree, batching is invisible, class order is canonical, engine/device choice."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from model_factory import make_checkpoint

from ctphase import inference
from ctphase.errors import ConfigError
from ctphase.inference import Classifier
from ctphase.models.activation import activate
from ctphase.models import create_model, load_checkpoint, new_checkpoint
from ctphase.phases import PHASE_NAMES
from ctphase.preprocessing import Preprocessing

torch.set_num_threads(1)
ARCH = "resnet18"


@pytest.fixture(scope="module")
def onnx_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("inf") / "m.safetensors", arch=ARCH, size=32, with_onnx=True)


@pytest.fixture(scope="module")
def x() -> np.ndarray:
    return np.random.default_rng(0).random((21, 3, 32, 32), dtype=np.float32) * 4 - 2


def test_onnxruntime_matches_torch(onnx_ckpt: Path, x: np.ndarray) -> None:
    ort_clf = Classifier(onnx_ckpt, engine="onnx", threads=1)
    torch_clf = Classifier(onnx_ckpt, engine="torch", threads=1)
    p_ort, p_torch = ort_clf.predict_proba(x), torch_clf.predict_proba(x)
    assert p_ort.dtype == np.float32 and p_ort.shape == (21, 4)
    np.testing.assert_allclose(p_ort, p_torch, atol=1e-4)
    np.testing.assert_allclose(p_ort.sum(axis=1), 1.0, atol=1e-5)
    assert ort_clf.sha256 == torch_clf.sha256 == load_checkpoint(onnx_ckpt).sha256


@pytest.mark.parametrize("engine", ["torch", "onnx"])
def test_batching_does_not_change_results(onnx_ckpt: Path, x: np.ndarray, engine: str) -> None:
    ck = load_checkpoint(onnx_ckpt)
    ref = Classifier(ck, engine=engine, batch_size=21, threads=1).predict_proba(x)
    for bs in (1, 4, 16):
        out = Classifier(ck, engine=engine, batch_size=bs, threads=1).predict_proba(x)
        np.testing.assert_allclose(out, ref, atol=1e-5)


def test_permuted_class_order_gives_canonical_columns(x: np.ndarray) -> None:
    torch.manual_seed(0)
    model = create_model(ARCH)
    pre = Preprocessing(size=32)
    canonical = new_checkpoint(ARCH, pre, model)
    paper = ("non_contrast", "venous", "arterial", "other")  # the paper's output order
    rows = [PHASE_NAMES.index(n) for n in paper]
    permuted_model = create_model(ARCH)
    permuted_model.load_state_dict(model.state_dict())
    with torch.no_grad():
        permuted_model.fc.weight.copy_(model.fc.weight[rows])
        permuted_model.fc.bias.copy_(model.fc.bias[rows])
    permuted = new_checkpoint(ARCH, pre, permuted_model, class_names=paper)
    a = Classifier(canonical, engine="torch").predict_proba(x)
    b = Classifier(permuted, engine="torch").predict_proba(x)
    assert Classifier(permuted, engine="torch").class_names == PHASE_NAMES
    np.testing.assert_allclose(a, b, atol=1e-6)
    assert not np.allclose(b, b[:, rows])  # the reordering mattered


def test_engine_auto_selection(onnx_ckpt: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert Classifier(onnx_ckpt, device="cpu").engine == "onnx"
    plain = make_checkpoint(tmp_path / "plain.safetensors", arch="resnet10t")
    assert Classifier(plain, device="cpu").engine == "torch"
    with pytest.raises(ConfigError, match="ctphase export"):
        Classifier(plain, engine="onnx")
    monkeypatch.setattr(inference, "_onnxruntime_available", lambda: False)
    assert Classifier(onnx_ckpt, device="cpu").engine == "torch"
    with pytest.raises(ConfigError, match="pip install onnxruntime"):
        Classifier(onnx_ckpt, engine="onnx")


def test_device_and_argument_checks(onnx_ckpt: Path) -> None:
    ck = load_checkpoint(onnx_ckpt)
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available"):
            Classifier(ck, device="cuda")
        assert Classifier(ck, device="auto").device == "cpu"
    with pytest.raises(ConfigError, match="device 'tpu'"):
        Classifier(ck, device="tpu")
    with pytest.raises(ConfigError, match="engine 'tensorrt'"):
        Classifier(ck, engine="tensorrt")
    with pytest.raises(ConfigError, match="batch_size"):
        Classifier(ck, batch_size=0)
    with pytest.raises(ConfigError, match="threads"):
        Classifier(ck, threads=0)


def test_input_shape_is_checked(onnx_ckpt: Path) -> None:
    clf = Classifier(onnx_ckpt, threads=1)
    with pytest.raises(ConfigError, match=r"\(N, 3, 32, 32\), got \(2, 3, 64, 64\)"):
        clf.predict_proba(np.zeros((2, 3, 64, 64), np.float32))
    assert clf.predict_proba(np.zeros((0, 3, 32, 32), np.float32)).shape == (0, 4)


def test_predict_hu_uses_checkpoint_preprocessing(onnx_ckpt: Path) -> None:
    clf = Classifier(onnx_ckpt, threads=1)
    hu = np.random.default_rng(1).normal(40, 200, (5, 80, 80)).astype(np.float32)
    probs, t_pre, t_model = clf.predict_hu(hu)
    assert probs.shape == (5, 4) and t_pre >= 0 and t_model > 0
    np.testing.assert_allclose(probs, clf.predict_proba(clf.preprocessing(hu)), atol=1e-6)


def test_sigmoid_checkpoint(tmp_path: Path, x: np.ndarray) -> None:
    path = make_checkpoint(tmp_path / "s.safetensors", arch="resnet10t", output_activation="sigmoid", with_onnx=True)
    p_ort = Classifier(path, engine="onnx", threads=1).predict_proba(x)
    p_torch = Classifier(path, engine="torch", threads=1).predict_proba(x)
    np.testing.assert_allclose(p_ort, p_torch, atol=1e-4)
    np.testing.assert_allclose(p_torch.sum(axis=1), 1.0, atol=1e-5)


def test_activate() -> None:
    logits = np.array([[0.0, 0.0, 0.0, 0.0], [1000.0, 0.0, -1000.0, 0.0]], np.float32)
    soft = activate(logits, "softmax")
    np.testing.assert_allclose(soft[0], 0.25)
    np.testing.assert_allclose(soft[1], [1, 0, 0, 0], atol=1e-6)
    sig = activate(logits, "sigmoid")
    np.testing.assert_allclose(sig[0], 0.25)
    np.testing.assert_allclose(sig[1], [0.5, 0.25, 0.0, 0.25], atol=1e-6)  # sigmoid(1000)=1, sigmoid(0)=.5
    with pytest.raises(ConfigError):
        activate(logits, "relu")


def test_onnx_session_threads_sleep_instead_of_spinning(onnx_ckpt: Path) -> None:
    # spinning idle threads take the cores that reading and preprocessing need (benchmarks/speed_levers.py)
    clf = Classifier(onnx_ckpt, engine="onnx", threads=2)
    opts = clf._session.get_session_options()
    assert opts.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert opts.intra_op_num_threads == 2
