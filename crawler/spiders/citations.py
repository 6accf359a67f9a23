"""CitationSpider: add a citing article, resolve its outlets, capture every source it cites.

One crawl does it all, because Scrapy's reactor runs once per process:

1. the article itself (fetched and captured when given as a URL) is read by
   :mod:`archive.articles.ingest` and stored with its claims and citations;
2. each outlet citation is resolved concurrently: :mod:`crawler.discovery`
   walks the outlet's sitemaps and feeds, :mod:`archive.articles.resolve` shortlists,
   the best few are fetched and confirmed, and the result is saved with its
   evidence;
3. every cited link, DOI, tracked candidate and outlet front page is captured
   like ``citewatch capture`` does (requisites, browser when needed).

Fetches in steps 1-2 go through ``engine.download_async``: the same downloader
middlewares (politeness per host, the address guard, robots.txt for discovery,
WARC records) without a callback round trip.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import scrapy
import trafilatura
from scrapy import signals
from scrapy.http import Response, TextResponse

from archive.articles import ingest, resolve
from archive.articles import storage as articles
from archive.articles.claims import ClaimDraft
from archive.changes.extract import pdf_text
from archive.clock import utcnow
from archive.models import Article, Citation, Outlet
from archive.store.exchange import SeedResult
from archive.store.recorder import CaptureRecorder
from crawler.discovery import Fetched, OutletDiscovery
from crawler.outcomes import classify, status_outcome
from crawler.spiders.capture import CaptureSpider

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

logger = logging.getLogger(__name__)


@dataclass
class ArticleInput:
    kind: str  # url | html | markdown | text | pdf
    data: str | bytes = ""  # the document, for files and stdin (bytes for HTML and PDF)
    url: str | None = None
    name: str = ""  # what the user gave: a path, "-" or the URL


@dataclass
class AddResult:
    article_id: int | None = None
    error: str | None = None
    outcome: str | None = None
    known: bool = False  # the article had been added before
    interrupted: int = 0  # outlet citations left unresolved by a stopped run


def _unused_callback(_response: Response) -> None:
    """Requests the spider downloads itself are never parsed by Scrapy."""


class CitationSpider(CaptureSpider):
    name = "citations"

    def __init__(
        self,
        article: ArticleInput,
        resolve_outlets: bool = True,
        on_result: Callable[[SeedResult], None] | None = None,
        on_progress: Callable[[str], None] | None = None,
        **kwargs: Any,
    ):
        super().__init__([], on_result=on_result, **kwargs)
        self.article_input = article
        self.resolve_outlets = resolve_outlets
        self.on_progress = on_progress or (lambda _message: None)
        self.added = AddResult()

    @property
    def _session(self) -> Session:
        """The recorder's own database session: run_add attaches no archiver, so this crawl
        records in its own process, through a CaptureRecorder."""
        recorder = self.recorder
        assert isinstance(recorder, CaptureRecorder)
        return recorder.session

    async def start(self) -> AsyncIterator[scrapy.Request]:
        self.crawler.signals.connect(self._flush_when_idle, signal=signals.spider_idle)
        try:
            self._start_checks()
            seeds = await self._add_and_resolve()
        except Exception as exc:  # the one line the user sees; the data written so far is kept
            logger.debug("adding the article failed", exc_info=True)
            self.added.outcome, self.added.error = "error", f"{exc.__class__.__name__}: {exc}"
            return
        self.seeds = seeds
        for request in self._seed_requests(seeds):
            yield request

    async def _add_and_resolve(self) -> list[str]:
        doc, source_id = await self._article_doc()
        if doc is None:
            return []
        if not doc.text.strip():
            self.added.outcome, self.added.error = "not-article", "no text found in it"
            return []
        article, known = articles.store_article(
            self._session,
            doc,
            self.cw.outlets,
            utcnow(),
            source_id,
            resolve=self.resolve_outlets,
        )
        self.recorder.commit()
        self.added.article_id, self.added.known = article.id, known
        again = " (added before: read again)" if known else ""
        self.on_progress(
            f"article {article.id}{again}: {len(article.claims)} claims, {len(article.citations)} citations"
        )
        if self.resolve_outlets:
            await self._resolve_all(article)
        return self._capture_targets(article)

    def closed(self, reason: str) -> None:
        """A run stopped early (Ctrl-C, a crash of a component) leaves no citation silently pending."""
        if self.added.article_id is None:
            return
        unfinished = articles.mark_unfinished(
            self._session,
            self.added.article_id,
            f"the run stopped ({reason}) before this outlet was resolved; add the article again",
        )
        if unfinished:
            self.added.interrupted = unfinished
            self.recorder.commit()

    # -- fetching outside callbacks ---------------------------------------------
    async def _download(self, url: str, meta: dict[str, Any]) -> Response | tuple[str, str]:
        """The response, or (outcome, message) of a failure, which is recorded like any other."""
        request = scrapy.Request(url, meta=meta, dont_filter=True, callback=_unused_callback)
        try:
            return await self.crawler.engine.download_async(request)
        except Exception as exc:  # every failure is recorded, none stops the crawl
            outcome, message = classify(exc, url)
            self.recorder.record_failure(url, outcome, message, source_id=meta.get("source_id"))
            logger.info("fetch of %s failed: %s", url, message)
            return outcome, message

    async def fetch_for_discovery(self, url: str) -> Fetched:
        obey = self.cw.obey_robots_discovery
        got = await self._download(url, {"seed": url, "dont_obey_robotstxt": not obey, "discovery": True})
        if isinstance(got, tuple):
            return Fetched(url, 0, b"", error=got[1])
        kind = (got.headers.get("Content-Type") or b"").decode("latin-1")
        return Fetched(got.url, got.status, got.body, kind)

    # -- the article --------------------------------------------------------------
    async def _article_doc(self) -> tuple[ingest.ArticleDoc | None, int | None]:
        given = self.article_input
        if given.kind == "url":
            return await self._fetch_article(given.url or "")
        data = given.data
        if given.kind == "pdf":
            return self._pdf_article(data if isinstance(data, bytes) else data.encode()), None
        if given.kind == "html":
            return ingest.from_html(data, None), None
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
        return (ingest.from_markdown(text) if given.kind == "markdown" else ingest.from_text(text)), None

    def _pdf_article(self, body: bytes, input_kind: str = "pdf") -> ingest.ArticleDoc | None:
        try:
            return ingest.from_text(pdf_text(body), input_kind=input_kind)
        except ValueError as exc:
            self.added.outcome, self.added.error = "not-article", f"no text in the PDF: {exc}"
            return None

    async def _fetch_article(self, url: str) -> tuple[ingest.ArticleDoc | None, int | None]:
        source_id = self.recorder.source_ids([url])[url]
        self._started[url] = time.monotonic()
        response = await self._download(url, self._meta(url, source_id))
        if isinstance(response, tuple):
            self.added.outcome, self.added.error = response
            self._finish(SeedResult(url, *response))
            return None, source_id
        for request in await self.parse(response):  # requisites and the result, as for any capture
            self.crawler.engine.crawl(request)
        if status_outcome(response.status):
            self.added.outcome = status_outcome(response.status)
            self.added.error = f"the article answered HTTP {response.status}"
            return None, source_id
        return self._read_article(response), source_id

    def _read_article(self, response: Response) -> ingest.ArticleDoc | None:
        mime = (response.headers.get("Content-Type") or b"").decode("latin-1").lower()
        if "pdf" in mime or response.body[:5] == b"%PDF-":
            doc = self._pdf_article(response.body, "url")
        elif isinstance(response, TextResponse) and ingest.is_binary(response.body):
            self.added.outcome, self.added.error = "not-article", f"not an article: binary data ({mime})"
            return None
        elif isinstance(response, TextResponse) and "html" in mime:
            doc = ingest.from_html(self._decoded(response), response.url, input_kind="url")
        elif isinstance(response, TextResponse) and mime.startswith("text/"):
            doc = ingest.from_text(self._decoded(response), input_kind="url")
        else:
            self.added.outcome, self.added.error = "not-article", f"not an article: {mime or 'no type'}"
            return None
        if doc is not None:
            doc.url = response.url
        return doc

    # -- outlets ------------------------------------------------------------------
    async def _resolve_all(self, article: Article) -> None:
        outlet_citations = [c for c in article.citations if c.kind == "outlet" and c.outlet_id]
        if outlet_citations:
            self.on_progress(f"resolving {len(outlet_citations)} outlets")
        await asyncio.gather(*(self._resolve(article, c) for c in outlet_citations))
        self.recorder.commit()

    async def _resolve(self, article: Article, citation: Citation) -> None:
        session = self._session
        outlet = session.get(Outlet, citation.outlet_id)
        assert outlet is not None  # outlet citations have an outlet_id, a foreign key
        started = time.monotonic()
        discovery = OutletDiscovery(
            outlet.domain,
            self.fetch_for_discovery,
            max_fetches=self.cw.discovery_max_fetches,
            max_urls=self.cw.discovery_max_urls,
            deadline=started + self.cw.discovery_max_seconds,
            target_month=article.published_at.strftime("%Y-%m") if article.published_at else None,
            window=resolve.window(
                article.published_at,
                self.cw.resolve_days_before,
                self.cw.resolve_days_after,
            ),
        )
        report = await discovery.run()
        claims = articles.claim_drafts(article)
        window = report.entries  # discovery kept only those in the date window
        ranked = resolve.shortlist(window, claims)
        final = await self._confirm(discovery, ranked, claims)
        summary = {
            "discovered": report.read,
            "in_window": len(window),
            "fetches": report.fetches,
            "sitemaps": report.sitemaps[:20],
            "feeds": report.feeds,
            "stopped": report.stopped,
            "problems": report.problems[:20],
            "seconds": round(time.monotonic() - started, 2),
        }
        articles.save_resolution(
            session,
            citation,
            final,  # every candidate in the window, with its score and evidence
            threshold=self.cw.resolve_threshold,
            max_sources=self.cw.resolve_max_sources,
            front_url=report.front_url,
            report=summary,
            now=utcnow(),
        )
        self.on_progress(f"{outlet.domain}: {citation.resolution['status']} ({len(window)} candidates)")

    async def _confirm(
        self, discovery: OutletDiscovery, ranked: list[resolve.Scored], claims: list[ClaimDraft]
    ) -> list[resolve.Scored]:
        """Fetch and score the shortlist's best; while none clears the threshold, the next best,
        until the outlet's fetch or time budget runs out: a page with a plain title can rank low
        on titles alone."""
        batch = max(1, self.cw.resolve_confirm)
        threshold = self.cw.resolve_threshold
        texts: dict[str, str] = {}
        done, final = 0, []
        while done < len(ranked) and discovery.has_budget():
            texts.update(await self._confirm_texts(discovery, ranked[done : done + batch]))
            done = min(len(ranked), done + batch)
            final = resolve.confirm(ranked[:done], texts, claims)
            if any(s.confirmed and s.score >= threshold for s in final):
                break
        return final + ranked[done:]

    async def _confirm_texts(self, discovery: OutletDiscovery, top: list[resolve.Scored]) -> dict[str, str]:
        fetched = await asyncio.gather(*(discovery.fetch(s.entry.url) for s in top))
        texts = {}
        for scored, got in zip(top, fetched, strict=True):
            if got is not None and "html" in got.content_type.lower():
                texts[scored.entry.url] = await asyncio.to_thread(_main_text, got.text, got.url)
        return texts

    # -- what gets captured -------------------------------------------------------
    def _capture_targets(self, article: Article) -> list[str]:
        """Cited links and DOIs, then what resolution found (tracked candidates, front pages),
        which is fetched under the discovery robots.txt policy."""
        cited: list[str] = []
        found: list[str] = []
        for citation in sorted(article.citations, key=lambda c: c.position or 0):
            cited += [citation.url] if citation.url else []
            found += [c.url for c in citation.candidates if c.source_id is not None]
            front = (citation.resolution or {}).get("front_page")
            found += [front] if front else []
        self.discovered.update(u for u in found if u not in cited)
        return [u for u in dict.fromkeys(cited + found) if u not in self.results]


def _main_text(html: str, url: str) -> str:
    return trafilatura.extract(html, url=url, favor_recall=True, include_comments=False) or ""
