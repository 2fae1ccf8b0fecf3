"""How a network's logits become class probabilities (the same numpy code for every engine).

* ``"softmax"`` (cross-entropy training): ``softmax(logits)``.
* ``"sigmoid"`` (the paper's BCE on one-hot targets): ``s = sigmoid(logits)``, then ``s / s.sum()``
  per slice, so that each row sums to 1 and can be voted and averaged like a softmax output.

The activation is part of a checkpoint's hashed configuration (``Checkpoint.output_activation``).
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError

OUTPUT_ACTIVATIONS: tuple[str, ...] = ("softmax", "sigmoid")
"""Accepted values of ``Checkpoint.output_activation``."""


def activate(logits: np.ndarray, output_activation: str) -> np.ndarray:
    """Turn ``(N, K)`` logits into ``(N, K)`` float32 probabilities whose rows sum to 1.

    Raises:
        ConfigError: an unknown activation name.
    """
    z = np.asarray(logits, dtype=np.float64)
    if output_activation == "softmax":
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        p = e / e.sum(axis=1, keepdims=True)
    elif output_activation == "sigmoid":
        s = 0.5 * (1.0 + np.tanh(0.5 * z))  # numerically stable sigmoid
        total = s.sum(axis=1, keepdims=True)
        k = z.shape[1]
        p = np.divide(s, total, out=np.full_like(s, 1.0 / k), where=total > 0)
    else:
        msg = f"output_activation {output_activation!r} must be 'softmax' or 'sigmoid'"
        raise ConfigError(msg)
    return p.astype(np.float32)


def activation_for_loss(loss: str) -> str:
    """The activation of a model trained with ``loss`` (``"bce"`` -> sigmoid, ``"ce"`` -> softmax)."""
    return "sigmoid" if loss == "bce" else "softmax"
