"""The daemon: decides when, and wires the parts that do the work.

``citewatch daemon`` runs APScheduler jobs in one process: dispatch hands
the sources due now (by :mod:`archive.schedule.policy`, recorded by
:mod:`archive.schedule.checks`) to crawl workers, each a process of its own running
one long crawl (``citewatch worker``: :func:`crawler.run.run_watch`). A
worker's feed (:class:`Worker`) runs each finished capture through
:class:`archive.pipeline.Pipeline`, the same steps ``citewatch capture`` and
``citewatch add`` take: record, extract, classify, record the change, record
the check and schedule the next. Around them: the lock that keeps one daemon
per data folder and database, supervision of the workers (heartbeats,
restarts), the JSON log, metrics, and the web UI's thread.

The scheduling policy itself is :mod:`archive.schedule.policy` (re-exported here).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import queue as stdqueue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast

from sqlalchemy import CursorResult, func, select

from archive.clock import Clock, utcnow
from archive.durations import DEFAULT_LADDER, Ladder, parse_duration
from archive.errors import CitewatchError
from archive.models import Source
from archive.schedule import queue
from archive.schedule.checks import Check, after_checks, history_of, record_results, track
from archive.schedule.policy import History, Policy, due_order, interval, next_check, policy_from, rescheduled

if TYPE_CHECKING:
    from archive.settings import Settings

__all__ = [
    "DEFAULT_LADDER",
    "Check",
    "History",
    "Ladder",
    "Policy",
    "after_checks",
    "due_order",
    "history_of",
    "interval",
    "next_check",
    "parse_duration",
    "policy_from",
    "record_results",
    "rescheduled",
    "track",
]


_HEARTBEAT = 10.0  # seconds between a worker's signs of life
_HUNG_AFTER = 120.0  # a worker silent this long is killed and restarted
_STUCK_AFTER = 900.0  # ...and so is one whose crawl has not ticked for this long


# -- the daemon's workers ----------------------------------------------------------------
#
# A worker is `citewatch worker`: one process, one long-running crawl (crawler/run.py's
# run_watch), fed by the daemon. The daemon writes JSON lines to its stdin ({"check":
# [[source id, url], ...]}, {"probe": [url, ...]}); end of input asks it to stop. It writes
# JSON events to a pipe the daemon reads: one per finished check, log lines of WARNING and
# above, and what it gave back when it stopped.


class _EventLog(logging.Handler):
    def __init__(self, emit: Any):
        super().__init__(logging.WARNING)
        self._emit_event = emit

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not kill the worker
            message = str(record.msg)
        self._emit_event({"event": "log", "level": record.levelno, "logger": record.name, "message": message})


class Worker:
    """The feed of a worker's crawl (crawler.spiders.watch.Feed): takes the checks the daemon
    sends, analyses each capture as soon as it is committed, records the check and schedules
    the next (dropping the lease), and reports each to the daemon."""

    def __init__(self, settings: Settings, name: str, commands: IO[str], events: IO[str]):
        from archive.db import connect
        from archive.pipeline import Pipeline
        from archive.store.exchange import PipelineMode

        self.settings = settings
        self.name = name
        self.sessions = connect(settings.effective_database_url)
        self.lease = timedelta(seconds=settings.lease_time)
        mode = PipelineMode(browser_retry=bool(settings.auto_browser), worker=name, skip=frozenset())
        self.pipeline = Pipeline.from_settings(self.sessions, settings, mode)
        self._events = events
        self._events_lock = threading.Lock()
        self._inbox: stdqueue.Queue[dict[str, Any]] = stdqueue.Queue()
        self._closed = threading.Event()
        self._sources: dict[str, int] = {}  # URL -> source id of the checks in hand
        self._probes: list[str] = []
        self._renewed = self._ticked = time.monotonic()
        self._gone = threading.Event()  # set when the worker ends
        threading.Thread(target=self._read, args=(commands,), name="commands", daemon=True).start()
        threading.Thread(target=self._beat, name="heartbeat", daemon=True).start()
        # Log lines go to the daemon, which writes them to its log; stderr is left for crashes.
        root = logging.getLogger()
        for handler in list(root.handlers):
            root.removeHandler(handler)
        root.addHandler(_EventLog(self.emit))

    def emit(self, event: dict[str, Any]) -> None:
        line = json.dumps(event, default=str) + "\n"
        with self._events_lock:
            try:
                self._events.write(line)
                self._events.flush()
            except (BrokenPipeError, ValueError):  # the daemon is gone: stop
                self._closed.set()

    def _read(self, commands: IO[str]) -> None:
        for line in commands:
            try:
                self._inbox.put(json.loads(line))
            except ValueError:
                logging.getLogger(__name__).warning("not a command: %.80r", line)
        self._closed.set()  # end of input: the daemon asks this worker to stop (or died)

    # -- Feed -----------------------------------------------------------------------------
    def take(self) -> list[str]:
        urls: list[str] = []
        while True:
            try:
                message = self._inbox.get_nowait()
            except stdqueue.Empty:
                break
            for source_id, url in message.get("check", []):
                self._sources[url] = source_id
                urls.append(url)
            self._probes.extend(message.get("probe", []))
        if self._sources and time.monotonic() - self._renewed >= self.lease.total_seconds() / 3:
            with self.sessions() as session:
                queue.renew(session, self.name, utcnow(), self.lease, list(self._sources.values()))
            self._renewed = time.monotonic()
        self._ticked = time.monotonic()
        return urls

    def _beat(self) -> None:
        """Every few seconds, from a thread of its own: alive, and how long ago the crawl last
        ticked (a long analysis is no hang; a crawl stuck for many minutes is)."""
        while not self._gone.wait(_HEARTBEAT):
            self.emit({"event": "alive", "tick_age": round(time.monotonic() - self._ticked, 1)})

    def stop(self, *_args: Any) -> None:
        """Stop taking work; what is in flight finishes (SIGTERM, or the end of the input)."""
        self._closed.set()

    def probes(self) -> list[str]:
        found, self._probes = self._probes, []
        return found

    def stopping(self) -> bool:
        return self._closed.is_set()

    def done(self, results: list[Any]) -> list[str]:
        from archive.articles.storage import articles_citing
        from archive.changes.changelog import article_titles

        for r in results:
            r.source_id = self._sources.get(r.url, r.source_id)
        # Always analysed, whatever analyse_captures says: a worker's checks share one WARC file,
        # and only analysing check by check keeps them apart (archive.changes.analysis.attempts). Every
        # result is a check here, a URL that cannot be fetched too: its lease goes and its
        # failures back off, rather than the source coming back at once for ever.
        again = self.pipeline.run(results, final=self.stopping())
        with self.sessions() as session:
            for r in results:
                if r.url in again:
                    continue
                event = {
                    "event": "capture",
                    "url": r.url,
                    "source_id": self._sources.pop(r.url, None),
                    "outcome": r.outcome,
                    "status": r.status,
                    "via": r.via,
                    "seconds": round(r.seconds, 3),
                    "snapshot_id": r.snapshot_id,
                    "message": r.message,
                    "analysis": r.analysis,
                    "next_check_at": r.next_check_at,
                }
                if r.analysis is not None and r.analysis["changes"]:
                    event["articles"] = articles_citing(session, r.source_id)
                    # Notifications name those whose claims a change touches by title.
                    event["article_titles"] = article_titles(session, event["articles"])
                self.emit(event)
        return list(again)

    def unfinished(self, urls: list[str]) -> None:
        ids = [self._sources.pop(u) for u in urls if u in self._sources]
        with self.sessions() as session:
            count = queue.release(session, self.name, ids)
        self.emit({"event": "released", "count": count})


def run_worker(settings: Settings, name: str, events_fd: int) -> None:
    """The body of ``citewatch worker``: crawl what the daemon sends until it says stop."""
    from crawler.run import run_watch

    with os.fdopen(events_fd, "w", encoding="utf-8") as events:
        worker = Worker(settings, name, sys.stdin, events)
        # Ctrl-C reaches the whole process group: the daemon decides when its workers stop.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, worker.stop)
        try:
            run_watch(settings, worker, deadline=settings.lease_time * 0.9)
        finally:
            worker._gone.set()
            worker.sessions.kw["bind"].dispose()


# -- the daemon --------------------------------------------------------------------------


class JsonLines(logging.Formatter):
    """One JSON object per record: time, level, logger, message, and the record's extras."""

    _PLAIN = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        data.update({k: v for k, v in vars(record).items() if k not in self._PLAIN})
        if record.exc_info:
            data["traceback"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


def log_to_file(settings: Settings) -> Path:
    """Send INFO and above to ``HOME/logs/citewatch.log`` (JSON lines, rotated), and INFO lines
    of citewatch itself to stderr; returns the file's path."""
    from logging.handlers import RotatingFileHandler

    folder = settings.home_path / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "citewatch.log"
    handler = RotatingFileHandler(path, maxBytes=settings.log_max_size, backupCount=settings.log_backups)
    handler.setLevel(logging.INFO)
    handler.setFormatter(JsonLines())
    root = logging.getLogger()
    root.addHandler(handler)
    # A line per job run at INFO, and one per round skipped while dispatch is still busy.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    root.setLevel(min(root.level, logging.INFO))
    for existing in root.handlers:
        if existing is not handler and existing.level > logging.INFO:
            existing.setLevel(logging.INFO)
    return path


@dataclass
class _WorkerProcess:
    slot: int
    name: str
    proc: subprocess.Popen[str]
    started: float
    restarts: int = 0


class _Metrics:
    """The daemon's Prometheus metrics (prometheus-client), served on ``--metrics-port``; the
    database figures are counted when the metrics are read, not on every dispatch."""

    def __init__(self, address: str, port: int, sessions: Any, clock: Clock):
        from prometheus_client import Counter, Gauge, Histogram, start_http_server

        self.captures = Counter("citewatch_captures_total", "Checks finished, by outcome.", ["outcome"])
        self.changes = Counter("citewatch_changes_total", "Changes recorded, by kind.", ["kind"])
        self.seconds = Histogram(
            "citewatch_capture_seconds",
            "Time from taking a check to its result.",
            buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 120),
        )
        self.workers = Gauge("citewatch_workers_alive", "Crawl workers running.")
        self.restarts = Counter("citewatch_worker_restarts_total", "Workers restarted after they died.")

        def due() -> int:
            with sessions() as session:
                return session.scalar(select(func.count()).where(Source.next_check_at <= clock())) or 0

        def leases() -> int:
            with sessions() as session:
                return sum(queue.held(session, clock()).values())

        Gauge("citewatch_sources_due", "Sources due for a check now.").set_function(due)
        Gauge("citewatch_leases_held", "Checks claimed by workers and not finished.").set_function(leases)
        try:
            self.server, self.thread = start_http_server(port, addr=address)
        except OSError as exc:
            raise CitewatchError(f"cannot serve metrics on {address}:{port}: {exc.strerror or exc}") from None

    def close(self) -> None:
        self.server.shutdown()


_CURRENT: Daemon | None = None


def run_job(name: str) -> None:
    """What the job store names (by reference, so that it outlives restarts): the running
    daemon's periodic job ``name``."""
    if _CURRENT is not None:
        try:
            _CURRENT.jobs[name]()
        except Exception as exc:  # one line in the log; the job runs again at its next time
            _CURRENT.log.error("the %s job failed: %s: %s", name, exc.__class__.__name__, exc, exc_info=True)


REPLAY_RETRY = 30.0  # seconds between two attempts to start a pywb that keeps failing


class _WebUI:
    """``daemon --serve``: the web UI and JSON API (archive/web/app.py) under uvicorn, in a thread."""

    def __init__(self, settings: Settings, clock: Clock):
        from archive.web.app import server
        from crawler.jobs import job_runner

        self.server, self.sock, self.url = server(settings, job_runner(settings), clock)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, name="citewatch-web", daemon=True
        )
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.sock.close()
                raise CitewatchError("the web UI did not start: see the log")
            time.sleep(0.05)

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


class Daemon:
    """``citewatch daemon``: APScheduler jobs, crawl workers, and their supervision.

    The periodic jobs live in an SQLAlchemy job store in the citewatch database
    (``apscheduler_jobs``): dispatch (hand due sources to workers), outlets
    (resolve again the outlet citations of articles whose resolution was
    interrupted), probes (refresh the soft-404 probes of hosts due soon) and
    maintenance. Each worker is a process of its own; a dead one is restarted,
    its claims given back at once. One daemon runs per data folder (a lock file)
    and, on PostgreSQL, per database (an advisory lock).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        cli_args: list[str],
        workers: int | None = None,
        metrics_port: int | None = None,
        serve: bool = False,
        replay: bool = False,
        clock: Clock = utcnow,
    ):
        from archive.changes.notify import Notifier

        self.settings = settings
        self.clock = clock  # what dispatch, probes and maintenance take as now
        self.cli_args = cli_args
        self.count = workers or settings.workers
        self.metrics_port = metrics_port
        self.policy = policy_from(settings)
        self.lease = timedelta(seconds=settings.lease_time)
        self.node = (
            f"{socket.gethostname()[:32]}:{hashlib.sha1(str(settings.home_path).encode()).hexdigest()[:8]}"
        )
        self.workers: dict[int, _WorkerProcess] = {}
        self.jobs: dict[str, Callable[[], None]] = {
            "dispatch": self.dispatch,
            "outlets": self.resolve_outlets,
            "probes": self.refresh_probes,
            "maintenance": self.maintain,
        }
        self.notifier = Notifier(
            settings.notify_webhooks,
            settings.notify_apprise,
            settings.notify_kinds,
            settings.notify_articles,
            user_agent=settings.effective_user_agent,
            public_url=settings.effective_public_url,
        )
        self.metrics: _Metrics | None = None
        self.serve, self.replay = serve, replay
        self.web: _WebUI | None = None
        self.replayer: Any = None  # archive.replay.server.ReplayServer, with --replay
        self._replay_synced = 0.0
        self._replay_retry_at = 0.0
        self._stop = threading.Event()
        self._force = False
        self._lock: IO[str] | None = None
        self._pg_lock: Any = None
        self._send_lock = threading.Lock()
        self._restart_at: dict[int, float] = {}
        self._heard: dict[int, float] = {}  # slot -> when its worker last said anything
        self._readers: list[threading.Thread] = []
        self._dispatched = time.monotonic()  # when dispatch last ran to its end
        self.exit_code = 0
        self.log = logging.getLogger("citewatch.daemon")

    # -- start and stop -------------------------------------------------------------------
    def run(self) -> None:
        global _CURRENT
        from archive.db import migrated
        from archive.store.reconcile import reconcile

        # Both locks before anything else: a second daemon is refused at once, and never
        # migrates the database under a running one.
        self._take_lock()
        self._take_database()
        self.sessions = migrated(self.settings.effective_database_url)
        report = reconcile(self.sessions, self.settings.warc_dir, self.clock)
        if report.files_recovered:
            self.log.info("recovered %d WARC files left open by a crash", len(report.files_recovered))
        with self.sessions() as session:
            freed = queue.release_dead(session, self.node + "/", set())
        if freed:
            self.log.info("gave back %d checks claimed by workers of a daemon that died", freed)
        if self.metrics_port is not None:
            self.metrics = _Metrics(
                self.settings.metrics_address, self.metrics_port, self.sessions, self.clock
            )
            self.log.info("metrics on http://%s:%d/metrics", self.settings.metrics_address, self.metrics_port)
        if self.serve:
            self.web = _WebUI(self.settings, self.clock)
            self.log.info("web UI and API on %s", self.web.url)
        if self.replay:
            from archive.replay.server import COLLECTION, ReplayServer

            self.replayer = ReplayServer(self.settings, self.sessions)
            total = self.replayer.start()
            self.log.info("replay on %s%s/ (%d captures indexed)", self.replayer.base_url, COLLECTION, total)
        _CURRENT = self
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_signal)
        for slot in range(self.count):
            self._start_worker(slot)
        self.scheduler = self._start_scheduler()
        self._dispatched = time.monotonic()
        self.log.info(
            "citewatch daemon started: %d workers, dispatch every %gs, log in %s",
            self.count,
            self.settings.dispatch_interval,
            self.settings.home_path / "logs",
        )
        try:
            while not self._stop.wait(1.0):
                try:
                    self._supervise()
                except Exception as exc:  # the database away for a moment, say: try again
                    self.log.error("supervising the workers failed: %s: %s", exc.__class__.__name__, exc)
                self._check_dispatch()
                self._sync_replay()
        finally:
            self._shutdown()
            _CURRENT = None

    def stop(self) -> None:
        self._stop.set()

    def _sync_replay(self) -> None:
        """With --replay: add new captures to the replay index; start pywb again if it died
        (at most every REPLAY_RETRY seconds)."""
        now = time.monotonic()
        if self.replayer is None or now - self._replay_synced < self.settings.replay_index_interval:
            return
        self._replay_synced = now
        if not self.replayer.running and now >= self._replay_retry_at:
            self.log.error("replay: pywb is not running (see %s): starting it again", self.replayer.log_path)
            try:
                self.replayer.start()
            except CitewatchError as exc:
                self.log.error("replay: %s", exc)
                self._replay_retry_at = now + REPLAY_RETRY
        try:
            self.replayer.index.sync()
        except Exception as exc:  # the database away for a moment: the next round catches up
            self.log.error("replay index: %s: %s", exc.__class__.__name__, exc)

    def _check_dispatch(self) -> None:
        """A scheduler that stopped dispatching (its thread died on a database error) stops the
        daemon, with exit code 1, for its service manager to start it again."""
        silent = time.monotonic() - self._dispatched
        if silent > max(60.0, 20 * self.settings.dispatch_interval) and not self._stop.is_set():
            self.log.error("no dispatch for %.0fs: the scheduler is stuck; stopping", silent)
            self.exit_code = 1
            self._stop.set()

    def _on_signal(self, signum: int, _frame: Any) -> None:
        if self._stop.is_set():
            self._force = True  # a second signal: stop now
            self.log.warning("stopping now: workers are killed, their checks given back")
            return
        self.log.warning(
            "%s: stopping (workers finish what is in flight, %gs at most; again to stop now)",
            signal.Signals(signum).name,
            self.settings.stop_timeout,
        )
        self._stop.set()

    def _take_lock(self) -> None:
        """One daemon per data folder: a running one is refused at once, naming its pid. The
        workers inherit the lock, so after a crash the dead daemon's workers may still hold it
        while they finish: then this daemon waits for them (``stop_timeout`` and a little
        more at most), and says so."""
        import fcntl

        self.settings.home_path.mkdir(parents=True, exist_ok=True)
        path = self.settings.home_path / queue.DAEMON_LOCK_FILE
        handle = open(path, "a+")  # noqa: SIM115 - held for the daemon's life
        started = time.monotonic()
        said = False
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                handle.seek(0)
                holder = queue.Holder.parse(handle.read())
            waited = time.monotonic() - started
            if holder.alive() or waited > self.settings.stop_timeout + 10:
                handle.close()
                raise CitewatchError(self._lock_refusal(holder)) from None
            # Not a running daemon: its dead one's workers, or a daemon starting this instant
            # (no pid written yet), or `citewatch check` looking at the lock. A second tells.
            if waited > 1.0 and not said:
                self.log.warning(
                    "%s is held by the workers of a daemon that is gone (%s): waiting for them "
                    "to finish (%.0fs at most)",
                    path,
                    holder,
                    self.settings.stop_timeout + 10,
                )
                said = True
            time.sleep(0.1)
        handle.seek(0)
        handle.truncate()
        handle.write(queue.daemon_name())
        handle.flush()
        self._lock = handle

    def _lock_refusal(self, holder: queue.Holder) -> str:
        home = self.settings.home_path
        if holder.alive():
            return f"another citewatch daemon runs on {home} ({holder})"
        return (
            f"{home / queue.DAEMON_LOCK_FILE} is still held, by the workers of a daemon that is "
            f"gone ({holder}): stop them, or wait for them to finish"
        )

    def _take_database(self) -> None:
        """On PostgreSQL, one daemon per database: a session advisory lock, held while it runs
        on a connection of its own, named after the daemon (pid and host) so that a second
        daemon and `citewatch check` can say who holds it."""
        from sqlalchemy import text
        from sqlalchemy.exc import SQLAlchemyError

        from archive.db import make_engine, reason
        from archive.errors import DatabaseError

        engine = make_engine(self.settings.effective_database_url)
        if engine.dialect.name != "postgresql":
            engine.dispose()
            return
        try:
            conn = engine.connect()
            name = {"name": queue.daemon_connection_name()}
            conn.execute(text("SELECT set_config('application_name', :name, false)"), name)
            key = {"key": queue.DAEMON_LOCK_KEY}
            locked = bool(conn.execute(text("SELECT pg_try_advisory_lock(:key)"), key).scalar())
            holder = None if locked else queue.advisory_lock_holder(conn) or queue.Holder()
            conn.commit()
        except SQLAlchemyError as exc:
            engine.dispose()
            url = engine.url.render_as_string(hide_password=True)
            raise DatabaseError(f"cannot reach the database {url}: {reason(exc)}") from exc
        if not locked:
            conn.close()
            engine.dispose()
            raise CitewatchError(
                f"another citewatch daemon uses this database ({holder}; a PostgreSQL advisory lock)"
            )
        self._pg_lock = conn

    def _start_scheduler(self) -> Any:
        from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
        from apscheduler.schedulers.background import BackgroundScheduler

        from archive.db import make_engine

        self._job_engine = make_engine(self.settings.effective_database_url)
        sched = BackgroundScheduler(
            jobstores={"default": SQLAlchemyJobStore(engine=self._job_engine)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=UTC,
        )
        sched.start(paused=True)
        wanted = {
            "dispatch": self.settings.dispatch_interval,
            "outlets": self.settings.outlets_interval,
            "probes": self.settings.probe_interval,
            "maintenance": self.settings.maintenance_interval,
        }
        for name, seconds in wanted.items():
            try:
                existing = sched.get_job(name)
                existing.trigger.interval  # noqa: B018 - an interval job, or not one of ours
            except Exception:  # stored by another version, or unreadable: start it afresh
                with contextlib.suppress(Exception):
                    sched.remove_job(name)
                existing = None
            same = existing is not None and existing.trigger.interval == timedelta(seconds=max(seconds, 0.1))
            if same and name != "dispatch" and existing.next_run_time is not None:
                continue  # keep its next run: a restart must not put off a daily job for ever
            first = (
                {"next_run_time": utcnow().replace(tzinfo=UTC)} if name == "dispatch" else {}
            )  # (APScheduler keeps the machine's time)
            sched.add_job(
                "scheduler:run_job",
                "interval",
                args=[name],
                id=name,
                seconds=max(seconds, 0.1),
                replace_existing=True,
                **first,
            )
        sched.resume()
        return sched

    def _shutdown(self) -> None:
        from archive.store.reconcile import reconcile

        self.log.info("stopping: waiting for the workers")
        for w in self.workers.values():
            self._close_input(w)
        # The scheduler's shutdown waits for its thread, which a database call can hold: it
        # gets a thread of its own and the stop does not wait for it beyond the deadline.
        closer = threading.Thread(target=self.scheduler.shutdown, kwargs={"wait": False}, daemon=True)
        closer.start()
        deadline = time.monotonic() + self.settings.stop_timeout
        for w in self.workers.values():
            try:
                self._stop_worker(w, deadline)
            except Exception as exc:  # the database away: the leases run out by themselves
                self.log.error("stopping worker %d: %s: %s", w.slot, exc.__class__.__name__, exc)
        closer.join(timeout=max(1.0, deadline - time.monotonic()))
        for reader in self._readers:  # the workers' last reports, before the notifier closes
            reader.join(timeout=5)
        reconcile(self.sessions, self.settings.warc_dir, self.clock)
        self.notifier.close(timeout=10)
        if self.metrics is not None:
            self.metrics.close()
        if self.web is not None:
            self.web.close()
        if self.replayer is not None:
            self.replayer.close()
        self._job_engine.dispose()
        if self._pg_lock is not None:
            self._pg_lock.close()
            self._pg_lock.engine.dispose()
        self.sessions.kw["bind"].dispose()
        if self._lock is not None:
            self._lock.close()
        self.log.info("citewatch daemon stopped")

    def _stop_worker(self, w: _WorkerProcess, deadline: float) -> None:
        while w.proc.poll() is None and time.monotonic() < deadline and not self._force:
            time.sleep(0.1)
        if w.proc.poll() is None:
            self.log.warning("worker %d did not stop in time: killed", w.slot)
            w.proc.kill()
            w.proc.wait()
        with self.sessions() as session:
            given = queue.release(session, w.name)
        if given:
            self.log.info("gave back %d checks worker %d did not finish", given, w.slot)

    # -- workers ---------------------------------------------------------------------------
    def _start_worker(self, slot: int, restarts: int = 0) -> None:
        name = f"{self.node}/{os.getpid()}.{slot}.{restarts}"
        read_end, write_end = os.pipe()
        assert self._lock is not None
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "citewatch",
                *self.cli_args,
                "worker",
                "--name",
                name,
                "--events-fd",
                str(write_end),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            pass_fds=(write_end, self._lock.fileno()),
            text=True,
        )
        os.close(write_end)
        w = _WorkerProcess(slot, name, proc, time.monotonic(), restarts)
        self.workers[slot] = w
        events = os.fdopen(read_end, encoding="utf-8")
        self._heard[slot] = time.monotonic()
        self._readers = [t for t in self._readers if t.is_alive()]
        for target, args, kind in (
            (self._read_events, (w, events), "events"),
            (self._read_stderr, (w,), "stderr"),
        ):
            reader = threading.Thread(target=target, args=args, name=f"{kind}-{slot}", daemon=True)
            reader.start()
            self._readers.append(reader)
        self.log.info("worker %d started (pid %d)", slot, proc.pid)

    def _supervise(self) -> None:
        """Restart a worker that died, after giving its claims back (sooner when it had run a while)."""
        from archive.store.reconcile import reconcile

        for slot, w in list(self.workers.items()):
            code = w.proc.poll()
            if code is None and time.monotonic() - self._heard.get(slot, 0) > _HUNG_AFTER:
                self.log.error("worker %d said nothing for %.0fs: killed", slot, _HUNG_AFTER)
                w.proc.kill()
                code = w.proc.wait()
            if code is None:
                continue
            if slot not in self._restart_at:
                lived = time.monotonic() - w.started
                wait = 1.0 if lived > 60 else min(60.0, 2.0 ** min(w.restarts, 6))
                self.log.error(
                    "worker %d exited (code %s) after %.0fs: restarting in %.0fs", slot, code, lived, wait
                )
                with self.sessions() as session:
                    queue.release(session, w.name)
                reconcile(self.sessions, self.settings.warc_dir, self.clock)
                self._restart_at[slot] = time.monotonic() + wait
                if self.metrics is not None:
                    self.metrics.restarts.inc()
            elif time.monotonic() >= self._restart_at[slot]:
                del self._restart_at[slot]
                self._start_worker(slot, w.restarts + 1)
        if self.metrics is not None:
            self.metrics.workers.set(sum(w.proc.poll() is None for w in self.workers.values()))

    def _close_input(self, w: _WorkerProcess) -> None:
        with self._send_lock, contextlib.suppress(OSError):
            assert w.proc.stdin is not None
            w.proc.stdin.close()

    def _send(self, w: _WorkerProcess, message: dict[str, Any]) -> bool:
        with self._send_lock:
            try:
                assert w.proc.stdin is not None
                w.proc.stdin.write(json.dumps(message) + "\n")
                w.proc.stdin.flush()
                return True
            except (OSError, ValueError):  # it died, or is stopping
                return False

    def _read_stderr(self, w: _WorkerProcess) -> None:
        assert w.proc.stderr is not None
        for line in w.proc.stderr:
            if line.strip():
                self.log.warning("worker %d: %s", w.slot, line.rstrip())

    def _read_events(self, w: _WorkerProcess, events: IO[str]) -> None:
        with events:
            for line in events:
                self._heard[w.slot] = time.monotonic()
                try:
                    self._on_event(w, json.loads(line))
                except Exception as exc:  # a bad line must not stop the reading: the worker would block
                    self.log.error("worker %d: unreadable event (%s): %.200r", w.slot, exc, line)

    def _on_event(self, w: _WorkerProcess, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "alive" and float(event.get("tick_age", 0)) > _STUCK_AFTER:
            self.log.error("worker %d: its crawl has not moved for %ss: killed", w.slot, event["tick_age"])
            w.proc.kill()  # supervision restarts it
        if kind == "capture":
            self._on_capture(w, event)
        elif kind == "log":
            self.log.log(
                int(event.get("level", logging.WARNING)), "worker %d: %s", w.slot, event.get("message")
            )
        elif kind == "released" and event.get("count"):
            self.log.info("worker %d gave back %d unfinished checks", w.slot, event["count"])

    def _on_capture(self, w: _WorkerProcess, event: dict[str, Any]) -> None:
        """One INFO line per capture, with the figures as structured extras; metrics; notifications."""
        analysis = event.get("analysis") or {}
        changes = analysis.get("changes") or []
        kinds = [c["kind"] for c in changes]
        self.log.info(
            "%s: %s %s, %s via %s in %.2fs",
            event["url"],
            event.get("status") or "-",
            event["outcome"],
            ", ".join(f"{k} change" for k in kinds) or "no change",
            event.get("via"),
            event.get("seconds") or 0.0,
            extra={
                "url": event["url"],
                "status": event.get("status"),
                "outcome": event["outcome"],
                "change": kinds,
                "change_ids": [c["id"] for c in changes],
                "state": analysis.get("state"),
                "seconds": event.get("seconds"),
                "via": event.get("via"),
                "source_id": event.get("source_id"),
                "snapshot_id": event.get("snapshot_id"),
                "next_check_at": event.get("next_check_at"),
                "worker": w.slot,
                "worker_name": w.name,
            },
        )
        if self.metrics is not None:
            self.metrics.captures.labels(event["outcome"]).inc()
            self.metrics.seconds.observe(event.get("seconds") or 0.0)
            for k in kinds:
                self.metrics.changes.labels(k).inc()
        for change in changes:
            titles = {int(i): t for i, t in (event.get("article_titles") or {}).items()}  # JSON: str keys
            self.notifier.submit(change, event.get("articles") or [], titles)

    # -- the periodic jobs -----------------------------------------------------------------
    def dispatch(self) -> None:
        """Claim due sources for each live worker up to its capacity, most overdue first, each
        worker taking the hosts that fall to it; send them."""
        now = self.clock()
        with self.sessions() as session:
            held = queue.held(session, now)
            for slot, w in sorted(self.workers.items()):
                free = self.settings.worker_capacity - held.get(w.name, 0)
                if free <= 0 or w.proc.poll() is not None or self._stop.is_set():
                    continue
                claimed = queue.claim(session, w.name, now, free, self.lease, share=(slot, self.count))
                if claimed and not self._send(w, {"check": [[sid, url] for sid, url in claimed]}):
                    queue.release(session, w.name, [sid for sid, _ in claimed])
        self._dispatched = time.monotonic()

    def refresh_probes(self) -> None:
        """Have each host due within the hour probed (soft-404 pages) before its checks, when
        its probe is older than ``probe_max_age``; the workers skip fresh ones."""
        if not self.settings.probe_soft_404:
            return
        soon = self.clock() + timedelta(hours=1)
        with self.sessions() as session:
            rows = session.execute(
                select(Source.host_key, func.min(Source.url))
                .where(Source.next_check_at <= soon)
                .group_by(Source.host_key)
                .limit(10_000)
            ).all()
        by_worker: dict[int, list[str]] = {}
        for key, url in rows:
            by_worker.setdefault(key % self.count, []).append(url)
        for slot, urls in by_worker.items():
            if slot in self.workers:
                self._send(self.workers[slot], {"probe": urls})

    def resolve_outlets(self) -> None:
        """Articles whose outlet resolution was interrupted (a stopped ``add``) are added again,
        one at a time, when they came from a URL; the others need the user to add them again."""
        from archive.models import Article, Citation
        from crawler.jobs import JobProcess

        with self.sessions() as session:
            rows = session.execute(
                select(Citation.article_id, Citation.resolution, Article.url)
                .join(Article, Article.id == Citation.article_id)
                .where(Citation.kind == "outlet")
            ).all()
        urls = sorted({url for _aid, res, url in rows if url and (res or {}).get("status") == "interrupted"})
        for url in urls[:5]:
            if self._stop.is_set():
                return
            self.log.info("resolving the outlets of %s again", url)
            # An add, in a process of its own (its crawl runs once per process), as the web UI runs one.
            job = JobProcess(self.settings, "add", {"url": url})
            deadline = time.monotonic() + max(600.0, self.settings.discovery_max_seconds * 4)
            outcome = None
            while outcome is None and not self._stop.is_set() and time.monotonic() < deadline:
                outcome = job.wait(timeout=0.2)
            if outcome is None:  # stopping, or stuck: it marks what it left as interrupted
                job.stop()
                outcome = job.wait(timeout=30)
                if outcome is None:
                    job.stop(force=True)
                    outcome = job.wait(timeout=10)
            if outcome is None or outcome.code != 0:
                why = outcome.error if outcome is not None else "it did not stop"
                self.log.warning("resolving the outlets of %s failed: %s", url, why)

    def maintain(self) -> None:
        """Database upkeep: fresh planner statistics, a WAL checkpoint on SQLite, stray leases."""
        from sqlalchemy import delete, text

        from archive.models import Lease
        from archive.store.reconcile import reconcile

        now = self.clock()
        with self.sessions() as session:
            stale = cast(
                CursorResult[Any], session.execute(delete(Lease).where(Lease.lease_until < now - self.lease))
            ).rowcount
            session.commit()
        engine = self.sessions.kw["bind"]
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                conn.execute(text("ANALYZE"))
            else:
                conn.execute(text("PRAGMA optimize"))
                conn.execute(text("PRAGMA wal_checkpoint(PASSIVE)"))  # never makes writers wait
            conn.commit()
        reconcile(self.sessions, self.settings.warc_dir, self.clock)
        self.log.info("maintenance done (%d stray leases dropped)", stale or 0)
