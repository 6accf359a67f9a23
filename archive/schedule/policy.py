"""When each tracked source is checked next: the scheduling policy, a pure function of its history.

A source is re-checked often while it is new or has just changed, and less and
less often while it stays the same: the ladder (setting ``schedule_ladder``,
default every 30 minutes for its first 6 hours, hourly to 2 days, every 6
hours to 2 weeks, daily to 3 months, weekly after that) is read by the time
since the source last changed (or was added). A change resets it.

Failures back off on their own scale, whatever the ladder says: after a
failed check the next comes ``failure_backoff`` later, doubling with each
failure in a row up to ``failure_backoff_max``, so a failing source is neither
hammered nor ever given up. A source that is gone keeps being checked, at
least ``gone_every`` apart (its going was a change, so the ladder restarts
from there and slows it further in time). A per-source interval
(``citewatch track URL --every 1h``) replaces the ladder, and takes effect at
once (:func:`rescheduled`); a paused source has no next check, and a resumed
one is due at once.

Every interval gets a jitter of up to ``jitter`` (a share of it, default 10%),
drawn from the source's id and the check's time, so the same history gives
the same answer and sources added together drift apart.

Dispatch after downtime needs no rule here: due sources are claimed oldest
``next_check_at`` first, at most the configured capacity per round, so a
daemon started after a week off works through the backlog in order of
lateness instead of firing it all at once.

The schedule in the database (recording checks, tracking) is
:mod:`archive.schedule.checks`; the daemon that runs it is ``scheduler.py``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from archive.durations import DEFAULT_LADDER, Ladder


@dataclass(frozen=True)
class Policy:
    """The scheduling settings."""

    ladder: Ladder = field(default_factory=lambda: Ladder.parse(DEFAULT_LADDER))
    failure_backoff: timedelta = timedelta(minutes=30)
    failure_backoff_max: timedelta = timedelta(days=1)
    gone_every: timedelta = timedelta(days=1)
    jitter: float = 0.1


@dataclass(frozen=True)
class History:
    """What the policy needs to know of one source."""

    source_id: int
    created_at: datetime
    last_check_at: datetime | None = None  # None: never checked
    last_change_at: datetime | None = None  # the last Change recorded, None for none yet
    failures: int = 0  # failed checks in a row, ending with the last one
    gone: bool = False  # its state is missing
    every: timedelta | None = None  # a per-source (or per-article) interval
    paused: bool = False


def _jitter(history: History, interval: timedelta, share: float) -> timedelta:
    """Up to ``share`` of ``interval``, either way, fixed by the source and the check's time."""
    if share <= 0:
        return timedelta(0)
    key = f"{history.source_id}:{history.last_check_at.isoformat() if history.last_check_at else ''}"
    unit = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64  # [0, 1)
    return interval * (share * (2 * unit - 1))


def interval(history: History, policy: Policy) -> timedelta:
    """How long after its last check a source is checked again (before jitter)."""
    if history.every is not None:
        base = history.every
    else:
        anchor = history.last_change_at or history.created_at
        base = policy.ladder.interval((history.last_check_at or anchor) - anchor)
    if history.failures > 0:
        base = min(policy.failure_backoff * 2 ** min(history.failures - 1, 30), policy.failure_backoff_max)
    if history.gone:
        base = max(base, policy.gone_every)
    return base


def next_check(history: History, policy: Policy) -> datetime | None:
    """When the source is due next: at once when never checked, None when paused.

    >>> from datetime import datetime
    >>> h = History(1, datetime(2026, 1, 1), last_check_at=datetime(2026, 1, 1, 1))
    >>> next_check(h, Policy(jitter=0))
    datetime.datetime(2026, 1, 1, 1, 30)
    """
    if history.paused:
        return None
    if history.last_check_at is None:
        return history.created_at
    base = interval(history, policy)
    return history.last_check_at + base + _jitter(history, base, policy.jitter)


def rescheduled(history: History, policy: Policy, now: datetime) -> datetime | None:
    """When a source is due after its interval changed: by the new interval from its last check,
    or ``now`` when that time has passed (or it was never checked); None when paused.

    >>> h = History(1, datetime(2026, 1, 1), last_check_at=datetime(2026, 1, 1, 1), every=timedelta(hours=6))
    >>> rescheduled(h, Policy(jitter=0), datetime(2026, 1, 1, 2))
    datetime.datetime(2026, 1, 1, 7, 0)
    >>> rescheduled(h, Policy(jitter=0), datetime(2026, 1, 1, 9))
    datetime.datetime(2026, 1, 1, 9, 0)
    """
    when = next_check(history, policy)
    return None if when is None else max(when, now)


def due_order(due: list[tuple[int, datetime]], capacity: int) -> list[int]:
    """The sources to claim now from those due (``(id, next_check_at)``): the most overdue
    first, at most ``capacity``; ties in id order.

    >>> t = datetime(2026, 1, 1)
    >>> due_order([(3, t), (1, t - timedelta(days=7)), (2, t - timedelta(hours=1))], 2)
    [1, 2]
    """
    return [sid for sid, _at in sorted(due, key=lambda item: (item[1], item[0]))[:capacity]]


class PolicySettings(Protocol):
    """The settings a policy is made of (:class:`archive.settings.Settings` has them; this
    module, being pure, does not import it)."""

    schedule_ladder: str
    failure_backoff: float
    failure_backoff_max: float
    gone_every: float
    schedule_jitter: float


def policy_from(settings: PolicySettings) -> Policy:
    """The policy that ``settings`` describe."""
    return Policy(
        ladder=Ladder.parse(settings.schedule_ladder),
        failure_backoff=timedelta(seconds=settings.failure_backoff),
        failure_backoff_max=timedelta(seconds=settings.failure_backoff_max),
        gone_every=timedelta(seconds=settings.gone_every),
        jitter=settings.schedule_jitter,
    )
