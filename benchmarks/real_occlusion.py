"""Where a model looks on the real series: de-enhancement occlusion of the slices it votes with.

For each real series of a labelled folder such as ../shared/realdata, the slices that
``ctphase predict`` draws at seed 0 (R = 30%) are classified whole, then once per square patch
(``--patch`` pixels, stride half of it) with the patch *de-enhanced*: every pixel above
``--ceiling`` HU (40: unenhanced soft tissue) is set to it, so air, fat and unenhanced tissue stay
and only contrast is taken away (bone too: its patches weigh for or against whatever phase the
model read from bone, so red or blue on the spine says little). Occlusion sensitivity (Zeiler & Fergus, ECCV 2014)
with a fill that asks the question this task poses: which enhancing structures carry the call.

Printed per series: the truth, the share of the voted slices whose own label is right, the mean
probability of the truth, the same with each whole slice de-enhanced (what is left without any
contrast: it should be ``non_contrast``-like), and the three patches whose de-enhancement lowers
the truth's probability most (its support), with where they are (row and column as fractions of
the image, 0 = top / left (anterior / patient right), and the slice's position in the stack, 0 =
the first along its normal: the lowest in the usual axial stacks) and the median HU of their enhanced pixels. Also the slices that vote against the truth
and where they lie. ``--png`` draws, per series, the voted slice most against the truth (or the
least sure), windowed 50/400, with the map of support (red) and opposition (blue). Where in the
stack the wrong slices lie, over every slice: ``benchmarks/errors_by_position.py``. Twelve series
are a sanity check, not an evaluation.

Usage::

    python benchmarks/real_occlusion.py                                  # bundled default model
    python benchmarks/real_occlusion.py --model runs/x/best.safetensors --png occ.png --json occ.json
    python benchmarks/real_occlusion.py --series hcc005_s1_s103_venous --png occ.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ctphase.inference import Classifier
from ctphase.models.checkpoint import resolve_checkpoint
from ctphase.phases import PHASE_NAMES
from ctphase.pipeline import classify

from real_labels import REALDATA, real_rows


def de_enhance(hu: np.ndarray, ceiling: float, box: tuple[slice, slice] | None = None) -> np.ndarray:
    """A copy of slice ``hu`` with every pixel above ``ceiling`` HU set to it (inside ``box`` only when given)."""
    out = hu.copy()
    region = out if box is None else out[box]
    np.minimum(region, ceiling, out=region)
    return out


def patch_boxes(shape: tuple[int, int], patch: int) -> list[tuple[slice, slice]]:
    """Square patches of side ``patch`` at stride ``patch // 2`` covering an image of ``shape``."""
    step = max(1, patch // 2)
    rows = sorted({*range(0, max(1, shape[0] - patch + 1), step), max(0, shape[0] - patch)})
    cols = sorted({*range(0, max(1, shape[1] - patch + 1), step), max(0, shape[1] - patch)})
    return [(slice(r, r + patch), slice(c, c + patch)) for r in rows for c in cols]


def occlusion_map(clf: Classifier, hu: np.ndarray, truth: int, patch: int,
                  ceiling: float) -> tuple[list[tuple[slice, slice]], np.ndarray, np.ndarray]:
    """The patches (:func:`patch_boxes`), per patch the drop of the truth's probability when it is
    de-enhanced, and the map (mean drop per pixel)."""
    boxes = patch_boxes(hu.shape, patch)
    probs, _, _ = clf.predict_hu(np.stack([de_enhance(hu, ceiling, b) for b in boxes]))
    base, _, _ = clf.predict_hu(hu[None])
    drops = base[0, truth] - probs[:, truth]
    total, cover = np.zeros(hu.shape, np.float64), np.zeros(hu.shape, np.float64)
    for b, d in zip(boxes, drops):
        total[b] += d
        cover[b] += 1
    return boxes, drops, total / np.maximum(cover, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--realdata", type=Path, default=REALDATA)
    ap.add_argument("--series", nargs="+", default=None, help="folders of the labels file to run (default: all)")
    ap.add_argument("--patch", type=int, default=64, help="patch side in image pixels (stride: half of it)")
    ap.add_argument("--ceiling", type=float, default=40.0, help="HU that de-enhanced pixels are capped at")
    ap.add_argument("--png", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    rows = real_rows(args.realdata, args.series)
    clf = Classifier(resolve_checkpoint(args.model))
    out, panels = [], []
    print(f"{'series':<36}{'truth':<14}{'slices right':>13}{'p(truth)':>9}{'no contrast':>12}"
          "  support: top patches (row, col, stack position, median HU of their enhanced pixels)")
    for row in rows:
        folder = args.realdata / row["folder"]
        read: dict = {}
        (pred,) = [p for p in classify([folder], model=args.model, seed=0, early_stop=False, read=read) if p.status == "ok"]
        series = read[(pred.series_id, pred.path)]
        idx = np.asarray(pred.sampled_indices)
        hu = series.read_slices(idx)
        truth = PHASE_NAMES.index(row["phase"])
        base, _, _ = clf.predict_hu(hu)
        bare, _, _ = clf.predict_hu(np.stack([de_enhance(h, args.ceiling) for h in hu]))
        right = base.argmax(1) == truth
        best: list[tuple[float, float, float, float, float]] = []
        maps = []
        for h, z in zip(hu, idx):
            boxes, drops, emap = occlusion_map(clf, h, truth, args.patch, args.ceiling)
            maps.append(emap)
            for b, d in zip(boxes, drops):
                enhanced = h[b][h[b] > args.ceiling]
                best.append((float(d), (b[0].start + args.patch / 2) / h.shape[0], (b[1].start + args.patch / 2) / h.shape[1],
                             z / max(1, series.n_slices - 1), float(np.median(enhanced)) if enhanced.size else float("nan")))
        best.sort(key=lambda t: -t[0])
        top = "; ".join(f"-{d:.2f} at ({r:.2f}, {c:.2f}, {zf:.2f}) {m:.0f} HU" for d, r, c, zf, m in best[:3])
        print(f"{row['name']:<36}{row['phase']:<14}{f'{right.sum()}/{len(right)}':>13}{base[:, truth].mean():>9.2f}"
              f"{bare[:, truth].mean():>12.2f}  {top}")
        against = [(int(z), PHASE_NAMES[int(base[i].argmax())]) for i, z in enumerate(idx) if not right[i]]
        if against:
            print(f"{'':<36}slices against the truth (index of {series.n_slices}, label): "
                  + ", ".join(f"{z} {lab}" for z, lab in against))
        pick = int(np.argmin(base[:, truth]))
        panels.append((row["name"], row["phase"], hu[pick], maps[pick], int(idx[pick]), float(base[pick, truth])))
        out.append({"name": row["name"], "truth": row["phase"], "n_slices": series.n_slices, "slices": idx.tolist(),
                    "slice_labels": [PHASE_NAMES[int(k)] for k in base.argmax(1)], "slices_right": int(right.sum()),
                    "p_truth_mean": float(base[:, truth].mean()), "p_truth_no_contrast": float(bare[:, truth].mean()),
                    "no_contrast_labels": [PHASE_NAMES[int(k)] for k in bare.argmax(1)],
                    "top_support": [dict(zip(("drop", "row", "col", "stack_position", "median_enhanced_hu"), t)) for t in best[:10]],
                    "slices_against": against})
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    if args.png:
        _draw(panels, args.png)


def _draw(panels: list[tuple[str, str, np.ndarray, np.ndarray, int, float]], path: Path) -> None:
    """One panel per series: its least-sure voted slice (50/400) under the support (red) / opposition (blue) map."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(panels)
    cols = min(4, n)
    fig, axes = plt.subplots((n + cols - 1) // cols, cols, figsize=(3.2 * cols, 3.5 * ((n + cols - 1) // cols)), squeeze=False)
    lim = max(1e-3, max(float(np.abs(m).max()) for *_, m, _, _ in panels))
    for ax, (name, truth, hu, emap, z, p) in zip(axes.flat, panels):
        ax.imshow(np.clip((hu - (50 - 200)) / 400, 0, 1), cmap="gray")
        ax.imshow(emap, cmap="bwr", vmin=-lim, vmax=lim, alpha=0.45)
        ax.set_title(f"{name[:30]}\n{truth}, slice {z}, p = {p:.2f}", fontsize=7)
    for ax in axes.flat:
        ax.axis("off")
    fig.suptitle(f"de-enhancement occlusion: red = supports the truth, blue = against (|max| {lim:.2f})", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
