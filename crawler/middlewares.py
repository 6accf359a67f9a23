"""Downloader middlewares: WARC writing, the address guard, and polite retries.

Order matters (Scrapy calls ``process_response`` from the highest number down):

- ``WarcWriterMiddleware`` (950) sees each response straight off the wire:
  still content-encoded, before redirects are followed or retries decided, so
  every hop and every attempt is archived with digests over the real bytes.
- ``EnvironmentProxyMiddleware`` (750, in place of Scrapy's ``HttpProxyMiddleware``)
  picks the proxy from ``HTTP(S)_PROXY``/``NO_PROXY`` for every request and redirect hop.
- ``NetworkGuardMiddleware`` (760) refuses unsupported schemes and literal
  forbidden addresses, after ``HttpProxyMiddleware`` (750) has chosen a proxy.
- ``BackoffRetryMiddleware`` (550, in place of Scrapy's ``RetryMiddleware``)
  waits before each retry: exponential backoff with jitter, or the server's
  ``Retry-After``.
- ``BoundedCookiesMiddleware`` (700, in place of Scrapy's ``CookiesMiddleware``)
  keeps at most as many cookies per host as a browser does.
"""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from scrapy import Request, signals
from scrapy.downloadermiddlewares.cookies import CookiesMiddleware
from scrapy.downloadermiddlewares.httpproxy import HttpProxyMiddleware
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.exceptions import IgnoreRequest, NotConfigured, StopDownload
from scrapy.http import Response

from archive.clock import utcnow
from archive.store.exchange import Exchange
from archive.store.warc import HttpRequest, HttpResponse
from crawler.netguard import ALLOWED_SCHEMES, blocked_message, host_forbidden_reason
from crawler.recording import citewatch_settings, recorder_for

if TYPE_CHECKING:
    from scrapy.settings import BaseSettings

logger = logging.getLogger(__name__)


class BlockedRequest(IgnoreRequest):
    """A request the network guard refused; its message says why."""


class UnsupportedScheme(IgnoreRequest):
    pass


def _header_pairs(headers: Any) -> list[tuple[str, str]]:
    return [
        (name.decode("latin-1"), value.decode("latin-1"))
        for name, values in headers.items()
        for value in values
    ]


# Credentials for the proxy, not part of the request the origin saw: never archived.
_UNARCHIVED_REQUEST_HEADERS = {"proxy-authorization"}


def request_record(request: Request) -> HttpRequest:
    headers = [
        (k, v) for k, v in _header_pairs(request.headers) if k.lower() not in _UNARCHIVED_REQUEST_HEADERS
    ]
    if not any(name.lower() == "host" for name, _ in headers):
        headers.insert(0, ("Host", urlsplit(request.url).netloc))
    return HttpRequest(request.method, request.url, headers, request.body or b"")


def response_record(response: Response, max_size: int) -> HttpResponse:
    body, truncated = response.body, None
    if "download_stopped" in response.flags or len(body) > max_size:
        body, truncated = body[:max_size], "length"
    elif "dataloss" in response.flags or "partial" in response.flags:
        truncated = "disconnect"
    try:
        reason = HTTPStatus(response.status).phrase
    except ValueError:
        reason = ""
    protocol = response.protocol or "HTTP/1.1"
    return HttpResponse(
        response.status, reason, _header_pairs(response.headers), body, protocol.upper(), truncated
    )


class WarcWriterMiddleware:
    """Writes every HTTP exchange as WARC request/response (or revisit) records.

    Browser-rendered responses (``meta["playwright"]``) are skipped: their body
    is a DOM, not what the server sent; :mod:`crawler.browser` records those
    page loads itself. Reads ``ARCHIVE_ENABLED`` and ``max_response_size``.
    """

    def __init__(self, crawler: Any):
        self.crawler = crawler
        self.max_size = citewatch_settings(crawler.settings).max_response_size
        crawler.signals.connect(self._headers_received, signal=signals.headers_received)
        crawler.signals.connect(self._bytes_received, signal=signals.bytes_received)

    @classmethod
    def from_crawler(cls, crawler: Any) -> WarcWriterMiddleware:
        if not crawler.settings.getbool("ARCHIVE_ENABLED", True):
            raise NotConfigured
        return cls(crawler)

    def _headers_received(self, headers: Any, body_length: int, request: Request, **_: Any) -> None:
        # The moment the response arrived: WARC-Date of the response record.
        request.meta["_cw_headers_at"] = utcnow()
        request.meta["_cw_bytes"] = 0

    def _bytes_received(self, data: bytes, request: Request, **_: Any) -> None:
        received = request.meta.get("_cw_bytes", 0) + len(data)
        request.meta["_cw_bytes"] = received
        if received >= self.max_size:
            raise StopDownload(fail=False)

    def process_request(self, request: Request) -> None:
        # A redirect or retry inherits the previous hop's meta, including the
        # decompression cap set below, which would make Scrapy cancel a large
        # body instead of letting it be archived and truncated.
        request.meta.pop("download_maxsize", None)

    def process_response(self, request: Request, response: Response) -> Response:
        if request.meta.get("playwright"):
            return response
        arrived = request.meta.pop("_cw_headers_at", None) or utcnow()
        latency = request.meta.get("download_latency") or 0.0
        exchange = Exchange(
            request=request_record(request),
            response=response_record(response, self.max_size),
            sent_at=arrived - timedelta(seconds=latency),
            received_at=arrived,
            ip=str(response.ip_address) if response.ip_address else None,
            source_id=request.meta.get("source_id"),
            page_key=request.meta.get("page_key"),
        )
        snapshot = recorder_for(self.crawler).record(exchange)
        request.meta["snapshot_key"] = snapshot.record_id
        request.meta["payload_digest"] = snapshot.payload_digest
        request.meta["truncated"] = exchange.response.truncated
        # The raw download is unbounded (truncation happens above); this caps
        # what HttpCompressionMiddleware may inflate, against gzip bombs.
        request.meta["download_maxsize"] = self.max_size
        return response


# As Chromium: so many cookies per host, each of so many bytes (name and value).
MAX_COOKIES_PER_HOST = 180
MAX_COOKIE_BYTES = 4096


class BoundedCookiesMiddleware(CookiesMiddleware):
    """Scrapy's cookie handling, with a browser's bounds: a host that sets 5,000 cookies would
    otherwise make each next request to it carry all of them (a 500 kB ``Cookie`` header, which
    servers refuse), for every capture of that host in the crawl."""

    def _process_cookies(self, cookies: Any, *, jar: Any, request: Request) -> None:
        host = (urlsplit(request.url).hostname or "").lower()
        held = sum(1 for c in jar if _sent_to(c.domain, host))
        kept = []
        for cookie in cookies:
            if held >= MAX_COOKIES_PER_HOST:
                break
            if len(cookie.name) + len(cookie.value or "") <= MAX_COOKIE_BYTES:
                kept.append(cookie)
                held += 1
        super()._process_cookies(kept, jar=jar, request=request)


def _sent_to(domain: str, host: str) -> bool:
    """
    >>> _sent_to(".example.org", "www.example.org"), _sent_to("example.org", "badexample.org")
    (True, False)
    """
    domain = domain.removeprefix(".").lower()
    return host == domain or host.endswith("." + domain)


class NetworkGuardMiddleware:
    """Refuses schemes other than http(s), and literal forbidden hosts (``allow_private_networks``).

    Host names are checked after resolution by :class:`crawler.resolver.GuardedResolver`;
    through a proxy the proxy resolves them, so only literals and local names are checked.
    """

    def __init__(self, allow_private: bool):
        self.allow_private = allow_private

    @classmethod
    def from_crawler(cls, crawler: Any) -> NetworkGuardMiddleware:
        return cls(citewatch_settings(crawler.settings).allow_private_networks)

    def process_request(self, request: Request) -> None:
        parts = urlsplit(request.url)
        if parts.scheme not in ALLOWED_SCHEMES:
            raise UnsupportedScheme(f"unsupported scheme {parts.scheme!r}: citewatch fetches http and https")
        if self.allow_private or not parts.hostname:
            return
        reason = host_forbidden_reason(parts.hostname)
        if reason:
            raise BlockedRequest(blocked_message(parts.hostname, parts.hostname, reason))


class EnvironmentProxyMiddleware(HttpProxyMiddleware):
    """Scrapy's proxy middleware, deciding again for every request, redirects included.

    Scrapy copies ``meta["proxy"]`` onto a redirected request and then keeps it, so
    ``NO_PROXY`` is ignored for a redirect target. citewatch takes its proxies only
    from the environment, so a proxy this middleware chose (``_scheme_proxy``) is
    dropped and chosen afresh for the new URL.
    """

    def process_request(self, request: Request, spider: Any = None) -> None:
        if request.meta.pop("_scheme_proxy", None):
            request.meta.pop("proxy", None)
        super().process_request(request)


def retry_delay(
    attempt: int,
    base: float,
    cap: float,
    retry_after: str | None,
    max_after: float,
    rand: random.Random | None = None,
    now: datetime | None = None,
) -> float | None:
    """Seconds to wait before retry number ``attempt`` (1-based); None: do not retry.

    ``Retry-After`` (seconds or an HTTP date) wins when present; a wait longer
    than ``max_after`` means giving up in this run.

    >>> retry_delay(1, 2.0, 60.0, "5", 300.0)
    5.0
    >>> retry_delay(1, 2.0, 60.0, "900", 300.0) is None
    True
    >>> 2.0 <= retry_delay(2, 1.0, 60.0, None, 300.0, random.Random(1)) <= 3.0
    True
    """
    if retry_after:
        wait = _parse_retry_after(retry_after, now or utcnow())
        if wait is not None:
            return None if wait > max_after else wait
    rand = rand or random.Random()
    backoff: float = base * 2 ** (attempt - 1)  # int ** int is Any to typeshed (a negative power)
    return min(cap, backoff + rand.uniform(0, backoff / 2))


def _parse_retry_after(value: str, now: datetime) -> float | None:
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when.replace(tzinfo=None) - now).total_seconds())


class BackoffRetryMiddleware(RetryMiddleware):
    """Scrapy's retry policy, with a wait before each attempt (the ``retry_backoff``,
    ``retry_backoff_max`` and ``retry_after_max`` settings)."""

    def __init__(self, settings: BaseSettings):
        super().__init__(settings)
        ours = citewatch_settings(settings)
        self.base = ours.retry_backoff
        self.cap = ours.retry_backoff_max
        self.max_after = ours.retry_after_max

    async def _wait_and_retry(self, request: Request, reason: Any, retry_after: str | None) -> Request | None:
        attempt = request.meta.get("retry_times", 0) + 1
        if attempt > request.meta.get("max_retry_times", self.max_retry_times):
            return None
        delay = retry_delay(attempt, self.base, self.cap, retry_after, self.max_after)
        if delay is None:
            logger.info(
                "not retrying %s: Retry-After %s is longer than retry_after_max", request.url, retry_after
            )
            return None
        retry = self._retry(request, reason)
        if retry is not None and delay > 0:
            await asyncio.sleep(delay)
        return retry

    # Coroutines, which Scrapy 2.19 awaits, over RetryMiddleware's plain methods (and without their
    # deprecated spider argument): an override mypy rightly calls incompatible.
    async def process_response(self, request: Request, response: Response) -> Request | Response:  # type: ignore[override]  # async, see above
        if request.meta.get("dont_retry") or response.status not in self.retry_http_codes:
            return response
        retry_after = response.headers.get("Retry-After")
        reason = f"HTTP {response.status}"
        retry = await self._wait_and_retry(
            request, reason, retry_after.decode("latin-1") if retry_after else None
        )
        return retry or response

    async def process_exception(self, request: Request, exception: Exception) -> Request | None:  # type: ignore[override]  # async, see above
        if not isinstance(exception, self.exceptions_to_retry) or request.meta.get("dont_retry"):
            return None
        return await self._wait_and_retry(request, exception, None)
