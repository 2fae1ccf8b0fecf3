"""What a network's organ enhancement head reads, on held-out synthetic slices and on real ones.

A network trained with ``ctphase train --heads --organ-head`` regresses, on every slice, the HU of
the aorta, portal and hepatic veins, IVC, liver, spleen, kidneys and bladder (a training-only
output that prediction ignores). This benchmark reads that output back:

* synthetic: held-out patients (default 110000.., the selection set), every phase, a few slices
  per series at random z; per organ, the mean absolute error against the engine's value on the
  slices that show the organ, and the mean read and true HU per phase for the vessels;
* real: the hand-placed ROIs of ``benchmarks/synth_realism.py`` on the series of
  ../shared/realdata; per ROI, the ROI's median HU against what the head reads on that slice;
* ``--whole NAME``: the median read of every organ over 24 slices spread along a whole real series
  (for series without ROIs, such as the PET/CT one; reads of organs a slice does not show are the
  network's extrapolation, see :func:`organ_reads`).

Where the head reads a real organ far from its ROI, the network sees that organ differently from
the engine's: a concrete place where synthetic and real CT part.

    python benchmarks/organ_readout.py --model runs/x/best.safetensors --patients 50
    python benchmarks/organ_readout.py --model M --patients 0 --whole ts_petct_dicom_venous --whole rctt2022_eqp_other
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from ctphase.models.checkpoint import build_model, load_checkpoint
from ctphase.models.heads import ORGAN_HU_CENTER, ORGAN_HU_SCALE
from ctphase.phases import PHASE_NAMES
from ctphase.synth.render import render_slices
from ctphase.synth.stream import draw_series, organ_tissues, sample_z, visible_organ_hu

from real_labels import REALDATA
from synth_realism import REAL_PHASE, REAL_ROIS, load_real, roi_median, roi_slice


def organ_reads(model: torch.nn.Module, ckpt, hu: np.ndarray) -> np.ndarray:
    """``(N, O)`` organ HU the head reads on HU slices ``(N, H, W)`` (the checkpoint's preprocessing).

    Every organ gets a read on every slice, also where the slice does not show it: the head was trained
    only on slices that show the organ, so such reads are extrapolations. Mask them by what the slice
    shows (the synthetic table keeps only slices whose true HU is finite; the real table reads ROIs).
    """
    x = torch.from_numpy(ckpt.preprocessing(hu))
    with torch.inference_mode():
        out = model(x).float().numpy()
    return out[:, ckpt.heads.organ_columns(len(ckpt.class_names))] * ORGAN_HU_SCALE + ORGAN_HU_CENTER


def synthetic(model: torch.nn.Module, ckpt, patients: range, slices: int) -> None:
    organs = ckpt.heads.organs
    tissues = organ_tissues(organs)
    reads, truth, phases = [], [], []
    for i in patients:
        for phase in PHASE_NAMES:
            patient, series, srng = draw_series(0, i, phase, epoch=0)
            z = sample_z(srng, series, slices)
            hu, masks = render_slices(patient, series, z, ckpt.preprocessing.size, return_masks=True)
            truth.append(visible_organ_hu(patient, series, masks, tissues))
            reads.append(organ_reads(model, ckpt, hu))
            phases += [phase] * len(z)
    t, r, ph = np.concatenate(truth), np.concatenate(reads), np.array(phases)
    print(f"synthetic: patients {patients.start}..{patients.stop - 1}, 4 phases, {slices} slices each ({len(t)} slices)")
    print(f"{'organ':16s} {'slices':>6s} {'MAE HU':>7s} {'r':>5s}   " + "   ".join(f"{p[:8]:>15s}" for p in PHASE_NAMES))
    print(f"{'':16s} {'':>6s} {'':>7s} {'':>5s}   " + "   ".join(f"{'true | read':>15s}" for _ in PHASE_NAMES))
    for j, name in enumerate(organs):
        seen = np.isfinite(t[:, j])
        if seen.sum() < 3:
            continue
        mae = float(np.mean(np.abs(r[seen, j] - t[seen, j])))
        varies = np.std(t[seen, j]) > 0 and np.std(r[seen, j]) > 0
        corr = f"{np.corrcoef(r[seen, j], t[seen, j])[0, 1]:5.2f}" if varies else "    -"
        cells = []
        for p in PHASE_NAMES:
            m = seen & (ph == p)
            cells.append(f"{np.mean(t[m, j]):6.0f} | {np.mean(r[m, j]):6.0f}" if m.any() else f"{'-':>15s}")
        print(f"{name:16s} {int(seen.sum()):6d} {mae:7.1f} {corr}   " + "   ".join(cells))


def real(model: torch.nn.Module, ckpt, realdata: Path) -> None:
    organs = list(ckpt.heads.organs)
    print(f"\nreal: hand-placed ROIs of benchmarks/synth_realism.py on {realdata} (median HU in the ROI | the head's read)")
    for folder, rois in REAL_ROIS.items():
        if not (realdata / folder).is_dir():
            print(f"{folder}: not found, skipped")
            continue
        vol, z, _ = load_real(realdata / folder)
        reads: dict[int, np.ndarray] = {}  # the head's reads per slice (several ROIs share a slice)
        cells = []
        for tissue, roi in rois.items():
            if tissue not in organs:
                continue
            i = roi_slice(z, roi)
            if i not in reads:
                reads[i] = organ_reads(model, ckpt, vol[i][None])[0]
            cells.append(f"{tissue} {roi_median(vol[i], roi):.0f} | {reads[i][organs.index(tissue)]:.0f}")
            if tissue == "renal_pelvis" and "urine_contrast" in organs:  # the real ROIs sit on excreted contrast
                cells[-1] += f" (urine_contrast {reads[i][organs.index('urine_contrast')]:.0f})"
        print(f"{folder} ({REAL_PHASE[folder]}): " + ", ".join(cells))


def whole(model: torch.nn.Module, ckpt, folder: Path, slices: int = 24) -> None:
    """Median read of each organ over ``slices`` slices spread evenly along a real series."""
    vol, _, _ = load_real(folder)
    idx = np.unique(np.linspace(0, len(vol) - 1, min(slices, len(vol))).round().astype(int))
    reads = np.median(organ_reads(model, ckpt, vol[idx]), axis=0)
    cells = ", ".join(f"{o} {v:.0f}" for o, v in zip(ckpt.heads.organs, reads))
    print(f"{folder.name} ({len(idx)} of {len(vol)} slices, median read): {cells}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="a checkpoint trained with --heads --organ-head")
    ap.add_argument("--patients", type=int, default=50)
    ap.add_argument("--patient-offset", type=int, default=110000)
    ap.add_argument("--slices", type=int, default=8, help="slices per synthetic series")
    ap.add_argument("--realdata", type=Path, default=REALDATA)
    ap.add_argument("--whole", action="append", default=[], metavar="NAME",
                    help="a series folder of --realdata: median read per organ over its whole stack, instead of the ROI table (repeatable)")
    a = ap.parse_args()
    ckpt = load_checkpoint(a.model)
    if ckpt.heads is None or not ckpt.heads.organs:
        sys.exit(f"{a.model}: this network has no organ enhancement head (train with --heads --organ-head)")
    torch.manual_seed(0)
    model = build_model(ckpt).eval()
    if a.patients > 0:
        synthetic(model, ckpt, range(a.patient_offset, a.patient_offset + a.patients), a.slices)
    if not a.realdata.is_dir():
        print(f"\nreal: {a.realdata} not found, skipped")
    elif a.whole:
        print(f"\nwhole real series of {a.realdata}:")
        for name in a.whole:
            if (a.realdata / name).is_dir():
                whole(model, ckpt, a.realdata / name)
            else:
                print(f"{name}: not found in {a.realdata}, skipped")
    else:
        real(model, ckpt, a.realdata)


if __name__ == "__main__":
    main()
