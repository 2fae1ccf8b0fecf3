"""Readers for datasets written by ``ctphase.synth.generate_dataset`` (manifest rows, JSON records),
and the matrix of the small DICOM dataset shared by the tests in ``tests/synth``."""

from __future__ import annotations

import csv
import json
from pathlib import Path

MATRIX = 64


def read_manifest(out: Path) -> list[dict[str, str]]:
    """Rows of ``out/manifest.csv``."""
    with open(out / "manifest.csv", newline="") as f:
        return list(csv.DictReader(f))


def read_record(out: Path, row: dict[str, str]) -> dict:
    """The JSON record written beside the series of a manifest row."""
    p = out / row["path"]
    return json.loads((p.parent / (p.name.replace(".nii.gz", "") + ".json")).read_text())
