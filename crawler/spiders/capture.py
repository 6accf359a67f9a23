"""CaptureSpider: capture a list of URLs now, with their page requisites.

Each seed URL ends in one :class:`SeedResult`. The HTTP path archives what the
server sends (``WarcWriterMiddleware`` writes the records); for HTML it then
queues the page's requisites and, when the page shows no text without
JavaScript (or ``--browser`` was given), captures it again in Chromium. PDFs
have their text extracted for later diffing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import scrapy
from scrapy.http import Response, TextResponse
from sqlalchemy import select

from archive import index
from archive.extract import needs_browser, pdf_text
from archive.models import Snapshot
from archive.warc import utcnow
from crawler import browser
from crawler.outcomes import classify, describe, status_outcome
from crawler.recording import recorder_for
from crawler.requisites import css_requisites, html_requisites

logger = logging.getLogger(__name__)


@dataclass
class SeedResult:
    """How the capture of one requested URL ended."""

    url: str
    outcome: str  # ok | truncated | http-4xx | http-5xx | a failure code from crawler.outcomes
    message: str
    status: int | None = None
    final_url: str | None = None
    snapshot_id: int | None = None
    via: str = "http"
    requisites: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.outcome in {"ok", "truncated"}


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

    # -- helpers -------------------------------------------------------------
    @property
    def recorder(self):  # type: ignore[no-untyped-def]
        return recorder_for(self.crawler)

    def _finish(self, result: SeedResult) -> None:
        if result.url in self.results:
            return
        result.seconds = time.monotonic() - self._started.get(result.url, time.monotonic())
        self.results[result.url] = result
        logger.info(
            "captured %s: %s %s via %s in %.2fs",
            result.url,
            result.outcome,
            result.status or "-",
            result.via,
            result.seconds,
        )
        if self.on_result:
            self.on_result(result)

    def _meta(self, seed: str, source_id: int | None, **extra: Any) -> dict[str, Any]:
        obey = self.settings.getbool("ARCHIVE_OBEY_ROBOTS_CITED")
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
        )
        return scrapy.Request(
            url, callback=self.parse_browser, errback=self.on_error, meta=meta, dont_filter=True
        )

    # -- seeds ---------------------------------------------------------------
    async def start(self) -> AsyncIterator[scrapy.Request]:
        for url in self.seeds:
            self._started[url] = time.monotonic()
            source_id = self.recorder.source_id(url)
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
        self.recorder.commit()

    # -- HTTP responses ------------------------------------------------------
    async def parse(self, response: Response) -> AsyncIterator[scrapy.Request]:
        seed = response.meta["seed"]
        mime = (response.headers.get("Content-Type") or b"").decode("latin-1").split(";")[0].strip().lower()
        if mime == "application/pdf" or response.body[:5] == b"%PDF-":
            await self._extract_pdf(response)
        requisites: list[str] = []
        if isinstance(response, TextResponse) and "html" in mime:
            html = self._decoded(response)
            if response.status == 200 and self._wants_browser(html):
                yield self._browser_request(response.url, seed, response.meta.get("source_id"))
                return
            if html and self.settings.getbool("ARCHIVE_PAGE_REQUISITES"):
                requisites = html_requisites(response.url, html)
        self._finish(self._http_result(response, len(requisites)))
        for request in self._requisite_requests(requisites, response):
            yield request

    def _decoded(self, response: TextResponse) -> str:
        try:
            return response.text
        except (UnicodeDecodeError, LookupError, ValueError):
            return response.body.decode("utf-8", "replace")

    def _wants_browser(self, html: str) -> bool:
        return self.settings.getbool("ARCHIVE_AUTO_BROWSER") and needs_browser(html)

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
            response.meta.get("snapshot_id"),
            "http",
            requisites,
        )

    async def _extract_pdf(self, response: Response) -> None:
        digest = response.meta.get("payload_digest")
        try:
            text = await asyncio.to_thread(pdf_text, response.body)
        except ValueError as exc:
            self.recorder.note(response.meta["snapshot_id"], "ok", f"no text extracted: {exc}")
            return
        if digest:
            self.recorder.store_text(digest, "pypdf", text)

    # -- requisites ----------------------------------------------------------
    def _fresh(self, urls: list[str]) -> set[str]:
        """URLs among ``urls`` captured within ``ARCHIVE_REQUISITES_MAX_AGE``: not fetched again."""
        max_age = self.settings.getfloat("ARCHIVE_REQUISITES_MAX_AGE")
        if not urls or max_age <= 0:
            return set()
        since = utcnow() - timedelta(seconds=max_age)
        keys = {index.surt_key(u): u for u in urls}
        rows = self.recorder.session.scalars(
            select(Snapshot.surt).where(
                Snapshot.surt.in_(list(keys)),
                Snapshot.captured_at >= since,
                Snapshot.record_type.in_(("response", "revisit")),
                Snapshot.status < 400,
            )
        )
        return {keys[s] for s in rows if s in keys}

    def _requisite_requests(self, urls: list[str], response: Response) -> Iterable[scrapy.Request]:
        new = [u for u in urls if u not in self._requisites_seen]
        self._requisites_seen.update(new)
        fresh = self._fresh(new)
        for url in new:
            if url in fresh:
                continue
            meta = self._meta(
                response.meta["seed"], None, page_id=response.meta.get("snapshot_id"), requisite=True
            )
            yield scrapy.Request(
                url,
                callback=self.parse_requisite,
                errback=self.on_error,
                meta=meta,
                dont_filter=True,
                priority=1,
            )

    def parse_requisite(self, response: Response) -> Iterable[scrapy.Request]:
        mime = (response.headers.get("Content-Type") or b"").decode("latin-1").lower()
        if "css" in mime and isinstance(response, TextResponse) and response.status == 200:
            yield from self._requisite_requests(
                css_requisites(response.url, self._decoded(response)), response
            )

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
                self.settings.getfloat("ARCHIVE_BROWSER_SETTLE"),
            )
        finally:
            await page.close()
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
                capture.page_snapshot_id,
                "browser",
                capture.responses,
            )
        )

    # -- failures ------------------------------------------------------------
    async def on_error(self, failure: Any) -> None:
        request = failure.request
        meta = request.meta
        page = meta.get("playwright_page")
        if page is not None:
            await page.close()
        outcome, message = classify(describe(failure), request.url)
        if meta.get("snapshot_id") and outcome == "too-large":
            # The response itself was archived; only decoding it failed.
            self.recorder.note(meta["snapshot_id"], outcome, message)
        else:
            self.recorder.record_failure(
                request.url,
                outcome,
                message,
                source_id=meta.get("source_id"),
                page_id=meta.get("page_id"),
                via="browser" if meta.get("playwright") else "http",
            )
        if not meta.get("requisite"):
            self._finish(
                SeedResult(
                    meta["seed"],
                    outcome,
                    message,
                    final_url=request.url,
                    snapshot_id=meta.get("snapshot_id"),
                    via="browser" if meta.get("playwright") else "http",
                )
            )
