"""Failures as outcomes: a short code for the database and one line for a person.

Every way a fetch can fail maps to one of a few codes, so a failed capture is
recorded (a Snapshot row with that ``outcome``) instead of lost in a log.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

from scrapy.core.downloader.handlers.http11 import TunnelError
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
    IgnoreRequest,
    ResponseDataLossError,
    UnsupportedURLSchemeError,
)
from twisted.internet import error as tx_error
from twisted.python.failure import Failure
from twisted.web._newclient import ResponseFailed, ResponseNeverReceived

from archive.store.index import http_outcome
from crawler.browser import ABORTED
from crawler.netguard import blocked_message
from crawler.resolver import BLOCKED

_TLS_WORDS = ("ssl", "tls", "certificate", "handshake")
# Scrapy puts the proxy's answer to CONNECT in the message: [{'status': 502, 'reason': b'Bad Gateway'}]
_TUNNEL_ANSWER = re.compile(r"'status': (\d+), 'reason': b?(['\"])(.*?)\2\}")
# Chromium's network errors that are properties of the source, by the outcome they are.
_CHROMIUM_ERRORS = {
    "ERR_INVALID_REDIRECT": "bad-redirect",
    "ERR_UNSAFE_REDIRECT": "bad-redirect",
    "ERR_TOO_MANY_REDIRECTS": "redirect-loop",
    "ERR_NAME_NOT_RESOLVED": "dns",
    "ERR_CONNECTION_REFUSED": "refused",
    "ERR_EMPTY_RESPONSE": "connection",
    "ERR_CONNECTION_RESET": "connection",
    "ERR_INVALID_HTTP_RESPONSE": "connection",
    "ERR_CONTENT_DECODING_FAILED": "bad-encoding",
}
_CHROMIUM_ERROR = re.compile(r"net::(ERR_[A-Z_]+)")


def _tls(exc: BaseException) -> bool:
    reasons = getattr(exc, "reasons", None) or []
    text = " ".join([repr(exc)] + [repr(getattr(r, "value", r)) for r in reasons]).lower()
    return any(word in text for word in _TLS_WORDS)


def _ignored(exc: IgnoreRequest) -> tuple[str, str]:
    """
    >>> _ignored(IgnoreRequest("max redirections reached"))[0]
    'redirect-loop'
    >>> _ignored(IgnoreRequest("Ignored response <200 http://a.example/redirect/robots.txt> because "
    ...     "its body (9 B compressed, 99 B decompressed so far) exceeded DOWNLOAD_MAXSIZE (50 B) "
    ...     "during decompression."))[0]
    'too-large'
    """
    text = str(exc)
    lowered = text.lower()
    if type(exc).__name__ == "BlockedRequest":
        return "blocked", text
    if type(exc).__name__ == "UnsupportedScheme":
        return "bad-url", text
    # Scrapy's decompression message quotes the response, URL and all: it is told apart first,
    # and the others by Scrapy's own words, not by what a URL may say ("/redirect", "robots.txt").
    if "maxsize" in lowered or "decompression" in lowered:
        return "too-large", "the decompressed body is larger than max_response_size (a gzip bomb?)"
    if lowered.startswith("max redirections"):
        return "redirect-loop", "too many redirects (a redirect loop?): " + text
    if lowered.startswith("forbidden by robots.txt"):
        return "robots", "forbidden by the site's robots.txt"
    return "ignored", text or "request dropped"


def _tunnel(exc: TunnelError, host: str) -> tuple[str, str]:
    """
    >>> _tunnel(TunnelError("... [{'status': 403, 'reason': b'Forbidden'}]"), "a.example")
    ('proxy', 'proxy refused the tunnel to a.example: 403 Forbidden')
    """
    answer = _TUNNEL_ANSWER.search(str(exc))
    if answer is None:
        return "proxy", f"the proxy gave no HTTP answer to the tunnel request for {host}"
    reason = f"{answer.group(1)} {answer.group(3)}".strip()
    return "proxy", f"proxy refused the tunnel to {host}: {reason}"


def _raised_in(exc: BaseException, module: str) -> bool:
    """Whether ``exc`` was raised inside ``module`` (a file path's end, such as
    ``scrapy/downloadermiddlewares/redirect.py``) or in what it called."""
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.replace("\\", "/").endswith(module):
            return True
        tb = tb.tb_next
    return False


def _odd_answer(exc: BaseException) -> tuple[str, str] | None:
    """What a server's odd answer broke, when that is what raised ``exc``: a redirect to where no
    URL can go (``http://[bad``, ``javascript:``), a body its Content-Encoding does not inflate.
    Properties of the source, not citewatch's own failures."""
    detail = str(exc).splitlines()[0][:200] if str(exc) else exc.__class__.__name__
    if isinstance(exc, ValueError) and _raised_in(exc, "scrapy/downloadermiddlewares/redirect.py"):
        return (
            "bad-redirect",
            f"the server redirected to a location that is no URL citewatch can fetch ({detail})",
        )
    if _raised_in(exc, "scrapy/downloadermiddlewares/httpcompression.py"):
        return "bad-encoding", f"the body does not decode as its Content-Encoding says ({detail})"
    return None


def classify(exc: BaseException, url: str) -> tuple[str, str]:
    """(outcome code, one-line message) for an exception that ended a fetch."""
    host = urlsplit(url).hostname or ""
    if isinstance(exc, IgnoreRequest):
        return _ignored(exc)
    odd = _odd_answer(exc)
    if odd is not None:
        return odd
    if isinstance(exc, UnsupportedURLSchemeError):
        return "bad-url", str(exc)
    if isinstance(exc, TunnelError):
        return _tunnel(exc, host)
    if isinstance(exc, CannotResolveHostError | tx_error.DNSLookupError):
        if host in BLOCKED:
            address, reason = BLOCKED[host]
            return "blocked", blocked_message(host, address, reason)
        return "dns", f"DNS lookup failed: no address for {host}"
    if isinstance(exc, DownloadConnectionRefusedError | tx_error.ConnectionRefusedError):
        return "refused", f"connection refused by {host}"
    if isinstance(exc, DownloadTimeoutError | tx_error.TimeoutError | tx_error.TCPTimedOutError):
        return "timeout", f"timed out: {exc}"
    if _tls(exc):
        return "tls", f"TLS error talking to {host}: {exc.__class__.__name__}"
    if isinstance(exc, DownloadCancelledError):
        return "cancelled", "the download was cancelled"
    if isinstance(
        exc,
        DownloadFailedError
        | ResponseDataLossError
        | ResponseNeverReceived
        | ResponseFailed
        | tx_error.ConnectionLost
        | tx_error.ConnectionDone
        | tx_error.ConnectError,
    ):
        return "connection", f"connection to {host} failed: {exc.__class__.__name__}"
    name = exc.__class__.__name__
    if name in {"Error", "TimeoutError"} and exc.__class__.__module__.startswith("playwright"):
        if url in ABORTED:
            return "blocked", ABORTED[url]
        return _browser_failure(str(exc).splitlines()[0][:300] if str(exc) else name)
    return "error", f"{name}: {str(exc).splitlines()[0][:300] if str(exc) else 'no detail'}"


def _browser_failure(first_line: str) -> tuple[str, str]:
    """
    >>> _browser_failure("Page.goto: net::ERR_INVALID_REDIRECT at http://a.example/r")
    ('bad-redirect', 'browser load failed: Page.goto: net::ERR_INVALID_REDIRECT at http://a.example/r')
    >>> _browser_failure("Timeout 30000ms exceeded.")[0]
    'browser'
    """
    code = _CHROMIUM_ERROR.search(first_line)
    outcome = _CHROMIUM_ERRORS.get(code.group(1), "browser") if code else "browser"
    return outcome, f"browser load failed: {first_line}"


_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


def unfollowed_redirect(status: int, location: bytes | None, url: str) -> tuple[str, str] | None:
    """(outcome, message) for a redirect that Scrapy leaves unfollowed because it leads off
    http(s) (``file:``, ``ftp:``, ``data:``): a location no URL citewatch can fetch, as the
    ``javascript:`` ones that :func:`_odd_answer` names.

    >>> unfollowed_redirect(302, b"file:///etc/passwd", "http://a.example/")[0]
    'bad-redirect'
    >>> unfollowed_redirect(302, b"//b.example/x", "http://a.example/"), unfollowed_redirect(200, b"x:", "")
    (None, None)
    """
    if status not in _REDIRECT_STATUSES or not location:
        return None
    try:
        target = urljoin(url, location.decode("latin-1").strip())
        if urlsplit(target).scheme in ("http", "https"):
            return None
    except ValueError:  # no URL at all; Scrapy would have failed on it already
        target = location.decode("latin-1")
    return (
        "bad-redirect",
        f"the server redirected to a location that is no URL citewatch can fetch ({target[:200]!r})",
    )


def status_outcome(status: int) -> str | None:
    """Outcome code for a final HTTP status that is no success.

    >>> status_outcome(200), status_outcome(404), status_outcome(503)
    (None, 'http-4xx', 'http-5xx')
    """
    return http_outcome(status)  # the one mapping: the snapshot listings name captures by it too


def describe(failure: Failure | BaseException) -> BaseException:
    return failure.value if hasattr(failure, "value") else failure
