"""The capture index: Snapshot rows, and the queries replay and dedup need.

Plain functions over a SQLAlchemy ``Session``. The two replay queries (all
captures of a URL, the capture closest to a time) and the dedup query (an
earlier capture of this URL with this payload) each use one composite index
led by the SURT key.
"""

from __future__ import annotations

from datetime import datetime

import surt as surtlib
from sqlalchemy import select
from sqlalchemy.orm import Session

from archive.models import Snapshot, Source, WarcFile

ARCHIVED_TYPES = ("response", "revisit", "resource")


def surt_key(url: str) -> str:
    """The SURT form used as the index key.

    >>> surt_key("https://www.Example.com/a?b=1")
    'com,example)/a?b=1'
    """
    try:
        return str(surtlib.surt(url))
    except Exception:  # surt raises assorted errors on odd URLs; key them by the URL itself
        return url.lower()


def original_of(session: Session, surt: str, digest: str) -> Snapshot | None:
    """The newest full ``response`` capture of this SURT with this payload digest."""
    stmt = (
        select(Snapshot)
        .where(
            Snapshot.surt == surt,
            Snapshot.payload_digest == digest,
            Snapshot.record_type == "response",
            Snapshot.outcome == "ok",
        )
        .order_by(Snapshot.captured_at.desc())
        .limit(1)
    )
    return session.scalars(stmt).first()


def captures(session: Session, url: str) -> list[Snapshot]:
    """Every archived capture of ``url``, oldest first (a TimeMap)."""
    stmt = (
        select(Snapshot)
        .where(Snapshot.surt == surt_key(url), Snapshot.record_type.in_(ARCHIVED_TYPES))
        .order_by(Snapshot.captured_at, Snapshot.id)
    )
    return list(session.scalars(stmt))


def attempts(session: Session, url: str) -> list[Snapshot]:
    """Every capture and failed attempt of ``url``, oldest first."""
    stmt = select(Snapshot).where(Snapshot.surt == surt_key(url)).order_by(Snapshot.captured_at, Snapshot.id)
    return list(session.scalars(stmt))


def closest(session: Session, url: str, when: datetime) -> Snapshot | None:
    """The archived capture of ``url`` nearest to ``when`` (a TimeGate).

    Two index probes, one each side of ``when``, instead of a scan.
    """
    key = surt_key(url)
    base = select(Snapshot).where(Snapshot.surt == key, Snapshot.record_type.in_(ARCHIVED_TYPES))
    before = session.scalars(
        base.where(Snapshot.captured_at <= when).order_by(Snapshot.captured_at.desc()).limit(1)
    ).first()
    after = session.scalars(
        base.where(Snapshot.captured_at > when).order_by(Snapshot.captured_at).limit(1)
    ).first()
    candidates = [s for s in (before, after) if s is not None]
    return min(candidates, key=lambda s: abs((s.captured_at - when).total_seconds()), default=None)


def add_failure(
    session: Session, url: str, outcome: str, error: str, at: datetime, **fields: object
) -> Snapshot:
    """A Snapshot row for a fetch that produced no record, saying why."""
    snap = Snapshot(
        url=url, surt=surt_key(url), captured_at=at, outcome=outcome, error=error[:2000], **fields
    )
    session.add(snap)
    session.flush()
    return snap


def source_for(session: Session, url: str, now: datetime) -> Source:
    """The Source row for ``url``, created if new."""
    source = session.scalars(select(Source).where(Source.url == url)).first()
    if source is None:
        source = Source(url=url, surt=surt_key(url), created_at=now, paused=False)
        session.add(source)
        session.flush()
    return source


def warc_file_id(session: Session, name: str, now: datetime) -> int:
    row = session.scalars(select(WarcFile).where(WarcFile.name == name)).first()
    if row is None:
        row = WarcFile(name=name, created_at=now)
        session.add(row)
        session.flush()
    return row.id
