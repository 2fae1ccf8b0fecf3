"""The package's shape: layers import downwards only, modules and functions stay small, one preprocessing.

These read the source (AST), so they fail when a change breaks the architecture, not only its behaviour.
"""

from __future__ import annotations

import ast
from pathlib import Path

import ctphase

SRC = Path(ctphase.__file__).resolve().parent

LAYERS: dict[str, int] = {
    # 0: vocabulary and utilities
    "phases": 0, "errors": 0, "atomic": 0, "qc": 0,
    # 1: what the light install leaves out (extras), the per-series stages and the synthetic engine;
    # the stages do not import one another
    "extras": 1,
    "io": 1, "sampling": 1, "preprocessing": 1, "voting": 1, "prediction": 1, "synth": 1, "timing": 1,
    # 2-3: models (checkpoints carry their preprocessing), then the classifier engine
    "models": 2, "inference": 3, "study": 3, "ray_engine": 3, "series_record": 3,
    # 4: what assembles the stages
    "pipeline": 4, "reporting": 4, "data": 4, "journal": 4, "sr": 4,
    # 5-6: evaluation, then training (which validates with evaluation's metrics)
    "evaluation": 5, "sorting": 5, "watch": 5, "htmlreport": 5, "training": 6,
    # 7-8: the paper's wing and the command line
    "paper": 7, "cli": 8,
    # 9: `python -m ctphase` (runs the command line)
    "__main__": 9,
}
"""Rank of every top-level module or package: an import must go to a strictly lower rank (or stay inside its own)."""

MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80
LONG_ALLOWED: dict[str, str] = {}
"""``"module:function"`` -> why it may be longer than MAX_FUNCTION_LINES (none today)."""


def _modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py"))


def _top(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0].removesuffix(".py")


def _imported(path: Path, tree: ast.AST) -> set[str]:
    """Top-level ctphase modules that ``path`` imports anywhere (module level and inside functions)."""
    rel = path.relative_to(SRC)
    package = list(rel.parts[:-1]) if rel.name != "__init__.py" else list(rel.parts[:-1])
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
                parts = base + (node.module.split(".") if node.module else [])
                names = [parts[0]] if parts else [alias.name for alias in node.names]
            elif node.module and node.module.split(".")[0] == "ctphase":
                rest = node.module.split(".")[1:]
                names = rest[:1] or [alias.name for alias in node.names]
            else:
                continue
            found.update(names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "ctphase" and len(parts) > 1:
                    found.add(parts[1])
    return {name for name in found if name in LAYERS}


def test_every_module_has_a_layer() -> None:
    tops = {_top(p) for p in _modules()} - {"__init__"}
    assert tops <= set(LAYERS), f"give these a layer in LAYERS: {sorted(tops - set(LAYERS))}"


def test_imports_run_from_higher_layers_to_lower_ones() -> None:
    wrong = []
    for path in _modules():
        top = _top(path)
        if top == "__init__":
            continue  # the package root re-exports the API lazily
        for target in _imported(path, ast.parse(path.read_text())):
            if target != top and LAYERS[target] >= LAYERS[top]:
                wrong.append(f"{path.relative_to(SRC)} imports {target} (layer {LAYERS[target]} >= {LAYERS[top]})")
    assert not wrong, "\n".join(wrong)


def test_modules_and_functions_stay_small() -> None:
    big, long = [], []
    for path in _modules():
        text = path.read_text()
        rel = str(path.relative_to(SRC))
        if len(text.splitlines()) > MAX_MODULE_LINES:
            big.append(f"{rel}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES and f"{rel}:{node.name}" not in LONG_ALLOWED:
                    long.append(f"{rel}:{node.name}: {n} lines")
    assert not big and not long, "\n".join(big + long)


def test_preprocessing_is_built_only_by_checkpoints_and_training_configurations() -> None:
    allowed = {"preprocessing.py", "training/config.py", "paper/models.py"}
    built = []
    for path in _modules():
        rel = path.relative_to(SRC).as_posix()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "Preprocessing":
                if rel not in allowed:
                    built.append(f"{rel}:{node.lineno}")
    assert not built, f"Preprocessing built by hand at {built}; take it from the checkpoint or the training config"


def test_sources_do_not_point_outside_the_repository() -> None:
    hits = [str(p.relative_to(SRC)) for p in _modules() if "DESIGN.md" in p.read_text() or "../shared" in p.read_text()]
    assert not hits, hits
