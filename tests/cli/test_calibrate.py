"""``ctphase calibrate`` in-process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from training_toys import write_nifti_manifest
from typer.testing import CliRunner

from ctphase.cli import app
from ctphase.inference import Classifier
from ctphase.models.calibration import META_KEY
from ctphase.models.checkpoint import load_checkpoint

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_calibrate_writes_a_checkpoint_the_classifier_loads_calibrated(tmp_path: Path, small_checkpoint: Path) -> None:
    manifest = write_nifti_manifest(tmp_path / "data", n_patients=4, labels=(0, 1, 2, 3), n_slices=10)
    out = tmp_path / "cal.safetensors"
    args = ["calibrate", "--manifest", str(manifest), "--model", str(small_checkpoint), "--out", str(out),
            "--device", "cpu", "--folds", "2", "--quiet"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "NLL" not in result.output and f"wrote {out}" in result.output  # --quiet keeps only the result line
    clf = Classifier(out, device="cpu")
    assert clf.has_calibration and clf.sha256 == load_checkpoint(small_checkpoint).sha256
    info = clf.calibration.fitted_on
    assert info["scans"] == 16 and info["data"]["manifest"] == str(manifest) and "cv_nll" in info["selection"]
    # the input is untouched, and an existing output is refused unless --overwrite
    assert META_KEY not in load_checkpoint(small_checkpoint).meta
    before = out.read_bytes()
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 2 and "exists" in again.output and out.read_bytes() == before
    # recalibrating a calibrated checkpoint in place
    in_place = ["calibrate", "--manifest", str(manifest), "--model", str(out), "--out", str(out), "--device", "cpu",
                "--folds", "2", "--method", "temperature"]
    assert CliRunner().invoke(app, in_place).exit_code == 2
    verbose = CliRunner().invoke(app, [*in_place, "--overwrite"])
    assert verbose.exit_code == 0, verbose.output
    assert "NLL" in verbose.output and "ECE" in verbose.output and "previous calibration" in verbose.output
    assert load_checkpoint(out).meta[META_KEY]["method"] == "temperature"
    # evaluate reports the calibration of a calibrated checkpoint
    report = tmp_path / "eval"
    ev = CliRunner().invoke(app, ["evaluate", "--manifest", str(manifest), "--model", str(out), "--out", str(report),
                                  "--bootstrap", "0", "--device", "cpu"])
    assert ev.exit_code == 0, ev.output
    assert "calibrated; accuracy at coverage 100%" in ev.output
    res = json.loads((report / "metrics.json").read_text())["calibration"]
    assert res["stored"] and res["scan_calibrated"]["n"] == 16 and len(res["risk_coverage"]["points"]) == 4
    assert (report / "reliability_scan.png").is_file()


def test_calibrate_refuses_the_training_validation_and_test_patients(tmp_path: Path, small_checkpoint: Path) -> None:
    out = tmp_path / "cal.safetensors"
    result = CliRunner().invoke(app, ["calibrate", "--model", str(small_checkpoint), "--out", str(out),
                                      "--patient-offset", "200000", "--patients", "2"])
    assert result.exit_code == 2 and "overlap" in result.output and "200000..200049" in result.output
    assert not out.exists()
