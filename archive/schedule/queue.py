"""The work queue of checks: due sources claimed with leases, on SQLite and PostgreSQL alike.

A source is due when ``next_check_at <= now`` (a paused source has no
``next_check_at``). :func:`claim` takes up to ``limit`` due sources, most
overdue first, that no live lease holds, and writes a lease for each (the
worker's name in ``claimed_by``, ``lease_until``) in one statement: an
insert into the small ``leases`` table, which takes over leases that have run
out. So a dead worker's sources come due again when its leases end, with
nothing to clean up, and a claim writes a few pages rather than a thousand
scattered source rows. On PostgreSQL the due sources are picked ``FOR UPDATE
SKIP LOCKED``, so concurrent claimers never wait on each other; on SQLite the
statement holds the database's write lock, which makes it atomic.
:func:`record_check` stores a check's result and the next check time (the
policy that computes it lives in ``scheduler.py``) and drops the lease;
:func:`release` gives unfinished claims back at a graceful stop, :func:`release_dead`
those of a dead daemon's workers at the next start, and :func:`renew` keeps a
slow check's lease alive.

:func:`check_now` makes sources due now ("check now": ``citewatch check``, ``POST
/api/check``), and :func:`daemon_holder` says whether a daemon runs to take them: it reads
the locks that ``scheduler.py`` takes (a file lock per data folder, an advisory lock per
PostgreSQL database), which are named here so both sides agree.
"""

from __future__ import annotations

import fcntl
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import CursorResult, Result, Table, and_, delete, func, literal, select, text, update
from sqlalchemy.orm import Session

from archive.errors import NotFoundError, UsageError
from archive.models import Lease, Source

SOURCES = cast(Table, Source.__table__)  # declarative typing says FromClause; it is a Table
LEASES = cast(Table, Lease.__table__)


def _dml(result: Result[*tuple[Any, ...]]) -> CursorResult[*tuple[Any, ...]]:
    """A DELETE's or UPDATE's result, which has a ``rowcount``: Session.execute types every
    result as a plain Result."""
    return cast("CursorResult[*tuple[Any, ...]]", result)


def claim(
    session: Session,
    worker: str,
    now: datetime,
    limit: int,
    lease: timedelta,
    share: tuple[int, int] | None = None,
) -> list[tuple[int, str]]:
    """Claim up to ``limit`` due sources for ``worker`` until ``now + lease``; returns their
    (id, url), most overdue first. ``share`` ``(i, n)``: only the sources whose ``host_key``
    is ``i`` modulo ``n`` (worker ``i`` of ``n`` checks every source of its hosts). Commits."""
    held = select(LEASES.c.source_id).where(LEASES.c.lease_until > now)
    wanted = [SOURCES.c.next_check_at <= now, SOURCES.c.id.not_in(held)]
    if share is not None and share[1] > 1:
        wanted.append(SOURCES.c.host_key % share[1] == share[0])
    order = (SOURCES.c.next_check_at, SOURCES.c.id)
    if session.get_bind().dialect.name == "postgresql":
        rows = session.execute(_claim_postgresql(worker, now, limit, lease, wanted, order)).all()
    else:
        rows = _claim_sqlite(session, worker, now, limit, lease, wanted, order)
    session.commit()
    return [(r.id, r.url) for r in rows]


def _take_over(insert: Any, now: datetime) -> Any:
    """The insert of leases, taking over a lease that ran out, never a live one."""
    return insert.on_conflict_do_update(
        index_elements=[LEASES.c.source_id],
        set_={"claimed_by": insert.excluded.claimed_by, "lease_until": insert.excluded.lease_until},
        where=LEASES.c.lease_until <= now,
    ).returning(LEASES.c.source_id)


def _claim_postgresql(
    worker: str, now: datetime, limit: int, lease: timedelta, wanted: list[Any], order: tuple[Any, ...]
) -> Any:
    """One statement: the due rows (locked, skipping rows another claimer has locked), the
    leases inserted for them, and their URLs, without reading the sources twice."""
    from sqlalchemy.dialects import postgresql  # here: `citewatch status` imports this module

    due = (
        select(SOURCES.c.id, SOURCES.c.url, SOURCES.c.next_check_at)
        .where(*wanted)
        .order_by(*order)
        .limit(limit)
        .with_for_update(skip_locked=True, of=SOURCES)
        .cte("due")
    )
    insert = postgresql.insert(LEASES)
    claimed = _take_over(
        insert.from_select(
            ["source_id", "claimed_by", "lease_until"],
            select(due.c.id, literal(worker), literal(now + lease)),
        ),
        now,
    ).cte("claimed")
    return (
        select(due.c.id, due.c.url)
        .join(claimed, claimed.c.source_id == due.c.id)
        .order_by(due.c.next_check_at, due.c.id)
    )


def _claim_sqlite(
    session: Session,
    worker: str,
    now: datetime,
    limit: int,
    lease: timedelta,
    wanted: list[Any],
    order: tuple[Any, ...],
) -> list[Any]:
    """SQLite has no INSERT inside WITH: insert the leases (the statement holds the database's
    write lock, which makes it atomic), then read the claimed sources' URLs."""
    from sqlalchemy.dialects import sqlite

    due = (
        select(SOURCES.c.id, literal(worker), literal(now + lease))
        .where(*wanted)
        .order_by(*order)
        .limit(limit)
    )
    stmt = _take_over(sqlite.insert(LEASES).from_select(["source_id", "claimed_by", "lease_until"], due), now)
    ids = [row.source_id for row in session.execute(stmt)]
    return list(
        session.execute(select(SOURCES.c.id, SOURCES.c.url).where(SOURCES.c.id.in_(ids)).order_by(*order))
    )


def record_check(
    session: Session,
    source_id: int,
    worker: str | None,
    *,
    checked_at: datetime,
    next_check_at: datetime | None,
    changed: bool,
    failed: bool,
) -> bool:
    """Store a check of ``source_id`` (when, whether it changed or failed, when it is due next)
    and drop ``worker``'s lease on it. Returns False when the lease was no longer ``worker``'s
    (it ran out and another worker took the source over): the result is kept, the schedule is
    left to the worker that holds the source now."""
    values: dict[str, object] = {
        "last_checked_at": checked_at,
        "failures": SOURCES.c.failures + 1 if failed else 0,
    }
    if changed:
        values["last_change_at"] = checked_at
    held = True
    if worker is not None:
        mine = and_(LEASES.c.source_id == source_id, LEASES.c.claimed_by == worker)
        held = bool(_dml(session.execute(delete(LEASES).where(mine))).rowcount)
        other = session.scalar(select(LEASES.c.claimed_by).where(LEASES.c.source_id == source_id))
        held = held or other is None
    if held:
        values["next_check_at"] = next_check_at
    session.execute(update(SOURCES).where(SOURCES.c.id == source_id).values(**values))
    return held


def release(session: Session, worker: str, source_ids: list[int] | None = None) -> int:
    """Give back claims ``worker`` will not finish (a graceful stop, or the worker died): its
    leases on ``source_ids`` (None: all of them) go, and those sources are due again in their
    old place in the queue. Returns how many. Commits."""
    mine = LEASES.c.claimed_by == worker
    if source_ids is not None:
        mine = and_(mine, LEASES.c.source_id.in_(source_ids))
    count = _dml(session.execute(delete(LEASES).where(mine))).rowcount
    session.commit()
    return int(count or 0)


def release_dead(session: Session, prefix: str, alive: set[str]) -> int:
    """Drop the leases of workers named ``prefix...`` that are not in ``alive``: the workers of
    a daemon that died, whose sources need not wait for the leases to run out. Commits."""
    dead = and_(LEASES.c.claimed_by.startswith(prefix, autoescape=True), LEASES.c.claimed_by.not_in(alive))
    count = _dml(session.execute(delete(LEASES).where(dead))).rowcount
    session.commit()
    return int(count or 0)


def renew(
    session: Session, worker: str, now: datetime, lease: timedelta, source_ids: list[int] | None = None
) -> int:
    """Extend the leases ``worker`` holds (on ``source_ids``, None: all) to ``now + lease``: its
    work is still in flight. Returns how many it renewed. Commits."""
    mine = and_(LEASES.c.claimed_by == worker, LEASES.c.lease_until > now)
    if source_ids is not None:
        mine = and_(mine, LEASES.c.source_id.in_(source_ids))
    count = _dml(session.execute(update(LEASES).where(mine).values(lease_until=now + lease))).rowcount
    session.commit()
    return int(count or 0)


def held(session: Session, now: datetime) -> dict[str, int]:
    """Live leases by worker name."""
    rows = session.execute(
        select(LEASES.c.claimed_by, func.count())
        .where(LEASES.c.lease_until > now)
        .group_by(LEASES.c.claimed_by)
    )
    return {name: int(count) for name, count in rows}


# -- the daemon that works the queue ------------------------------------------------------

DAEMON_LOCK_FILE = "daemon.lock"  # in the data folder: flock()ed by the daemon and its workers
DAEMON_LOCK_KEY = 0x63697465  # "cite": the daemon's PostgreSQL session advisory lock
_CONNECTION_NAME = "citewatch daemon "  # + "PID HOST": the application_name of that lock's session


@dataclass(frozen=True)
class Holder:
    """Who holds a daemon lock, as far as it can be told: the daemon's pid and host name
    (written into the lock file, or into the name of the session holding the advisory lock);
    for a session that does not say, the PostgreSQL backend's pid."""

    pid: int | None = None
    host: str | None = None
    backend: int | None = None

    @classmethod
    def parse(cls, text: str, backend: int | None = None) -> Holder:
        """``"PID HOST"`` (an older lock file holds only ``"PID"``).

        >>> Holder.parse("4242 box")
        Holder(pid=4242, host='box', backend=None)
        >>> Holder.parse("")
        Holder(pid=None, host=None, backend=None)
        """
        pid, _, host = text.strip().partition(" ")
        if not (pid.isascii() and pid.isdigit()):
            return cls(backend=backend)
        return cls(int(pid), host.strip() or None, backend)

    def __str__(self) -> str:
        if self.pid is None:
            return f"PostgreSQL backend pid {self.backend}" if self.backend else "pid unknown"
        elsewhere = self.host is not None and self.host != socket.gethostname()
        return f"pid {self.pid}" + (f" on {self.host}" if elsewhere else "")

    def alive(self) -> bool:
        """Whether the daemon named is running: its process exists, is no zombie and (where
        /proc tells) is citewatch, so a pid reused since a crash does not count. A process on
        another host cannot be looked at: it counts as running."""
        if self.pid is None:
            return False
        if self.host is not None and self.host != socket.gethostname():
            return True
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # another user's process: it exists
            pass
        proc = Path("/proc") / str(self.pid)
        try:
            state = (proc / "stat").read_text().rpartition(")")[2].split()[0]
            command = (proc / "cmdline").read_bytes()
        except (OSError, IndexError):
            return True  # no /proc here (or it ended just now): the signal said it exists
        return state != "Z" and b"citewatch" in command


def daemon_name() -> str:
    """What a daemon writes into its lock file: ``"PID HOST"``."""
    return f"{os.getpid()} {socket.gethostname()}"


def daemon_connection_name() -> str:
    """The application_name of the daemon's lock session (PostgreSQL keeps 63 bytes of it)."""
    return (_CONNECTION_NAME + daemon_name())[:63]


def file_lock_holder(path: Path) -> Holder | None:
    """Who holds the daemon lock file ``path`` (None: nobody). The test takes a shared lock
    for an instant; a daemon starting in that instant tries again (scheduler.py)."""
    try:
        handle = open(path, encoding="utf-8")  # noqa: SIM115 - closed below, after the unlock
    except FileNotFoundError:
        return None
    with handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return Holder.parse(handle.read())
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return None


def advisory_lock_holder(connection: Any) -> Holder | None:
    """Who holds the daemon's advisory lock on this PostgreSQL database (None: nobody).
    ``connection``: a Session or a Connection."""
    row = connection.execute(
        text(
            "SELECT a.application_name, l.pid FROM pg_locks l"
            " LEFT JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.locktype = 'advisory' AND l.granted AND l.classid::bigint = 0"
            " AND l.objid::bigint = :key AND l.objsubid = 1"
            " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ),
        {"key": DAEMON_LOCK_KEY},
    ).first()
    if row is None:
        return None
    name = row.application_name or ""
    said = name.removeprefix(_CONNECTION_NAME) if name.startswith(_CONNECTION_NAME) else ""
    return Holder.parse(said, row.pid)


def daemon_holder(home: Path, session: Session) -> Holder | None:
    """The running daemon that takes what is due: of the data folder ``home``, or on the same
    PostgreSQL database. None when none runs (a lock still held by the workers of a daemon
    that died does not count: nothing hands them work)."""
    holder = file_lock_holder(home / DAEMON_LOCK_FILE)
    if holder is not None and holder.alive():
        return holder
    if session.get_bind().dialect.name == "postgresql":
        return advisory_lock_holder(session)
    return None


# -- check now ----------------------------------------------------------------------------


def _tracked(source: Source) -> bool:
    """Checked on a schedule, or paused; not captured only, nor untracked (`citewatch untrack`)."""
    return source.untracked_at is None and (source.next_check_at is not None or bool(source.paused))


def _sources_named(session: Session, urls: Sequence[str]) -> list[Source]:
    """The Sources of ``urls``, in order, once each; a URL citewatch does not track is an error."""
    from archive.urls import check_url

    found: dict[int, Source] = {}
    for raw in dict.fromkeys(urls):
        url = check_url(raw)
        source = session.scalars(select(Source).where(Source.url.in_({raw, url}))).first()
        if source is None:
            raise NotFoundError(f"{raw} is not a tracked source: `citewatch track {url}` tracks it")
        if not _tracked(source):
            raise UsageError(f"{url} is not tracked: `citewatch track {url}` tracks it")
        found.setdefault(source.id, source)
    return list(found.values())


def _sources_of(session: Session, article: str) -> tuple[list[Source], list[str]]:
    """The tracked sources an article (id or URL) cites, and the URLs of those not tracked."""
    from archive.articles.storage import require_article, sources_of_article

    ids = sources_of_article(session, require_article(session, article).id)
    sources = [
        s
        for start in range(0, len(ids), 500)
        for s in session.scalars(select(Source).where(Source.id.in_(ids[start : start + 500])))
    ]
    return [s for s in sources if _tracked(s)], [s.url for s in sources if not _tracked(s)]


def check_now(
    session: Session,
    home: Path,
    now: datetime,
    *,
    urls: Sequence[str] = (),
    article: str | None = None,
) -> dict[str, Any]:
    """Make the tracked sources named by ``urls``, or cited by ``article``, due ``now``, for a
    running daemon to check at its next dispatch (after the sources that are overdue already).
    A paused source is checked once and stays paused: a check of a paused source schedules no
    next one. A source a worker is checking at this moment is not checked twice: the check in
    flight answers (``in_flight``). Commits. Returns what ``citewatch check --json`` prints,
    ``daemon`` saying whether a daemon runs (``home``: the data folder) to take them.

    An unknown URL or article is a NotFoundError; a URL that was captured but never tracked a
    UsageError (checking it would start tracking it)."""
    if bool(urls) == (article is not None):
        raise UsageError("name the source URLs to check, or an article")
    if article is not None:
        sources, not_tracked = _sources_of(session, article)
    else:
        sources, not_tracked = _sources_named(session, urls), []
    ids = [s.id for s in sources]
    flying: set[int] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        session.execute(update(SOURCES).where(SOURCES.c.id.in_(chunk)).values(next_check_at=now))
        live = select(LEASES.c.source_id).where(LEASES.c.source_id.in_(chunk), LEASES.c.lease_until > now)
        flying.update(session.scalars(live))
    session.commit()
    holder = daemon_holder(home, session)
    return {
        "sources": [
            {
                "source_id": s.id,
                "url": s.url,
                "paused": bool(s.paused),
                "next_check_at": now.isoformat() + "Z",
                "in_flight": s.id in flying,
            }
            for s in sources
        ],
        "not_tracked": not_tracked,
        "daemon": {
            "running": holder is not None,
            "pid": holder.pid if holder is not None else None,
            "holder": str(holder) if holder is not None else None,
        },
    }
