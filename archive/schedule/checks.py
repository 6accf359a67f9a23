"""The schedule in the database: record the checks just made, write each source's next check
time by :mod:`archive.schedule.policy`, and start, pause and resume tracking.

One place records a check: :func:`record_results` (from capture results and what their
analysis found), through :func:`after_checks`, which also drops a worker's lease.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive.clock import utcnow
from archive.models import Source
from archive.schedule import queue
from archive.schedule.policy import History, Policy, next_check, rescheduled
from archive.store import index
from archive.store.exchange import NOT_CHECKED


def history_of(source: Source) -> History:
    """What the policy knows of ``source``, as the database holds it."""
    return History(
        source.id,
        source.created_at,
        last_check_at=source.last_checked_at,
        last_change_at=source.last_change_at,
        failures=source.failures or 0,
        gone=source.state == "missing",
        every=timedelta(seconds=source.every_seconds) if source.every_seconds else None,
        paused=bool(source.paused),
    )


@dataclass(frozen=True)
class Check:
    """How one check of a source went, as the schedule needs it."""

    source_id: int
    checked_at: datetime
    changed: bool  # a Change was recorded
    failed: bool  # no answer, or a server error


def after_checks(
    session: Session, checks: list[Check], policy: Policy, *, tracked_only: bool, worker: str | None = None
) -> dict[int, datetime | None]:
    """Record checks and schedule each source's next one; with ``tracked_only``, sources that
    are not tracked (never scheduled, or paused) keep no schedule. Returns source id -> next
    check. Commits."""
    sources = {
        s.id: s for s in session.scalars(select(Source).where(Source.id.in_([c.source_id for c in checks])))
    }
    found: dict[int, datetime | None] = {}
    for check in checks:
        source = sources.get(check.source_id)
        if source is None:
            continue
        if tracked_only and (source.next_check_at is None or source.paused):
            if worker is not None:  # paused while it was being checked: no next check, no lease
                queue.record_check(
                    session,
                    source.id,
                    worker,
                    checked_at=check.checked_at,
                    next_check_at=None,
                    changed=check.changed,
                    failed=check.failed,
                )
            continue
        history = replace(
            history_of(source),
            last_check_at=check.checked_at,
            last_change_at=check.checked_at if check.changed else source.last_change_at,
            failures=(source.failures or 0) + 1 if check.failed else 0,
        )
        found[source.id] = next_check(history, policy)
        queue.record_check(
            session,
            source.id,
            worker,
            checked_at=check.checked_at,
            next_check_at=found[source.id],
            changed=check.changed,
            failed=check.failed,
        )
    session.commit()
    return found


def track(
    session: Session,
    url: str,
    now: datetime,
    *,
    every: timedelta | None = None,
    paused: bool | None = None,
    policy: Policy | None = None,
    by_user: bool = False,
) -> Source:
    """Track ``url`` (already checked): create its Source if new (due at once), set its own
    interval when ``every`` is given (its next check recomputed by ``policy`` at once), pause it
    (no next check) or resume it (due now). ``by_user``: the user named this URL (removing an
    article that cites it keeps it tracked). Commits."""
    source_id = index.source_ids(session, [url], now)[url]
    source = session.get(Source, source_id)
    assert source is not None
    source.tracked_by_user = source.tracked_by_user or by_user
    if source.untracked_at is not None and paused is None:
        paused = False  # `citewatch track URL` after `citewatch untrack URL`: checked again
    if every is not None:
        source.every_seconds = max(int(every.total_seconds()), 1)
    if paused is not None:
        source.paused = paused
    if paused is False:
        source.untracked_at = None  # tracked again after `citewatch untrack`
    if paused is True:
        source.next_check_at = None
    elif paused is False or (source.next_check_at is None and not source.paused):
        source.next_check_at = now  # resumed, or tracked from now on
    elif every is not None and not source.paused:
        source.next_check_at = rescheduled(history_of(source), policy or Policy(), now)
    # A paused source keeps what it has: no next check, or the one `citewatch check` asked for.
    session.commit()
    return source


def record_results(
    session: Session,
    results: list[Any],
    analyses: dict[str, Any],
    policy: Policy,
    *,
    tracked_only: bool,
    worker: str | None = None,
    now: datetime | None = None,
    skip: frozenset[str] = NOT_CHECKED,
    known: dict[str, int] | None = None,
) -> dict[str, datetime | None]:
    """Record the checks that capture ``results`` (crawler SeedResults) and their ``analyses``
    (archive.changes.analysis, by URL) make, and schedule each source's next; returns URL -> next check.
    Results with an outcome in ``skip`` (by default: URLs never fetched) are no checks.
    ``known``: URL -> source id, when the caller has them (else they are looked up)."""
    done = [r for r in results if r.outcome not in skip]
    if not done:
        return {}
    now = now or utcnow()
    urls = [r.url for r in done]
    ids = {u: known[u] for u in urls if u in known} if known is not None else {}
    urls = [u for u in urls if u not in ids]
    for start in range(0, len(urls), 500):
        chunk = urls[start : start + 500]
        ids.update(
            (u, sid) for u, sid in session.execute(select(Source.url, Source.id).where(Source.url.in_(chunk)))
        )
    checks = [
        Check(
            ids[r.url],
            now,
            changed=bool(analyses[r.url].changes) if r.url in analyses else False,
            failed=analyses[r.url].state == "failing" if r.url in analyses else not r.ok,
        )
        for r in done
        if r.url in ids
    ]
    found = after_checks(session, checks, policy, tracked_only=tracked_only, worker=worker)
    return {url: found[sid] for url, sid in ids.items() if sid in found}


def sources_of(session: Session, article: str) -> list[str]:
    """The URLs of every source an article (id or URL) cites."""
    from archive.articles import storage as articles

    ids = articles.sources_of_article(session, articles.require_article(session, article).id)
    urls = {sid: url for sid, url in session.execute(select(Source.id, Source.url).where(Source.id.in_(ids)))}
    return [urls[sid] for sid in ids if sid in urls]


def track_sources(
    session: Session,
    urls: list[str],
    now: datetime,
    *,
    every: timedelta | None = None,
    paused: bool | None = None,
    policy: Policy | None = None,
    by_user: bool = False,
) -> list[dict[str, Any]]:
    """:func:`track` each of ``urls`` (already checked); what ``citewatch track --json`` prints
    of each."""
    return [
        tracked_dict(track(session, u, now, every=every, paused=paused, policy=policy, by_user=by_user))
        for u in urls
    ]


def tracked_dict(source: Source) -> dict[str, Any]:
    """A tracked source, as ``citewatch track --json`` prints it."""
    return {
        "source_id": source.id,
        "url": source.url,
        "paused": source.paused,
        "every_seconds": source.every_seconds,
        "next_check_at": source.next_check_at.isoformat() + "Z" if source.next_check_at else None,
        "last_checked_at": source.last_checked_at.isoformat() + "Z" if source.last_checked_at else None,
    }
