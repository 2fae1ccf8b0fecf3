"""ONNX export (dynamic batch, metadata, checker) and the `ctphase export` / `ctphase models` commands."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from model_factory import make_checkpoint
from typer.testing import CliRunner

from ctphase.cli import app
from ctphase.errors import ConfigError
from ctphase.inference import Classifier
from ctphase.models import ARCHITECTURES, build_model, create_model, embed_onnx, export_onnx, load_checkpoint, new_checkpoint
from ctphase.models.export import SINGLE_INPUT_FACTOR, ExportError, _judge, _verification_batches, _verify
from ctphase.preprocessing import Preprocessing

torch.set_num_threads(1)
ARCH = "resnet10t"


@pytest.fixture(scope="module")
def ckpt_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("exp") / "m.safetensors", arch=ARCH, size=32)


def _check_graph(data: bytes, sha: str) -> None:
    proto = onnx.load_from_string(data)
    onnx.checker.check_model(proto)
    dim0 = proto.graph.input[0].type.tensor_type.shape.dim[0]
    assert dim0.dim_param and not dim0.dim_value  # symbolic batch axis
    props = {p.key: p.value for p in proto.metadata_props}
    assert props["ctphase_sha256"] == sha
    assert json.loads(props["class_names"]) == ["non_contrast", "arterial", "venous", "other"]
    assert json.loads(props["preprocessing"])["size"] == 32
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    for n in (1, 5):
        out = session.run(None, {"input": np.zeros((n, 3, 32, 32), np.float32)})[0]
        assert out.shape == (n, 4)


def test_default_export_is_dynamo_with_dynamic_batch(ckpt_path: Path, tmp_path: Path) -> None:
    ck = load_checkpoint(ckpt_path)
    out = tmp_path / "m.onnx"
    data = export_onnx(ck, out)
    assert out.read_bytes() == data
    assert onnx.load_from_string(data).opset_import[0].version >= 18
    _check_graph(data, ck.sha256)


def test_legacy_export_opset17(ckpt_path: Path) -> None:
    ck = load_checkpoint(ckpt_path)
    data = export_onnx(ck, opset=17, exporter="legacy")
    assert {o.version for o in onnx.load_from_string(data).opset_import if o.domain in ("", "ai.onnx")} == {17}
    _check_graph(data, ck.sha256)


def test_export_argument_checks(ckpt_path: Path) -> None:
    ck = load_checkpoint(ckpt_path)
    with pytest.raises(ConfigError, match="exporter 'tf'"):
        export_onnx(ck, exporter="tf")
    with pytest.raises(ConfigError, match="opset"):
        export_onnx(ck, opset=5)
    with pytest.raises(ConfigError, match="dynamo exporter emits opset >= 18"):
        export_onnx(ck, opset=17, exporter="dynamo")


def test_embed_keeps_identity(ckpt_path: Path) -> None:
    ck = load_checkpoint(ckpt_path)
    emb = embed_onnx(ck, opset=17, exporter="legacy")
    assert emb.onnx is not None and emb.sha256 == ck.sha256
    assert Classifier(emb, device="cpu").engine == "onnx"


def test_verify_rejects_a_graph_of_other_weights(ckpt_path: Path) -> None:
    ck = load_checkpoint(ckpt_path)
    data = export_onnx(ck, opset=17, exporter="legacy")
    assert _verify(data, build_model(ck), ck, 1e-4) <= 1e-4  # the export's own network agrees
    changed = build_model(ck)
    with torch.no_grad():
        weight = changed.get_classifier().weight
        weight.add_(torch.randn(weight.shape, generator=torch.Generator().manual_seed(0)))
    with pytest.raises(ExportError, match=r"disagree on resnet10t: synthetic CT by .*uniform noise by"):
        _verify(data, changed, ck, 1e-4)


def test_judge_lets_one_amplified_input_pass_and_not_a_wrong_graph() -> None:
    atol, ct = 1e-4, np.full(16, 1e-6)
    noise = np.full(3, 1e-6)
    assert _judge({"synthetic CT": ct, "uniform noise": noise}, atol) == []
    spike = ct.copy()
    spike[13] = 1e-3  # float32 rounding amplified on one slice (measured: 1.0e-3 on a fine-tune of v16)
    assert _judge({"synthetic CT": spike, "uniform noise": noise}, atol) == []
    (too_far,) = _judge({"synthetic CT": np.where(np.arange(16) == 0, 3 * SINGLE_INPUT_FACTOR * atol, 1e-6), "uniform noise": noise}, atol)
    assert too_far.startswith("synthetic CT by 6.00e-03") and "on one input" in too_far
    (everywhere,) = _judge({"synthetic CT": np.full(16, 5e-4), "uniform noise": noise}, atol)
    assert "median input 5.00e-04" in everywhere  # a graph off on every slice, even by less than the single-input bound
    assert _judge({"synthetic CT": ct, "uniform noise": np.array([1e-6, 1e-6, 3e-3])}, atol) == ["uniform noise by 3.00e-03 (> 2e-03 on one input)"]


def test_verification_batches_are_ct_and_noise(ckpt_path: Path) -> None:
    batches = _verification_batches(load_checkpoint(ckpt_path))
    ct, noise = batches["synthetic CT"], batches["uniform noise"]
    assert ct.shape == (16, 3, 32, 32) and noise.shape == (3, 3, 32, 32)
    # synthetic CT is windowed anatomy: air (0) and soft tissue, not uniform noise
    assert (ct == 0).mean() > 0.2 and 0.3 < np.median(ct[ct > 0]) < 0.9


def test_volume_model_exports_and_verifies(tmp_path: Path) -> None:
    import ctphase.paper  # noqa: F401 - registers 3dse

    torch.manual_seed(0)
    pre = Preprocessing(windows=((50.0, 400.0),), size=16, channels=1, depth=8)
    ck = new_checkpoint("3dse", pre, create_model("3dse", num_classes=4, in_chans=1))
    assert _verification_batches(ck)["synthetic CT"].shape == (4, 1, 8, 16, 16)
    data = export_onnx(ck, opset=17, exporter="legacy")
    out = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, {"input": np.zeros((2, 1, 8, 16, 16), np.float32)})[0]
    assert out.shape == (2, 4)


# --------------------------------------------------------------------------- CLI

runner = CliRunner()


def _err(result) -> str:  # noqa: ANN001
    """stderr with rich's line wrapping undone."""
    return " ".join(result.stderr.split())


def test_cli_models_lists_architectures() -> None:
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0
    for name in ARCHITECTURES:
        assert name in result.stdout


def test_cli_export_writes_and_refuses_overwrite(ckpt_path: Path, tmp_path: Path) -> None:
    onnx_out, emb_out = tmp_path / "m.onnx", tmp_path / "m_onnx.safetensors"
    args = ["export", "--model", str(ckpt_path), "--onnx", str(onnx_out), "--embed", str(emb_out), "--exporter", "legacy", "--opset", "17"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert onnx_out.is_file() and emb_out.is_file()
    emb = load_checkpoint(emb_out)
    assert emb.onnx == onnx_out.read_bytes()
    assert emb.sha256 == load_checkpoint(ckpt_path).sha256

    again = runner.invoke(app, args)
    assert again.exit_code == 2
    assert "exists" in _err(again) and "--overwrite" in _err(again)
    assert "Traceback" not in again.output
    forced = runner.invoke(app, [*args, "--overwrite"])
    assert forced.exit_code == 0, forced.output


def test_cli_export_errors(ckpt_path: Path, tmp_path: Path) -> None:
    missing = runner.invoke(app, ["export", "--model", str(tmp_path / "nope.safetensors"), "--onnx", str(tmp_path / "x.onnx")])
    assert missing.exit_code == 1
    assert "error:" in _err(missing) and "does not exist" in _err(missing)
    assert not (tmp_path / "x.onnx").exists()

    pt = tmp_path / "model.pt"
    torch.save({"w": torch.zeros(2)}, pt)
    pickled = runner.invoke(app, ["export", "--model", str(pt), "--onnx", str(tmp_path / "x.onnx")])
    assert pickled.exit_code == 1 and "pickle" in _err(pickled)

    neither = runner.invoke(app, ["export", "--model", str(ckpt_path)])
    assert neither.exit_code == 2

    bad_opset = runner.invoke(app, ["export", "--model", str(ckpt_path), "--onnx", str(tmp_path / "y.onnx"), "--exporter", "dynamo", "--opset", "17"])
    assert bad_opset.exit_code == 2 and "opset" in _err(bad_opset)
