"""DICOMweb input (:mod:`ctphase.io.dicomweb`) against a real Orthanc: listing, laziness, filters, auth, failures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from dicom_factory import write_series
from dicomweb_proxy import FaultyProxy, instance_fetches
from orthanc_server import needs_orthanc, start_orthanc

from ctphase.errors import ConfigError, DicomReadError, DicomWebError
from ctphase.io import discover
from ctphase.io.dicomweb import DicomWebAuth, DicomWebQuery, auth_from_env, discover_dicomweb, store_instances

pytestmark = needs_orthanc


def _errors(found) -> list[str]:
    return [f"{s.path}: {s.reason}" for s in found.skipped if s.kind == "error"]


def test_series_come_from_metadata_alone_and_match_the_files(pacs, http_log) -> None:
    web = discover_dicomweb(DicomWebQuery(pacs.server.dicomweb))
    disk = discover([str(pacs.root / "ct")]).series[0]
    assert [s.series_id for s in web.series] == [disk.series_id] and not web.skipped  # the MR series is not listed
    s = web.series[0]
    assert s.path == f"{pacs.server.dicomweb}/studies/{pacs.ct.study_uid}/series/{pacs.ct.series_uid}"
    assert s.n_slices == 40 and s.shape == disk.shape and s.pixel_spacing == disk.pixel_spacing
    np.testing.assert_array_equal(s.slice_positions, disk.slice_positions)
    assert s.meta == disk.meta and s.qc == disk.qc
    metadata = [u for _, u in http_log if u.endswith("/metadata")]
    queries = [u for _, u in http_log if "/series?" in u]  # QIDO-RS, paged: the last page is empty
    assert len(metadata) == 1 and len(queries) <= 2 and len(http_log) == len(metadata) + len(queries)
    assert not instance_fetches(http_log)  # no pixel data read while discovering


def test_only_the_slices_read_are_fetched(pacs, http_log) -> None:
    s = discover_dicomweb(DicomWebQuery(pacs.server.dicomweb)).series[0]
    disk = discover([str(pacs.root / "ct")]).series[0]
    idx = [0, 7, 39]
    np.testing.assert_array_equal(s.read_slices(idx), disk.read_slices(idx))
    fetched = instance_fetches(http_log)
    assert sorted(u.rsplit("/", 1)[1] for u in fetched) == sorted(h.sop_uid for h in (disk.slices[i] for i in idx))


def test_filters_by_study_series_modality_and_date(pacs) -> None:
    url, ct, mr = pacs.server.dicomweb, pacs.ct, pacs.mr
    every = discover_dicomweb(DicomWebQuery(url, modality=None))
    assert [s.series_uid for s in every.series] == [ct.series_uid]
    assert [(s.series_uid, s.kind) for s in every.skipped] == [(mr.series_uid, "skipped")]
    assert "MR" in every.skipped[0].reason
    named = discover_dicomweb(DicomWebQuery(url, series_uids=(mr.series_uid,)))  # named: listed whatever its modality
    assert not named.series and named.skipped[0].series_uid == mr.series_uid and named.skipped[0].kind == "skipped"
    study = discover_dicomweb(DicomWebQuery(url, study_uids=(ct.study_uid,)))
    assert [s.series_uid for s in study.series] == [ct.series_uid]
    assert len(discover_dicomweb(DicomWebQuery(url, study_date="20231201-20240131")).series) == 1
    assert len(discover_dicomweb(DicomWebQuery(url, study_date="20240102-")).series) == 0
    none = discover_dicomweb(DicomWebQuery(url, study_date="19900101-19901231"))
    assert not none.series and none.skipped[0].kind == "skipped" and "StudyDate=19900101-19901231" in none.skipped[0].reason
    missing = discover_dicomweb(DicomWebQuery(url, study_uids=("1.2.3.4",)))
    assert _errors(missing) == [f"{url}/studies/1.2.3.4: no such series on the server matching Modality=CT"]


def test_unreachable_server_is_one_error_record_naming_the_url() -> None:
    from orthanc_server import free_port

    url = f"http://127.0.0.1:{free_port()}/dicom-web"
    found = discover_dicomweb(DicomWebQuery(url))
    assert not found.series
    assert _errors(found) == [f"{url}: cannot list series (QIDO-RS): cannot reach the server (connection refused)"]
    with pytest.raises(DicomWebError, match="connection refused"):
        discover_dicomweb(DicomWebQuery(url), strict=True)


def test_login_refused_then_accepted_from_env_and_file(tmp_path: Path, monkeypatch) -> None:
    info = write_series(tmp_path / "ct", n=4, rows=16, cols=16)
    server = start_orthanc(tmp_path / "orthanc", users={"alice": "s3cret-pw"})
    try:
        server.upload(tmp_path / "ct")
        bad = discover_dicomweb(DicomWebQuery(server.dicomweb, auth=DicomWebAuth(user="alice", password="wrong-pw")))
        (error,) = _errors(bad)
        assert error.startswith(f"{server.dicomweb}: cannot list series (QIDO-RS): access denied (HTTP 401)")
        assert "wrong-pw" not in error and "CTPHASE_DICOMWEB_USER" in error
        assert _errors(discover_dicomweb(DicomWebQuery(server.dicomweb)))  # anonymous: refused too
        monkeypatch.setenv("CTPHASE_DICOMWEB_USER", "alice")
        monkeypatch.setenv("CTPHASE_DICOMWEB_PASSWORD", "s3cret-pw")
        found = discover_dicomweb(DicomWebQuery(server.dicomweb, auth=auth_from_env()))
        assert [s.series_uid for s in found.series] == [info.series_uid]
        assert found.series[0].read_slices([1]).shape == (1, 16, 16)  # pixels fetched with the same credentials
        secret = tmp_path / "auth.txt"
        secret.write_text("alice:s3cret-pw\n")
        monkeypatch.delenv("CTPHASE_DICOMWEB_PASSWORD")
        assert len(discover_dicomweb(DicomWebQuery(server.dicomweb, auth=auth_from_env(secret))).series) == 1
    finally:
        server.stop()


def test_auth_from_env_and_file_formats(tmp_path: Path, monkeypatch) -> None:
    for name in ("CTPHASE_DICOMWEB_TOKEN", "CTPHASE_DICOMWEB_USER", "CTPHASE_DICOMWEB_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    assert auth_from_env() is None
    monkeypatch.setenv("CTPHASE_DICOMWEB_TOKEN", "tok-123")
    auth = auth_from_env()
    assert auth == DicomWebAuth(token="tok-123") and "tok-123" not in repr(auth)
    f = tmp_path / "a"
    f.write_text("Bearer abc.def\n")
    assert auth_from_env(f) == DicomWebAuth(token="abc.def")  # the file wins over the environment
    f.write_text("bob:pa:ss")
    assert auth_from_env(f) == DicomWebAuth(user="bob", password="pa:ss") and "pa:ss" not in repr(auth_from_env(f))
    f.write_text("")
    with pytest.raises(ConfigError, match="one line"):
        auth_from_env(f)
    with pytest.raises(ConfigError, match="cannot read"):
        auth_from_env(tmp_path / "missing")
    monkeypatch.delenv("CTPHASE_DICOMWEB_TOKEN")
    monkeypatch.setenv("CTPHASE_DICOMWEB_USER", "bob")
    with pytest.raises(ConfigError, match="CTPHASE_DICOMWEB_PASSWORD"):
        auth_from_env()


@pytest.mark.parametrize(("query", "message"), [
    (DicomWebQuery("ftp://host/dicom-web"), "must start with http"),
    (DicomWebQuery("http://bob:pw@host/dicom-web"), "credentials in the DICOMweb URL"),
    (DicomWebQuery("http://host/dicom-web", study_uids=("1.2.abc",)), "not a DICOM UID"),
    (DicomWebQuery("http://host/dicom-web", study_date="2024-01-01"), "YYYYMMDD"),
])
def test_bad_query_values_are_refused_before_any_request(query, message, http_log) -> None:
    with pytest.raises(ConfigError, match=message):
        discover_dicomweb(query)
    assert not http_log


def test_series_deleted_between_listing_and_reading(tmp_path: Path, pacs) -> None:
    info = write_series(tmp_path / "gone", n=10, rows=16, cols=16, seed=9)
    pacs.server.upload(tmp_path / "gone")
    found = discover_dicomweb(DicomWebQuery(pacs.server.dicomweb, series_uids=(info.series_uid,)))
    (series,) = found.series
    (hit,) = json.loads(pacs.server._request("POST", "/tools/lookup", info.series_uid.encode()))
    pacs.server._request("DELETE", f"/series/{hit['ID']}")
    with pytest.raises(DicomReadError, match=r"cannot fetch the instance: not found on the server \(HTTP 404"):
        series.read_slices([2])
    gone = discover_dicomweb(DicomWebQuery(pacs.server.dicomweb, series_uids=(info.series_uid,)))
    assert not gone.series and "no such series on the server" in _errors(gone)[0]


def _json(obj: object) -> tuple[int, bytes, str]:
    return 200, json.dumps(obj).encode(), "application/dicom+json"


def test_malformed_answers_and_a_500_midway_are_one_error_per_series(pacs) -> None:
    st, ct = pacs.ct.study_uid, pacs.ct.series_uid
    fake_series = "1.2.826.0.1.3680043.8.498.1"
    listing = [{"0020000D": {"vr": "UI", "Value": [st]}, "0020000E": {"vr": "UI", "Value": [s]}} for s in (ct, fake_series)]

    def fault(method: str, path: str, n: int):
        if path.startswith("/dicom-web/series?"):
            return _json(listing)
        if path.endswith(f"{fake_series}/metadata"):
            return 200, b"[{not json", "application/dicom+json"
        return None

    with FaultyProxy(pacs.server.url, fault) as proxy:
        found = discover_dicomweb(DicomWebQuery(proxy.url + "/dicom-web"))
    assert [s.series_uid for s in found.series] == [ct]
    (error,) = _errors(found)
    assert error.startswith(f"{proxy.url}/dicom-web/studies/{st}/series/{fake_series}: cannot read the series metadata")
    assert "malformed DICOMweb response" in error

    def broken_listing(method: str, path: str, n: int):
        return (200, b'[{"0020000D": {"vr": "UI", "Value": [42]}}]', "application/dicom+json") if "series?" in path else None

    with FaultyProxy(pacs.server.url, broken_listing) as proxy:
        found = discover_dicomweb(DicomWebQuery(proxy.url + "/dicom-web"))
    assert not found.series and "cannot list series (QIDO-RS): malformed DICOMweb response" in _errors(found)[0]

    fetched: list[str] = []

    def fail_midway(method: str, path: str, n: int):
        if "/instances/" in path:
            fetched.append(path)
            return (500, b"boom", "text/plain") if len(fetched) > 2 else None
        return None

    with FaultyProxy(pacs.server.url, fail_midway) as proxy:
        (series,) = discover_dicomweb(DicomWebQuery(proxy.url + "/dicom-web")).series
        assert series.read_slices([0, 1]).shape == (2, 32, 32)  # the first two instances come, then HTTP 500
        with pytest.raises(DicomReadError, match="the server answered HTTP 500"):
            series.read_slices([2, 3])


def test_store_instances_and_its_failure(tmp_path: Path, pacs) -> None:
    import pydicom

    ds = pydicom.dcmread(write_series(tmp_path / "x", n=1, rows=8, cols=8, seed=11).paths[0])
    store_instances(pacs.server.dicomweb, [ds], None)
    assert pacs.server.get(f"/dicom-web/studies/{ds.StudyInstanceUID}/series")
    from orthanc_server import free_port

    url = f"http://127.0.0.1:{free_port()}/dicom-web"
    with pytest.raises(DicomWebError, match=f"^{url}: cannot store \\(STOW-RS\\): cannot reach the server"):
        store_instances(url, [ds], None)


def test_metadata_of_main_tags_only_is_named_not_misread(pacs) -> None:
    keep = ("00080016", "00080018", "00080060", "0020000D", "0020000E", "00200013")

    def main_tags_only(method: str, path: str, n: int):
        if not path.endswith("/metadata"):
            return None
        full = pacs.server.get(path)  # what Orthanc's "SeriesMetadata": "MainDicomTags" mode leaves
        return _json([{k: v for k, v in item.items() if k in keep} for item in full])

    with FaultyProxy(pacs.server.url, main_tags_only) as proxy:
        found = discover_dicomweb(DicomWebQuery(proxy.url + "/dicom-web", study_uids=(pacs.ct.study_uid,)))
    assert not found.series
    (error,) = _errors(found)
    assert "holds only the main tags" in error and '"SeriesMetadata": "Full"' in error


def test_enhanced_ct_over_dicomweb_is_read_frame_by_frame(tmp_path: Path, pacs, http_log) -> None:
    from dicom_factory import write_enhanced_ct

    info = write_enhanced_ct(tmp_path / "enh" / "enh.dcm", n=8, rows=16, cols=16, shuffle=True, seed=41)
    pacs.server.upload(tmp_path / "enh")
    web = discover_dicomweb(DicomWebQuery(pacs.server.dicomweb, study_uids=(info.study_uid,)))
    disk = discover([str(tmp_path / "enh")])
    assert [s.series_id for s in web.series] == [s.series_id for s in disk.series] and len(web.series) == 1
    idx = [0, 3, 7]
    np.testing.assert_array_equal(web.series[0].read_slices(idx), disk.series[0].read_slices(idx))
    assert len(instance_fetches(http_log)) == 1  # fetched once (functional groups), its frames read from it
