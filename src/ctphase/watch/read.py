"""How the watcher reads a series' pixels: through Orthanc's DICOMweb plugin (only the sampled
instances are fetched) or by downloading every instance file with the REST API."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..extras import importable
from .label import Classified
from .orthanc import Orthanc

TRANSFERS = ("auto", "dicomweb", "download")
"""``auto``: DICOMweb when ctphase can read it (``dicomweb-client``) and Orthanc serves it (plugin ``dicom-web``), else download."""


def dicomweb_available() -> bool:
    """Whether this ctphase reads DICOMweb (``ctphase.io.dicomweb`` and its client are importable)."""
    return importable("ctphase.io.dicomweb") and importable("dicomweb_client")


@dataclass
class SeriesReader:
    """Classifies one Orthanc series with :func:`ctphase.pipeline.classify` (each series alone).

    Args:
        model: the checkpoint.
        transfer: one of :data:`TRANSFERS`.
        options: further keyword arguments of ``classify`` (``sample_rate``, ``seed``, ...).
    """

    model: Path
    transfer: str = "auto"
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from ..errors import ConfigError

        if self.transfer not in TRANSFERS:
            msg = f"transfer must be one of {', '.join(TRANSFERS)}, got {self.transfer!r}"
            raise ConfigError(msg)

    def __call__(self, client: Orthanc, info: dict[str, Any], scratch: Path) -> Classified:
        """The records of the series described by ``info`` (``GET /series/{id}``), with their slice headers."""
        from ..pipeline import classify

        if self.transfer == "auto":  # DICOMweb when this ctphase reads it and Orthanc serves it (its plugin loaded)
            self.transfer = "dicomweb" if dicomweb_available() and "dicom-web" in client.json("/plugins") else "download"
        read: dict[tuple[str, str], Any] = {}
        series_uid = info["MainDicomTags"]["SeriesInstanceUID"]
        if self.transfer == "dicomweb":
            from ..io.dicomweb import DicomWebQuery

            query = DicomWebQuery(client.dicomweb, study_uids=(client.study_uid(info["ParentStudy"]),),
                                  series_uids=(series_uid,), modality="CT", auth=client.auth)
            preds = classify([client.dicomweb], model=self.model, study=False, read=read, dicomweb=query,
                             **self.options)
        else:
            for instance_id in info["Instances"]:
                (scratch / f"{instance_id}.dcm").write_bytes(client.request("GET", f"/instances/{instance_id}/file"))
            preds = classify([scratch], model=self.model, study=False, read=read, **self.options)
        out = []
        for p in preds:
            if p.source == "unused" or (p.series_uid and p.series_uid != series_uid):
                continue
            out.append((p, getattr(read.get((p.series_id, p.path)), "slices", None) or []))
        return out
