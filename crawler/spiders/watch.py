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
from scrapy.downloadermiddlewares.cookies import CookiesMiddleware
from scrapy.exceptions import DontCloseSpider
from twisted.internet import task

from archive.store.exchange import SeedResult
from crawler.spiders.capture import CaptureSpider

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

    def __init__(self, feed: Feed, tick: float = 0.5, deadline: float = 600.0, **kwargs: Any):
        super().__init__([], **kwargs)
        self.feed = feed
        self.tick = tick
        self.deadline = deadline  # seconds a check may take before it is given up
        self.in_flight: dict[str, float] = {}  # URL -> when it was taken
        self.failure: BaseException | None = None
        self._ticker: task.LoopingCall | None = None
        self._closing = False
        self._closer: asyncio.Future[None] | None = None
        # Each check gets a cookie jar of its own, dropped two minutes after it ends (its
        # requisites use it too): a site's cookies do not pile up for the worker's whole life,
        # nor change what a later check is shown.
        self._jars: dict[str, int] = {}
        self._next_jar = 0
        self._cookies: Any = None
        self._ended: list[tuple[float, str, int]] = []  # (when, URL, jar) of checks that ended
        # URLs whose check was given up while its request still runs: their late result is
        # dropped, and they are not taken again until it comes. URL -> (when, the give-up).
        self._abandoned: dict[str, tuple[float, SeedResult]] = {}

    async def start(self) -> AsyncIterator[scrapy.Request]:
        self.crawler.signals.connect(self._flush_when_idle, signal=signals.spider_idle)
        self.crawler.signals.connect(self._keep_open, signal=signals.spider_idle)
        self.crawler.signals.connect(self._on_closed, signal=signals.spider_closed)
        self.crawler.signals.connect(self._on_spider_error, signal=signals.spider_error)
        self.crawler.signals.connect(self._on_dropped, signal=signals.request_dropped)
        self._cookies = next(
            (
                m
                for m in self.crawler.engine.downloader.middleware.middlewares
                if isinstance(m, CookiesMiddleware)
            ),
            None,
        )
        self._ticker = task.LoopingCall(self._tick)
        self._ticker.start(self.tick, now=True).addErrback(self._tick_failed)
        return
        yield  # an async generator with nothing to start with

    def _meta(self, seed: str, source_id: int | None, **extra: Any) -> dict[str, Any]:
        meta = super()._meta(seed, source_id, **extra)
        if seed in self._jars:
            meta["cookiejar"] = self._jars[seed]
        return meta

    def _keep_open(self) -> None:
        if not self._closing:
            raise DontCloseSpider

    def _on_closed(self) -> None:
        self._closing = True
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

    # -- checks that end without a result of their own -------------------------------------
    def _end_check(self, request: Any, outcome: str, message: str) -> None:
        seed = request.meta.get("seed")
        if seed in self.in_flight and not request.meta.get("requisite") and seed not in self.results:
            logger.warning("%s: %s", seed, message)
            self._finish(SeedResult(seed, outcome, message, final_url=request.url))

    def _on_spider_error(self, failure: Any, response: Any, spider: Any) -> None:
        self._end_check(response.request, "error", f"the capture failed: {failure.getErrorMessage()}")

    def _on_dropped(self, request: Any, spider: Any) -> None:
        self._end_check(request, "error", "the crawl dropped the request")

    # -- one tick: report what finished, take new work -----------------------------------
    def _tick(self) -> None:
        # Nothing this process wrote stays uncommitted while the feed writes: on SQLite its
        # writes would wait for this very thread.
        self.recorder.commit()
        self._give_up_late()
        self.report()
        if self._closing:
            return
        if self.feed.stopping():
            self._close("shutdown")
            return
        self._sweep_jars()
        if len(self._requisites_seen) > _SEEN_LIMIT:
            self._requisites_seen.clear()
        probes = self.feed.probes()
        if probes:
            self._queue_probes(probes)
        taken = self.feed.take()
        busy = [url for url in taken if url in self._abandoned]
        if busy:  # back to the queue: its last check's request has not come back yet
            self.feed.unfinished(busy)
        new = [url for url in taken if url not in busy and url not in self.in_flight]
        if new:
            now = time.monotonic()
            for url in new:
                self.in_flight[url] = now
                self._jars[url] = self._next_jar
                self._next_jar += 1
            for request in self._seed_requests(new):
                self.crawler.engine.crawl(request)

    def _give_up_late(self) -> None:
        """A check still running after ``deadline`` seconds ends as an error (its request may
        be stuck behind a host's delay, or lost): its source must not wait for ever. A request
        given up that never comes back is forgotten after as long again."""
        late = time.monotonic() - self.deadline
        for url, (when, _result) in list(self._abandoned.items()):
            if when < late:
                del self._abandoned[url]
        for url, taken in list(self.in_flight.items()):
            if taken < late and url not in self.results:
                give_up = SeedResult(url, "error", f"the check took more than {self.deadline:.0f}s")
                self._finish(give_up)
                self._abandoned[url] = (time.monotonic(), give_up)

    def report(self) -> None:
        """Hand the captures finished since the last call to the feed, with their row ids."""
        finished = [self.results.pop(url) for url in list(self.results)]
        finished = self._drop_late(finished)
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
                del self.in_flight[result.url]
                self._ended.append((time.monotonic(), result.url, self._jars.get(result.url, -1)))

    def _drop_late(self, finished: list[SeedResult]) -> list[SeedResult]:
        """The results of checks in hand; the late result of a check given up only ends its
        abandonment."""
        kept = []
        for result in finished:
            abandoned = self._abandoned.get(result.url)
            if abandoned is not None and result is not abandoned[1]:
                del self._abandoned[result.url]
            elif result.url in self.in_flight:
                kept.append(result)
        return kept

    def _sweep_jars(self, linger: float = 120.0) -> None:
        """Drop the cookie jars of checks that ended a while ago (their requisites, queued a
        moment after the page, have used them by then)."""
        cutoff = time.monotonic() - linger
        while self._ended and self._ended[0][0] < cutoff:
            _when, url, jar = self._ended.pop(0)
            if self._jars.get(url) == jar and url not in self.in_flight:
                del self._jars[url]
            if self._cookies is not None:
                self._cookies.jars.pop(jar, None)

    def closed(self, reason: str) -> None:
        logger.info("the worker's crawl closed: %s", reason)

    def leftover(self) -> list[str]:
        """URLs taken but never finished (the crawl stopped first)."""
        return sorted(set(self.in_flight) - set(self.results))
