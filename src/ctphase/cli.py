"""The ``ctphase`` command line. Thin: each command parses options and calls one library function."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from . import __version__
from .errors import CTPhaseError, InputError
from .atomic import write_atomic
from .preprocessing import PAPER_WINDOW
from .sampling import DEFAULT_MIN_SLICES, DEFAULT_SAMPLE_RATE

app = typer.Typer(
    name="ctphase",
    help="Contrast phase recognition for CT scans: non_contrast, arterial, venous, other.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)


@app.command()
def version() -> None:
    """Print the ctphase version."""
    typer.echo(__version__)


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


def fail(message: str, code: int = 1) -> None:
    """Print ``error: message`` on stderr and exit with ``code`` (no traceback)."""
    console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _check_output(path: Path | None, overwrite: bool) -> None:
    if path is not None and path.exists() and not overwrite:
        fail(f"{path} exists; choose another --output or pass --overwrite", 2)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )


@app.command()
def predict(
    paths: list[Path] = typer.Argument(..., help="DICOM files/folders (any names, nested) and .nii/.nii.gz files."),
    model: Path | None = typer.Option(None, "--model", "-m", help="Checkpoint; default: the bundled model."),
    sample_rate: float = typer.Option(DEFAULT_SAMPLE_RATE, "--sample-rate", "-r", help="Fraction R of slices to classify, in (0, 1]."),
    min_slices: int = typer.Option(DEFAULT_MIN_SLICES, "--min-slices", help="Sample at least N slices; series with fewer are skipped."),
    seed: int = typer.Option(0, "--seed", help="Seed of the slice draw (each series is seeded by seed and its UID)."),
    batch_size: int = typer.Option(16, "--batch-size", min=1, help="Slices per forward pass."),
    device: Device = typer.Option(Device.auto, "--device", help="auto, cpu or cuda."),
    fmt: OutputFormat | None = typer.Option(None, "--format", "-f", help="table, json or csv (default: table, or from --output's extension)."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the result to FILE instead of stdout."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Allow replacing an existing --output file."),
    strict: bool = typer.Option(False, "--strict", help="Stop at the first broken file or series."),
) -> None:
    """Classify the contrast phase of every CT series under PATHS.

    Exit codes: 0 every series found was classified; 1 some series or files failed;
    2 usage error, or no classifiable series found.
    """
    from .pipeline import classify
    from .prediction import exit_code
    from .reporting import to_csv, to_json, to_table

    if fmt is None:
        suffix = output.suffix.lower() if output else ""
        fmt = OutputFormat.json if suffix == ".json" else OutputFormat.csv if suffix == ".csv" else OutputFormat.table
    if output is not None and fmt is OutputFormat.table:
        fail("--output needs --format json or csv (or a .json/.csv file name)", 2)
    _check_output(output, overwrite)
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        fail(f"no such file or folder: {', '.join(missing)}", 2)
    arguments = {
        "paths": [str(p) for p in paths],
        "model": str(model) if model else None,
        "sample_rate": sample_rate,
        "min_slices": min_slices,
        "seed": seed,
        "batch_size": batch_size,
        "device": device.value,
        "strict": strict,
    }
    with _progress() as progress:
        tasks: dict[str, int] = {}

        def on_progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                label = "Reading headers" if stage == "discover" else "Classifying series"
                tasks[stage] = progress.add_task(label, total=total)
            progress.update(tasks[stage], completed=done, total=total)

        try:
            preds = classify(
                paths,
                model=model,
                sample_rate=sample_rate,
                min_slices=min_slices,
                seed=seed,
                batch_size=batch_size,
                device=device.value,
                strict=strict,
                on_progress=on_progress,
            )
        except (CTPhaseError, OSError) as exc:
            # a broken input under --strict is a failure (1); a bad option or model is a usage error (2)
            fail(str(exc), 1 if isinstance(exc, (InputError, OSError)) else 2)
    if preds:
        arguments["model_sha256"] = next((p.model_sha256 for p in preds if p.model_sha256), None)
    if fmt is OutputFormat.table:
        Console().print(to_table(preds))
    else:
        text = to_json(preds, arguments) if fmt is OutputFormat.json else to_csv(preds)
        if output is None:
            sys.stdout.write(text)
        else:
            _write_new(output, text, overwrite)
            console.print(f"wrote {len(preds)} results to {output}")
    code = exit_code(preds)
    if code == 2:
        console.print("[yellow]no classifiable CT series found[/]")
    raise typer.Exit(code)


def _write_new(path: Path, text: str, overwrite: bool) -> None:
    """Write ``text`` to ``path`` atomically; refuse to replace an existing file unless ``overwrite``."""
    if path.exists() and not overwrite:
        fail(f"{path} exists; choose another --output or pass --overwrite", 2)
    try:
        write_atomic(path, text)
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror or exc}", 1)


# --- models and export (ctphase.models) -------------------------------------------------------


@app.command("models")
def models_cmd() -> None:
    """List the registered model architectures (the paper's backbones and fast CPU options)."""
    from .models.registry import ARCHITECTURES, DEFAULT_ARCH

    for spec in ARCHITECTURES.values():
        tags = ("default, " if spec.name == DEFAULT_ARCH else "") + ("paper" if spec.paper else "extra")
        typer.echo(f"{spec.name:<20} timm:{spec.timm_name:<24} [{tags}] {spec.note}")


class Exporter(str, Enum):
    auto = "auto"
    dynamo = "dynamo"
    legacy = "legacy"


@app.command("export")
def export_cmd(
    model: Path = typer.Option(..., "--model", "-m", help="ctphase checkpoint (.safetensors) to export."),
    onnx_out: Path | None = typer.Option(None, "--onnx", help="Write the standalone ONNX model here."),
    embed: Path | None = typer.Option(
        None, "--embed", help="Write a copy of the checkpoint with the ONNX export embedded here."
    ),
    opset: int = typer.Option(18, "--opset", min=11, max=23, help="ONNX opset (the dynamo exporter needs >= 18)."),
    exporter: Exporter = typer.Option(
        Exporter.auto, "--exporter", help="dynamo (torch default), legacy (TorchScript, faster) or auto."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing output files."),
) -> None:
    """Export a checkpoint to ONNX: a standalone .onnx file and/or a checkpoint that embeds it."""
    if onnx_out is None and embed is None:
        raise typer.BadParameter("give --onnx OUT.onnx and/or --embed OUT.safetensors", param_hint="--onnx/--embed")
    for out in (onnx_out, embed):
        if out is not None and out.resolve() == model.resolve():
            fail(f"{out} is the input checkpoint; write the output elsewhere", 2)
        if out is not None and out.exists() and not overwrite:
            fail(f"{out} exists; choose another path or pass --overwrite", 2)
    try:
        from .models.checkpoint import load_checkpoint, save_checkpoint
        from .models.export import export_onnx

        ckpt = load_checkpoint(model)
        data = export_onnx(ckpt, onnx_out, opset, exporter=exporter.value)
        if onnx_out is not None:
            typer.echo(f"wrote {onnx_out} ({len(data) / 1e6:.1f} MB, {ckpt.arch}, sha256 {ckpt.sha256[:12]})")
        if embed is not None:
            from dataclasses import replace

            save_checkpoint(replace(ckpt, onnx=data), embed)
            typer.echo(f"wrote {embed} (checkpoint with embedded ONNX, sha256 {ckpt.sha256[:12]})")
    except (CTPhaseError, OSError) as exc:
        from .errors import ConfigError

        # a bad option combination is a usage error (2); an unusable model or a failed export is 1
        fail(str(exc), 2 if isinstance(exc, ConfigError) else 1)


# --------------------------------------------------------------------------------------------
# train / evaluate
# --------------------------------------------------------------------------------------------


def _parse_window(text: str) -> tuple[float, float]:
    try:
        c, w = (float(v) for v in text.split(","))
    except ValueError:
        fail(f"--window {text!r} must be CENTER,WIDTH in HU, e.g. 50,400", 2)
    return c, w


def _parse_range(text: str, option: str) -> tuple[int, int]:
    """``"N"`` -> (0, N); ``"A:B"`` or ``"A-B"`` -> (A, B) (stop exclusive)."""
    try:
        if ":" in text or "-" in text.lstrip("-"):
            a, b = text.replace(":", "-").split("-")
            return int(a), int(b)
        return 0, int(text)
    except ValueError:
        fail(f"{option} {text!r} must be N (patients 0..N-1) or START:STOP", 2)
    raise AssertionError  # unreachable


@app.command()
def train(
    train_source: str = typer.Option("synth", "--train", help="Training data: a manifest CSV or 'synth'."),
    val_source: str | None = typer.Option(
        None, "--val", help="Validation: a manifest CSV or 'synth' (default: 'synth' for synthetic training, else a 20% patient split)."
    ),
    arch: str = typer.Option("efficientnet_b2", "--arch", help="Backbone (see the model registry)."),
    size: int = typer.Option(224, "--size", help="Input size in pixels."),
    epochs: int | None = typer.Option(None, "--epochs", help="Epochs [default: 15]; with --resume, the new total."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Run directory to create (holds checkpoints, config.json, metrics.json)."),
    batch_size: int = typer.Option(32, "--batch-size", min=1, help="Slices per batch."),
    lr: float = typer.Option(1e-3, "--lr", help="Peak learning rate (Adam)."),
    weight_decay: float = typer.Option(0.0, "--weight-decay", help="Adam weight decay."),
    warmup_epochs: float = typer.Option(1.0, "--warmup-epochs", help="Linear warm-up length, then cosine annealing."),
    loss: str = typer.Option("bce", "--loss", help="bce (paper: sigmoid, BCE on one-hot) or ce (softmax cross-entropy)."),
    window: list[str] | None = typer.Option(None, "--window", help="CENTER,WIDTH in HU; repeat for one channel per window [default: 50,400]."),
    steps_per_epoch: int | None = typer.Option(None, "--steps-per-epoch", help="Batches per epoch (synthetic stream: default 500; manifests: cap)."),
    train_patients: str = typer.Option("5000", "--train-patients", help="Synthetic training patients: N or START:STOP."),
    val_patients: str = typer.Option("100000:100032", "--val-patients", help="Synthetic validation patients (disjoint from training); each is rendered in all 4 phases."),
    synth_reuse: int = typer.Option(1, "--synth-reuse", min=1, help="Use each rendered synthetic slice N times (differently augmented): more img/s when rendering is the bottleneck."),
    no_augment: bool = typer.Option(False, "--no-augment", help="Disable augmentation."),
    hflip: bool = typer.Option(False, "--hflip", help="Allow left-right flips (off by default: anatomy is lateralised)."),
    seed: int = typer.Option(0, "--seed", help="Seed of initialisation, data and augmentation."),
    device: Device = typer.Option(Device.auto, "--device", help="auto, cpu or cuda."),
    workers: int = typer.Option(1, "--workers", min=0, help="DataLoader worker processes."),
    threads: int | None = typer.Option(None, "--threads", min=1, help="Torch threads (default: torch's; 1 is often fastest on a busy CPU)."),
    amp: str = typer.Option("auto", "--amp", help="Mixed precision on CUDA: auto, bf16, fp16 or off."),
    resume: Path | None = typer.Option(None, "--resume", help="Continue the run in RUN_DIR from its last epoch."),
) -> None:
    """Train a slice classifier from scratch; writes RUN_DIR/{best,last}.safetensors, config.json, metrics.json.

    Examples: ``ctphase train --train synth --arch efficientnet_b0 --size 128 --epochs 15 --out runs/b0``;
    ``ctphase train --resume runs/b0 --epochs 20``.
    """
    from .training.loop import TrainConfig
    from .training.loop import train as run_training

    if resume is None and out is None:
        fail("--out RUN_DIR is required (or --resume RUN_DIR)", 2)
    if val_source is None and train_source == "synth":
        val_source = "synth"
    cfg = TrainConfig(
        train=train_source,
        val=val_source,
        out=str(out or resume),
        arch=arch,
        size=size,
        windows=[_parse_window(w) for w in window] if window else [PAPER_WINDOW],
        epochs=epochs if epochs is not None else 15,
        batch_size=batch_size,
        lr=lr,
        weight_decay=weight_decay,
        warmup_epochs=warmup_epochs,
        loss=loss,  # type: ignore[arg-type]
        steps_per_epoch=steps_per_epoch,
        train_patients=_parse_range(train_patients, "--train-patients"),
        val_patients=_parse_range(val_patients, "--val-patients"),
        synth_reuse=synth_reuse,
        augment=not no_augment,
        hflip=hflip,
        seed=seed,
        num_workers=workers,
        threads=threads,
        device=device.value,
        amp=amp,
        resume=str(resume) if resume else None,
    )
    if resume is not None and epochs is None:
        import json

        try:
            cfg.epochs = int(json.loads((resume / "config.json").read_text())["epochs"])
        except (OSError, ValueError, KeyError):
            fail(f"cannot resume {resume}: no readable config.json there", 2)
    with _progress() as progress:
        task: list[int] = []

        def on_event(kind: str, data: dict) -> None:
            if kind == "start":
                console.print(
                    f"training {data['arch']} at {data['size']} px on {data['device']}: epochs {data['start_epoch'] + 1}..{data['epochs']}, "
                    f"{data['steps']} steps/epoch -> {data['run']}",
                    highlight=False,
                )
            elif kind == "step":
                if not task:
                    task.append(progress.add_task("", total=data["steps"]))
                progress.update(
                    task[0],
                    completed=data["step"],
                    total=data["steps"],
                    description=f"epoch {data['epoch']}/{data['epochs']} loss {data['loss']:.4f} "
                    f"lr {data['lr']:.2e} {data['img_per_s']:.0f} img/s",
                )
            elif kind == "validate" and task:
                progress.update(task[0], description=f"epoch {data['epoch']}: validating {data['scans']} scans")
            elif kind == "epoch":
                if task:
                    progress.remove_task(task.pop())
                console.print(
                    f"epoch {data['epoch']}: loss {data['train_loss']:.4f}  "
                    f"val slice acc {data.get('val_slice_acc', float('nan')):.3f} F1 {data.get('val_slice_f1', float('nan')):.3f}  "
                    f"scan acc {data.get('val_scan_acc', float('nan')):.3f} F1 {data.get('val_scan_f1', float('nan')):.3f}  "
                    f"{data['img_per_s']:.0f} img/s {data['seconds']:.0f}s{'  [best]' if data.get('best') else ''}",
                    highlight=False,
                )

        try:
            run = run_training(cfg, on_event=on_event)
        except (CTPhaseError, OSError) as exc:
            fail(str(exc), 1 if isinstance(exc, (InputError, OSError)) else 2)
    console.print(f"done: {run / 'best.safetensors'}")


@app.command()
def evaluate(
    manifest: str = typer.Option(..., "--manifest", help="Labelled scans: a manifest CSV (series or the paper's per-slice CSV) or 'synth'."),
    model: Path | None = typer.Option(None, "--model", "-m", help="Checkpoint; default: the bundled model."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for metrics.json, report.md and the figures."),
    bootstrap: int = typer.Option(5000, "--bootstrap", min=0, help="Bootstrap resamples over patients for the 95% CIs (0: none)."),
    sweep: bool = typer.Option(False, "--sweep", help="Also run the random-sampling sweep over R (1..100%)."),
    sample_rate: float = typer.Option(DEFAULT_SAMPLE_RATE, "--sample-rate", "-r", help="Fraction R of slices voted per scan."),
    min_slices: int = typer.Option(DEFAULT_MIN_SLICES, "--min-slices", help="Vote at least N slices per scan."),
    seed: int = typer.Option(0, "--seed", help="Seed of slice draws and bootstrap; with synth also the population (use the training --seed)."),
    patients: int = typer.Option(50, "--patients", help="With --manifest synth: number of synthetic test patients (4 scans each)."),
    patient_offset: int = typer.Option(200000, "--patient-offset", help="With --manifest synth: first test patient (keep clear of training/validation ranges)."),
    slices_per_scan: int = typer.Option(32, "--slices-per-scan", help="With --manifest synth: slices rendered per scan."),
    batch_size: int = typer.Option(16, "--batch-size", min=1, help="Slices per forward pass."),
    device: Device = typer.Option(Device.auto, "--device", help="auto, cpu or cuda."),
    threads: int | None = typer.Option(None, "--threads", min=1, help="CPU threads of the model engine (default: the engine's)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Allow replacing an existing report in --out."),
) -> None:
    """Evaluate a model on labelled scans: slice- and scan-level metrics with patient-bootstrap CIs, optional R sweep.

    Every slice of every scan is classified once; the scan label is the majority vote of a
    seeded random R of its slices. Writes OUT/metrics.json, OUT/report.md and PNG figures.
    """
    from .evaluation.run import run_evaluation, scans_from_manifest, scans_from_synth
    from .models.checkpoint import resolve_checkpoint

    if (out / "metrics.json").exists() and not overwrite:
        fail(f"{out / 'metrics.json'} exists; choose another --out or pass --overwrite", 2)
    try:
        ckpt = resolve_checkpoint(model)
        if manifest == "synth":
            from .models.checkpoint import load_checkpoint

            size = max(256, load_checkpoint(ckpt).preprocessing.size)
            scans = scans_from_synth(
                patients, patient_offset=patient_offset, seed=seed, size=size, slices_per_scan=slices_per_scan
            )
            dataset = f"synthetic (patients {patient_offset}..{patient_offset + patients - 1})"
        else:
            if not Path(manifest).is_file():
                fail(f"--manifest {manifest!r} is neither 'synth' nor an existing CSV file", 2)
            scans = scans_from_manifest(manifest)
            dataset = str(manifest)
        arguments = {
            "manifest": manifest,
            "model": str(ckpt),
            "bootstrap": bootstrap,
            "sweep": sweep,
            "sample_rate": sample_rate,
            "min_slices": min_slices,
            "seed": seed,
            "batch_size": batch_size,
            "device": device.value,
        }
        if manifest == "synth":
            arguments.update({"patients": patients, "patient_offset": patient_offset, "slices_per_scan": slices_per_scan})
        with _progress() as progress:
            task = progress.add_task("Classifying scans", total=len(scans))
            results = run_evaluation(
                scans,
                ckpt,
                out,
                n_resamples=bootstrap,
                sweep=sweep,
                sample_rate=sample_rate,
                min_slices=min_slices,
                seed=seed,
                batch_size=batch_size,
                device=device.value,
                threads=threads,
                dataset=dataset,
                arguments=arguments,
                on_progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
    except (CTPhaseError, OSError) as exc:
        fail(str(exc), 1 if isinstance(exc, (InputError, OSError)) else 2)
    scan = results["scan_level"]["metrics"]
    sl = results["slice_level"]["metrics"]
    console.print(
        f"{results['counts']['scans']} scans, {results['counts']['slices']} slices: "
        f"scan accuracy {scan['accuracy']:.3f}, macro F1 {scan['macro']['f1']:.3f}; "
        f"slice accuracy {sl['accuracy']:.3f}, macro F1 {sl['macro']['f1']:.3f}",
        highlight=False,
    )
    console.print(f"wrote {out / 'metrics.json'} and {out / 'report.md'}")


@app.command()
def synth(
    out: Path = typer.Option(..., "--out", help="Output folder (must be empty, or a previous synth output with --overwrite)."),
    patients: int = typer.Option(..., "--patients", help="Number of synthetic patients (one study each)."),
    seed: int = typer.Option(0, "--seed", help="Random seed; patient i depends only on (seed, i)."),
    phases: str = typer.Option("non_contrast,arterial,venous,other", "--phases", help="Comma-separated phases, one series each."),
    fmt: str = typer.Option("dicom", "--format", help="dicom or nifti."),
    matrix: int = typer.Option(512, "--matrix", help="Image matrix (pixels)."),
    first_patient: int = typer.Option(
        0, "--first-patient", min=0, help="Index of the first patient (e.g. 200000 for a test set clear of training patients)."
    ),
    max_slices: int = typer.Option(400, "--max-slices", min=2, help="Widen the slice spacing of thin-slice series above N slices."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a previous ctphase synth output in --out."),
) -> None:
    """Write synthetic multiphase abdominal CT studies plus manifest.csv and JSON records."""
    from .synth.dataset import generate_dataset

    phase_list = [p.strip() for p in phases.split(",") if p.strip()]
    try:
        with _progress() as progress:
            task = progress.add_task("Rendering series", total=None)
            manifest = generate_dataset(
                out, patients, seed=seed, phases=phase_list, fmt=fmt.lower(), matrix=matrix, overwrite=overwrite,
                max_slices=max_slices, first_patient=first_patient,
                progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
    except (CTPhaseError, OSError) as exc:
        fail(str(exc), 1 if isinstance(exc, OSError) else 2)
    console.print(f"wrote {manifest}")


bench_app = typer.Typer(
    help="Rerun the reference paper's experiments (architectures, input size, per-class CIs, sampling rate, "
    "3DSE/CD-GAN/header baselines, external validation) and write docs/results.md.",
    no_args_is_help=True,
)
app.add_typer(bench_app, name="bench")
_REALDATA_DEFAULT = Path("../shared/realdata")


@bench_app.command("run")
def bench_run(
    experiments: list[str] = typer.Argument(..., help="Experiments to run, or 'all': architectures, input-size, "
                                            "per-class, sampling, baselines, header, external."),
    work: Path = typer.Option(Path("runs/bench"), "--work", help="Folder for data, models and results (resumable)."),
    scale: str = typer.Option("cpu", "--scale", help="cpu (under 2 h on 2 CPU cores) or tiny (seconds; for tests)."),
    realdata: Path = typer.Option(_REALDATA_DEFAULT, "--realdata", help="Real series for 'external' (labels.csv + folders)."),
    seed: int = typer.Option(0, "--seed", help="Seed of training and slice draws."),
) -> None:
    """Run experiments of the paper on ctphase's benchmark data; results go to WORK/results/NAME.{json,md}.

    Trained models are kept in WORK/models and shared by the experiments: a stopped run resumes.
    """
    from .bench.data import get_scale
    from .bench.experiments import EXPERIMENTS, Bench

    names = list(EXPERIMENTS) if experiments == ["all"] else experiments
    bad = [n for n in names if n not in EXPERIMENTS]
    if bad:
        fail(f"unknown experiment {', '.join(bad)}; choose from {', '.join(EXPERIMENTS)} or all", 2)
    command = "ctphase bench run " + " ".join(sys.argv[sys.argv.index("run") + 1 :]) if "run" in sys.argv else None
    failed = []
    with _progress() as progress:
        tasks: dict[str, int] = {}

        def tick(task: str, done: int, total: int) -> None:
            if task not in tasks:
                tasks[task] = progress.add_task(task, total=total)
                if not console.is_terminal:
                    console.print(f"{task} ...", highlight=False)
            progress.update(tasks[task], completed=done, total=total)

        try:
            bench = Bench(work, get_scale(scale), realdata=realdata, progress=tick, seed=seed)
        except (CTPhaseError, OSError) as exc:
            fail(str(exc), 2)
        for name in names:
            try:
                res, _ = bench.run(name, command=command if len(names) == 1 else f"ctphase bench run {name} --work "
                                   f"{work} --scale {scale}")
            except (CTPhaseError, OSError) as exc:
                console.print(f"[bold red]error:[/] {name}: {escape(str(exc))}", highlight=False, soft_wrap=True)
                failed.append(name)
                continue
            console.print(f"{name}: done in {res['seconds'] / 60:.1f} min -> {work / 'results' / (name + '.md')}",
                          highlight=False)
    if failed:
        raise typer.Exit(1)


@bench_app.command("report")
def bench_report(
    work: Path = typer.Option(Path("runs/bench"), "--work", help="The folder given to `ctphase bench run`."),
    out: Path = typer.Option(Path("docs/results.md"), "--out", "-o", help="Markdown file to write (figures go beside it)."),
) -> None:
    """Collect the finished experiments of WORK into one markdown document with the commands that made it."""
    from .bench.report import write_report

    try:
        path = write_report(work, out)
    except (CTPhaseError, OSError) as exc:
        fail(str(exc), 2)
    console.print(f"wrote {path}")
