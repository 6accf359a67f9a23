"""WACZ export: the captures of an article (or of everything) as one WACZ 1.1.1 file.

The records are copied byte for byte from the archive's WARC files (each is one gzip member,
so digests and signatures stay true) into one WARC file; the pages list names each capture of
a cited source with its title and the text citewatch extracted; ``wacz create`` (from the
replay environment) indexes and packs them.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session
from warcio.warcwriter import WARCWriter

from archive import __version__
from archive.articles.storage import sources_of_article
from archive.clock import utcnow
from archive.errors import OperationError, UsageError
from archive.models import Article, ExtractedText, Snapshot, WarcFile
from archive.store.index import ARCHIVED_TYPES
from archive.store.warc import RecordFactory, readable_path

CHUNK = 500  # ids per IN (...) list
PAGE_MIMES = ("text/html", "application/xhtml+xml", "application/pdf", "text/plain")


@dataclass
class ExportReport:
    path: Path
    records: int
    pages: int
    size: int


def _chunks(ids: list[int]) -> Iterable[list[int]]:
    for i in range(0, len(ids), CHUNK):
        yield ids[i : i + CHUNK]


def _archived() -> Any:
    return select(Snapshot.id).where(
        Snapshot.record_type.in_(ARCHIVED_TYPES),
        Snapshot.warc_file_id.is_not(None),
        Snapshot.offset.is_not(None),
        Snapshot.length.is_not(None),
    )


def select_records(
    session: Session, article_id: int | None, since: datetime | None
) -> tuple[list[int], list[int]]:
    """Ids of the records to export, and of those chosen for themselves (the pages list comes
    from these): the captures of the article's sources (and of the article itself, when it was
    added by URL) or of everything, with those pages' requisites and browser resources; then the
    originals their revisits point to, whenever they were captured."""
    wanted = _archived()
    if since is not None:
        wanted = wanted.where(Snapshot.captured_at >= since)
    if article_id is None:
        chosen = set(session.scalars(wanted))
    else:
        sources = set(sources_of_article(session, article_id))
        own = session.scalar(select(Article.source_id).where(Article.id == article_id))
        if own is not None:
            sources.add(own)
        chosen = set()
        for chunk in _chunks(sorted(sources)):
            chosen.update(session.scalars(wanted.where(Snapshot.source_id.in_(chunk))))
        for chunk in _chunks(sorted(chosen)):
            chosen.update(session.scalars(_archived().where(Snapshot.page_id.in_(chunk))))
    return sorted(chosen | _originals(session, chosen)), sorted(chosen)


def _originals(session: Session, ids: set[int]) -> set[int]:
    found: set[int] = set()
    for chunk in _chunks(sorted(ids)):
        found.update(
            session.scalars(
                select(Snapshot.refers_to_id).where(
                    Snapshot.id.in_(chunk), Snapshot.refers_to_id.is_not(None)
                )
            )
        )
    return found - ids


def _iso(when: datetime) -> str:
    return when.replace(tzinfo=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _copy_records(session: Session, warc_dir: Path, ids: list[int], out: Path, progress: Any) -> int:
    """Write a warcinfo record, then each record's gzip member as it is in the archive."""
    count = 0
    with open(out, "wb") as fh:
        WARCWriter(fh, gzip=True).write_record(RecordFactory().warcinfo(out.name, utcnow()).record)
        rows: list[Any] = []
        for chunk in _chunks(ids):
            rows += session.execute(
                select(WarcFile.name, Snapshot.offset, Snapshot.length)
                .join(WarcFile, WarcFile.id == Snapshot.warc_file_id)
                .where(Snapshot.id.in_(chunk))
            ).all()
        rows.sort()
        current, source = None, None
        try:
            for name, offset, length in rows:
                if source is None or name != current:
                    if source is not None:
                        source.close()
                    source, current = _open_warc(warc_dir, name), name
                source.seek(offset)
                member = source.read(length)
                if len(member) != length:
                    raise OperationError(f"{name} ends before the record at offset {offset}")
                fh.write(member)
                count += 1
                if progress is not None and count % 1000 == 0:
                    progress(count, len(rows))
        finally:
            if source is not None:
                source.close()
    return count


def _open_warc(warc_dir: Path, name: str) -> BinaryIO:
    try:
        return open(readable_path(warc_dir, name), "rb")
    except FileNotFoundError:
        raise OperationError(f"the WARC file {name} is missing from {warc_dir}") from None


def _write_pages(session: Session, ids: list[int], out: Path, title: str) -> int:
    """pages.jsonl: one entry per capture of a source, with the extracted title and text."""
    header = {"format": "json-pages-1.0", "id": "pages", "title": title, "hasText": True}
    count = 0
    with open(out, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(header) + "\n")
        for chunk in _chunks(ids):
            rows = session.execute(
                select(
                    Snapshot.id, Snapshot.url, Snapshot.captured_at, ExtractedText.title, ExtractedText.text
                )
                .outerjoin(ExtractedText, ExtractedText.payload_digest == Snapshot.payload_digest)
                .where(
                    Snapshot.id.in_(chunk),
                    Snapshot.source_id.is_not(None),
                    # A page, not what it loaded: a browser capture's network responses carry the
                    # source's id too, but only documents are pages.
                    Snapshot.page_id.is_(None),
                    Snapshot.mime.in_(PAGE_MIMES),
                    Snapshot.record_type.in_(("response", "revisit")),
                    Snapshot.status.between(200, 299),
                )
                .order_by(Snapshot.id)
            )
            for row in rows:
                entry = {"id": str(row.id), "url": row.url, "ts": _iso(row.captured_at)}
                entry["title"] = row.title or row.url
                if row.text:
                    entry["text"] = row.text
                fh.write(json.dumps(entry, ensure_ascii=False) + "\n")
                count += 1
    return count


def export_wacz(
    session: Session,
    warc_dir: Path,
    wacz_program: Path,
    output: Path,
    *,
    article_id: int | None = None,
    since: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ExportReport:
    """Write ``output`` (a WACZ file) and return what it holds."""
    ids, chosen = select_records(session, article_id, since)
    if not ids:
        raise UsageError("nothing to export: no captures match")
    if article_id is not None:
        title = (
            session.scalar(select(Article.title).where(Article.id == article_id)) or f"article {article_id}"
        )
        title = f"citewatch: {title}"
    else:
        title = "citewatch: every capture"
    with tempfile.TemporaryDirectory(prefix="citewatch-export-", dir=output.parent) as tmp:
        warc = Path(tmp) / "citewatch-export.warc.gz"
        records = _copy_records(session, warc_dir, ids, warc, progress)
        pages_path = Path(tmp) / "pages.jsonl"
        pages = _write_pages(session, chosen, pages_path, title)
        partial = Path(tmp) / "export.wacz"
        command = [str(wacz_program), "create", "-o", str(partial), "-p", str(pages_path), "--copy-pages"]
        command += ["--title", title, "--desc", f"Exported by citewatch {__version__}", str(warc)]
        done = subprocess.run(
            command, capture_output=True, text=True, errors="replace", stdin=subprocess.DEVNULL
        )
        if done.returncode != 0 or not partial.exists():
            last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise OperationError(f"wacz create failed: {last[0]}")
        partial.replace(output)  # a WACZ appears whole or not at all
    return ExportReport(output, records, pages, output.stat().st_size)
