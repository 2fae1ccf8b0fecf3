"""End-to-end classification of CT series: discover -> sample -> read -> prepare -> model -> series reader or vote.

:func:`classify` is the Python API behind ``ctphase predict``. Every input series yields one
:class:`~ctphase.prediction.ScanPrediction`, including those that were skipped or failed, so
that one broken file never hides the others. The model is anything that satisfies
:class:`PhaseClassifier`: :class:`ctphase.inference.Classifier` in the product.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from .errors import CTPhaseError, SeriesError
from .io import Series, Skipped
from .models.heads import SliceOutputs
from .phases import PHASE_NAMES
from .prediction import STATUS_SKIPPED, ScanPrediction
from .qc import PixelCheck
from .sampling import (
    DEFAULT_EARLY_STOP, DEFAULT_MIN_SLICES, DEFAULT_SAMPLE_RATE, check_sampling, classification_order, sample_slices, series_seed,
)
from .series_record import failed, from_skipped, reads_series, scan_prediction
from .timing import interval_for_label
from .voting import votes_until_decided

if TYPE_CHECKING:  # pragma: no cover
    from .io.dicomweb import DicomWebQuery
    from .preprocessing import Preprocessing
    from .study.params import StudyParams

logger = logging.getLogger(__name__)


class PhaseClassifier(Protocol):
    """What the pipeline needs of a model: its identity, its preprocessing and HU -> probabilities.

    Optional, used when present (:class:`ctphase.inference.Classifier` has them): ``predict_hu_outputs``
    (every head's outputs), ``series_timing`` (subphase and seconds) and ``series_reader`` (a
    :class:`ctphase.models.reader.SeriesReader`, or None, that then decides the series).
    """

    sha256: str
    preprocessing: Preprocessing

    def predict_hu(self, hu: np.ndarray) -> tuple[np.ndarray, float, float]:
        """``(N, H, W)`` HU -> ``(probabilities (M, 4) in PHASE_NAMES order, seconds_preprocess, seconds_model)``."""
        ...

    def series_probabilities(self, slice_probs: np.ndarray) -> np.ndarray:
        """Calibrated ``(4,)`` probabilities of one series from ``(N, 4)`` probabilities of its sampled slices."""
        ...


class RunJournal(Protocol):
    """Where a run keeps its results as they come, to resume from (:class:`ctphase.journal.Journal`)."""

    def start(self, model_sha256: str) -> Mapping[tuple[str, str], ScanPrediction]:
        """Open for this model: the results already held, by ``(series_id, path)``."""
        ...

    def record(self, prediction: ScanPrediction) -> None:
        """Keep one new series-alone result (durably, before returning)."""
        ...


READ_CHUNK = 32
"""Sampled slices decoded, checked and classified at once: memory stays bounded whatever the series' size."""


def predict_series(
    series: Series,
    classifier: PhaseClassifier,
    *,
    sample_rate: float = DEFAULT_SAMPLE_RATE,
    min_slices: int = DEFAULT_MIN_SLICES,
    seed: int | None = 0,
    chunk: int = READ_CHUNK,
    early_stop: bool = DEFAULT_EARLY_STOP,
) -> ScanPrediction:
    """Classify one series: draw R% of its slices, read, check and classify them in chunks, decide.

    With ``early_stop`` the drawn slices are classified in a seeded random order, a few at a
    time, and classification stops as soon as the vote of the whole draw can no longer change
    (:func:`ctphase.voting.vote_decided`): the label is the one the full draw would give, from
    fewer slices. ``sampled_indices`` is the draw, ``used_indices`` the slices classified (in
    the order classified); votes, mean and calibrated probabilities come from the used slices.
    Without it every drawn slice is classified, in index order (the paper's fixed R%). A
    classifier with a series reader (:mod:`ctphase.models.reader`) reads every drawn slice (its
    answer is not decided until all are in): ``early_stop`` does not apply to it.

    A series with fewer than ``min_slices`` slices is classified from all of them and flagged
    ``few_slices``. Quality flags (:mod:`ctphase.qc`) that make the images untrustworthy turn
    the final ``label`` into ``uncertain``; the series-alone answer (the series reader's, else the
    vote) stays in ``image_label``. A volume model
    (the paper's 3D baseline) reads the whole stack at once (never stopped early).

    Args:
        series: a discovered series (pixels not yet read).
        classifier: a :class:`PhaseClassifier` (e.g. :class:`ctphase.inference.Classifier`).
        seed: run seed; the draw (and the classification order) of this series is seeded by ``(seed, series_id)``.
        chunk: slices decoded and classified at once (at most).
        early_stop: stop once the vote is decided (see above).
    Raises:
        CTPhaseError: when the sampled slices cannot be read.
    """
    volume = classifier.preprocessing.depth is not None
    if volume:
        indices = np.arange(series.n_slices, dtype=np.int64)
    else:
        indices = sample_slices(series.n_slices, sample_rate, min_slices, series_seed(seed, series.series_id))
    check = PixelCheck()
    if early_stop and not volume and not reads_series(classifier):
        order = classification_order(indices, seed, series.series_id)
        outputs, n_used, timings = _classify_sequential(series, classifier, order, chunk, check)
        used = order[:n_used]
        outputs = outputs.take(np.argsort(used, kind="stable"))  # vote in index order: all used == no early stop
    else:
        outputs, _, timings = _classify_slices(series, classifier, indices, len(indices) if volume else chunk, check)
        used = indices
    return scan_prediction(series, classifier, outputs, indices, used, timings, check, min_slices)


def _classify_slices(
    series: Series, classifier: PhaseClassifier, indices: np.ndarray, chunk: int, check: PixelCheck,
    timings: dict[str, float] | None = None,
) -> tuple[SliceOutputs, int, dict[str, float]]:
    """Read, check and classify ``indices`` in parts of ``chunk``: ``(outputs, n, timings)``; timings accumulate."""
    timings = timings if timings is not None else {"read": 0.0, "preprocess": 0.0, "model": 0.0}
    parts: list[SliceOutputs] = []
    with_heads = getattr(classifier, "predict_hu_outputs", None)
    slices = series.iter_slices(indices, chunk)
    while True:
        t0 = time.perf_counter()
        hu = next(slices, None)
        timings["read"] += time.perf_counter() - t0
        if hu is None:
            break
        check.update(hu)
        if with_heads is not None:
            out, tp, tm = with_heads(hu)
        else:
            probs, tp, tm = classifier.predict_hu(hu)
            out = SliceOutputs(probs)
        parts.append(out)
        timings["preprocess"] += tp
        timings["model"] += tm
        del hu
    return SliceOutputs.concatenate(parts), len(indices), timings


def _classify_sequential(
    series: Series, classifier: PhaseClassifier, order: np.ndarray, chunk: int, check: PixelCheck,
) -> tuple[SliceOutputs, int, dict[str, float]]:
    """Classify ``order`` front to back until the vote of all of it is decided: ``(outputs, n used, timings)``.

    Each step classifies the fewest slices after which the vote could be decided
    (:func:`ctphase.voting.votes_until_decided`), so it stops after the same slice as a check
    after every slice would, while slices still go through the model several at a time.
    """
    n = len(order)
    timings = {"read": 0.0, "preprocess": 0.0, "model": 0.0}
    parts: list[SliceOutputs] = []
    counts = np.zeros(len(PHASE_NAMES), dtype=np.int64)
    done = 0
    while done < n:
        step = votes_until_decided(counts, n - done)
        if step == 0:
            break
        out, _, _ = _classify_slices(series, classifier, order[done : done + step], chunk, check, timings)
        parts.append(out)
        counts += np.bincount(out.probs.argmax(axis=1), minlength=len(counts))[: len(counts)]
        done += step
    return SliceOutputs.concatenate(parts), done, timings


def iter_classify(
    series: Sequence[Series],
    classifier: PhaseClassifier,
    *,
    sample_rate: float = DEFAULT_SAMPLE_RATE,
    min_slices: int = DEFAULT_MIN_SLICES,
    seed: int | None = 0,
    strict: bool = False,
    early_stop: bool = DEFAULT_EARLY_STOP,
    executor: str = "local",
    ray_address: str | None = None,
) -> Iterator[ScanPrediction]:
    """Classify discovered series one by one; a failing series yields an error record.

    With ``strict=True`` the first failure is raised instead. ``executor="ray"`` classifies them
    on a pool of Ray workers (:mod:`ctphase.ray_engine`; ``classifier`` must then be a
    :class:`ctphase.inference.Classifier`, whose checkpoint is shipped to the workers once), at
    ``ray_address``; the results are the same and come in the same order.
    """
    from .ray_engine import check_executor

    check_executor(executor)
    if executor == "ray":
        yield from _iter_classify_ray(series, classifier, ray_address, sample_rate=sample_rate, min_slices=min_slices,
                                      seed=seed, strict=strict, early_stop=early_stop)
        return
    for s in series:
        try:
            yield predict_series(s, classifier, sample_rate=sample_rate, min_slices=min_slices, seed=seed,
                                 early_stop=early_stop)
        except Exception as exc:  # one bad series never stops the others
            if strict:
                if isinstance(exc, CTPhaseError):
                    raise
                raise SeriesError(f"unexpected error: {type(exc).__name__}: {exc}", s.path) from exc
            logger.debug("series %s failed", s.series_id, exc_info=True)
            yield failed(s, exc, classifier.sha256)


def _classify_alone(classifier: PhaseClassifier, series: Series, options: dict[str, Any]) -> ScanPrediction:
    """What a Ray worker runs for one series (picklable by reference)."""
    return next(iter_classify([series], classifier, **options))


def _iter_classify_ray(
    series: Sequence[Series], classifier: Any, address: str | None, **options: Any,
) -> Iterator[ScanPrediction]:
    from functools import partial

    from .inference import Classifier
    from .ray_engine import ray_map

    setup = partial(Classifier, device=classifier.device, engine=classifier.engine, batch_size=classifier.batch_size,
                    threads=1)
    yield from ray_map(partial(_classify_alone, options=options), series, setup, classifier.checkpoint,
                       address=address, num_gpus=0.0 if classifier.device == "cpu" else 1.0)


def classify(
    paths: str | Path | Sequence[str | Path],
    *,
    model: str | Path | None = None,
    sample_rate: float = DEFAULT_SAMPLE_RATE,
    min_slices: int = DEFAULT_MIN_SLICES,
    seed: int | None = 0,
    batch_size: int = 16,
    device: str = "auto",
    engine: str = "auto",
    strict: bool = False,
    on_progress: Callable[[str, int, int], None] | None = None,
    study: bool = True,
    use_headers: bool = False,
    min_confidence: float | None = None,
    early_stop: bool = DEFAULT_EARLY_STOP,
    journal: RunJournal | None = None,
    executor: str = "local",
    ray_address: str | None = None,
    read: dict[tuple[str, str], Series] | None = None,
    dicomweb: DicomWebQuery | None = None,
) -> list[ScanPrediction]:
    """Classify the contrast phase of every CT series under ``paths``.

    Args:
        paths: files, folders (DICOM of any name, nested; .nii/.nii.gz), DICOMweb roots (filters: ``dicomweb``).
        model: checkpoint path; ``None`` uses the bundled default model.
        sample_rate: fraction R of each series' slices to classify, in (0, 1].
        min_slices: sample at least this many slices; series with fewer slices are classified
            from all of them and flagged ``few_slices``.
        seed: seed of the slice draw (``None`` for a fresh random draw each run).
        batch_size: slices per forward pass.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        engine: ``"auto"`` (ONNX Runtime when the checkpoint embeds an export), ``"torch"`` or ``"onnx"``.
        strict: raise on the first broken file or series instead of recording it.
        on_progress: called as ``(stage, done, total)`` with stage ``"discover"`` or ``"classify"``.
        study: decode each study's acquisitions jointly (:mod:`ctphase.study`); ``False``
            keeps every series' own answer.
        use_headers: let the DICOM header opinion weigh in the final label (off: it is only
            reported, in ``header_label`` and ``findings``).
        min_confidence: final labels with a lower confidence become ``uncertain``.
        early_stop: classify the drawn slices in random order and stop once their vote cannot
            change (same label as classifying all of them, from fewer slices: ``used_indices``);
            ``False`` classifies every drawn slice (the paper's fixed R%).
        executor: ``"local"`` (this process) or ``"ray"``: the series are classified by a pool of
            Ray workers (:mod:`ctphase.ray_engine`), same results; the study step runs here after.
        ray_address: the Ray cluster for ``executor="ray"`` (``None``: ``RAY_ADDRESS`` or a local instance).
        journal: a :class:`RunJournal` (:class:`ctphase.journal.Journal`): the series it already
            holds are not classified again (``on_progress("resumed", n, total)`` says how many),
            every new series-alone result is recorded in it as soon as it is known.
        read: filled with ``(series_id, path)`` -> the series read (for :mod:`ctphase.sr`, :mod:`ctphase.sorting`).
    Returns:
        One :class:`ScanPrediction` per series found, classified ones first (in discovery order),
        then skipped and failed inputs.
    """
    from .inference import Classifier
    from .io import discover
    from .models.checkpoint import resolve_checkpoint
    from .ray_engine import check_executor

    check_sampling(sample_rate, min_slices)
    check_executor(executor)
    paths = [paths] if isinstance(paths, (str, Path)) else paths
    classifier = Classifier(resolve_checkpoint(model), device=device, engine=engine, batch_size=batch_size)
    known = journal.start(classifier.sha256) if journal is not None else {}
    found = discover(list(paths), strict=strict, dicomweb=dicomweb,
                     progress=(lambda d, t: on_progress("discover", d, t)) if on_progress else None)
    results = _classify_found(found.series, classifier, known, journal, on_progress, strict=strict,
                              sample_rate=sample_rate, min_slices=min_slices, seed=seed, early_stop=early_stop,
                              executor=executor, ray_address=ray_address)
    skipped = [(s, from_skipped(s)) for s in found.skipped]
    reformats = [(s.meta, p) for s, p in skipped if s.plane]
    study_step(found.series, results, joint=study, use_headers=use_headers, min_confidence=min_confidence,
               reformats=reformats, seconds_factor=classifier.calibration.seconds_scale_for)
    if study:
        reslice_unlinked(skipped, classifier, sample_rate=sample_rate, min_slices=min_slices, seed=seed,
                         early_stop=early_stop, min_confidence=min_confidence)
    results.extend(p for _, p in skipped)
    _remember(read, found.series, skipped)
    return results


def _remember(read: dict[tuple[str, str], Series] | None, series: Sequence[Series],
              skipped: Sequence[tuple[Skipped, ScanPrediction]]) -> None:
    """Fill ``read`` (when given): each record's ``(series_id, path)`` -> the series it was read from."""
    if read is not None:
        read.update(((s.series_id, s.path), s) for s in series)
        read.update(((p.series_id, p.path), s.stack) for s, p in skipped if s.stack is not None)


def _classify_found(
    series: Sequence[Series],
    classifier: PhaseClassifier,
    known: Mapping[tuple[str, str], ScanPrediction],
    journal: RunJournal | None,
    on_progress: Callable[[str, int, int], None] | None,
    **options: Any,
) -> list[ScanPrediction]:
    """Series-alone results of ``series``, in order: those in ``known`` (by series_id and path) reused, the rest classified.

    Each new result goes to ``journal`` before the next series starts. ``options``: as :func:`iter_classify`.
    """
    reused = {i: known[(s.series_id, s.path)] for i, s in enumerate(series) if (s.series_id, s.path) in known}
    todo = [s for i, s in enumerate(series) if i not in reused]
    if known and on_progress:
        on_progress("resumed", len(reused), len(series))
    fresh: list[ScanPrediction] = []
    for pred in iter_classify(todo, classifier, **options):
        if journal is not None:
            journal.record(pred)
        fresh.append(pred)
        if on_progress:
            on_progress("classify", len(fresh), len(todo))
    new = iter(fresh)
    return [reused[i] if i in reused else next(new) for i in range(len(series))]


def reslice_unlinked(
    skipped: Sequence[tuple[Skipped, ScanPrediction]],
    classifier: PhaseClassifier,
    *,
    min_confidence: float | None = None,
    **sampling: Any,
) -> None:
    """Classify the reformats the study step could not link, from axial planes resliced out of their own volume.

    ``skipped``: the skipped inputs and their records; non-axial stacks still skipped (not
    linked to an axial acquisition) are classified alone, in place, and keep the reason they
    were not read as axial in their warnings. ``sampling``: as :func:`predict_series`.
    """
    from dataclasses import fields

    from .io.reslice import reslice
    from .study.step import finish_alone

    for s, p in skipped:
        if not (s.plane and s.stack is not None and p.status == STATUS_SKIPPED):
            continue
        series = reslice(s.stack)  # type: ignore[arg-type]
        try:
            q = predict_series(series, classifier, **sampling)
        except CTPhaseError as exc:
            p.error = f"{p.error}; reslicing into axial planes failed: {exc}"
            continue
        finally:
            series.release()
        note = (f"{s.plane} reformat not linked to an axial acquisition: classified alone from "
                f"{series.n_slices} axial planes resliced out of it")
        q.warnings.insert(0, p.error or "")
        for f in fields(q):
            setattr(p, f.name, getattr(q, f.name))
        finish_alone(p, note, min_confidence)


def study_step(
    series: Sequence[Series],
    predictions: Sequence[ScanPrediction],
    *,
    joint: bool = True,
    use_headers: bool = False,
    min_confidence: float | None = None,
    reformats: Sequence[tuple[dict[str, Any], ScanPrediction]] = (),
    seconds_factor: Callable[[str | None], float] | None = None,
    params: StudyParams | None = None,
) -> None:
    """Run :func:`ctphase.study.assign_studies` on classified series (``predictions[i]`` is ``series[i]``'s).

    ``reformats``: the header values and records of non-axial stacks, which get the phase of the acquisition they were
    made from when it can be linked. ``seconds_factor``: the seconds interval factor per label
    (:meth:`Calibration.seconds_scale_for`); a label the step changes gets its own (:func:`ctphase.timing.interval_for_label`).
    ``params``: the study model's terms (default: the shipped ones)."""
    from .study.step import StudyItem, assign_studies

    items = [StudyItem(p, s.meta, _z_range(s)) for s, p in zip(series, predictions)]
    items += [StudyItem(p, meta, None, reformat=True) for meta, p in reformats]
    assign_studies(items, params=params, joint=joint, use_headers=use_headers, min_confidence=min_confidence)
    if seconds_factor is not None:
        for item in items:
            interval_for_label(item.prediction, seconds_factor)


def _z_range(series: Series) -> tuple[float, float] | None:
    pos = series.slice_positions
    return None if pos is None or len(pos) == 0 else (float(np.min(pos)), float(np.max(pos)))
