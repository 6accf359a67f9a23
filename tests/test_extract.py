"""Main text and fingerprints of HTML pages: what change detection will compare."""

from __future__ import annotations

import random

import pytest

from archive.changes.extract import fingerprint, html_text

PARAGRAPHS = [
    "Since the full-scale invasion began in 2022, prosecutors have opened more than 253,000 "
    "criminal cases for unauthorized abandonment of units and desertion, according to official data.",
    "Official data from the Prosecutor General's Office shows 202,997 criminal cases were initiated "
    "for unauthorized abandonment from 2022 through July 2025.",
    "\u201cLet\u2019s be honest. The problem is big,\u201d said the military ombudsperson, Olha "
    "Reshetylova, who added that people are exhausted after three years of major war.",
]


def page(paragraphs: list[str], rng: random.Random) -> str:
    """An article page with chrome that changes from one load to the next.

    A timestamp inside the article's own text ("Updated 5 minutes ago" under the
    headline) is text to the extractor; telling it from an edit is the change
    classifier's work, not the fingerprint's.
    """
    related = "".join(
        f"<li><a href='/news/{rng.randint(1, 9999)}'>Most read story {rng.randint(1, 99)}</a></li>"
        for _ in range(5)
    )
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        "<!doctype html><html><head><title>Desertions soar</title>"
        "<meta name='author' content='Jane Writer'>"
        "<meta property='article:published_time' content='2025-10-31'>"
        f"<script src='/ads.js?cb={rng.random()}'></script></head><body>"
        "<nav><a href='/'>Home</a> <a href='/world'>World</a> <a href='/sport'>Sport</a></nav>"
        f"<div class='ad'>Advertisement: buy shoes, offer {rng.randint(10, 90)}% off today only</div>"
        f"<header class='masthead'>Updated {rng.randint(1, 59)} minutes ago</header>"
        f"<article><h1>Desertions soar</h1>{body}</article>"
        f"<aside class='related'><h2>Most read</h2><ul>{related}</ul></aside>"
        f"<div class='comments'>{rng.randint(0, 500)} comments</div>"
        "<footer>Copyright 2025 Example News. All rights reserved. Privacy policy.</footer>"
        "</body></html>"
    )


def test_main_text_keeps_the_article_and_drops_the_chrome() -> None:
    text = html_text(page(PARAGRAPHS, random.Random(1)), "https://example.org/news/1").text
    for paragraph in PARAGRAPHS:
        assert paragraph.replace("\u201c", '"').replace("\u201d", '"').replace("\u2019", "'") in text
    for chrome in ("Advertisement", "Most read", "comments", "Copyright", "Sport", "minutes ago"):
        assert chrome not in text, chrome


def test_metadata_is_read() -> None:
    found = html_text(page(PARAGRAPHS, random.Random(1)), "https://example.org/news/1")
    assert (found.title, found.author, found.date) == ("Desertions soar", "Jane Writer", "2025-10-31")


def test_noise_keeps_the_fingerprint() -> None:
    prints = {html_text(page(PARAGRAPHS, random.Random(seed))).fingerprint for seed in range(5)}
    assert len(prints) == 1


def test_typography_alone_keeps_the_fingerprint() -> None:
    straight = [p.replace("\u201c", '"').replace("\u201d", '"').replace("\u2019", "'") for p in PARAGRAPHS]
    curly = html_text(page(PARAGRAPHS, random.Random(3)))
    assert html_text(page(straight, random.Random(3))).fingerprint == curly.fingerprint


def test_a_one_digit_edit_changes_the_fingerprint() -> None:
    edited = [PARAGRAPHS[0].replace("253,000", "254,000"), *PARAGRAPHS[1:]]
    assert (
        html_text(page(edited, random.Random(1))).fingerprint
        != html_text(page(PARAGRAPHS, random.Random(1))).fingerprint
    )
    assert fingerprint("a b") != fingerprint("a  b c")


_HEAD_AND_BYLINE = [
    # meta tags; a one-word author (a handle) is dropped for the byline in the markup
    '<head><title>Kyiv talks | Daily</title><meta name="author" content="staff">'
    '<meta property="og:title" content="Kyiv talks resume"></head>'
    '<body><p class="byline">By Olena Kovalenko</p><article><p>{body}</p></article>'
    '<time datetime="2026-03-12">12 March</time></body>',
    # JSON-LD overrides the meta tags
    '<head><title>T</title><meta name="author" content="Meta Author">'
    '<script type="application/ld+json">{{"@type": "NewsArticle", "headline": "From JSON-LD",'
    ' "author": {{"@type": "Person", "name": "Jane Doe"}}, "datePublished": "2025-11-02"}}</script>'
    "</head><body><article><p>{body}</p></article></body>",
    # no head at all: title from the markup, no author, the date from the URL-less text
    "<body><h1>Only a heading</h1><article><p>{body}</p><p>Published 2024-06-30</p></article></body>",
    # entities and control characters in the title
    "<head><title>Fish &amp; chips\x07 &mdash; a review</title></head><body><p>{body}</p></body>",
]


@pytest.mark.parametrize("page", _HEAD_AND_BYLINE, ids=["meta-tags", "json-ld", "no-head", "entities"])
def test_metadata_is_what_trafilatura_finds(page: str) -> None:
    # citewatch reads the three fields it compares with trafilatura's own parts, not its whole
    # metadata function: they must agree with that function field for field.
    import trafilatura
    from trafilatura.utils import load_html

    from archive.changes.extract import _DATE_SEARCH, page_metadata

    html = page.format(body="The ministry said 253,000 people left the region. " * 8)
    url = "https://news.example/2026/03/12/kyiv-talks"
    whole = trafilatura.extract_metadata(html, default_url=url, date_config=_DATE_SEARCH)
    assert page_metadata(load_html(html), url) == (whole.title, whole.author, whole.date)
    page_text = html_text(html, url)
    assert (page_text.title, page_text.author, page_text.date) == (whole.title, whole.author, whole.date)


_LIST_ARTICLE = (
    "<html><head><title>Counted</title></head><body><ul>"
    + "".join(
        f"<li>Sentence {i} says how the ministry counted the people who left the region this spring.</li>"
        for i in range(12)
    )
    + "</ul></body></html>"
)


def test_a_page_precision_mode_finds_nothing_of_is_read_in_recall_mode() -> None:
    # An article written as a list: precision mode keeps none of it, and an edit to it would be
    # invisible. Recall mode's text stands in when it has far more.
    text = html_text(_LIST_ARTICLE, "https://news.example/a").text
    assert "Sentence 7 says how the ministry counted" in text and len(text.split()) > 150
    # Recall mode with less than 150 words to give does not stand in: five items stay unread.
    items = _LIST_ARTICLE.split("</li>")
    short = "</li>".join(items[:5]) + "</li></ul></body></html>"
    assert short.count("<li>") == 5 and html_text(short, "https://news.example/a").text == ""


def test_the_whole_text_has_correction_notes_from_anywhere_in_the_page() -> None:
    from archive.changes.classify import CORRECTION
    from archive.changes.extract import body_text

    note = "Clarification (March 4, 2024): The report was published by the regional office."
    article = "".join(
        f"<p>Paragraph {i} of the story, with enough words in it to be the text.</p>" for i in range(8)
    )
    page = (
        f"<html><body><article>{article}</article><aside><p>{note}</p></aside><div>Menu</div></body></html>"
    )
    assert note not in html_text(page).text  # the main extraction leaves the aside out
    whole = body_text(page, notes=CORRECTION)
    assert whole.split("\n").count(note) == 1 and "Menu" not in whole
    assert note not in body_text(page)  # only what ``notes`` finds is added
