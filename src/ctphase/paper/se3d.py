"""3DSE: the 3D squeeze-and-excitation CNN baseline of the reference paper (after Zhou et al. 2019).

Zhou et al., *Automatic contrast phase estimation in CT volumes* (2019), classify one whole scan
resampled to ``32 x 128 x 128`` (D, H, W), windowed to ``[0, 1]``, with a small 3D CNN with
squeeze-and-excitation blocks. Assumed where the paper is vague: a stem conv that halves H and
W only (the z axis is already coarse), three residual SE stages that each halve every axis,
channels 16-32-64-128, SE reduction 4, BatchNorm + ReLU, global average pooling, dropout 0.3
and one linear layer; about 0.9 M parameters and ~0.5 GMAC per scan.

The input is made by the one preprocessing implementation: a checkpoint of this network
carries ``Preprocessing(depth=32, size=128, channels=1)``, which windows and resizes every
slice and resamples the stack along z (:func:`ctphase.preprocessing.resample_depth`). The
architecture is registered as ``"3dse"`` (:mod:`ctphase.paper`), so its checkpoints load and
predict through :class:`ctphase.inference.Classifier` like any other.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError

NUM_CLASSES = 4
SE3D_INPUT: tuple[int, int, int] = (32, 128, 128)
"""Input volume size (D, H, W) of 3DSE."""


def positive_int(label: str, value: Any) -> int:
    """``value`` as an int; ConfigError naming ``label`` unless it is a positive integer."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        msg = f"{label} must be a positive integer, got {value!r}"
        raise ConfigError(msg)
    return int(value)


class SqueezeExcite3d(nn.Module):
    """Squeeze-and-excitation over channels of a ``(N, C, D, H, W)`` tensor (Hu et al. 2018)."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        hidden = max(4, channels // reduction)
        self.fc1 = nn.Conv3d(channels, hidden, 1)
        self.fc2 = nn.Conv3d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean(dim=(2, 3, 4), keepdim=True)
        s = torch.sigmoid(self.fc2(F.relu(self.fc1(s), inplace=True)))
        return x * s


class SEResBlock3d(nn.Module):
    """Residual block: conv3-BN-ReLU-conv3-BN-SE plus (projected) shortcut, then ReLU."""

    def __init__(self, cin: int, cout: int, stride: int = 2, reduction: int = 4) -> None:
        super().__init__()
        self.conv1 = nn.Conv3d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm3d(cout)
        self.conv2 = nn.Conv3d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm3d(cout)
        self.se = SqueezeExcite3d(cout, reduction)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv3d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm3d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)), inplace=True)
        y = self.se(self.bn2(self.conv2(y)))
        return F.relu(y + self.shortcut(x), inplace=True)


class SE3DNet(nn.Module):
    """3DSE: a light 3D SE-ResNet classifying a whole resampled scan.

    Layout for the default ``(N, 1, 32, 128, 128)`` input (``width=16``)::

        stem   conv 3x3x3 stride (1,2,2), 16 ch, BN, ReLU   -> (N, 16, 32, 64, 64)
        stage1 SE residual block, stride 2, 32 ch           -> (N, 32, 16, 32, 32)
        stage2 SE residual block, stride 2, 64 ch           -> (N, 64,  8, 16, 16)
        stage3 SE residual block, stride 2, 128 ch          -> (N, 128, 4,  8,  8)
        head   global average pool, dropout, linear         -> (N, 4) logits

    Global pooling makes any input of at least ``(8, 16, 16)`` work (small volumes are used in
    tests); :data:`SE3D_INPUT` is the size the baseline is trained and evaluated at.

    Args:
        num_classes: number of logits.
        in_chans: input channels (1 for one window).
        width: channels of the stem; stages use ``2x, 4x, 8x`` width.
        se_reduction: SE bottleneck reduction.
        drop_rate: dropout before the classifier.
    """

    input_size: tuple[int, int, int] = SE3D_INPUT

    def __init__(
        self,
        num_classes: int = NUM_CLASSES,
        in_chans: int = 1,
        width: int = 16,
        se_reduction: int = 4,
        drop_rate: float = 0.3,
    ) -> None:
        super().__init__()
        num_classes = positive_int("num_classes", num_classes)
        in_chans = positive_int("in_chans", in_chans)
        width = positive_int("width", width)
        se_reduction = positive_int("se_reduction", se_reduction)
        if not 0.0 <= float(drop_rate) < 1.0:
            msg = f"drop_rate must be in [0, 1), got {drop_rate!r}"
            raise ConfigError(msg)
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.stem = nn.Sequential(
            nn.Conv3d(in_chans, width, 3, stride=(1, 2, 2), padding=1, bias=False),
            nn.BatchNorm3d(width),
            nn.ReLU(inplace=True),
        )
        self.stages = nn.Sequential(
            SEResBlock3d(width, 2 * width, 2, se_reduction),
            SEResBlock3d(2 * width, 4 * width, 2, se_reduction),
            SEResBlock3d(4 * width, 8 * width, 2, se_reduction),
        )
        self.drop = nn.Dropout(float(drop_rate))
        self.fc = nn.Linear(8 * width, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, in_chans, D, H, W)`` -> pooled features ``(N, 8 * width)``."""
        return self.stages(self.stem(x)).mean(dim=(2, 3, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, in_chans, D, H, W)`` float32 in ``[0, 1]`` -> ``(N, num_classes)`` logits."""
        return self.fc(self.drop(self.forward_features(x)))
