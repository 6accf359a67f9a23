"""Generated news articles in varied page templates, with noise-only and real-edit variants.

What change detection is judged on. An :class:`Story` is the text (headline,
byline, paragraphs with numbers, quotations and names); a template renders it
inside real-looking chrome that differs from one load to the next: rotating
ads (some inside the article body), "related" and "most read" boxes,
timestamps, comment and share counters, session ids and cache-busting URLs,
tracking scripts and pixels, cookie banners, newsletter boxes.

:func:`noise_variants` render the same story again with only the chrome
changed (and, for ``relayout``, in another template altogether);
:func:`edit_variants` change what the story says, the way newsrooms do. Pure
functions of a ``random.Random``: the same seed gives the same pages.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace

PLACES = [
    "Kyiv",
    "Warsaw",
    "Lagos",
    "Lima",
    "Manila",
    "Oslo",
    "Nairobi",
    "Hanoi",
    "Quito",
    "Tbilisi",
    "Bergen",
]
ORGS = [
    "the Ministry of Justice",
    "the Prosecutor General's Office",
    "the central bank",
    "the national statistics agency",
    "the health ministry",
    "the electoral commission",
    "the border guard service",
    "the audit office",
]
PEOPLE = [
    "Olha Reshetylova",
    "Tomasz Nowak",
    "Amara Okafor",
    "Lucia Quispe",
    "Maria Santos",
    "Ingrid Dahl",
    "James Mwangi",
    "Nguyen Van An",
]
NOUNS = [
    "criminal cases",
    "complaints",
    "applications",
    "permits",
    "arrests",
    "claims",
    "inspections",
    "contracts",
]
VERBS = ["opened", "registered", "filed", "approved", "recorded", "reviewed", "rejected", "processed"]
PERIODS = [
    "last year",
    "in the first quarter",
    "since January",
    "in 2025",
    "over the past decade",
    "this month",
]
FILLER = [
    "The figures were published in an annual report that runs to more than two hundred pages.",
    "Critics said the data was incomplete because several regions had not reported for months.",
    "The government has promised a full accounting by the end of the year.",
    "Independent analysts said the trend had been visible for some time.",
    "Opposition lawmakers called for a public hearing in parliament.",
    "Local officials said they lacked the staff to process the backlog.",
    "The report did not say how many of the cases had reached a court.",
    "Previous reports had used a different method, which makes comparisons difficult.",
    "Officials declined to comment on individual cases.",
    "The numbers are expected to be revised when the final data arrives.",
]
QUOTES = [
    "the problem is bigger than anyone wants to admit",
    "we are doing everything we can with the resources we have",
    "these numbers should worry every citizen of this country",
    "nobody expected the increase to be this fast",
    "the data speaks for itself and it is not good news",
    "we will publish every figure as soon as it is checked",
]


def _number(rng: random.Random) -> str:
    value = rng.choice([rng.randint(12, 999), rng.randint(1_000, 99_999), rng.randint(100_000, 999_999)])
    return f"{value:,}"


@dataclass
class Story:
    headline: str
    byline: str
    date: str
    paragraphs: list[str] = field(default_factory=list)


def make_story(rng: random.Random) -> Story:
    """A news story of 6-12 paragraphs with numbers, quotations, people and places."""
    place, org, person = rng.choice(PLACES), rng.choice(ORGS), rng.choice(PEOPLE)
    noun, verb = rng.choice(NOUNS), rng.choice(VERBS)
    paragraphs = [
        f"Authorities in {place} {verb} {_number(rng)} {noun} {rng.choice(PERIODS)}, "
        f"according to figures released by {org} on {rng.choice(['Monday', 'Tuesday', 'Thursday'])}.",
        f"That is {rng.randint(2, 9)} times the number recorded five years ago, "
        f"when {org} counted {_number(rng)}.",
        f"\u201c{rng.choice(QUOTES).capitalize()},\u201d said {person}, who has followed the issue "
        f"for {rng.randint(3, 20)} years.",
    ]
    for _ in range(rng.randint(3, 9)):
        kind = rng.random()
        if kind < 0.35:
            paragraphs.append(
                f"In {rng.choice(PLACES)}, officials {rng.choice(VERBS)} {_number(rng)} "
                f"{rng.choice(NOUNS)} {rng.choice(PERIODS)}, up {rng.randint(2, 60)} percent."
            )
        elif kind < 0.5:
            paragraphs.append(
                f"\u201c{rng.choice(QUOTES).capitalize()},\u201d {rng.choice(PEOPLE)} told reporters."
            )
        else:
            paragraphs.append(" ".join(rng.sample(FILLER, rng.randint(2, 3))))
    return Story(
        headline=f"{noun.capitalize()} in {place} reach record",
        byline=f"By {rng.choice(PEOPLE)}",
        date=f"2026-{rng.randint(1, 10):02d}-{rng.randint(1, 28):02d}",
        paragraphs=paragraphs,
    )


# -- chrome ------------------------------------------------------------------------


def _nav(rng: random.Random, shuffle: bool) -> str:
    sections = ["Home", "World", "Politics", "Business", "Science", "Sport", "Culture", "Opinion"]
    if shuffle:
        rng.shuffle(sections)
    return "".join(f"<a href='/{s.lower()}'>{s}</a> " for s in sections)


def _related(rng: random.Random, n: int = 5) -> str:
    return "".join(
        f"<li><a href='/news/{rng.randint(1, 99999)}?ref=related&sid={rng.getrandbits(40):x}'>"
        f"{rng.choice(NOUNS).capitalize()} in {rng.choice(PLACES)}: what we know about "
        f"the {rng.randint(2, 90)} {rng.choice(['cases', 'deals', 'votes'])}</a></li>"
        for _ in range(n)
    )


def _ad(rng: random.Random) -> str:
    offers = [
        "Save {n}% on flights",
        "Win a car worth {n},000",
        "{n} tricks doctors hate",
        "New phones from ${n}",
    ]
    offer = rng.choice(offers).format(n=rng.randint(5, 95))
    return (
        f"<div class='ad'><span>Advertisement</span> <a href='/ads?c={rng.getrandbits(32)}'>{offer}</a></div>"
    )


def _tracking(rng: random.Random) -> str:
    return (
        f"<script src='/static/app.js?v={rng.getrandbits(24)}'></script>"
        f"<script>window.dataLayer=[{{'session':'{rng.getrandbits(64):x}',"
        f"'ts':{rng.randint(10**9, 2 * 10**9)}}}];</script>"
        f"<img src='/pixel.gif?u={rng.getrandbits(48):x}' width='1' height='1' alt=''>"
    )


def _stamp(rng: random.Random) -> str:
    return rng.choice(
        [
            f"Updated {rng.randint(1, 59)} minutes ago",
            f"Updated {rng.randint(1, 12)}:{rng.randint(0, 59):02d} GMT, {rng.randint(1, 28)} March 2026",
            f"{rng.randint(1, 23)} hours ago",
            "Updated just now",
        ]
    )


def _paras(story: Story, wrap: Callable[[str], str]) -> str:
    return "".join(wrap(p) for p in story.paragraphs)


def classic(story: Story, rng: random.Random, *, shuffle_nav: bool = False, markup: int = 0) -> str:
    """A newspaper site: masthead, nav, article with a header, related box, comments count, footer."""
    wrap = (
        (lambda p: f"<p>{p}</p>") if not markup else (lambda p: f"<p class='x{markup}'><span>{p}</span></p>")
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{story.headline} | Daily Ledger</title>
<meta name="author" content="{story.byline[3:]}">
<meta property="article:published_time" content="{story.date}">
{_tracking(rng)}</head>
<body><div class="masthead"><a href="/">Daily Ledger</a>
<span class="weather">{rng.randint(-5, 30)}&deg;C</span></div>
<nav>{_nav(rng, shuffle_nav)}</nav>{_ad(rng)}
<main><article><header><h1>{story.headline}</h1><p class="byline">{story.byline}</p>
<p class="meta">{_stamp(rng)}</p></header>
<div class="body">{_paras(story, wrap)}</div></article>
<aside class="related"><h2>Most read</h2><ol>{_related(rng)}</ol></aside>
<div class="comments-count">{rng.randint(0, 3000)} comments</div></main>
<footer>&copy; 2026 Daily Ledger. <a href="/privacy?sid={rng.getrandbits(32):x}">Privacy</a></footer>
</body></html>"""


def magazine(story: Story, rng: random.Random, *, shuffle_nav: bool = False, markup: int = 0) -> str:
    """A magazine layout: ads and "Read more" teasers between the paragraphs, share counters."""
    parts = []
    for i, p in enumerate(story.paragraphs):
        parts.append(f"<p>{p}</p>" if not markup else f"<div class='para'><p>{p}</p></div>")
        if i == 1:
            parts.append(_ad(rng))
        if i == 3:
            parts.append(
                f"<p class='teaser'><strong>Read more:</strong> <a href='/news/{rng.randint(1, 9999)}'>"
                f"{rng.choice(NOUNS).capitalize()} double in {rng.choice(PLACES)}</a></p>"
            )
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{story.headline}</title>
<meta name="description" content="{story.paragraphs[0][:150]}">{_tracking(rng)}</head><body>
<div class="cookie">We use cookies to improve your experience. <button>Accept</button></div>
<header class="site"><nav>{_nav(rng, shuffle_nav)}</nav></header>
<div class="container"><div class="story"><h1 class="headline">{story.headline}</h1>
<div class="byline">{story.byline} &middot; <time datetime="{story.date}">{story.date}</time>
&middot; {_stamp(rng)}</div>
<div class="share">{rng.randint(0, 900)} shares</div>
<div class="story-body">{"".join(parts)}</div></div>
<div class="sidebar"><h3>Trending</h3><ul>{_related(rng, 4)}</ul><div class="newsletter">Sign up for our
newsletter: <input type="email"></div>{_ad(rng)}</div></div>
<footer>Magazine Co. {rng.randint(1, 999)} readers online</footer></body></html>"""


def divsoup(story: Story, rng: random.Random, *, shuffle_nav: bool = False, markup: int = 0) -> str:
    """No semantic tags at all: divs with class names, as many CMSs write them."""
    cls = "text" if not markup else f"text t{markup}"
    body = "".join(f"<div class='{cls}'>{p}</div>" for p in story.paragraphs)
    return f"""<html><head><title>{story.headline} - Wire</title>{_tracking(rng)}</head><body>
<div class="top">{_nav(rng, shuffle_nav)}</div>
<div class="page"><div class="left"><div class="title"><h1>{story.headline}</h1></div>
<div class="info">{story.byline} | {story.date} | {_stamp(rng)}</div>
<div class="content">{body}</div>
<div class="tags">Tags: <a href="/t/a">{rng.choice(PLACES)}</a></div></div>
<div class="right"><div class="box"><div class="boxtitle">Popular now</div><ul>{_related(rng)}</ul></div>
{_ad(rng)}</div></div><div class="bottom">{rng.randint(10, 9999)} views</div></body></html>"""


def blog(story: Story, rng: random.Random, *, shuffle_nav: bool = False, markup: int = 0) -> str:
    """A blog post with widgets and a comment thread below it."""
    body = "".join(f"<p>{p}</p>" if not markup else f"<p>\n  {p}\n</p>\n" for p in story.paragraphs)
    comments = "".join(
        f"<li class='comment'><b>reader{rng.randint(1, 999)}</b>: {rng.choice(FILLER)}</li>"
        for _ in range(rng.randint(0, 4))
    )
    return f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>{story.headline}</title>
{_tracking(rng)}</head><body><div id="wrap"><div id="header"><a href="/">A Blog</a></div>
<ul class="menu">{_nav(rng, shuffle_nav)}</ul>
<div class="post"><h2 class="entry-title">{story.headline}</h2>
<div class="entry-meta">Posted {story.date} {story.byline.lower()}</div>
<div class="entry-content">{body}</div></div>
<div id="comments"><h3>{rng.randint(0, 40)} Comments</h3><ol>{comments}</ol></div>
<div id="sidebar"><h3>Recent posts</h3><ul>{_related(rng, 3)}</ul></div></div></body></html>"""


TEMPLATES: list[Callable[..., str]] = [classic, magazine, divsoup, blog]


# -- variants ------------------------------------------------------------------------

NOISE_KINDS = ("reload", "ads", "timestamps", "counters", "session-ids", "nav-order", "markup", "relayout")
EDIT_KINDS = ("number", "sentence-removed", "correction", "quote", "paragraph-added")


def noise_variants(story: Story, template: int, rng: random.Random) -> dict[str, str]:
    """The same story with only noise changed, one page per kind of noise.

    Every variant is a fresh render (new ads, timestamps, counters and ids);
    ``nav-order`` also shuffles the navigation, ``markup`` changes the
    markup around the same paragraphs, ``relayout`` uses another template.
    """
    render = TEMPLATES[template]
    other = TEMPLATES[(template + 1 + rng.randrange(len(TEMPLATES) - 1)) % len(TEMPLATES)]
    return {
        "reload": render(story, rng),
        "ads": render(story, rng),
        "timestamps": render(story, rng),
        "counters": render(story, rng),
        "session-ids": render(story, rng),
        "nav-order": render(story, rng, shuffle_nav=True),
        "markup": render(story, rng, markup=rng.randint(1, 9)),
        "relayout": other(story, rng),
    }


def _digit_changed(text: str, rng: random.Random) -> str | None:
    digits = [i for i, c in enumerate(text) if c.isdigit()]
    if not digits:
        return None
    i = rng.choice(digits)
    return text[:i] + str((int(text[i]) + rng.randint(1, 8)) % 10) + text[i + 1 :]


def edit_variants(story: Story, template: int, rng: random.Random) -> dict[str, tuple[str, Story]]:
    """Real edits of the story, each rendered afresh: kind -> (page, edited story)."""
    render = TEMPLATES[template]
    edits: dict[str, Story] = {}
    numbered = [i for i, p in enumerate(story.paragraphs) if any(c.isdigit() for c in p)]
    i = rng.choice(numbered)
    changed = list(story.paragraphs)
    changed[i] = _digit_changed(changed[i], rng) or changed[i]
    edits["number"] = replace(story, paragraphs=changed)
    multi = [i for i, p in enumerate(story.paragraphs) if p.count(". ") >= 1]
    removed = list(story.paragraphs)
    if multi:
        j = rng.choice(multi)
        sentences = removed[j].split(". ")
        del sentences[rng.randrange(len(sentences))]
        removed[j] = ". ".join(sentences).rstrip(".") + "."
    else:
        del removed[-1]
    edits["sentence-removed"] = replace(story, paragraphs=removed)
    note = rng.choice(
        [
            "Correction: An earlier version of this article misstated the number of regions that reported.",
            "Update: This article has been updated to include a response from the ministry.",
            "Clarification: The figures refer to cases opened, not convictions.",
        ]
    )
    edits["correction"] = replace(story, paragraphs=[*story.paragraphs, note])
    quoted = [i for i, p in enumerate(story.paragraphs) if "\u201c" in p]
    altered = list(story.paragraphs)
    k = rng.choice(quoted)
    start, end = altered[k].index("\u201c") + 1, altered[k].index("\u201d")
    words = altered[k][start:end].split()
    words[rng.randrange(len(words))] = rng.choice(["really", "never", "always", "barely"])
    altered[k] = altered[k][:start] + " ".join(words) + altered[k][end:]
    edits["quote"] = replace(story, paragraphs=altered)
    extra = (
        f"On {rng.choice(['Friday', 'Saturday'])}, {rng.choice(ORGS)} said a further "
        f"{_number(rng)} {rng.choice(NOUNS)} were under review in {rng.choice(PLACES)}."
    )
    edits["paragraph-added"] = replace(story, paragraphs=[*story.paragraphs, extra])
    return {kind: (render(edited, rng), edited) for kind, edited in edits.items()}
