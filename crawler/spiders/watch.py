"""WatchSpider: a capture crawl that stays open and takes its URLs as they come.

A daemon's worker runs one for its whole life (Scrapy's reactor cannot
restart). Every ``tick`` seconds it asks its :class:`Feed` for new URLs
to capture, and hands it the captures finished since the last tick, each
with its Snapshot row id once the recorder has committed it. The feed
(scheduler.py's worker) decides what to capture and what the results mean;
the spider only fetches, as :class:`CaptureSpider` does, and tells the feed
what it could not finish when the crawl stops.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any, Protocol

import scrapy
from scrapy import signals
from scrapy.exceptions import DontCloseSpider
from twisted.internet import task

from crawler.spiders.capture import CaptureSpider, SeedResult

logger = logging.getLogger(__name__)

# Requisite URLs remembered to fetch each once per crawl; a long crawl forgets them past this.
_SEEN_LIMIT = 50_000


class Feed(Protocol):
    """What a WatchSpider is fed by, and reports to."""

    def take(self) -> list[str]:
        """URLs to capture now (plain HTTP first, the browser when the page needs it)."""

    def probes(self) -> list[str]:
        """URLs whose hosts' soft-404 probes should be fresh before they are next captured."""

    def done(self, results: list[SeedResult]) -> list[str]:
        """Captures finished, with snapshot ids; returns the URLs to capture again in the browser."""

    def stopping(self) -> bool:
        """True once the crawl should stop taking work and close."""

    def unfinished(self, urls: list[str]) -> None:
        """The crawl stopped before these URLs finished."""


class WatchSpider(CaptureSpider):
    name = "watch"

    def __init__(self, feed: Feed, tick: float = 0.5, **kwargs: Any):
        super().__init__([], **kwargs)
        self.feed = feed
        self.tick = tick
        self.in_flight: set[str] = set()
        self.failure: BaseException | None = None
        self._ticker: task.LoopingCall | None = None
        self._closing = False
        self._closer: asyncio.Future[None] | None = None

    async def start(self) -> AsyncIterator[scrapy.Request]:
        self.crawler.signals.connect(self._flush_when_idle, signal=signals.spider_idle)
        self.crawler.signals.connect(self._keep_open, signal=signals.spider_idle)
        self.crawler.signals.connect(self._stop_ticking, signal=signals.spider_closed)
        self._ticker = task.LoopingCall(self._tick)
        self._ticker.start(self.tick, now=True).addErrback(self._tick_failed)
        return
        yield  # an async generator with nothing to start with

    def _keep_open(self) -> None:
        if not self._closing:
            raise DontCloseSpider

    def _stop_ticking(self) -> None:
        if self._ticker is not None and self._ticker.running:
            self._ticker.stop()

    def _tick_failed(self, failure: Any) -> None:
        """The feed or the archive failed: stop, and let the process say so (the daemon restarts it)."""
        self.failure = failure.value
        logger.error("the worker stops: %s", failure.getErrorMessage())
        self._close("worker failed")

    def _close(self, reason: str) -> None:
        if not self._closing:
            self._closing = True
            self._closer = asyncio.ensure_future(self.crawler.engine.close_spider_async(reason=reason))

    # -- one tick: report what finished, take new work -----------------------------------
    def _tick(self) -> None:
        self.report()
        if self._closing:
            return
        if self.feed.stopping():
            self._close("shutdown")
            return
        if len(self._requisites_seen) > _SEEN_LIMIT:
            self._requisites_seen.clear()
        probes = self.feed.probes()
        if probes:
            self._queue_probes(probes)
        new = [url for url in self.feed.take() if url not in self.in_flight]
        if new:
            self.in_flight.update(new)
            for request in self._seed_requests(new):
                self.crawler.engine.crawl(request)

    def report(self) -> None:
        """Hand the captures finished since the last call to the feed, with their row ids."""
        finished = [self.results.pop(url) for url in list(self.results)]
        if not finished:
            return
        for result in finished:
            self._started.pop(result.url, None)
        self.settle(self.recorder, finished)
        again = set(self.feed.done(finished))
        for result in finished:
            if result.url in again and not self._closing:
                self._started[result.url] = time.monotonic()
                source_id = self.recorder.source_ids([result.url])[result.url]
                self.crawler.engine.crawl(self._browser_request(result.url, result.url, source_id))
            else:
                self.in_flight.discard(result.url)

    def closed(self, reason: str) -> None:
        self._closing = True
        logger.info("the worker's crawl closed: %s", reason)

    def leftover(self) -> list[str]:
        """URLs taken but never finished (the crawl stopped first)."""
        return sorted(self.in_flight - set(self.results))
