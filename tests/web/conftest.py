"""Fixtures of the DICOMweb tests: one Orthanc per module holding a CT and an MR series, and an HTTP request log."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

MR_STORAGE = "1.2.840.10008.5.1.4.1.1.4"


@pytest.fixture(scope="module")
def pacs(tmp_path_factory):
    """A started Orthanc (anonymous) with a 40-slice CT series and a 10-slice MR series of the same study.

    Yields a namespace: ``server`` (:class:`orthanc_server.OrthancServer`), ``ct`` and ``mr``
    (:class:`dicom_factory.SeriesInfo`), ``root`` (the folder holding both series on disk).
    """
    from dicom_factory import write_series
    from orthanc_server import ORTHANC, dicomweb_plugin, start_orthanc

    if ORTHANC is None or dicomweb_plugin() is None:
        pytest.skip("Orthanc and its DICOMweb plugin are not installed (Debian packages orthanc, orthanc-dicomweb)")
    root: Path = tmp_path_factory.mktemp("pacs")
    ct = write_series(root / "data" / "ct", n=40, rows=32, cols=32, seed=5)
    mr = write_series(root / "data" / "mr", n=10, rows=32, cols=32, modality="MR", sop_class=MR_STORAGE,
                      study_uid=ct.study_uid, seed=6)
    server = start_orthanc(root / "orthanc")
    try:
        server.upload(root / "data")
        yield SimpleNamespace(server=server, ct=ct, mr=mr, root=root / "data")
    finally:
        server.stop()


@pytest.fixture
def http_log(monkeypatch):
    """Every HTTP request the ``requests`` library makes during the test, as ``(method, url)``."""
    import requests

    log: list[tuple[str, str]] = []
    original = requests.Session.request

    def request(self, method, url, *args, **kwargs):
        log.append((str(method).upper(), str(url)))
        return original(self, method, url, *args, **kwargs)

    monkeypatch.setattr(requests.Session, "request", request)
    return log

