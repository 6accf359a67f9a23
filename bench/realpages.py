"""Change detection on real news pages: every real edit a change, page noise silent.

Reads a folder of real pages (default ``../shared/corpus/readability``: each case
a ``source.html``, the page as a browser received it, and ``expected.html``, its
article body as a careful extractor found it). Cases whose page is under 8 KB are
hand-written markup tests, not real sites, and stay out of the figures.

For each real page:

- **edits**, each drawn from the whole article body (``expected.html``), not
  from what citewatch's extractor keeps: ``number`` (a digit of a number in a
  sentence changed), ``delete`` (a sentence removed), ``quote`` (a word inside
  a quotation changed) and ``correction`` (a correction note added as newsrooms
  write them: "Correction:", "Editor's note:", "Update:", "Clarification
  (date):", "This story has been updated ...", "An earlier version of this
  article ...", at the top or the bottom of the body, plain, in italics or in
  an aside). The edited sentence must sit in one text node of the page.
- **noise**, drawn twice (once for each capture): ``read-more`` (a rotating
  "Read more" link inside the body), ``counter`` (a live reader count),
  ``timestamp``, ``ad-slot`` (an ad slot with random ids), ``most-read`` (a box
  of headlines), ``assets`` (cache-busting asset URLs), ``nonce`` (script
  nonces and form tokens) and ``cookie-banner`` (one capture has it, the other
  not).

Every variant is a URL of its own on a local server. ``citewatch capture``
captures each page with its base, then again with the variant (analysis on,
as by default), and ``citewatch changes --json`` is read, every page of it.
Printed: recall per edit kind, the share of noise variants that recorded no
change per noise kind, and each missed edit with its site.

Run: ``.venv/bin/python bench/realpages.py [--corpus DIR] [--pages N]``.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from lxml import html as lxml_html

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from archive.articles.claims import sentences  # noqa: E402
from bench.changes import BIN, Pages, capture, serve  # noqa: E402

EDIT_KINDS = ("number", "delete", "quote", "correction")
NOISE_KINDS = (
    "read-more",
    "counter",
    "timestamp",
    "ad-slot",
    "most-read",
    "assets",
    "nonce",
    "cookie-banner",
)
SYNTHETIC_BELOW = 8 * 1024  # bytes of source.html: the hand-written markup tests
_SKIPPED = {"script", "style", "noscript", "template", "pre", "textarea", "code"}
_SPACES = re.compile(r"\s+")
_QUOTED = re.compile(r"[\"\u201c]([^\"\u201c\u201d]{12,}?)[\"\u201d]")
HEADLINES = [
    "Markets slide as rate fears return",
    "The town that lost its last bus",
    "What the new housing rules mean for renters",
    "Inside the race to rebuild the harbour",
    "Five things we learned this week",
    "A referee's decision that changed the final",
    "Why the river keeps flooding",
    "The chef who cooks only with foraged food",
    "Storm warnings issued along the coast",
    "The quiet return of the vinyl record",
]
CORRECTIONS = [
    (
        "bottom",
        "p",
        "Correction: An earlier version of this article misstated the year the agency was founded.",
    ),
    ("top", "em", "Editor's note: This story has been updated to include a response from the ministry."),
    ("bottom", "aside", "Clarification (March 4, 2024): The report was published by the regional office."),
    ("top", "p", "Update: Officials released new figures after this article was first published."),
    ("bottom", "i", "This story has been updated to correct the name of the company's chief executive."),
    ("bottom", "p", "An earlier version of this article incorrectly described the vote as unanimous."),
]


@dataclass
class Case:
    name: str
    tree: lxml_html.HtmlElement  # the page, text nodes' runs of spaces folded (the base of every variant)
    body: list[str]  # sentences of the article body found in one text node of the page


def fold(text: str) -> str:
    return _SPACES.sub(" ", text)


def _nodes(tree: lxml_html.HtmlElement):  # type: ignore[no-untyped-def]
    """(element, "text" | "tail") of every text node of the page's body, outside scripts."""
    body = tree.find("body")
    for element in (body if body is not None else tree).iter():
        if not isinstance(element.tag, str):
            continue
        inside = element.tag in _SKIPPED or any(a.tag in _SKIPPED for a in element.iterancestors())
        if not inside and element.text:
            yield element, "text"
        if element.tail and not any(a.tag in _SKIPPED for a in element.iterancestors()):
            yield element, "tail"


def load(folder: Path) -> Case | None:
    source = (folder / "source.html").read_bytes()
    tree = lxml_html.document_fromstring(source)
    for element, side in _nodes(tree):
        setattr(element, side, fold(getattr(element, side)))
    article = lxml_html.fromstring((folder / "expected.html").read_bytes())
    text = "\n".join(
        fold(p.text_content()).strip() for p in article.iter("p", "li", "h2", "h3", "blockquote")
    )
    nodes = [getattr(element, side) for element, side in _nodes(tree)]
    body = [
        s for s in dict.fromkeys(sentences(text)) if len(s.split()) >= 6 and sum(s in n for n in nodes) == 1
    ]
    return Case(folder.name, tree, body) if body else None


def _copy(tree: lxml_html.HtmlElement) -> lxml_html.HtmlElement:
    return copy.deepcopy(tree)


def _where(tree: lxml_html.HtmlElement, sentence: str) -> tuple[lxml_html.HtmlElement, str]:
    return next((e, side) for e, side in _nodes(tree) if sentence in getattr(e, side))


def _block(element: lxml_html.HtmlElement, side: str) -> lxml_html.HtmlElement:
    """The element a text node reads as part of: its own (text) or its parent's (tail)."""
    return element if side == "text" else element.getparent()


def _replace(tree: lxml_html.HtmlElement, sentence: str, new: str) -> None:
    element, side = _where(tree, sentence)
    setattr(element, side, getattr(element, side).replace(sentence, new, 1))


def edit(case: Case, kind: str, rng: random.Random) -> tuple[bytes, str] | None:
    """The page with one edit of ``kind``, and what was edited; None when the body has no sentence
    for it."""
    tree = _copy(case.tree)
    if kind == "number":
        candidates = [s for s in case.body if re.search(r"\d", s)]
        if not candidates:
            return None
        sentence = rng.choice(candidates)
        digits = [m.start() for m in re.finditer(r"\d", sentence)]
        at = rng.choice(digits)
        changed = sentence[:at] + str((int(sentence[at]) + rng.randint(1, 8)) % 10) + sentence[at + 1 :]
        _replace(tree, sentence, changed)
        return _bytes(tree), f"{sentence!r} -> {changed!r}"
    if kind == "delete":
        sentence = rng.choice(case.body)
        _replace(tree, sentence, "")
        return _bytes(tree), f"deleted {sentence!r}"
    if kind == "quote":
        candidates = [(s, m) for s in case.body for m in _QUOTED.finditer(s) if len(m.group(1).split()) >= 3]
        if not candidates:
            return None
        sentence, match = rng.choice(candidates)
        words = match.group(1).split()
        i = max(range(len(words)), key=lambda j: len(words[j]))
        quoted = " ".join([*words[:i], "never" if words[i].lower() != "never" else "always", *words[i + 1 :]])
        changed = sentence.replace(match.group(1), quoted, 1)
        _replace(tree, sentence, changed)
        return _bytes(tree), f"{sentence!r} -> {changed!r}"
    place, tag, note = rng.choice(CORRECTIONS)
    anchor = _block(*_where(tree, case.body[0] if place == "top" else case.body[-1]))
    added = lxml_html.fromstring(
        f"<p><{tag}>{note}</{tag}></p>" if tag in ("em", "i") else f"<{tag}>{note}</{tag}>"
    )
    (anchor.addprevious if place == "top" else anchor.addnext)(added)
    return _bytes(tree), f"{note!r} at the {place}"


def noisy(case: Case, kind: str, rng: random.Random, second: bool) -> bytes:
    """The page with one kind of noise, drawn from ``rng`` (``second``: for the second capture)."""
    tree = _copy(case.tree)
    first = _block(*_where(tree, case.body[0]))
    middle = _block(*_where(tree, case.body[len(case.body) // 2]))
    last = _block(*_where(tree, case.body[-1]))
    token = f"{rng.getrandbits(64):016x}"

    def add(where: lxml_html.HtmlElement, markup: str, before: bool = False) -> None:
        (where.addprevious if before else where.addnext)(lxml_html.fromstring(markup))

    if kind == "read-more":
        add(
            middle,
            f'<p class="related"><a href="/news/{token[:6]}">Read more: {rng.choice(HEADLINES)}</a></p>',
        )
    elif kind == "counter":
        add(
            first,
            f'<div class="live-readers">{rng.randint(200, 90000):,} people are reading this</div>',
            True,
        )
    elif kind == "timestamp":  # a live "Updated" time: later at the second capture
        at = datetime(2024, 3, 1) + timedelta(minutes=random.Random(case.name).randint(0, 90 * 24 * 60))
        at += timedelta(minutes=rng.randint(1, 3 * 24 * 60)) if second else timedelta()
        add(first, f'<p class="timestamp">Updated {at:%I:%M %p} ET, {at:%B} {at.day}, {at.year}</p>', True)
    elif kind == "ad-slot":
        add(
            middle,
            f'<div id="div-gpt-ad-{token}" class="ad-slot" data-slot="{token[:8]}"><span>Advertisement</span>'
            f'<iframe src="/ads/frame?cb={token}"></iframe></div>',
        )
    elif kind == "most-read":
        items = "".join(
            f'<li><a href="/n/{i}{token[:4]}">{h}</a></li>' for i, h in enumerate(rng.sample(HEADLINES, 5))
        )
        add(last, f'<aside class="most-read"><h3>Most read</h3><ol>{items}</ol></aside>')
    elif kind == "assets":
        for element in tree.iter("script", "link", "img"):
            for name in ("src", "href"):
                if element.get(name):
                    element.set(name, element.get(name).split("?")[0] + f"?v={token[:10]}")
    elif kind == "nonce":
        for element in tree.iter("script"):
            element.set("nonce", token)
        head = tree.find("head")
        if head is not None:
            head.append(lxml_html.fromstring(f'<meta name="csrf-token" content="{token}">'))
        add(last, f'<form action="/subscribe"><input type="hidden" name="_token" value="{token}"></form>')
    elif kind == "cookie-banner" and second:  # in the second capture only
        body = tree.find("body")
        banner = (
            '<div id="cookie-consent" class="cookie-banner"><p>We use cookies to improve your '
            "experience and to show you personalised ads. By continuing you agree to our cookie "
            "policy.</p><button>Accept all</button></div>"
        )
        if body is not None:
            body.insert(0, lxml_html.fromstring(banner))
    return _bytes(tree)


def _bytes(tree: lxml_html.HtmlElement) -> bytes:
    return lxml_html.tostring(tree, encoding="utf-8", doctype="<!DOCTYPE html>")


def all_changes(home: Path) -> list[dict]:  # type: ignore[type-arg]
    """Every change ``citewatch changes --json`` lists, page by page."""
    env = {"CITEWATCH_HOME": str(home), "PATH": str(BIN)}
    found: list[dict] = []  # type: ignore[type-arg]
    before: list[str] = []
    while True:
        cmd = [str(BIN / "citewatch"), "changes", "--json", "--limit", "500", *before]
        page = json.loads(subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout)
        if not page:
            return found
        found.extend(page)
        before = ["--before", str(page[-1]["id"])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus" / "readability")
    parser.add_argument("--pages", type=int, default=0, help="at most this many real pages (0: all)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    folders = sorted(p.parent for p in args.corpus.glob("*/source.html"))
    if not folders:
        raise SystemExit(f"no pages in {args.corpus} (folders with a source.html): give --corpus DIR")
    real = [f for f in folders if (f / "source.html").stat().st_size >= SYNTHETIC_BELOW]
    cases = [c for c in map(load, real[: args.pages or None]) if c is not None]
    base: dict[str, bytes] = {}
    variant: dict[str, bytes] = {}
    truth: dict[str, tuple[str, str, str]] = {}  # path -> (site, kind, what)
    for case in cases:
        rng = random.Random(f"{args.seed}:{case.name}")
        for kind in EDIT_KINDS:
            made = edit(case, kind, rng)
            if made is not None:
                path = f"/{case.name}/{kind}"
                base[path], (variant[path], what) = _bytes(case.tree), made
                truth[path] = (case.name, kind, what)
        for kind in NOISE_KINDS:
            path = f"/{case.name}/{kind}"
            base[path], variant[path] = noisy(case, kind, rng, False), noisy(case, kind, rng, True)
            truth[path] = (case.name, kind, "")
    print(
        f"{len(cases)} real pages ({len(folders) - len(real)} synthetic cases and "
        f"{len(real) - len(cases)} pages with no article sentence in one text node left out), "
        f"{len(truth)} sources"
    )
    prefix, work, urls = serve(truth, "realpages")
    Pages.pages = base
    first = capture(work, urls, analyse=True)
    Pages.pages = variant
    second = capture(work, urls, analyse=True)
    print(f"captured twice: {len(truth) / first:.0f} and {len(truth) / second:.0f} pages/s (analysis on)")
    changed: dict[str, list[str]] = defaultdict(list)
    summaries: dict[str, str] = {}
    for change in all_changes(work):
        path = change["url"].removeprefix(prefix)
        changed[path].append(change["kind"])
        summaries.setdefault(path, f"{change['kind']}: {change['summary']}")
    report(truth, changed, summaries)
    shutil.rmtree(work, ignore_errors=True)


def report(
    truth: dict[str, tuple[str, str, str]], changed: dict[str, list[str]], summaries: dict[str, str]
) -> None:
    hits: dict[str, list[bool]] = defaultdict(list)
    misses = []
    for path, (site, kind, what) in truth.items():
        if kind in EDIT_KINDS:
            found = bool({"content", "correction"} & set(changed.get(path, [])))
            hits[kind].append(found)
            if not found:
                misses.append((site, kind, what, changed.get(path, [])))
        else:
            hits[kind].append(not changed.get(path))
    edits = [h for k in EDIT_KINDS for h in hits[k]]
    noise = [h for k in NOISE_KINDS for h in hits[k]]
    print(
        f"recall {sum(edits) / max(len(edits), 1):.1%} ({sum(edits)}/{len(edits)} edits recorded as changes)"
    )
    for kind in EDIT_KINDS:
        print(f"  {kind:12s} {sum(hits[kind])}/{len(hits[kind])}")
    share = sum(noise) / max(len(noise), 1)
    print(f"noise silent {share:.1%} ({sum(noise)}/{len(noise)} variants with no change)")
    for kind in NOISE_KINDS:
        print(f"  {kind:14s} {sum(hits[kind])}/{len(hits[kind])}")
    loud = [p for p, (_, k, _w) in truth.items() if k in NOISE_KINDS and changed.get(p)]
    print(f"false alarms ({len(loud)}), by site: {', '.join(sorted({truth[p][0] for p in loud})) or 'none'}")
    for path in loud:
        print(f"  {truth[path][0]} {truth[path][1]}: {summaries[path][:150]}")
    print(f"missed edits ({len(misses)}), by site: {', '.join(sorted({m[0] for m in misses})) or 'none'}")
    for site, kind, what, kinds in misses:
        print(f"  {site} {kind}: {what[:150]} (recorded: {', '.join(kinds) or 'nothing'})")


if __name__ == "__main__":
    main()
