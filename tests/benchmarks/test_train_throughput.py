"""benchmarks/train_throughput.py --source none: the training step alone, timed on random batches."""

from __future__ import annotations

import torch
from benchmark_scripts import load

tt = load("train_throughput")


def test_step_rate_trains_the_recipe_network_on_the_device() -> None:
    torch.manual_seed(0)
    rate, steps = tt.step_rate("mobilenetv3_small", 32, device="cpu", seconds=0.2, warmup=1, batch_size=2)
    assert rate > 0 and steps >= 10 and steps % 10 == 0


def test_cli_prints_one_row_per_setting(capsys) -> None:
    assert tt.main(["--source", "none", "--archs", "resnet10t", "--sizes", "32", "40", "--batch-size", "2",
                    "--seconds", "0.1", "--warmup", "1"]) == 0
    rows = [r for r in capsys.readouterr().out.splitlines() if r.startswith("resnet10t,")]
    assert [r.split(",")[1] for r in rows] == ["32", "40"]
    assert all(float(r.split(",")[2]) > 0 for r in rows)
