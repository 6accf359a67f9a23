"""Database engines and migrations, for SQLite and PostgreSQL alike.

Only Alembic creates or changes the schema: :func:`upgrade` runs the
migrations to head, and :func:`connect` refuses a database that is behind.
"""

from __future__ import annotations

import fcntl
import logging
import time
import weakref
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from archive.errors import DatabaseError, SettingsError

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine.interfaces import DBAPIConnection
    from sqlalchemy.pool import ConnectionPoolEntry

# The newest migration. Every command checks the database against it, and
# importing Alembic to find it would cost each run a tenth of a second; a test
# keeps it equal to the head of migrations/versions.
HEAD = "0010"

logger = logging.getLogger(__name__)


def _migrations_dir() -> Path:
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "migrations", here / "migrations"):
        if (candidate / "env.py").exists():
            return candidate
    raise DatabaseError("the migrations folder is missing from this installation; reinstall citewatch")


def normalise_url(url: str) -> str:
    """Pick psycopg 3 for plain ``postgresql://`` URLs.

    >>> normalise_url("postgresql://u@h/db")
    'postgresql+psycopg://u@h/db'
    >>> normalise_url("sqlite:///x.db")
    'sqlite:///x.db'
    """
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _sqlite_pragmas(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_conn.cursor()
    # WAL lets readers (status, replay) work while a capture writes; NORMAL is
    # durable across process crashes, which is what the WARC/row contract needs.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


class WriteTurns:
    """Writers of one SQLite database take turns, in the order they asked.

    SQLite lets one connection write at a time, and one that finds the
    database locked polls for it, sleeping up to a tenth of a second between
    tries. A writer that commits and writes again at once (the archiver,
    recording a crawl's captures in one transaction after another) holds the
    lock almost all the time, and the other (the analyst, recording what the
    captures changed) is starved: it was seen waiting two seconds in a
    five-second capture. So every write transaction first takes a turn, with
    two lock files beside the database: the queue (held only while waiting)
    and the turn itself. A writer holds the queue while it waits for the turn,
    and takes the queue before it takes the turn, so a writer that has just
    finished cannot take the turn again before the one waiting has had it.
    :meth:`waiting` tells a writer that holds its transaction open between
    writes that another is waiting, so that it commits now.

    Each DBAPI connection has its own lock files open (locks of ``flock`` are
    held by an open file, so two connections of one process exclude each other
    too). A writer that waits longer than ``timeout`` goes on regardless, and
    SQLite's own busy timeout then says whether the database is locked.
    """

    _WRITES = frozenset({"INSERT", "UPDATE", "DELETE", "REPLACE"})

    def __init__(self, database: Path, timeout: float = 30.0):
        self.queue_path = database.with_name(database.name + "-queue.lock")
        self.turn_path = database.with_name(database.name + "-turn.lock")
        self.timeout = timeout  # SQLite's own busy timeout (see _sqlite_pragmas)
        self._probe: IO[bytes] | None = None  # the queue, opened once for waiting()

    def install(self, engine: Engine) -> None:
        event.listen(engine, "before_cursor_execute", self._before_execute)
        for name in ("commit", "rollback"):
            event.listen(engine, name, lambda conn: self._release(conn.info))
        event.listen(engine.pool, "checkin", lambda _dbapi, record: self._release(record.info))
        event.listen(engine.pool, "reset", lambda _dbapi, record, _state: self._release(record.info))
        event.listen(engine.pool, "invalidate", lambda _dbapi, record, _exc: self._release(record.info))
        event.listen(engine.pool, "close", lambda _dbapi, record: self._close(record.info))
        _TURNS[engine] = self

    def waiting(self) -> bool:
        """Whether a writer of this database is waiting for its turn."""
        if self._probe is None:
            self._probe = open(self.queue_path, "a+b")  # noqa: SIM115  # kept open: asked once a record
            weakref.finalize(self, self._probe.close)
        try:
            fcntl.flock(self._probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(self._probe, fcntl.LOCK_UN)
        return False

    def _before_execute(self, conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        info = conn.info
        first = statement.lstrip()[:8].split(None, 1)
        if info.get("citewatch_turn") or not first or first[0].upper() not in self._WRITES:
            return
        files = info.get("citewatch_turn_files")
        if files is None:
            files = info["citewatch_turn_files"] = (
                open(self.queue_path, "a+b"),  # noqa: SIM115  # closed with the connection (_close)
                open(self.turn_path, "a+b"),  # noqa: SIM115
            )
        queue, turn = files
        deadline = time.monotonic() + self.timeout
        if self._take(queue, deadline):
            try:
                info["citewatch_turn"] = self._take(turn, deadline)
            finally:
                fcntl.flock(queue, fcntl.LOCK_UN)

    @staticmethod
    def _take(lock: IO[bytes], deadline: float) -> bool:
        pause = 0.0005
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(pause)
                pause = min(pause * 2, 0.005)

    @staticmethod
    def _release(info: dict[Any, Any]) -> None:
        if info.pop("citewatch_turn", False):
            fcntl.flock(info["citewatch_turn_files"][1], fcntl.LOCK_UN)

    def _close(self, info: dict[Any, Any]) -> None:
        self._release(info)
        for lock in info.pop("citewatch_turn_files", ()):
            lock.close()


_TURNS: weakref.WeakKeyDictionary[Engine, WriteTurns] = weakref.WeakKeyDictionary()


def write_turns(engine: Engine) -> WriteTurns | None:
    """The turns the writers of ``engine``'s database take: None but for a SQLite file."""
    return _TURNS.get(engine)


def make_engine(url: str) -> Engine:
    url = normalise_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise SettingsError(f"database_url {url!r} is not a database URL") from exc
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url)
        event.listen(engine, "connect", _sqlite_pragmas)
        if parsed.database and parsed.database != ":memory:":
            WriteTurns(Path(parsed.database)).install(engine)
        return engine
    try:
        return create_engine(url, pool_pre_ping=True)
    except (ArgumentError, ImportError) as exc:
        raise SettingsError(f"cannot use database_url {url!r}: {exc}") from exc


def alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_migrations_dir()))
    config.attributes["engine"] = engine
    return config


def _describe(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def reason(exc: BaseException) -> str:
    """The first line of what the database driver said, without SQLAlchemy's footer."""
    original = getattr(exc, "orig", None) or exc
    lines = str(original).strip().splitlines()
    return f"{original.__class__.__name__}: {lines[0] if lines else 'no detail'}"


def upgrade(engine: Engine, revision: str = "head") -> None:
    from alembic import command

    try:
        command.upgrade(alembic_config(engine), revision)
    except SQLAlchemyError as exc:
        raise DatabaseError(f"cannot migrate {_describe(engine)}: {reason(exc)}") from exc


def downgrade(engine: Engine, revision: str) -> None:
    from alembic import command

    try:
        command.downgrade(alembic_config(engine), revision)
    except SQLAlchemyError as exc:
        raise DatabaseError(f"cannot migrate {_describe(engine)}: {reason(exc)}") from exc


def current_revision(engine: Engine) -> str | None:
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except SQLAlchemyError as exc:
        raise DatabaseError(f"cannot reach the database {_describe(engine)}: {reason(exc)}") from exc


def head_revision() -> str | None:
    """The head of the migration scripts, as Alembic sees it (slow: reads every script)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(create_engine("sqlite://"))).get_current_head()


def migrated(url: str) -> sessionmaker[Session]:
    """A session factory for the database ``url``, brought to head first (idempotent)."""
    engine = make_engine(url)
    try:
        at_head = current_revision(engine) == HEAD
    except DatabaseError:
        engine.dispose()
        raise
    if at_head:  # the common case: one look at the version row, and the engine (and its connection) kept
        return sessionmaker(engine, expire_on_commit=False)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    return connect(url)


def connect(url: str) -> sessionmaker[Session]:
    """A session factory for a database that is migrated to head."""
    engine = make_engine(url)
    try:
        current = current_revision(engine)
        if current is None:
            raise DatabaseError(f"the database {_describe(engine)} is empty: run `citewatch init` first")
        if current != HEAD:
            raise DatabaseError(
                f"the database {_describe(engine)} is at revision {current}: run `citewatch db upgrade`"
            )
    except DatabaseError:
        engine.dispose()
        raise
    return sessionmaker(engine, expire_on_commit=False)
