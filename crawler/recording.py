"""One CaptureRecorder per crawl, shared by the components that write captures.

Scrapy builds middlewares and spiders separately; they find the crawl's
recorder here. It is created on first use from the crawl's ``ARCHIVE_*``
settings and closed (last commit, WARC file renamed) when the spider closes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scrapy import signals

from archive.db import connect
from archive.recorder import CaptureRecorder

_ATTR = "_citewatch_recorder"


def recorder_for(crawler: Any) -> CaptureRecorder:
    recorder = getattr(crawler, _ATTR, None)
    if recorder is None:
        settings = crawler.settings
        recorder = CaptureRecorder(
            Path(settings["ARCHIVE_WARC_DIR"]),
            connect(settings["ARCHIVE_DATABASE_URL"]),
            prefix=settings.get("ARCHIVE_WARC_PREFIX", "citewatch"),
            max_size=settings.getint("ARCHIVE_WARC_MAX_SIZE"),
        )
        setattr(crawler, _ATTR, recorder)
        crawler.signals.connect(recorder.close, signal=signals.spider_closed)
    return recorder
