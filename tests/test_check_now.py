"""Check now: `citewatch check URL...|--article ID` and `POST /api/check` make tracked sources due
at once (archive.schedule.queue.check_now), for a running daemon to check at its next dispatch; without a
daemon they say so. A paused source is checked once and stays paused. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text

import scheduler
from archive.db import migrated
from archive.errors import BadURLError, NotFoundError, UsageError
from archive.models import Lease, Source
from archive.schedule import queue
from archive.settings import load_settings
from archive.store import index
from archive.web.app import create_app
from tests import webserver as ws
from tests.conftest import Home
from tests.test_changes import BODY, page
from tests.test_daemon import daemon_env, start_daemon, wait_for
from tests.test_web import AppClient

NO_DAEMON = "no daemon is running: run `citewatch daemon`, or `citewatch capture URL` to capture now"
TOKEN = "check-now-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
NOW = datetime(2026, 12, 1, 12, 0, 0)


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value.removesuffix("Z"))


@pytest.fixture
def sessions(database_url: str) -> Iterator[Any]:
    made = migrated(database_url)
    yield made
    made.kw["bind"].dispose()


def _tracked(session: Any, url: str, **how: Any) -> Source:
    """A tracked source, checked an hour before NOW and next due a day after it."""
    source = scheduler.track(session, url, NOW - timedelta(days=1), **how)
    source.last_checked_at = NOW - timedelta(hours=1)
    if source.next_check_at is not None:
        source.next_check_at = NOW + timedelta(days=1)
    session.commit()
    return source


def test_check_now_makes_tracked_sources_due_now(sessions: Any, tmp_path: Path) -> None:
    with sessions() as session:
        a = _tracked(session, "https://news.example/a")
        b = _tracked(session, "https://news.example/b", paused=True)
        c = _tracked(session, "https://news.example/c")
        index.source_ids(session, ["https://news.example/captured"], NOW)  # captured, never tracked
        session.commit()
        session.add(Lease(source_id=c.id, claimed_by="host/1.0.0", lease_until=NOW + timedelta(minutes=5)))
        session.commit()
        data = queue.check_now(
            session, tmp_path, NOW, urls=["https://news.example/a", "https://NEWS.example/b", a.url, c.url]
        )
    at = "2026-12-01T12:00:00Z"
    assert data == {
        "sources": [
            {"source_id": a.id, "url": a.url, "paused": False, "next_check_at": at, "in_flight": False},
            {"source_id": b.id, "url": b.url, "paused": True, "next_check_at": at, "in_flight": False},
            {"source_id": c.id, "url": c.url, "paused": False, "next_check_at": at, "in_flight": True},
        ],
        "not_tracked": [],
        "daemon": {"running": False, "pid": None, "holder": None},
    }
    with sessions() as session:
        stored = {s.url: s for s in session.scalars(select(Source))}
    assert [stored[u].next_check_at for u in (a.url, b.url, c.url)] == [NOW, NOW, NOW]
    assert stored[b.url].paused and not stored[a.url].paused
    assert stored["https://news.example/captured"].next_check_at is None  # left alone
    with sessions() as session:
        for urls, error, words in [
            (["https://nowhere.example/"], NotFoundError, "is not a tracked source"),
            (["https://news.example/captured"], UsageError, "is not tracked: `citewatch track"),
            (["ftp://news.example/"], BadURLError, "ftp"),
            ([], UsageError, "name the source URLs to check, or an article"),
        ]:
            with pytest.raises(error, match=words):
                queue.check_now(session, tmp_path, NOW, urls=urls)
        with pytest.raises(NotFoundError, match="no article '7'"):
            queue.check_now(session, tmp_path, NOW, article="7")
        with pytest.raises(UsageError, match="or an article"):
            queue.check_now(session, tmp_path, NOW, urls=[a.url], article="7")
    with sessions() as session:  # a refused list changes nothing, not even the URLs before the bad one
        session.execute(text("update sources set next_check_at = :t where id = :i"), {"t": NOW, "i": a.id})
        session.commit()
        with pytest.raises(NotFoundError):
            queue.check_now(
                session, tmp_path, NOW + timedelta(hours=1), urls=[a.url, "https://nowhere.example/"]
            )
        assert session.get(Source, a.id).next_check_at == NOW


def test_a_paused_source_is_checked_once_and_stays_paused(sessions: Any, tmp_path: Path) -> None:
    """What the daemon's worker records after the check asked for: the paused source has no next
    check again; a tracked one is scheduled by its interval once more."""
    policy = scheduler.Policy(jitter=0)
    with sessions() as session:
        paused = _tracked(session, "https://news.example/paused", paused=True)
        hourly = _tracked(session, "https://news.example/hourly", every=timedelta(hours=1))
        queue.check_now(session, tmp_path, NOW, urls=[paused.url, hourly.url])
        claimed = queue.claim(session, "host/1.0.0", NOW, 10, timedelta(minutes=5))
        assert sorted(claimed) == sorted([(paused.id, paused.url), (hourly.id, hourly.url)])
        checks = [scheduler.Check(s, NOW + timedelta(seconds=5), False, False) for s, _url in claimed]
        scheduler.after_checks(session, checks, policy, tracked_only=True, worker="host/1.0.0")
    with sessions() as session:
        again_paused, again_hourly = session.get(Source, paused.id), session.get(Source, hourly.id)
    assert again_paused.paused and again_paused.next_check_at is None
    assert again_paused.last_checked_at == NOW + timedelta(seconds=5)
    assert again_hourly.next_check_at == NOW + timedelta(hours=1, seconds=5)


def test_the_daemon_lock_of_a_dead_daemon_is_no_daemon(sessions: Any, tmp_path: Path) -> None:
    """A lock file still held (by a dead daemon's workers) names a process that is gone: no
    daemon runs to take the checks."""
    import fcntl
    import subprocess

    gone = subprocess.Popen(["true"])
    gone.wait()
    lock = tmp_path / queue.DAEMON_LOCK_FILE
    lock.write_text(f"{gone.pid} {os.uname().nodename}")
    with open(lock) as held, sessions() as session:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        assert queue.file_lock_holder(lock) == queue.Holder(gone.pid, os.uname().nodename)
        assert queue.daemon_holder(tmp_path, session) is None
    assert queue.file_lock_holder(lock) is None  # released
    assert queue.Holder(4242, "elsewhere.example").alive()  # another host's process: cannot tell
    assert str(queue.Holder(4242, "elsewhere.example")) == "pid 4242 on elsewhere.example"


@pytest.mark.postgres
def test_the_advisory_lock_names_its_holder(pg_url: str, tmp_path: Path) -> None:
    made = migrated(pg_url)
    engine = create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with made() as session:
            assert queue.advisory_lock_holder(session) is None
            with engine.connect() as conn:
                conn.execute(
                    text("select set_config('application_name', 'citewatch daemon 4242 box', false)")
                )
                assert conn.execute(
                    text("select pg_try_advisory_lock(:k)"), {"k": queue.DAEMON_LOCK_KEY}
                ).scalar()
                conn.commit()
                backend = conn.execute(text("select pg_backend_pid()")).scalar()
                assert queue.daemon_holder(tmp_path, session) == queue.Holder(4242, "box", backend)
                conn.execute(text("select set_config('application_name', '', false)"))
                conn.commit()
                session.rollback()  # pg_stat_activity is read once per transaction
                assert str(queue.advisory_lock_holder(session)) == f"PostgreSQL backend pid {backend}"
            engine.dispose()  # the connection closes (back in the pool, it would hold the lock)
            session.rollback()
            assert queue.advisory_lock_holder(session) is None  # the session ended: the lock went
    finally:
        engine.dispose()
        made.kw["bind"].dispose()


# -- the command line ----------------------------------------------------------------------------


def test_citewatch_check_without_a_daemon(home: Home, database_url: str) -> None:
    home.env["CITEWATCH_DATABASE_URL"] = database_url
    url = "https://news.example/story"
    home.run("track", "--every", "1d", url, check=True)
    before = datetime.utcnow()
    proc = home.run("check", url)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == NO_DAEMON
    (line,) = proc.stdout.strip().splitlines()
    assert line.startswith(f"check {url} (source 1): due ")
    data = json.loads(home.run("check", "--json", url, check=True).stdout)
    assert [d["url"] for d in data["sources"]] == [url] and data["daemon"]["running"] is False
    assert before <= _when(data["sources"][0]["next_check_at"]) <= datetime.utcnow()
    tracked = json.loads(home.run("track", "--json", url, check=True).stdout)
    assert tracked["next_check_at"] == data["sources"][0]["next_check_at"]  # stored: due now
    for args, words in [
        (("check", "https://nowhere.example/"), "https://nowhere.example/ is not a tracked source"),
        (("check",), "name the source URLs to check, or an article with --article"),
        (("check", url, "--article", "1"), "name the source URLs to check, or an article with --article"),
        (("check", "--article", "9"), "no article '9'"),
        (("check", "ftp://x/"), "unsupported scheme 'ftp'"),
    ]:
        bad = home.run(*args)
        assert bad.returncode == 2, (args, bad.stderr)
        assert len(bad.stderr.strip().splitlines()) == 1 and words in bad.stderr, (args, bad.stderr)


def test_citewatch_check_an_article(home: Home, server: ws.TestServer, tmp_path: Path) -> None:
    first = server.route("/first", ws.static(page(BODY).encode()))
    second = server.route("/second", ws.static(page(BODY, random.Random(2)).encode()))
    article = tmp_path / "article.md"
    article.write_text(
        f"Prosecutors opened 253,000 criminal cases, [the report]({first}) says, "
        f"and [another]({second}) puts it at 260,000.\n"
    )
    assert home.run("add", "--no-resolve", str(article)).returncode == 0
    home.run("track", "--pause", second, check=True)
    before = datetime.utcnow()
    data = json.loads(home.run("check", "--article", "1", "--json", check=True).stdout)
    assert sorted((d["url"], d["paused"]) for d in data["sources"]) == [(first, False), (second, True)]
    assert all(before <= _when(d["next_check_at"]) <= datetime.utcnow() for d in data["sources"])
    lines = home.run("check", "--article", "1", check=True).stdout
    assert f"check {second} (source " in lines and "(paused: checked once, stays paused)" in lines


# -- the API -------------------------------------------------------------------------------------


@pytest.fixture
def client(home: Home, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppClient]:
    home.env["CITEWATCH_DATABASE_URL"] = database_url
    home.run("init", check=True)
    for name in [n for n in os.environ if n.startswith("CITEWATCH_")]:
        monkeypatch.delenv(name)
    for name, value in {**home.env, "CITEWATCH_API_TOKEN": TOKEN}.items():
        monkeypatch.setenv(name, value)
    made = AppClient(create_app(load_settings()))
    yield made
    made.close()


def test_check_through_the_api_is_citewatch_check(home: Home, client: AppClient) -> None:
    url, paused = "https://news.example/story", "https://news.example/paused"
    home.run("track", "--every", "1d", url, check=True)
    home.run("track", "--pause", paused, check=True)
    before = datetime.utcnow()
    answer = client.post("/api/check", json={"urls": [url, paused]}, headers=AUTH)
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert [(d["url"], d["paused"]) for d in data["sources"]] == [(url, False), (paused, True)]
    assert all(before <= _when(d["next_check_at"]) <= datetime.utcnow() for d in data["sources"])
    assert data["daemon"] == {"running": False, "pid": None, "holder": None}
    assert (
        json.loads(home.run("track", "--json", url, check=True).stdout)["next_check_at"]
        == (data["sources"][0]["next_check_at"])
    )
    cli = json.loads(home.run("check", "--json", url, paused).stdout)
    moment = {"next_check_at": None}
    assert [{**d, **moment} for d in cli["sources"]] == [{**d, **moment} for d in data["sources"]]
    assert {**cli, "sources": None} == {**data, "sources": None}
    for body, status, words in [
        ({"urls": ["https://nowhere.example/"]}, 404, "is not a tracked source"),
        ({"urls": ["ftp://x/"]}, 400, "ftp"),
        ({"article": 9}, 404, "no article '9'"),
        ({"article": "https://nowhere.example/"}, 404, "no article"),
        ({}, 400, "give urls"),
        ({"urls": []}, 400, "give urls"),
        ({"urls": [url], "article": 1}, 400, "give urls"),
        ({"urls": url}, 422, "urls"),
    ]:
        refused = client.post("/api/check", json=body, headers=AUTH)
        assert refused.status_code == status and words in refused.json()["error"], (body, refused.text)
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        refused = client.post("/api/check", json={"urls": [url]}, headers=headers)
        assert refused.status_code == 401 and "token" in refused.json()["error"]


def test_the_openapi_document_declares_check(client: AppClient) -> None:
    spec = client.get("/openapi.json").json()
    post = spec["paths"]["/api/check"]["post"]
    assert post["security"] == [{"HTTPBearer": []}]
    assert post["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/CheckRequest")
    answer = post["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert answer.endswith("/CheckAnswer")
    schemas = spec["components"]["schemas"]
    assert set(schemas["CheckAnswer"]["properties"]) == {"sources", "not_tracked", "daemon"}
    assert set(schemas["CheckedSource"]["properties"]) == {
        "source_id",
        "url",
        "paused",
        "next_check_at",
        "in_flight",
    }
    assert set(schemas["DaemonState"]["properties"]) == {"running", "pid", "holder"}


# -- with a daemon -------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_running_daemon_checks_what_check_asks_for(
    home: Home, server: ws.TestServer, database_url: str, tmp_path: Path
) -> None:
    hourly = server.route("/hourly", ws.static(page(BODY).encode()))
    paused = server.route("/paused", ws.static(page(BODY, random.Random(3)).encode()))
    spare = server.route("/spare", ws.static(page(BODY, random.Random(4)).encode()))
    env = daemon_env(home, database_url)
    for url in (hourly, paused, spare):
        assert home.run("track", "--every", "1h", url, env=env).returncode == 0
    assert home.run("capture", hourly, paused, env=env).returncode == 0  # checked: next in an hour
    assert home.run("track", "--pause", paused, env=env).returncode == 0
    log = home.path / "logs" / "citewatch.log"
    with open(tmp_path / "daemon.log", "wb") as out:
        proc = start_daemon(env, log=out)
        try:
            wait_for(lambda: log.exists() and "citewatch daemon started" in log.read_text(), 60, proc)
            time.sleep(1.5)  # five dispatch rounds: neither source is due
            assert len(server.requests_for("/hourly")) == len(server.requests_for("/paused")) == 1
            asked_at = datetime.utcnow()
            asked = home.run("check", hourly, paused, env=env)
            assert asked.returncode == 0, asked.stderr
            assert NO_DAEMON not in asked.stderr
            assert f"the daemon (pid {proc.pid}) takes them at its next dispatch" in asked.stdout
            wait_for(lambda: len(server.requests_for("/hourly")) == 2, 30, proc)
            wait_for(lambda: len(server.requests_for("/paused")) == 2, 30, proc)
            wait_for(lambda: '"url": "' + paused in log.read_text(), 30, proc)  # its check recorded
            if database_url.startswith("postgresql"):  # same database, another data folder
                elsewhere = {**env, "CITEWATCH_HOME": str(tmp_path / "other")}
                seen = json.loads(home.run("check", "--json", spare, env=elsewhere).stdout)
                assert seen["daemon"]["running"] and seen["daemon"]["pid"] == proc.pid
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(60) == 0
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    data = json.loads(home.run("track", "--json", paused, env=env).stdout)
    assert data["paused"] and data["next_check_at"] is None  # checked once, and paused still
    assert _when(data["last_checked_at"]) > asked_at
    again = json.loads(home.run("track", "--json", hourly, env=env).stdout)
    assert _when(again["next_check_at"]) - _when(again["last_checked_at"]) == timedelta(hours=1)
