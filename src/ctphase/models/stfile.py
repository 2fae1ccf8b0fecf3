"""The safetensors side of a ctphase checkpoint: sniffing, reading, writing, hashing tensor bytes.

Tensors are PyTorch tensors when torch is importable and numpy arrays otherwise (the light
install, which runs the embedded ONNX graph): both hash alike (:func:`tensor_bytes`,
:func:`dtype_name`), so a checkpoint has one ``sha256`` whichever reads it.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import CheckpointError, ConfigError
from ..extras import importable

FORMAT_NAME = "ctphase-checkpoint"
FORMAT_VERSION = 1
WEIGHT_PREFIX = "model."
ONNX_KEY = "__onnx__"
_MAX_HEADER = 100 * 1024 * 1024


def dtype_name(t: Any) -> str:
    """``float32``, ``int64``, ... for a torch tensor or a numpy array."""
    return str(t.dtype).removeprefix("torch.")


def tensor_bytes(t: Any) -> bytes:
    """Raw C-contiguous, native-order bytes of a torch tensor or a numpy array."""
    import numpy as np

    if isinstance(t, np.ndarray):
        return np.asarray(t, order="C").reshape(-1).view(np.uint8).tobytes()
    t = t.detach().cpu().contiguous().reshape(-1)
    if t.numel() == 0:
        return b""
    import torch

    return t.view(torch.uint8).numpy().tobytes()


def onnx_source_sha(onnx_bytes: bytes) -> str | None:
    """The model sha recorded in an ONNX export's metadata_props (``ctphase_sha256``), if any.

    Parsed with ``onnx`` when installed, else with ONNX Runtime (the light install).
    """
    try:
        if importable("onnx"):
            import onnx

            props = {p.key: p.value for p in onnx.load_from_string(onnx_bytes).metadata_props}
        else:
            import onnxruntime as ort

            session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
            props = dict(session.get_modelmeta().custom_metadata_map)
    except Exception as exc:  # noqa: BLE001 - any parse failure means "not ONNX"
        msg = f"the embedded ONNX bytes do not parse as an ONNX model ({exc}); re-export with ctphase.models.embed_onnx"
        raise CheckpointError(msg) from exc
    return props.get("ctphase_sha256")


def sniff(path: Path) -> None:
    """Raise a CheckpointError that says what the file is when it is not a safetensors file."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
            size = os.fstat(fh.fileno()).st_size
    except OSError as exc:
        msg = f"cannot read checkpoint {path}: {exc}"
        raise CheckpointError(msg) from exc
    if len(head) >= 10:
        (header_len,) = struct.unpack("<Q", head[:8])
        if 2 <= header_len <= min(_MAX_HEADER, size - 8) and head[8:9] == b"{":
            return  # a safetensors file (its 8-byte header length may begin with 0x80, as a pickle does)
    if head.startswith(b"PK\x03\x04") or (head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")):
        msg = (
            f"{path} looks like a PyTorch pickle (.pt/.pth/.ckpt) file. ctphase never unpickles "
            "files (unpickling can run arbitrary code); use a ctphase checkpoint (.safetensors), "
            "e.g. convert it in a trusted environment with ctphase.models.new_checkpoint + save_checkpoint"
        )
        raise CheckpointError(msg)
    if len(head) < 10:
        msg = f"{path} is not a ctphase checkpoint: the file is empty or truncated ({size} bytes)"
        raise CheckpointError(msg)
    msg = f"{path} is not a ctphase checkpoint (not a safetensors file, or truncated)"
    raise CheckpointError(msg)


def _check_format(path: Path, metadata: dict[str, str]) -> None:
    if metadata.get("format") != FORMAT_NAME:
        msg = (
            f"{path} is a safetensors file but not a ctphase checkpoint (no format={FORMAT_NAME!r} "
            "in its metadata); raw weights must be wrapped with ctphase.models.new_checkpoint"
        )
        raise CheckpointError(msg)
    version = metadata.get("format_version", "")
    if version != str(FORMAT_VERSION):
        hint = "upgrade ctphase" if version.isdigit() and int(version) > FORMAT_VERSION else "re-save it"
        msg = f"{path} has checkpoint format version {version!r}; this ctphase reads version {FORMAT_VERSION}: {hint}"
        raise CheckpointError(msg)


def read(path: Path) -> tuple[dict[str, str], dict[str, Any], bytes | None]:
    """Metadata, weights (torch tensors, or numpy arrays without torch) and embedded ONNX bytes (format checked)."""
    from safetensors import safe_open

    framework = "pt" if importable("torch") else "numpy"
    try:
        with safe_open(str(path), framework=framework, device="cpu") as fh:
            metadata = fh.metadata() or {}
            keys = list(fh.keys())
            _check_format(path, metadata)
            state = {k[len(WEIGHT_PREFIX) :]: fh.get_tensor(k) for k in keys if k.startswith(WEIGHT_PREFIX)}
            onnx_tensor = fh.get_tensor(ONNX_KEY) if ONNX_KEY in keys else None
    except CheckpointError:
        raise
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types
        msg = f"{path} is not a readable ctphase checkpoint ({type(exc).__name__}: {exc})"
        raise CheckpointError(msg) from exc
    onnx_bytes = None if onnx_tensor is None else tensor_bytes(onnx_tensor)
    return metadata, state, onnx_bytes


def file_tensors(state_dict: dict[str, Any], onnx: bytes | None) -> tuple[dict[str, Any], Callable[..., None]]:
    """The tensors to write (weights and ONNX bytes) and the safetensors ``save_file`` that writes them.

    numpy arrays without torch (the light install), torch tensors with it.

    Raises:
        ConfigError: a state_dict entry is not a tensor.
    """
    import numpy as np

    onnx_array = None if onnx is None else np.frombuffer(onnx, dtype=np.uint8).copy()
    if not importable("torch"):
        from safetensors.numpy import save_file

        tensors: dict[str, Any] = {}
        for key, value in state_dict.items():
            if not isinstance(value, np.ndarray):
                msg = f"state_dict entry {key!r} is a {type(value).__name__}, not a numpy array (PyTorch is not installed)"
                raise ConfigError(msg)
            tensors[WEIGHT_PREFIX + key] = np.array(value, order="C", copy=True)  # keeps 0-d arrays 0-d
        if onnx_array is not None:
            tensors[ONNX_KEY] = onnx_array
        return tensors, save_file

    import torch
    from safetensors.torch import save_file

    tensors = {}
    for key, value in state_dict.items():
        if isinstance(value, np.ndarray):
            value = torch.from_numpy(value)
        if not isinstance(value, torch.Tensor):
            msg = f"state_dict entry {key!r} is a {type(value).__name__}, not a tensor"
            raise ConfigError(msg)
        # clone: safetensors refuses tensors that share memory
        tensors[WEIGHT_PREFIX + key] = value.detach().cpu().contiguous().clone()
    if onnx_array is not None:
        tensors[ONNX_KEY] = torch.from_numpy(onnx_array)
    return tensors, save_file
