"""Per-scan latency levers, before/after side by side in one run (issue 13: the model's and the I/O share).

Writes one synthetic 300-slice 512x512 DICOM series (as ``predict_latency.py``), then times the
lazy R=30% prediction of it (headers of all files, 90 sampled slices read, preprocessed and
classified in chunks of 32, as ``predict_series`` does without early stopping) under each
variant. Every variant runs in its own child process (ONNX Runtime thread pools of one variant
cannot steal the cores of another), and the variants take turns, round after round, so that
load from other processes falls on all of them alike. Figures: median over all runs of a
variant, seconds per scan, warm page cache; ``best``: the fastest total of a variant.

Variants (``after`` is the code now; each ``after +...`` changes one thing against it):

* ``before``      ONNX Runtime's default spinning of idle intra-op threads (the code before issue 13);
* ``after``       ``session.intra_op.allow_spinning=0`` (inference.py), serial decode, batch 16,
  2 intra-op threads;
* ``spin, stop at end``   spinning during a run, stopped when it returns (``session.force_spinning_stop=1``);
* ``after +read x2``   slices decoded by 2 threads (``dicom_pixels.READ_THREADS = 2``);
* ``after b32`` / ``after 1 thr``   batch 32 / one intra-op thread;
* ``after +prefetch``   the next chunk read in a thread while this one is classified
  (``ctphase.io.dicom_pixels.prefetch``; not wired into ``predict_series``);
* ``after +prep x2``    preprocessing of a chunk split over 2 threads, cv2 single-threaded.

It also times header reading serial against a 2-thread pool, and prints the slice
probabilities' largest difference of every variant against the first one (0 = exact).

Usage::

    python benchmarks/speed_levers.py                # ~2 min on 2 cores
    python benchmarks/speed_levers.py --load 2 --variants before after "spin, stop at end"   # a busy machine
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

VARIANTS: dict[str, dict[str, object]] = {
    "before": {"spin": "1"},
    "after": {},
    "spin, stop at end": {"spin": "1", "stop": "1"},
    "after +read x2": {"read_threads": 2},
    "after b32": {"batch": 32},
    "after 1 thr": {"intra": 1},
    "after +prefetch": {"prefetch": True},
    "after +prep x2": {"prep_threads": 2},
}
CHUNK = 32


def _classifier(cfg: dict[str, object]):  # noqa: ANN202
    import onnxruntime as ort

    from ctphase.inference import Classifier
    from ctphase.models.checkpoint import resolve_checkpoint

    clf = Classifier(resolve_checkpoint(None), engine="onnx", batch_size=int(cfg.get("batch", 16)))
    if "spin" in cfg or "intra" in cfg:  # rebuild the session with the variant's options
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(cfg.get("intra", 2))
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        opts.add_session_config_entry("session.intra_op.allow_spinning", str(cfg.get("spin", "0")))
        if "stop" in cfg:
            opts.add_session_config_entry("session.force_spinning_stop", str(cfg["stop"]))
        clf._session = ort.InferenceSession(clf.checkpoint.onnx, sess_options=opts, providers=["CPUExecutionProvider"])
    return clf


def _prep_threaded(pp, hu: np.ndarray, pool: ThreadPoolExecutor) -> np.ndarray:  # noqa: ANN001
    halves = np.array_split(np.arange(len(hu)), 2)
    return np.concatenate(list(pool.map(lambda ix: pp(hu[ix]), halves)))


def _one_scan(folder: Path, clf, cfg: dict[str, object], pool: ThreadPoolExecutor) -> tuple[dict[str, float], np.ndarray]:  # noqa: ANN001
    from ctphase.io import load_series
    from ctphase.io.dicom_pixels import prefetch
    from ctphase.sampling import sample_slices, series_seed

    t = {"headers": 0.0, "read": 0.0, "preprocess": 0.0, "model": 0.0}
    start = t0 = time.perf_counter()
    series = load_series(folder)
    t["headers"] = time.perf_counter() - t0
    idx = sample_slices(series.n_slices, 0.3, 8, series_seed(0, series.series_id))
    chunks = series.iter_slices(idx, CHUNK)
    if cfg.get("prefetch"):
        chunks = prefetch(chunks)
    probs = []
    while True:
        t0 = time.perf_counter()
        hu = next(chunks, None)
        t1 = time.perf_counter()
        t["read"] += t1 - t0
        if hu is None:
            break
        x = _prep_threaded(clf.preprocessing, hu, pool) if cfg.get("prep_threads") else clf.preprocessing(hu)
        t2 = time.perf_counter()
        probs.append(clf.predict_proba(x))
        t["preprocess"] += t2 - t1
        t["model"] += time.perf_counter() - t2
    t["total"] = time.perf_counter() - start
    return t, np.concatenate(probs)


def child(folder: Path, name: str, repeats: int, out: Path) -> None:
    """Run one variant ``repeats`` times (after one warm-up) and write its timings and probabilities."""
    import cv2

    from ctphase.io import dicom_pixels

    cfg = VARIANTS[name]
    dicom_pixels.READ_THREADS = int(cfg.get("read_threads", dicom_pixels.READ_THREADS))
    if cfg.get("prep_threads"):
        cv2.setNumThreads(1)
    clf = _classifier(cfg)
    with ThreadPoolExecutor(2) as pool:
        _, probs = _one_scan(folder, clf, cfg, pool)
        runs = [_one_scan(folder, clf, cfg, pool)[0] for _ in range(repeats)]
    np.save(out.with_suffix(".npy"), probs)
    out.write_text(json.dumps(runs))


def _headers(folder: Path, rounds: int) -> dict[str, float]:
    from ctphase.io.dicom_header import read_headers

    files = sorted(str(p) for p in folder.iterdir())
    serial, threaded = [], []
    with ThreadPoolExecutor(2) as pool:
        for _ in range(rounds):
            t0 = time.perf_counter()
            a = [read_headers(f) for f in files]
            serial.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            b = list(pool.map(read_headers, files))
            threaded.append(time.perf_counter() - t0)
    assert a == b
    return {"serial": statistics.median(serial), "2 threads": statistics.median(threaded)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--repeats", type=int, default=3, help="timed scans per variant and round")
    ap.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    ap.add_argument("--load", type=int, default=0, help="busy-loop processes run meanwhile (a shared, busy machine)")
    ap.add_argument("--child", nargs=4, metavar=("FOLDER", "VARIANT", "REPEATS", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(Path(args.child[0]), args.child[1], int(args.child[2]), Path(args.child[3]))
        return
    sys.path.insert(0, str(Path(__file__).parent))
    from predict_latency import write_benchmark_series

    with tempfile.TemporaryDirectory() as tmp:
        folder = write_benchmark_series(Path(tmp) / "series")
        runs: dict[str, list[dict[str, float]]] = {k: [] for k in args.variants}
        probs: dict[str, np.ndarray] = {}
        hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.load)]
        try:
            for _ in range(args.rounds):
                for k, name in enumerate(args.variants):
                    out = Path(tmp) / f"v{k}.json"
                    subprocess.run([sys.executable, __file__, "--child", str(folder), name, str(args.repeats), str(out)],
                                   check=True, env=os.environ.copy())
                    runs[name] += json.loads(out.read_text())
                    probs[name] = np.load(out.with_suffix(".npy"))
            headers = _headers(folder, 5 * args.rounds)
        finally:
            for hog in hogs:
                hog.kill()
    print(f"300 slices 512x512, lazy R=30% (90 slices, chunks of {CHUNK}), {args.rounds} rounds x {args.repeats} scans "
          f"per variant, median s per scan; {args.load} busy-loop processes; load average {os.getloadavg()[0]:.2f}\n")
    print(f"{'variant':<17}{'headers':>8}{'read':>8}{'prep':>8}{'model':>8}{'total':>8}{'best':>7}{'max |dp|':>10}")
    for name, rs in runs.items():
        med = {key: statistics.median(r[key] for r in rs) for key in rs[0]}
        diff = float(np.abs(probs[name] - probs[args.variants[0]]).max())
        print(f"{name:<17}{med['headers']:>8.3f}{med['read']:>8.3f}{med['preprocess']:>8.3f}{med['model']:>8.3f}"
              f"{med['total']:>8.3f}{min(r['total'] for r in rs):>7.3f}{diff:>10.1e}")
    print(f"\nheaders of 300 files: serial {headers['serial']:.3f} s, 2-thread pool {headers['2 threads']:.3f} s")


if __name__ == "__main__":
    main()
