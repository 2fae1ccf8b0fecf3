"""scripts/train_gpu.sh, the prepared GPU run of issue 12, run end to end on the CPU at a toy size:
the plumbing a lent GPU machine would run (arguments, the cut at TIME_S, what is copied to $OUT)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ctphase.models.checkpoint import load_checkpoint

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "train_gpu.sh"


def _run(env_extra: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OUT", "INIT")}
    env.update({"PYTHON": sys.executable, "TMPDIR": str(tmp_path), **env_extra})
    return subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_cpu_plumbing_run_brings_back_a_loadable_checkpoint(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = _run({"OUT": str(out), "DEVICE": "cpu", "WORKERS": "1", "EPOCHS": "1", "STEPS": "2", "BATCH": "4",
                 "BUFFER": "8", "SIZE": "96", "VAL": "100000:100001", "PROBE_S": "2", "PLAN_S": "600",
                 "EXTRA": "pet_ct=0.2"}, tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert sorted(p.name for p in out.iterdir()) == ["best.safetensors", "config.json", "last.safetensors",
                                                      "metrics.json", "train.log"]
    ckpt = load_checkpoint(out / "best.safetensors")
    assert ckpt.arch == "mobilenetv3_small"
    assert ckpt.preprocessing.size == 96
    assert ckpt.heads is not None and ckpt.heads.organs  # HEADS=1 and ORGAN=1 are the recipe's defaults
    config = json.loads((out / "config.json").read_text())
    assert (config["loss"], config["shuffle_buffer"], config["heads"], config["organ_head"]) == ("ce", 8, True, True)
    assert config["windows"] == [[50.0, 400.0], [100.0, 200.0], [300.0, 1500.0]]
    assert config["synth_reuse"] == 4
    assert config["extra_conditions"] == {"pet_ct": 0.2}
    # the probe measured the stream and planned more than STEPS in 600 s: the plan is capped at STEPS
    log = (out / "train.log").read_text()
    assert re.search(r"stream probe: rate=[0-9.]+ fill=[0-9.]+ steps=2 ", log), log
    assert config["steps_per_epoch"] == 2
    metrics = json.loads((out / "metrics.json").read_text())
    assert [e["epoch"] for e in metrics["epochs"]] == [1]
    assert metrics["epochs"][0]["train_slices"] == 8
    assert "exit 0 after" in (out / "train.log").read_text()


def test_without_out_it_stops_before_training(tmp_path: Path) -> None:
    proc = _run({}, tmp_path)
    assert proc.returncode != 0
    assert "set OUT to the folder that comes back" in proc.stderr


@pytest.mark.slow
def test_probe_sizes_the_steps_to_the_time_plan(tmp_path: Path) -> None:
    """A plan shorter than the shuffle buffer's fill leaves one step per epoch (never zero)."""
    proc = subprocess.run([sys.executable, str(SCRIPT.parent / "stream_rate.py"), "--workers", "1", "--reuse", "2",
                           "--size", "64", "--batch", "4", "--seconds", "2", "--plan-seconds", "0.5", "--epochs", "3",
                           "--buffer", "100000", "--window", "50,400", "--window", "300,1500", "--heads",
                           "--extra-condition", "pet_ct=0.5"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    m = re.fullmatch(r"rate=([0-9.]+) fill=([0-9.]+) steps=(\d+)\n", proc.stdout)
    assert m, proc.stdout
    rate, fill, steps = float(m[1]), float(m[2]), int(m[3])
    assert rate > 0 and fill == pytest.approx(100000 * 2 / rate, rel=0.01) and steps == 1


def test_probe_names_a_bad_window_or_condition() -> None:
    for args, says in ((["--window", "50"], "argument --window: '50' must be CENTER,WIDTH"),
                       (["--extra-condition", "pet_ct"], "argument --extra-condition: 'pet_ct' must be NAME=RATE")):
        proc = subprocess.run([sys.executable, str(SCRIPT.parent / "stream_rate.py"), "--workers", "1", *args],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2 and says in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
