"""2D backbones (timm) and other registered architectures, the checkpoint format, output activation, ONNX export,
series-level calibration.

Importing this package imports nothing heavy (no torch, numpy or OpenCV): each name is loaded from its
module when first used, so the registry can be read from light code.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_WHERE: dict[str, str] = {
    "ARCHITECTURES": "registry",
    "ArchSpec": "registry",
    "Calibration": "calibration",
    "Checkpoint": "checkpoint",
    "DEFAULT_ARCH": "registry",
    "ExportError": "export",
    "FORMAT_VERSION": "checkpoint",
    "OUTPUT_ACTIVATIONS": "activation",
    "activate": "activation",
    "average_checkpoints": "averaging",
    "build_model": "checkpoint",
    "calibration_of": "calibration",
    "compute_sha256": "checkpoint",
    "create_model": "registry",
    "default_checkpoint_path": "checkpoint",
    "embed_onnx": "export",
    "export_checkpoint": "export",
    "export_onnx": "export",
    "list_architectures": "registry",
    "load_checkpoint": "checkpoint",
    "mean_log_probs": "calibration",
    "new_checkpoint": "checkpoint",
    "register_architecture": "registry",
    "resolve_arch": "registry",
    "resolve_checkpoint": "checkpoint",
    "save_checkpoint": "checkpoint",
    "with_calibration": "calibration",
    "with_onnx": "export",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module 'ctphase.models' has no attribute {name!r}")
