"""DICOMweb input: CT series listed by QIDO-RS, read by WADO-RS, as lazily as folders on disk.

:func:`discover_dicomweb` lists the series a :class:`DicomWebQuery` asks for (QIDO-RS
``/series``, one request per named study or series, else one for the whole server, filtered by
modality and study date), then reads each series' metadata (WADO-RS ``/metadata``, one request
per series, pixel data left on the server: bulk data is never fetched) and builds one
:class:`~ctphase.io.dicom_header.SliceHeader` per instance, grouped by the same rules as files
on disk (:func:`ctphase.io.dicom.assemble`). An instance's ``path`` is its WADO-RS URL and its
``opener`` a :class:`DicomWebInstance`: pixels are fetched (WADO-RS retrieve instance, in the
stored transfer syntax) only for the slices the sampler draws, one request per slice.
An Enhanced CT (multi-frame) instance is fetched whole at discovery (its functional groups) and
kept while its frames are read (the last multi-frame instance fetched only).

Every input is accounted for: an unreachable server, a refused login (HTTP 401/403) or a
failed or malformed query is one ``error`` record naming the URL; a series that cannot be
listed or read (deleted, HTTP 500, malformed JSON) is one ``error`` record naming the series;
the others go on. Explicitly named series are listed whatever their modality (a non-CT one is
then ``skipped`` with its reason); a named study or series the server does not hold is an error.

Authentication (never on the command line, never in a message or a record): a bearer token or
basic auth from the environment (``CTPHASE_DICOMWEB_TOKEN``, or ``CTPHASE_DICOMWEB_USER`` and
``CTPHASE_DICOMWEB_PASSWORD``) or from a file (:func:`auth_from_env`). Needs dicomweb-client:
``pip install "ctphase[dicomweb]"``. No HTTP retries: rerun (with ``--journal``) after a failure.
"""

from __future__ import annotations

import functools
import io
import os
import re
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from ..errors import ConfigError, DicomReadError, DicomWebError, InputError, MissingExtraError
from .dicom import assemble
from .dicom_header import SliceHeader, header_from_dataset
from .findings import Findings

if TYPE_CHECKING:  # pragma: no cover
    from .discover import Discovery

TOKEN_ENV = "CTPHASE_DICOMWEB_TOKEN"
USER_ENV = "CTPHASE_DICOMWEB_USER"
PASSWORD_ENV = "CTPHASE_DICOMWEB_PASSWORD"
DICOMWEB_HINT = 'pip install "ctphase[dicomweb]"'
TIMEOUT = (10.0, 120.0)
"""(connect, read) seconds of every request."""

_AUTH_FIX = (f"set {TOKEN_ENV}, or {USER_ENV} and {PASSWORD_ENV}, or pass --auth-file with a token or user:password")
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
_DATE_RANGE = re.compile(r"^(\d{8})?(-(\d{8})?)?$")


@dataclass(frozen=True)
class DicomWebAuth:
    """A bearer ``token``, or ``user`` and ``password`` (basic auth); secrets never shown in ``repr``."""

    token: str | None = field(default=None, repr=False)
    user: str | None = None
    password: str | None = field(default=None, repr=False)

    def apply(self, session: Any) -> None:
        """Authenticate every request of a ``requests.Session``."""
        if self.token is not None:
            session.headers["Authorization"] = f"Bearer {self.token}"
        else:
            session.auth = (self.user or "", self.password or "")


@dataclass(frozen=True)
class DicomWebQuery:
    """What to read from a DICOMweb server.

    Attributes:
        url: the DICOMweb root (``https://host/dicom-web``), without credentials.
        study_uids: read only these studies (all their series of ``modality``).
        series_uids: read only these series (whatever their modality; within ``study_uids`` when given).
        modality: QIDO Modality filter (``None``: every modality; non-CT series are then skipped with a reason).
        study_date: QIDO StudyDate filter: ``YYYYMMDD``, or a range ``YYYYMMDD-YYYYMMDD`` (either end open).
        auth: credentials (:func:`auth_from_env`); ``None``: anonymous.
    """

    url: str
    study_uids: tuple[str, ...] = ()
    series_uids: tuple[str, ...] = ()
    modality: str | None = "CT"
    study_date: str | None = None
    auth: DicomWebAuth | None = field(default=None, repr=False)

    def check(self) -> DicomWebQuery:
        """``self`` with ``url`` tidied; raises :class:`ConfigError` naming a bad value."""
        url = self.url.rstrip("/")
        if not is_dicomweb_url(url):
            raise ConfigError(f"DICOMweb URL must start with http:// or https://, got {url!r}")
        if "@" in url.split("/")[2]:
            raise ConfigError(f"credentials in the DICOMweb URL are refused (they would be logged): {_AUTH_FIX}")
        for uid in (*self.study_uids, *self.series_uids):
            if not _UID.match(uid) or len(uid) > 64:
                raise ConfigError(f"not a DICOM UID: {uid!r} (digits and dots, at most 64 characters)")
        if self.study_date is not None and not (_DATE_RANGE.match(self.study_date) and self.study_date.strip("-")):
            raise ConfigError(f"study date must be YYYYMMDD or a range YYYYMMDD-YYYYMMDD, got {self.study_date!r}")
        return replace(self, url=url, modality=self.modality.upper() if self.modality else None)


def is_dicomweb_url(path: str | os.PathLike[str]) -> bool:
    """Whether an input names a DICOMweb server (``http://`` or ``https://``) rather than a file."""
    return isinstance(path, str) and path.lower().startswith(("http://", "https://"))


def auth_from_env(file: Path | None = None) -> DicomWebAuth | None:
    """Credentials from ``file``, else from the environment; ``None`` when there are none.

    ``file`` holds one line: ``user:password`` (basic auth) or a bearer token (anything without
    a colon; a leading ``Bearer `` is dropped). The environment: :data:`TOKEN_ENV`, or
    :data:`USER_ENV` and :data:`PASSWORD_ENV`.

    Raises:
        ConfigError: the file cannot be read or is empty, or a user is set without a password.
    """
    if file is not None:
        try:
            text = Path(file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{file}: cannot read the auth file: {exc.strerror or exc}") from None
        if not text or "\n" in text:
            raise ConfigError(f"{file}: the auth file must hold one line, a token or user:password")
        if ":" in text and not text.lower().startswith("bearer "):
            user, _, password = text.partition(":")
            return DicomWebAuth(user=user, password=password)
        return DicomWebAuth(token=text[7:].strip() if text.lower().startswith("bearer ") else text)
    token = os.environ.get(TOKEN_ENV)
    if token:
        return DicomWebAuth(token=token)
    user, password = os.environ.get(USER_ENV), os.environ.get(PASSWORD_ENV)
    if user and password is None:
        raise ConfigError(f"{USER_ENV} is set but {PASSWORD_ENV} is not")
    return DicomWebAuth(user=user, password=password) if user else None


@functools.lru_cache(maxsize=16)
def _client(url: str, auth: DicomWebAuth | None) -> Any:
    """One ``DICOMwebClient`` (and its connection pool) per server and credentials."""
    try:
        import requests
        from dicomweb_client.api import DICOMwebClient
    except ImportError:  # io sits beside extras: the same message as extras.require gives
        msg = f"DICOMweb input needs dicomweb-client, which the light install of ctphase leaves out: {DICOMWEB_HINT}"
        raise MissingExtraError(msg) from None

    session = requests.Session()
    # Uncompressed answers: Orthanc gzips what a client accepts compressed, ~80 ms per 512x512
    # instance against ~1.4 ms plain (benchmarks/watch_latency.py), far more than a LAN saves.
    session.headers["Accept-Encoding"] = "identity"
    if auth is not None:
        auth.apply(session)
    client = DICOMwebClient(url, session=session, timeout=TIMEOUT)
    client.set_http_retry_params(retry=False)
    return client


def describe(exc: BaseException) -> str:
    """Why a DICOMweb request failed, in words (never the credentials)."""
    import requests

    response = getattr(exc, "response", None)
    if isinstance(exc, requests.HTTPError) and response is not None:
        code = response.status_code
        if code in (401, 403):
            return f"access denied (HTTP {code}): {_AUTH_FIX}"
        if code == 404:
            return "not found on the server (HTTP 404; deleted, or never stored?)"
        return f"the server answered HTTP {code} {response.reason or ''}".rstrip()
    if isinstance(exc, requests.exceptions.SSLError):
        return f"TLS handshake failed (certificate?): {str(exc)[:160]}"
    if isinstance(exc, requests.Timeout):
        return f"the server did not answer within {TIMEOUT[1]:.0f} s"
    if isinstance(exc, requests.ConnectionError):
        text = str(exc)
        why = ("connection refused" if "refused" in text else "host name not found" if "resolve" in text.lower()
               or "Name or service" in text else "connection failed")
        return f"cannot reach the server ({why})"
    if isinstance(exc, (ValueError, TypeError, KeyError, AttributeError, IndexError)):
        return f"malformed DICOMweb response ({type(exc).__name__}: {str(exc)[:200]})"
    return f"{type(exc).__name__}: {str(exc)[:200]}"


@dataclass(frozen=True)
class DicomWebInstance:
    """One instance on a DICOMweb server: the ``opener`` of its :class:`SliceHeader` (picklable)."""

    url: str
    auth: DicomWebAuth | None = field(repr=False)
    study_uid: str
    series_uid: str
    sop_uid: str

    @property
    def address(self) -> str:
        """The instance's WADO-RS URL."""
        return f"{self.url}/studies/{self.study_uid}/series/{self.series_uid}/instances/{self.sop_uid}"

    def open(self) -> BinaryIO:
        """Fetch the instance (WADO-RS, stored transfer syntax) as Part 10 bytes.

        Raises:
            DicomReadError: naming the instance, when it cannot be fetched.
        """
        import pydicom

        with _LAST_LOCK:
            if _LAST and _LAST[0] == self.address:  # another frame of the multi-frame instance just fetched
                return io.BytesIO(_LAST[1])
        try:
            ds = _client(self.url, self.auth).retrieve_instance(self.study_uid, self.series_uid, self.sop_uid)
        except Exception as exc:  # requests, dicomweb-client and pydicom raise many types
            raise DicomReadError(f"cannot fetch the instance: {describe(exc)}", self.address) from None
        buf = io.BytesIO()
        pydicom.dcmwrite(buf, ds, enforce_file_format=False)
        data = buf.getvalue()
        with _LAST_LOCK:
            _LAST[:] = [self.address, data] if int(ds.get("NumberOfFrames") or 1) > 1 else []
        return io.BytesIO(data)


_LAST: list[Any] = []
"""``[address, bytes]`` of the last multi-frame instance fetched: its frames are read one after another."""
_LAST_LOCK = threading.Lock()


def dicomweb_source(headers: Iterable[SliceHeader]) -> tuple[str, DicomWebAuth | None] | None:
    """``(url, auth)`` of the server a series was read from, ``None`` for files."""
    first = next(iter(headers), None)
    opener = getattr(first, "opener", None)
    return (opener.url, opener.auth) if isinstance(opener, DicomWebInstance) else None


def store_instances(url: str, datasets: Iterable[Any], auth: DicomWebAuth | None) -> None:
    """Store ``datasets`` (pydicom) on the server at ``url`` in one STOW-RS request.

    Raises:
        DicomWebError: naming ``url``, when the request fails or the server refuses an instance.
    """
    url = url.rstrip("/")
    try:
        answer = _client(url, auth).store_instances(list(datasets))
    except Exception as exc:
        raise DicomWebError(f"cannot store (STOW-RS): {describe(exc)}", url) from None
    failed = answer.get("FailedSOPSequence") if answer is not None else None
    if failed:
        reasons = ", ".join(str(item.get("FailureReason", "?")) for item in failed)
        raise DicomWebError(f"the server refused {len(failed)} instance(s) (STOW-RS failure reason {reasons})", url)


def discover_dicomweb(
    query: DicomWebQuery,
    *,
    min_slices: int = 1,
    strict: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> Discovery:
    """The CT series ``query`` names on its server: metadata only, pixels fetched later per sampled slice.

    Args:
        query: server, filters and credentials.
        min_slices, strict: as :func:`ctphase.io.discover`.
        progress: called as ``progress(done, total)`` after each series' metadata.
    Returns:
        a :class:`~ctphase.io.discover.Discovery`; series named by their WADO-RS URL
        (``<url>/studies/<study>/series/<series>``), sorted by it.
    Raises:
        ConfigError: a bad query value (checked before any request).
        InputError: with ``strict``, the first failure (a :class:`DicomWebError` for the server).
    """
    from .discover import Discovery

    query = query.check()
    findings = Findings(strict)
    headers: list[SliceHeader] = []
    file_errors: dict[tuple[str, str], list[str]] = defaultdict(list)
    try:
        client = _client(query.url, query.auth)
        targets = _list_series(client, query, findings)
    except DicomWebError as exc:
        findings.error(exc)
        targets = []
    for i, (study, series) in enumerate(targets):
        try:
            headers += _series_headers(client, query, study, series, findings, file_errors)
        except DicomWebError as exc:
            exc.study_uid, exc.series_uid = study, series  # type: ignore[attr-defined]
            findings.error(exc)
        if progress is not None:
            progress(i + 1, len(targets))
    assemble(headers, min_slices=min_slices, strict=strict, file_errors=file_errors, findings=findings)
    for item in [*findings.series, *findings.skipped]:
        if item.path.endswith("/instances"):  # the folder of an instance URL: name the series
            item.path = item.path[: -len("/instances")]
    findings.series.sort(key=lambda s: (s.path, s.series_id))
    return Discovery(series=findings.series, skipped=findings.skipped, errors=findings.exceptions)


def _list_series(client: Any, query: DicomWebQuery, findings: Findings) -> list[tuple[str, str]]:
    """``(study, series)`` UIDs the query names, each once, in the server's order (QIDO-RS)."""
    found: dict[tuple[str, str], None] = {}
    base = {"StudyDate": query.study_date} if query.study_date else {}
    for study in query.study_uids or (None,):
        for series in query.series_uids or (None,):
            filters = dict(base)
            if series is not None:
                filters["SeriesInstanceUID"] = series
            elif query.modality:
                filters["Modality"] = query.modality
            where = query.url + (f"/studies/{study}" if study else "") + (f"/series/{series}" if series else "")
            try:
                pairs = _search(client, study, filters)
            except Exception as exc:
                raise DicomWebError(f"cannot list series (QIDO-RS): {describe(exc)}", where) from None
            if not pairs and (study or series):
                findings.error(DicomWebError("no such series on the server" + _filters_note(filters), where))
            elif not pairs:
                findings.skip(where, "no series on the server" + _filters_note(filters))
            found.update(dict.fromkeys(pairs))
    return list(found)


def _search(client: Any, study: str | None, filters: dict[str, str]) -> list[tuple[str, str]]:
    """All pages of one QIDO-RS series query; stops at a page that adds nothing (a server that ignores offset)."""
    pairs: dict[tuple[str, str], None] = {}
    while True:
        page = client.search_for_series(study_instance_uid=study, search_filters=filters, offset=len(pairs) or None)
        new = [p for p in ((_uid(item, "0020000D"), _uid(item, "0020000E")) for item in page) if p not in pairs]
        if not new:
            return list(pairs)
        pairs.update(dict.fromkeys(new))


def _filters_note(filters: dict[str, str]) -> str:
    shown = {k: v for k, v in filters.items() if k != "SeriesInstanceUID"}
    return f" matching {', '.join(f'{k}={v}' for k, v in shown.items())}" if shown else ""


def _uid(item: Any, tag: str) -> str:
    value = item[tag]["Value"][0]
    if not isinstance(value, str) or not _UID.match(value):
        raise ValueError(f"({tag[:4]},{tag[4:]}) is not a UID: {str(value)[:80]!r}")
    return value


def _series_headers(
    client: Any, query: DicomWebQuery, study: str, series: str, findings: Findings,
    file_errors: dict[tuple[str, str], list[str]],
) -> list[SliceHeader]:
    """One header per instance (per frame of Enhanced CT) of one series, from its WADO-RS metadata."""
    import pydicom

    from .dicom_enhanced import frames_of

    where = f"{query.url}/studies/{study}/series/{series}"
    try:
        items = client.retrieve_series_metadata(study, series)
        datasets = [pydicom.Dataset.from_json(item, bulk_data_uri_handler=_no_fetch) for item in items]
    except Exception as exc:
        raise DicomWebError(f"cannot read the series metadata (WADO-RS): {describe(exc)}", where) from None
    if not datasets:
        raise DicomWebError("the series holds no instances (deleted while being read?)", where)
    if all("Rows" not in ds and "PixelData" not in ds for ds in datasets) and any("Modality" in ds for ds in datasets):
        msg = ("the server's metadata holds only the main tags (no Rows, no Pixel Data): ask it for full metadata "
               '(Orthanc: "DicomWeb": {"SeriesMetadata": "Full"})')
        raise DicomWebError(msg, where)
    out: list[SliceHeader] = []
    for ds in datasets:
        sop = str(ds.get("SOPInstanceUID", ""))
        if not _UID.match(sop) or ds.get("SeriesInstanceUID") != series:
            msg = "malformed DICOMweb metadata: an instance without a SOP Instance UID or of another series"
            raise DicomWebError(msg, where)
        opener = DicomWebInstance(query.url, query.auth, study, series, sop)
        try:
            h = header_from_dataset(ds, opener.address)
            h.opener = opener
            out += frames_of(h)
        except InputError as exc:
            file_errors[(study, series)].append(sop)
            findings.error(exc)
    return out


def _no_fetch(tag: str, vr: str, uri: str) -> bytes:
    """Bulk data (pixel data) stays on the server: read later, per sampled slice."""
    return b""


__all__ = [
    "DICOMWEB_HINT", "PASSWORD_ENV", "TOKEN_ENV", "USER_ENV", "DicomWebAuth", "DicomWebInstance", "DicomWebQuery",
    "auth_from_env", "describe", "dicomweb_source", "discover_dicomweb", "is_dicomweb_url", "store_instances",
]
