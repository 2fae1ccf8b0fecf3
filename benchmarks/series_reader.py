"""The series reader against the majority vote, side by side on the same draws of the same slices.

A checkpoint whose calibration stores a series reader (``ctphase calibrate`` on a network with
organ heads; :mod:`ctphase.models.reader`) labels a series from all of the network's outputs on
its drawn slices; the vote reads only each slice's most probable phase. This benchmark classifies
every slice of held-out synthetic patients once (``ctphase evaluate``'s scans and draws), scores
both rules with ``ctphase evaluate``'s own scoring (:func:`ctphase.evaluation.evaluate_predictions`,
with and without the reader), and on the real series of a labelled folder classifies every slice
once and reads draws 0..20 (``realdata_check.py``'s seed 0 and its 20 further draws) both ways.

Usage (about 8 minutes for 100 patients on the 2-core CPU)::

    python benchmarks/series_reader.py --patients 100 --patient-offset 600000 --realdata ../shared/realdata
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ctphase.models.heads import SliceOutputs
from ctphase.models.reader import SeriesReader
from ctphase.sampling import DEFAULT_MIN_SLICES, DEFAULT_SAMPLE_RATE, sample_slices, series_seed
from ctphase.voting import majority_vote

REAL_DRAWS = 21
"""Draws 0..20 of each real series (``realdata_check.py``'s seed 0 and its 20 further draws)."""


def drawn(outputs: SliceOutputs, key: str, draw: int, reader: SeriesReader) -> tuple[int, np.ndarray]:
    """The vote and the reader's probabilities of one series at one draw (``ctphase predict``'s draw for seed ``draw``)."""
    idx = sample_slices(len(outputs.probs), DEFAULT_SAMPLE_RATE, DEFAULT_MIN_SLICES, series_seed(draw, key))
    return majority_vote(outputs.probs[idx]).label, reader.read(outputs.take(idx))


def main() -> None:
    from ctphase.evaluation import evaluate_predictions
    from ctphase.evaluation.run import classify_scans, evaluation_scans, series_reading
    from ctphase.inference import Classifier
    from ctphase.models.checkpoint import resolve_checkpoint

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="checkpoint with a series reader (default: the bundled model)")
    ap.add_argument("--patients", type=int, default=100)
    ap.add_argument("--patient-offset", type=int, default=600000, help="first synthetic patient (held out)")
    ap.add_argument("--draws", type=int, default=5)
    ap.add_argument("--realdata", type=Path, default=None)
    args = ap.parse_args()
    path = resolve_checkpoint(args.model)
    clf = Classifier(path, engine="onnx", threads=1)
    if clf.series_reader is None:
        raise SystemExit(f"{path} stores no series reader (fit one with ctphase calibrate)")
    scans, dataset = evaluation_scans("synth", path, patients=args.patients, patient_offset=args.patient_offset)
    done = classify_scans(scans, clf)
    y = [int(s.label) for s in scans]
    print(f"{dataset}, {len(scans)} scans, R = 30%, draws 0..{args.draws - 1}")
    for name, reader in (("vote", None), ("reader", series_reading(done))):
        r = evaluate_predictions(done.slice_probs, y, [s.group for s in scans], scan_ids=[s.scan_id for s in scans],
                                 n_resamples=0, sweep_rates=None, draws=args.draws, reader=reader)
        per = " / ".join(f"{c.f1:.3f}" for c in r.scan_level.metrics.per_class.values())
        print(f"{name:7s} scan macro F1 draw 0 {r.scan_level.metrics.macro.f1:.3f} (nc / art / ven / oth {per}); "
              f"mean of {args.draws} draws {r.draws.mean:.3f} (min {r.draws.min:.3f})", flush=True)
    if args.realdata:
        _real(clf, args.realdata)


def _real(clf, root: Path) -> None:  # noqa: ANN001
    from real_labels import real_rows

    from ctphase.io.discover import discover
    from ctphase.phases import PHASE_NAMES

    print(f"{'real series':36s} vote: right of {REAL_DRAWS} | reader: right of {REAL_DRAWS}, smallest / mean p(truth)")
    for row in real_rows(root):
        (s,) = discover([root / row["folder"]]).series
        out = SliceOutputs.concatenate([clf.predict_hu_outputs(hu)[0] for hu in s.iter_slices(np.arange(s.n_slices), 32)])
        truth = PHASE_NAMES.index(row["phase"])
        reads = [drawn(out, s.series_id, d, clf.series_reader) for d in range(REAL_DRAWS)]
        p = np.array([q for _, q in reads])
        print(f"{row['name']:36s} {sum(v == truth for v, _ in reads):2d} | {(p.argmax(1) == truth).sum():2d} "
              f"{p[:, truth].min():.2f} / {p[:, truth].mean():.2f}")


if __name__ == "__main__":
    main()
