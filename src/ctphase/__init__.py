"""ctphase: contrast phase recognition for CT scans.

Which contrast phase (non_contrast, arterial, venous, other) a CT series was acquired in,
by classifying a random R% of its slices with a 2D CNN and majority-voting the slice labels
(Dao et al., 2022).

Quick use::

    import ctphase
    for pred in ctphase.classify(["/data/export"]):
        print(pred.series_uid, pred.label, pred.vote_fractions)
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from .phases import PHASE_NAMES, Phase

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = ["PHASE_NAMES", "Phase", "__version__", "classify"]

if TYPE_CHECKING:  # pragma: no cover
    from .pipeline import classify


def __getattr__(name: str) -> Any:
    # Lazy so that `import ctphase` (and ctphase.phases) does not import torch.
    if name == "classify":
        from .pipeline import classify

        return classify
    raise AttributeError(f"module 'ctphase' has no attribute {name!r}")
