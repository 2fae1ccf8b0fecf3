"""How much of the synthetic task can intensity cues solve? Organ-HU readers against the model.

Issue 12 asks for scan macro F1 >= 0.95 on held-out synthetic patients; the model gets about
0.89. This benchmark tells whether the engine's images hold enough to get there (the engine is
the limit) or whether the image model reads them too coarsely (the model is the limit). It
measures, side by side on the same held-out patients:

* **volume oracle**: gradient boosting on each series' true tissue HU table
  (:func:`ctphase.synth.physiology.tissue_tables`: every organ, noiseless, whole volume);
* **slice reader**: gradient boosting on one slice's organ medians, read from the rendered
  image (noise, blur, partial volume, streaks and the uncommon conditions included) inside the
  engine's own tissue masks (eroded by one pixel; an organ absent from the slice is missing),
  then the series voted as ``ctphase predict`` votes (majority of a seeded R = 30% of its slices);
* **series reader**: gradient boosting on the organ medians and maxima pooled over the series' voted
  slices (what one slice misses, another may show: kidneys, bladder, hepatic veins);
* **model**: the checkpoint (default: the bundled model) on the very same rendered slices and votes,
  and with the voted slices' mean log probability in place of the vote (a soft vote).

The readers know where each organ is, which the model must find for itself, so they bound
what reading organ intensities can give, not what a CNN will reach. Readers are trained on
synthetic patients ``--train-patients`` (disjoint from the evaluated ones).

    python benchmarks/synth_ceiling.py --patients 100 --patient-offset 110000
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import f1_score

from ctphase.evaluation.scan_level import vote_scans
from ctphase.models.calibration import mean_log_probs
from ctphase.phases import PHASE_NAMES, Phase
from ctphase.sampling import DEFAULT_SAMPLE_RATE
from ctphase.synth import Tissue, render_slices
from ctphase.synth.physiology import tissue_tables
from ctphase.synth.stream import draw_series, sample_z

T = Tissue
READ = [T.AORTA, T.ARTERY, T.HEART_LEFT, T.HEART_RIGHT, T.PORTAL_VEIN, T.HEPATIC_VEIN, T.LIVER_PORTAL_BRANCH,
        T.LIVER_HEPATIC_BRANCH, T.IVC_INFRARENAL, T.RENAL_VEIN, T.VEIN_PERIPHERAL, T.LIVER, T.SPLEEN, T.PANCREAS,
        T.KIDNEY_CORTEX, T.KIDNEY_MEDULLA, T.RENAL_PELVIS, T.BLADDER, T.BLADDER_CONTRAST, T.MUSCLE, T.BOWEL_WALL,
        T.MYOCARDIUM, T.ADRENAL]
"""Tissues whose median HU the slice reader reads (those with a contrast curve)."""
MIN_PIXELS = 4
KERNEL = np.ones((3, 3), np.uint8)


def volume_features(seed: int, patients: range) -> tuple[np.ndarray, np.ndarray]:
    """True tissue HU table (+ scalar effects) of each (patient, phase) series; labels."""
    x, y = [], []
    for p in patients:
        for ph in Phase:
            patient, series, _ = draw_series(seed, p, ph)
            hu, _, extra = tissue_tables(patient, series)
            x.append(np.concatenate([hu, [extra["spleen_het"], extra["ivc_mix"], extra["bladder_contrast"]]]))
            y.append(int(series.label))
    return np.asarray(x), np.asarray(y)


def slice_features(hu: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """``(n, len(READ))`` median HU of each read tissue per slice inside its eroded mask (NaN: absent)."""
    out = np.full((len(hu), len(READ)), np.nan, np.float32)
    for j in range(len(hu)):
        for k, t in enumerate(READ):
            m = masks[j] == t
            if m.sum() < MIN_PIXELS:
                continue
            m = cv2.erode(m.astype(np.uint8), KERNEL).astype(bool)
            if m.sum() >= MIN_PIXELS:
                out[j, k] = np.median(hu[j][m])
    return out


def render_series(seed: int, patients: range, n_slices: int, size: int, keep_images: bool):
    """Yield ``(scan_id, label, hu or None, features)`` for each (patient, phase)."""
    for p in patients:
        for ph in Phase:
            patient, series, srng = draw_series(seed, p, ph)
            z = sample_z(srng, series, n_slices)
            hu, masks = render_slices(patient, series, z, size, return_masks=True)
            yield f"synth/{p}/{ph.label}", int(series.label), (hu if keep_images else None), slice_features(hu, masks)


def pooled(features: np.ndarray) -> np.ndarray:
    """Per tissue, the median and the maximum over the slices that show it (NaN where none does)."""
    out = np.full(2 * features.shape[1], np.nan, np.float32)
    seen = ~np.all(np.isnan(features), axis=0)
    out[: features.shape[1]][seen] = np.nanmedian(features[:, seen], axis=0)
    out[features.shape[1]:][seen] = np.nanmax(features[:, seen], axis=0)
    return out


def f1_line(name: str, y: np.ndarray, pred: np.ndarray) -> str:
    per = f1_score(y, pred, average=None, labels=range(len(PHASE_NAMES)))
    return f"{name:36s} {f1_score(y, pred, average='macro'):.3f}   " + " / ".join(f"{v:.3f}" for v in per)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patients", type=int, default=100, help="held-out synthetic patients evaluated (4 scans each)")
    ap.add_argument("--patient-offset", type=int, default=110000, help="first evaluated patient (110000: the selection set)")
    ap.add_argument("--train-patients", type=int, default=1000, help="patients the slice reader learns from (0..N-1)")
    ap.add_argument("--volume-train-patients", type=int, default=6000, help="patients the volume oracle learns from")
    ap.add_argument("--train-slices", type=int, default=8, help="slices per training series for the slice reader")
    ap.add_argument("--slices-per-scan", type=int, default=32)
    ap.add_argument("--size", type=int, default=256, help="render size (ctphase evaluate renders at max(256, model size))")
    ap.add_argument("--sample-rate", type=float, default=DEFAULT_SAMPLE_RATE)
    ap.add_argument("--model", default=None, help="checkpoint for the side-by-side model row (default: the bundled model; 'none' skips it)")
    ap.add_argument("--seed", type=int, default=0, help="synthetic population")
    a = ap.parse_args()
    test = range(a.patient_offset, a.patient_offset + a.patients)
    if a.patient_offset < a.train_patients or a.patient_offset < a.volume_train_patients:
        ap.error("--patient-offset must lie above the training patients")
    t0 = time.perf_counter()

    xv, yv = volume_features(a.seed, range(a.volume_train_patients))
    volume = HistGradientBoostingClassifier(max_iter=400, random_state=0).fit(xv, yv)
    xt, yt = volume_features(a.seed, test)
    rows = [f1_line("volume oracle (true HU tables)", yt, volume.predict(xt))]

    feats, labels = [], []
    for _, label, _, f in render_series(a.seed, range(a.train_patients), a.train_slices, a.size, False):
        feats.append(f)
        labels.append(label)
    slice_labels = np.repeat(labels, a.train_slices)
    reader = HistGradientBoostingClassifier(max_iter=400, random_state=0).fit(np.concatenate(feats), slice_labels)
    series_reader = HistGradientBoostingClassifier(max_iter=400, random_state=0).fit(
        np.stack([pooled(f) for f in feats]), np.asarray(labels))
    t_train = time.perf_counter() - t0

    clf = None
    if a.model != "none":
        from ctphase.inference import Classifier
        from ctphase.models.checkpoint import resolve_checkpoint

        clf = Classifier(resolve_checkpoint(a.model), threads=1)
    ids, y, test_feats, reader_probs, model_probs = [], [], [], [], []
    for sid, label, hu, f in render_series(a.seed, test, a.slices_per_scan, a.size, clf is not None):
        ids.append(sid)
        y.append(label)
        test_feats.append(f)
        reader_probs.append(reader.predict_proba(f))
        if clf is not None:
            model_probs.append(np.asarray(clf.predict_hu_outputs(hu)[0].probs, np.float64))
    y = np.asarray(y)
    y_slices = np.repeat(y, a.slices_per_scan)
    # ctphase predict's seeded draw and majority vote; every voter sees the same slices of a series
    reader_votes = vote_scans(reader_probs, a.sample_rate, scan_ids=ids)
    pooled_test = np.stack([pooled(f[idx]) for f, idx in zip(test_feats, reader_votes.sampled)])
    rows.append(f1_line("slice reader: slices", y_slices, np.concatenate(reader_probs).argmax(1)))
    rows.append(f1_line(f"slice reader: series at R={a.sample_rate:g}", y, reader_votes.labels))
    rows.append(f1_line(f"series reader: series at R={a.sample_rate:g}", y, series_reader.predict(pooled_test)))
    if clf is not None:
        model_votes = vote_scans(model_probs, a.sample_rate, scan_ids=ids)
        soft = [mean_log_probs(p[idx]).argmax() for p, idx in zip(model_probs, model_votes.sampled)]
        rows.append(f1_line("model: slices", y_slices, np.concatenate(model_probs).argmax(1)))
        rows.append(f1_line(f"model: series at R={a.sample_rate:g}", y, model_votes.labels))
        rows.append(f1_line("model: series, mean log probability", y, np.asarray(soft)))

    print(f"held-out synthetic patients {test.start}..{test.stop - 1} ({len(y)} series, {len(y_slices)} slices); "
          f"readers trained on {len(slice_labels)} slices of patients 0..{a.train_patients - 1}, volume oracle on "
          f"{len(yv)} series; {t_train:.0f} s to train, {time.perf_counter() - t0:.0f} s in all")
    print(f"{'':36s} macro F1   F1 " + " / ".join(PHASE_NAMES))
    for r in rows:
        print(r)


if __name__ == "__main__":
    main()
