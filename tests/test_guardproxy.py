"""The browser's guard proxy, driven with raw HTTP over real sockets."""

from __future__ import annotations

import asyncio
import socket

import pytest

from crawler.guardproxy import BLOCKED_HEADER, GuardProxy
from crawler.netguard import forbidden_reason
from tests import webserver as ws


async def _ask(proxy: GuardProxy, request: bytes) -> bytes:
    host, port = proxy.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(request)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return data


def _run(proxy: GuardProxy, request: bytes) -> bytes:
    async def go() -> bytes:
        await proxy.start()
        try:
            return await _ask(proxy, request)
        finally:
            await proxy.close()

    return asyncio.run(go())


def test_plain_http_to_loopback_is_refused(server):
    url = server.route("/secret", ws.static(b"internal"))
    proxy = GuardProxy()
    answer = _run(proxy, f"GET {url} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert answer.startswith(b"HTTP/1.1 403") and f"{BLOCKED_HEADER}: blocked".encode() in answer
    assert b"blocked: 127.0.0.1 is a loopback address" in answer
    assert server.requests_for("/secret") == [] and proxy.blocked


def test_https_tunnel_to_loopback_is_refused(server):
    answer = _run(GuardProxy(), f"CONNECT 127.0.0.1:{server.port} HTTP/1.1\r\n\r\n".encode())
    assert answer.startswith(b"HTTP/1.1 403")


def test_a_name_is_judged_by_the_address_it_resolves_to(server):
    name = socket.gethostname()
    try:
        local = socket.gethostbyname(name).startswith("127.")
    except OSError:
        local = False
    if not local:
        pytest.skip("this machine's host name does not resolve to a loopback address")
    server.route("/secret", ws.static(b"internal"))
    answer = _run(GuardProxy(), f"GET http://{name}:{server.port}/secret HTTP/1.1\r\n\r\n".encode())
    assert f"blocked: {name} (127.".encode() in answer and server.requests_for("/secret") == []


def test_allowed_requests_are_forwarded_in_origin_form(server):
    """With a check that lets 127.0.0.1 through, the proxy forwards to exactly that address."""
    server.route("/page", ws.static(b"hello through the guard", "text/plain"))
    proxy = GuardProxy(check=lambda address: None if address == "127.0.0.1" else forbidden_reason(address))
    target = f"http://127.0.0.1:{server.port}/page?q=1"
    request = f"GET {target} HTTP/1.1\r\nHost: x\r\nProxy-Connection: keep-alive\r\n\r\n"
    answer = _run(proxy, request.encode())
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"hello through the guard")
    (seen,) = server.requests_for("/page")
    assert seen.path == "/page?q=1" and seen.headers.get("Connection") == "close"
    assert "Proxy-Connection" not in seen.headers


def test_allowed_tunnels_carry_bytes_both_ways(server):
    server.route("/t", ws.static(b"through the tunnel", "text/plain"))
    proxy = GuardProxy(check=lambda address: None if address == "127.0.0.1" else forbidden_reason(address))
    connect = f"CONNECT 127.0.0.1:{server.port} HTTP/1.1\r\n\r\n"
    request = connect + "GET /t HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    answer = _run(proxy, request.encode())
    assert answer.startswith(b"HTTP/1.1 200 Connection Established\r\n\r\nHTTP/1.1 200")
    assert answer.endswith(b"through the tunnel")


def test_a_target_it_cannot_reach_is_marked_with_the_outcome_not_passed_off_as_the_site():
    """Its own 502 for a name with no address is marked (X-Citewatch-Blocked: dns), so the
    browser capture does not archive it as the site's answer and names the outcome."""
    proxy = GuardProxy(check=lambda address: None)
    answer = _run(proxy, b"GET http://no-such-host.invalid/page HTTP/1.1\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 502") and f"{BLOCKED_HEADER}: dns".encode() in answer
    assert answer.endswith(b"DNS lookup failed: no address for no-such-host.invalid")
    why = "DNS lookup failed: no address for no-such-host.invalid"
    assert [entry[1:] for entry in proxy.blocked] == [("dns", why, "no-such-host.invalid:80")]
    # Pages load side by side: a page is told only of refusals of where it (or a hop of it) went.
    assert proxy.last_block_since(0.0, {"no-such-host.invalid:80"}) == ("dns", why)
    assert proxy.last_block_since(0.0, {"other.example:80", "no-such-host.invalid:443"}) is None


def test_a_refused_port_is_marked_refused():
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    request = f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n".encode()
    answer = _run(GuardProxy(check=lambda address: None), request)
    assert answer.startswith(b"HTTP/1.1 502") and f"{BLOCKED_HEADER}: refused".encode() in answer


def test_closing_it_ends_the_connections_it_serves(server):
    """A page left loading holds a tunnel open; closing the proxy ends it (no task left pending)."""

    async def go() -> int:
        proxy = await GuardProxy(check=lambda address: None).start()
        host, port = proxy.url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(f"CONNECT 127.0.0.1:{server.port} HTTP/1.1\r\n\r\n".encode())
        await reader.readuntil(b"\r\n\r\n")
        held = len(proxy.serving)
        await proxy.close()
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
        return held - len(proxy.serving)

    assert asyncio.run(go()) == 1
