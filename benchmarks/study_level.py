"""Series alone against study level (and study level + headers), on held-out synthetic studies and real CT.

Writes realistic synthetic studies (``ctphase synth --studies realistic``; held-out patients,
default 400000.., never used to fit the study terms or the calibration) as DICOM, classifies
every series once with the bundled model, then runs the study step in several variants on
copies of the same series-alone answers, in one run:

* ``series alone``            each series' own answer (``--no-study``: its vote, or the model's series reader);
* ``study``                   joint assignment, header channel off (the default of ``ctphase predict``);
* ``study, order taken as certain``  the study model without its doubt about each acquisition's place
  (``order_doubt`` 0, the step before that doubt);
* ``study + headers``         ``--use-headers``;
* ordering ablations of ``study``: ``times only``, ``no times`` (AcquisitionNumber and
  SeriesNumber, as de-identified archives keep them), ``AcquisitionNumber only``,
  ``SeriesNumber only`` and ``no order`` (the other ordering tags removed from every series).

For each: accuracy, macro F1 (95% CI by bootstrap over patients), per-class F1; ECE of the
series-alone probabilities before and after the checkpoint's calibration; accuracy at
100/95/90/80% coverage by final confidence; the answers wrong at confidence >= 0.95; the study
step's time against the time of classifying. ``--realdata DIR`` adds the real series (labels from DIR/labels.csv), per series.

Usage::

    python benchmarks/study_level.py --patients 40                 # ~10-15 min on 2 cores
    python benchmarks/study_level.py --patients 8 --matrix 128     # quick look
    python benchmarks/study_level.py --realdata ../shared/realdata --patients 40
"""

from __future__ import annotations

import argparse
import copy
import csv
import tempfile
import time
from pathlib import Path

import numpy as np

from ctphase.evaluation.bootstrap import bootstrap_ci
from ctphase.evaluation.calibration import expected_calibration_error, risk_coverage
from ctphase.evaluation.metrics import classification_metrics, macro_f1
from ctphase.inference import Classifier
from ctphase.io import discover
from ctphase.models.calibration import softmax
from ctphase.models.checkpoint import resolve_checkpoint
from ctphase.phases import PHASE_NAMES
from ctphase.pipeline import iter_classify, study_step
from ctphase.study.params import load_params

from real_labels import real_rows

TIME_KEYS = ("AcquisitionTime", "AcquisitionDateTime", "SeriesTime", "ContentTime", "AcquisitionDate",
             "SeriesDate", "ContentDate", "ContrastBolusStartTime")
SURE = 0.95
"""Confidence at or above which a wrong answer counts as confidently wrong."""
ABLATIONS = {
    "times only": ("AcquisitionNumber", "SeriesNumber"),
    "no times (AcquisitionNumber + SeriesNumber)": TIME_KEYS,
    "AcquisitionNumber only": (*TIME_KEYS, "SeriesNumber"),
    "SeriesNumber only": (*TIME_KEYS, "AcquisitionNumber"),
    "no order": (*TIME_KEYS, "AcquisitionNumber", "SeriesNumber"),
}


class Recorder:
    """The classifier as ``ctphase predict`` uses it (heads, series reader), keeping each series' mean slice
    log-probabilities (for the uncalibrated ECE) and, with a series reader, its probabilities."""

    def __init__(self, clf: Classifier) -> None:
        self.clf, self.sha256, self.preprocessing, self.z, self.read_p = clf, clf.sha256, clf.preprocessing, [], []
        self.series_reader = None if clf.series_reader is None else self  # pipeline calls self.read(outputs)

    def predict_hu(self, hu):  # noqa: ANN001, ANN201
        return self.clf.predict_hu(hu)

    def predict_hu_outputs(self, hu):  # noqa: ANN001, ANN201
        return self.clf.predict_hu_outputs(hu)

    def series_timing(self, outputs, label=None):  # noqa: ANN001, ANN201
        return self.clf.series_timing(outputs, label)

    def read(self, outputs) -> np.ndarray:  # noqa: ANN001
        self.z.append(np.mean(np.log(np.maximum(outputs.probs, 1e-6)), axis=0))
        self.read_p.append(self.clf.series_reader.read(outputs))
        return self.read_p[-1]

    def series_probabilities(self, slice_probs: np.ndarray) -> np.ndarray:
        self.z.append(np.mean(np.log(np.maximum(slice_probs, 1e-6)), axis=0))
        return self.clf.series_probabilities(slice_probs)


def truth_of(manifest: Path) -> dict[str, tuple[str, str]]:
    """SeriesInstanceUID -> (label, patient) from a synth manifest."""
    with open(manifest, newline="") as f:
        return {r["series_id"]: (r["label"], r["patient_id"]) for r in csv.DictReader(f)}


def classify_once(root: Path, model: Path | None = None) -> tuple[list, list, Recorder, float]:
    found = discover([root])
    rec = Recorder(Classifier(resolve_checkpoint(model), device="cpu"))
    t0 = time.perf_counter()
    preds = list(iter_classify(found.series, rec, seed=0))
    return found.series, preds, rec, time.perf_counter() - t0


def run_variant(series, preds, *, joint=True, use_headers=False, drop=(), params=None):  # noqa: ANN001, ANN201
    preds = copy.deepcopy(preds)
    ser = copy.copy(series)
    if drop:
        ser = [copy.copy(s) for s in series]
        for s in ser:
            s.meta = {k: v for k, v in s.meta.items() if k not in drop}
    t0 = time.perf_counter()
    study_step(ser, preds, joint=joint, use_headers=use_headers, params=params)
    return preds, time.perf_counter() - t0


def score(preds, truth) -> dict:  # noqa: ANN001
    rows = [(truth[p.series_uid], p) for p in preds if p.status == "ok" and p.series_uid in truth]
    y = np.array([PHASE_NAMES.index(t[0]) for t, _ in rows])
    final = np.array([PHASE_NAMES.index(p.label) if p.label in PHASE_NAMES else -1 for _, p in rows])
    groups = [t[1] for t, _ in rows]
    yp = np.where(final < 0, (y + 1) % 4, final)  # an "uncertain" answer counts as wrong
    ci = bootstrap_ci(macro_f1, y, yp, groups=groups, n_resamples=1000, seed=0)
    m = classification_metrics(y, yp)
    conf = np.array([p.confidence or 0.0 for _, p in rows])
    rc = risk_coverage(conf, yp == y)
    ece = expected_calibration_error(conf, yp == y)
    sure_wrong = int(np.sum((conf >= SURE) & (yp != y)))
    return {"n": len(y), "acc": float(np.mean(yp == y)), "f1": ci, "per_class": m.per_class, "rc": rc, "ece": ece,
            "sure_wrong": sure_wrong}


def fmt_row(name: str, s: dict, seconds: float) -> str:
    pc = " ".join(f"{s['per_class'][n].f1:.3f}" for n in PHASE_NAMES)
    rc = " ".join(f"{pt.accuracy:.3f}" for pt in s["rc"].points)
    return (f"| {name} | {s['n']} | {s['acc']:.3f} | {s['f1'].format(3)} | {pc} | {rc} | {s['ece']:.3f} "
            f"| {s['sure_wrong']} | {seconds:.3f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=40)
    ap.add_argument("--first", type=int, default=400000, help="first held-out synthetic patient")
    ap.add_argument("--matrix", type=int, default=256)
    ap.add_argument("--max-slices", type=int, default=64)
    ap.add_argument("--realdata", type=Path, default=None)
    ap.add_argument("--keep", type=Path, default=None,
                    help="write the synthetic studies here and keep them; an existing folder written so is reused")
    ap.add_argument("--model", type=Path, default=None, help="checkpoint (default: the bundled model)")
    args = ap.parse_args()
    from ctphase.synth.dataset import generate_dataset

    with tempfile.TemporaryDirectory(prefix="ctphase_study_") as tmp:
        root = args.keep or Path(tmp) / "synth"
        manifest = root / "manifest.csv"
        if not manifest.is_file():
            t0 = time.perf_counter()
            generate_dataset(root, args.patients, seed=0, matrix=args.matrix, max_slices=args.max_slices,
                             first_patient=args.first, studies="realistic")
            print(f"wrote {args.patients} patients' studies in {time.perf_counter() - t0:.0f} s")
        truth = truth_of(manifest)
        series, preds, rec, t_cls = classify_once(root, args.model)
        report(series, preds, rec, truth, t_cls)
    if args.realdata:
        realdata(args.realdata, args.model)


def report(series, preds, rec, truth, t_cls) -> None:  # noqa: ANN001
    ok = [p for p in preds if p.status == "ok" and p.series_uid in truth]
    print(f"\n{len(ok)} labelled axial series classified in {t_cls:.1f} s ({len(preds)} series found)\n")
    print("| variant | series | accuracy | macro F1 [95% CI] | F1 nc art ven oth | acc at 100/95/90/80% | ECE of confidence "
          f"| wrong at confidence >= {SURE} | study step s |")
    print("|---|---|---|---|---|---|---|---|---|")
    certain = load_params()
    certain.order_doubt = 0.0
    variants = {"series alone": {"joint": False}, "study": {}, "study, order taken as certain": {"params": certain},
                "study + headers": {"use_headers": True}}
    variants.update({f"study, {k}": {"drop": v} for k, v in ABLATIONS.items()})
    for name, kw in variants.items():
        out, secs = run_variant(series, preds, **kw)
        print(fmt_row(name, score(out, truth), secs))
    y = np.array([PHASE_NAMES.index(truth[p.series_uid][0]) for p in preds if p.status == "ok" and p.series_uid in truth])
    idx = [i for i, p in enumerate(p for p in preds if p.status == "ok") if p.series_uid in truth]
    z = np.stack([rec.z[i] for i in idx])
    raw = softmax(z)
    cal = np.stack([rec.read_p[i] for i in idx]) if rec.read_p else rec.clf.calibrate(z)
    for name, p in (("uncalibrated (T=1)", raw), ("series reader" if rec.read_p else "calibrated", cal)):
        top = p.argmax(axis=1)
        print(f"series-alone ECE {name}: {expected_calibration_error(p.max(axis=1), top == y):.4f}")
    print(f"study step time / classification time: {100 * secs / max(t_cls, 1e-9):.2f}% (last variant)")


def realdata(folder: Path, model: Path | None = None) -> None:
    from ctphase.pipeline import classify

    labels = {r["folder"]: r["phase"] for r in real_rows(folder)}
    print(f"\nreal series of {folder}:")
    print("| series | truth | series alone | study | study + headers |")
    print("|---|---|---|---|---|")
    runs = {k: classify([folder], model=model, study=j, use_headers=h) for k, j, h in
            (("alone", False, False), ("study", True, False), ("headers", True, True))}
    right = dict.fromkeys(runs, 0)
    for p in runs["alone"]:
        name = Path(p.path).name
        if p.status != "ok" or name not in labels:
            continue
        cells = []
        for k, preds in runs.items():
            q = next(x for x in preds if x.series_id == p.series_id)
            right[k] += q.label == labels[name]
            cells.append(f"{q.label} ({q.confidence:.2f})")
        print(f"| {name} | {labels[name]} | " + " | ".join(cells) + " |")
    print("right: " + ", ".join(f"{k} {v}/{sum(1 for x in runs['alone'] if Path(x.path).name in labels)}" for k, v in right.items()))


if __name__ == "__main__":
    main()
