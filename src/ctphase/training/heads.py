"""Training the auxiliary heads (:mod:`ctphase.models.heads`): their loss, first bias and warm start.

Loss of a network with heads, per batch::

    phase_loss(logits[:, :4], y) + w * (CE(subphase logits, subphase) + NLL(seconds) [+ organ MSE])

where the seconds term is the Gaussian negative log-likelihood of ln(seconds after the start of
injection) under the predicted mean and log-variance, ``0.5 * (lv + (t - mu)^2 / exp(lv))``,
averaged over the contrast-enhanced slices of the batch (non-contrast slices have no time), and
the organ term (heads with ``organs`` only) is the squared error of ``(HU - 100) / 100`` averaged
over the (slice, organ) pairs where the organ is in the slice.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from ..models.heads import LOGVAR_RANGE, ORGAN_HU_CENTER, ORGAN_HU_SCALE, Heads

FIRST_LOG_SECONDS = math.log(90.0)
"""Bias the seconds head starts from (ln 90 s, mid-range of the synthetic times), so that the
first steps do not spend their gradient on moving the mean from 0 to ~4.5."""


class HeadsLoss(nn.Module):
    """The phase loss, plus ``weight`` times the subphase and seconds losses when targets are given."""

    def __init__(self, phase_loss: nn.Module, n_classes: int, heads: Heads | None, weight: float = 0.5) -> None:
        super().__init__()
        self.phase_loss = phase_loss
        self.n_classes = n_classes
        self.heads = heads
        self.weight = float(weight)

    def forward(self, out: torch.Tensor, y: torch.Tensor, sub: torch.Tensor | None = None,
                seconds: torch.Tensor | None = None, organ_hu: torch.Tensor | None = None) -> torch.Tensor:
        k = self.n_classes
        loss = self.phase_loss(out[:, :k], y)
        if self.heads is None or sub is None or seconds is None:
            return loss
        out = out.float()
        ns = len(self.heads.subphases)
        sub_loss = nn.functional.cross_entropy(out[:, k : k + ns], sub)
        mask = torch.isfinite(seconds)
        mu, lv = out[:, -2][mask], out[:, -1][mask].clamp(*LOGVAR_RANGE)
        t = torch.log(seconds[mask].clamp(min=1.0))
        sec_loss = (0.5 * (lv + (t - mu) ** 2 * torch.exp(-lv))).mean() if bool(mask.any()) else out.sum() * 0.0
        aux = sub_loss + sec_loss
        if self.heads.organs and organ_hu is not None:
            seen = torch.isfinite(organ_hu)
            if bool(seen.any()):
                pred = out[:, self.heads.organ_columns(k)][seen]
                aux = aux + ((pred - (organ_hu[seen] - ORGAN_HU_CENTER) / ORGAN_HU_SCALE) ** 2).mean()
        return loss + self.weight * aux


def init_heads(model: nn.Module) -> None:
    """Start the seconds head at ln 90 s with unit variance (its bias), the rest as created."""
    fc = _classifier(model)
    if fc is not None and fc.bias is not None:
        with torch.no_grad():
            fc.bias[-2] = FIRST_LOG_SECONDS
            fc.bias[-1] = 0.0


def kept_rows(theirs: Heads | None, ours: Heads, n_classes: int) -> list[int]:
    """Where each output row of a network with heads ``theirs`` (``None``: phases only) sits in a
    network with heads ``ours`` that adds to them (same subphases; organs only in ``ours``)."""
    if theirs is None:
        return list(range(n_classes))
    width = n_classes + ours.width
    return list(range(n_classes + len(theirs.subphases))) + [width - 2, width - 1]


def widen_state(theirs: dict[str, Any], ours: dict[str, torch.Tensor], rows: int | list[int]) -> dict[str, Any]:
    """A checkpoint's state dict made to fit a wider output layer: output row ``i`` of ``theirs`` goes
    to row ``rows[i]`` (an int ``n``: rows ``0..n-1``), the rows it lacks keep ``ours`` (fresh).
    Other tensors are taken as they are."""
    rows = list(range(rows)) if isinstance(rows, int) else list(rows)
    out = dict(theirs)
    for key, mine in ours.items():
        t = theirs.get(key)
        if t is None:
            continue
        t = torch.as_tensor(t)
        if t.shape != mine.shape and t.ndim == mine.ndim and t.shape[0] == len(rows) and t.shape[1:] == mine.shape[1:]:
            wide = mine.detach().clone()
            wide[rows] = t
            out[key] = wide
    return out


def _classifier(model: nn.Module) -> nn.Linear | None:
    get = getattr(model, "get_classifier", None)
    fc = get() if callable(get) else None
    return fc if isinstance(fc, nn.Linear) else None
