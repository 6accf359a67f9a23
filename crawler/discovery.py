"""Find an outlet's recent pages: robots.txt sitemaps, /sitemap.xml, news sitemaps, sitemap
indexes, feeds linked from the front page, and the front page's own links.

:class:`OutletDiscovery` drives the walk through a ``fetch`` coroutine the spider
provides (every fetch goes through the crawl's middlewares: politeness, the
address guard, robots.txt, WARC records). It is bounded three ways: requests
(``discovery_max_fetches``), entries read (``discovery_max_urls``) and time
(``discovery_max_seconds``). Parsing is done by ultimate-sitemap-parser
(sitemaps), feedparser (RSS/Atom) and parsel (HTML), on bytes already fetched, in a
worker thread so a large sitemap does not stall the other outlets' fetches.
"""

from __future__ import annotations

import asyncio
import logging
import time
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urljoin, urlsplit

import feedparser
from parsel import Selector
from protego import Protego
from usp.objects.sitemap import AbstractIndexSitemap, AbstractPagesSitemap
from usp.tree import sitemap_from_str

from archive.articles.ingest import normalise_url
from archive.articles.resolve import Entry, in_window, naive_utc

logger = logging.getLogger(__name__)
logging.getLogger("usp").setLevel(logging.CRITICAL)  # it logs every malformed sitemap at ERROR

_FEED_TYPES = {"application/rss+xml", "application/atom+xml", "application/xml", "text/xml"}
_MAX_XML = 20 * 10**6  # bytes of one sitemap or feed, after decompression
_MAX_FEEDS = 5
_MAX_FRONT_LINKS = 500


@dataclass
class Fetched:
    """What ``fetch`` returns: the final URL, status and body, or status 0 and why it failed."""

    url: str
    status: int  # 0: no response, ``error`` says why
    body: bytes
    content_type: str = ""
    error: str = ""

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


Fetch = Callable[[str], Awaitable[Fetched]]


@dataclass
class DiscoveryReport:
    """What was found for one outlet, and how the walk went."""

    domain: str
    front_url: str | None = None
    entries: list[Entry] = field(default_factory=list)
    sitemaps: list[str] = field(default_factory=list)
    feeds: list[str] = field(default_factory=list)
    fetches: int = 0
    stopped: str | None = None  # why the walk stopped early: fetch limit, time limit, entry limit
    read: int = 0  # sitemap, feed and front-page entries read, before the date window
    problems: list[str] = field(default_factory=list)


def robots_sitemaps(text: str) -> list[str]:
    """
    >>> robots_sitemaps("User-agent: *\\nDisallow: /x\\nSitemap: https://a.org/s.xml\\n")
    ['https://a.org/s.xml']
    """
    return list(dict.fromkeys(Protego.parse(text).sitemaps))


def maybe_gunzip(body: bytes) -> bytes:
    """A ``.xml.gz`` sitemap's XML, at most ``_MAX_XML`` bytes of it (a gzip bomb stops there)."""
    if body[:2] != b"\x1f\x8b":
        return body
    try:
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(body, _MAX_XML)
    except zlib.error as exc:
        raise ValueError(f"broken gzip: {exc}") from exc


def parse_sitemap(body: bytes) -> tuple[list[Entry], list[str]]:
    """Pages and sub-sitemaps of one sitemap document (urlset, news sitemap, index or text list)."""
    tree = sitemap_from_str(maybe_gunzip(body).decode("utf-8", "replace"))
    if isinstance(tree, AbstractIndexSitemap):
        return [], [sub.url for sub in tree.sub_sitemaps]
    if not isinstance(tree, AbstractPagesSitemap):
        raise ValueError("not a sitemap")
    if not tree.pages:  # what usp makes of malformed XML or of text that lists no URL
        raise ValueError("no page URLs: malformed or empty sitemap")
    entries = []
    for page in tree.pages:
        news = page.news_story
        published = (news.publish_date if news else None) or page.last_modified
        title = news.title if news and news.title else ""
        entries.append(Entry(page.url, title, "", published, "news-sitemap" if news else "sitemap"))
    return entries, []


def _feed_date(item: feedparser.FeedParserDict) -> datetime | None:
    parsed = item.get("published_parsed") or item.get("updated_parsed")
    try:
        return datetime(*parsed[:6]) if parsed else None
    except (TypeError, ValueError):  # a feed with bad dates
        return None


def parse_feed(body: bytes, base: str = "") -> list[Entry]:
    headers = {"content-location": base} if base else None
    try:
        feed = feedparser.parse(maybe_gunzip(body), response_headers=headers)
    except Exception as exc:  # feedparser's own bugs on broken markup (a KeyError on a link in a link)
        raise ValueError(f"not a feed: the feed parser failed ({type(exc).__name__}: {exc})") from exc
    if not feed.entries and feed.get("bozo"):
        raise ValueError(f"not a feed: {feed.get('bozo_exception')}")
    entries = []
    for item in feed.entries:
        summary = Selector(text=item.get("summary") or "<p></p>").xpath("string()").get() or ""
        if item.get("link"):
            entries.append(
                Entry(
                    urljoin(base, item.link), item.get("title", ""), summary.strip(), _feed_date(item), "feed"
                )
            )
    return entries


def feed_links(html: str, base: str) -> list[str]:
    """Feeds a page announces with ``<link rel="alternate" type="application/rss+xml">``."""
    sel = Selector(text=html or "<html></html>")
    found = []
    # Attributes are read one by one from lxml: parsel's .attrib decodes them all, and raises
    # ValueError for a page whose attribute name holds a control character.
    for link in sel.xpath("//link[@href]"):
        rels = (link.root.get("rel") or "").lower().split()
        kind = (link.root.get("type") or "").lower()
        if "alternate" in rels and kind in _FEED_TYPES:
            found.append(urljoin(base, link.root.get("href")))
    return list(dict.fromkeys(found))


def page_links(html: str, base: str, domain: str) -> list[Entry]:
    """Links of a front page to its own site's articles, with their anchor text as titles."""
    sel = Selector(text=html or "<html></html>")
    entries: dict[str, Entry] = {}
    for anchor in sel.xpath("//a[@href]"):
        url = normalise_url(anchor.root.get("href"), base)  # not .attrib: see feed_links
        title = " ".join(" ".join(anchor.xpath(".//text()").getall()).split())
        if url and same_site(url, domain) and len(title.split()) >= 3 and urlsplit(url).path.count("/") >= 1:
            entries.setdefault(url, Entry(url, title, "", None, "front-page"))
    return list(entries.values())


def same_site(url: str, domain: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host == domain or host.endswith("." + domain)


class OutletDiscovery:
    """One outlet's walk: robots.txt, sitemaps, front page, feeds; bounded."""

    def __init__(
        self,
        domain: str,
        fetch: Fetch,
        *,
        max_fetches: int,
        max_urls: int,
        deadline: float,
        target_month: str | None = None,
        window: tuple[datetime, datetime] | None = None,
    ):
        self.domain = domain
        self.window = window  # entries dated outside it are not kept
        self._fetch = fetch
        self.max_fetches, self.max_urls, self.deadline = max_fetches, max_urls, deadline
        self.target_month = target_month  # "2025-10": sub-sitemaps naming it are read first
        self.report = DiscoveryReport(domain)
        self._seen: set[str] = set()

    def has_budget(self) -> bool:
        """Requests and time left; says in the report which limit stopped the walk."""
        if self.report.fetches >= self.max_fetches:
            self.report.stopped = self.report.stopped or "fetch limit"
        elif time.monotonic() >= self.deadline:
            self.report.stopped = self.report.stopped or "time limit"
        else:
            return True
        return False

    def _keep(self, entries: list[Entry]) -> None:
        """Keep the entries in the date window (undated ones too), at most ``max_urls``: the
        newest, when there are more (a 50,000-URL sitemap of old pages must not push out the
        article that was cited)."""
        self.report.read += len(entries)
        kept = self.report.entries + in_window(entries, self.window)
        if len(kept) > self.max_urls:
            kept.sort(
                key=lambda e: (
                    e.published is None,
                    -(naive_utc(e.published).timestamp() if e.published else 0),
                )
            )
            kept = kept[: self.max_urls]
            self.report.stopped = self.report.stopped or "entry limit"
        self.report.entries = kept

    async def fetch(self, url: str) -> Fetched | None:
        if url in self._seen or not self.has_budget():
            return None
        self._seen.add(url)
        self.report.fetches += 1
        got = await self._fetch(url)
        if not 200 <= got.status < 400:
            self.report.problems.append(f"{url}: {got.error or f'HTTP {got.status}'}")
            return None
        return got

    async def run(self) -> DiscoveryReport:
        front = await self._front_page()
        await self._read_feeds()
        sitemaps = await self._robots_sitemaps(front)
        await self._read_sitemaps(sitemaps)
        if not self.report.entries:
            self.report.problems.append(
                "no candidates in the date window: not in sitemaps, feeds or front page"
            )
        self._dedupe()
        return self.report

    async def _front_page(self) -> str:
        for scheme in ("https", "http"):
            got = await self.fetch(f"{scheme}://{self.domain}/")
            if got is not None:
                self.report.front_url = got.url
                html = got.text
                self.report.feeds = feed_links(html, got.url)[:_MAX_FEEDS]
                links = await asyncio.to_thread(page_links, html, got.url, self.domain)
                self._keep(links[:_MAX_FRONT_LINKS])
                return f"{urlsplit(got.url).scheme}://{urlsplit(got.url).netloc}"
        self.report.front_url = f"https://{self.domain}/"  # tracked all the same: it may come back
        return f"https://{self.domain}"

    async def _robots_sitemaps(self, origin: str) -> list[str]:
        got = await self.fetch(f"{origin}/robots.txt")
        listed = robots_sitemaps(got.text) if got is not None else []
        return listed or [f"{origin}/sitemap.xml"]

    def _order(self, urls: list[str]) -> list[str]:
        """Sub-sitemaps naming the citing article's month first, then news sitemaps, then the rest."""
        month = self.target_month or "\0"
        keys = (month, month.replace("-", "/"), month.replace("-", ""))

        def key(url: str) -> tuple[bool, bool]:
            return (not any(k in url for k in keys), "news" not in url.lower())

        return sorted(urls, key=key)

    async def _read_sitemaps(self, queue: list[str]) -> None:
        queue = list(queue)
        while queue and self.has_budget():
            url = queue.pop(0)
            got = await self.fetch(url)
            if got is None:
                continue
            try:
                entries, subs = await asyncio.to_thread(parse_sitemap, got.body)
            except ValueError as exc:
                self.report.problems.append(f"{url}: {exc}")
                continue
            self.report.sitemaps.append(url)
            self._keep(entries)
            queue = self._order([s for s in subs if s not in self._seen] + queue)

    async def _read_feeds(self) -> None:
        for url in self.report.feeds:
            got = await self.fetch(url)
            if got is None:
                continue
            try:
                self._keep(await asyncio.to_thread(parse_feed, got.body, got.url))
            except ValueError as exc:
                self.report.problems.append(f"{url}: {exc}")

    def _dedupe(self) -> None:
        """One entry per URL, on the outlet's own site; titles and dates merged from all sources."""
        merged: dict[str, Entry] = {}
        for entry in self.report.entries:
            url = normalise_url(entry.url)
            if url is None or not same_site(url, self.domain):
                continue
            known = merged.setdefault(url, Entry(url, found_via=entry.found_via))
            known.title = known.title or entry.title
            known.summary = known.summary or entry.summary
            known.published = known.published or entry.published
        front = normalise_url(self.report.front_url or "")
        self.report.entries = [e for u, e in merged.items() if u != front]
