"""Series subphase and seconds after injection from slice outputs (ctphase.timing)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ctphase.phases import SUBPHASE_NAMES
from ctphase.prediction import ScanPrediction
from ctphase.timing import (
    INTERVAL, Z_INTERVAL, interval_for_label, seconds_estimate, settle, subphase_probabilities, subphase_within,
)


def test_subphase_within_never_contradicts_the_label() -> None:
    probs = dict.fromkeys(SUBPHASE_NAMES, 0.0) | {"equilibrium": 0.6, "nephrographic": 0.3, "portal_venous": 0.1}
    assert subphase_within(probs, "venous") == "nephrographic"  # the best of the venous subphases
    assert subphase_within(probs, "other") == "equilibrium"
    assert subphase_within(probs, "non_contrast") == "non_contrast"
    assert subphase_within(probs, "uncertain") is None
    assert subphase_within({}, "venous") is None


def test_subphase_probabilities_are_the_slice_mean() -> None:
    sub = np.zeros((2, 8))
    sub[0, 1], sub[1, 2] = 1.0, 1.0
    out = subphase_probabilities(sub, SUBPHASE_NAMES)
    assert out["early_arterial"] == out["late_arterial"] == 0.5 and sum(out.values()) == pytest.approx(1.0)


def test_seconds_estimate_adds_slice_variance_and_spread() -> None:
    ls = np.array([[math.log(60), math.log(0.01)], [math.log(80), math.log(0.01)]])
    mu = (math.log(60) + math.log(80)) / 2
    sd = math.sqrt(0.01 + ((math.log(80) - math.log(60)) / 2) ** 2)
    est = seconds_estimate(ls)
    assert est["estimate"] == pytest.approx(math.exp(mu), abs=0.05)
    assert est["low"] == pytest.approx(math.exp(mu - Z_INTERVAL * sd), abs=0.05)
    assert est["high"] == pytest.approx(math.exp(mu + Z_INTERVAL * sd), abs=0.05)
    assert est["interval"] == INTERVAL
    wider = seconds_estimate(ls, scale=2.0)
    assert wider["estimate"] == est["estimate"] and wider["low"] < est["low"] and wider["high"] > est["high"]


def _record(label: str) -> ScanPrediction:
    probs = dict.fromkeys(SUBPHASE_NAMES, 0.0) | {"late_arterial": 0.7, "portal_venous": 0.3}
    return ScanPrediction("s", "p", "dicom", "ok", label=label, subphase_probabilities=probs,
                          seconds_after_injection={"estimate": 40.0, "low": 30.0, "high": 50.0, "interval": 0.8})


def test_settle_follows_the_final_label() -> None:
    p = _record("venous")
    settle(p)
    assert p.subphase == "portal_venous" and p.seconds_after_injection is not None
    p = _record("uncertain")  # an answer the tool cannot trust gets neither
    settle(p)
    assert p.subphase is None and p.seconds_after_injection is None
    p = _record("non_contrast")  # no injection, no time
    settle(p)
    assert p.subphase == "non_contrast" and p.seconds_after_injection is None


def test_a_label_changed_by_the_study_step_gets_its_own_phase_interval_factor() -> None:
    ls = np.array([[math.log(120), math.log(0.04)], [math.log(140), math.log(0.04)]])
    factors = {"venous": 0.6, "other": 0.9}
    p = ScanPrediction("s", "p", "dicom", "ok", label="other", image_label="venous",
                       seconds_after_injection=seconds_estimate(ls, factors["venous"]))
    interval_for_label(p, lambda label: factors.get(label, 0.7))
    want = seconds_estimate(ls, factors["other"])
    assert p.seconds_after_injection["estimate"] == want["estimate"]
    assert p.seconds_after_injection["low"] == pytest.approx(want["low"], abs=0.15)
    assert p.seconds_after_injection["high"] == pytest.approx(want["high"], abs=0.15)
    # an interval so wide that its low end rounds to 0.0 s is rescaled by its high end, without an error
    wide = {"estimate": 200.0, "low": 0.0, "high": 900.0, "interval": INTERVAL}
    q = ScanPrediction("s", "p", "dicom", "ok", label="other", image_label="venous", seconds_after_injection=wide)
    interval_for_label(q, lambda label: factors.get(label, 0.7))
    half = math.log(900.0 / 200.0) * factors["other"] / factors["venous"]
    assert q.seconds_after_injection["high"] == pytest.approx(200.0 * math.exp(half), abs=0.1)
    assert 0 < q.seconds_after_injection["low"] < 200.0
    # unchanged: same label, no time, an answer that is not a phase
    for label, image_label, sec in (("venous", "venous", seconds_estimate(ls, 0.6)), ("other", "venous", None),
                                    ("uncertain", "venous", seconds_estimate(ls, 0.6))):
        q = ScanPrediction("s", "p", "dicom", "ok", label=label, image_label=image_label, seconds_after_injection=sec)
        interval_for_label(q, lambda label: factors.get(label, 0.7))
        assert q.seconds_after_injection == sec
