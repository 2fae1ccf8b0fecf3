"""The ctphase checkpoint: one safetensors file with the weights and everything needed to use them.

File format (``FORMAT_VERSION = 1``), a plain `safetensors <https://github.com/huggingface/safetensors>`_
file, so loading never unpickles anything:

Tensors
    ``model.<key>`` for every entry ``<key>`` of the network's ``state_dict``, and optionally
    ``__onnx__``, a 1-D uint8 tensor holding a serialised ONNX export of the same network
    (so one file carries both engines).

String metadata (the safetensors header's ``__metadata__``)
    ``format``          ``"ctphase-checkpoint"``
    ``format_version``  ``"1"``
    ``config``          JSON ``{"arch", "class_names", "output_activation", "preprocessing"}`` and, for a
                        network with auxiliary heads, ``"heads"`` (:mod:`ctphase.models.heads`)
    ``meta``            JSON dict: ``created`` (UTC ISO 8601), ``ctphase_version``, ``torch_version``,
                        ``timm_version``, ``format_version`` and whatever training recorded
                        (data summary, metrics, ...); ``calibration``: the series calibration
                        (:mod:`ctphase.models.calibration`, written by ``ctphase calibrate``)
    ``sha256``          model identity, see below
    ``meta_sha256``     sha256 of the ``meta`` string (UTF-8)
    ``onnx_sha256``     sha256 of the ONNX bytes (only with ``__onnx__``)
    ``onnx_source_sha256``  the ``sha256`` of the model the ONNX graph was exported from

What ``sha256`` hashes (:func:`compute_sha256`), in this order:
    1. ``b"ctphase-checkpoint-v1\\n"``
    2. the config (as stored in the file) as canonical JSON (``json.dumps(config, sort_keys=True, separators=(",", ":"),
       ensure_ascii=True)``, UTF-8) followed by ``b"\\n"``
    3. for each state-dict key in sorted (Python ``str``) order: the header
       ``f"{key}\\0{dtype}\\0{shape}\\0{nbytes}\\n"`` (UTF-8; dtype such as ``float32``, shape such as
       ``[64, 3, 7, 7]``), then the tensor's raw bytes, C-contiguous, native (little-endian) order.
It covers what changes predictions (architecture, preprocessing, class order, output activation,
weights) and nothing else: editing ``meta`` or embedding an ONNX export keeps the model's hash,
while ``meta_sha256`` and ``onnx_sha256`` protect those parts. Every hash is verified on load.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CheckpointError, ConfigError, ModelNotAvailableError
from ..atomic import atomic_path
from ..phases import PHASE_NAMES
from ..preprocessing import Preprocessing
from .activation import OUTPUT_ACTIVATIONS
from .heads import Heads
from .registry import ARCHITECTURES, list_architectures, resolve_arch
from .stfile import FORMAT_NAME, FORMAT_VERSION, dtype_name, file_tensors, onnx_source_sha, read, sniff, tensor_bytes

if TYPE_CHECKING:  # pragma: no cover
    import torch

logger = logging.getLogger(__name__)

__all__ = [
    "FORMAT_NAME", "FORMAT_VERSION", "Checkpoint", "build_model", "compute_sha256", "default_checkpoint_path", "fresh_meta",
    "load_checkpoint", "new_checkpoint", "resolve_checkpoint", "save_checkpoint",
]


@dataclass(frozen=True, eq=False)
class Checkpoint:
    """A trained (or freshly initialised) classifier and how to feed it.

    Treat it as immutable: derive changed copies with :func:`dataclasses.replace`.

    Attributes:
        arch: registered architecture name (see :func:`ctphase.models.list_architectures`).
        preprocessing: how HU slices become the network input.
        class_names: the network's output order, a permutation of ``ctphase.phases.PHASE_NAMES``.
        state_dict: the network weights (CPU tensors; numpy arrays when loaded without torch).
        meta: JSON-serialisable facts: training data summary, metrics, created, versions.
        onnx: serialised ONNX export of the same network, or None.
        output_activation: ``"softmax"`` or ``"sigmoid"`` (see :data:`OUTPUT_ACTIVATIONS`).
        heads: the subphase and seconds heads after the phase logits, or None (:mod:`ctphase.models.heads`).
    """

    arch: str
    preprocessing: Preprocessing
    class_names: tuple[str, ...]
    state_dict: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)
    onnx: bytes | None = None
    output_activation: str = "softmax"
    heads: Heads | None = None
    _sha256: list[str] = field(default_factory=list, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "arch", resolve_arch(self.arch))
        if not isinstance(self.preprocessing, Preprocessing):
            msg = f"preprocessing must be a ctphase.preprocessing.Preprocessing, got {type(self.preprocessing).__name__}"
            raise ConfigError(msg)
        names = tuple(str(n) for n in self.class_names)
        if sorted(names) != sorted(PHASE_NAMES) or len(set(names)) != len(names):
            msg = f"class_names {list(names)} must be a permutation of {list(PHASE_NAMES)}"
            raise ConfigError(msg)
        object.__setattr__(self, "class_names", names)
        if self.output_activation not in OUTPUT_ACTIVATIONS:
            msg = f"output_activation {self.output_activation!r} must be one of {', '.join(OUTPUT_ACTIVATIONS)}"
            raise ConfigError(msg)
        if self.heads is not None and not isinstance(self.heads, Heads):
            raise ConfigError(f"heads must be a ctphase.models.heads.Heads or None, got {type(self.heads).__name__}")
        if not isinstance(self.meta, dict):
            msg = f"meta must be a dict, got {type(self.meta).__name__}"
            raise ConfigError(msg)
        if self.onnx is not None and not isinstance(self.onnx, bytes):
            object.__setattr__(self, "onnx", bytes(self.onnx))

    @property
    def config(self) -> dict[str, Any]:
        """The hashed configuration: arch, class_names, output_activation, preprocessing (and heads, when any)."""
        config: dict[str, Any] = {
            "arch": self.arch,
            "class_names": list(self.class_names),
            "output_activation": self.output_activation,
            "preprocessing": self.preprocessing.to_dict(),
        }
        if self.heads is not None:
            config["heads"] = self.heads.to_dict()
        return config

    @property
    def sha256(self) -> str:
        """Model identity hash (hex), computed once; see the module docstring for what it covers."""
        if not self._sha256:
            self._sha256.append(compute_sha256(self.config, self.state_dict))
        return self._sha256[0]

    @property
    def num_classes(self) -> int:
        """Number of phases (4)."""
        return len(self.class_names)

    @property
    def num_outputs(self) -> int:
        """Number of network outputs: the phases, then the heads' columns."""
        return len(self.class_names) + (self.heads.width if self.heads is not None else 0)


def _canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def compute_sha256(config: dict[str, Any], state_dict: dict[str, Any]) -> str:
    """Hash of config + weights (torch tensors or numpy arrays) as documented in the module docstring (hex digest)."""
    h = hashlib.sha256()
    h.update(b"ctphase-checkpoint-v1\n")
    h.update(_canonical_json(config).encode("utf-8"))
    h.update(b"\n")
    for key in sorted(state_dict):
        t = state_dict[key]
        data = tensor_bytes(t)
        header = f"{key}\0{dtype_name(t)}\0{[int(n) for n in t.shape]}\0{len(data)}\n"
        h.update(header.encode("utf-8"))
        h.update(data)
    return h.hexdigest()


def _package_versions() -> dict[str, str]:
    from .. import __version__

    out = {"ctphase_version": __version__}
    try:
        import torch

        out["torch_version"] = str(torch.__version__)
    except ImportError:  # pragma: no cover
        pass
    try:
        import timm

        out["timm_version"] = str(timm.__version__)
    except ImportError:  # pragma: no cover
        pass
    return out


def fresh_meta(meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """The meta of a new checkpoint: ``created``, the package versions and ``format_version``, then ``meta``."""
    return {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **_package_versions(),
        "format_version": FORMAT_VERSION,
        **(meta or {}),
    }


def new_checkpoint(
    arch: str,
    preprocessing: Preprocessing,
    model: torch.nn.Module,
    meta: dict[str, Any] | None = None,
    *,
    class_names: tuple[str, ...] | list[str] = PHASE_NAMES,
    output_activation: str | None = None,
    heads: Heads | None = None,
) -> Checkpoint:
    """Wrap a model (e.g. at the end of training) into a :class:`Checkpoint`.

    ``meta`` is copied and completed with ``created``, ``ctphase_version``, ``torch_version``,
    ``timm_version`` and ``format_version``. An ``output_activation`` key in ``meta`` is taken
    as the ``output_activation`` argument (it is part of the hashed config, not of meta).
    """
    meta = dict(meta or {})
    act = meta.pop("output_activation", None)
    if output_activation is None:
        output_activation = act or "softmax"
    elif act is not None and act != output_activation:
        msg = f"output_activation {output_activation!r} disagrees with meta['output_activation'] {act!r}"
        raise ConfigError(msg)
    full_meta = fresh_meta(meta)
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    return Checkpoint(
        arch=arch,
        preprocessing=preprocessing,
        class_names=tuple(class_names),
        state_dict=state,
        meta=full_meta,
        output_activation=output_activation,
        heads=heads,
    )


def save_checkpoint(ckpt: Checkpoint, path: str | Path) -> Path:
    """Write ``ckpt`` to ``path`` atomically (temporary file in the same folder, then rename).

    Returns:
        the path written.
    Raises:
        ConfigError: meta is not JSON-serialisable, or the embedded ONNX belongs to other weights.
        CheckpointError: the file cannot be written.
    """
    path = Path(path)
    if not isinstance(ckpt, Checkpoint):
        msg = f"expected a Checkpoint, got {type(ckpt).__name__}"
        raise ConfigError(msg)
    try:
        meta_json = json.dumps(ckpt.meta, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        msg = f"checkpoint meta must be JSON-serialisable (numbers, strings, lists, dicts; no NaN): {exc}"
        raise ConfigError(msg) from exc

    tensors, save_file = file_tensors(ckpt.state_dict, ckpt.onnx)
    metadata = {
        "format": FORMAT_NAME,
        "format_version": str(FORMAT_VERSION),
        "config": _canonical_json(ckpt.config),
        "meta": meta_json,
        "sha256": ckpt.sha256,
        "meta_sha256": hashlib.sha256(meta_json.encode("utf-8")).hexdigest(),
    }
    if ckpt.onnx is not None:
        source = onnx_source_sha(ckpt.onnx)
        if source is not None and source != ckpt.sha256:
            msg = (
                f"the embedded ONNX export was made from model {source[:12]}, not from these weights "
                f"({ckpt.sha256[:12]}); re-export with ctphase.models.embed_onnx(ckpt)"
            )
            raise ConfigError(msg)
        metadata["onnx_sha256"] = hashlib.sha256(ckpt.onnx).hexdigest()
        metadata["onnx_source_sha256"] = source or ckpt.sha256

    try:
        with atomic_path(path) as tmp:
            save_file(tensors, str(tmp), metadata=metadata)
    except OSError as exc:
        msg = f"cannot write checkpoint {path}: {exc}"
        raise CheckpointError(msg) from exc
    logger.info("saved checkpoint %s (%s, sha256 %s)", path, ckpt.arch, ckpt.sha256[:12])
    return path


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read and verify a checkpoint written by :func:`save_checkpoint`. Never unpickles.

    Raises:
        CheckpointError: missing file, not a checkpoint, unsupported format version, hash
            mismatch (corrupt or edited file), unknown architecture or bad class names.
    """
    path = Path(path)
    if not path.exists():
        msg = f"checkpoint {path} does not exist; pass the path of a ctphase .safetensors checkpoint"
        raise CheckpointError(msg)
    if path.is_dir():
        msg = f"checkpoint {path} is a directory; pass the path of a ctphase .safetensors checkpoint"
        raise CheckpointError(msg)
    sniff(path)

    metadata, state, onnx_bytes = read(path)
    try:
        config = json.loads(metadata["config"])
        meta_json = metadata["meta"]
        meta = json.loads(meta_json)
        stored_sha = metadata["sha256"]
    except (KeyError, json.JSONDecodeError) as exc:
        msg = f"{path} has a damaged ctphase header ({exc}); the file is corrupt, restore it from its source"
        raise CheckpointError(msg) from exc
    if not isinstance(config, dict) or not isinstance(stored_sha, str):
        msg = f"{path} has a damaged ctphase header (config is not a JSON object); restore it from its source"
        raise CheckpointError(msg)
    if hashlib.sha256(meta_json.encode("utf-8")).hexdigest() != metadata.get("meta_sha256"):
        msg = f"{path}: meta does not match meta_sha256; the file was edited or is corrupt"
        raise CheckpointError(msg)

    arch = config.get("arch")
    if arch not in list_architectures():
        msg = f"{path} uses architecture {arch!r}, unknown to this ctphase (known: {', '.join(ARCHITECTURES)}); upgrade ctphase"
        raise CheckpointError(msg)
    # Hash the configuration as stored, so that checkpoints keep their identity when a later
    # ctphase adds (defaulted) preprocessing fields.
    computed = compute_sha256(config, state)
    if computed != stored_sha:
        msg = (
            f"{path}: sha256 mismatch (stored {stored_sha[:12]}, computed {computed[:12]}); "
            "the weights or configuration were modified or the file is corrupt. Restore it from its source"
        )
        raise CheckpointError(msg)

    if onnx_bytes is not None:
        if hashlib.sha256(onnx_bytes).hexdigest() != metadata.get("onnx_sha256"):
            msg = f"{path}: the embedded ONNX export does not match onnx_sha256; the file is corrupt. Re-run `ctphase export --embed`"
            raise CheckpointError(msg)
        if metadata.get("onnx_source_sha256") != stored_sha:
            msg = f"{path}: the embedded ONNX export was made from other weights; re-run `ctphase export --embed`"
            raise CheckpointError(msg)
    try:
        ckpt = Checkpoint(
            arch=arch,
            preprocessing=Preprocessing.from_dict(config["preprocessing"]),
            class_names=tuple(config["class_names"]),
            state_dict=state,
            meta=meta,
            onnx=onnx_bytes,
            output_activation=config.get("output_activation", "softmax"),
            heads=Heads.from_dict(config["heads"]) if config.get("heads") is not None else None,
        )
    except (ConfigError, KeyError, TypeError, ValueError) as exc:
        msg = f"{path} has an invalid configuration: {exc}"
        raise CheckpointError(msg) from exc
    ckpt._sha256.append(stored_sha)
    logger.debug("loaded checkpoint %s (%s, sha256 %s)", path, ckpt.arch, stored_sha[:12])
    return ckpt


def build_model(ckpt: Checkpoint, device: str | torch.device = "cpu") -> torch.nn.Module:
    """Instantiate the network of ``ckpt`` with its weights (strict), in eval mode on ``device``.

    Raises:
        CheckpointError: the weights do not fit the architecture.
        MissingExtraError: PyTorch or timm is not installed (``pip install "ctphase[train]"``).
    """
    import numpy as np

    from ..extras import require
    from .registry import create_model

    require("building a PyTorch model", "torch", "timm")
    import torch

    state = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in ckpt.state_dict.items()}

    model = create_model(ckpt.arch, num_classes=ckpt.num_outputs, in_chans=ckpt.preprocessing.channels)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[:4]
        msg = f"checkpoint weights do not fit architecture {ckpt.arch!r}: {' '.join(first)}"
        raise CheckpointError(msg) from exc
    return model.to(device).eval()


def default_checkpoint_path() -> Path | None:
    """The bundled default model (``ctphase/weights/default.safetensors``) if installed, else None."""
    path = Path(__file__).resolve().parent.parent / "weights" / "default.safetensors"
    return path if path.is_file() else None


def resolve_checkpoint(model: str | Path | None) -> Path:
    """The checkpoint to use: ``model`` when given, else the bundled default.

    Raises:
        ModelNotAvailableError: when no model is given and no default is installed.
    """
    if model is not None:
        return Path(model)
    default = default_checkpoint_path()
    if default is None:
        msg = (
            "no model given and no bundled default model is installed; "
            "pass --model CKPT (a ctphase checkpoint, e.g. made by `ctphase train`)"
        )
        raise ModelNotAvailableError(msg)
    return default
