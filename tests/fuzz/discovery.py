"""Fuzz target: an outlet's robots.txt, sitemaps, feeds and front page, as discovery walks them.

Entry point: :meth:`crawler.discovery.OutletDiscovery.run`, the walk the citations spider makes
for each outlet named without a link, with a ``fetch`` that answers from the input instead of
the network; then what the spider does with the entries (:func:`archive.articles.resolve.shortlist` and
:func:`archive.articles.resolve.confirm`). The walk turns a sitemap or feed it cannot read (the
``ValueError`` of ``parse_sitemap``/``parse_feed``) into a line of its report; nothing may
escape it.

The first byte of the input picks the document it stands for (its value modulo 4): 0 the front
page, 1 robots.txt, 2 every sitemap, 3 the feed. The other documents are small, fixed and
well-formed, so that the walk reaches the fuzzed one.
"""

from __future__ import annotations

import asyncio
import functools
import time
from datetime import datetime

from tests.fuzz import harness

DOMAIN = "outlet.test"
FRONT = (
    b"<html><head><link rel='alternate' type='application/rss+xml' href='/feed'></head><body>"
    b"<a href='/2025/10/desertion-crisis'>Desertion crisis deepens in Ukraine</a></body></html>"
)
ROBOTS = b"User-agent: *\nDisallow: /private\nSitemap: https://outlet.test/sitemap.xml\n"
SITEMAP = (
    b'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
    b"<url><loc>https://outlet.test/2025/10/army</loc><lastmod>2025-10-30</lastmod></url></urlset>"
)
FEED = (
    b"<?xml version='1.0'?><rss version='2.0'><channel><title>Outlet</title><item><title>Troops"
    b"</title><link>https://outlet.test/2025/10/troops</link><pubDate>Thu, 30 Oct 2025 10:00:00 GMT"
    b"</pubDate></item></channel></rss>"
)
KINDS = ("front", "robots", "sitemap", "feed")
WINDOW = (datetime(2025, 10, 1), datetime(2025, 12, 1))  # what resolve.window gives around the article


@functools.cache
def _claims() -> list:
    from archive.articles.claims import extract_claims

    return extract_claims(
        "Prosecutors have opened more than 253,000 criminal cases since 2022, according to the "
        'Prosecutor General\'s Office. "Everybody is tired," one soldier told the Kyiv Independent.'
    )


def TestOneInput(data: bytes) -> None:
    from crawler.discovery import Fetched, OutletDiscovery

    if not data:
        return
    kind, body = KINDS[data[0] % 4], data[1:]
    documents = {"front": FRONT, "robots": ROBOTS, "sitemap": SITEMAP, "feed": FEED, kind: body}

    async def fetch(url: str) -> Fetched:
        path = url.split(DOMAIN, 1)[-1]
        if path == "/":
            return Fetched(url, 200, documents["front"], "text/html")
        if path == "/robots.txt":
            return Fetched(url, 200, documents["robots"], "text/plain")
        if path == "/feed":
            return Fetched(url, 200, documents["feed"], "application/rss+xml")
        if "sitemap" in path or kind == "sitemap":  # sub-sitemaps of a fuzzed index too
            return Fetched(url, 200, documents["sitemap"], "application/xml")
        return Fetched(url, 404, b"", "text/html")

    walk = OutletDiscovery(
        DOMAIN, fetch, max_fetches=8, max_urls=50, deadline=time.monotonic() + 60, window=WINDOW
    )
    report = asyncio.run(walk.run())
    _rank(report.entries, body.decode("utf-8", "replace"))


def _rank(entries: list, text: str) -> None:
    """The spider's next steps: rank the entries, then score the best with a page's text."""
    from archive.articles import resolve

    ranked = resolve.shortlist(entries, _claims())
    resolve.confirm(ranked[:3], {scored.entry.url: text for scored in ranked[:3]}, _claims())


if __name__ == "__main__":
    harness.main(
        TestOneInput,
        "discovery",
        ["crawler.discovery", "archive.articles.resolve", "archive.articles.claims"],
    )
