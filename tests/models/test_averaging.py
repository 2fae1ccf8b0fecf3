"""Uniform weight averaging of checkpoints of one recipe (model soup)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from model_factory import make_checkpoint

from ctphase.errors import ConfigError
from ctphase.models import average_checkpoints, build_model, load_checkpoint, save_checkpoint

ARCH = "resnet10t"
START = {"recipe": {"init": {"model_sha256": "a" * 64, "path": "start.safetensors"}}}


def _ckpt(tmp_path: Path, seed: int, **kw):  # noqa: ANN202
    return load_checkpoint(make_checkpoint(tmp_path / f"m{seed}.safetensors", arch=ARCH, size=32, seed=seed, **kw))


def _np(value) -> np.ndarray:  # noqa: ANN001
    return value.numpy() if isinstance(value, torch.Tensor) else np.asarray(value)


def test_average_is_the_mean_of_the_weights(tmp_path: Path) -> None:
    a, b, c = (_ckpt(tmp_path, s, meta=START) for s in (0, 1, 2))
    with torch.no_grad():
        b.state_dict["fc.bias"].add_(3.0)  # make one tensor easy to check by hand
        b._sha256.clear()
    soup = average_checkpoints([a, b, c], names=["a", "b", "c"])
    for key, value in soup.state_dict.items():
        parts = [_np(ck.state_dict[key]) for ck in (a, b, c)]
        assert value.dtype == parts[0].dtype and value.shape == parts[0].shape, key
        if np.issubdtype(value.dtype, np.floating):
            np.testing.assert_allclose(value, np.mean(parts, axis=0), rtol=1e-6, atol=1e-7, err_msg=key)
        else:
            assert value == max(parts), key
    np.testing.assert_allclose(soup.state_dict["fc.bias"], (_np(a.state_dict["fc.bias"]) + _np(b.state_dict["fc.bias"])
                                                            + _np(c.state_dict["fc.bias"])) / 3)
    assert soup.config == a.config and soup.onnx is None
    assert [e["name"] for e in soup.meta["averaged_from"]] == ["a", "b", "c"]
    assert [e["sha256"] for e in soup.meta["averaged_from"]] == [a.sha256, b.sha256, c.sha256]
    assert soup.meta["init_sha256"] == "a" * 64
    assert len({soup.sha256, a.sha256, b.sha256, c.sha256}) == 4

    # the soup is a checkpoint like any other: it saves, reloads, builds and runs
    path = save_checkpoint(soup, tmp_path / "soup.safetensors")
    again = load_checkpoint(path)
    assert again.sha256 == soup.sha256
    out = build_model(again)(torch.zeros(2, 3, 32, 32))
    assert out.shape == (2, 4) and torch.isfinite(out).all()


def test_a_checkpoint_averaged_with_itself_keeps_its_identity(tmp_path: Path) -> None:
    a = _ckpt(tmp_path, 0)
    soup = average_checkpoints([a, a])
    assert soup.sha256 == a.sha256  # same weights and configuration, new meta
    assert "init_sha256" not in soup.meta  # training recorded no start


def test_averaging_refuses_what_cannot_be_averaged(tmp_path: Path) -> None:
    a = _ckpt(tmp_path, 0, meta=START)
    with pytest.raises(ConfigError, match="at least two checkpoints, got 1"):
        average_checkpoints([a])
    with pytest.raises(ConfigError, match="got 1 names for 2 checkpoints"):
        average_checkpoints([a, a], names=["only"])
    other_size = load_checkpoint(make_checkpoint(tmp_path / "s.safetensors", arch=ARCH, size=48, seed=1))
    with pytest.raises(ConfigError, match="big.safetensors has another configuration than first"):
        average_checkpoints([a, other_size], names=["first", "big.safetensors"])
    other_start = _ckpt(tmp_path, 3, meta={"recipe": {"init": {"model_sha256": "b" * 64}}})
    with pytest.raises(ConfigError, match="different starting models"):
        average_checkpoints([a, other_start])
    heads = load_checkpoint(make_checkpoint(tmp_path / "h.safetensors", arch=ARCH, size=32, seed=4, heads=True))
    with pytest.raises(ConfigError, match="another configuration"):
        average_checkpoints([a, heads])


def test_cli_average(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from ctphase.cli import app

    runner = CliRunner()
    paths = [make_checkpoint(tmp_path / f"r{s}.safetensors", arch=ARCH, size=32, seed=s, meta=START) for s in (0, 1)]
    out = tmp_path / "soups" / "soup.safetensors"
    result = runner.invoke(app, ["average", *map(str, paths), "--out", str(out)])
    assert result.exit_code == 0, result.output
    soup = load_checkpoint(out)
    assert "wrote" in result.stdout and soup.sha256[:12] in result.stdout
    assert [e["name"] for e in soup.meta["averaged_from"]] == [str(p) for p in paths]

    again = runner.invoke(app, ["average", *map(str, paths), "--out", str(out)])
    assert again.exit_code == 2 and "--overwrite" in " ".join(again.stderr.split())
    assert load_checkpoint(out).sha256 == soup.sha256

    big = make_checkpoint(tmp_path / "big.safetensors", arch=ARCH, size=48, seed=2)
    mixed = runner.invoke(app, ["average", str(paths[0]), str(big), "--out", str(tmp_path / "x.safetensors")])
    assert mixed.exit_code == 2 and "big.safetensors has another configuration" in " ".join(mixed.stderr.split())
    missing = runner.invoke(app, ["average", str(paths[0]), str(tmp_path / "nope.safetensors"), "--out", str(tmp_path / "y.safetensors")])
    assert missing.exit_code == 1 and "does not exist" in " ".join(missing.stderr.split())
    for r in (mixed, missing):
        assert "Traceback" not in r.output
    assert not (tmp_path / "x.safetensors").exists() and not (tmp_path / "y.safetensors").exists()
