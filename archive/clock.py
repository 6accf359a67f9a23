"""The one clock: every "now" citewatch records or decides by is read from a :data:`Clock`.

A clock is a function of no arguments giving naive UTC (the database stores
naive UTC timestamps); :func:`utcnow` is the machine's. The parts that record or
decide by time take a clock when they are made and read only it: the WARC
store, the recorder and the start-up repair (record dates), the pipeline (when
a check is recorded and its next one reckoned from), the daemon (dispatch,
probes, maintenance, its metrics) and the web UI (its jobs, checks and status
pages), so that a test, or a replay of a schedule, can hand them a
:class:`ManualClock`. Code without one to hand calls :func:`utcnow`; so do
the daemon's workers and the archiver, which run in processes of their own. Reading
the time any other way is refused by a lint rule (ruff's banned-api, in
pyproject.toml). Elapsed time (timeouts, rates) is measured with
``time.monotonic``, which is no clock of this kind.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """Naive UTC now, by the machine's clock."""
    return datetime.now(UTC).replace(tzinfo=None)  # noqa: TID251 - the one place that reads it


class ManualClock:
    """A clock that stands still until moved.

    >>> clock = ManualClock(datetime(2026, 3, 12, 10, 0))
    >>> clock.advance(timedelta(hours=6)).isoformat()
    '2026-03-12T16:00:00'
    >>> clock() == clock.advance(timedelta(0))
    True
    """

    def __init__(self, start: datetime):
        self._now = start

    def __call__(self) -> datetime:
        return self._now

    def advance(self, by: timedelta) -> datetime:
        self._now += by
        return self._now
