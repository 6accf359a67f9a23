"""The archiver: a child process that writes WARC records and index rows for a crawl.

A crawl's own process is busy with Scrapy's work on one CPU core. Building
WARC records, compressing them and inserting Snapshot rows costs about as
much again per response, so a capture crawl hands that work to this process,
which runs a :class:`archive.recorder.CaptureRecorder` on another core.

:class:`ArchiverProcess` is the crawl's side. It has the recorder's methods;
most of them send a message and return at once, so the crawl refers to a
capture by its record id (the WARC-Record-ID's uuid, chosen here) rather than
by its row number, which :meth:`ArchiverProcess.settle` looks up at the end.
Messages go down one pipe and are handled in order; only the calls that need
an answer (``settle``, ``close``) wait for one, on a second pipe, so neither
side can block the other forever. A full pipe makes the crawl wait for the
archiver: back-pressure, not an unbounded queue. The two queries the crawl
needs answered at once (the Source ids of its URLs, and which requisites are
fresh) it makes itself, so it never waits for the archiver to start up.

The crash contract is the recorder's: a record is flushed before its row
commits. When the crawl's process ends in any way, even kill -9, the archiver
sees the pipe close, writes what it was sent, commits and closes its WARC file.
It ignores Ctrl-C, which the terminal sends to the whole process group: the
crawl stops gracefully and the archiver finishes after it. If the archiver
dies, the crawl's next message fails with :class:`archive.errors.WarcError`, and
the ``.open`` file it leaves is repaired by :func:`archive.reconcile.reconcile`.

Run as ``python -m archive.archiver READ_FD WRITE_FD CONFIG_JSON`` by
:class:`ArchiverProcess`, never by hand.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from archive.db import reason as db_reason
from archive.errors import CitewatchError, DatabaseError, WarcError
from archive.recorder import Exchange, SnapshotRef
from archive.warc import IdFactory, payload_digest, utcnow

logger = logging.getLogger(__name__)

# Calls that wait for an answer; every other message is one-way.
_ANSWERED = {"settle", "close"}
# The down pipe's buffer: room for the first few hundred records while the archiver starts.
_PIPE_BYTES = 1 << 20


class ArchiverProcess:
    """The crawl's handle on an archiver child process (see the module docstring).

    ``database_url`` also serves the queries the crawl makes itself
    (:meth:`source_ids`, and :meth:`prefetch` with ``fresh_since``).
    """

    def __init__(
        self,
        warc_dir: Path,
        database_url: str,
        *,
        prefix: str = "citewatch",
        max_size: int = 10**9,
        commit_interval: float = 1.0,
        make_id: IdFactory = uuid.uuid4,
    ):
        self.database_url = database_url
        self.commit_interval = commit_interval
        self._make_id = make_id
        self._sessions: Any = None
        config = {
            "warc_dir": str(warc_dir),
            "database_url": database_url,
            "prefix": prefix,
            "max_size": max_size,
            "commit_interval": commit_interval,
        }
        down_r, down_w = os.pipe()
        up_r, up_w = os.pipe()
        with contextlib.suppress(OSError):  # a larger buffer is an optimisation, not a need
            fcntl.fcntl(down_w, fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "archive.archiver", str(down_r), str(up_w), json.dumps(config)],
            pass_fds=(down_r, up_w),
            stdin=subprocess.DEVNULL,
        )
        os.close(down_r)
        os.close(up_w)
        self._down = Connection(down_w, readable=False)
        self._up = Connection(up_r, writable=False)
        self._closed = False

    # -- messages -----------------------------------------------------------
    def _send(self, *message: Any) -> None:
        if self._closed:
            raise WarcError("the archiver was closed; nothing more can be recorded in this crawl")
        try:
            self._down.send(message)
        except (OSError, ValueError) as exc:
            raise self._stopped() from exc

    def _call(self, *message: Any) -> Any:
        self._send(*message)
        try:
            status, *answer = self._up.recv()
        except (EOFError, OSError) as exc:
            raise self._stopped() from exc
        if status == "ok":
            return answer[0]
        kind, text = answer
        raise (DatabaseError if kind == "DatabaseError" else WarcError)(text)

    def _stopped(self) -> WarcError:
        return WarcError(f"the archiver process stopped ({self._exit_status()}): captures cannot be saved")

    def _exit_status(self) -> str:
        code = self._proc.poll()
        if code is None:
            return "it is not answering"
        return f"killed by signal {-code}" if code < 0 else f"exit code {code}"

    # -- the recorder's interface ----------------------------------------------
    def record(self, ex: Exchange) -> SnapshotRef:
        key = str(self._make_id())
        digest = payload_digest(ex.response.body)
        self._send("record", ex, key, digest)
        return SnapshotRef(None, ex.request.url, ex.received_at, ex.response.status, None, key, digest)

    def record_resource(self, url: str, content_type: str, data: bytes, **fields: Any) -> SnapshotRef:
        key = str(self._make_id())
        at = fields.pop("at", None) or utcnow()
        self._send("record_resource", url, content_type, data, {**fields, "at": at, "record_id": key})
        return SnapshotRef(None, url, at, None, "resource", key, payload_digest(data))

    def record_failure(self, url: str, outcome: str, error: str, **fields: Any) -> None:
        self._send("record_failure", url, outcome, error, {"at": utcnow(), **fields})

    def note(self, key: str, outcome: str, error: str) -> None:
        self._send("note", key, outcome, error)

    def store_text(self, digest: str, extractor: str, text: str) -> None:
        self._send("store_text", digest, extractor, text)

    def source_ids(self, urls: list[str]) -> dict[str, int]:
        """Source ids of ``urls``, creating the Sources that are new (committed here)."""
        from archive import index

        with self._sessions_here()() as session:
            try:
                found = index.source_ids(session, urls, utcnow())
                session.commit()
            except SQLAlchemyError as exc:
                raise DatabaseError(f"cannot save sources to the database: {db_reason(exc)}") from exc
        return found

    def prefetch(self, urls: list[str], fresh_since: datetime | None = None) -> set[str]:
        """Ask the archiver to load what it needs to dedup ``urls``; return those of ``urls``
        captured successfully since ``fresh_since`` (read here, from committed rows)."""
        self._send("prefetch", urls)
        if fresh_since is None or not urls:
            return set()
        from archive import index

        by_surt = {index.surt_key(u): u for u in urls}
        surts = list(by_surt)
        with self._sessions_here()() as session:
            fresh = set()
            for start in range(0, len(surts), 500):
                fresh |= index.fresh_surts(session, surts[start : start + 500], fresh_since)
        return {by_surt[s] for s in fresh}

    def _sessions_here(self) -> Any:
        if self._sessions is None:
            from archive.db import connect

            self._sessions = connect(self.database_url)
        return self._sessions

    def commit(self) -> None:
        self._send("commit")

    def maybe_commit(self) -> None:
        """The archiver commits on its own timer."""

    def settle(self, keys: list[str]) -> tuple[dict[str, int], dict[str, str]]:
        """Row ids of the captures ``keys``, and the keys whose capture could not be saved, with why.

        Waits until the archiver has written everything sent before.
        """
        ids, failed = self._call("settle", list(keys))
        return dict(ids), dict(failed)

    def close(self) -> None:
        """Let the archiver commit and close its WARC file, and wait for it to exit."""
        if self._closed:
            return
        try:
            self._call("close")
        finally:
            self._closed = True
            self._down.close()
            self._up.close()
            self._proc.wait()
            if self._sessions is not None:
                self._sessions.kw["bind"].dispose()


def start_archiver(settings: Any) -> Any:
    """An archiver process for a capture crawl (``archiver_process``), or None.

    Start it as early as possible (the database must be migrated already): its
    start-up then overlaps this process's.
    """
    if not settings.archiver_process:
        return None
    return ArchiverProcess(
        settings.warc_dir,
        settings.effective_database_url,
        prefix=settings.warc_prefix,
        max_size=settings.warc_max_size,
    )


# -- the child's side ---------------------------------------------------------
def _record(recorder: Any, ex: Exchange, key: str, digest: str) -> None:
    recorder.record(ex, record_id=key, digest=digest)


def _record_resource(recorder: Any, url: str, content_type: str, data: bytes, fields: dict[str, Any]) -> None:
    recorder.record_resource(url, content_type, data, **fields)


def _record_failure(recorder: Any, url: str, outcome: str, error: str, fields: dict[str, Any]) -> None:
    recorder.record_failure(url, outcome, error, **fields)


_HANDLERS: dict[str, Callable[..., Any]] = {
    "record": _record,
    "record_resource": _record_resource,
    "record_failure": _record_failure,
    "note": lambda r, key, outcome, error: r.note(key, outcome, error),
    "store_text": lambda r, digest, extractor, text: r.store_text(digest, extractor, text),
    "prefetch": lambda r, urls: r.prefetch(urls),
    "commit": lambda r: r.commit(),
    "close": lambda r: r.close(),
}


class _Archiver:
    """Handles the messages of one crawl, in order, with one recorder."""

    def __init__(self, recorder: Any, answers: Connection):
        self.recorder = recorder
        self.answers = answers
        self.failed: dict[str, str] = {}

    def handle(self, message: tuple[Any, ...]) -> bool:
        """Handle one message; False once the crawl said close."""
        op, args = message[0], message[1:]
        if op == "settle":
            ids, _ = self.recorder.settle(args[0])
            self.answers.send(("ok", (ids, {k: v for k, v in self.failed.items() if k in set(args[0])})))
            return True
        try:
            result = _HANDLERS[op](self.recorder, *args)
        except CitewatchError as exc:
            self._failed(op, args, exc)
            return op != "close"
        if op in _ANSWERED:
            self.answers.send(("ok", result))
        self.recorder.maybe_commit()
        return op != "close"

    def _failed(self, op: str, args: tuple[Any, ...], exc: CitewatchError) -> None:
        if op in _ANSWERED:
            self.answers.send(("error", type(exc).__name__, str(exc)))
            return
        if not self.failed:
            logger.error("archiver: %s", exc)
        key = args[1] if op == "record" else args[-1].get("record_id") if op == "record_resource" else None
        self.failed[str(key or f"{op}:{len(self.failed)}")] = str(exc)


def serve(commands: Connection, answers: Connection, recorder: Any) -> None:
    """Handle messages until the crawl says close or its end of the pipe closes."""
    archiver = _Archiver(recorder, answers)
    while True:
        if not commands.poll(recorder.commit_interval):
            recorder.maybe_commit()
            continue
        try:
            message = commands.recv()
        except (EOFError, OSError):
            break
        if not archiver.handle(message):
            return
    recorder.close()  # the crawl ended without closing: keep what it sent


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the crawl stops first; its pipe closing stops us
    logging.basicConfig(level=logging.WARNING, format="citewatch: %(message)s")
    read_fd, write_fd, raw = int(argv[0]), int(argv[1]), json.loads(argv[2])
    from archive.db import connect
    from archive.recorder import CaptureRecorder

    commands = Connection(read_fd, writable=False)
    answers = Connection(write_fd, readable=False)
    try:
        recorder = CaptureRecorder(
            Path(raw["warc_dir"]),
            connect(raw["database_url"]),
            prefix=raw["prefix"],
            max_size=raw["max_size"],
            commit_interval=raw["commit_interval"],
        )
        serve(commands, answers, recorder)
    except CitewatchError as exc:
        logger.error("archiver: %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
