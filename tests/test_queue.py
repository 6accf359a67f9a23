"""Claiming due sources with leases, on SQLite and PostgreSQL: order, limits, leases that run out,
results, release, and concurrent claimers that never share a source."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from sqlalchemy import insert, select

from archive.db import migrated
from archive.models import Lease, Source
from archive.schedule.queue import claim, held, record_check, release, release_dead, renew

T0 = datetime(2026, 3, 1, 12, 0)
LEASE = timedelta(minutes=10)


def _sources(database_url: str, due: list[datetime | None]):  # type: ignore[no-untyped-def]
    sessions = migrated(database_url)
    with sessions() as session:
        session.execute(
            insert(Source),
            [
                {
                    "url": f"https://s{i}.example/",
                    "surt": f"example,s{i})/",
                    "created_at": T0,
                    "paused": at is None,
                    "next_check_at": at,
                }
                for i, at in enumerate(due)
            ],
        )
        session.commit()
        ids = {url: sid for sid, url in session.execute(select(Source.id, Source.url))}
    return sessions, [ids[f"https://s{i}.example/"] for i in range(len(due))]


def test_claims_take_the_most_overdue_first_and_leases_run_out(database_url: str) -> None:
    due = [T0 - timedelta(minutes=m) for m in (5, 50, 1, 30, 10)] + [T0 + timedelta(hours=1), None]
    sessions, ids = _sources(database_url, due)
    with sessions() as session:
        first = claim(session, "w1", T0, 3, LEASE)
        assert {sid for sid, _ in first} == {ids[1], ids[3], ids[4]}  # 50, 30 and 10 minutes late
        second = claim(session, "w2", T0, 10, LEASE)
        assert {sid for sid, _ in second} == {ids[0], ids[2]}  # not the claimed, the future or paused
        assert claim(session, "w3", T0 + timedelta(minutes=5), 10, LEASE) == []
        # w1 died: its sources come due again when its lease ends.
        again = claim(session, "w3", T0 + LEASE + timedelta(seconds=1), 10, LEASE)
        assert {sid for sid, _ in again} == {ids[i] for i in (0, 1, 2, 3, 4)}
        lease = session.get(Lease, ids[1])
        assert lease is not None and (lease.claimed_by, lease.lease_until) == (
            "w3",
            T0 + LEASE * 2 + timedelta(seconds=1),
        )
    sessions.kw["bind"].dispose()


def test_a_result_reschedules_and_a_lost_lease_leaves_the_new_claim_alone(database_url: str) -> None:
    sessions, ids = _sources(database_url, [T0 - timedelta(minutes=1)] * 2)
    with sessions() as session:
        claim(session, "w1", T0, 2, LEASE)
        nxt = T0 + timedelta(hours=6)
        assert record_check(
            session, ids[0], "w1", checked_at=T0, next_check_at=nxt, changed=True, failed=False
        )
        failed_at = T0 + timedelta(minutes=1)
        retry = T0 + timedelta(minutes=31)  # sooner than ids[0]: the most overdue later
        assert record_check(
            session, ids[1], "w1", checked_at=failed_at, next_check_at=retry, changed=False, failed=True
        )
        session.commit()
        a, b = session.get(Source, ids[0]), session.get(Source, ids[1])
        assert a is not None and b is not None
        session.refresh(a), session.refresh(b)
        assert (a.next_check_at, a.last_change_at, a.failures) == (nxt, T0, 0)
        assert session.get(Lease, ids[0]) is None
        assert (b.failures, b.last_checked_at, b.last_change_at) == (1, failed_at, None)
        # w2 claims after w1's lease ran out; w1's late result is kept, w2's claim stands.
        later = T0 + timedelta(hours=7)
        assert [sid for sid, _ in claim(session, "w2", later, 1, LEASE)] == [ids[1]]
        assert not record_check(
            session, ids[1], "w1", checked_at=later, next_check_at=nxt, changed=False, failed=True
        )
        session.commit()
        session.refresh(b)
        assert (b.failures, b.next_check_at) == (2, retry)  # w2 holds it and will reschedule it
        held = session.get(Lease, ids[1])
        assert held is not None and held.claimed_by == "w2"
    sessions.kw["bind"].dispose()


def test_release_makes_unfinished_claims_due_at_once(database_url: str) -> None:
    sessions, ids = _sources(database_url, [T0 - timedelta(minutes=1)] * 3)
    with sessions() as session:
        claim(session, "w1", T0, 3, LEASE)
        assert release(session, "w2", ids) == 0  # not w2's to give back
        assert release(session, "w1", ids[:2]) == 2
        assert {sid for sid, _ in claim(session, "w2", T0 + timedelta(seconds=5), 10, LEASE)} == set(ids[:2])
        assert release(session, "w1") == 1  # all it still holds
    sessions.kw["bind"].dispose()


def test_dead_workers_leases_go_and_live_ones_stay(database_url: str) -> None:
    sessions, _ids = _sources(database_url, [T0 - timedelta(minutes=1)] * 6)
    with sessions() as session:
        claim(session, "host:a/1.0.0", T0, 2, LEASE)
        claim(session, "host:a/1.1.0", T0, 2, LEASE)
        claim(session, "host:b/7.0.0", T0, 2, LEASE)
        assert held(session, T0) == {"host:a/1.0.0": 2, "host:a/1.1.0": 2, "host:b/7.0.0": 2}
        assert release_dead(session, "host:a/", {"host:a/1.1.0"}) == 2
        assert held(session, T0) == {"host:a/1.1.0": 2, "host:b/7.0.0": 2}
        assert len(claim(session, "host:a/2.0.0", T0, 10, LEASE)) == 2  # the dead worker's two
    sessions.kw["bind"].dispose()


def test_renew_keeps_a_slow_check_from_being_taken_over(database_url: str) -> None:
    sessions, _ids = _sources(database_url, [T0 - timedelta(minutes=1)] * 2)
    with sessions() as session:
        claim(session, "w1", T0, 2, LEASE)
        assert renew(session, "w1", T0 + LEASE - timedelta(seconds=1), LEASE) == 2
        assert claim(session, "w2", T0 + LEASE + timedelta(seconds=1), 10, LEASE) == []
        # without renewal the leases run out and another worker takes the sources
        assert len(claim(session, "w2", T0 + 2 * LEASE, 10, LEASE)) == 2
    sessions.kw["bind"].dispose()


def test_shares_split_sources_by_host(database_url: str) -> None:
    sessions = migrated(database_url)
    urls = [f"http://host{h}.example/page{p}" for h in range(12) for p in range(3)]
    with sessions() as session:
        session.execute(
            insert(Source),
            [{"url": u, "surt": u, "created_at": T0, "next_check_at": T0, "paused": False} for u in urls],
        )
        session.commit()
        taken = [claim(session, f"w{i}", T0, 100, LEASE, share=(i, 3)) for i in range(3)]
    hosts = [{url.split("/")[2] for _, url in mine} for mine in taken]
    assert sum(len(mine) for mine in taken) == len(urls)  # every due source falls to some worker
    assert not (hosts[0] & hosts[1]) and not (hosts[1] & hosts[2]) and not (hosts[0] & hosts[2])
    sessions.kw["bind"].dispose()


def test_concurrent_claimers_never_share_a_source(database_url: str) -> None:
    sessions, ids = _sources(database_url, [T0 - timedelta(seconds=i) for i in range(300)])
    taken: dict[str, list[int]] = {}
    errors: list[BaseException] = []

    def work(name: str) -> None:
        mine: list[int] = []
        try:
            with sessions() as session:
                while found := claim(session, name, T0, 7, LEASE):
                    mine.extend(sid for sid, _ in found)
        except BaseException as exc:  # reported below, with the thread's name
            errors.append(exc)
        taken[name] = mine

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    everything = [sid for mine in taken.values() for sid in mine]
    assert sorted(everything) == sorted(ids), "every due source claimed exactly once"
    assert sum(1 for mine in taken.values() if mine) >= 2, "the claimers took turns"
    sessions.kw["bind"].dispose()
