"""Change classification: does a new capture of a source differ in a way a reader would care about?

Pure functions over :class:`Observation` values (what one capture showed:
its HTTP outcome and its extracted text). :func:`availability` says whether a
capture shows the source's content, shows that it is missing (404, a soft
404, a redirect to the front page, a parked domain, a name that no longer
resolves), shows it failing (server errors, timeouts), or is a capture
problem (truncated, no text extracted) that says nothing about the source.
:func:`classify` compares a new capture with the last one that had content
and returns at most one change:

- ``content``: the main text changed, with a significance score;
- ``correction``: a correction or update note was added or changed;
- ``metadata``: title, byline or date changed while the text did not;
- ``gone`` / ``back``: the source stopped or started answering with its content;
- ``status``: its outcome changed otherwise (404 became 410; it now redirects elsewhere).

Noise never makes a change. The extractor already drops the page's chrome
(navigation, ads, related-article boxes, comments); :func:`comparable_text`
then drops the volatile lines that sit inside article bodies (relative
timestamps, counters, "Advertisement", "Read more:" teasers) and masks the
volatile tokens (relative times, query strings of URLs), and what is left is
compared word by word.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from archive.articles.claims import number_forms, sentences
from archive.changes.diff import DELETE, EQUAL, INSERT, TextDiff, word_diff
from archive.changes.extract import normalise_text

CONTENT, MISSING, FAILING, PROBLEM = "content", "missing", "failing", "problem"
KINDS = ("content", "correction", "metadata", "status", "gone", "back")

# Below this share of the previous text's words, a capture is thin: a capture problem, not an edit.
THIN_SHARE = 0.5
# Texts shorter than this are never called thin (a short page may well lose half its words).
THIN_MIN_WORDS = 80
_MAX_SENTENCES = 20  # changed sentences kept in a change's details
_NOTE_IN_SUMMARY = 160  # characters of a correction note quoted in a change's summary

# -- what a capture shows ------------------------------------------------------


@dataclass
class Observation:
    """One capture of a source, as the classifier sees it."""

    url: str  # the source's URL
    status: int | None = None  # HTTP status of the final response
    outcome: str = "ok"  # ok | truncated | a failure code (dns, timeout, refused, ...)
    final_url: str | None = None  # where redirects ended
    text: str = ""  # extracted main text, normalised
    title: str | None = None
    author: str | None = None
    date: str | None = None
    error: str | None = None  # why the fetch (or the extraction) failed
    snapshot_id: int | None = None
    captured_at: datetime | None = None
    mime: str | None = None

    @property
    def words(self) -> int:
        return len(self.text.split())


@dataclass(frozen=True)
class Availability:
    state: str  # content | missing | failing | problem
    reason: str  # "HTTP 200", "HTTP 404", "soft 404", "DNS name not found", ...


_MISSING_OUTCOMES = {"dns": "the host name no longer resolves"}
# Outcomes that say something about the capture, not about the source.
PROBLEM_OUTCOMES = {
    "truncated": "the capture was truncated",
    "too-large": "the response was larger than the size limit",
    "thin-text": "far less text was extracted than before",
    "no-text": "no main text could be extracted",
    "no-page": "the browser capture lacks its page's own response",
    "unreadable": "the archived record could not be read back",
    "interrupted": "the capture was interrupted",
    "cancelled": "the download was cancelled",
    "ignored": "the request was dropped",
    "bad-url": "the URL was rejected",
    "robots": "robots.txt forbids fetching it",
    "blocked": "the network guard refused an address on the way",
    "browser": "the browser could not load the page",
    "error": "the capture failed inside citewatch",
}
_PARKED = re.compile(
    r"\b(?:this domain (?:name )?(?:is|may be) for sale|buy this domain|domain (?:is )?parked|"
    r"parked (?:free|domain)|the domain \S+ (?:is|may be) for sale|hugedomains|sedoparking|"
    r"this web ?page is parked|domain for sale)\b",
    re.IGNORECASE,
)
# A "not found" page says so in its title, or in the little text it has.
_NOT_FOUND_TITLE = re.compile(
    r"\bpage not found\b|\b404\s*(?:error|not found|page)\b|\berror\s*404\b|^\W*404\W*$|\bnot found\W*$",
    re.IGNORECASE,
)
_NOT_FOUND_TEXT = re.compile(
    r"\bpage (?:was |could )?not (?:be )?found\b"
    r"|\b(?:the )?page you (?:requested|are looking for|were looking for)\b"
    r"|\b404\s*(?:error|not found)\b|\berror\s*404\b"
    r"|\b(?:this|the) (?:page|article|story) (?:no longer exists|does not exist|doesn't exist"
    r"|is no longer available|(?:could|can)not be found|can't be found)\b",
    re.IGNORECASE,
)
_NOT_FOUND_MAX_WORDS = 60


def _front_page(url: str) -> bool:
    path = urlsplit(url).path
    return path in {"", "/"} or path.lower() in {"/index.html", "/index.php", "/home", "/en", "/en/"}


def similarity(a: str, b: str) -> float:
    """Jaccard similarity of the two texts' word sets (1.0 for two empty texts)."""
    x, y = set(a.lower().split()), set(b.lower().split())
    if not x and not y:
        return 1.0
    return len(x & y) / len(x | y)


def _like_probe(obs: Observation, probe: Observation) -> bool:
    """Does a page look like what its host serves for a URL that does not exist? (Never a front
    page: hosts that answer unknown paths with their home page would make it one.)"""
    if _front_page(obs.url) or not obs.text or not probe.text:
        return False
    return (obs.title or "") == (probe.title or "") and similarity(obs.text, probe.text) >= 0.8


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").removeprefix("www.")


def _sent_home(source: str, final: str) -> bool:
    """Was ``source`` redirected to its own site's front page (not to a login, consent or other
    site's page, and not to a front page with a query such as ``/?p=123``)?"""
    query = urlsplit(final).query
    return _host(source) == _host(final) and _front_page(final) and not query and not _front_page(source)


def availability(obs: Observation, probe: Observation | None = None) -> Availability:
    """Whether a capture shows the source's content; ``probe`` is a capture of a made-up URL on
    the same host, which a soft-404 page resembles.

    >>> availability(Observation("https://a.example/x", 404)).state
    'missing'
    >>> moved = Observation("https://a.example/x", 200, final_url="https://a.example/", text="Home")
    >>> availability(moved).reason
    'redirects to the front page'
    >>> availability(Observation("https://a.example/x", 503)).state
    'failing'
    """
    if obs.outcome in PROBLEM_OUTCOMES:
        return Availability(PROBLEM, PROBLEM_OUTCOMES[obs.outcome])
    if obs.status is None:  # the fetch failed: no HTTP answer at all
        if obs.outcome in _MISSING_OUTCOMES:
            return Availability(MISSING, _MISSING_OUTCOMES[obs.outcome])
        return Availability(FAILING, obs.error or obs.outcome)
    if obs.status in (404, 410, 451):
        return Availability(MISSING, f"HTTP {obs.status}")
    if obs.status >= 400:
        return Availability(FAILING, f"HTTP {obs.status}")
    if 300 <= obs.status < 400:
        return Availability(FAILING, f"HTTP {obs.status} without a usable redirect")
    final = obs.final_url or obs.url
    if final != obs.url and _sent_home(obs.url, final):
        return Availability(MISSING, "redirects to the front page")
    head = " ".join(filter(None, [obs.title, obs.text[:2000]]))
    if _PARKED.search(head) and obs.words < 400:
        return Availability(MISSING, "the domain is parked or for sale")
    if probe is not None and probe.status == 200 and _like_probe(obs, probe):
        return Availability(MISSING, "soft 404: the page matches the host's page for a made-up URL")
    if _NOT_FOUND_TITLE.search(obs.title or "") or (
        obs.words < _NOT_FOUND_MAX_WORDS and _NOT_FOUND_TEXT.search(obs.text)
    ):
        return Availability(MISSING, "soft 404: the page says it was not found")
    if not obs.text:
        return Availability(PROBLEM, PROBLEM_OUTCOMES["no-text"])
    where = f" from {final}" if final != obs.url else ""
    return Availability(CONTENT, f"HTTP {obs.status}{where}")


# -- noise ---------------------------------------------------------------------

_RELATIVE_TIME = re.compile(
    r"\b(?:\d+|a|an|one|few|several)\s*(?:s|secs?|seconds?|m|mins?|minutes?|h|hrs?|hours?|d|days?"
    r"|w|wks?|weeks?|mos?|months?|y|yrs?|years?)\s+ago\b"
    r"|\bjust now\b"
    r"|\b(?:updated|posted|published)\s+(?:today|yesterday)(?:\s+at\s+\d{1,2}[:.]\d{2}\s*(?:[ap]\.?m\.?)?)?",
    re.IGNORECASE,
)
_MONTH_NAMES = (
    "jan|january|feb|february|mar|march|apr|april|may|jun|june|jul|july|aug|august|sep|sept|september"
    "|oct|october|nov|november|dec|december"
)
_MONTHS = frozenset(_MONTH_NAMES.split("|"))


def _word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


_WEEKDAYS = _word_set(
    "monday tuesday wednesday thursday friday saturday sunday mon tue tues wed thu thur thurs fri sat sun"
)
_ZONES = _word_set(
    "utc gmt z et est edt ct cst cdt mt mst mdt pt pst pdt bst cet cest eet eest wet west msk ist jst kst"
    " aest aedt hkt sgt"
)
_STAMP_WORDS = _word_set(
    "updated modified published posted edited last at on am pm a.m. p.m. today yesterday ago just now"
)
# Whole date and time expressions, replaced by a marker before a line is judged.
_ISO_TIME = re.compile(
    r"\b\d{4}-\d{2}-\d{2}(?:[t ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:z|[+-]\d{2}:?\d{2})?)?(?!\w)",
    re.IGNORECASE,
)
_CLOCK = re.compile(r"\b\d{1,2}[:.]\d{2}(?::\d{2})?(?:\s*[ap]\.?\s?m\b\.?)?", re.IGNORECASE)
_NUMERIC_DATE = re.compile(r"\b\d{1,2}[/.]\d{1,2}[/.]\d{2,4}\b")
_WORD_DATE = re.compile(
    rf"\b(?:\d{{1,2}}(?:st|nd|rd|th)?\s+(?:{_MONTH_NAMES})\b,?(?:\s+\d{{4}})?"
    rf"|(?:{_MONTH_NAMES})\s+\d{{1,2}}(?:st|nd|rd|th)?\b,?(?:\s+\d{{4}})?)",
    re.IGNORECASE,
)
_STAMP_TOKEN = re.compile(r"<[dtr]>|[a-z]+(?:\.[a-z]\.?)?|\d+(?:st|nd|rd|th)?|\S")
_STAMP_MAX_WORDS = 14
_STAMP_MAX_CHARS = 90


def _masked_times(line: str) -> str:
    line = _ISO_TIME.sub(" <d> ", line)
    line = _NUMERIC_DATE.sub(" <d> ", line)
    line = _WORD_DATE.sub(" <d> ", line)
    line = _CLOCK.sub(" <t> ", line)
    return _RELATIVE_TIME.sub(" <r> ", line)


def _timestamp_line(line: str) -> bool:
    """Is ``line`` only a date or time ("Updated 10:32 AM ET, 12 March 2026", "3h ago")?

    It needs a real date or time in it (a clock time, a date, a month or weekday, a relative
    time): a line of numbers, a table row or a short sentence is never one.

    >>> [_timestamp_line(x) for x in ("Today, 10:32", "5h ago", "| 2023 | 253,000 |", "At least 40")]
    [True, True, False, False]
    """
    if len(line) > _STAMP_MAX_CHARS:  # most lines are paragraphs: not one of these
        return False
    tokens = _STAMP_TOKEN.findall(_masked_times(line.lower()))
    if not tokens or len(tokens) > _STAMP_MAX_WORDS * 2:
        return False
    anchored = False
    for token in tokens:
        if (
            token in ("<d>", "<t>", "<r>")
            or token in _MONTHS
            or token in _WEEKDAYS
            or token in ("today", "yesterday")
        ):
            anchored = True
        elif not (
            token in _STAMP_WORDS
            or token in _ZONES
            or (token[0].isdigit() and len(token.rstrip("stndrh")) <= 4)
            or token in {",", "|", "-", ":", "\u00b7", "\u2022", "/", "(", ")"}
        ):
            return False
    return anchored


_COUNTER_LINE = re.compile(
    r"^(?:\(?[\d.,]+\s*[km]?\)?\s+)?(?:comments?|shares?|views?|reads?|likes?|readers?|reactions?|replies)"
    r"(?:\s*\(?[\d.,]+\s*[km]?\)?)?$|^[\d.,]+\s*[km]?\s+(?:comments?|shares?|views?|reads?|likes?|readers?|"
    r"reactions?|replies|people (?:are )?reading(?: this)?(?: now)?)$",
    re.IGNORECASE,
)
_AD_LINE = re.compile(
    r"^(?:advertisement|advertising|sponsored(?: content)?|promoted(?: content)?|paid (?:content|post)|"
    r"ad|ads by \w+|story continues below(?: advertisement)?|continue reading below|skip advertisement)$",
    re.IGNORECASE,
)
# The label with the ad's own short line, which is no sentence ("Advertisement Save 82% on flights";
# not "Advertisement revenue rose 5%."): matched against the line as it is.
_AD_WITH_OFFER = re.compile(
    r"^(?:advertisement|sponsored|promoted)\b\s*[:|\u2014\u2013-]?\s*[^.!?]{1,60}$", re.I
)
# A teaser is its label alone, or the label, a separator and a headline ("Read more: ...").
_TEASER_LINE = re.compile(
    r"^(?:read more|related|see also|also read|more from|most read|most popular|recommended|trending|"
    r"you may also like|don't miss|watch|listen)(?:\s*[:|\u2014\u2013>-]\s*\S.*)?$",
    re.IGNORECASE,
)
_TEASER_MAX_WORDS = 20
_URL_QUERY = re.compile(r"(https?://[^\s?#]+)[?#]\S*")
# Relative times are masked inside lines this short (bylines, datelines), not in sentences.
_MASK_MAX_WORDS = 12


def _volatile(line: str) -> bool:
    bare = line.strip(" .:;|-")
    if not bare:
        return True
    if _COUNTER_LINE.match(bare) or _AD_LINE.match(bare) or _timestamp_line(bare):
        return True
    if _AD_WITH_OFFER.match(line.strip()):
        return True
    return bool(_TEASER_LINE.match(bare)) and len(bare.split()) <= _TEASER_MAX_WORDS


# A live reader count run into the text beside it ("47,193 people are reading this Hori Parata
# at his farm ..."): masked wherever it is, as no sentence of an article says it.
_READING_NOW = re.compile(
    r"\b\d[\d.,]*\s*[km]?\s+(?:people|readers) (?:are )?reading"
    r"(?: this(?: story| article)?)?(?: (?:right )?now)?",
    re.IGNORECASE,
)


def _mask(line: str) -> str:
    """A line's volatile tokens masked.

    >>> _mask("47,193 people are reading thisLucas Nolan is a reporter")
    '<readers>Lucas Nolan is a reporter'
    """
    if len(line.split()) <= _MASK_MAX_WORDS:
        line = _RELATIVE_TIME.sub("<time>", line)
    line = _READING_NOW.sub("<readers>", line)
    return _URL_QUERY.sub(r"\1", line)


def comparable_text(text: str, headlines: tuple[str | None, ...] = ()) -> str:
    """The text with its volatile lines dropped and volatile tokens masked: what is compared.

    Lines that are only one of ``headlines`` (the page titles) go too: whether
    a layout shows the headline inside the article body or above it is not an
    edit (an edited headline is a ``metadata`` change).

    >>> comparable_text("Updated 5 minutes ago\\n\\nThe minister said 253,000.\\n\\n1,204 comments")
    'The minister said 253,000.'
    >>> comparable_text("Posted just now. Officials confirmed the figure.")
    'Posted <time>. Officials confirmed the figure.'
    """
    titles = {_bare_title(t) for t in headlines if t}
    longest = max(map(len, filter(None, headlines)), default=0) + 10

    def headline(line: str) -> bool:
        return len(line) <= longest and _bare_title(line) in titles

    lines = [
        line
        for line in normalise_text(text).split("\n")
        if not line or not (_volatile(line) or headline(line))
    ]
    kept = "\n".join(_mask(line) for line in lines)
    return re.sub(r"\n{3,}", "\n\n", kept).strip()


# -- corrections ---------------------------------------------------------------

_CORRECTION = re.compile(
    r"^\W*(?:correction|clarification|update|updated|editor'?s note|amendment|erratum)s?\b\s*"
    r"(?:\(\s*[^)]{0,40}\))?\s*[:\-\u2014]"
    r"|\bthis (?:article|story|report|piece|post) (?:has been|was) "
    r"(?:amended|corrected|updated|changed)"
    r"|\ban earlier version of this (?:article|story|report|piece|post)\b"
    r"|\bwe (?:have )?(?:corrected|amended|updated) this (?:article|story|report)\b",
    re.IGNORECASE,
)


def _bare_title(text: str) -> str:
    return " ".join(re.findall(r"\w+", normalise_text(text).lower()))


def meta_value(value: str | None) -> str:
    """A title, byline or date without its timestamps, "Updated"/"Posted" labels and separators;
    every other word and number is kept.

    >>> meta_value("Amara Okafor \u00b7 \u00b7 Updated just now") == meta_value("Amara Okafor \u00b7 \u00b7")
    True
    >>> meta_value("10 killed in Kyiv blast") == meta_value("25 killed in Kyiv blast")
    False
    """
    text = _masked_times(normalise_text(value or "").lower())
    text = re.sub(r"\b(?:last\s+)?(?:updated|posted|published|modified|edited)\b", " ", text)
    words = [
        w for w in re.findall(r"<[dtr]>|\w+", text) if w not in ("<d>", "<t>", "<r>") and w not in _ZONES
    ]
    return " ".join(words)


CORRECTION = _CORRECTION  # what a correction or update note says first (body_text looks for it)


def correction_notes(text: str) -> list[str]:
    """The paragraphs of ``text`` that are correction or update notes (not bare timestamps).

    >>> text = "Body.\\n\\nCorrection: An earlier version misstated the total.\\n\\nUpdated: 12 March 2026"
    >>> correction_notes(text)
    ['Correction: An earlier version misstated the total.']
    """
    notes = []
    for paragraph in text.split("\n"):
        line = paragraph.strip()
        if not line or not _CORRECTION.search(line) or _volatile(line):
            continue
        rest = _CORRECTION.sub(" ", line, count=1)
        words = [w for w in re.findall(r"[^\W\d_]+", rest) if w.lower() not in _MONTHS]
        if len(words) >= 3:
            notes.append(line)
    return notes


# -- changes -------------------------------------------------------------------


@dataclass
class Verdict:
    """What one new capture means for its source."""

    availability: Availability
    kind: str | None = None  # a kind of change, or None when nothing a reader cares about changed
    summary: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    diff: TextDiff | None = None

    @property
    def problem(self) -> bool:
        """The capture says nothing about the source (truncated, thin, no text)."""
        return self.availability.state == PROBLEM


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def clip(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` characters: whole when it fits, else cut at the last word
    boundary (mid-word only when one word fills most of it) and ended with an ellipsis.

    >>> clip("This article was updated with data to March 2026.", 30)
    'This article was updated with…'
    >>> clip("Updated: figures for 2026", 40)
    'Updated: figures for 2026'
    >>> clip("https://example.org/a-very-long-path-with-no-spaces", 20)
    'https://example.org…'
    """
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if not text[limit - 1].isspace():
        space = cut.rfind(" ")
        if space >= limit // 2:
            cut = cut[:space]
    return cut.rstrip(" ,;:-\u2013\u2014") + "\u2026"


def _only_in(a: list[str], b: list[str]) -> tuple[list[str], list[str]]:
    """The items of ``a`` that ``b`` lacks (counting repeats), and the rest of ``a``, in order."""
    spare = Counter(b)
    only, rest = [], []
    for item in a:
        if spare[item] > 0:
            spare[item] -= 1
            rest.append(item)
        else:
            only.append(item)
    return only, rest


def sentence_changes(old: str, new: str) -> tuple[list[str], list[str], bool]:
    """Sentences only in the old text, only in the new one, and whether the others changed order."""
    a, b = sentences(old), sentences(new)
    gone, kept_a = _only_in(a, b)
    came, kept_b = _only_in(b, a)
    return gone, came, kept_a != kept_b


_QUOTED = re.compile('"[^"\n]{3,}"')  # quotation marks are folded to " by normalise_text


def _touches_quote(diff: TextDiff, old: str) -> bool:
    """Does an edit fall inside a quotation of the old text?"""
    spans = [m.span() for m in _QUOTED.finditer(old)]
    at = 0
    for op, text in diff.ops:
        if op == INSERT:
            if any(start < at < end for start, end in spans):
                return True
            continue
        if op == DELETE and any(start < at + len(text) and at < end for start, end in spans):
            return True
        at += len(text)
    return False


def significance(diff: TextDiff, old_words: int) -> float:
    """How much of the text changed, from 0 to 1, weighted up when numbers or quotations changed.

    >>> significance(word_diff("It cost 5 dollars.", "It cost 6 dollars."), 4) > 0.5
    True
    >>> quoted = word_diff('He said "we won the vote" then.', 'He said "we lost the vote" then.')
    >>> significance(quoted, 7) >= 0.2
    True
    """
    changed = max(diff.words_added, diff.words_removed)
    score = changed / max(old_words, 1)
    removed = " ".join(t for op, t in diff.ops if op == DELETE)
    added = " ".join(t for op, t in diff.ops if op == INSERT)
    if number_forms(removed) != number_forms(added):
        score += 0.3
    if _touches_quote(diff, diff.old()) or '"' in removed + added:
        score += 0.2
    return round(min(score, 1.0), 3)


def _text_change(old: Observation, new: Observation, now: Availability) -> Verdict | None:
    """The ``content`` or ``correction`` change between two texts, or None when only noise differs."""
    if old.text == new.text:
        return None  # the same text compares the same (most re-checks: no work)
    titles = (old.title, new.title)
    a, b = comparable_text(old.text, titles), comparable_text(new.text, titles)
    if a == b:
        return None
    diff = word_diff(a, b)
    if not any(op != EQUAL and text.strip() for op, text in diff.ops):
        return None  # only whitespace differs
    gone, came, moved = sentence_changes(a, b)
    details: dict[str, Any] = {
        "words_added": diff.words_added,
        "words_removed": diff.words_removed,
        "sentences_removed": gone[:_MAX_SENTENCES],
        "sentences_added": came[:_MAX_SENTENCES],
    }
    notes = [n for n in correction_notes(b) if n not in set(correction_notes(a))]
    if not gone and not came and moved:
        details["significance"] = 0.05
        return Verdict(now, "content", "sentences moved, none changed", details, diff)
    details["significance"] = significance(diff, len(a.split()))
    pieces = []
    if gone and came:
        pieces.append(f"{_plural(max(len(gone), len(came)), 'sentence')} changed")
    elif came:
        pieces.append(f"{_plural(len(came), 'sentence')} added")
    elif gone:
        pieces.append(f"{_plural(len(gone), 'sentence')} removed")
    else:
        pieces.append("words changed")
    pieces.append(f"+{diff.words_added}/-{diff.words_removed} words")
    summary = ", ".join(pieces)
    if notes:
        details["corrections"] = notes
        # The summary is one line: a long note is cut at a word; details keep every note whole.
        note = clip(notes[0], _NOTE_IN_SUMMARY)
        return Verdict(now, "correction", f"correction note: {note}; {summary}", details, diff)
    return Verdict(now, "content", summary, details, diff)


def _metadata_change(old: Observation, new: Observation) -> dict[str, list[str | None]]:
    """Title, author and date that changed. A date that only moved on, the text the same, is
    a page's "Updated" time (many pages without a date in their metadata show one, and
    trafilatura's date finder reads it): not a change. A date moved back is one.

    >>> _metadata_change(Observation("u", date="2024-03-05"), Observation("u", date="2024-03-09"))
    {}
    >>> _metadata_change(Observation("u", date="2024-03-05"), Observation("u", date="2023-11-30"))
    {'date': ['2024-03-05', '2023-11-30']}
    """
    changed = {}
    for name in ("title", "author", "date"):
        before, after = getattr(old, name), getattr(new, name)
        same = (lambda x: (x or "").strip()) if name == "date" else meta_value  # dates come as YYYY-MM-DD
        if same(before) and same(after) and same(before) != same(after):
            if name == "date" and same(after) > same(before):
                continue
            changed[name] = [before, after]
    return changed


def article_span(whole: str, main: set[str]) -> str:
    """The lines of a page's whole text (``body_text``) from the first to the last that its main
    text has too (``main``: lines of both captures' main texts), and any correction note
    outside them: the article, with what the main extraction left out of its middle, and
    without the chrome around it.

    >>> whole = "Menu\\nFirst para.\\nDropped para.\\nLast para.\\nMost read\\nCorrection: the sum was wrong."
    >>> article_span(whole, {"First para.", "Last para."})
    'First para.\\nDropped para.\\nLast para.\\nCorrection: the sum was wrong.'
    """
    lines = whole.split("\n")
    inside = [i for i, line in enumerate(lines) if line in main]
    if not inside:
        return ""
    first, last = inside[0], inside[-1]
    before = [line for line in lines[:first] if correction_notes(line)]
    after = [line for line in lines[last + 1 :] if correction_notes(line)]
    return "\n".join([*before, *lines[first : last + 1], *after])


def article_texts(old: Observation, new: Observation, old_whole: str, new_whole: str) -> tuple[str, str]:
    """Two captures' whole texts as they are compared: cut to the article's span by the lines
    of their main texts, the byline's lines set aside (a line naming the author; a new byline is
    a ``metadata`` change)."""
    main = {line for text in (old.text, new.text) for line in text.split("\n") if line}
    names = [name for name in (old.author, new.author) if name and " " in name.strip()]  # not a handle
    spans = (article_span(whole, main) for whole in (old_whole, new_whole))  # the page's chrome cut first
    a, b = ("\n".join(x for x in span.split("\n") if not any(n in x for n in names)) for span in spans)
    return a, b


def _body_change(
    old: Observation,
    new: Observation,
    now: Availability,
    wholes: Callable[[], tuple[str | None, str | None]],
) -> Verdict | None:
    """The change in the article text that the main extraction left out, when the main texts
    agree: both captures' whole texts (asked for only now), cut to the article's span."""
    old_whole, new_whole = wholes()
    if old_whole is None or new_whole is None or old_whole == new_whole:
        return None
    a, b = article_texts(old, new, old_whole, new_whole)
    if a == b:
        return None
    found = _text_change(replace(old, text=a), replace(new, text=b), now)
    if found is not None:
        found.details["compared"] = "article body"
        found.summary += " (in article text the main extraction leaves out)"
    return found


def thin(baseline: Observation, new: Observation) -> bool:
    """True when ``new`` has far fewer words than ``baseline``: a failed extraction, not an edit."""
    return baseline.words >= THIN_MIN_WORDS and new.words < baseline.words * THIN_SHARE


def classify(
    state: Availability | None,
    baseline: Observation | None,
    new: Observation,
    probe: Observation | None = None,
    *,
    accept_thin: bool | Callable[[], bool] = False,
    accept_failure: bool | Callable[[], bool] = False,
    wholes: Callable[[], tuple[str | None, str | None]] | None = None,
) -> Verdict:
    """The change (if any) that capture ``new`` shows.

    ``state`` is the source's availability after its previous capture (None
    for a first capture); ``baseline`` its last capture that had content.
    ``accept_thin``: the thin text was seen before (confirmed), so it is the
    source's text now, not a failed extraction. ``accept_failure``: the
    source failed (5xx, timeout) at its previous check too; a first failure
    after content is only noted (``details["first_failure"]``), as one bad
    minute of a server is not the source gone. Either may be a question
    (a function), asked only when its answer decides the verdict: the
    caller's lookups are made once, and only then. ``wholes`` gives the
    whole texts of the baseline and of ``new`` (``body_text``), asked only
    when their main texts agree: an edit in a paragraph the main extraction
    left out is a change too.
    """
    now = availability(new, probe)
    if now.state == PROBLEM:
        return Verdict(now)
    if now.state == CONTENT and baseline is not None and thin(baseline, new) and not _yes(accept_thin):
        reason = f"extracted {new.words} words; the last capture with content had {baseline.words}"
        return Verdict(Availability(PROBLEM, reason), details={"thin": True})
    status = {"old": state.reason, "new": now.reason} if state is not None else None
    if state is None:  # a first capture (a source's state is never a capture problem)
        return Verdict(now)
    if state.state == CONTENT and now.state == FAILING and not _yes(accept_failure):
        return Verdict(now, details={"first_failure": True})
    if state.state == CONTENT and now.state != CONTENT:
        return Verdict(now, "gone", f"gone: {now.reason}", {"status": status})
    if state.state != CONTENT and now.state != CONTENT:
        if state.reason == now.reason:
            return Verdict(now)
        return Verdict(now, "status", f"{state.reason} -> {now.reason}", {"status": status})
    text = _text_change(baseline, new, now) if baseline is not None else None
    if state.state != CONTENT:
        if text is None:
            return Verdict(now, "back", f"back: {now.reason}", {"status": status})
        details = {"status": status, **text.details}
        return Verdict(now, "back", f"back: {now.reason}, and changed: {text.summary}", details, text.diff)
    if text is None and baseline is not None and wholes is not None:
        text = _body_change(baseline, new, now, wholes)
    if text is not None:
        return text
    meta = _metadata_change(baseline, new) if baseline is not None else {}
    if meta:
        summary = "; ".join(f"{name}: {old!r} -> {new_!r}" for name, (old, new_) in meta.items())
        return Verdict(now, "metadata", summary, {"metadata": meta})
    old_final = _host(baseline.final_url or baseline.url) if baseline is not None else None
    new_final = _host(new.final_url or new.url)
    if old_final is not None and old_final != new_final:
        return Verdict(now, "status", f"now served from {new.final_url}", {"status": status})
    return Verdict(now)


def _yes(answer: bool | Callable[[], bool]) -> bool:
    return answer() if callable(answer) else answer
