"""Reading citing articles: main-content links with their sentences, no chrome, clean URLs, DOIs.

The example article is read as the text a user pastes and as an HTML page
written around it with the chrome such sites carry (share bar, donation
banner, tag list, related box, footer): both give the same four outlets, and
nothing from the chrome becomes a citation.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from archive.articles import ingest
from archive.articles.outlet_names import find_outlets
from tests import webserver as ws

EXAMPLE = (Path(__file__).parent / "data" / "citing-article.txt").read_text(encoding="utf-8")
CHROME_LINKS = {
    "https://mastodon.social/share?text=x": "Mastodon",
    "https://parler.com/share": "Parler",
    "https://gab.com/compose": "Gab",
    "https://stopbitburning.com/donate": "StopBitBurning.com needs donations and support",
    "https://example-news.org/tag/ukraine": "Ukraine",
    "https://example-news.org/related/other-story": "Another story you may like",
    "https://example-news.org/about": "About us",
}
BODY_LINK = (
    "https://kyivindependent.com/desertion-data/?utm_source=twitter&utm_medium=social&fbclid=abc&page=2#top"
)


def example_html() -> str:
    """The example article as a news site would serve it, with one in-text link and a DOI."""
    lines = [line for line in EXAMPLE.splitlines() if line.strip()]
    title, byline = lines[1], lines[2]
    paragraphs = [line for line in lines[3:] if len(line.split()) > 12 and not line.lstrip().startswith("•")]
    first = html.escape(paragraphs[0]).replace(
        "according to official data",
        f'according to <a href="{html.escape(BODY_LINK)}">official data</a>',
        1,
    )
    body = [f"<p>{first}</p>"] + [f"<p>{html.escape(p)}</p>" for p in paragraphs[1:]]
    body.append("<p>A related study is at doi:10.1234/desertion.2025.77 for readers who want more.</p>")
    chrome = "".join(f'<li><a href="{u}">{t}</a></li>' for u, t in CHROME_LINKS.items())
    return (
        f"<html><head><title>{html.escape(title)}</title>"
        '<meta name="author" content="isabelle"><meta property="article:published_time" content="2025-10-31">'
        '<link rel="canonical" href="https://example-news.org/2025-10-31-ukrainian-army-faces-collapse.html">'
        f'</head><body><header><nav><ul>{chrome}</ul></nav><div class="banner">{html.escape(lines[0])}</div>'
        f"</header><article><h1>{html.escape(title)}</h1><p class='byline'>{html.escape(byline)}</p>"
        f"{''.join(body)}</article><aside class='related'><ul>{chrome}</ul></aside>"
        f"<footer><ul>{chrome}</ul></footer></body></html>"
    )


def test_html_article_keeps_main_content_links_only() -> None:
    doc = ingest.from_html(
        example_html(), "https://example-news.org/2025-10-31-ukrainian-army-faces-collapse.html"
    )
    urls = {link.url: link for link in doc.links}
    assert "https://kyivindependent.com/desertion-data/?page=2" in urls  # tracking parameters gone
    assert not any(u.startswith(tuple(CHROME_LINKS)) for u in urls), sorted(urls)
    link = urls["https://kyivindependent.com/desertion-data/?page=2"]
    assert link.anchor == "official data"
    assert (
        link.context.startswith("Since the full-scale invasion began in 2022")
        and "official data" in link.context
    )
    assert urls["https://doi.org/10.1234/desertion.2025.77"].kind == "doi"
    assert doc.title and doc.title.startswith("Ukrainian army faces collapse")
    assert doc.published and doc.published.date().isoformat() == "2025-10-31"


def test_text_and_html_give_the_same_outlets() -> None:
    from_text = ingest.from_text(EXAMPLE)
    from_html = ingest.from_html(example_html(), None)
    domains = [m.domain for m in find_outlets(from_text.text)]
    assert domains == ["rmx.news", "kyivindependent.com", "eurasiantimes.com", "theguardian.com"]
    assert [m.domain for m in find_outlets(from_html.text)] == domains
    assert from_text.links == []  # the pasted example has no links at all
    assert from_text.author == "isabelle" and from_text.published and from_text.published.year == 2025


def test_markdown_links_and_duplicates_merge() -> None:
    doc = ingest.from_markdown(
        "# Title of the piece here\n\nThe ministry said 4,000 "
        "[according to Reuters](https://reuters.com/a?utm_campaign=x). "
        "Later it confirmed it ([same report](https://reuters.com/a#section)).\n"
    )
    assert [(link.url, link.anchor) for link in doc.links] == [
        ("https://reuters.com/a", "according to Reuters")
    ]


def test_add_example_html_page(home, server) -> None:  # type: ignore[no-untyped-def]
    page = server.route("/article.html", ws.static(example_html().encode(), "text/html; charset=utf-8"))
    proc = home.run("add", page, "--no-resolve", "--json", env={"CITEWATCH_AUTO_BROWSER": "0"})
    assert proc.returncode == 0, proc.stderr
    view = json.loads(proc.stdout)
    outlets = [c["outlet"] for c in view["citations"] if c["kind"] == "outlet"]
    assert outlets == ["rmx.news", "kyivindependent.com", "eurasiantimes.com", "theguardian.com"]
    links = [c["url"] for c in view["citations"] if c["kind"] in {"link", "doi"}]
    assert links == [
        "https://kyivindependent.com/desertion-data/?page=2",
        "https://doi.org/10.1234/desertion.2025.77",
    ]
    claims = " ".join(c["text"] for c in view["claims"])
    for fact in (
        "253,000",
        "576 soldiers",
        "202,997",
        "fivefold",
        "I realized I\u2019m nobody. Just a number.",
    ):
        assert fact in claims, fact
    # The in-text link supports the claim in its own sentence.
    link = next(c for c in view["citations"] if c["kind"] == "link")
    linked = [c for c in view["claims"] if c["number"] in link["claims"]]
    assert linked and "official data" in linked[0]["text"]
    assert view["captures"][0]["url"] == page and view["captures"][0]["ok"]


PROSE = " ".join(
    f"Paragraph {i} of the report explains what the regional council decided about the river "
    "defences and why the money ran out before the work could finish."
    for i in range(1, 4)
)


def test_link_dense_source_lists_and_adjacent_links_survive() -> None:
    page = (
        "<html><body><nav><a href='https://site.example/'>Home</a></nav><article><h1>River defences fail</h1>"
        + "".join(f"<p>{PROSE}</p>" for _ in range(6))
        + "<p>Sources: <a href='https://rmx.news/a'>RMX.news</a><a href='https://kyivindependent.com/b'>"
        "KyivIndependent.com</a></p><h2>References</h2><ul>"
        "<li><a href='https://www.theguardian.com/c?utm_source=rss'>The Guardian report</a></li>"
        "<li><a href='https://doi.org/10.1016/S0140-6736(20)30183-5'>Lancet study</a></li></ul>"
        "</article><footer><a href='https://gab.com/x'>Gab</a></footer></body></html>"
    )
    doc = ingest.from_html(page, "https://site.example/story")
    urls = [link.url for link in doc.links]
    for wanted in (
        "https://rmx.news/a",
        "https://kyivindependent.com/b",
        "https://www.theguardian.com/c",
        "https://doi.org/10.1016/S0140-6736(20)30183-5",
    ):
        assert wanted in urls, (wanted, urls)
    assert "https://gab.com/x" not in urls and "https://site.example/" not in urls
    assert "RMX.newsKyivIndependent" not in doc.text


def test_markdown_urls_keep_underscores_and_parentheses() -> None:
    doc = ingest.from_markdown(
        "Officials said 5,000 homes flooded, per [the wiki](https://en.wikipedia.org/wiki/War_(2022)) and "
        "[the report](https://x.org/x_y_z/page_1?utm_source=news_letter&id=2).\n"
    )
    assert [link.url for link in doc.links] == [
        "https://en.wikipedia.org/wiki/War_(2022)",
        "https://x.org/x_y_z/page_1?id=2",
    ]


def test_dois_with_parentheses() -> None:
    assert ingest.find_dois("see doi:10.1016/S0140-6736(20)30183-5.") == ["10.1016/S0140-6736(20)30183-5"]
