"""benchmarks/epoch_boundary.py: one loader iterator per run against one per epoch, on the synthetic stream."""

from __future__ import annotations

import pytest
from benchmark_scripts import load

eb = load("epoch_boundary")


def test_prints_both_iterators_and_their_ratio(capsys) -> None:
    assert eb.main(["--workers", "1", "--size", "32", "--batch", "2", "--steps", "3", "--epochs", "2",
                    "--step-ms", "1", "--pause-s", "0.05"]) == 0
    out = capsys.readouterr().out.splitlines()
    rows = {r.split(",")[0]: r.split(",")[1:] for r in out if r.startswith(("per_epoch,", "one_per_run,"))}
    assert set(rows) == {"per_epoch", "one_per_run"}
    assert all(float(t) > 0 and float(rate) > 0 for t, rate in rows.values())
    assert out[-1].startswith("one_per_run / per_epoch time: ")


def test_one_epoch_alone_is_refused() -> None:
    with pytest.raises(SystemExit):
        eb.main(["--epochs", "1"])
