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
(``citewatch track URL --every 1h``) replaces the ladder; a paused source
has no next check.

Every interval gets a jitter of up to ``jitter`` (a share of it, default 10%),
drawn from the source's id and the check's time, so the same history gives
the same answer and sources added together drift apart.

Dispatch after downtime needs no rule here: due sources are claimed oldest
``next_check_at`` first, at most the configured capacity per round, so a
daemon started after a week off works through the backlog in order of
lateness instead of firing it all at once.

The daemon itself (APScheduler jobs, leases, crawl workers) is built on this.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)

DEFAULT_LADDER = "6h:30m, 2d:1h, 14d:6h, 90d:1d, *:7d"


def parse_duration(text: str) -> timedelta:
    """A duration such as ``30m``, ``6h``, ``2d``, ``1w`` or ``90s``.

    >>> parse_duration("90m")
    datetime.timedelta(seconds=5400)
    """
    found = _DURATION.match(text)
    if not found:
        raise ValueError(f"not a duration: {text!r} (use a number and s, m, h, d or w: 30m, 6h, 2d)")
    seconds = float(found.group(1)) * _UNITS[found.group(2).lower()]
    if seconds <= 0:
        raise ValueError(f"not a positive duration: {text!r}")
    return timedelta(seconds=seconds)


@dataclass(frozen=True)
class Ladder:
    """Check intervals by the time since the last change: ``(up to this age, this often)``; the
    last step (age ``None``) holds for ever after."""

    steps: tuple[tuple[timedelta | None, timedelta], ...]

    @classmethod
    def parse(cls, text: str) -> Ladder:
        """``"6h:30m, 2d:1h, *:7d"``: up to 6 hours every 30 minutes, up to 2 days hourly, then weekly.

        >>> Ladder.parse("6h:30m, *:1d").interval(timedelta(hours=7))
        datetime.timedelta(days=1)
        """
        steps: list[tuple[timedelta | None, timedelta]] = []
        for part in filter(None, (p.strip() for p in text.split(","))):
            age, sep, every = part.partition(":")
            if not sep:
                raise ValueError(f"ladder step {part!r} is not AGE:INTERVAL (such as 6h:30m, or *:7d last)")
            limit = None if age.strip() == "*" else parse_duration(age)
            if steps and (steps[-1][0] is None or (limit is not None and limit <= steps[-1][0])):
                raise ValueError(f"ladder steps must grow in age and end with *: {text!r}")
            steps.append((limit, parse_duration(every)))
        if not steps or steps[-1][0] is not None:
            raise ValueError(f"the ladder must end with a step for every age, such as *:7d: {text!r}")
        return cls(tuple(steps))

    def interval(self, age: timedelta) -> timedelta:
        for limit, every in self.steps:
            if limit is None or age < limit:
                return every
        raise AssertionError("a parsed ladder ends with an open step")


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


def due_order(due: list[tuple[int, datetime]], capacity: int) -> list[int]:
    """The sources to claim now from those due (``(id, next_check_at)``): the most overdue
    first, at most ``capacity``; ties in id order.

    >>> t = datetime(2026, 1, 1)
    >>> due_order([(3, t), (1, t - timedelta(days=7)), (2, t - timedelta(hours=1))], 2)
    [1, 2]
    """
    return [sid for sid, _at in sorted(due, key=lambda item: (item[1], item[0]))[:capacity]]
