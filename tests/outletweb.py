"""A local web of news outlets: many host names served from one process on 127.0.0.1.

Finding articles means fetching robots.txt, sitemaps, feeds and articles from
real host names (``kyivindependent.com``, ``rmx.news``, ...), over HTTP and
HTTPS. Tests cannot reach those hosts and cannot bind their names, so
``OutletWeb`` plays every outlet at once behind one forward proxy: the crawler
is pointed at it with ``HTTP_PROXY``/``HTTPS_PROXY`` (see ``env()``), exactly
as a user behind a proxy would point it, and never notices the difference.

- ``GET http://host/path`` (absolute form) is answered from the site table.
- ``CONNECT host:443`` opens a tunnel; the connection is then TLS-wrapped with
  a certificate for ``host`` issued by a throwaway ``trustme`` CA, so clients
  that verify can trust ``ca_file``. Requests inside the tunnel are answered
  from the same table.
- Origin-form requests with a ``Host`` header are answered too, which lets a
  test talk to an outlet directly.

Connections stay open between requests (HTTP/1.1 keep-alive, every response
carries Content-Length), as Scrapy expects. Every request is logged in
``requests`` so tests compare what the crawler asked for with what it kept.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import socketserver
import ssl
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import trustme


@dataclass
class Page:
    """One response of the site table; ``headers`` are extra headers, e.g. ``Location``.

    Content-Type and Content-Length are always sent from ``content_type`` and
    ``body``; do not repeat them in ``headers``.
    """

    body: bytes
    content_type: str = "text/html; charset=utf-8"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


def host_of(authority: str) -> str:
    """The lowercase host name of ``host[:port]``, without the port.

    >>> host_of("RMX.news:443")
    'rmx.news'
    >>> host_of("[::1]:8080")
    '::1'
    """
    return urlsplit(f"//{authority}").hostname or ""


def split_target(target: str, default_host: str) -> tuple[str, str]:
    """The host and path (query included) a request line asks for.

    An absolute-form target names its own host; an origin-form one is for
    ``default_host`` (the Host header, or the tunnel's host).

    >>> split_target("http://Example.COM:80/a?b=1", "")
    ('example.com', '/a?b=1')
    >>> split_target("/feed.xml", "rmx.news:443")
    ('rmx.news', '/feed.xml')
    >>> split_target("http://example.com", "")
    ('example.com', '/')
    """
    if target.startswith("/"):
        return host_of(default_host), target
    parts = urlsplit(target)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return (parts.hostname or ""), path


def unresolvable(host: str) -> Page:
    """What a proxy answers when it cannot resolve ``host``."""
    return Page(f"502 Bad Gateway: cannot resolve {host!r}\n".encode(), "text/plain; charset=utf-8", 502)


def not_found() -> Page:
    """The outlet's answer for a path it does not have."""
    body = "<!doctype html><html><head><title>Not found</title></head><body><h1>404</h1></body></html>"
    return Page(body.encode(), status=404)


def choose_page(site: dict[str, Page] | None, host: str, path: str) -> Page:
    """The page for ``path`` on ``site``: exact key first, then the key without its query.

    >>> choose_page({"/a": Page(b"A")}, "x.example", "/a?utm=1").body
    b'A'
    >>> choose_page({"/a": Page(b"A")}, "x.example", "/b").status
    404
    >>> choose_page(None, "x.example", "/a").status
    502
    """
    if site is None:
        return unresolvable(host)
    page = site.get(path) or site.get(path.split("?", 1)[0])
    return page or not_found()


class _ProxyServer(socketserver.ThreadingTCPServer):
    """The listening socket; ``web`` holds the sites, the log and the certificates."""

    daemon_threads = True
    # Scrapy opens many connections at once; the default backlog of 5 makes the kernel
    # retry the overflow a second later.
    request_queue_size = 128
    # Threads of daemon connections are not joined on close: stop() hangs them up instead.
    block_on_close = False

    def __init__(self, web: OutletWeb) -> None:
        self.web = web
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up (and stop() hanging up on them) are normal; anything else is a bug here.
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """One client connection: proxy requests, CONNECT tunnels, then requests inside the tunnel."""

    protocol_version = "HTTP/1.1"
    server_version = "OutletWeb/1"
    server: _ProxyServer
    scheme = "http"
    tunnel_host = ""

    def setup(self) -> None:
        super().setup()
        self.server.web._register(self)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.web._unregister(self)
            if self.tunnel_host:
                self.connection.close()  # the TLS socket; socketserver only closes the raw one

    def log_message(self, format: str, *args: Any) -> None:
        pass  # tests read ``OutletWeb.requests`` instead

    def do_GET(self) -> None:
        self._serve(head=False)

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def do_CONNECT(self) -> None:
        host = host_of(self.path)
        web = self.server.web
        if not web.knows(host):
            self.close_connection = True
            self._send(unresolvable(host), head=False)
            return
        context = web._tls_context(host)
        self.send_response(200, "Connection established")
        self.end_headers()
        # The client sends nothing more until it sees the 200, so rfile holds no buffered TLS bytes.
        self.rfile.close()
        self.wfile.close()
        try:
            tls = context.wrap_socket(self.connection, server_side=True)
        except OSError:  # ssl.SSLError included: the client rejected the certificate or hung up
            self.close_connection = True
            return
        self.connection, self.scheme, self.tunnel_host = tls, "https", host
        self.close_connection = False  # http.client sends CONNECT as HTTP/1.0, which would end it here
        self.rfile, self.wfile = tls.makefile("rb"), tls.makefile("wb")

    def _serve(self, head: bool) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)  # keep the connection in step for the next request
        host, path = split_target(self.path, self.tunnel_host or self.headers.get("Host", ""))
        page = self.server.web._answer(self.scheme, host, path)
        self._send(page, head)

    def _send(self, page: Page, head: bool) -> None:
        self.send_response(page.status)
        self.send_header("Content-Type", page.content_type)
        self.send_header("Content-Length", str(len(page.body)))
        for name, value in page.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if not head:
            self.wfile.write(page.body)


class OutletWeb:
    """Many host names on 127.0.0.1, reached through one HTTP proxy (plain and CONNECT/TLS).

    Use: ``with OutletWeb() as web: web.add("rmx.news", "/robots.txt", ...)``, then run the
    crawler with ``env=web.env()``.
    """

    def __init__(self, delay: float = 0.0) -> None:
        """``delay`` is how many seconds to wait before answering each request (not each CONNECT)."""
        self.delay = delay
        self.requests: list[tuple[str, str, str]] = []
        self._sites: dict[str, dict[str, Page]] = {}
        self._lock = threading.Lock()
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._handlers: set[_Handler] = set()
        self._ca: trustme.CA | None = None
        self._server: _ProxyServer | None = None
        self._thread: threading.Thread | None = None
        self._folder: Path | None = None

    def add(
        self,
        host: str,
        path: str,
        body: bytes | str,
        content_type: str = "text/html; charset=utf-8",
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Serve ``body`` at ``path`` (query string included, if any) on ``host`` (lowercase, no port)."""
        data = body.encode() if isinstance(body, str) else body
        page = Page(data, content_type, status, dict(headers or {}))
        with self._lock:
            self._sites.setdefault(host, {})[path] = page

    def start(self) -> OutletWeb:
        """Make the CA, bind 127.0.0.1 on an ephemeral port and serve in a daemon thread."""
        if self._server is not None:
            raise RuntimeError("OutletWeb is already started")
        self._ca = trustme.CA()
        self._folder = Path(tempfile.mkdtemp(prefix="outletweb-"))
        self._ca.cert_pem.write_to_path(str(self._folder / "ca.pem"))
        self._server = _ProxyServer(self)
        # A short poll keeps stop() quick: shutdown() waits for the loop's next wake-up.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="outletweb", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, hang up on every open connection and remove the CA file. Safe to call twice."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
            with self._lock:
                handlers = list(self._handlers)
            for handler in handlers:
                with contextlib.suppress(OSError):
                    # The base class's shutdown works on the file descriptor, TLS-wrapped or not.
                    socket.socket.shutdown(handler.connection, socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)

    def __enter__(self) -> OutletWeb:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def proxy_url(self) -> str:
        """``http://127.0.0.1:PORT``, for ``HTTP_PROXY`` and ``HTTPS_PROXY`` alike."""
        if self._server is None:
            raise RuntimeError("OutletWeb is not running: call start() first")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def ca_file(self) -> str:
        """Path of the CA certificate (PEM) that issued every outlet's certificate."""
        if self._folder is None or self._server is None:
            raise RuntimeError("OutletWeb is not running: call start() first")
        return str(self._folder / "ca.pem")

    def env(self) -> dict[str, str]:
        """Environment variables that send a crawler's HTTP and HTTPS requests through this web."""
        url = self.proxy_url
        names = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")
        return {**dict.fromkeys(names, url), "NO_PROXY": "", "no_proxy": ""}

    def knows(self, host: str) -> bool:
        """Whether any page was added for ``host``."""
        with self._lock:
            return host in self._sites

    def _answer(self, scheme: str, host: str, path: str) -> Page:
        with self._lock:
            self.requests.append((scheme, host, path))
            site = self._sites.get(host)
        if self.delay:
            time.sleep(self.delay)
        with self._lock:
            return choose_page(site, host, path)

    def _tls_context(self, host: str) -> ssl.SSLContext:
        # Issued on first CONNECT, so hosts added after start() get certificates too.
        with self._lock:
            context = self._contexts.get(host)
            if context is None:
                assert self._ca is not None
                context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
                self._ca.issue_cert(host).configure_cert(context)
                self._contexts[host] = context
            return context

    def _register(self, handler: _Handler) -> None:
        with self._lock:
            self._handlers.add(handler)

    def _unregister(self, handler: _Handler) -> None:
        with self._lock:
            self._handlers.discard(handler)
