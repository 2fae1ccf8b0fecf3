"""Training the subphase and seconds heads: loss, targets of the synthetic stream, warm start, refusals."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from ctphase.errors import ConfigError
from ctphase.models.heads import ENHANCEMENT_ORGANS, Heads
from ctphase.phases import SUBPHASE_NAMES, SUBPHASE_TO_PHASE
from ctphase.preprocessing import Preprocessing
from ctphase.training.config import TrainConfig
from ctphase.training.datasets import SynthSliceStream
from ctphase.training.heads import HeadsLoss, kept_rows, widen_state
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


def test_organ_term_counts_only_the_organs_a_slice_shows() -> None:
    torch.manual_seed(0)
    heads = Heads(organs=("aorta", "liver"))
    out = torch.randn(3, 4 + heads.width)
    y, sub, seconds = torch.tensor([0, 2, 3]), torch.tensor([0, 3, 6]), torch.tensor([float("nan"), 70.0, 240.0])
    loss = HeadsLoss(PhaseLoss("ce", 4), 4, heads, weight=0.5)
    organ_hu = torch.tensor([[40.0, float("nan")], [float("nan"), float("nan")], [180.0, 110.0]])
    base = loss(out, y, sub, seconds)  # without organ targets: phase, subphase and seconds only
    assert torch.allclose(base, HeadsLoss(PhaseLoss("ce", 4), 4, Heads(), 0.5)(torch.cat([out[:, :12], out[:, -2:]], 1), y, sub, seconds))
    pred = out[:, 12:14]
    mse = ((pred[0, 0] - (-0.6)) ** 2 + (pred[2, 0] - 0.8) ** 2 + (pred[2, 1] - 0.1) ** 2) / 3
    assert torch.allclose(loss(out, y, sub, seconds, organ_hu), base + 0.5 * mse)
    nothing = torch.full((3, 2), float("nan"))  # no organ in any slice: no term, no NaN
    assert torch.allclose(loss(out, y, sub, seconds, nothing), base)


def test_kept_rows_place_older_heads_in_a_wider_layer() -> None:
    wide = Heads(organs=ENHANCEMENT_ORGANS)
    assert kept_rows(None, Heads(), 4) == [0, 1, 2, 3]
    rows = kept_rows(Heads(), wide, 4)
    assert rows == list(range(12)) + [4 + wide.width - 2, 4 + wide.width - 1] and len(rows) == 14
    theirs = {"fc.bias": torch.arange(14, dtype=torch.float32)}
    got = widen_state(theirs, {"fc.bias": torch.full((4 + wide.width,), -1.0)}, rows)["fc.bias"]
    assert got[:12].tolist() == list(range(12)) and got[-2:].tolist() == [12.0, 13.0]
    assert bool((got[12:-2] == -1).all()) and len(got) == 14 + len(ENHANCEMENT_ORGANS)  # the organ rows stay fresh


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


def test_synth_stream_yields_the_organs_each_slice_shows() -> None:
    from ctphase.synth.physiology import tissue_tables
    from ctphase.synth.stream import draw_series, iter_training_slices

    organs = ("aorta", "liver", "bladder")
    items = list(itertools.islice(iter_training_slices(0, 64, range(3), slices_per_series=6, targets=True, organs=organs), 18))
    assert all(len(it) == 6 and it[5].shape == (3,) for it in items)
    hu = np.stack([it[5] for it in items])
    assert np.isfinite(hu).any() and np.isnan(hu).any()  # organs present in some slices, absent from others
    # a patient's values are its series' tissue table (the stream's first pass draws each patient once)
    for hu_slice, label, patient, *_, organ_hu in items:
        from ctphase.phases import PHASE_NAMES
        from ctphase.synth.tissues import Tissue

        p, series, _ = draw_series(0, patient, PHASE_NAMES[label])
        table = tissue_tables(p, series)[0]
        for j, name in enumerate(organs):
            if np.isfinite(organ_hu[j]):
                assert organ_hu[j] == pytest.approx(table[Tissue[name.upper()]])
    stream = SynthSliceStream(Preprocessing(size=32), range(0, 4), slices_per_series=2, shuffle_buffer=4, heads=True,
                              organs=ENHANCEMENT_ORGANS)
    x, label, sub, seconds, organ_hu = next(iter(stream))
    assert organ_hu.shape == (len(ENHANCEMENT_ORGANS),) and x.shape == (3, 32, 32)
    with pytest.raises(ConfigError, match="heads=True"):
        SynthSliceStream(Preprocessing(size=32), range(0, 4), organs=("aorta",))
    with pytest.raises(ConfigError, match="unknown organ"):
        next(iter_training_slices(0, 32, range(2), targets=True, organs=("appendix",)))


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

    # the organ head added to that checkpoint's heads: its rows kept, the organ rows fresh
    organ_run = train(TrainConfig(out=str(tmp_path / "organs"), lr=1e-9, init=str(run / "last.safetensors"), heads=True,
                                  organ_head=True, **common))
    wide = load_checkpoint(organ_run / "last.safetensors")
    assert wide.heads == Heads(organs=ENHANCEMENT_ORGANS) and wide.num_outputs == 14 + len(ENHANCEMENT_ORGANS)
    w_child, w_wide = torch.as_tensor(child.state_dict[fc]), torch.as_tensor(wide.state_dict[fc])
    assert torch.allclose(w_wide[:12], w_child[:12], atol=1e-5) and torch.allclose(w_wide[-2:], w_child[-2:], atol=1e-5)
    with pytest.raises(ConfigError, match="add --organ-head"):
        train(TrainConfig(out=str(tmp_path / "narrow"), init=str(organ_run / "last.safetensors"), heads=True, **common))


def test_heads_train_on_the_synthetic_stream_only(tmp_path: Path, toy_manifests: tuple[Path, Path]) -> None:
    train_csv, _ = toy_manifests
    with pytest.raises(ConfigError, match="synthetic stream only"):
        TrainConfig(train=str(train_csv), val=None, heads=True).check()
    with pytest.raises(ConfigError, match="add --heads"):
        TrainConfig(organ_head=True).check()
    with pytest.raises(ConfigError, match="heads_weight"):
        TrainConfig(heads=True, heads_weight=0.0).check()
    assert np.isfinite(TrainConfig(heads=True).heads_weight)
