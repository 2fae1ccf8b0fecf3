"""The fixed data of the paper experiments: synthetic DICOM studies written once, read back as labelled scans.

Every experiment of :mod:`ctphase.paper.experiments` trains and tests on the same three sets,
written by the synthetic engine (:func:`ctphase.synth.generate_dataset`) as real DICOM files and
read back through ctphase's own reader, so the test scans go through exactly the path
``ctphase predict`` takes:

``train``
    ``Scale.train_patients`` patients, one study each with one series per phase.
``test``
    ``Scale.test_patients`` other patients (indices from :data:`TEST_FIRST_PATIENT`): never trained on.
``timing``
    one patient, full-length series at 512 x 512 (``Scale.timing_slices`` slices), for the
    inference-time comparison only.

The population seed :data:`BENCH_SEED` differs from the one the bundled model was trained on,
so the bundled model has seen none of these patients either.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data import LabelledScan, read_manifest
from ..errors import ConfigError, InputError
from ..preprocessing import Preprocessing

BENCH_SEED = 2022
"""Synthetic population of the experiments (the bundled model was trained on population 0)."""
TEST_FIRST_PATIENT = 10_000
TIMING_FIRST_PATIENT = 20_000
SPLITS = ("train", "test", "timing")


@dataclass(frozen=True)
class Scale:
    """How big the experiments are. ``cpu`` fits in under 2 hours on 2 CPU cores.

    Attributes:
        name: preset name, recorded with every result.
        train_patients, test_patients: patients of the train and test sets (4 series each).
        slices_per_series: slices written per train/test series, spread over its scan range.
        matrix: in-plane matrix of the train/test series.
        slice_size: input size of the architecture comparison (paper Table 3: 128).
        sizes: input sizes of the input-size experiment (paper Table 4).
        samples: training budget of every 2D model, in slices seen (equal for all).
        batch_size, lr: 2D training batch and Adam learning rate (warm-up then cosine).
        gan_lr: Adam learning rate of both CD-GAN networks.
        se3d_epochs, se3d_batch: 3DSE training epochs over the train volumes, and batch.
        se3d_shape: 3DSE input ``(D, H, W)`` (Zhou et al.: 32 x 128 x 128).
        timing_slices, timing_matrix: the full-length series of the timing set.
        timing_repeats: timed passes over the timing set (median reported).
        sweep_repeats: repeated draws per sampling rate.
        n_resamples: bootstrap resamples of the confidence intervals.
        external_draws: random draws per real series in the external validation.
    """

    name: str
    train_patients: int
    test_patients: int
    slices_per_series: int
    matrix: int
    slice_size: int = 128
    sizes: tuple[int, ...] = (128, 224)
    samples: int = 4800
    batch_size: int = 16
    lr: float = 1e-3
    gan_lr: float = 2e-4
    se3d_epochs: int = 10
    se3d_batch: int = 4
    se3d_shape: tuple[int, int, int] = (32, 128, 128)
    timing_slices: int = 300
    timing_matrix: int = 512
    timing_repeats: int = 3
    sweep_repeats: int = 20
    n_resamples: int = 2000
    external_draws: int = 20

    def to_dict(self) -> dict[str, object]:
        """Plain dict for JSON results."""
        from dataclasses import asdict

        return asdict(self)


SCALES: dict[str, Scale] = {
    "cpu": Scale("cpu", train_patients=40, test_patients=20, slices_per_series=32, matrix=256),
    "tiny": Scale(
        "tiny", train_patients=1, test_patients=1, slices_per_series=4, matrix=64, slice_size=32, sizes=(32, 48),
        samples=8, batch_size=4, se3d_epochs=1, se3d_batch=2, se3d_shape=(8, 32, 32), timing_slices=6,
        timing_matrix=64, timing_repeats=1, sweep_repeats=2, n_resamples=50, external_draws=1,
    ),
}
"""Presets: ``cpu`` (the published results) and ``tiny`` (tests)."""


def get_scale(name: str) -> Scale:
    """The preset called ``name``.

    Raises:
        ConfigError: unknown name, listing the known ones.
    """
    if name not in SCALES:
        raise ConfigError(f"unknown scale {name!r}; choose one of {', '.join(SCALES)}")
    return SCALES[name]


def ensure_split(
    root: Path, split: str, scale: Scale, progress: Callable[[int, int], None] | None = None
) -> Path:
    """Write the ``split`` set under ``root/split`` unless a complete one is there; return its manifest.

    Raises:
        ConfigError: unknown split, or a folder there that ctphase synth did not write.
    """
    from ..synth import generate_dataset

    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    out = Path(root) / split
    manifest = out / "manifest.csv"
    if manifest.is_file():
        return manifest
    if split == "train":
        n, first, matrix, slices = scale.train_patients, 0, scale.matrix, scale.slices_per_series
    elif split == "test":
        n, first, matrix, slices = scale.test_patients, TEST_FIRST_PATIENT, scale.matrix, scale.slices_per_series
    else:
        n, first, matrix, slices = 1, TIMING_FIRST_PATIENT, scale.timing_matrix, scale.timing_slices
    # a half-written set has no manifest yet: generate_dataset replaces it (it only deletes what it wrote)
    return generate_dataset(
        out, n, seed=BENCH_SEED, matrix=matrix, max_slices=slices, first_patient=first,
        progress=progress, overwrite=True,
    )


def load_split(manifest: Path, progress: Callable[[int, int], None] | None = None) -> list[LabelledScan]:
    """Every series of a manifest read through ctphase's reader, all slices, into memory.

    Scan ids are the series' paths relative to the manifest (no patient identifiers); groups
    are the patients. A cache of the arrays (``scans.npz`` beside the manifest) makes later
    experiments start fast.

    Raises:
        InputError: naming the series that could not be read.
    """
    from ..io import load_series

    manifest = Path(manifest)
    records = read_manifest(manifest).records
    cache = manifest.parent / "scans.npz"
    volumes: list[np.ndarray] = []
    if cache.is_file():
        with np.load(cache) as z:
            offsets, hu = z["offsets"], z["hu"]
        if len(offsets) == len(records) + 1:
            volumes = [hu[offsets[i] : offsets[i + 1]].astype(np.float32) for i in range(len(records))]
    if not volumes:
        for i, r in enumerate(records):
            try:
                volumes.append(load_series(r.path, min_slices=1).read_volume())
            except InputError as exc:
                raise InputError(f"benchmark series cannot be read: {exc}") from None
            if progress:
                progress(i + 1, len(records))
        _write_cache(cache, volumes)
    return [
        LabelledScan.from_array(r.path.relative_to(manifest.parent).as_posix(), r.label, r.group, vol, r.path)
        for r, vol in zip(records, volumes)
    ]


def _write_cache(cache: Path, volumes: Sequence[np.ndarray]) -> None:
    if not volumes or len({v.shape[1:] for v in volumes}) != 1:
        return
    from ..atomic import atomic_path

    offsets = np.cumsum([0] + [len(v) for v in volumes])
    stacked = np.clip(np.concatenate(volumes), -32768, 32767).astype(np.int16)
    with atomic_path(cache) as tmp, open(tmp, "wb") as f:
        np.savez(f, hu=stacked, offsets=offsets)


def slice_arrays(scans: Sequence[LabelledScan], pp: Preprocessing) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All slices of ``scans`` prepared by ``pp``.

    Returns:
        ``x`` ``(N, C, size, size)`` float32, ``y`` ``(N,)`` int64 labels and ``scan`` ``(N,)``
        int64 index of each slice's scan.
    """
    xs = [pp(s.read()) for s in scans]
    x = np.concatenate(xs) if xs else np.zeros((0, *pp.input_shape), np.float32)
    y = np.concatenate([np.full(s.n_slices, int(s.label), np.int64) for s in scans]) if scans else np.zeros(0, np.int64)
    idx = np.concatenate([np.full(s.n_slices, i, np.int64) for i, s in enumerate(scans)]) if scans else np.zeros(0, np.int64)
    return x, y, idx
