"""Slice samplers: which slices of a scan are classified.

The sampler only draws indices (it never touches pixels); the indices are recorded in every
prediction so that any result can be replayed.
"""

from __future__ import annotations

import math
import zlib

import numpy as np

from .errors import ConfigError

DEFAULT_SAMPLE_RATE = 0.3
DEFAULT_MIN_SLICES = 8
DRAW = "spread"
"""The name of :func:`sample_slices`' default draw, as evaluation results and run journals record it
(``"uniform"``, the paper's draw, is what results written before it used)."""
DEFAULT_EVAL_DRAWS = 20
"""Seeded draws over which evaluation also scores a scan set at R (one draw moves a scan F1 by a few hundredths)."""
DEFAULT_EARLY_STOP = True
"""Stop classifying a series' drawn slices once their vote is decided (``ctphase predict --no-early-stop``: all of them)."""


def n_samples(n_slices: int, sample_rate: float = DEFAULT_SAMPLE_RATE, min_slices: int = DEFAULT_MIN_SLICES) -> int:
    """How many of ``n_slices`` slices are drawn: ``ceil(R * n)``, at least ``min_slices``, at most ``n``."""
    check_sampling(sample_rate, min_slices)
    if n_slices < 0:
        msg = f"n_slices must be >= 0, got {n_slices}"
        raise ConfigError(msg)
    k = math.ceil(round(sample_rate * n_slices, 9))
    return int(min(n_slices, max(k, min_slices)))


def check_sampling(sample_rate: float, min_slices: int) -> None:
    """Validate sampling arguments, naming the bad value."""
    if not (0.0 < float(sample_rate) <= 1.0):
        msg = f"sample rate must be in (0, 1] (a fraction: 0.3 for 30%), got {sample_rate}"
        raise ConfigError(msg)
    if int(min_slices) < 1:
        msg = f"min_slices must be >= 1, got {min_slices}"
        raise ConfigError(msg)


def series_seed(seed: int | None, key: str) -> np.random.SeedSequence | None:
    """A seed for one series derived from the run seed and a stable key (its series id).

    The draw for a series then does not depend on the order in which series are processed.
    ``None`` gives fresh OS entropy.
    """
    if seed is None:
        return None
    return np.random.SeedSequence([int(seed) & 0xFFFFFFFF, zlib.crc32(key.encode("utf-8"))])


def sample_slices(
    n_slices: int,
    sample_rate: float = DEFAULT_SAMPLE_RATE,
    min_slices: int = DEFAULT_MIN_SLICES,
    seed: int | np.random.SeedSequence | np.random.Generator | None = None,
    *,
    spread: bool = True,
) -> np.ndarray:
    """Draw R% of the slice indices at random, without replacement.

    With ``spread`` (the default) the draw is stratified: the ``k`` drawn indices come one from each
    of ``k`` consecutive runs of ``n_slices // k`` or one more slices (which runs are the longer
    ones is drawn too), each uniformly at random within its run. A series is a stack in z, and
    neighbouring slices look alike, so a draw spread along the stack votes with less spread from draw
    to draw than one that can bunch at one end, at the same R. With ``spread=False`` the ``k``
    indices are drawn uniformly from all slices (the paper's draw).

    Args:
        n_slices: number of slices in the scan.
        sample_rate: fraction R in (0, 1].
        min_slices: draw at least this many (capped at ``n_slices``).
        seed: integer, SeedSequence or Generator for a reproducible draw.
        spread: one index per run of ``n_slices / k`` slices (default), or uniform over all.
    Returns:
        sorted ``(k,)`` int64 array of distinct indices in ``[0, n_slices)``.
    """
    k = n_samples(n_slices, sample_rate, min_slices)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    if k == n_slices:
        return np.arange(n_slices, dtype=np.int64)
    if not spread:
        return np.sort(rng.choice(n_slices, size=k, replace=False)).astype(np.int64)
    widths = np.full(k, n_slices // k, dtype=np.int64)
    widths[rng.choice(k, size=n_slices % k, replace=False)] += 1  # which runs hold one slice more: at random
    starts = np.cumsum(widths) - widths
    return starts + (rng.random(k) * widths).astype(np.int64)


def classification_order(indices: np.ndarray, seed: int | None, key: str) -> np.ndarray:
    """The drawn ``indices`` in the random order in which early stopping classifies them.

    The order spreads every prefix along the stack: the sorted draw is split in two halves (the
    longer one, or a random one of two equal, first), each half ordered so recursively, and the
    two orders interleaved. The first ``2**t`` classified slices then hold one slice of each of the
    ``2**t`` nested blocks of the draw, so a vote stopped early reads the whole stack, not one end of
    it, and every choice of which half comes first is random. Seeded by ``(seed, key)`` on a stream
    of its own, so the draw itself (:func:`sample_slices` with :func:`series_seed`) is the same with
    and without early stopping; ``None`` gives fresh OS entropy.
    """
    idx = np.sort(np.asarray(indices, dtype=np.int64).reshape(-1))
    entropy = None if seed is None else [int(seed) & 0xFFFFFFFF, zlib.crc32(key.encode("utf-8")), 1]
    return idx[_spread_order(len(idx), np.random.default_rng(np.random.SeedSequence(entropy)))]


def _spread_order(n: int, rng: np.random.Generator) -> np.ndarray:
    """Positions ``0..n-1`` in a random order whose prefixes are spread (see :func:`classification_order`)."""
    if n < 2:
        return np.arange(n, dtype=np.int64)
    half = n // 2 + (n % 2) * int(rng.integers(2))  # an odd count's extra position goes to a random half
    first, second = _spread_order(half, rng), half + _spread_order(n - half, rng)
    if len(second) > len(first) or (len(second) == len(first) and rng.integers(2)):
        first, second = second, first
    out = np.empty(n, dtype=np.int64)
    out[0:2 * len(second):2], out[1:2 * len(second):2] = first[:len(second)], second
    out[2 * len(second):] = first[len(second):]
    return out
