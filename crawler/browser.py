"""Browser captures: Debian's Chromium through scrapy-playwright.

The rendered page that scrapy-playwright hands to a callback is a DOM, not a
server response, so it is never written as a ``response`` record. Instead every
network response the page loads (the document, its scripts, styles, images,
XHR) is collected as it arrives and written as its own request/response pair
with its own headers. Playwright gives bodies already decoded, so
``Content-Encoding`` is dropped and ``Content-Length`` set to the body written.
After the page settles (network idle, capped), a full-page screenshot and the
rendered DOM are written as ``resource`` records (``urn:screenshot:URL`` and
``urn:dom:URL``), concurrent to the page's response record.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

from archive.clock import utcnow
from archive.store.exchange import Exchange, Recorder
from archive.store.warc import HttpRequest, HttpResponse
from crawler.guardproxy import BLOCKED_HEADER, target_of
from crawler.netguard import blocked_message, browser_proxy, forbidden_reason, host_forbidden_reason

logger = logging.getLogger(__name__)

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # WebRTC sends UDP (STUN, media) around the guard proxy, which sees only HTTP(S): an archived
    # page's script must not reach addresses the guard refuses. With this policy WebRTC uses
    # the proxy or nothing.
    "--webrtc-ip-handling-policy=disable_non_proxied_udp",
]

_DROPPED_HEADERS = {"content-encoding", "transfer-encoding", "content-length"}

# URL -> why the guard aborted it, so a failed page load can say "blocked".
ABORTED: dict[str, str] = {}


def launch_options(executable: str) -> dict[str, Any]:
    options: dict[str, Any] = {
        "executable_path": executable,
        "headless": True,
        "args": CHROMIUM_ARGS,
        # Signals are citewatch's to handle: a Ctrl-C or SIGTERM meant for the daemon must not
        # close the browser under a check in flight.
        "handle_sigint": False,
        "handle_sigterm": False,
        "handle_sighup": False,
    }
    proxy = browser_proxy()
    if proxy:
        options["proxy"] = proxy
    return options


async def _resolved_reason(host: str) -> tuple[str, str] | None:
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None)
    except OSError:
        return None  # let Chromium report the DNS failure itself
    for info in infos:
        address = str(info[4][0])
        reason = forbidden_reason(address)
        if reason:
            return address, reason
    return None


class BrowserGuard:
    """scrapy-playwright's ``PLAYWRIGHT_ABORT_REQUEST``: abort requests to forbidden addresses."""

    def __init__(self, allow_private: bool, proxied: bool):
        self.allow_private = allow_private
        self.proxied = proxied

    async def __call__(self, request: Any) -> bool:
        parts = urlsplit(request.url)
        if self.allow_private or parts.scheme not in ("http", "https") or not parts.hostname:
            return False
        host = parts.hostname
        reason = host_forbidden_reason(host)
        address = host
        if reason is None and not self.proxied:
            found = await _resolved_reason(host)
            if found:
                address, reason = found
        if reason:
            ABORTED[request.url] = blocked_message(host, address, reason)
            return True
        return False


@dataclass
class ResponseCollector:
    """Keeps every response a page receives, in arrival order."""

    responses: list[Any] = field(default_factory=list)

    def __call__(self, response: Any) -> None:
        self.responses.append(response)


def hop_targets(url: str, collector: ResponseCollector | None) -> set[str]:
    """``host:port`` of a page and of every redirect hop its responses named: where the guard
    proxy's refusal of one of its loads would be."""
    found = {target_of(url)}
    for response in collector.responses if collector is not None else []:
        location = response.headers.get("location")
        if 300 <= response.status < 400 and location:
            found.add(target_of(urljoin(response.url, location)))
    return found


def _fixed_headers(pairs: list[dict[str, str]], body: bytes) -> list[tuple[str, str]]:
    headers = [
        (h["name"], h["value"])
        for h in pairs
        if h["name"].lower() not in _DROPPED_HEADERS and not h["name"].startswith(":")
    ]
    headers.append(("Content-Length", str(len(body))))
    return headers


def _times(request: Any) -> tuple[datetime, datetime]:
    timing = request.timing or {}
    start = timing.get("startTime") or 0
    if start <= 0:
        now = utcnow()
        return now, now
    sent = datetime.fromtimestamp(start / 1000, UTC).replace(tzinfo=None)
    arrived_ms = timing.get("responseStart", -1)
    return sent, sent + timedelta(milliseconds=max(arrived_ms, 0))


async def exchange_from(response: Any, source_id: int | None, page_key: str | None) -> Exchange:
    """A Playwright response as an Exchange ready for the recorder."""
    request = response.request
    try:
        body = await response.body()
    except Exception:  # redirects and evicted bodies have none
        body = b""
    req_headers = [
        (h["name"], h["value"]) for h in await request.headers_array() if not h["name"].startswith(":")
    ]
    if not any(name.lower() == "host" for name, _ in req_headers):
        req_headers.insert(0, ("Host", urlsplit(request.url).netloc))
    sent, arrived = _times(request)
    http_response = HttpResponse(
        response.status,
        response.status_text or "",
        _fixed_headers(await response.headers_array(), body),
        body,
    )
    server = await response.server_addr()
    return Exchange(
        request=HttpRequest(request.method, request.url, req_headers, request.post_data_buffer or b""),
        response=http_response,
        sent_at=sent,
        received_at=arrived,
        ip=server["ipAddress"] if server else None,
        via="browser",
        source_id=source_id,
        page_key=page_key,
    )


_TEXT_LENGTH = "() => document.body ? document.body.innerText.length : 0"
_QUIET_SECONDS = 1.0
_POLL_SECONDS = 0.25


async def settle(page: Any, cap_seconds: float) -> None:
    """Wait until the page is done, but no longer than ``cap_seconds`` in all.

    Done means the network is idle and then the visible text is non-empty and
    unchanged for a second: scripts often insert text on a timer, after the
    last request, and a quiet network alone would archive the page without it.
    """
    deadline = time.monotonic() + cap_seconds
    with suppress(Exception):
        await page.wait_for_load_state("networkidle", timeout=cap_seconds * 1000)
    last, quiet_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        try:
            length = await page.evaluate(_TEXT_LENGTH)
        except Exception:  # navigation in progress, or the page is gone
            return
        now = time.monotonic()
        if length != last:
            last, quiet_since = length, now
        elif length > 0 and now - quiet_since >= _QUIET_SECONDS:
            return
        await asyncio.sleep(_POLL_SECONDS)


@dataclass
class BrowserCapture:
    page_key: str | None  # record id of the page's own response
    page_status: int | None
    responses: int
    dom: str
    blocked: str | None = None  # why the guard refused the page (or a redirect hop of it)
    # The outcome: "blocked", or how the guard proxy failed to reach the page ("dns", "refused", ...)
    blocked_outcome: str = "blocked"


async def record_page(
    page: Any,
    url: str,
    collector: ResponseCollector,
    recorder: Recorder,
    source_id: int | None,
    settle_seconds: float,
) -> BrowserCapture:
    """Settle the page, then archive its network responses, then its DOM and screenshot.

    The responses go first: a screenshot can fail (a page too tall to render, a
    crashed tab) and must not take the page's captures down with it.
    """
    if not _refused_pages(page, collector.responses):  # the guard's refusal page: nothing to wait for
        await settle(page, settle_seconds)
    refused = [r for r in collector.responses if r.headers.get(BLOCKED_HEADER.lower())]
    responses = [r for r in collector.responses if r not in refused]  # the guard's 403s are not the site's
    documents = [r for r in responses if r.request.is_navigation_request() and r.frame == page.main_frame]
    document = documents[-1] if documents else None
    pairs = [(await exchange_from(r, source_id, None), r is document) for r in responses]
    pairs.sort(key=lambda pair: pair[0].sent_at)
    main = None
    for ex, is_document in pairs:
        snapshot = recorder.record(ex)
        if is_document:
            main = snapshot
    main_key = main.record_id if main else None
    # The page is refused when its own document (a hop of it) was; a refused iframe or image is not.
    refused_pages = _refused_pages(page, refused)
    blocked, outcome = None, "blocked"
    if refused_pages or (refused and main is None):
        last = (refused_pages or refused)[-1]
        blocked = (await last.body()).decode("utf-8", "replace")
        outcome = last.headers.get(BLOCKED_HEADER.lower(), "blocked")
    dom = ""
    if blocked is None:  # else what the browser shows is the guard's refusal, not the site's page
        dom = await _record_dom_and_screenshot(page, url, recorder, main_key, source_id)
    return BrowserCapture(main_key, main.status if main else None, len(pairs), dom, blocked, outcome)


def _refused_pages(page: Any, responses: list[Any]) -> list[Any]:
    """The guard proxy's refusals of the page's own document (the main frame's navigations)."""
    return [
        r
        for r in responses
        if r.headers.get(BLOCKED_HEADER.lower())
        and r.request.is_navigation_request()
        and r.frame == page.main_frame
    ]


async def _record_dom_and_screenshot(
    page: Any, url: str, recorder: Recorder, main_key: str | None, source_id: int | None
) -> str:

    def keep(uri: str, mime: str, body: bytes) -> None:
        recorder.record_resource(
            uri, mime, body, concurrent_to=main_key, source_id=source_id, page_key=main_key
        )

    dom = ""
    try:
        dom = await page.content()
        keep(f"urn:dom:{url}", "text/html; charset=utf-8", dom.encode("utf-8"))
        keep(f"urn:screenshot:{url}", "image/png", await page.screenshot(full_page=True, timeout=30_000))
    except Exception as exc:  # Playwright errors: keep what was recorded, say what was not
        logger.warning("%s: no DOM or screenshot recorded: %s", url, str(exc).splitlines()[0][:200])
    return dom
