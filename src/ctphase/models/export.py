"""ONNX export of a checkpoint's network, standalone or embedded in the checkpoint.

The exported graph maps ``input`` ``(batch, C, size, size)`` (volume models: ``(batch, C, depth,
size, size)``) float32 to ``logits`` ``(batch, K)``
float32, with a dynamic batch axis. The activation (softmax, or sigmoid normalised to sum 1,
per ``Checkpoint.output_activation``) is applied afterwards in numpy, the same way for both
engines (:func:`ctphase.models.activation.activate`). The graph's ``metadata_props`` make a standalone
file self-describing: ``ctphase_sha256``, ``arch``, ``class_names`` (JSON, the logits' column
order), ``output_activation``, ``preprocessing`` (JSON), ``ctphase_version`` and, for a network with
auxiliary heads, ``heads`` (JSON; the columns after the four phase logits, :mod:`ctphase.models.heads`).

Exporters: ``"dynamo"`` (``torch.onnx.export(..., dynamo=True)``, the default of torch >= 2.9,
emits opset >= 18) and ``"legacy"`` (the TorchScript exporter, deprecated by torch but ~10x
faster to run and able to target opset 17 and below). ``"auto"`` uses dynamo for opset >= 18 and
legacy below, and falls back to the other exporter when the first fails.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..errors import CheckpointError, ConfigError
from ..atomic import write_atomic
from .activation import activate
from .checkpoint import Checkpoint, build_model

logger = logging.getLogger(__name__)

DEFAULT_OPSET = 18
EXPORTERS: tuple[str, ...] = ("auto", "dynamo", "legacy")
INPUT_NAME = "input"
OUTPUT_NAME = "logits"


class ExportError(CheckpointError):
    """The network could not be exported to ONNX, or the export does not reproduce it."""


def _export_dynamo(model, example, opset: int) -> bytes:  # noqa: ANN001
    import torch

    program = torch.onnx.export(
        model,
        (example,),
        dynamo=True,
        input_names=[INPUT_NAME],
        output_names=[OUTPUT_NAME],
        dynamic_shapes=({0: torch.export.Dim("batch", min=1)},),
        opset_version=opset,
        optimize=True,
        verbose=False,
    )
    if program is None:  # pragma: no cover - defensive
        raise RuntimeError("torch.onnx.export returned no program")
    return program.model_proto.SerializeToString()


def _export_legacy(model, example, opset: int) -> bytes:  # noqa: ANN001
    import torch

    buf = io.BytesIO()
    torch.onnx.export(
        model,
        (example,),
        buf,
        dynamo=False,
        input_names=[INPUT_NAME],
        output_names=[OUTPUT_NAME],
        dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
        opset_version=opset,
        do_constant_folding=True,
    )
    return buf.getvalue()


def _run_exporter(name: str, model, example, opset: int) -> bytes:  # noqa: ANN001
    fn = _export_dynamo if name == "dynamo" else _export_legacy
    # The exporters print progress and warnings; the library stays silent.
    sink = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(sink):
        warnings.simplefilter("ignore")
        return fn(model, example, opset)


def _add_metadata(onnx_bytes: bytes, ckpt: Checkpoint) -> bytes:
    import onnx

    from .. import __version__

    proto = onnx.load_from_string(onnx_bytes)
    props = {
        "ctphase_sha256": ckpt.sha256,
        "arch": ckpt.arch,
        "class_names": json.dumps(list(ckpt.class_names)),
        "output_activation": ckpt.output_activation,
        "preprocessing": json.dumps(ckpt.preprocessing.to_dict(), sort_keys=True),
        "ctphase_version": __version__,
    }
    if ckpt.heads is not None:
        props["heads"] = json.dumps(ckpt.heads.to_dict())
    del proto.metadata_props[:]
    for key, value in props.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.producer_name = "ctphase"
    proto.producer_version = __version__
    try:
        onnx.checker.check_model(proto)
    except onnx.checker.ValidationError as exc:
        msg = f"the ONNX export of {ckpt.arch} fails onnx.checker: {exc}"
        raise ExportError(msg) from exc
    return proto.SerializeToString()


#: Tolerance for any one input, relative to ``atol``. Float32 rounding differences between the two
#: engines are occasionally amplified to ~1e-3 on one input: on uniform noise (a trained MobileNetV3
#: whose CT inputs agree to 4e-6), and on one synthetic CT slice of sixteen (v16 fine-tuned further:
#: 1.9e-3 on its logits, 2.5e-4 on its probabilities, the other fifteen within 1e-5). A wrong graph
#: is off by far more than that, and on every input.
SINGLE_INPUT_FACTOR = 20.0


def _verification_batches(ckpt: Checkpoint) -> dict[str, np.ndarray]:
    """Inputs to compare the engines on: synthetic CT slices (one patient, four phases, four levels
    from the chest to the pelvis) prepared by the checkpoint's preprocessing, and uniform noise."""
    from ..synth.render import render_slices
    from ..synth.stream import draw_series

    p = ckpt.preprocessing
    levels = np.array([60.0, 0.0, -80.0, -160.0]) if p.depth is None else np.linspace(40.0, -160.0, 12)
    batches = []
    for phase in ("non_contrast", "arterial", "venous", "other"):
        patient, series, _ = draw_series(0, 7, phase)
        batches.append(p(render_slices(patient, series, levels, min(512, 2 * p.size))))
    return {
        "synthetic CT": np.concatenate(batches).astype(np.float32),
        "uniform noise": np.random.default_rng(0).random((3, *p.input_shape), dtype=np.float32),
    }


def _differences(out: np.ndarray, ref: np.ndarray, ckpt: Checkpoint) -> np.ndarray:
    """Per input, the largest difference of the phase probabilities, or of the heads' outputs relative
    to max(1, |torch|)."""
    k = ckpt.num_classes
    diff = np.abs(activate(out[:, :k], ckpt.output_activation) - activate(ref[:, :k], ckpt.output_activation)).max(axis=1)
    if out.shape[1] > k:
        diff = np.maximum(diff, (np.abs(out[:, k:] - ref[:, k:]) / np.maximum(1.0, np.abs(ref[:, k:]))).max(axis=1))
    return diff.astype(np.float64)


def _judge(diffs: dict[str, np.ndarray], atol: float) -> list[str]:
    """What fails of the per-input differences: on synthetic CT the median input must agree within
    ``atol``; on every batch any one input within ``SINGLE_INPUT_FACTOR * atol``."""
    failed = []
    for name, d in diffs.items():
        worst, median = float(np.max(d)), float(np.median(d))
        if name == "synthetic CT" and not median <= atol:
            failed.append(f"{name} by {worst:.2e} (median input {median:.2e} > {atol:.0e})")
        elif not worst <= SINGLE_INPUT_FACTOR * atol:
            failed.append(f"{name} by {worst:.2e} (> {SINGLE_INPUT_FACTOR * atol:.0e} on one input)")
    return failed


def _verify(onnx_bytes: bytes, model, ckpt: Checkpoint, atol: float) -> float:  # noqa: ANN001
    """Compare ONNX Runtime with torch on synthetic CT and on noise (:func:`_judge`); return the
    largest difference on synthetic CT."""
    import onnxruntime as ort
    import torch

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    session = ort.InferenceSession(onnx_bytes, sess_options=opts, providers=["CPUExecutionProvider"])
    diffs = {}
    for name, x in _verification_batches(ckpt).items():
        with torch.inference_mode():
            ref = model(torch.from_numpy(x)).float().numpy()
        diffs[name] = _differences(session.run([OUTPUT_NAME], {INPUT_NAME: x})[0], ref, ckpt)
    failed = _judge(diffs, atol)
    if failed:
        msg = f"ONNX Runtime and PyTorch disagree on {ckpt.arch}: {'; '.join(failed)}; try another exporter or opset"
        raise ExportError(msg)
    return float(np.max(diffs["synthetic CT"]))


def export_onnx(
    ckpt: Checkpoint,
    path: str | Path | None = None,
    opset: int = DEFAULT_OPSET,
    *,
    exporter: str = "auto",
    verify: bool = True,
    atol: float = 1e-4,
) -> bytes:
    """Export the checkpoint's network to ONNX (dynamic batch axis), check it, optionally write it.

    Args:
        ckpt: the checkpoint to export.
        path: where to write the ``.onnx`` file (atomically), or None to only return the bytes.
        opset: ONNX opset; the dynamo exporter needs >= 18, the legacy exporter goes down to 11.
        exporter: ``"auto"``, ``"dynamo"`` or ``"legacy"`` (see the module docstring).
        verify: run ONNX Runtime and PyTorch on the same inputs and require the probabilities
            (and the heads' outputs, relative to their size) to agree within ``atol`` on the median
            of 16 synthetic CT slices and within ``SINGLE_INPUT_FACTOR * atol`` on any one slice
            and on any one input of a batch of uniform noise.
    Returns:
        the serialised ONNX model (logits output; metadata_props described in the module docstring).
    Raises:
        ConfigError: bad opset or exporter name.
        ExportError: every exporter failed, onnx.checker rejects the graph, or verification failed.
    """
    if exporter not in EXPORTERS:
        msg = f"exporter {exporter!r} must be one of {', '.join(EXPORTERS)}"
        raise ConfigError(msg)
    if isinstance(opset, bool) or not isinstance(opset, int) or not 11 <= opset <= 23:
        msg = f"opset must be an integer between 11 and 23, got {opset!r}"
        raise ConfigError(msg)
    if exporter == "dynamo" and opset < 18:
        msg = f"the dynamo exporter emits opset >= 18, got opset={opset}; use opset=18 or exporter='legacy'"
        raise ConfigError(msg)
    if exporter == "auto":
        order = ["dynamo", "legacy"] if opset >= 18 else ["legacy"]
    else:
        order = [exporter]

    import torch

    model = build_model(ckpt, "cpu")
    p = ckpt.preprocessing
    example = torch.zeros((2, *p.input_shape), dtype=torch.float32)
    failures: list[str] = []
    onnx_bytes = b""
    for name in order:
        try:
            onnx_bytes = _run_exporter(name, model, example, opset)
            break
        except Exception as exc:  # noqa: BLE001 - exporters raise many types
            logger.warning("ONNX %s exporter failed on %s: %s", name, ckpt.arch, exc)
            failures.append(f"{name}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
    else:
        msg = f"cannot export {ckpt.arch} to ONNX opset {opset} ({'; '.join(failures)})"
        raise ExportError(msg)

    onnx_bytes = _add_metadata(onnx_bytes, ckpt)
    if verify:
        diff = _verify(onnx_bytes, model, ckpt, atol)
        logger.info("ONNX export of %s verified: max probability difference %.2e", ckpt.arch, diff)
    if path is not None:
        _write_atomic(Path(path), onnx_bytes)
    return onnx_bytes


def _write_atomic(path: Path, data: bytes) -> None:
    try:
        write_atomic(path, data)
    except OSError as exc:
        msg = f"cannot write {path}: {exc}"
        raise CheckpointError(msg) from exc


def with_onnx(ckpt: Checkpoint, onnx_bytes: bytes) -> Checkpoint:
    """A copy of ``ckpt`` carrying ``onnx_bytes`` (its export; same sha256: the model is unchanged)."""
    out = replace(ckpt, onnx=onnx_bytes)
    out._sha256.append(ckpt.sha256)
    return out


def embed_onnx(ckpt: Checkpoint, opset: int = DEFAULT_OPSET, *, exporter: str = "auto", verify: bool = True) -> Checkpoint:
    """A copy of ``ckpt`` carrying its ONNX export (same sha256: the model is unchanged)."""
    return with_onnx(ckpt, export_onnx(ckpt, None, opset, exporter=exporter, verify=verify))


def export_checkpoint(
    model: str | Path,
    *,
    onnx_path: str | Path | None = None,
    embed_path: str | Path | None = None,
    opset: int = DEFAULT_OPSET,
    exporter: str = "auto",
) -> tuple[Checkpoint, bytes]:
    """Export the checkpoint file ``model`` once: a standalone ``.onnx`` and/or a copy of the checkpoint embedding it.

    Returns:
        (the loaded checkpoint, the ONNX bytes).
    Raises:
        ConfigError: neither output given, or an output that is the input file.
        CheckpointError / ExportError: an unusable checkpoint, a failed export, an unwritable output.
    """
    from .checkpoint import load_checkpoint, save_checkpoint

    if onnx_path is None and embed_path is None:
        raise ConfigError("give an ONNX output path and/or a path for the checkpoint with the ONNX export embedded")
    for out in (onnx_path, embed_path):
        if out is not None and Path(out).resolve() == Path(model).resolve():
            raise ConfigError(f"{out} is the input checkpoint; write the output elsewhere")
    ckpt = load_checkpoint(model)
    data = export_onnx(ckpt, onnx_path, opset, exporter=exporter)
    if embed_path is not None:
        save_checkpoint(with_onnx(ckpt, data), embed_path)
    return ckpt, data
