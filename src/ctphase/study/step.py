"""The study step: from series-alone answers to a joint answer per study, with evidence and findings.

:func:`assign_studies` takes the classified series (predictions and their headers, never
pixels), groups them by StudyInstanceUID, links reconstructions into acquisitions and pools
their image evidence, orders the acquisitions in time (:mod:`ctphase.study.order`) and decodes
the most probable phases under one injection (:mod:`ctphase.study.assign`). It fills, on each
prediction: ``study_label``, ``probabilities`` (the posterior), ``acquisition_id``,
``acquisition_order``, ``header_label``, ``evidence``, ``findings``, and the final ``label``
(the study's answer when the step applied, else the series' own; ``uncertain`` when a quality
flag says so or the confidence is under ``min_confidence``).

The order is not taken as certain: each acquisition may be out of place (a wrong clock or
number, ``params.order_doubt``), which lowers the confidence of an answer the order forces on
images that disagree, and lets strong images keep their own answer (a finding says so).

It falls back to series-alone answers, and says so in ``evidence``, when a series has no
study (NIfTI), when nothing orders the study's acquisitions, or when the images would have to
give up more than ``params.max_order_cost`` nats to follow one injection in that order (two
injections, shuffled or wrong times).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..phases import PHASE_NAMES
from ..prediction import UNCERTAIN, ScanPrediction
from ..qc import is_untrustworthy
from ..timing import settle
from .assign import decode, order_cost
from .headers import acquisition_seconds, header_opinion
from .order import Acquisition, Ordering, link, order, same_frame, same_time
from .params import StudyParams, load_params

HEADER_WEIGHT = 1.5
"""Log-likelihood bonus of the header's phase when ``use_headers`` (about 4.5:1 odds)."""
EPS = 1e-6


@dataclass
class StudyItem:
    """One classified series as the study step sees it: its prediction, header values and z range."""

    prediction: ScanPrediction
    meta: Mapping[str, str] = field(default_factory=dict)
    z_range: tuple[float, float] | None = None
    reformat: bool = False


def assign_studies(
    items: Sequence[StudyItem],
    *,
    params: StudyParams | None = None,
    use_headers: bool = False,
    min_confidence: float | None = None,
    joint: bool = True,
) -> None:
    """Fill the study-level fields of every ``ok`` prediction in ``items`` (see the module docstring).

    Args:
        use_headers: let the header opinion weigh in the final label (:data:`HEADER_WEIGHT`).
        min_confidence: below it the final label is ``uncertain``.
        joint: decode each study's acquisitions jointly; ``False`` keeps series-alone answers
            (header opinions, findings and the threshold still apply).
    """
    params = params or load_params()
    studies = group_studies([it for it in items if it.prediction.status == "ok" or it.reformat])
    for whole in studies:
        study = [it for it in whole if not it.reformat]
        if not study:
            continue
        if joint:
            _assign_study(study, params, use_headers, min_confidence)
        else:
            preds = [it.prediction for it in study]
            _record_opinions(preds, [header_opinion(it.meta, [x.meta for x in study]) for it in study])
            for p in preds:
                p.evidence.append("series alone (study step off)")
                _finish(p, None, None, min_confidence)
        link_reformats([it for it in whole if it.reformat], study)


def group_studies(items: Sequence[StudyItem]) -> list[list[StudyItem]]:
    """Series grouped by StudyInstanceUID, studies that share a FrameOfReferenceUID joined.

    De-identification sometimes gives each series its own StudyInstanceUID; a shared frame of
    reference (one patient position on one table) still ties them to one examination. A series
    with neither is a study of its own (NIfTI files always are).
    """
    parent = list(range(len(items)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first: dict[tuple[str, str], int] = {}
    for i, it in enumerate(items):
        keys = [("study", it.prediction.study_uid or ""), ("frame", str(it.meta.get("FrameOfReferenceUID") or ""))]
        for key in keys:
            if not key[1]:
                continue
            if key in first:
                parent[root(i)] = root(first[key])
            else:
                first[key] = i
    groups: dict[int, list[StudyItem]] = defaultdict(list)
    for i, it in enumerate(items):
        groups[root(i)].append(it)
    out = list(groups.values())
    for study in out:
        uids = {it.prediction.study_uid for it in study}
        if len(uids) > 1:
            for it in study:
                it.prediction.evidence.append(
                    f"study joined from {len(uids)} StudyInstanceUIDs by a shared FrameOfReferenceUID"
                )
        elif uids == {None}:
            for it in study:
                it.prediction.evidence.append(f"no StudyInstanceUID ({it.prediction.source})")
    return out


def link_reformats(reformats: Sequence[StudyItem], study: Sequence[StudyItem]) -> None:
    """Give each non-axial reformat the final answer of the axial acquisition it was made from.

    The link is the acquisition time (within ``LINK_TOLERANCE_S``, same FrameOfReferenceUID
    where both have one) or, without times, an AcquisitionNumber that only one axial
    acquisition of the study carries. The reformat's own pixels are not classified.
    """
    timed = [(acquisition_seconds(it.meta), it) for it in study if it.prediction.label]
    for r in reformats:
        p, t = r.prediction, acquisition_seconds(r.meta)
        hits = [it for s, it in timed if same_time(s, t) and same_frame(r.meta, it.meta)]
        how = "acquisition time"
        if not hits and t is None and r.meta.get("AcquisitionNumber"):
            hits = [it for _, it in timed if it.meta.get("AcquisitionNumber") == r.meta.get("AcquisitionNumber")]
            how = "AcquisitionNumber"
        if len({it.prediction.acquisition_id for it in hits}) != 1:
            p.error = (p.error or "") + "; not linked to one axial acquisition of its study (by acquisition time or AcquisitionNumber)"
            continue
        src = hits[0].prediction
        p.warnings.append(p.error or "")
        p.status, p.error = "ok", None
        p.label, p.study_label, p.probabilities, p.confidence = src.label, src.study_label, dict(src.probabilities), src.confidence
        p.acquisition_id, p.acquisition_order = src.acquisition_id, src.acquisition_order
        p.evidence.append(f"reformat of the acquisition of {src.series_id} (linked by {how}): its phase; "
                          "the reformat's own pixels are not classified")


def _record_opinions(preds: list[ScanPrediction], opinions: list) -> None:  # noqa: ANN001 - HeaderOpinion
    for p, op in zip(preds, opinions):
        p.header_label = op.label
        if op.label is not None:
            p.evidence.append(op.reason)
            if p.image_label and op.label != p.image_label:
                p.findings.append(f"header says {op.label}, images say {p.image_label} ({op.reason})")


def _emissions(study: list[StudyItem], acq: Acquisition, use_headers: bool) -> np.ndarray:
    """Pooled log probabilities of an acquisition's series (weighted by slices sampled); flat when untrustworthy."""
    logs, weights = [], []
    for i in acq.members:
        p = study[i].prediction
        if is_untrustworthy(p.qc) or not p.probabilities:
            continue
        logs.append(np.log(np.maximum([p.probabilities[n] for n in PHASE_NAMES], EPS)))
        weights.append(max(1, len(p.sampled_indices)))
    e = np.average(logs, axis=0, weights=weights) if logs else np.full(4, np.log(0.25))
    if use_headers:
        heads = {study[i].prediction.header_label for i in acq.members} - {None}
        if len(heads) == 1:
            e = e + HEADER_WEIGHT * (np.arange(4) == PHASE_NAMES.index(heads.pop()))
    return e - np.log(np.sum(np.exp(e)))


def _assign_study(study: list[StudyItem], params: StudyParams, use_headers: bool, min_confidence: float | None) -> None:
    metas = [it.meta for it in study]
    preds = [it.prediction for it in study]
    times = [acquisition_seconds(m) for m in metas]
    opinions = [header_opinion(m, metas) for m in metas]
    _record_opinions(preds, opinions)
    bolus = [op.seconds_after_injection for op in opinions]
    acqs = link(metas, [it.z_range for it in study], [p.series_uid for p in preds], times, bolus)
    for a in acqs:
        aid = min(preds[i].series_id for i in a.members)
        for i in a.members:
            preds[i].acquisition_id = aid
            if len(a.members) > 1:
                preds[i].evidence.append(f"pooled with {len(a.members) - 1} other reconstruction(s) of its acquisition")
    ordering = order(acqs)
    emissions = [_emissions(study, a, use_headers) for a in acqs]
    if not ordering.chains:
        for p in preds:
            p.evidence.append(f"study step not applied: {ordering.reason}; series alone")
            _finish(p, None, None, min_confidence)
        return
    for chain in ordering.chains:
        _decode_chain(study, acqs, chain, ordering, emissions, params, min_confidence)


def _decode_chain(
    study: list[StudyItem],
    acqs: list[Acquisition],
    chain: list[int],
    ordering: Ordering,
    emissions: list[np.ndarray],
    params: StudyParams,
    min_confidence: float | None,
) -> None:
    e = np.stack([emissions[a] for a in chain])
    if len(chain) == 1 and acqs[chain[0]].bolus_seconds is None:
        for i in acqs[chain[0]].members:
            study[i].prediction.evidence.append(f"study step not applied: one acquisition without bolus timing ({ordering.reason}); series alone")
            _finish(study[i].prediction, None, None, min_confidence)
        return
    cost = order_cost(e)
    if cost > params.max_order_cost:
        why = (f"study step not applied: the images would give up {cost:.1f} nats to follow one injection "
               f"in this order ({ordering.reason}); series alone")
        for a in chain:
            for i in acqs[a].members:
                study[i].prediction.evidence.append(why)
                _finish(study[i].prediction, None, None, min_confidence)
        return
    gaps = [ordering.gaps.get((a, b)) for a, b in zip(chain[:-1], chain[1:])]
    decoded = decode(e, params, gaps, [acqs[a].bolus_seconds for a in chain], use_start=len(chain) > 1,
                     suspects=[a in ordering.suspects for a in chain])
    for k, a in enumerate(chain):
        phase = PHASE_NAMES[int(decoded.labels[k])]
        note = _order_note(k, chain, acqs, decoded.labels, gaps, ordering)
        for i in acqs[a].members:
            p = study[i].prediction
            p.acquisition_order = k
            p.evidence.append(note)
            _note_doubt(p, float(decoded.misplaced[k]), phase)
            _finish(p, phase, decoded.posterior[k], min_confidence)


def _note_doubt(p: ScanPrediction, misplaced: float, phase: str) -> None:
    """Evidence (from 5%) that the acquisition's place in the order may be wrong; a finding when it probably is."""
    if misplaced > 0.5:
        doubt = f"answered by its images ({phase}): its time or number is probably wrong (probability {misplaced:.2f})"
        p.evidence.append(doubt)
        p.findings.append(f"its place in the study's order does not fit its images: {doubt}")
    elif misplaced >= 0.05:
        p.evidence.append(f"its place in the order may be wrong (probability {misplaced:.2f}); confidence lowered to match")


def _order_note(k: int, chain: list[int], acqs: list[Acquisition], labels: np.ndarray,
                gaps: list[float | None], ordering: Ordering) -> str:
    n = len(chain)
    if n == 1:
        return f"study: the only acquisition of its chain ({ordering.reason})"
    where = f"acquisition {k + 1} of {n} ({ordering.reason})"
    if k > 0:
        prev = PHASE_NAMES[int(labels[k - 1])]
        gap = gaps[k - 1]
        where += f"; after the {prev} acquisition" + (f" at +{gap:.0f} s" if gap is not None else "")
    return "study: " + where


def finish_alone(p: ScanPrediction, note: str, min_confidence: float | None = None) -> None:
    """Settle a series' final answer without a study (its own vote), with ``note`` as evidence."""
    p.evidence.append(note)
    _finish(p, None, None, min_confidence)


def _finish(p: ScanPrediction, study_label: str | None, posterior: np.ndarray | None, min_confidence: float | None) -> None:
    """Final label and confidence from the study's answer (or the series' own), quality flags and the threshold."""
    if posterior is not None:
        p.probabilities = {n: round(float(v), 6) for n, v in zip(PHASE_NAMES, posterior)}
    p.study_label = study_label
    answer = study_label or p.image_label
    if study_label and p.image_label and study_label != p.image_label:
        p.evidence.append(f"study changed {p.image_label} to {study_label}")
    p.confidence = round(float(p.probabilities.get(answer, 0.0)), 6) if p.probabilities else p.confidence
    if is_untrustworthy(p.qc):
        p.label = UNCERTAIN
    elif min_confidence is not None and (p.confidence or 0.0) < min_confidence:
        p.label = UNCERTAIN
        p.evidence.append(f"confidence {p.confidence:.2f} below --min-confidence {min_confidence:.2f}")
    else:
        p.label = answer
    settle(p)


__all__ = ["HEADER_WEIGHT", "StudyItem", "assign_studies", "finish_alone", "group_studies", "link_reformats"]
