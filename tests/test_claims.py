"""Claims of a citing article: sentences, numbers, quotations, speakers and names.

Most checks run on the real example article and compare against what its text says (a number as written
there, a quotation between its quote marks), not against a copy of this module's own output.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from archive.articles.claims import ClaimDraft, extract_claims, normalise_number, number_forms, sentences

# A copy of shared/examples/citing-article.txt, so that a clean checkout has it.
EXAMPLE = (Path(__file__).parent / "data" / "citing-article.txt").read_text(encoding="utf-8")
CLAIMS = extract_claims(EXAMPLE)
SENTENCES = sentences(EXAMPLE)


def claim_with(fragment: str) -> ClaimDraft:
    """The one claim whose sentence holds ``fragment``."""
    found = [claim for claim in CLAIMS if fragment in claim.text]
    assert len(found) == 1, (fragment, [claim.text for claim in found])
    return found[0]


def squeezed(text: str) -> str:
    return re.sub(r"\s+", "", text)


# Sentences ------------------------------------------------------------------------------------------------


def test_sentences_lose_and_add_nothing() -> None:
    # Only whitespace, bullets and the doubled period of "Office.." differ from the article's own text.
    assert "Office.. This" in EXAMPLE
    expected = squeezed(EXAMPLE).replace("\u2022", "").replace("Office..", "Office.")
    assert squeezed("".join(SENTENCES)) == expected


def test_example_sentence_boundaries() -> None:
    office = next(i for i, s in enumerate(SENTENCES) if "Prosecutor General's Office" in s)
    assert SENTENCES[office].endswith("Prosecutor General's Office.")
    assert SENTENCES[office + 1].startswith("This crisis of morale")
    assert '"Let\u2019s be honest. The problem is big," she said.' in SENTENCES
    viktor = next(s for s in SENTENCES if s.startswith("One deserter named Viktor"))
    assert viktor.endswith('stating, "I realized I\u2019m nobody. Just a number."')
    sources = next(s for s in SENTENCES if s.startswith("Sources for this article include:"))
    assert sources.endswith(
        "TheGuardian.com"
    )  # the share buttons on the next lines are sentences of their own
    assert SENTENCES[-3:] == ["Mastodon", "Parler", "Gab"]
    assert all(s == " ".join(s.split()) and not s.startswith("\u2022") for s in SENTENCES)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Mr. Smith met Dr. Jones. They left.", ["Mr. Smith met Dr. Jones.", "They left."]),
        ("Lt. Col. Ivan Lis and Gen. Syrsky spoke.", ["Lt. Col. Ivan Lis and Gen. Syrsky spoke."]),
        ("J. R. R. Tolkien wrote it. Fine.", ["J. R. R. Tolkien wrote it.", "Fine."]),
        ("U.S. troops left. The U.S. Army stayed.", ["U.S. troops left.", "The U.S. Army stayed."]),
        ("He moved to the U.S. The move was hard.", ["He moved to the U.S.", "The move was hard."]),
        (
            "Output grew 1.5 percent to $1,500.25 in 2020. Then it fell.",
            ["Output grew 1.5 percent to $1,500.25 in 2020.", "Then it fell."],
        ),
        ("We paused... Then we left.", ["We paused...", "Then we left."]),
        ("We paused\u2026 and then left.", ["We paused\u2026 and then left."]),
        ('"Let us go. Now," she said. He agreed.', ['"Let us go. Now," she said.', "He agreed."]),
        ("\u201cIt ended. We lost.\u201d He wept.", ["\u201cIt ended. We lost.\u201d", "He wept."]),
        ("Data from the Office.. This is bad.", ["Data from the Office.", "This is bad."]),
        ("Wait! Really? Yes.", ["Wait!", "Really?", "Yes."]),
        ("It costs approx. 5 dollars, e.g. lunch.", ["It costs approx. 5 dollars, e.g. lunch."]),
        ("Acme Inc. said so. Acme Inc. Shares rose.", ["Acme Inc. said so.", "Acme Inc. Shares rose."]),
        (
            "A line that is\nhard-wrapped here.\n\nNext paragraph",
            ["A line that is hard-wrapped here.", "Next paragraph"],
        ),
        ("Headline without a period\nBy someone", ["Headline without a period", "By someone"]),
        (
            "  \u2022 First point.\n  - Second point.\n1. Third point.",
            ["First point.", "Second point.", "Third point."],
        ),
        ("\u00a0\n \n...\n", []),
        ("", []),
    ],
)
def test_sentence_edge_cases(text: str, expected: list[str]) -> None:
    assert sentences(text) == expected


# Numbers --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "written",
    [
        "253,000",
        "576",
        "202,997",
        "50,058",
        "7,000",
        "105,500",
        "14,000",
        "18,000",
        "25,000",
        "20,538",
        "300,000",
    ],
)
def test_example_numbers_are_claims(written: str) -> None:
    assert re.search(rf"(?<![\d,]){written}(?![\d,]\d)", EXAMPLE)
    claim = claim_with(f" {written}")
    assert written.replace(",", "") in claim.numbers
    assert any(quantity.startswith(written) and quantity in claim.text for quantity in claim.quantities)


def test_example_quantities_keep_their_units() -> None:
    for quantity in (
        "253,000 criminal cases",
        "576 soldiers",
        "202,997 criminal cases",
        "50,058 cases",
        "20,538 cases",
    ):
        assert quantity in EXAMPLE
        assert quantity in claim_with(quantity).quantities


def test_example_fivefold_and_years() -> None:
    claim = claim_with("fivefold")
    assert "5x" in claim.numbers and "fivefold" in claim.quantities
    trend = claim_with("7,000 in 2022")
    assert {"2022", "2025"} <= set(trend.years)
    assert "2022" not in trend.numbers and "2025" not in trend.numbers


def test_example_headline_and_bullet_with_numbers_are_claims() -> None:
    assert "250,000+ cases opened" in EXAMPLE
    assert "250000" in claim_with("250,000+").numbers
    bullet = next(line for line in EXAMPLE.splitlines() if "600 per day" in line)
    assert bullet.strip().startswith("\u2022")
    claim = claim_with("600 per day")
    assert claim.text == bullet.strip().lstrip("\u2022").strip()
    assert "600" in claim.numbers


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("253,000", "253000"),
        ("20,538", "20538"),
        ("250,000+", "250000"),
        ("nearly 576", "576"),
        ("more than 25,000", "25000"),
        ("as many as 300,000", "300000"),
        ("1.5 million", "1500000"),
        ("253 thousand", "253000"),
        ("$2.5bn", "2500000000"),
        ("\u00a35m", "5000000"),
        ("12%", "12"),
        ("1.50", "1.5"),
        ("fivefold", "5x"),
        ("3-fold", "3x"),
        ("twenty-five", "25"),
        ("two hundred", "200"),
        ("2022", "2022"),
        ("Reuters", None),
        ("3rd", None),
        ("1990s", None),
        ("F-16", None),
        ("one", None),
        ("576 soldiers", None),
        ("", None),
    ],
)
def test_normalise_number(token: str, expected: str | None) -> None:
    assert normalise_number(token) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("from 7,000 in 2022 to 105,500 in 2025", {"7000", "105500", "y:2022", "y:2025"}),
        ("1.5 million, or 1,500,000", {"1500000"}),
        ("253 thousand and 253,000", {"253000"}),
        ("by mid-2025, in the 1990s, on its 3rd try", {"y:2025"}),
        ("Published 2025-10-31 10:30, on 31 October 2025 or October 31, 2025", {"y:2025"}),
        ("COVID-19 and F-16 and Su-34", set()),
        ("between 14,000 and 18,000 cases, almost fivefold", {"14000", "18000", "5x"}),
    ],
)
def test_number_forms(text: str, expected: set[str]) -> None:
    assert number_forms(text) == expected


def test_number_forms_agree_between_claim_and_candidate() -> None:
    claim = claim_with("253,000")
    candidate = "Prosecutors have opened more than 253 thousand criminal cases since 2022."
    assert set(claim.numbers) <= number_forms(candidate)
    assert {f"y:{year}" for year in claim.years} <= number_forms(candidate)


# Quotations and speakers ----------------------------------------------------------------------------------


def test_every_quotation_in_the_example_is_a_claim() -> None:
    written = [q.strip().rstrip(",") for q in re.findall(r'"([^"]+)"', EXAMPLE)]
    assert len(written) == 6
    quoted = [quote for claim in CLAIMS for quote in claim.quotes]
    assert quoted == written
    assert all(quote in claim.text for claim in CLAIMS for quote in claim.quotes)


@pytest.mark.parametrize(
    ("quote", "speaker"),
    [
        ("I realized I\u2019m nobody. Just a number.", "Viktor"),
        ("The longer the war goes on, the more people like me there will be.", "Oleksii"),
        ("Let\u2019s be honest. The problem is big", "Olha Reshetylova"),
        ("People are exhausted.", "Olha Reshetylova"),  # the quotation standing alone after hers
        ("If it comes to a choice between being killed", "Olha Reshetylova"),  # "She added ..."
    ],
)
def test_example_speakers(quote: str, speaker: str) -> None:
    assert quote in EXAMPLE and speaker in EXAMPLE
    claim = claim_with(quote)
    assert any(quote in q for q in claim.quotes)
    assert claim.speakers == (speaker,)


def test_unnamed_speaker_stays_unknown() -> None:
    claim = claim_with("Everybody is tired.")
    assert "As one soldier put it" in claim.text
    assert claim.quotes == ("Everybody is tired. The mood has changed.",) and claim.speakers == ()


@pytest.mark.parametrize(
    ("text", "speakers"),
    [
        ('"We will hold the line," said Ivan Lis.', ("Ivan Lis",)),
        ('"We will hold the line," Lis said.', ("Lis",)),
        ('Colonel Ivan Lis arrived. "We will hold the line," Lis said.', ("Ivan Lis",)),
        ("Ivan Lis spoke. \u201cWe will hold the line,\u201d he said.", ("Ivan Lis",)),
        ("\u2018We will hold the line\u2019, the spokesman said.", ()),
    ],
)
def test_speakers(text: str, speakers: tuple[str, ...]) -> None:
    claim = extract_claims(text)[-1]
    assert claim.quotes == ("We will hold the line",)
    assert claim.speakers == speakers


def test_short_quotes_are_not_quotations() -> None:
    assert extract_claims('"Too short," he said. The \u201cso-called\u201d plan.') == []


# Names ----------------------------------------------------------------------------------------------------


def test_example_names() -> None:
    named = {entity for claim in CLAIMS for entity in claim.entities}
    for name in (
        "Prosecutor General's Office",
        "Oleksiy Honcharenko",
        "Olha Reshetylova",
        "Viktor",
        "Ukraine",
        "Russia",
    ):
        assert name in EXAMPLE
        assert name in named, name
    assert "Oleksiy Honcharenko" in claim_with("fivefold").entities  # "MP" is a title, not part of the name
    for word in (
        "Official",
        "Ukrainian",
        "Russian",
        "AWOL",
        "I",
        "Let",
        "The",
        "Reports",
        "Analysts",
        "People",
        "MP",
    ):
        assert word not in named, word


@pytest.mark.parametrize(
    ("text", "entities"),
    [
        ("Lieutenant General Oleksandr Syrsky said 5,000 troops left.", ("Oleksandr Syrsky",)),
        ("The Ministry of Defence of Ukraine counted 5,000.", ("Ministry of Defence", "Ukraine")),
        ("Ursula von der Leyen met 12 envoys.", ("Ursula von der Leyen",)),
        ("Troops of Ukraine's Defence Ministry lost 3,000.", ("Ukraine", "Defence Ministry")),
        ("In Kyiv, 4,000 people said it on Monday in May.", ("Kyiv",)),
        (
            "Russian President Vladimir Putin saw the British Museum 3 times.",
            ("Vladimir Putin", "British Museum"),
        ),
    ],
)
def test_names(text: str, entities: tuple[str, ...]) -> None:
    (claim,) = extract_claims(text)
    assert claim.entities == entities


# Claims ---------------------------------------------------------------------------------------------------


def test_chrome_and_source_list_are_not_claims() -> None:
    texts = [claim.text for claim in CLAIMS]
    assert not {"Mastodon", "Parler", "Gab"} & set(texts)
    assert not any(
        text.startswith(("Sources for this article", "By isabelle", "Join the movement")) for text in texts
    )
    assert not any("StopBitBurning" in text for text in texts)


def test_claims_point_at_their_sentences() -> None:
    assert [claim.position for claim in CLAIMS] == sorted({claim.position for claim in CLAIMS})
    for claim in CLAIMS:
        assert SENTENCES[claim.position] == claim.text
        assert all(term in claim.text for term in (*claim.quantities, *claim.quotes, *claim.entities))


def test_a_sentence_without_checkable_content_is_no_claim() -> None:
    assert "The scale of the problem is immense." in SENTENCES
    assert all(claim.text != "The scale of the problem is immense." for claim in CLAIMS)
    assert extract_claims("Nothing to see here. Ukraine is large.") == []
    assert [
        c.text
        for c in extract_claims("Talks with Ukraine and Russia failed. Later, Kyiv hosted talks in 2024.")
    ] == [
        "Talks with Ukraine and Russia failed.",
        "Later, Kyiv hosted talks in 2024.",
    ]


def test_terms_are_json() -> None:
    claim = claim_with("fivefold")
    terms = json.loads(json.dumps(claim.terms()))
    assert set(terms) == {"numbers", "years", "quantities", "quotes", "speakers", "entities"}
    assert terms["numbers"] == list(claim.numbers)


@pytest.mark.parametrize(
    "line",
    [
        "By Jo Checker // 2025-11-02",
        "By Jane Doe and John Roe, Reuters",
        "Written by Anna Bell | November 2, 2025, 10:41 AM",
        "By ISABELLE MARTIN, Staff Writer. Updated Nov. 2, 2025",
    ],
)
def test_a_byline_is_not_a_claim(line: str) -> None:
    text = f"{line}\n\nProsecutors opened 253,000 cases in Kyiv, Olha Reshetylova said."
    assert [c.text for c in extract_claims(text)] == [
        "Prosecutors opened 253,000 cases in Kyiv, Olha Reshetylova said."
    ]


def test_a_sentence_starting_with_by_is_still_a_claim() -> None:
    for sentence in (
        "By 2022, 7,000 troops had left.",
        "By the end of March, Vladimir Putin and Joe Biden met in Geneva.",
    ):
        assert [c.text for c in extract_claims(sentence)] == [sentence]


def test_a_dateline_is_not_a_claim_but_an_update_sentence_is() -> None:
    assert extract_claims("Published 2 November 2025, 10:41 GMT") == []
    claim = "Updated figures from Kyiv and Lviv show 4,000 more cases."
    assert [c.text for c in extract_claims(claim)] == [claim]
