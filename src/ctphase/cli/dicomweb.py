"""The DICOMweb options of ``ctphase predict``: server filters, credentials from a file or the environment, ``--sr-store``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from ..errors import CTPhaseError
from .common import fail, report_outcome

PATHS_HELP = ("DICOM files or folders (any names, nested), .nii/.nii.gz files, or DICOMweb roots "
              "(http(s)://host/dicom-web: QIDO-RS lists the series, WADO-RS fetches only the sampled slices).")
STUDY_UID_HELP = "DICOMweb: read only this study (repeatable)."
SERIES_UID_HELP = "DICOMweb: read only this series, whatever its modality (repeatable)."
MODALITY_HELP = "DICOMweb: list only series of this modality (ANY: every modality; non-CT series are then skipped)."
STUDY_DATE_HELP = "DICOMweb: list only studies of this date, YYYYMMDD or a range YYYYMMDD-YYYYMMDD (either end open)."
AUTH_FILE_HELP = ("DICOMweb credentials: a file holding one line, user:password (basic auth) or a bearer token. "
                  "Default: CTPHASE_DICOMWEB_TOKEN, or CTPHASE_DICOMWEB_USER and CTPHASE_DICOMWEB_PASSWORD. "
                  "Never put a secret on the command line.")
SR_STORE_HELP = ("Store one DICOM Comprehensive SR per classified DICOMweb series back on the server it came from "
                 "(STOW-RS); needs the sr extra of ctphase.")


STUDY_UIDS = typer.Option([], "--study-uid", metavar="UID", show_default=False, help=STUDY_UID_HELP)
SERIES_UIDS = typer.Option([], "--series-uid", metavar="UID", show_default=False, help=SERIES_UID_HELP)
MODALITY = typer.Option("CT", "--modality", help=MODALITY_HELP)
STUDY_DATE = typer.Option(None, "--study-date", metavar="RANGE", show_default=False, help=STUDY_DATE_HELP)
AUTH_FILE = typer.Option(None, "--auth-file", show_default=False, help=AUTH_FILE_HELP)
SR_STORE = typer.Option(False, "--sr-store", help=SR_STORE_HELP)


def check_inputs(paths: list[str], read: dict[Any, Any] | None, sr_store: bool, study_uids: list[str],
                 series_uids: list[str], modality: str, study_date: str | None,
                 auth_file: Path | None) -> tuple[list[str], Any, dict[Any, Any] | None]:
    """``(paths, query, read)`` for ``predict``: the paths (files as ``Path`` spells them, URLs as given), the
    DICOMweb query (``None`` without a URL) and the ``read`` dict (made when ``--sr-store`` needs it); exits 2
    before any work on a bad option or a missing path."""
    from ..io.dicomweb import is_dicomweb_url

    query = dicomweb_query(paths, study_uids, series_uids, modality, study_date, auth_file)
    check_sr_store(sr_store, query)
    missing = [p for p in paths if not is_dicomweb_url(p) and not Path(p).exists()]
    if missing:
        fail(f"no such file or folder: {', '.join(missing)}", 2)
    paths = [p if is_dicomweb_url(p) else str(Path(p)) for p in paths]
    return paths, query, {} if sr_store and read is None else read


def dicomweb_query(paths: list[str], study_uids: list[str], series_uids: list[str], modality: str,
                   study_date: str | None, auth_file: Path | None) -> Any:
    """The :class:`~ctphase.io.dicomweb.DicomWebQuery` of the options (``None`` without a URL); exits 2 on a bad value."""
    from ..io.dicomweb import DicomWebQuery, auth_from_env, is_dicomweb_url

    urls = [p for p in paths if is_dicomweb_url(p)]
    if not urls:
        if study_uids or series_uids or study_date or auth_file:
            fail("--study-uid, --series-uid, --study-date and --auth-file need a DICOMweb URL among PATHS", 2)
        return None
    try:
        query = DicomWebQuery(urls[0], tuple(study_uids), tuple(series_uids),
                              None if modality.upper() == "ANY" else modality, study_date, auth_from_env(auth_file))
        for url in urls:
            DicomWebQuery(url).check()
        return query.check()
    except CTPhaseError as exc:
        fail(str(exc), 2)


def check_sr_store(sr_store: bool, query: Any) -> None:
    """Exit 2 before any work when ``--sr-store`` cannot work (no DICOMweb URL, highdicom missing)."""
    if not sr_store:
        return
    from ..errors import MissingExtraError
    from ..extras import SR_HINT, require

    if query is None:
        fail("--sr-store needs a DICOMweb URL among PATHS (use --sr-out for files)", 2)
    try:
        require("--sr-store", "highdicom", hint=SR_HINT)
    except MissingExtraError as exc:
        fail(str(exc), 2)


def store_sr(preds: list[Any], read: dict[Any, Any] | None, model: Path | None, quiet: bool) -> int:
    """Store the SRs; 1 when some could not be stored (each named), else 0. Never prints patient data or secrets."""
    from ..sr import store_srs

    stored, notes, errors = store_srs(preds, read or {}, model_name=model.name if model else "ctphase default model")
    return report_outcome(notes, errors, f"stored {len(stored)} DICOM SR(s) on the DICOMweb server(s); "
                          f"{len(errors)} failed", quiet)


def query_arguments(query: Any) -> dict[str, Any]:
    """The run record's view of the query: filters, and how (not with what) it authenticates."""
    if query is None:
        return {}
    auth = query.auth
    return {"dicomweb": {"study_uids": list(query.study_uids), "series_uids": list(query.series_uids),
                         "modality": query.modality, "study_date": query.study_date,
                         "auth": None if auth is None else "token" if auth.token is not None else "basic"}}
