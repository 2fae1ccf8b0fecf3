"""Patient draws: determinism, JSON records, confounders in the population."""

from __future__ import annotations

import json

import numpy as np

from ctphase.synth import PatientParams, SeriesParams, patient_params


def test_patient_deterministic_and_json() -> None:
    a, b = patient_params(7, 3), patient_params(7, 3)
    assert a.to_dict() == b.to_dict()
    assert patient_params(7, 4).to_dict() != a.to_dict()
    d = json.loads(json.dumps(a.to_dict()))
    assert PatientParams.from_dict(d) == a
    s = SeriesParams.draw(np.random.default_rng(1), a, phase="venous")
    assert SeriesParams.from_dict(json.loads(json.dumps(s.to_dict()))) == s


def test_confounders_present_in_population() -> None:
    ps = [patient_params(0, i) for i in range(60)]
    assert any(p.oral_contrast for p in ps) and not all(p.oral_contrast for p in ps)
    assert any(p.fatty_liver for p in ps)
    assert any(p.lesions for p in ps)
    assert any(p.aortic_calcification > 0 for p in ps)
    assert 10 <= min(p.bolus_arrival_s for p in ps) and max(p.bolus_arrival_s for p in ps) <= 25
