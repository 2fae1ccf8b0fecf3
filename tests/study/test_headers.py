"""Header evidence as a second opinion: keywords in many languages, false friends, DICOM times, the rules, the reader."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from header_studies import four_phase_study

from ctphase.study.header_keywords import (
    FALSE_FRIENDS,
    KEYWORDS,
    agent_kind,
    fold,
    scrub,
    text_phase,
)
from ctphase.study.header_times import parse_da, parse_dt, parse_tm, wrapped_delta
from ctphase.study.headers import (
    RULES,
    HeaderOpinion,
    acquisition_seconds,
    evaluate_header,
    header_opinion,
    time_source,
)

N, A, V, O = "non_contrast", "arterial", "venous", "other"
DAY = 86400.0
JAN1_2024 = 19723 * DAY  # 2024-01-01 00:00, seconds since 1970-01-01


# --- keywords ------------------------------------------------------------------------------------------

KEYWORD_CASES = [
    # non-contrast: English, German, French, Spanish, Italian, Dutch, Polish, Swedish, Chinese, Japanese, shorthand
    ("NATIVE", N), ("Nativ 5.0 B30f", N), ("Nativphase", N), ("plain", N), ("Abd plain", N), ("NECT abdomen", N),
    ("NCCT head", N), ("unenhanced", N), ("non-contrast", N), ("NON CON", N), ("pre", N), ("PRE LIVER", N),
    ("pre-contrast", N), ("WO", N), ("W/O contrast", N), ("ohne KM", N), ("Abdomen ohne KM", N), ("Abdomen ohne", N),
    ("sans injection", N), ("TDM TAP sans", N), ("sans inj", N), ("Sin contraste", N), ("fase nativa", N),
    ("Senza mdc", N), ("zonder contrast", N), ("blanco", N), ("Bez kontrastu", N), ("utan kontrast", N),
    ("CT C-", N), ("ABD NC", N), ("no IV contrast", N), ("腹部平扫", N), ("単純CT", N),
    # arterial
    ("ART 1.0 B30f", A), ("art", A), ("arterial", A), ("Arteriell 3.0", A), ("arteriell", A), ("artériel", A),
    ("Phase artérielle", A), ("Fase arterial", A), ("Arteriale", A), ("spätarteriell", A), ("late arterial", A),
    ("HCC Art", A), ("LAP 1.25", A), ("EAP", A), ("CTA abd", A), ("Angio Aorta", A), ("artère", A),
    ("Faza tętnicza", A), ("动脉期", A), ("動脈相", A), ("Art 25s", A), ("early", A),
    # venous
    ("venous", V), ("VEN", V), ("ven", V), ("venös 3.0 B31f", V), ("portalvenös", V), ("Portalvenöse Phase", V),
    ("Portal venous", V), ("portal", V), ("PV", V), ("PVP 5mm", V), ("Fase venosa", V), ("Portale", V),
    ("phase veineuse", V), ("Temps portal", V), ("veneuze fase", V), ("faza żylna", V), ("nephrographic", V),
    ("门静脉期", V), ("静脈相", V), ("PV 70s", V), ("Abdomen KM venös", V),
    # other: delayed, equilibrium, excretory / urographic
    ("DELAY", O), ("delayed", O), ("Delayed 5 min", O), ("late", O), ("equilibrium", O), ("EQP", O), ("Spät", O),
    ("Spätphase", O), ("Spaetphase", O), ("tardif", O), ("Phase tardive", O), ("Fase tardía", O), ("Tardiva", O),
    ("ritardata", O), ("verzögert", O), ("excretory", O), ("Excrétoire", O), ("urographic", O), ("Urogram", O),
    ("Ausscheidung", O), ("延迟期", O), ("平衡相", O), ("3 min", O), ("10min", O),
]
CONTRAST_ONLY = ["C+", "KM", "mit KM", "CECT", "with contrast", "W/ contrast", "W CON", "IV", "post", "POST",
                 "postcontrast", "avec injection", "avec inj", "con contraste", "con mdc", "Kontrastmittel", "Thorax CE",
                 "增强CT", "造影CT"]
NO_PHASE = ["Abdomen/Becken", "ABDOMEN", "Body 3.0", "Thorax-Abdomen", "Recon 2", "Liver 3 phase", "ABD/PELVIS",
            "Abd B30s", "0.6s", "120s", "", "   "]


@pytest.mark.parametrize(("text", "phase"), KEYWORD_CASES)
def test_keywords_name_their_phase_in_many_languages(text: str, phase: str) -> None:
    assert text_phase(text)[0] == phase


@pytest.mark.parametrize("text", CONTRAST_ONLY)
def test_generic_contrast_words_say_contrast_but_no_phase(text: str) -> None:
    assert text_phase(text) == (None, "", True)


@pytest.mark.parametrize("text", NO_PHASE)
def test_anatomy_and_technique_say_nothing(text: str) -> None:
    assert text_phase(text) == (None, "", False)


FALSE_FRIEND_CASES = [
    # (text, what the product reads, what the frozen paper vocabulary reads)
    ("partial", None, None),  # "art" inside a word
    ("Heart", None, None),
    ("Start", None, None),
    ("prep", None, None),  # "pre" inside a word
    ("pre-op planning", None, N),
    ("Pre-TACE", None, N),
    ("C-spine", None, None),
    ("C- spine", None, N),
    ("C-arm", None, None),
    ("CAP", None, None),  # chest / abdomen / pelvis
    ("C/A/P", None, None),
    ("CT AP", None, A),  # abdomen / pelvis (UK), not arterial phase
    ("CT AP portal venous", V, None),
    ("AP scout", None, A),
    ("post-op", None, None),
    ("POST TACE", None, None),
    ("post fossa", None, None),
    ("posterior", None, None),
    ("VP shunt", None, V),
    ("PV mapping", None, V),
    ("Ventricle", None, None),
    ("Event", None, None),
    ("Portable", None, None),
    ("spatial", None, None),
    ("Template", None, None),
    ("alternative", None, None),
    ("Neuro", None, None),
    ("edge enhanced", None, None),
    ("basal ganglia", None, N),
    ("Br40s 3.0", None, None),  # kernels are not delays
    ("B30s", None, None),
]


@pytest.mark.parametrize(("text", "product", "paper"), FALSE_FRIEND_CASES)
def test_false_friends_are_not_keywords(text: str, product: str | None, paper: str | None) -> None:
    assert text_phase(text)[0] == product
    assert text_phase(text, paper=True)[0] == paper  # the paper's vocabulary is frozen, false friends included


def test_false_friends_do_not_add_contrast_evidence() -> None:
    for text in ("edge enhanced", "low contrast", "post-op", "POST TACE", "post processing"):
        assert text_phase(text) == (None, "", False), text


def test_conflicts_and_strength() -> None:
    assert text_phase("Arterial + venous") == (None, "", True)  # a conflict decides nothing
    assert text_phase("Ohne KM arteriell") == (None, "", False)
    assert text_phase("late arterial")[0] == A  # strong beats weak
    assert text_phase("early")[1] == "weak" and text_phase("late")[1] == "weak"
    assert text_phase("Delayed 1 min")[0] is None  # "delayed" (other) against 60 s (venous)
    assert text_phase("2 min")[0] is None  # 120 s lies between venous and other


def test_every_keyword_and_false_friend_example_matches() -> None:
    for kw in KEYWORDS:
        for example in kw.examples:
            assert re.search(kw.pattern, fold(example)), (kw.pattern, example)
    for pattern, examples in FALSE_FRIENDS:
        for example in examples:
            assert re.search(pattern, fold(example)), (pattern, example)
            assert scrub(fold(example)) != fold(example) and text_phase(example) == (None, "", False), example


def test_fold_strips_accents_and_case() -> None:
    assert fold("Spät") == "spat" and fold("VENÖS_3.0") == "venos 3.0" and fold("Straße") == "strasse"


# --- agents -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("meta", "kind"),
    [
        ({}, "absent"),
        ({"ContrastBolusAgent": ""}, "absent"),
        ({"ContrastBolusAgent": "NONE"}, "none"),
        ({"ContrastBolusAgent": "No contrast"}, "none"),
        ({"ContrastBolusAgent": "no iv contrast given"}, "none"),
        ({"ContrastBolusAgent": "kein KM"}, "none"),
        ({"ContrastBolusAgent": "Keines"}, "none"),
        ({"ContrastBolusAgent": "sans"}, "none"),
        ({"ContrastBolusAgent": "Aucun"}, "none"),
        ({"ContrastBolusAgent": "ninguno"}, "none"),
        ({"ContrastBolusAgent": "nessuno"}, "none"),
        ({"ContrastBolusAgent": "geen"}, "none"),
        ({"ContrastBolusAgent": "0 ml"}, "none"),
        ({"ContrastBolusAgent": "N/A"}, "none"),
        ({"ContrastBolusAgent": "Gastrografin"}, "oral"),
        ({"ContrastBolusAgent": "Omnipaque", "ContrastBolusRoute": "ORAL"}, "oral"),
        ({"ContrastBolusAgent": "Omnipaque oral"}, "oral"),
        ({"ContrastBolusAgent": "CO2", "ContrastBolusRoute": "RECTAL"}, "oral"),
        ({"ContrastBolusAgent": "Oral & IV"}, "iv"),
        ({"ContrastBolusAgent": "Omnipaque 350"}, "iv"),
        ({"ContrastBolusAgent": "APPLIED"}, "iv"),
        ({"ContrastBolusIngredient": "BARIUM"}, "oral"),
        ({"ContrastBolusIngredient": "IODINE"}, "iv"),
        ({"ContrastBolusVolume": "0"}, "none"),
        ({"ContrastBolusVolume": "0.0"}, "none"),
        ({"ContrastBolusVolume": "80"}, "iv"),
        ({"ContrastBolusVolume": "80", "ContrastBolusRoute": "ORAL"}, "oral"),
        ({"ContrastBolusVolume": "lots"}, "absent"),
        ({"ContrastBolusVolume": "-5"}, "absent"),
        ({"ContrastBolusVolume": "nan"}, "absent"),
        ({"ContrastBolusAgent": "Iomeron", "ContrastBolusVolume": "0"}, "iv"),  # a named agent wins over the volume
    ],
)
def test_agent_vocabulary(meta: dict, kind: str) -> None:
    assert agent_kind(meta) == kind


def test_paper_agent_vocabulary_is_frozen() -> None:
    assert agent_kind({"ContrastBolusVolume": "0"}, paper=True) == "absent"
    assert agent_kind({"ContrastBolusAgent": "No contrast"}, paper=True) == "iv"
    assert agent_kind({"ContrastBolusAgent": "NONE"}, paper=True) == "none"


# --- DICOM times --------------------------------------------------------------------------------------

def test_tm_values() -> None:
    assert parse_tm("101530.25") == pytest.approx(36930.25)
    assert parse_tm("101530.123456") == pytest.approx(36930.123456)
    assert parse_tm("10:15:30") == 36930.0 and parse_tm("10:15:30.5") == 36930.5
    assert parse_tm("1015") == 36900.0 and parse_tm("10") == 36000.0
    assert parse_tm(" 101530 \x00") == 36930.0 and parse_tm("101530\\111111") == 36930.0
    assert parse_tm("235960") == 86400.0  # a leap second is a valid TM
    for bad in ("", "   ", None, "999999", "240000", "106000", "1015xx", "10.15.30", "1", "1015301", "soon", "-10000"):
        assert parse_tm(bad) is None, bad


def test_da_and_dt_values() -> None:
    assert parse_da("20240229").isoformat() == "2024-02-29"
    assert parse_da("2024.03.01").isoformat() == "2024-03-01"  # ACR-NEMA
    for bad in ("", None, "20241301", "20230229", "00000000", "2024", "202401", "99999999", "2024-1-1", "yesterday"):
        assert parse_da(bad) is None, bad
    day, t = parse_dt("20240101101530.5+0100")
    assert day.isoformat() == "2024-01-01" and t == 36930.5
    assert parse_dt("20240101-0500")[1] is None  # a date only (offset ignored)
    assert parse_dt("2024010110")[1] == 36000.0
    for bad in ("", None, "2024023110", "2024010125", "202401011061", "20240101T1015", "garbage"):
        assert parse_dt(bad) is None, bad


def test_wrapped_delta_crosses_midnight() -> None:
    assert wrapped_delta(parse_tm("000045"), parse_tm("235930")) == 75.0
    assert wrapped_delta(parse_tm("235930"), parse_tm("000045")) == -75.0
    assert wrapped_delta(100.0, 40.0) == 60.0


def test_acquisition_seconds_prefers_acquisition_datetime() -> None:
    meta = {
        "AcquisitionDateTime": "20240101101500.5",
        "AcquisitionDate": "20240102", "AcquisitionTime": "111111",
        "SeriesDate": "20240103", "SeriesTime": "121212", "ContentTime": "131313",
    }
    assert acquisition_seconds(meta) == JAN1_2024 + 36900.5 and time_source(meta) == "AcquisitionDateTime"
    meta["AcquisitionDateTime"] = "20240101"  # a date only: not a time
    assert acquisition_seconds(meta) == JAN1_2024 + DAY + 40271 and time_source(meta) == "AcquisitionDate+AcquisitionTime"
    meta["AcquisitionTime"] = "999999"  # malformed: the next source
    assert acquisition_seconds(meta) == JAN1_2024 + 2 * DAY + 43932 and time_source(meta) == "SeriesDate+SeriesTime"
    del meta["SeriesTime"]
    # ContentTime has no ContentDate: dated by the first date tag there is (AcquisitionDate)
    assert acquisition_seconds(meta) == JAN1_2024 + DAY + 47593 and time_source(meta) == "AcquisitionDate+ContentTime"
    for kw in ("AcquisitionDateTime", "AcquisitionDate", "SeriesDate"):
        del meta[kw]
    assert acquisition_seconds(meta) == 47593 and time_source(meta) == "ContentTime"  # undated
    assert acquisition_seconds({}) is None and time_source({}) is None
    assert acquisition_seconds({"AcquisitionTime": "", "SeriesTime": "xx", "StudyDate": "20240101"}) is None


def test_acquisition_seconds_across_midnight() -> None:
    before = {"AcquisitionDate": "20240101", "AcquisitionTime": "235950"}
    after = {"AcquisitionDate": "20240102", "AcquisitionTime": "000030"}
    assert acquisition_seconds(after) - acquisition_seconds(before) == 40.0
    # a borrowed date: StudyDate + StudyTime before midnight, the acquisition after it is a day later
    study = {"StudyDate": "20240101", "StudyTime": "234500"}
    late = {**study, "AcquisitionTime": "000030"}
    early = {**study, "AcquisitionTime": "235950"}
    assert acquisition_seconds(late) - acquisition_seconds(early) == 40.0
    assert time_source(late) == "StudyDate+AcquisitionTime"
    assert acquisition_seconds({"StudyDate": "20240101", "AcquisitionTime": "000030"}) == JAN1_2024 + 30


def test_times_never_raise_on_garbage() -> None:
    for value in (12, 3.5, ["101500"], b"101500", object(), "\\", "1\\2"):
        meta = {"AcquisitionTime": value, "AcquisitionDate": value, "AcquisitionDateTime": value}
        acquisition_seconds(meta)
        time_source(meta)
        header_opinion(meta)


# --- the rules ----------------------------------------------------------------------------------------

OPINION_CASES = [
    # (meta, label, rule)
    ({}, None, "no_header"),
    ({"KVP": "120", "SliceThickness": "1.0"}, None, "no_header"),
    ({"SeriesDescription": "ART 1.0 B30f"}, A, "description"),
    ({"SeriesDescription": "early", "ContrastBolusAgent": "IV"}, A, "description_weak"),
    ({"SeriesDescription": "Abdomen", "ProtocolName": "Leber arteriell"}, A, "protocol"),
    ({"SeriesDescription": "Abdomen", "ProtocolName": "Oberbauch spät"}, O, "protocol"),
    ({"SeriesDescription": "Body", "ContrastBolusAgent": "NONE"}, N, "agent_none"),
    ({"SeriesDescription": "Body", "ContrastBolusAgent": "kein"}, N, "agent_none"),
    ({"SeriesDescription": "Body", "ContrastBolusVolume": "0"}, N, "agent_none"),
    ({"SeriesDescription": "Body", "ContrastBolusAgent": "Gastrografin"}, N, "agent_oral_only"),
    ({"ContrastBolusAgent": "Omnipaque", "ContrastBolusRoute": "ORAL"}, N, "agent_oral_only"),
    ({"ContrastBolusIngredient": "BARIUM"}, N, "agent_oral_only"),
    ({"SeriesDescription": "Body", "ContrastBolusAgent": "Omnipaque 350"}, None, "contrast_phase_unknown"),
    ({"SeriesDescription": "C+"}, None, "contrast_phase_unknown"),
    ({"SeriesDescription": "mit KM"}, None, "contrast_phase_unknown"),
    ({"SeriesDescription": "Abdomen/Becken"}, None, "agent_absent"),  # headers say nothing: no opinion
    ({"SeriesDescription": "Recon 2"}, None, "agent_absent"),
    ({"ContrastBolusStartTime": "101500", "AcquisitionTime": "101530"}, A, "timing_bolus"),
    ({"ContrastBolusStartTime": "10:15:00", "AcquisitionTime": "10:16:10"}, V, "timing_bolus"),
    ({"ContrastBolusStartTime": "101500", "AcquisitionTime": "102000"}, O, "timing_bolus"),
    ({"ContrastBolusStartTime": "235930", "AcquisitionTime": "000045"}, V, "timing_bolus"),
    ({"ContrastBolusStartTime": "101500", "AcquisitionTime": "101300"}, N, "timing_before_bolus"),
    ({"SeriesDescription": "PV", "ContrastBolusStartTime": "101500", "AcquisitionTime": "101700"}, V, "description"),
    ({"SeriesDescription": "Tardif", "ContrastBolusStartTime": "101500", "AcquisitionTime": "151500"}, O, "description"),
    ({"SeriesDescription": "AP", "ContrastBolusStartTime": "999999", "AcquisitionTime": "101700"}, A, "description"),
]


@pytest.mark.parametrize(("meta", "label", "rule"), OPINION_CASES)
def test_header_opinion_rules(meta: dict, label: str | None, rule: str) -> None:
    op = header_opinion(meta)
    assert (op.label, op.rule) == (label, rule)
    assert op.rule in {r.name for r in RULES}
    assert op.reason and len(op.reason) < 160


def test_reasons_name_the_tag_and_value_never_dates() -> None:
    op = header_opinion({"SeriesDescription": "ART 1.0 B30f", "StudyDate": "20240101", "AcquisitionDate": "20240101"})
    assert op == HeaderOpinion(A, "description", "header says arterial (SeriesDescription 'ART 1.0 B30f')", None, True)
    op = header_opinion({"ContrastBolusStartTime": "101500", "AcquisitionDateTime": "20240101101610", "StudyDate": "20240101"})
    assert op.reason == "header timing says venous: acquired 70 s after ContrastBolusStartTime"
    assert "2024" not in op.reason and "1015" not in op.reason
    long = header_opinion({"SeriesDescription": "venous " + "x" * 100 + "\x07"})
    assert "…" in long.reason and "\x07" not in long.reason and len(long.reason) < 90
    assert header_opinion({"ContrastBolusAgent": "none"}).reason == "header says no contrast (ContrastBolusAgent 'none')"


def test_seconds_after_injection() -> None:
    assert header_opinion({"ContrastBolusStartTime": "101500", "AcquisitionTime": "101535.5"}).seconds_after_injection == 35.5
    # AcquisitionDateTime first; across midnight the bolus start (a TM, no date) is the day before
    op = header_opinion({"ContrastBolusStartTime": "235930", "AcquisitionDateTime": "20240102000045", "AcquisitionTime": "x"})
    assert (op.label, op.seconds_after_injection) == (V, 75.0)
    before = header_opinion({"ContrastBolusStartTime": "101500", "AcquisitionTime": "101300"})
    assert (before.seconds_after_injection, before.contrast) == (-120.0, False)
    gap = header_opinion({"SeriesDescription": "Body", "ContrastBolusStartTime": "101500", "AcquisitionTime": "101700"})
    assert (gap.label, gap.seconds_after_injection) == (None, 120.0)  # 120 s: undecided, but known
    assert header_opinion({"ContrastBolusStartTime": "101500", "AcquisitionTime": "151500"}).seconds_after_injection is None
    assert header_opinion({"ContrastBolusStartTime": "101500"}).seconds_after_injection is None
    assert header_opinion({"ContrastBolusStartTime": "", "AcquisitionTime": "101500"}).seconds_after_injection is None


def test_study_context() -> None:
    study = four_phase_study()
    got = [(op.label, op.rule) for op in (header_opinion(m, study) for m in study)]
    assert got == [
        (N, "description"),
        (A, "timing_relative_first_contrast"),
        (V, "timing_relative_first_contrast"),
        (O, "timing_relative_first_contrast"),
        (N, "timing_before_first_contrast"),
    ]
    assert "assumed at 35 s" in header_opinion(study[2], study).reason
    # the study's bolus start applies to series without one
    bolus = [
        {"SeriesDescription": "WO", "AcquisitionTime": "095800"},
        {"ContrastBolusAgent": "IV", "ContrastBolusStartTime": "100000", "AcquisitionTime": "100030"},
        {"SeriesDescription": "Abdomen", "AcquisitionTime": "100115"},
    ]
    ops = [header_opinion(m, bolus) for m in bolus]
    assert [(op.label, op.seconds_after_injection) for op in ops] == [(N, -120.0), (A, 30.0), (V, 75.0)]
    assert ops[2].reason.endswith("ContrastBolusStartTime of the study")


def test_protocol_name_only_when_the_acquisition_has_its_own() -> None:
    shared = [
        {"SeriesDescription": "Abdomen 5mm", "ProtocolName": "Leber arteriell", "AcquisitionTime": "100000"},
        {"SeriesDescription": "Abdomen 5mm", "ProtocolName": "Leber arteriell", "AcquisitionTime": "100100"},
    ]
    assert header_opinion(shared[0], shared).rule == "agent_absent"  # the exam's protocol, not a phase
    recons = [
        {"SeriesDescription": "Abdomen 1mm", "ProtocolName": "Leber arteriell", "AcquisitionTime": "100000"},
        {"SeriesDescription": "Abdomen 5mm", "ProtocolName": "Leber arteriell", "AcquisitionTime": "100002"},
        {"SeriesDescription": "Abdomen 5mm", "ProtocolName": "Leber venös", "AcquisitionTime": "100100"},
    ]
    assert [header_opinion(m, recons).label for m in recons] == [A, A, V]
    untimed = [{"SeriesDescription": d, "ProtocolName": "Arterial"} for d in ("Thin", "Thick")]
    assert header_opinion(untimed[0], untimed).label is None
    # a shared protocol gives no contrast evidence either: the native series stays before the contrast ones
    native = [
        {"SeriesDescription": "Body", "ProtocolName": "Abdomen mit KM", "AcquisitionTime": "100000"},
        {"SeriesDescription": "Body", "ProtocolName": "Abdomen mit KM", "ContrastBolusAgent": "IV", "AcquisitionTime": "100100"},
        {"SeriesDescription": "Body", "ProtocolName": "Abdomen mit KM", "ContrastBolusAgent": "IV", "AcquisitionTime": "100140"},
    ]
    assert [header_opinion(m, native).label for m in native] == [N, A, V]


def test_paper_rules_differ_only_where_meant() -> None:
    assert evaluate_header({"SeriesDescription": "Body"}, paper=True).label == N  # paper: absent agent is native
    assert evaluate_header({"SeriesDescription": "C+"}, paper=True, contrast_default=V).label == V
    assert evaluate_header({"ProtocolName": "Arterial"}, paper=True).rule == "no_header"
    assert evaluate_header({"SeriesDescription": "CT AP"}, paper=True).label == A
    assert header_opinion({"SeriesDescription": "CT AP"}).label is None


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(st.lists(st.dictionaries(
    st.sampled_from(["SeriesDescription", "ProtocolName", "ContrastBolusAgent", "ContrastBolusRoute", "ContrastBolusVolume",
                     "ContrastBolusIngredient", "ContrastBolusStartTime", "AcquisitionTime", "AcquisitionDateTime",
                     "AcquisitionDate", "SeriesTime", "StudyDate", "StudyTime", "ContentTime"]),
    st.one_of(st.text(max_size=30), st.sampled_from(["101500", "235959.999", "000000", "20240101101500", "0", "NONE"])),
    max_size=8), min_size=1, max_size=5))
def test_header_opinion_never_raises(study: list[dict]) -> None:
    for meta in study:
        op = header_opinion(meta, study)
        assert op.label in (None, N, A, V, O) and op.rule in {r.name for r in RULES}
        acquisition_seconds(meta)


def test_headers_import_without_numpy_or_torch() -> None:
    code = "import sys, ctphase.study.headers; sys.exit('torch' in sys.modules or 'numpy' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# --- the reader: the evidence lands in Series.meta ----------------------------------------------------

def test_classic_dicom_header_evidence_reaches_the_opinion(tmp_path: Path) -> None:
    from dicom_factory import write_series

    from ctphase.io import load_series

    def edit(ds, i):
        ds.SpecificCharacterSet = "ISO_IR 192"
        ds.SeriesDescription = "Portalvenös 3.0 B31f"
        ds.ProtocolName = "Leber 3-phasig"
        ds.ContrastBolusVolume = "90"
        ds.ContrastBolusIngredient = "IODINE"
        ds.ContrastBolusStartTime = "235930"
        ds.AcquisitionDate = "20240102"
        ds.AcquisitionTime = "000045.5"
        ds.SeriesDate, ds.SeriesTime = "20240102", "000040"
        ds.ContentDate, ds.ContentTime = "20240102", "000130"
        ds.StudyDate, ds.StudyTime = "20240101", "235000"
        ds.AcquisitionDateTime = "20240102000045.5"

    write_series(tmp_path / "s", n=4, edit=edit)
    meta = load_series(tmp_path / "s").meta
    assert meta["SeriesDescription"] == "Portalvenös 3.0 B31f"  # UTF-8 decoded, not read as latin-1
    for kw, value in {"ProtocolName": "Leber 3-phasig", "ContrastBolusVolume": "90", "ContrastBolusIngredient": "IODINE",
                      "SeriesTime": "000040", "ContentTime": "000130", "AcquisitionDate": "20240102",
                      "AcquisitionDateTime": "20240102000045.5", "SeriesDate": "20240102", "StudyDate": "20240101",
                      "StudyTime": "235000", "SeriesNumber": "3"}.items():
        assert meta[kw] == value, kw
    assert meta["FrameOfReferenceUID"] and meta["AcquisitionNumber"] == "1"
    op = header_opinion(meta)
    assert (op.label, op.rule, op.seconds_after_injection) == (V, "timing_bolus", 75.5)
    assert time_source(meta) == "AcquisitionDateTime"


def test_text_in_latin1_and_mislabelled_charsets(tmp_path: Path) -> None:
    from dicom_factory import write_series

    from ctphase.io import load_series

    def latin1(ds, i):
        ds.SpecificCharacterSet = "ISO_IR 100"
        ds.SeriesDescription = "Spät"

    write_series(tmp_path / "l", n=4, edit=latin1)
    assert load_series(tmp_path / "l").meta["SeriesDescription"] == "Spät"

    def wrong(ds, i):  # latin-1 bytes in a file that says UTF-8: read as latin-1
        ds.SpecificCharacterSet = "ISO_IR 192"
        ds.add_new(0x0008103E, "LO", b"Sp\xe4t")

    write_series(tmp_path / "w", n=4, edit=wrong)
    meta = load_series(tmp_path / "w").meta
    assert meta["SeriesDescription"] == "Spät" and header_opinion(meta).label == O


def test_enhanced_ct_keeps_the_same_keys(tmp_path: Path) -> None:
    from dicom_factory import write_enhanced_ct
    from pydicom.dataset import Dataset

    from ctphase.io.dicom_header import read_headers

    def edit(ds):
        profile = Dataset()
        profile.ContrastBolusStartTime = "101430"
        ds.ContrastBolusAgentSequence[0].ContrastAdministrationProfileSequence = [profile]
        ds.ProtocolName = "Abdomen arteriell"

    write_enhanced_ct(tmp_path / "e.dcm", n=4, rows=16, cols=16, edit=edit)
    meta = read_headers(tmp_path / "e.dcm")[0].meta
    for kw, value in {"AcquisitionDateTime": "20240101101500.000", "AcquisitionDate": "20240101",
                      "AcquisitionTime": "101500.000", "ContrastBolusAgent": "Iopamidol",
                      "ContrastBolusRoute": "INTRAVENOUS ROUTE", "ContrastBolusVolume": "100",
                      "ContrastBolusIngredient": "IODINE", "ContrastBolusStartTime": "101430", "StudyDate": "20240101",
                      "SeriesTime": "101000", "ContentTime": "101500", "ProtocolName": "Abdomen arteriell",
                      "SeriesNumber": "3", "AcquisitionNumber": "1"}.items():
        assert meta[kw] == value, kw
    assert meta["FrameOfReferenceUID"]
    op = header_opinion(meta)
    assert (op.label, op.rule, op.seconds_after_injection) == (A, "timing_bolus", 30.0)
    assert acquisition_seconds(meta) == JAN1_2024 + 36900.0


def test_header_tag_tables_stay_importable_from_the_reader() -> None:
    from ctphase.io.dicom_header import HEADER_TAGS, META_KEYWORDS
    from ctphase.io.dicom_tags import HEADER_TAGS as TAGS

    assert HEADER_TAGS is TAGS
    kept = {kw for kw, _ in HEADER_TAGS.values()}
    assert set(META_KEYWORDS) <= kept
    assert {"ProtocolName", "ContrastBolusVolume", "ContrastBolusIngredient", "SeriesTime", "ContentTime", "AcquisitionDate",
            "AcquisitionDateTime", "SeriesDate", "StudyDate", "StudyTime", "FrameOfReferenceUID", "SeriesNumber",
            "AcquisitionNumber"} <= set(META_KEYWORDS)
    assert not {"PatientName", "PatientID", "PatientBirthDate"} & kept
