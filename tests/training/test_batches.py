"""TrainingData.batches: epochs of a finite loader and of the endless synthetic stream."""

from __future__ import annotations

import torch
from training_toys import toy_source

from ctphase.preprocessing import Preprocessing
from ctphase.training.batches import TrainingData
from ctphase.training.datasets import SynthSliceStream


def _stream_loader() -> torch.utils.data.DataLoader:
    stream = SynthSliceStream(Preprocessing(size=16), range(0, 8), slices_per_series=2, source=toy_source, shuffle_buffer=8)
    return torch.utils.data.DataLoader(stream, batch_size=4, num_workers=1, persistent_workers=True, prefetch_factor=4)


def _epochs(data: TrainingData, n: int) -> list[torch.Tensor]:
    return [x for e in range(n) for x, _ in data.batches(e)]


def test_the_endless_stream_goes_on_across_epochs_without_dropping_prefetched_batches() -> None:
    data = TrainingData(_stream_loader(), 3, [], {}, [], endless=True)
    first = _epochs(data, 1)
    it = data._iterator
    got = first + [x for x, _ in data.batches(1)]
    assert data._iterator is it  # one iterator for the whole run
    reference = _stream_loader()  # the same stream read in one go
    expected = [x for _, (x, _) in zip(range(6), reference)]
    assert len(got) == 6 and all(torch.equal(a, b) for a, b in zip(got, expected))
    # a new iterator per epoch would have dropped the batches its worker had prefetched
    restarted = _epochs(TrainingData(_stream_loader(), 3, [], {}, []), 2)
    assert not all(torch.equal(a, b) for a, b in zip(restarted[3:], expected[3:]))


def test_a_finite_loader_starts_each_epoch_afresh_and_may_end_early() -> None:
    xs = torch.arange(10.0).reshape(10, 1)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(xs, torch.zeros(10)), batch_size=4, drop_last=True)
    data = TrainingData(loader, 5, [], {}, [])  # 5 steps asked, 2 full batches in the loader
    epochs = [[x[:, 0].tolist() for x, _ in data.batches(e)] for e in range(2)]
    assert epochs == [[[0, 1, 2, 3], [4, 5, 6, 7]]] * 2
