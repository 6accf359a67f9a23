"""Claim impact on the example article: editing a number in a source marks exactly the claims that used it."""

from __future__ import annotations

from pathlib import Path

from archive.articles.claims import extract_claims
from archive.changes.impact import claim_impact

EXAMPLE = Path(__file__).parent / "data" / "citing-article.txt"  # a copy of shared/examples/

# A source page's text that carries several of the example's numbers and one of its quotes.
SOURCE = (
    "Prosecutors have opened more than 253,000 criminal cases for desertion and unauthorized "
    "abandonment since 2022. Of these, 202,997 cases concern unauthorized abandonment and 50,058 "
    "desertion. \u201cLet\u2019s be honest. The problem is big,\u201d said Olha Reshetylova."
)


def _claims():  # type: ignore[no-untyped-def]
    text = EXAMPLE.read_text(encoding="utf-8")
    return extract_claims(text)


def test_editing_one_number_marks_exactly_the_claims_that_used_it() -> None:
    claims = _claims()
    edited = SOURCE.replace("253,000", "260,000")
    impacts = {c.text: claim_impact(c, SOURCE, edited) for c in claims}
    users = {c.text for c in claims if "253000" in c.numbers}
    assert users, "the example has claims with 253,000"
    assert {t for t, i in impacts.items() if i.status != "unaffected"} == users
    assert all(impacts[t].changed == [("253000", "260000")] for t in users)


def test_a_removed_quote_is_lost_support() -> None:
    claims = _claims()
    edited = SOURCE.replace("\u201cLet\u2019s be honest. The problem is big,\u201d said", "Said")
    hit = {c.text for c in claims if claim_impact(c, SOURCE, edited).status == "lost-support"}
    assert hit and all("problem is big" in text for text in hit), hit


def test_a_change_elsewhere_affects_no_claim() -> None:
    edited = SOURCE + " The ministry did not comment."
    assert all(claim_impact(c, SOURCE, edited).status == "unaffected" for c in _claims())
