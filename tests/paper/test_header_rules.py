"""The header-only baseline: rules on messy DICOM headers, study context, helpers; no torch or numpy."""

from __future__ import annotations

import re
import subprocess
import sys
from types import SimpleNamespace

import pytest
from header_studies import four_phase_study

from ctphase.errors import ConfigError
from ctphase.paper.header_rules import (
    KEYWORDS,
    RULES,
    agent_kind,
    fold,
    header_baseline_predictions,
    parse_tm,
    phase_from_delay,
    predict_from_header,
)


N, A, V, O = "non_contrast", "arterial", "venous", "other"


HEADER_CASES = [
    # (meta, expected phase, expected rule)
    ({}, None, "no_header"),
    ({"orientation": "RAS"}, None, "no_header"),
    ({"SeriesDescription": "Arteriell 3.0 B30f", "ContrastBolusAgent": "Ultravist 370"}, A, "description"),
    ({"SeriesDescription": "Fase arterial"}, A, "description"),
    ({"SeriesDescription": "HCC Art"}, A, "description"),
    ({"SeriesDescription": "late arterial"}, A, "description"),  # strong beats weak "late"
    ({"SeriesDescription": "early", "ContrastBolusAgent": "IV"}, A, "description_weak"),
    ({"SeriesDescription": "venös 3.0 B31f"}, V, "description"),
    ({"SeriesDescription": "Portal venous"}, V, "description"),
    ({"SeriesDescription": "PV", "ContrastBolusAgent": "Omnipaque 350"}, V, "description"),
    ({"SeriesDescription": "Fase venosa"}, V, "description"),
    ({"SeriesDescription": "Delayed 5 min"}, O, "description"),
    ({"SeriesDescription": "Spät"}, O, "description"),
    ({"SeriesDescription": "Fase tardía"}, O, "description"),
    ({"SeriesDescription": "ritardata"}, O, "description"),
    ({"SeriesDescription": "EQP"}, O, "description"),
    ({"SeriesDescription": "Urogram"}, O, "description"),
    ({"SeriesDescription": "late"}, O, "description_weak"),
    ({"SeriesDescription": "NATIVE"}, N, "description"),
    ({"SeriesDescription": "Abdomen ohne KM"}, N, "description"),
    ({"SeriesDescription": "Sin contraste"}, N, "description"),
    ({"SeriesDescription": "Senza mdc"}, N, "description"),
    ({"SeriesDescription": "PRE LIVER"}, N, "description"),
    ({"SeriesDescription": "NON CON", "ContrastBolusAgent": "Iomeron 400"}, N, "description"),  # wrong tag: rules win
    ({"SeriesDescription": "Arteriale", "ContrastBolusAgent": "NONE"}, A, "description"),  # wrong agent: description first
    ({"SeriesDescription": "ABDOMEN", "ContrastBolusAgent": "NONE"}, N, "agent_none"),
    ({"SeriesDescription": "Body 3.0", "ContrastBolusAgent": "Omnipaque oral"}, N, "agent_oral_only"),
    ({"ContrastBolusAgent": "Gastrografin", "ContrastBolusRoute": "ORAL"}, N, "agent_oral_only"),
    ({"SeriesDescription": "ABD PEL 5mm", "ContrastBolusAgent": "Oral & IV"}, None, "contrast_phase_unknown"),
    ({"SeriesDescription": "C+"}, None, "contrast_phase_unknown"),
    ({"SeriesDescription": "Arterial + venous"}, None, "contrast_phase_unknown"),  # conflict decides nothing
    ({"SeriesDescription": "Recon 2"}, N, "agent_absent"),
    ({"SeriesDescription": "ABD/PELVIS", "KVP": "120"}, N, "agent_absent"),
    # absolute timing: AcquisitionTime - ContrastBolusStartTime, before the description
    ({"SeriesDescription": "PV", "ContrastBolusStartTime": "101500.00", "AcquisitionTime": "101535.50"}, A, "timing_bolus"),
    ({"ContrastBolusAgent": "IV", "ContrastBolusStartTime": "10:15:00", "AcquisitionTime": "10:16:10"}, V, "timing_bolus"),
    ({"ContrastBolusStartTime": "101500", "AcquisitionTime": "102000"}, O, "timing_bolus"),
    ({"ContrastBolusStartTime": "235930", "AcquisitionTime": "000045"}, V, "timing_bolus"),  # across midnight
    ({"ContrastBolusStartTime": "101500", "AcquisitionTime": "101300"}, N, "timing_before_bolus"),
    # timing in a gap (120 s): falls through to the description
    ({"SeriesDescription": "Portale", "ContrastBolusStartTime": "101500", "AcquisitionTime": "101700"}, V, "description"),
    # implausible delay (5 h): ignored
    ({"SeriesDescription": "Tardiva", "ContrastBolusStartTime": "101500", "AcquisitionTime": "151500"}, O, "description"),
    # unparseable times: ignored
    ({"SeriesDescription": "AP", "ContrastBolusStartTime": "soon", "AcquisitionTime": "101700"}, A, "description"),
]


@pytest.mark.parametrize(("meta", "phase", "rule"), HEADER_CASES)
def test_header_rules_on_messy_headers(meta: dict, phase: str | None, rule: str) -> None:
    assert predict_from_header(meta) == (phase, rule)


def test_header_rules_with_relative_timing_context() -> None:
    study = four_phase_study()
    got = [predict_from_header(m, study) for m in study]
    assert got == [
        (N, "description"),
        (A, "timing_relative_first_contrast"),  # the first contrast series: assumed at 35 s
        (V, "timing_relative_first_contrast"),  # +40 s -> 75 s
        (O, "timing_relative_first_contrast"),  # +210 s, no agent tag but after contrast
        (N, "timing_before_first_contrast"),
    ]
    # a single contrast acquisition gives no anchor: phase stays unknown (or the default)
    single = [study[0], study[2]]
    assert predict_from_header(study[2], single) == (None, "contrast_phase_unknown")
    assert predict_from_header(study[2], single, contrast_default=V) == (V, "contrast_phase_unknown")
    with pytest.raises(ConfigError, match="contrast_default 'portal'"):
        predict_from_header(study[2], single, contrast_default="portal")


def test_study_bolus_start_applies_to_series_without_one() -> None:
    study = [
        {"SeriesDescription": "WO", "AcquisitionTime": "095800"},
        {"ContrastBolusAgent": "IV", "ContrastBolusStartTime": "100000", "AcquisitionTime": "100030"},
        {"SeriesDescription": "Abdomen", "AcquisitionTime": "100115"},
    ]
    assert [predict_from_header(m, study) for m in study] == [
        (N, "timing_before_bolus"),
        (A, "timing_bolus"),
        (V, "timing_bolus"),
    ]


def test_header_baseline_predictions_groups_byfour_phase_study() -> None:
    study = four_phase_study()
    series = [SimpleNamespace(meta=m, study_uid="1.2.3", description=None) for m in study]
    series.insert(2, SimpleNamespace(meta={"ContrastBolusAgent": "IV", "AcquisitionTime": "100240"}, study_uid="9.9", description="x"))
    series.append({"SeriesDescription": "Body", "StudyInstanceUID": "7.7"})
    got = header_baseline_predictions(series)
    assert [r for _, r in got][:2] == ["description", "timing_relative_first_contrast"]
    assert got[2] == (None, "contrast_phase_unknown")  # alone in its study: no anchor
    assert got[3] == (V, "timing_relative_first_contrast")
    assert got[-1] == (N, "agent_absent")
    desc_only = SimpleNamespace(meta={}, study_uid=None, description="Arteriale")
    assert header_baseline_predictions([desc_only]) == [(A, "description")]
    with pytest.raises(ConfigError, match="expected a Series"):
        header_baseline_predictions([42])


def test_rule_table_and_keyword_examples_are_consistent() -> None:
    rule_names = {r.name for r in RULES}
    assert {rule for _, _, rule in HEADER_CASES} <= rule_names
    for kw in KEYWORDS:
        for example in kw.examples:
            assert re.search(kw.pattern, fold(example)), (kw.pattern, example)


def test_header_helpers() -> None:
    assert parse_tm("101530.25") == pytest.approx(10 * 3600 + 15 * 60 + 30.25)
    assert parse_tm("1015") == 10 * 3600 + 15 * 60
    assert parse_tm("10:15:30") == 10 * 3600 + 15 * 60 + 30
    assert parse_tm("") is None and parse_tm("99") is None and parse_tm(None) is None
    assert [phase_from_delay(t) for t in (-5, 30, 47, 70, 120, 200)] == [N, A, None, V, None, O]
    assert [agent_kind({"ContrastBolusAgent": a}) for a in ("", "N/A", "ORAL", "Oral & IV", "60ml")] == [
        "absent",
        "none",
        "oral",
        "iv",
        "iv",
    ]
    with pytest.raises(ConfigError, match="meta must be a dict"):
        predict_from_header(["SeriesDescription"])  # type: ignore[arg-type]


def test_header_baseline_imports_without_torch() -> None:
    code = "import sys, ctphase.paper.header_rules; sys.exit('torch' in sys.modules or 'numpy' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
