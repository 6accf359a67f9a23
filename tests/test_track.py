"""Tracking through the command line: `citewatch track`, and the schedule that captures and
`citewatch add` write (next check by the ladder, failures backing off, untracked sources left
unscheduled)."""

from __future__ import annotations

import json
import random
import time
from datetime import datetime, timedelta

from sqlalchemy import select

from archive.db import connect
from archive.models import Source
from tests import webserver as ws
from tests.test_changes import BODY, page


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.removesuffix("Z"))


def _source(home, url: str) -> Source:  # type: ignore[no-untyped-def]
    sessions = connect(home.database_url())
    with sessions() as session:
        found = session.scalars(select(Source).where(Source.url == url)).one()
    sessions.kw["bind"].dispose()
    return found


def test_track_pause_resume_and_its_own_interval(home) -> None:
    url = "https://news.example/story"
    before = datetime.utcnow() - timedelta(seconds=5)
    data = json.loads(home.run("track", "--json", url, check=True).stdout)
    assert data["url"] == url and not data["paused"] and data["every_seconds"] is None
    assert before <= _when(data["next_check_at"]) <= before + timedelta(minutes=1)  # due at once
    paused = json.loads(home.run("track", "--json", "--pause", url, check=True).stdout)
    assert paused["paused"] and paused["next_check_at"] is None
    resumed = json.loads(home.run("track", "--json", "--resume", "--every", "1h", url, check=True).stdout)
    assert not resumed["paused"] and resumed["every_seconds"] == 3600 and resumed["next_check_at"]
    assert resumed["source_id"] == data["source_id"]
    for every in ("soon", "99999999999w", "0m"):
        bad = home.run("track", "--every", every, url)
        assert bad.returncode == 2 and "--every" in bad.stderr and "Traceback" not in bad.stderr
    assert home.run("track", "ftp://x/").returncode == 2


def test_a_check_of_a_tracked_source_schedules_the_next_by_the_ladder(home, server) -> None:
    url = server.route("/story", ws.static(page(BODY).encode()))
    untracked = server.route("/other", ws.static(page(BODY, random.Random(2)).encode()))
    home.run("track", url, check=True)
    proc = home.run("capture", url, untracked)
    assert proc.returncode == 0, proc.stderr
    source = _source(home, url)
    assert source.last_checked_at is not None and source.next_check_at is not None
    gap = source.next_check_at - source.last_checked_at
    assert timedelta(minutes=27) <= gap <= timedelta(minutes=33)  # 30 minutes, +-10% jitter
    assert source.failures == 0
    other = _source(home, untracked)
    assert other.next_check_at is None and other.last_checked_at is None  # captured, not tracked


def test_failed_checks_back_off(home, server) -> None:
    home.env["CITEWATCH_RETRIES"] = "0"
    url = server.route("/down", ws.static(b"busy", "text/plain", status=503))
    home.run("track", url, check=True)
    gaps = []
    for _ in range(3):
        home.run("capture", url)
        source = _source(home, url)
        assert source.next_check_at is not None and source.last_checked_at is not None
        gaps.append(source.next_check_at - source.last_checked_at)
    assert _source(home, url).failures == 3
    for gap, minutes in zip(gaps, (30, 60, 120), strict=True):
        assert timedelta(minutes=minutes * 0.9) <= gap <= timedelta(minutes=minutes * 1.1)


def test_what_an_added_article_cites_is_tracked(home, server, tmp_path) -> None:
    url = server.route("/report", ws.static(page(BODY).encode()))
    article = tmp_path / "article.md"
    article.write_text(f"Prosecutors opened 253,000 criminal cases, [the report]({url}) says.\n")
    proc = home.run("add", "--no-resolve", str(article))
    assert proc.returncode == 0, proc.stderr
    source = _source(home, url)
    assert source.next_check_at is not None and source.last_checked_at is not None
    assert source.next_check_at > source.last_checked_at


def test_an_article_sets_the_interval_of_every_source_it_cites(home, server, tmp_path) -> None:
    first = server.route("/first", ws.static(page(BODY).encode()))
    second = server.route("/second", ws.static(page(BODY).encode()))
    article = tmp_path / "article.md"
    article.write_text(
        f"Prosecutors opened 253,000 criminal cases, [the report]({first}) says, "
        f"and [another]({second}) puts it at 260,000.\n"
    )
    assert home.run("add", "--no-resolve", str(article)).returncode == 0
    proc = home.run("track", "--article", "1", "--every", "2h", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert sorted(d["url"] for d in data) == sorted([first, second])
    assert all(_source(home, u).every_seconds == 7200 for u in (first, second))
    for u in (first, second):  # the new interval counts from the check `add` made, not the ladder's
        s = _source(home, u)
        assert s.next_check_at is not None and s.last_checked_at is not None
        assert timedelta(minutes=108) <= s.next_check_at - s.last_checked_at <= timedelta(minutes=132)
    paused = json.loads(home.run("track", "--article", "1", "--pause", "--json").stdout)
    assert all(d["paused"] and d["next_check_at"] is None for d in paused)
    for args, message in [
        (("track",), "name one source URL, or an article with --article"),
        (("track", first, "--article", "1"), "name one source URL, or an article with --article"),
        (("track", "--article", "9"), "no article '9'"),
    ]:
        bad = home.run(*args)
        assert bad.returncode == 2 and message in bad.stderr, bad.stderr


def test_a_new_interval_takes_effect_at_once(home, server) -> None:
    """The next check is recomputed from the new interval: from the last check, or now when
    that time has passed already."""
    url = server.route("/story", ws.static(page(BODY).encode()))
    home.run("track", url, check=True)
    assert home.run("capture", url).returncode == 0
    checked = _source(home, url)
    assert checked.next_check_at - checked.last_checked_at >= timedelta(minutes=27)  # by the ladder
    data = json.loads(home.run("track", "--json", "--every", "1m", url, check=True).stdout)
    gap = _when(data["next_check_at"]) - checked.last_checked_at
    assert timedelta(seconds=54) <= gap <= timedelta(seconds=66), gap  # 1 minute, +-10% jitter
    while datetime.utcnow() < checked.last_checked_at + timedelta(seconds=1.1):
        time.sleep(0.05)  # 1 s (+10% jitter) after the check: the commands above take less now
    before = datetime.utcnow()
    data = json.loads(home.run("track", "--json", "--every", "1s", url, check=True).stdout)
    assert before <= _when(data["next_check_at"]) <= datetime.utcnow()  # past already: due now
    assert _source(home, url).every_seconds == 1


def test_resume_makes_a_source_due_now(home, server) -> None:
    url = server.route("/story", ws.static(page(BODY).encode()))
    home.run("track", url, check=True)
    assert home.run("capture", url).returncode == 0
    assert _source(home, url).next_check_at > datetime.utcnow() + timedelta(minutes=20)
    for flags in (["--resume"], ["--pause"], ["--resume"]):
        before = datetime.utcnow()
        data = json.loads(home.run("track", "--json", *flags, url, check=True).stdout)
        if flags == ["--pause"]:
            assert data["paused"] and data["next_check_at"] is None
        else:
            assert not data["paused"] and before <= _when(data["next_check_at"]) <= datetime.utcnow()
