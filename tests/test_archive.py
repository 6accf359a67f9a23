"""The archive library on SQLite and PostgreSQL: migrations, the index, the recorder, reconcile."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from itertools import count
from pathlib import Path

import pytest
from sqlalchemy import inspect, select

from archive import db
from archive.models import Snapshot, WarcFile
from archive.store import index
from archive.store.reconcile import reconcile
from archive.store.recorder import CaptureRecorder, Exchange
from archive.store.warc import HttpRequest, HttpResponse, WarcStore, is_locked
from tests.conftest import warcio_check
from tests.warcs import read_records

T0 = datetime(2026, 1, 2, 3, 4, 5)


def fixed_ids() -> object:
    counter = count(1)
    return lambda: uuid.UUID(int=next(counter))


def clock(start: datetime = T0, step: timedelta = timedelta(seconds=1)):  # type: ignore[no-untyped-def]
    state = {"now": start}

    def now() -> datetime:
        state["now"] += step
        return state["now"]

    return now


def exchange(url: str, body: bytes, when: datetime, status: int = 200) -> Exchange:
    return Exchange(
        HttpRequest("GET", url, [("Host", "example.org"), ("User-Agent", "test")]),
        HttpResponse(status, "OK", [("Content-Type", "text/html"), ("Content-Length", str(len(body)))], body),
        sent_at=when,
        received_at=when + timedelta(milliseconds=20),
    )


@pytest.fixture
def sessions(database_url: str):  # type: ignore[no-untyped-def]
    engine = db.make_engine(database_url)
    db.upgrade(engine)
    factory = db.connect(database_url)
    yield factory
    factory.kw["bind"].dispose()
    engine.dispose()


def test_migrations_go_up_down_and_up_again(database_url: str) -> None:
    engine = db.make_engine(database_url)
    with pytest.raises(Exception, match="citewatch init"):
        db.connect(database_url)
    db.upgrade(engine)
    tables = set(inspect(engine).get_table_names())
    assert {
        "articles",
        "claims",
        "citations",
        "outlets",
        "sources",
        "snapshots",
        "changes",
        "warc_files",
        "extracted_texts",
        "claim_citations",
    } <= tables
    snapshot_indexes = {ix["name"] for ix in inspect(engine).get_indexes("snapshots")}
    assert {
        "ix_snapshots_surt_time",
        "ix_snapshots_surt_digest",
        "ux_snapshots_record_location",
        "ix_snapshots_record_id",
    } <= snapshot_indexes
    assert db.current_revision(engine) == db.head_revision()
    db.downgrade(engine, "base")
    assert "snapshots" not in set(inspect(engine).get_table_names())
    db.upgrade(engine)
    assert db.current_revision(engine) == db.head_revision()
    engine.dispose()


def test_index_queries(sessions, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rec = CaptureRecorder(tmp_path / "warcs", sessions, now=clock(), make_id=fixed_ids())
    url = "https://example.org/story"
    times = [T0 + timedelta(days=d) for d in (0, 10, 20)]
    for i, when in enumerate(times):
        rec.record(exchange(url, f"version {i}".encode(), when))
    rec.record(exchange("https://example.org/other", b"x", T0))
    rec.close()
    with sessions() as session:
        caps = index.captures(session, url)
        assert [c.captured_at for c in caps] == [t + timedelta(milliseconds=20) for t in times]
        assert index.closest(session, url, T0 + timedelta(days=14)).id == caps[1].id
        assert index.closest(session, url, T0 + timedelta(days=16)).id == caps[2].id
        assert index.closest(session, url, T0 - timedelta(days=5)).id == caps[0].id
        assert index.closest(session, "https://example.org/none", T0) is None
        # The same URL written differently finds the same captures (SURT key).
        assert len(index.captures(session, "https://EXAMPLE.org/story")) == 3


def test_identical_payload_becomes_a_revisit(sessions, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rec = CaptureRecorder(tmp_path / "warcs", sessions, now=clock(), make_id=fixed_ids())
    url = "https://example.org/a"
    first = rec.record(exchange(url, b"same body", T0))
    second = rec.record(exchange(url, b"same body", T0 + timedelta(hours=1)))
    other_url = rec.record(exchange("https://example.org/b", b"same body", T0))
    rec.close()
    assert (first.record_type, second.record_type, other_url.record_type) == (
        "response",
        "revisit",
        "response",
    )
    assert second.refers_to_id == first.id
    # A new recorder (a later run) finds the original through the database.
    rec2 = CaptureRecorder(tmp_path / "warcs", sessions, now=clock(), make_id=fixed_ids())
    third = rec2.record(exchange(url, b"same body", T0 + timedelta(days=1)))
    rec2.close()
    assert third.record_type == "revisit" and third.refers_to_id == first.id
    files = sorted((tmp_path / "warcs").glob("*.warc.gz"))
    warcio_check(files)
    revisits = [r for r in read_records(files) if r.type == "revisit"]
    assert {r.warc_headers["WARC-Refers-To"] for r in revisits} == {f"<urn:uuid:{first.record_id}>"}


def test_writer_output_is_reproducible_with_injected_clock_and_ids(tmp_path: Path) -> None:
    outputs = []
    for run in range(2):
        store = WarcStore(tmp_path / str(run), now=clock(), make_id=fixed_ids())
        factory = store.factory
        resp = factory.response("https://example.org/", HttpResponse(200, "OK", [("A", "b")], b"body"), T0)
        store.write(
            [resp, factory.request(HttpRequest("GET", "https://example.org/", []), T0, resp.record_id)]
        )
        store.close()
        (path,) = (tmp_path / str(run)).glob("*.warc.gz")
        # The warcinfo record names the file (which carries a random part); compare from the response on.
        data = path.read_bytes()
        outputs.append(data[read_records([path])[1].offset :])
    assert outputs[0] == outputs[1]


def test_store_rotates_and_locks(tmp_path: Path) -> None:
    store = WarcStore(tmp_path, max_size=500, now=clock(), make_id=fixed_ids())
    for i in range(5):
        store.write([store.factory.resource(f"urn:test:{i}", "text/plain", b"x" * 400, T0)])
        open_files = list(tmp_path.glob("*.open"))
        assert len(open_files) == 1 and is_locked(open_files[0])
    store.close()
    files = sorted(tmp_path.glob("*.warc.gz"))
    assert len(files) == 5 and not list(tmp_path.glob("*.open"))
    assert not any(is_locked(f) for f in files)
    warcio_check(files)


def _crashed_writer(sessions, warc_dir: Path, committed: int, uncommitted: int) -> Path:  # type: ignore[no-untyped-def]
    """Leave a WARC file as a killed process would: some rows committed, some not, a cut record."""
    rec = CaptureRecorder(
        warc_dir, sessions, now=clock(), make_id=fixed_ids(), commit_every=10**6, commit_interval=10**6
    )
    for i in range(committed):
        rec.record(exchange(f"https://example.org/c{i}", f"committed {i}".encode(), T0))
    rec.commit()
    for i in range(uncommitted):
        rec.record(exchange(f"https://example.org/u{i}", f"uncommitted {i}".encode(), T0))
    rec.store.flush()
    (path,) = warc_dir.glob("*.open")
    rec.session.rollback()  # the transaction dies with the process
    rec.session.close()
    with open(path, "ab") as handle:  # half of a record, as if killed mid-write
        handle.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03half a record")
    # Release the writer's lock as process death would.
    rec.store._file.close()
    return path


def test_reconcile_after_a_crash(sessions, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    warc_dir = tmp_path / "warcs"
    path = _crashed_writer(sessions, warc_dir, committed=3, uncommitted=2)
    with sessions() as session:
        assert session.scalar(select(Snapshot).where(Snapshot.url == "https://example.org/u0")) is None
    report = reconcile(sessions, warc_dir)
    assert report.files_recovered == [path.name.removesuffix(".open")]
    assert report.rows_added == 2 and report.bytes_cut > 0
    closed = warc_dir / path.name.removesuffix(".open")
    assert closed.exists() and not path.exists()
    warcio_check([closed])
    records = {r.offset: r for r in read_records([closed])}
    with sessions() as session:
        rows = list(session.scalars(select(Snapshot).where(Snapshot.record_type.is_not(None))))
        assert len(rows) == 5
        for row in rows:
            rec = records[row.offset]
            assert rec.warc_headers["WARC-Record-ID"] == f"<urn:uuid:{row.record_id}>" and rec.uri == row.url
        wf = session.scalar(select(WarcFile))
        assert wf.closed_at is not None and wf.size == closed.stat().st_size
    # A second run finds nothing to do.
    again = reconcile(sessions, warc_dir)
    assert again.files_recovered == [] and again.rows_added == 0


def test_reconcile_leaves_a_live_writer_alone(sessions, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rec = CaptureRecorder(tmp_path, sessions, now=clock(), make_id=fixed_ids())
    rec.record(exchange("https://example.org/live", b"live", T0))
    rec.commit()
    report = reconcile(sessions, tmp_path)
    assert report.files_recovered == [] and len(list(tmp_path.glob("*.open"))) == 1
    rec.close()


def test_head_constant_matches_the_migration_scripts() -> None:
    assert db.head_revision() == db.HEAD


def test_replay_queries_use_the_surt_index(sessions, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """ "All captures of a URL" and "closest to a time" are index range scans, not table scans."""
    from sqlalchemy import select, text

    from archive.models import Snapshot

    rec = CaptureRecorder(tmp_path / "warcs", sessions, now=clock(), make_id=fixed_ids())
    for i in range(50):
        rec.record(exchange(f"https://example.org/p{i % 5}", f"v{i}".encode(), T0 + timedelta(hours=i)))
    rec.close()
    key = index.surt_key("https://example.org/p1")
    stmt = (
        select(Snapshot.id)
        .where(Snapshot.surt == key, Snapshot.captured_at <= T0 + timedelta(days=1))
        .order_by(Snapshot.captured_at.desc())
        .limit(1)
    )
    with sessions() as session:
        conn = session.connection()
        sql = str(stmt.compile(conn, compile_kwargs={"literal_binds": True}))
        if conn.dialect.name == "sqlite":
            plan = " ".join(str(row) for row in conn.execute(text("EXPLAIN QUERY PLAN " + sql)))
        else:  # tiny tables make a sequential scan cheapest; forbid it to see the index is usable
            conn.execute(text("SET enable_seqscan = off"))
            plan = " ".join(str(row) for row in conn.execute(text("EXPLAIN " + sql)))
    assert "ix_snapshots_surt_time" in plan, plan
