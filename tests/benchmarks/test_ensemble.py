"""benchmarks/ensemble.py: how members' slice probabilities are combined."""

from __future__ import annotations

import numpy as np
import pytest
from benchmark_scripts import load

ens = load("ensemble")


def _members() -> list[list[np.ndarray]]:
    a = [np.array([[0.7, 0.1, 0.1, 0.1], [0.1, 0.6, 0.2, 0.1]]), np.array([[0.25, 0.25, 0.25, 0.25]])]
    b = [np.array([[0.1, 0.1, 0.1, 0.7], [0.1, 0.2, 0.6, 0.1]]), np.array([[0.1, 0.1, 0.1, 0.7]])]
    return [a, b]


def test_probability_average_is_the_mean_per_slice() -> None:
    out = ens.combine(_members(), "probs")
    assert [p.shape for p in out] == [(2, 4), (1, 4)]
    np.testing.assert_allclose(out[0][0], [0.4, 0.1, 0.1, 0.4])
    np.testing.assert_allclose(out[1][0], [0.175, 0.175, 0.175, 0.475])


def test_log_average_is_the_renormalised_geometric_mean() -> None:
    out = ens.combine(_members(), "logprobs")
    g = np.sqrt(np.array([0.1 * 0.1, 0.6 * 0.2, 0.2 * 0.6, 0.1 * 0.1]))
    np.testing.assert_allclose(out[0][1], g / g.sum())
    for p in out:
        np.testing.assert_allclose(p.sum(axis=1), 1.0)
    h = np.sqrt(np.array([0.025, 0.025, 0.025, 0.175]))
    np.testing.assert_allclose(out[1][0], h / h.sum())


def test_unknown_average_is_refused() -> None:
    with pytest.raises(ValueError, match="average must be"):
        ens.combine(_members(), "median")


def test_pairing_a_run_with_itself_gives_a_zero_difference() -> None:
    rng = np.random.default_rng(0)
    probs = [rng.dirichlet(np.ones(4), size=6) for _ in range(8)]
    labels = [i % 4 for i in range(8)]
    groups = [f"p{i // 4}" for i in range(8)]
    ids = [f"s{i}" for i in range(8)]
    row, ev = ens.scores(probs, labels, groups, ids, seed=0)
    assert 0.0 <= row["scan_f1"] <= 1.0 and set(row["scan_f1_per_class"]) == {"non_contrast", "arterial", "venous", "other"}
    d = ens.paired(ev, ev, ("a", "b"))
    assert d["scan"] == [0.0, 0.0, 0.0] and d["slice"] == [0.0, 0.0, 0.0]
    flipped = [p[:, ::-1].copy() for p in probs]  # another model on the same scans
    row_b, ev_b = ens.scores(flipped, labels, groups, ids, seed=0)
    d = ens.paired(ev, ev_b, ("a", "b"))
    assert d["scan"][0] == pytest.approx(row_b["scan_f1"] - row["scan_f1"])
    assert d["slice"][1] <= d["slice"][0] <= d["slice"][2]


def test_real_votes_follow_predicts_draw() -> None:
    probs = np.tile([0.1, 0.7, 0.1, 0.1], (40, 1))
    probs[:10] = [0.1, 0.1, 0.7, 0.1]  # a quarter of the slices vote venous
    r = ens.real_votes(probs, "1.2.3", truth=1, draws=5)
    assert r["right_seed0"] and r["right_draws"] == 5
    assert 0.5 <= r["share_min"] <= r["share_mean"] < 1.0  # some draws of 12 slices hold venous ones
    wrong = ens.real_votes(probs, "1.2.3", truth=2, draws=5)
    assert not wrong["right_seed0"] and wrong["right_draws"] == 0
    assert wrong["share_mean"] == pytest.approx(1.0 - r["share_mean"])


@pytest.mark.parametrize("flag", [["--patients", "-1"], ["--slices", "0"], ["--draws", "-2"]])
def test_bad_counts_are_refused_before_any_work(flag: list[str], tmp_path, monkeypatch, capsys) -> None:
    for name in ("a", "b"):
        (tmp_path / f"{name}.safetensors").write_bytes(b"")  # existence is all the flags' check needs
    argv = ["ensemble.py", "--model", str(tmp_path / "a.safetensors"), "--model", str(tmp_path / "b.safetensors"), *flag]
    monkeypatch.setattr("sys.argv", argv)
    with pytest.raises(SystemExit) as exc:
        ens.main()
    assert exc.value.code == 2 and "must be >= 0" in capsys.readouterr().err
