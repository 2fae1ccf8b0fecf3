"""Run the per-series work on a Ray cluster: a pool of actors, each of which builds its model once.

``ctphase predict --engine ray`` (:func:`ctphase.pipeline.iter_classify` with
``executor="ray"``) sends the series to the workers of this pool; the study step still runs on
the driver once every series is back, since it needs whole studies. The payload (the model
checkpoint) is put in Ray's object store once and fetched once per node, not shipped per series.

This module knows nothing of models or series: it maps a picklable ``work(state, item)`` over
``items`` on workers whose ``state = setup(payload)`` is built once per worker, and yields the
results in the order of ``items``, so that the results do not depend on which worker ran what.

Where Ray runs: ``address=None`` connects to the cluster named by ``RAY_ADDRESS`` when it is set,
else starts a local Ray instance for the run (stopped after); an address (``"auto"``,
``"ray://head:10001"``, ``"head:6379"``) connects to that cluster. A Ray instance already started
in this process (``ray.init`` called beforehand) is used as it is and left running.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from .errors import ConfigError
from .extras import RAY_HINT, require

EXECUTORS: tuple[str, ...] = ("local", "ray")
"""How the series of a run are classified: in this process, or by a pool of Ray workers."""


def check_executor(executor: str) -> None:
    """Raise :class:`~ctphase.errors.ConfigError` for an unknown executor, MissingExtraError when Ray is needed but absent."""
    if executor not in EXECUTORS:
        msg = f"engine {executor!r} must be one of {', '.join(EXECUTORS)}"
        raise ConfigError(msg)
    if executor == "ray":
        require("--engine ray", "ray", hint=RAY_HINT)


class _Worker:
    """One Ray actor: builds its state once, then runs ``work`` on the items sent to it."""

    def __init__(self, setup: Callable[[Any], Any], payload: Any) -> None:
        self.state = setup(payload)

    def run(self, work: Callable[[Any, Any], Any], item: Any) -> tuple[Any, BaseException | None]:
        """``(result, None)``, or ``(None, exception)`` so that the driver raises the exception itself."""
        try:
            return work(self.state, item), None
        except Exception as exc:  # re-raised on the driver (not wrapped in a RayTaskError)
            return None, exc


def _connect(address: str | None) -> bool:
    """Connect to (or start) Ray unless it already runs in this process; ``True`` when this call started it."""
    import ray

    if ray.is_initialized():
        return False
    quiet = {"logging_level": logging.WARNING, "log_to_driver": False}
    if address or os.environ.get("RAY_ADDRESS"):
        ray.init(address=address, **quiet)
    else:
        ray.init(include_dashboard=False, **quiet)
    return True


def _n_workers(n_items: int, workers: int | None, num_gpus: float) -> int:
    import ray

    if workers is None:
        resources = ray.cluster_resources()
        workers = int(resources.get("GPU", 0) / num_gpus) if num_gpus else int(resources.get("CPU", 1))
    return max(1, min(n_items, workers))


def ray_map(
    work: Callable[[Any, Any], Any],
    items: Sequence[Any],
    setup: Callable[[Any], Any],
    payload: Any,
    *,
    address: str | None = None,
    workers: int | None = None,
    num_gpus: float = 0.0,
) -> Iterator[Any]:
    """Yield ``work(setup(payload), item)`` for every item, in the order of ``items``, computed by Ray workers.

    Args:
        work, setup: picklable callables (module-level functions, classes, or partials of them);
            the package must be importable on every node.
        payload: sent once to the object store (e.g. the model checkpoint).
        address: the Ray cluster (see the module docstring); ``None``: ``RAY_ADDRESS`` or a local instance.
        workers: actors in the pool; default one per CPU of the cluster (per GPU with ``num_gpus``).
        num_gpus: GPUs per actor (0: CPU workers, 1 CPU each).
    Raises:
        the exception ``work`` raised for an item (after the items before it were yielded).
    """
    check_executor("ray")
    if not items:
        return
    import ray
    from ray.util import ActorPool

    started = _connect(address)
    actors: list[Any] = []
    try:
        ref = ray.put(payload)
        remote = ray.remote(_Worker).options(num_cpus=1, num_gpus=num_gpus)
        actors = [remote.remote(setup, ref) for _ in range(_n_workers(len(items), workers, num_gpus))]
        pool = ActorPool(actors)
        for result, exc in pool.map(lambda actor, item: actor.run.remote(work, item), items):
            if exc is not None:
                raise exc
            yield result
    finally:
        for actor in actors:
            ray.kill(actor)
        if started:
            ray.shutdown()
