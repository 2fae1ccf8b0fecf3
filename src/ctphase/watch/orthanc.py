"""Orthanc's REST API as the watcher uses it: the ``/changes`` feed, series, metadata, storing an instance.

Every failure is one of four error types, so that the watcher can tell a server that is down
(wait and retry) from refused credentials (stop), a resource that is gone (skip it) and any
other answer (fail this series, go on). Talks HTTP through ``requests`` (``ctphase[dicomweb]``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError, CTPhaseError
from ..extras import require

WATCH_HINT = 'pip install "ctphase[dicomweb]"'
"""How to install what the watcher needs (``requests``)."""
AUTH_FIX = ("set CTPHASE_DICOMWEB_TOKEN, or CTPHASE_DICOMWEB_USER and CTPHASE_DICOMWEB_PASSWORD, "
            "or pass --auth-file with a token or user:password")
"""Where the credentials come from (:func:`ctphase.io.dicomweb.auth_from_env`)."""


class OrthancError(CTPhaseError):
    """Orthanc answered an error (``status``: the HTTP status, ``None`` when there was no answer)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class OrthancUnreachable(OrthancError):
    """No answer: connection refused or reset, timeout, or a 502/503/504 from a proxy (Orthanc down or restarting)."""


class OrthancAuthError(OrthancError):
    """HTTP 401 or 403: the credentials are refused or lack a permission."""


class OrthancNotFound(OrthancError):
    """HTTP 404: the resource does not exist (deleted), or the item is unknown to Orthanc."""


def _reason(body: bytes) -> str:
    """Orthanc's own words from an error body (its JSON ``Message``/``OrthancError``), else the start of the body."""
    try:
        doc = json.loads(body)
        return str(doc.get("Message") or doc.get("OrthancError") or "")
    except (ValueError, AttributeError):
        return body[:200].decode("utf-8", "replace").strip()


@dataclass
class Orthanc:
    """A REST client of one Orthanc server.

    Args:
        url: the server's REST root, e.g. ``http://pacs:8042`` (no trailing ``/dicom-web``).
        auth: ``requests`` credentials (``(user, password)`` or an auth object), or ``None``.
        timeout: seconds to wait for each answer.
    """

    url: str
    auth: Any = None
    timeout: float = 30.0
    _session: Any = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        require("ctphase watch", "requests", hint=WATCH_HINT)
        self.url = self.url.rstrip("/")
        if not self.url.startswith(("http://", "https://")):
            msg = f"Orthanc URL {self.url!r} must start with http:// or https:// (e.g. http://localhost:8042)"
            raise ConfigError(msg)
        if self.url.endswith("/dicom-web"):
            msg = f"{self.url}: give Orthanc's REST root (without /dicom-web); the watcher finds DICOMweb under it"
            raise ConfigError(msg)

    @property
    def dicomweb(self) -> str:
        """The DICOMweb root of the server's DICOMweb plugin."""
        return f"{self.url}/dicom-web"

    def request(self, method: str, path: str, *, data: bytes | None = None, content_type: str | None = None) -> bytes:
        """The body of ``METHOD url+path``; raises one of the :class:`OrthancError` types on failure."""
        import requests

        if self._session is None:
            self._session = requests.Session()
            # Orthanc gzips its answers when the client accepts it: ~80 ms per 512x512 slice for bytes that do
            # not compress (measured here, against ~1.5 ms uncompressed)
            self._session.headers["Accept-Encoding"] = "identity"
            if hasattr(self.auth, "apply"):  # a ctphase.io.dicomweb.DicomWebAuth (token or user and password)
                self.auth.apply(self._session)
        headers = {"Content-Type": content_type} if content_type else {}
        where = f"{method} {self.url}{path}"
        for attempt in (1, 2):
            try:
                r = self._session.request(method, self.url + path, data=data, headers=headers, timeout=self.timeout,
                                          auth=None if hasattr(self.auth, "apply") else self.auth)
                break
            except requests.ConnectionError as exc:
                # a kept-alive connection Orthanc closed meanwhile fails once: try again on a new one (every
                # request of the watcher may be repeated: reads, metadata, deletes, SRs with fixed UIDs)
                if attempt == 2:
                    raise OrthancUnreachable(f"Orthanc at {self.url} does not answer ({type(exc).__name__}: {exc})") from exc
            except requests.RequestException as exc:
                raise OrthancUnreachable(f"Orthanc at {self.url} does not answer ({type(exc).__name__}: {exc})") from exc
        if r.status_code < 400:
            return bytes(r.content)
        reason = _reason(r.content)
        if r.status_code in (401, 403):
            verb = "refused the credentials" if r.status_code == 401 else "forbids"
            msg = (f"Orthanc {verb} {where} (HTTP {r.status_code}); the watcher needs a user that may read and "
                   f"write: {AUTH_FIX}")
            raise OrthancAuthError(msg, r.status_code)
        if r.status_code == 404:
            raise OrthancNotFound(f"{where}: not found (HTTP 404{': ' + reason if reason else ''})", 404)
        cls = OrthancUnreachable if r.status_code in (502, 503, 504) else OrthancError
        raise cls(f"{where}: HTTP {r.status_code}{': ' + reason if reason else ''}", r.status_code)

    def json(self, path: str) -> Any:
        """``GET path`` decoded as JSON."""
        return json.loads(self.request("GET", path))

    def changes(self, since: int, limit: int = 200) -> dict[str, Any]:
        """One page of the change feed after sequence number ``since``: ``Changes``, ``Done``, ``Last``."""
        return dict(self.json(f"/changes?since={int(since)}&limit={int(limit)}"))

    def series(self, series_id: str) -> dict[str, Any]:
        """``GET /series/{id}``: ``MainDicomTags``, ``ParentStudy``, ``Instances``, ``IsStable``."""
        return dict(self.json(f"/series/{series_id}"))

    def shared_tags(self, series_id: str) -> dict[str, Any]:
        """The tags every instance of the series shares, as ``{"0008,0060": "CT", ...}``."""
        return dict(self.json(f"/series/{series_id}/shared-tags?short"))

    def study_uid(self, study_id: str) -> str:
        """The StudyInstanceUID of an Orthanc study id."""
        return str(self.json(f"/studies/{study_id}")["MainDicomTags"]["StudyInstanceUID"])

    def metadata(self, series_id: str, name: str) -> str | None:
        """The series' metadata item ``name``, ``None`` when it is not set."""
        try:
            return self.request("GET", f"/series/{series_id}/metadata/{name}").decode("utf-8")
        except OrthancNotFound:
            return None

    def set_metadata(self, series_id: str, name: str, value: str) -> None:
        """Set the series' metadata item ``name`` (one request: Orthanc writes it whole or not at all)."""
        self.request("PUT", f"/series/{series_id}/metadata/{name}", data=value.encode("utf-8"),
                     content_type="text/plain")

    def store(self, dicom: bytes) -> dict[str, Any]:
        """``POST /instances``: store one DICOM file; ``Status`` is ``Success`` or ``AlreadyStored``."""
        return dict(json.loads(self.request("POST", "/instances", data=dicom, content_type="application/dicom")))

    def delete_instance(self, instance_id: str) -> None:
        """``DELETE /instances/{id}``."""
        self.request("DELETE", f"/instances/{instance_id}")
