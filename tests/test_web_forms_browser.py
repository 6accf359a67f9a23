"""The web UI's write forms in Debian's Chromium, as a person uses them: log in, add an article
by its URL, see it listed, capture a source again after it changed and see the claim's badge,
check now, pause, follow the badge to the change and its replay, remove the article. A form
post without its CSRF token is refused (slow; runs in CI).

``citewatch serve`` (with an API token) and ``citewatch replay`` run as a user runs them, on
free ports; the article and its source are local pages on the tests' HTTP server. Screenshots go
to test-artifacts/web/forms-*.png at the top of the checkout.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests import webserver as ws
from tests.conftest import Home, _base_env, warcio_check
from tests.replayserver import running_replay, running_serve
from tests.test_changes import BODY, page
from tests.test_web import EDITED
from tests.test_web_browser import _archived_text, shot

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TOKEN = "a-token-typed-into-the-login-form"
TITLE = "Desertion cases reach a new high"


def article_page(report: str) -> bytes:
    body = (
        f"<article><h1>{TITLE}</h1>"
        f"<p>Prosecutors opened 253,000 criminal cases for desertion since 2022, "
        f"<a href='{report}'>the annual report</a> says.</p>"
        "<p>Lawyers for the soldiers said the courts could not keep up with the number of cases.</p>"
        "</article>"
    )
    return ws.page_html(TITLE, body)


@dataclass
class Running:
    home: Home
    server: ws.TestServer
    web: str  # the UI's base URL, ending in /
    replay: str
    article: str  # the citing article's URL
    report: str  # the source it cites


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    path = tmp_path / "home"
    home = Home(path, _base_env(path))
    home.run("init", check=True)
    with ws.TestServer() as server:
        report = server.route("/report", ws.static(page(BODY, random.Random(1)).encode()))
        article = server.route("/story", ws.static(article_page(report)))
        with running_replay(home) as replay:
            home.env["CITEWATCH_REPLAY_URL"] = replay
            home.env["CITEWATCH_API_TOKEN"] = TOKEN
            with running_serve(home) as web:
                yield Running(home, server, web, replay, article, report)
    warcio_check(home.warcs())


def flash(page: Any) -> str:
    return " ".join(page.locator("p.flash").inner_text().split())


def follow_job(page: Any) -> None:
    """On a job page (it reloads itself while the job runs): wait until the job is done."""
    page.wait_for_url("**/jobs/*")
    page.locator("p.job .badge.done, p.job .badge.failed").wait_for(timeout=120_000)
    assert page.locator("p.job .badge").inner_text() == "done", page.locator("main").inner_text()


def test_a_person_adds_checks_pauses_and_removes_through_the_forms(running: Running, browser: Any) -> None:
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    # Log in: the page says what the token is for, and sends the browser back to the articles.
    page.goto(running.web + "login?next=/articles")
    assert "Anyone may read this citewatch" in page.locator("main").inner_text()
    page.fill("input[name=token]", TOKEN)
    page.click("form.login button")
    page.wait_for_url("**/articles")
    # Add the article by its URL; the job page follows the add, then links to the article.
    page.fill("form.add input[name=url]", running.article)
    page.uncheck("form.add input[name=resolve]")
    page.click("form.add button[type=submit]")
    follow_job(page)
    page.get_by_role("link", name=TITLE).click()
    page.wait_for_url("**/articles/*")
    article_path = page.url.removeprefix(running.web.rstrip("/"))
    page.goto(running.web + "articles")
    assert TITLE in page.locator("table.articles").inner_text()
    # The source changes, and is captured again from its page (a background job).
    running.server.route("/report", ws.static(page_bytes(EDITED)))
    page.goto(running.web + article_path.lstrip("/"))
    claim = page.locator("ol.claims li", has_text="253,000 criminal cases")
    assert claim.locator(".support .badge").inner_text() == "unchanged"
    page.locator("a.source", has_text=running.report).first.click()
    page.wait_for_url("**/sources/*")
    source_path = page.url.removeprefix(running.web.rstrip("/"))
    page.get_by_role("button", name="Capture now").click()
    follow_job(page)
    page.goto(running.web + article_path.lstrip("/"))
    badge = claim.locator(".support a.badge")
    assert badge.inner_text() == "changed 253,000 → 258,000"
    shot(page, "forms-article")
    # Check now and pause, from the source page: each says what it did, in one line.
    page.goto(running.web + source_path.lstrip("/"))
    page.get_by_role("button", name="Check now").click()
    page.wait_for_url("**" + source_path)
    assert flash(page).startswith("1 source due now") and "no daemon is running" in flash(page)
    page.get_by_role("button", name="Pause").click()
    assert flash(page) == f"paused {running.report}: no checks until you resume it"
    assert page.get_by_role("button", name="Resume").is_visible()
    shot(page, "forms-source")
    # A post without the form's CSRF token, with this browser's login cookies, is refused.
    for form in ({}, {"csrf": "not-the-token"}):
        refused = page.request.post(running.web + source_path.lstrip("/") + "/resume", form=form)
        assert refused.status == 403 and "CSRF token" in refused.text(), form
    page.reload()
    assert page.get_by_role("button", name="Resume").is_visible(), "still paused"
    # The badge leads to the change, and the change to the capture as it was.
    page.goto(running.web + article_path.lstrip("/"))
    badge.click()
    page.wait_for_url("**/changes/*")
    assert page.locator("section.inline del").all_inner_texts() == ["253,000"]
    assert page.locator("section.inline ins").all_inner_texts() == ["258,000"]
    shot(page, "forms-change")
    after = page.locator("tr.after a.replay").get_attribute("href")
    assert after.startswith(running.replay)
    page.goto(after)
    assert "258,000 criminal cases" in _archived_text(page, "258,000 criminal cases")
    shot(page, "forms-replay")
    # Remove the article, through its confirmation page.
    page.goto(running.web + article_path.lstrip("/"))
    page.get_by_role("link", name="Remove this article…").click()
    page.wait_for_url("**/remove")
    assert running.report in page.locator("main").inner_text()
    page.get_by_role("button", name="Remove article").click()
    page.wait_for_url("**/articles")
    assert flash(page).startswith("removed article")
    assert TITLE not in page.locator("table.articles").inner_text()
    page.close()


def page_bytes(paragraphs: list[str]) -> bytes:
    return page(paragraphs, random.Random(3)).encode()
