"""The scheduling policy: the ladder, resets on change, failure backoff, gone sources, overrides,
pausing, jitter, and dispatch order after downtime. Pure values and an injected clock: no test
waits for a schedule."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import pairwise

import pytest

from scheduler import DEFAULT_LADDER, History, Ladder, Policy, due_order, interval, next_check, parse_duration

T0 = datetime(2026, 3, 1, 12, 0)
EXACT = Policy(jitter=0)


def checked(after: timedelta, **fields: object) -> History:
    """A source added at T0 and last checked ``after`` later."""
    return History(1, T0, last_check_at=T0 + after, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("age", "every"),
    [
        (timedelta(minutes=0), timedelta(minutes=30)),
        (timedelta(hours=5, minutes=59), timedelta(minutes=30)),
        (timedelta(hours=6), timedelta(hours=1)),
        (timedelta(days=1), timedelta(hours=1)),
        (timedelta(days=2), timedelta(hours=6)),
        (timedelta(days=13), timedelta(hours=6)),
        (timedelta(days=14), timedelta(days=1)),
        (timedelta(days=89), timedelta(days=1)),
        (timedelta(days=90), timedelta(days=7)),
        (timedelta(days=3650), timedelta(days=7)),
    ],
)
def test_the_default_ladder_backs_off_while_a_source_stays_unchanged(
    age: timedelta, every: timedelta
) -> None:
    assert next_check(checked(age), EXACT) == T0 + age + every


def test_a_change_resets_the_ladder() -> None:
    old = checked(timedelta(days=200))
    assert interval(old, EXACT) == timedelta(days=7)
    changed = checked(timedelta(days=200), last_change_at=T0 + timedelta(days=200))
    assert interval(changed, EXACT) == timedelta(minutes=30)
    later = checked(timedelta(days=203), last_change_at=T0 + timedelta(days=200))
    assert interval(later, EXACT) == timedelta(hours=6)


def test_a_new_source_is_due_at_once() -> None:
    assert next_check(History(7, T0), EXACT) == T0


def test_failures_back_off_doubling_up_to_the_cap_and_never_stop() -> None:
    old = timedelta(days=400)  # weekly on the ladder
    gaps = [interval(checked(old, failures=n), EXACT) for n in range(1, 9)]
    assert gaps[:4] == [timedelta(minutes=30), timedelta(hours=1), timedelta(hours=2), timedelta(hours=4)]
    assert gaps[-1] == EXACT.failure_backoff_max
    assert all(a <= b for a, b in pairwise(gaps))
    assert next_check(checked(old, failures=10_000), EXACT) is not None
    assert interval(checked(old, failures=10_000), EXACT) == timedelta(days=1)
    assert interval(checked(old, failures=0), EXACT) == timedelta(days=7)  # a success ends the backoff


def test_a_gone_source_keeps_being_checked_slowly() -> None:
    gone_at = T0 + timedelta(days=10)
    just_gone = checked(timedelta(days=10), gone=True, last_change_at=gone_at)
    assert interval(just_gone, EXACT) == EXACT.gone_every  # not every 30 minutes, though it changed
    long_gone = checked(timedelta(days=200), gone=True, last_change_at=gone_at)
    assert interval(long_gone, EXACT) == timedelta(days=7)
    assert next_check(long_gone, EXACT) is not None


def test_an_override_replaces_the_ladder_and_pausing_stops_checks() -> None:
    hourly = checked(timedelta(days=400), every=timedelta(hours=1))
    assert next_check(hourly, EXACT) == T0 + timedelta(days=400, hours=1)
    assert next_check(checked(timedelta(days=1), paused=True), EXACT) is None


def test_a_custom_ladder_setting() -> None:
    ladder = Ladder.parse("1h:5m, 1d:2h, *:3d")
    policy = Policy(ladder=ladder, jitter=0)
    assert [interval(checked(timedelta(hours=h)), policy) for h in (0, 2, 30)] == [
        timedelta(minutes=5),
        timedelta(hours=2),
        timedelta(days=3),
    ]
    assert Ladder.parse(DEFAULT_LADDER) == Policy().ladder


@pytest.mark.parametrize("bad", ["", "6h:30m", "6h:30m, 2h:1h, *:1d", "*:1d, 6h:30m", "6h-30m, *:1d", "*:0m"])
def test_a_bad_ladder_is_refused_with_a_reason(bad: str) -> None:
    with pytest.raises(ValueError, match=r"ladder|duration"):
        Ladder.parse(bad)


def test_durations() -> None:
    assert parse_duration("2d") == timedelta(days=2)
    assert parse_duration("1.5h") == timedelta(minutes=90)
    with pytest.raises(ValueError):
        parse_duration("soon")


def test_jitter_is_bounded_stable_and_spreads_sources_apart() -> None:
    policy = Policy(jitter=0.1)
    age = timedelta(days=400)
    times = [next_check(History(i, T0, last_check_at=T0 + age), policy) for i in range(200)]
    base = T0 + age + timedelta(days=7)
    offsets = [(t - base).total_seconds() for t in times if t is not None]
    assert max(abs(o) for o in offsets) <= 0.1 * 7 * 86400
    assert len(set(offsets)) > 190  # sources checked together drift apart
    assert min(offsets) < 0 < max(offsets)
    again = next_check(History(5, T0, last_check_at=T0 + age), policy)
    assert again == times[5]  # the same history, the same answer


def test_after_downtime_the_backlog_is_worked_through_by_lateness_at_capacity() -> None:
    """A daemon back after a week off: every source is overdue, and each round claims at most
    the capacity, most overdue first, so checks are spread out instead of fired at once."""
    now = T0 + timedelta(days=7)
    due = [(i, T0 + timedelta(minutes=(i * 37) % 10_000)) for i in range(1, 1001)]
    rounds = []
    waiting = list(due)
    while waiting:
        taken = due_order(waiting, 100)
        rounds.append(taken)
        waiting = [d for d in waiting if d[0] not in set(taken)]
    assert len(rounds) == 10 and all(len(r) == 100 for r in rounds)
    lateness = {sid: now - at for sid, at in due}
    flat = [sid for r in rounds for sid in r]
    assert [lateness[s] for s in flat] == sorted(lateness.values(), reverse=True)
