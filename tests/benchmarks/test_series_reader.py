"""benchmarks/series_reader.py: the vote and the reader read the same draw."""

from __future__ import annotations

import numpy as np
from benchmark_scripts import load

from ctphase.models.heads import SliceOutputs
from ctphase.models.reader import SeriesReader, series_features
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
        vote, share, p, rms = sr.read_draw(out, "series-a", draw, reader)
        idx = sample_slices(n, 0.3, 8, series_seed(draw, "series-a"))
        assert vote == majority_vote(probs[idx]).label and share == majority_vote(probs[idx]).fractions.max()
        assert np.allclose(p, reader.read(out.take(idx)))
        assert np.isclose(p[2] / p[0], np.exp(5.0 * out.organs[idx, 0].mean()))
        # the reader's standardisation is the identity here: the RMS of the raw features
        assert np.isclose(rms, np.sqrt(np.mean(series_features(out.take(idx)) ** 2)))
    assert not np.allclose(sr.read_draw(out, "series-a", 0, reader)[2], sr.read_draw(out, "series-a", 1, reader)[2])


def test_overrules_counts_who_is_right_where_the_reader_differs() -> None:
    rows = [(2, 0.7, 1, 2), (2, 0.5, 3, 3), (1, 0.9, 1, 1), (0, 0.6, 3, 3)]  # (vote, share, reader, truth)
    text = sr.overrules(rows)
    assert text.startswith("the reader overrules the vote in 3 of 4 reads: the reader right 2, the vote right 1")
    assert text.endswith("0.52 / 0.60 / 0.68")
    assert sr.overrules(rows[2:3]) == "the reader never overrules the vote (1 reads)"
