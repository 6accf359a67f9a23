"""``citewatch status``: the state of the archive and its schedule, from indexed queries only.

Sources by state, tracked and paused; due now and overdue; leases held, by
worker; page captures and failures in the last hour and day; the last error
of each failing host; and the disk the WARC files use. The counts read
indexes only: sources by state and paused from narrow indexes, the due range
of the ``next_check_at`` index, ranges of ``captured_at`` and ``state`` (and
the small ``leases`` table), so it stays well within a second with millions
of rows. A
failing host is a host of sources whose state is ``failing``: the same
sources ``by_state`` counts, by one definition (:data:`STATES`). The counts of sources read
narrow indexes only (migration 0010).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from archive.models import Lease, Snapshot, Source, WarcFile
from archive.schedule import queue
from archive.store.warc import OPEN_SUFFIX

OVERDUE = timedelta(minutes=15)  # due this long ago and not yet claimed: the daemon is behind
_FAILING_HOSTS = 20

# A source's state, as every view counts and names it: what the last check that counted showed
# (archive/changes/analysis.py sets content, missing and failing); ``problem`` when every capture so far
# was a capture problem, which says nothing about the source; ``unchecked`` before any analysis.
STATES = {
    "content": "answering with their text",
    "missing": "gone: 404 or 410, a soft 404, a redirect home, a parked or unknown domain",
    "failing": "server errors, timeouts, refused connections",
    "problem": "checked, but no capture yet showed their text or their absence",
    "unchecked": "not checked yet",
}


def source_state(source: Source) -> str:
    """One of :data:`STATES` for a source; :func:`status` counts sources by the same rule."""
    if source.state is not None:
        return source.state
    return "problem" if source.analysed_through is not None else "unchecked"


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() + "Z" if when is not None else None


def _activity(session: Session, since: datetime) -> dict[str, int]:
    """Page captures and failed checks of tracked sources since ``since``."""
    failed = (Snapshot.record_type.is_(None)) | (Snapshot.status >= 500)
    row = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(case((failed, 1), else_=0)), 0),
        ).where(
            Snapshot.captured_at >= since,
            Snapshot.source_id.is_not(None),
            # Not a browser capture's screenshot or rendered DOM (resource records, urn: URLs):
            # said so by the record type, which the index carries.
            func.coalesce(Snapshot.record_type, "") != "resource",
        )
    ).one()
    return {"captures": int(row[0]) - int(row[1]), "failures": int(row[1])}


def _failing_hosts(session: Session) -> list[dict[str, Any]]:
    """The last error of each host with failing sources (the most recently failed first): the
    sources ``by_state`` counts as ``failing``, counted by host (by ``host_key``, from the index
    on state, host and check time without reading the rows), so the hosts' ``sources`` add up
    to that count unless more than 20 hosts fail."""
    latest = func.max(Source.last_checked_at)
    hosts = session.execute(
        select(Source.host_key, func.count(), latest)
        .where(Source.state == "failing")
        .group_by(Source.host_key)
        .order_by(latest.desc().nulls_last(), Source.host_key)
        .limit(_FAILING_HOSTS)
    ).all()
    return [_failing_host(session, key, int(n)) for key, n, _checked in hosts]


def _failing_host(session: Session, key: int, sources: int) -> dict[str, Any]:
    """One failing host: its most recently checked failing source and that source's last error."""
    sid, url, failures, checked = session.execute(
        select(Source.id, Source.url, Source.failures, Source.last_checked_at)
        .where(Source.state == "failing", Source.host_key == key)
        .order_by(Source.last_checked_at.desc().nulls_last(), Source.id.desc())
        .limit(1)
    ).one()
    last = session.execute(
        select(Snapshot.outcome, Snapshot.status, Snapshot.error, Snapshot.captured_at)
        .where(Snapshot.source_id == sid, (Snapshot.record_type.is_(None)) | (Snapshot.status >= 400))
        .order_by(Snapshot.id.desc())
        .limit(1)
    ).first()
    error = (last.error or (f"HTTP {last.status}" if last.status else last.outcome)) if last else None
    return {
        "host": urlsplit(url).hostname or url,
        "sources": sources,
        "failures_in_a_row": failures,  # checks on its schedule; 0 for a source not tracked
        # A source not tracked has no scheduled checks: its last capture is its last check.
        "last_checked_at": _iso(checked or (last.captured_at if last else None)),
        "last_error": error,
    }


def _warc_bytes(session: Session, warc_dir: Path) -> int:
    closed = session.scalar(
        select(func.coalesce(func.sum(WarcFile.size), 0)).where(WarcFile.closed_at.is_not(None))
    )
    open_now = sum(p.stat().st_size for p in warc_dir.glob(f"*{OPEN_SUFFIX}")) if warc_dir.exists() else 0
    return int(closed or 0) + open_now


def _source_counts(session: Session) -> tuple[dict[str, int], int, int]:
    """Sources by state, paused, and tracked (a next check and not paused), each from a narrow
    index (migration 0010) rather than a pass over the rows: a tenth of the time at a million."""
    counted = session.execute(
        select(Source.state, func.count(), func.count(Source.analysed_through)).group_by(Source.state)
    ).all()
    paused, paused_due = session.execute(
        select(func.count(), func.count(Source.next_check_at)).where(Source.paused.is_(True))
    ).one()
    scheduled = session.scalar(select(func.count()).where(Source.next_check_at.is_not(None))) or 0
    return _by_state(counted), int(paused), int(scheduled) - int(paused_due)


def _by_state(counted: Any) -> dict[str, int]:
    """Rows of (state, sources, analysed) as counts by :data:`STATES`, in that order, leaving
    out the states no source is in (:func:`source_state` for each source)."""
    found: dict[str, int] = {}
    for state, n, analysed in counted:
        if state is None:  # analysed, yet no state: every capture so far was a capture problem
            found["problem"] = int(analysed)
            found["unchecked"] = int(n) - int(analysed)
        else:
            found[state] = found.get(state, 0) + int(n)
    order = [*STATES, *sorted(set(found) - set(STATES))]
    return {state: found[state] for state in order if found.get(state)}


def status(session: Session, warc_dir: Path, now: datetime) -> dict[str, Any]:
    """Everything ``citewatch status`` shows, as one JSON-able dict."""
    by_state, paused, tracking = _source_counts(session)
    total = sum(by_state.values())
    held = select(Lease.source_id).where(Lease.lease_until > now)
    due_row = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(case((Source.next_check_at <= now - OVERDUE, 1), else_=0)), 0),
        ).where(Source.next_check_at <= now, Source.id.not_in(held))
    ).one()
    due, overdue = int(due_row[0]), int(due_row[1])
    leases = queue.held(session, now)
    next_due = session.scalar(select(func.min(Source.next_check_at)).where(Source.next_check_at > now))
    return {
        "at": _iso(now),
        "sources": {
            "total": total,
            "tracked": tracking,
            "paused": paused,
            "by_state": by_state,
        },
        "due_now": due,
        "overdue": overdue,
        "next_due_at": _iso(next_due),
        "leases": {"held": sum(leases.values()), "by_worker": leases},
        "last_hour": _activity(session, now - timedelta(hours=1)),
        "last_day": _activity(session, now - timedelta(days=1)),
        "failing_hosts": _failing_hosts(session),
        "warc_bytes": _warc_bytes(session, warc_dir),
    }
