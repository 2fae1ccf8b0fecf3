"""benchmarks/series_reader.py: the vote and the reader read the same draw."""

from __future__ import annotations

import numpy as np
from benchmark_scripts import load

from ctphase.models.heads import SliceOutputs
from ctphase.models.reader import SeriesReader
from ctphase.phases import SUBPHASE_NAMES
from ctphase.sampling import sample_slices, series_seed
from ctphase.voting import majority_vote

sr = load("series_reader")


def test_vote_and_reader_read_the_same_drawn_slices() -> None:
    rng = np.random.default_rng(1)
    n, organs = 32, ("aorta",)
    probs = rng.dirichlet(np.ones(4), n)
    out = SliceOutputs(probs, rng.dirichlet(np.ones(8), n), rng.normal(4, 1, (n, 2)), rng.normal(1, 1, (n, 1)))
    width = 4 + 4 + 8 + 3 + 3
    coef = np.zeros((4, width))
    coef[2, width - 3] = 5.0  # "venous" rises with the organ's mean readout
    reader = SeriesReader(SUBPHASE_NAMES, organs, (0.0,) * width, (1.0,) * width, tuple(map(tuple, coef)), (0.0,) * 4)
    for draw in (0, 1):
        vote, p = sr.drawn(out, "series-a", draw, reader)
        idx = sample_slices(n, 0.3, 8, series_seed(draw, "series-a"))
        assert vote == majority_vote(probs[idx]).label
        assert np.allclose(p, reader.read(out.take(idx)))
        assert np.isclose(p[2] / p[0], np.exp(5.0 * out.organs[idx, 0].mean()))
    assert not np.allclose(sr.drawn(out, "series-a", 0, reader)[1], sr.drawn(out, "series-a", 1, reader)[1])
