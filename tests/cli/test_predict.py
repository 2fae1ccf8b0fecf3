"""``ctphase predict`` in-process: output formats, no overwrite, usage errors, strict mode."""

from __future__ import annotations

import csv
import io
import json

import pytest
from typer.testing import CliRunner

from ctphase.cli import app
from ctphase.phases import PHASE_NAMES

runner = CliRunner()


def test_cli_json_to_stdout(corpus, checkpoint):
    res = runner.invoke(app, ["predict", str(corpus), "--model", str(checkpoint), "--format", "json"])
    assert res.exit_code == 1, res.output  # the corpus holds broken files
    record = json.loads(res.stdout)
    assert record["summary"]["ok"] == 4 and record["summary"]["error"] == 1  # noise.dcm; the truncated file is on its series
    assert sum("unreadable_files" in p["qc"] for p in record["predictions"]) == 1
    assert record["arguments"]["sample_rate"] == 0.3
    assert "Traceback" not in res.output


def test_cli_csv_output_file_and_no_overwrite(corpus, checkpoint, tmp_path):
    out = tmp_path / "res.csv"
    res = runner.invoke(app, ["predict", str(corpus / "study1"), "--model", str(checkpoint), "-o", str(out)])
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(rows) == 2 and all(r["label"] in PHASE_NAMES for r in rows)
    before = out.read_text()
    res = runner.invoke(app, ["predict", str(corpus / "study1"), "--model", str(checkpoint), "-o", str(out)])
    assert res.exit_code == 2 and "exists" in res.output
    assert out.read_text() == before


def test_cli_table(corpus, checkpoint):
    res = runner.invoke(app, ["predict", str(corpus / "study1"), "--model", str(checkpoint)])
    assert res.exit_code == 0, res.output
    assert "ctphase predictions" in res.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sample-rate", "1.5"], "sample rate must be in (0, 1]"),
        (["--min-slices", "0"], "min_slices must be >= 1"),
        (["--device", "tpu"], "tpu"),
    ],
)
def test_cli_usage_errors(corpus, checkpoint, args, message):
    res = runner.invoke(app, ["predict", str(corpus / "study1"), "--model", str(checkpoint), *args])
    assert res.exit_code == 2
    assert message in res.output
    assert "Traceback" not in res.output


def test_cli_missing_path_and_missing_model(tmp_path, checkpoint):
    res = runner.invoke(app, ["predict", str(tmp_path / "nope"), "--model", str(checkpoint)])
    assert res.exit_code == 2 and "no such file or folder" in res.output
    res = runner.invoke(app, ["predict", str(tmp_path), "--model", str(tmp_path / "missing.safetensors")])
    assert res.exit_code == 2 and "missing.safetensors" in res.output


def test_cli_nothing_found(tmp_path, checkpoint):
    (tmp_path / "empty").mkdir()
    res = runner.invoke(app, ["predict", str(tmp_path / "empty"), "--model", str(checkpoint), "-f", "json"])
    assert res.exit_code == 2
    assert json.loads(res.stdout)["summary"]["ok"] == 0


def test_cli_error_messages_are_not_read_as_markup(tmp_path, checkpoint):
    odd = tmp_path / "[bold]scan[red]"
    res = runner.invoke(app, ["predict", str(odd), "--model", str(checkpoint)])
    assert res.exit_code == 2
    assert "[bold]scan[red]" in res.output


def test_strict_mode_stops_at_first_broken_series(corpus, checkpoint):
    res = runner.invoke(app, ["predict", str(corpus / "broken"), "--model", str(checkpoint), "--strict"])
    assert res.exit_code == 1
    assert "truncated" in res.output and "Traceback" not in res.output


def test_cli_study_step_flags(corpus, checkpoint):
    """--no-study keeps each series' own answer; --min-confidence 1.0 leaves nothing confident."""
    base = ["predict", str(corpus / "study1"), "--model", str(checkpoint), "--format", "json"]
    alone = json.loads(runner.invoke(app, [*base, "--no-study"]).stdout)
    for p in alone["predictions"]:
        assert p["study_label"] is None and p["label"] == p["image_label"]
        assert "series alone (study step off)" in p["evidence"]
    strict = runner.invoke(app, [*base, "--min-confidence", "1.0"])
    record = json.loads(strict.stdout)
    assert record["arguments"]["min_confidence"] == 1.0
    assert all(p["label"] == "uncertain" for p in record["predictions"] if p["status"] == "ok")
    assert record["studies"] and record["studies"][0]["acquisitions"]
    assert runner.invoke(app, [*base, "--min-confidence", "1.5"]).exit_code == 2
