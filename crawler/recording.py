"""One recorder per crawl, shared by the components that write captures.

Scrapy builds middlewares and spiders separately; they find the crawl's
recorder here. It is either an :class:`archive.store.archiver.ArchiverProcess`
attached before the crawl starts (:func:`attach_recorder`), or a
:class:`archive.store.recorder.CaptureRecorder` in this process, created on first
use from the crawl's citewatch settings (:func:`citewatch_settings`) and committing on a timer as well
as by count (so no write transaction stays open while fetches are slow). Both
are closed by :func:`close_recorder` after the crawl, where a failure to save
can still become the command's error.

A crawl whose results go through the pipeline (:mod:`archive.pipeline`: a
capture or an added article, not a daemon's worker, whose feed runs it) has
one more shared part, found by :func:`checks_for`: the archiver process runs
the pipeline itself, beside the crawl; with no archiver, a
:class:`LocalChecks` runs it here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from scrapy import signals
from twisted.internet import task

from archive.schedule.policy import policy_from
from archive.settings import Settings
from archive.store.archiver import ArchiverProcess
from archive.store.exchange import PipelineMode, Recorder, SeedResult

if TYPE_CHECKING:
    from archive.pipeline import Pipeline
    from archive.store.exchange import Checked
    from archive.store.recorder import CaptureRecorder

_ATTR = "_citewatch_recorder"
_CHECKS = "_citewatch_checks"
_MODE = "_citewatch_pipeline_mode"
# Finished captures wait this long (seconds) to go through the pipeline together.
_BATCH_WAIT = 0.2
# The Scrapy setting that carries the crawl's citewatch settings, whole: each component reads
# what it needs from the one table (archive/settings.py), not from copies under Scrapy names.
SETTINGS_KEY = "CITEWATCH_SETTINGS"


def citewatch_settings(scrapy_settings: Any) -> Settings:
    """The citewatch settings of a crawl, from its Scrapy settings."""
    found = scrapy_settings.get(SETTINGS_KEY)
    if not isinstance(found, Settings):
        raise RuntimeError(f"a citewatch crawl's Scrapy settings carry {SETTINGS_KEY}; these do not")
    return found


def attach_recorder(crawler: Any, recorder: Any) -> None:
    """Make ``recorder`` (an ArchiverProcess) the one this crawl writes through."""
    setattr(crawler, _ATTR, recorder)


def current_recorder(crawler: Any) -> Any:
    """The crawl's recorder, or None when nothing was recorded."""
    return getattr(crawler, _ATTR, None)


def recorder_for(crawler: Any) -> Recorder:
    recorder = getattr(crawler, _ATTR, None)
    if recorder is None:
        from archive.db import connect
        from archive.store.recorder import CaptureRecorder

        settings = citewatch_settings(crawler.settings)
        recorder = CaptureRecorder(
            Path(settings.warc_dir),
            connect(settings.effective_database_url),
            prefix=settings.warc_prefix,
            max_size=settings.warc_max_size,
            remember=crawler.settings.getint("ARCHIVE_REMEMBER", 100_000),
        )
        setattr(crawler, _ATTR, recorder)
        ticker = task.LoopingCall(recorder.maybe_commit)
        ticker.start(recorder.commit_interval, now=False)

        def stop_ticker() -> None:
            if ticker.running:
                ticker.stop()

        crawler.signals.connect(stop_ticker, signal=signals.spider_closed, weak=False)
    return recorder


def close_recorder(crawler: Any) -> None:
    """Last commit, close and rename the WARC file; raises when that fails."""
    recorder = getattr(crawler, _ATTR, None)
    if recorder is not None:
        setattr(crawler, _ATTR, None)
        recorder.close()


class Checks(Protocol):
    """The crawl's way into the pipeline: an ArchiverProcess, or :class:`LocalChecks`."""

    def check(self, results: list[SeedResult], final: bool = False) -> None: ...

    def check_soon(self) -> None: ...

    def checked(self) -> list[Checked]: ...

    def finish_checks(self) -> list[Checked]: ...


class LocalChecks:
    """The pipeline in the crawl's own process, on a thread of its own (so that the crawl never
    waits for an analysis), with the recorder's database: the calls an ArchiverProcess
    answers, answered here, a batch at a time."""

    def __init__(self, recorder: CaptureRecorder, make: Callable[[], Pipeline]):
        from archive.pipeline import Background

        self.recorder = recorder
        self._waiting: list[tuple[SeedResult, bool]] = []
        self._oldest = 0.0
        self._soon = False
        self._found: list[Checked] = []
        self._lock = threading.Lock()
        self._background = Background(make, self._arrived)

    def _arrived(self, found: Checked) -> None:
        with self._lock:
            self._found.append(found)

    def _taken(self) -> list[Checked]:
        with self._lock:
            found, self._found = self._found, []
        return found

    def check(self, results: list[SeedResult], final: bool = False) -> None:
        if not self._waiting:
            self._oldest = time.monotonic()
        self._waiting.extend((r, final) for r in results)

    def check_soon(self) -> None:
        self._soon = True

    def _hand_over(self) -> None:
        batch, self._waiting, self._soon = self._waiting, [], False
        if batch:
            self.recorder.commit()  # the pipeline reads what these rows say
            self._background.put(batch)

    def checked(self) -> list[Checked]:
        if self._waiting and (self._soon or time.monotonic() - self._oldest >= _BATCH_WAIT):
            self._hand_over()
        return self._taken()

    def finish_checks(self) -> list[Checked]:
        self._hand_over()
        self._background.join()
        return self._taken()


def use_pipeline(crawler: Any, mode: PipelineMode) -> None:
    """Take this crawl's finished captures through the pipeline, in ``mode``."""
    setattr(crawler, _MODE, mode)


def checks_for(crawler: Any) -> Checks | None:
    """The crawl's way into the pipeline, made on first use; None when its results do not go
    through it here."""
    found: Checks | None = getattr(crawler, _CHECKS, None)
    mode: PipelineMode | None = getattr(crawler, _MODE, None)
    if found is not None or mode is None:
        return found
    recorder = recorder_for(crawler)
    settings = citewatch_settings(crawler.settings)
    if isinstance(recorder, ArchiverProcess):  # the pipeline runs there, beside the crawl
        recorder.start_pipeline(policy_from(settings), mode)
        found = recorder
    else:
        from archive.pipeline import Pipeline
        from archive.store.recorder import CaptureRecorder

        assert isinstance(recorder, CaptureRecorder)
        sessions, warc_dir, policy = recorder.sessions, Path(settings.warc_dir), policy_from(settings)
        found = LocalChecks(recorder, lambda: Pipeline(sessions, warc_dir, policy, mode))
    setattr(crawler, _CHECKS, found)
    return found
