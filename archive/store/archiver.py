"""The archiver: a child process that writes WARC records and index rows for a crawl.

A crawl's own process is busy with Scrapy's work on one CPU core. Building
WARC records, compressing them and inserting Snapshot rows costs about as
much again per response, so a capture crawl hands that work to this process,
which runs a :class:`archive.store.recorder.CaptureRecorder` on another core.

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
It ignores Ctrl-C and SIGTERM, which reach the whole process group: the crawl
stops gracefully and the archiver finishes after it. If the archiver dies, the
crawl's next message fails with :class:`archive.errors.WarcError`, and the
``.open`` file it leaves is repaired by :func:`archive.store.reconcile.reconcile`.

The pipeline (:mod:`archive.pipeline`) runs beside both: when the crawl asks
(:meth:`ArchiverProcess.start_pipeline`), it starts the analyst, a third
process at a lower CPU priority; the archiver feeds it each batch of finished
captures once their rows are committed, and the analyst answers the crawl on a
pipe of its own. Recording never waits for an analysis.

:class:`ArchiverProcess` starts them (``_LAUNCHER`` and ``_ANALYST``, with their
pipe ends as arguments; their settings come as the first message), never a
person.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import queue
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archive import errors
from archive.clock import utcnow
from archive.errors import CitewatchError, DatabaseError, WarcError
from archive.store.exchange import Checked, Exchange, PipelineMode, SeedResult, SnapshotRef
from archive.store.warc import IdFactory, payload_digest

if TYPE_CHECKING:
    from archive.settings import Settings
    from archive.store.recorder import CaptureRecorder

logger = logging.getLogger(__name__)

# Calls that are answered; every other message is one-way ("tick" is the archiver's own).
_ANSWERED = {"prepare", "source_ids", "fresh", "settle", "close"}
# The pipeline's messages, handled whether or not the recorder works (see _Archiver.checks).
_PIPELINE_OPS = {"pipeline", "check", "checks_now"}
# Finished captures wait this long (seconds) to be analysed together, unless the crawl asks sooner.
_CHECK_BATCH_WAIT = 0.2
# How often an idle archiver holding uncommitted rows looks for a writer waiting for its turn.
_TURN_POLL = 0.05
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
        self._prepare_ticket = 0
        self._broken: CitewatchError | None = None  # the archiver said it can write no more
        self._asked = 0  # answered calls sent so far
        self._read = 0  # answers read so far
        self._early: dict[int, tuple[Any, ...]] = {}  # answers read before they were wanted
        self._checked: list[Checked] = []  # what the pipeline sent back, not yet collected
        self._analyst: subprocess.Popen[bytes] | None = None  # the pipeline's process, once started
        self._back: Connection | None = None  # what the analyst sends the crawl
        self._sent = self._returned = 0  # results sent into the pipeline, and come back
        self._database_url, self._warc_dir = database_url, str(warc_dir)
        config = {
            "warc_dir": str(warc_dir),
            "database_url": database_url,
            "prefix": prefix,
            "max_size": max_size,
            "commit_interval": commit_interval,
        }
        down_r, down_w = os.pipe()
        up_r, up_w = os.pipe()
        # The archiver's feed of committed captures to the analyst (the pipeline's process).
        self._feed_r, feed_w = os.pipe()
        for fd in (down_w, up_w, feed_w):
            with contextlib.suppress(OSError):  # a larger buffer is an optimisation, not a need
                fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
        # -P: the working directory must not shadow the installed package.
        self._proc = subprocess.Popen(
            [sys.executable, "-P", "-c", _LAUNCHER, str(down_r), str(up_w), str(feed_w)],
            pass_fds=(down_r, up_w, feed_w),
            stdin=subprocess.DEVNULL,
        )
        os.close(down_r)
        os.close(up_w)
        os.close(feed_w)
        self._down = Connection(down_w, readable=False)
        self._up = Connection(up_r, writable=False)
        self._closed = False
        self._send("config", config)  # through the pipe: a database password stays out of ps

    # -- messages -----------------------------------------------------------
    def _send(self, *message: Any) -> None:
        if self._closed:
            raise WarcError("the archiver was closed; nothing more can be recorded in this crawl")
        self._drain()
        if self._broken is not None and message[0] not in ("settle", "close"):
            raise self._broken  # settle and close still tell what was saved before
        try:
            self._down.send(message)
        except (OSError, ValueError) as exc:
            raise self._stopped() from exc

    def _drain(self) -> None:
        """Read the answers already waiting, so that the archiver never waits to send one."""
        try:
            while self._up.poll(0):
                self._take(self._up.recv())
        except (EOFError, OSError):
            pass  # the next send or answer reports it

    def _take(self, message: tuple[Any, ...]) -> None:
        """File a message from the archiver: an answer, or news that it can write no more."""
        if message[0] == "checked":  # what the archiver could not hand to the pipeline, and why
            self._file_checked(message[1:])
            return
        if message[0] == "broken":
            try:
                _unpack(("error", *message[1:]))
            except CitewatchError as exc:
                self._broken = exc
            return
        self._early[self._read + 1] = message
        self._read += 1

    def _ask(self, *message: Any) -> int:
        """Send a call that is answered; returns its ticket for :meth:`_answer`."""
        self._send(*message)
        self._asked += 1
        return self._asked

    def _answer(self, ticket: int) -> Any:
        """The answer to the call ``ticket``, waiting for it (answers come in order)."""
        while ticket not in self._early:
            try:
                self._take(self._up.recv())
            except (EOFError, OSError) as exc:
                raise self._stopped() from exc
        if self._prepare_ticket and self._prepare_ticket != ticket:
            self._check_prepared()
        return _unpack(self._early.pop(ticket))

    def _check_prepared(self) -> None:
        """A failed set-up fails every later call: nothing may be fetched without it."""
        answer = self._early.get(self._prepare_ticket)
        if answer is not None and answer[0] != "ok":
            _unpack(answer)

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

    def prepare(self, rejected: list[tuple[str, str]]) -> int:
        """Have the archiver bring the database to the newest migration, repair what a crash
        left (:func:`archive.store.reconcile.reconcile`) and record ``rejected`` (URL, why) as
        ``bad-url`` attempts. Returns a ticket for :meth:`prepared`; send this first."""
        self._prepare_ticket = self._ask("prepare", rejected)
        return self._prepare_ticket

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
        """Row ids of the captures ``keys``, and every capture (of ``keys`` or not: requisites,
        failure rows) that could not be saved, with why.

        Waits until the archiver has written everything sent before.
        """
        ids, failed = self._call("settle", list(keys))
        return dict(ids), dict(failed)

    # -- the pipeline (archive/pipeline.py), run in the archiver ----------------
    def start_pipeline(self, policy: object, mode: PipelineMode) -> None:
        """Take every finished capture through the pipeline, in a process of its own (the
        analyst, at a lower CPU priority than the crawl and the archiver), which the archiver
        feeds once each capture's rows are committed. Once per crawl. ``policy`` is the
        scheduling policy, handed to the analyst as it is (the store knows nothing of it)."""
        if self._analyst is not None:
            return
        back_r, back_w = os.pipe()
        self._analyst = subprocess.Popen(
            [sys.executable, "-P", "-c", _ANALYST, str(self._feed_r), str(back_w)],
            pass_fds=(self._feed_r, back_w),
            stdin=subprocess.DEVNULL,
        )
        os.close(self._feed_r)
        os.close(back_w)
        self._back = Connection(back_r, writable=False)
        config = {"database_url": self._database_url, "warc_dir": self._warc_dir}
        self._send("pipeline", config, policy, mode)

    def check(self, results: list[SeedResult], final: bool = False) -> None:
        """Captures finished (sent after their records): analyse them, record their checks."""
        self._send("check", results, final)
        self._sent += len(results)

    def check_soon(self) -> None:
        """Take the captures waiting now, without waiting to batch more."""
        self._send("checks_now")

    def checked(self) -> list[Checked]:
        """What the pipeline has sent back since the last call: (results, URLs to capture again
        in the browser with why, an error that stopped it or None)."""
        self._drain()
        with contextlib.suppress(EOFError, OSError):  # an analyst gone: finish_checks says so
            while self._back is not None and self._back.poll(0):
                self._file_checked(self._back.recv()[1:])
        found, self._checked = self._checked, []
        return found

    def _file_checked(self, found: Checked) -> None:
        self._checked.append(found)
        self._returned += len(found[0])

    def finish_checks(self) -> list[Checked]:
        """Wait until every capture sent has come back from the pipeline; what it sent back.
        Captures the pipeline cannot answer for (its process died) come back with no analysis."""
        self._send("checks_now")
        while self._back is not None and self._returned < self._sent:
            try:
                if self._up.poll(0):
                    self._drain()
                elif self._back.poll(0.05):
                    self._file_checked(self._back.recv()[1:])
            except (EOFError, OSError):
                logger.warning(
                    "the analysis process stopped: %d captures were not analysed", self._sent - self._returned
                )
                self._back = None
        return self.checked()

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
            if self._analyst is None:
                os.close(self._feed_r)
            else:  # it ends once it has taken the last captures the archiver fed it
                if self._back is not None:
                    self._back.close()
                self._analyst.wait()


def _unpack(answer: tuple[Any, ...]) -> Any:
    status, *rest = answer
    if status == "ok":
        return rest[0]
    kind, text = rest
    error = getattr(errors, kind, None)
    if not (isinstance(error, type) and issubclass(error, CitewatchError)):
        error = WarcError
    raise error(text)


# Ignores Ctrl-C and SIGTERM before anything else: both reach the whole process group (or
# cgroup), and the archiver must outlive the crawl's graceful stop; the pipe's end stops it.
_LAUNCHER = (
    "import signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); "
    "signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "from archive.store.archiver import main; sys.exit(main(sys.argv[1:]))"
)
# The analyst (archive/pipeline.py's main) ignores them too: it ends when the archiver's feed does.
_ANALYST = _LAUNCHER.replace("archive.store.archiver", "archive.pipeline")


def start_archiver(settings: Settings) -> ArchiverProcess | None:
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
def _record(recorder: CaptureRecorder, ex: Exchange, key: str, digest: str) -> None:
    recorder.record(ex, record_id=key, digest=digest)


def _record_resource(
    recorder: CaptureRecorder, url: str, content_type: str, data: bytes, fields: dict[str, Any]
) -> None:
    recorder.record_resource(url, content_type, data, **fields)


def _record_failure(
    recorder: CaptureRecorder, url: str, outcome: str, error: str, fields: dict[str, Any]
) -> None:
    recorder.record_failure(url, outcome, error, **fields)


def _prepare(recorder: CaptureRecorder, rejected: list[tuple[str, str]]) -> dict[str, int]:
    from archive.store.reconcile import reconcile

    report = reconcile(recorder.sessions, recorder.store.directory)
    for url, message in rejected:
        recorder.record_failure(url, "bad-url", message)
    recorder.commit()
    return {"files_recovered": len(report.files_recovered), "rows_added": report.rows_added}


def _source_ids(recorder: CaptureRecorder, urls: list[str]) -> dict[str, int]:
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
    "prefetch": lambda r, urls: r.prefetch(urls),
    "commit": lambda r: r.commit(),
    "close": lambda r: r.close(),
    "tick": lambda r: None,
}


def _translated(exc: Exception, op: str) -> CitewatchError:
    """Errors from the database driver as DatabaseError; anything else unexpected (a bug) as
    WarcError, with its traceback logged: it must not lose what was sent after it."""
    if isinstance(exc, CitewatchError):
        return exc
    if type(exc).__module__.startswith("sqlalchemy"):
        from archive.db import reason

        return DatabaseError(f"the database failed while saving captures: {reason(exc)}")
    if isinstance(exc, OSError):
        return WarcError(f"cannot write the archive: {exc.strerror or exc}")
    logger.exception("archiver: unexpected error handling %s", op)
    return WarcError(f"{type(exc).__name__}: {exc}")


class _Answers:
    """Sends answers from a thread, so the archiver never stops reading while the crawl is busy
    sending: with both pipes full and both sides writing, neither would read again."""

    def __init__(self, conn: Connection):
        self.conn = conn
        self.queue: queue.Queue[tuple[Any, ...] | None] = queue.Queue()
        self.thread = threading.Thread(target=self._run, name="archiver-answers", daemon=True)
        self.thread.start()

    def send(self, answer: tuple[Any, ...]) -> None:
        self.queue.put(answer)

    def _run(self) -> None:
        while (answer := self.queue.get()) is not None:
            try:
                self.conn.send(answer)
            except OSError:  # the crawl is gone: its answers are moot, its records are not
                return

    def finish(self) -> None:
        self.queue.put(None)
        self.thread.join(timeout=30)


class _Archiver:
    """Handles the messages of one crawl, in order, with one recorder.

    Any error while writing is final for this crawl: the rows of the open batch
    may be rolled back while their records are in the file, so the file is left
    ``.open`` for reconcile to index at the next start, every capture not yet
    committed is reported as not saved, and every later message fails with the
    same error.
    """

    def __init__(
        self, recorder: CaptureRecorder | _Unavailable, answers: _Answers, feed: _Answers | None = None
    ):
        self.recorder = recorder
        self.answers = answers
        self.failed: dict[str, str] = {}
        self.saved: dict[str, int] = {}  # committed row ids known when the recorder broke
        self.pipeline = feed  # to the analyst process, when the crawl starts one
        self._piped = False  # the crawl started one
        self.unchecked: list[tuple[SeedResult, bool]] = []  # finished captures, with `final`
        self._oldest = 0.0  # when the oldest of them came

    def handle(self, message: tuple[Any, ...]) -> bool:
        """Handle one message; False once the crawl said close."""
        op: str = message[0]
        args = message[1:]
        if op in _PIPELINE_OPS:
            self._pipeline_op(op, args)
            return True
        if op == "close":  # what the crawl finished goes to the analyst before the file closes
            self.checks()
            self.close_feed()
        if op == "close" and isinstance(self.recorder, _Unavailable):
            self.answers.send(("ok", None))  # what failed was reported with each answer and in settle
            return False
        try:
            result = self._dispatch(op, args)
        except Exception as exc:
            exc = _translated(exc, op)
            self._broken(exc)
            if op == "settle":
                self.answers.send(("ok", self._dispatch(op, args)))
            elif op != "tick":
                self._failed(op, args, exc)
            return op != "close"
        if op in _ANSWERED:
            self.answers.send(("ok", result))
        return op != "close"

    def _dispatch(self, op: str, args: tuple[Any, ...]) -> Any:
        if isinstance(self.recorder, _Unavailable):
            if op == "tick":
                return None
            if op == "settle":
                wanted = set(args[0]) - set(self.failed)
                return {k: v for k, v in self.saved.items() if k in wanted}, dict(self.failed)
            raise self.recorder.error
        if op == "settle":
            ids, _ = self.recorder.settle(args[0])  # commits first
            return ids, dict(self.failed)  # all of them: the crawl counts those it cannot name
        result = _HANDLERS[op](self.recorder, *args)
        self.tick()
        return result

    def tick(self) -> None:
        """Commit when due."""
        if not isinstance(self.recorder, _Unavailable):
            self.recorder.maybe_commit()

    # -- the pipeline ----------------------------------------------------------
    def _pipeline_op(self, op: str, args: tuple[Any, ...]) -> None:
        if op == "pipeline":
            self._start_pipeline(*args)
        elif op == "check":
            results, final = args
            if not self.unchecked:
                self._oldest = time.monotonic()
            self.unchecked.extend((r, final) for r in results)
        else:  # "checks_now"
            self.checks()

    def _start_pipeline(self, config: dict[str, Any], policy: object, mode: PipelineMode) -> None:
        if self.pipeline is None or self._piped or isinstance(self.recorder, _Unavailable):
            return  # (a broken recorder: checks() answers each capture with why)
        self._piped = True
        self.pipeline.send(("config", config, policy, mode))

    def checks_due_in(self) -> float | None:
        """Seconds until the waiting captures are due through the pipeline (None: none wait)."""
        if not self.unchecked:
            return None
        return max(0.0, self._oldest + _CHECK_BATCH_WAIT - time.monotonic())

    def checks(self) -> None:
        """Hand the waiting captures to the pipeline's thread, their rows committed first; with
        no pipeline (or a broken recorder), answer them at once, saying why."""
        batch, self.unchecked = self.unchecked, []
        if not batch:
            return
        error = str(self.recorder.error) if isinstance(self.recorder, _Unavailable) else None
        if not self._piped:
            error = error or "no pipeline was started for this crawl"
        if error is None:
            try:
                self.recorder.commit()  # type: ignore[union-attr]  # not _Unavailable: checked above
            except Exception as exc:
                error = str(_translated(exc, "commit"))
                self._broken(_translated(exc, "commit"))
        if error is None and self.pipeline is not None:
            self.pipeline.send(("batch", batch))
            return
        for final in (False, True):
            results = [r for r, f in batch if f is final]
            if results:
                self.answers.send(("checked", results, {}, error))

    def close_feed(self) -> None:
        """No more captures for the analyst: it ends after the last batch."""
        if self.pipeline is not None:
            self.pipeline.finish()
            self.pipeline = None

    def _broken(self, exc: CitewatchError) -> None:
        recorder = self.recorder
        if isinstance(recorder, _Unavailable):
            return
        self.recorder = _Unavailable(exc, recorder.commit_interval)
        logger.error("archiver: %s", exc)
        lost = recorder.uncommitted()
        lost_set = set(lost)
        self.saved = {k: v for k, v in recorder.row_ids().items() if k not in lost_set}
        for key in lost:
            self.failed[key] = str(exc)
        for n in range(max(0, recorder.pending - len(lost))):  # failure rows, notes: no key
            self.failed[f"unnamed:{n}"] = str(exc)
        try:
            recorder.abandon()
        except Exception:  # the file is left .open either way; reconcile repairs it
            logger.warning("archiver: could not release the database cleanly", exc_info=True)
        self.answers.send(("broken", type(exc).__name__, str(exc)))  # the crawl stops on it

    def _failed(self, op: str, args: tuple[Any, ...], exc: CitewatchError) -> None:
        if op in _ANSWERED:
            self.answers.send(("error", type(exc).__name__, str(exc)))
            return
        key = args[1] if op == "record" else args[-1].get("record_id") if op == "record_resource" else None
        self.failed[str(key or f"{op}:{len(self.failed)}")] = str(exc)


def serve(
    commands: Connection,
    answers: _Answers,
    recorder: CaptureRecorder | _Unavailable,
    feed: _Answers | None = None,
) -> None:
    """Handle messages until the crawl says close or its end of the pipe closes."""
    archiver = _Archiver(recorder, answers, feed)
    while True:
        due = archiver.checks_due_in()
        if due is not None and due <= 0:
            archiver.checks()
            continue
        wait = (
            archiver.recorder.commit_interval if due is None else min(due, archiver.recorder.commit_interval)
        )
        if archiver.recorder.pending:  # a writer waiting for its turn is let in soon (tick commits)
            wait = min(wait, _TURN_POLL)
        if not commands.poll(wait):
            archiver.handle(("tick",))
            continue
        try:
            message = commands.recv()
        except (EOFError, OSError):
            break
        if not archiver.handle(message):
            return
    archiver.handle(("close",))  # the crawl ended without closing: keep what it sent (and check it)


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.WARNING, format="citewatch: %(message)s")
    commands = Connection(int(argv[0]), writable=False)
    answers = _Answers(Connection(int(argv[1]), readable=False))
    feed = _Answers(Connection(int(argv[2]), readable=False)) if len(argv) > 2 else None
    try:
        _op, raw = commands.recv()  # ("config", {...}), always first
    except (EOFError, OSError):
        return 0
    try:
        recorder: CaptureRecorder | _Unavailable = _recorder(raw)
    except Exception as exc:  # every call will say so, and the crawl reports it: one line
        if not isinstance(exc, CitewatchError):
            exc = WarcError(f"the archiver cannot start: {type(exc).__name__}: {exc}")
        recorder = _Unavailable(exc, raw["commit_interval"])
    try:
        serve(commands, answers, recorder, feed)
    finally:
        answers.finish()
        if feed is not None:
            feed.finish()
    return 0


def _recorder(raw: dict[str, Any]) -> CaptureRecorder:
    from archive.db import migrated
    from archive.store.recorder import CaptureRecorder

    return CaptureRecorder(
        Path(raw["warc_dir"]),
        migrated(raw["database_url"]),
        prefix=raw["prefix"],
        max_size=raw["max_size"],
        commit_interval=raw["commit_interval"],
    )


class _Unavailable:
    """Stands in for a recorder that could not be made, or broke: every message fails with why."""

    pending = 0  # rows written since the last commit: none

    def __init__(self, error: CitewatchError, commit_interval: float):
        self.error = error
        self.commit_interval = commit_interval
