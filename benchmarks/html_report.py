"""The HTML QC report of 50 series: its size, the time to render it, and the time it takes Chromium to open it.

Target (issue 14): the report of 50 series opens in Chromium in under 2 s and weighs under 5 MB.

Series: the real CT of ``--realdata`` (12 series) first, then synthetic series up to ``--series``
(the folders listed in ``--synth DIR/manifest.csv``, e.g. a ``ctphase synth --studies realistic``
output; without it a fresh simple synthetic set is written to a temporary folder). They are
classified once with the bundled model (``ctphase.pipeline.classify``, ``read=`` keeps the series
for the thumbnails), then the report is rendered and written.

Chromium (Debian ``chromium``, headless) then opens the file ``--repeats`` times:

* ``load``: the page's own ``performance.now()`` at its load event (navigation start -> every
  image decoded and every script run), written by the page into ``<body data-load-ms>``;
* ``wall``: the whole ``chromium --headless --dump-dom`` process, browser start-up included.

Also checked once: a screenshot, the cards in the DOM and the page's console-error counter.

Usage::

    python benchmarks/html_report.py --realdata ../shared/realdata --synth /tmp/study_synth
    python benchmarks/html_report.py --realdata ../shared/realdata            # writes its own synthetic series

Measured on the 2-core machine (training running beside it), 12 real + 38 synthetic series:
with ``--synth /tmp/study_synth`` (realistic studies) 0.75 MB, load 0.30 s median (max 0.46 s),
headless process 1.56 s median; with its own simple 512 px synthetic series (~9 min to write)
1.38 MB, load 0.32 s (max 0.42 s), process 1.55 s. No console errors, 50 cards.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from ctphase.data.manifest import read_manifest
from ctphase.htmlreport import render_html
from ctphase.pipeline import classify

from real_labels import REALDATA, has_labels, real_rows

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
         "--enable-logging=stderr", "--v=0"]


def _inputs(realdata: Path | None, synth: Path | None, n: int, work: Path) -> list[Path]:
    """Series folders: the real ones, then synthetic ones up to ``n``."""
    folders: list[Path] = []
    if realdata is not None and has_labels(realdata):
        folders += [realdata / r["folder"] for r in real_rows(realdata)]
    if len(folders) < n:
        if synth is None:
            synth = work / "synth"
            patients = (n - len(folders) + 3) // 4
            subprocess.run(["ctphase", "synth", "--out", str(synth), "--patients", str(patients), "--matrix", "512",
                            "--max-slices", "200", "--first-patient", "700000"], check=True)
        folders += [r.path for r in read_manifest(synth / "manifest.csv").records][: n - len(folders)]
    return folders[:n]


def _chromium(url: str, profile: Path, *extra: str) -> tuple[float, str, str]:
    t0 = time.perf_counter()
    res = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *extra, url], capture_output=True, text=True,
                         timeout=300, check=True)
    return time.perf_counter() - t0, res.stdout, res.stderr


def _attr(dom: str, tag: str, name: str) -> str | None:
    m = re.search(rf"<{tag}\b[^>]*\s{name}=\"([^\"]*)\"", dom)
    return None if m is None else m.group(1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--realdata", type=Path, default=REALDATA)
    ap.add_argument("--synth", type=Path, default=None, help="a ctphase synth output (manifest.csv)")
    ap.add_argument("--series", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", type=Path, default=None, help="keep the report here (default: a temporary folder)")
    args = ap.parse_args()
    if CHROMIUM is None:
        raise SystemExit("chromium not found (apt-get install chromium)")
    if args.out is not None and args.out.suffix.lower() not in (".html", ".htm"):
        raise SystemExit(f"--out {args.out}: name a .html file (Chromium reads a file without it as plain text)")
    with tempfile.TemporaryDirectory(prefix="html_report_") as tmp:
        work = Path(tmp)
        folders = _inputs(args.realdata, args.synth, args.series, work)
        t0 = time.perf_counter()
        read: dict = {}
        preds = classify(folders, read=read)
        t_classify = time.perf_counter() - t0
        shown = [p for p in preds if p.source != "unused"]
        t0 = time.perf_counter()
        html = render_html(preds, read)
        t_render = time.perf_counter() - t0
        page = args.out or work / "report.html"
        page.write_text(html, encoding="utf-8")
        size = page.stat().st_size
        url = page.resolve().as_uri()
        profile = work / "profile"
        _chromium(url, profile, "--dump-dom")  # first start: the profile is created (not timed)
        loads, walls, dom, stderr = [], [], "", ""
        for _ in range(args.repeats):
            wall, dom, stderr = _chromium(url, profile, "--dump-dom")
            walls.append(wall)
            loads.append(float(_attr(dom, "body", "data-load-ms") or "nan") / 1000)
        shot = work / "shot.png"
        _chromium(url, profile, "--window-size=1280,1000", "--hide-scrollbars", f"--screenshot={shot}")
        n_ok = sum(p.status == "ok" for p in shown)
        n_real = sum(1 for p in shown if args.realdata and str(args.realdata) in p.path)
        real_bytes = sum(len(m) for p in shown if args.realdata and str(args.realdata) in p.path
                         for m in re.findall(re.escape(p.series_id) + r".*?</article>", html, re.DOTALL))
        print(f"series: {len(shown)} ({n_ok} classified; {n_real} real, {len(shown) - n_real} synthetic) "
              f"from {len(folders)} folders; classify {t_classify:.1f} s (not part of the report)")
        print(f"report: {size / 1e6:.2f} MB ({size / max(len(shown), 1) / 1e3:.1f} kB per series"
              + (f"; real series {real_bytes / n_real / 1e3:.1f} kB each" if n_real else "") + f"), rendered in {t_render:.2f} s")
        print(f"chromium load (page load event, navigation start -> load): median {statistics.median(loads):.3f} s, "
              f"max {max(loads):.3f} s over {len(loads)} opens")
        print(f"chromium wall (headless process incl. browser start, --dump-dom): median {statistics.median(walls):.2f} s, "
              f"max {max(walls):.2f} s")
        console = [line for line in stderr.splitlines() if ":CONSOLE" in line]
        print(f"cards in DOM: {_attr(dom, 'body', 'data-cards')}, visible {_attr(dom, 'body', 'data-visible')}, "
              f"console errors (page counter) {_attr(dom, 'html', 'data-console-errors')}, CONSOLE log lines {len(console)}, "
              f"screenshot {shot.stat().st_size / 1e3:.0f} kB")
        print(f"target: < 2 s and < 5 MB -> load {'OK' if max(loads) < 2 else 'MISSED'}, "
              f"size {'OK' if size < 5e6 else 'MISSED'}")
        if args.out is None:
            print("(report deleted with the temporary folder; --out PATH keeps it)")


if __name__ == "__main__":
    main()
