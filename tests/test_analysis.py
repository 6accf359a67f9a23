"""Change detection end to end: capture a local page, change it, capture again, and read the
change log, the diff and the claim impact through the command line (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import feedparser
import pytest
from sqlalchemy import select

from archive.db import connect
from archive.models import Change, Citation, ExtractedText, Snapshot, Source
from tests import webserver as ws
from tests.test_changes import BODY, page

EXAMPLE = Path(__file__).parent / "data" / "citing-article.txt"


@pytest.fixture
def db_home(home, request):  # type: ignore[no-untyped-def]
    """A data folder on SQLite or PostgreSQL, with soft-404 probes on."""
    if getattr(request, "param", "sqlite") == "postgresql":
        home.env["CITEWATCH_DATABASE_URL"] = request.getfixturevalue("pg_url")
    home.env["CITEWATCH_PROBE_SOFT_404"] = "1"
    return home


BOTH = pytest.mark.parametrize(
    "db_home", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)


def capture(home, url: str) -> dict:  # type: ignore[no-untyped-def]
    proc = home.run("capture", "--json", url)
    assert "Traceback" not in proc.stderr, proc.stderr
    return json.loads(proc.stdout)[0]


def changes(home, *args: str) -> list[dict]:  # type: ignore[no-untyped-def]
    proc = home.run("changes", "--json", *args)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@BOTH
def test_an_edit_is_one_change_with_its_diff_and_an_unchanged_recapture_none(db_home, server) -> None:
    url = server.route("/story", ws.static(page(BODY, random.Random(1)).encode()))
    first = capture(db_home, url)
    assert first["analysis"]["state"] == "content" and first["analysis"]["change"] is None
    # Reloaded with new ads, timestamps and counters: noise, no change.
    server.route("/story", ws.static(page(BODY, random.Random(2)).encode()))
    assert capture(db_home, url)["analysis"]["change"] is None
    edited = [BODY[0].replace("253,000", "258,000"), *BODY[1:]]
    server.route("/story", ws.static(page(edited, random.Random(3)).encode()))
    change = capture(db_home, url)["analysis"]["change"]
    assert change["kind"] == "content"
    assert change["words_added"] == 1 and change["words_removed"] == 1

    listed = changes(db_home)
    assert [c["id"] for c in listed] == [change["id"]]
    assert listed[0]["url"] == url and listed[0]["summary"] == change["summary"]

    proc = db_home.run("diff", "--json", str(change["old_snapshot_id"]), str(change["new_snapshot_id"]))
    assert proc.returncode == 0, proc.stderr
    diff = json.loads(proc.stdout)
    pieces = [p for para in diff["paragraphs"] for p in para["pieces"] if p["op"] != "equal"]
    assert pieces == [{"op": "delete", "text": "253,000"}, {"op": "insert", "text": "258,000"}]
    plain = db_home.run("diff", str(change["old_snapshot_id"]), str(change["new_snapshot_id"])).stdout
    assert "[-253,000-]{+258,000+}" in plain

    # The same page again: a revisit record, no change, and no second extraction of its payload.
    assert capture(db_home, url)["analysis"]["change"] is None
    sessions = connect(db_home.database_url())
    with sessions() as session:
        kinds = [r for (r,) in session.execute(select(Snapshot.record_type).where(Snapshot.url == url))]
        assert kinds[-1] == "revisit"
        last = session.scalars(
            select(Snapshot).where(Snapshot.url == url).order_by(Snapshot.id.desc())
        ).first()
        stored = session.get(ExtractedText, last.payload_digest)
        assert stored is not None and stored.extracted_at < last.captured_at, "extracted once, before"
        assert stored.fingerprint and stored.words and stored.title == "Desertion cases soar"
    sessions.kw["bind"].dispose()


def test_a_correction_in_an_aside_the_main_text_leaves_out_is_a_correction(home, server) -> None:  # type: ignore[no-untyped-def]
    note = "Correction: An earlier version of this story misstated the number of cases opened."
    url = server.route("/story", ws.static(page(BODY, random.Random(1)).encode()))
    assert capture(home, url)["analysis"]["change"] is None
    corrected = page(BODY, random.Random(2)).replace(
        "<footer>", f"<aside class='note'><p>{note}</p></aside><footer>"
    )
    server.route("/story", ws.static(corrected.encode()))
    change = capture(home, url)["analysis"]["change"]
    assert change is not None and change["kind"] == "correction", change
    assert change["details"]["compared"] == "article body" and change["details"]["corrections"] == [note]
    # The diff shows what that change compared: the note, added.
    proc = home.run("diff", "--json", str(change["old_snapshot_id"]), str(change["new_snapshot_id"]))
    assert proc.returncode == 0, proc.stderr
    added = [
        p["text"]
        for para in json.loads(proc.stdout)["paragraphs"]
        for p in para["pieces"]
        if p["op"] == "insert"
    ]
    assert note in " ".join(added)


@BOTH
def test_gone_back_and_a_soft_404_against_the_hosts_probe(db_home, server) -> None:
    soft = ws.page_html(
        "Example News", "<div class='c'><h1>Page not here</h1><p>" + "We looked for it. " * 12 + "</p></div>"
    )
    server.route("*", ws.static(soft))  # every unknown path: a 200 "not found" page
    story = server.route("/story", ws.static(page(BODY).encode()))
    assert capture(db_home, story)["analysis"]["state"] == "content"
    probes = json.loads(db_home.run("snapshots", "--json", _probe(story)).stdout)
    assert [p["status"] for p in probes] == [200], "the host's made-up URL was fetched once"

    server.route("/story", ws.static(soft))
    gone = capture(db_home, story)["analysis"]
    assert gone["change"]["kind"] == "gone"
    assert gone["reason"].startswith("soft 404")
    server.route("/story", ws.static(b"", status=404))
    assert capture(db_home, story)["analysis"]["change"]["summary"].startswith("soft 404")  # -> HTTP 404
    server.route("/story", ws.static(page(BODY, random.Random(5)).encode()))
    back = capture(db_home, story)["analysis"]["change"]
    assert back["kind"] == "back" and back["summary"] == "back: HTTP 200"
    assert len(json.loads(db_home.run("snapshots", "--json", _probe(story)).stdout)) == 1, "probe cached"

    kinds = [c["kind"] for c in changes(db_home)]
    assert kinds == ["back", "status", "gone"]
    assert [c["kind"] for c in changes(db_home, "--kind", "gone")] == ["gone"]
    assert len(changes(db_home, "--kind", "status")) == 3  # status includes gone and back


def _probe(url: str) -> str:
    from archive.urls import probe_url

    return probe_url(url)


def test_changes_pages_newest_first_filters_and_writes_atom(home, server) -> None:
    urls = [server.route(f"/s{i}", ws.static(page(BODY, random.Random(i)).encode())) for i in range(3)]
    for url in urls:
        capture(home, url)
    for i, url in enumerate(urls):
        server.route(f"/s{i}", ws.static(page([*BODY, f"A new paragraph with {i + 10} cases."]).encode()))
        capture(home, url)
    listed = changes(home)
    assert [c["url"] for c in listed] == urls[::-1]  # newest first
    first = changes(home, "--limit", "2")
    second = changes(home, "--limit", "2", "--before", str(first[-1]["id"]))
    assert [c["id"] for c in first + second] == [c["id"] for c in listed]
    assert [c["url"] for c in changes(home, "--url", urls[1])] == [urls[1]]
    assert changes(home, "--since", "1d") == listed
    assert changes(home, "--until", "2000-01-01") == []

    feed = feedparser.parse(home.run("changes", "--atom").stdout)
    assert not feed.bozo, feed.bozo_exception
    assert [e.title.split(": ", 1)[1] for e in feed.entries] == urls[::-1]
    # Each entry links to the change's page in the web UI (public_url, by default serve's address).
    assert [e.link for e in feed.entries] == [f"http://127.0.0.1:8080/changes/{c['id']}" for c in listed]
    assert all(e.id.startswith("urn:citewatch:change:") for e in feed.entries)

    bad = home.run("changes", "--since", "last tuesday")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "cannot read the time" in bad.stderr
    missing = home.run("changes", "--before", "999999")
    assert missing.returncode == 2 and "no change 999999" in missing.stderr
    assert home.run("diff", "1", "999999").returncode == 2


def test_html_diff_escapes_archived_markup(home, server, tmp_path) -> None:
    url = server.route("/x", ws.static(page(BODY).encode()))
    capture(home, url)
    hostile = "<script>alert(1)</script> The office said <b onclick=x()>4,000</b> more were pending."
    server.route("/x", ws.static(page([*BODY, hostile.replace("<", "&lt;").replace(">", "&gt;")]).encode()))
    change = capture(home, url)["analysis"]["change"]
    out = tmp_path / "diff.html"
    proc = home.run(
        "diff", "--html", "-o", str(out), str(change["old_snapshot_id"]), str(change["new_snapshot_id"])
    )
    assert proc.returncode == 0, proc.stderr
    html = out.read_text()
    assert "<script>" not in html.split("</style>", 1)[1]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<ins>" in html


def test_editing_a_number_in_a_source_marks_exactly_the_claims_that_used_it(home, server) -> None:
    """The example article, a local source page carrying its numbers, one number edited."""
    from archive.articles import ingest
    from archive.articles.storage import claim_numbers, store_article
    from archive.clock import utcnow

    source_text = [
        "Since 2022 prosecutors have opened more than 253,000 criminal cases for desertion and "
        "unauthorized abandonment of units, according to official data.",
        "Of these, 202,997 cases concern unauthorized abandonment, the Prosecutor General's Office said.",
        "Officials said the trend had been visible for some time and that the figures would be revised.",
    ]
    url = server.route("/report", ws.static(page(source_text).encode()))
    assert home.run("init").returncode == 0
    sessions = connect(home.database_url())
    with sessions() as session:
        doc = ingest.from_text(EXAMPLE.read_text(encoding="utf-8"), input_kind="text")
        article, _ = store_article(session, doc, {}, utcnow(), resolve=False)
        sid = session.execute(select(Source.id).where(Source.url == url)).scalar()
        if sid is None:
            session.add(Source(url=url, surt=url, created_at=utcnow(), paused=False))
            session.flush()
            sid = session.execute(select(Source.id).where(Source.url == url)).scalar()
        citation = Citation(kind="link", url=url, source_id=sid, resolution={"status": "direct"})
        article.citations.append(citation)
        citation.claims = list(article.claims)
        session.commit()
        users = {c.id for c in article.claims if "253000" in (c.terms.get("numbers") or [])}
        numbers = claim_numbers(article)  # what users see: claims counted within their article
        article_id = article.id
    assert users, "the example article has claims with 253,000"

    capture(home, url)
    server.route(
        "/report", ws.static(page([source_text[0].replace("253,000", "260,000"), *source_text[1:]]).encode())
    )
    change = capture(home, url)["analysis"]["change"]
    assert change["kind"] == "content"
    touched = {c["claim_id"] for c in change["claims"] if c["status"] != "unaffected"}
    assert touched == users
    assert all(c["changed"] == [["253000", "260000"]] for c in change["claims"] if c["claim_id"] in users)
    assert "claim '" in change["summary"] and "253000 -> 260000" in change["summary"]
    assert [c["id"] for c in changes(home, "--article", str(article_id))] == [change["id"]]
    shown = home.run("diff", str(change["old_snapshot_id"]), str(change["new_snapshot_id"])).stdout
    shown_numbers = {int(line.split()[1]) for line in shown.splitlines() if line.startswith("claim ")}
    assert shown_numbers == {numbers[i] for i in users}
    assert {c["claim_id"]: c["claim_number"] for c in change["claims"]} == numbers
    with sessions() as session:
        stored = session.get(Change, change["id"])
        assert stored is not None and stored.details["claims"] == change["claims"]
    sessions.kw["bind"].dispose()


def test_deferred_analysis_compares_every_capture_in_order(home, server) -> None:
    home.env["CITEWATCH_ANALYSE_CAPTURES"] = "0"
    url = server.route("/story", ws.static(page(BODY).encode()))
    versions = [BODY, [*BODY, "A first new paragraph with 12 cases."], [*BODY, "A second one with 14 cases."]]
    for version in versions:
        server.route("/story", ws.static(page(version, random.Random(len(version))).encode()))
        assert capture(home, url)["analysis"] is None
    assert changes(home) == []
    proc = home.run("analyse", "--json")
    assert proc.returncode == 0, proc.stderr
    (found,) = json.loads(proc.stdout)
    assert [c["summary"].split(",")[0] for c in found["changes"]] == [
        "1 sentence added",
        "1 sentence changed",
    ]
    assert [c["id"] for c in changes(home)] == [c["id"] for c in found["changes"]][::-1]
    assert json.loads(home.run("analyse", "--json").stdout) == []  # nothing left to do


def test_a_server_error_retried_within_one_capture_is_not_gone_and_back(home, server) -> None:
    url = server.route("/story", ws.static(page(BODY).encode()))
    capture(home, url)
    calls = []

    def flaky(h):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 1:
            h.send_body(503, b"busy", "text/plain")
        else:
            h.send_body(200, page(BODY, random.Random(9)).encode())

    server.route("/story", flaky)
    result = capture(home, url)
    assert len(calls) == 2, "retried once"
    assert result["analysis"]["changes"] == [] and result["analysis"]["state"] == "content"


@pytest.mark.browser
@pytest.mark.slow
def test_far_less_text_over_http_is_captured_again_in_the_browser(home, server) -> None:
    full = [f"{p} (section {i})" for i, p in enumerate(BODY * 2)]
    url = server.route("/story", ws.static(page(full).encode()))
    capture(home, url)
    script = (
        "<script>fetch('/rest.json').then(r => r.json()).then(ps => {"
        " const a = document.querySelector('article');"
        " for (const t of ps) { const p = document.createElement('p'); p.textContent = t; a.appendChild(p); }"
        " });</script>"
    )
    server.route("/rest.json", ws.static(json.dumps(full[1:]).encode(), "application/json"))
    server.route(
        "/story", ws.static(page(full[:1], random.Random(4)).replace("</body>", script + "</body>").encode())
    )
    proc = home.run("capture", "--json", url)
    assert proc.returncode == 0, proc.stderr
    assert "capturing " + url + " again in the browser" in proc.stderr
    result = json.loads(proc.stdout)[0]
    assert result["via"] == "browser"
    assert result["analysis"]["state"] == "content" and result["analysis"]["changes"] == []
    sessions = connect(home.database_url())
    with sessions() as session:
        outcomes = [
            o
            for (o,) in session.execute(
                select(Snapshot.outcome).where(Snapshot.url == url, Snapshot.via == "http")
            )
        ]
    sessions.kw["bind"].dispose()
    assert outcomes[-1] == "thin-text", outcomes


def test_a_source_failing_twice_in_a_row_is_gone_once(home, server) -> None:
    home.env["CITEWATCH_RETRIES"] = "0"
    url = server.route("/story", ws.static(page(BODY).encode()))
    capture(home, url)
    server.route("/story", ws.static(b"down", "text/plain", status=503))
    first = capture(home, url)["analysis"]
    assert first["state"] == "failing" and first["changes"] == []
    second = capture(home, url)["analysis"]
    assert [c["kind"] for c in second["changes"]] == ["gone"]
    assert second["changes"][0]["claims"] == []
    server.route("/story", ws.static(page(BODY, random.Random(3)).encode()))
    assert [c["kind"] for c in capture(home, url)["analysis"]["changes"]] == ["back"]


def test_analysis_in_small_chunks_finds_what_one_chunk_finds(home, server) -> None:
    from archive.changes.analysis import Analyser

    home.env["CITEWATCH_ANALYSE_CAPTURES"] = "0"
    urls = [server.route(f"/c{i}", ws.static(page(BODY, random.Random(i)).encode())) for i in range(5)]
    for url in urls:
        capture(home, url)
    for i, _url in enumerate(urls):
        server.route(
            f"/c{i}", ws.static(page([*BODY, f"Now {i + 100} more cases."], random.Random(i)).encode())
        )
    for url in urls:
        capture(home, url)
    sessions = connect(home.database_url())
    with sessions() as session:
        analyser = Analyser(session, home.warc_dir)
        analyser.commit_every = 2  # chunks of 2, 2 and 1
        found = analyser.analyse()
        assert sorted(f.url for f in found) == sorted(urls)
        assert all([c.kind for c in f.changes] == ["content"] for f in found)
        assert all(f.change is not None and f.change.id for f in found)
        assert analyser.extracted == 10  # each payload once
    sessions.kw["bind"].dispose()
    assert len(changes(home)) == 5


def test_bad_ids_and_untracked_urls_are_usage_errors(home, server) -> None:
    url = server.route("/x", ws.static(page(BODY).encode()))
    capture(home, url)
    for args in (
        ("changes", "--before", "99999999999999999999"),
        ("diff", "99999999999999999999", "1"),
        ("changes", "--since", "99999999999w"),
        ("changes", "--since", "0001-01-01T00:00+01:00"),
        ("changes", "--since", ""),
        ("analyse", "https://not.tracked.example/"),
    ):
        proc = home.run(*args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert "Traceback" not in proc.stderr and "rror" in proc.stderr.splitlines()[-1], proc.stderr
    missing = home.run("diff", "1", "999999")
    assert missing.returncode == 2 and "no snapshot 999999" in missing.stderr


def test_a_new_layout_diffs_empty_and_a_page_in_its_own_charset_reads_right(home, server) -> None:
    url = server.route("/story", ws.static(page(BODY).encode()))
    first = capture(home, url)["analysis"]["snapshot_id"]
    server.route("/story", ws.static(page(BODY, random.Random(8), layout="divs").encode()))
    again = capture(home, url)["analysis"]
    assert again["changes"] == []
    shown = json.loads(home.run("diff", "--json", str(first), str(again["snapshot_id"]), check=True).stdout)
    assert not shown["changed"], "the diff compares what change detection compares"

    cyrillic = [
        "Прокуратура открыла 253 000 уголовных дел за дезертирство с начала войны, сообщило ведомство."  # noqa: RUF001
    ] * 3
    body = page(cyrillic, title="Дела").replace("charset='utf-8'", "charset='windows-1251'").encode("cp1251")
    other = server.route("/ru", ws.static(body, "text/html"))  # the charset only in the page
    capture(home, other)
    sessions = connect(home.database_url())
    with sessions() as session:
        digest = session.scalars(select(Snapshot.payload_digest).where(Snapshot.url == other)).one()
        stored = session.get(ExtractedText, digest)
        assert stored is not None and "уголовных дел" in stored.text
    sessions.kw["bind"].dispose()


def test_a_diff_is_a_read_it_writes_nothing(home, server) -> None:  # type: ignore[no-untyped-def]
    """`citewatch diff` (and the web UI's diff and change pages, through the same load_diff) of
    two captures never analysed extracts their texts for the view and stores none of them."""
    url = server.route("/story", ws.static(page(BODY, random.Random(1)).encode()))
    off = {"CITEWATCH_ANALYSE_CAPTURES": "0"}
    first = json.loads(home.run("capture", "--json", url, env=off, check=True).stdout)[0]
    edited = [BODY[0].replace("253,000", "258,000"), *BODY[1:]]
    server.route("/story", ws.static(page(edited, random.Random(3)).encode()))
    second = json.loads(home.run("capture", "--json", url, env=off, check=True).stdout)[0]
    proc = home.run("diff", str(first["snapshot_id"]), str(second["snapshot_id"]))
    assert proc.returncode == 0 and "[-253,000-]{+258,000+}" in proc.stdout, proc.stderr
    sessions = connect(home.database_url())
    with sessions() as session:
        assert session.scalars(select(ExtractedText)).all() == []
