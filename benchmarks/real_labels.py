"""The real series' labels (``labels.csv`` of ../shared/realdata: one row per series folder, with its
``folder``, ``name``, ``phase`` and ``patient``), read one way by every benchmark that uses them."""

from __future__ import annotations

import csv
from pathlib import Path

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"
"""The real series beside the repository (../shared/realdata), every benchmark's default."""


def has_labels(realdata: Path) -> bool:
    """Whether ``realdata`` holds a labels.csv (benchmarks that only add the real series check this)."""
    return (realdata / "labels.csv").is_file()


def real_rows(realdata: Path, series: list[str] | None = None) -> list[dict[str, str]]:
    """Rows of ``realdata``'s labels.csv (all, or those whose folder is in ``series``); exits with a
    message naming the file when it is missing or ``series`` names none of its folders."""
    labels = realdata / "labels.csv"
    if not labels.is_file():
        raise SystemExit(f"real data not found at {realdata} (no labels.csv)")
    with open(labels, newline="") as f:
        rows = [r for r in csv.DictReader(f) if series is None or r["folder"] in series]
    if not rows:
        raise SystemExit(f"none of {series} is a folder of {labels}")
    return rows
