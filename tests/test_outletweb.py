"""The local outlet web, driven with the standard library's HTTP clients through its proxy.

Bodies carry random tokens, so a server that answered anything but what was
added would fail.
"""

from __future__ import annotations

import contextlib
import gzip
import http.client
import secrets
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.request import HTTPSHandler, OpenerDirector, ProxyHandler, build_opener

import pytest

from tests.outletweb import OutletWeb


@pytest.fixture
def web() -> Iterator[OutletWeb]:
    with OutletWeb() as running:
        yield running


def _page(title: str) -> str:
    return f"<!doctype html><title>{title}</title><p>{secrets.token_hex(8)}</p>"


def _opener(web: OutletWeb) -> OpenerDirector:
    proxies = {"http": web.proxy_url, "https": web.proxy_url}
    verifying = ssl.create_default_context(cafile=web.ca_file)
    return build_opener(ProxyHandler(proxies), HTTPSHandler(context=verifying))


def _proxy_address(web: OutletWeb) -> tuple[str, int]:
    host, port = web.proxy_url.removeprefix("http://").split(":")
    return host, int(port)


def _tunnel(web: OutletWeb, host: str) -> http.client.HTTPSConnection:
    verifying = ssl.create_default_context(cafile=web.ca_file)
    conn = http.client.HTTPSConnection(*_proxy_address(web), context=verifying, timeout=10)
    conn.set_tunnel(host, 443)
    return conn


def test_http_page_is_served_through_the_proxy(web):
    body = _page("Front page")
    web.add("kyivindependent.com", "/", body)
    with _opener(web).open("http://kyivindependent.com/", timeout=10) as response:
        assert response.read() == body.encode()
        assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert web.requests == [("http", "kyivindependent.com", "/")]


def test_https_page_is_served_through_a_verified_tunnel(web):
    body = _page("World news")
    web.add("theguardian.com", "/world/2025/jan/01/story", body)
    with _opener(web).open("https://theguardian.com/world/2025/jan/01/story", timeout=10) as response:
        assert response.read() == body.encode()
    assert web.requests == [("https", "theguardian.com", "/world/2025/jan/01/story")]


def test_tls_certificate_names_the_outlet(web):
    web.add("rmx.news", "/", _page("Home"))
    web.add("outlet17.example", "/", _page("Home"))
    conn = _tunnel(web, "rmx.news")
    conn.request("GET", "/")
    conn.getresponse().read()
    names = [value for kind, value in conn.sock.getpeercert()["subjectAltName"] if kind == "DNS"]
    conn.close()
    assert names == ["rmx.news"]


def test_unknown_path_is_an_html_404(web):
    web.add("rmx.news", "/", _page("Home"))
    with pytest.raises(HTTPError) as caught:
        _opener(web).open("https://rmx.news/no-such-story", timeout=10)
    with caught.value as error:
        assert error.code == 404
        assert error.headers["Content-Type"].startswith("text/html")
        assert b"404" in error.read()
    assert web.requests == [("https", "rmx.news", "/no-such-story")]


def test_unknown_host_is_a_502(web):
    web.add("rmx.news", "/", _page("Home"))
    with pytest.raises(HTTPError) as caught:
        _opener(web).open("http://nowhere.example/", timeout=10)
    with caught.value as error:
        assert error.code == 502
        assert b"nowhere.example" in error.read()
    assert web.requests == [("http", "nowhere.example", "/")]


def test_tunnel_to_unknown_host_is_refused_with_502(web):
    with pytest.raises(URLError, match="502"):
        _opener(web).open("https://nowhere.example/", timeout=10)
    assert web.requests == []


def test_plain_proxy_connection_is_kept_alive(web):
    first, second = _page("One"), _page("Two")
    web.add("kyivindependent.com", "/one", first)
    web.add("kyivindependent.com", "/two", second)
    conn = http.client.HTTPConnection(*_proxy_address(web), timeout=10)
    conn.request("GET", "http://kyivindependent.com/one")
    assert conn.getresponse().read() == first.encode()
    sock = conn.sock
    conn.request("GET", "http://kyivindependent.com/two")
    assert conn.getresponse().read() == second.encode()
    assert conn.sock is sock and sock is not None  # http.client reconnects if the server hung up
    conn.close()
    assert web.requests == [("http", "kyivindependent.com", "/one"), ("http", "kyivindependent.com", "/two")]


def test_tunnel_is_kept_alive(web):
    first, second = _page("One"), _page("Two")
    web.add("theguardian.com", "/one", first)
    web.add("theguardian.com", "/two", second)
    conn = _tunnel(web, "theguardian.com")
    conn.request("GET", "/one")
    assert conn.getresponse().read() == first.encode()
    sock = conn.sock
    conn.request("GET", "/two")
    assert conn.getresponse().read() == second.encode()
    assert conn.sock is sock and sock is not None
    conn.close()
    assert web.requests == [("https", "theguardian.com", "/one"), ("https", "theguardian.com", "/two")]


def test_head_sends_the_length_without_the_body(web):
    body = _page("Story").encode()
    web.add("rmx.news", "/story", body)
    # A raw socket: http.client drops whatever follows a HEAD response, so it cannot see a stray body.
    head = b"HEAD http://rmx.news/story HTTP/1.1\r\nHost: rmx.news\r\n\r\n"
    get = b"GET http://rmx.news/story HTTP/1.1\r\nHost: rmx.news\r\nConnection: close\r\n\r\n"
    with socket.create_connection(_proxy_address(web), timeout=10) as sock:
        sock.sendall(head + get)
        answer = b"".join(iter(lambda: sock.recv(65536), b""))
    head_answer, after_head = answer.split(b"\r\n\r\n", 1)
    assert head_answer.startswith(b"HTTP/1.1 200")
    assert f"Content-Length: {len(body)}".encode() in head_answer.split(b"\r\n")
    assert after_head.startswith(b"HTTP/1.1 200") and after_head.endswith(b"\r\n\r\n" + body)


def test_query_is_part_of_the_key_with_fallback_to_the_bare_path(web):
    exact, bare = _page("Page 2"), _page("Archive")
    web.add("outlet17.example", "/archive?page=2", exact)
    web.add("outlet17.example", "/archive", bare)
    opener = _opener(web)
    with opener.open("http://outlet17.example/archive?page=2", timeout=10) as response:
        assert response.read() == exact.encode()
    with opener.open("http://outlet17.example/archive?page=3", timeout=10) as response:
        assert response.read() == bare.encode()
    assert [path for _, _, path in web.requests] == ["/archive?page=2", "/archive?page=3"]


def test_status_and_extra_headers_are_sent(web):
    web.add("rmx.news", "/old", "", status=301, headers={"Location": "https://rmx.news/new"})
    conn = _tunnel(web, "rmx.news")
    conn.request("GET", "/old")
    response = conn.getresponse()
    assert response.status == 301 and response.read() == b""
    assert response.headers["Location"] == "https://rmx.news/new"
    conn.close()


def test_gzipped_sitemap_is_served_as_given(web):
    sitemap = f"<urlset><url><loc>https://rmx.news/{secrets.token_hex(4)}</loc></url></urlset>"
    data = gzip.compress(sitemap.encode())
    web.add("rmx.news", "/sitemap.xml.gz", data, "application/gzip")
    with _opener(web).open("https://rmx.news/sitemap.xml.gz", timeout=10) as response:
        assert response.headers["Content-Type"] == "application/gzip"
        assert response.read() == data


def test_host_added_after_start_gets_a_certificate(web):
    body = _page("Late")
    web.add("late.example", "/", body)
    with _opener(web).open("https://late.example/", timeout=10) as response:
        assert response.read() == body.encode()


def test_origin_form_request_is_answered_by_host_header(web):
    body = _page("Direct")
    web.add("outlet17.example", "/direct", body)
    conn = http.client.HTTPConnection(*_proxy_address(web), timeout=10)
    conn.request("GET", "/direct", headers={"Host": "outlet17.example"})
    assert conn.getresponse().read() == body.encode()
    conn.close()
    assert web.requests == [("http", "outlet17.example", "/direct")]


def test_concurrent_requests_are_all_served_and_logged(web):
    bodies = {f"/story/{n}": _page(f"Story {n}") for n in range(16)}
    for path, body in bodies.items():
        web.add("theguardian.com", path, body)
    got: dict[str, bytes] = {}

    def fetch(path: str) -> None:
        with _opener(web).open(f"https://theguardian.com{path}", timeout=10) as response:
            got[path] = response.read()

    threads = [threading.Thread(target=fetch, args=(path,)) for path in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert got == {path: body.encode() for path, body in bodies.items()}
    assert sorted(web.requests) == sorted(("https", "theguardian.com", path) for path in bodies)


def test_delay_is_waited_before_each_answer():
    with OutletWeb(delay=0.3) as web:
        web.add("rmx.news", "/", _page("Slow"))
        started = time.monotonic()
        with _opener(web).open("http://rmx.news/", timeout=10) as response:
            response.read()
        assert time.monotonic() - started >= 0.3


def test_env_points_every_scheme_at_the_proxy(web):
    env = web.env()
    assert env["HTTP_PROXY"] == env["https_proxy"] == web.proxy_url
    assert env["NO_PROXY"] == env["no_proxy"] == ""
    handler = ProxyHandler({k.lower().removesuffix("_proxy"): v for k, v in env.items() if v})
    web.add("rmx.news", "/", "via env")
    with build_opener(handler).open("http://rmx.news/", timeout=10) as response:
        assert response.read() == b"via env"


def test_stop_hangs_up_kept_alive_connections_and_removes_the_ca(web):
    web.add("rmx.news", "/", _page("Home"))
    ca_file = Path(web.ca_file)
    assert ca_file.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    with contextlib.closing(_tunnel(web, "rmx.news")) as conn:
        conn.request("GET", "/")
        conn.getresponse().read()
        started = time.monotonic()
        web.stop()  # the fixture stops it again: stop() is idempotent
        assert time.monotonic() - started < 2
        conn.sock.settimeout(5)  # a server that kept the connection open would time out here
        try:
            data = conn.sock.recv(1)
        except (ssl.SSLError, ConnectionError):
            data = b""
    assert data == b""
    assert not ca_file.parent.exists()
