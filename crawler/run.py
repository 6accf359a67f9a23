"""Run a capture crawl in this process: citewatch settings in, seed results out.

Scrapy's reactor cannot restart, so this runs once per process: the CLI calls
it once per command, and a daemon's worker keeps one crawl open for its whole
life (:func:`run_watch`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from archive import __version__
from archive.settings import Settings
from archive.store.archiver import start_archiver
from archive.store.exchange import PipelineMode, SeedResult
from crawler.browser import BrowserGuard, launch_options
from crawler.netguard import proxy_hosts
from crawler.outcomes import classify
from crawler.recording import SETTINGS_KEY, attach_recorder, close_recorder, current_recorder, use_pipeline
from crawler.spiders.capture import CaptureSpider
from crawler.spiders.watch import Feed, WatchSpider

if TYPE_CHECKING:
    from crawler.spiders.citations import AddResult, ArticleInput

logger = logging.getLogger(__name__)

_PLAYWRIGHT = "crawler.playwright_handler.OnDemandBrowserHandler"

_Spider = TypeVar("_Spider", bound=CaptureSpider)


def scrapy_settings(settings: Settings, browser_possible: bool) -> dict[str, Any]:
    """Scrapy settings for a capture crawl, from citewatch settings."""
    from scrapy.settings import default_settings

    result: dict[str, Any] = {
        "BOT_NAME": f"citewatch/{__version__}",
        "USER_AGENT": settings.effective_user_agent,
        "REMOTE_CONTROL_ENABLED": False,  # Scrapy's remote-control extension runs code it is sent
        "TELNETCONSOLE_ENABLED": False,
        # Scrapy imports every extension it lists, even a disabled one, and importing the remote
        # control (aiohttp's server) costs a tenth of a second per run: leave both consoles out.
        "EXTENSIONS_BASE": {
            path: order
            for path, order in default_settings.EXTENSIONS_BASE.items()
            if path.rpartition(".")[2] not in {"RemoteControl", "TelnetConsole"}
        },
        "LOG_ENABLED": False,
        "LOG_INSTALL_ROOT_HANDLER": False,
        "ROBOTSTXT_OBEY": True,  # per request: cited URLs carry dont_obey_robotstxt (see the spider)
        "COOKIES_ENABLED": True,
        "HTTPERROR_ALLOW_ALL": True,
        # Callbacks yield requests, never items; Scrapy starts this many tasks per callback.
        "CONCURRENT_ITEMS": 4,
        # A development-time check that re-reads callback source on every call.
        "WARN_ON_GENERATOR_RETURN_VALUE": False,
        "DUPEFILTER_CLASS": "scrapy.dupefilters.BaseDupeFilter",
        "DEFAULT_REQUEST_HEADERS": {
            "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
            "Accept-Language": "en",
            "Accept-Encoding": "gzip, deflate",  # warcio cannot decode zstd; brotli support varies
        },
        "COMPRESSION_ENABLED": True,
        "CONCURRENT_REQUESTS": settings.concurrency,
        "CONCURRENT_REQUESTS_PER_DOMAIN": settings.host_concurrency,
        "DOWNLOAD_DELAY": settings.host_delay,
        "DOWNLOAD_DELAY_JITTER": 0.5,
        "DOWNLOAD_TIMEOUT": settings.timeout,
        # Truncation is ours (WarcWriterMiddleware); decompression is capped per request.
        "DOWNLOAD_MAXSIZE": 0,
        "DOWNLOAD_WARNSIZE": 0,
        "DOWNLOAD_FAIL_ON_DATALOSS": False,
        "REDIRECT_MAX_TIMES": settings.max_redirects,
        "METAREFRESH_ENABLED": False,
        "RETRY_TIMES": settings.retries,
        "RETRY_HTTP_CODES": [500, 502, 503, 504, 522, 524, 408, 429],
        "TWISTED_DNS_RESOLVER": "crawler.resolver.GuardedResolver",
        "DOWNLOAD_HANDLERS": {"file": None, "s3": None, "ftp": None, "data": None},
        "DOWNLOADER_MIDDLEWARES": {
            "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
            "crawler.middlewares.BackoffRetryMiddleware": 550,
            "scrapy.downloadermiddlewares.cookies.CookiesMiddleware": None,
            "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
            "crawler.robots.WholeRobotsTxtMiddleware": 100,
            "crawler.middlewares.BoundedCookiesMiddleware": 700,
            "scrapy.downloadermiddlewares.httpproxy.HttpProxyMiddleware": None,
            "crawler.middlewares.EnvironmentProxyMiddleware": 750,
            "crawler.middlewares.NetworkGuardMiddleware": 760,
            "crawler.middlewares.WarcWriterMiddleware": 950,
        },
        "ARCHIVE_ENABLED": True,
        SETTINGS_KEY: settings,  # every citewatch setting, read where it is used
    }
    if browser_possible:
        result["DOWNLOAD_HANDLERS"].update({"http": _PLAYWRIGHT, "https": _PLAYWRIGHT})
        result.update(
            {
                "PLAYWRIGHT_BROWSER_TYPE": "chromium",
                "PLAYWRIGHT_LAUNCH_OPTIONS": launch_options(settings.browser_executable),
                "PLAYWRIGHT_DEFAULT_NAVIGATION_TIMEOUT": settings.timeout * 1000,
                "PLAYWRIGHT_ABORT_REQUEST": BrowserGuard(
                    settings.allow_private_networks, bool(proxy_hosts())
                ),
                "PLAYWRIGHT_MAX_PAGES_PER_CONTEXT": 4,
            }
        )
    return result


class _ShutdownNotice(logging.Filter):
    """Scrapy says at INFO that Ctrl-C started a graceful stop (and that a second one forces it).

    A graceful stop finishes the downloads already queued, which at a polite
    per-host delay can take a while: the user must see that line.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if str(record.msg).startswith("Received "):
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            return True
        return record.levelno >= logging.WARNING


class _RobotsFailure(logging.Filter):
    """Scrapy logs a robots.txt it could not download at ERROR, with a traceback, and then
    crawls the host as if robots.txt allowed everything.

    When the host cannot be reached at all, the fetch that follows fails the same way and
    records its outcome, which is what the user sees: the robots.txt line drops to INFO (-v).
    Any other failure is one WARNING line. The traceback stays on the record for -vv and
    --debug (the CLI's formatter leaves it out otherwise).
    """

    _UNREACHABLE = {"dns", "refused", "connection", "tls", "proxy", "blocked"}

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is None or not isinstance(record.args, dict):
            return True
        request = record.args.get("request")
        parts = urlsplit(getattr(request, "url", "") or "")
        robots = f"{parts.scheme}://{parts.netloc}/robots.txt"
        outcome, message = classify(exc, robots)
        if outcome in self._UNREACHABLE:
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.msg, record.args = "%s not fetched: %s", (robots, message)
        else:
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.msg = "%s not fetched (%s): %s is crawled as if it allowed everything"
            record.args = (robots, message, parts.netloc)
        return True


def _quiet_libraries() -> None:
    """Scrapy resets its loggers to DEBUG; keep them at WARNING unless citewatch runs at -vv."""
    robots = logging.getLogger("scrapy.downloadermiddlewares.robotstxt")
    if not any(isinstance(f, _RobotsFailure) for f in robots.filters):
        robots.addFilter(_RobotsFailure())
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        for name in ("scrapy", "twisted", "scrapy-playwright", "scrapy_playwright", "asyncio", "py.warnings"):
            logging.getLogger(name).setLevel(logging.WARNING)
        shutdown = logging.getLogger("scrapy.crawler")
        shutdown.setLevel(logging.INFO)
        shutdown.addFilter(_ShutdownNotice())


def _offline_suffix_list() -> None:
    """Scrapy's cookie middleware splits domains with tldextract, which by default downloads the
    public suffix list on its first use: a network call nobody asked for (and, offline, a
    traceback per capture). The snapshot tldextract bundles does the same work."""
    from scrapy.downloadermiddlewares import cookies
    from tldextract import TLDExtract

    if not getattr(cookies._split_domain, "_citewatch_offline", False):
        split = TLDExtract(include_psl_private_domains=True, suffix_list_urls=(), cache_dir=None)
        split._citewatch_offline = True  # type: ignore[attr-defined]  # our mark on tldextract's object
        cookies._split_domain = split


def _crawl(
    settings: Settings,
    spider_cls: type[_Spider],
    browser_possible: bool,
    extra: dict[str, Any] | None,
    archiver: Any = None,
    after: Callable[[_Spider], object] | None = None,
    handle_signals: bool = True,
    pipeline: PipelineMode | None = None,
    **kwargs: Any,
) -> _Spider:
    """Run one crawl of ``spider_cls`` to the end, its results through the ``pipeline``
    (archive/pipeline.py) when given, then settle its captures (and call ``after`` with the
    spider while its recorder is still open); returns the spider."""
    from scrapy.crawler import CrawlerProcess

    # An archiver left unattached by an error here exits by itself when this process does.
    process = CrawlerProcess({**scrapy_settings(settings, browser_possible), **(extra or {})})
    _quiet_libraries()
    _offline_suffix_list()
    crawler = process.create_crawler(spider_cls)
    if archiver is not None:
        attach_recorder(crawler, archiver)
    if pipeline is not None:
        use_pipeline(crawler, pipeline)
    process.crawl(crawler, **kwargs)
    process.start(install_signal_handlers=handle_signals)
    try:
        spider = crawler.spider
        assert isinstance(spider, spider_cls)  # the crawl made it from spider_cls
        if spider.start_error is not None:
            raise spider.start_error
        recorder = current_recorder(crawler)
        if recorder is not None:
            spider.finish_checks()
            spider.settle(recorder)
        if after is not None:
            after(spider)
    finally:
        close_recorder(crawler)
    return spider


def _results(spider: CaptureSpider, urls: Sequence[str]) -> list[SeedResult]:
    missing = [u for u in urls if u not in spider.results]
    for url in missing:  # a crawl that stopped early (signal, crash of a component)
        spider.results[url] = SeedResult(url, "interrupted", "the crawl stopped before this URL finished")
    return [spider.results[u] for u in dict.fromkeys(urls)]


def run_capture(
    settings: Settings,
    urls: Sequence[str],
    *,
    browser: bool = False,
    on_result: Callable[[SeedResult], None] | None = None,
    extra: dict[str, Any] | None = None,
    archiver: Any = None,
    report: dict[str, Any] | None = None,
    pipeline: PipelineMode | None = None,
) -> list[SeedResult]:
    """Capture ``urls`` (already checked) and return one result per URL, in order, each taken
    through the ``pipeline`` when given (analysed, retried in the browser, its check recorded).

    ``archiver``: one from :func:`start_archiver`, started earlier; by default one is started here.
    ``report``, when given, gets ``unsaved``: captures lost that no result names (requisites).
    """
    spider = _crawl(
        settings,
        CaptureSpider,
        browser or settings.auto_browser,
        extra,
        archiver or start_archiver(settings),
        pipeline=pipeline,
        urls=urls,
        browser=browser,
        on_result=on_result,
    )
    if report is not None:
        report["unsaved"] = spider.unsaved
    return _results(spider, urls)


def run_add(
    settings: Settings,
    article: ArticleInput,
    *,
    resolve_outlets: bool = True,
    on_result: Callable[[SeedResult], None] | None = None,
    on_progress: Callable[[str], None] | None = None,
    extra: dict[str, Any] | None = None,
    pipeline: PipelineMode | None = None,
) -> tuple[AddResult, list[SeedResult]]:
    """Add a citing article: store it, resolve its outlets, capture what it cites (each capture
    through the ``pipeline`` when given).

    Its spider stores articles and candidates through the recorder's own
    database session, so it records in this process, not through an archiver.
    """
    from crawler.spiders.citations import CitationSpider

    spider = _crawl(
        settings,
        CitationSpider,
        settings.auto_browser,
        extra,
        pipeline=pipeline,
        article=article,
        resolve_outlets=resolve_outlets,
        on_result=on_result,
        on_progress=on_progress,
    )
    seeds = ([article.url] if article.url else []) + list(spider.seeds)
    return spider.added, _results(spider, seeds)


def run_watch(settings: Settings, feed: Feed, *, tick: float = 0.5, deadline: float = 600.0) -> WatchSpider:
    """Run a crawl that takes its URLs from ``feed`` until the feed stops it (signals are the
    caller's: a daemon's worker stops when the daemon says so).

    Writes through a recorder in this process: the feed reads what it wrote
    (analysis, the schedule) as soon as each capture is committed. At the end,
    the last captures are reported, the unfinished URLs are handed back, and
    the WARC file is closed. Raises what stopped the crawl, if anything failed.
    """

    def after(spider: WatchSpider) -> None:
        spider.report()
        feed.unfinished(spider.leftover())

    spider = _crawl(
        settings,
        WatchSpider,
        settings.auto_browser,
        # A crawl that lives for months keeps less in memory: each check's prefetch brings
        # back what it needs.
        {"ARCHIVE_REMEMBER": 5_000},
        feed=feed,
        tick=tick,
        deadline=deadline,
        handle_signals=False,
        after=after,
    )
    if spider.failure is not None:
        raise spider.failure
    return spider
