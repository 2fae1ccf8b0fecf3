"""Training the subphase and seconds heads: loss, targets of the synthetic stream, warm start, refusals."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from ctphase.errors import ConfigError
from ctphase.models.heads import Heads
from ctphase.phases import SUBPHASE_NAMES, SUBPHASE_TO_PHASE
from ctphase.preprocessing import Preprocessing
from ctphase.training.config import TrainConfig
from ctphase.training.datasets import SynthSliceStream
from ctphase.training.heads import HeadsLoss, widen_state
from ctphase.training.loop import PhaseLoss, train

pytestmark = pytest.mark.usefixtures("restore_torch_threads")


def test_heads_loss_adds_subphase_and_seconds_terms() -> None:
    torch.manual_seed(0)
    out = torch.randn(3, 14)
    y, sub = torch.tensor([0, 2, 3]), torch.tensor([0, 3, 6])
    seconds = torch.tensor([float("nan"), 70.0, 240.0])
    phase = PhaseLoss("ce", 4)
    loss = HeadsLoss(phase, 4, Heads(), weight=0.5)
    assert torch.allclose(loss(out, y), phase(out[:, :4], y))  # no targets: the phase loss alone
    mu, lv = out[1:, -2], out[1:, -1]
    nll = (0.5 * (lv + (torch.log(seconds[1:]) - mu) ** 2 * torch.exp(-lv))).mean()
    expected = phase(out[:, :4], y) + 0.5 * (torch.nn.functional.cross_entropy(out[:, 4:12], sub) + nll)
    assert torch.allclose(loss(out, y, sub, seconds), expected)
    all_plain = loss(out, y, sub, torch.full((3,), float("nan")))  # non-contrast only: no seconds term, no NaN
    assert torch.isfinite(all_plain)


def test_widen_state_keeps_the_phase_rows() -> None:
    theirs = {"fc.weight": torch.ones(4, 5), "fc.bias": torch.ones(4), "conv.weight": torch.full((2, 2), 3.0)}
    ours = {"fc.weight": torch.zeros(14, 5), "fc.bias": torch.zeros(14), "conv.weight": torch.zeros(2, 2)}
    wide = widen_state(theirs, ours, 4)
    assert wide["fc.weight"].shape == (14, 5) and bool((wide["fc.weight"][:4] == 1).all()) and bool((wide["fc.weight"][4:] == 0).all())
    assert bool((wide["fc.bias"][:4] == 1).all()) and bool((wide["conv.weight"] == 3).all())


def test_synth_stream_yields_consistent_targets() -> None:
    stream = SynthSliceStream(Preprocessing(size=32), range(0, 6), slices_per_series=2, shuffle_buffer=4, heads=True)
    items = list(itertools.islice(iter(stream), 24))
    assert all(len(it) == 4 for it in items)
    for x, label, sub, seconds in items:
        assert x.shape == (3, 32, 32)
        assert int(SUBPHASE_TO_PHASE[SUBPHASE_NAMES[sub]]) == label  # the subphase belongs to the label's phase
        assert math.isnan(seconds) == (label == 0)
        if label:
            assert 5.0 < seconds < 1200.0
    assert len({label for _, label, _, _ in items}) >= 3  # several phases, so both target kinds were seen


def test_train_heads_from_a_checkpoint_without_them(tmp_path: Path) -> None:
    from model_factory import make_checkpoint

    from ctphase.models import load_checkpoint

    parent_path = make_checkpoint(tmp_path / "plain.safetensors", arch="resnet10t", size=32, output_activation="sigmoid")
    common = dict(train="synth", val="synth", arch="resnet10t", size=32, batch_size=4, steps_per_epoch=2, epochs=1,
                  train_patients=(0, 4), val_patients=(100000, 100001), val_slices_per_series=2, slices_per_series=2,
                  num_workers=0, threads=1, warmup_epochs=0)
    run = train(TrainConfig(out=str(tmp_path / "run"), lr=1e-9, init=str(parent_path), heads=True, **common))
    child, parent = load_checkpoint(run / "last.safetensors"), load_checkpoint(parent_path)
    assert child.heads == Heads() and child.num_outputs == 14
    assert child.meta["recipe"]["heads_weight"] == 0.5
    fc = "fc.weight"
    assert torch.allclose(torch.as_tensor(child.state_dict[fc])[:4], torch.as_tensor(parent.state_dict[fc]), atol=1e-5)
    # the seconds head starts at ln 90 s
    assert float(child.state_dict["fc.bias"][-2]) == pytest.approx(math.log(90.0), abs=1e-3)

    with pytest.raises(ConfigError, match="train with --heads"):
        train(TrainConfig(out=str(tmp_path / "again"), init=str(run / "last.safetensors"), **common))


def test_heads_train_on_the_synthetic_stream_only(tmp_path: Path, toy_manifests: tuple[Path, Path]) -> None:
    train_csv, _ = toy_manifests
    with pytest.raises(ConfigError, match="synthetic stream only"):
        TrainConfig(train=str(train_csv), val=None, heads=True).check()
    with pytest.raises(ConfigError, match="heads_weight"):
        TrainConfig(heads=True, heads_weight=0.0).check()
    assert np.isfinite(TrainConfig(heads=True).heads_weight)
