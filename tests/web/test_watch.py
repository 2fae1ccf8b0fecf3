"""``ctphase watch`` against a real Orthanc: CT series labelled once (metadata + SR), nothing else written to,
restarts of the watcher and of Orthanc, refused credentials, undeclared metadata, failures midway."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from dicom_factory import write_series, write_sr
from orthanc_server import OrthancServer, free_port, needs_orthanc, start_orthanc

from ctphase.errors import ConfigError
from ctphase.watch import (
    MetadataNotDeclared,
    Orthanc,
    OrthancAuthError,
    OrthancError,
    OrthancUnreachable,
    WatchState,
)
from ctphase.watch import watch as run_watch

MR_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
SC_STORAGE = "1.2.840.10008.5.1.4.1.1.7"
pytestmark = needs_orthanc


def _corpus(root: Path) -> dict[str, Path]:
    """Two CT series (one study), an MR series and a text SR: the folders to upload."""
    ct1 = write_series(root / "ct1", n=12, seed=1)
    write_series(root / "ct2", n=10, seed=2, study_uid=ct1.study_uid)
    write_series(root / "mr", n=4, rows=16, cols=16, modality="MR", sop_class=MR_STORAGE, seed=3)
    write_sr(root / "sr" / "report.dcm")
    write_series(root / "dose", n=1, rows=16, cols=16, sop_class=SC_STORAGE, seed=4)  # a dose screen: Modality CT
    return {name: root / name for name in ("ct1", "ct2", "mr", "sr", "dose")}


def _by_modality(server: OrthancServer) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for sid in server.get("/series"):
        out.setdefault(server.get(f"/series/{sid}")["MainDicomTags"]["Modality"], []).append(sid)
    return out


def _label(server: OrthancServer, sid: str) -> dict | None:
    return server.get(f"/series/{sid}/metadata?expand").get("ctphase") and json.loads(
        server.get(f"/series/{sid}/metadata?expand")["ctphase"])


def _settled(state: WatchState) -> int:
    return len(state.done) + len(state.skipped) if not state.pending else 0


def _run(server: OrthancServer, state: Path, checkpoint: Path, **kw) -> tuple[WatchState, list]:
    events: list = []
    kw.setdefault("poll_interval", 0.2)
    st = run_watch(server.url, state_path=state, model=checkpoint, once=True, on_event=events.append, **kw)
    return st, events


@pytest.fixture
def server(tmp_path: Path):
    s = start_orthanc(tmp_path / "orthanc", stable_age=1)
    yield s
    s.stop()


def test_labels_ct_only_once_and_a_restart_relabels_nothing(tmp_path: Path, server: OrthancServer,
                                                              checkpoint: Path) -> None:
    for folder in _corpus(tmp_path / "in").values():
        server.upload(folder)
    before = _by_modality(server)
    (dose,) = [sid for sid in before["CT"] if len(server.get(f"/series/{sid}")["Instances"]) == 1]
    before["CT"].remove(dose)
    state_path = tmp_path / "state.json"
    state, events = _run(server, state_path, checkpoint)
    after = _by_modality(server)
    assert len(state.done) == 2 and not state.pending and not state.failed
    labelled = [e.series_id for e in events if e.kind == "labelled"]
    assert sorted(labelled) == sorted(before["CT"])
    assert "SOP class 1.2.840.10008.5.1.4.1.1.7 is not a CT image" in state.skipped[dose]
    assert _label(server, dose) is None
    for sid in before["CT"]:
        value = _label(server, sid)
        assert value["label"] in ("non_contrast", "arterial", "venous", "other", "uncertain")
        assert set(value) >= {"label", "confidence", "model_sha256", "ctphase", "time", "sr"}
    for sid in before["MR"] + before["SR"]:  # never written to
        assert _label(server, sid) is None
    # one SR per CT series, in its study, referencing it; the MR and text SR are untouched
    ours = [sid for sid in after["SR"] if sid not in before["SR"]]
    assert len(ours) == 2
    sr_uids = {_label(server, sid)["sr"] for sid in before["CT"]}
    stored = {server.get(f"/instances/{server.get(f'/series/{sid}')['Instances'][0]}/simplified-tags")["SOPInstanceUID"]
              for sid in ours}
    assert stored == sr_uids
    n_instances = len(server.get("/instances"))

    # a second run with the same state: nothing labelled, nothing written (its own SRs are skipped)
    state2, events2 = _run(server, state_path, checkpoint)
    assert not [e for e in events2 if e.kind == "labelled"] and len(server.get("/instances")) == n_instances
    assert set(state2.done) == set(before["CT"])
    # state lost: Orthanc's metadata still keeps the CT series from being labelled again
    state3, events3 = _run(server, tmp_path / "fresh.json", checkpoint)
    assert sorted(e.series_id for e in events3 if e.kind == "already") == sorted(before["CT"])
    assert not [e for e in events3 if e.kind == "labelled"] and len(server.get("/instances")) == n_instances
    assert set(state3.skipped) == set(before["MR"] + after["SR"] + [dose])


@pytest.mark.slow
def test_cli_once_then_follows_the_feed_until_sigterm(tmp_path: Path, server: OrthancServer, checkpoint: Path) -> None:
    exe = shutil.which("ctphase", path=str(Path(sys.executable).parent)) or "ctphase"
    corpus = _corpus(tmp_path / "in")
    server.upload(corpus["ct1"])
    server.upload(corpus["mr"])
    state = tmp_path / "state.json"
    cmd = [exe, "watch", server.url, "--state", str(state), "--model", str(checkpoint), "--poll-interval", "0.2"]
    done = subprocess.run([*cmd, "--once"], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert sum(" labelled " in line for line in lines) == 1
    assert sum(" skipped " in line for line in lines) == 2  # the MR, and the SR the watcher stored
    assert "done: 1 labelled" in done.stderr
    (ct_id,) = _by_modality(server)["CT"]
    assert _label(server, ct_id) is not None

    # follow the feed: a new series is labelled; SIGTERM stops it cleanly with the state saved
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)
        server.upload(corpus["ct2"])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and _settled(WatchState.load(state, server.url)) < 5:
            time.sleep(0.2)  # ct1, ct2 done; the MR and both SRs skipped
        # idle polls of the feed (5 a second) leave the state file alone: no save, no fsync. Orthanc keeps sending
        # Stable* changes for a while after the last instance (and saving those is right), so the check runs over a
        # second in which the watcher had nothing pending, had read the feed to its end and no change came
        while True:
            last = server.get("/changes?last")["Last"]
            idle = WatchState.load(state, server.url)
            written = (state.stat().st_ino, state.stat().st_mtime_ns)
            time.sleep(1.0)
            if idle.since == last and not idle.pending and server.get("/changes?last")["Last"] == last:
                break
            assert time.monotonic() < deadline, "Orthanc's change feed never stayed quiet for a second"
        assert (state.stat().st_ino, state.stat().st_mtime_ns) == written
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert sum(" labelled " in line for line in out.splitlines()) == 1, out  # ct2 only: ct1 was done
    assert "SIGTERM" in err and "state saved" in err
    assert len(WatchState.load(state, server.url).done) == 2


@pytest.mark.slow
def test_orthanc_restarts_and_crashes_under_the_watcher(tmp_path: Path, server: OrthancServer, checkpoint: Path) -> None:
    corpus = _corpus(tmp_path / "in")
    events: list = []
    stop = threading.Event()
    state_path = tmp_path / "state.json"
    thread = threading.Thread(target=run_watch, args=(server.url,), daemon=True, kwargs={
        "state_path": state_path, "model": checkpoint, "poll_interval": 0.2, "stop": stop, "on_event": events.append})
    thread.start()

    def wait_done(n: int) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len([e for e in events if e.kind == "labelled"]) < n:
            time.sleep(0.1)

    try:
        server.upload(corpus["ct1"])
        wait_done(1)
        server.stop()
        time.sleep(1.5)  # the watcher polls a dead server meanwhile
        server.start()
        # a crash before the series is stable: Orthanc never sends its StableSeries (IsStable after the restart)
        server.upload(corpus["ct2"])
        server.process.kill()
        server.process.wait()
        server.start()
        wait_done(2)
    finally:
        stop.set()
        thread.join(30)
    assert not thread.is_alive()
    kinds = [e.kind for e in events]
    assert "waiting" in kinds and "reconnected" in kinds
    labelled = [e.series_id for e in events if e.kind == "labelled"]
    assert len(labelled) == 2 and len(set(labelled)) == 2
    assert sorted(labelled) == sorted(_by_modality(server)["CT"])
    assert len(WatchState.load(state_path, server.url).done) == 2


def test_undeclared_metadata_name_stops_with_the_fix_and_leaves_nothing(tmp_path: Path, server: OrthancServer,
                                                                        checkpoint: Path) -> None:
    server.upload(_corpus(tmp_path / "in")["ct1"])
    n = len(server.get("/instances"))
    with pytest.raises(MetadataNotDeclared, match=r'"UserMetadata": \{"phase_label": 4242\}'):
        _run(server, tmp_path / "state.json", checkpoint, metadata_name="phase_label")
    assert len(server.get("/instances")) == n  # the SR stored before the metadata failed was deleted again
    state = WatchState.load(tmp_path / "state.json", server.url)
    assert not state.done and len(state.pending) == 1  # tried again by the next run
    from typer.testing import CliRunner

    from ctphase.cli import app

    r = CliRunner().invoke(app, ["watch", server.url, "--state", str(tmp_path / "state.json"), "--model",
                                 str(checkpoint), "--once", "--metadata-name", "phase_label"],
                           env={**os.environ, "COLUMNS": "300"})
    assert r.exit_code == 2 and "UserMetadata" in r.output and "Traceback" not in r.output, r.output
    assert len(server.get("/instances")) == n


def test_failures_midway_write_nothing_half(tmp_path: Path, server: OrthancServer, checkpoint: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    corpus = _corpus(tmp_path / "in")
    server.upload(corpus["ct1"])
    server.upload(corpus["ct2"])
    n = len(server.get("/instances"))
    real_set = Orthanc.set_metadata
    calls = {"n": 0}

    def flaky(self: Orthanc, series_id: str, name: str, value: str) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise OrthancError("PUT metadata: HTTP 500: simulated", 500)
        real_set(self, series_id, name, value)

    monkeypatch.setattr(Orthanc, "set_metadata", flaky)
    state, events = _run(server, tmp_path / "state.json", checkpoint)
    retry = [e for e in events if e.kind == "retry"]
    assert len(retry) == 1 and "HTTP 500" in retry[0].message and "will retry" in retry[0].message
    assert len(state.done) == 2
    assert len(server.get("/instances")) == n + 2  # one SR per CT series, none twice

    # a series deleted while it is being read: a message, nothing written, the run goes on
    from ctphase.watch import read as watch_read

    real_call = watch_read.SeriesReader.__call__

    def deleting(self, client, info, scratch):
        client.request("DELETE", f"/series/{info['ID']}")
        return real_call(self, client, info, scratch)

    (ct1,) = [sid for sid in _by_modality(server)["CT"] if server.get(f"/series/{sid}")["MainDicomTags"]
              ["SeriesInstanceUID"] == _uid(corpus["ct1"])]
    server._request("DELETE", f"/series/{ct1}")
    server.upload(corpus["ct1"])  # uploaded again (same Orthanc id, no metadata): to be labelled again
    monkeypatch.setattr(watch_read.SeriesReader, "__call__", deleting)
    state, events = _run(server, tmp_path / "state.json", checkpoint)
    assert [(e.kind, e.series_id) for e in events] == [("deleted", ct1)], events
    assert "while it was being read" in events[0].message
    assert ct1 not in state.done and not state.pending
    assert len(server.get("/instances")) == n + 2 - 12  # ct1's instances gone; the SRs as before

    monkeypatch.setattr(watch_read.SeriesReader, "__call__", real_call)
    server.upload(corpus["ct1"])
    state, events = _run(server, tmp_path / "state.json", checkpoint)
    assert [(e.kind, e.series_id) for e in events] == [("labelled", ct1)], events
    assert len(server.get("/instances")) == n + 2  # its SR was still there (same UIDs): not stored twice


def _uid(folder: Path) -> str:
    import pydicom

    return str(pydicom.dcmread(next(folder.iterdir()), stop_before_pixels=True).SeriesInstanceUID)


def test_from_now_leaves_earlier_series_alone(tmp_path: Path, server: OrthancServer, checkpoint: Path) -> None:
    corpus = _corpus(tmp_path / "in")
    server.upload(corpus["ct1"])
    state, events = _run(server, tmp_path / "state.json", checkpoint, from_now=True)
    assert not events and not state.done and state.since > 0
    server.upload(corpus["ct2"])
    state, events = _run(server, tmp_path / "state.json", checkpoint, from_now=True)  # the state exists: goes on
    assert [e.kind for e in events] == ["labelled", "skipped"] and len(state.done) == 1  # skipped: its own SR


def test_credentials(tmp_path: Path, checkpoint: Path) -> None:
    from ctphase.io.dicomweb import DicomWebAuth

    server = start_orthanc(tmp_path / "orthanc", users={"alice": "s3cret"}, stable_age=1)
    try:
        corpus = _corpus(tmp_path / "in")
        server.upload(corpus["ct1"])
        with pytest.raises(OrthancAuthError, match="HTTP 401.*CTPHASE_DICOMWEB_USER"):
            _run(server, tmp_path / "state.json", checkpoint)
        with pytest.raises(OrthancAuthError, match="HTTP 401"):
            _run(server, tmp_path / "state.json", checkpoint, auth=DicomWebAuth(user="alice", password="wrong"))
        auth = DicomWebAuth(user="alice", password="s3cret")
        state, _ = _run(server, tmp_path / "state.json", checkpoint, auth=("alice", "s3cret"), transfer="download")
        assert len(state.done) == 1
        server.upload(corpus["ct2"])  # through DICOMweb, the same credentials
        state, events = _run(server, tmp_path / "state.json", checkpoint, auth=auth, transfer="dicomweb")
        assert len(state.done) == 2 and [e.kind for e in events if e.series_id in state.done] == ["labelled"]
    finally:
        server.stop()


def test_unreachable_server_and_bad_state(tmp_path: Path, checkpoint: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    t = time.monotonic()
    with pytest.raises(OrthancUnreachable, match="does not answer.*gave up"):
        run_watch(url, state_path=tmp_path / "s.json", model=checkpoint, once=True, retry_for=1.0)
    assert time.monotonic() - t < 10
    (tmp_path / "bad.json").write_text("not json")
    with pytest.raises(ConfigError, match="not a ctphase watch state file"):
        run_watch(url, state_path=tmp_path / "bad.json", model=checkpoint, once=True)
    WatchState(url="http://elsewhere:8042").save(tmp_path / "other.json")
    with pytest.raises(ConfigError, match="state of the watcher of http://elsewhere:8042"):
        run_watch(url, state_path=tmp_path / "other.json", model=checkpoint, once=True)
    from typer.testing import CliRunner

    from ctphase.cli import app

    r = CliRunner().invoke(app, ["watch", url, "--state", str(tmp_path / "s.json"), "--model", str(checkpoint),
                                 "--once", "--retry-for", "0.5"], env={**os.environ, "COLUMNS": "200"})
    assert r.exit_code == 2 and "does not answer" in r.output and "state is saved" in r.output
