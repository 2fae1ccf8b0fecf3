"""The series reader against the majority vote, side by side on the same draws of the same slices.

A checkpoint whose calibration stores a series reader (``ctphase calibrate`` on a network with
organ heads; :mod:`ctphase.models.reader`) labels a series from all of the network's outputs on
its drawn slices; the vote reads only each slice's most probable phase. This benchmark classifies
every slice of held-out synthetic patients once (``ctphase evaluate``'s scans and draws), scores
both rules with ``ctphase evaluate``'s own scoring (:func:`ctphase.evaluation.evaluate_predictions`,
with and without the reader), and on the real series of a labelled folder classifies every slice
once and reads draws 0..20 (``realdata_check.py``'s seed 0 and its 20 further draws) both ways.

Beside the scores it says where the reader overrules the vote (how often, who is right then, how split the
overruled votes were) and how far each series' features lie from the reader's fit data (the root mean square of
the standardised features, :meth:`SeriesReader.standardise`): on the real series against the synthetic scans.

Usage (about 8 minutes for 100 patients on the 2-core CPU)::

    python benchmarks/series_reader.py --patients 100 --patient-offset 600000 --realdata ../shared/realdata
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ctphase.models.heads import SliceOutputs
from ctphase.models.reader import SeriesReader, series_features
from ctphase.sampling import DEFAULT_MIN_SLICES, DEFAULT_SAMPLE_RATE, sample_slices, series_seed
from ctphase.voting import majority_vote

REAL_DRAWS = 21
"""Draws 0..20 of each real series (``realdata_check.py``'s seed 0 and its 20 further draws)."""


def read_draw(outputs: SliceOutputs, key: str, draw: int, reader: SeriesReader) -> tuple[int, float, np.ndarray, float]:
    """One draw read both ways: the vote, its share, the reader's probabilities, the features' RMS standardised value."""
    idx = sample_slices(len(outputs.probs), DEFAULT_SAMPLE_RATE, DEFAULT_MIN_SLICES, series_seed(draw, key))
    vote, taken = majority_vote(outputs.probs[idx]), outputs.take(idx)
    f = series_features(taken)
    return vote.label, float(vote.fractions.max()), reader.predict_proba(f), float(np.sqrt(np.mean(reader.standardise(f) ** 2)))


def overrules(rows: list[tuple[int, float, int, int]]) -> str:
    """Where the reader overrules the vote, in words; rows of (vote, vote share, reader's label, truth)."""
    over = [(v, sh, r, t) for v, sh, r, t in rows if r != v]
    if not over:
        return f"the reader never overrules the vote ({len(rows)} reads)"
    shares = np.percentile([sh for _, sh, _, _ in over], [10, 50, 90])
    return (f"the reader overrules the vote in {len(over)} of {len(rows)} reads: the reader right {sum(r == t for _, _, r, t in over)}, "
            f"the vote right {sum(v == t for v, _, _, t in over)}; the overruled votes' shares (10/50/90%) "
            + " / ".join(f"{x:.2f}" for x in shares))


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
    reads = [read_draw(done.outputs[i], s.scan_id, d, clf.series_reader) for i, s in enumerate(scans) for d in range(args.draws)]
    rms = np.percentile([q[3] for q in reads], [50, 90, 99, 100])
    print(f"synthetic: {overrules([(v, sh, int(p.argmax()), y[i // args.draws]) for i, (v, sh, p, _) in enumerate(reads)])}")
    print("synthetic: RMS standardised feature (50/90/99/100%) " + " / ".join(f"{x:.2f}" for x in rms), flush=True)
    if args.realdata:
        _real(clf, args.realdata)


def _real(clf, root: Path) -> None:  # noqa: ANN001
    from real_labels import real_rows

    from ctphase.io.discover import discover
    from ctphase.phases import PHASE_NAMES

    print(f"{'real series':36s} vote: right of {REAL_DRAWS} | reader: right of {REAL_DRAWS}, smallest / mean p(truth) | "
          "RMS standardised feature, min-max")
    for row in real_rows(root):
        (s,) = discover([root / row["folder"]]).series
        out = SliceOutputs.concatenate([clf.predict_hu_outputs(hu)[0] for hu in s.iter_slices(np.arange(s.n_slices), 32)])
        truth = PHASE_NAMES.index(row["phase"])
        reads = [read_draw(out, s.series_id, d, clf.series_reader) for d in range(REAL_DRAWS)]
        p, rms = np.array([q[2] for q in reads]), [q[3] for q in reads]
        print(f"{row['name']:36s} {sum(q[0] == truth for q in reads):2d} | {(p.argmax(1) == truth).sum():2d} "
              f"{p[:, truth].min():.2f} / {p[:, truth].mean():.2f} | {min(rms):.2f}-{max(rms):.2f}")


if __name__ == "__main__":
    main()
