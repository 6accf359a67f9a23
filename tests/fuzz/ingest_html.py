"""Fuzz target: an HTML article, a file given to ``citewatch add`` or a page it fetched.

Entry point: :func:`archive.articles.ingest.from_html`, both ways the spider calls it: the file's bytes
(charset detected) with no URL, and a fetched page's decoded text with its URL (links are
resolved against it). Binary data is refused before that (``is_binary``, itself fuzzed here).
Nothing here may raise: the spider catches no error of from_html's.
"""

from __future__ import annotations

from tests.fuzz import harness

PAGE_URL = "https://example-news.org/2025/10/story?id=7"


def TestOneInput(data: bytes) -> None:
    from archive.articles import ingest

    raw = harness.amplified(data)
    if raw[:5] == b"%PDF-" or ingest.is_binary(raw):
        return  # read as a PDF, or refused as "not an article: binary data"
    ingest.from_html(raw, None)
    ingest.from_html(raw.decode("utf-8", "replace"), PAGE_URL, input_kind="url")


def warm_up() -> None:
    """Once per process, trafilatura's date search hands dateparser a string it tries in every
    locale, which loads them all (4 s); and the first page imports trafilatura (1 s)."""
    import dateparser

    dateparser.parse("By isabelle // 2025-")
    TestOneInput(b"<html><body><article><p>Warm up, 2025-10-31.</p></article></body></html>")


if __name__ == "__main__":
    harness.main(TestOneInput, "ingest_html", ["archive.articles.ingest"], warm_up)
