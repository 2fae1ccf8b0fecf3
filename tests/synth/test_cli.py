"""``ctphase synth``: argument errors and a small dataset written from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pydicom
import pytest
from synth_output import read_manifest
from typer.testing import CliRunner

from ctphase.cli import app


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--patients", "0"], "--patients must be >= 1"),
        (["--patients", "1", "--format", "png"], "--format must be one of"),
        (["--patients", "1", "--phases", "lunch"], "unknown phase"),
        (["--patients", "1", "--matrix", "8"], "--matrix must be between"),
        (["--patients", "1", "--studies", "lunch"], "--studies must be one of"),
        (["--patients", "1", "--studies", "realistic", "--format", "nifti"], "DICOM only"),
        (["--patients", "1", "--studies", "realistic", "--phases", "venous"], "--phases applies"),
        (["--patients", "1", "--condition", "tall"], "unknown synthetic condition 'tall'"),
        (["--patients", "1", "--studies", "realistic", "--condition", "pet_ct"], "--condition applies"),
    ],
)
def test_cli_bad_arguments(tmp_path: Path, args: list[str], message: str) -> None:
    res = CliRunner().invoke(app, ["synth", "--out", str(tmp_path / "o"), *args])
    assert res.exit_code == 2
    assert "error:" in res.output and message in res.output
    assert "Traceback" not in res.output


def test_cli_writes_dataset(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["synth", "--out", str(tmp_path / "o"), "--patients", "1", "--matrix", "32",
                                   "--phases", "arterial,venous", "--seed", "3", "--max-slices", "4",
                                   "--first-patient", "200000"])
    assert res.exit_code == 0, res.output
    rows = read_manifest(tmp_path / "o")
    assert [r["label"] for r in rows] == ["arterial", "venous"]
    assert {r["patient_id"] for r in rows} == {"SYNTH200001"}
    for r in rows:
        assert len(list((tmp_path / "o" / r["path"]).iterdir())) <= 4
    res = CliRunner().invoke(app, ["synth", "--out", str(tmp_path / "o"), "--patients", "1"])
    assert res.exit_code == 2 and "not empty" in res.output


def test_cli_writes_realistic_studies(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["synth", "--out", str(tmp_path / "o"), "--patients", "1", "--matrix", "32",
                                   "--max-slices", "6", "--studies", "realistic", "--seed", "2", "-q"])
    assert res.exit_code == 0, res.output
    rows = read_manifest(tmp_path / "o")
    assert rows and all(r["acquisition_id"].startswith("SYNTH000001-") for r in rows)
    assert {r["plane"] for r in rows} >= {"axial"}


def test_cli_forces_conditions(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["synth", "--out", str(tmp_path / "o"), "--patients", "2", "--matrix", "32",
                                   "--phases", "venous", "--max-slices", "4", "--condition", "pet_ct",
                                   "--condition", "paediatric", "-q"])
    assert res.exit_code == 0, res.output
    recs = [json.loads(line) for line in (tmp_path / "o" / "records.jsonl").read_text().splitlines()]
    assert len(recs) == 2
    for r in recs:
        assert "pet_ct" in r["series"]["conditions"] and r["series"]["pixel_spacing"] * 32 >= 500
        assert "paediatric" in r["patient"]["conditions"] and r["patient"]["age"] < 18
        first = next((tmp_path / "o" / r["path"]).iterdir())
        assert float(pydicom.dcmread(first).SliceThickness) >= 3


def test_cli_help_names_every_condition() -> None:
    from ctphase.synth.conditions import CONDITIONS

    res = CliRunner().invoke(app, ["synth", "--help"], env={"COLUMNS": "400", "NO_COLOR": "1"})
    assert res.exit_code == 0
    text = " ".join(res.output.split())
    assert [c for c in CONDITIONS if c not in text] == []
