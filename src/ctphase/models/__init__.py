"""2D backbones (timm), the checkpoint format and ONNX export.

Importing this package does not import torch; building or loading a model does.
"""

from __future__ import annotations

from .activation import OUTPUT_ACTIVATIONS, activate
from .checkpoint import (
    FORMAT_VERSION,
    Checkpoint,
    build_model,
    compute_sha256,
    default_checkpoint_path,
    load_checkpoint,
    new_checkpoint,
    resolve_checkpoint,
    save_checkpoint,
)
from .export import ExportError, embed_onnx, export_onnx
from .registry import ARCHITECTURES, DEFAULT_ARCH, ArchSpec, create_model, list_architectures, resolve_arch

__all__ = [
    "ARCHITECTURES",
    "DEFAULT_ARCH",
    "FORMAT_VERSION",
    "OUTPUT_ACTIVATIONS",
    "ArchSpec",
    "Checkpoint",
    "ExportError",
    "activate",
    "build_model",
    "compute_sha256",
    "create_model",
    "default_checkpoint_path",
    "embed_onnx",
    "export_onnx",
    "list_architectures",
    "load_checkpoint",
    "new_checkpoint",
    "resolve_checkpoint",
    "resolve_arch",
    "save_checkpoint",
]
