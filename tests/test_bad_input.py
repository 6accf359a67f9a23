"""Bad input and log noise (issue 13): every bad input is named in one line, every failure of
a source is a recorded outcome, and stderr stays quiet at the default verbosity."""

from __future__ import annotations

import json
import random
import socket
import socketserver
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from archive.errors import BadURLError
from archive.urls import check_url
from tests import webserver as ws
from tests.conftest import VENV_BIN, Home
from tests.outletweb import OutletWeb
from tests.warcs import snapshot_rows


def _one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def _noise(seed: int, size: int = 100, nul: bool = True) -> bytes:
    """``size`` random bytes (seeded: a failure can be replayed), with or without NULs."""
    data = random.Random(seed).randbytes(size)
    return data if nul else data.replace(b"\x00", b"\x01")


# -- 1. unsupported URL schemes ------------------------------------------------------------
@pytest.mark.parametrize("source", ["ftp://example.org/x", "FILE:///etc/hosts", "gopher://example.org/"])
def test_add_names_an_unsupported_url_scheme(home: Home, source: str) -> None:
    proc = home.run("add", source)
    line = _one_line_error(proc)
    assert proc.returncode == 2, proc.stderr
    scheme = source.split(":", 1)[0].lower()
    assert f"unsupported URL scheme '{scheme}'" in line and "No such file" not in line, line
    assert "http(s) URLs, .html/.md/.txt files or - for stdin" in line, line


def test_add_reads_a_file_whose_name_looks_like_a_url(home: Home, tmp_path: Path) -> None:
    folder = tmp_path / "ftp:" / "example.org"
    folder.mkdir(parents=True)
    (folder / "x.txt").write_text("Officials counted 1,234 flooded homes in Brell on Monday.\n")
    proc = subprocess.run(
        [str(VENV_BIN / "citewatch"), "add", "ftp://example.org/x.txt", "--no-resolve", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env=home.env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr
    assert "1,234" in json.loads(proc.stdout)["claims"][0]["text"]


# -- 2. binary input ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "seed", "nul"),
    [("noise.txt", 1, False), ("noise.md", 2, False), ("noise.html", 3, False), ("noise", 4, True)],
)
def test_add_refuses_binary_files(home: Home, tmp_path: Path, name: str, seed: int, nul: bool) -> None:
    path = tmp_path / name
    path.write_bytes(_noise(seed, nul=nul))
    proc = home.run("add", str(path), "--no-resolve")
    line = _one_line_error(proc)
    assert proc.returncode == 2 and "is not text" in line, proc.stderr
    assert json.loads(home.run("citations", "--json", check=True).stdout) == [], "nothing was stored"


def test_add_refuses_binary_on_stdin(home: Home) -> None:
    proc = subprocess.run(
        [str(VENV_BIN / "citewatch"), "add", "-", "--no-resolve"],
        input=_noise(5, nul=False),
        capture_output=True,
        timeout=120,
        env=home.env,
    )
    stderr = proc.stderr.decode()
    assert proc.returncode == 2 and "is not text" in stderr and stderr.count("\n") == 1, stderr


@pytest.mark.parametrize("content_type", ["text/plain; charset=utf-8", "text/html", "text/plain"])
def test_add_refuses_binary_served_as_text(home: Home, server: ws.TestServer, content_type: str) -> None:
    url = server.route("/noise", ws.static(_noise(6, 400, nul=False), content_type))
    proc = home.run("add", url, "--no-resolve", env={"CITEWATCH_AUTO_BROWSER": "0"})
    line = _one_line_error(proc)
    assert proc.returncode == 1 and "not an article" in line and "binary" in line, proc.stderr
    assert json.loads(home.run("citations", "--json", check=True).stdout) == []


def test_text_is_not_taken_for_binary() -> None:
    from archive.articles.ingest import is_binary

    texts = [
        b"Plain ASCII, with a tab\tand a form feed\f.\n",
        "Café owner José Martínez counted 3,100 visitors.\n".encode("cp1252"),
        "Привет мир, это текст статьи о погоде.\n".encode("cp1251"),  # noqa: RUF001
        "Überschwemmung in Köln: 48.213 Häuser\r\n".encode(),
        b"\x1b[1mbold\x1b[0m terminal output pasted in\n",
    ]
    assert [is_binary(t) for t in texts] == [False] * len(texts)
    assert all(is_binary(_noise(seed, nul=False)) for seed in range(50))
    assert is_binary(bytes(range(1, 128)) * 4), "ASCII control bytes are no text"


# -- 3. malformed URLs -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (
            "htp:/broken url",
            "unsupported scheme 'htp' in htp:/broken url: citewatch fetches http and https "
            "(did you mean http?)",
        ),
        ("http:/broken url", "//"),
        ("http://broken url", "space"),
        ("htp://example.org/x", "unsupported scheme 'htp'"),
        ("hptts://example.org/x", "unsupported scheme 'hptts'"),
        ("http:/example.org/x", "//"),
        ("https:example.org", "//"),
        ("https//example.org/x", "colon"),
        ("http:///x", "no host name"),
        ("http://", "no host name"),
        ("https://example.org/a b", "space"),
        ("http://exa mple.com/", "space"),
        ("http://example.org:99999/", "port"),
        ("http://-bad-.org/", "host name"),
    ],
)
def test_malformed_urls_are_named_not_guessed(raw: str, why: str) -> None:
    with pytest.raises(BadURLError) as caught:
        check_url(raw)
    message = str(caught.value)
    assert why in message and "\n" not in message, message


@pytest.mark.parametrize(
    ("raw", "fetched"),
    [
        ("example.org/x", "http://example.org/x"),
        ("localhost:8080/a", "http://localhost:8080/a"),
        ("  HTTPS://Example.org/a?q=1  ", "https://example.org/a?q=1"),
        ("https://bücher.de/ü", "https://xn--bcher-kva.de/%C3%BC"),
    ],
)
def test_what_users_type_is_still_accepted(raw: str, fetched: str) -> None:
    assert check_url(raw) == fetched


def test_capture_records_malformed_urls_as_bad_url(home: Home, server: ws.TestServer) -> None:
    good = server.route("/page", ws.static(ws.page_html("Page", "<p>Fine.</p>")))
    bad = ["htp:/broken url", "http:/x", "http:///x", "htps://example.org/"]
    proc = home.run("capture", "--json", good, *bad, env={"CITEWATCH_AUTO_BROWSER": "0"})
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    got = {r["url"]: r for r in json.loads(proc.stdout)}
    assert got[good]["outcome"] == "ok"
    assert {url: got[url]["outcome"] for url in bad} == dict.fromkeys(bad, "bad-url")
    assert not any("htp/" in url or "broken%20url" in url for url in got), "never guessed into a URL"
    errors = [line for line in proc.stderr.splitlines() if line.startswith("citewatch:")]
    assert len(errors) == len(bad) and all(any(raw in line for line in errors) for raw in bad), errors
    rows = {(r["url"], r["outcome"]) for r in snapshot_rows(home.database_url())}
    assert {(url, "bad-url") for url in bad} <= rows
    assert [s.path for s in server.requests_for("/page")] == ["/page"], "only the good URL was fetched"


# -- 4. a proxy that refuses the tunnel --------------------------------------------------------
class _RefusingProxy(socketserver.ThreadingTCPServer):
    """A forward proxy on 127.0.0.1 that answers every request, CONNECT included, with 502."""

    daemon_threads = True
    block_on_close = False

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _RefusingHandler)
        self.seen: list[bytes] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _RefusingHandler(socketserver.StreamRequestHandler):
    server: _RefusingProxy

    def handle(self) -> None:
        line = self.rfile.readline(65536)
        while self.rfile.readline(65536).strip():  # the request's headers
            pass
        self.server.seen.append(line)
        self.wfile.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


@pytest.fixture
def refusing_proxy() -> Iterator[_RefusingProxy]:
    proxy = _RefusingProxy()
    thread = threading.Thread(target=proxy.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield proxy
    proxy.shutdown()
    proxy.server_close()


def _proxy_env(proxy_url: str) -> dict[str, str]:
    names = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")
    return {**dict.fromkeys(names, proxy_url), "NO_PROXY": "", "no_proxy": "", "CITEWATCH_AUTO_BROWSER": "0"}


def test_a_refused_tunnel_is_a_proxy_outcome(home: Home, refusing_proxy: _RefusingProxy) -> None:
    url = "https://tunnel.example/story"
    proc = home.run("capture", "--json", url, env=_proxy_env(refusing_proxy.url))
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    (result,) = json.loads(proc.stdout)
    assert result["outcome"] == "proxy", result
    assert result["message"] == "proxy refused the tunnel to tunnel.example: 502 Bad Gateway", result
    assert any(line.startswith(b"CONNECT tunnel.example:443") for line in refusing_proxy.seen)
    rows = [r for r in snapshot_rows(home.database_url()) if r["url"] == url]
    assert rows and rows[-1]["outcome"] == "proxy" and "502 Bad Gateway" in rows[-1]["error"]


def test_tunnel_errors_are_classified() -> None:
    from scrapy.core.downloader.handlers.http11 import TunnelError

    from crawler.outcomes import classify

    refused = TunnelError(
        "Could not open CONNECT tunnel with proxy 10.0.0.1:3128 [{'status': 407, "
        "'reason': b'Proxy Authentication Required'}]"
    )
    garbled = TunnelError("Could not open CONNECT tunnel with proxy 10.0.0.1:3128 [b'SSH-2.0-OpenSSH']")
    assert classify(refused, "https://a.example/") == (
        "proxy",
        "proxy refused the tunnel to a.example: 407 Proxy Authentication Required",
    )
    outcome, message = classify(garbled, "https://a.example/")
    assert outcome == "proxy" and "no HTTP answer" in message and "\n" not in message


# -- 5. log noise -------------------------------------------------------------------------------
OUTLETS = ("RMX.news", "KyivIndependent.com", "EurasianTimes.com", "TheGuardian.com", "EmptyFront.com")


def _article(tmp_path: Path) -> Path:
    path = tmp_path / "article.txt"
    path.write_text(
        "Valdoria counts the damage\nBy A. Writer // 2025-10-22\n"
        "Officials counted 48,213 flooded homes in Valdoria, according to governor Mirela Ostrova.\n"
        f"Sources for this article include: {' '.join(OUTLETS)}\n"
    )
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _assert_quiet(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert "Traceback" not in proc.stderr, proc.stderr
    assert not [line for line in lines if " ERROR " in line or line.startswith("  ")], proc.stderr
    # Two progress lines, then at most: one line per outlet's resolution and one per failed capture.
    assert len(lines) <= 2 + 2 * len(OUTLETS), proc.stderr
    assert len(set(lines)) == len(lines), "a problem is said once"


@pytest.mark.slow
def test_add_with_unresolvable_outlets_keeps_stderr_quiet(home: Home, tmp_path: Path) -> None:
    with OutletWeb() as web:  # a proxy that knows no outlet answers CONNECT with 502 (cannot resolve)
        web.add("emptyfront.com", "/", b"")
        web.add("emptyfront.com", "/robots.txt", b"", "text/plain")
        proc = home.run("add", str(_article(tmp_path)), env={**web.env(), "CITEWATCH_AUTO_BROWSER": "0"})
    _assert_quiet(proc)
    assert "proxy refused the tunnel" in proc.stderr, "each failure still says what it was"


@pytest.mark.slow
def test_add_with_refusing_outlets_keeps_stderr_quiet(home: Home, tmp_path: Path) -> None:
    proc = home.run("add", str(_article(tmp_path)), env=_proxy_env(f"http://127.0.0.1:{_free_port()}"))
    _assert_quiet(proc)
    assert "refused" in proc.stderr
    # -vv shows the details a developer needs, tracebacks included.
    verbose = home.run(
        "-vv", "add", str(_article(tmp_path)), env=_proxy_env(f"http://127.0.0.1:{_free_port()}")
    )
    assert verbose.returncode == 0 and "Traceback" in verbose.stderr and "robots.txt" in verbose.stderr


def test_log_records_are_one_line_unless_debugging() -> None:
    import logging
    import sys

    from citewatch import _LogFormatter

    try:
        raise ConnectionRefusedError("refused by 127.0.0.1")
    except ConnectionRefusedError:
        record = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "fetch of %s failed", ("u",), sys.exc_info()
        )
    line = _LogFormatter(tracebacks=False).format(record)
    assert line.endswith("ERROR x: fetch of u failed (ConnectionRefusedError: refused by 127.0.0.1)"), line
    assert "\n" not in line
    assert "Traceback" in _LogFormatter(tracebacks=True).format(record)


def test_add_of_a_url_without_its_scheme_says_how_to_write_it(home) -> None:  # type: ignore[no-untyped-def]
    proc = home.run("add", "example.org/story")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "no such file" in proc.stderr and "https://example.org/story" in proc.stderr
    missing = home.run("add", "missing-story.txt")
    assert missing.returncode == 2 and "https://" not in missing.stderr
