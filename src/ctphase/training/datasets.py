"""Training datasets: ``(x (C, H, W) float32, label int)`` pairs for the slice classifier.

Every sample goes HU slice -> optional :class:`Augment` (in HU, before windowing) ->
:class:`ctphase.preprocessing.Preprocessing` (the one windowing/resizing implementation, the
same the checkpoint will use at prediction time). Three sources:

- :class:`SeriesSliceDataset`: every slice of the series of a manifest (DICOM series folders
  or NIfTI files, read with :func:`ctphase.io.load_series`); whole volumes are cached per series
  in a memory-bounded LRU cache, and :class:`SeriesBlockSampler` orders samples so that the
  cache is hit.
- :class:`PaperSliceDataset`: the paper's pre-rendered 8-bit slice images. They are already
  windowed (by default with the paper's window 50/400, i.e. HU -150..250 -> 0..255), so each
  pixel value ``v`` is mapped back to the HU it stands for, ``hu = lo + v * width / 255``, and then
  fed through the same Preprocessing as any CT. With the same window this reproduces ``v / 255``
  exactly; a wider window sees the clipping of the original rendering (nothing above 250 HU).
- :class:`SynthSliceStream`: an endless stream from the synthetic CT engine
  (:func:`ctphase.synth.iter_training_slices`), seeded per epoch, pass and DataLoader worker,
  with patients split between workers so that no two workers yield the same slices.

No left-right flip by default: abdominal anatomy is lateralised (liver right, spleen left).
"""

from __future__ import annotations

import itertools
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset, Sampler, get_worker_info

from ..errors import ConfigError, InputError, listed
from ..data.manifest import SeriesRecord, SliceRecord
from ..io.paper_slices import read_8bit_as_hu
from ..phases import SUBPHASE_NAMES
from ..preprocessing import PAPER_WINDOW, Preprocessing
from .augment import Augment

def derive_seed(*parts: int | str) -> int:
    """A 63-bit seed derived from a tuple of ints/strings (stable across processes and runs)."""
    ints = [int(p) & 0xFFFFFFFF if isinstance(p, (int, np.integer)) else zlib.crc32(str(p).encode()) for p in parts]
    return int(np.random.SeedSequence(ints).generate_state(1, np.uint64)[0]) >> 1


def _prepare(hu: np.ndarray, pp: Preprocessing, augment: Augment | None, rng: np.random.Generator | None) -> torch.Tensor:
    if augment is not None:
        assert rng is not None
        hu = augment(hu, rng)
    return torch.from_numpy(pp(hu)[0])


def _targets(extra: Sequence[Any]) -> tuple[Any, ...]:
    """``(subphase name, seconds or None[, organ HU])`` of the synthetic engine -> ``(subphase index,
    seconds or NaN[, organ HU (O,) float32 with NaN where not visible])``."""
    sub, seconds, *organ_hu = extra
    return SUBPHASE_NAMES.index(str(sub)), float("nan") if seconds is None else float(seconds), *organ_hu


def _worker_rng(base_seed: int, epoch: int, index: int | None = None) -> np.random.Generator:
    info = get_worker_info()
    wid = info.id if info is not None else 0
    parts: list[int | str] = [base_seed, epoch, wid]
    if index is not None:
        parts.append(index)
    return np.random.default_rng(derive_seed(*parts))


# --------------------------------------------------------------------------------------------
# manifest series (DICOM folders / NIfTI files)
# --------------------------------------------------------------------------------------------


class _LRU:
    """Byte-bounded LRU cache of HU volumes (one per process/worker)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = int(max_bytes)
        self.items: OrderedDict[int, np.ndarray] = OrderedDict()
        self.nbytes = 0

    def get(self, key: int) -> np.ndarray | None:
        v = self.items.get(key)
        if v is not None:
            self.items.move_to_end(key)
        return v

    def put(self, key: int, value: np.ndarray) -> None:
        if value.nbytes > self.max_bytes:
            return
        self.items[key] = value
        self.nbytes += value.nbytes
        while self.nbytes > self.max_bytes and self.items:
            _, old = self.items.popitem(last=False)
            self.nbytes -= old.nbytes


def _line(r: SeriesRecord) -> str:
    return f" (manifest line {r.line})" if r.line else ""


def default_series_loader(path: Path) -> Any:
    """Load one series (headers only) with :func:`ctphase.io.load_series` (any number of slices)."""
    from ..io import load_series

    return load_series(path, min_slices=1)


class SeriesSliceDataset(Dataset):
    """Every slice of every series of a manifest, as ``(x (C, size, size) float32, label)``.

    Headers are read when the dataset is built (fast); pixels on first use of a series, whole
    volume at once into a per-process LRU cache bounded by ``cache_bytes`` (volumes larger than
    the cache are read slice by slice). Use :class:`SeriesBlockSampler` for shuffled training
    that still hits the cache.

    Args:
        records: series records of a manifest.
        preprocessing: the checkpoint's preprocessing.
        augment: augmentation, or ``None`` (evaluation).
        slice_stride: use every ``slice_stride``-th slice (thin-slice series carry near-duplicates).
        seed: base seed of the augmentation draws.
        loader: ``path -> Series`` (default :func:`ctphase.io.load_series`).
    """

    def __init__(
        self,
        records: Sequence[SeriesRecord],
        preprocessing: Preprocessing,
        augment: Augment | None = None,
        *,
        cache_bytes: int = 1 << 30,
        slice_stride: int = 1,
        seed: int = 0,
        loader: Callable[[Path], Any] = default_series_loader,
    ) -> None:
        if slice_stride < 1:
            raise ConfigError(f"slice_stride must be >= 1, got {slice_stride}")
        self.records = list(records)
        self.preprocessing = preprocessing
        self.augment = augment
        self.seed = int(seed)
        self.epoch = 0
        self.series = []
        problems: list[tuple[SeriesRecord, str]] = []  # every unloadable series is named at once
        for r in self.records:
            try:
                self.series.append(loader(r.path))
            except InputError as exc:
                problems.append((r, exc.reason))
        if len(problems) == 1:
            r, reason = problems[0]
            raise InputError(f"cannot load series{_line(r)}: {reason}", r.path)
        if problems:
            raise InputError(listed([f"{r.path}{_line(r)}: {reason}" for r, reason in problems], "series cannot be loaded"))
        self.slice_index = [np.arange(0, s.n_slices, slice_stride, dtype=np.int64) for s in self.series]
        counts = np.array([len(i) for i in self.slice_index], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(counts)])
        self.labels = np.array([int(r.label) for r in self.records], dtype=np.int64)
        self._cache = _LRU(cache_bytes)

    def set_epoch(self, epoch: int) -> None:
        """Change the augmentation draws for a new epoch."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def locate(self, index: int) -> tuple[int, int]:
        """``(series number, slice index within the series)`` of a flat sample index."""
        s = int(np.searchsorted(self.offsets, index, side="right") - 1)
        return s, int(self.slice_index[s][index - self.offsets[s]])

    def read_hu(self, series_no: int, slice_no: int) -> np.ndarray:
        """``(H, W)`` HU of one slice, via the volume cache."""
        vol = self._cache.get(series_no)
        if vol is None:
            s = self.series[series_no]
            nbytes = s.n_slices * s.shape[0] * s.shape[1] * 4
            if nbytes > self._cache.max_bytes:
                return s.read_slices([slice_no])[0]
            vol = s.read_volume()
            self._cache.put(series_no, vol)
        return vol[slice_no]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        if not 0 <= index < len(self):
            raise IndexError(index)
        s, k = self.locate(index)
        rng = _worker_rng(self.seed, self.epoch, index) if self.augment is not None else None
        return _prepare(self.read_hu(s, k), self.preprocessing, self.augment, rng), int(self.labels[s])

    def sample_groups(self) -> list[np.ndarray]:
        """Flat sample indices of each series (for :class:`SeriesBlockSampler`)."""
        return [np.arange(self.offsets[i], self.offsets[i + 1]) for i in range(len(self.series))]


class SeriesBlockSampler(Sampler[int]):
    """Shuffled order that visits series in blocks: cache-friendly shuffling.

    Each epoch the series are shuffled and cut into blocks of ``series_per_block``; the slices
    of one block are shuffled together and yielded before the next block. A batch then mixes
    slices of ``series_per_block`` series while each volume is read once per epoch.
    """

    def __init__(self, groups: Sequence[np.ndarray], series_per_block: int = 8, seed: int = 0) -> None:
        if series_per_block < 1:
            raise ConfigError(f"series_per_block must be >= 1, got {series_per_block}")
        self.groups = [np.asarray(g, dtype=np.int64) for g in groups]
        self.series_per_block = int(series_per_block)
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Use a different order for a new epoch."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return int(sum(len(g) for g in self.groups))

    def __iter__(self) -> Iterator[int]:
        rng = np.random.default_rng(derive_seed(self.seed, self.epoch, "blocks"))
        order = rng.permutation(len(self.groups))
        for b in range(0, len(order), self.series_per_block):
            block = np.concatenate([self.groups[i] for i in order[b : b + self.series_per_block]])
            yield from rng.permutation(block).tolist()


# --------------------------------------------------------------------------------------------
# the paper's pre-rendered 8-bit slices
# --------------------------------------------------------------------------------------------


class PaperSliceDataset(Dataset):
    """The paper's per-slice images as ``(x (C, size, size) float32, label)``.

    See the module docstring for how 8-bit images are fed (mapped back to HU through the
    inverse of ``source_window``, then the common Preprocessing; augmentation acts in HU).
    """

    def __init__(
        self,
        records: Sequence[SliceRecord],
        preprocessing: Preprocessing,
        augment: Augment | None = None,
        *,
        source_window: tuple[float, float] = PAPER_WINDOW,
        seed: int = 0,
    ) -> None:
        self.records = list(records)
        self.preprocessing = preprocessing
        self.augment = augment
        self.source_window = (float(source_window[0]), float(source_window[1]))
        self.seed = int(seed)
        self.epoch = 0
        self.labels = np.array([int(r.label) for r in self.records], dtype=np.int64)

    def set_epoch(self, epoch: int) -> None:
        """Change the augmentation draws for a new epoch."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.records)

    def read_hu(self, index: int) -> np.ndarray:
        """``(H, W)`` pseudo-HU of one image."""
        return read_8bit_as_hu(self.records[index].path, self.source_window)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        rng = _worker_rng(self.seed, self.epoch, index) if self.augment is not None else None
        return _prepare(self.read_hu(index), self.preprocessing, self.augment, rng), int(self.labels[index])


# --------------------------------------------------------------------------------------------
# the synthetic stream
# --------------------------------------------------------------------------------------------


@dataclass
class StreamStats:
    """Counters of a synthetic stream (per process)."""

    slices: int = 0
    per_class: list[int] = field(default_factory=lambda: [0, 0, 0, 0])


class SynthSliceStream(IterableDataset):
    """Endless stream of augmented synthetic slices ``(x (C, size, size) float32, label)``.

    Wraps :func:`ctphase.synth.iter_training_slices`, whose ``seed`` fixes the virtual
    population (patient ``i`` of seed ``s`` is always the same anatomy), so train, validation
    and test use the same seed with disjoint patient ranges. Patients are split between
    DataLoader workers (worker ``w`` of ``n`` takes ``patients[w::n]``), so workers never
    duplicate each other. The underlying stream is endless and kept alive across epochs (per
    process; use ``persistent_workers=True``), so each epoch continues with new series of the
    same patients; a run resumed at epoch ``e`` starts it at the engine's pass ``e`` (other series,
    new augmentation draws). Slices are mixed in a shuffle buffer of
    ``shuffle_buffer`` because the engine yields the slices of one series consecutively.

    Args:
        preprocessing: the checkpoint's preprocessing (its size is the render size unless
            ``render_size`` is given).
        patients: patient indices to draw from (keep train and validation ranges disjoint).
        seed: population seed (also seeds the augmentation, with the worker id).
        slices_per_series: slices drawn from each rendered series.
        phases: restrict to these phases (``None``: all four, balanced).
        augment: augmentation, or ``None``.
        heads: also yield each slice's subphase index (``SUBPHASE_NAMES`` order) and seconds after
            injection (NaN for non-contrast): items ``(x, label, subphase, seconds)``, the targets
            of a network with heads (:mod:`ctphase.models.heads`).
        organs: with ``heads``, also yield each slice's organ HU (NaN where the organ is not in the
            slice; :func:`ctphase.synth.stream.visible_organ_hu`): items ``(x, label, subphase, seconds,
            organ_hu)``, the targets of an enhancement head.
        extra_conditions: condition name -> probability that a series also gets that uncommon
            condition of :mod:`ctphase.synth.conditions` (e.g. ``{"pet_ct": 0.12}``), on top of its rate.
        reuse: each rendered slice is yielded this many times (differently augmented, at
            random moments): multiplies throughput where rendering is the bottleneck, at the
            cost of diversity. 1 (default) uses every rendered slice once.
        source: stand-in for ``iter_training_slices`` (tests).
    """

    def __init__(
        self,
        preprocessing: Preprocessing,
        patients: range,
        *,
        seed: int = 0,
        slices_per_series: int = 16,
        phases: Sequence[int] | None = None,
        augment: Augment | None = None,
        render_size: int | None = None,
        shuffle_buffer: int = 256,
        reuse: int = 1,
        heads: bool = False,
        organs: Sequence[str] = (),
        extra_conditions: Mapping[str, float] | None = None,
        source: Callable[..., Iterator[tuple[np.ndarray, int, int]]] | None = None,
    ) -> None:
        if int(reuse) < 1:
            raise ConfigError(f"reuse must be >= 1, got {reuse}")
        if not isinstance(patients, range) or len(patients) == 0:
            raise ConfigError(f"patients must be a non-empty range, got {patients!r}")
        if slices_per_series < 1:
            raise ConfigError(f"slices_per_series must be >= 1, got {slices_per_series}")
        self.preprocessing = preprocessing
        self.patients = patients
        self.seed = int(seed)
        self.slices_per_series = int(slices_per_series)
        self.phases = None if phases is None else [int(p) for p in phases]
        self.augment = augment
        self.render_size = int(render_size or preprocessing.size)
        self.shuffle_buffer = max(1, int(shuffle_buffer))
        self.reuse = int(reuse)
        self.heads = bool(heads)
        self.organs = tuple(str(o) for o in organs)
        self.extra_conditions = dict(extra_conditions or {})
        if self.organs and not self.heads:
            raise ConfigError("organ enhancement targets come with the heads: set heads=True")
        self._source = source
        self._state: tuple[tuple[int, int], Iterator[tuple[np.ndarray, int]], list, np.random.Generator] | None = None
        self.stats = StreamStats()
        self.epoch = 0

    def __getstate__(self) -> dict[str, Any]:
        d = self.__dict__.copy()
        d["_state"] = None  # generators do not pickle; each worker starts its own
        return d

    def set_epoch(self, epoch: int) -> None:
        """Record the epoch; only the first one matters (it seeds the augmentation and shuffling
        of a stream that then simply continues, and a run resumed at epoch ``e`` starts the
        engine at pass ``e``), so a resumed run replays neither the augmentations nor the series
        of epoch 1."""
        self.epoch = int(epoch)

    def _slices(self, wid: int, nworkers: int) -> Iterator[tuple[np.ndarray, int, tuple[Any, ...]]]:
        source = self._source
        if source is None:
            from ..synth import iter_training_slices as source
        mine = self.patients[wid::nworkers] or self.patients
        kw: dict[str, Any] = {"slices_per_series": self.slices_per_series}
        if self.phases is not None:
            kw["phases"] = self.phases
        if self.heads:
            kw["targets"] = True
        if self.organs:
            kw["organs"] = self.organs
        if self.extra_conditions:
            kw["extra"] = self.extra_conditions
        if self.epoch:  # a resumed run: the engine goes on at another pass (a fresh run's stream is unchanged)
            kw["first_pass"] = self.epoch
        for p in itertools.count():  # the engine's stream is endless; a finite stand-in restarts
            n = 0
            for hu, label, _patient, *extra in source(self.seed if p == 0 else derive_seed(self.seed, p), self.render_size, mine, **kw):
                n += 1
                yield hu, int(label), _targets(extra) if self.heads else ()
            if n == 0:
                raise ConfigError("the synthetic source yielded no slices; check patients and phases")

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        info = get_worker_info()
        key = (info.id, info.num_workers) if info is not None else (0, 1)
        if self._state is None or self._state[0] != key:
            rng = np.random.default_rng(derive_seed(self.seed, key[0], key[1], self.epoch, "augment"))
            self._state = (key, self._slices(*key), [], rng)
        _, gen, buf, rng = self._state
        # buffer entries: [hu, label, uses left, targets]; an entry is replaced by a new slice when used up
        for hu, label, targets in gen:
            item = [hu, label, self.reuse, targets]
            if len(buf) < self.shuffle_buffer:
                buf.append(item)
                continue
            while True:
                j = int(rng.integers(len(buf)))
                out = buf[j]
                out[2] -= 1
                if out[2] <= 0:
                    buf[j] = item
                self.stats.slices += 1
                self.stats.per_class[out[1]] += 1
                yield _prepare(out[0], self.preprocessing, self.augment, rng if self.augment else None), out[1], *out[3]
                if buf[j] is item:
                    break
