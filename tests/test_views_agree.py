"""Every view of the same data says the same thing (issue 13).

Each test makes its data the way a user does (the CLI against local servers), then compares what
a view shows with what is stored, or with another view of the same rows: the outcome of a
capture, the failing sources, a change's word counts, a quoted claim, a front page's last check,
and which paragraphs of a diff appear. No expected value is written into a test by hand.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import lxml.html
import pytest
from sqlalchemy import select

from archive.db import connect
from archive.models import Source
from archive.schedule.status import STATES
from tests import webserver as ws
from tests.conftest import Home
from tests.outletweb import OutletWeb
from tests.test_changes import BODY, page
from tests.test_citations import build_web
from tests.test_web import app_clients

QUOTE_MARKS = '"\u201c\u201d\u201e\u00ab\u00bb'  # what a reader counts as double quotation marks


@pytest.fixture
def web(home: Home, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """``web()``: an in-process client of the web UI and API over ``home``'s data."""
    with app_clients(monkeypatch, home.env) as make:
        yield make


def _json(home: Home, *args: str, env: dict[str, str] | None = None) -> Any:
    proc = home.run(*args, "--json", env=env)
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads(proc.stdout)


def _query(home: Home, stmt: Any) -> list[Any]:
    sessions = connect(home.database_url())
    try:
        with sessions() as session:
            return list(session.execute(stmt))
    finally:
        sessions.kw["bind"].dispose()


def _source_id(home: Home, url: str) -> int:
    return int(_query(home, select(Source.id).where(Source.url == url))[0][0])


def _table_rows(text: str, header: str) -> list[dict[str, str]]:
    """The rows of a rich table printed wide enough not to wrap, by column name."""
    lines = [line for line in text.splitlines() if line.startswith(("┃", "│"))]
    names = [c.strip() for c in lines[0].strip("┃").split("┃")]
    assert header in names, names
    return [
        dict(zip(names, (c.strip() for c in line.strip("│").split("│")), strict=True)) for line in lines[1:]
    ]


# -- 1. one outcome vocabulary ---------------------------------------------------------------------


def test_snapshot_listings_show_the_outcome_capture_reported(
    home: Home, server: ws.TestServer, web: Any
) -> None:
    home.env["CITEWATCH_RETRIES"] = "0"
    urls = [
        server.route("/fine", ws.static(page(BODY).encode())),
        server.route("/missing", ws.static(ws.page_html("Not here", "<p>No such page.</p>"), status=404)),
        server.route("/broken", ws.static(b"busy", "text/plain", status=503)),
    ]
    reported = {r["url"]: r for r in _json(home, "capture", *urls)}
    assert len({r["outcome"] for r in reported.values()}) == 3  # a success and two error outcomes
    client = web()
    for url, result in reported.items():
        rows = {r["id"]: r for r in _json(home, "snapshots", url)}
        assert rows[result["snapshot_id"]]["outcome"] == result["outcome"], url
        wide = home.run("snapshots", url, env={"COLUMNS": "300"}, check=True).stdout
        shown = {r["id"]: r for r in _table_rows(wide, "outcome")}
        assert shown[str(result["snapshot_id"])]["outcome"] == result["outcome"], url
        api = {r["id"]: r for r in client.get("/api/snapshots", params={"url": url}).json()}
        assert api[result["snapshot_id"]]["outcome"] == result["outcome"], url
        source_id = _source_id(home, url)
        timeline = {s["id"]: s for s in client.get(f"/api/sources/{source_id}").json()["snapshots"]}
        assert timeline[result["snapshot_id"]]["outcome"] == result["outcome"], url
        doc = lxml.html.fromstring(client.get(f"/sources/{source_id}").text)
        cells = doc.xpath(f"//tr[@id='snapshot-{result['snapshot_id']}']/td")
        assert cells[3].text.strip() == result["outcome"], url


# -- 2. failing: one definition for the count and the list -------------------------------------------


def test_status_lists_the_failing_sources_it_counts(home: Home, server: ws.TestServer) -> None:
    home.env["CITEWATCH_RETRIES"] = "0"
    tracked = server.route("/tracked", ws.static(page(BODY).encode()))
    home.run("track", tracked, check=True)
    home.run("capture", tracked, check=True)
    server.route("/tracked", ws.static(b"busy", "text/plain", status=503))
    home.run("capture", tracked)  # a first failure after content: a failed check, not yet failing
    server.route("/down", ws.static(b"busy", "text/plain", status=503))
    home.run("capture", server.url("/down", host="localhost"))  # failing, but not tracked: no checks

    failing = [url for (url,) in _query(home, select(Source.url).where(Source.state == "failing"))]
    assert failing, "the data has a failing source"
    data = _json(home, "status")
    hosts = data["failing_hosts"]
    assert data["sources"]["by_state"].get("failing", 0) == len(failing)
    assert sum(h["sources"] for h in hosts) == len(failing)
    assert sorted(h["host"] for h in hosts) == sorted({urlsplit(u).hostname for u in failing})

    text = home.run("status", check=True).stdout
    counted = [line.strip() for line in text.splitlines() if re.match(r"\s+\d+ failing \(", line)]
    assert len(counted) == 1 and counted[0].startswith(f"{len(failing)} failing ({STATES['failing']}")
    listed = [line.split()[1] for line in text.splitlines() if line.startswith("failing: ")]
    assert sorted(listed) == sorted(h["host"] for h in hosts)


# -- 3. a change's header counts are its diff's ------------------------------------------------------


def test_a_change_header_counts_the_words_its_diff_shows(home: Home, server: ws.TestServer, web: Any) -> None:
    url = server.route("/story", ws.static(page(BODY).encode()))
    home.run("track", url, check=True)
    home.run("capture", url, check=True)
    server.route("/story", ws.static(b"", status=404))  # the page's text goes away
    home.run("capture", url)
    for change in _json(home, "changes"):
        ids = str(change["old_snapshot_id"]), str(change["new_snapshot_id"])
        diff = _json(home, "diff", *ids)
        assert diff["words_removed"] > 0  # the text that went away
        counts = f"+{diff['words_added']} / \u2212{diff['words_removed']} words"
        doc = lxml.html.fromstring(web().get(f"/changes/{change['id']}").text)
        header, in_diff = doc.xpath("//p[@class='meta']")[:2]
        assert counts in header.text_content(), header.text_content()
        assert f"+{diff['words_added']} \u2212{diff['words_removed']}" in in_diff.text_content()
        plain = home.run("diff", *ids, check=True).stdout
        assert f"+{diff['words_added']} -{diff['words_removed']} words" in plain.splitlines()


# -- 4. a quoted sentence is quoted once -------------------------------------------------------------


def test_a_quoted_claim_shows_its_quotation_marks_once(home: Home, server: ws.TestServer, web: Any) -> None:
    quote = (
        "\u201cLet\u2019s be honest. The problem is big and it keeps growing every single month,\u201d said "
        "Olha Reshetylova, the ombudsperson."
    )
    url = server.route("/story", ws.static(page([*BODY, quote]).encode()))
    article = home.path.parent / "article.md"
    article.write_text(f"# Desertion\n\n{quote[:-1]}, [in an interview]({url}).\n", encoding="utf-8")
    home.run("add", str(article), check=True)
    server.route("/story", ws.static(page(BODY, random.Random(3)).encode()))  # the quote is gone
    home.run("capture", url)
    (change,) = [c for c in _json(home, "changes") if c["claims"]]
    client = web()
    doc = lxml.html.fromstring(client.get(f"/changes/{change['id']}").text)
    items = doc.xpath("//ul[@class='impact']/li")
    assert len(items) == len(change["claims"])
    for item, claim in zip(items, change["claims"], strict=True):
        stored = sum(claim["text"].count(mark) for mark in QUOTE_MARKS)
        assert stored, "the claim carries its own quotation marks"
        assert claim["text"] in item.text_content()
        # A <q> element adds an opening and a closing mark of its own when it is shown.
        shown = sum(item.text_content().count(mark) for mark in QUOTE_MARKS) + 2 * len(item.xpath(".//q"))
        assert shown == stored, lxml.html.tostring(item, encoding="unicode")


# -- 5. a front page shows its last check ------------------------------------------------------------

CITING = """Desertion cases soar
By isabelle // October 31, 2025

Since the full-scale invasion began in 2022, prosecutors have opened more than 253,000 criminal cases \
for unauthorized abandonment of units and desertion, according to the Prosecutor General's Office.

Sources for this article include: KyivIndependent.com
"""


def test_a_front_page_shows_its_last_check(home: Home, web: Any) -> None:
    home.env["CITEWATCH_AUTO_BROWSER"] = "0"
    article = home.path.parent / "article.txt"
    article.write_text(CITING, encoding="utf-8")
    with OutletWeb() as outlets:
        build_web(outlets)
        proc = home.run("add", str(article), "--json", env=outlets.env(), timeout=240)
        assert proc.returncode == 0, proc.stderr
        added = json.loads(proc.stdout)
        (front,) = [c["front_page"]["url"] for c in added["citations"] if c.get("front_page")]
        for _ in range(2):  # three checks in all
            home.run("capture", front, env=outlets.env())
    article_id = added["article"]["id"]
    ((source,),) = _query(home, select(Source).where(Source.url == front))
    attempts = _json(home, "snapshots", front)
    newest = max(
        (a for a in attempts if not a["url"].startswith("urn:")), key=lambda a: (a["captured_at"], a["id"])
    )
    assert source.last_checked_at is not None and len(attempts) >= 3, "the front page was checked"

    view = _json(home, "citations", str(article_id))
    (capture,) = [c["front_page"]["capture"] for c in view["citations"] if c.get("front_page")]
    assert (capture["snapshot_id"], capture["outcome"]) == (newest["id"], newest["outcome"])

    client = web()
    doc = lxml.html.fromstring(client.get(f"/articles/{article_id}").text)
    (row,) = doc.xpath(f"//tr[td/a[@class='source' and @href='/sources/{source.id}']]")
    badge, last = row.xpath("td")[1].text_content().strip(), row.xpath("td")[2].text_content()
    assert badge != "not checked", f"checked at {source.last_checked_at}, shown as {badge!r}"
    assert newest["outcome"] in last and newest["captured_at"][:19].replace("T", " ") in last
    shown = lxml.html.fromstring(client.get(f"/sources/{source.id}").text)
    assert shown.xpath("//p/span[contains(@class, 'badge')]")[0].text == badge

    # citewatch status counts it as checked too: unchecked are the sources never analysed.
    never = _query(home, select(Source.id).where(Source.state.is_(None), Source.analysed_through.is_(None)))
    assert _json(home, "status")["sources"]["by_state"].get("unchecked", 0) == len(never)


# -- 6. a diff shows the changed paragraphs unless --all, in every output ------------------------------


def test_every_diff_output_shows_the_changed_paragraphs_only_unless_all(
    home: Home, server: ws.TestServer
) -> None:
    url = server.route("/story", ws.static(page(BODY).encode()))
    home.run("capture", url, check=True)
    edited = [BODY[0].replace("253,000", "258,000"), *BODY[1:]]
    server.route("/story", ws.static(page(edited, random.Random(2)).encode()))
    home.run("capture", url, check=True)
    (change,) = _json(home, "changes")
    ids = str(change["old_snapshot_id"]), str(change["new_snapshot_id"])

    every = _json(home, "diff", *ids, "--all")["paragraphs"]
    changed = [p for p in every if p["changed"]]
    same = ["".join(x["text"] for x in p["pieces"]) for p in every if not p["changed"]]
    assert changed and same, "the edit leaves paragraphs unchanged"
    assert _json(home, "diff", *ids)["paragraphs"] == changed

    def paragraphs_in(html: str) -> list[str]:
        return [p.text_content() for p in lxml.html.fromstring(html).xpath("//body/p")]

    assert len(paragraphs_in(home.run("diff", *ids, "--html", "--all", check=True).stdout)) == len(every)
    html = home.run("diff", *ids, "--html", check=True).stdout
    assert len(paragraphs_in(html)) == len(changed)
    assert not any(s in html for s in same)

    for env in ({}, {"FORCE_COLOR": "1"}):  # piped ([-...-]{+...+}), and as a terminal shows it
        plain = re.sub(r"\x1b\[[0-9;]*m", "", home.run("diff", *ids, env=env, check=True).stdout)
        full = re.sub(r"\x1b\[[0-9;]*m", "", home.run("diff", *ids, "--all", env=env, check=True).stdout)
        assert not any(s in plain for s in same) and all(s in full for s in same), env
    # The terminal shows each changed paragraph's pieces in order, styled instead of marked.
    assert all("".join(x["text"] for x in p["pieces"]) in plain for p in changed)
