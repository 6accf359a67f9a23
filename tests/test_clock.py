"""One clock, injected: the parts that decide by time read the clock they were given."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from archive.clock import ManualClock
from archive.db import connect
from archive.models import Source
from archive.pipeline import Pipeline
from archive.schedule.policy import Policy
from archive.settings import load_settings
from archive.store.exchange import PipelineMode, SeedResult
from archive.web.app import create_app
from tests.test_web import AppClient

# Far from the machine's time, so that a part reading that instead cannot pass by chance.
START = datetime(2031, 5, 1, 12, 0)


def _source(home: Any, url: str) -> Source:
    sessions = connect(home.database_url())
    with sessions() as session:
        source = session.scalars(select(Source).where(Source.url == url)).one()
    sessions.kw["bind"].dispose()
    return source


def test_a_check_is_recorded_and_scheduled_by_the_pipelines_clock(home: Any) -> None:
    url = "http://127.0.0.1:9/story"
    home.run("track", url, check=True)
    clock = ManualClock(START)
    sessions = connect(home.database_url())
    pipeline = Pipeline(sessions, home.path / "warcs", Policy(jitter=0.0), PipelineMode(analyse=False), clock)
    result = SeedResult(url=url, outcome="refused", message="connection refused")
    pipeline.run([result])
    sessions.kw["bind"].dispose()
    source = _source(home, url)
    assert source.last_checked_at == START
    assert result.next_check_at == source.next_check_at and source.next_check_at is not None
    assert START < source.next_check_at < START + timedelta(days=30)


def test_the_web_ui_tracks_and_checks_by_its_clock(home: Any, monkeypatch: Any) -> None:
    home.run("status", check=True)  # the database, migrated
    for name, value in {**home.env, "CITEWATCH_API_TOKEN": "t" * 32}.items():
        monkeypatch.setenv(name, value)
    clock = ManualClock(START)
    client = AppClient(create_app(load_settings(), clock=clock))
    try:
        auth = {"Authorization": f"Bearer {'t' * 32}"}
        url = "http://127.0.0.1:9/story"
        tracked = client.post("/api/track", json={"url": url}, headers=auth)
        assert tracked.status_code == 200, tracked.text
        assert tracked.json()["next_check_at"] == "2031-05-01T12:00:00Z"  # due at once, by the clock
        clock.advance(timedelta(days=2))
        status = client.get("/api/status", headers=auth).json()
        assert status["at"].startswith("2031-05-03T12:00:00"), status
        assert status["due_now"] == status["overdue"] == 1, status  # due two days ago, by the clock
    finally:
        client.close()


def test_the_daemons_upkeep_drops_the_leases_stale_by_its_clock(home: Any, monkeypatch: Any) -> None:
    from archive.db import migrated
    from archive.models import Lease
    from scheduler import Daemon

    url = "http://127.0.0.1:9/story"
    home.run("track", url, check=True)
    source_id = _source(home, url).id
    home.run("track", "http://127.0.0.1:9/other", check=True)
    other_id = _source(home, "http://127.0.0.1:9/other").id
    for name, value in home.env.items():
        monkeypatch.setenv(name, value)
    daemon = Daemon(load_settings(), cli_args=[], clock=ManualClock(START))
    daemon.sessions = migrated(home.database_url())
    lease = daemon.lease
    with daemon.sessions() as session:  # both years ahead of the machine's clock
        session.add(Lease(source_id=source_id, claimed_by="gone", lease_until=START - 2 * lease))
        session.add(Lease(source_id=other_id, claimed_by="alive", lease_until=START + timedelta(minutes=1)))
        session.commit()
    daemon.maintain()
    with daemon.sessions() as session:
        left = {row.claimed_by for row in session.scalars(select(Lease))}
    daemon.sessions.kw["bind"].dispose()
    assert left == {"alive"}  # stale by the daemon's clock, not by the machine's
