"""Kill -9 the capture mid-run, again and again; nothing may be left inconsistent.

A capture is two processes: the crawl and its archiver. Most kills take both
(as a power cut or the OOM killer would); one kills the crawl alone, after
which the archiver must finish and close what it was sent.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time

import pytest

from tests import webserver as ws
from tests.conftest import VENV_BIN, warcio_check
from tests.test_archiver import group_alive
from tests.warcs import read_records, snapshot_rows

pytestmark = pytest.mark.slow


def _run_and_kill(home, urls: list[str], after: float, log, group: bool) -> bool:  # type: ignore[no-untyped-def]
    """Start a capture, wait until it is writing a WARC file, let it run ``after`` seconds, kill -9
    its processes (``group``) or the crawl alone.

    True when the crawl was killed while it was writing. Its stderr goes to ``log``.
    """
    before = set(home.warc_dir.glob("*.open"))
    proc = subprocess.Popen(
        [str(VENV_BIN / "citewatch"), "capture", "--no-requisites", *urls],
        stderr=log,
        # Small files: rotation happens mid-run, so a kill also lands around a rename.
        env={**home.env, "CITEWATCH_HOST_CONCURRENCY": "4", "CITEWATCH_WARC_MAX_SIZE": "4MB"},
        stdout=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # the archiver joins the crawl's process group
    )
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        if set(home.warc_dir.glob("*.open")) - before:
            break
        time.sleep(0.02)
    time.sleep(after)
    if group:
        os.killpg(proc.pid, signal.SIGKILL)
    else:
        proc.send_signal(signal.SIGKILL)
    killed = proc.wait(timeout=30) == -signal.SIGKILL
    deadline = time.monotonic() + 60
    while group_alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if not group:
        fresh = set(home.warc_dir.glob("*.open")) - before
        assert not fresh, "the archiver of a killed crawl closes its files"
    return killed


def _check_consistent(home) -> None:  # type: ignore[no-untyped-def]
    assert not list(home.warc_dir.glob("*.open")), "every .open file was recovered"
    files = home.warcs()
    warcio_check(files)
    records = {(r.file.name, r.offset): r for r in read_records(files)}
    rows = [r for r in snapshot_rows(home.database_url()) if r["record_type"]]
    assert rows
    for row in rows:
        rec = records[(row["warc_name"], row["offset"])]  # KeyError: a row pointing at nothing
        assert rec.warc_headers["WARC-Record-ID"] == f"<urn:uuid:{row['record_id']}>"
        assert rec.type == row["record_type"] and rec.uri == row["url"]
    indexed = {(row["warc_name"], row["offset"]) for row in rows}
    archived = {key for key, rec in records.items() if rec.type in ("response", "revisit", "resource")}
    assert archived == indexed, "every archived record has exactly one row"


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_kill_9_mid_capture_loses_nothing(home, server, database, request):
    if database == "postgresql":
        home.env["CITEWATCH_DATABASE_URL"] = request.getfixturevalue("pg_url")
    big = ws.sized(3 << 20)  # big bodies make it likely a kill lands mid-record
    urls = []
    for i in range(60):
        route = big if i % 3 == 0 else ws.slow(0.05, ws.page_html(f"p{i}", f"<p>{'text ' * 300}{i}</p>"))
        urls.append(server.route(f"/p{i}", route))
    home.run("init", check=True)
    rng = random.Random(7)
    killed = 0
    log_path = home.path / "killed-runs.log"
    with open(log_path, "w") as log:
        for run in range(5):
            rng.shuffle(urls)
            killed += _run_and_kill(home, urls, after=rng.uniform(0.0, 1.5), log=log, group=run != 2)
    assert killed == 5, "the capture process must be killed mid-run every time"
    # Each run reconciles first, then captures as usual; the last one cleans up after the fifth kill.
    final = home.run("capture", "--no-requisites", urls[0], check=True)
    recoveries = (log_path.read_text() + final.stderr).count("recovered")
    assert recoveries >= 3, "most kills must land while a file is open, or the test shows little"
    _check_consistent(home)
    assert len(home.warcs()) > 5, "the run must have rotated files"
