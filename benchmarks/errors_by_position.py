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
from pathlib import Path

import numpy as np

from ctphase.inference import Classifier
from ctphase.io import discover
from ctphase.models.checkpoint import resolve_checkpoint
from ctphase.phases import PHASE_NAMES
from ctphase.synth.render import render_slices
from ctphase.synth.stream import draw_series

from real_labels import REALDATA, has_labels, real_rows

ZONES = (("pelvis", -300.0), ("kidneys", -160.0), ("liver", -60.0), ("liver dome", 30.0), ("chest", float("inf")))
"""Anatomical zones of the synthetic body: name and upper edge in mm (0 = the right hemidiaphragm's dome)."""


def position_bins(n: int, bins: int) -> np.ndarray:
    """The bin (0 = lowest) of each of ``n`` slices in stack order, ``bins`` equal parts."""
    return np.minimum(np.arange(n) * bins // max(n, 1), bins - 1)


def confusion(groups: np.ndarray, truth: np.ndarray | int, labels: np.ndarray, n_groups: int) -> np.ndarray:
    """``(n_groups, 4, 4)``: slices per group, true phase and label (``PHASE_NAMES`` order)."""
    cm = np.zeros((n_groups, len(PHASE_NAMES), len(PHASE_NAMES)), int)
    np.add.at(cm, (groups, np.broadcast_to(truth, np.shape(labels)), labels), 1)
    return cm


def synthetic_confusion(clf: Classifier, patients: range, slices: int, bins: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`confusion` per part of the stack (``bins``) and per anatomical zone of :data:`ZONES`, over
    ``patients`` x 4 phases, each series rendered at ``slices`` evenly spaced z."""
    n = len(PHASE_NAMES)
    parts, zones = np.zeros((bins, n, n), int), np.zeros((len(ZONES), n, n), int)
    for i in patients:
        for k, phase in enumerate(PHASE_NAMES):
            patient, series, _ = draw_series(0, i, phase, epoch=0)
            z = np.linspace(series.z_bottom, series.z_top, slices)
            labels = clf.predict_hu(render_slices(patient, series, z, size))[0].argmax(1)
            parts += confusion(position_bins(slices, bins), k, labels, bins)
            zones += confusion(np.searchsorted([top for _, top in ZONES], z), k, labels, len(ZONES))
    return parts, zones


def real_confusions(clf: Classifier, realdata: Path, bins: int) -> list[tuple[str, str, np.ndarray]]:
    """Per real series: (name, truth, :func:`confusion` per part of the stack) over every slice of its axial stack."""
    out = []
    for row in real_rows(realdata):
        found = discover([realdata / row["folder"]]).series
        if len(found) != 1:
            raise SystemExit(f"{row['folder']}: expected one axial series, found {len(found)}")
        labels = clf.predict_hu(found[0].read_slices())[0].argmax(1)
        out.append((row["name"], row["phase"], confusion(position_bins(len(labels), bins), PHASE_NAMES.index(row["phase"]),
                                                          labels, bins)))
    return out


def _cells(cm: np.ndarray) -> str:
    """Slices right / slices per group."""
    return "".join(f"{f'{np.trace(c)}/{c.sum()} {np.trace(c) / max(c.sum(), 1):.0%}':>16}" for c in cm)


def _errors(c: np.ndarray, top: int = 4) -> str:
    """The commonest wrong (truth -> label) pairs of one group's confusion."""
    pairs = sorted((-int(c[t, p]), t, p) for t in range(len(c)) for p in range(len(c)) if t != p and c[t, p])
    return ", ".join(f"{PHASE_NAMES[t]}->{PHASE_NAMES[p]} {-n}" for n, t, p in pairs[:top]) or "none"


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
    parts, zones = synthetic_confusion(clf, range(args.patient_offset, args.patient_offset + args.patients), args.slices,
                                       args.bins, size)
    print(f"{f'synthetic, {args.patients} patients x 4':<50}{_cells(parts)}")
    print("synthetic by anatomical zone (upper edge, mm from the diaphragm's dome), slices right and the commonest errors:")
    for (name, edge), c in zip(ZONES, zones):
        print(f"  {name:<12}{f'(< {edge:g})':<10}{_cells(c[None])}   {_errors(c)}")
    if not has_labels(args.realdata):
        print(f"(real data not found at {args.realdata})")
        return
    real = real_confusions(clf, args.realdata, args.bins)
    for name, truth, cm in real:
        print(f"{name[:35]:<36}{truth:<14}{_cells(cm)}")
    total = sum(cm for *_, cm in real)
    print(f"{'real, all series':<50}{_cells(total)}")
    for k, c in enumerate(total):
        print(f"  real, part {k + 1}: the commonest errors: {_errors(c)}")


if __name__ == "__main__":
    main()
