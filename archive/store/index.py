"""The capture index: Snapshot rows, and the queries replay and dedup need.

Plain functions over a SQLAlchemy ``Session``. The two replay queries (all
captures of a URL, the capture closest to a time) and the dedup query (an
earlier capture of this URL with this payload) each use one composite index
led by the SURT key.
"""

from __future__ import annotations

import functools
import importlib
import sys
from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypeAlias, cast

from sqlalchemy import ColumnElement, Row, Table, insert, select
from sqlalchemy.orm import Session

from archive.models import Snapshot, Source, WarcFile

ARCHIVED_TYPES = ("response", "revisit", "resource")
# Outcomes of a record whose payload is whole: it can be the original of a revisit. The
# analysis may mark a whole capture thin-text or no-text (archive/changes/analysis.py).
WHOLE_OUTCOMES = ("ok", "thin-text", "no-text")
# In the path of every soft-404 probe (archive.urls.probe_url): a probe's answer is fresh
# whatever its status, unless the server was overloaded or failing (429, 5xx).
PROBE_MARK = "/citewatch-probe-"

# The capture hot path uses Core statements on these tables: one ORM round
# trip per record cost more than writing the record itself.
SNAPSHOTS = cast(Table, Snapshot.__table__)  # declarative typing says FromClause; it is a Table
SOURCES = cast(Table, Source.__table__)


class _ImportedOnUse:
    """Stands for a module, which is imported when one of its attributes is first used."""

    __spec__ = None  # what the import system looks at in sys.modules: not an attribute to import for

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        modules: Mapping[str, object] = sys.modules  # it holds this stand-in, which is no ModuleType
        if modules.get(self._name) is self:
            del sys.modules[self._name]
        return getattr(importlib.import_module(self._name), attr)


@functools.cache
def _surt() -> Any:
    """``surt.surt``, imported when a URL is first keyed, and without tldextract: surt's handyurl
    imports it (and requests with it, 40 ms: most of what `citewatch snapshots` costs above the
    floor) for its public-suffix option, which citewatch never asks for. While surt loads, the
    name stands for tldextract imported on first use."""
    if "tldextract" not in sys.modules:
        sys.modules["tldextract"] = _ImportedOnUse("tldextract")  # type: ignore[assignment]  # stand-in, no module
    try:
        import surt
    finally:
        if isinstance(sys.modules.get("tldextract"), _ImportedOnUse):
            del sys.modules["tldextract"]
    return surt.surt


@functools.lru_cache(maxsize=65536)
def surt_key(url: str) -> str:
    """The SURT form used as the index key.

    >>> surt_key("https://www.Example.com/a?b=1")
    'com,example)/a?b=1'
    """
    surt = _surt()
    try:
        return str(surt(url))
    except Exception:  # surt raises assorted errors on odd URLs; key them by the URL itself
        return url.lower()


def original_of(session: Session, surt: str, digest: str) -> Row[int, str | None, str, datetime] | None:
    """(id, record_id, url, captured_at) of the newest full ``response`` capture of this SURT
    with this payload digest."""
    stmt = (
        select(Snapshot.id, Snapshot.record_id, Snapshot.url, Snapshot.captured_at)
        .where(
            Snapshot.surt == surt,
            Snapshot.payload_digest == digest,
            Snapshot.record_type == "response",
            Snapshot.outcome.in_(WHOLE_OUTCOMES),
        )
        .order_by(Snapshot.captured_at.desc())
        .limit(1)
    )
    return session.execute(stmt).first()


# A row of _VERSIONS, its columns in order.
VersionRow: TypeAlias = "Row[str, str | None, int, str | None, str, datetime, str | None, int | None]"

_INSERT_SNAPSHOT = insert(SNAPSHOTS).returning(SNAPSHOTS.c.id)
_VERSIONS = select(
    SNAPSHOTS.c.surt,
    SNAPSHOTS.c.payload_digest,
    SNAPSHOTS.c.id,
    SNAPSHOTS.c.record_id,
    SNAPSHOTS.c.url,
    SNAPSHOTS.c.captured_at,
    SNAPSHOTS.c.record_type,
    SNAPSHOTS.c.status,
)


def insert_snapshot(session: Session, values: dict[str, object]) -> int:
    """Insert one Snapshot row and return its id."""
    return int(session.connection().execute(_INSERT_SNAPSHOT, values).scalar_one())


def versions(session: Session, surts: list[str], fresh_since: datetime | None = None) -> list[VersionRow]:
    """The full ``response`` captures of these SURTs (each distinct payload they have had),
    plus, when ``fresh_since`` is given, their successful captures since then; oldest first.

    Unchanged re-captures are revisits, so the first part grows with real changes only.
    """
    versions = (SNAPSHOTS.c.record_type == "response") & SNAPSHOTS.c.outcome.in_(WHOLE_OUTCOMES)
    if fresh_since is not None:
        recent = (
            (SNAPSHOTS.c.captured_at >= fresh_since)
            & _answered()
            & SNAPSHOTS.c.record_type.in_(("response", "revisit"))
        )
        versions = versions | recent
    stmt = _VERSIONS.where(SNAPSHOTS.c.surt.in_(surts), versions).order_by(SNAPSHOTS.c.captured_at)
    return list(session.connection().execute(stmt))


def _answered() -> ColumnElement[bool]:
    """:func:`answered` as SQL."""
    probe_ok = (
        SNAPSHOTS.c.surt.contains(PROBE_MARK) & (SNAPSHOTS.c.status < 500) & (SNAPSHOTS.c.status != 429)
    )
    return (SNAPSHOTS.c.status < 400) | probe_ok


def answered(row: VersionRow) -> bool:
    """Does this capture count as fresh: an answer under 400, or a probe's answer under 500 but 429?"""
    status = row.status or 0
    return status < 400 or (PROBE_MARK in row.surt and status < 500 and status != 429)


def fresh_surts(session: Session, surts: list[str], since: datetime) -> set[str]:
    """Those of ``surts`` captured successfully (a response or revisit under 400; any answer for a
    soft-404 probe) since ``since``."""
    stmt = select(SNAPSHOTS.c.surt).where(
        SNAPSHOTS.c.surt.in_(surts),
        SNAPSHOTS.c.captured_at >= since,
        _answered(),
        SNAPSHOTS.c.record_type.in_(("response", "revisit")),
    )
    return set(session.connection().execute(stmt).scalars())


def snapshot_ids(session: Session, record_ids: list[str]) -> dict[str, int]:
    """Row ids of the Snapshots of these records (WARC-Record-ID uuids), 500 per query."""
    found: dict[str, int] = {}
    for start in range(0, len(record_ids), 500):
        chunk = record_ids[start : start + 500]
        stmt = select(SNAPSHOTS.c.record_id, SNAPSHOTS.c.id).where(SNAPSHOTS.c.record_id.in_(chunk))
        found.update((key, row_id) for key, row_id in session.connection().execute(stmt))
    return found


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


def http_outcome(status: int | None) -> str | None:
    """The outcome of a final HTTP status that is no success (None for 1xx-3xx or no answer).

    >>> http_outcome(200), http_outcome(404), http_outcome(503), http_outcome(None)
    (None, 'http-4xx', 'http-5xx', None)
    """
    if status is None or status < 400:
        return None
    return "http-5xx" if status >= 500 else "http-4xx"


def shown_outcome(outcome: str, status: int | None) -> str:
    """The outcome a person is shown for a capture: the one ``citewatch capture`` reported.

    An archived error response is stored as ``ok`` (or ``truncated``): its record is whole,
    and revisits and the analysis rely on that (``WHOLE_OUTCOMES``). Every view (the capture
    results, ``snapshots``, the web UI and the API) names it by its status instead.

    >>> shown_outcome("ok", 404), shown_outcome("truncated", 503), shown_outcome("ok", 200)
    ('http-4xx', 'http-5xx', 'ok')
    >>> shown_outcome("no-text", 200), shown_outcome("dns", None)
    ('no-text', 'dns')
    """
    if outcome in ("ok", "truncated"):
        return http_outcome(status) or outcome
    return outcome


def snapshot_dict(s: Snapshot) -> dict[str, Any]:
    """One capture or failed attempt, as ``citewatch snapshots --json`` prints it."""
    return {
        "id": s.id,
        "url": s.url,
        "captured_at": s.captured_at.isoformat() + "Z",
        "status": s.status,
        "mime": s.mime,
        "record_type": s.record_type,
        "outcome": shown_outcome(s.outcome, s.status),
        "payload_digest": s.payload_digest,
        "warc_file": s.warc_file.name if s.warc_file else None,
        "offset": s.offset,
        "length": s.length,
        "via": s.via,
        "error": s.error,
    }


def timeline(session: Session, url: str, limit: int, before: int | None = None) -> list[Snapshot]:
    """Up to ``limit`` captures and failed attempts of ``url``, newest first; with ``before``
    (a snapshot id), those that come before that one (keyset paging on the SURT-time index)."""
    stmt = select(Snapshot).where(Snapshot.surt == surt_key(url))
    if before is not None:
        edge = session.get(Snapshot, before)
        if edge is None:
            return []
        stmt = stmt.where(
            (Snapshot.captured_at < edge.captured_at)
            | ((Snapshot.captured_at == edge.captured_at) & (Snapshot.id < edge.id))
        )
    stmt = stmt.order_by(Snapshot.captured_at.desc(), Snapshot.id.desc()).limit(limit)
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


def failure_row(url: str, outcome: str, error: str, at: datetime, **fields: object) -> dict[str, object]:
    """Values of a Snapshot row for a fetch that produced no record, saying why."""
    row = {"url": url, "surt": surt_key(url), "captured_at": at, "outcome": outcome, "error": error[:2000]}
    return {"via": "http", **row, **fields}


def source_ids(session: Session, urls: list[str], now: datetime) -> dict[str, int]:
    """Source ids for ``urls``, creating the Sources that are new."""
    found: dict[str, int] = {}
    for start in range(0, len(urls), 500):
        chunk = urls[start : start + 500]
        rows = session.execute(select(Source.id, Source.url).where(Source.url.in_(chunk)))
        found.update((url, sid) for sid, url in rows)
    new = [
        {"url": url, "surt": surt_key(url), "created_at": now, "paused": False}
        for url in dict.fromkeys(urls)
        if url not in found
    ]
    if new:  # one batched statement (SQLAlchemy's insertmanyvalues), not one per URL
        stmt = insert(SOURCES).returning(SOURCES.c.id, SOURCES.c.url, sort_by_parameter_order=True)
        found.update((url, int(sid)) for sid, url in session.execute(stmt, new))
    return found


def warc_file_id(session: Session, name: str, now: datetime) -> int:
    row = session.scalars(select(WarcFile).where(WarcFile.name == name)).first()
    if row is None:
        row = WarcFile(name=name, created_at=now)
        session.add(row)
        session.flush()
    return row.id
