"""A real HTTP server on 127.0.0.1 (port 0) for tests, with well-behaved and hostile routes.

Each route is a function of the request handler. The server remembers every
request it saw and the body bytes it sent for each path, so tests compare
what was archived with what went over the wire.
"""

from __future__ import annotations

import contextlib
import gzip
import http.server
import os
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Route = Callable[["Handler"], None]


def page_html(title: str, body: str, head: str = "") -> bytes:
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>{head}</head>"
        f"<body>{body}</body></html>"
    ).encode()


ARTICLE = page_html(
    "Cited report",
    "<h1>Cited report</h1><p>The court opened 253,000 criminal cases in 2025.</p>"
    "<p>Officials said 576 soldiers were lost every single day.</p><img src='/img.png'>",
    "<link rel='stylesheet' href='/style.css'>",
)
STYLE = b"body { font-family: Test; background: url('/bg.png') } @font-face { src: url(/font.woff2) }"
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000") + os.urandom(64)
JS_ONLY = page_html("App", "<div id='app'></div><script src='/app.js'></script>")
APP_JS = (
    b"fetch('/api.json').then(r => r.json()).then(d => {"
    b" const p = document.createElement('p'); p.id = 'inserted'; p.textContent = d.text;"
    b" document.getElementById('app').appendChild(p); });"
)
API_JSON = b'{"text": "Inserted by JavaScript: 42 ministers resigned."}'


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    when: float


@dataclass
class ServerState:
    routes: dict[str, Route] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    sent: dict[str, bytes] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Any

    def log_message(self, *args: Any) -> None:
        pass

    @property
    def state(self) -> ServerState:
        return self.server.state

    def count(self) -> int:
        with self.state.lock:
            n = self.state.counters.get(self.path, 0) + 1
            self.state.counters[self.path] = n
        return n

    def do_GET(self) -> None:
        with self.state.lock:
            self.state.seen.append(Seen("GET", self.path, dict(self.headers.items()), time.time()))
        path = self.path.split("?", 1)[0] if "://" not in self.path else self.path
        route = self.state.routes.get(path) or self.state.routes.get(self.path) or self.state.routes.get("*")
        if route is None:
            self.send_body(404, b"not found", "text/plain")
            return
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            route(self)

    def send_body(
        self,
        status: int,
        body: bytes,
        content_type: str = "text/html; charset=utf-8",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
        with self.state.lock:
            self.state.sent[self.path] = body


def static(
    body: bytes,
    content_type: str = "text/html; charset=utf-8",
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Route:
    return lambda h: h.send_body(status, body, content_type, headers)


def redirect(location: str, status: int = 302) -> Route:
    return lambda h: h.send_body(status, b"", "text/html", {"Location": location})


def chunked(parts: list[bytes], content_type: str = "text/html; charset=utf-8") -> Route:
    def route(h: Handler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", content_type)
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        for part in parts:
            h.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            h.wfile.flush()
        h.wfile.write(b"0\r\n\r\n")
        with h.state.lock:
            h.state.sent[h.path] = b"".join(parts)

    return route


def gzipped(body: bytes, content_type: str = "text/html; charset=utf-8") -> Route:
    data = gzip.compress(body, mtime=0)
    return lambda h: h.send_body(200, data, content_type, {"Content-Encoding": "gzip"})


def gzip_bomb(decompressed_size: int) -> Route:
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = b"\0" * (1 << 20)
    data = b"".join(comp.compress(chunk) for _ in range(decompressed_size >> 20)) + comp.flush()
    return lambda h: h.send_body(200, data, "text/html", {"Content-Encoding": "gzip"})


def endless(content_type: str = "text/html") -> Route:
    """Streams data with no length until the client hangs up."""

    def route(h: Handler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", content_type)
        h.send_header("Connection", "close")
        h.end_headers()
        block = b"<p>" + b"x" * 65530 + b"</p>"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            h.wfile.write(block)
        h.close_connection = True

    return route


def sized(total: int) -> Route:
    """A body of ``total`` bytes announced by Content-Length, sent in blocks."""

    def route(h: Handler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "application/octet-stream")
        h.send_header("Content-Length", str(total))
        h.end_headers()
        block, sent = os.urandom(1 << 16), 0
        while sent < total:
            part = block[: min(len(block), total - sent)]
            h.wfile.write(part)
            sent += len(part)

    return route


def slow(seconds: float, body: bytes = b"late") -> Route:
    def route(h: Handler) -> None:
        time.sleep(seconds)
        h.send_body(200, body)

    return route


def fail_then(status: int, times: int, then: Route, headers: dict[str, str] | None = None) -> Route:
    def route(h: Handler) -> None:
        if h.count() <= times:
            h.send_body(status, b"try later", "text/plain", headers)
        else:
            then(h)

    return route


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients hanging up mid-body is what several tests do on purpose


class TestServer:
    """A threaded HTTP server; ``url(path)`` gives absolute URLs."""

    def __init__(self, host: str = "127.0.0.1"):
        self.state = ServerState()
        self.httpd = _Server((host, 0), Handler)
        self.httpd.state = self.state  # type: ignore[attr-defined]
        self.host, self.port = self.httpd.server_address[:2]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> TestServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def url(self, path: str, host: str | None = None) -> str:
        return f"http://{host or self.host}:{self.port}{path}"

    def route(self, path: str, handler: Route) -> str:
        self.state.routes[path] = handler
        return self.url(path)

    def requests_for(self, path: str) -> list[Seen]:
        return [s for s in self.state.seen if s.path.split("?")[0] == path or s.path.endswith(path)]
