"""The download handler: plain HTTP, and Chromium (scrapy-playwright) only when a page needs it.

scrapy-playwright's own handler imports Playwright and starts its driver when
the engine starts, which costs every capture run close to a second even when
no page needs a browser. Most never do: the browser is for pages that show no
text without JavaScript, or for ``--browser``. This handler serves HTTP itself
and creates the scrapy-playwright handler (importing Playwright, starting the
driver, launching Chromium) on the first request that asks for the browser, with
Chromium's traffic sent through :mod:`crawler.guardproxy` when the address guard is on.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler
from scrapy.http import Response

from crawler import guardproxy
from crawler.netguard import browser_proxy
from crawler.recording import citewatch_settings


class OnDemandBrowserHandler(HTTP11DownloadHandler):
    def __init__(self, crawler: Any) -> None:
        super().__init__(crawler)
        self._browser_handler: Any = None
        self._guard: guardproxy.GuardProxy | None = None
        self._browser_lock = asyncio.Lock()

    async def _browser(self) -> Any:
        async with self._browser_lock:
            if self._browser_handler is None:
                from scrapy_playwright.handler import ScrapyPlaywrightDownloadHandler

                handler = ScrapyPlaywrightDownloadHandler.from_crawler(self._crawler)
                if self._needs_guard():
                    user = browser_proxy() or {}  # the guard proxy passes on to the user's own
                    guard = guardproxy.GuardProxy(
                        upstream=user.get("server"), no_proxy=user.get("bypass", "")
                    )
                    self._guard = guardproxy.CURRENT = await guard.start()
                    # <-loopback> undoes Chromium's built-in bypass for loopback
                    # hosts: those must pass the guard most of all.
                    handler.config.launch_options["proxy"] = {
                        "server": self._guard.url,
                        "bypass": "<-loopback>",
                    }
                await handler._launch()  # the engine_started signal it waits for has fired already
                self._browser_handler = handler
        return self._browser_handler

    async def download_request(self, request: Any) -> Response:
        if request.meta.get("playwright"):
            response = await (await self._browser()).download_request(request)
            return cast(Response, response)  # scrapy-playwright is untyped
        return await super().download_request(request)

    def _needs_guard(self) -> bool:
        """Chromium goes through the guard proxy unless private addresses are allowed, in front of
        the user's own proxy if there is one. A proxy the guard proxy cannot speak to (SOCKS, TLS)
        gets Chromium's traffic itself: then only the first request of a redirect chain is checked."""
        if citewatch_settings(self._crawler.settings).allow_private_networks:
            return False
        user = browser_proxy()
        return user is None or "://" not in user["server"] or user["server"].lower().startswith("http://")

    async def close(self) -> None:
        if self._browser_handler is not None:
            await self._browser_handler.close()
        if self._guard is not None:
            await self._guard.close()
        await super().close()
