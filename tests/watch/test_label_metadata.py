"""The metadata value ``ctphase watch`` writes on a labelled series (no server needed)."""

from __future__ import annotations

from ctphase.prediction import ScanPrediction
from ctphase.watch.label import metadata_value


def _pred(**kw) -> ScanPrediction:
    return ScanPrediction("st/se", "p", "dicom", "ok", label="venous", image_label="venous", confidence=0.91234, **kw)


def test_metadata_holds_label_confidence_and_model() -> None:
    v = metadata_value([(_pred(), "1.2.3")], "ab" * 32)
    assert v["label"] == "venous" and v["confidence"] == 0.9123 and v["sr"] == "1.2.3" and v["model_sha256"] == "ab" * 32
    assert "subphase" not in v and "seconds" not in v  # a model without heads says nothing of them


def test_metadata_holds_subphase_and_seconds_of_a_model_with_heads() -> None:
    p = _pred(subphase="portal_venous", seconds_after_injection={"estimate": 72.0, "low": 55.0, "high": 94.0, "interval": 0.8})
    v = metadata_value([(p, "1.2.3")], "ab" * 32)
    assert v["subphase"] == "portal_venous" and v["seconds"] == [72.0, 55.0, 94.0]
