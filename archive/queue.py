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
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from archive.models import Lease, Source

SOURCES = Source.__table__
LEASES = Lease.__table__


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
        held = bool(session.execute(delete(LEASES).where(mine)).rowcount)
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
    count = session.execute(delete(LEASES).where(mine)).rowcount
    session.commit()
    return int(count or 0)


def release_dead(session: Session, prefix: str, alive: set[str]) -> int:
    """Drop the leases of workers named ``prefix...`` that are not in ``alive``: the workers of
    a daemon that died, whose sources need not wait for the leases to run out. Commits."""
    dead = and_(LEASES.c.claimed_by.startswith(prefix, autoescape=True), LEASES.c.claimed_by.not_in(alive))
    count = session.execute(delete(LEASES).where(dead)).rowcount
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
    count = session.execute(update(LEASES).where(mine).values(lease_until=now + lease)).rowcount
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
