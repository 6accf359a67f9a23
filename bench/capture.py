"""Capture benchmark: citewatch against wget and plain Scrapy on one generated site, in one run.

What it does, and prints:

1. Serves ``bench/site.py`` (default 20 hosts x 100 pages, each page with a
   stylesheet and an image) with every response delayed ``--delay`` seconds.
   Captures the page list with ``citewatch capture`` (analysis off, and on),
   with plain Scrapy (no archiving), and with ``wget --warc-file
   --page-requisites``; prints pages/s for each and citewatch's ratios to wget.
2. Serves the same site with no delay and prints citewatch's pages/s against
   plain Scrapy's (the cost of archiving), over ``--rounds`` alternating rounds
   (a shared machine's speed drifts between runs; the median ratio is the
   figure), with citewatch's archiver process on and off, and with analysis on
   (text extraction and change classification of every capture, as ``capture``
   does by default): its ratio to the same capture with analysis off.
3. Captures the same pages again with citewatch (nothing changed) and prints
   the new storage per page: WARC bytes plus database growth.

Crawl settings for citewatch and Scrapy (both): ``--concurrency`` requests in
flight, ``--per-host`` per host, no per-host delay (the site is ours).
citewatch runs with ``analyse_captures`` off unless a line says "analysis on"
(``bench/changes.py`` measures extraction and classification alone); its
soft-404 probe (one request per host) stays on.

Run: ``.venv/bin/python bench/capture.py`` (add ``--quick`` for 5 x 40 pages).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@contextmanager
def site(hosts: int, pages: int, delay: float):  # type: ignore[no-untyped-def]
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "bench" / "site.py"),
            "--hosts",
            str(hosts),
            "--pages",
            str(pages),
            "--delay",
            str(delay),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        yield json.loads(proc.stdout.readline())
    finally:
        proc.terminate()
        proc.wait()


def timed(cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> tuple[float, str]:
    start = time.perf_counter()
    result = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode not in (0, 8):  # wget exits 8 when a server said 404; none should
        raise SystemExit(f"{cmd[0]} failed ({result.returncode}):\n{result.stderr[-2000:]}")
    return elapsed, result.stdout


def citewatch_env(
    home: Path, args: argparse.Namespace, archiver: bool = True, analyse: bool = False
) -> dict[str, str]:
    return {
        "CITEWATCH_ARCHIVER_PROCESS": "1" if archiver else "0",
        **os.environ,
        "CITEWATCH_HOME": str(home),
        "CITEWATCH_ALLOW_PRIVATE_NETWORKS": "1",
        "CITEWATCH_HOST_DELAY": "0",
        "CITEWATCH_HOST_CONCURRENCY": str(args.per_host),
        "CITEWATCH_CONCURRENCY": str(args.concurrency),
        "CITEWATCH_RETRIES": "0",
        # Capture against capture, unless asked: bench/changes.py measures the text extraction and
        # change classification that follow a capture by default.
        "CITEWATCH_ANALYSE_CAPTURES": "1" if analyse else "0",
    }


def run_citewatch(
    urls_file: Path, home: Path, args: argparse.Namespace, archiver: bool = True, analyse: bool = False
) -> float:
    env = citewatch_env(home, args, archiver, analyse)
    if not (home / "citewatch.db").exists():  # set-up happens once per data folder, not per capture
        timed([str(BIN / "citewatch"), "init"], env=env)
    elapsed, out = timed([str(BIN / "citewatch"), "capture", "--json", "-i", str(urls_file)], env=env)
    results = json.loads(out)
    bad = [r for r in results if not r["ok"]]
    if bad:
        raise SystemExit(f"citewatch failed {len(bad)} pages, e.g. {bad[0]}")
    return elapsed


def run_scrapy(urls_file: Path, args: argparse.Namespace) -> float:
    elapsed, out = timed(
        [
            sys.executable,
            str(ROOT / "bench" / "plain_scrapy.py"),
            str(urls_file),
            str(args.concurrency),
            str(args.per_host),
        ]
    )
    assert json.loads(out)["pages"] == len(urls_file.read_text().split())
    return elapsed


def run_wget(urls_file: Path, workdir: Path) -> tuple[float, int]:
    elapsed, _ = timed(
        [
            "wget",
            "-q",
            "--no-proxy",
            "--page-requisites",
            "--warc-file=wget",
            "--no-warc-keep-log",
            "-P",
            "files",
            "-i",
            str(urls_file),
        ],
        cwd=workdir,
    )
    size = sum(p.stat().st_size for p in workdir.glob("wget*.warc.gz"))
    return elapsed, size


def storage(home: Path) -> int:
    db = home / "citewatch.db"
    if db.exists():  # fold the WAL in so the file size is the database's size
        with sqlite3.connect(db) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    warcs = sum(p.stat().st_size for p in (home / "warcs").glob("*.warc.gz*"))
    return warcs + (db.stat().st_size if db.exists() else 0)


def warc_bytes(home: Path) -> int:
    return sum(p.stat().st_size for p in (home / "warcs").glob("*.warc.gz*"))


def main() -> None:
    parser = argparse.ArgumentParser(description="citewatch capture benchmark")
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--pages", type=int, default=100, help="pages per host")
    parser.add_argument("--delay", type=float, default=0.05, help="seconds before each response")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--per-host", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3, help="no-delay rounds (median reported)")
    parser.add_argument("--quick", action="store_true", help="5 hosts x 40 pages")
    args = parser.parse_args()
    if args.quick:
        args.hosts, args.pages = 5, 40
    if not shutil.which("wget"):
        raise SystemExit("wget is needed: apt-get install wget (scripts/bootstrap does it)")
    work = Path(tempfile.mkdtemp(prefix="citewatch-bench-"))
    total = args.hosts * args.pages
    print(
        f"site: {args.hosts} hosts x {args.pages} pages = {total} pages, each with a stylesheet and an "
        f"image; concurrency {args.concurrency}, {args.per_host} per host, no per-host delay"
    )

    with site(args.hosts, args.pages, args.delay) as urls:
        urls_file = work / "urls.txt"
        urls_file.write_text("\n".join(urls) + "\n")
        cw = run_citewatch(urls_file, work / "cw-delay", args)
        cwa = run_citewatch(urls_file, work / "cw-delay-analysed", args, analyse=True)
        sc = run_scrapy(urls_file, args)
        (work / "wget").mkdir()
        wg, wget_size = run_wget(urls_file, work / "wget")
    print(f"\nwith {args.delay * 1000:.0f} ms per response:")
    print(f"  citewatch               {total / cw:8.1f} pages/s  ({cw:.1f} s)")
    print(f"  citewatch, analysis on  {total / cwa:8.1f} pages/s  ({cwa:.1f} s)")
    print(f"  plain Scrapy            {total / sc:8.1f} pages/s  ({sc:.1f} s)")
    print(f"  wget                    {total / wg:8.1f} pages/s  ({wg:.1f} s)")
    print(f"  citewatch / wget = {wg / cw:.1f}x; with analysis on {wg / cwa:.1f}x   (target >= 10x)")
    print(
        f"  WARC bytes per page: citewatch {warc_bytes(work / 'cw-delay') / total:,.0f}, "
        f"wget {wget_size / total:,.0f}"
    )

    rounds: list[tuple[float, float, float, float]] = []
    print("\nwith no delay (pages/s; ratio to plain Scrapy in the same round):")
    with site(args.hosts, args.pages, 0.0) as urls:
        urls_file.write_text("\n".join(urls) + "\n")
        for r in range(args.rounds):
            sc0 = run_scrapy(urls_file, args)
            cw0 = run_citewatch(urls_file, work / f"cw-nodelay-{r}", args)
            inproc = run_citewatch(urls_file, work / f"cw-inproc-{r}", args, archiver=False)
            analysed = run_citewatch(urls_file, work / f"cw-analysed-{r}", args, analyse=True)
            rounds.append((sc0, cw0, inproc, analysed))
            print(
                f"  round {r + 1}: plain Scrapy {total / sc0:6.1f}   citewatch {total / cw0:6.1f} "
                f"({sc0 / cw0:.2f}x)   no archiver process {total / inproc:6.1f} "
                f"({sc0 / inproc:.2f}x)   analysis on {total / analysed:6.1f} "
                f"({cw0 / analysed:.2f}x analysis off)"
            )
        home = work / "cw-nodelay-0"
        before = storage(home)
        recheck = run_citewatch(urls_file, home, args)
        after = storage(home)
    ratio = statistics.median(sc / cw for sc, cw, _, _ in rounds)
    ratio_inproc = statistics.median(sc / ip for sc, _, ip, _ in rounds)
    ratio_analysed = statistics.median(cw / an for _, cw, _, an in rounds)
    print(f"  median citewatch / plain Scrapy = {ratio:.2f}x   (target >= 0.8x)")
    print(f"  median without the archiver process = {ratio_inproc:.2f}x")
    print(f"  median analysis on / analysis off = {ratio_analysed:.2f}x   (target >= 0.75x)")
    print(f"\nunchanged re-check of every page ({total / recheck:.1f} pages/s):")
    print(f"  new storage per page: {(after - before) / total:,.0f} bytes (WARC + database; target < 2048)")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
