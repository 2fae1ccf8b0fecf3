"""Where in the stack the slice errors are: synthetic series against the real series, by part of the scan range.

Each held-out synthetic series (patients ``--patient-offset ..``, all four phases) is rendered at
``--slices`` evenly spaced positions from the bottom to the top of its scan range, and every slice
of each real series of a labelled folder such as ../shared/realdata is classified. The slices are
binned by their position in the stack (``--bins`` equal parts, the first being the lowest: the
synthetic range runs feet to head, and the real stacks are read in ascending position along their
normal, feet to head for the usual axial series). Printed: the share of slices whose own label is
the series' phase, per bin, side by side. A model whose real errors gather in some part of the
range while its synthetic errors do not points at the anatomy the engine draws there. The
synthetic slices are also counted by anatomical zone (the engine knows where each one lies). Twelve real
series are a sanity check, not an evaluation.

Usage::

    python benchmarks/errors_by_position.py                                   # bundled model, test patients
    python benchmarks/errors_by_position.py --model m.safetensors --patients 25 --bins 5
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

from ctphase.inference import Classifier
from ctphase.io import discover
from ctphase.models.checkpoint import resolve_checkpoint
from ctphase.phases import PHASE_NAMES
from ctphase.synth.render import render_slices
from ctphase.synth.stream import draw_series

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"
ZONES = (("pelvis", -300.0), ("kidneys", -160.0), ("liver", -60.0), ("liver dome", 30.0), ("chest", float("inf")))
"""Anatomical zones of the synthetic body: name and upper edge in mm (0 = the right hemidiaphragm's dome)."""


def position_bins(n: int, bins: int) -> np.ndarray:
    """The bin (0 = lowest) of each of ``n`` slices in stack order, ``bins`` equal parts."""
    return np.minimum(np.arange(n) * bins // max(n, 1), bins - 1)


def tally(bins_of: np.ndarray, right: np.ndarray, bins: int) -> np.ndarray:
    """``(bins, 2)``: slices right and slices, per bin."""
    return np.array([[int(right[bins_of == k].sum()), int((bins_of == k).sum())] for k in range(bins)])


def synthetic_tally(clf: Classifier, patients: range, slices: int, bins: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Slices right per bin (``(bins, 2)``) and per anatomical zone of :data:`ZONES` (``(zones, 2)``) over
    ``patients`` x 4 phases, each series rendered at evenly spaced z."""
    total, zones = np.zeros((bins, 2), int), np.zeros((len(ZONES), 2), int)
    for i in patients:
        for k, phase in enumerate(PHASE_NAMES):
            patient, series, _ = draw_series(0, i, phase, epoch=0)
            z = np.linspace(series.z_bottom, series.z_top, slices)
            probs, _, _ = clf.predict_hu(render_slices(patient, series, z, size))
            right = probs.argmax(1) == k
            total += tally(position_bins(slices, bins), right, bins)
            zones += tally(np.searchsorted([top for _, top in ZONES], z), right, len(ZONES))
    return total, zones


def real_tallies(clf: Classifier, realdata: Path, bins: int) -> tuple[list[tuple[str, str, np.ndarray]], np.ndarray]:
    """Per real series: (name, truth, slices right per bin) over every slice of its axial stack; and
    ``(bins, 4)``: the labels the wrong slices got, per bin (``PHASE_NAMES`` order)."""
    out, wrong_as = [], np.zeros((bins, len(PHASE_NAMES)), int)
    for row in csv.DictReader(open(realdata / "labels.csv")):
        found = discover([realdata / row["folder"]]).series
        if len(found) != 1:
            raise SystemExit(f"{row['folder']}: expected one axial series, found {len(found)}")
        probs, _, _ = clf.predict_hu(found[0].read_slices())
        labels = probs.argmax(1)
        right, where = labels == PHASE_NAMES.index(row["phase"]), position_bins(len(labels), bins)
        np.add.at(wrong_as, (where[~right], labels[~right]), 1)
        out.append((row["name"], row["phase"], tally(where, right, bins)))
    return out, wrong_as


def _cells(t: np.ndarray) -> str:
    return "".join(f"{f'{r}/{n} {r / max(n, 1):.0%}':>16}" for r, n in t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--patients", type=int, default=50)
    ap.add_argument("--patient-offset", type=int, default=200000, help="first patient (default: the test set's)")
    ap.add_argument("--slices", type=int, default=30, help="slices per synthetic series")
    ap.add_argument("--bins", type=int, default=3)
    ap.add_argument("--realdata", type=Path, default=REALDATA)
    args = ap.parse_args()
    clf = Classifier(resolve_checkpoint(args.model))
    size = max(256, clf.preprocessing.size)  # as ctphase evaluate renders synthetic scans
    head = f"{'':<36}{'':<14}" + "".join(f"{f'part {k + 1} of {args.bins}':>16}" for k in range(args.bins))
    print(head + "   (part 1: the lowest)")
    synth, zones = synthetic_tally(clf, range(args.patient_offset, args.patient_offset + args.patients), args.slices,
                                   args.bins, size)
    print(f"{f'synthetic, {args.patients} patients x 4':<50}{_cells(synth)}")
    print("synthetic by anatomical zone: " + ", ".join(f"{name} {r}/{n} {r / max(n, 1):.0%}" for (name, _), (r, n)
                                                       in zip(ZONES, zones)))
    if not (args.realdata / "labels.csv").is_file():
        print(f"(real data not found at {args.realdata})")
        return
    real, wrong_as = real_tallies(clf, args.realdata, args.bins)
    for name, truth, t in real:
        print(f"{name[:35]:<36}{truth:<14}{_cells(t)}")
    print(f"{'real, all series':<50}{_cells(sum(t for *_, t in real))}")
    for k, row in enumerate(wrong_as):
        print(f"real slices wrong in part {k + 1}, labelled: " + ", ".join(f"{n} {p}" for p, n in zip(PHASE_NAMES, row)))


if __name__ == "__main__":
    main()
