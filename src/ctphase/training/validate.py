"""Validation during training: the network in eval mode on labelled scans, voted as prediction votes.

Every validation scan's slices are classified, R = ``sample_rate`` of them drawn (seeded by the
scan id, :func:`ctphase.evaluation.scan_level.vote_scans`) and majority-voted; the scan-level
macro F1 selects the best epoch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from ..data import LabelledScan
from ..models.activation import activate
from ..phases import PHASE_NAMES
from ..preprocessing import Preprocessing


@torch.no_grad()
def predict_probs(
    model: nn.Module,
    x: torch.Tensor | np.ndarray,
    activation: str,
    device: torch.device,
    *,
    batch_size: int = 64,
    amp_dtype: torch.dtype | None = None,
    channels_last: bool = False,
) -> np.ndarray:
    """``(N, C, H, W)`` prepared slices -> ``(N, 4)`` float64 phase probabilities (model in eval mode)."""
    model.eval()
    x = torch.as_tensor(x)
    out = []
    for i in range(0, x.shape[0], batch_size):
        xb = x[i : i + batch_size].to(device, non_blocking=True)
        if channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            logits = model(xb)
        phase_logits = logits[:, : len(PHASE_NAMES)]  # a network with heads puts them after the phases
        out.append(activate(phase_logits.float().cpu().numpy(), activation).astype(np.float64))
    return np.concatenate(out) if out else np.zeros((0, len(PHASE_NAMES)))


def validate(
    model: nn.Module,
    scans: Sequence[LabelledScan],
    preprocessing: Preprocessing,
    activation: str,
    device: torch.device,
    *,
    slices_per_scan: int = 0,
    sample_rate: float = 0.3,
    seed: int = 0,
    batch_size: int = 64,
    amp_dtype: torch.dtype | None = None,
    channels_last: bool = False,
) -> dict[str, float]:
    """Slice- and scan-level accuracy and macro F1 (and slice NLL) of ``model`` on ``scans``.

    Args:
        slices_per_scan: classify this many evenly spread slices per scan (0: all).
        sample_rate, seed: the vote's R and seed (each scan's draw is keyed by its id).
    Returns:
        ``val_slices``, ``val_scans``, ``val_nll``, ``val_slice_acc``, ``val_slice_f1``,
        ``val_scan_acc``, ``val_scan_f1``.
    """
    from ..evaluation.metrics import macro_f1
    from ..evaluation.scan_level import vote_scans

    probs, slice_true = [], []
    for s in scans:
        x = preprocessing(s.read_spread(slices_per_scan))
        p = predict_probs(model, x, activation, device, batch_size=batch_size, amp_dtype=amp_dtype, channels_last=channels_last)
        probs.append(p)
        slice_true.append(np.full(len(p), int(s.label), dtype=np.int64))
    yt = np.concatenate(slice_true)
    all_p = np.concatenate(probs)
    yp = all_p.argmax(axis=1)
    eps = 1e-7
    nll = float(-np.mean(np.log(np.clip(all_p[np.arange(len(yt)), yt], eps, 1.0))))
    votes = vote_scans(probs, sample_rate, seed=seed, scan_ids=[s.scan_id for s in scans])
    st = np.array([int(s.label) for s in scans], dtype=np.int64)
    return {
        "val_slices": int(len(yt)),
        "val_scans": len(scans),
        "val_nll": nll,
        "val_slice_acc": float(np.mean(yp == yt)),
        "val_slice_f1": macro_f1(yt, yp),
        "val_scan_acc": float(np.mean(votes.labels == st)),
        "val_scan_f1": macro_f1(st, votes.labels),
    }
