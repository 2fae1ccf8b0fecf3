"""``ctphase predict`` over DICOMweb against a real Orthanc: same answers as from disk, lazy reads, --sr-store."""

from __future__ import annotations

import io
import json

import pytest
from dicomweb_proxy import FaultyProxy, instance_fetches
from orthanc_server import free_port, needs_orthanc
from typer.testing import CliRunner

from ctphase.cli import app
from ctphase.pipeline import classify
from ctphase.sr import PHASE_CODES

pytestmark = needs_orthanc
runner = CliRunner()
FIELDS = ("series_id", "label", "image_label", "probabilities", "vote_fractions", "sampled_indices", "used_indices",
          "n_slices", "qc", "warnings", "model_sha256")


@pytest.mark.parametrize("early_stop", [False, True])
def test_dicomweb_gives_the_disk_answer_from_at_most_35_percent_of_the_pixels(pacs, checkpoint, http_log,
                                                                              early_stop) -> None:
    options = {"model": checkpoint, "sample_rate": 0.3, "device": "cpu", "early_stop": early_stop}
    (disk,) = [p for p in classify([str(pacs.root / "ct")], **options) if p.status == "ok"]
    http_log.clear()
    web = classify([pacs.server.dicomweb], **options)
    (ok,) = [p for p in web if p.status == "ok"]
    assert {f: getattr(ok, f) for f in FIELDS} == {f: getattr(disk, f) for f in FIELDS}
    assert ok.path == f"{pacs.server.dicomweb}/studies/{pacs.ct.study_uid}/series/{pacs.ct.series_uid}"
    fetched = instance_fetches(http_log)
    assert len(fetched) == len(set(fetched)) == len(ok.used_indices)  # each used slice fetched once, no other
    assert len(fetched) / ok.n_slices <= 0.35
    print(f"early_stop={early_stop}: fetched {len(fetched)} of {ok.n_slices} instances ({len(fetched) / ok.n_slices:.0%})")


def test_cli_run_record_names_every_input_and_no_secret(pacs, checkpoint, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("CTPHASE_DICOMWEB_TOKEN", "tok-do-not-print")  # Orthanc without users ignores it
    dead = f"http://127.0.0.1:{free_port()}/dicom-web"
    out = tmp_path / "run.json"
    args = ["predict", pacs.server.dicomweb, dead, "--model", str(checkpoint), "--device", "cpu", "--modality", "ANY",
            "-o", str(out), "--quiet"]
    res = runner.invoke(app, args)
    assert res.exit_code == 1, res.output  # the unreachable server is an error record
    text = out.read_text()
    assert "tok-do-not-print" not in text + res.output and "Traceback" not in res.output
    record = json.loads(text)
    assert record["arguments"]["paths"] == [pacs.server.dicomweb, dead]
    assert record["arguments"]["dicomweb"]["auth"] == "token" and record["arguments"]["dicomweb"]["modality"] is None
    by_status = {(p["status"], p["series_uid"]) for p in record["predictions"]}
    assert ("ok", pacs.ct.series_uid) in by_status and ("skipped", pacs.mr.series_uid) in by_status
    (dead_record,) = [p for p in record["predictions"] if p["path"] == dead]
    assert dead_record["status"] == "error" and "cannot reach the server (connection refused)" in dead_record["error"]
    assert dead_record["source"] == "dicomweb"


@pytest.mark.parametrize(("args", "message"), [
    (["--study-uid", "1.2.x"], "not a DICOM UID"),
    (["--study-date", "yesterday"], "YYYYMMDD"),
])
def test_cli_bad_dicomweb_options_are_usage_errors(pacs, args, message) -> None:
    res = runner.invoke(app, ["predict", pacs.server.dicomweb, *args])
    assert res.exit_code == 2 and message in res.output


def test_cli_dicomweb_options_need_a_url(tmp_path) -> None:
    res = runner.invoke(app, ["predict", str(tmp_path), "--sr-store"])
    assert res.exit_code == 2 and "--sr-store needs a DICOMweb URL" in res.output
    res = runner.invoke(app, ["predict", str(tmp_path), "--study-uid", "1.2.3"])
    assert res.exit_code == 2 and "need a DICOMweb URL" in res.output


def _sr_series(server, study_uid: str) -> list:
    return server.get(f"/dicom-web/studies/{study_uid}/series?Modality=SR")


def test_sr_store_puts_one_readable_sr_per_series_back(tmp_path, checkpoint) -> None:
    import highdicom
    import pydicom
    from dicom_factory import write_series
    from orthanc_server import start_orthanc

    info = write_series(tmp_path / "ct", n=12, rows=16, cols=16, seed=21)
    server = start_orthanc(tmp_path / "orthanc")
    try:
        server.upload(tmp_path / "ct")
        out = tmp_path / "run.json"
        args = ["predict", server.dicomweb, "--model", str(checkpoint), "--device", "cpu", "--sr-store", "-o", str(out)]
        res = runner.invoke(app, args)
        assert res.exit_code == 0, res.output
        assert "stored 1 DICOM SR(s) on the DICOMweb server(s); 0 failed" in res.output
        (pred,) = json.loads(out.read_text())["predictions"]
        (sr_series,) = _sr_series(server, info.study_uid)
        sr_uid = sr_series["0020000E"]["Value"][0]
        (instance,) = server.get(f"/dicom-web/studies/{info.study_uid}/series/{sr_uid}/instances")
        sop = instance["00080018"]["Value"][0]
        (hit,) = json.loads(server._request("POST", "/tools/lookup", sop.encode()))
        ds = pydicom.dcmread(io.BytesIO(server.get_bytes(f"/instances/{hit['ID']}/file")))
        sr = highdicom.sr.ComprehensiveSR.from_dataset(ds)
        assert sr.Modality == "SR" and sr.StudyInstanceUID == info.study_uid and sr.PatientID == ds.PatientID
        (phase,) = [item for item in sr.ContentSequence if item.ConceptNameCodeSequence[0].CodeValue == "109058"]
        assert phase.ConceptCodeSequence[0].CodeValue == PHASE_CODES[pred["label"]][0]
        referenced = {item.ReferencedSOPSequence[0].ReferencedSOPInstanceUID for item in phase.ContentSequence}
        assert referenced <= set(info.sop_uids) and len(referenced) == len(pred["used_indices"])
        # the SR server has nothing new to classify: reading it again lists the CT series only
        again = classify([server.dicomweb], model=checkpoint, device="cpu")
        assert [p.status for p in again] == ["ok"]
    finally:
        server.stop()


def test_failed_sr_store_is_named_and_stores_nothing(tmp_path, checkpoint) -> None:
    from dicom_factory import write_series
    from orthanc_server import start_orthanc

    info = write_series(tmp_path / "ct", n=12, rows=16, cols=16, seed=22)
    server = start_orthanc(tmp_path / "orthanc")
    try:
        server.upload(tmp_path / "ct")

        def refuse_stow(method: str, path: str, n: int):
            return (500, b"disk full", "text/plain") if method == "POST" else None

        with FaultyProxy(server.url, refuse_stow) as proxy:
            args = ["predict", proxy.url + "/dicom-web", "--model", str(checkpoint), "--device", "cpu", "--sr-store",
                    "--format", "json"]
            res = runner.invoke(app, args)
            assert any(method == "POST" for method, _ in proxy.requests)
        assert res.exit_code == 1
        assert "SR not stored: " in res.output and "cannot store (STOW-RS): the server answered HTTP 500" in res.output
        assert "stored 0 DICOM SR(s) on the DICOMweb server(s); 1 failed" in res.output
        assert "Traceback" not in res.output
        assert _sr_series(server, info.study_uid) == []  # nothing half-written
        assert len(server.get("/instances")) == 12
    finally:
        server.stop()


def test_series_deleted_while_being_read_is_one_error_and_the_run_goes_on(tmp_path, checkpoint) -> None:
    from dicom_factory import write_series
    from orthanc_server import start_orthanc

    kept = write_series(tmp_path / "kept", n=10, rows=16, cols=16, seed=31)
    gone = write_series(tmp_path / "gone", n=10, rows=16, cols=16, seed=32, study_uid=kept.study_uid)
    server = start_orthanc(tmp_path / "orthanc")
    try:
        server.upload(tmp_path / "kept")
        server.upload(tmp_path / "gone")

        def delete_after_listing(stage: str, done: int, total: int) -> None:
            if stage == "discover" and done == total:  # every series' metadata read, no pixel yet
                (hit,) = json.loads(server._request("POST", "/tools/lookup", gone.series_uid.encode()))
                server._request("DELETE", f"/series/{hit['ID']}")

        preds = classify([server.dicomweb], model=checkpoint, device="cpu", on_progress=delete_after_listing)
        by_series = {p.series_uid: p for p in preds}
        assert len(preds) == 2 and by_series[kept.series_uid].status == "ok"
        failed = by_series[gone.series_uid]
        assert failed.status == "error" and failed.path.endswith(f"/series/{gone.series_uid}")
        assert "cannot fetch the instance: not found on the server (HTTP 404" in failed.error
    finally:
        server.stop()


def test_cli_auth_file_wrong_then_right_password(tmp_path, checkpoint, monkeypatch) -> None:
    from dicom_factory import write_series
    from orthanc_server import start_orthanc

    for name in ("CTPHASE_DICOMWEB_TOKEN", "CTPHASE_DICOMWEB_USER", "CTPHASE_DICOMWEB_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    info = write_series(tmp_path / "ct", n=10, rows=16, cols=16, seed=51)
    server = start_orthanc(tmp_path / "orthanc", users={"carol": "right-pw"})
    try:
        server.upload(tmp_path / "ct")
        secret = tmp_path / "auth.txt"
        secret.write_text("carol:wrong-pw\n")
        args = ["predict", server.dicomweb, "--model", str(checkpoint), "--device", "cpu", "--auth-file", str(secret),
                "--format", "json"]
        res = runner.invoke(app, args)
        assert res.exit_code == 1 and "wrong-pw" not in res.output and "Traceback" not in res.output
        (record,) = json.loads(res.stdout)["predictions"]
        assert record["status"] == "error" and record["path"] == server.dicomweb
        assert record["error"].startswith("cannot list series (QIDO-RS): access denied (HTTP 401)")
        secret.write_text("carol:right-pw\n")
        res = runner.invoke(app, args)
        assert res.exit_code == 0, res.output
        (record,) = json.loads(res.stdout)["predictions"]
        assert record["status"] == "ok" and record["series_uid"] == info.series_uid
        assert json.loads(res.stdout)["arguments"]["dicomweb"]["auth"] == "basic" and "right-pw" not in res.output
    finally:
        server.stop()


def test_forbidden_is_named() -> None:
    with FaultyProxy(None, lambda method, path, n: (403, b"no", "text/plain")) as proxy:
        preds = classify([proxy.url + "/dicom-web"], study=False)
    (record,) = preds
    assert record.status == "error" and record.path == proxy.url + "/dicom-web"
    assert "access denied (HTTP 403)" in record.error and "--auth-file" in record.error
