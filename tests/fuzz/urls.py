"""Fuzz target: URLs from strangers, checked, normalised and put past the address guard.

Entry points:

- :func:`archive.urls.check_url`, for what a user types (``citewatch capture``/``add``/``track``,
  the JSON API). It returns a fetchable URL or raises ``BadURLError``, which the CLI prints as one
  line and the API answers with 400; any other exception is a crash. Command-line arguments reach
  it decoded with ``surrogateescape``, so the input is decoded that way.
- :func:`archive.articles.ingest.normalise_url`, for every link of a citing article and of an outlet's
  pages (``href`` values, Markdown links, bare URLs): a URL or None, never an exception.
- :func:`crawler.netguard.host_forbidden_reason` on a URL's host (the guard middleware) and on
  any text (the guard proxy's ``CONNECT`` host), and :func:`crawler.netguard.forbidden_reason`.
"""

from __future__ import annotations

import contextlib
from urllib.parse import urlsplit

from tests.fuzz import harness

PAGE_URL = "https://example-news.org/2025/10/story?id=7"


def TestOneInput(data: bytes) -> None:
    from archive import urls
    from archive.articles import ingest
    from archive.errors import BadURLError
    from crawler import netguard

    data = harness.amplified(data)
    typed = data.decode("utf-8", "surrogateescape")
    try:
        checked = urls.check_url(typed)
    except BadURLError:
        pass
    else:
        _check_fetchable(checked)
    href = data.decode("utf-8", "replace")  # text from a page or a paste: no lone surrogates
    for normal in (ingest.normalise_url(href), ingest.normalise_url(href, PAGE_URL)):
        if normal is not None:
            _check_fetchable(normal, check=False)
    netguard.host_forbidden_reason(typed)
    netguard.forbidden_reason(typed)


def _check_fetchable(url: str, check: bool = True) -> None:
    """What citewatch does next with a URL it accepted: fetch it, guard it, key it, check it again."""
    from archive import urls
    from archive.errors import BadURLError
    from crawler import netguard

    parts = urlsplit(url)
    assert parts.scheme in urls.SCHEMES and parts.hostname, url
    netguard.host_forbidden_reason(parts.hostname)
    urls.host_key(url), urls.probe_url(url)
    if check:
        urls.check_url(url)  # a stored URL is checked again (changes --url): it must pass
    else:
        with contextlib.suppress(BadURLError):
            urls.check_url(url)


if __name__ == "__main__":
    harness.main(TestOneInput, "urls", ["archive.urls", "archive.articles.ingest", "crawler.netguard"])
