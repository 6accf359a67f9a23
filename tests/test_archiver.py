"""The archiver process: what the crawl sends is written, indexed and settled, on both databases."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from archive import db
from archive.errors import DatabaseError, WarcError
from archive.models import Snapshot
from archive.store.archiver import ArchiverProcess
from archive.store.warc import OPEN_SUFFIX
from tests.conftest import ROOT, warcio_check
from tests.test_archive import T0, exchange
from tests.warcs import read_records


@pytest.fixture
def migrated(database_url: str) -> str:
    engine = db.make_engine(database_url)
    db.upgrade(engine)
    engine.dispose()
    return database_url


def _rows(database_url: str) -> list[Snapshot]:
    sessions = db.connect(database_url)
    with sessions() as session:
        rows = list(session.scalars(select(Snapshot).order_by(Snapshot.id)))
    sessions.kw["bind"].dispose()
    return rows


def test_records_are_written_indexed_deduped_and_settled(migrated: str, tmp_path: Path) -> None:
    warcs = tmp_path / "warcs"
    archiver = ArchiverProcess(warcs, migrated)
    source = archiver.source_ids(["https://example.org/a"])["https://example.org/a"]
    page = archiver.record(exchange("https://example.org/a", b"<p>page</p>", T0))
    same = archiver.record(exchange("https://example.org/a", b"<p>page</p>", T0 + timedelta(hours=1)))
    image = exchange("https://example.org/a.png", b"PNG", T0)
    image.page_key = page.record_id
    archiver.record(image)
    archiver.record_failure("https://example.org/gone", "http-4xx", "HTTP 404", page_key=page.record_id)
    archiver.note(same.record_id, "truncated", "a note after the fact")
    ids, failed = archiver.settle([page.record_id, same.record_id])
    archiver.close()
    archiver.close()  # closing twice is harmless

    assert failed == {}
    rows = {row.id: row for row in _rows(migrated)}
    assert rows[ids[page.record_id]].record_type == "response"
    assert rows[ids[same.record_id]].record_type == "revisit"  # deduped in the archiver
    assert rows[ids[same.record_id]].refers_to_id == ids[page.record_id]
    assert rows[ids[same.record_id]].error == "a note after the fact"
    by_url = {row.url: row for row in rows.values()}
    assert by_url["https://example.org/a.png"].page_id == ids[page.record_id]
    assert by_url["https://example.org/gone"].page_id == ids[page.record_id]
    assert by_url["https://example.org/gone"].outcome == "http-4xx"
    assert source > 0
    files = sorted(warcs.glob("*.warc.gz"))
    assert files and not list(warcs.glob("*" + OPEN_SUFFIX)), "the archiver closed its file"
    warcio_check(files)
    payloads = {r.uri: r.payload for r in read_records(files) if r.type == "response"}
    assert payloads == {"https://example.org/a": b"<p>page</p>", "https://example.org/a.png": b"PNG"}


def test_a_dead_archiver_is_one_clear_error(migrated: str, tmp_path: Path) -> None:
    archiver = ArchiverProcess(tmp_path / "warcs", migrated)
    archiver._proc.kill()
    archiver._proc.wait()
    with pytest.raises(WarcError, match=r"archiver process stopped .*killed by signal 9"):
        for _ in range(200):  # the first sends may still fit in the pipe
            archiver.record(exchange("https://example.org/a", b"x" * 10_000, T0))
        archiver.settle([])


_CRAWL = """
import os, sys
from datetime import datetime
from archive.store.archiver import ArchiverProcess
from tests.test_archive import exchange
archiver = ArchiverProcess(sys.argv[1], sys.argv[2])
for i in range(int(sys.argv[3])):
    archiver.record(exchange(f"https://example.org/p{i}", b"body %d" % i, datetime(2026, 1, 2)))
os.kill(os.getpid(), 9)
"""


def test_the_archiver_keeps_what_a_killed_crawl_sent(migrated: str, tmp_path: Path) -> None:
    warcs = tmp_path / "warcs"
    crawl = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(_CRAWL), str(warcs), migrated, "300"],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        start_new_session=True,  # its archiver joins its process group
    )
    assert crawl.wait(timeout=60) == -signal.SIGKILL
    _wait_for_group(crawl.pid)
    assert not list(warcs.glob("*" + OPEN_SUFFIX)), "the archiver closed its file after the crawl died"
    warcio_check(sorted(warcs.glob("*.warc.gz")))
    urls = {row.url for row in _rows(migrated)}
    assert urls == {f"https://example.org/p{i}" for i in range(300)}


def group_alive(pgid: int) -> bool:
    """True while a live (not zombie) process of the group ``pgid`` is left."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:  # it exited while we looked
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _wait_for_group(pgid: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while group_alive(pgid):
        assert time.monotonic() < deadline, f"process group {pgid} still running after {seconds} s"
        time.sleep(0.05)


def test_ctrl_c_stops_the_crawl_and_the_archiver_keeps_every_capture(home, server) -> None:  # type: ignore[no-untyped-def]
    from tests import webserver as ws
    from tests.conftest import VENV_BIN
    from tests.warcs import snapshot_rows

    urls = [
        server.route(f"/c{i}", ws.slow(0.3, ws.page_html(f"c{i}", f"<p>{'word ' * 80}{i}</p>")))
        for i in range(40)
    ]
    home.run("init", check=True)
    proc = subprocess.Popen(
        [str(VENV_BIN / "citewatch"), "capture", "--json", *urls],
        env={**home.env, "CITEWATCH_HOST_CONCURRENCY": "2", "CITEWATCH_CONCURRENCY": "4"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while not list(home.warc_dir.glob("*" + OPEN_SUFFIX)) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal does: the crawl and its archiver both get it
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    outcomes = {r["url"]: r["outcome"] for r in json.loads(out)}
    assert "interrupted" in outcomes.values() and "ok" in outcomes.values(), outcomes
    assert not list(home.warc_dir.glob("*" + OPEN_SUFFIX)), "the archiver closed its file"
    archived = {row["url"] for row in snapshot_rows(home.database_url()) if row["record_type"] == "response"}
    assert archived == {url for url, outcome in outcomes.items() if outcome == "ok"}


def test_unread_answers_and_a_full_pipe_do_not_deadlock(migrated: str, tmp_path: Path) -> None:
    """Large freshness answers left unread while large records are sent: both pipes fill."""
    import threading

    archiver = ArchiverProcess(tmp_path / "warcs", migrated)
    urls = [f"https://example.org/requisite/{i:05d}/with/a/long/path.png" for i in range(3000)]
    for url in urls:
        archiver.record(exchange(url, b"x", T0))
    archiver.settle([])  # all written and committed
    answers: list[set[str]] = []

    def crawl() -> None:
        pending = [archiver.prefetch_later(urls, fresh_since=T0 - timedelta(days=1)) for _ in range(12)]
        for i in range(6):
            archiver.record(exchange(f"https://example.org/big{i}", os.urandom(3 << 20), T0))
        answers.extend(answer() for answer in pending)

    worker = threading.Thread(target=crawl, daemon=True)
    worker.start()
    worker.join(timeout=120)
    if worker.is_alive():
        archiver._proc.kill()
        pytest.fail("the crawl and its archiver deadlocked")
    assert answers == [set(urls)] * 12, "every lookup answers for every URL, loaded before or not"
    archiver.close()
    warcio_check(sorted((tmp_path / "warcs").glob("*.warc.gz")))


@pytest.mark.postgres
def test_a_lost_database_connection_loses_no_record(pg_url: str, tmp_path: Path) -> None:
    """The archiver's connection dies inside a transaction: the captures not committed are
    reported unsaved, later ones fail, the file is left for reconcile, and the next start
    indexes every record it holds."""
    from archive.store.reconcile import reconcile

    engine = db.make_engine(pg_url)
    db.upgrade(engine)
    engine.dispose()
    warcs = tmp_path / "warcs"
    archiver = ArchiverProcess(warcs, pg_url)
    saved = archiver.record(exchange("https://example.org/saved", b"saved", T0))
    archiver.settle([saved.record_id])  # committed
    pending = archiver.record(exchange("https://example.org/pending", b"pending", T0))
    archiver.prefetch(["https://example.org/x"], fresh_since=T0)  # waits until "pending" is written
    _terminate_other_connections(pg_url)
    later = archiver.record(exchange("https://example.org/later", b"later", T0))  # fails in the archiver
    with pytest.raises(DatabaseError):  # the archiver said it broke: the crawl's next capture stops
        for i in range(50):
            archiver.record(exchange(f"https://example.org/p{i}", b"p%d" % i, T0))
            time.sleep(0.02)
    ids, failed = archiver.settle([saved.record_id, pending.record_id, later.record_id])
    archiver.close()
    assert ids == {saved.record_id: ids[saved.record_id]}
    assert {pending.record_id, later.record_id} <= set(failed), failed
    assert list(warcs.glob("*" + OPEN_SUFFIX)), "the file is left for reconcile"
    sessions = db.connect(pg_url)
    report = reconcile(sessions, warcs)
    sessions.kw["bind"].dispose()
    assert report.files_recovered
    urls = {row.url for row in _rows(pg_url) if row.record_type}
    assert urls == {"https://example.org/saved", "https://example.org/pending"}
    warcio_check(sorted(warcs.glob("*.warc.gz")))


def _terminate_other_connections(pg_url: str) -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.connect() as conn:
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    admin.dispose()


@pytest.mark.postgres
def test_in_process_recorder_leaves_a_failed_batch_to_reconcile(pg_url: str, tmp_path: Path) -> None:
    from archive.store.reconcile import reconcile
    from archive.store.recorder import CaptureRecorder

    engine = db.make_engine(pg_url)
    db.upgrade(engine)
    engine.dispose()
    warcs = tmp_path / "warcs"
    recorder = CaptureRecorder(warcs, db.connect(pg_url))
    recorder.record(exchange("https://example.org/a", b"a", T0))
    _terminate_other_connections(pg_url)
    with pytest.raises(DatabaseError):
        recorder.settle([])  # commits first: fails
    with pytest.raises(DatabaseError):
        recorder.close()
    assert list(warcs.glob("*" + OPEN_SUFFIX)), "the file is left for reconcile, not closed"
    sessions = db.connect(pg_url)
    assert reconcile(sessions, warcs).files_recovered
    sessions.kw["bind"].dispose()
    assert {row.url for row in _rows(pg_url)} == {"https://example.org/a"}
