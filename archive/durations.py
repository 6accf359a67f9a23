"""Durations and the check ladder, as users write them in settings and flags: ``30m``, ``6h``,
``2d``, ``1w``; ``"6h:30m, 2d:1h, *:7d"``. Read by the settings (to refuse a bad value when
it is loaded) and by the scheduling policy in scheduler.py."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

_LONGEST = 10 * 365 * 86400  # seconds; also keeps a source's own interval within a 32-bit column
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
    if seconds > _LONGEST:
        raise ValueError(f"too long a duration: {text!r} (at most 10 years)")
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
