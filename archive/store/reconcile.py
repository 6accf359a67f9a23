"""Start-up repair after a crash: make WARC files and Snapshot rows agree again.

For each ``*.warc.gz.open`` file that no live writer holds: cut the file after
its last complete gzip member (a record half-written when the process died),
index the complete records that have no Snapshot row (written and flushed, but
their transaction never committed), drop rows that point past the cut, then
rename the file to its closed name. Closed files whose row was never marked
closed are marked. Running it twice changes nothing the second time.
"""

from __future__ import annotations

import io
import logging
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from archive.clock import Clock, utcnow
from archive.models import Snapshot, Source, WarcFile
from archive.store import index
from archive.store.recorder import mime_of
from archive.store.warc import OPEN_SUFFIX, held_if_free, iter_open_files

if TYPE_CHECKING:
    from warcio.recordloader import ArcWarcRecord  # untyped (Any to mypy): named for the reader

logger = logging.getLogger(__name__)

_CHUNK = 1 << 16


@dataclass
class ReconcileReport:
    files_recovered: list[str] = field(default_factory=list)
    bytes_cut: int = 0
    rows_added: int = 0
    rows_dropped: int = 0


def complete_members(handle: BinaryIO) -> Iterator[tuple[int, int]]:
    """(offset, length) of each complete gzip member from the start; stops at a cut one."""
    offset = 0
    while True:
        handle.seek(offset)
        decomp = zlib.decompressobj(16 + zlib.MAX_WBITS)
        consumed = 0
        try:
            while not decomp.eof:
                data = decomp.unconsumed_tail
                if not data:
                    data = handle.read(_CHUNK)
                    if not data:
                        return
                    consumed += len(data)
                decomp.decompress(data, 1 << 20)
        except zlib.error:
            return
        consumed -= len(decomp.unused_data)
        yield offset, consumed
        offset += consumed


def _read_member(handle: BinaryIO, offset: int, length: int) -> ArcWarcRecord:
    """The record in one gzip member, headers parsed. The body is not read: it may be a
    gzip bomb archived as sent, and indexing needs only the headers."""
    from warcio.archiveiterator import ArchiveIterator

    handle.seek(offset)
    return next(ArchiveIterator(io.BytesIO(handle.read(length))))


def _row_from_record(
    session: Session, record: ArcWarcRecord, file_id: int, offset: int, length: int
) -> Snapshot:
    from warcio.timeutils import iso_date_to_datetime

    headers = record.rec_headers
    url = headers.get_header("WARC-Target-URI") or ""
    surt = index.surt_key(url)
    digest = headers.get_header("WARC-Payload-Digest")
    http = record.http_headers
    status = int(http.get_statuscode()) if http is not None and http.get_statuscode().isdigit() else None
    mime = mime_of(
        http.get_header("Content-Type") if http is not None else headers.get_header("Content-Type")
    )
    refers = index.original_of(session, surt, digest) if record.rec_type == "revisit" and digest else None
    truncated = headers.get_header("WARC-Truncated")
    source = session.scalars(select(Source).where(Source.url == url)).first()
    return Snapshot(
        url=url,
        surt=surt,
        captured_at=iso_date_to_datetime(headers.get_header("WARC-Date")),
        status=status,
        mime=mime,
        payload_digest=digest,
        record_type=record.rec_type,
        record_id=headers.get_header("WARC-Record-ID").strip("<>").removeprefix("urn:uuid:"),
        warc_file_id=file_id,
        offset=offset,
        length=length,
        refers_to_id=refers.id if refers else None,
        source_id=source.id if source else None,
        via="browser" if record.rec_type == "resource" else "http",
        outcome="truncated" if truncated else "ok",
        error="recovered after a crash" + ("; body cut at the maximum response size" if truncated else ""),
    )


def _recover(session: Session, path: Path, now: Clock, report: ReconcileReport) -> None:
    name = path.name.removesuffix(OPEN_SUFFIX)
    file_id = index.warc_file_id(session, name, now())
    known = set(session.scalars(select(Snapshot.record_id).where(Snapshot.warc_file_id == file_id)))
    good_end = 0
    with open(path, "r+b") as handle:
        for offset, length in complete_members(handle):
            try:
                record = _read_member(handle, offset, length)
            except Exception:  # a member that gunzips but is no WARC record: cut here
                logger.warning("%s: unreadable record at offset %d; cutting the file there", name, offset)
                break
            good_end = offset + length
            rid = (
                (record.rec_headers.get_header("WARC-Record-ID") or "").strip("<>").removeprefix("urn:uuid:")
            )
            if record.rec_type in index.ARCHIVED_TYPES and rid not in known:
                session.add(_row_from_record(session, record, file_id, offset, length))
                session.flush()
                report.rows_added += 1
        size = handle.seek(0, os.SEEK_END)
        if size > good_end:
            handle.truncate(good_end)
            report.bytes_cut += size - good_end
            os.fsync(handle.fileno())
    deleted = session.execute(
        delete(Snapshot).where(Snapshot.warc_file_id == file_id, Snapshot.offset >= good_end)
    )
    dropped = cast("CursorResult[*tuple[Any, ...]]", deleted).rowcount  # a DELETE's result has a rowcount
    report.rows_dropped += dropped or 0
    session.commit()
    os.rename(path, path.with_name(name))
    session.execute(update(WarcFile).where(WarcFile.id == file_id).values(closed_at=now(), size=good_end))
    session.commit()
    report.files_recovered.append(name)
    logger.warning(
        "recovered %s after a crash: %d bytes cut, %d records indexed",
        name,
        report.bytes_cut,
        report.rows_added,
    )


def _mark_closed(session: Session, warc_dir: Path, now: Clock) -> None:
    for row in session.scalars(select(WarcFile).where(WarcFile.closed_at.is_(None))):
        closed = warc_dir / row.name
        if closed.exists() and not (warc_dir / (row.name + OPEN_SUFFIX)).exists():
            row.closed_at, row.size = now(), closed.stat().st_size
    session.commit()


def reconcile(sessions: sessionmaker[Session], warc_dir: Path, now: Clock = utcnow) -> ReconcileReport:
    report = ReconcileReport()
    with sessions() as session:
        for path in iter_open_files(warc_dir):
            with held_if_free(path) as ours:
                if ours:
                    _recover(session, path, now, report)
        _mark_closed(session, warc_dir, now)
    return report
