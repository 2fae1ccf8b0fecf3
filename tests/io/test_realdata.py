"""The six real CT series in ../shared/realdata (read in place, never copied): counts, order, HU."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from ctphase.io import Discovery, discover, load_series

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def labels(realdata_dir: Path) -> dict[str, dict[str, str]]:
    with open(realdata_dir / "labels.csv", newline="") as fh:
        return {row["folder"]: row for row in csv.DictReader(fh)}


@pytest.fixture(scope="module")
def found(realdata_dir: Path) -> Discovery:
    return discover(realdata_dir, min_slices=8)


def _by_folder(found: Discovery) -> dict[str, object]:
    return {Path(s.path).name: s for s in found.series}


def test_all_six_series_with_label_slice_counts(found: Discovery, labels: dict[str, dict[str, str]]) -> None:
    series = _by_folder(found)
    assert sorted(series) == sorted(labels)
    for folder, row in labels.items():
        assert series[folder].n_slices == int(row["n_slices"]), folder  # type: ignore[attr-defined]
    assert found.n_errors == 0


def test_z_order_ascending_inferior_first(found: Discovery) -> None:
    for s in found.series:
        assert np.all(np.diff(s.slice_positions) > 0), s.path
        z = [h.ipp[2] for h in s.slices]  # type: ignore[attr-defined]
        assert z == sorted(z), s.path


def test_rctt_coronal_reformat_dropped(found: Discovery, realdata_dir: Path) -> None:
    series = _by_folder(found)
    for folder in ("rctt2022_ap_arterial", "rctt2022_eqp_other"):
        s = series[folder]
        assert s.n_slices == 50  # type: ignore[attr-defined]
        assert "dicom-00001.dcm" not in {Path(h.path).name for h in s.slices}  # type: ignore[attr-defined]
        assert any("coronal" in w and "dicom-00001.dcm" in w for w in s.warnings)  # type: ignore[attr-defined]
    # the left-out reformat is a warning on its series, not a second record; only the folder's notes are
    assert [(s.path, s.reason) for s in found.skipped] == [
        (str(realdata_dir), "2 file(s) that are neither DICOM nor NIfTI, ignored: README.md, labels.csv")
    ]


def test_air_and_fat_hu_on_mid_slice(found: Discovery) -> None:
    for s in found.series:
        mid = s.read_slices([s.n_slices // 2])[0]
        assert mid.dtype == np.float32 and mid.shape == (512, 512)
        assert mid.min() == -1024  # padding (-2000 stored in hcc005) and fill mapped to air
        rows, cols = mid.shape
        air = float(np.median(mid[5:30, cols // 2 - 20 : cols // 2 + 20]))  # anterior to the body
        assert -1015 <= air <= -985, (s.path, air)
        fat = mid[(mid >= -200) & (mid <= -50)]
        hist, edges = np.histogram(fat, bins=np.arange(-200, -45, 5))
        mode = edges[np.argmax(hist)] + 2.5
        assert -125 <= mode <= -75, (s.path, mode)  # subcutaneous/visceral fat


def test_fast_reader_matches_pydicom(found: Discovery) -> None:
    import pydicom

    for s in found.series:
        for i in (0, s.n_slices - 1):
            h = s.slices[i]  # type: ignore[attr-defined]
            ds = pydicom.dcmread(h.path)
            ref = ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
            pad = ds.get("PixelPaddingValue")
            if pad is not None:
                pad = pad - 65536 if ds.PixelRepresentation == 1 and pad >= 32768 else pad
                ref[ds.pixel_array == pad] = -1024
            np.testing.assert_array_equal(s.read_slices([i])[0], np.maximum(ref, -1024).astype(np.float32), err_msg=h.path)


def test_load_series_on_one_folder(realdata_dir: Path) -> None:
    s = load_series(realdata_dir / "ts_petct_dicom_venous")  # JPEG 2000, anonymised (empty UIDs)
    assert s.n_slices == 20 and s.series_uid is None
    assert s.meta["ContrastBolusAgent"] == "APPLIED"
    assert s.series_id == str(realdata_dir / "ts_petct_dicom_venous")
