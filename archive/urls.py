"""Checking and normalising URLs given by users."""

from __future__ import annotations

from urllib.parse import urlsplit

from w3lib.url import safe_url_string

from archive.errors import BadURLError

SCHEMES = ("http", "https")


def check_url(raw: str) -> str:
    """A fetchable form of ``raw``, or BadURLError saying what is wrong with it.

    >>> check_url("https://example.org/a b")
    'https://example.org/a%20b'
    >>> check_url("example.org/page")
    'http://example.org/page'
    >>> check_url("ftp://x/")
    Traceback (most recent call last):
    ...
    archive.errors.BadURLError: unsupported scheme 'ftp' in ftp://x/: citewatch fetches http and https
    """
    text = raw.strip()
    if not text:
        raise BadURLError("empty URL")
    if "://" not in text and not text.startswith(("mailto:", "javascript:", "data:", "file:")):
        text = "http://" + text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise BadURLError(f"malformed URL {raw!r}: {exc}") from exc
    if parts.scheme.lower() not in SCHEMES:
        raise BadURLError(f"unsupported scheme {parts.scheme!r} in {raw}: citewatch fetches http and https")
    host = parts.hostname or ""
    if not host or any(c in host for c in ' <>"{}|\\^`') or ".." in host or port == 0:
        raise BadURLError(f"malformed URL {raw!r}: no valid host name")
    return safe_url_string(text)
