"""One labelled-scan type from every source: series manifests, the paper's slices, synthetic patients, arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from training_toys import toy_source, write_nifti_manifest, write_paper_csv

from ctphase.data import LabelledScan, read_manifest, scans_from_manifest, spread_indices, synthetic_scans
from ctphase.errors import ConfigError
from ctphase.phases import Phase


def test_series_manifest_scans_read_lazily_with_patient_groups(tmp_path: Path) -> None:
    csv = write_nifti_manifest(tmp_path, n_patients=2, labels=(0, 2), n_slices=6)
    scans = scans_from_manifest(csv)
    assert [s.label for s in scans] == [Phase.NON_CONTRAST, Phase.VENOUS] * 2
    assert all(s.n_slices == 6 and s.has_group and s.group.startswith("patient:") for s in scans)
    assert scans[0].read().shape == (6, 32, 32) and scans[0].read([5, 0]).shape == (2, 32, 32)
    np.testing.assert_array_equal(scans[0].read([5, 0])[0], scans[0].read()[5])
    assert scans[0].read_spread(3).shape == (3, 32, 32)
    # a subset of the records (a validation split) gives the scans of those records only
    man = read_manifest(csv)
    assert [s.path for s in scans_from_manifest(man, man.records[1:2])] == [man.records[1].path]


def test_a_scan_without_patient_or_study_is_its_own_group(tmp_path: Path) -> None:
    write_nifti_manifest(tmp_path, n_patients=1, labels=(1,), n_slices=4)
    lines = (tmp_path / "manifest.csv").read_text().splitlines()
    (tmp_path / "bare.csv").write_text("path,label\n" + lines[1].split(",")[0] + ",arterial\n")
    (scan,) = scans_from_manifest(tmp_path / "bare.csv")
    assert not scan.has_group and scan.group == f"scan:{scan.scan_id}"


def test_unreadable_series_are_all_named_with_their_lines(tmp_path: Path) -> None:
    from ctphase.errors import InputError

    csv = write_nifti_manifest(tmp_path, n_patients=1, labels=(1, 2), n_slices=4)
    good = csv.read_text().splitlines()
    (tmp_path / "b1.nii.gz").write_bytes(b"not a volume")
    (tmp_path / "b2.nii").write_bytes(b"\x00" * 10)
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join([good[0], good[1], "b1.nii.gz,venous", good[2], "b2.nii,other"]) + "\n")
    with pytest.raises(InputError) as info:
        scans_from_manifest(bad)
    msg = str(info.value)
    assert f"manifest {bad}: 2 series cannot be read" in msg
    assert "line 3: " in msg and "b1.nii.gz" in msg and "line 5: " in msg and "b2.nii" in msg
    assert "line 2" not in msg and "line 4" not in msg
    (tmp_path / "one.csv").write_text("\n".join([good[0], "b1.nii.gz,venous"]) + "\n")
    with pytest.raises(InputError, match=r"one.csv line 2: .*b1.nii.gz: .*NIfTI"):
        scans_from_manifest(tmp_path / "one.csv")


def test_paper_slices_are_grouped_into_scans(tmp_path: Path) -> None:
    csv = write_paper_csv(tmp_path / "p", n_scans=2, labels=(1, 2), n_slices=3)
    scans = scans_from_manifest(csv)
    assert len(scans) == 4 and {s.group for s in scans} == {"study:study0", "study:study1"}
    assert sorted(s.label for s in scans) == [1, 1, 2, 2]  # paper's 1 Venous/2 Arterial -> canonical 2/1
    assert all(s.read().shape == (3, 32, 32) for s in scans)


def test_paper_scan_with_mixed_labels_is_refused(tmp_path: Path) -> None:
    csv = write_paper_csv(tmp_path / "p", n_scans=1, labels=(1,), n_slices=2)
    text = csv.read_text().splitlines()
    fields = text[-1].split(",")
    fields[1] = "1" if fields[1] != "1" else "3"  # the last slice of the scan gets another phase
    text[-1] = ",".join(fields)
    csv.write_text("\n".join(text) + "\n")
    with pytest.raises(ConfigError, match="different labels"):
        scans_from_manifest(csv)


def test_synthetic_scans_render_once_when_cached() -> None:
    calls = []

    def source(*args, **kwargs):
        calls.append(args[2])
        return toy_source(*args, **kwargs)

    scans = synthetic_scans(range(7, 9), slices_per_scan=3, size=32, source=source, cache=True)
    assert [s.scan_id for s in scans[:4]] == ["synth/7/non_contrast", "synth/7/arterial", "synth/7/venous", "synth/7/other"]
    hu = scans[1].read()
    assert hu.shape == (3, 32, 32) and hu.dtype == np.float32 and scans[1].label == Phase.ARTERIAL
    np.testing.assert_array_equal(scans[1].read(), hu)
    assert calls == [range(7, 8)]  # rendered once, then cached
    with pytest.raises(ConfigError, match="non-empty"):
        synthetic_scans(range(0), source=toy_source)


def test_scan_from_an_array_and_spread_indices() -> None:
    scan = LabelledScan.from_array("s", "venous", "patient:a", np.zeros((5, 4, 4)))
    assert scan.label == Phase.VENOUS and scan.n_slices == 5 and scan.read([1, 3]).shape == (2, 4, 4)
    assert spread_indices(10, 3).tolist() == [0, 4, 9] and spread_indices(4, 0).tolist() == [0, 1, 2, 3]
    with pytest.raises(ConfigError, match=r"\(Z>=1, H, W\)"):
        LabelledScan.from_array("s", 0, "g", np.zeros((4, 4)))
