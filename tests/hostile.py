"""A hostile web server on 127.0.0.1 (port 0), for tests/test_hostile.py.

Each :class:`Behaviour` is one way a server can answer badly: redirect loops, bodies that never
end or lie about their length, slowloris drips, compression bombs, broken chunking, lying
charsets, pathological HTML, broken status lines and headers, resets, a TLS answer to plain
HTTP, hostile robots.txt files. It is written on a raw socket (``http.server`` cannot send most
of these) and is served at ``/case/<id>``; what follows the id (``/case/<id>/7``) is the
behaviour's to read. A :class:`HostileServer` made with ``robots=`` answers ``/robots.txt``
that way and ``/page`` with a plain page, so that one host's robots.txt is the case.

Each behaviour names the outcomes citewatch may record for it (crawler/outcomes.py,
archive/store/index.py): never ``error``, which is kept for citewatch's own failures.
"""

from __future__ import annotations

import contextlib
import gzip
import random
import socket
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import brotli
from backports import zstd

Serve = Callable[["Peer"], None]

# The test run caps bodies at this (CITEWATCH_MAX_RESPONSE_SIZE): bombs and endless bodies stop
# there; every "large but fair" page below stays under it.
MAX_RESPONSE_SIZE = 16 << 20
# What each bomb inflates to: sixteen times the cap.
BOMB_SIZE = 256 << 20
# No behaviour talks for longer than this, whatever the client does.
LONGEST = 30.0


def page(title: str, body: str, charset: str = "utf-8") -> bytes:
    return f"<!doctype html><html><head><title>{title}</title></head><body>{body}</body></html>".encode(
        charset
    )


PLAIN = page("A plain page", "<h1>A plain page</h1><p>Nothing odd here: 42 words of text.</p>")


class Peer:
    """One accepted connection, with the request it sent and ways to answer it."""

    def __init__(self, sock: socket.socket, server: HostileServer, head: bytes):
        self.sock = sock
        self.server = server
        self.head = head
        line = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
        self.path = line[1] if len(line) > 1 else "/"
        self.started = time.monotonic()

    def url(self, path: str) -> str:
        return self.server.url(path)

    def send(self, *parts: bytes) -> None:
        self.sock.sendall(b"".join(parts))

    def answer(
        self,
        body: bytes,
        content_type: str | None = "text/html; charset=utf-8",
        status: str = "200 OK",
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        """A well-formed answer (unless ``headers`` make it otherwise), then close."""
        lines = [f"HTTP/1.1 {status}"]
        if content_type is not None:
            lines.append(f"Content-Type: {content_type}")
        lines.append(f"Content-Length: {len(body)}")
        lines += [f"{k}: {v}" for k, v in headers or []]
        lines.append("Connection: close")
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"), body)

    @property
    def going(self) -> bool:
        return not self.server.stopping.is_set() and time.monotonic() - self.started < LONGEST

    def drip(self, data: bytes, every: float = 1.0) -> None:
        """Send ``data`` a byte at a time, ``every`` seconds apart (slowloris)."""
        for i in range(len(data)):
            if not self.going:
                return
            self.send(data[i : i + 1])
            self.server.stopping.wait(every)

    def stream(self, block: bytes) -> None:
        """Send ``block`` again and again until the client hangs up."""
        while self.going:
            self.send(block)

    def hold(self) -> None:
        """Keep the connection open, saying nothing, until the client hangs up."""
        self.sock.settimeout(0.2)
        while self.going:
            try:
                if self.sock.recv(65536) == b"":
                    return
            except TimeoutError:
                continue

    def reset(self) -> None:
        """Close with a TCP RST instead of a FIN."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()


@dataclass(frozen=True)
class Behaviour:
    """One hostile answer, served at ``/case/<id>``, and what citewatch may make of it."""

    id: str
    serve: Serve
    expected: frozenset[str]
    why: str
    # Served as the host's robots.txt (its own server; the page captured is /page, plain).
    robots: bool = False
    # Served from an address of its own (127.0.0.N): cookies are kept per host name, port aside,
    # and a cookie bomb must not reach the other cases' requests.
    own_host: bool = False
    # A known defect (citewatch's, or a tool's it relies on): the case is expected to fail its
    # WARC check, for this reason.
    xfail: str | None = None


def _head(status: str, *headers: str) -> bytes:
    return ("\r\n".join([f"HTTP/1.1 {status}", *headers, "Connection: close"]) + "\r\n\r\n").encode()


# -- bodies built once ---------------------------------------------------------------------


@dataclass
class _Bombs:
    """Compression bombs of BOMB_SIZE zero bytes, one deflate run wrapped three ways."""

    raw: bytes = b""
    gzip: bytes = b""
    zlib: bytes = b""
    brotli: bytes = b""
    zstd: bytes = b""
    gzip_twice: bytes = b""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def build(self) -> None:
        with self.lock:
            if self.raw:
                return
            mib = b"\0" * (1 << 20)
            deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
            self.raw = b"".join(deflate.compress(mib) for _ in range(BOMB_SIZE >> 20)) + deflate.flush()
            crc = 0
            for _ in range(BOMB_SIZE >> 20):
                crc = zlib.crc32(mib, crc)
            self.gzip = b"\x1f\x8b\x08\x00\0\0\0\0\x02\xff" + self.raw + struct.pack("<II", crc, BOMB_SIZE)
            adler = 1
            for _ in range(BOMB_SIZE >> 20):
                adler = zlib.adler32(mib, adler)
            self.zlib = b"\x78\xda" + self.raw + struct.pack(">I", adler)
            squeeze = brotli.Compressor(quality=5)
            self.brotli = b"".join(squeeze.process(mib) for _ in range(BOMB_SIZE >> 20)) + squeeze.finish()
            zs = zstd.ZstdCompressor(level=3)
            self.zstd = b"".join(zs.compress(mib) for _ in range(BOMB_SIZE >> 20)) + zs.flush()
            self.gzip_twice = gzip.compress(self.gzip, mtime=0)


BOMBS = _Bombs()


def _seeded(n: int, seed: int = 7) -> bytes:
    return random.Random(seed).randbytes(n)


# -- behaviours ----------------------------------------------------------------------------


def _redirect_to(target: Callable[[Peer], str], status: str = "302 Found") -> Serve:
    return lambda p: p.send(_head(status, f"Location: {target(p)}", "Content-Length: 0"))


def _chain(hops: int) -> Serve:
    def serve(p: Peer) -> None:
        n = int(p.path.rsplit("/", 1)[1]) if p.path.count("/") > 2 else 0
        if n >= hops:
            p.answer(PLAIN)
        else:
            base = p.path if p.path.count("/") == 2 else p.path.rsplit("/", 1)[0]
            p.send(_head("302 Found", f"Location: {p.url(f'{base}/{n + 1}')}", "Content-Length: 0"))

    return serve


def _ping_pong(p: Peer) -> None:
    there = "b" if p.path.endswith("/a") else "a"
    p.send(_head("302 Found", f"Location: {p.url(f'/case/redirect-ping-pong/{there}')}", "Content-Length: 0"))


def _endless(p: Peer) -> None:
    p.send(_head("200 OK", "Content-Type: text/html"))
    p.stream(b"<p>" + b"x" * 65530 + b"</p>")


def _endless_chunked(p: Peer) -> None:
    p.send(_head("200 OK", "Content-Type: text/html", "Transfer-Encoding: chunked"))
    block = b"<p>" + b"y" * 65530 + b"</p>"
    p.stream(f"{len(block):x}\r\n".encode() + block + b"\r\n")


def _huge_length(p: Peer) -> None:
    p.send(_head("200 OK", "Content-Type: text/html", f"Content-Length: {10**15}"))
    p.stream(b"z" * 65536)


def _length(claimed: str, body: bytes, then: str = "close") -> Serve:
    def serve(p: Peer) -> None:
        p.send(_head("200 OK", "Content-Type: text/html; charset=utf-8", f"Content-Length: {claimed}"), body)
        if then == "hold":
            p.hold()
        elif then == "reset":
            p.reset()

    return serve


def _conflicting_lengths(p: Peer) -> None:
    p.send(_head("200 OK", "Content-Type: text/html", "Content-Length: 10", "Content-Length: 2000"), PLAIN)


def _slow_headers(p: Peer) -> None:
    p.drip(_head("200 OK", "Content-Type: text/html", f"Content-Length: {len(PLAIN)}") + PLAIN)


def _slow_body(p: Peer) -> None:
    p.send(_head("200 OK", "Content-Type: text/html", f"Content-Length: {len(PLAIN)}"))
    p.drip(PLAIN)


def _silent(p: Peer) -> None:
    p.hold()


def _status_then_stall(p: Peer) -> None:
    p.send(b"HTTP/1.1 200 OK\r\n")
    p.hold()


def _bomb(which: str, encoding: str, content_type: str = "text/html") -> Serve:
    def serve(p: Peer) -> None:
        BOMBS.build()
        body = getattr(BOMBS, which)
        p.answer(body, content_type, headers=[("Content-Encoding", encoding)])

    return serve


def _encoded(body: bytes, encoding: str) -> Serve:
    return lambda p: p.answer(body, headers=[("Content-Encoding", encoding)])


def _chunks(*parts: bytes, then: str = "close") -> Serve:
    def serve(p: Peer) -> None:
        p.send(_head("200 OK", "Content-Type: text/html", "Transfer-Encoding: chunked"), *parts)
        if then == "hold":
            p.hold()

    return serve


def _chunked_and_length(p: Peer) -> None:
    body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(PLAIN), PLAIN)
    p.send(_head("200 OK", "Content-Type: text/html", "Content-Length: 5", "Transfer-Encoding: chunked"))
    p.send(body)


def _raw(data: bytes) -> Serve:
    """Exactly ``data``, then close: no status line or header is added."""
    return lambda p: p.send(data)


def _headers(*lines: str | bytes, body: bytes = PLAIN) -> Serve:
    def serve(p: Peer) -> None:
        encoded = [line if isinstance(line, bytes) else line.encode("latin-1") for line in lines]
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
        head += b"".join(line + b"\r\n" for line in encoded)
        p.send(head, f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode(), body)

    return serve


def _many_headers(name: str, count: int) -> Serve:
    return _headers(*(f"{name}-{i}: value {i}" for i in range(count)))


def _reset_now(p: Peer) -> None:
    p.reset()


def _close_now(p: Peer) -> None:
    p.sock.close()


# A TLS 1.2 ServerHello (random, no session, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256) followed by
# a fatal "unexpected_message" alert: what a TLS server says to a plain-HTTP request line.
_SERVER_HELLO = (
    b"\x16\x03\x03\x00\x2a\x02\x00\x00\x26\x03\x03" + bytes(range(32)) + b"\x00\xc0\x2f\x00"
) + b"\x15\x03\x03\x00\x02\x02\x0a"


def _body_status(status: str) -> Serve:
    return lambda p: p.send(_head(status, "Content-Type: text/html", f"Content-Length: {len(PLAIN)}"), PLAIN)


def _cookie_bomb(p: Peer) -> None:
    if p.path.endswith("/next"):
        p.answer(PLAIN)
        return
    cookies = [f"Set-Cookie: b{i}={'v' * 100}; Path=/" for i in range(5000)]
    p.send(_head("302 Found", f"Location: {p.path}/next", "Content-Length: 0", *cookies))


_COOKIES = _headers(*(f"Set-Cookie: c{i}={'v' * 100}; Path=/; Max-Age=3600" for i in range(5000)))


# -- pathological but well-formed pages ----------------------------------------------------

_LATIN1 = page("Café", "<p>Ça coûte 253 000 francs à Zürich, déjà.</p>", "latin-1")
_CP1251 = page("Новости", "<p>Суд открыл 253 000 уголовных дел в 2025 году.</p>", "cp1251")
_UTF16_TEXT = "<html><head><title>Zweite</title></head><body><p>Über 253 000 Fälle.</p></body></html>"
_UTF7 = "<html><head><title>Seven</title></head><body><p>253&nbsp;000 cases, caf\u00e9</p></body></html>"


def _big(build: Callable[[], bytes]) -> Serve:
    cache: list[bytes] = []

    def serve(p: Peer) -> None:
        if not cache:
            cache.append(build())
        p.answer(cache[0])

    return serve


def _single_line() -> bytes:
    return (
        b"<!doctype html><html><head><title>One line</title></head><body><p>"
        + b"word " * (2 << 20)
        + b"</p></body></html>"
    )


def _nested() -> bytes:
    return b"<html><body>" + b"<div>" * 100_000 + b"deep" + b"</div>" * 100_000 + b"</body></html>"


def _links() -> bytes:
    return page("Links", "".join(f"<a href='/l/{i}'>link {i}</a> " for i in range(100_000)))


def _images() -> bytes:
    return page("Images", "".join(f"<img src='/i/{i}.png' alt='{i}'>" for i in range(3000)))


_REFRESH = page("Refresh", "<meta http-equiv=refresh content='0;url=/case/meta-refresh-loop'>")
_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'.encode()
        for i in range(1, 10)
    )
    + b"]><lolz>&lol9;</lolz>"
)


# -- robots.txt ----------------------------------------------------------------------------


def _robots_huge() -> bytes:
    rules = b"".join(b"Disallow: /private/%d/\n" % i for i in range(1_200_000))
    return b"User-agent: *\n" + rules


def _robots_cut_mid_rule() -> bytes:
    """A robots.txt whose 500 KiB mark (what citewatch reads) falls in a rule, right after
    ``Disallow: /``: read as far as the mark, that would forbid the whole site."""
    head = b"User-agent: *\n"
    rule = b"Disallow: /private/\n"
    mark = 500 * 1024
    filler = b"".join(b"# %07d padding the file to its cut\n" % i for i in range(mark // 30))
    filler = filler[: mark - len(head) - len(b"Disallow: /") - 1] + b"\n"
    return head + filler + rule * 50_000


def _robots(body: bytes | Callable[[], bytes]) -> Serve:
    cache: list[bytes] = []

    def serve(p: Peer) -> None:
        if not cache:
            cache.append(body() if callable(body) else body)
        p.answer(cache[0], "text/plain")

    return serve


def _robots_redirect_loop(p: Peer) -> None:
    p.send(_head("302 Found", f"Location: {p.url('/robots.txt')}", "Content-Length: 0"))


OK = frozenset({"ok"})
CONNECTION = frozenset({"connection"})
TIMEOUT = frozenset({"timeout"})
TOO_LARGE = frozenset({"too-large"})
LOOP = frozenset({"redirect-loop"})
BAD_ENCODING = frozenset({"bad-encoding"})
TRUNCATED = frozenset({"truncated"})
BAD_REDIRECT = frozenset({"bad-redirect"})


_b = Behaviour  # (short: the tables below are long enough)

# Answers written out byte for byte.
_STATUS_ABC = b"HTTP/1.1 abc Whatever\r\nContent-Length: 2\r\n\r\nhi"
_NO_REASON = b"HTTP/1.1 200\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi"
_ICY = b"ICY 200 OK\r\nicy-name: radio\r\n\r\n" + PLAIN
_LF_ONLY = b"HTTP/1.1 200 OK\nContent-Type: text/html\nContent-Length: %d\nConnection: close\n\n%s" % (
    len(PLAIN),
    PLAIN,
)
_HEAD_NO_END = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
_CONTINUE_THEN_OK = (
    b"HTTP/1.1 100 Continue\r\n\r\n" + _head("200 OK", f"Content-Length: {len(PLAIN)}") + PLAIN
)
_PDF_NOT = b"%PDF-1.7\n" + _seeded(5000)
_ROBOTS_JUNK = b"\xff\xfeUser-agent \x00*\nDisallow /\n\x80\x81garbage: \xc3\x28\nAllow: :::\n" + _seeded(
    2000
)


BEHAVIOURS: list[Behaviour] = [
    # -- redirects
    _b("redirect-loop", _redirect_to(lambda p: p.url(p.path)), LOOP, "302 to itself"),
    _b("redirect-ping-pong", _ping_pong, LOOP, "a -> b -> a"),
    _b("redirect-chain-50", _chain(50), LOOP, "50 hops, each to a new URL, then a page"),
    _b("redirect-no-location", lambda p: p.answer(b"", status="302 Found"), OK, "302 with no Location"),
    _b(
        "redirect-long-location",
        _redirect_to(lambda p: p.url("/case/redirect-long-location?" + "a" * (1 << 20))),
        CONNECTION,
        "a 1 MB Location",
    ),
    _b(
        "redirect-to-file",
        _redirect_to(lambda p: "file:///etc/passwd"),
        BAD_REDIRECT,
        "Location: file:///etc/passwd",
    ),
    _b("redirect-to-data", _redirect_to(lambda p: "data:text/html,<p>hi"), BAD_REDIRECT, "Location: data:"),
    # -- lengths
    _b("endless-body", _endless, TRUNCATED, "no length, streams for ever"),
    _b("endless-chunked", _endless_chunked, TRUNCATED, "chunk after chunk for ever"),
    _b("length-huge", _huge_length, TRUNCATED, "Content-Length 10^15, streams for ever"),
    _b(
        "length-longer-close",
        _length("100000", PLAIN),
        TRUNCATED,
        "Content-Length above the body, then close",
    ),
    _b(
        "length-longer-hang",
        _length("100000", PLAIN, "hold"),
        TIMEOUT,
        "Content-Length above the body, then silence",
    ),
    _b("length-longer-reset", _length("100000", PLAIN, "reset"), TRUNCATED, "part of the body, then a RST"),
    _b("length-shorter", _length("10", PLAIN), OK, "Content-Length 10 for a longer body"),
    _b("length-negative", _length("-1", PLAIN), CONNECTION, "Content-Length: -1"),
    _b("length-garbage", _length("lots", PLAIN), CONNECTION, "Content-Length: lots"),
    _b("length-conflict", _conflicting_lengths, CONNECTION, "two Content-Length headers that disagree"),
    # -- slow
    _b("slowloris-headers", _slow_headers, TIMEOUT, "the head one byte a second"),
    _b("slowloris-body", _slow_body, TIMEOUT, "the body one byte a second"),
    _b("silent", _silent, TIMEOUT, "reads the request, says nothing"),
    _b("status-then-stall", _status_then_stall, TIMEOUT, "a status line, then nothing"),
    # -- compression
    _b("gzip-bomb", _bomb("gzip", "gzip"), TOO_LARGE, "256 MiB of zeros in 256 KB of gzip"),
    _b("deflate-bomb", _bomb("zlib", "deflate"), TOO_LARGE, "the same as zlib deflate"),
    _b("raw-deflate-bomb", _bomb("raw", "deflate"), TOO_LARGE, "the same as raw deflate"),
    _b(
        "brotli-bomb",
        _bomb("brotli", "br"),
        TOO_LARGE,
        "256 MiB in brotli, not asked for",
    ),
    _b("zstd-bomb", _bomb("zstd", "zstd"), TOO_LARGE, "256 MiB in zstd, not asked for"),
    _b("gzip-bomb-twice", _bomb("gzip_twice", "gzip, gzip"), TOO_LARGE, "a gzip bomb gzipped again"),
    _b("bomb-at-redirect-path", _bomb("gzip", "gzip"), TOO_LARGE, "a gzip bomb at a URL saying redirect"),
    _b("bomb-at-robots.txt-path", _bomb("gzip", "gzip"), TOO_LARGE, "a gzip bomb at a URL saying robots.txt"),
    _b(
        "encoding-1000-layers",
        _encoded(gzip.compress(PLAIN), ", ".join(["gzip"] * 1000)),
        BAD_ENCODING,
        "Content-Encoding: gzip, gzip, ... (1,000 times) over one gzip layer",
    ),
    _b("gzip-cut", _encoded(gzip.compress(PLAIN * 50)[:300], "gzip"), OK, "a gzip stream cut short"),
    _b("gzip-trailing", _encoded(gzip.compress(PLAIN) + b"trailing junk", "gzip"), OK, "gzip, then junk"),
    _b("deflate-plain", _encoded(PLAIN, "deflate"), BAD_ENCODING, "deflate claimed, plain sent"),
    _b("brotli-plain", _encoded(PLAIN, "br"), BAD_ENCODING, "br claimed, plain sent"),
    _b("zstd-plain", _encoded(PLAIN, "zstd"), BAD_ENCODING, "zstd claimed, plain sent"),
    _b(
        "brotli-unasked",
        _encoded(brotli.compress(PLAIN), "br"),
        OK,
        "a brotli page, for a client that asked for gzip",
    ),
    _b(
        "zstd-unasked",
        _encoded(zstd.compress(PLAIN), "zstd"),
        OK,
        "a zstd page, for a client that asked for gzip",
    ),
    _b("encoding-unknown", _encoded(PLAIN, "x-martian"), OK, "an encoding nobody knows"),
    # -- chunked
    _b("chunked-bad-size", _chunks(b"zz\r\nhello\r\n0\r\n\r\n"), TRUNCATED, "a chunk size that is no hex"),
    _b("chunked-no-terminator", _chunks(b"%x\r\n%s\r\n" % (len(PLAIN), PLAIN)), TRUNCATED, "no last chunk"),
    _b(
        "chunked-short-chunk",
        _chunks(b"3e8\r\n" + PLAIN[:50]),
        TRUNCATED,
        "a chunk of 1000 announced, 50 sent, close",
    ),
    _b("chunked-huge-size", _chunks(b"ffffffffffffffffffff\r\nabc"), TRUNCATED, "a chunk size of 2^80"),
    _b(
        "chunked-hang",
        _chunks(b"%x\r\n%s\r\n" % (len(PLAIN), PLAIN), then="hold"),
        TIMEOUT,
        "no last chunk, connection held",
    ),
    _b("chunked-and-length", _chunked_and_length, OK, "Transfer-Encoding: chunked and Content-Length"),
    # -- what the body is
    _b("binary-as-html", lambda p: p.answer(_seeded(200_000)), OK, "random bytes labelled text/html"),
    _b("no-charset", lambda p: p.answer(_LATIN1, "text/html"), OK, "Latin-1, no charset anywhere"),
    _b("lying-charset-latin1", lambda p: p.answer(_LATIN1), OK, "utf-8 in the header, Latin-1 in the body"),
    _b("lying-charset-cp1251", lambda p: p.answer(_CP1251), OK, "utf-8 in the header, cp1251 in the body"),
    _b(
        "utf16-bom",
        lambda p: p.answer(b"\xff\xfe" + _UTF16_TEXT.encode("utf-16-le"), "text/html"),
        OK,
        "UTF-16 with a BOM, undeclared",
    ),
    _b(
        "utf16-no-bom",
        lambda p: p.answer(_UTF16_TEXT.encode("utf-16-le"), "text/html; charset=utf-16"),
        OK,
        "UTF-16 without a BOM, declared",
    ),
    _b(
        "utf16-no-bom-undeclared",
        lambda p: p.answer(_UTF16_TEXT.encode("utf-16-be"), "text/html"),
        OK,
        "UTF-16BE, no BOM, no charset",
    ),
    _b("utf7", lambda p: p.answer(_UTF7.encode("utf-7"), "text/html; charset=utf-7"), OK, "UTF-7"),
    _b("unknown-charset", lambda p: p.answer(PLAIN, "text/html; charset=x-klingon"), OK, "charset=x-klingon"),
    _b("nul-bytes", lambda p: p.answer(PLAIN.replace(b"<p>", b"<p>\0\0")), OK, "NUL bytes in the HTML"),
    _b("single-line-10mb", _big(_single_line), OK, "10 MB on one line"),
    _b("nested-100k", _big(_nested), OK, "100,000 nested <div>s"),
    _b("links-100k", _big(_links), OK, "100,000 links"),
    _b("images-3000", _big(_images), OK, "3,000 images"),
    _b("billion-laughs", lambda p: p.answer(_LAUGHS, "application/xml"), OK, "nested XML entities"),
    _b("broken-pdf", lambda p: p.answer(_PDF_NOT, "application/pdf"), OK, "a PDF that is not"),
    _b(
        "content-type-junk",
        lambda p: p.answer(PLAIN, '\x01;;; charset="; text/html=='),
        OK,
        "Content-Type junk",
    ),
    _b("no-content-type", lambda p: p.answer(PLAIN, None), OK, "no Content-Type"),
    _b("meta-refresh-loop", lambda p: p.answer(_REFRESH), OK, "<meta http-equiv=refresh> to itself"),
    # -- status lines
    _b("status-malformed", _raw(_STATUS_ABC), CONNECTION, "status abc"),
    _b("http09", _raw(PLAIN), CONNECTION, "HTTP/0.9: a body, no status line"),
    _b("status-999", _body_status("999 Beyond"), frozenset({"http-5xx"}), "status 999"),
    _b("status-100-only", _raw(b"HTTP/1.1 100 Continue\r\n\r\n"), CONNECTION, "100 Continue, then close"),
    _b("continue-then-ok", _raw(_CONTINUE_THEN_OK), OK, "100 Continue, then a page"),
    _b("status-no-reason", _raw(_NO_REASON), OK, "no reason phrase"),
    _b("icy", _raw(_ICY), CONNECTION, "a SHOUTcast status line"),
    _b("no-content-with-body", _body_status("204 No Content"), OK, "204 with a body"),
    _b("not-modified-with-body", _body_status("304 Not Modified"), OK, "304 with a body"),
    _b(
        "retry-after-huge",
        lambda p: p.answer(b"later", status="503 Service Unavailable", headers=[("Retry-After", "99999999")]),
        frozenset({"http-5xx"}),
        "503, Retry-After: 3 years",
    ),
    _b(
        "retry-after-garbage",
        lambda p: p.answer(b"slow down", status="429 Too Many Requests", headers=[("Retry-After", "-1e309")]),
        frozenset({"http-4xx"}),
        "429, Retry-After: -1e309",
    ),
    # -- headers
    _b("reason-100k", _body_status("200 " + "O" * 100_000), CONNECTION, "a 100 KB reason phrase"),
    _b("header-1mb", _headers("X-Big: " + "b" * (1 << 20)), CONNECTION, "one 1 MB header"),
    _b("headers-10k", _many_headers("X-Many", 10_000), OK, "10,000 headers"),
    _b("set-cookie-5000", _COOKIES, OK, "5,000 Set-Cookie headers", own_host=True),
    _b(
        "cookie-bomb-redirect",
        _cookie_bomb,
        OK,
        # (before the jar was bounded the next hop's request head was 500 KB, answered 431)
        "5,000 cookies and a redirect: the next hop carries a browser's 180, not all",
        own_host=True,
    ),
    _b("header-no-colon", _headers("This is not a header"), OK, "a header line with no colon"),
    _b(
        "header-control-bytes",
        _headers(b"X-Odd: a\x00b\x01c\x7f\xff"),
        OK,
        "NUL and control bytes in a value",
    ),
    _b("lf-only", _raw(_LF_ONLY), OK, "bare LF line ends"),
    _b("head-no-end", _raw(_HEAD_NO_END), CONNECTION, "headers, then close, no blank line"),
    _b("obs-fold", _headers("X-Folded: one", " two", "\tthree"), OK, "obsolete folded header lines"),
    # -- the connection
    _b("reset-before-answer", _reset_now, CONNECTION, "a RST instead of an answer"),
    _b("empty-answer", _close_now, CONNECTION, "closes at once"),
    _b("tls-on-http", _raw(_SERVER_HELLO), CONNECTION, "a TLS ServerHello and alert to plain HTTP"),
    _b("garbage-answer", _raw(_seeded(4096, 3)), CONNECTION, "4 KB of random bytes"),
]

ROBOTS: list[Behaviour] = [
    _b("robots-huge", _robots(_robots_huge), OK, "a 30 MB robots.txt (1.2 million rules)", robots=True),
    _b(
        "robots-cut-by-close",
        _raw(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 400\r\n\r\n"
            b"User-agent: *\nDisallow: /"
        ),
        OK,
        "a robots.txt whose connection closes right after 'Disallow: /' (of 'Disallow: /private/')",
        robots=True,
    ),
    _b(
        "robots-cut-mid-rule",
        _robots(_robots_cut_mid_rule),
        OK,
        "a robots.txt whose 500 KiB mark falls right after 'Disallow: /' (a partial rule)",
        robots=True,
    ),
    _b(
        "robots-malformed",
        _robots(_ROBOTS_JUNK),
        OK,
        "binary, NULs, invalid UTF-8, rules with no colon",
        robots=True,
    ),
    _b(
        "robots-odd-disallow",
        _robots("\ufeffUSER-AGENT : *\r\nDISALLOW:/\r\n".encode()),
        frozenset({"robots"}),
        "a BOM, upper case, CRLF: disallows everything",
        robots=True,
    ),
    _b("robots-gzip-bomb", _bomb("gzip", "gzip", "text/plain"), OK, "robots.txt as a gzip bomb", robots=True),
    _b("robots-endless", _endless, OK, "a robots.txt that never ends", robots=True),
    _b("robots-redirect-loop", _robots_redirect_loop, OK, "robots.txt redirects to itself", robots=True),
    _b("robots-slowloris", _slow_headers, OK, "robots.txt one byte a second", robots=True),
    _b("robots-reset", _reset_now, OK, "a RST for robots.txt", robots=True),
    _b("robots-http09", _raw(b"User-agent: *\nDisallow: /\n"), OK, "robots.txt in HTTP/0.9", robots=True),
]


class HostileServer:
    """A threaded raw-socket server: ``/case/<id>`` is the behaviour of that id; with
    ``robots``, ``/robots.txt`` is that behaviour and ``/page`` a plain page."""

    def __init__(self, behaviours: list[Behaviour], robots: Behaviour | None = None, host: str = "127.0.0.1"):
        self.behaviours = {b.id: b for b in behaviours}
        self.robots = robots
        self.host = host
        self.stopping = threading.Event()
        self.listener = socket.create_server((host, 0), backlog=256)
        self.port = self.listener.getsockname()[1]
        self.seen: list[str] = []
        self.errors: list[str] = []
        self.hangups: list[str] = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._accept, daemon=True)

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def case_url(self, behaviour: Behaviour) -> str:
        return self.url("/page" if behaviour.robots else f"/case/{behaviour.id}")

    def __enter__(self) -> HostileServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.listener.close()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._talk, args=(sock,), daemon=True).start()

    def _talk(self, sock: socket.socket) -> None:
        with contextlib.suppress(OSError), sock:
            head = _read_head(sock)
            if head is None:
                return
            peer = Peer(sock, self, head)
            with self.lock:
                self.seen.append(peer.path)
            try:
                self._serve(peer)
            except OSError as exc:
                with self.lock:
                    self.hangups.append(f"{peer.path[:200]}: {exc!r}")
                raise
            except Exception as exc:  # a bug of this server's: the case would prove nothing
                with self.lock:
                    self.errors.append(f"{peer.path[:200]}: {exc!r}")

    def _serve(self, peer: Peer) -> None:
        path = peer.path.split("?", 1)[0]
        if len(peer.head) > _HEAD_LIMIT:  # as web servers do (nginx, Apache: 8 KB a line)
            peer.answer(b"request head too large", "text/plain", "431 Request Header Fields Too Large")
            return
        if path == "/robots.txt":
            if self.robots is not None:
                self.robots.serve(peer)
            else:
                peer.answer(b"not here", "text/plain", "404 Not Found")
            return
        if path == "/page":
            peer.answer(PLAIN)
            return
        parts = path.split("/")
        behaviour = self.behaviours.get(parts[2]) if len(parts) > 2 and parts[1] == "case" else None
        if behaviour is None:
            peer.answer(b"not here", "text/plain", "404 Not Found")
        else:
            behaviour.serve(peer)

    def requests_for(self, path: str) -> list[str]:
        with self.lock:
            return [s for s in self.seen if s.split("?", 1)[0].startswith(path)]


# A request head longer than this is answered 431 (when it ends at all within _HEAD_MAX: read
# whole either way, since closing a socket with unread data sends a RST instead of the answer).
_HEAD_LIMIT = 64 << 10
_HEAD_MAX = 16 << 20


def _read_head(sock: socket.socket) -> bytes | None:
    """The request up to its blank line (requests here have no body)."""
    sock.settimeout(5)
    data = bytearray()
    while b"\r\n\r\n" not in data[-(1 << 16) - 4 :] and len(data) < _HEAD_MAX:
        chunk = sock.recv(1 << 16)
        if not chunk:
            return None
        data += chunk
    sock.settimeout(None)
    return bytes(data)


@contextlib.contextmanager
def serving(behaviours: list[Behaviour]) -> Iterator[dict[str, tuple[HostileServer, str]]]:
    """Servers for ``behaviours`` (one for all plain cases, one per robots case): id -> (server, URL)."""
    plain = [b for b in behaviours if not b.robots and not b.own_host]
    with contextlib.ExitStack() as stack:
        found: dict[str, tuple[HostileServer, str]] = {}
        if plain:
            main = stack.enter_context(HostileServer(plain))
            found.update({b.id: (main, main.case_url(b)) for b in plain})
        hosts = (f"127.0.0.{n}" for n in range(2, 255))
        for b in behaviours:
            if b.robots:
                own = stack.enter_context(HostileServer([], robots=b))
            elif b.own_host:
                own = stack.enter_context(HostileServer([b], host=next(hosts)))
            else:
                continue
            found[b.id] = (own, own.case_url(b))
        yield found
