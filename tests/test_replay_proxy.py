"""Replay as users reach it: with the proxy variables the README tells them to set (pywb's calls
to its own index and WARC servers must not go through a proxy), and with the banner that says
which capture a replayed page is, in Debian's Chromium.

The banner's screenshot goes to test-artifacts/replay-banner.png at the top of the checkout.
"""

from __future__ import annotations

import json
import re
import socket
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest

from archive import db
from tests import webserver as ws
from tests.conftest import ROOT
from tests.replayserver import REPLAY_READY, running, running_serve

pytestmark = pytest.mark.slow

PAGE = ws.page_html(
    "Inspections report",
    "<h1>Inspections report</h1><p>The agency counted 9,400 inspections in 2025.</p>"
    "<a href='/other'>next</a>",
)
FAST_INDEX = {"CITEWATCH_REPLAY_INDEX_INTERVAL": "0.2"}

# This process's own requests go straight to the servers, whatever its environment says.
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    try:
        with DIRECT.open(urllib.request.Request(url, headers=headers or {}), timeout=30) as response:
            return response.status, dict(response.headers.items()), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers.items()), exc.read()


def dead_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def captured(home: Any, url: str) -> dict[str, Any]:
    """The one archived capture of ``url``, with its time as a naive UTC datetime (seconds)."""
    rows = json.loads(home.run("snapshots", url, "--json", check=True).stdout)
    (row,) = [r for r in rows if r["record_type"] == "response"]
    row["at"] = datetime.fromisoformat(row["captured_at"].removesuffix("Z")).replace(microsecond=0)
    return row


def stamp(when: datetime) -> str:
    return when.strftime("%Y%m%d%H%M%S")


def test_replay_answers_whatever_proxy_variables_the_user_set(home: Any, server: ws.TestServer) -> None:
    url = server.route("/report", ws.static(PAGE))
    home.run("capture", url, check=True)
    cap = captured(home, url)
    proxy = f"http://127.0.0.1:{dead_port()}"
    # As the README has users reach the web through a proxy: every request through it, no exception.
    env = {**FAST_INDEX, "HTTP_PROXY": proxy, "HTTPS_PROXY": proxy, "http_proxy": proxy, "NO_PROXY": ""}
    with running(home, ["replay", "--port", "0"], REPLAY_READY, env) as base:
        coll = base + "citewatch/"
        status, headers, body = fetch(f"{coll}{stamp(cap['at'])}id_/{url}")
        assert (status, body) == (200, PAGE)
        assert parsedate_to_datetime(headers["Memento-Datetime"]).replace(tzinfo=None) == cap["at"]

        status, _, page = fetch(f"{coll}{stamp(cap['at'])}/{url}")
        assert status == 200 and b"9,400 inspections" in page
        assert f"/citewatch/{stamp(cap['at'])}/{url.removesuffix('/report')}/other".encode() in page

        status, _, timemap = fetch(f"{coll}timemap/link/{url}")
        assert status == 200
        listed = [parsedate_to_datetime(t) for t in _memento_times(timemap.decode())]
        assert [t.replace(tzinfo=None) for t in listed] == [cap["at"]]

        asked = format_datetime((cap["at"] + timedelta(days=3)).replace(tzinfo=UTC), usegmt=True)
        status, headers, _ = fetch(coll + url, {"Accept-Datetime": asked})
        assert status in (200, 302)  # urllib follows a 302 to the memento: the 200 is its answer
        assert parsedate_to_datetime(headers["Memento-Datetime"]).replace(tzinfo=None) == cap["at"]


def _memento_times(timemap: str) -> list[str]:
    return re.findall(r'rel="memento"; datetime="([^"]+)"', timemap)


# --- the banner ------------------------------------------------------------------------------------


def test_an_index_without_source_ids_is_built_again(
    home: Any, server: ws.TestServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The banner links to a capture's source by the id its index line carries: an index an
    older citewatch wrote (no source ids, no format file) is not kept as it is."""
    from archive.replay import server as replay

    monkeypatch.setattr(replay, "IN_FLIGHT", 0)  # every capture in base.cdxj, which a restart keeps
    home.run("capture", server.route("/report", ws.static(PAGE)), check=True)
    sessions = db.connect(home.database_url())
    try:
        first = replay.ReplayIndex(sessions, home.warc_dir, tmp_path / "replay")
        first.open()
        first.close()
        folder = (tmp_path / "replay" / "index").resolve()
        base = folder / "base.cdxj"
        (line,) = base.read_text(encoding="utf-8").splitlines()
        key, when, fields = line.split(" ", 2)
        old = {k: v for k, v in json.loads(fields).items() if k != "source_id"}
        base.write_text(f"{key} {when} {json.dumps(old, separators=(',', ':'))}\n", encoding="utf-8")
        (folder / "format").unlink()

        again = replay.ReplayIndex(sessions, home.warc_dir, tmp_path / "replay")
        assert again.open() == 1
        again.close()
    finally:
        sessions.kw["bind"].dispose()
    folder = (tmp_path / "replay" / "index").resolve()
    (rebuilt,) = (folder / "base.cdxj").read_text(encoding="utf-8").splitlines()
    assert rebuilt == line  # with its source id again
    assert (folder / "format").read_text(encoding="utf-8").strip() == replay.INDEX_FORMAT


@pytest.mark.browser
def test_the_replay_banner_shows_the_capture_and_links_to_its_source(
    home: Any, server: ws.TestServer, browser: Any
) -> None:
    url = server.route("/report", ws.static(PAGE))
    server.route("/other", ws.static(ws.page_html("Other", "<p>other</p>")))
    home.run("capture", url, check=True)
    cap = captured(home, url)
    with running_serve(home) as web:
        env = {**FAST_INDEX, "CITEWATCH_PUBLIC_URL": web}
        with running(home, ["replay", "--port", "0"], REPLAY_READY, env) as replay:
            page = browser.new_page()
            page.goto(f"{replay}citewatch/{stamp(cap['at'])}/{url}")
            banner = page.locator("citewatch-banner")  # Playwright's CSS reaches into its shadow root
            banner.locator("time").wait_for()
            assert banner.locator("time").inner_text() == f"{cap['at']:%Y-%m-%d %H:%M:%S} UTC"
            assert banner.locator(".url").inner_text() == url
            assert "9,400 inspections" in page.locator("p").first.inner_text()  # the page is still there
            artifact = ROOT / "test-artifacts" / "replay-banner.png"
            artifact.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(artifact), full_page=True)
            print(f"screenshot: {artifact}")

            # wombat, pywb's URL rewriter, left both links alone.
            captures_link = banner.locator("a.captures")
            assert captures_link.get_attribute("href") == f"{replay}citewatch/*/{url}"
            timeline = banner.locator("a.timeline")
            assert (timeline.get_attribute("href") or "").startswith(f"{web}sources/")
            timeline.click()
            page.wait_for_url(f"{web}sources/*")
            assert page.locator("h1").inner_text() == url  # the UI's page of this source

            answer = page.goto(f"{replay}citewatch/*/{url}")  # the other captures: pywb's calendar
            assert answer is not None and answer.status == 200

            # Raw bytes carry no banner; neither do pages replayed inside frames.
            assert fetch(f"{replay}citewatch/{stamp(cap['at'])}id_/{url}")[2] == PAGE
            framed = fetch(f"{replay}citewatch/{stamp(cap['at'])}if_/{url}")[2]
            assert b"9,400 inspections" in framed and b"_citewatch_banner" not in framed
            page.close()
