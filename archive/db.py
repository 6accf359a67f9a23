"""Database engines and migrations, for SQLite and PostgreSQL alike.

Only Alembic creates or changes the schema: :func:`upgrade` runs the
migrations to head, and :func:`connect` refuses a database that is behind.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

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
