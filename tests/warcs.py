"""Reading back what a test archived: WARC records and Snapshot rows."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text
from warcio.archiveiterator import ArchiveIterator

from archive.store import warcio_codecs

warcio_codecs.install()


@dataclass
class Record:
    file: Path
    offset: int
    length: int
    type: str
    uri: str
    warc_headers: dict[str, str]
    http_status: int | None
    http_headers: list[tuple[str, str]]
    payload: bytes  # as archived (still content-encoded)
    decoded: bytes  # content-encoding removed, as warcio's content_stream() gives it

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.http_headers if k.lower() == name.lower()), None)


def _members(path: Path) -> list[tuple[int, int]]:
    spans = []
    with open(path, "rb") as handle:
        it = ArchiveIterator(handle)
        for rec in it:
            rec.raw_stream.read()
            spans.append((it.get_record_offset(), 0))
            spans[-1] = (spans[-1][0], it.get_record_length())
    return spans


def _parse(path: Path, offset: int, length: int, data: bytes) -> Record:
    rec = next(iter(ArchiveIterator(io.BytesIO(data))))
    http = rec.http_headers
    status = int(http.get_statuscode()) if http and rec.rec_type in ("response", "revisit") else None
    raw = rec.raw_stream.read()
    decoded = next(iter(ArchiveIterator(io.BytesIO(data)))).content_stream().read()
    return Record(
        path,
        offset,
        length,
        rec.rec_type,
        rec.rec_headers.get_header("WARC-Target-URI") or "",
        dict(rec.rec_headers.headers),
        status,
        list(http.headers) if http else [],
        raw,
        decoded,
    )


def read_records(paths: list[Path]) -> list[Record]:
    """Every record of ``paths``, in file order, each parsed from its own bytes."""
    found = []
    for path in paths:
        with open(path, "rb") as handle:
            for offset, length in _members(path):
                handle.seek(offset)
                found.append(_parse(path, offset, length, handle.read(length)))
    return found


def by_type(records: list[Record], kind: str, uri: str | None = None) -> list[Record]:
    return [r for r in records if r.type == kind and (uri is None or r.uri == uri)]


def snapshot_rows(database_url: str) -> list[dict]:
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as conn:
        rows = (
            conn.execute(
                text(
                    "select s.*, w.name as warc_name from snapshots s"
                    " left join warc_files w on w.id = s.warc_file_id order by s.id"
                )
            )
            .mappings()
            .all()
        )
    engine.dispose()
    return [dict(r) for r in rows]
