"""A generated multi-host news site on loopback addresses, for benchmarks.

Each host is its own loopback address (127.0.0.2, 127.0.0.3, ...) so crawlers
treat them as separate hosts, as they would real origins. Every page is an
article of a few kilobytes with a per-host stylesheet and its own image; every
response (page or requisite) is sent after ``--delay`` seconds, like a real
origin's latency. Content is deterministic, so a second crawl sees the same
bytes. HTML and CSS are gzip-compressed when the client accepts it.

Run: ``python bench/site.py --hosts 20 --pages 100 --delay 0.05``; it prints
one JSON line (the page URLs) and serves until killed.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import random
import sys

from aiohttp import web

WORDS = [
    "court",
    "ministry",
    "report",
    "soldiers",
    "cases",
    "budget",
    "officials",
    "election",
    "minister",
    "agency",
    "border",
    "inflation",
    "energy",
    "contract",
    "council",
    "vote",
    "river",
    "harbour",
    "hospital",
    "census",
]


def article(host: int, page: int) -> bytes:
    rng = random.Random(host * 100_003 + page)
    paragraphs = "".join(
        "<p>" + " ".join(rng.choice(WORDS) for _ in range(60)) + f" {rng.randint(1000, 999999):,}.</p>"
        for _ in range(8)
    )
    nav = "".join(f"<li><a href='/page/{(page + k) % 100}.html'>Related {k}</a></li>" for k in range(1, 6))
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>Story {host}-{page}</title>"
        f"<link rel='stylesheet' href='/static/site.css'></head><body><nav><ul>{nav}</ul></nav>"
        f"<article><h1>Story {page} of host {host}</h1>{paragraphs}"
        f"<img src='/img/{page}.png' alt='photo'></article><footer>Footer</footer></body></html>"
    ).encode()


def stylesheet(host: int) -> bytes:
    rules = "".join(
        f".c{i} {{ margin: {i}px; color: #{(host * 37 + i) % 0xFFFFFF:06x}; }}\n" for i in range(120)
    )
    return f"body {{ font-family: serif; }}\n{rules}".encode()


def image(host: int, page: int) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + random.Random(host * 7919 + page).randbytes(6000)


def make_app(host: int, pages: int, delay: float) -> web.Application:
    css = stylesheet(host)
    css_gz = gzip.compress(css, mtime=0)
    html = {p: article(host, p) for p in range(pages)}
    html_gz = {p: gzip.compress(b, mtime=0) for p, b in html.items()}

    def encoded(request: web.Request, plain: bytes, packed: bytes, content_type: str) -> web.Response:
        if "gzip" in request.headers.get("Accept-Encoding", ""):
            return web.Response(
                body=packed,
                content_type=content_type,
                charset="utf-8",
                headers={"Content-Encoding": "gzip", "Vary": "Accept-Encoding"},
            )
        return web.Response(body=plain, content_type=content_type, charset="utf-8")

    async def page(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(delay)
        number = int(request.match_info["n"])
        if number not in html:
            raise web.HTTPNotFound()
        return encoded(request, html[number], html_gz[number], "text/html")

    async def style(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(delay)
        return encoded(request, css, css_gz, "text/css")

    async def img(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(delay)
        return web.Response(body=image(host, int(request.match_info["n"])), content_type="image/png")

    app = web.Application()
    app.add_routes(
        [web.get("/page/{n}.html", page), web.get("/static/site.css", style), web.get("/img/{n}.png", img)]
    )
    return app


async def serve(hosts: int, pages: int, delay: float) -> None:
    urls = []
    for h in range(hosts):
        address = f"127.0.0.{h + 2}"
        runner = web.AppRunner(make_app(h, pages, delay), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, address, 0, backlog=1024)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        urls += [f"http://{address}:{port}/page/{p}.html" for p in range(pages)]
    print(json.dumps(urls), flush=True)
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument("--delay", type=float, default=0.05)
    args = parser.parse_args()
    try:
        asyncio.run(serve(args.hosts, args.pages, args.delay))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
