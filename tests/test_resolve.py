"""Ranking an outlet's candidates: pure functions over claims and page texts."""

from __future__ import annotations

from datetime import datetime

from archive.articles import resolve
from archive.articles.claims import extract_claims

CLAIMS = extract_claims(
    "Prosecutors have opened more than 253,000 criminal cases for desertion since 2022, official data show. "
    'Ombudsperson Olha Reshetylova said: "Let us be honest, the problem is big and it keeps growing."'
)
TARGET = (
    "The Prosecutor General's Office says more than 253,000 criminal cases for desertion and absence "
    "without leave have been opened since 2022. Ombudsperson Olha Reshetylova said: \u201cLet us be honest, "
    "the problem is big and it keeps growing.\u201d"
)
SAME_NUMBERS = "Exporters shipped 253,000 tonnes of grain through the ports this week, traders said in 2022."
SAME_TOPIC = (
    "Prosecutors have opened 41,000 criminal cases for desertion, officials said, as the problem grows."
)


def _entry(url: str, title: str = "", published: datetime | None = None) -> resolve.Entry:
    return resolve.Entry(url, title, "", published)


def test_confirmed_target_outranks_same_numbers_and_same_topic() -> None:
    pages = {
        "https://o.example/t": TARGET,
        "https://o.example/n": SAME_NUMBERS,
        "https://o.example/s": SAME_TOPIC,
    }
    shortlisted = resolve.shortlist([_entry(u) for u in pages], CLAIMS)
    ranked = resolve.confirm(shortlisted, pages, CLAIMS)
    assert ranked[0].entry.url == "https://o.example/t" and all(s.confirmed for s in ranked)
    assert ranked[0].score >= 0.5 > max(s.score for s in ranked[1:])
    decoy = next(s for s in ranked if s.entry.url == "https://o.example/n")
    assert [m.get("unit") for m in decoy.evidence["matched"] if m["kind"] == "number"] == ["missing"]
    kinds = {m["kind"] for m in ranked[0].evidence["matched"]}
    assert {"number", "quote", "entity"} <= kinds


def test_a_number_without_its_unit_is_weak_evidence() -> None:
    (term,) = [t for t in resolve.claim_terms(CLAIMS) if t.kind == "number"]
    assert term.raw == "253,000" and "cases" in term.unit
    assert resolve.unit_check(term, resolve.Document(TARGET)) == "matched"
    assert resolve.unit_check(term, resolve.Document(SAME_NUMBERS)) == "missing"
    assert resolve.unit_check(term, resolve.Document("It was 253 000 cases.")) == "unchecked"


def test_date_window_keeps_undated_pages() -> None:
    published = datetime(2025, 10, 31)
    entries = [
        _entry("https://o.example/old", published=datetime(2025, 8, 1)),
        _entry("https://o.example/in", published=datetime(2025, 10, 1)),
        _entry("https://o.example/after", published=datetime(2025, 11, 2)),
        _entry("https://o.example/late", published=datetime(2025, 11, 30)),
        _entry("https://o.example/undated"),
    ]
    kept = [e.url.rsplit("/", 1)[1] for e in resolve.in_window(entries, resolve.window(published, 60, 3))]
    assert kept == ["in", "after", "undated"]


def test_shortlist_uses_titles_and_numbers_in_them() -> None:
    entries = [
        _entry("https://o.example/a", "Weather turns cold in the capital"),
        _entry("https://o.example/b", "Prosecutors: 253,000 criminal cases for desertion since 2022"),
        _entry("https://o.example/c", "Desertion debate in parliament"),
    ]
    ranked = resolve.shortlist(entries, CLAIMS)
    assert ranked[0].entry.url == "https://o.example/b"
    assert any(m["kind"] == "number" and m["where"] == "title" for m in ranked[0].evidence["matched"])


def test_a_page_naming_the_person_quoted_supports_every_claim_quoting_them() -> None:
    claims = extract_claims(
        "Olha Reshetylova, the ombudsperson, visited Kyiv and Lviv in 2025.\n"
        'Later that week she said: "The problem is big and it keeps growing every single month."\n'
        "Reshetylova added that 600 soldiers leave each day."
    )
    quoting = [c for c in claims if c.speakers]
    assert quoting, [(c.text, c.speakers) for c in claims]
    page = "An interview with Olha Reshetylova about morale, held in Kyiv."
    scored = resolve.confirm(
        [resolve.Scored(_entry("https://x.example/a"), 0.5)], {"https://x.example/a": page}, claims
    )
    names = {m["term"] for m in scored[0].evidence["matched"] if m["kind"] == "entity"}
    assert any("Reshetylova" in n for n in names), scored[0].evidence
    supported = resolve.claims_supported(scored[0], claims)
    assert {c.position for c in quoting} <= set(supported)
    assert not resolve.claims_supported(scored[0]) or set(resolve.claims_supported(scored[0])) < set(
        supported
    )


def test_snippets_keep_the_page_s_words_and_case() -> None:
    text = (
        "Intro words here. " * 8
        + "The Prosecutor General's Office opened 253,000 cases. "
        + "Tail text. " * 8
    )
    doc = resolve.Document(text)
    snippet = resolve._snippet(doc, "253,000")
    assert "Prosecutor General's Office opened 253,000 cases" in snippet
    body = snippet.strip("\u2026")
    assert body == body.strip() and body in " ".join(text.split())  # whole words, as written
    assert snippet.startswith("\u2026") and snippet.endswith("\u2026")
