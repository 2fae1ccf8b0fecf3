"""``ctphase evaluate`` in-process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from training_toys import write_nifti_manifest
from typer.testing import CliRunner

from ctphase.cli import app


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_evaluate_cli_on_a_series_manifest(tmp_path: Path, small_checkpoint: Path) -> None:
    manifest = write_nifti_manifest(tmp_path / "data", n_patients=3, labels=(0, 1, 2), n_slices=10)
    out = tmp_path / "eval"
    args = ["evaluate", "--manifest", str(manifest), "--model", str(small_checkpoint), "--out", str(out), "--bootstrap", "50",
            "--sweep", "--device", "cpu"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (out / "metrics.json").is_file() and (out / "report.md").is_file()
    res = json.loads((out / "metrics.json").read_text())
    assert res["counts"]["scans"] == 9 and res["counts"]["patients"] == 3 and res["counts"]["slices"] == 90
    assert res["model_sha256"] and res["sweep"] is not None
    assert res["scan_level"]["ci"] is not None
    assert set(res["timing"]["stages"]) >= {"read", "preprocess", "model"}
    assert any(p.endswith(".png") for p in res["plots"].values())
    assert len(res["draws"]["values"]) == 20 and res["draws"]["values"][0] == pytest.approx(res["scan_level"]["metrics"]["macro"]["f1"])
    assert res["protocol"]["draw"] == "spread" and "spread draw" in (out / "report.md").read_text()
    assert "over 20 draws of the slices" in result.output and "seeded draws of the slices" in (out / "report.md").read_text()
    # refuses to overwrite, unless asked
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 2 and "exists" in again.output
    assert CliRunner().invoke(app, [*args, "--overwrite", "--bootstrap", "0", "--draws", "0"]).exit_code == 0
    assert json.loads((out / "metrics.json").read_text())["draws"] is None


def test_evaluate_cli_errors(tmp_path: Path, small_checkpoint: Path) -> None:
    result = CliRunner().invoke(app, ["evaluate", "--manifest", str(tmp_path / "none.csv"), "--model", str(small_checkpoint), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "neither 'synth' nor an existing CSV" in result.output
    bad = tmp_path / "bad.csv"
    bad.write_text("path,label\n.,purple\n")
    result = CliRunner().invoke(app, ["evaluate", "--manifest", str(bad), "--model", str(small_checkpoint), "--out", str(tmp_path / "o")])
    assert result.exit_code != 0 and "purple" in result.output


@pytest.mark.slow
def test_evaluate_cli_synth_engine(tmp_path: Path, small_checkpoint: Path) -> None:
    out = tmp_path / "e"
    args = ["evaluate", "--manifest", "synth", "--model", str(small_checkpoint), "--out", str(out), "--patients", "1",
            "--slices-per-scan", "4", "--bootstrap", "20", "--device", "cpu"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    res = json.loads((out / "metrics.json").read_text())
    assert res["counts"]["scans"] == 4 and res["arguments"]["patient_offset"] == 200000
