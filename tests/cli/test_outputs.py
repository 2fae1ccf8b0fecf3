"""Output paths are checked before any work (exit 2); a late write failure keeps the results; README's promises hold."""

from __future__ import annotations

import csv
import errno
import io
import os
import re
import tempfile
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from ctphase.cli import app
from ctphase.cli.common import write_new

runner = CliRunner()
README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def _predict_to(corpus: Path, output: Path, tmp_path: Path, *extra: str):
    """predict with a model path that does not exist: a check that runs first answers before it is looked at."""
    return runner.invoke(app, ["predict", str(corpus / "study1"), "--model", str(tmp_path / "missing.safetensors"),
                               "-o", str(output), *extra])


def _refused_early(res, message: str) -> None:
    assert res.exit_code == 2, res.output
    assert message in res.stderr
    assert "missing.safetensors" not in res.output and "classify" not in res.stderr


def test_output_in_a_missing_folder(corpus, tmp_path) -> None:
    res = _predict_to(corpus, tmp_path / "nope" / "phases.csv", tmp_path)
    _refused_early(res, f"folder {tmp_path / 'nope'} does not exist")


def test_output_under_a_file(corpus, tmp_path) -> None:
    (tmp_path / "file.txt").write_text("x")
    _refused_early(_predict_to(corpus, tmp_path / "file.txt" / "phases.csv", tmp_path), "is a file, not a folder")


def test_output_that_is_a_folder_suggests_a_file_inside_it(corpus, tmp_path) -> None:
    res = _predict_to(corpus, tmp_path, tmp_path, "-f", "json")
    _refused_early(res, f"--output {tmp_path} is a folder; give a file name inside it, e.g. --output {tmp_path / 'phases.json'}")
    assert "--overwrite" not in res.stderr
    _refused_early(_predict_to(corpus, tmp_path, tmp_path), "phases.csv")  # no --format: still this message


def test_output_in_an_unwritable_folder(corpus, tmp_path, monkeypatch) -> None:
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == tmp_path / "ro" else real(p, mode))
    (tmp_path / "ro").mkdir()
    _refused_early(_predict_to(corpus, tmp_path / "ro" / "p.csv", tmp_path), "cannot write in folder")


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes in read-only folders")
def test_output_in_a_read_only_folder(corpus, tmp_path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        _refused_early(_predict_to(corpus, ro / "p.csv", tmp_path), "permission denied")
    finally:
        ro.chmod(0o700)


def test_a_late_write_failure_keeps_the_results(corpus, checkpoint, tmp_path, monkeypatch) -> None:
    rescue_dir = tmp_path / "tmp"
    rescue_dir.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(rescue_dir))

    def disk_full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("ctphase.cli.common.write_atomic", disk_full)
    out = tmp_path / "phases.csv"
    res = runner.invoke(app, ["predict", str(corpus / "study1"), "--model", str(checkpoint), "-o", str(out)])
    assert res.exit_code == 2, res.output
    saved = re.search(r"the results were saved to (\S+) instead", res.stderr)
    assert saved and "No space left on device" in res.stderr and not out.exists()
    rescued = Path(saved.group(1))
    assert rescued.parent == rescue_dir and rescued.name.startswith("phases-") and rescued.suffix == ".csv"
    assert len(list(csv.DictReader(io.StringIO(rescued.read_text())))) == 2


def test_a_file_that_appeared_meanwhile_is_not_replaced(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    target = tmp_path / "out" / "run.json"
    target.parent.mkdir()
    target.write_text("someone else's")
    with pytest.raises(typer.Exit) as exit_info:
        write_new(target, "{}", overwrite=False)
    assert exit_info.value.exit_code == 2
    assert target.read_text() == "someone else's"
    assert [p.read_text() for p in tmp_path.glob("run-*.json")] == ["{}"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "--train", "synth", "--out", "{file}"], "--out {file} is a file, not a folder"),
        (["synth", "--patients", "1", "--out", "{file}/x"], "is a file, not a folder"),
        (["evaluate", "--manifest", "synth", "--out", "{file}"], "--out {file} is a file, not a folder"),
        (["export", "--model", "{file}", "--onnx", "{dir}"], "--onnx {dir} is a folder; give a file name inside it"),
        (["paper", "report", "--work", "{dir}", "--out", "{dir}"], "--out {dir} is a folder"),
        (["paper", "run", "all", "--work", "{file}"], "--work {file} is a file, not a folder"),
    ],
)
def test_other_commands_check_their_outputs_first(tmp_path, args, message) -> None:
    file = tmp_path / "f.txt"
    file.write_text("x")
    fill = {"file": str(file), "dir": str(tmp_path)}
    res = runner.invoke(app, [a.format(**fill) for a in args])
    assert res.exit_code == 2, res.output
    assert message.format(**fill) in res.stderr


@pytest.mark.parametrize(
    ("case", "code"),
    [("all classified", 0), ("a broken file", 1), ("a bad option", 2), ("a bad model", 2), ("an unusable --output", 2),
     ("nothing classifiable", 2)],
)
def test_readme_exit_codes_hold(case, code, corpus, checkpoint, tmp_path) -> None:
    assert "`0` every series found was classified" in README
    assert "`1` some files or series failed" in README
    assert "`2` usage error (a bad option, an unusable\n`--output`, a bad model), or no classifiable CT series found" in README
    (tmp_path / "empty").mkdir()
    model = ["--model", str(checkpoint)]
    args = {
        "all classified": [str(corpus / "study1"), *model],
        "a broken file": [str(corpus), *model],
        "a bad option": [str(corpus / "study1"), *model, "--sample-rate", "0"],
        "a bad model": [str(corpus / "study1"), "--model", str(tmp_path / "none.safetensors")],
        "an unusable --output": [str(corpus / "study1"), *model, "-o", str(tmp_path / "no" / "x.csv")],
        "nothing classifiable": [str(tmp_path / "empty"), *model],
    }[case]
    res = runner.invoke(app, ["predict", *args, "-f", "json", "-q"])
    assert res.exit_code == code, res.output


def test_readme_lists_every_quality_flag_with_its_severity() -> None:
    from ctphase.qc import QC_FLAGS
    from ctphase.reporting import QC_SHORT

    rows = re.findall(r"^\| `(\w+)` \| (\w+) \| `([\w-]+)` \| (.+) \|$", README, re.M)
    expected = [(f.name, f.severity, QC_SHORT.get(f.name, f.name), f.meaning) for f in QC_FLAGS.values()]
    assert rows == expected, "regenerate README's quality flag table from ctphase.qc.QC_FLAGS"
