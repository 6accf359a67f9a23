"""The web UI in Debian's Chromium: a reader's walk from an article to a change and its replay,
and archived script payloads that must stay words on the screen (slow; runs in CI).

``citewatch serve`` and ``citewatch replay`` run as a user runs them, on free ports, over data
made by ``citewatch add`` and ``citewatch capture`` (tests/test_web.py's ``build_site``).
Screenshots go to test-artifacts/web/ at the top of the checkout.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from archive.replay.server import replay_link
from archive.settings import load_settings
from tests import webserver as ws
from tests.conftest import ROOT, Home, _base_env, warcio_check
from tests.replayserver import running_replay, running_serve
from tests.test_web import Site, build_site, visible_payloads

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ARTIFACTS = ROOT / "test-artifacts" / "web"


@dataclass
class Running:
    site: Site
    web: str  # the UI's base URL
    replay: str  # the replay server's base URL
    canary: ws.TestServer


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    path = tmp_path / "home"
    home = Home(path, _base_env(path))
    with ws.TestServer() as server, ws.TestServer() as canary:
        canary.route("*", ws.static(b"seen", "text/plain"))
        site = build_site(home, server, None, canary=canary.url("/canary"))
        with running_replay(home) as replay:
            home.env["CITEWATCH_REPLAY_URL"] = replay
            with running_serve(home) as web:
                yield Running(site, web, replay, canary)
    warcio_check(home.warcs())


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")


def test_a_reader_walk_and_archived_payloads_that_never_run(running: Running, browser: Any) -> None:
    """One test, two parts: the data folder, replay server and UI take seconds to set up."""
    walk_from_an_article_to_a_change_and_its_replay(running, browser)
    archived_script_payloads_never_run(running, browser)


def walk_from_an_article_to_a_change_and_its_replay(running: Running, browser: Any) -> None:
    site, settings = running.site, load_settings(env=running.site.home.env)
    change = site.change(site.story)
    page = browser.new_page()
    page.goto(running.web + "articles")
    page.get_by_role("link", name="Desertion cases soar past 250,000").click()
    page.wait_for_url(f"**/articles/{site.article_id}")
    assert "Prosecutors opened 253,000 criminal cases" in page.locator("ol.claims").inner_text()
    shot(page, "article")
    page.locator("a.source", has_text=site.story).first.click()
    page.wait_for_url("**/sources/*")
    assert page.locator("h1").inner_text() == site.story
    shot(page, "source")
    page.locator(f"a.change[href='/changes/{change['id']}']").click()
    page.wait_for_url(f"**/changes/{change['id']}")
    inline = page.locator("section.inline")
    assert inline.locator("del").all_inner_texts() == ["253,000"]
    assert inline.locator("ins").all_inner_texts() == ["258,000"]
    side = page.locator("section.side-by-side")
    assert side.locator("td.old del").all_inner_texts() == ["253,000"]
    assert side.locator("td.new ins").all_inner_texts() == ["258,000"]
    shot(page, "change")
    before = page.locator("tr.before a.replay")
    when = datetime.fromisoformat(change["detected_at"].removesuffix("Z"))
    old = next(s for s in site.cli("snapshots", site.story) if s["id"] == change["old_snapshot_id"])
    expected = replay_link(settings, site.story, datetime.fromisoformat(old["captured_at"].removesuffix("Z")))
    assert before.get_attribute("href") == expected and expected.startswith(running.replay)
    after = page.locator("tr.after a.replay").get_attribute("href")
    assert after == replay_link(settings, site.story, when)
    # The replay server shows each capture as it was: 253,000 before, 258,000 after.
    before.click()
    page.wait_for_url(expected + "*")
    page.wait_for_load_state()
    assert "253,000 criminal cases" in _archived_text(page, "253,000 criminal cases")
    shot(page, "replay-before")
    page.goto(after)
    shown = _archived_text(page, "258,000 criminal cases")
    assert "258,000 criminal cases" in shown, (after, old["captured_at"], change["detected_at"], shown[:300])
    page.close()


def _archived_text(page: Any, needle: str, seconds: float = 15) -> str:
    """The replayed page's text once it shows ``needle`` (pywb shows the page in a frame under its
    banner, loaded after the top page), or the last text seen."""
    deadline, text = time.monotonic() + seconds, ""
    while time.monotonic() < deadline:
        for frame in page.frames:
            with contextlib.suppress(Exception):
                text = frame.locator("body").inner_text(timeout=1000)
                if needle in text:
                    return text
        time.sleep(0.1)
    return text


def _watch(page: Any) -> list[str]:
    fired: list[str] = []
    page.on("dialog", lambda dialog: (fired.append(f"dialog {dialog.message}"), dialog.dismiss()))
    page.on(
        "console", lambda message: fired.append(f"console {message.text}") if "xss" in message.text else None
    )
    return fired


def archived_script_payloads_never_run(running: Running, browser: Any) -> None:
    site, canary = running.site, running.canary
    # The control: the archived page itself, opened directly, does fire every kind of canary.
    context = browser.new_context(bypass_csp=True)
    control = context.new_page()
    fired = _watch(control)
    control.goto(site.xss)
    control.wait_for_function("window.__xss !== undefined")
    # Every canary the page fires by itself (the javascript: link needs a click), so that none
    # of its requests can land after the list is cleared and be taken for the UI's.
    tags = ("script-tag", "img-tag", "svg-tag")
    _wait_for(
        lambda: all(canary.requests_for(f"/canary/{t}") for t in tags) and len(fired) >= len(tags),
        seconds=20,
        seen=lambda: (fired, [s.path for s in canary.state.seen]),
    )
    assert control.evaluate("window.__xss") in ("script-tag", "img-tag")
    control.close()
    canary.state.seen.clear()
    # The change page, with the page's own Content-Security-Policy switched off: only escaping
    # stands between the payloads and the reader.
    page = context.new_page()
    fired = _watch(page)
    change = site.change(site.xss)
    page.goto(running.web + f"changes/{change['id']}?all=1")
    page.wait_for_load_state("load")
    page.wait_for_timeout(700)  # time for any fetch, image or handler to fire
    shot(page, "xss-change")
    assert page.evaluate("window.__xss") is None
    assert fired == [] and canary.state.seen == [], (fired, [s.path for s in canary.state.seen])
    text = page.locator("section.inline").inner_text()
    for payload in visible_payloads(site.canary):
        assert payload in text, payload
    assert page.locator("section.inline ins").count() >= len(visible_payloads(site.canary))
    # The same in every view that shows archived text.
    for path in ("changes", f"sources/{change['source_id']}", f"articles/{site.article_id}", ""):
        page.goto(running.web + path)
        page.wait_for_timeout(200)
        assert page.evaluate("window.__xss") is None and fired == [] and canary.state.seen == [], path
    context.close()


def _wait_for(condition: Any, seconds: float = 10, seen: Any = None) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out; seen: {seen() if seen else '-'}"
        time.sleep(0.05)
