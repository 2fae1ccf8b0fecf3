"""benchmarks/early_stop.py and benchmarks/html_report.py read a synthetic output's manifest.csv with
the package's reader: labels by series, and a manifest row naming a missing folder is an error."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from benchmark_scripts import load

from ctphase.data.manifest import ManifestError
from ctphase.synth.dataset import generate_dataset

early_stop = load("early_stop")
html_report = load("html_report")


@pytest.fixture(scope="module")
def synth_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bench_synth") / "out"
    generate_dataset(out, 1, seed=3, phases=["arterial", "other"], matrix=32, max_slices=8)
    return out


def test_early_stop_labels_every_synthetic_series(synth_out: Path) -> None:
    items = early_stop.labelled_series(synth_out, "synth")
    assert sorted((Path(s.path).name, label) for s, label in items) == [("01_arterial", "arterial"),
                                                                         ("02_other", "other")]


def test_html_report_takes_synthetic_folders_up_to_n(synth_out: Path, tmp_path: Path) -> None:
    folders = html_report._inputs(None, synth_out, 1, tmp_path)
    assert folders == [synth_out / "SYNTH000001" / "study" / "01_arterial"]


def test_a_row_naming_a_missing_folder_is_an_error_naming_the_line(synth_out: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(synth_out, broken)
    shutil.rmtree(broken / "SYNTH000001" / "study" / "02_other")
    with pytest.raises(ManifestError, match="line 3"):
        early_stop.labelled_series(broken, "synth")
