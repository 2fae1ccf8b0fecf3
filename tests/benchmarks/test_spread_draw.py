"""benchmarks/spread_draw.py: both draws on the same slice probabilities, and the synthetic table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from benchmark_scripts import BENCHMARKS, load

from ctphase.inference import Classifier
from ctphase.sampling import DEFAULT_MIN_SLICES, DEFAULT_SAMPLE_RATE, sample_slices, series_seed
from ctphase.voting import majority_vote

sd = load("spread_draw")


def _stack() -> np.ndarray:
    """60 slices voting arterial, but the top 18 (one end of the stack) voting venous."""
    probs = np.tile([0.1, 0.7, 0.1, 0.1], (60, 1))
    probs[:18] = [0.1, 0.1, 0.7, 0.1]
    return probs


def test_each_kind_votes_sample_slices_draw_and_spread_steadies_the_share() -> None:
    probs = _stack()
    out = sd.vote_draws(probs, "1.2.3", draws=200)
    for kind, spread in sd.KINDS.items():
        labels, fractions = out[kind]
        assert labels.shape == (200,) and fractions.shape == (200, 4)
        idx = sample_slices(60, DEFAULT_SAMPLE_RATE, DEFAULT_MIN_SLICES, series_seed(7, "1.2.3"), spread=spread)
        np.testing.assert_allclose(fractions[7], majority_vote(probs[idx]).fractions)
    uniform, spread = out["uniform"][1][:, 1], out["spread"][1][:, 1]
    # 18 of 60 slices venous: a draw of 18 holds 5.4 of them on average, uniform +- 1.7, spread +- 0.5
    assert abs(uniform.mean() - 0.7) < 0.03 and abs(spread.mean() - 0.7) < 0.03
    assert spread.std() < 0.5 * uniform.std()


@pytest.mark.parametrize("render", ["ordered_stacks", "evaluate_scans"])
def test_synthetic_table_pairs_both_draws_on_the_same_series(tmp_path: Path, render: str) -> None:
    from model_factory import make_checkpoint

    clf = Classifier(make_checkpoint(tmp_path / "m.safetensors", arch="resnet10t", size=32), engine="torch", threads=1)
    probs, truth, ids = getattr(sd, render)(clf, range(500_000, 500_002), 10)
    assert [p.shape for p in probs] == [(10, 4)] * 8 and truth == [0, 1, 2, 3] * 2 and len(set(ids)) == 8
    out = sd.synthetic(probs, truth, ids, draws=3, n_resamples=40)
    assert out["scans"] == 8 and out["draws"] == 3
    for kind in sd.KINDS:
        r = out[kind]
        assert r["macro_f1_min"] - 1e-9 <= r["macro_f1"] <= r["macro_f1_max"] + 1e-9 and 0 <= r["wrong"] <= 1 and len(r["f1"]) == 4
    d = out["difference"]
    assert d["macro_f1"] == pytest.approx(out["spread"]["macro_f1"] - out["uniform"]["macro_f1"])
    assert d["low"] <= d["high"]


def test_a_series_right_on_every_slice_is_right_in_every_draw() -> None:
    truth = [0, 1, 2, 3] * 3
    probs = [np.tile(np.eye(4)[t] * 0.7 + 0.075, (20, 1)) for t in truth]
    out = sd.synthetic(probs, truth, [f"s{i}" for i in range(12)], draws=4, n_resamples=20)
    for kind in sd.KINDS:
        assert out[kind]["macro_f1"] == 1.0 and out[kind]["wrong"] == 0.0 and out[kind]["share_sd"] == 0.0
    assert out["difference"] == {"macro_f1": 0.0, "low": 0.0, "high": 0.0}


def test_bad_counts_are_a_usage_error() -> None:
    run = subprocess.run([sys.executable, str(BENCHMARKS / "spread_draw.py"), "--draws", "0"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "--draws" in run.stderr and "Traceback" not in run.stderr
