"""Tiny, easily separable toy CT data for training/evaluation tests (``from training_toys import ...``).

A body ellipse (50 HU) in air with an "aorta" disk whose HU depends on the phase: the classes
are separable by one pixel value, so a few optimisation steps lower the loss.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from ctphase.phases import PHASE_NAMES

AORTA_HU = (40.0, 350.0, 170.0, 110.0)  # non_contrast, arterial, venous, other


def toy_slice(label: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """``(size, size)`` float32 HU of one toy slice of class ``label``."""
    yy, xx = np.mgrid[:size, :size] / size
    img = np.full((size, size), -1000.0, np.float32)
    img[((yy - 0.5) / 0.38) ** 2 + ((xx - 0.5) / 0.46) ** 2 < 1] = 50.0
    cy, cx = 0.55 + rng.normal(0, 0.02), 0.45 + rng.normal(0, 0.02)
    img[(yy - cy) ** 2 + (xx - cx) ** 2 < 0.012] = AORTA_HU[label]
    img += rng.normal(0, 8, img.shape).astype(np.float32)
    return img


def toy_source(
    seed: int, size: int, patients: range, slices_per_series: int = 16, phases: Sequence[int] | None = None
) -> Iterator[tuple[np.ndarray, int, int]]:
    """Stand-in for ``ctphase.synth.iter_training_slices`` (same signature and item layout)."""
    for p in patients:
        rng = np.random.default_rng([seed & 0xFFFFFFFF, p])
        for ph in phases if phases is not None else range(len(PHASE_NAMES)):
            for _ in range(slices_per_series):
                yield toy_slice(int(ph), size, rng), int(ph), int(p)


def write_nifti_manifest(
    folder: Path, n_patients: int, labels: Sequence[int] = (0, 1), n_slices: int = 10, size: int = 32, seed: int = 0,
    name: str = "manifest.csv",
) -> Path:
    """Write one NIfTI volume per (patient, label) and a series manifest; returns the manifest path."""
    import nibabel as nib

    folder.mkdir(parents=True, exist_ok=True)
    rows = ["path,label,patient_id"]
    for p in range(n_patients):
        rng = np.random.default_rng([seed, p])
        for lab in labels:
            vol = np.stack([toy_slice(lab, size, rng) for _ in range(n_slices)], axis=-1)  # (x, y, z)
            img = nib.Nifti1Image(vol.astype(np.int16), np.diag([0.8, 0.8, 2.5, 1.0]))
            rel = f"p{seed}_{p}_{PHASE_NAMES[lab]}.nii.gz"
            nib.save(img, folder / rel)
            rows.append(f"{rel},{PHASE_NAMES[lab]},pat{seed}_{p}")
    path = folder / name
    path.write_text("\n".join(rows) + "\n")
    return path


def write_paper_csv(folder: Path, n_scans: int, labels: Sequence[int] = (0, 1), n_slices: int = 8, size: int = 32, seed: int = 0) -> Path:
    """Write the paper's per-slice CSV with 8-bit PNGs (paper window 50/400, paper label order)."""
    import cv2

    from ctphase.phases import Phase, to_paper_index

    folder.mkdir(parents=True, exist_ok=True)
    rows = ["image,label,study,series"]
    rng = np.random.default_rng(seed)
    for s in range(n_scans):
        for lab in labels:
            for k in range(n_slices):
                hu = toy_slice(lab, size, rng)
                img = np.clip((hu + 150.0) / 400.0 * 255.0, 0, 255).round().astype(np.uint8)
                rel = f"img_{s}_{lab}_{k}.png"
                cv2.imwrite(str(folder / rel), img)
                rows.append(f"{rel},{to_paper_index(Phase(lab))},study{s},{lab}")
    path = folder / "slices.csv"
    path.write_text("\n".join(rows) + "\n")
    return path
