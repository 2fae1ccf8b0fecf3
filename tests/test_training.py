"""Training: augmentation, datasets, the synthetic stream, the loop (checkpoints, resume, learnability)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from training_toys import toy_slice, toy_source, write_nifti_manifest, write_paper_csv

from ctphase.errors import ConfigError
from ctphase.preprocessing import PAPER_WINDOW, Preprocessing
from ctphase.training.datasets import (
    Augment,
    PaperSliceDataset,
    SeriesBlockSampler,
    SeriesSliceDataset,
    SynthSliceStream,
    read_8bit_as_hu,
)
from ctphase.training.loop import TrainConfig, lr_factor, train
from ctphase.training.manifest import read_manifest

ARCH = "resnet10t"  # small and quick on CPU


@pytest.fixture(autouse=True)
def _restore_torch_threads():
    """Training with ``threads=1`` sets a process-wide torch setting: restore it for other tests."""
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


# --------------------------------------------------------------------------- augmentation


def _lateral_image(size: int = 64) -> np.ndarray:
    img = np.full((size, size), -1000.0, np.float32)
    img[16:48, 4:20] = 300.0  # bright block on the image's left side
    return img


def test_augment_keeps_dtype_and_output_shape() -> None:
    rng = np.random.default_rng(0)
    aug = Augment(crop_prob=0.0)
    pp = Preprocessing(size=48)
    for _ in range(20):
        hu = _lateral_image()
        out = aug(hu, rng)
        assert out.shape == hu.shape and out.dtype == np.float32
        assert np.isfinite(out).all()
    aug = Augment(crop_prob=1.0)
    x = pp(aug(_lateral_image(), rng))
    assert x.shape == (1, 3, 48, 48) and x.dtype == np.float32


def _left_mass(img: np.ndarray) -> float:
    w = np.clip(img - 100.0, 0, None)
    cols = np.arange(img.shape[1])
    return float((w.sum(axis=0) * cols).sum() / w.sum())


def test_augment_does_not_flip_by_default() -> None:
    rng = np.random.default_rng(1)
    aug = Augment()
    assert not aug.hflip
    centers = [_left_mass(aug(_lateral_image(), rng)) for _ in range(60)]
    assert max(centers) < 32  # the block stays on the left half
    flipping = Augment(hflip=True)
    centers = [_left_mass(flipping(_lateral_image(), rng)) for _ in range(60)]
    assert max(centers) > 32 and min(centers) < 32


def test_augment_params_replay_and_validation() -> None:
    aug = Augment()
    p = aug.make_params(np.random.default_rng(5), (64, 64))
    a, b = aug.apply(_lateral_image(), p), aug.apply(_lateral_image(), p)
    np.testing.assert_array_equal(a, b)
    assert Augment.from_dict(aug.to_dict()) == aug
    with pytest.raises(ConfigError, match="crop range"):
        Augment(crop=(0.5, 1.5))


# --------------------------------------------------------------------------- datasets


def test_paper_8bit_images_round_trip_through_preprocessing(tmp_path: Path) -> None:
    import cv2

    img = np.arange(256, dtype=np.uint8).reshape(16, 16)
    cv2.imwrite(str(tmp_path / "a.png"), img)
    hu = read_8bit_as_hu(tmp_path / "a.png")
    assert hu.min() == pytest.approx(PAPER_WINDOW[0] - PAPER_WINDOW[1] / 2)
    x = Preprocessing(windows=(PAPER_WINDOW,), size=16, channels=3)(hu)
    np.testing.assert_allclose(x[0, 0], img / 255.0, atol=1e-6)


def test_paper_dataset_labels_and_shapes(tmp_path: Path) -> None:
    csv = write_paper_csv(tmp_path, n_scans=1, labels=(1, 2), n_slices=2)
    man = read_manifest(csv)
    ds = PaperSliceDataset(man.records, Preprocessing(size=24), Augment())
    x, y = ds[0]
    assert x.shape == (3, 24, 24) and x.dtype == torch.float32
    assert sorted({int(ds[i][1]) for i in range(len(ds))}) == [1, 2]  # canonical arterial, venous


def test_series_dataset_cache_and_block_sampler(tmp_path: Path) -> None:
    csv = write_nifti_manifest(tmp_path, n_patients=2, labels=(0, 1), n_slices=6)
    ds = SeriesSliceDataset(read_manifest(csv).records, Preprocessing(size=32), None, cache_bytes=1 << 20)
    assert len(ds) == 4 * 6
    x, y = ds[7]
    assert x.shape == (3, 32, 32) and y == 1  # second series: p0 arterial
    assert len(ds._cache.items) == 1
    sampler = SeriesBlockSampler(ds.sample_groups(), series_per_block=2, seed=0)
    order = list(sampler)
    assert sorted(order) == list(range(len(ds)))
    first_block = {ds.locate(i)[0] for i in order[:12]}
    assert len(first_block) == 2  # a block's slices come together
    sampler.set_epoch(1)
    assert list(sampler) != order


def test_synth_stream_splits_patients_between_workers() -> None:
    calls: list[tuple[int, list[int]]] = []

    def source(seed, size, patients, slices_per_series=16, phases=None):
        calls.append((seed, list(patients)))
        yield from toy_source(seed, size, patients, slices_per_series, phases)

    stream = SynthSliceStream(Preprocessing(size=24), range(10, 20), slices_per_series=2, source=source, shuffle_buffer=4)
    it0, it1 = stream._slices(0, 2), stream._slices(1, 2)
    next(it0), next(it1)
    (s0, p0), (s1, p1) = calls
    assert s0 == s1 == 0  # one population seed: patient i is the same anatomy everywhere
    assert set(p0).isdisjoint(p1) and sorted(p0 + p1) == list(range(10, 20))
    x, y = next(iter(stream))
    assert x.shape == (3, 24, 24) and x.dtype == torch.float32 and 0 <= y < 4
    # the stream continues across epochs instead of replaying the same slices
    first = [t for t, _ in itertools.islice(iter(stream), 6)]
    stream.set_epoch(1)
    second = [t for t, _ in itertools.islice(iter(stream), 6)]
    assert not any(torch.equal(a, b) for a in first for b in second)


def test_synth_stream_reuse_yields_each_slice_several_times() -> None:
    rendered = []

    def source(seed, size, patients, slices_per_series=16, phases=None):
        for item in toy_source(seed, size, patients, slices_per_series, phases):
            rendered.append(item)
            yield item

    stream = SynthSliceStream(Preprocessing(size=24), range(4), slices_per_series=2, source=source, shuffle_buffer=8, reuse=3)
    out = list(itertools.islice(iter(stream), 60))
    assert len(out) == 60 and len(rendered) <= 60 // 3 + 8 + 1


def test_synth_stream_with_dataloader_workers_yields_distinct_slices() -> None:
    stream = SynthSliceStream(Preprocessing(size=24), range(0, 8), slices_per_series=2, source=toy_source, shuffle_buffer=8)
    loader = torch.utils.data.DataLoader(stream, batch_size=8, num_workers=2)
    batches = []
    for i, (x, _) in enumerate(loader):
        batches.append(x)
        if i == 3:
            break
    flat = torch.cat(batches).reshape(32, -1)
    assert len({tuple(r.tolist()) for r in flat}) == 32


# --------------------------------------------------------------------------- loop


def test_lr_schedule_warmup_then_cosine() -> None:
    f = [lr_factor(s, 100, 10, 0.01) for s in range(100)]
    assert f[0] == pytest.approx(0.1) and f[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(f[10:], f[11:]))
    assert f[-1] == pytest.approx(0.01, abs=0.01)


def test_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="overlap"):
        TrainConfig(train_patients=(0, 100), val_patients=(50, 60)).check()
    with pytest.raises(ConfigError, match="loss"):
        TrainConfig(loss="mse").check()  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="unknown architecture"):
        TrainConfig(arch="vgg99").check()
    with pytest.raises(ConfigError, match="neither 'synth' nor an existing manifest"):
        TrainConfig(train=str(tmp_path / "missing.csv")).check()


@pytest.fixture(scope="module")
def toy_manifests(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("toy")
    train_csv = write_nifti_manifest(root / "train", n_patients=4, labels=(0, 1), n_slices=8, seed=0)
    val_csv = write_nifti_manifest(root / "val", n_patients=2, labels=(0, 1), n_slices=8, seed=1)
    return train_csv, val_csv


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


def test_train_cli_in_process(tmp_path: Path, toy_manifests: tuple[Path, Path]) -> None:
    from typer.testing import CliRunner

    from ctphase.cli import app

    train_csv, val_csv = toy_manifests
    args = ["train", "--train", str(train_csv), "--val", str(val_csv), "--arch", ARCH, "--size", "32", "--epochs", "1",
            "--steps-per-epoch", "1", "--batch-size", "4", "--workers", "0", "--threads", "1", "--out", str(tmp_path / "r"), "--loss", "ce",
            "--window", "50,400", "--window", "500,2000"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    cfg = json.loads((tmp_path / "r" / "config.json").read_text())
    assert cfg["windows"] == [[50.0, 400.0], [500.0, 2000.0]] and cfg["loss"] == "ce"
    result = CliRunner().invoke(app, ["train", "--train", "synth", "--out", str(tmp_path / "x"), "--train-patients", "10", "--val-patients", "5:20"])
    assert result.exit_code == 2 and "overlap" in result.output
