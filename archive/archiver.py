"""The archiver: a child process that writes WARC records and index rows for a crawl.

A crawl's own process is busy with Scrapy's work on one CPU core. Building
WARC records, compressing them and inserting Snapshot rows costs about as
much again per response, so a capture crawl hands that work to this process,
which runs a :class:`archive.recorder.CaptureRecorder` on another core.

:class:`ArchiverProcess` is the crawl's side. It has the recorder's methods;
most of them send a message and return at once, so the crawl refers to a
capture by its record id (the WARC-Record-ID's uuid, chosen here) rather than
by its row number, which :meth:`ArchiverProcess.settle` looks up at the end.
Messages go down one pipe and are handled in order; the calls that need an
answer get it on a second pipe, in the same order, and the crawl reads it when
it needs it, so it sends :meth:`ArchiverProcess.prepare` (migrate the
database, repair what a crash left, record rejected URLs) first and goes on
starting up while the archiver does that. A full pipe makes the crawl wait for
the archiver: back-pressure, not an unbounded queue. The crawl's process never
touches the database itself, nor imports SQLAlchemy: the archiver does all of
that, on its core.

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

from archive.errors import CitewatchError, DatabaseError, WarcError
from archive.exchange import Exchange, SnapshotRef
from archive.warc import IdFactory, payload_digest, utcnow

logger = logging.getLogger(__name__)

# Calls that are answered; every other message is one-way.
_ANSWERED = {"prepare", "source_ids", "fresh", "settle", "close"}
# The down pipe's buffer: room for the first few hundred records while the archiver starts.
_PIPE_BYTES = 1 << 20


class ArchiverProcess:
    """The crawl's handle on an archiver child process (see the module docstring)."""

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
        self.commit_interval = commit_interval
        self._make_id = make_id
        self._asked = 0  # answered calls sent so far
        self._read = 0  # answers read so far
        self._early: dict[int, tuple[Any, ...]] = {}  # answers read before they were wanted
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

    def _ask(self, *message: Any) -> int:
        """Send a call that is answered; returns its ticket for :meth:`_answer`."""
        self._send(*message)
        self._asked += 1
        return self._asked

    def _answer(self, ticket: int) -> Any:
        """The answer to the call ``ticket``, waiting for it (answers come in order)."""
        while ticket not in self._early:
            try:
                self._early[self._read + 1] = self._up.recv()
            except (EOFError, OSError) as exc:
                raise self._stopped() from exc
            self._read += 1
        status, *answer = self._early.pop(ticket)
        if status == "ok":
            return answer[0]
        kind, text = answer
        raise (DatabaseError if kind == "DatabaseError" else WarcError)(text)

    def _call(self, *message: Any) -> Any:
        return self._answer(self._ask(*message))

    def _stopped(self) -> WarcError:
        return WarcError(f"the archiver process stopped ({self._exit_status()}): captures cannot be saved")

    def _exit_status(self) -> str:
        try:
            code = self._proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
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

    def prepare(self, rejected: list[tuple[str, str]]) -> int:
        """Have the archiver bring the database to the newest migration, repair what a crash
        left (:func:`archive.reconcile.reconcile`) and record ``rejected`` (URL, why) as
        ``bad-url`` attempts. Returns a ticket for :meth:`prepared`; send this first."""
        return self._ask("prepare", rejected)

    def prepared(self, ticket: int) -> dict[str, int]:
        """What :meth:`prepare` did: ``files_recovered`` and ``rows_added``."""
        return dict(self._answer(ticket))

    def source_ids(self, urls: list[str]) -> dict[str, int]:
        """Source ids of ``urls``, creating the Sources that are new."""
        return dict(self._call("source_ids", urls))

    def prefetch(self, urls: list[str], fresh_since: datetime | None = None) -> set[str]:
        """Have the archiver load what it needs to dedup ``urls``; with ``fresh_since``, wait
        for those of ``urls`` captured successfully since then."""
        return self.prefetch_later(urls, fresh_since)()

    def prefetch_later(self, urls: list[str], fresh_since: datetime | None = None) -> Callable[[], set[str]]:
        """:meth:`prefetch`, sent now; the function returned gives its answer (waiting for it)."""
        if fresh_since is None or not urls:
            self._send("prefetch", urls)
            return set
        ticket = self._ask("fresh", urls, fresh_since)
        return lambda: set(self._answer(ticket))

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


def _prepare(recorder: Any, rejected: list[tuple[str, str]]) -> dict[str, int]:
    from archive.reconcile import reconcile

    report = reconcile(recorder.sessions, recorder.store.directory)
    for url, message in rejected:
        recorder.record_failure(url, "bad-url", message)
    recorder.commit()
    return {"files_recovered": len(report.files_recovered), "rows_added": report.rows_added}


def _source_ids(recorder: Any, urls: list[str]) -> dict[str, int]:
    found = recorder.source_ids(urls)
    recorder.commit()  # the crawl may be about to write through another connection
    return found


_HANDLERS: dict[str, Callable[..., Any]] = {
    "prepare": _prepare,
    "source_ids": _source_ids,
    "fresh": lambda r, urls, since: r.prefetch(urls, fresh_since=since),
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
        try:
            if isinstance(self.recorder, _Unavailable):
                raise self.recorder.error
            if op == "settle":
                ids, _ = self.recorder.settle(args[0])
                result: Any = (ids, {k: v for k, v in self.failed.items() if k in set(args[0])})
            else:
                result = _HANDLERS[op](self.recorder, *args)
        except CitewatchError as exc:
            self._failed(op, args, exc)
            return op != "close"
        except Exception as exc:  # a bug here must not lose the rest of the crawl's captures
            logger.exception("archiver: unexpected error handling %s", op)
            self._failed(op, args, WarcError(f"{type(exc).__name__}: {exc}"))
            return op != "close"
        if op in _ANSWERED:
            self.answers.send(("ok", result))
        self.recorder.maybe_commit()
        return op != "close"

    def _failed(self, op: str, args: tuple[Any, ...], exc: CitewatchError) -> None:
        if op in _ANSWERED:
            self.answers.send(("error", type(exc).__name__, str(exc)))
            return
        if not self.failed and not isinstance(self.recorder, _Unavailable):  # that, the crawl reports
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
    commands = Connection(read_fd, writable=False)
    answers = Connection(write_fd, readable=False)
    try:
        recorder: Any = _recorder(raw)
    except CitewatchError as exc:  # every call will say so: the crawl reports it
        recorder = _Unavailable(exc, raw["commit_interval"])
    try:
        serve(commands, answers, recorder)
    except CitewatchError as exc:
        logger.error("archiver: %s", exc)
        return 1
    return 0


def _recorder(raw: dict[str, Any]) -> Any:
    from archive.db import migrated
    from archive.recorder import CaptureRecorder

    return CaptureRecorder(
        Path(raw["warc_dir"]),
        migrated(raw["database_url"]),
        prefix=raw["prefix"],
        max_size=raw["max_size"],
        commit_interval=raw["commit_interval"],
    )


class _Unavailable:
    """Stands in for a recorder that could not be made: every message fails with why."""

    def __init__(self, error: CitewatchError, commit_interval: float):
        self.error = error
        self.commit_interval = commit_interval

    def maybe_commit(self) -> None:
        pass

    def close(self) -> None:
        pass


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
