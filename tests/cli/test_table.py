"""The predict table (``reporting.to_table``): 100 columns, one line per series, short unique names; CSV columns."""

from __future__ import annotations

import csv
import io
import re

from rich.console import Console

from ctphase.prediction import ScanPrediction
from ctphase.reporting import CSV_COLUMNS, QC_SHORT, short_names, to_csv, to_table

UID = "1.2.826.0.1.3680043.8.498."


def _ok(path: str, series_uid: str, label: str = "venous", *, extra: str = "", **kw) -> ScanPrediction:
    study = UID + "1234567890123456789"
    guess = kw.get("image_label", label)
    defaults = dict(
        series_id=f"{study}/{series_uid}{extra}", path=path, source="dicom", status="ok", study_uid=study,
        series_uid=series_uid, n_slices=300, sampled_indices=list(range(90)), label=label, image_label=guess,
        vote_fractions={"non_contrast": 0.0, "arterial": 0.1, "venous": 0.0, "other": 0.0} | {guess: 0.9}, confidence=0.9,
    )
    defaults.update(kw)
    return ScanPrediction(**defaults)


def _predictions() -> list[ScanPrediction]:
    long_warning = "gap of 5.0 mm between slices 2 and 3 (at -35.0 -> -30.0 mm); median spacing 2.50 mm: " * 3
    return [
        _ok("/data/pacs_export/patient_0001/CT_ABDOMEN_WITH_CONTRAST_PORTAL_VENOUS_PHASE_1.25MM", UID + "77123456781"),
        _ok("/data/a/study/SE0002", UID + "88812345678", extra="/acq2"),
        _ok("/data/a/study/SE0002", UID + "88812345678", extra="/acq3", label="arterial", image_label="arterial"),
        _ok("/data/b/study/SE0002", UID + "99912345678", label="uncertain", image_label="arterial",
            qc=["implausible_hu", "slice_gaps"], warnings=["no fat or air in any of 90 sampled slices", long_warning]),
        _ok("/data/one/SE9", UID + "4444", warnings=[long_warning], qc=["slice_gaps", "few_slices"]),
        _ok("/data/two/SE9", UID + "4444"),  # the same series copied into another folder
        ScanPrediction(series_id="nifti:abc", path="/x/y/scan.nii.gz", source="nifti", status="ok", n_slices=40,
                       sampled_indices=[1, 5, 9], label="other", image_label="other", confidence=1.0,
                       vote_fractions={"other": 1.0}),
        ScanPrediction(series_id="/data/junk/noise.dcm", path="/data/junk/noise.dcm", source="file", status="error",
                       error="not a DICOM file: no 'DICM' marker at byte 128 and no DICOM data elements at the start"),
        ScanPrediction(series_id=f"{UID}1/{UID}2", path="/data/mr", source="dicom", status="skipped",
                       study_uid=f"{UID}1", series_uid=f"{UID}2", error="not CT (Modality MR); ctphase classifies CT only"),
    ]


def _render(preds: list[ScanPrediction], width: int = 100) -> list[str]:
    console = Console(width=width, record=True, color_system=None)
    console.print(to_table(preds, width=width))
    return console.export_text().splitlines()


def test_table_fits_100_columns_with_one_line_per_series() -> None:
    preds = _predictions()
    lines = _render(preds)
    assert max(len(line) for line in lines) <= 100
    names = short_names(preds)
    for name in names:
        assert sum(line.startswith(name + " ") for line in lines) == 1, name
    rows = [line for line in lines if any(line.startswith(n + " ") for n in names)]
    assert len(rows) == len(preds)  # nothing wrapped onto a second line
    assert lines[-1] == "9 series: 7 classified (1 uncertain), 1 skipped, 1 failed; details: --format json or csv"


def test_rows_show_label_votes_flags_and_notes() -> None:
    lines = _render(_predictions())
    uncertain = next(line for line in lines if "uncertain" in line)
    assert "uncertain (arterial)" in uncertain and "81/90" in uncertain  # the votes of the guess
    assert f"{QC_SHORT['implausible_hu']},{QC_SHORT['slice_gaps']}" in uncertain
    assert "no fat or ai\u2026 (+1)" in uncertain  # the first warning, cut; how many more
    first = next(line for line in lines if line.startswith("CT_ABDOME"))
    assert "venous" in first and "81/90" in first
    plain = _render([_ok("/d/s/SE1", UID + "123456789")])
    assert re.search(r"^SE1 \u202623456789 +300 +venous +81/90 +0\.90 *$", plain[3])
    cut = next(line for line in lines if line.startswith("one/SE9"))
    assert cut.rstrip().endswith("\u2026") and "gap of 5.0 mm" in cut
    error = next(line for line in lines if line.startswith("noise.dcm"))
    assert "error" in error and "not a DICOM file" in error
    skipped = next(line for line in lines if line.startswith("mr "))
    assert "skipped" in skipped and "not CT" in skipped


def test_short_names_are_short_and_lengthened_only_where_they_collide() -> None:
    names = short_names(_predictions())
    assert len(set(names)) == len(names)
    assert names[0] == "CT_ABDOME\u2026ASE_1.25MM \u202623456781"  # a long folder name is cut in the middle
    assert names[1:4] == ["SE0002 \u202612345678/acq2", "SE0002 \u202612345678/acq3", "SE0002 \u202612345678"]
    assert names[4:6] == ["one/SE9 \u2026498.4444", "two/SE9 \u2026498.4444"]  # same folder name and UID: the parents
    assert names[6:] == ["scan.nii.gz", "noise.dcm", "mr \u2026.8.498.2"]


def test_uid_tails_that_collide_grow() -> None:
    a = _ok("/d/s/SE1", UID + "11112345678")
    b = _ok("/d/s/SE1", UID + "22212345678")
    assert short_names([a, b]) == ["SE1 \u2026.498.11112345678", "SE1 \u2026.498.22212345678"]  # 16 characters
    twice = _ok("/d/s/SE1", UID + "11112345678")
    assert short_names([a, twice]) == [f"SE1 \u2026{a.series_uid}"] * 2  # the same series given twice: all there is


def test_narrow_terminals() -> None:
    typical = [p for p in _predictions() if not p.path.startswith("/data/pacs") and p.label != "uncertain"]
    lines = _render(typical, width=80)
    assert max(len(line) for line in lines[:-2]) <= 80
    assert "not a DICOM" in next(line for line in lines if line.startswith("noise.dcm"))
    crowded = _render(_predictions(), width=80)  # long names and labels: the confidence goes, names stay whole
    header = next(line for line in crowded if line.startswith("series"))
    assert "conf" not in header and "votes" in header
    assert max(len(line) for line in crowded[:-2]) <= 80
    assert all(sum(line.startswith(n + " ") for line in crowded) == 1 for n in short_names(_predictions()))


def test_empty_run() -> None:
    assert _render([])[-1].startswith("0 series: 0 classified")


def test_csv_has_the_quality_columns() -> None:
    preds = _predictions()
    preds[1].reconstruction = "B30f 1.0 mm"
    rows = list(csv.DictReader(io.StringIO(to_csv(preds))))
    assert {"image_label", "qc", "reconstruction"} <= set(CSV_COLUMNS) == set(rows[0])
    assert rows[3]["label"] == "uncertain" and rows[3]["image_label"] == "arterial"
    assert rows[3]["qc"] == "implausible_hu;slice_gaps"
    assert rows[1]["reconstruction"] == "B30f 1.0 mm" and rows[0]["reconstruction"] == ""
    assert rows[0]["series_id"] == preds[0].series_id  # the full id


def test_unused_file_tallies_are_counted_not_listed() -> None:
    preds = [
        _ok("/data/a/SE1", UID + "5551"),
        ScanPrediction(series_id="/data/a", path="/data/a", source="unused", status="skipped", n_files=3,
                       error="3 file(s) that are neither DICOM nor NIfTI, ignored: x.txt, y.jpg, z.pdf"),
    ]
    console = Console(width=100, record=True)
    console.print(to_table(preds))
    text = console.export_text()
    assert "x.txt" not in text and "/data/a " not in text
    assert text.rstrip().splitlines()[-1] == "1 series: 1 classified; 3 other file(s) not used; details: --format json or csv"
    assert "x.txt" in to_csv(preds)  # the full record stays in CSV and JSON


def test_rows_and_csv_show_subphase_and_seconds_of_a_model_with_heads() -> None:
    timed = _ok("/d/s/SE1", UID + "123456789", subphase="nephrographic",
                seconds_after_injection={"estimate": 104.0, "low": 80.5, "high": 131.0, "interval": 0.8})
    lines = _render([timed, *_predictions()])
    row = next(line for line in lines if line.startswith("SE1 "))
    assert "venous nephrographic ~104 s" in row and max(len(line) for line in lines) <= 100
    plain = next(line for line in lines if line.startswith("CT_ABDOME"))
    assert "~" not in plain  # a model without heads: nothing added
    rows = list(csv.DictReader(io.StringIO(to_csv([timed, _predictions()[0]]))))
    assert (rows[0]["subphase"], rows[0]["seconds_after_injection"], rows[0]["seconds_low"], rows[0]["seconds_high"]) == \
        ("nephrographic", "104.0", "80.5", "131.0")
    assert rows[1]["subphase"] == rows[1]["seconds_after_injection"] == ""
