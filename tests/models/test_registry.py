"""Model registry: names, aliases, errors, and every backbone builds and runs at 32 px."""

from __future__ import annotations

import pytest
import torch

from ctphase.errors import ConfigError
from ctphase.models import ARCHITECTURES, DEFAULT_ARCH, create_model, list_architectures, resolve_arch

torch.set_num_threads(1)

PAPER = {"efficientnet_b2", "efficientnet_b0", "resnet18", "resnet34", "seresnet18", "resnext50", "ghostnet"}


def test_registry_has_the_paper_backbones_and_default_first() -> None:
    names = list_architectures()
    assert names[0] == DEFAULT_ARCH == "efficientnet_b2"
    assert PAPER <= set(names)
    # the paper's 2D backbones come from timm; its 3D and GAN baselines are plugins of ctphase.paper
    assert {n for n, s in ARCHITECTURES.items() if s.paper and s.timm_name} == PAPER
    assert {n for n, s in ARCHITECTURES.items() if s.factory is not None} == {"3dse", "cdgan"}


def test_a_registered_architecture_builds_and_a_clash_is_refused() -> None:
    from ctphase.models.registry import ArchSpec, register_architecture

    spec = ArchSpec("tiny_linear", "", False, "test only", lambda num_classes, in_chans: torch.nn.Linear(in_chans, num_classes))
    register_architecture(spec)
    register_architecture(spec)  # the same spec again: nothing happens
    assert isinstance(create_model("tiny_linear", in_chans=2), torch.nn.Linear)
    with pytest.raises(ConfigError, match="already registered"):
        register_architecture(ArchSpec("tiny_linear", "resnet18", False, "another"))
    with pytest.raises(ConfigError, match="timm_name or a factory"):
        register_architecture(ArchSpec("nothing", "", False, "no way to build it"))


def test_resolve_accepts_timm_names_and_case() -> None:
    assert resolve_arch("resnext50_32x4d") == "resnext50"
    assert resolve_arch("GhostNet_100") == "ghostnet"
    assert resolve_arch("EfficientNet-B2") == "efficientnet_b2"


def test_unknown_arch_lists_allowed_names() -> None:
    with pytest.raises(ConfigError, match="unknown architecture 'vgg16'.*efficientnet_b2.*resnet18"):
        create_model("vgg16")


def test_pretrained_is_refused() -> None:
    with pytest.raises(ConfigError, match="never downloads weights"):
        create_model("resnet18", pretrained=True)


@pytest.mark.parametrize("kwargs", [{"num_classes": 0}, {"in_chans": -1}, {"num_classes": 2.5}])
def test_bad_sizes_are_named(kwargs: dict) -> None:
    key = next(iter(kwargs))
    with pytest.raises(ConfigError, match=key):
        create_model("resnet18", **kwargs)


def test_bad_timm_option_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="bad option"):
        create_model("resnet18", no_such_option=1)
    with pytest.raises(ConfigError, match="checkpoint_path"):
        create_model("resnet18", checkpoint_path="/tmp/x.pth")


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_every_arch_builds_and_runs(arch: str) -> None:
    model = create_model(arch, num_classes=4, in_chans=1).eval()
    with torch.inference_mode():
        out = model(torch.randn(2, 1, 32, 32))
    assert out.shape == (2, 4)
    assert torch.isfinite(out).all()


def test_the_paper_baselines_are_found_through_the_entry_point_in_a_fresh_process() -> None:
    """A fresh interpreter that never imported ctphase.paper still builds its architectures (plugin entry point)."""
    import subprocess
    import sys

    code = ("import sys; from ctphase.models.registry import resolve_arch; "
            "assert 'ctphase.paper' not in sys.modules; print(resolve_arch('3dse'), resolve_arch('cdgan'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["3dse", "cdgan"]
