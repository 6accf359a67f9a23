"""Checking and normalising URLs given by users."""

from __future__ import annotations

import functools
import ipaddress
import re
import zlib
from urllib.parse import urlsplit

from w3lib.url import safe_url_string

from archive.errors import BadURLError

SCHEMES = ("http", "https")
# Letters, digits, hyphens and underscores (which real host names do use), 1-63 of them.
_LABEL = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)")


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
    if not valid_host(parts.hostname or "") or port == 0:
        raise BadURLError(f"malformed URL {raw!r}: no valid host name")
    return safe_url_string(text)


@functools.lru_cache(maxsize=4096)  # pages repeat their hosts
def valid_host(host: str) -> bool:
    """Whether ``host`` can be a host name (IDNA labels of 1-63 octets, 253 in all) or an address.

    >>> [valid_host(h) for h in ("example.org", "bücher.de", "[::1]", "127.0.0.1")]
    [True, True, True, True]
    >>> [valid_host(h) for h in ("a" * 64 + ".org", "%41.com", "a b.org", "-x.org")]
    [False, False, False, False]
    """
    host = host.strip("[]").rstrip(".")
    if not host:
        return False
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    labels = ascii_host.split(".")
    return len(ascii_host) <= 253 and all(_LABEL.fullmatch(label) for label in labels)


def probe_url(url: str) -> str:
    """A made-up URL on the host of ``url``, the same for every page of that host: what the host
    answers for a page that does not exist, to tell its soft 404s from real pages.

    >>> probe_url("https://news.example/2026/story?id=1")
    'https://news.example/citewatch-probe-db5d8cfb19b652d4'
    """
    import hashlib

    parts = urlsplit(url)
    token = hashlib.sha256(f"citewatch-probe:{(parts.hostname or '').lower()}".encode()).hexdigest()[:16]
    return f"{parts.scheme}://{parts.netloc}/citewatch-probe-{token}"


def host_key(url: str) -> int:
    """A stable number for the host of ``url``: workers split sources by it, so that one host's
    checks all go through one worker and its politeness (archive/queue.py).

    >>> host_key("https://Example.org/a") == host_key("http://example.org:8080/b")
    True
    """
    host = (urlsplit(url).hostname or "").lower()
    return zlib.crc32(host.encode("utf-8", "replace")) & 0x7FFFFFFF
