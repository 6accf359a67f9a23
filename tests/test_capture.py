"""End-to-end HTTP captures through the CLI against real local servers."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import socket

import pytest
from sqlalchemy import create_engine, text

from tests import webserver as ws
from tests.conftest import loopback_name
from tests.warcs import by_type, read_records, snapshot_rows


def sha1_digest(data: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode()


def results(proc) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    assert "Traceback" not in proc.stderr, proc.stderr
    return {r["url"]: r for r in json.loads(proc.stdout)}


def site(server: ws.TestServer) -> str:
    server.route("/style.css", ws.chunked([ws.STYLE[:20], ws.STYLE[20:]], "text/css"))
    server.route("/img.png", ws.static(ws.PNG, "image/png"))
    server.route("/bg.png", ws.static(ws.PNG[::-1], "image/png"))
    server.route("/font.woff2", ws.static(b"wOF2fakefont", "font/woff2"))
    return server.route("/article", ws.gzipped(ws.ARTICLE))


def test_page_with_requisites_gzip_and_chunked(home, server):
    url = site(server)
    proc = home.run("capture", "--json", url)
    assert proc.returncode == 0, proc.stderr
    result = results(proc)[url]
    assert result["outcome"] == "ok" and result["status"] == 200 and result["requisites"] == 2

    records = read_records(home.warcs())
    assert records[0].type == "warcinfo"
    assert all(r.warc_headers.get("WARC-Type") and r.warc_headers for r in records)
    responses = {r.uri: r for r in by_type(records, "response")}
    assert set(responses) == {
        server.url(p) for p in ("/article", "/style.css", "/img.png", "/bg.png", "/font.woff2")
    }
    # Each response is archived as the server sent it, digests over those bytes.
    for path in ("/article", "/style.css", "/img.png", "/bg.png", "/font.woff2"):
        rec = responses[server.url(path)]
        assert rec.payload == server.state.sent[path], path
        assert rec.warc_headers["WARC-Payload-Digest"] == sha1_digest(server.state.sent[path])
    article = responses[url]
    assert article.header("Content-Encoding") == "gzip"
    assert gzip.decompress(article.payload) == ws.ARTICLE
    assert article.decoded == ws.ARTICLE
    css = responses[server.url("/style.css")]
    assert css.header("Transfer-Encoding") is None, "the record must not claim chunking it lacks"
    assert css.payload == ws.STYLE
    # Requests pair with their responses.
    ids = {r.warc_headers["WARC-Record-ID"]: r for r in responses.values()}
    requests = by_type(records, "request")
    assert len(requests) == len(responses)
    for req in requests:
        resp = ids[req.warc_headers["WARC-Concurrent-To"]]
        assert resp.uri == req.uri
        assert req.warc_headers["WARC-Date"] <= resp.warc_headers["WARC-Date"]
        assert (
            b"Accept-Encoding: gzip, deflate" in req.payload
            or ("Accept-Encoding", "gzip, deflate") in req.http_headers
        )


def test_snapshot_rows_locate_their_records(home, server):
    url = site(server)
    home.run("capture", url, check=True)
    rows = [r for r in snapshot_rows(home.database_url()) if r["record_type"]]
    records = {(r.file.name, r.offset): r for r in read_records(home.warcs())}
    assert len(rows) == 5
    for row in rows:
        rec = records[(row["warc_name"], row["offset"])]
        assert rec.warc_headers["WARC-Record-ID"] == f"<urn:uuid:{row['record_id']}>"
        assert rec.length == row["length"] and rec.uri == row["url"]
        assert (
            rec.http_status == row["status"]
            and row["payload_digest"] == rec.warc_headers["WARC-Payload-Digest"]
        )
    by_url = {r["url"]: r for r in rows}
    assert by_url[server.url("/img.png")]["page_id"] == by_url[url]["id"]
    assert by_url[url]["surt"].endswith(f":{server.port})/article")  # SURT as pywb keys it


def test_redirect_hops_are_each_recorded(home, server):
    server.route("/final", ws.static(ws.page_html("Final", "<p>" + "words " * 120 + "</p>")))
    server.route("/hop2", ws.redirect("/final", 301))
    start = server.route("/hop1", ws.redirect(server.url("/hop2")))
    proc = home.run("capture", "--json", start)
    result = results(proc)[start]
    assert result["outcome"] == "ok" and result["final_url"] == server.url("/final")
    statuses = {r.uri: r.http_status for r in by_type(read_records(home.warcs()), "response")}
    assert statuses == {start: 302, server.url("/hop2"): 301, server.url("/final"): 200}


def test_unchanged_recapture_is_a_revisit(home, server):
    url = site(server)
    home.run("capture", url, check=True)
    home.run("capture", url, check=True)
    records = read_records(home.warcs())
    first = by_type(records, "response", url)[0]
    revisits = by_type(records, "revisit", url)
    assert len(revisits) == 1
    rev = revisits[0]
    assert rev.warc_headers["WARC-Profile"].endswith("/revisit/identical-payload-digest")
    assert rev.warc_headers["WARC-Refers-To"] == first.warc_headers["WARC-Record-ID"]
    assert rev.warc_headers["WARC-Refers-To-Target-URI"] == url
    assert rev.warc_headers["WARC-Refers-To-Date"] == first.warc_headers["WARC-Date"]
    assert rev.warc_headers["WARC-Payload-Digest"] == first.warc_headers["WARC-Payload-Digest"]
    assert rev.payload == b"" and rev.http_status == 200
    # Requisites captured moments ago are not fetched again (requisites_max_age).
    assert len(server.requests_for("/img.png")) == 1
    # With the freshness window off they are, and dedup turns them into revisits too.
    home.run("capture", url, check=True, env={"CITEWATCH_REQUISITES_MAX_AGE": "0"})
    assert len(server.requests_for("/img.png")) == 2
    assert len(by_type(read_records(home.warcs()), "revisit", server.url("/img.png"))) == 1


def test_changed_page_is_a_new_response(home, server):
    url = server.route("/news", ws.static(ws.page_html("v1", "<p>" + "first version " * 50 + "</p>")))
    home.run("capture", "--no-requisites", url, check=True)
    server.route("/news", ws.static(ws.page_html("v2", "<p>" + "second version " * 50 + "</p>")))
    home.run("capture", "--no-requisites", url, check=True)
    records = read_records(home.warcs())
    assert len(by_type(records, "response", url)) == 2 and not by_type(records, "revisit", url)


def test_pdf_is_captured_and_its_text_extracted(home, server):
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.cell(text="Prosecutors opened 253,000 criminal cases.")
    data = bytes(pdf.output())
    url = server.route("/report.pdf", ws.static(data, "application/pdf"))
    home.run("capture", url, check=True)
    (rec,) = by_type(read_records(home.warcs()), "response", url)
    assert rec.payload == data
    engine = create_engine(home.database_url())
    with engine.connect() as conn:
        stored = conn.execute(
            text("select text from extracted_texts where payload_digest = :d"), {"d": sha1_digest(data)}
        ).scalar_one()
    assert "253,000 criminal cases" in stored


def test_retry_after_is_honoured(home, server):
    ok = ws.static(ws.page_html("Back", "<p>" + "available again " * 40 + "</p>"))
    url = server.route("/busy", ws.fail_then(503, 1, ok, {"Retry-After": "1"}))
    proc = home.run("capture", "--json", "--no-requisites", url, env={"CITEWATCH_RETRIES": "2"})
    assert results(proc)[url]["outcome"] == "ok"
    seen = server.requests_for("/busy")
    assert len(seen) == 2 and seen[1].when - seen[0].when >= 0.95
    statuses = sorted(r.http_status for r in by_type(read_records(home.warcs()), "response", url))
    assert statuses == [200, 503], "every attempt is archived"


def test_rotation_by_size(home, server):
    urls = [
        server.route(f"/p{i}", ws.static(ws.page_html(f"p{i}", "<p>%s</p>" % (f"page {i} " * 200))))
        for i in range(6)
    ]
    home.run("capture", "--no-requisites", *urls, check=True, env={"CITEWATCH_WARC_MAX_SIZE": "2KB"})
    files = home.warcs()
    assert len(files) >= 3
    assert not list(home.warc_dir.glob("*.open"))
    for path in files:
        assert read_records([path])[0].type == "warcinfo"
    assert {r.uri for r in by_type(read_records(files), "response")} == set(urls)


BAD_MAX = 1_000_000
LONG_LABEL = "http://" + "a" * 64 + ".example/"


def test_bad_inputs_each_get_an_outcome(home, server):
    good = server.route("/good", ws.static(ws.page_html("Good", "<p>" + "fine text " * 80 + "</p>")))
    routes = {
        "/missing": None,  # 404 from the server's default
        "/error": ws.static(b"boom", "text/plain", status=500),
        "/loop-a": ws.redirect("/loop-b"),
        "/loop-b": ws.redirect("/loop-a"),
        "/slow": ws.slow(4),
        "/huge": ws.sized(3 * BAD_MAX),
        "/endless": ws.endless(),
        "/bomb": ws.gzip_bomb(64 << 20),
        "/charset": ws.static(
            b"<html><body><p>caf\xe9 cr\xe8me " + b"word " * 100 + b"</p></body></html>",
            "text/html; charset=x-no-such-charset",
        ),
        "/binary": ws.static(bytes(range(256)) * 64, "text/html"),
        "/broken": ws.static(b"<html><body><div><p>unclosed <b>tags " + b"text " * 100, "text/html"),
    }
    urls = {path: server.route(path, r) if r else server.url(path) for path, r in routes.items()}
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        refused = f"http://127.0.0.1:{s.getsockname()[1]}/"
    tls = server.url("/good").replace("http://", "https://")
    args = [
        "capture",
        "--json",
        "--no-requisites",
        good,
        *urls.values(),
        refused,
        tls,
        "http://no-such-host.invalid/",
        "http://exa mple.com/",
        "ftp://example.org/file",
        "http://",
        LONG_LABEL,
        "http://%41.example/",
    ]
    proc = home.run(
        *args,
        env={
            "CITEWATCH_TIMEOUT": "2",
            "CITEWATCH_RETRIES": "0",
            "CITEWATCH_MAX_RESPONSE_SIZE": str(BAD_MAX),
            "CITEWATCH_MAX_REDIRECTS": "5",
            "CITEWATCH_AUTO_BROWSER": "0",
        },
    )
    assert proc.returncode == 2, "malformed input makes the exit code 2"
    assert "Traceback" not in proc.stderr
    got = {url: r["outcome"] for url, r in results(proc).items()}
    expected = {
        good: "ok",
        urls["/missing"]: "http-4xx",
        urls["/error"]: "http-5xx",
        urls["/loop-a"]: "redirect-loop",
        urls["/loop-b"]: "redirect-loop",
        urls["/slow"]: "timeout",
        urls["/huge"]: "truncated",
        urls["/endless"]: "truncated",
        urls["/bomb"]: "too-large",
        urls["/charset"]: "ok",
        urls["/binary"]: "ok",
        urls["/broken"]: "ok",
        refused: "refused",
        tls: "tls",
        "http://no-such-host.invalid/": "dns",
        "http://exa mple.com/": "bad-url",
        "ftp://example.org/file": "bad-url",
        LONG_LABEL: "bad-url",
        "http://%41.example/": "bad-url",
        "http://": "bad-url",
    }
    assert got == expected
    bad_lines = [line for line in proc.stderr.splitlines() if line.startswith("citewatch:")]
    assert len(bad_lines) == 5 and all("\n" not in line for line in bad_lines)

    # Every outcome is in the database too.
    rows = snapshot_rows(home.database_url())
    outcomes = {(r["url"], r["outcome"]) for r in rows}
    for url, outcome in expected.items():
        if outcome in {"ok", "truncated", "http-4xx", "http-5xx"}:
            continue
        if outcome == "too-large":
            assert (url, "too-large") in outcomes  # the archived response row carries the note
        else:
            assert (url, outcome) in outcomes, url
    records = {r.uri: r for r in by_type(read_records(home.warcs()), "response")}
    huge = records[urls["/huge"]]
    assert huge.warc_headers["WARC-Truncated"] == "length" and len(huge.payload) == BAD_MAX
    assert records[urls["/endless"]].warc_headers["WARC-Truncated"] == "length"
    assert records[urls["/bomb"]].payload == server.state.sent["/bomb"], "the bomb is archived compressed"
    assert records[urls["/binary"]].payload == bytes(range(256)) * 64


def test_private_addresses_are_blocked_by_default(home, server):
    url = server.route("/secret", ws.static(b"internal"))
    env = {"CITEWATCH_ALLOW_PRIVATE_NETWORKS": "0"}
    targets = [url, url.replace("127.0.0.1", "localhost")]
    name = socket.gethostname()
    try:
        resolves_local = socket.gethostbyname(name).startswith("127.")
    except OSError:
        resolves_local = False
    if resolves_local:  # a plain host name whose DNS answer is loopback: caught after resolution
        targets.append(url.replace("127.0.0.1", name))
    proc = home.run("capture", "--json", *targets, env=env)
    assert proc.returncode == 1
    got = results(proc)
    assert {r["outcome"] for r in got.values()} == {"blocked"}
    assert all("allow_private_networks" in r["message"] for r in got.values())
    assert server.requests_for("/secret") == []
    if resolves_local:
        assert "127.0.0.1" in got[targets[-1]]["message"]


def test_proxy_is_used_and_redirect_to_loopback_is_blocked(home, server):
    """One local server plays a proxy for made-up host names; the guard stays on."""
    server.route(
        "http://outlet.test/story", ws.static(ws.page_html("Story", "<p>" + "via proxy " * 60 + "</p>"))
    )
    server.route("http://outlet.test/jump", ws.redirect(server.url("/secret")))
    server.route("/secret", ws.static(b"internal"))
    env = {"HTTP_PROXY": server.url(""), "CITEWATCH_ALLOW_PRIVATE_NETWORKS": "0"}
    proc = home.run(
        "capture", "--json", "--no-requisites", "http://outlet.test/story", "http://outlet.test/jump", env=env
    )
    got = results(proc)
    assert got["http://outlet.test/story"]["outcome"] == "ok"
    assert got["http://outlet.test/jump"]["outcome"] == "blocked"
    proxied = sorted(s.path for s in server.state.seen if "outlet.test" in s.path)
    assert proxied == ["http://outlet.test/jump", "http://outlet.test/story"]
    assert server.requests_for("/secret") == []
    statuses = {r.uri: r.http_status for r in by_type(read_records(home.warcs()), "response")}
    assert statuses == {"http://outlet.test/story": 200, "http://outlet.test/jump": 302}


@pytest.mark.parametrize("robots_env,expected", [("0", "ok"), ("1", "robots")])
def test_robots_for_cited_urls_is_a_setting(home, server, robots_env, expected):
    server.route("/robots.txt", ws.static(b"User-agent: *\nDisallow: /private\n", "text/plain"))
    url = server.route("/private/page", ws.static(ws.page_html("P", "<p>" + "text " * 100 + "</p>")))
    proc = home.run(
        "capture", "--json", "--no-requisites", url, env={"CITEWATCH_OBEY_ROBOTS_CITED": robots_env}
    )
    assert results(proc)[url]["outcome"] == expected


def test_redirect_to_a_name_that_resolves_to_loopback_is_blocked(home, server):
    """The redirect target is a host name, not an address: the check happens after DNS resolution."""
    name = loopback_name()
    if name is None:
        pytest.skip("this machine's host name does not resolve to a loopback address")
    server.route("/secret", ws.static(b"internal"))
    server.route("http://outlet.test/jump", ws.redirect(server.url("/secret", host=name)))
    env = {"HTTP_PROXY": server.url(""), "NO_PROXY": name, "CITEWATCH_ALLOW_PRIVATE_NETWORKS": "0"}
    proc = home.run("capture", "--json", "--no-requisites", "http://outlet.test/jump", env=env)
    result = results(proc)["http://outlet.test/jump"]
    assert result["outcome"] == "blocked" and f"{name} (127." in result["message"]
    assert server.requests_for("/secret") == []


def test_redirect_to_an_oversized_body_is_archived_truncated(home, server):
    """The decompression cap set on one hop must not cancel the next hop's download."""
    server.route("/huge", ws.sized(3 * BAD_MAX))
    start = server.route("/hop", ws.redirect("/huge"))
    proc = home.run("capture", "--json", start, env={"CITEWATCH_MAX_RESPONSE_SIZE": str(BAD_MAX)})
    assert results(proc)[start]["outcome"] == "truncated"
    (huge,) = by_type(read_records(home.warcs()), "response", server.url("/huge"))
    assert huge.warc_headers["WARC-Truncated"] == "length" and len(huge.payload) == BAD_MAX


def test_proxy_credentials_are_not_archived(home, server):
    server.route("http://outlet.test/p", ws.static(ws.page_html("P", "<p>" + "text " * 100 + "</p>")))
    proxy = server.url("").replace("http://", "http://alice:s3cret@")
    proc = home.run("capture", "--json", "--no-requisites", "http://outlet.test/p", env={"HTTP_PROXY": proxy})
    assert results(proc)["http://outlet.test/p"]["outcome"] == "ok"
    assert any("Proxy-Authorization" in s.headers for s in server.state.seen), "the proxy did get them"
    (req,) = by_type(read_records(home.warcs()), "request")
    assert b"Proxy-Authorization" not in req.payload
    assert all(name.lower() != "proxy-authorization" for name, _ in req.http_headers)
