"""The web UI and JSON API in process (httpx through the ASGI app), on SQLite and PostgreSQL.

The data is made the way a user makes it: local pages served on 127.0.0.1 are cited by an
article (``citewatch add``, with a bare outlet name resolved through tests/outletweb.py), then
changed and captured again (``citewatch capture``), which records a content change, a gone
source and a change full of script payloads. The API must answer what the CLI's ``--json``
prints for the same data, refuse what it should, and never show archived markup as markup.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio.from_thread
import feedparser
import httpx
import lxml.html
import pytest
from sqlalchemy import text

from archive.replay.server import replay_link
from archive.settings import load_settings
from archive.web.app import create_app
from crawler.jobs import job_runner
from tests import webserver as ws
from tests.conftest import PG_URL, Home, _base_env, warcio_check
from tests.outletweb import OutletWeb
from tests.test_changes import BODY, page
from tests.test_citations import build_web
from tests.warcs import read_records

TOKEN = "s3cret-token-for-tests"
EDITED = [BODY[0].replace("253,000", "258,000"), *BODY[1:]]

# Script payloads, written into an archived page as text (escaped in its HTML, so they are words
# a reader sees) and as live markup; CANARY is replaced by a URL that records whatever reaches it.
TEXT_PAYLOADS = [
    "<img src=x onerror=\"fetch('CANARY/img-text');window.__xss='img-text';alert('img-text')\">",
    "<script>fetch('CANARY/script-text');window.__xss='script-text';alert('script-text')</script>",
    "<svg onload=\"fetch('CANARY/svg-text');window.__xss='svg-text';alert('svg-text')\"></svg>",
    "<a href=\"javascript:fetch('CANARY/js-link');alert('js-link')\">read the report</a>",
    "<body onload=\"fetch('CANARY/body-text');alert('body-text')\">",
]
LIVE_MARKUP = (
    "<script>fetch('CANARY/script-tag');window.__xss='script-tag';alert('script-tag')</script>"
    "<p><img src=x onerror=\"fetch('CANARY/img-tag');window.__xss='img-tag';alert('img-tag')\">"
    "<a href=\"javascript:fetch('CANARY/js-href');alert('js-href')\">a javascript: link</a>"
    "<svg onload=\"fetch('CANARY/svg-tag');alert('svg-tag')\"></svg></p>"
)
COUNCIL = [
    "The city council approved 1,234 new homes on Monday after a debate that lasted most of the day.",
    "Councillors said the first residents could move in by the spring of 2027, if funding holds.",
    "The mayor, Ana Ribeiro, called the vote a turning point for families waiting on the housing list.",
]


def xss_page(canary: str, payloads: bool) -> bytes:
    """A council story; with ``payloads``, each payload is a paragraph of text and live markup too."""
    import html

    said = [
        f"A reader wrote to us quoting this markup: {html.escape(p)} and nothing more." for p in TEXT_PAYLOADS
    ]
    paragraphs = COUNCIL + ([s.replace("CANARY", canary) for s in said] if payloads else [])
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    live = LIVE_MARKUP.replace("CANARY", canary) if payloads else ""
    return ws.page_html(
        "Council approves 1,234 homes", f"<article><h1>Council approves homes</h1>{body}{live}</article>"
    )


def visible_payloads(canary: str) -> list[str]:
    """The payloads as a reader must see them on a change page: as text."""
    return [p.replace("CANARY", canary) for p in TEXT_PAYLOADS]


@dataclass
class Site:
    home: Home
    server: ws.TestServer
    article_id: int
    story: str
    other: str
    xss: str
    captures: list[dict[str, Any]]  # the second capture's results, with their analysis
    canary: str

    def change(self, url: str) -> dict[str, Any]:
        return next(c["analysis"]["change"] for c in self.captures if c["url"] == url)

    def cli(self, *args: str) -> Any:
        proc = self.home.run(*args, "--json", check=True)
        return json.loads(proc.stdout)


def article_markdown(site_urls: dict[str, str], outlets: bool) -> str:
    lines = [
        "# Desertion cases soar past 250,000",
        "",
        f"Prosecutors opened 253,000 criminal cases for desertion since 2022, [the annual report]({site_urls['story']}) says.",  # noqa: E501
        "",
        f"Officials said the backlog in the courts had reached 18,400 cases, [a second report]({site_urls['other']}) adds.",  # noqa: E501
        "",
        f"The city council approved 1,234 new homes, [the council story]({site_urls['xss']}) reports.",
        "",
    ]
    if outlets:
        lines += [
            "Ukraine's first military ombudsperson, Olha Reshetylova, said: \u201cLet\u2019s be honest. "
            "The problem is big.\u201d By mid-2025, nearly 576 soldiers a day were leaving their posts.",
            "",
            "Sources for this article include: TheGuardian.com",
        ]
    return "\n".join(lines) + "\n"


def build_site(home: Home, server: ws.TestServer, web: OutletWeb | None, canary: str) -> Site:
    """Cite three local pages (and an outlet), then change one, remove one, and fill one with
    script payloads, and capture them again: three recorded changes."""
    urls = {
        "story": server.route("/story", ws.static(page(BODY, random.Random(1)).encode())),
        "other": server.route("/other", ws.static(page(BODY[1:], random.Random(2)).encode())),
        "xss": server.route("/council", ws.static(xss_page(canary, payloads=False))),
        "uncited": server.route("/uncited", ws.static(page(BODY[2:], random.Random(5)).encode())),
    }
    home.run("capture", urls["uncited"], check=True)  # a source no article cites
    article = home.path.parent / "article.md"
    article.write_text(article_markdown(urls, outlets=web is not None), encoding="utf-8")
    env = {**web.env(), "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"} if web else {}
    proc = home.run("add", "--json", str(article), env=env, timeout=240)
    assert proc.returncode == 0, proc.stderr
    added = json.loads(proc.stdout)
    server.route("/story", ws.static(page(EDITED, random.Random(3)).encode()))
    server.route("/other", ws.static(b"gone", "text/plain", status=404))
    server.route("/council", ws.static(xss_page(canary, payloads=True)))
    server.route("/uncited", ws.static(page(BODY[3:], random.Random(6)).encode()))
    proc = home.run("capture", "--json", urls["story"], urls["other"], urls["xss"], urls["uncited"])
    assert "Traceback" not in proc.stderr, proc.stderr
    captures = json.loads(proc.stdout)
    site = Site(
        home, server, added["article"]["id"], urls["story"], urls["other"], urls["xss"], captures, canary
    )
    assert site.change(site.story)["kind"] == "content"
    assert site.change(site.other)["kind"] == "gone"
    assert site.change(site.xss)["kind"] == "content"
    assert site.change(urls["uncited"])["kind"] == "content"
    return site


def _pg_database(admin: Any) -> Iterator[str]:
    name = f"citewatch_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield f"{PG_URL.rsplit('/', 1)[0]}/{name}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """One realistic data folder per module and database (building it takes a few seconds)."""
    path = tmp_path_factory.mktemp("web") / "home"
    home = Home(path, _base_env(path))
    databases = _pg_database(request.getfixturevalue("pg_admin")) if request.param == "postgresql" else None
    if databases is not None:
        home.env["CITEWATCH_DATABASE_URL"] = next(databases)
    with ws.TestServer() as server, OutletWeb() as web:
        build_web(web)
        yield build_site(home, server, web, canary="http://127.0.0.1:9/canary")
    warcio_check(home.warcs())
    if databases is not None:
        next(databases, None)


class AppClient:
    """A synchronous client of an ASGI app in process: httpx's ASGITransport, driven from a thread
    with its own event loop (as Starlette's AppClient does), the app's lifespan included."""

    def __init__(self, app: Any) -> None:
        self._portal_context = anyio.from_thread.start_blocking_portal()
        self.portal = self._portal_context.__enter__()
        self._lifespan = self.portal.wrap_async_context_manager(app.router.lifespan_context(app))
        self._lifespan.__enter__()
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://127.0.0.1:8080")

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self.portal.call(lambda: self.http.request(method, url, **kwargs))

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def close(self) -> None:
        self.portal.call(self.http.aclose)
        self._lifespan.__exit__(None, None, None)
        self._portal_context.__exit__(None, None, None)


@contextlib.contextmanager
def app_clients(monkeypatch: pytest.MonkeyPatch, base_env: dict[str, str]) -> Iterator[Any]:
    """``make(**env)``: a client of an app whose settings are ``base_env`` plus ``env``
    (CITEWATCH_* values), set in the environment as a user would, its jobs run as the CLI's
    ``serve`` runs them (crawler/jobs.py). Every client is closed at the end."""
    opened: list[AppClient] = []

    def make(**env: str) -> AppClient:
        for name in [n for n in os.environ if n.startswith("CITEWATCH_")]:
            monkeypatch.delenv(name)
        for name, value in {**base_env, **env}.items():
            monkeypatch.setenv(name, value)
        settings = load_settings()
        client = AppClient(create_app(settings, runner=job_runner(settings)))
        opened.append(client)
        return client

    try:
        yield make
    finally:
        for client in opened:
            client.close()


@pytest.fixture
def client_for(site: Site, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """``client_for(**env)``: :func:`app_clients` over the test site's data folder."""
    with app_clients(monkeypatch, site.home.env) as make:
        yield make


@pytest.fixture
def client(client_for: Any) -> AppClient:
    return client_for(CITEWATCH_API_TOKEN=TOKEN)


AUTH = {"Authorization": f"Bearer {TOKEN}"}


def html_of(response: Any) -> lxml.html.HtmlElement:
    assert response.headers["content-type"].startswith("text/html"), response.headers
    return lxml.html.fromstring(response.text)


def assert_inert(doc: lxml.html.HtmlElement) -> None:
    """No script element, no event-handler attribute, no javascript: link anywhere on the page."""
    assert doc.xpath("//script") == []
    for element in doc.iter():
        if not isinstance(element.tag, str):
            continue
        for name, value in element.attrib.items():
            assert not name.lower().startswith("on"), (element.tag, name, value)
            assert not value.strip().lower().startswith("javascript:"), (element.tag, name, value)


# -- the API answers what the CLI prints ----------------------------------------------------------


def test_api_json_equals_cli_json(site: Site, client: AppClient) -> None:
    assert client.get("/api/articles").json() == site.cli("citations")
    article = client.get(f"/api/articles/{site.article_id}").json()
    assert article == site.cli("citations", str(site.article_id))
    assert {c["kind"] for c in article["citations"]} == {"link", "outlet"}
    assert client.get("/api/snapshots", params={"url": site.story}).json() == site.cli(
        "snapshots", site.story
    )
    listed = client.get("/api/changes").json()
    assert listed["changes"] == site.cli("changes") and listed["next"] is None
    assert len(listed["changes"]) == 4
    query = {
        "kind": ["content", "gone"],
        "article": str(site.article_id),
        "since": "2000-01-01",
        "limit": "2",
    }
    page_one = client.get("/api/changes", params=query).json()
    filters = ["--kind", "content", "--kind", "gone", "--article", str(site.article_id)]
    cli_one = site.cli("changes", *filters, "--since", "2000-01-01", "--limit", "2")
    assert page_one["changes"] == cli_one and page_one["next"]
    page_two = client.get(page_one["next"]).json()
    assert page_two["changes"] == site.cli("changes", *filters, "--before", str(cli_one[-1]["id"]))
    change = site.change(site.story)
    old, new = str(change["old_snapshot_id"]), str(change["new_snapshot_id"])
    assert client.get(f"/api/diff/{old}/{new}").json() == site.cli("diff", old, new)
    cli_status, api_status = site.cli("status"), client.get("/api/status").json()
    assert {**api_status, "at": None} == {**cli_status, "at": None}
    config = {r["name"]: r for r in client.get("/api/config").json()}
    assert config == {r["name"]: r for r in site.cli("config")} | {
        "api_token": {**config["api_token"], "value": "(set)"}
    }
    assert config["api_token"]["origin"] == "environment"


def test_track_through_the_api_is_citewatch_track(site: Site, client: AppClient) -> None:
    url = site.server.url("/tracked-by-api")
    answer = client.post("/api/track", json={"url": url, "every": "2h"}, headers=AUTH)
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert data["url"] == url and data["every_seconds"] == 7200 and not data["paused"]
    assert site.cli("track", url) == {**data, "next_check_at": site.cli("track", url)["next_check_at"]}
    paused = client.post("/api/track", json={"url": url, "paused": True}, headers=AUTH).json()
    assert paused["paused"] and paused["next_check_at"] is None and paused["source_id"] == data["source_id"]
    by_article = client.post(
        "/api/track", json={"article": str(site.article_id), "every": "1d"}, headers=AUTH
    )
    assert by_article.status_code == 200 and site.story in {d["url"] for d in by_article.json()}
    for body, status, words in [
        ({"url": url, "every": "soon"}, 400, "every: not a duration"),
        ({"url": "ftp://x/"}, 400, "ftp"),
        ({"article": "999"}, 404, "no article '999'"),
        ({}, 400, "give one source url, or an article"),
        ({"url": url, "paused": "maybe"}, 422, "paused"),
    ]:
        refused = client.post("/api/track", json=body, headers=AUTH)
        assert refused.status_code == status and words in refused.json()["error"], (body, refused.text)


# -- pages -------------------------------------------------------------------------------------


def test_article_page_shows_claims_citations_evidence_and_source_status(
    site: Site, client: AppClient
) -> None:
    response = client.get(f"/articles/{site.article_id}")
    assert response.status_code == 200
    doc = html_of(response)
    assert_inert(doc)
    claims = [li.text_content() for li in doc.cssselect("ol.claims li")]
    assert any("253,000 criminal cases" in c for c in claims)
    sources = {a.text_content(): a.get("href") for a in doc.cssselect("a.source")}
    view = client.get(f"/api/articles/{site.article_id}").json()
    story_source = client.get("/api/snapshots", params={"url": site.story}).json()
    assert sources[site.story].startswith("/sources/") and story_source
    rows = {
        r.cssselect("a.source")[0].text_content(): r
        for r in doc.cssselect("table.sources tr")
        if r.cssselect("a.source")
    }
    assert rows[site.story].cssselect(".badge")[0].text_content() == "changed"
    assert rows[site.other].cssselect(".badge")[0].text_content() == "gone"
    # The outlet's candidates and the evidence for each: the matched terms of the claims.
    (outlet,) = [c for c in view["citations"] if c["kind"] == "outlet"]
    section = doc.get_element_by_id(f"citation-{outlet['id']}")
    text = " ".join(section.text_content().split())
    assert "theguardian.com" in text and outlet["resolution"]["status"] in text
    best = outlet["candidates"][0]
    assert best["url"] in text and f"{best['score']:.2f}" in text
    assert any(f"\u201c{m['term']}\u201d" in text for m in best["evidence"]["matched"])


def test_source_page_is_a_timeline_with_replay_links(site: Site, client: AppClient) -> None:
    settings = load_settings(env=site.home.env)
    snaps = client.get("/api/snapshots", params={"url": site.story}).json()
    source_id = client.get("/api/changes", params={"url": site.story}).json()["changes"][0]["source_id"]
    doc = html_of(client.get(f"/sources/{source_id}"))
    assert_inert(doc)
    from datetime import datetime

    for snap in snaps:
        row = doc.get_element_by_id(f"snapshot-{snap['id']}")
        when = datetime.fromisoformat(snap["captured_at"].removesuffix("Z"))
        (link,) = row.cssselect("a.replay")
        assert link.get("href") == replay_link(settings, site.story, when)
        assert row.cssselect("a.raw")[0].get("href") == replay_link(settings, site.story, when, raw=True)
    change = site.change(site.story)
    assert doc.cssselect(f"a.change[href='/changes/{change['id']}']")
    api = client.get(f"/api/sources/{source_id}").json()
    assert [s["id"] for s in api["snapshots"]] == [s["id"] for s in reversed(snaps)]
    assert [c["id"] for c in api["changes"]] == [change["id"]] and api["source"]["status"] == "changed"
    assert api["older"] is None

    # One capture per page: the pages, followed by their keys, give every capture once, newest
    # first, each page with the changes its captures recorded.
    seen, before, pages = [], None, 0
    while True:
        params = {"limit": 1, **({"before": before} if before else {})}
        part = client.get(f"/api/sources/{source_id}", params=params).json()
        seen += [s["id"] for s in part["snapshots"]]
        ids = {s["id"] for s in part["snapshots"]}
        assert all(c["new_snapshot_id"] in ids for c in part["changes"])
        pages += 1
        if part["older"] is None:
            break
        before = part["older"]
    assert seen == [s["id"] for s in reversed(snaps)] and pages == len(snaps)
    assert client.get(f"/api/sources/{source_id}", params={"limit": 0}).status_code == 422


def test_change_page_shows_the_word_diff_claims_and_replay(site: Site, client: AppClient) -> None:
    change = site.change(site.story)
    doc = html_of(client.get(f"/changes/{change['id']}"))
    assert_inert(doc)
    for view in ("section.inline", "section.side-by-side"):
        (section,) = doc.cssselect(view)
        assert [d.text_content() for d in section.cssselect("del")] == ["253,000"]
        assert [i.text_content() for i in section.cssselect("ins")] == ["258,000"]
    impact = doc.cssselect("ul.impact li")
    assert any("changed" in li.text_content() and "253,000" in li.text_content() for li in impact)
    settings = load_settings(env=site.home.env)
    api = client.get(f"/api/changes/{change['id']}").json()
    assert api["change"] == site.cli("changes", "--url", site.story)[0]
    when = api["before"]["captured_at"].removesuffix("Z")
    from datetime import datetime

    expected = replay_link(settings, site.story, datetime.fromisoformat(when))
    assert doc.cssselect("tr.before a.replay")[0].get("href") == expected == api["before"]["links"]["replay"]
    gone = html_of(client.get(f"/changes/{site.change(site.other)['id']}"))
    (lost,) = gone.cssselect("ul.impact li")
    assert "lost-support" in lost.text_content() and "18,400" in lost.text_content()


def test_archived_payloads_are_shown_as_text_only(site: Site, client: AppClient) -> None:
    change = site.change(site.xss)
    for path in (f"/changes/{change['id']}", f"/changes/{change['id']}?all=1", "/changes", "/"):
        response = client.get(path)
        doc = html_of(response)
        assert_inert(doc)
        assert "<script" not in response.text.lower()
    text = html_of(client.get(f"/changes/{change['id']}")).cssselect("section.inline")[0].text_content()
    for payload in visible_payloads(site.canary):
        assert payload in text


def test_change_log_search_filters_and_pages(site: Site, client: AppClient) -> None:
    everything = client.get("/api/changes").json()["changes"]
    doc = html_of(client.get("/changes"))
    assert [a.text_content() for a in doc.cssselect("table.changes a[href^='/changes/']")] == [
        f"#{c['id']}" for c in everything
    ]
    gone = html_of(client.get("/changes", params={"kind": "gone", "since": "", "article": ""}))
    assert [a.text_content() for a in gone.cssselect("table.changes a[href^='/changes/']")] == [
        f"#{site.change(site.other)['id']}"
    ]
    first = html_of(client.get("/changes", params={"limit": "1"}))
    (older,) = first.cssselect("a[rel=next]")
    second = html_of(client.get(older.get("href")))
    shown = second.cssselect("table.changes a[href^='/changes/']")
    assert [a.text_content() for a in shown] == [f"#{everything[1]['id']}"]
    outlet = client.get("/api/changes", params={"outlet": "127.0.0.1"}).json()["changes"]
    assert len(outlet) == 4
    assert client.get("/api/changes", params={"outlet": "theguardian.com"}).json()["changes"] == []
    assert client.get("/api/changes", params={"until": "2000-01-01"}).json()["changes"] == []


def test_atom_feeds_parse(site: Site, client: AppClient) -> None:
    everything = client.get("/changes.atom")
    assert everything.headers["content-type"].startswith("application/atom+xml")
    feed = feedparser.parse(everything.content)
    assert not feed.bozo, feed.bozo_exception
    ids = [c["id"] for c in client.get("/api/changes").json()["changes"]]
    assert [e.id for e in feed.entries] == [f"urn:citewatch:change:{i}" for i in ids]
    per_article = feedparser.parse(client.get(f"/articles/{site.article_id}/changes.atom").content)
    cited = client.get("/api/changes", params={"article": str(site.article_id)}).json()["changes"]
    assert not per_article.bozo and len(cited) == 3 < len(ids)
    assert [e.id for e in per_article.entries] == [f"urn:citewatch:change:{c['id']}" for c in cited]
    assert f"article {site.article_id}" in per_article.feed.title
    assert client.get("/articles/999/changes.atom").status_code == 404


# -- errors ------------------------------------------------------------------------------------

HUGE = str(10**30)


@pytest.mark.parametrize(
    ("path", "params", "status", "words"),
    [
        ("/api/articles/999", None, 404, "no article"),
        ("/api/changes/999", None, 404, "no change 999"),
        ("/api/sources/999", None, 404, "no source 999"),
        ("/api/diff/1/999", None, 404, "no snapshot 999"),
        ("/api/jobs/nope", None, 404, "no job"),
        ("/api/nothing-here", None, 404, "Not Found"),
        ("/api/changes", {"since": "yesterday-ish"}, 400, "cannot read the time"),
        ("/api/changes", {"until": "2026-13-45"}, 400, "cannot read the time"),
        ("/api/changes", {"kind": "rumour"}, 400, "unknown kind 'rumour'"),
        ("/api/changes", {"article": "999"}, 404, "no article"),
        ("/api/changes", {"url": "http://not.tracked.example/"}, 404, "not a tracked source"),
        ("/api/changes", {"outlet": "nowhere.example"}, 404, "no outlet"),
        ("/api/changes", {"before": "999999"}, 404, "no change 999999"),
        ("/api/changes", {"before": HUGE}, 422, "before"),
        ("/api/changes", {"before": "-1"}, 422, "before"),
        ("/api/changes", {"limit": HUGE}, 422, "limit"),
        ("/api/changes", {"limit": "many"}, 422, "limit"),
        ("/api/articles/" + HUGE, None, 422, "article_id"),
        ("/api/articles/1", {"top": HUGE}, 422, "top"),
        ("/api/changes/" + HUGE, None, 422, "change_id"),
        ("/api/diff/" + HUGE + "/1", None, 422, "old_id"),
        ("/api/sources/0", None, 422, "source_id"),
        ("/api/snapshots", None, 422, "url"),
    ],
)
def test_bad_input_is_a_one_line_json_4xx(
    client: AppClient, path: str, params: Any, status: int, words: str
) -> None:
    response = client.get(path, params=params)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == ["error"] and words in body["error"] and "\n" not in body["error"]
    assert "Traceback" not in response.text


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/articles/999", 404),
        ("/articles/" + HUGE, 422),
        ("/changes?since=soon", 400),
        ("/changes?kind=rumour", 400),
        ("/changes?before=" + HUGE, 422),
        ("/sources/999", 404),
        ("/diff/1/" + HUGE, 422),
        ("/no/such/page", 404),
    ],
)
def test_bad_input_in_the_ui_is_an_html_error_page(client: AppClient, path: str, status: int) -> None:
    response = client.get(path)
    assert response.status_code == status
    doc = html_of(response)
    assert doc.cssselect("p.error") and "Traceback" not in response.text
    assert_inert(doc)


def test_an_unexpected_error_is_a_one_line_500(client: AppClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from archive.articles import storage as articles

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom\nwith a second line")

    monkeypatch.setattr(articles, "list_articles", broken)
    api = client.get("/api/articles")
    assert api.status_code == 500 and api.json() == {"error": "internal error: see the server's log"}
    assert api.headers["x-content-type-options"] == "nosniff"
    ui = client.get("/articles")
    assert ui.status_code == 500 and "boom" not in ui.text and "Traceback" not in ui.text


# -- security ----------------------------------------------------------------------------------


def test_every_response_carries_the_security_headers(site: Site, client: AppClient) -> None:
    paths = ["/", "/articles", f"/articles/{site.article_id}", "/changes", "/api/changes", "/changes.atom"]
    for path in [*paths, "/static/style.css", "/openapi.json", "/api/articles/999", "/nowhere"]:
        headers = client.get(path).headers
        policy = {part.strip() for part in headers["content-security-policy"].split(";")}
        assert {"default-src 'none'", "script-src 'none'", "frame-ancestors 'none'"} <= policy, path
        assert headers["x-content-type-options"] == "nosniff", path
        assert headers["referrer-policy"] == "no-referrer", path


def test_openapi_document_describes_the_api(client: AppClient) -> None:
    spec = client.get("/openapi.json").json()
    paths = set(spec["paths"])
    assert {
        "/api/config",
        "/api/status",
        "/api/articles",
        "/api/articles/{article_id}",
        "/api/snapshots",
        "/api/sources/{source_id}",
        "/api/changes",
        "/api/changes/{change_id}",
        "/api/diff/{old_id}/{new_id}",
        "/api/track",
        "/api/captures",
        "/api/jobs/{job_id}",
        "/changes.atom",
    } <= paths
    assert "/articles/{article_id}" not in paths, "HTML pages are not API"
    assert spec["paths"]["/api/captures"]["post"]["security"] == [{"HTTPBearer": []}]
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
    assert client.get("/docs").status_code == 404, "no interactive docs: they load scripts from a CDN"


def test_write_actions_need_the_token(client_for: Any) -> None:
    body = {"url": "http://127.0.0.1:9/x"}
    open_reads = client_for(CITEWATCH_API_TOKEN=TOKEN)
    for headers, status in [
        ({}, 401),
        ({"Authorization": "Bearer wrong-token"}, 401),
        ({"Authorization": f"Basic {TOKEN}"}, 401),
        ({"Cookie": f"citewatch_token={TOKEN}"}, 401),  # the cookie is for reading only
    ]:
        for path, payload in [("/api/captures", body), ("/api/articles", body), ("/api/track", body)]:
            refused = open_reads.post(path, json=payload, headers=headers)
            assert refused.status_code == status, (path, headers, refused.text)
            assert refused.headers["www-authenticate"] == "Bearer"
            assert "token" in refused.json()["error"]
    assert open_reads.get("/api/changes").status_code == 200, "reading is public by default"
    no_token = client_for()
    refused = no_token.post("/api/captures", json=body, headers=AUTH)
    assert refused.status_code == 403 and refused.json() == {
        "error": "write actions are off: set api_token on the server to allow them"
    }
    bad = open_reads.post("/api/captures", json={"url": "file:///etc/passwd"}, headers=AUTH)
    assert bad.status_code == 400 and "file" in bad.json()["error"]
    both = {"url": "http://a.example/", "text": "x"}
    assert open_reads.post("/api/articles", json=both, headers=AUTH).status_code == 400


def test_reading_needs_the_token_when_reads_are_not_public(site: Site, client_for: Any) -> None:
    private = client_for(CITEWATCH_API_TOKEN=TOKEN, CITEWATCH_API_READ_PUBLIC="false")
    for path in ("/api/changes", "/api/articles", "/openapi.json", "/changes.atom"):
        refused = private.get(path)
        assert refused.status_code == 401, path
        assert "token" in (
            refused.json()["error"] if "json" in refused.headers["content-type"] else refused.text
        )
        assert private.get(path, headers={"Authorization": "Bearer nope"}).status_code == 401
        assert private.get(path, headers=AUTH).status_code == 200, path
    page = private.get(f"/articles/{site.article_id}")
    assert page.status_code == 401 and html_of(page).cssselect("a[href^='/login']")
    assert private.get("/static/style.css").status_code == 200
    wrong = private.post("/login", data={"token": "nope", "next": "/articles"}, follow_redirects=False)
    assert wrong.status_code == 401 and "not the token" in wrong.text
    login = private.post("/login", data={"token": TOKEN, "next": "//evil.example/"}, follow_redirects=False)
    assert login.status_code == 303 and login.headers["location"] == "/"
    cookie = login.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert private.get(f"/articles/{site.article_id}").status_code == 200, "the cookie lets the UI read"
    tokenless = client_for(CITEWATCH_API_READ_PUBLIC="false")
    refused = tokenless.get("/api/changes", headers=AUTH)
    assert refused.status_code == 403 and "api_token is not set" in refused.json()["error"]


# -- jobs: captures and adds, each in a process of its own -----------------------------------------


def wait_for_job(client: AppClient, job: dict[str, Any], seconds: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        state = client.get(job["url"]).json()
        if state["state"] in ("done", "failed"):
            return state
        time.sleep(0.2)
    raise AssertionError(f"job {job['id']} still {state['state']} after {seconds} s")


def test_a_capture_job_captures(site: Site, client: AppClient) -> None:
    url = site.server.route("/fresh", ws.static(page(BODY, random.Random(9)).encode()))
    started = client.post("/api/captures", json={"url": url}, headers=AUTH)
    assert started.status_code == 202, started.text
    job = started.json()
    assert started.headers["location"] == job["url"] and job["state"] in ("queued", "running")
    done = wait_for_job(client, job)
    assert done["state"] == "done" and done["exit_code"] == 0, done
    (result,) = done["result"]
    assert result["url"] == url and result["outcome"] == "ok" and result["snapshot_id"]
    snaps = client.get("/api/snapshots", params={"url": url}).json()
    assert [s["id"] for s in snaps] == [result["snapshot_id"]] and snaps[0]["record_type"] == "response"
    stored = read_records([site.home.warc_dir / snaps[0]["warc_file"]])
    assert any(r.uri == url and r.offset == snaps[0]["offset"] for r in stored), "in this data folder's WARCs"
    assert site.server.requests_for("/fresh"), "the page was fetched"
    assert job["id"] in [j["id"] for j in client.get("/api/jobs").json()]
    failed = wait_for_job(client, client.post("/api/captures", json={"url": site.other}, headers=AUTH).json())
    assert failed["state"] == "failed" and failed["result"][0]["status"] == 404


def test_an_add_job_adds_pasted_text(site: Site, client: AppClient) -> None:
    url = site.server.route("/pasted-source", ws.static(page(BODY, random.Random(4)).encode()))
    text = f"# Pasted story\n\nProsecutors opened 253,000 criminal cases, [says the report]({url}).\n"
    job = client.post(
        "/api/articles", json={"text": text, "format": "markdown", "resolve": False}, headers=AUTH
    )
    assert job.status_code == 202, job.text
    done = wait_for_job(client, job.json())
    assert done["state"] == "done", done
    added = done["result"]["article"]["id"]
    view = client.get(f"/api/articles/{added}").json()
    assert view["article"]["title"] == "Pasted story"
    assert [c["url"] for c in view["citations"]] == [url]
    leftover = [
        p for p in Path(tempfile.gettempdir()).glob("citewatch-add-*/article.md") if url in p.read_text()
    ]
    assert leftover == [], "the pasted text's temporary file is removed"


def test_serve_on_a_taken_port_is_a_one_line_error(home: Home) -> None:
    from tests.replayserver import taken_port

    with taken_port() as port:
        proc = home.run("serve", "--port", str(port), timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"citewatch: error: cannot listen on 127.0.0.1:{port}: Address already in use; choose another with "
        "--port (or the serve_port setting)"
    ]


def test_config_hides_notification_secrets(client_for: Any) -> None:
    secret = "https://hooks.example/T0/B0/very-secret-token"
    client = client_for(
        CITEWATCH_NOTIFY_WEBHOOKS=secret, CITEWATCH_NOTIFY_APPRISE="mailto://me:hunter2@mail.example"
    )
    page = client.get("/api/config")
    assert page.status_code == 200
    assert "very-secret-token" not in page.text and "hunter2" not in page.text
    values = {r["name"]: r["value"] for r in page.json()}
    assert values["notify_webhooks"] == ["https://(hidden)"]
    assert values["notify_apprise"] == ["mailto://(hidden)"]


def test_huge_bodies_and_odd_ids_are_4xx(client: AppClient) -> None:
    huge = client.post(
        "/api/articles", content=b"x", headers={**AUTH, "Content-Length": "3000000"}
    )  # refused from its header, before any body is read
    assert huge.status_code == 413 and "body over" in huge.json()["error"]
    odd = client.get("/api/changes", params={"article": "²"})
    assert odd.status_code == 404 and odd.json()["error"].startswith("no article '²'")


def test_a_loopback_server_answers_only_to_loopback_names(client_for: Any) -> None:
    client = client_for(CITEWATCH_SERVE_ADDRESS="127.0.0.1")
    for host in ("127.0.0.1:8080", "localhost", "[::1]:8080"):
        assert client.get("/api/status", headers={"Host": host}).status_code == 200, host
    rebound = client.get("/api/status", headers={"Host": "attacker.example:8080"})
    assert rebound.status_code == 400 and "serve_hosts" in rebound.json()["error"]
    named = client_for(CITEWATCH_SERVE_ADDRESS="127.0.0.1", CITEWATCH_SERVE_HOSTS="archive.example")
    assert named.get("/api/status", headers={"Host": "archive.example"}).status_code == 200
    assert named.get("/api/status", headers={"Host": "localhost"}).status_code == 400
    anywhere = client_for(CITEWATCH_SERVE_ADDRESS="0.0.0.0")
    assert anywhere.get("/api/status", headers={"Host": "attacker.example"}).status_code == 200


# -- what a person sees: claim numbers and support, the article's history, resolution ----------


def _words(element: Any) -> str:
    return " ".join(element.text_content().split())


def test_article_page_numbers_claims_and_shows_what_happened_to_their_support(
    site: Site, client: AppClient
) -> None:
    view = client.get(f"/api/articles/{site.article_id}").json()
    doc = html_of(client.get(f"/articles/{site.article_id}"))
    assert_inert(doc)
    by_status = {}
    for claim in view["claims"]:
        li = doc.get_element_by_id(f"claim-{claim['id']}")  # anchors keep the global id
        assert li.get("value") == str(claim["number"])
        assert _words(li.cssselect("p.claim .number")[0]) == f"{claim['number']}."
        (badge,) = li.cssselect(".support .badge")
        by_status[claim["support"]["status"]] = (claim, badge)
        cited = [a.get("href") for a in li.cssselect("a[href^='#citation-']")]
        numbers = {c["number"]: c["id"] for c in view["citations"]}
        assert cited == [f"#citation-{numbers[n]}" for n in claim["citations"]]
        for href in cited:
            assert doc.get_element_by_id(href[1:]) is not None
    changed, badge = by_status["changed"]
    pairs = changed["support"]["changed"]
    assert _words(badge) == "changed " + ", ".join(f"{int(a):,} → {int(b):,}" for a, b in pairs)
    assert "253,000 → 258,000" in _words(badge)  # the number the story's source edited
    assert badge.get("href") == f"/changes/{site.change(site.story)['id']}"
    gone, badge = by_status["source-gone"]
    assert _words(badge) == f"source gone since {gone['support']['since'][:10]}"
    assert badge.get("href") == f"/changes/{site.change(site.other)['id']}"
    assert _words(by_status["unchanged"][1]) == "unchanged"
    # Citations are shown by their number within the article, and list the claims by number.
    for citation in view["citations"]:
        section = doc.get_element_by_id(f"citation-{citation['id']}")
        assert _words(section.cssselect("h3")[0]).startswith(f"[{citation['number']}] ")
        ids = {c["number"]: c["id"] for c in view["claims"]}
        links = section.cssselect("p.small a[href^='#claim-']")
        assert [a.get("href") for a in links] == [f"#claim-{ids[n]}" for n in citation["claims"]]


def test_resolution_report_and_evidence_read_as_words(site: Site, client: AppClient) -> None:
    view = client.get(f"/api/articles/{site.article_id}").json()
    doc = html_of(client.get(f"/articles/{site.article_id}"))
    (outlet,) = [c for c in view["citations"] if c["kind"] == "outlet"]
    res = outlet["resolution"]
    section = doc.get_element_by_id(f"citation-{outlet['id']}")
    (report,) = section.cssselect("dl.resolution")
    rows = {_words(dt): dd for dt, dd in zip(report.cssselect("dt"), report.cssselect("dd"), strict=True)}
    shown = _words(report)
    for raw in ("None", "[", "]", "in_window", "{", '"'):
        assert raw not in shown, (raw, shown)
    assert _words(rows["discovery"]) == (
        f"discovered {res['discovered']:,} pages, {res['in_window']:,} in the date window, "
        f"{res['fetches']:,} fetches in {res['seconds']:.1f} s"
    )
    assert [a.get("href") for a in rows["sitemaps"].cssselect("a")] == res["sitemaps"]
    assert _words(rows["feeds"]) == (", ".join(res["feeds"]) or "none found")
    assert _words(rows["named"]) == "in the article's list of sources"
    # Evidence names claims by their number, linking to them; snippets are shown as stored.
    ids = {c["number"]: c["id"] for c in view["claims"]}
    best = outlet["candidates"][0]
    items = section.cssselect("table.candidates tr")[1].cssselect("ul.evidence li")
    assert len(items) == len(best["evidence"]["matched"])
    for item, match in zip(items, best["evidence"]["matched"], strict=True):
        (link,) = item.cssselect("a[href^='#claim-']")
        assert (
            _words(link) == f"claim {match['claim']}" and link.get("href") == f"#claim-{ids[match['claim']]}"
        )
        assert "claim at" not in _words(item)
        if match.get("snippet"):
            assert item.cssselect(".snippet")[0].text_content() == match["snippet"]


HARBOUR_TITLE = "Port traffic hits a record"
HARBOUR = [
    "The port handled 48,200 containers in May, more than in any month before, {a} says in its figures.",
    "Dockworkers said 1,150 jobs were at risk after the merger of the two terminal operators, {b} warned.",
    "The harbour master, Ines Duarte, said the new cranes would be working by the end of the summer.",
]
HARBOUR_AGAIN = [
    HARBOUR[0],
    "Officials expect 52,000 containers in June as the new berth opens, the port authority adds.",
    HARBOUR[2],
]


def _harbour_page(paragraphs: list[str], links: dict[str, str]) -> bytes:
    anchors = {
        k: f"<a href='{url}'>the {name}</a>"
        for (k, url), name in zip(links.items(), ("port authority", "union"), strict=True)
    }
    body = "".join(f"<p>{p.format(**anchors)}</p>" for p in paragraphs)
    return ws.page_html(HARBOUR_TITLE, f"<article><h1>{HARBOUR_TITLE}</h1>{body}</article>")


@pytest.fixture(scope="module")
def harbour(site: Site) -> dict[str, Any]:
    """An article added by URL, then added again after its page dropped a sentence and a link:
    a claim no longer in it, and a source it cites no more."""
    links = {
        "a": site.server.route("/port-figures", ws.static(page(BODY, random.Random(11)).encode())),
        "b": site.server.route("/union-statement", ws.static(page(BODY[1:], random.Random(12)).encode())),
    }
    url = site.server.route("/harbour", ws.static(_harbour_page(HARBOUR, links)))
    first = site.cli("add", url)
    site.server.route("/harbour", ws.static(_harbour_page(HARBOUR_AGAIN, links)))
    again = site.cli("add", url)
    assert again["article"]["id"] == first["article"]["id"]
    return {"id": first["article"]["id"], "first": first, "again": again, "links": links}


def test_article_page_keeps_what_the_article_no_longer_cites_or_claims(
    site: Site, client: AppClient, harbour: dict[str, Any]
) -> None:
    view = client.get(f"/api/articles/{harbour['id']}").json()
    (former,) = view["formerly_cited"]
    assert former["url"] == harbour["links"]["b"]
    (retired,) = view["former_claims"]
    assert "1,150 jobs" in retired["text"]
    doc = html_of(client.get(f"/articles/{harbour['id']}"))
    assert_inert(doc)
    (table,) = doc.cssselect("table.formerly-cited")
    (row,) = table.cssselect("tbody tr")
    (link,) = row.cssselect("a.source")
    assert link.text_content() == former["url"] and link.get("href") == f"/sources/{former['source_id']}"
    assert row.cssselect(".badge")[0].text_content() == "live"
    li = doc.get_element_by_id(f"claim-{retired['id']}")  # older change pages link here
    assert "1,150 jobs" in li.text_content() and li.getparent().get("class") == "claims former"


def test_article_list_counts_what_the_article_has_now(client: AppClient, harbour: dict[str, Any]) -> None:
    """Not the claims and citations a re-read retired."""
    view = client.get(f"/api/articles/{harbour['id']}").json()
    assert view["former_claims"] and view["formerly_cited"]
    (listed,) = [a for a in client.get("/api/articles").json() if a["id"] == harbour["id"]]
    assert listed["claims"] == len(view["claims"]) and listed["citations"] == len(view["citations"])


def test_article_list_shows_each_articles_health(site: Site, client: AppClient) -> None:
    view = client.get(f"/api/articles/{site.article_id}").json()
    affected = sum(
        1 for c in view["claims"] if c["support"]["status"] in ("changed", "lost-support", "source-gone")
    )
    (listed,) = [a for a in client.get("/api/articles").json() if a["id"] == site.article_id]
    assert listed == site.cli("citations")[[a["id"] for a in site.cli("citations")].index(site.article_id)]
    health = listed["health"]
    cited = [s for c in view["citations"] for s in c["sources"]]
    assert health["sources"] == len({s["source_id"] for s in cited})
    assert health["gone"] == sum(1 for s in cited if s["state"] == "missing") == 1
    changed = {site.story, site.xss}  # their text changed; the other page is gone
    assert health["changed"] == len(changed)
    assert health["claims_affected"] == affected == 2
    doc = html_of(client.get("/articles"))
    (row,) = [
        r
        for r in doc.cssselect("table.articles tbody tr")
        if r.cssselect(f"a[href='/articles/{site.article_id}']")
    ]
    (cell,) = row.cssselect("td.health")
    assert "1 source gone" in _words(cell) and "2 sources changed" in _words(cell)
    assert f"{affected} of {listed['claims']} claims affected" in _words(cell)


# -- the write forms: logged in, CSRF-checked, post/redirect/get ----------------------------------


def logged_in_client(client_for: Any, **env: str) -> AppClient:
    """A browser-like client (it keeps cookies) that logged in with the token."""
    client = client_for(CITEWATCH_API_TOKEN=TOKEN, **env)
    login = client.post("/login", data={"token": TOKEN, "next": "/articles"})
    assert login.status_code == 303 and login.headers["location"] == "/articles"
    return client


def csrf_of(client: AppClient, path: str) -> str:
    tokens = {i.get("value") for i in html_of(client.get(path)).cssselect("form input[name=csrf]")}
    (token,) = tokens  # one token for every form of the page
    assert token
    return token


def outcome(client: AppClient, response: httpx.Response, where: str | None = None) -> tuple[str, str]:
    """A form's redirect (303) followed: the page it lands on, and the one-line outcome shown."""
    assert response.status_code == 303, response.text
    target = response.headers["location"]
    if where is not None:
        assert target == where
    doc = html_of(client.get(target))
    (flash,) = doc.cssselect("p.flash")
    text = _words(flash)
    assert "\n" not in text
    return target, ("error: " if "error" in flash.get("class", "") else "") + text


def test_login_page_says_when_the_token_is_needed(client_for: Any) -> None:
    public = html_of(client_for(CITEWATCH_API_TOKEN=TOKEN).get("/login"))
    assert "Anyone may read this citewatch" in _words(public) and public.cssselect("form.login")
    private = html_of(client_for(CITEWATCH_API_TOKEN=TOKEN, CITEWATCH_API_READ_PUBLIC="false").get("/login"))
    assert "Reading this citewatch needs its API token" in _words(private)
    tokenless = html_of(client_for().get("/login"))
    assert "no API token" in _words(tokenless) and not tokenless.cssselect("form.login")
    assert "Reading this citewatch needs" not in _words(public) + _words(tokenless)


def test_forms_show_only_when_logged_in(site: Site, client_for: Any) -> None:
    anonymous = client_for(CITEWATCH_API_TOKEN=TOKEN)
    for path in ("/articles", f"/articles/{site.article_id}"):
        doc = html_of(anonymous.get(path))
        assert not doc.cssselect("form[method=post] input[name=csrf]"), path
        assert doc.cssselect("a[href^='/login']"), path
    browser = logged_in_client(client_for)
    doc = html_of(browser.get("/articles"))
    assert doc.cssselect("form[action='/articles/add'] textarea[name=text]")
    assert doc.cssselect("form[action='/sources/track'] input[name=url]")
    assert_inert(doc)


def test_a_form_post_without_its_csrf_token_is_refused(site: Site, client_for: Any) -> None:
    url = site.server.route("/csrf-target", ws.static(page(BODY, random.Random(21)).encode()))
    browser = logged_in_client(client_for)
    token = csrf_of(browser, "/articles")
    tracked = browser.post("/sources/track", data={"url": url, "csrf": token})
    where, said = outcome(browser, tracked)
    source = where.removeprefix("/sources/")
    assert said.startswith(f"tracking {url}: next check")
    for fields in ({}, {"csrf": ""}, {"csrf": "0" * 64}, {"csrf": token[:-1] + "x"}):
        refused = browser.post(f"/sources/{source}/pause", data=fields)
        assert refused.status_code == 403, fields
        assert "CSRF token is missing or out of date" in _words(html_of(refused).cssselect("p.error")[0])
    assert not client_for().get(f"/api/sources/{source}").json()["source"]["paused"], "nothing was written"
    # A token belongs to its login: after logging in again the old one is refused.
    browser.post("/login", data={"token": TOKEN, "next": "/"})
    assert browser.post(f"/sources/{source}/pause", data={"csrf": token}).status_code == 403
    # Without the login cookie, a form post is a 401 pointing to the login page.
    stranger = client_for(CITEWATCH_API_TOKEN=TOKEN)
    refused = stranger.post(f"/sources/{source}/pause", data={"csrf": token})
    assert refused.status_code == 401 and html_of(refused).cssselect("a[href^='/login']")
    # Without api_token on the server, there are no writes at all.
    off = client_for().post(f"/sources/{source}/pause", data={"csrf": token})
    assert off.status_code == 403 and "write actions are off" in off.text


def test_track_pause_resume_check_and_untrack_a_source_from_its_page(site: Site, client_for: Any) -> None:
    url = site.server.route("/form-tracked", ws.static(page(BODY, random.Random(22)).encode()))
    browser = logged_in_client(client_for)
    where, said = outcome(
        browser,
        browser.post(
            "/sources/track", data={"url": url, "every": "6h", "csrf": csrf_of(browser, "/articles")}
        ),
    )
    source_id = int(where.removeprefix("/sources/"))
    api = lambda: client_for().get(f"/api/sources/{source_id}").json()["source"]  # noqa: E731
    assert api()["every_seconds"] == 6 * 3600 and not api()["paused"]

    def press(label: str) -> tuple[str, str]:
        doc = html_of(browser.get(f"/sources/{source_id}"))
        (form,) = [f for f in doc.cssselect("div.actions form") if _words(f) == label]
        fields = {i.get("name"): i.get("value") for i in form.cssselect("input")}
        return outcome(browser, browser.post(form.get("action"), data=fields), f"/sources/{source_id}")

    assert press("Pause")[1] == f"paused {url}: no checks until you resume it"
    assert api()["paused"] and api()["next_check_at"] is None
    assert press("Resume")[1].startswith(f"tracking {url}: next check")
    assert not api()["paused"] and api()["next_check_at"]
    _, said = press("Check now")
    assert said.startswith("1 source due now") and "no daemon is running" in said
    _, said = press("Untrack")
    assert said.startswith(f"no longer checked: {url}") and api()["untracked_at"]
    doc = html_of(browser.get(f"/sources/{source_id}"))
    assert "untracked" in _words(doc.cssselect("p.meta")[0])
    assert press("Track again")[1].startswith(f"tracking {url}: next check") and api()["untracked_at"] is None
    # A mistake is one line on the page the form was on.
    where, said = outcome(
        browser,
        browser.post("/sources/track", data={"url": "ftp://x/", "csrf": csrf_of(browser, "/articles")}),
    )
    assert where == "/articles" and said.startswith("error: ") and "ftp" in said


def test_add_an_article_from_the_form_then_check_and_remove_it(site: Site, client_for: Any) -> None:
    url = site.server.route("/form-source", ws.static(page(BODY, random.Random(23)).encode()))
    text = f"# Added from the form\n\nProsecutors opened 253,000 criminal cases, [says the report]({url}).\n"
    browser = logged_in_client(client_for)
    token = csrf_of(browser, "/articles")
    empty = browser.post("/articles/add", data={"url": "", "text": " ", "csrf": token})
    assert outcome(browser, empty, "/articles")[1] == "error: give the article's URL, or paste its text"
    started = browser.post("/articles/add", data={"text": text, "format": "markdown", "csrf": token})
    assert started.status_code == 303 and started.headers["location"].startswith("/jobs/")
    job = {
        "id": started.headers["location"].rsplit("/", 1)[1],
        "url": "/api/jobs/" + started.headers["location"].rsplit("/", 1)[1],
    }
    running = html_of(browser.get(started.headers["location"]))
    assert "pasted text" in _words(running.cssselect("h1")[0])
    done = wait_for_job(browser, job)
    assert done["state"] == "done", done
    article = done["result"]["article"]["id"]
    finished = html_of(browser.get(started.headers["location"]))
    assert not finished.cssselect("meta[http-equiv=refresh]")
    assert finished.cssselect(f"a[href='/articles/{article}']")
    assert "Added from the form" in [
        _words(a) for a in html_of(browser.get("/articles")).cssselect("table.articles a")
    ]
    page_path = f"/articles/{article}"
    checked = browser.post(f"{page_path}/check", data={"csrf": csrf_of(browser, page_path)})
    assert outcome(browser, checked, page_path)[1].startswith("1 source due now")
    # Removing takes a confirmation step: the page says what goes and what stays.
    confirm = html_of(browser.get(f"{page_path}/remove"))
    assert [_words(a) for a in confirm.cssselect("ul.sources a")] == [url]
    unconfirmed = browser.post(f"{page_path}/remove", data={"csrf": csrf_of(browser, page_path)})
    assert outcome(browser, unconfirmed)[1] == "error: confirm the removal on its page first"
    (form,) = confirm.cssselect("form.remove")
    fields = {i.get("name"): i.get("value") for i in form.cssselect("input")}
    _, said = outcome(browser, browser.post(form.get("action"), data=fields), "/articles")
    assert said.startswith(f"removed article {article} (Added from the form): 1 claim, 1 citation")
    assert browser.get(f"/api/articles/{article}").status_code == 404
    assert client_for().get("/api/snapshots", params={"url": url}).json(), "its captures stay"


def test_a_flash_message_is_shown_once_and_cannot_be_planted(site: Site, client_for: Any) -> None:
    import base64

    browser = logged_in_client(client_for)
    response = browser.post("/articles/add", data={"csrf": csrf_of(browser, "/articles")})
    carried = response.cookies["citewatch_flash"]
    assert outcome(browser, response)[1].startswith("error: ")
    assert not html_of(browser.get("/articles")).cssselect("p.flash"), "shown once"
    # Another page on this host can set cookies, but not sign them: neither a message made up
    # nor one signed for another login is shown.
    other = logged_in_client(client_for)
    made_up = base64.urlsafe_b64encode(b'[true, "your token expired: enter it at evil.example"]').decode()
    for value in (f"{made_up.rstrip('=')}.{'0' * 64}", carried):
        other.http.cookies.set("citewatch_flash", value, domain="127.0.0.1")
        assert not html_of(other.get("/articles")).cssselect("p.flash"), value
