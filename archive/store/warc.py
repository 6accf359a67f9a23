"""WARC 1.1 files: building records and appending them to rotating files.

A file is written as ``NAME.warc.gz.open``, one gzip member per record, opened
with a ``warcinfo`` record, held under an exclusive ``flock`` while its writer
lives, and renamed to ``NAME.warc.gz`` when closed. A file still ``.open`` with
no lock holder belongs to a writer that died; :mod:`archive.store.reconcile` repairs
it. The clock and record ids are injected so tests can compare bytes.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import io
import os
import socket
import uuid
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, cast

from archive import __version__
from archive.clock import Clock, utcnow
from archive.errors import WarcError

OPEN_SUFFIX = ".open"
GZIP_LEVEL = 6

# Bodies in these encodings or media types are compressed already: deflating
# them again costs ~100 us per record and saves nothing, so their records are
# written as stored (level 0) gzip members, still one member per record.
_PACKED_ENCODINGS = ("gzip", "deflate", "br", "zstd", "compress", "x-gzip")
_PACKED_TYPES = (
    "image/",
    "video/",
    "audio/",
    "font/woff",
    "application/zip",
    "application/gzip",
    "application/x-gzip",
    "application/pdf",
    "application/octet-stream",
    "application/wasm",
    "application/font-woff",
)


def body_is_packed(resp: HttpResponse) -> bool:
    """True when a response body is compressed data already.

    >>> body_is_packed(HttpResponse(200, "OK", [("Content-Encoding", "gzip")], b""))
    True
    >>> body_is_packed(HttpResponse(200, "OK", [("Content-Type", "image/svg+xml")], b""))
    False
    >>> body_is_packed(HttpResponse(200, "OK", [("Content-Type", "image/png")], b""))
    True
    """
    encoding = (resp.header("Content-Encoding") or "").strip().lower()
    if encoding and encoding != "identity":
        return encoding.split(",")[-1].strip() in _PACKED_ENCODINGS
    media = (resp.header("Content-Type") or "").split(";")[0].strip().lower()
    return media.startswith(_PACKED_TYPES) and not media.endswith(("+xml", "/bmp", "/x-icon"))


WARC_SUFFIX = ".warc.gz"

IdFactory = Callable[[], uuid.UUID]


def payload_digest(data: bytes) -> str:
    """The WARC-Payload-Digest warcio writes for ``data``.

    >>> payload_digest(b"")
    'sha1:3I42H3S6NNFQ2MSVX7XZKYAYSCX5QBYJ'
    """
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode("ascii")


def record_uri(record_id: uuid.UUID) -> str:
    return f"<urn:uuid:{record_id}>"


def warc_date(when: datetime) -> str:
    """WARC 1.1 date with microseconds.

    >>> warc_date(datetime(2026, 11, 25, 3, 4, 5, 60))
    '2026-11-25T03:04:05.000060Z'
    """
    # warcio is imported where records are made: `citewatch status` imports this module.
    from warcio.timeutils import datetime_to_iso_date

    return cast(str, datetime_to_iso_date(when, use_micros=True))


@dataclass
class HttpRequest:
    """A request as sent: what a ``request`` record holds."""

    method: str
    url: str
    headers: list[tuple[str, str]]
    body: bytes = b""
    protocol: str = "HTTP/1.1"


@dataclass
class HttpResponse:
    """A response as received, body still content-encoded."""

    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    protocol: str = "HTTP/1.1"
    truncated: str | None = None  # a WARC-Truncated reason: length, time, disconnect

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers if k.lower() == lowered), None)


@dataclass
class Revisit:
    """Where an identical payload of the same URL was archived before."""

    record_id: str
    url: str
    date: datetime


@dataclass
class RecordLocation:
    """Where one record landed: file name (final form), byte offset and length."""

    filename: str
    offset: int
    length: int
    record_id: str
    record_type: str
    date: datetime


@dataclass
class PendingRecord:
    record: object
    record_id: uuid.UUID
    record_type: str
    date: datetime
    compressible: bool = True


def _request_path(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


class RecordFactory:
    """Builds warcio records with injected ids; dates are given by the caller."""

    def __init__(self, make_id: IdFactory = uuid.uuid4):
        from warcio.recordbuilder import RecordBuilder

        self._builder = RecordBuilder(warc_version="1.1")
        self._make_id = make_id

    def _headers(self, record_id: uuid.UUID, date: datetime, extra: dict[str, str]) -> dict[str, str]:
        return {"WARC-Record-ID": record_uri(record_id), "WARC-Date": warc_date(date), **extra}

    def request(self, req: HttpRequest, date: datetime, concurrent_to: uuid.UUID) -> PendingRecord:
        from warcio.statusandheaders import StatusAndHeaders

        rid = self._make_id()
        status_line = f"{req.method} {_request_path(req.url)} {req.protocol}"
        http = StatusAndHeaders(status_line, list(req.headers), is_http_request=True)
        warc = self._headers(rid, date, {"WARC-Concurrent-To": record_uri(concurrent_to)})
        record = self._builder.create_warc_record(
            req.url,
            "request",
            payload=io.BytesIO(req.body),
            length=len(req.body),
            http_headers=http,
            warc_headers_dict=warc,
        )
        return PendingRecord(record, rid, "request", date)

    def response(
        self,
        url: str,
        resp: HttpResponse,
        date: datetime,
        ip: str | None = None,
        digest: str | None = None,
        record_id: uuid.UUID | None = None,
    ) -> PendingRecord:
        from warcio.statusandheaders import StatusAndHeaders

        rid = record_id or self._make_id()
        http = StatusAndHeaders(
            f"{resp.status} {resp.reason}".strip(), list(resp.headers), protocol=resp.protocol
        )
        extra = {"WARC-IP-Address": ip} if ip else {}
        if resp.truncated:
            extra["WARC-Truncated"] = resp.truncated
        # warcio skips hashing the payload again when the digest is given.
        extra["WARC-Payload-Digest"] = digest or payload_digest(resp.body)
        record = self._builder.create_warc_record(
            url,
            "response",
            payload=io.BytesIO(resp.body),
            length=len(resp.body),
            http_headers=http,
            warc_headers_dict=self._headers(rid, date, extra),
        )
        return PendingRecord(record, rid, "response", date, compressible=not body_is_packed(resp))

    def revisit(
        self,
        url: str,
        resp: HttpResponse,
        date: datetime,
        digest: str,
        original: Revisit,
        ip: str | None = None,
        record_id: uuid.UUID | None = None,
    ) -> PendingRecord:
        from warcio.statusandheaders import StatusAndHeaders

        rid = record_id or self._make_id()
        http = StatusAndHeaders(
            f"{resp.status} {resp.reason}".strip(), list(resp.headers), protocol=resp.protocol
        )
        extra = {"WARC-Refers-To": original.record_id}
        if ip:
            extra["WARC-IP-Address"] = ip
        record = self._builder.create_revisit_record(
            url,
            digest,
            original.url,
            warc_date(original.date),
            http_headers=http,
            warc_headers_dict=self._headers(rid, date, extra),
        )
        return PendingRecord(record, rid, "revisit", date)

    def resource(
        self,
        url: str,
        content_type: str,
        data: bytes,
        date: datetime,
        concurrent_to: uuid.UUID | None = None,
        record_id: uuid.UUID | None = None,
    ) -> PendingRecord:
        rid = record_id or self._make_id()
        extra = {"WARC-Concurrent-To": record_uri(concurrent_to)} if concurrent_to else {}
        record = self._builder.create_warc_record(
            url,
            "resource",
            payload=io.BytesIO(data),
            length=len(data),
            warc_content_type=content_type,
            warc_headers_dict=self._headers(rid, date, extra),
        )
        packed = body_is_packed(HttpResponse(0, "", [("Content-Type", content_type)], b""))
        return PendingRecord(record, rid, "resource", date, compressible=not packed)

    def warcinfo(self, filename: str, date: datetime) -> PendingRecord:
        rid = self._make_id()
        info = {
            "software": f"citewatch/{__version__} (warcio)",
            "format": "WARC File Format 1.1",
            "conformsTo": "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/",
            "hostname": socket.gethostname(),
        }
        body = "".join(f"{k}: {v}\r\n" for k, v in info.items()).encode()
        record = self._builder.create_warc_record(
            "",
            "warcinfo",
            payload=io.BytesIO(body),
            length=len(body),
            warc_content_type="application/warc-fields",
            warc_headers_dict=self._headers(rid, date, {"WARC-Filename": filename}),
        )
        return PendingRecord(record, rid, "warcinfo", date)


class WarcStore:
    """Appends records to size-rotated WARC files in one folder.

    One store belongs to one process. ``write`` keeps the records it is given
    together in one file; ``flush`` pushes them to the OS so that a killed
    process loses nothing written before it.
    """

    def __init__(
        self,
        directory: Path,
        *,
        prefix: str = "citewatch",
        max_size: int = 10**9,
        now: Clock = utcnow,
        make_id: IdFactory = uuid.uuid4,
        on_open: Callable[[str], None] | None = None,
        on_close: Callable[[str, int], None] | None = None,
        before_close: Callable[[str], None] | None = None,
    ):
        self.directory = Path(directory)
        self.prefix = prefix
        self.max_size = max_size
        self.now = now
        self.factory = RecordFactory(make_id)
        self._on_open = on_open
        self._on_close = on_close
        self._before_close = before_close
        self._file: BinaryIO | None = None
        self._name: str | None = None
        self._serial = 0
        # warcio serialises each record uncompressed into this buffer; the store
        # gzips it as one member itself, at level 6: warcio's level 9 costs
        # several times the CPU for a few percent of size.
        self._buffer = io.BytesIO()
        from warcio.warcwriter import WARCWriter

        self._writer = WARCWriter(self._buffer, gzip=False, warc_version="1.1")

    def _new_name(self) -> str:
        self._serial += 1
        stamp = self.now().strftime("%Y%m%d%H%M%S%f")
        return f"{self.prefix}-{stamp}-{self._serial:05d}-{os.getpid()}-{uuid.uuid4().hex[:6]}{WARC_SUFFIX}"

    def _open(self) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            name = self._new_name()
            # Created under a name reconcile ignores, locked, and only then made
            # visible as .open: no reconcile can take a live file for a dead one.
            creating = self.directory / f".{name}.creating"
            handle = open(creating, "xb")  # noqa: SIM115 - held until close()
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.rename(creating, self.directory / (name + OPEN_SUFFIX))
        except OSError as exc:
            raise WarcError(f"cannot create a WARC file in {self.directory}: {exc.strerror or exc}") from exc
        self._file, self._name = handle, name
        if self._on_open:
            self._on_open(name)
        self._append([self.factory.warcinfo(name, self.now())])

    def _member(self, item: PendingRecord) -> bytes:
        """One record as one gzip member."""
        self._buffer.seek(0)
        self._buffer.truncate()
        self._writer.write_record(item.record)
        level = GZIP_LEVEL if item.compressible else 0
        packer = zlib.compressobj(level, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        return packer.compress(self._buffer.getvalue()) + packer.flush()

    def _append(self, pending: Sequence[PendingRecord]) -> list[RecordLocation]:
        assert self._file is not None and self._name is not None
        locations = []
        try:
            for item in pending:
                member = self._member(item)
                start = self._file.tell()
                self._file.write(member)
                locations.append(
                    RecordLocation(
                        self._name, start, len(member), str(item.record_id), item.record_type, item.date
                    )
                )
        except OSError as exc:
            raise WarcError(f"cannot write to {self._name}: {exc.strerror or exc}") from exc
        return locations

    def write(self, pending: Sequence[PendingRecord]) -> list[RecordLocation]:
        """Append records, all to the same file; rotate first if the file is full."""
        if self._file is not None and self._file.tell() >= self.max_size:
            self.close()
        if self._file is None:
            self._open()
        return self._append(pending)

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        """Flush, fsync, let the owner commit what indexes the file, rename ``.open`` away, unlock.

        The ``before_close`` hook runs while the file is still ``.open`` and locked:
        a closed file's records are all indexed, because reconcile repairs only
        ``.open`` files.
        """
        if self._file is None or self._name is None:
            return
        handle, name = self._file, self._name
        try:
            handle.flush()
            os.fsync(handle.fileno())
            size = handle.tell()
            if self._before_close:
                self._before_close(name)
            os.rename(self.directory / (name + OPEN_SUFFIX), self.directory / name)
        except OSError as exc:
            raise WarcError(f"cannot close {name}: {exc.strerror or exc}") from exc
        finally:
            self._file = self._name = None
            handle.close()
        if self._on_close:
            self._on_close(name, size)

    def abandon(self) -> None:
        """Stop writing without closing properly: the file stays ``.open`` and its lock goes
        with its handle, so reconcile repairs and indexes it later."""
        handle, self._file, self._name = self._file, None, None
        if handle is not None:
            with suppress(OSError):
                handle.flush()
            with suppress(OSError):
                handle.close()


def readable_path(warc_dir: Path, name: str) -> Path:
    """Where the WARC file ``name`` is now: closed, or still ``.open`` while it is written."""
    closed = warc_dir / name
    return closed if closed.exists() else warc_dir / (name + OPEN_SUFFIX)


@contextmanager
def held_if_free(path: Path) -> Iterator[bool]:
    """Take ``path``'s lock for the duration of the block if no live writer holds it.

    Yields False (and holds nothing) when a writer does: two processes cannot
    both recover the same file.
    """
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        yield False
        return
    with handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True


def is_locked(path: Path) -> bool:
    """True when a live writer holds ``path``."""
    try:
        with open(path, "rb") as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            return False
    except FileNotFoundError:
        return False


def iter_open_files(directory: Path) -> Iterable[Path]:
    if directory.exists():
        yield from sorted(directory.glob("*" + WARC_SUFFIX + OPEN_SUFFIX))
