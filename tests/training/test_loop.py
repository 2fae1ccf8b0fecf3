"""The training loop: schedule, configuration errors, checkpoints and resume, learnability."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from training_toys import toy_slice, write_paper_csv

from ctphase.errors import ConfigError
from ctphase.training.config import TrainConfig
from ctphase.training.loop import PhaseLoss, lr_factor, train, train_step

ARCH = "resnet10t"  # small and quick on CPU


pytestmark = pytest.mark.usefixtures("restore_torch_threads")


def test_lr_schedule_warmup_then_cosine() -> None:
    f = [lr_factor(s, 100, 10, 0.01) for s in range(100)]
    assert f[0] == pytest.approx(0.1) and f[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(f[10:], f[11:]))
    assert f[-1] == pytest.approx(0.01, abs=0.01)


def test_train_step_clips_the_gradient_norm_and_learns() -> None:
    torch.manual_seed(0)
    x, y = torch.randn(16, 8) * 50, torch.arange(16) % 4  # large inputs: large gradients

    def run(grad_clip: float | None) -> tuple[float, list[float]]:
        torch.manual_seed(1)
        model = torch.nn.Linear(8, 4)
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        scaler = torch.amp.GradScaler("cuda", enabled=False)
        losses = [float(train_step(model, opt, scaler, PhaseLoss("ce", 4), x, y, [], amp_dtype=None,
                                   grad_clip=grad_clip)) for _ in range(30)]
        norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in model.parameters()]))
        return float(norm), losses

    clipped, losses = run(0.5)
    free, _ = run(None)
    assert clipped <= 0.5 + 1e-4 < free  # the step's gradients are left clipped
    assert losses[-1] < 0.5 * losses[0]


def test_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="overlap"):
        TrainConfig(train_patients=(0, 100), val_patients=(50, 60)).check()
    with pytest.raises(ConfigError, match="loss"):
        TrainConfig(loss="mse").check()  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="unknown architecture"):
        TrainConfig(arch="vgg99").check()
    with pytest.raises(ConfigError, match="neither 'synth' nor an existing manifest"):
        TrainConfig(train=str(tmp_path / "missing.csv")).check()
    with pytest.raises(ConfigError, match="shuffle_buffer must be >= 1"):
        TrainConfig(shuffle_buffer=0).check()


def test_train_writes_checkpoints_and_resumes(tmp_path: Path, toy_manifests: tuple[Path, Path]) -> None:
    from ctphase.inference import Classifier
    from ctphase.models import load_checkpoint

    train_csv, val_csv = toy_manifests
    run = tmp_path / "run"
    cfg = TrainConfig(
        train=str(train_csv), val=str(val_csv), out=str(run), arch=ARCH, size=32, epochs=2, batch_size=8,
        steps_per_epoch=2, num_workers=0, val_slices_per_series=8, lr=2e-3, threads=1,
    )
    events: list[str] = []
    assert train(cfg, on_event=lambda kind, data: events.append(kind)) == run
    assert {"start", "step", "validate", "epoch"} <= set(events)
    for name in ("last.safetensors", "best.safetensors", "last_state.pt", "config.json", "metrics.json"):
        assert (run / name).is_file(), name
    metrics = json.loads((run / "metrics.json").read_text())
    assert [r["epoch"] for r in metrics["epochs"]] == [1, 2]
    row = metrics["epochs"][0]
    for key in ("train_loss", "val_slice_acc", "val_slice_f1", "val_scan_f1", "lr", "seconds", "img_per_s"):
        assert key in row
    assert json.loads((run / "config.json").read_text())["arch"] == ARCH
    state = torch.load(run / "last_state.pt", weights_only=True)
    assert state["epoch"] == 1

    ckpt = load_checkpoint(run / "last.safetensors")
    assert ckpt.output_activation == "sigmoid" and ckpt.arch == ARCH
    assert ckpt.meta["data"]["slices_seen"] == 2 * 2 * 8 and ckpt.meta["recipe"]["loss"] == "bce"

    with pytest.raises(ConfigError, match="already holds a training run"):
        train(cfg)
    resumed = TrainConfig(resume=str(run), epochs=3, num_workers=0, threads=1)
    train(resumed)
    metrics = json.loads((run / "metrics.json").read_text())
    assert [r["epoch"] for r in metrics["epochs"]] == [1, 2, 3]
    assert load_checkpoint(run / "last.safetensors").meta["epoch"] == 3
    assert torch.load(run / "last_state.pt", weights_only=True)["slices_seen"] == 3 * 2 * 8

    clf = Classifier(run / "best.safetensors", device="cpu", engine="torch", threads=1)
    probs, _, _ = clf.predict_hu(np.stack([toy_slice(0, 40, np.random.default_rng(0)) for _ in range(3)]))
    assert probs.shape == (3, 4) and np.allclose(probs.sum(axis=1), 1, atol=1e-4)


def test_loss_decreases_on_separable_toy_data(tmp_path: Path) -> None:
    csv = write_paper_csv(tmp_path / "data", n_scans=6, labels=(0, 1), n_slices=8)
    run = tmp_path / "run"
    cfg = TrainConfig(
        train=str(csv), val=None, val_fraction=0.34, out=str(run), arch=ARCH, size=32, epochs=4, batch_size=16,
        num_workers=0, lr=3e-3, warmup_epochs=0.5, loss="ce", augment=False, threads=1,
    )
    train(cfg)
    rows = json.loads((run / "metrics.json").read_text())["epochs"]
    losses = [r["train_loss"] for r in rows]
    assert losses[-1] < 0.6 * losses[0], losses
    assert rows[-1]["val_scans"] == 4  # 2 of 6 studies, 2 scans each


def test_init_starts_from_a_checkpoint_and_rejects_a_mismatch(tmp_path: Path, toy_manifests: tuple[Path, Path]) -> None:
    from ctphase.models import load_checkpoint

    train_csv, val_csv = toy_manifests
    common = dict(train=str(train_csv), val=str(val_csv), arch=ARCH, size=32, batch_size=8, steps_per_epoch=1,
                  num_workers=0, val_slices_per_series=8, threads=1)
    first = tmp_path / "first"
    train(TrainConfig(out=str(first), epochs=1, **common))
    parent = load_checkpoint(first / "last.safetensors")

    tuned = tmp_path / "tuned"
    train(TrainConfig(out=str(tuned), epochs=1, lr=1e-9, warmup_epochs=0, init=str(first / "last.safetensors"), **common))
    child = load_checkpoint(tuned / "last.safetensors")
    assert child.meta["recipe"]["from_scratch"] is False
    assert child.meta["recipe"]["init"]["model_sha256"] == parent.sha256
    # lr 1e-9: the weights barely move from the parent's (a random start would be far away)
    for name, w in parent.state_dict.items():
        if w.dtype.is_floating_point and "running" not in name:
            assert torch.allclose(child.state_dict[name], w, atol=1e-5), name

    # another input size: the same weights, fine-tuned at the new size (global pooling makes them fit)
    larger = tmp_path / "larger"
    train(TrainConfig(out=str(larger), epochs=1, lr=1e-9, warmup_epochs=0, init=str(first / "last.safetensors"),
                      **{**common, "size": 48}))
    grown = load_checkpoint(larger / "last.safetensors")
    assert grown.preprocessing.size == 48 and grown.meta["recipe"]["init"]["model_sha256"] == parent.sha256
    with pytest.raises(ConfigError, match="must match"):
        train(TrainConfig(out=str(tmp_path / "bad"), epochs=1, init=str(first / "last.safetensors"),
                          **{**common, "windows": [(50, 400), (100, 200)]}))


def test_broken_manifest_series_fails_before_training(tmp_path: Path, toy_manifests: tuple[Path, Path]) -> None:
    """An unreadable series stops the run before the first step, naming its manifest line and file."""
    from ctphase.errors import InputError

    train_csv, val_csv = toy_manifests
    broken = tmp_path / "broken.nii.gz"
    broken.write_bytes(b"not a nifti volume at all")
    lines = train_csv.read_text().splitlines()
    rows = [lines[0], *[ln.replace(ln.split(",")[0], str(Path(train_csv.parent, ln.split(",")[0]).resolve()), 1)
                        for ln in lines[1:]]]
    bad_row = rows[1].replace(rows[1].split(",")[0], str(broken), 1)
    manifest = tmp_path / "train.csv"
    manifest.write_text("\n".join([*rows, bad_row]) + "\n")
    events: list[str] = []
    cfg = TrainConfig(train=str(manifest), val=str(val_csv), out=str(tmp_path / "run"), arch=ARCH, size=32, epochs=1,
                      batch_size=8, steps_per_epoch=1, num_workers=0, threads=1)
    with pytest.raises(InputError) as info:
        train(cfg, on_event=lambda kind, data: events.append(kind))
    assert f"manifest line {len(rows) + 1}" in str(info.value) and "broken.nii.gz" in str(info.value)
    assert "step" not in events and not (tmp_path / "run" / "last.safetensors").exists()

    # two broken series: both are named in one error, each with its line
    (tmp_path / "broken2.nii.gz").write_bytes(b"\x1f\x8b truncated")
    manifest.write_text("\n".join([*rows, bad_row, bad_row.replace("broken.nii.gz", "broken2.nii.gz")]) + "\n")
    with pytest.raises(InputError) as info:
        train(cfg)
    msg = str(info.value)
    assert "2 series cannot be loaded" in msg, msg
    assert f"broken.nii.gz (manifest line {len(rows) + 1})" in msg
    assert f"broken2.nii.gz (manifest line {len(rows) + 2})" in msg


def test_l2sp_pulls_the_weights_back_towards_the_init(tmp_path: Path, toy_manifests: tuple[Path, Path]) -> None:
    """One step at lr 1e-2: l2sp 0 moves the weights, l2sp 50 lands half way back, l2sp 100 lands on the parent."""
    from ctphase.errors import CheckpointError
    from ctphase.models import load_checkpoint

    train_csv, val_csv = toy_manifests
    common = dict(train=str(train_csv), val=str(val_csv), arch=ARCH, size=32, batch_size=8, steps_per_epoch=1,
                  num_workers=0, val_slices_per_series=8, threads=1, epochs=1)
    first = tmp_path / "first"
    train(TrainConfig(out=str(first), **common))
    parent_path = tmp_path / "parent.safetensors"
    parent_path.write_bytes((first / "last.safetensors").read_bytes())
    parent = load_checkpoint(parent_path).state_dict

    def tuned(name: str, l2sp: float) -> dict[str, torch.Tensor]:
        train(TrainConfig(out=str(tmp_path / name), lr=1e-2, warmup_epochs=0, init=str(parent_path), l2sp=l2sp, **common))
        ckpt = load_checkpoint(tmp_path / name / "last.safetensors")
        assert ckpt.meta["recipe"].get("l2sp") == (l2sp or None)
        return ckpt.state_dict

    free, half, back = tuned("free", 0.0), tuned("half", 50.0), tuned("back", 100.0)
    weights = [k for k, w in parent.items() if w.dtype.is_floating_point and "running" not in k and "num_batches" not in k]
    assert max(float((free[k] - parent[k]).abs().max()) for k in weights) > 1e-3  # the step moved them
    for k in weights:
        assert torch.allclose(back[k], parent[k], atol=1e-6), k
        assert torch.allclose(half[k], (free[k] + parent[k]) / 2, atol=1e-5), k

    # resuming an L2-SP run needs its starting checkpoint again: the same one, and says so when it is gone
    train(TrainConfig(resume=str(tmp_path / "back"), epochs=2, num_workers=0, threads=1))
    assert load_checkpoint(tmp_path / "back" / "last.safetensors").meta["epoch"] == 2
    parent_path.write_bytes((tmp_path / "free" / "last.safetensors").read_bytes())
    with pytest.raises(CheckpointError, match="not the one the run started from"):
        train(TrainConfig(resume=str(tmp_path / "half"), epochs=2, num_workers=0, threads=1))
    parent_path.unlink()
    with pytest.raises(CheckpointError, match="parent.safetensors"):
        train(TrainConfig(resume=str(tmp_path / "half"), epochs=2, num_workers=0, threads=1))
    with pytest.raises(ConfigError, match="give init"):
        TrainConfig(l2sp=1.0).check()
    with pytest.raises(ConfigError, match="must be <= 1"):
        TrainConfig(l2sp=2000.0, lr=1e-3, init=str(first / "last.safetensors")).check()
