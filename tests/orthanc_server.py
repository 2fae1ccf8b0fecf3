"""A real Orthanc server (Debian's ``orthanc`` + ``orthanc-dicomweb``) for the tests, on a loopback port.

:func:`start_orthanc` writes a configuration into a temporary folder (storage, index, plugin list,
free HTTP and DICOM ports, optional basic-auth users), starts ``Orthanc`` as a child process and
waits until its REST API answers. :class:`OrthancServer` uploads files, restarts and stops it.
Tests that need it skip when the ``Orthanc`` binary or the DICOMweb plugin is not installed.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ORTHANC = shutil.which("Orthanc") or ("/usr/sbin/Orthanc" if os.path.exists("/usr/sbin/Orthanc") else None)
PLUGIN_DIRS = ("/usr/share/orthanc/plugins", "/usr/lib/orthanc")


def dicomweb_plugin() -> str | None:
    """The path of the DICOMweb plugin library, when installed."""
    for d in PLUGIN_DIRS:
        if os.path.isdir(d):
            for name in sorted(os.listdir(d)):
                if name.startswith("libOrthancDicomWeb.so"):
                    return os.path.join(d, name)
    return None


needs_orthanc = pytest.mark.skipif(
    ORTHANC is None or dicomweb_plugin() is None,
    reason="Orthanc and its DICOMweb plugin are not installed (Debian packages orthanc, orthanc-dicomweb)",
)


def free_port() -> int:
    """A TCP port free on the loopback interface now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class OrthancServer:
    """One Orthanc process with its own storage, reachable at :attr:`url` (REST) and :attr:`dicomweb`."""

    folder: Path
    http_port: int
    users: dict[str, str] = field(default_factory=dict)
    stable_age: int = 1
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dicomweb(self) -> str:
        return f"{self.url}/dicom-web"

    @property
    def log(self) -> Path:
        return self.folder / "orthanc.log"

    def config(self) -> dict[str, Any]:
        return {
            "Name": "ctphase-test",
            "StorageDirectory": str(self.folder / "storage"),
            "IndexDirectory": str(self.folder / "storage"),
            "HttpPort": self.http_port,
            "DicomPort": free_port(),
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": bool(self.users),
            "RegisteredUsers": self.users,
            "StableAge": self.stable_age,
            "Plugins": [dicomweb_plugin()],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": True, "Ssl": False},
            "UserMetadata": {"ctphase": 4242},
            "HttpTimeout": 30,
            "OverwriteInstances": False,
        }

    def start(self, timeout: float = 30.0) -> OrthancServer:
        """Start the process and wait until ``/system`` answers."""
        (self.folder / "storage").mkdir(parents=True, exist_ok=True)
        cfg = self.folder / "orthanc.json"
        cfg.write_text(json.dumps(self.config(), indent=2))
        log = open(self.log, "ab")  # noqa: SIM115 - kept open for the child's lifetime
        self.process = subprocess.Popen([ORTHANC, str(cfg)], stdout=log, stderr=subprocess.STDOUT,  # type: ignore[list-item]
                                        cwd=self.folder)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Orthanc exited with {self.process.returncode}: {self.log.read_text()[-2000:]}")
            try:
                self.get("/system")
                return self
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"Orthanc did not answer within {timeout} s: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL after 10 s)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)

    def restart(self) -> None:
        """Stop and start again on the same port and storage (what a PACS restart looks like)."""
        self.stop()
        self.start()

    def _request(self, method: str, path: str, data: bytes | None = None,
                 content_type: str | None = None) -> bytes:
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if content_type:
            req.add_header("Content-Type", content_type)
        if self.users:
            user, password = next(iter(self.users.items()))
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            req.add_header("Authorization", f"Basic {token}")
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.read()

    def get(self, path: str) -> Any:
        """``GET path`` as JSON (REST API, e.g. ``/series``)."""
        return json.loads(self._request("GET", path))

    def get_bytes(self, path: str) -> bytes:
        return self._request("GET", path)

    def upload(self, files: list[Path] | Path) -> list[dict[str, Any]]:
        """Store DICOM files (a file, a list, or every file under a folder) with ``POST /instances``."""
        if isinstance(files, Path) and files.is_dir():
            files = sorted(p for p in files.rglob("*") if p.is_file())
        elif isinstance(files, Path):
            files = [files]
        return [json.loads(self._request("POST", "/instances", p.read_bytes(), "application/dicom")) for p in files]


def start_orthanc(folder: Path, *, users: dict[str, str] | None = None, stable_age: int = 1) -> OrthancServer:
    """A started :class:`OrthancServer` with its storage under ``folder``; call ``stop()`` when done."""
    return OrthancServer(folder, free_port(), dict(users or {}), stable_age).start()
