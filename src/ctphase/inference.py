"""Slice classifier: a checkpoint plus an engine (PyTorch eager or ONNX Runtime) -> probabilities.

Probabilities always come out in the canonical class order ``ctphase.phases.PHASE_NAMES``
(non_contrast, arterial, venous, other), whatever order the checkpoint's network uses: the
columns are reordered here, at the boundary. Logits become probabilities by the checkpoint's
output activation (:func:`ctphase.models.activation.activate`, the same code for both engines).

Series level: :meth:`Classifier.calibrate` turns the mean log slice probabilities of a series'
sampled slices (:func:`ctphase.models.calibration.mean_log_probs`) into calibrated series
probabilities with the checkpoint's stored calibration (T = 1 when it stores none).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import ConfigError, MissingExtraError
from .extras import TRAIN_HINT, importable
from .models.activation import activate
from .models.calibration import Calibration, calibration_of, mean_log_probs
from .models.reader import SeriesReader
from .models.checkpoint import Checkpoint, build_model, load_checkpoint
from .models.heads import SliceOutputs, split_heads
from .phases import PHASE_NAMES
from .timing import seconds_estimate, subphase_probabilities

if TYPE_CHECKING:  # pragma: no cover
    from .preprocessing import Preprocessing

logger = logging.getLogger(__name__)

DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")
ENGINES: tuple[str, ...] = ("auto", "torch", "onnx")


def available_cpus() -> int:
    """CPUs this process may run on (affinity-aware where the OS tells)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


def _onnxruntime_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def _ort_has_cuda() -> bool:
    if not _onnxruntime_available():
        return False
    import onnxruntime as ort

    return "CUDAExecutionProvider" in ort.get_available_providers()


def resolve_device(device: str) -> str:
    """``"auto"`` -> ``"cuda"`` when available, else ``"cpu"``; checks ``"cpu"``, ``"cuda"`` and ``"cuda:N"``.

    Without PyTorch (the light install) ``"auto"`` is ``"cpu"``, and ``"cuda"`` needs onnxruntime-gpu.

    Raises:
        ConfigError: naming the bad device, or CUDA requested where none is available.
    """
    if not isinstance(device, str) or not (device in DEVICES or device.startswith("cuda:")):
        msg = f"device {device!r} must be one of {', '.join(DEVICES)} (or cuda:N)"
        raise ConfigError(msg)
    if not importable("torch"):
        if device == "auto" or device == "cpu" or _ort_has_cuda():
            return "cpu" if device == "auto" else device
        msg = (
            f"device {device!r} needs PyTorch with CUDA ({TRAIN_HINT}) or onnxruntime-gpu "
            "(pip install onnxruntime-gpu); neither is installed. Use device='cpu' or 'auto'"
        )
        raise MissingExtraError(msg)
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            msg = f"device {device!r} requested but CUDA is not available (no GPU or a CPU-only torch build); use device='cpu' or 'auto'"
            raise ConfigError(msg)
        if ":" in device:
            index = device.split(":", 1)[1]
            if not index.isdigit() or int(index) >= torch.cuda.device_count():
                msg = f"device {device!r}: there are {torch.cuda.device_count()} CUDA device(s)"
                raise ConfigError(msg)
    return device


class Classifier:
    """Classify preprocessed slices with a checkpoint's network.

    Args:
        checkpoint: a :class:`~ctphase.models.checkpoint.Checkpoint` or the path of one.
        device: ``"auto"`` (cuda when available, else cpu), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        engine: ``"auto"``: ONNX Runtime when onnxruntime is importable, the device is cpu and
            the checkpoint embeds an ONNX export; otherwise PyTorch eager. ``"torch"`` or
            ``"onnx"`` force one (``"onnx"`` needs an embedded export: ``ctphase export --embed``).
        batch_size: slices per forward pass (16 is fastest on CPU).
        threads: CPU threads for the model. Torch: ``torch.set_num_threads(threads)`` (process
            wide) when given. ONNX Runtime: intra-op threads, default all available CPUs.

    Attributes:
        preprocessing: the checkpoint's :class:`~ctphase.preprocessing.Preprocessing`.
        class_names: column order of the returned probabilities (always ``PHASE_NAMES``).
        sha256: the checkpoint's model hash.
        calibration: the checkpoint's series-level :class:`~ctphase.models.calibration.Calibration`
            (the identity, T = 1, when it stores none: see :attr:`has_calibration`).
        series_reader: the calibration's :class:`~ctphase.models.reader.SeriesReader` (None: the vote decides).
        engine: ``"torch"`` or ``"onnx"`` (resolved).
        device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` (resolved).
    """

    def __init__(
        self,
        checkpoint: Checkpoint | str | Path,
        *,
        device: str = "auto",
        engine: str = "auto",
        batch_size: int = 16,
        threads: int | None = None,
    ) -> None:
        if isinstance(checkpoint, (str, Path)):
            checkpoint = load_checkpoint(checkpoint)
        if not isinstance(checkpoint, Checkpoint):
            msg = f"checkpoint must be a Checkpoint or a path, got {type(checkpoint).__name__}"
            raise ConfigError(msg)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            msg = f"batch_size must be a positive integer, got {batch_size!r}"
            raise ConfigError(msg)
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            msg = f"threads must be a positive integer or None, got {threads!r}"
            raise ConfigError(msg)
        if engine not in ENGINES:
            msg = f"engine {engine!r} must be one of {', '.join(ENGINES)}"
            raise ConfigError(msg)

        self.checkpoint = checkpoint
        self.preprocessing: Preprocessing = checkpoint.preprocessing
        self.class_names: tuple[str, ...] = PHASE_NAMES
        self.sha256: str = checkpoint.sha256
        self.calibration: Calibration = calibration_of(checkpoint)
        if self.series_reader is not None:
            heads = checkpoint.heads
            self.series_reader.check(heads.subphases if heads else (), heads.organs if heads else ())
        self.batch_size = batch_size
        self.threads = threads
        self.device: str = resolve_device(device)
        self.engine: str = self._resolve_engine(engine)
        # column j of the output = network output perm[j]
        self._perm = np.array([checkpoint.class_names.index(n) for n in PHASE_NAMES])
        self._identity_order = bool((self._perm == np.arange(len(PHASE_NAMES))).all())
        self._model: Any = None
        self._session: Any = None
        if self.engine == "torch":
            self._init_torch()
        else:
            self._init_onnx()
        logger.debug("classifier %s on %s/%s", checkpoint.arch, self.engine, self.device)

    # -- set-up -----------------------------------------------------------------------------
    def _resolve_engine(self, engine: str) -> str:
        has_ort = _onnxruntime_available()
        has_onnx = self.checkpoint.onnx is not None
        has_torch = importable("torch")
        if engine == "auto":
            use_onnx = has_ort and has_onnx and (self.device == "cpu" or not has_torch)
            engine = "onnx" if use_onnx else "torch"
            if engine == "torch" and not has_torch:
                why = "has no embedded ONNX export" if not has_onnx else "cannot run on ONNX Runtime (onnxruntime is not installed)"
                msg = (
                    f"this checkpoint {why}, so it runs on PyTorch, which the light install of ctphase leaves out: "
                    f"{TRAIN_HINT} (or embed an export: `ctphase export --model CKPT --embed OUT.safetensors`)"
                )
                raise MissingExtraError(msg)
            return engine
        if engine == "onnx":
            if not has_ort:
                msg = "engine 'onnx' needs onnxruntime: pip install onnxruntime (or use engine='torch')"
                raise ConfigError(msg)
            if not has_onnx:
                msg = (
                    "engine 'onnx' needs a checkpoint with an embedded ONNX export; create one with "
                    "`ctphase export --model CKPT --embed OUT.safetensors`, or use engine='torch'"
                )
                raise ConfigError(msg)
        if engine == "torch" and not has_torch:
            msg = f"engine 'torch' needs PyTorch, which the light install of ctphase leaves out: {TRAIN_HINT} (or use engine='onnx')"
            raise MissingExtraError(msg)
        return engine

    def _init_torch(self) -> None:
        import torch

        if self.threads is not None:
            torch.set_num_threads(self.threads)
        model = build_model(self.checkpoint, self.device)
        # channels_last is a 2D layout: volume models (5-D inputs) keep the default one
        self._memory_format = torch.channels_last if self.preprocessing.depth is None else torch.contiguous_format
        self._model = model.to(memory_format=self._memory_format)

    def _init_onnx(self) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads or available_cpus()
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        # Idle intra-op threads sleep instead of spinning (ORT's default): the spin takes the
        # cores that reading and preprocessing need between batches. 300-slice scan, 2 cores
        # (benchmarks/speed_levers.py): busy machine 0.36 -> 0.19-0.30 s, quiet 0.155 -> 0.17 s.
        # Same results.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if self.device == "cpu":
            providers: list[Any] = ["CPUExecutionProvider"]
        else:
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                msg = "engine 'onnx' on CUDA needs onnxruntime-gpu; use engine='torch' for the GPU"
                raise ConfigError(msg)
            index = int(self.device.split(":", 1)[1]) if ":" in self.device else 0
            providers = [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"]
        self._session = ort.InferenceSession(self.checkpoint.onnx, sess_options=opts, providers=providers)
        self._input_name = self._session.get_inputs()[0].name

    # -- prediction -------------------------------------------------------------------------
    def _raw(self, batch: np.ndarray) -> np.ndarray:
        if self.engine == "onnx":
            return self._session.run(None, {self._input_name: batch})[0]
        import torch

        with torch.inference_mode():
            x = torch.from_numpy(batch).to(self.device).contiguous(memory_format=self._memory_format)
            return self._model(x).float().cpu().numpy()

    def predict_outputs(self, x: np.ndarray) -> SliceOutputs:
        """Phase probabilities (and, for a network with heads, subphase probabilities and seconds) of preprocessed inputs.

        Args:
            x: ``(N, C, size, size)`` float32 slices (``(N, C, depth, size, size)`` volumes for
                a volume model), as produced by ``self.preprocessing``.
        """
        expected = self.preprocessing.input_shape
        x = np.asarray(x)
        if x.ndim != 1 + len(expected) or tuple(x.shape[1:]) != expected:
            msg = f"expected inputs of shape (N, {', '.join(map(str, expected))}), got {tuple(x.shape)}"
            raise ConfigError(msg)
        k, heads = len(self.class_names), self.checkpoint.heads
        if x.shape[0] == 0:
            return SliceOutputs(np.zeros((0, k), dtype=np.float32), *(
                (None, None, None) if heads is None else (np.zeros((0, len(heads.subphases)), np.float32), np.zeros((0, 2), np.float32),
                                                          np.zeros((0, len(heads.organs)), np.float32) if heads.organs else None)))
        x = np.ascontiguousarray(x, dtype=np.float32)
        parts = []
        for start in range(0, x.shape[0], self.batch_size):
            logits, sub, sec, organs = split_heads(self._raw(x[start : start + self.batch_size]), k, heads)
            probs = activate(logits, self.checkpoint.output_activation)
            parts.append(SliceOutputs(probs if self._identity_order else probs[:, self._perm], sub, sec, organs))
        return SliceOutputs.concatenate(parts)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities of preprocessed inputs (see :meth:`predict_outputs`).

        Returns:
            ``(N, 4)`` float32, rows summing to 1, columns in ``PHASE_NAMES`` order.
        """
        return self.predict_outputs(x).probs

    def predict_hu_outputs(self, hu: np.ndarray) -> tuple[SliceOutputs, float, float]:
        """Preprocess HU slices with the checkpoint's preprocessing and run the network.

        Args:
            hu: ``(N, H, W)`` Hounsfield units (a volume model: the whole stack, one row out).
        Returns:
            ``(outputs, seconds_preprocess, seconds_model)``.
        """
        t0 = time.perf_counter()
        x = self.preprocessing(hu)
        t1 = time.perf_counter()
        out = self.predict_outputs(x)
        t2 = time.perf_counter()
        return out, t1 - t0, t2 - t1

    def predict_hu(self, hu: np.ndarray) -> tuple[np.ndarray, float, float]:
        """Like :meth:`predict_hu_outputs`, with the ``(N, 4)`` phase probabilities only (``PHASE_NAMES`` order)."""
        out, tp, tm = self.predict_hu_outputs(hu)
        return out.probs, tp, tm

    def series_timing(self, outputs: SliceOutputs, label: str | None = None) -> dict[str, Any]:
        """A series' ``subphase_probabilities`` and ``seconds_after_injection`` from its slices' outputs
        (empty/None without heads; :mod:`ctphase.timing`). The seconds interval is scaled by the
        calibration's factor for the series' ``label`` (:meth:`Calibration.seconds_scale_for`; 1 when none
        was fitted)."""
        heads = self.checkpoint.heads
        if heads is None or outputs.subphase is None or outputs.log_seconds is None or len(outputs.probs) == 0:
            return {"subphase_probabilities": {}, "seconds_after_injection": None}
        scale = self.calibration.seconds_scale_for(label)
        return {"subphase_probabilities": subphase_probabilities(outputs.subphase, heads.subphases),
                "seconds_after_injection": seconds_estimate(outputs.log_seconds, scale)}

    # -- series level -----------------------------------------------------------------------
    @property
    def series_reader(self) -> SeriesReader | None:
        """The calibration's series reader, which decides each series (None: the vote decides)."""
        return self.calibration.reader

    @property
    def has_calibration(self) -> bool:
        """Whether the checkpoint stores a calibration (else :meth:`calibrate` applies T = 1)."""
        return not self.calibration.is_identity

    def calibrate(self, mean_log_probs: np.ndarray) -> np.ndarray:
        """Calibrated series probabilities of series scores.

        Args:
            mean_log_probs: ``(4,)`` or ``(N, 4)`` mean over a series' sampled slices of
                ``log(max(p, 1e-6))`` in ``PHASE_NAMES`` order
                (:func:`ctphase.models.calibration.mean_log_probs`).
        Returns:
            float64 of the same shape, rows summing to 1, ``PHASE_NAMES`` order.
        """
        return self.calibration.apply(mean_log_probs)

    def series_probabilities(self, slice_probs: np.ndarray) -> np.ndarray:
        """Calibrated ``(4,)`` probabilities of one series from ``(N, 4)`` probabilities of its sampled slices."""
        return self.calibrate(mean_log_probs(slice_probs))

    def __repr__(self) -> str:
        return (
            f"Classifier(arch={self.checkpoint.arch!r}, engine={self.engine!r}, device={self.device!r}, "
            f"sha256={self.sha256[:12]!r})"
        )
