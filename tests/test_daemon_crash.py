"""Kill -9 the daemon and its workers at random points of a busy run, ten times, then let it run
once more and stop it properly: nothing may be lost, doubled, unreadable or unscheduled.

Leases last ten minutes here, far longer than the test: the sources the killed workers held
can only be checked again because each new daemon gives its dead predecessors' claims back.
"""

from __future__ import annotations

import os
import random
import signal
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, func, or_, select

import scheduler
from archive.clock import utcnow
from archive.db import migrated
from archive.models import Source
from tests import webserver as ws
from tests.test_daemon import daemon_env, query, start_daemon, wait_for
from tests.warcs import read_records

pytestmark = pytest.mark.slow

KILLS = 10
PAGES = 30
CAPACITY = 8
WORKERS = 2


def _site(server: ws.TestServer) -> list[str]:
    """Pages on two host names (one per worker); a third of them change every two seconds;
    each answer takes up to 0.3 s, so that kills land mid-capture."""
    rng = random.Random(7)

    def page(h: ws.Handler) -> None:
        number = int(h.path.strip("/p") or 0)
        version = int(time.monotonic() // 2) if number % 3 == 0 else 0
        time.sleep(rng.uniform(0, 0.3))
        h.send_body(
            200,
            ws.page_html(
                f"Page {number}",
                f"<article><h1>Page {number}</h1><p>Inspectors counted {1000 + version} trucks at "
                f"crossing {number} this week, the border agency said in its report.</p><p>The agency "
                "publishes these figures every week together with the waiting times.</p></article>",
            ),
        )

    server.route("*", page)
    return [server.url(f"/p{i}", host="127.0.0.1" if i % 2 else "localhost") for i in range(PAGES)]


def test_killed_again_and_again_the_daemon_loses_nothing(
    home: Any, server: ws.TestServer, database_url: str, tmp_path: Any
) -> None:
    urls = _site(server)
    sessions = migrated(database_url)
    with sessions() as session:
        for url in urls:
            scheduler.track(session, url, utcnow(), every=timedelta(seconds=1))
    sessions.kw["bind"].dispose()
    env = daemon_env(
        home,
        database_url,
        CITEWATCH_LEASE_TIME="600",
        CITEWATCH_WORKER_CAPACITY=str(CAPACITY),
        CITEWATCH_WARC_MAX_SIZE="60KB",  # files rotate mid-run, so kills also land around a rename
    )
    seed = random.randrange(2**32)
    print(f"kill times drawn with seed {seed}")  # shown when the test fails, to replay it
    rng = random.Random(seed)
    log = open(tmp_path / "daemon.log", "ab")  # noqa: SIM115 - closed below
    try:
        for _ in range(KILLS):
            before = len(server.state.seen)
            proc = start_daemon(env, "--workers", str(WORKERS), log=log)
            wait_for(lambda b=before: len(server.state.seen) > b + 2, 60, proc)  # busy capturing
            time.sleep(rng.uniform(0, 2.0))
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        last_kill = utcnow()
        served_at_kill = len(server.state.seen)

        # Started once more, it takes over what the dead workers held and checks every source.
        proc = start_daemon(env, "--workers", str(WORKERS), log=log)

        late = select(func.count()).where(
            or_(Source.last_checked_at.is_(None), Source.last_checked_at <= last_kill)
        )
        engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))

        def all_checked_again() -> bool:
            with engine.connect() as conn:
                return conn.scalar(late) == 0

        wait_for(all_checked_again, 120, proc)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
    engine.dispose()
    assert len(server.state.seen) > served_at_kill

    assert not list(home.warc_dir.glob("*.open")), "a WARC file is still open after a clean stop"
    records = read_records(home.warcs())  # every WARC passes warcio check when the test ends (fixture)
    at = {(r.file.name, r.offset): r for r in records}
    rows = query(
        database_url,
        'select n.id, n.url, n.record_type, n.record_id, n.source_id, n."offset", w.name from snapshots n'
        " left join warc_files w on w.id = n.warc_file_id order by n.id",
    )
    pages = [r for r in rows if r.url in set(urls)]
    # Every Snapshot points at a readable record of its URL, and no record has two rows.
    for row in rows:
        if row.record_type is not None:
            record = at.get((row.name, row.offset))
            assert record is not None, f"snapshot {row.id} points at no record"
            assert record.uri == row.url and record.type == row.record_type
            assert record.warc_headers["WARC-Record-ID"].endswith(f"{row.record_id}>")
    assert len({(r.name, r.offset) for r in rows if r.record_type}) == len([r for r in rows if r.record_type])
    # Every capture written to a WARC file is indexed: none lost between file and database.
    written = {
        (r.file.name, r.offset) for r in records if r.type in ("response", "revisit") and r.uri in urls
    }
    assert written == {(r.name, r.offset) for r in pages if r.record_type}
    # Nothing doubled: at most one capture per request the site answered; and of those answers,
    # only the ones in flight at a kill went unrecorded.
    served = len([s for s in server.state.seen if s.path.startswith("/p")])
    assert len(pages) <= served
    assert served - len(pages) <= (KILLS + 1) * WORKERS * CAPACITY

    # Every source is still scheduled, analysed through its last capture, and holds no lease.
    sources = query(database_url, "select id, next_check_at, analysed_through from sources")
    assert len(sources) == PAGES and all(s.next_check_at for s in sources)
    newest: dict[int, int] = {}
    for row in pages:
        newest[row.source_id] = max(newest.get(row.source_id, 0), row.id)
    assert {s.id: s.analysed_through for s in sources} == newest
    assert query(database_url, "select * from leases") == []
