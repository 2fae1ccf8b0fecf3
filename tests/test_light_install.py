"""The light install (``pip install ctphase``, no ``[train]`` extra) predicts with the bundled model.

Each test runs a fresh Python in which the ``train`` extra's packages (torch, timm, onnx,
onnxscript, scikit-learn, matplotlib) cannot be imported, as after a light install, and checks
that prediction works, that torch never got imported, and that the commands which need the
extra say how to install it instead of failing with a traceback.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ctphase.models.checkpoint import default_checkpoint_path

TESTS_DIR = Path(__file__).resolve().parent

BLOCK = textwrap.dedent(
    """
    import sys

    HIDDEN = ("torch", "timm", "torchvision", "onnx", "onnxscript", "sklearn", "matplotlib")

    class HideTrainExtra:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in HIDDEN:
                raise ModuleNotFoundError(f"No module named {name!r} (hidden: light install)", name=name)
            return None

    sys.meta_path.insert(0, HideTrainExtra())
    for name in list(sys.modules):
        if name.split(".")[0] in HIDDEN:
            del sys.modules[name]

    def run_cli(*args):
        from ctphase.cli import app
        try:
            app(list(args))
        except SystemExit as exc:
            return exc.code
        return 0

    def check_light():
        loaded = sorted({m.split(".")[0] for m in sys.modules if m.split(".")[0] in HIDDEN})
        assert not loaded, f"imported: {loaded}"
    """
)

pytestmark = pytest.mark.skipif(default_checkpoint_path() is None, reason="no bundled model installed")


def _run(body: str, *args: str) -> subprocess.CompletedProcess[str]:
    code = BLOCK + textwrap.dedent(body)
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300, cwd=TESTS_DIR,
    )


def test_predict_runs_without_torch(tmp_path: Path) -> None:
    from dicom_factory import write_series

    write_series(tmp_path / "ct", n=12, rows=64, cols=64)
    out = tmp_path / "phases.json"
    proc = _run(
        """
        import json
        from pathlib import Path
        import ctphase

        folder, out = Path(sys.argv[1]), Path(sys.argv[2])
        preds = ctphase.classify([folder])
        assert len(preds) == 1 and preds[0].status == "ok", preds
        assert preds[0].label in ctphase.PHASE_NAMES, preds[0].label
        code = run_cli("predict", str(folder), "-q", "--output", str(out))
        assert code == 0, code
        check_light()
        print(json.dumps({"label": preds[0].label, "sha": preds[0].model_sha256}))
        """,
        str(tmp_path / "ct"), str(out),
    )
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    record = json.loads(out.read_text())
    assert json.dumps(record).count(seen["label"]) >= 1
    assert seen["sha"]


def test_checkpoints_load_and_save_without_torch(tmp_path: Path) -> None:
    proc = _run(
        """
        from dataclasses import replace
        from ctphase.inference import Classifier, resolve_device
        from ctphase.models.checkpoint import default_checkpoint_path, load_checkpoint, save_checkpoint

        ckpt = load_checkpoint(default_checkpoint_path())  # verifies sha256 from numpy arrays
        assert ckpt.onnx is not None
        copy = replace(ckpt, meta={**ckpt.meta, "note": "light"})
        path = save_checkpoint(copy, sys.argv[1])
        again = load_checkpoint(path)
        assert again.sha256 == ckpt.sha256 and again.meta["note"] == "light"
        clf = Classifier(again)
        assert (clf.engine, clf.device) == ("onnx", "cpu"), (clf.engine, clf.device)
        assert resolve_device("auto") == "cpu"
        for engine in ("torch",):
            try:
                Classifier(again, engine=engine)
            except Exception as exc:
                assert "ctphase[train]" in str(exc), exc
            else:
                raise AssertionError("engine='torch' worked without torch")
        check_light()
        """,
        str(tmp_path / "copy.safetensors"),
    )
    assert proc.returncode == 0, proc.stderr


def test_commands_that_need_the_train_extra_say_how_to_install_it(tmp_path: Path) -> None:
    proc = _run(
        """
        import contextlib, io, json

        codes = {}
        for args in (("train", "--help"), ("models",), ("train", "--out", sys.argv[1]),
                     ("export", "--model", "m.safetensors", "--onnx", sys.argv[1] + "/m.onnx"),
                     ("evaluate", "--help")):
            codes[" ".join(args[:2])] = run_cli(*args)
        print(json.dumps(codes))
        """,
        str(tmp_path / "run"),
    )
    assert proc.returncode == 0, proc.stderr
    codes = json.loads(proc.stdout.strip().splitlines()[-1])
    assert codes["train --help"] == 0 and codes["models"] == 0 and codes["evaluate --help"] == 0
    assert codes["train --out"] == 2 and codes["export --model"] == 2
    assert proc.stderr.count('pip install "ctphase[train]"') == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "bundled model:" in proc.stdout


def test_average_runs_without_torch(tmp_path: Path) -> None:
    """``ctphase average`` works on the numpy arrays of a light install (torch is not needed to average)."""
    proc = _run(
        """
        from dataclasses import replace
        import numpy as np
        from ctphase.models.checkpoint import default_checkpoint_path, load_checkpoint, save_checkpoint

        a = replace(load_checkpoint(default_checkpoint_path()), onnx=None)
        b = replace(a, state_dict={k: v * np.asarray(3, v.dtype) if np.issubdtype(v.dtype, np.floating) else v
                                   for k, v in a.state_dict.items()})
        pa, pb, out = (sys.argv[1] + n for n in ("/a.safetensors", "/b.safetensors", "/soup.safetensors"))
        save_checkpoint(a, pa), save_checkpoint(b, pb)
        assert run_cli("average", pa, pb, "--out", out) == 0
        soup = load_checkpoint(out)
        key = next(k for k, v in a.state_dict.items() if np.issubdtype(v.dtype, np.floating) and np.abs(v).sum() > 0)
        np.testing.assert_allclose(soup.state_dict[key], 2 * a.state_dict[key], rtol=1e-6)
        assert [x["sha256"] for x in soup.meta["averaged_from"]] == [a.sha256, b.sha256]
        check_light()
        """,
        str(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr

