"""A series reader against the majority vote: one series decision from all of a network's outputs.

The vote (the paper's rule) reads only each slice's most probable phase. A network with heads also
gives, per slice, subphase probabilities, ln(seconds) with its variance and the organ enhancement
readouts (the training-only organ head, present in every exported network with ``--organ-head``).
This benchmark pools them over the same R = 30% draw (``ctphase evaluate``'s draws:
``series_seed(draw, scan_id)``) into features (mean log phase probability, vote shares, mean
subphase probabilities, mean / spread of ln(seconds) and mean log-variance, each organ's mean, min
and max), fits a multinomial logistic regression (scikit-learn, standardised features) on synthetic
fit patients (three draws of each series), and scores reader and vote on the same draws of the
selection and test patients and on the real series (each series' every slice classified once,
then 21 draws).

Usage (about 10 minutes on the 2-core CPU)::

    python benchmarks/series_reader.py --fit-patients 500 --realdata ../shared/realdata
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ctphase.models.calibration import mean_log_probs, softmax
from ctphase.models.heads import LOGVAR_RANGE
from ctphase.sampling import DEFAULT_MIN_SLICES, DEFAULT_SAMPLE_RATE, sample_slices, series_seed
from ctphase.voting import Vote, majority_vote

PARTS = ("z", "frac", "sub", "sec", "org")
"""Feature groups, in order (see :func:`features`)."""
REAL_DRAWS = 21
"""Draws 0..20 of each real series (``realdata_check.py``'s seed 0 and its 20 further draws)."""


def features(raw: np.ndarray, n_sub: int, n_org: int, parts: tuple[str, ...] = PARTS) -> np.ndarray:
    """Series features of the ``(N, 4 + n_sub + n_org + 2)`` raw outputs of its drawn slices."""
    p = softmax(raw[:, :4])
    org = raw[:, 4 + n_sub:4 + n_sub + n_org]
    m, lv = raw[:, -2], np.clip(raw[:, -1], *LOGVAR_RANGE)
    f = {"z": mean_log_probs(p),
         "frac": np.bincount(p.argmax(1), minlength=4) / len(p),
         "sub": softmax(raw[:, 4:4 + n_sub]).mean(0),
         "sec": np.array([m.mean(), m.std(), lv.mean()]),
         "org": np.concatenate([org.mean(0), org.min(0), org.max(0)])}
    return np.concatenate([f[k] for k in parts])


def drawn(raw: np.ndarray, key: str, draw: int, n_sub: int, n_org: int) -> tuple[np.ndarray, Vote]:
    """The features and the vote of one series' slices at one draw (``ctphase evaluate``'s draw)."""
    idx = sample_slices(raw.shape[0], DEFAULT_SAMPLE_RATE, DEFAULT_MIN_SLICES, series_seed(draw, str(key)))
    return features(raw[idx], n_sub, n_org), majority_vote(softmax(raw[idx, :4]))


def draw_table(raws, keys, draw: int, n_sub: int, n_org: int) -> tuple[np.ndarray, np.ndarray]:
    """Features and vote labels of every series at one draw."""
    rows = [drawn(raw, key, draw, n_sub, n_org) for raw, key in zip(raws, keys)]
    return np.array([x for x, _ in rows]), np.array([v.label for _, v in rows])


def raw_outputs(clf, stacks) -> list[np.ndarray]:
    """Every column the network gives for each ``(N, H, W)`` HU stack."""
    out = []
    for hu in stacks:
        x = clf.preprocessing(hu)
        out.append(np.concatenate([clf._raw(x[j:j + 16]) for j in range(0, len(x), 16)]))
    return out


def synthetic(clf, start: int, n: int):
    """Raw outputs, labels and scan ids of ``n`` synthetic patients' scans (32 slices each, as evaluate)."""
    from ctphase.data import synthetic_scans

    scans = synthetic_scans(range(start, start + n), size=max(256, clf.preprocessing.size), slices_per_scan=32)
    return raw_outputs(clf, (s.read() for s in scans)), np.array([int(s.label) for s in scans]), [s.scan_id for s in scans]


def main() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from ctphase.inference import Classifier
    from ctphase.models.checkpoint import resolve_checkpoint
    from ctphase.phases import PHASE_NAMES

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="checkpoint (default: the bundled model)")
    ap.add_argument("--fit-patients", type=int, default=500, help="fit patients from 300000")
    ap.add_argument("--draws", type=int, default=5)
    ap.add_argument("--C", type=float, default=0.1, help="inverse L2 strength of the logistic regression")
    ap.add_argument("--realdata", type=Path, default=None)
    args = ap.parse_args()
    clf = Classifier(resolve_checkpoint(args.model), engine="onnx", threads=1)
    heads = clf.checkpoint.heads
    n_sub, n_org = len(heads.subphases), len(heads.organs)
    fit = synthetic(clf, 300000, args.fit_patients)
    xs = np.concatenate([draw_table(fit[0], fit[2], 100 + d, n_sub, n_org)[0] for d in range(3)])
    reader = make_pipeline(StandardScaler(), LogisticRegression(C=args.C, max_iter=3000)).fit(xs, np.tile(fit[1], 3))
    for name, start, n in (("selection", 110000, 100), ("test", 200000, 50)):
        raws, y, keys = synthetic(clf, start, n)
        tabs = [draw_table(raws, keys, d, n_sub, n_org) for d in range(args.draws)]
        for what, preds in (("vote", [v for _, v in tabs]), ("reader", [reader.predict(x) for x, _ in tabs])):
            macro = np.mean([f1_score(y, p, average="macro") for p in preds])
            per = np.mean([f1_score(y, p, average=None, labels=range(4)) for p in preds], axis=0)
            print(f"{name:9s} {what:6s} scan macro F1 {macro:.3f} (nc / art / ven / oth "
                  f"{' / '.join(f'{v:.3f}' for v in per)}), mean of {args.draws} draws", flush=True)
    if args.realdata:
        _real(clf, reader, args.realdata, n_sub, n_org, PHASE_NAMES)


def _real(clf, reader, root: Path, n_sub: int, n_org: int, names) -> None:
    from real_labels import real_rows

    from ctphase.io.discover import discover

    print(f"{'real series':36s} vote: right of {REAL_DRAWS}, smallest share | reader: right of {REAL_DRAWS}, "
          "smallest / mean p(truth)")
    for row in real_rows(root):
        (s,) = discover([root / row["folder"]]).series
        (raw,) = raw_outputs(clf, [np.concatenate(list(s.iter_slices(np.arange(s.n_slices), 32)))])
        truth, right, share, p = names.index(row["phase"]), 0, [], []
        for d in range(REAL_DRAWS):
            x, v = drawn(raw, s.series_id, d, n_sub, n_org)
            right += v.label == truth
            share.append(v.fractions[truth])
            p.append(reader.predict_proba(x[None])[0])
        p = np.array(p)
        print(f"{row['name']:36s} {right:2d} {min(share):.2f} | {(p.argmax(1) == truth).sum():2d} "
              f"{p[:, truth].min():.2f} / {p[:, truth].mean():.2f}")


if __name__ == "__main__":
    main()
