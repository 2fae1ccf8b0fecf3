"""Weight averaging ("model soup") of checkpoints fine-tuned from one starting point.

Wortsman et al., "Model soups: averaging weights of multiple fine-tuned models improves accuracy
without increasing inference time" (ICML 2022): networks fine-tuned from the same pre-trained
weights with different seeds or hyper-parameters tend to lie in one basin, so the uniform mean of
their weights is itself a good network, often better and steadier than any one of them, at the
cost of a single model. It only makes sense for runs that share an architecture, a configuration
and a starting point; averaging unrelated networks gives garbage, so :func:`average_checkpoints`
checks all three (the start as far as training recorded it in ``meta["recipe"]["init"]``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from ..errors import ConfigError
from .checkpoint import Checkpoint, fresh_meta

__all__ = ["average_checkpoints"]


def _array(value: Any) -> np.ndarray:
    return value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)


def average_checkpoints(ckpts: list[Checkpoint], names: list[str] | None = None) -> Checkpoint:
    """The uniform average of the weights of ``ckpts``, as a new checkpoint without ONNX or calibration.

    Floating-point tensors (weights, biases, batch-norm running statistics) are averaged in float64
    and stored in their own dtype; integer tensors (batch-norm step counters) take the largest value.

    Args:
        ckpts: two or more checkpoints of one architecture, configuration (preprocessing, classes,
            heads, output activation) and tensor layout.
        names: labels of the inputs (e.g. their paths) recorded in ``meta["averaged_from"]``.
    Raises:
        ConfigError: fewer than two checkpoints, or they differ in configuration or tensor layout.
    """
    if len(ckpts) < 2:
        msg = f"averaging needs at least two checkpoints, got {len(ckpts)}"
        raise ConfigError(msg)
    names = list(names) if names is not None else [f"#{i}" for i in range(len(ckpts))]
    if len(names) != len(ckpts):  # zip below would silently skip the checks of the unnamed ones
        msg = f"got {len(names)} names for {len(ckpts)} checkpoints"
        raise ConfigError(msg)
    first = ckpts[0]
    for name, ck in zip(names[1:], ckpts[1:]):
        if ck.config != first.config:
            msg = f"{name} has another configuration than {names[0]} (architecture, preprocessing, classes or heads); only runs of one recipe can be averaged"
            raise ConfigError(msg)
        if set(ck.state_dict) != set(first.state_dict):
            missing = sorted(set(first.state_dict) ^ set(ck.state_dict))[:3]
            msg = f"{name} and {names[0]} have different tensors (e.g. {', '.join(missing)})"
            raise ConfigError(msg)
    inits = {_init_of(ck) for ck in ckpts}
    if len(inits - {None}) > 1:
        msg = "the checkpoints were fine-tuned from different starting models (meta recipe.init); only runs from one start can be averaged"
        raise ConfigError(msg)
    state: dict[str, np.ndarray] = {}
    for key in sorted(first.state_dict):
        arrays = [_array(ck.state_dict[key]) for ck in ckpts]
        shapes = {a.shape for a in arrays}
        if len(shapes) != 1:
            msg = f"tensor {key} has different shapes across the checkpoints: {sorted(shapes)}"
            raise ConfigError(msg)
        stacked = np.stack(arrays)
        if np.issubdtype(stacked.dtype, np.floating):
            state[key] = np.asarray(stacked.astype(np.float64).mean(axis=0), dtype=arrays[0].dtype)
        else:
            state[key] = np.asarray(stacked.max(axis=0))  # 0-d stays an array
    meta: dict[str, Any] = {
        "averaging": "uniform",
        "averaged_from": [{"name": n, "sha256": ck.sha256} for n, ck in zip(names, ckpts)],
    }
    if len(inits) == 1 and None not in inits:
        meta["init_sha256"] = inits.pop()
    return replace(first, state_dict=state, meta=fresh_meta(meta), onnx=None)


def _init_of(ckpt: Checkpoint) -> str | None:
    """The sha256 of the model training started from, when training recorded it."""
    recipe = ckpt.meta.get("recipe")
    init = recipe.get("init") if isinstance(recipe, dict) else None
    return init.get("model_sha256") if isinstance(init, dict) else None
