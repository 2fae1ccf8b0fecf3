"""Fixtures of the synthetic-engine tests: one small DICOM dataset, written once per session."""

from __future__ import annotations

from pathlib import Path

import pytest
from synth_output import MATRIX

from ctphase.synth import generate_dataset


@pytest.fixture(scope="session")
def dicom_ds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One patient, non-contrast and arterial series, ``MATRIX`` pixels, at most 20 slices each."""
    out = tmp_path_factory.mktemp("synth_dicom") / "ds"
    generate_dataset(out, 1, seed=5, phases=["non_contrast", "arterial"], fmt="dicom", matrix=MATRIX, max_slices=20)
    return out
