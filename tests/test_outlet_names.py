"""Outlets named without links: the real example article, each recognised pattern, and the table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from archive.articles.outlet_names import (
    BUILTIN_OUTLETS,
    PATTERNS,
    find_outlets,
    outlet_domain,
    registered_domain,
    unknown_outlets,
)

ROOT = Path(__file__).resolve().parent.parent
# A copy of shared/examples/citing-article.txt, so that a clean checkout has it.
EXAMPLE = (Path(__file__).parent / "data" / "citing-article.txt").read_text(encoding="utf-8")
SOURCE_HEAD = "Sources for this article include:"


def example_source_names() -> list[str]:
    """The outlet names on the example's source line, read straight from the text."""
    line = next(line for line in EXAMPLE.splitlines() if SOURCE_HEAD in line)
    return line.split(SOURCE_HEAD, 1)[1].split()


def test_example_gives_exactly_the_four_listed_outlets() -> None:
    listed = example_source_names()
    assert listed == ["RMX.news", "KyivIndependent.com", "EurasianTimes.com", "TheGuardian.com"]
    mentions = find_outlets(EXAMPLE)
    assert [m.name for m in mentions] == listed
    assert [m.domain for m in mentions] == [name.lower() for name in listed]
    assert {m.domain for m in mentions} == {
        "rmx.news",
        "kyivindependent.com",
        "eurasiantimes.com",
        "theguardian.com",
    }
    assert {m.pattern for m in mentions} == {"source-list"}
    assert all(m.context.startswith(SOURCE_HEAD) and m.name in m.context for m in mentions)


def test_example_chrome_and_banner_are_not_sources() -> None:
    lines = [" ".join(line.split()) for line in EXAMPLE.splitlines()]
    for chrome in ("Mastodon", "Parler", "Gab"):
        assert lines.count(chrome) == 2  # the share buttons, above and below the article
    assert "StopBitBurning.com needs donations" in EXAMPLE
    # The banner's name is a perfectly good domain: it is left out for where it stands, not for its form.
    assert registered_domain("StopBitBurning.com") == "stopbitburning.com"
    names = {m.name for m in find_outlets(EXAMPLE)} | set(unknown_outlets(EXAMPLE))
    assert not names & {"Mastodon", "Parler", "Gab", "StopBitBurning.com"}
    assert "stopbitburning.com" not in {m.domain for m in find_outlets(EXAMPLE)}


def test_example_reports_no_unknown_outlet() -> None:
    # "according to MP Oleksiy Honcharenko" and "according to official data from the Prosecutor
    # General's Office" name a person and an authority, not outlets.
    assert "according to MP Oleksiy Honcharenko" in EXAMPLE
    assert unknown_outlets(EXAMPLE) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Source: Reuters", [("Reuters", "reuters.com", "source-list")]),
        (
            "Sources: AP, Reuters and BBC News.",
            [
                ("AP", "apnews.com", "source-list"),
                ("Reuters", "reuters.com", "source-list"),
                ("BBC News", "bbc.com", "source-list"),
            ],
        ),
        (
            "References:\nReuters\n- Al Jazeera\n",
            [("Reuters", "reuters.com", "source-list"), ("Al Jazeera", "aljazeera.com", "source-list")],
        ),
        ("Troops left (Source: Reuters) and returned.", [("Reuters", "reuters.com", "source-list")]),
        (
            "Sources: Stars and Stripes; Reuters AP",
            [
                ("Stars and Stripes", "stripes.com", "source-list"),
                ("Reuters", "reuters.com", "source-list"),
                ("AP", "apnews.com", "source-list"),
            ],
        ),
        ("KYIV, Ukraine (AP) \u2014 Troops withdrew overnight.", [("AP", "apnews.com", "dateline")]),
        ("LONDON (Reuters) - Prices rose.", [("Reuters", "reuters.com", "dateline")]),
        (
            "Desertions doubled, according to the Kyiv Independent.",
            [("the Kyiv Independent", "kyivindependent.com", "according-to")],
        ),
        (
            "The strike was first reported by The Guardian on Monday.",
            [("The Guardian", "theguardian.com", "attribution")],
        ),
        (
            "An official told The New York Times that talks stalled.",
            [("The New York Times", "nytimes.com", "attribution")],
        ),
        ("Bloomberg reported the deal late.", [("Bloomberg", "bloomberg.com", "attribution")]),
        (
            "Figures published by EurasianTimes.com differ.",
            [("EurasianTimes.com", "eurasiantimes.com", "attribution")],
        ),
        (
            "Sources: https://www.reuters.com/world/europe/story-2025-10-31/",
            [("https://www.reuters.com/world/europe/story-2025-10-31/", "reuters.com", "source-list")],
        ),
    ],
)
def test_patterns(text: str, expected: list[tuple[str, str, str]]) -> None:
    mentions = find_outlets(text)
    assert [(m.name, m.domain, m.pattern) for m in mentions] == expected
    assert all(m.name in text and m.pattern in PATTERNS for m in mentions)


@pytest.mark.parametrize(
    "text",
    [
        "StopBitBurning.com needs donations and support.",
        "Steve Forbes said the market would hold.",  # a person, though "Forbes" is in the table
        "according to MP Oleksiy Honcharenko and the Prosecutor General's Office",
        "Sources say the army is exhausted.",  # anonymous sources, no list
        "He told reporters, via a spokesman, that it was over.",
        "The F-16 (pictured) - was grounded.",
    ],
)
def test_no_citation(text: str) -> None:
    assert find_outlets(text) == []
    assert unknown_outlets(text) == []


def test_one_mention_per_domain_first_wins() -> None:
    text = "Troops left, according to Reuters. Source: Reuters.com, AP"
    assert [(m.name, m.pattern) for m in find_outlets(text)] == [
        ("Reuters", "according-to"),
        ("AP", "source-list"),
    ]


def test_unknown_names_are_reported_not_dropped() -> None:
    text = "Sources: Reuters, Daily Zorg. Aides told the Zorg Times, according to Ivan Lis. (Zorgpress) - Hi."
    assert [m.domain for m in find_outlets(text)] == ["reuters.com"]
    assert unknown_outlets(text) == ["Daily Zorg", "the Zorg Times", "Zorgpress"]


def test_user_names_extend_and_override_the_table() -> None:
    extra = {"Daily Zorg": "dailyzorg.example", "Reuters": "https://www.reuters.example/"}
    text = "Sources: daily zorg News; Reuters"
    assert [(m.name, m.domain) for m in find_outlets(text, extra)] == [
        ("daily zorg News", "dailyzorg.example"),
        ("Reuters", "reuters.example"),
    ]
    assert unknown_outlets(text, extra) == []
    assert unknown_outlets("Source: Daily Zorg") == ["Daily Zorg"]


@pytest.mark.parametrize(
    ("name", "domain"),
    [
        ("KyivIndependent.com", "kyivindependent.com"),
        ("https://www.theguardian.com/world", "theguardian.com"),
        ("RMX.news", "rmx.news"),
        ("news.bbc.co.uk", "bbc.co.uk"),
        ("http://example.co.uk:8080/a", "example.co.uk"),
        ("Reuters", None),
        ("e.g", None),
        ("U.S", None),
        ("report.pdf", None),
        ("slides.zip", None),
        ("co.uk", None),
        ("com", None),
        ("press@reuters.com", None),
        ("127.0.0.1", None),
        ("", None),
    ],
)
def test_registered_domain(name: str, domain: str | None) -> None:
    assert registered_domain(name) == domain


@pytest.mark.parametrize(
    ("name", "domain"),
    [
        ("The Guardian", "theguardian.com"),
        ("guardian", "theguardian.com"),
        ("the Kyiv Independent", "kyivindependent.com"),
        ("Associated Press", "apnews.com"),
        ("Agence France Presse", "afp.com"),
        ("S\u00fcddeutsche Zeitung", "sueddeutsche.de"),
        ("El Pa\u00eds", "elpais.com"),
        ("Reuters\u2019", "reuters.com"),
        ("Fox News", "foxnews.com"),
        ("Daily Zorg", None),
    ],
)
def test_outlet_domain(name: str, domain: str | None) -> None:
    assert outlet_domain(name) == domain


def test_builtin_table_is_sound() -> None:
    assert len(BUILTIN_OUTLETS) >= 60
    for name, domain in BUILTIN_OUTLETS.items():
        assert name == name.strip().lower(), name
        assert registered_domain(domain) == domain, domain  # a registered domain, not a host under one
        assert outlet_domain(name) == domain, name  # no entry is shadowed by another
    for required in (
        "reuters",
        "the guardian",
        "the new york times",
        "the kyiv independent",
        "the eurasian times",
    ):
        assert required in BUILTIN_OUTLETS


def test_every_builtin_outlet_is_documented() -> None:
    page = (ROOT / "docs" / "outlets.md").read_text(encoding="utf-8")
    table = page.split("## Built-in outlets", 1)[1]
    rows = re.findall(r"^\| (.+?) \| `([^`]+)` \|$", table, flags=re.MULTILINE)
    assert sorted(rows) == sorted(BUILTIN_OUTLETS.items())
    assert '[outlets]\n"Daily Zorg" = "dailyzorg.example"' in page
