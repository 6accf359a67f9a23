"""Scheduling benchmark: claiming due work among a million tracked sources.

Fills an empty database (SQLite in a temporary folder by default, or
``--database URL``: an empty PostgreSQL database) with ``--sources`` sources
whose next checks are spread over the past week and the next two weeks (a
third due now), then times :func:`archive.schedule.queue.claim` taking the next 1,000 due
sources, ``--rounds`` times in a row. As a peer measured in the same run it
times a plain indexed read of the same 1,000 rows (``SELECT id, url ...
ORDER BY next_check_at LIMIT 1000``), the least any claim must do. First as
the daemon runs: each round's checks are recorded before the next round
(the workers record a check seconds after its claim). Then, as a worst case,
with none recorded: claimed sources stay due, held by their leases, so each
round's claim and read step over all the earlier rounds' work.

It also times the query behind ``citewatch status`` with as many snapshots,
captured over the last 30 days, as sources. Targets: a claim under 50 ms,
status under 1 s.

Then it runs ``citewatch daemon --workers 2`` on that database for
``--daemon-seconds``, checking the due sources against a local site (an HTTP
proxy on 127.0.0.1 answers for every made-up host), and samples the resident
memory of the daemon and its workers every second (their proportional set sizes,
PSS, summed: what they take together, shared library pages counted once; and the
sum of their resident sets, which counts those pages once per process). The peer, measured in the
same run: plain Scrapy crawling as many of the same URLs through the same
proxy, sampled the same way. Target: the daemon with its workers under 300 MB.

Run: ``.venv/bin/python bench/schedule.py [--sources 1000000] [--database URL]
[--daemon-seconds 60]``.
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sources", type=int, default=1_000_000)
    parser.add_argument("--database", help="an empty database (default: SQLite in a temporary folder)")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--daemon-seconds", type=float, default=60, help="0: skip the daemon's memory")
    args = parser.parse_args()

    from sqlalchemy import select, text

    from archive.db import migrated
    from archive.models import Lease, Source
    from archive.schedule.queue import claim, record_check
    from archive.schedule.status import status

    url = args.database or f"sqlite:///{Path(tempfile.mkdtemp(prefix='citewatch-bench-schedule-')) / 'db'}"
    sessions = migrated(url)
    now = datetime(2026, 11, 26, 12, 0)
    started = time.perf_counter()
    fill(sessions, args.sources, now, random.Random(3))
    with sessions() as session:
        due = session.scalar(select(text("count(*)")).select_from(Source).where(Source.next_check_at <= now))
    name = sessions.kw["bind"].dialect.name
    print(f"{name}: {args.sources:,} sources ({due:,} due), filled in {time.perf_counter() - started:.0f} s")

    def rounds(finish: bool) -> tuple[list[float], list[float]]:
        """Claim 1,000 ``args.rounds`` times; with ``finish``, each round's checks are recorded
        before the next (as the daemon's workers do within seconds), else they stay claimed."""
        claims, reads = [], []
        for r in range(args.rounds):
            t = time.perf_counter()
            held = select(Lease.source_id).where(Lease.lease_until > now)
            found = session.execute(
                select(Source.id, Source.url)
                .where(Source.next_check_at <= now, Source.id.not_in(held))
                .order_by(Source.next_check_at, Source.id)
                .limit(1000)
            ).all()
            session.rollback()
            reads.append(time.perf_counter() - t)
            t = time.perf_counter()
            taken = claim(session, f"bench-{finish}-{r}", now, 1000, timedelta(minutes=10))
            claims.append(time.perf_counter() - t)
            assert len(taken) == len(found) == 1000
            if finish:
                for sid, _url in taken:
                    record_check(
                        session,
                        sid,
                        f"bench-{finish}-{r}",
                        checked_at=now,
                        next_check_at=now + timedelta(days=1),
                        changed=False,
                        failed=False,
                    )
                session.commit()
        return claims, reads

    with sessions() as session:
        finished = rounds(True)
        unfinished = rounds(False)
        status_times = []
        for _ in range(3):
            t = time.perf_counter()
            shown = status(session, Path(tempfile.gettempdir()) / "no-warcs-here", now)
            status_times.append(time.perf_counter() - t)
            session.rollback()
    sessions.kw["bind"].dispose()
    status_ms = statistics.median(status_times) * 1000
    for (claims, reads), how in (
        (finished, "each round's checks recorded before the next, as workers do"),
        (unfinished, "no check recorded: up to 9,000 claims in flight ahead of each claim"),
    ):
        claim_ms, read_ms = statistics.median(claims) * 1000, statistics.median(reads) * 1000
        print(
            f"  claim the next 1,000 due sources ({how}): {claim_ms:.1f} ms median of {args.rounds} "
            f"(max {max(claims) * 1000:.1f}); peer, a plain indexed read of the same 1,000: "
            f"{read_ms:.1f} ms; claim = {claim_ms / read_ms:.1f}x"
        )
    claim_ms = statistics.median(finished[0]) * 1000
    print(f"  target claim < 50 ms: {'met' if claim_ms < 50 else 'MISSED'}")
    day = shown["last_day"]
    print(
        f"  citewatch status (the query behind it; {shown['due_now']:,} due, {day['captures']:,} captures "
        f"and {day['failures']:,} failures in the last day): {status_ms:.0f} ms median of 3"
    )
    print(f"  target status < 1 s: {'met' if status_ms < 1000 else 'MISSED'}")
    if args.daemon_seconds > 0:
        daemon_memory(url, args.daemon_seconds)


def fill(sessions: Any, sources: int, now: datetime, rng: random.Random) -> None:
    """Bulk-load ``sources`` sources into a database that has none (their ids are 1 to
    ``sources``), next checks spread over the week before ``now`` and the two weeks after, and as
    many snapshots, captured over the 30 days before it (bench/cli.py fills its database so too)."""
    from sqlalchemy import insert, text

    from archive.models import Snapshot, Source

    with sessions() as session:
        for start in range(0, sources, 50_000):
            rows = [
                {
                    "url": f"http://h{i % 5000}.example/a/{i}",
                    "surt": f"example,h{i % 5000})/a/{i}",
                    "created_at": now - timedelta(days=90),
                    "paused": False,
                    "next_check_at": now + timedelta(seconds=rng.randint(-7 * 86400, 14 * 86400)),
                    "failures": 1 if i % 100 == 0 else 0,
                    "state": "failing" if i % 100 == 0 else ("missing" if i % 37 == 0 else "content"),
                    "last_checked_at": now - timedelta(seconds=rng.randint(0, 30 * 86400)),
                }
                for i in range(start, min(start + 50_000, sources))
            ]
            session.execute(insert(Source), rows)
            # As many snapshots, captured over the last 30 days, one in fifty a failure.
            snaps = [
                {
                    "url": f"http://h{i % 5000}.example/a/{i}",
                    "surt": f"example,h{i % 5000})/a/{i}",
                    "source_id": i + 1,
                    "captured_at": now - timedelta(seconds=rng.randint(0, 30 * 86400)),
                    "status": None if i % 50 == 0 else 200,
                    "record_type": None if i % 50 == 0 else "revisit",
                    "outcome": "timeout" if i % 50 == 0 else "ok",
                    "error": "timed out" if i % 50 == 0 else None,
                    "via": "http",
                }
                for i in range(start, min(start + 50_000, sources))
            ]
            session.execute(insert(Snapshot), snaps)
        session.commit()
        if session.get_bind().dialect.name == "postgresql":  # what autovacuum soon does after a bulk load
            session.execute(text("ANALYZE"))
            session.commit()


class _AnyPage(http.server.BaseHTTPRequestHandler):
    """An HTTP proxy that answers for every host: a small article page per URL."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        body = (
            f"<!doctype html><html><head><title>{self.path}</title></head><body><article><h1>Report</h1>"
            f"<p>The page at {self.path} says that inspectors counted {len(self.path) * 37} trucks at "
            "the crossing this week, according to the agency's weekly figures.</p></article></body></html>"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _tree_memory(proc: psutil.Process) -> tuple[int, int, int]:
    """Bytes of a process and its descendants: its own resident set; the sum of their resident
    sets (shared library pages counted once per process); the sum of their proportional sets
    (PSS: each shared page split between the processes using it, so the sum is what they take
    together)."""
    own = proc.memory_info().rss
    rss = pss = 0
    for member in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            full = member.memory_full_info()
            rss, pss = rss + full.rss, pss + full.pss
    return own, rss, pss


def _sample(popen: subprocess.Popen[bytes], seconds: float) -> tuple[int, int, int]:
    """Peaks of :func:`_tree_memory` for ``popen`` over ``seconds`` or its life."""
    proc = psutil.Process(popen.pid)
    peaks = (0, 0, 0)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and popen.poll() is None:
        with contextlib.suppress(psutil.Error):
            peaks = tuple(map(max, peaks, _tree_memory(proc)))  # type: ignore[assignment]
        time.sleep(1.0)
    return peaks


def daemon_memory(database_url: str, seconds: float) -> None:
    from sqlalchemy import delete, func, select

    from archive.db import migrated
    from archive.models import Lease, Snapshot, Source

    sessions = migrated(database_url)
    with sessions() as session:
        session.execute(delete(Lease))  # the claims timed above
        session.commit()
        before = session.scalar(select(func.max(Snapshot.id))) or 0
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _AnyPage)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    proxy = f"http://127.0.0.1:{httpd.server_address[1]}"
    home = Path(tempfile.mkdtemp(prefix="citewatch-bench-daemon-"))
    env = {
        **os.environ,
        "CITEWATCH_HOME": str(home),
        "CITEWATCH_DATABASE_URL": database_url,
        "CITEWATCH_ALLOW_PRIVATE_NETWORKS": "1",
        # The local site answers every URL alike, a made-up one too: soft-404 probes would
        # call every page gone.
        "CITEWATCH_PROBE_SOFT_404": "0",
        "HTTP_PROXY": proxy,
        "http_proxy": proxy,
    }
    daemon = subprocess.Popen(
        [sys.executable, "-m", "citewatch", "daemon", "--workers", "2"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
    )
    print(f"  daemon log: {home / 'logs' / 'citewatch.log'}")
    own, total, shared = _sample(daemon, seconds)
    daemon.send_signal(signal.SIGTERM)
    daemon.wait(120)
    with sessions() as session:
        urls = list(
            session.scalars(select(Snapshot.url).where(Snapshot.id > before, Snapshot.source_id.is_not(None)))
        )
        if not urls:
            urls = list(session.scalars(select(Source.url).limit(1000)))
    sessions.kw["bind"].dispose()
    captures = len(urls)
    listing = home / "urls.txt"
    listing.write_text("\n".join(urls[: max(captures, 1000)]) + "\n")
    peer = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "plain_scrapy.py"), str(listing), "16", "2"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _peer_own, peer_total, peer_pss = _sample(peer, 600)
    peer.wait(60)
    httpd.shutdown()
    mb = 1024 * 1024
    print(
        f"  daemon with 2 workers, {seconds:.0f} s, {captures:,} checks: peak {shared / mb:.0f} MB "
        f"proportional set (PSS) in all, {total / mb:.0f} MB as the sum of resident sets "
        f"(the daemon itself {own / mb:.0f} MB)"
    )
    print(
        f"  peer, plain Scrapy crawling {max(captures, 1000):,} of the same URLs: "
        f"{peer_pss / mb:.0f} MB PSS, {peer_total / mb:.0f} MB resident; "
        f"daemon with workers = {shared / peer_pss:.1f}x (PSS)"
    )
    print(f"  target daemon < 300 MB (PSS): {'met' if shared < 300 * mb else 'MISSED'}")


if __name__ == "__main__":
    main()
