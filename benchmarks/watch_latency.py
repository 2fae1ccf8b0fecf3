"""``ctphase watch`` against a real Orthanc: seconds from a series becoming stable to its label being written.

Starts Debian's Orthanc (``tests/orthanc_server.py``, StableAge ``--stable-age``), runs the watcher
in this process (bundled model unless ``--model``, pixels through Orthanc's DICOMweb plugin unless
``--transfer download``) and uploads ``--series`` synthetic CT series one after another (each
``--slices`` slices of ``--matrix``^2 pixels, plus one MR series that must stay unwritten).
A monitor polls ``GET /series/{id}`` every 20 ms: *stable* is the first answer with ``IsStable``,
*labelled* the first with the ``ctphase`` metadata item. Prints each series and the median and
maximum of stable -> labelled (the 5 s target), with the watcher's poll interval.

Usage::

    python benchmarks/watch_latency.py --series 5 --slices 200 --matrix 512 --poll-interval 1 [--transfer download]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from dicom_factory import write_series
from orthanc_server import start_orthanc

from ctphase.watch import watch


def monitor(server, series_id: str, timeout: float = 120.0) -> tuple[float, float]:
    """``(t_stable, t_labelled)`` (monotonic seconds) of one series, polled every 20 ms."""
    stable = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = server.get(f"/series/{series_id}")
        now = time.monotonic()
        if stable is None and info["IsStable"]:
            stable = now
        if "ctphase" in server.get(f"/series/{series_id}/metadata"):
            return (stable if stable is not None else now), now
        time.sleep(0.02)
    raise TimeoutError(f"series {series_id} not labelled within {timeout} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--series", type=int, default=5)
    ap.add_argument("--slices", type=int, default=200)
    ap.add_argument("--matrix", type=int, default=512)
    ap.add_argument("--stable-age", type=int, default=1)
    ap.add_argument("--poll-interval", type=float, default=1.0)
    ap.add_argument("--transfer", default="auto")
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--no-gzip", action="store_true",
                    help="experiment: every requests.Session asks for uncompressed answers (Accept-Encoding: identity), "
                         "the DICOMweb reader's too (Orthanc gzips a 512x512 slice in ~80 ms)")
    ap.add_argument("--server-no-gzip", action="store_true",
                    help='start Orthanc with "HttpCompressionEnabled": false (what the README recommends)')
    args = ap.parse_args()
    if args.server_no_gzip:
        from orthanc_server import OrthancServer

        config = OrthancServer.config
        OrthancServer.config = lambda self: {**config(self), "HttpCompressionEnabled": False}  # type: ignore[method-assign]
    if args.no_gzip:
        import requests

        init = requests.Session.__init__

        def identity(self, *a, **k):
            init(self, *a, **k)
            self.headers["Accept-Encoding"] = "identity"

        requests.Session.__init__ = identity  # type: ignore[method-assign]

    with tempfile.TemporaryDirectory(prefix="watch-bench-") as tmp:
        root = Path(tmp)
        study = None
        folders = []
        for i in range(args.series):
            info = write_series(root / f"ct{i}", n=args.slices, rows=args.matrix, cols=args.matrix, seed=i,
                                study_uid=study)
            study = study or info.study_uid
            folders.append(root / f"ct{i}")
        write_series(root / "mr", n=4, rows=16, cols=16, modality="MR", sop_class="1.2.840.10008.5.1.4.1.1.4")
        server = start_orthanc(root / "orthanc", stable_age=args.stable_age)
        stop = threading.Event()
        events: list = []
        thread = threading.Thread(target=watch, args=(server.url,), daemon=True, kwargs={
            "state_path": root / "state.json", "model": args.model, "poll_interval": args.poll_interval,
            "stop": stop, "on_event": events.append, "transfer": args.transfer})
        try:
            thread.start()
            server.upload(root / "mr")
            rows = []
            for folder in folders:
                t0 = time.monotonic()
                stored = server.upload(folder)
                uploaded = time.monotonic()
                sid = stored[0]["ParentSeries"]
                stable, labelled = monitor(server, sid)
                rows.append((sid, uploaded - t0, stable - uploaded, labelled - stable))
                print(f"{sid[:8]}  upload {uploaded - t0:5.2f} s  upload->stable {stable - uploaded:5.2f} s  "
                      f"stable->labelled {labelled - stable:5.2f} s", flush=True)
        finally:
            stop.set()
            thread.join(30)
            mr_written = [e for e in events if e.kind == "labelled" and e.value is None]
            server.stop()
    for e in events:
        if e.series_id is None:
            print(f"watcher: {e.kind}: {e.message}")
    lat = [r[3] for r in rows]
    kinds = sorted({e.kind for e in events})
    print(f"{args.series} series x {args.slices} slices {args.matrix}^2, StableAge {args.stable_age} s, "
          f"poll {args.poll_interval} s, transfer {args.transfer}{' (client no gzip)' if args.no_gzip else ''}{' (server no gzip)' if args.server_no_gzip else ''}: stable->labelled median {statistics.median(lat):.2f} s, "
          f"max {max(lat):.2f} s; events {kinds}; bad writes {len(mr_written)}")


if __name__ == "__main__":
    main()
