"""Uncommon bodies and scans: forced ones change what they say, drawn ones appear at their rates,
and the images show them (cut-off body wall, low-dose noise, pelvis anatomy)."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from ctphase.errors import ConfigError
from ctphase.phases import Phase
from ctphase.synth import (
    PatientParams,
    SeriesParams,
    iter_training_slices,
    patient_params,
)
from ctphase.synth.conditions import CONDITIONS, apply_conditions, check_extra_rates, extra_conditions
from ctphase.synth.dataset import plan_series
from ctphase.synth.series import body_width_mm


def forced(name: str, index: int = 3) -> tuple[PatientParams, SeriesParams]:
    p = patient_params(0, index)
    apply_conditions(np.random.default_rng(1), "patient", p, draw=False, force=[name])
    s = SeriesParams.draw(np.random.default_rng(2), p, phase="venous")
    apply_conditions(np.random.default_rng(3), "series", p, s, draw=False, force=[name])
    return p, s


def test_forced_patient_conditions_change_the_body() -> None:
    base = patient_params(0, 3)
    kid, _ = forced("paediatric")
    assert kid.age < 18 and kid.scale < 0.95 and kid.metal == [] and kid.aortic_calcification == 0
    assert 8 <= kid.bolus_arrival_s <= 14
    assert forced("obese")[0].sc_fat_mm >= 80 > base.sc_fat_mm
    assert forced("thin")[0].sc_fat_mm <= 5
    assert forced("arms_down")[0].arms_down
    assert forced("metal")[0].metal
    assert forced("oral_contrast")[0].oral_contrast
    full = forced("distended_stomach")[0]
    assert base.stomach_distension == 0 and not base.oral_contrast
    assert full.oral_contrast and 0.3 <= full.stomach_distension <= 1 and full.conditions == ["distended_stomach"]
    for name in ("paediatric", "obese", "thin"):
        assert forced(name)[0].conditions == [name]


def test_forced_series_conditions_change_the_scan() -> None:
    p, pet = forced("pet_ct")
    assert pet.slice_thickness >= 3 and pet.kernel == "soft" and pet.fov_mm >= 500 and pet.conditions == ["pet_ct"]
    _, small = forced("small_fov")
    assert small.fov_mm < body_width_mm(p)
    _, pelvis = forced("pelvis_only")
    assert pelvis.z_top < -190 * p.height and pelvis.region == "pelvis"
    assert SeriesParams.from_dict(json.loads(json.dumps(pelvis.to_dict()))) == pelvis


def test_a_drawn_pelvis_only_series_gives_its_study_the_pelvis() -> None:
    # patient 68 of population 0: the study's first series draws pelvis_only, the later ones
    # take its region (this raised KeyError('pelvis') when the condition named a region the
    # table did not hold)
    _, series = plan_series(0, 68, list(Phase), 64)
    assert "pelvis_only" in series[0].conditions
    assert {s.region for s in series} == {"pelvis"}
    assert all(s.z_top < -190 for s in series)


def test_unknown_condition_is_named() -> None:
    with pytest.raises(ConfigError, match="'tall'.*paediatric"):
        forced("tall")
    with pytest.raises(ConfigError, match="'tall'"):
        next(iter_training_slices(0, 32, range(2), force=["tall"]))


def test_drawn_at_their_rates_and_recorded() -> None:
    patients = [patient_params(9, i) for i in range(1500)]
    rng = np.random.default_rng(0)
    series = [SeriesParams.draw(rng, patients[i % 50], phase="venous") for i in range(1500)]
    for name, c in CONDITIONS.items():
        if c.rate is None:
            continue
        recs = patients if c.level == "patient" else series
        share = np.mean([name in r.conditions for r in recs])
        # 1500 draws: binomial sd <= 0.0044 at these rates, so +-4 sd
        assert abs(share - c.rate) < 0.018, (name, share)
    assert sum(not p.conditions for p in patients) > 0.85 * len(patients)


def _stream(force: tuple[str, ...]) -> np.ndarray:
    it = iter_training_slices(0, 96, range(50, 54), slices_per_series=3, phases=[2], force=force)
    return np.stack([hu for hu, _, _ in itertools.islice(it, 12)])


def test_images_show_the_conditions() -> None:
    plain, small, pet, pelvis = (_stream(f) for f in ((), ("small_fov",), ("pet_ct",), ("pelvis_only",)))

    def body_at_edge(x: np.ndarray) -> float:  # share of image-border pixels inside the body
        return float(np.mean(np.concatenate([x[:, 0, :], x[:, -1, :], x[:, :, 0], x[:, :, -1]], axis=1) > -300))

    def body_share(x: np.ndarray) -> float:
        return float(np.mean(x > -300))

    assert body_at_edge(plain) < 0.05 < body_at_edge(small)
    assert body_share(pet) < body_share(plain)  # a 500-700 mm field of view: a smaller body
    # pelvis slices cut through bone (femoral heads, iliac bones) far more than abdominal ones do
    assert np.mean(pelvis > 300) > np.mean(plain > 300)


def test_extra_rates_add_conditions_and_leave_the_rest_as_drawn() -> None:
    # rate 1: every series is the forced one; rate 0: the stream is the plain one, slice for slice
    assert np.array_equal(_stream_extra({"pet_ct": 1.0}), _stream(("pet_ct",)))
    assert np.array_equal(_stream_extra({"pet_ct": 0.0}), _stream(()))
    drawn = [extra_conditions((0, i, 8, 0), {"pet_ct": 0.3, "small_fov": 0.1}) for i in range(2000)]
    # 2000 draws: binomial sd 0.010 and 0.0067, so about +-4 sd
    assert abs(np.mean(["pet_ct" in d for d in drawn]) - 0.3) < 0.04
    assert abs(np.mean(["small_fov" in d for d in drawn]) - 0.1) < 0.027
    assert drawn == [extra_conditions((0, i, 8, 0), {"small_fov": 0.1, "pet_ct": 0.3}) for i in range(2000)]


def test_extra_rates_mixed_with_the_plain_stream() -> None:
    x = _stream_extra({"pet_ct": 0.5})
    same = [np.array_equal(a, b) or np.array_equal(a, c) for a, b, c in zip(x, _stream(()), _stream(("pet_ct",)))]
    assert all(same)
    assert not np.array_equal(x, _stream(())) and not np.array_equal(x, _stream(("pet_ct",)))


def test_bad_extra_rates_are_named() -> None:
    with pytest.raises(ConfigError, match="'petct'"):
        check_extra_rates({"petct": 0.1})
    with pytest.raises(ConfigError, match="'pet_ct'.*\\[0, 1\\].*1.5"):
        check_extra_rates({"pet_ct": 1.5})
    with pytest.raises(ConfigError, match="'pet_ct'"):
        next(iter_training_slices(0, 32, range(2), extra={"pet_ct": -0.1}))


def _stream_extra(extra: dict[str, float]) -> np.ndarray:
    it = iter_training_slices(0, 96, range(50, 54), slices_per_series=3, phases=[2], extra=extra)
    return np.stack([hu for hu, _, _ in itertools.islice(it, 12)])
