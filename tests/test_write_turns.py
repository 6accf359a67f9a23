"""Writers of one SQLite database take turns (archive.db.WriteTurns): one that waits is not starved
by one that commits and writes again at once, as the archiver does all through a crawl."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from sqlalchemy import Engine, text

from archive import db


def _table(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'turns.db'}"
    engine = db.make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, who TEXT)"))
    engine.dispose()
    return url


def _wait_until(condition, seconds: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


def _insert(engine: Engine, who: str) -> None:
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO t (who) VALUES (:who)"), {"who": who})


def test_a_waiting_writer_has_the_next_turn(tmp_path: Path) -> None:
    url = _table(tmp_path)
    busy, other = db.make_engine(url), db.make_engine(url)
    turns = db.write_turns(busy)
    assert turns is not None and not turns.waiting()
    with busy.connect() as conn:
        conn.execute(text("INSERT INTO t (who) VALUES ('busy, first')"))  # its transaction stays open
        waiter = threading.Thread(target=_insert, args=(other, "waiting"))
        waiter.start()
        assert _wait_until(turns.waiting), "the second writer never asked for its turn"
        conn.commit()
        conn.execute(text("INSERT INTO t (who) VALUES ('busy, again')"))  # at once, as the archiver does
        conn.commit()
    waiter.join(timeout=30)
    assert not turns.waiting()
    with busy.connect() as conn:
        order = list(conn.scalars(text("SELECT who FROM t ORDER BY id")))
    assert order == ["busy, first", "waiting", "busy, again"]
    busy.dispose()
    other.dispose()


def test_a_rolled_back_or_returned_connection_gives_its_turn_up(tmp_path: Path) -> None:
    url = _table(tmp_path)
    first, second = db.make_engine(url), db.make_engine(url)
    with first.connect() as conn:
        conn.execute(text("INSERT INTO t (who) VALUES ('rolled back')"))
        conn.rollback()
    _insert(second, "after the rollback")  # would wait its timeout (30 s) if the turn were kept
    conn = first.connect()
    conn.execute(text("INSERT INTO t (who) VALUES ('left open')"))
    conn.close()  # back to the pool, its transaction rolled back
    _insert(second, "after the return")
    with first.connect() as conn:
        assert list(conn.scalars(text("SELECT who FROM t ORDER BY id"))) == [
            "after the rollback",
            "after the return",
        ]
    first.dispose()
    second.dispose()


def test_only_a_sqlite_file_has_turns(tmp_path: Path) -> None:
    memory = db.make_engine("sqlite://")
    assert db.write_turns(memory) is None
    memory.dispose()
    on_disk = db.make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    assert db.write_turns(on_disk) is not None
    on_disk.dispose()
