"""Writes captures: WARC records first, then the Snapshot rows that index them.

The order is the crash contract. Records are appended and flushed to the OS
before the transaction holding their rows commits, so a row never points at a
record that is not on disk. A record whose row was not yet committed when the
process died is found and indexed by :func:`archive.store.reconcile.reconcile`.

Rows are committed in batches (``commit_every`` rows or ``commit_interval``
seconds) because one commit per record would dominate capture time, and the
payloads already archived for a batch of URLs are loaded with one query
(:meth:`CaptureRecorder.prefetch`) so dedup needs no query per record.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from archive import db
from archive.clock import Clock, utcnow
from archive.errors import DatabaseError
from archive.models import Snapshot, WarcFile
from archive.store import index
from archive.store.exchange import Exchange, Recorder, SnapshotRef
from archive.store.warc import (
    IdFactory,
    RecordLocation,
    Revisit,
    WarcStore,
    payload_digest,
)

__all__ = ["CaptureRecorder", "Exchange", "Recorder", "SnapshotRef", "mime_of"]

logger = logging.getLogger(__name__)

TRUNCATION_REASONS = {
    "length": "body cut at the maximum response size",
    "disconnect": "the server closed the connection before the whole body arrived",
    "time": "body cut when the time limit ran out",
}

_KNOWN_LIMIT = 100_000


def mime_of(content_type: str | None) -> str | None:
    """The media type of a Content-Type value.

    >>> mime_of("Text/HTML; charset=utf-8")
    'text/html'
    """
    if not content_type:
        return None
    return content_type.split(";", 1)[0].strip().lower()[:255] or None


def _revisit_of(row: Any) -> Revisit:
    return Revisit(f"<urn:uuid:{row.record_id}>", row.url, row.captured_at)


class CaptureRecorder:
    """Turns exchanges, resources and failures into WARC records and Snapshot rows."""

    def __init__(
        self,
        warc_dir: Path,
        sessions: sessionmaker[Session],
        *,
        prefix: str = "citewatch",
        max_size: int = 10**9,
        now: Clock = utcnow,
        make_id: IdFactory = uuid.uuid4,
        commit_every: int = 200,
        commit_interval: float = 1.0,
        remember: int = _KNOWN_LIMIT,
    ):
        self.now = now
        self.remember = remember  # SURTs and record ids kept in memory (a long crawl: fewer)
        self._sessions = sessions
        self.session = sessions()
        self.store = WarcStore(
            warc_dir,
            prefix=prefix,
            max_size=max_size,
            now=now,
            make_id=make_id,
            on_open=self._file_opened,
            on_close=self._file_closed,
            before_close=self._commit_rows,
        )
        self._file_ids: dict[str, int] = {}
        # SURT -> {payload digest: (where it was archived, row id)} for the SURTs
        # prefetched or written by this process.
        self._known: OrderedDict[str, dict[str, tuple[Revisit, int]]] = OrderedDict()
        # record id -> row id of the records written lately, for page keys and notes.
        self._ids: OrderedDict[str, int] = OrderedDict()
        self._uncommitted: list[str] = []  # record ids of the rows since the last commit
        # A failed commit ends this recorder: its rows were rolled back, their records are in
        # the file, and only reconcile (on a file left .open) can index them again.
        self.failure: DatabaseError | None = None
        self._pending = 0
        self._last_commit = time.monotonic()
        self.commit_every = commit_every
        self.commit_interval = commit_interval
        self._turns = db.write_turns(sessions.kw["bind"])

    @property
    def pending(self) -> int:
        """Rows written since the last commit."""
        return self._pending

    def row_ids(self) -> dict[str, int]:
        """Record id -> row id of the records written lately (the ones this recorder remembers)."""
        return dict(self._ids)

    def abandon(self) -> None:
        """Give up after a failed write: roll back, leave the WARC file ``.open`` (unlocked) for
        :func:`archive.store.reconcile.reconcile` to index at the next start, release the database."""
        try:
            self.session.rollback()
            self.store.abandon()
        finally:
            self.session.close()
            self._sessions.kw["bind"].dispose()

    @property
    def sessions(self) -> sessionmaker[Session]:
        """The session factory this recorder writes through."""
        return self._sessions

    # -- WARC files ---------------------------------------------------------
    def _file_opened(self, name: str) -> None:
        self._file_ids[name] = index.warc_file_id(self.session, name, self.now())

    def _file_closed(self, name: str, size: int) -> None:
        row = self.session.get(WarcFile, self._file_ids[name])
        if row is not None:
            row.closed_at, row.size = self.now(), size

    # -- dedup --------------------------------------------------------------
    def prefetch(self, urls: list[str], fresh_since: datetime | None = None) -> set[str]:
        """Load, in one query per 500, the payloads already archived for ``urls``, so writing
        their captures needs no dedup query. Returns those of ``urls`` successfully captured
        since ``fresh_since`` (none when it is None)."""
        by_surt = {index.surt_key(u): u for u in urls}
        surts = [s for s in by_surt if s not in self._known]
        fresh: set[str] = set()
        for start in range(0, len(surts), 500):
            chunk = surts[start : start + 500]
            for surt in chunk:
                self._known[surt] = {}
            for row in index.versions(self.session, chunk, fresh_since):
                if row.record_type == "response" and row.payload_digest:
                    self._known[row.surt][row.payload_digest] = (_revisit_of(row), row.id)
                if fresh_since is not None and row.captured_at >= fresh_since and index.answered(row):
                    fresh.add(by_surt[row.surt])
        if fresh_since is not None:  # the SURTs loaded before still need their freshness
            fetched = set(surts)
            loaded = [s for s in by_surt if s not in fetched]
            for start in range(0, len(loaded), 500):
                chunk = loaded[start : start + 500]
                fresh |= {by_surt[s] for s in index.fresh_surts(self.session, chunk, fresh_since)}
        while len(self._known) > self.remember:
            self._known.popitem(last=False)
        return fresh

    def prefetch_later(self, urls: list[str], fresh_since: datetime | None = None) -> Callable[[], set[str]]:
        """:meth:`prefetch`, with its answer given by the function returned."""
        fresh = self.prefetch(urls, fresh_since)
        return lambda: fresh

    def _original(self, surt: str, digest: str) -> tuple[Revisit, int] | None:
        known = self._known.get(surt)
        if known is not None:
            return known.get(digest)
        row = index.original_of(self.session, surt, digest)
        return (_revisit_of(row), row.id) if row is not None and row.record_id else None

    def _remember(self, surt: str, digest: str, ref: SnapshotRef) -> None:
        if surt in self._known:
            assert ref.id is not None  # this recorder inserts its rows itself: their ids are known
            self._known[surt][digest] = (_revisit_of(ref), ref.id)
            self._known.move_to_end(surt)

    # -- record ids ---------------------------------------------------------
    def _row_id(self, key: str | None) -> int | None:
        """The row id of the record ``key`` (a record id), from memory or the index."""
        if key is None:
            return None
        found = self._ids.get(key)
        return found if found is not None else index.snapshot_ids(self.session, [key]).get(key)

    def _remember_id(self, ref: SnapshotRef) -> None:
        if ref.record_id and ref.id is not None:
            self._ids[ref.record_id] = ref.id
            if len(self._ids) > self.remember:
                self._ids.popitem(last=False)

    def settle(self, keys: list[str]) -> tuple[dict[str, int], dict[str, str]]:
        """Row ids of the records ``keys``, committed first, and (always empty here: a failed
        write raises at once) the keys whose capture could not be saved, with why."""
        self.commit()
        ids = {k: self._ids[k] for k in keys if k in self._ids}
        missing = [k for k in keys if k not in ids]
        if missing:
            ids.update(index.snapshot_ids(self.session, missing))
        return ids, {}

    # -- rows ---------------------------------------------------------------
    def _insert(self, values: dict[str, Any]) -> SnapshotRef:
        fields = (
            "url",
            "captured_at",
            "status",
            "record_type",
            "record_id",
            "payload_digest",
            "refers_to_id",
            "outcome",
        )
        self._check()
        picked: dict[str, Any] = {k: values.get(k) for k in fields}
        ref = SnapshotRef(id=index.insert_snapshot(self.session, values), **picked)
        self._pending += 1
        self._remember_id(ref)
        if ref.record_id:
            self._uncommitted.append(ref.record_id)
        return ref

    def _located(self, location: RecordLocation, url: str, **fields: Any) -> SnapshotRef:
        return self._insert(
            {
                "warc_file_id": self._file_ids[location.filename],
                "offset": location.offset,
                "length": location.length,
                "record_id": location.record_id,
                "record_type": location.record_type,
                "url": url,
                "surt": fields.pop("surt", None) or index.surt_key(url),
                **fields,
            }
        )

    def record(self, ex: Exchange, *, record_id: str | None = None, digest: str | None = None) -> SnapshotRef:
        """Write the request and response (or revisit) records of ``ex`` and index the response.

        ``record_id`` and ``digest``, when the caller has them already, are the
        main record's id and the payload digest of ``ex.response.body``.
        """
        self._check()
        url, resp = ex.request.url, ex.response
        surt = index.surt_key(url)
        digest = digest or payload_digest(resp.body)
        rid = uuid.UUID(record_id) if record_id else None
        factory = self.store.factory
        original = self._original(surt, digest) if resp.body and not resp.truncated else None
        if original:
            main = factory.revisit(url, resp, ex.received_at, digest, original[0], ex.ip, rid)
        else:
            main = factory.response(url, resp, ex.received_at, ex.ip, digest, rid)
        req = factory.request(ex.request, ex.sent_at, main.record_id)
        location = self.store.write([main, req])[0]
        ref = self._located(
            location,
            url,
            surt=surt,
            source_id=ex.source_id,
            page_id=self._row_id(ex.page_key),
            captured_at=ex.received_at,
            status=resp.status,
            mime=mime_of(resp.header("Content-Type")),
            payload_digest=digest,
            refers_to_id=original[1] if original else None,
            via=ex.via,
            outcome="truncated" if resp.truncated else "ok",
            error=TRUNCATION_REASONS.get(resp.truncated or ""),
        )
        if not original and not resp.truncated and resp.body:
            self._remember(surt, digest, ref)
        self.maybe_commit()
        return ref

    def record_resource(
        self,
        url: str,
        content_type: str,
        data: bytes,
        *,
        at: datetime | None = None,
        concurrent_to: str | None = None,
        source_id: int | None = None,
        page_key: str | None = None,
        via: str = "browser",
        record_id: str | None = None,
    ) -> SnapshotRef:
        """A ``resource`` record, such as a screenshot or a rendered DOM."""
        at = at or self.now()
        concurrent = uuid.UUID(concurrent_to) if concurrent_to else None
        rid = uuid.UUID(record_id) if record_id else None
        pending = self.store.factory.resource(url, content_type, data, at, concurrent, rid)
        location = self.store.write([pending])[0]
        ref = self._located(
            location,
            url,
            source_id=source_id,
            page_id=self._row_id(page_key),
            captured_at=at,
            mime=mime_of(content_type),
            payload_digest=payload_digest(data),
            via=via,
            outcome="ok",
        )
        self.maybe_commit()
        return ref

    def record_failure(
        self,
        url: str,
        outcome: str,
        error: str,
        *,
        at: datetime | None = None,
        source_id: int | None = None,
        page_key: str | None = None,
        status: int | None = None,
        via: str = "http",
    ) -> SnapshotRef:
        """A row saying a fetch of ``url`` failed, and why; no WARC record."""
        row = index.failure_row(
            url,
            outcome,
            error,
            at or self.now(),
            status=status,
            source_id=source_id,
            page_id=self._row_id(page_key),
            via=via,
        )
        ref = self._insert(row)
        self.maybe_commit()
        return ref

    def note(self, key: str, outcome: str, error: str) -> None:
        """Change the outcome of the capture ``key`` (a record id) after the fact (for example:
        its body could not be decoded)."""
        self._check()
        row_id = self._row_id(key)
        if row_id is None:
            logger.warning("no capture with record id %s to note %s on", key, outcome)
            return
        stmt = update(Snapshot).where(Snapshot.id == row_id).values(outcome=outcome, error=error[:2000])
        self.session.execute(stmt)
        self._pending += 1

    def source_ids(self, urls: list[str]) -> dict[str, int]:
        return index.source_ids(self.session, urls, self.now())

    # -- transactions ---------------------------------------------------------
    def maybe_commit(self) -> None:
        """Commit when enough rows or time have gone by, or another writer waits (db.WriteTurns)."""
        if not self._pending:
            return
        due = time.monotonic() - self._last_commit >= self.commit_interval
        if self._pending >= self.commit_every or due or (self._turns is not None and self._turns.waiting()):
            self.commit()

    def commit(self) -> None:
        """Flush WARC bytes to the OS, then commit the rows that point at them."""
        self.store.flush()
        self._commit_rows()

    def _commit_rows(self, _closing: str | None = None) -> None:
        self._check()
        try:
            self.session.commit()
        except SQLAlchemyError as exc:
            self.session.rollback()
            self.failure = DatabaseError(f"cannot save captures to the database: {db.reason(exc)}")
            raise self.failure from exc
        self._pending = 0
        self._uncommitted.clear()
        self._last_commit = time.monotonic()

    def _check(self) -> None:
        if self.failure is not None:
            raise self.failure

    def uncommitted(self) -> list[str]:
        """Record ids of the rows written since the last commit."""
        return list(self._uncommitted)

    def close(self) -> None:
        """Commit and close the WARC file; after a failed commit, leave it for reconcile and raise."""
        if self.failure is not None:
            self.abandon()
            raise self.failure
        try:
            self.commit()
            self.store.close()
            self.commit()
        except DatabaseError:
            self.abandon()
            raise
        finally:
            self.session.close()
            self._sessions.kw["bind"].dispose()
