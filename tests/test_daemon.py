"""The daemon for real: `citewatch daemon` with its workers, against local pages that change on a
timetable, on SQLite and on PostgreSQL.

What the pages served is known (the server keeps, per request, which version it sent), so the
changes the daemon must record follow from it: one per switch between versions, in order,
of the right kind. Nothing here waits for a schedule by sleeping a fixed time and hoping:
the daemon runs until the server has seen enough requests.
"""

from __future__ import annotations

import http.server
import itertools
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from archive.store.warc import payload_digest
from tests import webserver as ws
from tests.conftest import VENV_BIN

pytestmark = pytest.mark.slow

PHASE = 3.0  # seconds each version of a page is served


def _page(title: str, sentences: list[str]) -> bytes:
    body = "".join(f"<p>{s}</p>" for s in sentences)
    return ws.page_html(title, f"<article><h1>{title}</h1>{body}</article>")


EDITED = [
    _page(
        "Court figures",
        [
            f"The court registered {n} criminal cases in the first half of the year, the ministry said.",
            "Officials described the rise as steady and blamed a backlog of appeals from last year.",
            "The report was published on the ministry's website together with regional tables.",
        ],
    )
    for n in (253_000, 260_000, 271_500, 280_250)
]
STEADY = _page(
    "Steady report",
    [
        "This page says the same thing every time it is read, from the first check to the last.",
        "Its numbers, 42 ministers and 17 regions, never move, and nor does anything else on it.",
    ],
)
VANISHING = _page(
    "Vanishing report",
    [
        "The agency counted 9,400 inspections at the border crossings during the spring season.",
        "A spokesperson said the count would be revised once the regional offices reported back.",
    ],
)


@dataclass
class Timetable:
    """Routes whose answers depend on the time since ``start``; every answer is remembered."""

    start: float | None = None  # the first request starts the clock
    served: dict[str, list[tuple[int, bytes]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def phase(self) -> int:
        with self.lock:
            self.start = self.start or time.monotonic()
        return int((time.monotonic() - self.start) // PHASE)

    def route(self, path: str, answer: Any) -> ws.Route:
        def handle(h: ws.Handler) -> None:
            status, body = answer(self.phase())
            with self.lock:
                self.served.setdefault(path, []).append((status, body))
            h.send_body(status, body)

        return handle

    def count(self, path: str) -> int:
        with self.lock:
            return len(self.served.get(path, []))


def _edited(phase: int) -> tuple[int, bytes]:
    return 200, EDITED[min(phase, len(EDITED) - 1)]


def _vanishing(phase: int) -> tuple[int, bytes]:
    return (404, b"<html><body>not found</body></html>") if phase in (1, 2) else (200, VANISHING)


class Hooks(http.server.BaseHTTPRequestHandler):
    """A webhook receiver: the first POST of each change gets a 503, to make the daemon retry."""

    protocol_version = "HTTP/1.1"
    received: list[dict[str, Any]]
    refused: set[int]

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        data = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        change_id = data["change"]["id"]
        first = change_id not in self.server.refused  # type: ignore[attr-defined]
        self.server.refused.add(change_id)  # type: ignore[attr-defined]
        if not first:
            self.server.received.append(data)  # type: ignore[attr-defined]
        status = 503 if first else 204
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def hooks() -> Iterator[Any]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hooks)
    httpd.received, httpd.refused = [], set()  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def daemon_env(home: Any, database_url: str, **more: str) -> dict[str, str]:
    return {
        **home.env,
        "CITEWATCH_DATABASE_URL": database_url,
        "CITEWATCH_DISPATCH_INTERVAL": "0.3",
        "CITEWATCH_SCHEDULE_JITTER": "0",
        "CITEWATCH_STOP_TIMEOUT": "30",
        "CITEWATCH_GONE_EVERY": "1",  # a gone source is checked as often as the rest here
        **more,
    }


def start_daemon(env: dict[str, str], *args: str, log: Any = subprocess.DEVNULL) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(VENV_BIN / "citewatch"), "daemon", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        start_new_session=True,  # its workers join its process group
    )


def query(database_url: str, sql: str, **params: Any) -> list[Any]:
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as conn:
        rows = conn.execute(text(sql), params).all()
    engine.dispose()
    return list(rows)


def wait_for(condition: Any, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc is None or proc.poll() is None, f"the daemon exited early with {proc.returncode}"
        assert time.monotonic() < deadline, "timed out waiting for the daemon"
        time.sleep(0.1)


def _switches(served: list[tuple[int, bytes]]) -> list[tuple[tuple[int, bytes], tuple[int, bytes]]]:
    """Consecutive pairs of different answers, in the order they were served."""
    return [(a, b) for a, b in itertools.pairwise(served) if a != b]


def test_daemon_records_each_timetabled_change_once_in_order(
    home: Any, server: ws.TestServer, database_url: str, hooks: Any, tmp_path: Any
) -> None:
    table = Timetable()
    urls = {
        "edited": server.route("/edited", table.route("/edited", _edited)),
        "steady": server.route("/steady", table.route("/steady", lambda _p: (200, STEADY))),
        "vanishing": server.route("/vanishing", table.route("/vanishing", _vanishing)),
    }
    env = daemon_env(
        home,
        database_url,
        CITEWATCH_NOTIFY_WEBHOOKS=f"http://127.0.0.1:{hooks.server_address[1]}/hook",
        CITEWATCH_NOTIFY_KINDS="content,gone",
    )
    for url in urls.values():
        assert home.run("track", url, "--every", "1s", env=env).returncode == 0
    port = _free_port()
    log = open(tmp_path / "daemon.log", "wb")  # noqa: SIM115 - closed below
    proc = start_daemon(env, "--workers", "2", "--metrics-port", str(port), log=log)
    try:
        # Until every version has been served and seen again, and the page has come back.
        wait_for(
            lambda: table.start and table.phase() >= len(EDITED) and table.count("/edited") >= 8, 90, proc
        )
        wait_for(
            lambda: table.served["/edited"][-1][1] == EDITED[-1] and table.count("/vanishing") >= 8, 60, proc
        )
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    assert not list(home.warc_dir.glob("*.open")), "a WARC file was left open by a graceful stop"

    changes = query(
        database_url,
        "select c.id, c.kind, c.detected_at, s.url, n.payload_digest from changes c"
        " join sources s on s.id = c.source_id"
        " left join snapshots n on n.id = c.new_snapshot_id order by c.id",
    )
    by_url: dict[str, list[Any]] = {}
    for row in changes:
        by_url.setdefault(row.url, []).append(row)

    # The edited page: one content change per switch of version, in order, each to the version served.
    switches = _switches(table.served["/edited"])
    assert len(switches) >= 2  # (a version can go unseen when a check comes late; none did here)
    edits = by_url.get(urls["edited"], [])
    assert [c.kind for c in edits] == ["content"] * len(switches)
    assert [c.payload_digest for c in edits] == [payload_digest(new[1]) for _old, new in switches]
    assert [c.detected_at for c in edits] == sorted(c.detected_at for c in edits)

    # The page that went away and came back: gone, then back, once each.
    kinds = {(404, True): "gone", (200, False): "back"}
    expected = [kinds[(new[0], old[0] == 200)] for old, new in _switches(table.served["/vanishing"])]
    assert expected[:2] == ["gone", "back"]
    assert [c.kind for c in by_url.get(urls["vanishing"], [])] == expected

    # The steady page: no change, one archived copy, every later check a revisit.
    assert urls["steady"] not in by_url
    records = query(
        database_url,
        "select n.record_type from snapshots n join sources s on s.id = n.source_id where s.url = :u",
        u=urls["steady"],
    )
    types = [r.record_type for r in records]
    assert types.count("response") == 1 and types.count("revisit") == len(types) - 1 >= 3
    assert len(types) == table.count("/steady")  # every request it answered was recorded

    # Every tracked source is still scheduled, and no claim outlived the stop.
    assert all(r.next_check_at for r in query(database_url, "select next_check_at from sources"))
    assert query(database_url, "select * from leases") == []

    # Webhooks: each content and gone change POSTed (after one refusal each), never a back.
    notified = sorted(d["change"]["id"] for d in hooks.received)
    assert notified == [c.id for c in changes if c.kind in {"content", "gone"}]
    assert {d["change"]["url"] for d in hooks.received} <= set(urls.values())

    # One log line per capture, with its figures as structured fields.
    lines = [json.loads(line) for line in (home.path / "logs" / "citewatch.log").read_text().splitlines()]
    captures = [entry for entry in lines if "snapshot_id" in entry]
    assert len([c for c in captures if c["url"] == urls["steady"]]) == len(types)
    logged_changes = sorted(i for c in captures for i in c["change_ids"])
    assert logged_changes == [c.id for c in changes]

    # Metrics were served while it ran, counting captures by outcome.
    assert 'citewatch_captures_total{outcome="ok"}' in metrics
    assert "citewatch_workers_alive 2.0" in metrics
    # The database figures, counted when the metrics are read.
    assert re.search(r"^citewatch_sources_due \d+\.0$", metrics, re.M)
    assert re.search(r"^citewatch_leases_held \d+\.0$", metrics, re.M)


def _worker_pids(proc: subprocess.Popen[bytes]) -> list[int]:
    import psutil

    return [
        p.pid
        for p in psutil.Process(proc.pid).children()
        if "worker" in p.cmdline() and "--events-fd" in p.cmdline()
    ]


def _captures_logged(home: Any) -> list[dict[str, Any]]:
    path = home.path / "logs" / "citewatch.log"
    if not path.exists():
        return []
    return [e for e in map(json.loads, path.read_text().splitlines()) if "snapshot_id" in e]


def test_a_dead_worker_is_restarted_and_its_checks_go_on_at_once(
    home: Any, server: ws.TestServer, database_url: str, tmp_path: Any
) -> None:
    url = server.route("/page", ws.slow(2, STEADY))  # slow: the kill lands while it is claimed
    env = daemon_env(home, database_url, CITEWATCH_LEASE_TIME="600")
    assert home.run("track", url, "--every", "1s", env=env).returncode == 0
    with open(tmp_path / "daemon.log", "wb") as log:
        proc = start_daemon(env, log=log)
        try:
            wait_for(lambda: len(_captures_logged(home)) >= 1, 60, proc)
            wait_for(lambda: query(database_url, "select * from leases"), 60, proc)
            (first,) = _worker_pids(proc)
            os.kill(first, signal.SIGKILL)
            killed_at = len(_captures_logged(home))
            # A new worker takes over; the source's check goes on (its lease, ten minutes long,
            # was given back when the worker died).
            wait_for(lambda: len(_captures_logged(home)) >= killed_at + 2, 60, proc)
            (second,) = _worker_pids(proc)
            jobs = query(database_url, "select id, next_run_time from apscheduler_jobs order by id")
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(60) == 0
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    assert second != first
    names = [e["worker_name"] for e in _captures_logged(home)]
    assert names[0].endswith(".0.0") and names[-1].endswith(".0.1")  # slot 0, then its restart
    text_log = (tmp_path / "daemon.log").read_text()
    assert "worker 0 exited (code -9)" in text_log
    # The daemon's periodic jobs are all in the job store, each with a next run.
    assert [j.id for j in jobs] == ["dispatch", "maintenance", "outlets", "probes"]
    assert all(j.next_run_time for j in jobs)


def test_a_stop_is_bounded_and_gives_unfinished_checks_back(
    home: Any, server: ws.TestServer, database_url: str, tmp_path: Any
) -> None:
    url = server.route("/slow", ws.slow(30, STEADY))
    env = daemon_env(home, database_url, CITEWATCH_STOP_TIMEOUT="3", CITEWATCH_TIMEOUT="60")
    assert home.run("track", url, "--every", "1s", env=env).returncode == 0
    with open(tmp_path / "daemon.log", "wb") as log:
        proc = start_daemon(env, log=log)
        try:
            wait_for(lambda: server.requests_for("/slow"), 60, proc)
            assert query(database_url, "select claimed_by from leases")  # held while in flight
            stopped = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(60) == 0
            took = time.monotonic() - stopped
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    assert took < 3 + 10, f"the stop took {took:.1f}s"
    assert "did not stop in time: killed" in (tmp_path / "daemon.log").read_text()
    assert query(database_url, "select * from leases") == []
    (source,) = query(database_url, "select next_check_at, last_checked_at from sources")
    assert source.next_check_at is not None and source.last_checked_at is None  # due again, unchecked
    assert not list(home.warc_dir.glob("*.open"))


def _second_daemon(env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    again = subprocess.run(
        [str(VENV_BIN / "citewatch"), "daemon"], env=env, capture_output=True, text=True, timeout=120
    )
    return again, time.monotonic() - started


def test_one_daemon_per_data_folder_and_per_database(home: Any, database_url: str, tmp_path: Any) -> None:
    """A second daemon is refused at once (not after stop_timeout), naming the process that runs."""
    env = daemon_env(home, database_url)  # stop_timeout 30 s: a refusal must not wait for it
    first = start_daemon(env)
    try:
        log = home.path / "logs" / "citewatch.log"
        wait_for(lambda: log.exists() and "citewatch daemon started" in log.read_text(), 60, first)
        again, took = _second_daemon(env)
        assert took < 5, f"the refusal took {took:.1f}s"
        assert again.returncode == 1
        assert again.stderr.strip() == (
            f"citewatch: error: another citewatch daemon runs on {home.path} (pid {first.pid})"
        )
        if database_url.startswith("postgresql"):
            other, took = _second_daemon({**env, "CITEWATCH_HOME": str(tmp_path / "other")})
            assert took < 5, f"the refusal took {took:.1f}s"
            assert other.returncode == 1
            assert other.stderr.strip().startswith(
                f"citewatch: error: another citewatch daemon uses this database (pid {first.pid}"
            ), other.stderr
            assert len(other.stderr.strip().splitlines()) == 1
    finally:
        first.send_signal(signal.SIGTERM)
        assert first.wait(60) == 0


def test_a_daemon_waits_for_the_workers_of_a_dead_one_and_says_so(home: Any, tmp_path: Any) -> None:
    """After a crash, the dead daemon's workers may still hold the data folder's lock (they
    inherit it): the next daemon waits for them, saying so, and starts once they are gone."""
    env = daemon_env(home, f"sqlite:///{home.path / 'citewatch.db'}")
    home.path.mkdir(parents=True)
    dead = subprocess.Popen(["true"])
    dead.wait()
    (home.path / "daemon.lock").write_text(f"{dead.pid} {socket.gethostname()}")
    holder = subprocess.Popen(  # an orphaned worker: holds the lock, finishing its last check
        [
            str(VENV_BIN / "python"),
            "-c",
            "import fcntl, sys, time; f = open(sys.argv[1], 'a+'); fcntl.flock(f, fcntl.LOCK_EX); "
            "print('locked', flush=True); time.sleep(3)",
            str(home.path / "daemon.lock"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
    with open(tmp_path / "daemon.log", "wb") as out:
        proc = start_daemon(env, log=out)
        try:
            log = home.path / "logs" / "citewatch.log"
            wait_for(lambda: log.exists() and "citewatch daemon started" in log.read_text(), 60, proc)
            assert holder.poll() == 0, "the daemon started while the lock was held"
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(60) == 0
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            holder.kill()
            holder.communicate()
    said = (tmp_path / "daemon.log").read_text()
    assert f"held by the workers of a daemon that is gone (pid {dead.pid}): waiting" in said, said


def test_the_periodic_jobs_run(home: Any, server: ws.TestServer, database_url: str, tmp_path: Any) -> None:
    """Outlets (an interrupted resolution is done again), probes and maintenance."""
    story = server.route(
        "/story",
        ws.static(
            ws.page_html(
                "Floods",
                "<article><h1>Floods</h1><p>The agency counted 9,400 flooded homes in the valley, "
                "officials said on Monday after the river rose overnight.</p>"
                "<p>Source: Daily Zorg</p></article>",
            )
        ),
    )
    env = daemon_env(
        home,
        database_url,
        CITEWATCH_OUTLETS="Daily Zorg=dailyzorg.example",
        CITEWATCH_DISCOVERY_MAX_SECONDS="10",
        CITEWATCH_OUTLETS_INTERVAL="1",
        CITEWATCH_PROBE_INTERVAL="1",
        CITEWATCH_MAINTENANCE_INTERVAL="1",
        CITEWATCH_PROBE_SOFT_404="1",
    )
    assert home.run("add", "--no-resolve", story, env=env).returncode == 0
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:  # as a run stopped half-way leaves it
        conn.execute(
            text("update citations set resolution = :r where kind = 'outlet'"),
            {"r": json.dumps({"status": "interrupted", "reason": "the run stopped"})},
        )
    engine.dispose()
    # A source due within the hour whose host has no probe yet, and no check in the meantime.
    server.route("/later", ws.static(STEADY))
    later = server.url("/later", host="localhost")  # a host of its own, with a probe of its own
    assert home.run("track", later, "--every", "1h", env=env).returncode == 0
    with engine.begin() as conn:
        conn.execute(
            text("update sources set next_check_at = :t where url = :u"),
            {"t": datetime.now(UTC).replace(tzinfo=None) + timedelta(minutes=30), "u": later},
        )
    engine.dispose()

    def statuses() -> list[str]:
        rows = query(database_url, "select resolution from citations where kind = 'outlet'")
        return [
            (r.resolution if isinstance(r.resolution, dict) else json.loads(r.resolution))["status"]
            for r in rows
        ]

    log = home.path / "logs" / "citewatch.log"
    with open(tmp_path / "daemon.log", "wb") as out:
        proc = start_daemon(env, log=out)
        try:
            wait_for(lambda: log.exists() and "maintenance done" in log.read_text(), 60, proc)
            wait_for(
                lambda: any(
                    "citewatch-probe-" in s.path and s.headers.get("Host", "").startswith("localhost")
                    for s in server.state.seen
                ),
                60,
                proc,
            )
            wait_for(lambda: statuses() and "interrupted" not in statuses(), 120, proc)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(60) == 0
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    assert f"resolving the outlets of {story} again" in log.read_text()
    assert not server.requests_for("/later")  # the probe came from the probes job, not a check
