"""What ``capture`` and ``add`` do, as calls: the CLI prints what they return, the web UI's
jobs and the daemon's re-resolution of interrupted articles run them in a process of their own.

Each capture goes through one pipeline (:mod:`archive.pipeline`) as it lands:
recorded by the archiver, analysed beside the crawl, taken again in the
browser when thin, its check recorded and its next scheduled. A crawl runs
once per process (Scrapy's reactor cannot restart), so a long-lived process
(the web server, the daemon) runs each job in a :class:`JobProcess`: a fresh
interpreter started by ``multiprocessing`` (spawn), calling these functions,
and answering with plain values through a pipe.
"""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
import os
import shutil
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from archive.errors import BrowserError, CitewatchError
from archive.settings import Settings
from archive.store.exchange import PipelineMode, SeedResult, mode_for

if TYPE_CHECKING:  # the article spider imports the extractor: only when adding
    from crawler.spiders.citations import AddResult, ArticleInput

logger = logging.getLogger(__name__)


def check_browser(settings: Settings) -> None:
    """BrowserError unless ``browser_executable`` names a Chromium that can run."""
    path = settings.browser_executable
    if not (os.path.isfile(path) and os.access(path, os.X_OK)) and not shutil.which(path):
        raise BrowserError(
            f"Chromium not found at {path}: install it (apt-get install chromium) or set "
            "browser_executable (CITEWATCH_BROWSER_EXECUTABLE)"
        )


def pipeline_mode(settings: Settings, *, browser: bool, tracked_only: bool) -> PipelineMode:
    """How a command's captures go through the pipeline: analysed as ``analyse_captures`` says,
    thin HTTP captures taken again in the browser when ``auto_browser`` is on and Chromium is
    there (otherwise a thin capture is reported as a capture problem, with why)."""
    retry = bool(settings.auto_browser) and not browser
    if retry:
        try:
            check_browser(settings)
        except BrowserError:
            retry = False
    return mode_for(settings, tracked_only=tracked_only, browser_retry=retry)


def rejected(url: str, message: str) -> SeedResult:
    """The result of a URL refused before any fetch."""
    return SeedResult(url, "bad-url", message)


def result_dict(result: SeedResult) -> dict[str, Any]:
    """One capture's result, as ``capture --json`` prints it and a job answers it."""
    return {
        "url": result.url,
        "outcome": result.outcome,
        "ok": result.ok,
        "status": result.status,
        "final_url": result.final_url,
        "snapshot_id": result.snapshot_id,
        "via": result.via,
        "requisites": result.requisites,
        "seconds": round(result.seconds, 3),
        "message": result.message,
        "source_id": result.source_id,
        "analysis": result.analysis,
        "next_check_at": result.next_check_at.isoformat() + "Z" if result.next_check_at else None,
    }


@dataclass
class Captured:
    """What a capture run did."""

    results: list[SeedResult]
    unsaved: int = 0  # captures lost that no result names (requisites, failure rows)
    recovered: dict[str, int] = field(default_factory=lambda: {"files_recovered": 0, "rows_added": 0})

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results) and not self.unsaved


def capture(
    settings: Settings,
    urls: list[str],
    bad: Sequence[tuple[str, str]] = (),
    *,
    browser: bool = False,
    on_result: Callable[[SeedResult], None] | None = None,
) -> Captured:
    """Capture ``urls`` (already checked) now, each through the pipeline; ``bad`` (URL, why)
    are recorded as ``bad-url`` attempts. First repairs what a crash left.

    With the archiver process, the archiver does the database work (repair, the
    pipeline) while this process starts the crawl; otherwise it happens here.
    """
    from archive.schedule.policy import policy_from
    from archive.store.archiver import start_archiver

    done = Captured([rejected(raw, message) for raw, message in bad])
    mode = pipeline_mode(settings, browser=browser, tracked_only=True)  # a manual check counts
    archiver = start_archiver(settings) if urls else None
    report: dict[str, Any] = {}
    if archiver is None:
        done.recovered = _prepare_here(settings, list(bad))
        if not urls:
            return done
        if browser:
            check_browser(settings)
        done.results += _run(settings, urls, browser, mode, None, report, on_result)
    else:
        try:
            ticket = archiver.prepare(list(bad))  # while the crawl starts up; its first query waits
            archiver.start_pipeline(policy_from(settings), mode)  # the archiver loads it meanwhile
            if browser:
                check_browser(settings)
            done.results += _run(settings, urls, browser, mode, archiver, report, on_result)
            done.recovered = archiver.prepared(ticket)
        finally:
            archiver.close()  # at once, unless the crawl closed it already
    done.unsaved = report.get("unsaved", 0)
    return done


def _prepare_here(settings: Settings, bad: list[tuple[str, str]]) -> dict[str, int]:
    from archive.clock import utcnow
    from archive.db import migrated
    from archive.store import index
    from archive.store.reconcile import reconcile

    sessions = migrated(settings.effective_database_url)
    try:
        report = reconcile(sessions, settings.warc_dir)
        with sessions() as session:
            for raw, message in bad:
                index.insert_snapshot(session, index.failure_row(raw, "bad-url", message, utcnow()))
            session.commit()
    finally:
        sessions.kw["bind"].dispose()
    return {"files_recovered": len(report.files_recovered), "rows_added": report.rows_added}


def _run(
    settings: Settings,
    urls: list[str],
    browser: bool,
    mode: PipelineMode,
    archiver: Any,
    report: dict[str, Any],
    on_result: Callable[[SeedResult], None] | None,
) -> list[SeedResult]:
    from crawler.run import run_capture

    return run_capture(
        settings, urls, browser=browser, on_result=on_result, archiver=archiver, report=report, pipeline=mode
    )


def add(
    settings: Settings,
    given: ArticleInput,
    *,
    resolve_outlets: bool = True,
    on_result: Callable[[SeedResult], None] | None = None,
    on_progress: Callable[[str], None] | None = None,
) -> tuple[AddResult, list[SeedResult]]:
    """Add a citing article and capture what it cites, each capture through the pipeline (what
    it cites is tracked from now on; these texts are what later captures are compared with).

    A thin capture is not retried in the browser here: an article's outlet front pages and
    candidates are thin by nature, and a browser for each would make every add slow. A cited
    page that needs one is taken in the browser at once (no visible text without scripts), or
    at its first check by the daemon, whose pipeline retries thin captures."""
    from crawler.run import run_add

    if settings.auto_browser and given.kind == "url":
        check_browser(settings)
    mode = mode_for(settings, tracked_only=False, browser_retry=False)
    return run_add(
        settings,
        given,
        resolve_outlets=resolve_outlets,
        on_result=on_result,
        on_progress=on_progress,
        pipeline=mode,
    )


def add_error(added: AddResult, source: str) -> str | None:
    """Why an add did not finish, in one line; None when it did."""
    if added.article_id is None:
        return f"cannot add {source}: {added.error or 'the crawl stopped'}"
    if added.error:  # stored, but the run did not finish
        return f"article {added.article_id} stored, but {added.error}"
    if added.interrupted:
        return (
            f"article {added.article_id} stored, but the run stopped before {added.interrupted} outlet(s) "
            "were resolved; add it again to finish"
        )
    return None


def article_from_text(text: str, form: str | None) -> ArticleInput:
    """A pasted article: ``form`` is text, markdown or html, or None to tell HTML by its first
    character."""
    from crawler.spiders.citations import ArticleInput

    kind = form or ("html" if text.lstrip()[:1] == "<" else "text")
    if kind == "html":
        return ArticleInput("html", data=text.encode("utf-8"), name="pasted text")
    return ArticleInput(kind, data=text, name="pasted text")


# -- a job in a process of its own ---------------------------------------------------------


@dataclass
class JobOutcome:
    """How a job ended: its exit code (0 done, 1 failed, 2 bad input), the JSON its command
    would print, and its error line."""

    code: int
    result: Any = None
    error: str | None = None


def run_job(settings: Settings, kind: str, payload: dict[str, Any]) -> JobOutcome:
    """A capture (``url``, ``browser``) or an add (``url`` or ``text`` with ``format``,
    ``resolve``), in this process; what ``capture --json`` or ``add --json`` would print."""
    try:
        if kind == "capture":
            done = capture(settings, [payload["url"]], browser=bool(payload.get("browser")))
            return JobOutcome(0 if done.ok else 1, [result_dict(r) for r in done.results])
        if kind == "add":
            return _add_job(settings, payload)
        return JobOutcome(2, None, f"no such job: {kind}")
    except CitewatchError as exc:
        return JobOutcome(exc.exit_code, None, str(exc))


def _add_job(settings: Settings, payload: dict[str, Any]) -> JobOutcome:
    from archive.articles import storage as articles
    from archive.db import connect
    from crawler.spiders.citations import ArticleInput

    if payload.get("url"):
        given = ArticleInput("url", url=payload["url"], name=payload["url"])
    else:
        given = article_from_text(payload.get("text") or "", payload.get("format"))
    added, results = add(settings, given, resolve_outlets=bool(payload.get("resolve", True)))
    error = add_error(added, given.name)
    if added.article_id is None:
        return JobOutcome(1, None, error)
    sessions = connect(settings.effective_database_url)
    try:
        with sessions() as session:
            view = articles.article_view(session, articles.require_article(session, str(added.article_id)))
    finally:
        sessions.kw["bind"].dispose()
    return JobOutcome(1 if error else 0, {**view, "captures": [result_dict(r) for r in results]}, error)


def _job_main(settings: Settings, kind: str, payload: dict[str, Any], answer: Connection) -> None:
    """The body of a job's process: a session of its own (its crawl and browser are stopped
    with it), its log kept out of the server's terminal, the outcome sent back as JSON."""
    os.setsid()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when a job stops
    logging.basicConfig(level=logging.CRITICAL)
    try:
        outcome = run_job(settings, kind, payload)
    except Exception as exc:  # a job ends in an outcome, whatever happened
        outcome = JobOutcome(1, None, f"{type(exc).__name__}: {exc}")
    with contextlib.suppress(OSError):
        answer.send(json.dumps(outcome.__dict__, default=str))
    answer.close()


class JobProcess:
    """One job in a fresh process (``multiprocessing``, spawn: no reactor, threads or
    connections inherited from the server)."""

    def __init__(self, settings: Settings, kind: str, payload: dict[str, Any]):
        context = multiprocessing.get_context("spawn")
        self._answer, child_end = context.Pipe(duplex=False)
        self.process = context.Process(
            target=_job_main, args=(settings, kind, payload, child_end), name=f"citewatch-{kind}"
        )
        self.process.start()
        child_end.close()

    def wait(self, timeout: float | None = None) -> JobOutcome | None:
        """The job's outcome; None while it runs after ``timeout`` seconds."""
        if not self._answer.poll(timeout) and self.process.is_alive():
            return None
        try:
            outcome = JobOutcome(**json.loads(self._answer.recv()))
        except (EOFError, OSError, ValueError):
            self.process.join(5)
            code = self.process.exitcode
            outcome = JobOutcome(1, None, f"the job's process ended without an answer (exit code {code})")
        self.process.join(30)
        return outcome

    def stop(self, force: bool = False) -> None:
        """Ask the job to stop (its crawl finishes what is in flight and records what it left),
        or with ``force`` kill it and everything it started."""
        pid = self.process.pid
        if pid is None or not self.process.is_alive():
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL if force else signal.SIGTERM)


def job_runner(settings: Settings) -> Callable[[str, dict[str, Any]], JobProcess]:
    """What the web UI starts its jobs with: each a :class:`JobProcess` with ``settings``."""
    return lambda kind, payload: JobProcess(settings, kind, payload)
