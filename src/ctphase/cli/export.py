"""``ctphase export`` (a checkpoint to ONNX), ``ctphase average`` (a model soup) and ``ctphase models`` (the registered architectures)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from ..errors import ConfigError, CTPhaseError
from .common import check_output_file, fail, need_extra


def _bundled() -> tuple[str | None, str]:
    """The bundled model's architecture (read from its checkpoint) and a line describing it."""
    from ..models.checkpoint import default_checkpoint_path, load_checkpoint

    path = default_checkpoint_path()
    if path is None:
        return None, "bundled model: none installed (predict needs --model)"
    try:
        ckpt = load_checkpoint(path)
    except CTPhaseError as exc:
        return None, f"bundled model: unreadable ({exc})"
    pp = ckpt.preprocessing
    return ckpt.arch, (f"bundled model: {ckpt.arch} at {pp.size} px, {len(pp.windows)} HU window(s), "
                       f"sha256 {ckpt.sha256[:12]} ({path.name})")


def models() -> None:
    """List the registered model architectures (the paper's backbones and baselines, fast CPU options).

    Tags: bundled (the architecture of the model predict uses without --model), train default
    (the --arch of ctphase train), paper (evaluated by the reference paper) or extra.
    """
    from ..models.registry import ARCHITECTURES, DEFAULT_ARCH, list_architectures

    bundled, line = _bundled()
    typer.echo(line)
    for name in list_architectures():
        spec = ARCHITECTURES[name]
        tags = [t for t, on in (("bundled", name == bundled), ("train default", name == DEFAULT_ARCH)) if on]
        tags.append("paper" if spec.paper else "extra")
        source = f"timm:{spec.timm_name}" if spec.timm_name else "ctphase"
        typer.echo(f"{spec.name:<19} {source:<28} [{', '.join(tags)}] {spec.note}")


class Exporter(str, Enum):
    auto = "auto"
    dynamo = "dynamo"
    legacy = "legacy"


def export(
    model: Path = typer.Option(..., "--model", "-m", help="ctphase checkpoint (.safetensors) to export."),
    onnx_out: Path | None = typer.Option(None, "--onnx", help="Write the standalone ONNX model here."),
    embed: Path | None = typer.Option(None, "--embed", help="Write a copy of the checkpoint with the ONNX export embedded here."),
    opset: int = typer.Option(18, "--opset", min=11, max=23, help="ONNX opset (the dynamo exporter needs >= 18)."),
    exporter: Exporter = typer.Option(Exporter.auto, "--exporter", help="dynamo (torch default), legacy (TorchScript, faster) or auto."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing output files."),
) -> None:
    """Export a checkpoint to ONNX: a standalone .onnx file and/or a checkpoint that embeds it."""
    need_extra("ctphase export", "torch", "timm", "onnx")
    from ..models.export import export_checkpoint

    if onnx_out is None and embed is None:
        raise typer.BadParameter("give --onnx OUT.onnx and/or --embed OUT.safetensors", param_hint="--onnx/--embed")
    check_output_file(onnx_out, "--onnx", overwrite, "model.onnx", parents=True)
    check_output_file(embed, "--embed", overwrite, "model_onnx.safetensors", parents=True)
    try:
        ckpt, data = export_checkpoint(model, onnx_path=onnx_out, embed_path=embed, opset=opset, exporter=exporter.value)
    except (CTPhaseError, OSError) as exc:
        # a bad option combination is a usage error (2); an unusable model or a failed export is 1
        fail(str(exc), 2 if isinstance(exc, ConfigError) else 1)
    if onnx_out is not None:
        typer.echo(f"wrote {onnx_out} ({len(data) / 1e6:.1f} MB, {ckpt.arch}, sha256 {ckpt.sha256[:12]})")
    if embed is not None:
        typer.echo(f"wrote {embed} (checkpoint with embedded ONNX, sha256 {ckpt.sha256[:12]})")


def average(
    models: list[Path] = typer.Argument(..., help="Two or more checkpoints fine-tuned from one start with one recipe (seeds, regularisation)."),
    out: Path = typer.Option(..., "--out", "-o", help="Write the averaged checkpoint here (.safetensors)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output file."),
) -> None:
    """Average the weights of fine-tuned checkpoints into one model ("model soup", Wortsman et al. 2022).

    The result has no ONNX export and no calibration: run ctphase export --embed, then ctphase calibrate.
    """
    from ..models.averaging import average_checkpoints
    from ..models.checkpoint import load_checkpoint, save_checkpoint

    check_output_file(out, "--out", overwrite, "soup.safetensors", parents=True)
    try:
        ckpt = average_checkpoints([load_checkpoint(m) for m in models], names=[str(m) for m in models])
        save_checkpoint(ckpt, out)
    except CTPhaseError as exc:
        fail(str(exc), 2 if isinstance(exc, ConfigError) else 1)
    typer.echo(f"wrote {out} (uniform average of {len(models)} checkpoints, {ckpt.arch}, sha256 {ckpt.sha256[:12]}); "
               "next: ctphase export --embed, then ctphase calibrate")
