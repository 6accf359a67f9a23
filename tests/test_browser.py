"""Browser captures in Debian's Chromium through Playwright (slow; run in CI)."""

from __future__ import annotations

import gzip
import json

import pytest

from tests import webserver as ws
from tests.warcs import by_type, read_records

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def js_site(server: ws.TestServer) -> str:
    server.route("/app.js", ws.gzipped(ws.APP_JS, "application/javascript"))
    server.route("/api.json", ws.static(ws.API_JSON, "application/json"))
    return server.route("/js", ws.static(ws.JS_ONLY))


def check_browser_capture(home, server, url: str) -> None:  # type: ignore[no-untyped-def]
    records = read_records(home.warcs())
    uris = {r.uri for r in by_type(records, "response")}
    assert {url, server.url("/app.js"), server.url("/api.json")} <= uris
    (dom,) = [r for r in by_type(records, "resource") if r.uri == f"urn:dom:{url}"]
    assert b"Inserted by JavaScript: 42 ministers resigned." in dom.payload
    (shot,) = [r for r in by_type(records, "resource") if r.uri == f"urn:screenshot:{url}"]
    assert shot.payload.startswith(b"\x89PNG\r\n\x1a\n")
    assert shot.warc_headers["Content-Type"] == "image/png"
    page_ids = {
        r.warc_headers["WARC-Record-ID"]
        for r in records
        if r.uri == url and r.type in ("response", "revisit")
    }
    assert shot.warc_headers["WARC-Concurrent-To"] in page_ids
    # Playwright decodes bodies: the record must not claim an encoding it does not have.
    (app,) = [
        r
        for r in records
        if r.uri == server.url("/app.js") and r.type == "response" and r.header("Content-Encoding") is None
    ]
    assert app.payload == ws.APP_JS == gzip.decompress(server.state.sent["/app.js"])
    assert app.header("Content-Length") == str(len(ws.APP_JS))
    api = next(r for r in records if r.uri == server.url("/api.json") and r.type == "response")
    assert api.payload == ws.API_JSON
    for req in by_type(records, "request"):
        assert req.warc_headers["WARC-Concurrent-To"] in {r.warc_headers["WARC-Record-ID"] for r in records}


def test_browser_flag_records_every_response_screenshot_and_dom(home, server):
    url = js_site(server)
    proc = home.run("capture", "--json", "--browser", url)
    assert proc.returncode == 0, proc.stderr
    (result,) = json.loads(proc.stdout)
    assert result["via"] == "browser" and result["outcome"] == "ok"
    check_browser_capture(home, server, url)


def test_page_without_text_goes_to_the_browser_automatically(home, server):
    url = js_site(server)
    proc = home.run("capture", "--json", url)
    assert proc.returncode == 0, proc.stderr
    (result,) = json.loads(proc.stdout)
    assert result["via"] == "browser"
    check_browser_capture(home, server, url)
    # The plain HTTP response came first and is archived as well.
    plain = [r for r in by_type(read_records(home.warcs()), "response", url) if r.payload == ws.JS_ONLY]
    assert plain


def test_browser_obeys_the_address_guard(home, server):
    url = js_site(server)
    proc = home.run("capture", "--json", "--browser", url, env={"CITEWATCH_ALLOW_PRIVATE_NETWORKS": "0"})
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    (result,) = json.loads(proc.stdout)
    assert result["outcome"] == "blocked", result
    assert server.requests_for("/js") == []


def test_browser_uses_the_proxy(home, server):
    server.route(
        "http://outlet.test/app",
        ws.static(
            ws.page_html(
                "Outlet",
                "<div id='app'></div><script>document.getElementById('app').textContent ="
                " 'Rendered through the proxy';</script>",
            )
        ),
    )
    env = {"HTTP_PROXY": server.url(""), "CITEWATCH_ALLOW_PRIVATE_NETWORKS": "0"}
    proc = home.run("capture", "--json", "--browser", "http://outlet.test/app", env=env)
    assert proc.returncode == 0, proc.stderr
    records = read_records(home.warcs())
    (dom,) = [r for r in by_type(records, "resource") if r.uri == "urn:dom:http://outlet.test/app"]
    assert b"Rendered through the proxy" in dom.payload
    assert any(s.path == "http://outlet.test/app" for s in server.state.seen)


def test_text_inserted_on_a_timer_is_waited_for(home, server):
    """The network goes quiet before this page has any text: settling must wait for the text."""
    script = "setTimeout(() => { document.getElementById('app').textContent = 'Late but archived'; }, 2000)"
    url = server.route(
        "/timer", ws.static(ws.page_html("Timer", f"<div id='app'></div><script>{script}</script>"))
    )
    proc = home.run("capture", "--json", "--browser", url)
    assert proc.returncode == 0, proc.stderr
    records = read_records(home.warcs())
    (dom,) = [r for r in by_type(records, "resource") if r.uri == f"urn:dom:{url}"]
    assert b"Late but archived" in dom.payload
