"""Does a pool of positive oral contrast in the stomach sway a model? Real series, every slice.

For each real series of a labelled folder such as ../shared/realdata (or those named with
``--series``), every slice is labelled alone, once as it is and once with its *pools* replaced by
water (``--fill`` HU, 20): connected regions above ``--threshold`` HU (180; opened by 2 pixels)
larger than ``--min-area`` cm2 (15) whose centre lies in the patient's left half, in front of the
spine (columns beyond 55% of the width, rows above 65% of the height): where a distended stomach
full of oral contrast sits. Printed per series and per fifth of the stack (0 = the first slice along
its normal, the lowest in the usual axial stacks): the slices with a pool and the label counts
(nc / art / ven / oth) with the pools and without. In arterial phases the heart's blood at the dome
is as bright and lies in the same place, so a change there says nothing about oral contrast.
Twelve series are a sanity check, not an evaluation.

Usage::

    python benchmarks/real_pool_swap.py                                        # bundled default model
    python benchmarks/real_pool_swap.py --model runs/x/best.safetensors --series hcc005_s1_s103_venous
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from ctphase.inference import Classifier
from ctphase.models.checkpoint import resolve_checkpoint
from ctphase.phases import PHASE_NAMES
from ctphase.pipeline import classify

from real_labels import REALDATA, real_rows
from synth_realism import bright_open


def pool_mask(hu: np.ndarray, spacing_mm: float, threshold: float = 180.0, min_area_cm2: float = 15.0) -> np.ndarray:
    """Pixels of slice ``hu`` in a pool (see the module docstring), dilated by 2 pixels."""
    bright = bright_open(hu, threshold)
    n, lab, stats, centres = cv2.connectedComponentsWithStats(bright, connectivity=8)
    keep = np.zeros(n, bool)
    for j in range(1, n):
        x, y = centres[j]
        big = stats[j, cv2.CC_STAT_AREA] * spacing_mm**2 / 100 > min_area_cm2
        keep[j] = big and x > 0.55 * hu.shape[1] and y < 0.65 * hu.shape[0]
    return cv2.dilate(keep[lab].astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)


def label_counts(labels: np.ndarray) -> str:
    """``nc / art / ven / oth`` counts of the class indices ``labels``."""
    return " / ".join(str(int(c)) for c in np.bincount(labels, minlength=len(PHASE_NAMES)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--realdata", type=Path, default=REALDATA)
    ap.add_argument("--series", nargs="+", default=None, help="folders of the labels file to run (default: all)")
    ap.add_argument("--threshold", type=float, default=180.0)
    ap.add_argument("--min-area", type=float, default=15.0, help="cm2")
    ap.add_argument("--fill", type=float, default=20.0, help="HU the pools are set to")
    args = ap.parse_args()
    rows = real_rows(args.realdata, args.series)
    clf = Classifier(resolve_checkpoint(args.model))
    print(f"{'series':<36}{'truth':<14}{'fifth':<10}{'pools':>6}   labels nc / art / ven / oth: as is -> pools as water")
    for row in rows:
        read: dict = {}
        (pred,) = [p for p in classify([args.realdata / row["folder"]], model=args.model, seed=0, early_stop=False, read=read)
                   if p.status == "ok"]
        series = read[(pred.series_id, pred.path)]
        hu = series.read_slices(np.arange(series.n_slices))
        spacing = float(series.pixel_spacing[0]) if series.pixel_spacing else 0.8
        masks = np.stack([pool_mask(h, spacing, args.threshold, args.min_area) for h in hu])
        swapped = np.where(masks, np.float32(args.fill), hu)
        a = clf.predict_hu(hu)[0].argmax(1)
        b = clf.predict_hu(swapped)[0].argmax(1)
        for k, part in enumerate(np.array_split(np.arange(len(hu)), 5)):
            pools = int(masks[part].any(axis=(1, 2)).sum())
            name, truth = (row["name"], row["phase"]) if k == 0 else ("", "")
            print(f"{name:<36}{truth:<14}{f'{part[0]}-{part[-1]}':<10}{pools:>6}   {label_counts(a[part])} -> {label_counts(b[part])}")


if __name__ == "__main__":
    main()
