"""Training datasets: the paper's slices, manifest series (cache, block sampler), the synthetic stream."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import torch
from training_toys import toy_source, write_nifti_manifest, write_paper_csv

from ctphase.data import read_manifest
from ctphase.preprocessing import Preprocessing
from ctphase.training.augment import Augment
from ctphase.training.datasets import PaperSliceDataset, SeriesBlockSampler, SeriesSliceDataset, SynthSliceStream


def test_paper_dataset_labels_and_shapes(tmp_path: Path) -> None:
    csv = write_paper_csv(tmp_path, n_scans=1, labels=(1, 2), n_slices=2)
    man = read_manifest(csv)
    ds = PaperSliceDataset(man.records, Preprocessing(size=24), Augment())
    x, y = ds[0]
    assert x.shape == (3, 24, 24) and x.dtype == torch.float32
    assert sorted({int(ds[i][1]) for i in range(len(ds))}) == [1, 2]  # canonical arterial, venous


def test_series_dataset_cache_and_block_sampler(tmp_path: Path) -> None:
    csv = write_nifti_manifest(tmp_path, n_patients=2, labels=(0, 1), n_slices=6)
    ds = SeriesSliceDataset(read_manifest(csv).records, Preprocessing(size=32), None, cache_bytes=1 << 20)
    assert len(ds) == 4 * 6
    x, y = ds[7]
    assert x.shape == (3, 32, 32) and y == 1  # second series: p0 arterial
    assert len(ds._cache.items) == 1
    sampler = SeriesBlockSampler(ds.sample_groups(), series_per_block=2, seed=0)
    order = list(sampler)
    assert sorted(order) == list(range(len(ds)))
    first_block = {ds.locate(i)[0] for i in order[:12]}
    assert len(first_block) == 2  # a block's slices come together
    sampler.set_epoch(1)
    assert list(sampler) != order


def test_synth_stream_splits_patients_between_workers() -> None:
    calls: list[tuple[int, list[int]]] = []

    def source(seed, size, patients, slices_per_series=16, phases=None):
        calls.append((seed, list(patients)))
        yield from toy_source(seed, size, patients, slices_per_series, phases)

    stream = SynthSliceStream(Preprocessing(size=24), range(10, 20), slices_per_series=2, source=source, shuffle_buffer=4)
    it0, it1 = stream._slices(0, 2), stream._slices(1, 2)
    next(it0), next(it1)
    (s0, p0), (s1, p1) = calls
    assert s0 == s1 == 0  # one population seed: patient i is the same anatomy everywhere
    assert set(p0).isdisjoint(p1) and sorted(p0 + p1) == list(range(10, 20))
    x, y = next(iter(stream))
    assert x.shape == (3, 24, 24) and x.dtype == torch.float32 and 0 <= y < 4
    # the stream continues across epochs instead of replaying the same slices
    first = [t for t, _ in itertools.islice(iter(stream), 6)]
    stream.set_epoch(1)
    second = [t for t, _ in itertools.islice(iter(stream), 6)]
    assert not any(torch.equal(a, b) for a in first for b in second)


def test_synth_stream_reuse_yields_each_slice_several_times() -> None:
    rendered = []

    def source(seed, size, patients, slices_per_series=16, phases=None):
        for item in toy_source(seed, size, patients, slices_per_series, phases):
            rendered.append(item)
            yield item

    stream = SynthSliceStream(Preprocessing(size=24), range(4), slices_per_series=2, source=source, shuffle_buffer=8, reuse=3)
    out = list(itertools.islice(iter(stream), 60))
    assert len(out) == 60 and len(rendered) <= 60 // 3 + 8 + 1


def test_synth_stream_with_dataloader_workers_yields_distinct_slices() -> None:
    stream = SynthSliceStream(Preprocessing(size=24), range(0, 8), slices_per_series=2, source=toy_source, shuffle_buffer=8)
    loader = torch.utils.data.DataLoader(stream, batch_size=8, num_workers=2)
    batches = []
    for i, (x, _) in enumerate(loader):
        batches.append(x)
        if i == 3:
            break
    flat = torch.cat(batches).reshape(32, -1)
    assert len({tuple(r.tolist()) for r in flat}) == 32


def test_synth_stream_shuffle_buffer_sets_how_many_series_a_batch_spans() -> None:
    # each series is one constant image (its own HU value), so a batch's distinct images are its series
    def source(seed, size, patients, slices_per_series=16, phases=None):
        for k in itertools.count():
            for _ in range(slices_per_series):
                yield np.full((size, size), -140.0 + k, np.float32), k % 4, k

    def series_in_first_batch(buffer: int) -> int:
        stream = SynthSliceStream(Preprocessing(size=16), range(4), slices_per_series=16, source=source, shuffle_buffer=buffer)
        batch = [x for x, _ in itertools.islice(iter(stream), 32)]
        return len({round(float(x[0, 0, 0]), 5) for x in batch})

    small, large = series_in_first_batch(32), series_in_first_batch(512)
    assert small <= 4  # 32 buffered slices of 16-slice series: the batch comes from 2-4 series
    assert large >= 16  # 512 buffered slices (32 series): the batch spans most of them (21 when written)


def test_train_config_shuffle_buffer_reaches_the_synthetic_stream() -> None:
    from ctphase.training.batches import _synth_loader
    from ctphase.training.config import TrainConfig

    cfg = TrainConfig(shuffle_buffer=1024, num_workers=0)
    summary: dict = {}
    loader, _, (stream,) = _synth_loader(cfg, Preprocessing(size=24), None, {"batch_size": 4}, summary)
    assert stream.shuffle_buffer == 1024 and summary["shuffle_buffer"] == 1024


def test_a_resumed_synth_stream_starts_at_another_pass_of_the_engine() -> None:
    """A fresh run's stream is the engine's from pass 0 (unchanged); one resumed at epoch 3 starts at
    pass 3: other patients first and other series, not a replay of epoch 1's."""
    from ctphase.synth import iter_training_slices

    def patients_of(stream: SynthSliceStream) -> list[int]:
        seen: list[int] = []

        def source(*args, **kw):
            for hu, label, patient, *rest in iter_training_slices(*args, **kw):
                seen.append(int(patient))
                yield hu, label, patient, *rest

        stream._source = source
        list(itertools.islice(stream._slices(0, 1), 8))
        return seen[:8]

    fresh = SynthSliceStream(Preprocessing(size=24), range(100, 140), slices_per_series=2, shuffle_buffer=4)
    engine = [int(p) for _, _, p in itertools.islice(iter_training_slices(0, 24, range(100, 140), slices_per_series=2), 8)]
    assert patients_of(fresh) == engine  # pass 0, as before resuming existed
    resumed = SynthSliceStream(Preprocessing(size=24), range(100, 140), slices_per_series=2, shuffle_buffer=4)
    resumed.set_epoch(3)
    pass3 = [int(p) for _, _, p in itertools.islice(
        iter_training_slices(0, 24, range(100, 140), slices_per_series=2, first_pass=3), 8)]
    assert patients_of(resumed) == pass3 != engine
