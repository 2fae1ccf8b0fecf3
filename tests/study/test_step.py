"""The study step on hand-made predictions: grouping, pooling, ordering, fallbacks, findings, thresholds."""

from __future__ import annotations

import numpy as np

from ctphase.phases import PHASE_NAMES
from ctphase.prediction import ScanPrediction
from ctphase.study.header_keywords import FALSE_FRIENDS  # noqa: F401 - the table exists
from ctphase.study.headers import header_opinion
from ctphase.study.step import StudyItem, assign_studies


def _item(name: str, probs: list[float], study: str | None = "S", qc: tuple[str, ...] = (), source: str = "dicom",
          **meta: str) -> StudyItem:
    p = np.asarray(probs, float) / sum(probs)
    pred = ScanPrediction(
        series_id=f"{study}/{name}", path=f"/d/{name}", source=source, status="ok", study_uid=study,
        series_uid=name if study else None, n_slices=100, sampled_indices=list(range(30)), qc=list(qc),
        image_label=PHASE_NAMES[int(np.argmax(p))], label=PHASE_NAMES[int(np.argmax(p))],
        probabilities={n: float(v) for n, v in zip(PHASE_NAMES, p)},
    )
    return StudyItem(pred, meta, (0.0, 300.0))


def _labels(items: list[StudyItem]) -> list[str | None]:
    return [it.prediction.label for it in items]


def test_three_phase_study_ordered_by_acquisition_number_fixes_a_weak_series() -> None:
    items = [
        _item("nc", [0.9, 0.05, 0.03, 0.02], AcquisitionNumber="1", SeriesNumber="2"),
        _item("art", [0.05, 0.45, 0.1, 0.4], AcquisitionNumber="1", SeriesNumber="4"),  # weak: arterial vs other
        _item("ven", [0.02, 0.03, 0.9, 0.05], AcquisitionNumber="3", SeriesNumber="103"),
    ]
    assign_studies(items)
    assert _labels(items) == ["non_contrast", "arterial", "venous"]
    assert [it.prediction.acquisition_order for it in items] == [0, 1, 2]
    assert all("AcquisitionNumber" in " ".join(it.prediction.evidence) for it in items)
    assert abs(sum(items[1].prediction.probabilities.values()) - 1) < 1e-5


def test_reconstructions_are_pooled_and_share_an_answer() -> None:
    t = {"AcquisitionDate": "20240101", "FrameOfReferenceUID": "F"}
    items = [
        _item("thin", [0.05, 0.1, 0.45, 0.4], AcquisitionTime="100000", **t),
        _item("thick", [0.05, 0.1, 0.7, 0.15], AcquisitionTime="100000", **t),
    ]
    assign_studies(items)
    a, b = (it.prediction for it in items)
    assert a.acquisition_id == b.acquisition_id and a.label == b.label == "venous"
    assert any("pooled with 1 other reconstruction" in e for e in a.evidence)


def test_one_acquisition_without_timing_keeps_the_series_answer() -> None:
    items = [_item("only", [0.05, 0.05, 0.3, 0.6])]
    assign_studies(items)
    p = items[0].prediction
    assert p.label == "other" and p.study_label is None
    assert any("one acquisition without bolus timing" in e for e in p.evidence)


def test_bolus_timing_decides_a_single_acquisition() -> None:
    items = [_item("petct", [0.02, 0.03, 0.25, 0.7], study=None, FrameOfReferenceUID="F", AcquisitionDate="20221208",
                   AcquisitionTime="140352.89", ContrastBolusStartTime="140216.69")]
    assign_studies(items)
    p = items[0].prediction
    assert p.study_label == "venous" and p.label == "venous" and p.header_label == "venous"
    assert any("study changed other to venous" in e for e in p.evidence)


def test_studies_joined_by_frame_of_reference() -> None:
    items = [
        _item("ap", [0.05, 0.8, 0.1, 0.05], study="S1", FrameOfReferenceUID="F", AcquisitionTime="193907"),
        _item("eqp", [0.05, 0.05, 0.4, 0.5], study="S3", FrameOfReferenceUID="F", AcquisitionTime="194141"),
    ]
    assign_studies(items)
    assert _labels(items) == ["arterial", "other"]
    assert "joined from 2 StudyInstanceUIDs" in items[0].prediction.evidence[0]
    assert items[1].prediction.acquisition_order == 1


def test_images_against_the_order_fall_back_to_series_alone() -> None:
    items = [  # a confident venous scan numbered before a confident non-contrast one: not one injection
        _item("a", [0.005, 0.005, 0.985, 0.005], AcquisitionNumber="1"),
        _item("b", [0.985, 0.005, 0.005, 0.005], AcquisitionNumber="2"),
    ]
    assign_studies(items)
    assert _labels(items) == ["venous", "non_contrast"]
    assert all(it.prediction.study_label is None for it in items)
    assert any("follow one injection" in e for e in items[0].prediction.evidence)


def test_no_ordering_evidence_and_nifti() -> None:
    items = [_item("x", [0.1, 0.6, 0.2, 0.1]), _item("y", [0.1, 0.2, 0.6, 0.1])]
    assign_studies(items)
    assert _labels(items) == ["arterial", "venous"]
    assert any("no acquisition times, AcquisitionNumbers or SeriesNumbers" in e for e in items[0].prediction.evidence)
    nifti = _item("n", [0.1, 0.6, 0.2, 0.1], study=None, source="nifti")
    assign_studies([nifti])
    assert nifti.prediction.label == "arterial" and nifti.prediction.study_label is None


def test_header_disagreement_is_a_finding_and_headers_weigh_only_when_asked() -> None:
    def make() -> list[StudyItem]:
        return [_item("s", [0.05, 0.4, 0.5, 0.05], SeriesDescription="ART 1.0 B30f")]

    off = make()
    assign_studies(off)
    p = off[0].prediction
    assert p.label == "venous" and p.header_label == "arterial"
    assert p.findings and p.findings[0].startswith("header says arterial, images say venous")
    on = make()
    assign_studies(on, use_headers=True, joint=True)
    # one acquisition without timing: the study step does not apply, headers do not change the label
    assert on[0].prediction.label == "venous"


def test_min_confidence_and_untrustworthy_series() -> None:
    items = [_item("a", [0.1, 0.45, 0.35, 0.1]), _item("b", [0.05, 0.05, 0.85, 0.05], study="T", qc=("blank_images",))]
    assign_studies(items, min_confidence=0.6)
    a, b = (it.prediction for it in items)
    assert a.label == "uncertain" and a.image_label == "arterial"
    assert any("below --min-confidence" in e for e in a.evidence)
    assert b.label == "uncertain"


def test_ap_in_parentheses_is_the_region_not_the_phase() -> None:
    assert header_opinion({"SeriesDescription": "LIVER 3 PHASE (AP)"}).label is None
    assert header_opinion({"SeriesDescription": "AP 1.0"}).label == "arterial"


def test_reformats_get_the_phase_of_their_acquisition() -> None:
    t = {"AcquisitionDate": "20240101", "FrameOfReferenceUID": "F"}
    axial = [
        _item("art", [0.05, 0.85, 0.05, 0.05], AcquisitionTime="100000", AcquisitionNumber="2", **t),
        _item("ven", [0.05, 0.05, 0.85, 0.05], AcquisitionTime="100045", AcquisitionNumber="3", **t),
    ]

    def reformat(name: str, **meta: str) -> StudyItem:
        p = ScanPrediction(series_id=f"S/{name}", path=f"/d/{name}", source="dicom", status="skipped", study_uid="S",
                           series_uid=name, error="non-axial stack: 40 coronal image(s)")
        return StudyItem(p, meta, None, reformat=True)

    cor = reformat("cor", AcquisitionTime="100045", **t)
    by_number = reformat("sag", AcquisitionNumber="2", FrameOfReferenceUID="F")
    lost = reformat("lost", AcquisitionTime="120000", **t)
    assign_studies([*axial, cor, by_number, lost])
    assert (cor.prediction.status, cor.prediction.label) == ("ok", "venous")
    assert cor.prediction.acquisition_id == axial[1].prediction.acquisition_id
    assert "linked by acquisition time" in cor.prediction.evidence[-1]
    assert by_number.prediction.label == "arterial" and "AcquisitionNumber" in by_number.prediction.evidence[-1]
    assert lost.prediction.status == "skipped" and "not linked" in (lost.prediction.error or "")


_TIMES = ("", "999999", "25:61:00", "120000", "120000.5", "235959", "000010", "12:00:30", "abc", "1200")
_DATES = ("", "20240101", "20240102", "2024-01-01", "99999999", "20240230")


def test_hostile_headers_never_break_the_study_step() -> None:
    """Malformed, missing and contradictory times and numbers, midnight, no study UID, 60 series: answers, no exception."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    meta = st.fixed_dictionaries({}, optional={
        "AcquisitionTime": st.sampled_from(_TIMES), "AcquisitionDate": st.sampled_from(_DATES),
        "SeriesTime": st.sampled_from(_TIMES), "ContentTime": st.sampled_from(_TIMES),
        "AcquisitionDateTime": st.sampled_from(("", "20240101235959", "2024010100", "garbage")),
        "ContrastBolusStartTime": st.sampled_from(_TIMES), "AcquisitionNumber": st.sampled_from(("", "1", "2", "x", "-3")),
        "SeriesNumber": st.sampled_from(("", "1", "7", "1e9", "two")), "FrameOfReferenceUID": st.sampled_from(("", "F", "G")),
        "SeriesDescription": st.sampled_from(("", "ART", "PV 70s", "delay 5 min", "C-", "LIVER 3 PHASE (AP)")),
    })
    probs = st.lists(st.floats(0.001, 1.0), min_size=4, max_size=4)
    one = st.tuples(meta, probs, st.sampled_from(("S", "T", None)))

    @settings(max_examples=150, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(one, min_size=1, max_size=60))
    def check(series: list) -> None:  # noqa: ANN001
        items = [_item(f"s{i}", p, study=s, **m) for i, (m, p, s) in enumerate(series)]
        assign_studies(items, min_confidence=0.5)
        for it in items:
            p = it.prediction
            assert p.label in (*PHASE_NAMES, "uncertain")
            assert p.confidence is not None and 0.0 <= p.confidence <= 1.0
            assert abs(sum(p.probabilities.values()) - 1.0) < 1e-4
            assert p.evidence  # every answer says how it was reached

    check()


def _late_copy_study(late_time: str, late_probs: list[float]) -> list[StudyItem]:
    """Non-contrast, venous and excretory acquisitions, then a series with venous images timed after them all."""
    t = {"AcquisitionDate": "20240101", "FrameOfReferenceUID": "F"}
    return [
        _item("nc", [0.97, 0.01, 0.01, 0.01], AcquisitionTime="100012", **t),
        _item("ven", [0.01, 0.04, 0.9, 0.05], AcquisitionTime="100507", **t),
        _item("exc", [0.01, 0.01, 0.08, 0.9], AcquisitionTime="100903", **t),
        _item("late", late_probs, AcquisitionTime=late_time, **t),
    ]


def test_an_answer_the_order_forces_on_disagreeing_images_is_not_given_confidently() -> None:
    items = _late_copy_study("102412", [0.002, 0.003, 0.975, 0.02])  # 15 minutes after the excretory scan
    assign_studies(items)
    assert _labels(items) == ["non_contrast", "venous", "other", "other"]
    late = items[3].prediction
    assert late.acquisition_order == 3
    assert late.confidence is not None and late.confidence < 0.7
    assert late.probabilities["venous"] > 0.3
    assert any("place in the order may be wrong" in e for e in late.evidence)
    assert not late.findings
    assert items[1].prediction.confidence > 0.9  # the study's own venous acquisition (images 0.9) is not in doubt


def test_strong_images_out_of_line_with_their_clock_keep_their_answer_and_say_so() -> None:
    items = _late_copy_study("102812", [0.001, 0.002, 0.979, 0.018])  # 19 minutes after the excretory scan
    assign_studies(items)
    assert _labels(items) == ["non_contrast", "venous", "other", "venous"]
    late = items[3].prediction
    assert any("time or number is probably wrong" in f for f in late.findings)
    assert late.confidence is not None and late.confidence < 0.7  # its place still argues for "other"
    assert not items[2].prediction.findings


def test_a_reconstruction_restamped_late_is_not_called_other_with_certainty() -> None:
    # the thin reconstruction of the venous acquisition carries a clock 18 minutes late, after the excretory scan;
    # its AcquisitionNumber (3, as its thick twin's) runs against that time
    t = {"AcquisitionDate": "20240101", "FrameOfReferenceUID": "F"}
    items = [
        _item("nc", [0.97, 0.01, 0.01, 0.01], AcquisitionTime="081132.59", AcquisitionNumber="2", **t),
        _item("ven thick", [0.001, 0.008, 0.862, 0.129], AcquisitionTime="081641.75", AcquisitionNumber="3", **t),
        _item("exc", [0.001, 0.001, 0.003, 0.995], AcquisitionTime="082610.41", AcquisitionNumber="4", **t),
        _item("ven thin", [0.001, 0.001, 0.868, 0.13], AcquisitionTime="083442.36", AcquisitionNumber="3", **t),
    ]
    assign_studies(items)
    thin = items[3].prediction
    assert thin.acquisition_order == 3
    assert thin.confidence is not None and thin.confidence < 0.9
    assert thin.probabilities["venous"] > 0.1
    assert any("place in the order may be wrong" in e for e in thin.evidence)
    # the same study with the thin series' number in line with its time: no suspect, a surer answer
    items[3] = _item("ven thin", [0.001, 0.001, 0.868, 0.13], AcquisitionTime="083442.36", AcquisitionNumber="5", **t)
    assign_studies(items)
    assert items[3].prediction.confidence > thin.confidence
