"""Realistic studies (``--studies realistic``): the plan API, and a small dataset written to DICOM and read back."""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pydicom
import pytest
from synth_output import read_manifest, read_record

from ctphase.errors import ConfigError
from ctphase.io import discover
from ctphase.phases import Phase
from ctphase.synth import SeriesParams, generate_dataset, patient_params
from ctphase.synth.dataset import MANIFEST_COLUMNS
from ctphase.synth.physiology import REF_ARRIVAL_S, subphase_at, tissue_tables
from ctphase.synth.series import MultiBolusSeries
from ctphase.synth.studies import MIN_COVERAGE_MM, PROTOCOLS, StudyPlan, plan_patient, plan_study
from ctphase.synth.studies_write import REALISTIC_COLUMNS
from ctphase.synth.tissues import Tissue

TIME_TAGS = ("StudyTime", "SeriesTime", "AcquisitionTime", "ContentTime", "AcquisitionDateTime", "ContrastBolusStartTime")
ORDER = {p.label: int(p) for p in Phase}


@pytest.fixture(scope="module")
def plans() -> list[StudyPlan]:
    return [p for i in range(600) for p in plan_patient(11, i)]


def test_plans_deterministic_by_seed_and_index() -> None:
    a, b = plan_study(4, 17), plan_study(4, 17)
    assert a == b
    assert plan_study(4, 18) != a and plan_study(5, 17) != a
    assert [s.tags for s in a.series] == [s.tags for s in b.series]
    with pytest.raises(ConfigError, match="does not exist"):
        plan_study(4, 17, study=2)


def test_every_acquisition_covers_a_range_and_liver_only_cuts_remain(plans: list[StudyPlan]) -> None:
    # seed 0, patient 400156: a short (pelvis-only) range, and its arterial scan drew a liver-only cut
    # that lay above the range's top; the writer then stopped with an IndexError on zero slices
    studies = [*plans, *plan_patient(0, 400156, matrix=256, max_slices=64)]
    assert all(a.n_slices >= 2 and a.params.z_top - a.params.z_bottom >= MIN_COVERAGE_MM * pl.patient.height
               for pl in studies for a in pl.acquisitions)
    # a cut arterial or unenhanced scan stops above the lowest scan of its own study (their common range)
    liver_only = [a for pl in studies for a in pl.acquisitions
                  if a.slot in ("A", "EA", "LA", "A2", "NC") and a.params.z_bottom > min(b.params.z_bottom for b in pl.acquisitions)]
    assert len(liver_only) > 50


def test_protocol_frequencies() -> None:
    n = 2000
    counts = Counter(plan_study(0, i).protocol for i in range(n))
    assert sum(p.p for p in PROTOCOLS) == pytest.approx(1.0)
    assert set(counts) <= {p.name for p in PROTOCOLS}
    for p in PROTOCOLS:
        tol = 4 * math.sqrt(p.p * (1 - p.p) / n) + 0.003
        assert abs(counts[p.name] / n - p.p) < tol, (p.name, counts[p.name] / n, p.p)


def test_time_order_matches_labels(plans: list[StudyPlan]) -> None:
    for plan in plans:
        acqs = plan.acquisitions
        assert 1 <= len(acqs) <= 5
        assert [a.index for a in acqs] == list(range(len(acqs)))
        assert all(a.start < b.start for a, b in zip(acqs, acqs[1:]))
        nc_end = [a.start + dt.timedelta(seconds=a.scan_seconds) for a in acqs if a.label == "non_contrast"]
        assert all(t <= plan.injections[0] for t in nc_end)
        for inj in (1, 2):
            labels = [ORDER[a.label] for a in acqs if a.injection == inj]
            assert labels == sorted(labels), (plan.protocol, labels)
        for a in acqs:
            if a.label == "non_contrast":
                assert a.seconds_after_injection is None and a.injection == 0
                continue
            tau = a.seconds_after_injection - plan.patient.bolus_arrival_s + REF_ARRIVAL_S
            assert subphase_at(tau) == a.subphase and a.params.phase == a.label
            if a.note == "split_bolus":
                assert a.label == "venous" and len(a.params.boluses) == 2
    assert {"split_bolus", "second_injection"} <= {a.note for p in plans for a in p.acquisitions}


def test_reconstructions_share_acquisition(plans: list[StudyPlan]) -> None:
    shared = 0
    for plan in plans:
        by_acq = defaultdict(list)
        for sp in plan.series:
            by_acq[sp.acquisition].append(sp)
        assert len({sp.series_uid for sp in plan.series}) == len(plan.series)
        assert len({sp.series_number for sp in plan.series}) == len(plan.series)
        for i, group in by_acq.items():
            axial = [sp for sp in group if sp.plane == "axial"]
            assert 1 <= len(axial) <= 3
            assert {sp.tags["AcquisitionNumber"] for sp in group} == {plan.acquisitions[i].acquisition_number}
            good = [sp for sp in group if sp.timing_tags in ("true", "rounded")]
            assert len({sp.tags["AcquisitionTime"] for sp in good}) <= 1
            shared += len(good) > 1
    assert shared > 100


def test_deidentified_studies_keep_numbers_not_times(plans: list[StudyPlan]) -> None:
    missing = [p for p in plans if p.timing == "missing"]
    assert 0.08 < len(missing) / len(plans) < 0.25
    for plan in missing:
        for sp in plan.series:
            assert sp.timing_tags == "missing"
            assert all(not sp.tags.get(k) for k in TIME_TAGS)
            assert sp.tags["SeriesNumber"] > 0 and sp.tags["AcquisitionNumber"] >= 1
        numbers = [a.acquisition_number for a in plan.acquisitions]
        assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)


def test_header_and_timing_proportions(plans: list[StudyPlan]) -> None:
    series = [sp for p in plans for sp in p.series]
    share = {k: Counter(getattr(sp, k) for sp in series) for k in ("header_text", "contrast_tags", "timing_tags")}
    assert set(share["header_text"]) == set(share["contrast_tags"]) == {"right", "missing", "wrong"}
    assert set(share["timing_tags"]) == {"true", "missing", "rounded", "wrong"}
    assert (share["contrast_tags"]["missing"] + share["contrast_tags"]["wrong"]) / len(series) > 0.5
    assert share["header_text"]["wrong"] / len(series) < 0.1
    assert any(p.crosses_midnight for p in plans)
    assert 0 < sum(bool(sp.tags.get("ContrastBolusStartTime")) for sp in series) / len(series) < 0.25
    assert {sp.reconstruction for sp in series} == {"thin soft", "thick soft", "bone", "mpr"}
    assert {sp.plane for sp in series} == {"axial", "coronal", "sagittal"}


def test_split_bolus_shows_arterial_and_venous_enhancement() -> None:
    p = patient_params(0, 0)
    s = SeriesParams.draw(np.random.default_rng(0), p, subphase="portal_venous", kvp=120)
    lag = p.bolus_arrival_s - REF_ARRIVAL_S
    split = MultiBolusSeries(**{**s.to_dict(), "boluses": [(75 + lag, 0.6), (30 + lag, 0.4)]})
    art = SeriesParams.from_dict({**s.to_dict(), "seconds_after_injection": 30 + lag})
    hu_split, _, _ = tissue_tables(p, split)
    hu_art, _, _ = tissue_tables(p, art)
    hu_ven, _, _ = tissue_tables(p, s)
    assert hu_split[Tissue.AORTA] > hu_ven[Tissue.AORTA] + 60
    assert hu_split[Tissue.PORTAL_VEIN] > hu_art[Tissue.PORTAL_VEIN] + 20
    assert SeriesParams.from_dict(split.to_dict()) == split


# --------------------------------------------------------------------------- written to DICOM


def _first(ds_dir: Path, row: dict) -> pydicom.Dataset:
    return pydicom.dcmread(sorted((ds_dir / row["path"]).glob("*.dcm"))[0])


def test_manifest_columns_filled(realistic_ds: Path) -> None:
    rows = read_manifest(realistic_ds)
    assert tuple(rows[0]) == MANIFEST_COLUMNS + REALISTIC_COLUMNS
    for r in rows:
        for col in ("path", "label", "series_id", "acquisition_id", "acquisition_index", "reconstruction", "plane",
                    "protocol", "timing_tags", "header_text", "contrast_tags"):
            assert r[col], (col, r)
        assert (r["seconds_after_injection"] == "") == (r["label"] == "non_contrast") == (r["injection"] == "")
    assert len({r["series_id"] for r in rows}) == len(rows)
    plans = [p for i in range(2) for p in plan_patient(2, i, matrix=64, max_slices=24)]
    assert len(rows) == sum(len(p.series) for p in plans)
    assert len({r["study_id"] for r in rows}) == len(plans) == 3


def test_discover_finds_every_series(realistic_ds: Path) -> None:
    rows = read_manifest(realistic_ds)
    found = discover([realistic_ds])
    axial = {Path(s.path).relative_to(realistic_ds).as_posix(): s for s in found.series}
    skipped = {Path(s.path).relative_to(realistic_ds).as_posix(): s for s in found.skipped if s.kind != "unused"}
    assert set(axial) == {r["path"] for r in rows if r["plane"] == "axial"}
    reformats = [r for r in rows if r["plane"] != "axial"]
    assert reformats and set(skipped) == {r["path"] for r in reformats}
    assert all("non-axial stack" in skipped[r["path"]].reason and r["plane"] in skipped[r["path"]].reason for r in reformats)
    for r in rows:
        if r["plane"] == "axial":
            s = axial[r["path"]]
            assert s.series_uid == r["series_id"] and s.n_slices == read_record(realistic_ds, r)["n_slices"]


def test_reconstructions_written_as_one_acquisition(realistic_ds: Path) -> None:
    rows = read_manifest(realistic_ds)
    by_acq = defaultdict(list)
    for r in rows:
        by_acq[r["acquisition_id"]].append(r)
    multi = 0
    for group in by_acq.values():
        heads = [_first(realistic_ds, r) for r in group]
        assert len({h.FrameOfReferenceUID for h in heads}) == 1 and len({h.StudyInstanceUID for h in heads}) == 1
        assert len({int(h.AcquisitionNumber) for h in heads}) == 1
        assert len({h.SeriesInstanceUID for h in heads}) == len({int(h.SeriesNumber) for h in heads}) == len(heads)
        true = [h for h, r in zip(heads, group) if r["timing_tags"] == "true"]
        assert len({h.AcquisitionTime for h in true}) <= 1
        axial = [(h, r) for h, r in zip(heads, group) if r["plane"] == "axial"]
        tops = [float(h.ImagePositionPatient[2]) for h, _ in axial]
        assert max(tops) - min(tops) < max(float(h.SliceThickness) for h, _ in axial)  # overlapping z ranges
        multi += len(axial) > 1
        for h, r in zip(heads, group):
            record = read_record(realistic_ds, r)
            assert int(h.SeriesNumber) == record["tags"]["SeriesNumber"]
            assert h.get("SeriesDescription") == record["tags"]["SeriesDescription"] or not record["tags"]["SeriesDescription"]
            assert list(h.ImageType)[0] == ("ORIGINAL" if r["plane"] == "axial" else "DERIVED")
    assert multi >= 2


def test_thick_is_the_mean_of_thin_slices(realistic_ds: Path) -> None:
    rows = read_manifest(realistic_ds)
    thick = next(r for r in rows if r["reconstruction"] == "thick soft")
    thin = next(r for r in rows if r["acquisition_id"] == thick["acquisition_id"] and r["reconstruction"] == "thin soft")
    group = read_record(realistic_ds, thick)["group"]

    def hu(r: dict, n: int) -> np.ndarray:
        dss = [pydicom.dcmread(f) for f in sorted((realistic_ds / r["path"]).glob("*.dcm"))[:n]]
        return np.stack([d.pixel_array * float(d.RescaleSlope) + float(d.RescaleIntercept) for d in dss])

    a, b = hu(thin, group), hu(thick, 1)
    np.testing.assert_allclose(b[0], a.mean(axis=0), atol=1.0)


def test_deidentified_study_written_without_times(realistic_ds: Path) -> None:
    rows = read_manifest(realistic_ds)
    missing = [r for r in rows if r["timing_tags"] == "missing"]
    assert missing
    for r in missing:
        for f in sorted((realistic_ds / r["path"]).glob("*.dcm"))[:3]:
            ds = pydicom.dcmread(f, stop_before_pixels=True)
            assert all(not ds.get(k) for k in TIME_TAGS)
            assert int(ds.AcquisitionNumber) >= 1 and int(ds.SeriesNumber) >= 1 and ds.StudyDate


def test_realistic_needs_dicom_and_default_phases(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="DICOM only"):
        generate_dataset(tmp_path / "a", 1, matrix=32, fmt="nifti", studies="realistic")
    with pytest.raises(ConfigError, match="--phases applies"):
        generate_dataset(tmp_path / "b", 1, matrix=32, phases=["venous"], studies="realistic")
    with pytest.raises(ConfigError, match="--studies must be one of"):
        generate_dataset(tmp_path / "c", 1, matrix=32, studies="lunch")
