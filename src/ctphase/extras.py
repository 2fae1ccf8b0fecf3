"""Optional dependencies: what the light install (``pip install ctphase``) leaves out.

``ctphase predict`` runs the bundled model from its embedded ONNX graph on ONNX Runtime and needs
none of these. Training, ONNX export, evaluation, calibration and the paper's experiments need
the ``train`` extra: ``pip install "ctphase[train]"`` (PyTorch, timm, onnx, onnxscript,
scikit-learn, matplotlib).
"""

from __future__ import annotations

from importlib import import_module

from .errors import MissingExtraError

TRAIN_HINT = 'pip install "ctphase[train]"'
"""How to install what :func:`require` asks for."""

RAY_HINT = 'pip install "ctphase[ray]"'
"""How to install Ray, for ``ctphase predict --engine ray`` (:mod:`ctphase.ray_engine`)."""

SR_HINT = 'pip install "ctphase[sr]"'
"""How to install highdicom, for ``ctphase predict --sr-out`` (:mod:`ctphase.sr`)."""

PACKAGES: dict[str, str] = {
    "torch": "PyTorch", "timm": "timm", "onnx": "onnx", "onnxscript": "onnxscript",
    "sklearn": "scikit-learn", "matplotlib": "matplotlib", "ray": "Ray",
    "highdicom": "highdicom", "dicomweb_client": "dicomweb-client",
}
"""Module name -> package name of the ``train`` extra (and of the ``ray``, ``sr`` and ``dicomweb`` extras)."""


def importable(module: str) -> bool:
    """Whether ``module`` can be imported (it is, when it can)."""
    try:
        import_module(module)
    except ImportError:
        return False
    return True


def require(what: str, *modules: str, hint: str = TRAIN_HINT) -> None:
    """Raise :class:`MissingExtraError` naming the missing ones of ``modules`` and the install command.

    Args:
        what: the feature, as the start of a sentence (``"ctphase train"``, ``"the PyTorch engine"``).
        modules: module names (keys of :data:`PACKAGES`).
        hint: the install command named in the message (default: the ``train`` extra's).
    """
    missing = [PACKAGES.get(m, m) for m in modules if not importable(m)]
    if missing:
        msg = f"{what} needs {', '.join(missing)}, which the light install of ctphase leaves out: {hint}"
        raise MissingExtraError(msg)
