"""Baselines that need no network: the header-only rule baseline.

The learned baselines of the paper (3DSE, CD-GAN) are networks and live in
:mod:`ctphase.models.baselines`. Importing this package imports neither torch nor numpy.
"""

from __future__ import annotations

from .header import (
    KEYWORDS,
    RULES,
    HeaderRule,
    Keyword,
    header_baseline_predictions,
    predict_from_header,
)

__all__ = ["KEYWORDS", "RULES", "HeaderRule", "Keyword", "header_baseline_predictions", "predict_from_header"]
