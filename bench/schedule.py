"""Scheduling benchmark: claiming due work among a million tracked sources.

Fills an empty database (SQLite in a temporary folder by default, or
``--database URL``: an empty PostgreSQL database) with ``--sources`` sources
whose next checks are spread over the past week and the next two weeks (a
third due now), then times :func:`archive.queue.claim` taking the next 1,000 due
sources, ``--rounds`` times in a row, each round a fresh claim of work the
earlier rounds left. As a peer measured in the same run it times a plain
indexed read of the same 1,000 rows (``SELECT id, url ... ORDER BY
next_check_at LIMIT 1000``), the least any claim must do. Claimed sources stay due until their check is
recorded, held by their lease, so each round's claim and read skip the
earlier rounds' work.

It also times the query behind ``citewatch status`` with as many snapshots,
captured over the last 30 days, as sources. Targets: a claim under 50 ms,
status under 1 s. (The daemon's memory is added here when the daemon exists.)

Run: ``.venv/bin/python bench/schedule.py [--sources 1000000] [--database URL]``.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sources", type=int, default=1_000_000)
    parser.add_argument("--database", help="an empty database (default: SQLite in a temporary folder)")
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()

    from sqlalchemy import insert, select, text

    from archive.db import migrated
    from archive.models import Lease, Snapshot, Source
    from archive.queue import claim
    from archive.status import status

    url = args.database or f"sqlite:///{Path(tempfile.mkdtemp(prefix='citewatch-bench-schedule-')) / 'db'}"
    sessions = migrated(url)
    now = datetime(2026, 11, 26, 12, 0)
    rng = random.Random(3)
    started = time.perf_counter()
    with sessions() as session:
        for start in range(0, args.sources, 50_000):
            rows = [
                {
                    "url": f"https://h{i % 5000}.example/a/{i}",
                    "surt": f"example,h{i % 5000})/a/{i}",
                    "created_at": now - timedelta(days=90),
                    "paused": False,
                    "next_check_at": now + timedelta(seconds=rng.randint(-7 * 86400, 14 * 86400)),
                    "failures": 1 if i % 100 == 0 else 0,
                    "state": "failing" if i % 100 == 0 else ("missing" if i % 37 == 0 else "content"),
                    "last_checked_at": now - timedelta(seconds=rng.randint(0, 30 * 86400)),
                }
                for i in range(start, min(start + 50_000, args.sources))
            ]
            session.execute(insert(Source), rows)
            # As many snapshots, captured over the last 30 days, one in fifty a failure.
            snaps = [
                {
                    "url": f"https://h{i % 5000}.example/a/{i}",
                    "surt": f"example,h{i % 5000})/a/{i}",
                    "source_id": i + 1,
                    "captured_at": now - timedelta(seconds=rng.randint(0, 30 * 86400)),
                    "status": None if i % 50 == 0 else 200,
                    "record_type": None if i % 50 == 0 else "revisit",
                    "outcome": "timeout" if i % 50 == 0 else "ok",
                    "error": "timed out" if i % 50 == 0 else None,
                    "via": "http",
                }
                for i in range(start, min(start + 50_000, args.sources))
            ]
            session.execute(insert(Snapshot), snaps)
        session.commit()
        if session.get_bind().dialect.name == "postgresql":  # what autovacuum soon does after a bulk load
            session.execute(text("ANALYZE"))
            session.commit()
        due = session.scalar(select(text("count(*)")).select_from(Source).where(Source.next_check_at <= now))
    name = sessions.kw["bind"].dialect.name
    print(f"{name}: {args.sources:,} sources ({due:,} due), filled in {time.perf_counter() - started:.0f} s")

    claims, reads = [], []
    with sessions() as session:
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
            taken = claim(session, f"bench-{r}", now, 1000, timedelta(minutes=10))
            claims.append(time.perf_counter() - t)
            assert len(taken) == len(found) == 1000
        status_times = []
        for _ in range(3):
            t = time.perf_counter()
            shown = status(session, Path(tempfile.gettempdir()) / "no-warcs-here", now)
            status_times.append(time.perf_counter() - t)
            session.rollback()
    sessions.kw["bind"].dispose()
    status_ms = statistics.median(status_times) * 1000
    claim_ms, read_ms = statistics.median(claims) * 1000, statistics.median(reads) * 1000
    print(
        f"  claim the next 1,000 due sources: {claim_ms:.1f} ms median of {args.rounds} "
        f"(max {max(claims) * 1000:.1f})"
    )
    print(
        f"  peer, plain indexed read of the same 1,000: {read_ms:.1f} ms; claim = {claim_ms / read_ms:.1f}x"
    )
    print(f"  target claim < 50 ms: {'met' if claim_ms < 50 else 'MISSED'}")
    day = shown["last_day"]
    print(
        f"  citewatch status (the query behind it; {shown['due_now']:,} due, {day['captures']:,} captures "
        f"and {day['failures']:,} failures in the last day): {status_ms:.0f} ms median of 3"
    )
    print(f"  target status < 1 s: {'met' if status_ms < 1000 else 'MISSED'}")


if __name__ == "__main__":
    main()
