"""Shared pytest setup.

- ``tests/`` is put on ``sys.path`` so helper modules import plainly
  (``from dicom_factory import write_series``, ``from model_factory import ...``).
- ``realdata_dir``: the shared real-CT folder (``<repo>/../shared/realdata``), tests using it
  are marked ``@pytest.mark.realdata`` and skip when it is absent. Never copy it into the repo.
- Small DICOM fixtures: ``ct_series`` (one tiny axial CT series, written once per test).
- ``checkpoint`` (a tiny resnet18 checkpoint) and ``corpus`` (good DICOM and NIfTI series beside
  an MR series, random bytes and a truncated series), written once per session for the pipeline
  and ``ctphase predict`` tests.

Add new fixtures in their own section below; keep heavy builders in helper modules.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
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


# --------------------------------------------------------------------------- prediction corpus


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory) -> Path:
    from model_factory import make_checkpoint

    return make_checkpoint(tmp_path_factory.mktemp("model") / "tiny.safetensors", arch="resnet18", size=32)


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> Path:
    """Three good series (two DICOM, one NIfTI) beside an MR series, random bytes and a truncated series."""
    import nibabel as nib
    from dicom_factory import write_series

    root = tmp_path_factory.mktemp("corpus")
    write_series(root / "study1" / "a", n=20, shuffle=True, names=lambda i: f"IM{i * 7 % 20:04d}", seed=1)
    write_series(root / "study1" / "b" / "deep", n=30, nested=True, seed=2)
    write_series(root / "mr", n=12, modality="MR", sop_class="1.2.840.10008.5.1.4.1.1.4", seed=3)
    (root / "junk").mkdir()
    (root / "junk" / "noise.dcm").write_bytes(os.urandom(4000))
    bad = write_series(root / "broken", n=10, seed=4)
    data = bad.paths[3].read_bytes()
    bad.paths[3].write_bytes(data[: len(data) - 500])  # one truncated slice inside a series
    vol = np.random.default_rng(0).normal(0, 100, (24, 24, 16)).astype(np.float32)
    nib.save(nib.Nifti1Image(vol, np.diag([0.8, 0.8, 2.5, 1.0])), str(root / "vol.nii.gz"))
    return root


# --------------------------------------------------------------------------- models and training data


@pytest.fixture
def restore_torch_threads():
    """Training with ``threads=1`` sets a process-wide torch setting: restore it after the test."""
    import torch

    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


@pytest.fixture
def one_torch_thread(restore_torch_threads):
    """One torch thread for the test: on a busy 2-core machine oversubscribed threads are many times slower."""
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def small_checkpoint(tmp_path_factory) -> Path:
    """A randomly initialised resnet10t checkpoint at 32 px (quick on CPU)."""
    from model_factory import make_checkpoint

    return make_checkpoint(tmp_path_factory.mktemp("small") / "m.safetensors", arch="resnet10t", size=32)


@pytest.fixture(scope="session")
def toy_manifests(tmp_path_factory) -> tuple[Path, Path]:
    """Training and validation series manifests of separable toy NIfTI volumes (4 and 2 patients)."""
    from training_toys import write_nifti_manifest

    root = tmp_path_factory.mktemp("toy")
    train_csv = write_nifti_manifest(root / "train", n_patients=4, labels=(0, 1), n_slices=8, seed=0)
    val_csv = write_nifti_manifest(root / "val", n_patients=2, labels=(0, 1), n_slices=8, seed=1)
    return train_csv, val_csv
