"""What a training run learns from and is validated on: the batch loader and the validation scans.

Training sources: the synthetic stream (``"synth"``) or a manifest (series or the paper's
per-slice images). Validation: synthetic patients disjoint from the training ones, a
patient-disjoint split of the training manifest, or a second manifest (checked to share no
patient, study or path with the training one).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from ..data import LabelledScan, read_manifest, scans_from_manifest, split_by_patient, synthetic_scans
from ..data.manifest import Manifest
from ..errors import ConfigError
from ..phases import PHASE_NAMES
from ..preprocessing import Preprocessing
from .augment import Augment
from .config import SYNTH, TrainConfig, patient_range
from .datasets import PaperSliceDataset, SeriesBlockSampler, SeriesSliceDataset, SynthSliceStream


@dataclass
class TrainingData:
    """The loader of one run, its epoch length, what must hear of each new epoch, and validation.

    Attributes:
        summary: JSON facts about the data, stored in every checkpoint.
        epoch_setters: objects with ``set_epoch(epoch)`` (datasets, samplers) for fresh draws.
        endless: the loader never runs out (the synthetic stream): one iterator serves every epoch, so
            the batches its workers prefetched at the end of an epoch, and those they render during
            validation, start the next one (a new iterator would drop them and start the workers cold).
    """

    loader: DataLoader
    steps_per_epoch: int
    epoch_setters: list[Any]
    summary: dict[str, Any]
    val_scans: list[LabelledScan]
    endless: bool = False
    _iterator: Iterator[Any] | None = field(default=None, repr=False)

    def batches(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The ``steps_per_epoch`` batches of ``epoch`` (fewer when a finite loader runs out)."""
        for s in self.epoch_setters:
            s.set_epoch(epoch)
        if self._iterator is None or not self.endless:
            self._iterator = iter(self.loader)
        it = self._iterator
        for _ in range(self.steps_per_epoch):
            try:
                yield next(it)
            except StopIteration:
                return


def build_data(cfg: TrainConfig, pp: Preprocessing) -> TrainingData:
    """The training loader and validation scans that ``cfg`` describes.

    Raises:
        ConfigError / ManifestError: unusable sources, overlapping or too small sets.
    """
    aug = cfg.augmentation()
    loader_kw: dict[str, Any] = {
        "batch_size": cfg.batch_size,
        "num_workers": cfg.num_workers,
        "pin_memory": torch.cuda.is_available() and cfg.device != "cpu",
        "drop_last": True,
    }
    if cfg.num_workers > 0:
        loader_kw["prefetch_factor"] = 4
    summary: dict[str, Any] = {"train": cfg.train, "val": cfg.val}
    if cfg.train == SYNTH:
        loader, steps, setters = _synth_loader(cfg, pp, aug, loader_kw, summary)
        manifest, val_records = None, []
    else:
        manifest = read_manifest(cfg.train)
        records = list(manifest.records)
        val_records: list[Any] = []
        if cfg.val is None:
            records, val_records = split_by_patient(records, (1 - cfg.val_fraction, cfg.val_fraction), cfg.seed)
        loader, steps, setters = _manifest_loader(cfg, pp, aug, loader_kw, manifest, records, summary)
    val_scans = _validation_scans(cfg, pp, manifest, val_records, summary)
    summary["val_scans"] = len(val_scans)
    summary["val_labels"] = {name: sum(int(s.label) == c for s in val_scans) for c, name in enumerate(PHASE_NAMES)}
    return TrainingData(loader, steps, setters, summary, val_scans, endless=cfg.train == SYNTH)


def _synth_loader(
    cfg: TrainConfig, pp: Preprocessing, aug: Augment | None, loader_kw: dict[str, Any], summary: dict[str, Any]
) -> tuple[DataLoader, int, list[Any]]:
    tr = patient_range(cfg.train_patients, "train_patients")
    ds = SynthSliceStream(pp, tr, seed=cfg.seed, slices_per_series=cfg.slices_per_series, augment=aug, reuse=cfg.synth_reuse,
                          heads=cfg.heads, organs=h.organs if (h := cfg.heads_spec()) else (), shuffle_buffer=cfg.shuffle_buffer,
                          extra_conditions=cfg.extra_conditions)
    loader = DataLoader(ds, persistent_workers=cfg.num_workers > 0, **loader_kw)
    summary.update(
        {
            "train_patients": [tr.start, tr.stop],
            "population_seed": cfg.seed,
            "slices_per_series": cfg.slices_per_series,
            "synth_reuse": cfg.synth_reuse,
            "shuffle_buffer": cfg.shuffle_buffer,
            "extra_conditions": cfg.extra_conditions,
        }
    )
    return loader, cfg.steps_per_epoch or 500, [ds]


def _manifest_loader(
    cfg: TrainConfig,
    pp: Preprocessing,
    aug: Augment | None,
    loader_kw: dict[str, Any],
    manifest: Manifest,
    records: Sequence[Any],
    summary: dict[str, Any],
) -> tuple[DataLoader, int, list[Any]]:
    setters: list[Any]
    if manifest.kind == "series":
        ds: Any = SeriesSliceDataset(records, pp, aug, cache_bytes=int(cfg.cache_gb * 2**30), seed=cfg.seed)
        sampler = SeriesBlockSampler(ds.sample_groups(), seed=cfg.seed)
        setters = [ds, sampler]
        loader = DataLoader(ds, sampler=sampler, **loader_kw)
    else:
        ds = PaperSliceDataset(records, pp, aug, seed=cfg.seed)
        gen = torch.Generator()
        gen.manual_seed(cfg.seed)
        setters = [ds]
        loader = DataLoader(ds, shuffle=True, generator=gen, **loader_kw)
    if len(loader) == 0:
        raise ConfigError(f"train manifest {cfg.train} has fewer slices ({len(ds)}) than one batch ({cfg.batch_size})")
    summary.update(
        {
            "manifest_kind": manifest.kind,
            "train_records": len(records),
            "train_groups": len({r.group for r in records}),
            "train_labels": _label_counts(records),
            "train_slices": len(ds),
        }
    )
    return loader, min(len(loader), cfg.steps_per_epoch or len(loader)), setters


def _validation_scans(
    cfg: TrainConfig, pp: Preprocessing, manifest: Manifest | None, val_records: Sequence[Any], summary: dict[str, Any]
) -> list[LabelledScan]:
    if cfg.val == SYNTH or (cfg.val is None and cfg.train == SYNTH):
        va = patient_range(cfg.val_patients, "val_patients")
        summary["val_patients"] = [va.start, va.stop]
        return synthetic_scans(va, seed=cfg.seed, size=pp.size, slices_per_scan=cfg.val_slices_per_series or 16, cache=True)
    if cfg.val is None:
        assert manifest is not None  # a manifest training source without --val is split above
        summary["val_split"] = {"fraction": cfg.val_fraction, "seed": cfg.seed, "records": len(val_records)}
        return scans_from_manifest(manifest, val_records)
    vm = read_manifest(cfg.val)
    if manifest is not None:
        check_disjoint(manifest.records, vm.records, cfg.train, cfg.val)
    return scans_from_manifest(vm)


def _label_counts(records: Sequence[Any]) -> dict[str, int]:
    out = dict.fromkeys(PHASE_NAMES, 0)
    for r in records:
        out[PHASE_NAMES[int(r.label)]] += 1
    return out


def check_disjoint(train: Sequence[Any], val: Sequence[Any], tpath: str, vpath: str) -> None:
    """Refuse validation data that shares a patient/study group or a series/image path with training.

    The message names manifest lines, never the patient identifiers themselves.
    """
    tg = {r.group for r in train if not r.group.startswith("path:")}
    tp = {Path(r.path).resolve() for r in train}
    shared = [r for r in val if r.group in tg or Path(r.path).resolve() in tp]
    if shared:
        raise ConfigError(
            f"{len(shared)} record(s) of {vpath} share a patient, study or path with {tpath} "
            f"(e.g. line {shared[0].line}); validation must be patient-disjoint"
        )
