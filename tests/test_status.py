"""`citewatch status` on a data folder with tracked, paused, failing, claimed and untracked
sources: every count is checked against what the test did."""

from __future__ import annotations

import json
from datetime import timedelta

from archive.clock import utcnow
from archive.db import connect
from archive.schedule.queue import claim
from tests import webserver as ws
from tests.test_changes import BODY, page


def test_status_counts_what_was_done(home, server) -> None:
    home.env["CITEWATCH_RETRIES"] = "0"
    good = [server.route(f"/ok{i}", ws.static(page(BODY).encode())) for i in range(3)]
    bad = server.route("/down", ws.static(b"busy", "text/plain", status=503))
    for url in [*good, bad]:
        home.run("track", url, check=True)
    home.run("track", "--pause", "https://paused.example/", check=True)
    assert home.run("capture", *good, bad).returncode == 1  # the 503 fails the command
    home.run("capture", server.url("/ok0").replace("/ok0", "/untracked"))  # a 404, not tracked
    home.run("track", "https://new.example/a", check=True)  # due at once
    home.run("track", "https://new.example/b", check=True)
    sessions = connect(home.database_url())
    with sessions() as session:
        claimed = claim(session, "worker-1", utcnow() + timedelta(seconds=1), 1, timedelta(minutes=10))
    sessions.kw["bind"].dispose()
    assert len(claimed) == 1

    data = json.loads(home.run("status", "--json", check=True).stdout)
    sources = data["sources"]
    assert sources["total"] == 8  # 3 good, 1 down, 1 paused, 1 untracked, 2 new
    assert sources["paused"] == 1
    assert sources["tracked"] == 6  # 3 good, down, 2 new
    assert sources["by_state"]["content"] == 3
    assert data["due_now"] == 1  # the two new ones, one of them claimed
    assert data["leases"] == {"held": 1, "by_worker": {"worker-1": 1}}
    assert data["last_hour"] == {"captures": 4, "failures": 1}  # 3 pages, the 404; the 503
    assert data["last_day"] == data["last_hour"]
    (host,) = data["failing_hosts"]
    assert host["host"] == "127.0.0.1" and host["failures_in_a_row"] == 1 and host["last_error"] == "HTTP 503"
    assert data["warc_bytes"] == sum(p.stat().st_size for p in home.warcs()) > 0
    text = home.run("status", check=True).stdout
    assert "sources: 8 (6 tracked, 1 paused" in text and "failing: 127.0.0.1" in text
