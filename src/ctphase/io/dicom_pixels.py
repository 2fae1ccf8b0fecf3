"""DICOM pixel decoding: stored values to Hounsfield units, one slice file (or frame) at a time.

:class:`DicomSeries` is the lazily decoded DICOM stack: :meth:`DicomSeries.read_slices`
opens only the files of the requested slices, and decodes only the requested frames of an
Enhanced CT file. Native 16-bit pixel data is read directly at the offset found by the header
scan; every other encoding is decoded by pydicom. Each frame has its own rescale values.

Standard references (DICOM PS3.3):

- C.11.1 Modality LUT: HU = stored value x Rescale Slope + Rescale Intercept, per slice.
  A CT file without Rescale Slope/Intercept is read with slope 1 and intercept 0 (stored
  values taken as HU) and the series gets a warning: CT Image IOD makes both mandatory, and
  files that lack them in practice come from converters that stored HU directly.
- C.7.5.1.1.2 Pixel Padding Value / Pixel Padding Range Limit (stored-value space): padded
  pixels become -1024 HU. Values below -1024 HU after rescale (reconstruction-circle fill
  such as -2000 or -3024) are clipped to -1024.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import DicomReadError, InputError, SeriesError
from .dicom_header import SliceHeader
from .series import AIR_HU, Series


@dataclass
class DicomSeries(Series):
    """A DICOM CT stack; ``slices`` holds one :class:`SliceHeader` per index, sorted."""

    slices: list[SliceHeader] = field(default_factory=list, repr=False)

    def read_slices(self, indices: np.ndarray | list[int] | None = None) -> np.ndarray:
        """Decode the given slices (all when ``None``) to HU, ``(N, rows, cols)`` float32; only those files are read.

        Slices are decoded by up to :data:`READ_THREADS` threads (file reads, numpy and most
        decoders release the GIL); each writes its own row, so the result is the serial one.
        """
        idx = list(range(self.n_slices)) if indices is None else [int(i) for i in np.asarray(indices).reshape(-1)]
        for i in idx:
            if not 0 <= i < self.n_slices:
                msg = f"slice index {i} out of range for a series of {self.n_slices} slices"
                raise SeriesError(msg, self.path)
        out = np.empty((len(idx), *self.shape), dtype=np.float32)

        def one(k: int) -> None:
            out[k] = read_slice_hu(self.slices[idx[k]])

        threads = min(READ_THREADS, _cpus(), len(idx) // _MIN_SLICES_PER_THREAD)
        if threads <= 1:
            for k in range(len(idx)):
                one(k)
        else:
            with ThreadPoolExecutor(threads, thread_name_prefix="ctphase-read") as pool:
                for _ in pool.map(one, range(len(idx))):  # in order: the first failing slice raises
                    pass
        return out


READ_THREADS = 1
"""Most threads :meth:`DicomSeries.read_slices` decodes with (never more than the CPUs available).

1 by default: on a 2-core machine with a warm page cache, 2 threads were no faster per scan
(``benchmarks/speed_levers.py``: the read is memory-bound and the cores are shared with the
model). Raise it where reads wait on storage (network file systems, cold caches)."""
_MIN_SLICES_PER_THREAD = 4


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


def prefetch(chunks: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    """Yield the items of ``chunks`` while the next one is produced in a background thread.

    ``prefetch(series.iter_slices(indices, chunk))`` reads chunk k + 1 while the caller classifies
    chunk k. Same items, same order; an exception of ``chunks`` is raised where it would have
    been. At most one item is read ahead (memory: two chunks). Closing the generator early
    waits for the read in flight and drops it.
    """
    with ThreadPoolExecutor(1, thread_name_prefix="ctphase-prefetch") as pool:
        pending = pool.submit(next, chunks, _END)
        while True:
            item = pending.result()
            if item is _END:
                return
            pending = pool.submit(next, chunks, _END)
            yield item


_END: Any = object()


def read_slice_hu(h: SliceHeader) -> np.ndarray:
    """One slice in HU, ``(rows, cols)`` float32.

    Raises:
        DicomReadError: naming the file, when it can no longer be read or its pixels not decoded.
    """
    try:
        stored = _stored_values(h)
    except InputError:
        raise
    except FileNotFoundError:
        raise DicomReadError("cannot read file: it no longer exists", h.path) from None
    except OSError as exc:
        raise DicomReadError(f"cannot read file: {exc.strerror or exc}", h.path) from None
    except Exception as exc:  # decoder plugins raise many types
        msg = f"cannot decode pixel data ({type(exc).__name__}: {exc}); transfer syntax {h.transfer_syntax}"
        raise DicomReadError(msg, h.path) from None
    except BaseException as exc:
        # Rust decoders (pylibjpeg-rle) panic on corrupt data with pyo3's PanicException, a BaseException
        if type(exc).__name__ != "PanicException":
            raise
        msg = f"cannot decode pixel data (the decoder crashed: {exc}); transfer syntax {h.transfer_syntax}"
        raise DicomReadError(msg, h.path) from None
    return stored_to_hu(stored, h.slope, h.intercept, h.padding, h.padding_limit)


def stored_to_hu(
    stored: np.ndarray,
    slope: float = 1.0,
    intercept: float = 0.0,
    padding: int | None = None,
    padding_limit: int | None = None,
) -> np.ndarray:
    """Stored pixel values -> HU float32 (PS3.3 C.11.1), padding -> -1024, values below -1024 clipped.

    Padding (PS3.3 C.7.5.1.1.2) is matched on stored values: ``padding`` alone, or the inclusive
    range between ``padding`` and ``padding_limit``.
    """
    hu = stored.astype(np.float32)
    mask = None
    if padding is not None:
        if padding_limit is None:
            mask = stored == padding
        else:
            lo, hi = sorted((padding, padding_limit))
            mask = (stored >= lo) & (stored <= hi)
    if slope != 1.0:
        hu *= np.float32(slope)
    if intercept != 0.0:
        hu += np.float32(intercept)
    if mask is not None:
        hu[mask] = AIR_HU
    np.maximum(hu, AIR_HU, out=hu)
    return hu


def _stored_values(h: SliceHeader) -> np.ndarray:
    """Decode one slice's stored values ``(rows, cols)``: direct read for native 16-bit data, pydicom otherwise.

    A frame of a multi-frame file (``h.frame``) is read alone: at its byte offset for native
    data, through pydicom's frame-wise decoding (``pydicom.pixels.pixel_array(index=...)``) else.
    """
    if h.pixel_offset is not None and h.bits_allocated == 16 and h.samples == 1 and (h.frames == 1 or h.frame):
        n = h.rows * h.cols
        with h.open_file() as fh:  # the file, or the archive member it names
            fh.seek(h.pixel_offset + 2 * n * ((h.frame or 1) - 1))
            raw = fh.read(2 * n)
        if len(raw) < 2 * n:
            raise DicomReadError("file is truncated: PixelData is shorter than the header says", h.path)
        arr = np.frombuffer(raw, dtype="<i2" if h.pixel_representation == 1 else "<u2").reshape(h.rows, h.cols)
        if h.bits_stored < 16:
            shift = 16 - h.bits_stored
            if h.pixel_representation == 1:  # sign-extend from the high stored bit (PS3.5 8.1.1)
                arr = (arr << shift) >> shift
            else:
                arr = arr & ((1 << h.bits_stored) - 1)
        return arr
    import pydicom

    with h.open_file() as fh:
        if h.frame is not None:
            from pydicom.pixels import pixel_array

            arr = pixel_array(fh, index=h.frame - 1)
        else:
            arr = pydicom.dcmread(fh, force=True).pixel_array
    if arr.shape != (h.rows, h.cols):
        msg = f"decoded pixel array has shape {arr.shape}, expected ({h.rows}, {h.cols})"
        raise DicomReadError(msg, h.path)
    return arr


__all__ = ["READ_THREADS", "DicomSeries", "prefetch", "read_slice_hu", "stored_to_hu"]
