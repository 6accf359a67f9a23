"""One recorder per crawl, shared by the components that write captures.

Scrapy builds middlewares and spiders separately; they find the crawl's
recorder here. It is either an :class:`archive.archiver.ArchiverProcess`
attached before the crawl starts (:func:`attach_recorder`), or a
:class:`archive.recorder.CaptureRecorder` in this process, created on first
use from the crawl's citewatch settings (:func:`citewatch_settings`) and committing on a timer as well
as by count (so no write transaction stays open while fetches are slow). Both
are closed by :func:`close_recorder` after the crawl, where a failure to save
can still become the command's error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scrapy import signals
from twisted.internet import task

from archive.exchange import Recorder
from archive.settings import Settings

_ATTR = "_citewatch_recorder"
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
        from archive.recorder import CaptureRecorder

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
