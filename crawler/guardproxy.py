"""The browser's way out: a local forward proxy that applies the address guard to every request.

Chromium is launched with this proxy when private addresses are not allowed
and the user configured no proxy of their own. Playwright's request
interception sees only the first request of a redirect chain, and Chromium
resolves host names itself; this proxy sees every request, redirect hops and
subresources alike, resolves each host name once, refuses forbidden addresses
and connects to exactly the address it checked (so a DNS answer cannot change
between the check and the connection).

- ``CONNECT host:port`` (HTTPS): checked, then a byte pipe to the address.
- ``GET http://host/... HTTP/1.1`` (plain HTTP): checked, rewritten to origin
  form with ``Connection: close``, then a byte pipe. Refused requests get a 403
  marked ``X-Citewatch-Blocked: blocked`` so the capture can tell it from the
  site's own; a host the proxy cannot reach (no address, refused, timed out)
  gets a 502 marked with the outcome (``X-Citewatch-Blocked: dns``), so that
  the proxy's own answer is not archived as the site's either.

With the user's own proxy (``HTTP(S)_PROXY``) this proxy sits in front of it:
what ``NO_PROXY`` exempts is checked and connected to as above; the rest goes
to the user's proxy, which resolves the names, so only literal addresses and
local names can be checked (as for HTTP captures through a proxy). Chromium
left to the user's proxy itself would connect directly to ``NO_PROXY`` hosts
(loopback among them) unchecked, and send redirect hops to literal addresses on.

It runs on the crawl's asyncio loop, on 127.0.0.1 and a free port.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import SplitResult, unquote, urlsplit
from urllib.request import proxy_bypass_environment  # type: ignore[attr-defined]  # undocumented: not in typeshed

from crawler.netguard import blocked_message, forbidden_reason, host_forbidden_reason

logger = logging.getLogger(__name__)

BLOCKED_HEADER = "X-Citewatch-Blocked"

# The proxy of this process's crawl, for failures to explain themselves.
CURRENT: GuardProxy | None = None
_MAX_HEAD = 64 * 1024
_HOP_BY_HOP = {b"connection", b"proxy-connection", b"keep-alive", b"proxy-authorization"}


class Refused(Exception):
    """The target may not be reached; the message says why."""

    outcome = "blocked"
    status = b"403 Forbidden"


class Unreachable(Refused):
    """The target could not be reached: ``outcome`` names how (dns, refused, timeout, connection)."""

    status = b"502 Bad Gateway"

    def __init__(self, outcome: str, message: str) -> None:
        super().__init__(message)
        self.outcome = outcome


@dataclass
class GuardProxy:
    connect_timeout: float = 30.0
    # Why an address may not be reached (None: it may); injectable for tests.
    check: Callable[[str], str | None] = forbidden_reason
    # (when, outcome, message, host:port) of each refusal and unreachable target
    blocked: list[tuple[float, str, str, str]] = field(default_factory=list)
    server: asyncio.base_events.Server | None = None
    # The connections being served, closed with the proxy (a page left loading holds some open).
    serving: set[asyncio.Task[None]] = field(default_factory=set)
    # The user's HTTP proxy (its URL) and the NO_PROXY list of hosts that do not go through it.
    upstream: str | None = None
    no_proxy: str = ""

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    async def start(self) -> GuardProxy:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            for task in list(self.serving):
                task.cancel()
            await asyncio.gather(*self.serving, return_exceptions=True)
            with contextlib.suppress(Exception):
                await self.server.wait_closed()

    def last_block_since(self, since: float, targets: set[str]) -> tuple[str, str] | None:
        """(outcome, message) of the latest refusal or unreachable target since ``since``, among
        ``targets`` (``host:port``, as :func:`target_of` gives them): the browser's pages load side
        by side, and another page's refusal in the meantime is not this one's."""
        return next(
            (
                (outcome, msg)
                for at, outcome, msg, where in reversed(self.blocked)
                if at >= since and where in targets
            ),
            None,
        )

    async def _resolve(self, host: str, port: int) -> str:
        """An address of ``host`` that may be reached, or Refused."""
        reason = host_forbidden_reason(host) if self.check is forbidden_reason else None
        if reason:
            raise Refused(blocked_message(host, host, reason))
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=1)  # SOCK_STREAM
        except OSError as exc:
            raise Unreachable("dns", f"DNS lookup failed: no address for {host}") from exc
        for info in infos:
            address = str(info[4][0])
            reason = self.check(address)
            if reason:  # any forbidden answer refuses the name: no picking around it
                raise Refused(blocked_message(host, address, reason))
        return str(infos[0][4][0])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self.serving.add(task)
            task.add_done_callback(self.serving.discard)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            if len(head) > _MAX_HEAD:
                raise ValueError("request head too large")
            method, target, _ = head.split(b"\r\n", 1)[0].split(b" ", 2)
            if method == b"CONNECT":
                await self._tunnel(target.decode("latin-1"), reader, writer)
            else:
                await self._forward(method, target.decode("latin-1"), head, reader, writer)
        except Refused as exc:
            where = target_of(target.decode("latin-1"))
            self.blocked.append((time.monotonic(), exc.outcome, str(exc), where))
            body = str(exc).encode()
            writer.write(
                b"HTTP/1.1 "
                + exc.status
                + b"\r\n"
                + f"{BLOCKED_HEADER}: {exc.outcome}\r\n".encode()
                + b"Content-Type: text/plain\r\nContent-Length: "
                + str(len(body)).encode()
                + b"\r\nConnection: close\r\n\r\n"
                + body
            )
        except (
            TimeoutError,
            OSError,
            ValueError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
        ) as exc:
            logger.debug("guard proxy: %s", exc)
            with contextlib.suppress(Exception):
                writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        finally:
            with contextlib.suppress(Exception):
                await writer.drain()
                writer.close()

    async def _open(self, host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        address = await self._resolve(host, port)
        try:
            return await asyncio.wait_for(asyncio.open_connection(address, port), self.connect_timeout)
        except TimeoutError as exc:
            raise Unreachable("timeout", f"timed out connecting to {host}") from exc
        except ConnectionRefusedError as exc:
            raise Unreachable("refused", f"connection refused by {host}") from exc
        except OSError as exc:
            raise Unreachable("connection", f"connection to {host} failed: {exc.strerror or exc}") from exc

    def _proxied(self, host: str) -> bool:
        """Whether requests for ``host`` go on to the user's proxy."""
        return bool(self.upstream) and not proxy_bypass_environment(host, {"no": self.no_proxy})

    async def _open_upstream(self, host: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A connection to the user's proxy for ``host``, which it will resolve: or Refused for a
        literal forbidden address or a local name."""
        reason = host_forbidden_reason(host) if self.check is forbidden_reason else self.check(host)
        if reason:
            raise Refused(blocked_message(host, host, reason))
        parts = self._upstream_parts()
        connecting = asyncio.open_connection(parts.hostname, parts.port or 80)
        try:
            return await asyncio.wait_for(connecting, self.connect_timeout)
        except OSError as exc:  # TimeoutError among them
            raise Unreachable("proxy", f"the proxy {parts.hostname} could not be reached: {exc}") from exc

    def _upstream_parts(self) -> SplitResult:
        """The user's proxy URL, split (``http://`` when it names no scheme)."""
        upstream = self.upstream
        return urlsplit(upstream if upstream is not None and "://" in upstream else f"http://{upstream}")

    def _upstream_auth(self) -> list[bytes]:
        """The Proxy-Authorization header line for credentials in the user's proxy URL."""
        parts = self._upstream_parts()
        if not parts.username:
            return []
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        return [b"Proxy-Authorization: Basic " + base64.b64encode(pair)]

    async def _tunnel(self, target: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host, _, port = target.rpartition(":")
        host = host.strip("[]")
        if self._proxied(host):
            up_reader, up_writer = await self._open_upstream(host)
            line = f"CONNECT {target} HTTP/1.1".encode("latin-1")
            host_line = f"Host: {target}".encode("latin-1")
            up_writer.write(b"\r\n".join([line, host_line, *self._upstream_auth(), b"", b""]))
            answer = await up_reader.readuntil(b"\r\n\r\n")
            if answer.split(b" ", 2)[1:2] != [b"200"]:
                up_writer.close()
                status = answer.split(b"\r\n", 1)[0].decode("latin-1")[:100]
                raise Unreachable("proxy", f"proxy refused the tunnel to {host}: {status}")
        else:
            up_reader, up_writer = await self._open(host, int(port))
        writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        await _pipe_both(reader, writer, up_reader, up_writer)

    async def _forward(
        self,
        method: bytes,
        target: str,
        head: bytes,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        parts = urlsplit(target)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"not a proxy request: {target[:100]}")
        extra: list[bytes] = []
        if self._proxied(parts.hostname):  # the user's proxy takes the request as it came
            up_reader, up_writer = await self._open_upstream(parts.hostname)
            path, extra = target, self._upstream_auth()
        else:
            up_reader, up_writer = await self._open(parts.hostname, parts.port or 80)
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        lines = head.split(b"\r\n")
        kept = [
            line for line in lines[1:] if line and line.split(b":", 1)[0].strip().lower() not in _HOP_BY_HOP
        ]
        version = lines[0].rsplit(b" ", 1)[-1]
        up_writer.write(
            b"\r\n".join(
                [
                    method + b" " + path.encode("latin-1") + b" " + version,
                    *kept,
                    *extra,
                    b"Connection: close",
                    b"",
                    b"",
                ]
            )
        )
        await _pipe_both(reader, writer, up_reader, up_writer)


def target_of(url: str) -> str:
    """``host:port`` of a URL or of a CONNECT target, lower case, the port filled in.

    >>> target_of("HTTPS://Example.ORG/x"), target_of("127.0.0.1:8443"), target_of("http://[::1]/")
    ('example.org:443', '127.0.0.1:8443', '::1:80')
    """
    parts = urlsplit(url if "://" in url else f"//{url}")
    try:
        port = parts.port
    except ValueError:  # not a port: the target stands as it came
        return url.lower()
    return f"{(parts.hostname or '').lower()}:{port or (443 if parts.scheme == 'https' else 80)}"


async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
    with contextlib.suppress(Exception):
        while data := await src.read(65536):
            dst.write(data)
            await dst.drain()
    with contextlib.suppress(Exception):
        dst.write_eof() if dst.can_write_eof() else dst.close()


async def _pipe_both(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    up_reader: asyncio.StreamReader,
    up_writer: asyncio.StreamWriter,
) -> None:
    try:
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
    finally:
        up_writer.close()
