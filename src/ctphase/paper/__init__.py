"""The reference paper's experiments (Dao et al. 2022) and its baselines, in their own wing.

``ctphase paper run`` reruns the paper's experiments on ctphase's fixed synthetic benchmark data
and the real series kept apart for external validation; ``ctphase paper report`` collects them
into one markdown page. Modules:

- ``data``: the fixed data (synthetic DICOM studies written once, read back as labelled scans).
- ``models``: the paper's models by key (``efficientnet_b2@224``, ``cdgan@128``, ``3dse``): their
  preprocessing, training into ctphase checkpoints, and scoring through the product's
  :class:`~ctphase.inference.Classifier`.
- ``trainers``: fixed-budget training loops (2D, CD-GAN, 3DSE).
- ``se3d``, ``cdgan``: the baselines' networks; ``header_rules``: the header-only baseline.
- ``workspace``, ``experiments``, ``comparisons``: the work folder and the seven experiments.
- ``report``: the markdown page.

Importing this package registers the ``3dse`` and ``cdgan`` architectures with the model
registry (also reachable through the ``ctphase.architectures`` entry point), so their
checkpoints load like any other; the networks themselves (and torch) are imported when first built.
"""

from __future__ import annotations

from typing import Any

from ..models.registry import ArchSpec, register_architecture


def _se3d(num_classes: int = 4, in_chans: int = 1, **kwargs: Any) -> Any:
    from .se3d import SE3DNet

    return SE3DNet(num_classes=num_classes, in_chans=in_chans, **kwargs)


def _cdgan(num_classes: int = 4, in_chans: int = 1, **kwargs: Any) -> Any:
    from .cdgan import CDGANClassifier, Discriminator

    return CDGANClassifier(Discriminator(in_chans=in_chans, num_classes=num_classes, **kwargs))


SE3D_SPEC = ArchSpec("3dse", "", True, "paper baseline: Zhou et al. 2019 3D SE-CNN on a 32x128x128 volume (0.9M params)", _se3d)
CDGAN_SPEC = ArchSpec("cdgan", "", True, "paper baseline: Tang et al. 2020 GAN discriminator phase head, 128 px slices", _cdgan)


def register() -> None:
    """Register the baselines' architectures (``3dse``, ``cdgan``) with the model registry."""
    register_architecture(SE3D_SPEC)
    register_architecture(CDGAN_SPEC)


register()
