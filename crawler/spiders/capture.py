"""CaptureSpider: capture a list of URLs now, with their page requisites.

Each seed URL ends in one :class:`SeedResult`. The HTTP path archives what the
server sends (``WarcWriterMiddleware`` writes the records); for HTML it then
queues the page's requisites and, when the page shows no text without
JavaScript (or ``--browser`` was given), captures it again in Chromium. Text
extraction (HTML and PDF alike) happens after the crawl (archive/changes/analysis.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import scrapy
from parsel import Selector
from scrapy import signals
from scrapy.exceptions import DontCloseSpider
from scrapy.http import Response, TextResponse
from twisted.internet import task

from archive.clock import utcnow
from archive.errors import CitewatchError
from archive.settings import Settings
from archive.store.exchange import Recorder, SeedResult
from archive.urls import probe_url
from crawler import browser, guardproxy
from crawler.outcomes import classify, describe, status_outcome, unfollowed_redirect
from crawler.pagecheck import needs_browser
from crawler.recording import Checks, checks_for, citewatch_settings, recorder_for
from crawler.requisites import css_requisites, html_requisites

if TYPE_CHECKING:
    from archive.store.exchange import Checked

logger = logging.getLogger(__name__)

# Requisites found on pages are looked up in the index in batches of this many.
_REQUISITE_BATCH = 200
# Seconds between sending a batch's lookup and collecting its answer.
_ANSWER_DELAY = 0.02


class CaptureSpider(scrapy.Spider):
    name = "capture"

    def __init__(
        self,
        urls: Iterable[str],
        browser: bool = False,
        on_result: Callable[[SeedResult], None] | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.seeds = list(dict.fromkeys(urls))
        self.force_browser = browser
        self.on_result = on_result
        self.results: dict[str, SeedResult] = {}
        self._started: dict[str, float] = {}
        self._requisites_seen: set[str] = set()
        self._waiting: list[tuple[str, tuple[str, str | None]]] = []
        self._flush_timer: asyncio.TimerHandle | None = None
        # Requisite batches whose freshness lookup was sent, with a function giving its answer.
        self._checking: list[tuple[list[tuple[str, tuple[str, str | None]]], Callable[[], set[str]]]] = []
        self.discovered: set[str] = set()
        self.start_error: CitewatchError | None = None
        self.unsaved = 0  # captures lost that no result names (requisites, failure rows)
        self._stopping: asyncio.Future[None] | None = None
        self._source_ids: dict[str, int] = {}  # seed -> its source's id
        # The pipeline (archive/pipeline.py), when this crawl's results go through it here, and
        # the results sent into it that have not come back.
        self.checks: Checks | None = None
        self._unchecked: dict[str, SeedResult] = {}
        self._retried: dict[str, SeedResult] = {}  # URL -> its HTTP capture, taken again in the browser
        self._poller: task.LoopingCall | None = None
        self._no_retries = False  # set once the crawl closes: nothing new may be fetched

    # -- helpers -------------------------------------------------------------
    @property
    def recorder(self) -> Recorder:
        return recorder_for(self.crawler)

    @property
    def cw(self) -> Settings:
        """The crawl's citewatch settings (archive/settings.py)."""
        return citewatch_settings(self.settings)

    def _finish(self, result: SeedResult) -> None:
        if result.url in self.results:
            return
        result = self._fallback(result)
        result.seconds = time.monotonic() - self._started.get(result.url, time.monotonic())
        result.source_id = result.source_id or self._source_ids.get(result.url)
        self.results[result.url] = result
        logger.info(
            "captured %s: %s %s via %s in %.2fs",
            result.url,
            result.outcome,
            result.status or "-",
            result.via,
            result.seconds,
        )
        if self.checks is not None:
            self._unchecked[result.url] = result
            retry = (
                result.via == "http"
                and not self.force_browser
                and self._may_retry()
                and result.analysis is None
            )
            self.checks.check([result], final=not retry)
        elif self.on_result:
            self.on_result(result)

    # -- the pipeline ----------------------------------------------------------
    def _fallback(self, result: SeedResult) -> SeedResult:
        """A page taken again in the browser that did not load there keeps its HTTP capture
        (and that capture's analysis), the browser's failure named in its message."""
        first = self._retried.pop(result.url, None)
        if first is None or result.ok or result.status is not None:
            return result
        first.message = f"{first.message}; the browser capture failed: {result.message}"
        return first  # its time, both captures', is set by _finish

    def _start_checks(self) -> None:
        """Send finished captures through the pipeline, when this crawl's results go through it,
        and collect what comes back a few times a second."""
        self.checks = checks_for(self.crawler)
        if self.checks is not None:
            self._poller = task.LoopingCall(self._collect_checks)
            self._poller.start(0.1, now=False).addErrback(self._poll_failed)
            self.crawler.signals.connect(self._stop_poller, signal=signals.spider_closed)

    def _stop_poller(self) -> None:
        self._no_retries = True
        if self._poller is not None and self._poller.running:
            self._poller.stop()

    def _may_retry(self) -> bool:
        return not self._no_retries and self._stopping is None

    def _poll_failed(self, failure: Any) -> None:
        logger.error("the pipeline failed: %s", failure.getErrorMessage())
        self._stop_crawl()

    def _collect_checks(self) -> int:
        """Take in what the pipeline sent back; returns how many pages went back to the browser."""
        return self._take_checked(self.checks, self.checks.checked()) if self.checks is not None else 0

    def _take_checked(self, checks: Checks, batches: list[Checked]) -> int:
        """File each result the pipeline finished, and capture again in the browser the pages it
        sent back (or, once the crawl is stopping, have their checks recorded as they are)."""
        retried = 0
        for results, again, error in batches:
            if error:
                logger.warning("%d captures were not analysed: %s", len(results), error)
            for result in results:
                if result.url not in self._unchecked:
                    continue
                if result.url in again and self._may_retry():
                    retried += self._retry_in_browser(result, again[result.url])
                elif result.url in again:
                    checks.check([result], final=True)
                else:
                    del self._unchecked[result.url]
                    self.results[result.url] = result  # as the pipeline filled it in
                    if self.on_result:
                        self.on_result(result)
        return retried

    def _retry_in_browser(self, result: SeedResult, reason: str) -> int:
        logger.warning("%s: capturing %s again in the browser", reason, result.url)
        del self._unchecked[result.url]
        del self.results[result.url]
        self._retried[result.url] = result
        self._started[result.url] = time.monotonic() - result.seconds  # the two captures' time, summed
        self.crawler.engine.crawl(self._browser_request(result.url, result.url, result.source_id))
        return 1

    def finish_checks(self) -> None:
        """After the crawl: wait for the pipeline to finish what it was sent (nothing is retried
        now: their checks are recorded as they are)."""
        if self.checks is None:
            return
        self._no_retries = True
        for _round in range(2):  # the second takes what the first could not retry
            if self._unchecked:
                self._take_checked(self.checks, self.checks.finish_checks())

    def _meta(self, seed: str, source_id: int | None, **extra: Any) -> dict[str, Any]:
        """Request meta of a seed. Cited URLs follow ``obey_robots_cited``; the pages citewatch
        found itself (``discovered``: an outlet's front page, resolved candidates) follow
        ``obey_robots_discovery``."""
        which = "DISCOVERY" if seed in self.discovered else "CITED"
        obey = bool(getattr(self.cw, f"obey_robots_{which.lower()}"))
        return {"seed": seed, "source_id": source_id, "dont_obey_robotstxt": not obey, **extra}

    def _browser_request(self, url: str, seed: str, source_id: int | None) -> scrapy.Request:
        collector = browser.ResponseCollector()
        meta = self._meta(
            seed,
            source_id,
            playwright=True,
            playwright_include_page=True,
            playwright_context="capture",
            playwright_context_kwargs={"service_workers": "block"},
            playwright_page_event_handlers={"response": collector},
            cw_collector=collector,
            playwright_page_goto_kwargs={"wait_until": "load"},
            _cw_started=time.monotonic(),
        )
        return scrapy.Request(
            url, callback=self.parse_browser, errback=self.on_error, meta=meta, dont_filter=True
        )

    def settle(self, recorder: Recorder, results: Iterable[SeedResult] | None = None) -> None:
        """After the crawl (or for ``results``, the ones just finished): commit, give each
        result its capture's row id, and fail those whose capture the recorder could not save
        (or cannot say it saved)."""
        chosen = self.results.values() if results is None else results
        keyed = [(r, r.snapshot_key) for r in chosen if r.snapshot_key]
        try:
            ids, failed = recorder.settle([key for _, key in keyed])
        except CitewatchError as exc:
            ids, failed = {}, {key: str(exc) for _, key in keyed}
        for result, key in keyed:
            result.snapshot_id = ids.get(key)
            if result.snapshot_id is None:
                why = failed.get(key) or "no index row was written for it"
                result.outcome, result.message = "error", f"not archived: {why}"
        others = len(set(failed) - {key for _, key in keyed})
        if others:
            first = next(iter(failed.values()))
            logger.warning("%d more captures (requisites, failure rows) were not saved: %s", others, first)
            self.unsaved += others

    # -- seeds ---------------------------------------------------------------
    async def start(self) -> AsyncIterator[scrapy.Request]:
        self.crawler.signals.connect(self._flush_when_idle, signal=signals.spider_idle)
        try:
            self._start_checks()
            requests = list(self._seed_requests(self.seeds))
        except CitewatchError as exc:  # no database to record in: nothing is fetched
            self.start_error = exc
            return
        for request in requests:
            yield request

    def _seed_requests(self, seeds: list[str]) -> Iterable[scrapy.Request]:
        """Requests capturing ``seeds``, each tracked as a Source, and the soft-404 probes of
        their hosts."""
        self.recorder.prefetch(seeds)
        source_ids = self.recorder.source_ids(seeds)
        self._source_ids.update(source_ids)
        self.recorder.commit()
        self._queue_probes(seeds)
        for url in seeds:
            self._started[url] = time.monotonic()
            source_id = source_ids[url]
            if self.force_browser:
                yield self._browser_request(url, url, source_id)
            else:
                yield scrapy.Request(
                    url,
                    callback=self.parse,
                    errback=self.on_error,
                    meta=self._meta(url, source_id),
                    dont_filter=True,
                )

    def _queue_probes(self, seeds: list[str]) -> None:
        """Ask which hosts need a soft-404 probe (a made-up URL, archive.urls.probe_url) and fetch
        those a moment later, like requisites, with no wait: what the host's "not found" pages
        look like, captured once per ``probe_max_age``."""
        if not self.cw.probe_soft_404:
            return
        probes = {probe_url(url): url for url in seeds}
        since = utcnow() - timedelta(seconds=self.cw.probe_max_age)
        fresh = self.recorder.prefetch_later(list(probes), fresh_since=since)
        self._checking.append(([(probe, (seed, None)) for probe, seed in probes.items()], fresh))
        asyncio.get_running_loop().call_later(_ANSWER_DELAY, self._schedule_checked)

    def _flush_when_idle(self) -> None:
        """Requisites wait to be batched and looked up; an idle crawl sends the last of them out,
        and waits for the pipeline (with nothing in flight, waiting costs nothing), which may
        send pages back to be captured in the browser."""
        scheduled = self._schedule_checked()
        if self._waiting:
            scheduled += self._flush_requisites(now=True)
        if self._unchecked and self.checks is not None and not scheduled:
            scheduled += self._take_checked(self.checks, self.checks.finish_checks())
        if scheduled:
            raise DontCloseSpider

    # -- HTTP responses ------------------------------------------------------
    async def parse(self, response: Response) -> list[scrapy.Request]:
        # A coroutine returning a list, not an async generator: Scrapy's
        # async-output path costs more per response than all of this.
        seed = response.meta["seed"]
        mime = (response.headers.get("Content-Type") or b"").decode("latin-1").split(";")[0].strip().lower()
        requisites: list[str] = []
        if isinstance(response, TextResponse) and "html" in mime:
            sel = self._selector(response)
            if response.status == 200 and self._wants_browser(sel):
                return [self._browser_request(response.url, seed, response.meta.get("source_id"))]
            if self.cw.page_requisites:
                requisites = html_requisites(response.url, sel)
        result = self._http_result(response, len(requisites))
        self._name_unfollowed_redirect(result, response)
        self._finish(result)
        self._queue_requisites(requisites, response)
        return []

    def _name_unfollowed_redirect(self, result: SeedResult, response: Response) -> None:
        """A redirect off http(s) ends here, unfollowed: the capture is named for it, and the
        archived redirect's row too (as a too-large body's is)."""
        odd = unfollowed_redirect(response.status, response.headers.get("Location"), response.url)
        if odd is None:
            return
        result.outcome, result.message = odd
        try:
            if result.snapshot_key:
                self.recorder.note(result.snapshot_key, *odd)
        except CitewatchError as exc:
            result.message = f"{result.message}; not recorded: {exc}"
            self._stop_crawl()

    def _decoded(self, response: TextResponse) -> str:
        try:
            return response.text
        except (UnicodeDecodeError, LookupError, ValueError):
            return response.body.decode("utf-8", "replace")

    def _selector(self, response: TextResponse) -> Selector:
        """The page parsed once (Scrapy caches it), or a lenient parse of broken bytes."""
        try:
            return response.selector
        except (UnicodeDecodeError, LookupError, ValueError):
            return Selector(text=self._decoded(response) or "<html></html>")

    def _wants_browser(self, sel: Selector) -> bool:
        return bool(self.cw.auto_browser) and needs_browser(sel)

    def _http_result(self, response: Response, requisites: int) -> SeedResult:
        seed = response.meta["seed"]
        outcome = status_outcome(response.status) or ("truncated" if response.meta.get("truncated") else "ok")
        message = f"HTTP {response.status}" + (f" from {response.url}" if response.url != seed else "")
        if response.meta.get("truncated"):
            message += f" (truncated: {response.meta['truncated']})"
        return SeedResult(
            seed,
            outcome,
            message,
            response.status,
            response.url,
            response.meta.get("snapshot_key"),
            "http",
            requisites,
        )

    # -- requisites ----------------------------------------------------------
    def _fresh_since(self) -> datetime | None:
        """Requisites captured after this are not fetched again (the ``requisites_max_age`` setting)."""
        max_age = self.cw.requisites_max_age
        return utcnow() - timedelta(seconds=max_age) if max_age > 0 else None

    def _queue_requisites(self, urls: list[str], response: Response) -> None:
        """Requisites wait here briefly so that one query covers many pages' worth."""
        new = [u for u in urls if u not in self._requisites_seen]
        self._requisites_seen.update(new)
        page = (response.meta["seed"], response.meta.get("snapshot_key"))
        self._waiting.extend((url, page) for url in new)
        if len(self._waiting) >= _REQUISITE_BATCH:
            self._flush_requisites()
        elif self._waiting and self._flush_timer is None:
            self._flush_timer = asyncio.get_running_loop().call_later(0.05, self._flush_requisites)

    def _flush_requisites(self, now: bool = False) -> int:
        """Look the waiting requisites up in one query, and fetch those not fresh.

        The answer is collected a moment later (``now``: at once), so that the
        crawl does not wait while an archiver process runs the query. Returns how
        many requests were scheduled now.
        """
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        waiting, self._waiting = self._waiting, []
        if not waiting:
            return 0
        try:
            fresh = self.recorder.prefetch_later([url for url, _ in waiting], fresh_since=self._fresh_since())
            if now:
                return self._schedule_requisites(waiting, fresh())
        except CitewatchError as exc:
            return self._lookup_failed(exc)
        self._checking.append((waiting, fresh))
        asyncio.get_running_loop().call_later(_ANSWER_DELAY, self._schedule_checked)
        return 0

    def _schedule_checked(self) -> int:
        """Schedule the requisites whose lookup was sent earlier."""
        checking, self._checking = self._checking, []
        try:
            return sum(self._schedule_requisites(waiting, fresh()) for waiting, fresh in checking)
        except CitewatchError as exc:
            return self._lookup_failed(exc)

    def _lookup_failed(self, exc: CitewatchError) -> int:
        logger.error("requisites not fetched: %s", exc)
        self._stop_crawl()
        return 0

    def _schedule_requisites(self, waiting: list[tuple[str, tuple[str, str | None]]], fresh: set[str]) -> int:
        scheduled = 0
        for url, (seed, page_key) in waiting:
            if url not in fresh:
                meta = self._meta(seed, None, page_key=page_key, requisite=True)
                request = scrapy.Request(
                    url,
                    callback=self.parse_requisite,
                    errback=self.on_error,
                    meta=meta,
                    dont_filter=True,
                    priority=1,
                )
                self.crawler.engine.crawl(request)
                scheduled += 1
        return scheduled

    def parse_requisite(self, response: Response) -> None:
        mime = (response.headers.get("Content-Type") or b"").decode("latin-1").lower()
        if "css" in mime and isinstance(response, TextResponse) and response.status == 200:
            self._queue_requisites(css_requisites(response.url, self._decoded(response)), response)

    # -- browser -------------------------------------------------------------
    async def parse_browser(self, response: Response) -> None:
        page = response.meta["playwright_page"]
        seed = response.meta["seed"]
        try:
            capture = await browser.record_page(
                page,
                response.url,
                response.meta["cw_collector"],
                self.recorder,
                response.meta.get("source_id"),
                self.cw.browser_settle_timeout,
            )
        finally:
            await page.close()
        if capture.blocked:
            outcome = capture.blocked_outcome
            self.recorder.record_failure(
                response.url,
                outcome,
                capture.blocked,
                via="browser",
                source_id=response.meta.get("source_id"),
            )
            self._finish(SeedResult(seed, outcome, capture.blocked, final_url=response.url, via="browser"))
            return
        status = capture.page_status or response.status
        outcome = status_outcome(status) or "ok"
        self._finish(
            SeedResult(
                seed,
                outcome,
                f"HTTP {status} in the browser, {capture.responses} responses "
                "recorded, screenshot and DOM kept",
                status,
                response.url,
                capture.page_key,
                "browser",
                capture.responses,
            )
        )

    # -- failures ------------------------------------------------------------
    def _stop_crawl(self) -> None:
        """The archive itself failed: stop, nothing fetched from now on could be kept."""
        if self._stopping is None:
            reason = "the archive failed"
            self._stopping = asyncio.ensure_future(self.crawler.engine.close_spider_async(reason=reason))

    def _record_error(self, request: Any, outcome: str, message: str) -> None:
        meta = request.meta
        if meta.get("snapshot_key") and outcome == "too-large":
            # The response itself was archived; only decoding it failed.
            self.recorder.note(meta["snapshot_key"], outcome, message)
            return
        # A failure after redirects is the asked-for URL's: filed under it (where `snapshots URL`
        # and the source's pages look), the hop it happened at named in the message.
        hops = meta.get("redirect_urls") or []
        if hops and hops[0] != request.url:
            message = f"{message} (at {request.url}, after {len(hops)} redirects)"
        self.recorder.record_failure(
            hops[0] if hops else request.url,
            outcome,
            message,
            source_id=meta.get("source_id"),
            page_key=meta.get("page_key"),
            via="browser" if meta.get("playwright") else "http",
        )

    async def on_error(self, failure: Any) -> None:
        request = failure.request
        meta = request.meta
        page = meta.get("playwright_page")
        if page is not None:
            await page.close()
        outcome, message = classify(describe(failure), request.url)
        tunnel_failed = outcome == "browser" and "ERR_TUNNEL_CONNECTION_FAILED" in message
        if meta.get("playwright") and guardproxy.CURRENT is not None and tunnel_failed:
            # A refused HTTPS hop fails the navigation; the guard proxy knows why. (Only that:
            # a page that timed out is no refusal, whatever the proxy refused meanwhile.)
            hops = browser.hop_targets(request.url, meta.get("cw_collector"))
            outcome, message = guardproxy.CURRENT.last_block_since(meta.get("_cw_started", 0.0), hops) or (
                outcome,
                message,
            )
        try:
            self._record_error(request, outcome, message)
        except CitewatchError as exc:
            message = f"{message}; not recorded: {exc}"
            self._stop_crawl()
        if not meta.get("requisite"):
            self._finish(
                SeedResult(
                    meta["seed"],
                    outcome,
                    message,
                    final_url=request.url,
                    snapshot_key=meta.get("snapshot_key"),
                    via="browser" if meta.get("playwright") else "http",
                )
            )
