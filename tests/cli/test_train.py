"""``ctphase train`` in-process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ARCH = "resnet10t"  # small and quick on CPU


pytestmark = pytest.mark.usefixtures("restore_torch_threads")


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


def test_train_cli_resume_keeps_or_extends_the_runs_epochs(tmp_path: Path, toy_manifests: tuple[Path, Path]) -> None:
    from typer.testing import CliRunner

    from ctphase.cli import app

    train_csv, val_csv = toy_manifests
    run = tmp_path / "r"
    args = ["train", "--train", str(train_csv), "--val", str(val_csv), "--arch", ARCH, "--size", "32", "--epochs", "1",
            "--steps-per-epoch", "1", "--batch-size", "4", "--workers", "0", "--threads", "1", "--out", str(run)]
    assert CliRunner().invoke(app, args).exit_code == 0
    same = CliRunner().invoke(app, ["train", "--resume", str(run), "--workers", "0", "--threads", "1"])
    assert same.exit_code == 0, same.output  # no --epochs: the run's own number, already done
    assert [r["epoch"] for r in json.loads((run / "metrics.json").read_text())["epochs"]] == [1]
    more = CliRunner().invoke(app, ["train", "--resume", str(run), "--epochs", "2", "--workers", "0", "--threads", "1"])
    assert more.exit_code == 0, more.output
    assert [r["epoch"] for r in json.loads((run / "metrics.json").read_text())["epochs"]] == [1, 2]
    gone = CliRunner().invoke(app, ["train", "--resume", str(tmp_path / "nothing")])
    assert gone.exit_code == 2 and "cannot resume" in gone.output


def test_train_cli_extra_conditions(tmp_path: Path, toy_manifests: tuple[Path, Path]) -> None:
    from typer.testing import CliRunner

    from ctphase.cli import app

    common = ["train", "--arch", ARCH, "--size", "32", "--epochs", "1", "--steps-per-epoch", "1", "--batch-size", "4",
              "--workers", "0", "--threads", "1", "--train-patients", "0:4", "--val-patients", "100000:100001"]
    result = CliRunner().invoke(app, [*common, "--extra-condition", "pet_ct=1", "--extra-condition", "small_fov=0.25",
                                      "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "r" / "config.json").read_text())["extra_conditions"] == {"pet_ct": 1.0, "small_fov": 0.25}
    for bad, says in (("pet_ct", "must be NAME=RATE"), ("petct=0.1", "unknown synthetic condition 'petct'"),
                      ("pet_ct=1.5", "must be in [0, 1]")):
        result = CliRunner().invoke(app, [*common, "--extra-condition", bad, "--out", str(tmp_path / "bad")])
        assert result.exit_code == 2 and says in result.output, result.output
        assert not (tmp_path / "bad").exists()
    train_csv, _ = toy_manifests
    result = CliRunner().invoke(app, [*common, "--train", str(train_csv), "--extra-condition", "pet_ct=0.1", "--out", str(tmp_path / "bad")])
    assert result.exit_code == 2 and "use --train synth" in result.output, result.output


def test_a_bad_window_is_a_usage_error_that_names_it(tmp_path):
    from typer.testing import CliRunner

    from ctphase.cli import app

    res = CliRunner().invoke(app, ["train", "--train", "synth", "--window", "50;400", "--out", str(tmp_path / "r")])
    assert res.exit_code == 2 and "--window '50;400' must be CENTER,WIDTH" in res.output and "Traceback" not in res.output
