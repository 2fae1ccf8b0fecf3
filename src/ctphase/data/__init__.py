"""Labelled data: manifests (series CSV, the paper's per-slice CSV) and the one labelled-scan type.

Used by training, evaluation and the paper's experiments alike; imports neither torch nor the
synthetic engine until a synthetic set is built.
"""

from __future__ import annotations

from .manifest import Manifest, ManifestError, SeriesRecord, SliceRecord, read_manifest, split_by_patient
from .scans import LabelledScan, scans_from_manifest, spread_indices, synthetic_scans

__all__ = [
    "LabelledScan",
    "Manifest",
    "ManifestError",
    "SeriesRecord",
    "SliceRecord",
    "read_manifest",
    "scans_from_manifest",
    "split_by_patient",
    "spread_indices",
    "synthetic_scans",
]
