"""`citewatch add` and `citewatch citations` end to end, against a local web of news outlets.

The outlets are the four the example article names, each reached through the
proxy setting (tests/outletweb.py) and each found a different way: a sitemap
index listed in robots.txt, a plain /sitemap.xml, an RSS feed linked from the
front page, an Atom feed. Every outlet also serves decoys: the same topic older
and with other numbers, the same topic in the window with other numbers, the
same numbers on another topic, and unrelated pages.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests import webserver as ws
from tests.outletweb import OutletWeb

EXAMPLE = Path(__file__).parent / "data" / "citing-article.txt"


def _page(title: str, date: str, *paragraphs: str) -> str:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        f"<html><head><title>{title}</title>"
        f'<meta property="article:published_time" content="{date}"></head>'
        f"<body><nav><a href='/'>Home</a></nav><article><h1>{title}</h1>{body}</article></body></html>"
    )


FILLER = (
    "The report was published after weeks of review by officials and analysts, who said the figures "
    "would be updated as more information became available from the regions concerned."
)

# outlet -> {path: (title, date, paragraphs, role)}
ARTICLES = {
    "kyivindependent.com": {
        "/news/desertion-cases-253000": (
            "Prosecutors have opened over 253,000 desertion and AWOL cases since 2022",
            "2025-10-20",
            [
                "Ukraine's Prosecutor General's Office has opened more than 253,000 criminal cases for "
                "unauthorized abandonment of units and desertion since the full-scale invasion began.",
                "Of those, 202,997 cases concern unauthorized abandonment and 50,058 concern desertion, "
                "according to data through July 2025.",
                FILLER,
            ],
            "target",
        ),
        "/news/desertion-cases-2024": (
            "Desertion cases climb past 60,000 as mobilization drags on",
            "2024-06-02",
            [
                "The Prosecutor General's Office said 60,115 criminal cases for desertion and unauthorized "
                "abandonment had been opened, a sharp rise.",
                FILLER,
            ],
            "same topic, older",
        ),
        "/news/awol-soldiers-october": (
            "Soldiers going AWOL remain a concern for commanders in the east",
            "2025-10-12",
            [
                "Commanders in the east say soldiers leaving their units without permission remains a "
                "concern, with 1,200 cases in one brigade alone, the Prosecutor General's Office said.",
                FILLER,
            ],
            "same topic, other numbers",
        ),
        "/business/grain-exports": (
            "Grain exports reach 253,000 tonnes in a week",
            "2025-10-18",
            [
                "Ukraine exported 253,000 tonnes of grain last week and 50,058 tonnes of sunflower oil, "
                "the agriculture ministry said.",
                FILLER,
            ],
            "same numbers, other topic",
        ),
        "/culture/film-festival": (
            "Kyiv film festival opens with a record audience",
            "2025-10-25",
            ["The festival opened on Friday with screenings across the capital.", FILLER],
            "unrelated",
        ),
    },
    "theguardian.com": {
        "/world/2025/oct/15/ukraine-army-desertion-ombudsperson": (
            "'The problem is big': Ukraine struggles with soldiers deserting",
            "2025-10-15",
            [
                "Ukraine's first military ombudsperson, Olha Reshetylova, said: \u201cLet\u2019s be honest. "
                "The problem is big.\u201d",
                "\u201cIt\u2019s natural in a situation where you\u2019ve had three years of major war. "
                "People are exhausted,\u201d she said. By mid-2025, nearly 576 soldiers a day were "
                "leaving their posts.",
                FILLER,
            ],
            "target",
        ),
        "/world/2025/oct/02/ukraine-recruitment": (
            "Ukraine's recruitment drive struggles as war drags on",
            "2025-10-02",
            [
                "Ukraine's army is struggling to recruit, officials said, with soldiers exhausted after "
                "three years of war and 4,000 new recruits a month.",
                FILLER,
            ],
            "same topic, other numbers",
        ),
        "/sport/2025/oct/20/football": (
            "Late goal settles a tense derby",
            "2025-10-20",
            ["A late goal settled the derby in front of 576 travelling fans.", FILLER],
            "same numbers, other topic",
        ),
    },
    "eurasiantimes.com": {
        "/russia-desertion-20538-cases": (
            "Russia prosecuted about 20,538 AWOL and desertion cases since the war began",
            "2025-10-08",
            [
                "Russia has prosecuted approximately 20,538 cases of AWOL and desertion since the war began, "
                "while more than 25,000 soldiers and officers abandoned units in one military district.",
                "Russian soldiers typically serve three to six months before relief.",
                FILLER,
            ],
            "target",
        ),
        "/india-air-force-deal": (
            "India signs an air force deal worth 20,538 crore",
            "2025-10-09",
            ["India signed a deal worth 20,538 crore for new aircraft, the ministry said.", FILLER],
            "same numbers, other topic",
        ),
        "/russia-rotation-2023": (
            "Russian army rotation questioned as desertion rises",
            "2023-05-01",
            ["Russian soldiers complained of 9,000 cases without rotation, reports said.", FILLER],
            "same topic, older",
        ),
    },
    "rmx.news": {
        "/ukraine/honcharenko-deserters-fivefold": (
            "Ukrainian MP Honcharenko: deserter cases up almost fivefold, may reach 300,000",
            "2025-10-27",
            [
                "The number of criminal cases involving deserters has increased almost fivefold this year "
                "and may reach as many as 300,000, MP Oleksiy Honcharenko said.",
                "One deserter named Viktor said: \u201cI realized I\u2019m nobody. Just a number.\u201d",
                FILLER,
            ],
            "target",
        ),
        "/poland/elections": (
            "Polish election campaign enters its final week",
            "2025-10-26",
            ["Candidates made their final appeals to voters in Warsaw.", FILLER],
            "unrelated",
        ),
    },
}
TARGETS = {o: next(p for p, a in pages.items() if a[3] == "target") for o, pages in ARTICLES.items()}


def _sitemap(urls: list[tuple[str, str]]) -> str:
    items = "".join(f"<url><loc>{u}</loc><lastmod>{d}</lastmod></url>" for u, d in urls)
    return (
        f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{items}</urlset>'
    )


def _rss(urls: list[tuple[str, str, str]]) -> str:
    items = "".join(
        f"<item><title>{t}</title><link>{u}</link><pubDate>{d}</pubDate></item>" for u, t, d in urls
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>x</title>{items}</channel></rss>'


def _rfc822(date: str) -> str:
    from datetime import datetime
    from email.utils import format_datetime

    return format_datetime(datetime.fromisoformat(date + "T09:00:00+00:00"))


def build_web(web: OutletWeb) -> None:
    for outlet, pages in ARTICLES.items():
        for path, (title, date, paragraphs, _role) in pages.items():
            web.add(outlet, path, _page(title, date, *paragraphs))
    _kyiv(web)
    _guardian(web)
    _eurasian(web)
    _rmx(web)


def _urls(outlet: str) -> list[tuple[str, str]]:
    return [(f"https://{outlet}{p}", a[1]) for p, a in ARTICLES[outlet].items()]


def _kyiv(web: OutletWeb) -> None:
    host = "kyivindependent.com"
    web.add(host, "/", "<html><body><h1>Kyiv Independent</h1></body></html>")
    web.add(
        host,
        "/robots.txt",
        f"User-agent: *\nDisallow: /private/\nSitemap: https://{host}/sitemap_index.xml\n",
    )
    index = "".join(
        f"<sitemap><loc>https://{host}/sitemap-{m}.xml</loc></sitemap>" for m in ("2024-06", "2025-10")
    )
    web.add(
        host,
        "/sitemap_index.xml",
        f'<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{index}'
        "</sitemapindex>",
        "application/xml",
    )
    urls = _urls(host)
    web.add(host, "/sitemap-2024-06.xml", _sitemap([u for u in urls if u[1] < "2025"]), "application/xml")
    web.add(host, "/sitemap-2025-10.xml", _sitemap([u for u in urls if u[1] >= "2025"]), "application/xml")


def _guardian(web: OutletWeb) -> None:
    host = "theguardian.com"
    web.add(host, "/", "<html><body><h1>The Guardian</h1></body></html>")
    web.add(host, "/robots.txt", "User-agent: *\nDisallow:\n")
    web.add(host, "/sitemap.xml", _sitemap(_urls(host)), "application/xml")


def _eurasian(web: OutletWeb) -> None:
    host = "eurasiantimes.com"
    web.add(
        host,
        "/",
        '<html><head><link rel="alternate" type="application/rss+xml" href="/feed/"></head>'
        "<body><h1>EurAsian Times</h1></body></html>",
    )
    items = [(f"https://{host}{p}", a[0], _rfc822(a[1])) for p, a in ARTICLES[host].items()]
    web.add(host, "/feed/", _rss(items), "application/rss+xml")


def _rmx(web: OutletWeb) -> None:
    host = "rmx.news"
    web.add(
        host,
        "/",
        '<html><head><link rel="alternate" type="application/atom+xml" href="/atom.xml"></head>'
        "<body><h1>Remix News</h1></body></html>",
    )
    entries = "".join(
        f"<entry><title>{a[0]}</title><link href='https://{host}{p}'/><id>https://{host}{p}</id>"
        f"<updated>{a[1]}T08:00:00Z</updated><summary>{a[2][0][:120]}</summary></entry>"
        for p, a in ARTICLES[host].items()
    )
    web.add(
        host,
        "/atom.xml",
        f'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>RMX</title>{entries}</feed>',
        "application/atom+xml",
    )


@pytest.fixture
def outlets():  # type: ignore[no-untyped-def]
    with OutletWeb() as web:
        build_web(web)
        yield web


def _add(home, web: OutletWeb, source: str, *extra: str):  # type: ignore[no-untyped-def]
    proc = home.run("add", source, "--json", *extra, env=web.env(), timeout=240)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_example_article_resolves_each_outlet_to_the_right_article(home, outlets) -> None:  # type: ignore[no-untyped-def]
    view = _add(home, outlets, str(EXAMPLE))
    by_outlet = {c["outlet"]: c for c in view["citations"] if c["kind"] == "outlet"}
    assert set(by_outlet) == set(ARTICLES)
    for outlet, citation in by_outlet.items():
        ranked = citation["candidates"]
        assert ranked, (outlet, citation["resolution"])
        best = ranked[0]
        scores = [(c["url"], c["score"]) for c in ranked]
        assert best["url"] == f"https://{outlet}{TARGETS[outlet]}", (outlet, scores)
        assert citation["resolution"]["status"] == "resolved" and best["tracked"]
        # Every decoy is ranked below the target, and the evidence names the claim terms matched.
        assert all(c["score"] < best["score"] for c in ranked[1:])
        matched = best["evidence"]["matched"]
        assert any(m["kind"] in {"number", "quote"} for m in matched)
        assert citation["claims"], "claims supported by the resolved source are linked"
        claims = {c["number"]: c for c in view["claims"]}  # evidence names claims by number
        for m in matched:  # each piece of evidence is a term of the claim it names
            field = {"number": "numbers", "quote": "quotes", "entity": "entities"}.get(m["kind"])
            if field:
                assert m["term"] in claims[m["claim"]]["terms"][field]
    # The resolved articles and the outlets' front pages were captured.
    captured = {c["url"] for c in view["captures"] if c["ok"]}
    for outlet, path in TARGETS.items():
        assert f"https://{outlet}{path}" in captured
        assert f"https://{outlet}/" in captured


def test_citations_command_shows_the_stored_resolution(home, outlets) -> None:  # type: ignore[no-untyped-def]
    added = _add(home, outlets, str(EXAMPLE))
    listing = json.loads(home.run("citations", "--json", check=True).stdout)
    assert [a["id"] for a in listing] == [added["article"]["id"]]
    shown = json.loads(home.run("citations", str(added["article"]["id"]), "--json", check=True).stdout)
    assert [c["id"] for c in shown["citations"]] == [c["id"] for c in added["citations"]]
    text = home.run("citations", str(added["article"]["id"]), check=True).stdout
    assert "kyivindependent.com" in text and "resolved" in text
    bad = home.run("citations", "999")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1


# -- bad input ------------------------------------------------------------------------
HARD_OUTLETS = ("nomaps.com", "loopmaps.com", "bigmaps.com", "brokenxml.com", "baddates.com", "norobots.com")
CLAIM = (
    "Officials counted 48,213 flooded homes in Valdoria, according to regional governor Mirela Ostrova, "
    "who said: \u201cWe have never seen water rise this fast.\u201d"
)


def _hard_web(web: OutletWeb) -> None:
    story = _page(
        "Valdoria floods damage 48,213 homes",
        "2025-10-20",
        "Regional governor Mirela Ostrova said 48,213 flooded homes were counted in Valdoria. "
        "\u201cWe have never seen water rise this fast,\u201d she said.",
        FILLER,
    )
    for host in HARD_OUTLETS:
        web.add(host, "/news/valdoria-floods", story)
    # No robots.txt, no sitemap, no feed: only the front page's links.
    web.add("nomaps.com", "/", "<html><body><a href='/news/valdoria-floods'>Valdoria floods damage homes</a>")
    # A sitemap index that leads back to itself.
    web.add("loopmaps.com", "/", "<html><body>Loop</body></html>")
    web.add("loopmaps.com", "/robots.txt", "Sitemap: https://loopmaps.com/a.xml\n")
    index = '<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{}</sitemapindex>'
    web.add(
        "loopmaps.com", "/a.xml", index.format("<sitemap><loc>https://loopmaps.com/b.xml</loc></sitemap>")
    )
    web.add(
        "loopmaps.com", "/b.xml", index.format("<sitemap><loc>https://loopmaps.com/a.xml</loc></sitemap>")
    )
    # 50,000 URLs in one sitemap, the story last.
    urls = [(f"https://bigmaps.com/old/{i}", "2025-10-01") for i in range(49_999)]
    web.add("bigmaps.com", "/", "<html><body>Big</body></html>")
    web.add(
        "bigmaps.com",
        "/sitemap.xml",
        _sitemap([*urls, ("https://bigmaps.com/news/valdoria-floods", "2025-10-20")]),
    )
    # Malformed XML where the sitemap should be, and a feed that is not one.
    web.add("brokenxml.com", "/", '<html><head><link rel="alternate" type="application/rss+xml" href="/rss">')
    web.add(
        "brokenxml.com",
        "/sitemap.xml",
        "<urlset><url><loc>https://brokenxml.com/x</loc></url",
        "application/xml",
    )
    web.add("brokenxml.com", "/rss", "\x00\x01 not xml at all", "application/rss+xml")
    # robots.txt forbids everything: discovery asks for nothing else.
    web.add(
        "norobots.com", "/robots.txt", "User-agent: *\nDisallow: /\nSitemap: https://norobots.com/s.xml\n"
    )
    web.add("norobots.com", "/s.xml", _sitemap([("https://norobots.com/news/valdoria-floods", "2025-10-20")]))
    # A feed whose dates cannot be read.
    web.add("baddates.com", "/", '<html><head><link rel="alternate" type="application/rss+xml" href="/feed">')
    items = [
        (
            "https://baddates.com/news/valdoria-floods",
            "Valdoria floods damage 48,213 homes",
            "31 Febtember 20X5",
        )
    ]
    web.add("baddates.com", "/feed", _rss(items), "application/rss+xml")


def test_hard_outlets_end_in_a_recorded_outcome_in_bounded_time(home, tmp_path) -> None:  # type: ignore[no-untyped-def]
    names = " ".join(h.capitalize() for h in HARD_OUTLETS)
    article = tmp_path / "floods.txt"
    article.write_text(
        "Valdoria counts the damage\nBy A. Writer // 2025-10-22\n"
        f"{CLAIM}\nSource: Daily Zorg\nSources for this article include: {names}\n"
    )
    with OutletWeb() as web:
        _hard_web(web)
        proc = home.run(
            "add", str(article), "--json", env={**web.env(), "CITEWATCH_DISCOVERY_MAX_URLS": "2000"}
        )
        asked = [path for _scheme, host, path in web.requests if host == "norobots.com"]
    assert proc.returncode == 0, proc.stderr
    view = json.loads(proc.stdout)
    by_outlet = {c["outlet"]: c for c in view["citations"] if c["kind"] == "outlet"}
    assert set(HARD_OUTLETS) <= set(by_outlet)
    for host in ("nomaps.com", "baddates.com"):  # found through the front page / a feed without dates
        assert by_outlet[host]["candidates"][0]["url"] == f"https://{host}/news/valdoria-floods"
        assert by_outlet[host]["resolution"]["status"] == "resolved"
    assert by_outlet["baddates.com"]["candidates"][0]["published"] is None
    loop = by_outlet["loopmaps.com"]["resolution"]
    assert loop["sitemaps"] == ["https://loopmaps.com/a.xml", "https://loopmaps.com/b.xml"]
    big = by_outlet["bigmaps.com"]["resolution"]
    assert big["discovered"] == 50_000 and big["in_window"] <= 2000 and big["stopped"] == "entry limit"
    # The newest entries are the ones kept: the story, listed last, is among them.
    assert by_outlet["bigmaps.com"]["candidates"][0]["url"] == "https://bigmaps.com/news/valdoria-floods"
    broken = by_outlet["brokenxml.com"]["resolution"]
    assert any("sitemap.xml" in p for p in broken["problems"]) and any(
        "/rss" in p for p in broken["problems"]
    )
    assert set(asked) == {"/robots.txt"}, asked  # the sitemap it lists is never asked for
    norobots = by_outlet["norobots.com"]["resolution"]
    assert norobots["status"] == "unresolved" and norobots["front_page"] == "https://norobots.com/"
    assert any("robots.txt" in problem for problem in norobots["problems"]), norobots["problems"]
    zorg = next(c for c in view["citations"] if c["kind"] == "outlet" and c["outlet"] is None)
    assert zorg["name"] == "Daily Zorg" and zorg["resolution"]["status"] == "unresolved"
    assert "citewatch.toml" in zorg["resolution"]["reason"]


def test_article_without_citations_is_stored_with_a_clear_message(home, tmp_path) -> None:  # type: ignore[no-untyped-def]
    article = tmp_path / "plain.md"
    article.write_text(
        "# Quiet day\n\nNothing happened today in the town of Brell, and nobody said anything.\n"
    )
    proc = home.run("add", str(article))
    assert proc.returncode == 0, proc.stderr
    assert "no citations found" in proc.stdout


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("http://127.0.0.1:9/article", "cannot add http://127.0.0.1:9/article: "),
        ("missing-file.txt", "cannot read missing-file.txt"),
        ("http://exa mple.org/", "citewatch: error: "),
    ],
)
def test_bad_article_sources_are_one_line_errors(home, source: str, message: str) -> None:  # type: ignore[no-untyped-def]
    proc = home.run("add", source)
    assert proc.returncode in (1, 2)
    assert proc.stderr.count("\n") == 1 and message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_non_articles_by_url(home, server) -> None:  # type: ignore[no-untyped-def]
    server.route("/image.png", ws.static(ws.PNG, "image/png"))
    image = home.run("add", server.url("/image.png"))
    assert image.returncode == 1 and "not an article" in image.stderr, image.stderr
    # A failed article is still recorded as an attempt of its URL.
    attempts = json.loads(home.run("snapshots", server.url("/image.png"), "--json", check=True).stdout)
    assert attempts and attempts[-1]["status"] == 200


def test_adding_again_refreshes_in_place_and_no_resolve_says_so(home, database_url, tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {"CITEWATCH_DATABASE_URL": database_url}
    long_name = "https://www.zorgdaily.com/world/" + "x" * 300  # longer than an outlet name column
    article = tmp_path / "a.txt"
    article.write_text(f"Officials counted 1,234 flooded homes in Brell.\nSources: {long_name}\n")
    first = json.loads(home.run("add", str(article), "--no-resolve", "--json", env=env, check=True).stdout)
    again = home.run("add", str(article), "--no-resolve", "--json", env=env, check=True)
    second = json.loads(again.stdout)
    assert second["article"]["id"] == first["article"]["id"] and "added before" in again.stderr
    assert len(second["citations"]) == len(first["citations"]) and len(second["claims"]) == len(
        first["claims"]
    )
    assert len(json.loads(home.run("citations", "--json", env=env, check=True).stdout)) == 1
    statuses = {c["kind"]: c["resolution"]["status"] for c in second["citations"]}
    assert statuses.get("link") == "direct"
    assert all(c["resolution"]["status"] != "pending" for c in second["citations"])


def test_local_files_pdf_binary_and_legacy_charsets(home, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.multi_cell(0, 8, "Officials counted 48,213 flooded homes in Valdoria. Sources: Reuters")
    path = tmp_path / "report.pdf"
    path.write_bytes(bytes(pdf.output()))
    view = json.loads(home.run("add", str(path), "--no-resolve", "--json", check=True).stdout)
    assert view["article"]["input"] == "pdf" and "48,213" in view["claims"][0]["text"]
    assert [c["outlet"] for c in view["citations"]] == ["reuters.com"]

    binary = tmp_path / "noise.txt"
    binary.write_bytes(bytes(range(256)) * 8)
    proc = home.run("add", str(binary))
    assert proc.returncode == 2 and "is not text" in proc.stderr and proc.stderr.count("\n") == 1

    legacy = tmp_path / "legacy.txt"
    legacy.write_bytes("Café owner José Martínez counted 3,100 visitors in Sevilla.\n".encode("cp1252"))
    view = json.loads(home.run("add", str(legacy), "--no-resolve", "--json", check=True).stdout)
    assert "José Martínez" in view["claims"][0]["text"]


def test_ctrl_c_during_resolution_leaves_no_citation_pending(home) -> None:  # type: ignore[no-untyped-def]
    import signal
    import subprocess
    import time

    from tests.conftest import VENV_BIN

    with OutletWeb(delay=1.5) as web:  # slow outlets: the run is still resolving when stopped
        build_web(web)
        proc = subprocess.Popen(
            [str(VENV_BIN / "citewatch"), "add", str(EXAMPLE)],
            env={**home.env, **web.env()},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while not web.requests and time.monotonic() < deadline:
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    assert "add it again to finish" in err.splitlines()[-1]
    view = json.loads(home.run("citations", "1", "--json", check=True).stdout)
    statuses = {c["outlet"]: c["resolution"]["status"] for c in view["citations"]}
    assert "pending" not in statuses.values() and "interrupted" in statuses.values(), statuses


def test_doi_citation_is_captured_through_its_redirect(home, tmp_path) -> None:  # type: ignore[no-untyped-def]
    article = tmp_path / "study.md"
    article.write_text(
        "The trial enrolled 1,204 patients ([doi:10.5555/trial.(2025)](https://doi.org/10.5555/trial.(2025))).\n"
    )
    with OutletWeb() as web:
        web.add(
            "doi.org",
            "/10.5555/trial.(2025)",
            "",
            status=302,
            headers={"Location": "https://publisher.example/t"},
        )
        web.add(
            "publisher.example",
            "/t",
            _page("Trial results", "2025-01-01", "The trial enrolled 1,204 patients."),
        )
        view = _add(home, web, str(article), "--no-resolve")
    (doi,) = [c for c in view["citations"] if c["kind"] == "doi"]
    assert doi["url"] == "https://doi.org/10.5555/trial.(2025)" and doi["claims"]
    (capture,) = [c for c in view["captures"] if c["url"] == doi["url"]]
    assert capture["ok"] and capture["final_url"] == "https://publisher.example/t"
