"""The Orthanc test server itself: it starts on loopback, stores uploads, serves DICOMweb, restarts."""

from __future__ import annotations

from pathlib import Path

from dicom_factory import write_series
from orthanc_server import needs_orthanc, start_orthanc


@needs_orthanc
def test_orthanc_starts_stores_and_serves_dicomweb(tmp_path: Path) -> None:
    info = write_series(tmp_path / "series", n=4, rows=16, cols=16)
    server = start_orthanc(tmp_path / "orthanc")
    try:
        stored = server.upload(tmp_path / "series")
        assert len(stored) == 4 and all(s["Status"] == "Success" for s in stored)
        assert len(server.get("/instances")) == 4
        qido = server.get(f"/dicom-web/studies/{info.study_uid}/series")
        assert qido[0]["0020000E"]["Value"] == [info.series_uid]
        server.restart()
        assert len(server.get("/instances")) == 4  # storage survives a restart
    finally:
        server.stop()
    assert server.process is not None and server.process.poll() is not None
