"""citewatch makes no network call of its own: every request a capture makes is one it was asked
for. Libraries that would phone out (tldextract downloading the public suffix list, on the
cookie path) are kept to their bundled data."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from tests import webserver as ws


class _RecordingProxy:
    """A proxy on 127.0.0.1 that answers nothing and remembers each request line it was sent."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    self.seen.append(conn.recv(4096).split(b"\r\n", 1)[0].decode("latin-1"))
                    conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                except OSError:
                    pass

    def __enter__(self) -> _RecordingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()


@pytest.fixture
def outside() -> Iterator[_RecordingProxy]:
    """Everything that is not the test server goes here: it must receive nothing."""
    with _RecordingProxy() as proxy:
        yield proxy


def test_a_capture_that_sets_cookies_makes_no_call_of_its_own(home, server, outside, tmp_path) -> None:  # type: ignore[no-untyped-def]
    cookies = {"Set-Cookie": "session=abc123; Domain=127.0.0.1; Path=/"}
    page = server.route(
        "/cookies", ws.static(b"<html><title>c</title><p>Cookies.</p></html>", headers=cookies)
    )
    env = {
        "HTTP_PROXY": outside.url,
        "HTTPS_PROXY": outside.url,
        "http_proxy": outside.url,
        "https_proxy": outside.url,
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
        "TLDEXTRACT_CACHE": str(tmp_path / "tldextract"),  # no suffix list cached from elsewhere
    }
    first = home.run("capture", page, "--no-requisites", env=env, check=True)
    second = home.run("capture", page, "--no-requisites", env=env, check=True)  # sends the cookie back
    assert outside.seen == [], outside.seen
    for proc in (first, second):
        assert "Traceback" not in proc.stderr and "publicsuffix" not in proc.stderr, proc.stderr
