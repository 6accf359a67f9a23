"""Change classification on pairs of pages written here: each kind of change, each kind of noise,
and the tricky ones (one digit, a moved sentence, a paragraph added at the end, a new layout, a
truncated capture)."""

from __future__ import annotations

import random

import pytest

from archive.changes.classify import (
    CORRECTION,
    Observation,
    availability,
    classify,
    comparable_text,
    correction_notes,
)
from archive.changes.extract import body_text, html_text

URL = "https://news.example/2026/03/court-cases"

BODY = [
    "Prosecutors opened 253,000 criminal cases for desertion since 2022, the Prosecutor General's Office "
    "said on Tuesday in its annual report to parliament.",
    "That is four times the number recorded in the first year of the war, when 61,500 cases were opened.",
    "\u201cThe problem is big and it is growing,\u201d said Olha Reshetylova, the military ombudsperson, "
    "who has visited dozens of units this year.",
    "Officials said the backlog in the courts had reached 18,400 cases by the end of February, and "
    "that several regions had not reported for months.",
    "The ministry promised a full accounting by the end of the year and a public hearing in parliament.",
]


def page(
    paragraphs: list[str],
    rng: random.Random | None = None,
    *,
    title: str = "Desertion cases soar",
    byline: str = "Jane Writer",
    layout: str = "news",
    nav: tuple[str, ...] = ("Home", "World", "Politics", "Business", "Sport"),
) -> str:
    """A news page whose chrome (ads, related box, timestamps, counters, ids) comes from ``rng``."""
    rng = rng or random.Random(0)
    links = "".join(f"<a href='/{n.lower()}'>{n}</a> " for n in nav)
    related = "".join(
        f"<li><a href='/news/{rng.randint(1, 9999)}?sid={rng.getrandbits(40):x}'>Story {rng.randint(1, 99)} "
        f"about the {rng.choice(['budget', 'border', 'election'])}</a></li>"
        for _ in range(5)
    )
    offer = f"<a href='/ad?c={rng.getrandbits(30)}'>Save {rng.randint(5, 80)}%</a>"
    ad = f"<div class='ad'>Advertisement {offer}</div>"
    stamp = f"Updated {rng.randint(2, 59)} minutes ago"
    scripts = (
        f"<script src='/app.js?v={rng.getrandbits(24)}'></script><img src='/px.gif?u={rng.getrandbits(40)}'>"
    )
    if layout == "news":
        body = "".join(f"<p>{p}</p>" for p in paragraphs)
        return (
            f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"
            f"<meta name='author' content='{byline}'>{scripts}</head><body><nav>{links}</nav>{ad}"
            f"<article><h1>{title}</h1><p class='meta'>By {byline} | {stamp}</p>{body}</article>"
            f"<aside><h2>Most read</h2><ul>{related}</ul></aside>"
            f"<div class='count'>{rng.randint(0, 2000)} comments</div>"
            "<footer>Example News</footer></body></html>"
        )
    body = "".join(f"<div class='txt'><span>{p}</span></div>\n" for p in paragraphs)
    return (
        f"<html><head><title>{title}</title><meta name='author' content='{byline}'>{scripts}</head><body>"
        f"<div class='top'>{links}</div><div class='cols'><div class='main'><div class='hed'>{title}</div>"
        f"<div class='content'>{body}</div></div>"
        f"<div class='side'>{ad}<div class='box'>Popular now<ul>{related}"
        f"</ul></div><div>{rng.randint(10, 9000)} people reading now</div></div></div></body></html>"
    )


def observe(html: str, **fields: object) -> Observation:
    found = html_text(html, URL)
    values: dict[str, object] = {
        "status": 200,
        "text": found.text,
        "title": found.title,
        "author": found.author,
    }
    values.update(fields)
    return Observation(URL, date=found.date, **values)  # type: ignore[arg-type]


def compare(old_html: str, new_html: str, **new_fields: object):  # type: ignore[no-untyped-def]
    """Classify ``new_html`` against ``old_html`` as analysis does: the whole texts too, when the
    main texts agree."""
    old = observe(old_html)
    state = availability(old)
    assert state.state == "content", state
    wholes = lambda: (body_text(old_html, URL, CORRECTION), body_text(new_html, URL, CORRECTION))  # noqa: E731
    return classify(state, old, observe(new_html, **new_fields), wholes=wholes)


# -- real changes ---------------------------------------------------------------------


def test_a_one_digit_change_in_a_number_is_a_content_change() -> None:
    edited = [BODY[0].replace("253,000", "258,000"), *BODY[1:]]
    verdict = compare(page(BODY, random.Random(1)), page(edited, random.Random(2)))
    assert verdict.kind == "content"
    assert verdict.details["sentences_removed"] == [BODY[0]]
    assert "258,000" in verdict.details["sentences_added"][0]
    assert verdict.details["significance"] >= 0.3  # a number changed


def test_a_removed_sentence_is_a_content_change() -> None:
    edited = [BODY[0], BODY[1], BODY[2], BODY[3].split(", and")[0] + ".", BODY[4]]
    verdict = compare(page(BODY), page(edited, random.Random(5)))
    assert verdict.kind == "content"
    assert verdict.details["words_removed"] > 0


def test_a_paragraph_added_at_the_end_is_a_content_change() -> None:
    added = "On Friday the office said a further 3,100 cases were under review."
    verdict = compare(page(BODY), page([*BODY, added], random.Random(3)))
    assert verdict.kind == "content"
    assert verdict.details["sentences_added"] == [added]
    assert verdict.summary.startswith("1 sentence added")


def test_an_altered_quote_is_a_content_change() -> None:
    edited = [
        BODY[0],
        BODY[1],
        BODY[2].replace("big and it is growing", "big but it is shrinking"),
        *BODY[3:],
    ]
    verdict = compare(page(BODY), page(edited, random.Random(4)))
    assert verdict.kind == "content"
    assert verdict.details["significance"] >= 0.2


def test_a_moved_sentence_is_recorded_as_moved_with_low_significance() -> None:
    moved = [BODY[1], BODY[0], *BODY[2:]]
    verdict = compare(page(BODY), page(moved, random.Random(6)))
    assert verdict.kind == "content"
    assert verdict.summary == "sentences moved, none changed"
    assert verdict.details["significance"] < 0.1


@pytest.mark.parametrize(
    "note",
    [
        "Correction: An earlier version of this article gave the wrong number of regions.",
        "Update (March 14): The office has since revised its figures for February.",
        "This article has been amended to include a response from the ministry.",
    ],
)
def test_a_correction_note_is_a_correction(note: str) -> None:
    verdict = compare(page(BODY), page([*BODY, note], random.Random(7)))
    assert verdict.kind == "correction"
    assert verdict.details["corrections"] == [note]


def test_a_timestamp_line_is_not_a_correction_note() -> None:
    assert correction_notes("Updated: 12 March 2026, 10:32 GMT\n\nUpdated 5 minutes ago") == []


def test_a_new_title_with_the_same_text_is_a_metadata_change() -> None:
    verdict = compare(page(BODY), page(BODY, random.Random(8), title="Desertion cases reach a record"))
    assert verdict.kind == "metadata"
    assert verdict.details["metadata"]["title"] == ["Desertion cases soar", "Desertion cases reach a record"]


def test_a_new_byline_is_a_metadata_change() -> None:
    verdict = compare(page(BODY), page(BODY, random.Random(9), byline="John Editor"))
    assert verdict.kind == "metadata"
    assert "author" in verdict.details["metadata"]


# -- status, gone and back ---------------------------------------------------------------


def _content() -> Observation:
    return observe(page(BODY))


@pytest.mark.parametrize(
    ("new", "reason"),
    [
        (Observation(URL, 404), "HTTP 404"),
        (Observation(URL, 410), "HTTP 410"),
        (
            Observation(URL, None, outcome="dns", error="DNS lookup failed"),
            "the host name no longer resolves",
        ),
        (
            Observation(URL, 200, final_url="https://news.example/", text="Welcome to Example News " * 20),
            "redirects to the front page",
        ),
        (
            Observation(
                URL, 200, title="news.example", text="This domain is for sale. Buy this domain today."
            ),
            "the domain is parked or for sale",
        ),
        (
            Observation(URL, 200, title="Oops", text="Sorry, the page you requested could not be found."),
            "soft 404: the page says it was not found",
        ),
    ],
)
def test_a_source_that_stops_answering_with_its_content_is_gone(new: Observation, reason: str) -> None:
    old = _content()
    verdict = classify(availability(old), old, new)
    assert verdict.kind == "gone"
    assert verdict.availability.reason == reason
    assert verdict.details["status"] == {"old": "HTTP 200", "new": reason}


def test_a_soft_404_is_recognised_by_the_hosts_page_for_a_made_up_url() -> None:
    missing = page(
        ["We looked everywhere but this story has moved or never existed. " * 3], title="Example News"
    )
    probe = observe(missing)
    old = _content()
    verdict = classify(availability(old), old, observe(missing), probe)
    assert verdict.kind == "gone"
    assert verdict.availability.reason.startswith("soft 404: the page matches")
    # The same probe does not make a real article a soft 404.
    assert classify(availability(old), old, observe(page(BODY, random.Random(3))), probe).kind is None


def test_a_source_that_answers_again_is_back_and_its_text_compared_with_the_last_content() -> None:
    old = _content()
    gone = Observation(URL, 404)
    state = classify(availability(old), old, gone).availability
    back = classify(state, old, observe(page(BODY, random.Random(11))))
    assert back.kind == "back"
    assert back.summary == "back: HTTP 200"
    edited = classify(
        state, old, observe(page([*BODY, "A new paragraph about 77 more cases."], random.Random(12)))
    )
    assert edited.kind == "back" and "changed" in edited.summary


def test_one_kind_of_missing_becoming_another_is_a_status_change() -> None:
    verdict = classify(availability(Observation(URL, 404)), _content(), Observation(URL, 410))
    assert verdict.kind == "status"
    assert verdict.summary == "HTTP 404 -> HTTP 410"
    assert classify(availability(Observation(URL, 404)), _content(), Observation(URL, 404)).kind is None


def test_the_same_text_served_from_another_host_is_a_status_change() -> None:
    old = _content()
    moved = observe(page(BODY, random.Random(13)), final_url="https://archive.news.example2/court-cases")
    verdict = classify(availability(old), old, moved)
    assert verdict.kind == "status"
    assert "archive.news.example2" in verdict.summary


def test_a_first_capture_records_no_change() -> None:
    assert classify(None, None, _content()).kind is None


# -- capture problems ----------------------------------------------------------------------


def test_a_truncated_capture_is_a_capture_problem_not_a_change() -> None:
    half = observe(page(BODY[:2]), outcome="truncated")
    verdict = classify(availability(_content()), _content(), half)
    assert verdict.problem and verdict.kind is None
    assert verdict.availability.reason == "the capture was truncated"


def test_far_less_text_than_before_is_a_capture_problem_until_seen_twice() -> None:
    long_body = BODY * 3  # enough words for thinness to be judged
    old = observe(page([f"{p} (part {i})" for i, p in enumerate(long_body)]))
    thin = observe(page(BODY[:1], random.Random(2)))
    verdict = classify(availability(old), old, thin)
    assert verdict.problem and verdict.details == {"thin": True}
    confirmed = classify(availability(old), old, thin, accept_thin=True)
    assert confirmed.kind == "content"


def test_a_page_with_no_main_text_is_a_capture_problem() -> None:
    shell = observe("<html><head><title>App</title></head><body><div id='app'></div></body></html>")
    verdict = classify(availability(_content()), _content(), shell)
    assert verdict.problem
    assert verdict.availability.reason == "no main text could be extracted"


# -- noise ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "noise",
    [
        "reload",  # new ads, related links, timestamps, counters, session ids, cache busters
        "nav-order",
        "markup",
        "layout",
        "whitespace",
        "quote-style",
    ],
)
def test_noise_makes_no_change(noise: str) -> None:
    old = page(BODY, random.Random(20))
    rng = random.Random(21)
    if noise == "reload":
        new = page(BODY, rng)
    elif noise == "nav-order":
        new = page(BODY, rng, nav=("Sport", "Home", "Business", "World", "Politics"))
    elif noise == "markup":
        new = page(BODY, rng).replace("<p>", "<p class='para'><span>").replace("</p>", "</span></p>")
    elif noise == "layout":
        new = page(BODY, rng, layout="divs")
    elif noise == "whitespace":
        new = page([p.replace(" ", "  \n ") for p in BODY], rng)
    else:
        new = page(
            [p.replace("\u201c", '"').replace("\u201d", '"').replace("'", "\u2019") for p in BODY], rng
        )
    assert old != new
    verdict = compare(old, new)
    assert verdict.kind is None, verdict.summary


@pytest.mark.parametrize(
    "line",
    [
        "Updated 7 minutes ago",
        "Updated 10:32 GMT, 12 March 2026",
        "1,204 comments",
        "Advertisement",
        "Advertisement Save 82% on flights",
        "Read more: Border crossings double in March",
        "318 shares",
    ],
)
def test_volatile_lines_inside_the_article_body_are_dropped(line: str) -> None:
    text = "\n\n".join([BODY[0], line, BODY[1]])
    assert comparable_text(text) == "\n\n".join(BODY[:2])


def test_a_number_inside_a_sentence_is_never_taken_for_a_counter() -> None:
    text = "Officials said 1,204 comments were submitted to the consultation."
    assert comparable_text(text) == text


# -- what is not noise -------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "253,000",
        "| 2023 | 253,000 |",
        "At least 40",
        "Last night",
        "East",
        "Not yet.",
        "Related charges were filed against 3 other officials.",
        "Watch groups said 253 people were detained in Minsk.",
        "Most popular among voters was the proposal to cut taxes by 5%.",
        "Recommended doses were cut from 50 to 25 milligrams.",
        "Advertisement revenue rose 5% in 2024.",
        "Sponsored by the ministry, the survey covered 4,000 homes.",
    ],
)
def test_real_lines_are_never_taken_for_noise(line: str) -> None:
    text = "\n".join([BODY[0], line, BODY[1]])
    assert comparable_text(text) == text


@pytest.mark.parametrize(
    "line",
    [
        "5h ago",
        "12m ago",
        "2 years ago",
        "Today, 10:32",
        "Updated 10:32 AM ET, 12 March 2026",
        "Updated: 2026-03-12T10:32:00+00:00",
        "Posted 3:15 p.m. PT",
        "Tuesday 12 March 2026 08.15 GMT",
    ],
)
def test_timestamp_lines_in_every_common_form_are_noise(line: str) -> None:
    assert comparable_text("\n".join([BODY[0], line, BODY[1]])) == "\n".join(BODY[:2])


def test_a_number_in_a_table_row_changing_is_a_content_change() -> None:
    table = "<table><tr><td>2023</td><td>253,000</td></tr><tr><td>2024</td><td>61,500</td></tr></table>"
    edited = table.replace("253,000", "258,000")
    old = page(BODY).replace("</article>", table + "</article>")
    new = page(BODY, random.Random(3)).replace("</article>", edited + "</article>")
    assert compare(old, new).kind == "content"


def test_a_relative_time_inside_a_sentence_is_text() -> None:
    said = "The law passed 3 months ago after a long debate in parliament about the budget and the courts."
    verdict = compare(
        page([*BODY, said]), page([*BODY, said.replace("3 months", "9 months")], random.Random(2))
    )
    assert verdict.kind == "content"


@pytest.mark.parametrize(
    ("old_title", "new_title"),
    [
        ("Jury finds him not guilty", "Jury finds him guilty"),
        ("10 killed in Kyiv blast", "25 killed in Kyiv blast"),
    ],
)
def test_a_headline_with_a_changed_number_or_negation_is_a_metadata_change(
    old_title: str, new_title: str
) -> None:
    verdict = compare(page(BODY, title=old_title), page(BODY, random.Random(5), title=new_title))
    assert verdict.kind == "metadata"


def test_a_short_article_that_mentions_404_is_content() -> None:
    brief = ["Flight 404 landed safely in Lisbon after a bird strike, the airline said; no one was hurt."]
    assert availability(observe(page(brief, title="Flight 404 lands safely"))).state == "content"


def test_a_front_page_like_the_hosts_page_for_a_made_up_url_is_not_a_soft_404() -> None:
    home = observe(page(BODY, title="Example News"))
    home.url = "https://news.example/"
    probe = observe(page(BODY, random.Random(4), title="Example News"))
    assert availability(home, probe).state == "content"


@pytest.mark.parametrize(
    "final",
    ["https://consent.other.example/?continue=x", "https://news.example/?p=123", "https://login.example/"],
)
def test_a_redirect_to_another_sites_page_or_a_query_is_not_a_redirect_home(final: str) -> None:
    moved = observe(page(BODY), final_url=final)
    assert availability(moved).reason != "redirects to the front page"


@pytest.mark.parametrize("outcome", ["cancelled", "browser", "error", "robots", "blocked"])
def test_failures_of_the_capture_itself_are_capture_problems(outcome: str) -> None:
    verdict = classify(availability(_content()), _content(), Observation(URL, None, outcome=outcome))
    assert verdict.problem and verdict.kind is None


def test_one_server_error_is_noted_and_the_second_in_a_row_is_gone() -> None:
    old = _content()
    first = classify(availability(old), old, Observation(URL, 503))
    assert first.kind is None and first.details == {"first_failure": True}
    second = classify(availability(old), old, Observation(URL, 503), accept_failure=True)
    assert second.kind == "gone" and second.summary == "gone: HTTP 503"


# -- what the main text leaves out --------------------------------------------------


def _pair(old_whole: str, new_whole: str, main: str = "First paragraph of the story.\nLast paragraph of it."):  # type: ignore[no-untyped-def]
    old = Observation(URL, status=200, text=main, title="T")
    new = Observation(URL, status=200, text=main, title="T")
    return classify(availability(old), old, new, wholes=lambda: (old_whole, new_whole))


def test_an_edit_the_main_text_leaves_out_is_a_change_when_the_whole_text_has_it() -> None:
    middle = "The office said 253,000 cases were opened, a figure the main extraction dropped."
    around = "Home\nFirst paragraph of the story.\n{}\nLast paragraph of it.\nMost read\nStory one"
    verdict = _pair(around.format(middle), around.format(middle.replace("253,000", "235,000")))
    assert verdict.kind == "content" and verdict.details["compared"] == "article body"
    assert verdict.details["sentences_removed"] == [middle]
    assert "main extraction leaves out" in verdict.summary
    note = "Correction: An earlier version of this story misstated the number of cases."
    corrected = _pair(around.format(middle), around.format(middle) + "\n" + note)
    assert corrected.kind == "correction" and corrected.details["corrections"] == [note]


@pytest.mark.parametrize(
    "old_extra, new_extra",
    [
        ("Home\nWorld", "Home\nSport"),  # menus before the article
        ("", "We use cookies to improve your experience. Accept all"),  # a banner before it
    ],
)
def test_what_the_whole_text_has_around_the_article_is_not_a_change(old_extra: str, new_extra: str) -> None:
    body = "First paragraph of the story.\nRead more: {}\nAdvertisement\nLast paragraph of it.\nMost read\n{}"
    old = f"{old_extra}\n" + body.format("Markets slide again", "Story one\nStory two")
    new = f"{new_extra}\n" + body.format("The town that lost its bus", "Story three")
    assert _pair(old, new).kind is None


def test_a_date_that_only_moved_on_is_not_a_change_but_one_moved_back_is() -> None:
    old = Observation(URL, status=200, text="Same text of the story.", date="2024-03-05")
    later = Observation(URL, status=200, text="Same text of the story.", date="2024-03-09")
    earlier = Observation(URL, status=200, text="Same text of the story.", date="2023-11-30")
    assert classify(availability(old), old, later).kind is None
    assert classify(availability(old), old, earlier).kind == "metadata"


def test_a_reader_count_run_into_the_text_beside_it_is_noise() -> None:
    # As real pages show it: the count and the byline or caption beside it on one line.
    text = "\n".join(BODY[:2]) + "\n{} people are reading thisLucas Nolan is a reporter covering courts."
    old = Observation(URL, status=200, text=text.format("1,204"))
    assert (
        classify(availability(old), old, Observation(URL, status=200, text=text.format("47,193"))).kind
        is None
    )
    edited = text.replace("covering courts", "covering the army").format("1,204")
    assert classify(availability(old), old, Observation(URL, status=200, text=edited)).kind == "content"
