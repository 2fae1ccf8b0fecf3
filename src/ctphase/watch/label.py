"""Label one Orthanc series: check it is CT, classify it, store its SR, then write its metadata.

The order makes every write whole or absent: the SR is one ``POST /instances`` (stored whole or
not at all) with UIDs derived from the source series and the model, so a retry after a crash
finds it ``AlreadyStored`` instead of storing a second one; the metadata item is written last,
as the commit marker, and the SR stored in this attempt is deleted again when the metadata
cannot be written. A series whose Modality (of the series and of every instance) is not CT, or
whose instances are not CT images, is never written to: the SRs the watcher stores are skipped.
"""

from __future__ import annotations

import io
import json
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..io.dicom import CT_IMAGE_SOP_CLASSES
from ..prediction import STATUS_ERROR, STATUS_OK, ScanPrediction
from .orthanc import Orthanc, OrthancError, OrthancNotFound

Classified = list[tuple[ScanPrediction, Sequence[Any]]]
"""Each record of a series with its slice headers (in index order; empty when the series was not read)."""
ClassifySeries = Callable[[Orthanc, dict[str, Any], Path], Classified]
"""``(client, GET /series/{id} answer, scratch folder) -> records``: how a series' pixels are read."""


class MetadataNotDeclared(ConfigError):
    """Orthanc does not know the metadata name: it must be declared in its configuration."""


@dataclass
class Outcome:
    """What became of one series: ``kind`` is ``labelled``, ``already``, ``skipped``, ``deleted``, ``unstable`` or ``failed``."""

    kind: str
    message: str
    value: dict[str, Any] | None = None


def not_ct(client: Orthanc, series_id: str, info: dict[str, Any]) -> str | None:
    """Why the series is not a CT image series, ``None`` when it is (series Modality, every instance's, SOP class)."""
    modality = info.get("MainDicomTags", {}).get("Modality")
    if modality != "CT":
        return f"Modality {modality or '(none)'}, not CT"
    shared = client.shared_tags(series_id)  # tags with one value in every instance
    if shared.get("0008,0060") != "CT":
        return "its instances are not all of Modality CT"
    sop_class = shared.get("0008,0016")
    if sop_class not in CT_IMAGE_SOP_CLASSES:
        return f"SOP class {sop_class} is not a CT image" if sop_class else "its instances mix SOP classes"
    return None


def sr_uids(prediction: ScanPrediction, model_sha256: str) -> tuple[str, str]:
    """``(SeriesInstanceUID, SOPInstanceUID)`` of the SR of a record: the same for the same series and model."""
    from pydicom.uid import generate_uid

    key = [prediction.series_id, model_sha256]
    return generate_uid(entropy_srcs=["ctphase-sr-series", *key]), generate_uid(entropy_srcs=["ctphase-sr", *key])


def sr_bytes(prediction: ScanPrediction, headers: Sequence[Any], model_sha256: str, model_name: str) -> tuple[bytes, str]:
    """The SR file of one classified record (:func:`ctphase.sr.build_sr`) and its SOPInstanceUID."""
    from ..sr import build_sr

    ds = build_sr(prediction, headers, model_name=model_name)
    ds.SeriesInstanceUID, ds.SOPInstanceUID = sr_uids(prediction, model_sha256)
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue(), str(ds.SOPInstanceUID)


def metadata_value(records: Sequence[tuple[ScanPrediction, str]], model_sha256: str) -> dict[str, Any]:
    """The metadata of a labelled series: label, confidence, model, ctphase version, time, SR UID(s).

    ``records``: each classified record with the SOPInstanceUID of its SR. A series holding
    several acquisitions gets the first one's answer at the top and every one under ``parts``.
    """
    from .. import __version__

    def one(p: ScanPrediction, sr: str) -> dict[str, Any]:
        conf = None if p.confidence is None else round(float(p.confidence), 4)
        out = {"label": p.label, "confidence": conf, "image_label": p.image_label, "qc": list(p.qc), "sr": sr}
        if p.subphase:  # a model with heads
            out["subphase"] = p.subphase
        if p.seconds_after_injection:
            out["seconds"] = [p.seconds_after_injection[k] for k in ("estimate", "low", "high")]
        return out

    value = {**one(*records[0]), "model_sha256": model_sha256, "ctphase": __version__,
             "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if len(records) > 1:
        value["parts"] = [{"id": p.series_id, **one(p, sr)} for p, sr in records]
    return value


@dataclass
class Labeller:
    """Labels series of one Orthanc server with one model; see the module docstring for the write order."""

    client: Orthanc
    classify_series: ClassifySeries
    model_sha256: str
    model_name: str = "ctphase default model"
    metadata_name: str = "ctphase"
    stored: list[str] = field(default_factory=list, init=False)

    def labelled_before(self, series_id: str) -> dict[str, Any] | None:
        """The series' metadata when this model labelled it already, else ``None``."""
        text = self.client.metadata(series_id, self.metadata_name)
        try:
            value = json.loads(text) if text else None
        except ValueError:
            return None  # not ours, or damaged: label again (the metadata is replaced whole)
        return value if isinstance(value, dict) and value.get("model_sha256") == self.model_sha256 else None

    def label(self, series_id: str) -> Outcome:
        """Classify the series and write its SR and metadata (or say why not). Raises :class:`OrthancError`."""
        try:
            info = self.client.series(series_id)
        except OrthancNotFound:
            return Outcome("deleted", "deleted from Orthanc before it was read")
        modality = info.get("MainDicomTags", {}).get("Modality")
        if modality != "CT":  # known from the first instance on: no need to wait for stability
            return Outcome("skipped", f"Modality {modality or '(none)'}, not CT")
        if not info.get("IsStable", True):
            return Outcome("unstable", "not stable yet")
        reason = not_ct(self.client, series_id, info)
        if reason:
            return Outcome("skipped", reason)
        before = self.labelled_before(series_id)
        if before is not None:
            return Outcome("already", f"labelled before: {before.get('label')}", before)
        with tempfile.TemporaryDirectory(prefix="ctphase-watch-") as scratch:
            records = self.classify_series(self.client, info, Path(scratch))
            ok = [(p, h) for p, h in records if p.status == STATUS_OK and h]
            if not ok:
                return self._unlabelled(series_id, records)
            srs = [sr_bytes(p, h, self.model_sha256, self.model_name) for p, h in ok]
        value = metadata_value([(p, uid) for (p, _), (_, uid) in zip(ok, srs, strict=True)], self.model_sha256)
        return self._write(series_id, [data for data, _ in srs], value)

    def _unlabelled(self, series_id: str, records: Classified) -> Outcome:
        """Nothing classified: the series was deleted meanwhile, or every record was skipped or failed."""
        try:
            self.client.series(series_id)
        except OrthancNotFound:
            return Outcome("deleted", "deleted from Orthanc while it was being read; nothing written")
        why = "; ".join(p.error or p.status for p in records) or "no CT series found in it"
        kind = "failed" if any(p.status == STATUS_ERROR for p in records) or not records else "skipped"
        return Outcome(kind, why)

    def _write(self, series_id: str, srs: list[bytes], value: dict[str, Any]) -> Outcome:
        """Store the SRs, then the metadata; undo the SRs stored now when the metadata fails."""
        self.stored = []
        try:
            self.client.series(series_id)  # still there: never add an SR to a series deleted meanwhile
            for data in srs:
                answer = self.client.store(data)
                if answer.get("Status") == "Success":
                    self.stored.append(str(answer["ID"]))
            self.client.set_metadata(series_id, self.metadata_name, json.dumps(value, separators=(",", ":")))
        except OrthancNotFound as exc:
            self._undo()
            if self._exists(series_id):  # the series is there: the metadata name is what Orthanc does not know
                msg = (f"Orthanc does not accept the metadata name {self.metadata_name!r} ({exc}); declare it in "
                       f'Orthanc\'s configuration, e.g. "UserMetadata": {{"{self.metadata_name}": 4242}} '
                       "(any free index from 1024 to 65535), and restart Orthanc")
                raise MetadataNotDeclared(msg) from exc
            return Outcome("deleted", "deleted from Orthanc while it was being labelled; nothing written")
        except OrthancError:
            self._undo()
            raise
        return Outcome("labelled", f"{value['label']} ({value['confidence']})", value)

    def _exists(self, series_id: str) -> bool:
        try:
            self.client.series(series_id)
        except OrthancNotFound:
            return False
        return True

    def _undo(self) -> None:
        """Delete the SRs stored in this attempt (best effort: a later attempt finds them AlreadyStored)."""
        for instance_id in self.stored:
            try:
                self.client.delete_instance(instance_id)
            except OrthancError:
                pass
        self.stored = []
