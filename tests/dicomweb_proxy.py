"""A misbehaving DICOMweb server for the tests: a loopback HTTP proxy in front of a real one, or a fake alone.

:class:`FaultyProxy` forwards every request to ``upstream`` (an Orthanc, :mod:`orthanc_server`)
unless its ``fault(method, path, n)`` answers ``(status, body, content_type)`` instead; ``n`` counts
the requests seen so far. Without ``upstream`` every request must be answered by ``fault``.
It records each request as ``(method, path)`` in ``requests``.
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Answer = tuple[int, bytes, str]
_FORWARDED = ("Accept", "Content-Type", "Authorization")


class FaultyProxy:
    """A loopback HTTP server that forwards to ``upstream`` or answers with ``fault``; use as a context manager."""

    def __init__(self, upstream: str | None, fault: Callable[[str, str, int], Answer | None]) -> None:
        self.upstream = upstream.rstrip("/") if upstream else None
        self.fault = fault
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FaultyProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _answer(self, method: str, path: str, headers: dict[str, str], body: bytes | None) -> Answer:
        with self._lock:
            n = len(self.requests)
            self.requests.append((method, path))
        canned = self.fault(method, path, n)
        if canned is not None:
            return canned
        if self.upstream is None:
            return 404, b"", "text/plain"
        req = urllib.request.Request(self.upstream + path, data=body, method=method,
                                     headers={k: v for k, v in headers.items() if k in _FORWARDED})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.read(), r.headers.get("Content-Type", "")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read(), exc.headers.get("Content-Type", "") if exc.headers else ""

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                status, data, ctype = proxy._answer(method, self.path, dict(self.headers.items()), body)
                self.send_response(status)
                if ctype:
                    self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                self._serve("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._serve("POST")

            def log_message(self, *args: object) -> None:  # quiet
                pass

        return Handler


def instance_fetches(log: list[tuple[str, str]]) -> list[str]:
    """The WADO-RS retrieve-instance requests of a request log (pixel data), not metadata or queries."""
    return [url for method, url in log if method == "GET" and "/instances/" in url and not url.endswith("/metadata")]
