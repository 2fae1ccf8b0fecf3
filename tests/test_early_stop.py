"""Early stopping (sequential voting): the stopping rule, predict_series with it and without it, end to end."""

from __future__ import annotations

import csv
import io
import itertools
from types import SimpleNamespace

import numpy as np
import pytest

from ctphase.phases import PHASE_NAMES
from ctphase.pipeline import classify, predict_series
from ctphase.sampling import classification_order, sample_slices, series_seed
from ctphase.voting import majority_vote, vote_decided, votes_until_decided

# --------------------------------------------------------------------------- the rule, exhaustively


def _compositions(total: int, k: int):
    """Every way ``total`` votes can fall on ``k`` classes (as counts)."""
    if k == 1:
        yield (total,)
        return
    for first in range(total + 1):
        for rest in _compositions(total - first, k - 1):
            yield (first, *rest)


def _final_winners(counts: np.ndarray, remaining: int) -> set[int]:
    """Every label the full vote could end with (a tie counts as all tied classes: mean probabilities pick)."""
    out: set[int] = set()
    for rest in _compositions(remaining, len(counts)):
        final = counts + np.array(rest)
        out.update(np.flatnonzero(final == final.max()).tolist())
    return out


@pytest.mark.parametrize("k", [2, 3, 4])
def test_rule_never_stops_while_the_winner_could_change_and_always_stops_when_it_cannot(k):
    """Every vote state with up to 10 votes drawn: stopped exactly when one label is certain."""
    for n in range(1, 11):
        for m in range(n):  # m votes seen, n - m >= 1 to come
            for counts in _compositions(m, k):
                c = np.array(counts)
                winners = _final_winners(c, n - m)
                assert vote_decided(c, n - m) == (len(winners) == 1), (counts, n - m, winners)
                if len(winners) == 1:
                    assert winners == {int(np.argmax(c))}


def test_votes_until_decided_is_the_exact_minimum():
    for counts in itertools.product(range(6), repeat=3):
        c = np.array(counts)
        for remaining in range(0, 9):
            t = votes_until_decided(c, remaining)
            # t more votes for the leader decide it; fewer votes never can, whoever they go to
            lead = np.argmax(c)
            assert vote_decided(c + t * (np.arange(3) == lead), remaining - t)
            for fewer in range(t):
                for rest in itertools.product(range(3), repeat=fewer):
                    after = c + np.bincount(np.array(rest, dtype=np.int64), minlength=3)
                    assert not vote_decided(after, remaining - fewer)


def test_hand_made_sequences():
    assert not vote_decided(np.array([5, 0, 0, 0]), 5)  # 5 vs 0 with 5 to come: could end 5-5
    assert vote_decided(np.array([6, 0, 0, 0]), 5)
    assert not vote_decided(np.array([7, 3, 0, 0]), 4)
    assert vote_decided(np.array([7, 3, 0, 0]), 3)
    assert vote_decided(np.array([1, 1, 0, 0]), 0)  # nothing left: the tie rule decides, as without stopping
    assert votes_until_decided(np.zeros(4), 30) == 16


# --------------------------------------------------------------------------- predict_series with a stub model


class FakeSeries:
    """Slice ``i`` holds the value ``labels[i]`` everywhere; records which slices were read, in order."""

    def __init__(self, labels, series_id="fake/1"):
        self.labels = np.asarray(labels)
        self.n_slices = len(labels)
        self.series_id, self.path, self.source = series_id, "/fake", "dicom"
        self.study_uid = self.series_uid = self.acquisition = self.reconstruction = None
        self.qc, self.warnings, self.read = [], [], []

    def iter_slices(self, indices, chunk):
        idx = [int(i) for i in indices]
        assert chunk >= 1
        for s in range(0, len(idx), chunk):
            part = idx[s : s + chunk]
            self.read.extend(part)
            yield np.stack([np.full((8, 8), float(self.labels[i]), dtype=np.float32) for i in part])


class StubClassifier:
    """Probability 0.7 for the class written in the slice, 0.1 for the others."""

    sha256 = "0" * 64
    preprocessing = SimpleNamespace(depth=None)

    def predict_hu(self, hu):
        probs = np.full((len(hu), 4), 0.1)
        probs[np.arange(len(hu)), hu[:, 0, 0].astype(int)] = 0.7
        return probs, 0.0, 0.0

    def series_probabilities(self, slice_probs):
        return np.asarray(slice_probs).mean(axis=0)


def test_easy_series_uses_fewer_slices_with_the_same_label():
    series = FakeSeries([2] * 90 + [1] * 10)
    pred = predict_series(series, StubClassifier(), seed=0, early_stop=True)
    full = predict_series(FakeSeries(series.labels), StubClassifier(), seed=0, early_stop=False)
    assert pred.sampled_indices == full.sampled_indices and len(pred.sampled_indices) == 30
    assert len(pred.used_indices) < len(full.used_indices) == 30
    assert len(pred.used_indices) >= 16  # the earliest a 30-vote majority can be decided
    assert set(pred.used_indices) <= set(pred.sampled_indices) and len(set(pred.used_indices)) == len(pred.used_indices)
    assert pred.image_label == full.image_label == "venous"
    assert series.read == pred.used_indices  # only the used slices were read, in the recorded order
    assert pred.used_indices == [int(i) for i in classification_order(pred.sampled_indices, 0, "fake/1")][: len(pred.used_indices)]
    assert pred.vote_fractions["venous"] * len(pred.used_indices) == pytest.approx(
        sum(series.labels[i] == 2 for i in pred.used_indices))


def test_contested_series_is_never_cut_short_of_a_decided_vote():
    rng = np.random.default_rng(1)
    for trial in range(40):
        labels = rng.choice(4, size=int(rng.integers(5, 120)), p=rng.dirichlet(np.ones(4)))
        a = predict_series(FakeSeries(labels, f"s/{trial}"), StubClassifier(), seed=trial, early_stop=True)
        b = predict_series(FakeSeries(labels, f"s/{trial}"), StubClassifier(), seed=trial, early_stop=False)
        assert a.image_label == b.image_label
        if len(a.used_indices) < len(a.sampled_indices):
            counts = np.bincount(labels[a.used_indices], minlength=4)
            assert vote_decided(counts, len(a.sampled_indices) - len(a.used_indices))


def test_no_early_stop_is_the_old_behaviour():
    series = FakeSeries([0, 1, 2, 3] * 20 + [2] * 20, "x/2")
    pred = predict_series(series, StubClassifier(), seed=4, early_stop=False, chunk=7)
    drawn = sample_slices(100, 0.3, 8, series_seed(4, "x/2"))
    assert pred.sampled_indices == pred.used_indices == drawn.tolist() == series.read
    probs, _, _ = StubClassifier().predict_hu(np.stack([np.full((8, 8), float(series.labels[i])) for i in drawn]))
    vote = majority_vote(probs)
    assert pred.image_label == PHASE_NAMES[vote.label] and pred.tie == vote.tie
    assert [pred.vote_fractions[n] for n in PHASE_NAMES] == pytest.approx(vote.fractions, abs=1e-6)


def test_early_stop_is_reproducible_with_a_seed():
    labels = np.random.default_rng(0).choice(4, size=200, p=[0.1, 0.2, 0.6, 0.1])
    runs = [predict_series(FakeSeries(labels), StubClassifier(), seed=s, early_stop=True) for s in (3, 3, 4)]
    dicts = [r.to_dict() for r in runs]
    for d in dicts:
        del d["timings"]
    assert dicts[0] == dicts[1]
    assert runs[0].used_indices != runs[2].used_indices


def test_volume_models_are_not_stopped_early():
    clf = StubClassifier()
    clf.preprocessing = SimpleNamespace(depth=16)
    pred = predict_series(FakeSeries([1] * 40), clf, early_stop=True)
    assert pred.used_indices == pred.sampled_indices == list(range(40))


# --------------------------------------------------------------------------- end to end


def test_bundled_model_end_to_end_on_a_written_series(tmp_path):
    """The real default network on a small synthetic DICOM study: early stop gives the fixed-R% labels from fewer
    slices (a model with a series reader reads every drawn slice: tests/test_pipeline.py)."""
    from ctphase.models import load_checkpoint
    from ctphase.models.calibration import calibration_of
    from ctphase.models.checkpoint import default_checkpoint_path
    from ctphase.synth import generate_dataset

    if default_checkpoint_path() is None:
        pytest.skip("no bundled model")
    assert calibration_of(load_checkpoint(default_checkpoint_path())).reader is None, "the default (v34) decides by its vote"
    generate_dataset(tmp_path / "d", 1, seed=0, matrix=96, max_slices=60, first_patient=500000)
    stop = [p for p in classify([tmp_path / "d"], seed=0) if p.status == "ok"]
    full = [p for p in classify([tmp_path / "d"], seed=0, early_stop=False) if p.status == "ok"]
    assert len(stop) == len(full) == 4
    for a, b in zip(stop, full):
        assert a.series_id == b.series_id and a.sampled_indices == b.sampled_indices
        assert a.image_label == b.image_label
        assert b.used_indices == b.sampled_indices and set(a.used_indices) <= set(a.sampled_indices)
    assert sum(len(p.used_indices) for p in stop) < sum(len(p.used_indices) for p in full)


def test_cli_no_early_stop_and_n_used_column(corpus, checkpoint):
    from typer.testing import CliRunner

    from ctphase.cli import app

    rows = {}
    for flag in ("--early-stop", "--no-early-stop"):
        res = CliRunner().invoke(app, ["predict", str(corpus / "study1"), "-m", str(checkpoint), "-f", "csv", "-q", flag])
        assert res.exit_code == 0, res.output
        rows[flag] = list(csv.DictReader(io.StringIO(res.stdout)))
    for r in rows["--no-early-stop"]:
        assert r["n_used"] == r["n_sampled"]
    for a, b in zip(rows["--early-stop"], rows["--no-early-stop"]):
        assert a["sampled_indices"] == b["sampled_indices"] and a["image_label"] == b["image_label"]
        assert 1 <= int(a["n_used"]) <= int(a["n_sampled"])
