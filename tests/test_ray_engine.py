"""``--engine ray``: the series classified by a pool of Ray workers give the local engine's results, byte for byte."""

from __future__ import annotations

import json
import operator
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ctphase.errors import ConfigError, MissingExtraError
from ctphase.ray_engine import check_executor

TESTS_DIR = Path(__file__).resolve().parent


def _without_timings(preds) -> list[dict]:
    return [{k: v for k, v in p.to_dict().items() if k != "timings"} for p in preds]


@pytest.fixture(scope="module")
def local_ray():
    """A local two-CPU Ray instance for the module's tests, shut down after."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.mark.slow
@pytest.mark.parametrize("early_stop", [True, False])
def test_ray_gives_the_local_results(local_ray, corpus, checkpoint, early_stop) -> None:
    from ctphase.pipeline import classify

    local = classify([corpus], model=checkpoint, seed=3, early_stop=early_stop)
    ray = classify([corpus], model=checkpoint, seed=3, early_stop=early_stop, executor="ray")
    assert sum(p.status == "ok" for p in local) >= 3 and any(p.status == "error" for p in local)
    assert json.dumps(_without_timings(ray)) == json.dumps(_without_timings(local))


@pytest.mark.slow
def test_ray_map_keeps_order_and_raises_the_workers_exception(local_ray) -> None:
    from ctphase.ray_engine import ray_map

    assert list(ray_map(operator.truediv, [1, 2, 4, 8, 5], float, 1, workers=2)) == [1.0, 0.5, 0.25, 0.125, 0.2]
    results = ray_map(operator.truediv, [1, 0, 2], float, 1)
    assert next(results) == 1.0
    with pytest.raises(ZeroDivisionError):
        next(results)
    assert local_ray.is_initialized()  # a Ray started by the caller is left running


@pytest.mark.slow
def test_cli_engine_ray_starts_a_local_ray_and_matches_local(corpus, checkpoint, tmp_path) -> None:
    pytest.importorskip("ray")
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    outputs = {}
    for engine in ("local", "ray"):
        out = tmp_path / f"{engine}.json"
        proc = subprocess.run(
            [sys.executable, "-c", "from ctphase.cli import app; app()", "predict", str(corpus), "-m", str(checkpoint), "--seed", "2",
             "-o", str(out), "-q", "--engine", engine],
            capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path,
        )
        assert proc.returncode == 1, proc.stderr  # the corpus holds broken inputs
        doc = json.loads(out.read_text())
        for r in doc["predictions"]:
            r.pop("timings", None)
        outputs[engine] = {k: doc[k] for k in ("arguments", "studies", "predictions")}
    assert outputs["ray"] == outputs["local"]


def test_unknown_engine_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="local, ray"):
        check_executor("spark")


def test_engine_ray_without_ray_names_the_install_command(tmp_path) -> None:
    code = textwrap.dedent(
        """
        import sys

        class HideRay:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "ray":
                    raise ModuleNotFoundError(f"No module named {name!r}", name=name)
                return None

        sys.meta_path.insert(0, HideRay())
        from ctphase.cli import app
        app(["predict", sys.argv[1], "--engine", "ray", "-q"])
        """
    )
    (tmp_path / "in").mkdir()
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / "in")], capture_output=True, text=True,
                          timeout=120, cwd=TESTS_DIR)
    assert proc.returncode == 2, proc.stderr
    assert 'pip install "ctphase[ray]"' in proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr


def test_missing_ray_raises_missing_extra(monkeypatch) -> None:
    monkeypatch.setattr("ctphase.extras.importable", lambda m: m != "ray")
    with pytest.raises(MissingExtraError, match=r'ctphase\[ray\]'):
        check_executor("ray")
