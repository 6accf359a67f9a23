"""Writes captures: WARC records first, then the Snapshot rows that index them.

The order is the crash contract. Records are appended and flushed to the OS
before the transaction holding their rows commits, so a row never points at a
record that is not on disk. A record whose row was not yet committed when the
process died is found and indexed by :func:`archive.reconcile.reconcile`.
Rows are committed in batches (``commit_every`` rows or ``commit_interval``
seconds) because one commit per record would dominate capture time.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from archive import db, index
from archive.errors import DatabaseError
from archive.models import ExtractedText, Snapshot, WarcFile
from archive.warc import (
    Clock,
    HttpRequest,
    HttpResponse,
    IdFactory,
    PendingRecord,
    RecordLocation,
    Revisit,
    WarcStore,
    payload_digest,
    utcnow,
)

logger = logging.getLogger(__name__)


@dataclass
class Exchange:
    """One HTTP request and its response, as they crossed the wire."""

    request: HttpRequest
    response: HttpResponse
    sent_at: datetime
    received_at: datetime
    ip: str | None = None
    via: str = "http"
    source_id: int | None = None
    page_id: int | None = None


def mime_of(content_type: str | None) -> str | None:
    """The media type of a Content-Type value.

    >>> mime_of("Text/HTML; charset=utf-8")
    'text/html'
    """
    if not content_type:
        return None
    return content_type.split(";", 1)[0].strip().lower()[:255] or None


TRUNCATION_REASONS = {
    "length": "body cut at the maximum response size",
    "disconnect": "the server closed the connection before the whole body arrived",
    "time": "body cut when the time limit ran out",
}


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
    ):
        self.now = now
        self.session = sessions()
        self.store = WarcStore(
            warc_dir,
            prefix=prefix,
            max_size=max_size,
            now=now,
            make_id=make_id,
            on_open=self._file_opened,
            on_close=self._file_closed,
        )
        self._file_ids: dict[str, int] = {}
        # Latest full response per SURT written by this process, so re-captures
        # within one run dedup without a query.
        self._recent: OrderedDict[str, tuple[str, Revisit, int]] = OrderedDict()
        self._pending = 0
        self._last_commit = time.monotonic()
        self.commit_every = commit_every
        self.commit_interval = commit_interval

    # -- WARC files ---------------------------------------------------------
    def _file_opened(self, name: str) -> None:
        self._file_ids[name] = index.warc_file_id(self.session, name, self.now())

    def _file_closed(self, name: str, size: int) -> None:
        row = self.session.get(WarcFile, self._file_ids[name])
        if row is not None:
            row.closed_at, row.size = self.now(), size

    # -- dedup --------------------------------------------------------------
    def _original(self, surt: str, digest: str) -> tuple[Revisit, int] | None:
        cached = self._recent.get(surt)
        if cached and cached[0] == digest:
            return cached[1], cached[2]
        row = index.original_of(self.session, surt, digest)
        if row is None or row.record_id is None:
            return None
        return Revisit(f"<urn:uuid:{row.record_id}>", row.url, row.captured_at), row.id

    def _remember(self, surt: str, digest: str, snap: Snapshot, location: RecordLocation) -> None:
        self._recent[surt] = (
            digest,
            Revisit(f"<urn:uuid:{location.record_id}>", snap.url, snap.captured_at),
            snap.id,
        )
        self._recent.move_to_end(surt)
        if len(self._recent) > 50_000:
            self._recent.popitem(last=False)

    # -- rows ---------------------------------------------------------------
    def _row(self, location: RecordLocation, **fields: object) -> Snapshot:
        snap = Snapshot(
            warc_file_id=self._file_ids[location.filename],
            offset=location.offset,
            length=location.length,
            record_id=location.record_id,
            record_type=location.record_type,
            **fields,
        )
        self.session.add(snap)
        self.session.flush()
        self._pending += 1
        return snap

    def _write(self, pending: list[PendingRecord]) -> list[RecordLocation]:
        return self.store.write(pending)

    def record(self, ex: Exchange) -> Snapshot:
        """Write the request and response (or revisit) records of ``ex`` and index the response."""
        url, resp = ex.request.url, ex.response
        surt = index.surt_key(url)
        digest = payload_digest(resp.body)
        factory = self.store.factory
        original = self._original(surt, digest) if resp.body and not resp.truncated else None
        if original:
            main = factory.revisit(url, resp, ex.received_at, digest, original[0], ex.ip)
        else:
            main = factory.response(url, resp, ex.received_at, ex.ip)
        req = factory.request(ex.request, ex.sent_at, main.record_id)
        location = self._write([main, req])[0]
        snap = self._row(
            location,
            source_id=ex.source_id,
            page_id=ex.page_id,
            url=url,
            surt=surt,
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
            self._remember(surt, digest, snap, location)
        self.maybe_commit()
        return snap

    def record_resource(
        self,
        url: str,
        content_type: str,
        data: bytes,
        *,
        at: datetime | None = None,
        concurrent_to: str | None = None,
        source_id: int | None = None,
        page_id: int | None = None,
        via: str = "browser",
    ) -> Snapshot:
        """A ``resource`` record, such as a screenshot or a rendered DOM."""
        at = at or self.now()
        rid = uuid.UUID(concurrent_to) if concurrent_to else None
        location = self._write([self.store.factory.resource(url, content_type, data, at, rid)])[0]
        snap = self._row(
            location,
            source_id=source_id,
            page_id=page_id,
            url=url,
            surt=index.surt_key(url),
            captured_at=at,
            mime=mime_of(content_type),
            payload_digest=payload_digest(data),
            via=via,
            outcome="ok",
        )
        self.maybe_commit()
        return snap

    def record_failure(
        self,
        url: str,
        outcome: str,
        error: str,
        *,
        at: datetime | None = None,
        source_id: int | None = None,
        page_id: int | None = None,
        status: int | None = None,
        via: str = "http",
    ) -> Snapshot:
        """A row saying a fetch of ``url`` failed, and why; no WARC record."""
        snap = index.add_failure(
            self.session,
            url,
            outcome,
            error,
            at or self.now(),
            status=status,
            source_id=source_id,
            page_id=page_id,
            via=via,
        )
        self._pending += 1
        self.maybe_commit()
        return snap

    def note(self, snapshot_id: int, outcome: str, error: str) -> None:
        """Change the outcome of a row after the fact (for example: body could not be decoded)."""
        snap = self.session.get(Snapshot, snapshot_id)
        if snap is not None:
            snap.outcome, snap.error = outcome, error[:2000]
            self._pending += 1

    def store_text(self, digest: str, extractor: str, text: str) -> None:
        if self.session.get(ExtractedText, digest) is None:
            self.session.add(
                ExtractedText(payload_digest=digest, extractor=extractor, text=text, extracted_at=self.now())
            )
            self._pending += 1

    def source_id(self, url: str) -> int:
        return index.source_for(self.session, url, self.now()).id

    # -- transactions ---------------------------------------------------------
    def maybe_commit(self) -> None:
        if self._pending >= self.commit_every or (
            self._pending and time.monotonic() - self._last_commit >= self.commit_interval
        ):
            self.commit()

    def commit(self) -> None:
        """Flush WARC bytes to the OS, then commit the rows that point at them."""
        self.store.flush()
        try:
            self.session.commit()
        except SQLAlchemyError as exc:
            self.session.rollback()
            raise DatabaseError(f"cannot save captures to the database: {db.reason(exc)}") from exc
        self._pending = 0
        self._last_commit = time.monotonic()

    def close(self) -> None:
        self.commit()
        self.store.close()
        self.commit()
        self.session.close()
