"""The peer for the capture benchmark: plain Scrapy, same pages and requisites, no archiving.

Run: ``python bench/plain_scrapy.py URLS_FILE CONCURRENCY PER_HOST``; prints a JSON line
with the pages and requests done.
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import scrapy
from scrapy.crawler import CrawlerProcess


class PlainSpider(scrapy.Spider):
    name = "plain"

    def __init__(self, urls: list[str], **kwargs: object):
        super().__init__(**kwargs)
        self.urls = urls
        self.pages = 0
        self.requisites = 0

    async def start(self) -> AsyncIterator[scrapy.Request]:
        for url in self.urls:
            yield scrapy.Request(url, callback=self.parse)

    def parse(self, response: scrapy.http.Response) -> Iterator[scrapy.Request]:
        self.pages += 1
        for url in response.css("link[rel=stylesheet]::attr(href), img::attr(src)").getall():
            yield response.follow(url, callback=self.requisite)

    def requisite(self, response: scrapy.http.Response) -> None:
        self.requisites += 1


def main() -> None:
    urls = Path(sys.argv[1]).read_text().split()
    concurrency, per_host = int(sys.argv[2]), int(sys.argv[3])
    process = CrawlerProcess(
        {
            "LOG_ENABLED": False,
            "REMOTE_CONTROL_ENABLED": False,
            "TELNETCONSOLE_ENABLED": False,
            "CONCURRENT_REQUESTS": concurrency,
            "CONCURRENT_REQUESTS_PER_DOMAIN": per_host,
            "DOWNLOAD_DELAY": 0,
            "ROBOTSTXT_OBEY": False,
            "COOKIES_ENABLED": True,
            "DEFAULT_REQUEST_HEADERS": {"Accept-Encoding": "gzip, deflate"},
            # As citewatch sets them: neither is about archiving.
            "CONCURRENT_ITEMS": 4,
            "WARN_ON_GENERATOR_RETURN_VALUE": False,
        }
    )
    crawler = process.create_crawler(PlainSpider)
    process.crawl(crawler, urls=urls)
    process.start()
    spider = crawler.spider
    print(json.dumps({"pages": spider.pages, "requisites": spider.requisites}))


if __name__ == "__main__":
    main()
