"""Fixtures of the synthetic-engine tests: small DICOM datasets (simple and realistic studies), written once per session."""

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


REALISTIC_SEED = 2
"""Its two patients hold three studies (one de-identified), 3-4 acquisitions each, thin, thick and
bone reconstructions and reformats."""


@pytest.fixture(scope="session")
def realistic_ds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two patients of ``--studies realistic``, 64 pixels, at most 24 thin slices per acquisition."""
    out = tmp_path_factory.mktemp("synth_realistic") / "ds"
    generate_dataset(out, 2, seed=REALISTIC_SEED, matrix=64, max_slices=24, studies="realistic")
    return out
