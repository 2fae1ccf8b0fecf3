"""Checkpoint format: round trip, hashing, tamper detection, safe refusal of pickles, atomic writes."""

from __future__ import annotations

import json
import pickle
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from model_factory import make_checkpoint
from safetensors import safe_open
from safetensors.torch import save_file

from ctphase.errors import CheckpointError, ConfigError
from ctphase.models import (
    Checkpoint,
    build_model,
    compute_sha256,
    create_model,
    default_checkpoint_path,
    load_checkpoint,
    new_checkpoint,
    save_checkpoint,
)
from ctphase.models import checkpoint as ckpt_mod
from ctphase.phases import PHASE_NAMES
from ctphase.preprocessing import Preprocessing

torch.set_num_threads(1)
ARCH = "resnet10t"


@pytest.fixture(scope="module")
def ckpt_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("ckpt") / "m.safetensors", arch=ARCH, size=32)


def _rewrite(src: Path, dst: Path, *, metadata_update: dict | None = None, tensor_update: dict | None = None) -> Path:
    """Copy a checkpoint with edited metadata/tensors, keeping the stored hashes (a 'tampered' file)."""
    with safe_open(str(src), framework="pt") as fh:
        meta = dict(fh.metadata())
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    meta.update(metadata_update or {})
    tensors.update(tensor_update or {})
    save_file(tensors, str(dst), metadata=meta)
    return dst


def test_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(1)
    model = create_model(ARCH)
    pre = Preprocessing(windows=((50, 400), (300, 1500), (-600, 1500)), size=48, channels=3, mean=0.5, std=0.25)
    ck = new_checkpoint(ARCH, pre, model, {"metrics": {"acc": 0.9}, "training": {"n_scans": 12}})
    path = save_checkpoint(ck, tmp_path / "a.safetensors")
    back = load_checkpoint(path)
    assert back.arch == ARCH
    assert back.preprocessing == pre
    assert back.class_names == PHASE_NAMES
    assert back.output_activation == "softmax"
    assert back.onnx is None
    assert back.sha256 == ck.sha256
    assert back.meta["metrics"] == {"acc": 0.9}
    assert back.meta["ctphase_version"] and back.meta["created"] and back.meta["format_version"] == 1
    assert back.state_dict.keys() == model.state_dict().keys()
    for key, value in model.state_dict().items():
        assert back.state_dict[key].dtype == value.dtype
        assert torch.equal(back.state_dict[key], value), key
    net = build_model(back)
    assert not net.training


def test_sha_covers_weights_and_config_not_meta(ckpt_path: Path) -> None:
    ck = load_checkpoint(ckpt_path)
    assert compute_sha256(ck.config, ck.state_dict) == ck.sha256
    assert replace(ck, meta={"other": 1}).sha256 == ck.sha256
    assert replace(ck, output_activation="sigmoid").sha256 != ck.sha256
    assert replace(ck, class_names=PHASE_NAMES[::-1]).sha256 != ck.sha256
    assert replace(ck, preprocessing=Preprocessing(size=64)).sha256 != ck.sha256
    state = dict(ck.state_dict)
    key = next(k for k, v in state.items() if v.is_floating_point())
    state[key] = state[key].clone()
    state[key].view(-1)[0] += 1e-3
    assert replace(ck, state_dict=state).sha256 != ck.sha256


def test_flipped_byte_is_detected(ckpt_path: Path, tmp_path: Path) -> None:
    data = bytearray(ckpt_path.read_bytes())
    data[-10] ^= 0xFF  # inside the last tensor's data
    bad = tmp_path / "flipped.safetensors"
    bad.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="sha256 mismatch"):
        load_checkpoint(bad)


def test_edited_weights_config_and_meta_are_detected(ckpt_path: Path, tmp_path: Path) -> None:
    with safe_open(str(ckpt_path), framework="pt") as fh:
        key = next(k for k in fh.keys() if fh.get_tensor(k).is_floating_point())
        t = fh.get_tensor(key).clone()
        config = json.loads(fh.metadata()["config"])
        meta = json.loads(fh.metadata()["meta"])
    t.view(-1)[0] += 1
    with pytest.raises(CheckpointError, match="sha256 mismatch"):
        load_checkpoint(_rewrite(ckpt_path, tmp_path / "w.safetensors", tensor_update={key: t}))
    config["preprocessing"]["size"] = 64
    with pytest.raises(CheckpointError, match="sha256 mismatch"):
        load_checkpoint(_rewrite(ckpt_path, tmp_path / "c.safetensors", metadata_update={"config": json.dumps(config)}))
    meta["metrics"] = {"acc": 1.0}
    with pytest.raises(CheckpointError, match="meta_sha256"):
        load_checkpoint(_rewrite(ckpt_path, tmp_path / "m.safetensors", metadata_update={"meta": json.dumps(meta)}))


def test_pickles_are_refused_without_unpickling(tmp_path: Path) -> None:
    pt = tmp_path / "model.pt"
    torch.save(create_model(ARCH).state_dict(), pt)
    with pytest.raises(CheckpointError, match="pickle"):
        load_checkpoint(pt)

    class Boom:
        def __reduce__(self):  # noqa: ANN204 - would run on unpickling
            return (pytest.fail, ("unpickled!",))

    raw = tmp_path / "raw.pkl"
    raw.write_bytes(pickle.dumps(Boom()))
    with pytest.raises(CheckpointError, match="pickle"):
        load_checkpoint(raw)


@pytest.mark.parametrize(
    ("content", "match"),
    [(b"", "empty or truncated"), (b"hello world, not a model at all", "not a ctphase checkpoint")],
)
def test_not_a_checkpoint(tmp_path: Path, content: bytes, match: str) -> None:
    path = tmp_path / "x.safetensors"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=match):
        load_checkpoint(path)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.safetensors")
    with pytest.raises(CheckpointError, match="is a directory"):
        load_checkpoint(tmp_path)


def test_plain_safetensors_is_not_a_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(3)}, str(path))
    with pytest.raises(CheckpointError, match="not a ctphase checkpoint"):
        load_checkpoint(path)


def test_truncated_file(ckpt_path: Path, tmp_path: Path) -> None:
    path = tmp_path / "cut.safetensors"
    path.write_bytes(ckpt_path.read_bytes()[:5000])
    with pytest.raises(CheckpointError):
        load_checkpoint(path)


def test_format_version(ckpt_path: Path, tmp_path: Path) -> None:
    path = _rewrite(ckpt_path, tmp_path / "v2.safetensors", metadata_update={"format_version": "2"})
    with pytest.raises(CheckpointError, match="format version '2'.*upgrade ctphase"):
        load_checkpoint(path)


def _with_config(src: Path, dst: Path, **changes: object) -> Path:
    """A file whose config is changed *and* re-hashed, so that only the content check can fail."""
    ck = load_checkpoint(src)
    config = {**ck.config, **changes}
    sha = compute_sha256(config, ck.state_dict)
    return _rewrite(src, dst, metadata_update={"config": json.dumps(config), "sha256": sha})


def test_bad_class_names_and_arch_in_file(ckpt_path: Path, tmp_path: Path) -> None:
    bad = _with_config(ckpt_path, tmp_path / "cls.safetensors", class_names=["a", "b", "c", "d"])
    with pytest.raises(CheckpointError, match="permutation"):
        load_checkpoint(bad)
    bad = _with_config(ckpt_path, tmp_path / "arch.safetensors", arch="vgg99")
    with pytest.raises(CheckpointError, match="architecture 'vgg99'.*upgrade ctphase"):
        load_checkpoint(bad)


def test_checkpoint_checks_its_arguments() -> None:
    state = create_model(ARCH).state_dict()
    with pytest.raises(ConfigError, match="permutation"):
        Checkpoint(ARCH, Preprocessing(), ("non_contrast", "arterial", "venous", "venous"), state)
    with pytest.raises(ConfigError, match="output_activation"):
        Checkpoint(ARCH, Preprocessing(), PHASE_NAMES, state, output_activation="relu")
    with pytest.raises(ConfigError, match="unknown architecture"):
        Checkpoint("nope", Preprocessing(), PHASE_NAMES, state)


def test_output_activation_from_meta() -> None:
    model = create_model(ARCH)
    ck = new_checkpoint(ARCH, Preprocessing(size=32), model, {"output_activation": "sigmoid"})
    assert ck.output_activation == "sigmoid"
    assert "output_activation" not in ck.meta
    with pytest.raises(ConfigError, match="disagrees"):
        new_checkpoint(ARCH, Preprocessing(size=32), model, {"output_activation": "sigmoid"}, output_activation="softmax")


def test_meta_must_be_json(tmp_path: Path) -> None:
    ck = new_checkpoint(ARCH, Preprocessing(size=32), create_model(ARCH), {"bad": object()})
    with pytest.raises(ConfigError, match="JSON"):
        save_checkpoint(ck, tmp_path / "x.safetensors")
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_keeps_old_file(ckpt_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "m.safetensors"
    target.write_bytes(ckpt_path.read_bytes())
    before = target.read_bytes()
    ck = load_checkpoint(ckpt_path)

    def half_write(tensors: dict, filename: str, metadata: dict | None = None) -> None:
        Path(filename).write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr("safetensors.torch.save_file", half_write)
    with pytest.raises(CheckpointError, match="disk full"):
        save_checkpoint(ck, target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]


def test_build_model_is_strict() -> None:
    ck = new_checkpoint(ARCH, Preprocessing(size=32), create_model(ARCH))
    state = dict(ck.state_dict)
    state.pop(next(iter(state)))
    with pytest.raises(CheckpointError, match="do not fit"):
        build_model(replace(ck, state_dict=state))


def test_embedded_onnx_must_match_weights(tmp_path: Path) -> None:
    path = make_checkpoint(tmp_path / "o.safetensors", arch=ARCH, with_onnx=True)
    ck = load_checkpoint(path)
    assert ck.onnx is not None and len(ck.onnx) > 1000
    again = save_checkpoint(ck, tmp_path / "o2.safetensors")
    assert load_checkpoint(again).onnx == ck.onnx
    other = new_checkpoint(ARCH, Preprocessing(size=32), create_model(ARCH))
    with pytest.raises(ConfigError, match="re-export"):
        save_checkpoint(replace(other, onnx=ck.onnx), tmp_path / "mixed.safetensors")


def test_default_checkpoint_path() -> None:
    path = default_checkpoint_path()
    assert path is None or (path.is_file() and path.name == "default.safetensors")
    assert ckpt_mod.FORMAT_VERSION == 1


def test_a_safetensors_header_length_starting_with_0x80_is_not_taken_for_a_pickle(tmp_path: Path) -> None:
    """The 8-byte header length is little-endian: its first byte is 0x80 for one header size in 256."""
    import struct

    import numpy as np
    from safetensors.numpy import save_file

    from ctphase.models.stfile import sniff

    path = tmp_path / "x.safetensors"
    for pad in range(300):
        save_file({"w": np.zeros(3, np.float32)}, str(path), metadata={"pad": "x" * pad})
        if path.read_bytes()[:1] == b"\x80":
            break
    head = path.read_bytes()[:9]
    assert head[:1] == b"\x80" and head[8:9] == b"{" and struct.unpack("<Q", head[:8])[0] % 256 == 0x80
    sniff(path)  # no error: a safetensors file, whatever its first byte
