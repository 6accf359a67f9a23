"""The work queue of checks: due sources claimed with leases, on SQLite and PostgreSQL alike.

A source is due when ``next_check_at <= now`` (a paused source has no
``next_check_at``). :func:`claim` takes up to ``limit`` due sources, most
overdue first, in one UPDATE: it writes the worker's name in ``claimed_by``
and moves ``next_check_at`` to the end of the lease, so the claimed rows leave
the due range of the index and a dead worker's sources come due again when
its lease ends, with nothing to clean up. On PostgreSQL the rows are picked
with ``FOR UPDATE SKIP LOCKED``, so concurrent claimers never wait on each
other; on SQLite the single UPDATE holds the database's write lock, which
makes it atomic. :func:`record_check` stores a check's result and the next
check time (the policy that computes it lives in ``scheduler.py``);
:func:`release` gives unfinished claims back at a graceful stop.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from archive.models import Source

SOURCES = Source.__table__


def claim(
    session: Session, worker: str, now: datetime, limit: int, lease: timedelta
) -> list[tuple[int, str]]:
    """Claim up to ``limit`` due sources for ``worker`` until ``now + lease``; returns their
    (id, url), most overdue first. Commits."""
    due = (
        select(SOURCES.c.id)
        .where(SOURCES.c.next_check_at <= now)
        .order_by(SOURCES.c.next_check_at, SOURCES.c.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    until = now + lease
    stmt = (
        update(SOURCES)
        .where(SOURCES.c.id.in_(due.scalar_subquery()))
        .values(claimed_by=worker, lease_until=until, next_check_at=until)
        .returning(SOURCES.c.id, SOURCES.c.url, SOURCES.c.last_checked_at)
    )
    rows = session.execute(stmt).all()
    session.commit()
    # RETURNING has no order; the oldest check first is the closest to the order claimed in.
    rows.sort(key=lambda r: (r.last_checked_at is not None, r.last_checked_at or now, r.id))
    return [(r.id, r.url) for r in rows]


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
    """Store a check of ``source_id``: when, whether it changed or failed, when it is due next.
    Returns False when ``worker`` no longer held the lease (it ran out and another worker may
    have the source): then the result is kept but the other claim is left alone."""
    values: dict[str, object] = {"last_checked_at": checked_at}
    if changed:
        values["last_change_at"] = checked_at
    values["failures"] = SOURCES.c.failures + 1 if failed else 0
    mine = SOURCES.c.claimed_by.is_(None) if worker is None else SOURCES.c.claimed_by == worker
    held = session.execute(
        update(SOURCES)
        .where(SOURCES.c.id == source_id, mine)
        .values(**values, next_check_at=next_check_at, claimed_by=None, lease_until=None)
    ).rowcount
    if not held:
        session.execute(update(SOURCES).where(SOURCES.c.id == source_id).values(**values))
    return bool(held)


def release(session: Session, worker: str, source_ids: list[int], now: datetime) -> int:
    """Give back claims ``worker`` will not finish (a graceful stop): due again at once."""
    if not source_ids:
        return 0
    count = session.execute(
        update(SOURCES)
        .where(SOURCES.c.id.in_(source_ids), SOURCES.c.claimed_by == worker)
        .values(claimed_by=None, lease_until=None, next_check_at=now)
    ).rowcount
    session.commit()
    return count
