"""Checking and normalising URLs given by users."""

from __future__ import annotations

import functools
import ipaddress
import re
import zlib
from urllib.parse import urlsplit

from archive.errors import BadURLError

SCHEMES = ("http", "https")
# Letters, digits, hyphens and underscores (which real host names do use), 1-63 of them.
_LABEL = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)")
# A scheme as RFC 3986 spells it, and the port (and path) of a bare ``host:port/path``.
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_PORT_AND_PATH = re.compile(r"\d+(?:[/?#]|$)")
_SCHEME_NO_COLON = re.compile(r"https?//", re.I)


def check_url(raw: str) -> str:
    """A fetchable form of ``raw``, or BadURLError saying what is wrong with it.

    A bare host (``example.org/page``, ``localhost:8080/a``) gets ``http://``; anything
    else that is not a well-formed http(s) URL is refused, never guessed at.

    >>> check_url("example.org/page"), check_url("HTTPS://Example.org/a%20b")
    ('http://example.org/page', 'https://example.org/a%20b')
    >>> check_url("ftp://x/")
    Traceback (most recent call last):
    ...
    archive.errors.BadURLError: unsupported scheme 'ftp' in ftp://x/: citewatch fetches http and https
    >>> check_url("http:/example.org")
    Traceback (most recent call last):
    ...
    archive.errors.BadURLError: malformed URL 'http:/example.org': the scheme must be followed by // (http://...)
    """
    from w3lib.url import safe_url_string  # here: the models import this module, and every command them

    text = raw.strip()
    if not text:
        raise BadURLError("empty URL")
    scheme = url_scheme(text)
    if scheme is None and _SCHEME_NO_COLON.match(text):
        raise BadURLError(f"malformed URL {raw!r}: a colon is missing after the scheme (http://...)")
    if scheme is None:
        text = "http://" + text
    elif scheme not in SCHEMES:
        import difflib

        close = difflib.get_close_matches(scheme, SCHEMES, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise BadURLError(f"unsupported scheme {scheme!r} in {raw}: citewatch fetches http and https{hint}")
    elif not text[len(scheme) + 1 :].startswith("//"):
        raise BadURLError(f"malformed URL {raw!r}: the scheme must be followed by // ({scheme}://...)")
    if any(char.isspace() for char in text):
        raise BadURLError(f"malformed URL {raw!r}: it contains a space (write a space in a URL as %20)")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise BadURLError(f"malformed URL {raw!r}: {str(exc)[:1].lower()}{str(exc)[1:]}") from exc
    if not parts.hostname:
        raise BadURLError(f"malformed URL {raw!r}: no host name")
    if not valid_host(parts.hostname):
        raise BadURLError(f"malformed URL {raw!r}: {parts.hostname!r} is not a valid host name")
    if port == 0:
        raise BadURLError(f"malformed URL {raw!r}: port 0")
    try:
        return safe_url_string(text)
    except ValueError as exc:  # w3lib refuses more than urlsplit: "http://[::1]80/" (no colon)
        raise BadURLError(f"malformed URL {raw!r}: {str(exc)[:1].lower()}{str(exc)[1:]}") from exc


def url_scheme(text: str) -> str | None:
    """The scheme ``text`` starts with (lowercase), or None for a bare host or a path.

    ``host:port`` is a bare host, not a scheme: ``localhost:8080/a`` is a host with a port.

    >>> [url_scheme(t) for t in ("HTTP://x", "htp:/x", "mailto:a@b", "example.org:80/a", "a/b:c", "x.txt")]
    ['http', 'htp', 'mailto', None, None, None]
    """
    match = _SCHEME.match(text)
    if match is None:
        return None
    scheme = match.group(1).lower()
    if scheme not in SCHEMES and _PORT_AND_PATH.match(text, match.end()):
        return None
    return scheme


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
    checks all go through one worker and its politeness (archive/schedule/queue.py).

    >>> host_key("https://Example.org/a") == host_key("http://example.org:8080/b")
    True
    """
    host = (urlsplit(url).hostname or "").lower()
    return zlib.crc32(host.encode("utf-8", "replace")) & 0x7FFFFFFF
