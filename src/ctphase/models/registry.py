"""Registry of the 2D slice classifiers ctphase can build (timm backbones, random init).

The paper (Dao et al., 2022) compares ResNet-18/34, SE-ResNet-18, ResNeXt-50, EfficientNet-B0/B2
and GhostNet; EfficientNet-B2 at 224 px is its best setting and our default. Three small
backbones that are not in the paper are registered for fast CPU inference and training.

ctphase never downloads weights: :func:`create_model` builds randomly initialised networks
and trained weights come from a ctphase checkpoint (:mod:`ctphase.models.checkpoint`).

Other packages add architectures with :func:`register_architecture`, either when they are
imported or through the ``ctphase.architectures`` entry-point group (each entry point names a
module or callable that registers its architectures), which is loaded the first time an
unknown name is asked for. The reference paper's 3D and GAN baselines (:mod:`ctphase.paper`)
register themselves this way, so their checkpoints load like any other.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    import torch

logger = logging.getLogger(__name__)

DEFAULT_ARCH = "efficientnet_b2"
"""The paper's best backbone, used when no architecture is given."""


@dataclass(frozen=True)
class ArchSpec:
    """One registered backbone.

    Attributes:
        name: ctphase name, stored in checkpoints.
        timm_name: the ``timm.create_model`` name it maps to ("" when ``factory`` builds it).
        paper: whether the reference paper evaluated it.
        note: one line for ``ctphase models``.
        factory: ``factory(num_classes=..., in_chans=..., **kwargs)`` for networks that are not
            timm models; ``None`` for timm backbones.
    """

    name: str
    timm_name: str
    paper: bool
    note: str
    factory: Callable[..., torch.nn.Module] | None = None


_SPECS: tuple[ArchSpec, ...] = (
    ArchSpec("efficientnet_b2", "efficientnet_b2", True, "paper's best; default (7.7M params)"),
    ArchSpec("efficientnet_b0", "efficientnet_b0", True, "paper (4.0M params)"),
    ArchSpec("resnet18", "resnet18", True, "paper (11.2M params)"),
    ArchSpec("resnet34", "resnet34", True, "paper (21.3M params)"),
    ArchSpec("seresnet18", "seresnet18", True, "paper, squeeze-and-excitation ResNet-18 (11.3M params)"),
    ArchSpec("resnext50", "resnext50_32x4d", True, "paper, ResNeXt-50 32x4d (23.0M params)"),
    ArchSpec("ghostnet", "ghostnet_100", True, "paper, GhostNet 1.0x (3.9M params)"),
    ArchSpec("mobilenetv3_small", "mobilenetv3_small_100", False, "fast CPU option (1.5M params)"),
    ArchSpec("mobilenetv3_large", "mobilenetv3_large_100", False, "fast CPU option (4.2M params)"),
    ArchSpec("resnet10t", "resnet10t", False, "fast CPU option, tiered-stem ResNet-10 (4.9M params)"),
    ArchSpec("efficientnet_lite0", "efficientnet_lite0", False, "fast CPU option, no SE/swish (3.4M params)"),
)

_REGISTRY: dict[str, ArchSpec] = {s.name: s for s in _SPECS}
ARCHITECTURES: Mapping[str, ArchSpec] = MappingProxyType(_REGISTRY)
"""Registered architectures by ctphase name (a read-only live view). Parameter counts are for a 4-class head."""

_ALIASES: dict[str, str] = {s.timm_name: s.name for s in _SPECS if s.timm_name != s.name}
ENTRY_POINT_GROUP = "ctphase.architectures"
_plugins_loaded: list[bool] = []


def register_architecture(spec: ArchSpec) -> None:
    """Add an architecture (same spec again is a no-op; another spec under a taken name is an error)."""
    if not spec.timm_name and spec.factory is None:
        msg = f"architecture {spec.name!r} needs a timm_name or a factory"
        raise ConfigError(msg)
    known = _REGISTRY.get(spec.name)
    if known is not None and known != spec:
        msg = f"architecture {spec.name!r} is already registered ({known.note})"
        raise ConfigError(msg)
    _REGISTRY[spec.name] = spec


def _load_plugins() -> None:
    """Load the ``ctphase.architectures`` entry points once (each registers its architectures)."""
    if _plugins_loaded:
        return
    _plugins_loaded.append(True)
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            target = ep.load()
            if callable(target):
                target()
        except Exception:  # noqa: BLE001 - a broken plugin must not break the built-in architectures
            logger.warning("cannot load ctphase architecture plugin %s", ep.value, exc_info=True)


def list_architectures() -> list[str]:
    """Names accepted by :func:`create_model` (built-in first, default first; plugins loaded)."""
    _load_plugins()
    return list(ARCHITECTURES)


def resolve_arch(arch: str) -> str:
    """Return the registered name for ``arch`` (a ctphase name or its timm name, case-insensitive).

    Raises:
        ConfigError: naming the bad value and listing the allowed names.
    """
    if not isinstance(arch, str):
        msg = f"architecture must be a string, got {arch!r}"
        raise ConfigError(msg)
    key = arch.strip().lower().replace("-", "_")
    if key in ARCHITECTURES:
        return key
    if key in _ALIASES:
        return _ALIASES[key]
    if not _plugins_loaded:
        _load_plugins()
        return resolve_arch(arch)
    msg = f"unknown architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}"
    raise ConfigError(msg)


def create_model(
    arch: str = DEFAULT_ARCH,
    num_classes: int = 4,
    in_chans: int = 3,
    pretrained: bool = False,
    **kwargs: Any,
) -> torch.nn.Module:
    """Build a randomly initialised backbone with a ``num_classes`` head, in training mode.

    Args:
        arch: a name from :func:`list_architectures` (or its timm name).
        num_classes: outputs of the classifier head (logits).
        in_chans: input channels, normally ``Preprocessing.channels``.
        pretrained: must be False: ctphase never downloads weights.
        **kwargs: passed to ``timm.create_model`` (e.g. ``drop_rate``, ``drop_path_rate``).
    Returns:
        a ``torch.nn.Module`` mapping ``(N, in_chans, H, W)`` float32 to ``(N, num_classes)`` logits.
    Raises:
        ConfigError: unknown architecture, bad sizes, ``pretrained=True`` or bad timm kwargs.
    """
    name = resolve_arch(arch)
    if pretrained:
        msg = (
            "pretrained=True is not supported: ctphase never downloads weights. "
            "Build with pretrained=False and load trained weights from a ctphase checkpoint "
            "(ctphase.models.load_checkpoint + build_model), or load an ImageNet state dict "
            "you downloaded yourself with model.load_state_dict(...)."
        )
        raise ConfigError(msg)
    for label, value in (("num_classes", num_classes), ("in_chans", in_chans)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            msg = f"{label} must be a positive integer, got {value!r}"
            raise ConfigError(msg)
    for forbidden in ("pretrained_cfg", "pretrained_cfg_overlay", "checkpoint_path"):
        if forbidden in kwargs:
            msg = f"option {forbidden!r} is not allowed: load weights from a ctphase checkpoint instead"
            raise ConfigError(msg)

    spec = ARCHITECTURES[name]
    try:
        if spec.factory is not None:
            model = spec.factory(num_classes=num_classes, in_chans=in_chans, **kwargs)
        else:
            import timm

            model = timm.create_model(spec.timm_name, pretrained=False, num_classes=num_classes, in_chans=in_chans, **kwargs)
    except TypeError as exc:
        msg = f"bad option for architecture {name!r} ({', '.join(sorted(kwargs)) or 'none'}): {exc}"
        raise ConfigError(msg) from exc
    logger.debug("created %s (%s), %d classes, %d channels", name, spec.timm_name or "factory", num_classes, in_chans)
    return model
