"""Shared pytest setup.

- ``tests/`` is put on ``sys.path`` so helper modules import plainly
  (``from dicom_factory import write_series``, ``from model_factory import ...``).
- ``realdata_dir``: the shared real-CT folder (``<repo>/../shared/realdata``), tests using it
  are marked ``@pytest.mark.realdata`` and skip when it is absent. Never copy it into the repo.
- Small DICOM fixtures: ``ct_series`` (one tiny axial CT series, written once per test).

Add new fixtures in their own section below; keep heavy builders in helper modules.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))

REALDATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "realdata"


# --------------------------------------------------------------------------- real data


@pytest.fixture(scope="session")
def realdata_dir() -> Path:
    """The shared real CT series (read-only); skips the test when not present."""
    if not (REALDATA_DIR / "labels.csv").is_file():
        pytest.skip(f"real data not found at {REALDATA_DIR}")
    return REALDATA_DIR


# --------------------------------------------------------------------------- DICOM


@pytest.fixture
def ct_series(tmp_path: Path):
    """A 12-slice 32x32 axial CT series in ``tmp_path / "ct"``; returns ``dicom_factory.SeriesInfo``."""
    from dicom_factory import write_series

    return write_series(tmp_path / "ct", n=12, shuffle=True, seed=1)
