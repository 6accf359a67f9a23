"""One capture's way from fetched to scheduled: the steps every crawl's results take.

``citewatch capture``, ``citewatch add``, the web UI's jobs and the daemon's
workers hand their finished captures here, a batch at a time, once the
recorder has committed them. For each capture:

1. **analyse** (:mod:`archive.changes.analysis`): extract its text, classify it
   against the source's baseline, and record the Change, with the claims it
   touches (skipped when ``analyse_captures`` is off, except in the daemon,
   whose checks share one WARC file and are told apart only by analysis);
2. **retry in the browser** the HTTP captures that gave far less text than
   before, or none: their URLs go back to the crawl, which fetches them
   again in Chromium and brings the new capture back here, and only then is
   their check recorded;
3. **record the check and schedule the next** (:mod:`archive.schedule.checks`),
   dropping a worker's lease.

Each result leaves with its source id, what its analysis found and its next
check. Where this runs: beside a capture crawl, in a process of its own (the
analyst, :func:`main`), fed by the archiver once each capture's rows are
committed and answering the crawl directly, at a lower CPU priority than the
crawl and the archiver, so that analysis never slows a crawl down and takes
whatever CPU the crawl leaves (all of it while the crawl waits on the
network); on a thread of the crawl's own process (:class:`Background`) for an
added article and with ``archiver_process`` off; in the crawl's process for a
daemon's worker, whose crawl is paced by per-host politeness rather than by
CPU.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from archive.changes.analysis import ExtractorPool, SourceAnalysis, TextJob, analyse_sources, warm_up
from archive.changes.changelog import analysis_dict
from archive.clock import Clock, utcnow
from archive.errors import CitewatchError
from archive.models import Source
from archive.schedule.checks import record_results
from archive.schedule.policy import Policy, policy_from
from archive.store.exchange import Checked, PipelineMode, SeedResult

if TYPE_CHECKING:
    from archive.settings import Settings

logger = logging.getLogger(__name__)

# How much lower the analyst's CPU priority is than the crawl's (see main).
_NICENESS = 10


class Pipeline:
    """Takes a crawl's finished captures through analysis, the browser retry and the schedule."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        warc_dir: Path,
        policy: Policy,
        mode: PipelineMode,
        clock: Clock = utcnow,
        extract_many: Callable[[list[TextJob]], list[dict[str, Any] | str]] | None = None,
    ):
        self.sessions = sessions
        self.warc_dir = Path(warc_dir)
        self.policy = policy
        self.mode = mode
        self.clock = clock  # the time each check is recorded at, and its next one reckoned from
        self.extract_many = extract_many  # pages' texts extracted side by side (ExtractorPool)

    @classmethod
    def from_settings(
        cls, sessions: sessionmaker[Session], settings: Settings, mode: PipelineMode
    ) -> Pipeline:
        return cls(sessions, Path(settings.warc_dir), policy_from(settings), mode)

    def run(self, results: list[SeedResult], *, final: bool = False) -> dict[str, str]:
        """Take ``results`` (committed captures) through the pipeline, filling in each one's
        ``source_id``, ``analysis`` and ``next_check_at``. Returns the URLs to capture again
        in the browser, with why; their checks wait for that capture. With ``final``, none
        are."""
        fetched = [r for r in results if r.outcome not in self.mode.skip]
        if not fetched:
            return {}
        now = self.clock()
        with self.sessions() as session:
            ids = self._source_ids(session, fetched)
            for r in fetched:
                r.source_id = ids.get(r.url, r.source_id)
            found: dict[str, SourceAnalysis] = {}
            if self.mode.analyse:  # not again for a result analysed before (a browser retry that failed)
                wanted = {ids[r.url]: r.url for r in fetched if r.url in ids and r.analysis is None}
                found = analyse_sources(session, self.warc_dir, wanted, self.extract_many)
            again = {
                r.url: found[r.url].reason
                for r in fetched
                if self.mode.browser_retry
                and not final
                and r.via == "http"
                and r.url in found
                and found[r.url].retry_browser
            }
            for r in fetched:
                r.analysis = analysis_dict(found[r.url]) if r.url in found else r.analysis
            checked = [r for r in fetched if r.url not in again]
            nexts = record_results(
                session,
                checked,
                found,
                self.policy,
                tracked_only=self.mode.tracked_only,
                worker=self.mode.worker,
                now=now,
                skip=self.mode.skip,
                known=ids,
            )
            for r in checked:
                r.next_check_at = nexts.get(r.url)
        return again

    @staticmethod
    def _source_ids(session: Session, results: list[SeedResult]) -> dict[str, int]:
        """URL -> source id: those the crawl gave, the rest looked up once."""
        ids = {r.url: r.source_id for r in results if r.source_id is not None}
        missing = [r.url for r in results if r.url not in ids]
        for start in range(0, len(missing), 500):
            chunk = missing[start : start + 500]
            rows = session.execute(select(Source.url, Source.id).where(Source.url.in_(chunk)))
            ids.update((url, sid) for url, sid in rows)
        return {url: sid for url, sid in ids.items() if sid is not None}


class Background:
    """A pipeline on a thread of its own, so that recording never waits for analysis: a page
    that takes seconds to extract holds up only the pages analysed after it. Batches go in
    (their rows committed already); what each found goes to ``send``; a failure is reported
    with its batch and the next batch is taken as usual."""

    def __init__(self, make: Callable[[], Pipeline], send: Callable[[Checked], None]):
        self._make = make
        self._send = send
        self._pipeline: Pipeline | None = None
        self._batches: queue.Queue[list[tuple[SeedResult, bool]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="citewatch-pipeline", daemon=True)
        self._thread.start()

    def put(self, batch: list[tuple[SeedResult, bool]]) -> None:
        """Results with ``final`` (no browser retry), to take through the pipeline."""
        self._batches.put(batch)

    def join(self) -> None:
        """Wait until every batch put has been sent."""
        self._batches.join()

    def close(self) -> None:
        self._batches.put(None)
        self._thread.join(timeout=60)

    def _run(self) -> None:
        try:
            self._pipeline = self._make()  # the extractor's import, here rather than in the caller
        except Exception as exc:
            logger.warning("the pipeline could not start: %s", exc)
        while (batch := self._batches.get()) is not None:
            try:
                for found in checked_batch(self._pipeline, batch):
                    self._send(found)
            finally:
                self._batches.task_done()
        self._batches.task_done()


def checked_batch(pipeline: Pipeline | None, batch: list[tuple[SeedResult, bool]]) -> list[Checked]:
    """A batch of (result, final) through ``pipeline``: what it found, the results that may be
    retried in the browser apart from the final ones; a failure is reported with its results."""
    found = []
    for final in (False, True):
        results = [r for r, f in batch if f is final]
        if results:
            found.append(_checked(pipeline, results, final))
    return found


def _checked(pipeline: Pipeline | None, results: list[SeedResult], final: bool) -> Checked:
    if pipeline is None:
        return results, {}, "the pipeline could not start"
    try:
        return results, pipeline.run(results, final=final), None
    except Exception as exc:
        from archive.db import reason

        sql = type(exc).__module__.startswith("sqlalchemy")
        why = reason(exc) if sql else f"{type(exc).__name__}: {exc}"
        logger.warning("captures not analysed: %s", why)
        return results, {}, why


# -- the analyst: the pipeline in a process of its own ---------------------------------------


def _run_batches(pipeline: Pipeline | None, feed: Any, back: Any) -> None:
    """Take each batch the archiver feeds, and send the crawl what the pipeline found. Batches
    that came while the last was analysed are taken as one: one write to the database for
    them all, since each write waits for the archiver's open transaction to commit."""
    answering, open_ = True, True
    while open_:
        try:
            batch = list(feed.recv()[1])
        except (EOFError, OSError):
            return  # the archiver closed its feed: the crawl is over
        try:
            while feed.poll(0):
                batch.extend(feed.recv()[1])
        except (EOFError, OSError):
            open_ = False  # the last batches: answered below, then the analyst ends
        for found in checked_batch(pipeline, batch):
            if answering:
                try:
                    back.send(("checked", *found))
                except OSError:  # the crawl is gone: its checks are still recorded
                    answering = False


def main(argv: list[str]) -> int:
    """The analyst process: ``argv`` are the archiver's feed and the crawl's answer pipe."""
    from multiprocessing.connection import Connection

    from archive.db import connect

    with contextlib.suppress(OSError):
        os.nice(_NICENESS)  # the crawl and the archiver come first; analysis takes what they leave
    logging.basicConfig(level=logging.WARNING, format="citewatch: %(message)s")
    # The extractor's own complaints about a page are recorded with its analysis, not printed.
    logging.getLogger("trafilatura").setLevel(logging.CRITICAL)
    feed = Connection(int(argv[0]), writable=False)
    back = Connection(int(argv[1]), readable=False)
    warm_up()  # while the archiver sets the database up and the crawl starts
    try:
        _op, config, policy, mode = feed.recv()  # ("config", ...), always first
    except (EOFError, OSError):
        return 0
    # Forked before the database is opened, the extractor warm in each.
    wanted = mode.analyse and mode.processes > 1
    pool = ExtractorPool(mode.processes, (feed.fileno(), back.fileno())) if wanted else None
    try:
        sessions = connect(config["database_url"])
    except CitewatchError as exc:  # each batch is answered with why (the crawl says so already)
        logger.debug("the analyst cannot start: %s", exc)
        _run_batches(None, feed, back)
        return 0
    try:
        pipeline = Pipeline(sessions, Path(config["warc_dir"]), policy, mode, extract_many=pool)
        _run_batches(pipeline, feed, back)
    finally:
        sessions.kw["bind"].dispose()
        if pool is not None:
            pool.close()
    return 0
