"""Claims: the sentences of a citing article that carry checkable content.

A citation matters because of what it is cited for. When an article names its sources without links
("Sources for this article include: RMX.news KyivIndependent.com ..."), citewatch has to find, on each
outlet, the article behind each statement; when a source changes, it has to say which statements are
affected. Both need the statements, broken into terms that can be matched: numbers ("253,000 criminal
cases"), years, quotations and who said them, and the names of people, places and organisations.

No language model is available here (and none is wanted: this runs offline, fast, and the same way
everywhere), so the terms come from heuristics written for English news prose:

- ``sentences`` splits text into sentences and keeps a quotation whole even when it holds several.
- ``normalise_number`` and ``number_forms`` reduce "253,000", "1.5 million" and "fivefold" to strings
  that compare equal however a claim and a candidate source write the same number.
- ``extract_claims`` keeps the sentences with a number, a quotation, or several names.

The heuristics lean toward keeping a sentence: a spare claim costs a little matching time, a lost claim
hides a change. Everything here is a pure function of its text argument.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

__all__ = [
    "SOURCE_LIST_HEAD",
    "TERM_KINDS",
    "ClaimDraft",
    "extract_claims",
    "normalise_number",
    "number_forms",
    "sentences",
]

# Typographic characters, written as escapes so that no reader mistakes them for their ASCII look-alikes.
_RSQUO = "\u2019"  # right single quotation mark, also the typographic apostrophe
_APOSTROPHES = "'" + _RSQUO
_OPEN_QUOTES = "\"'(\u201c\u2018["
_CLOSE_QUOTES = "\"')\u201d\u2019]"

# "Sources for this article include:", "Source:", "References:". Such a line names outlets (see
# archive.articles.outlet_names); it is not itself a claim.
SOURCE_LIST_HEAD = re.compile(
    r"^(?:sources?|references?)\b[^:]{0,40}?(?::|\binclude[sd]?\b:?)", re.IGNORECASE
)


@dataclass(frozen=True)
class ClaimDraft:
    """A sentence worth checking, with the terms that a source behind it should contain.

    A draft until it is stored, linked to the citations that support it, as a Claim.
    """

    position: int  # index of the sentence among sentences(text)
    text: str  # the sentence, whitespace folded
    numbers: tuple[str, ...] = ()  # normalised, years excluded: "253000", "5x" (fivefold)
    years: tuple[str, ...] = ()  # "2022"
    quantities: tuple[str, ...] = ()  # number and unit as written: "253,000 criminal cases"
    quotes: tuple[str, ...] = ()  # quoted speech of three words or more, without the quote marks
    speakers: tuple[str, ...] = ()  # who said the quotes, where the sentence or its neighbours tell
    entities: tuple[str, ...] = ()  # named people, places and organisations

    def terms(self) -> dict[str, list[str]]:
        """The terms as JSON-able lists, keyed by kind.

        >>> ClaimDraft(0, "It rose fivefold.", numbers=("5x",), quantities=("fivefold",)).terms()["numbers"]
        ['5x']
        """
        return {name: list(getattr(self, name)) for name in TERM_KINDS}


TERM_KINDS = ("numbers", "years", "quantities", "quotes", "speakers", "entities")


def _words(text: str) -> frozenset[str]:
    """The words of ``text``: the word lists below read as text, not as rows of quoted strings."""
    return frozenset(text.split())


# ---------------------------------------------------------------------------------------------------------
# Sentences

# Abbreviations whose period never ends a sentence: ranks and titles before a name, short forms before a
# number. Compared in lower case, without the final period.
_NEVER_FINAL = _words(
    "mr mrs ms dr prof gen lt col maj capt sgt cpl adm cmdr sen rep gov pres rev hon st mt ft vs v fig figs "
    "approx est ca cf al e.g i.e jan feb mar apr jun jul aug sep sept oct nov dec"
)
# Abbreviations that often end a sentence too: after them, only a typical sentence opener starts a new one.
_MAYBE_FINAL = _words("etc inc ltd co corp jr sr")
_OPENERS = _words(
    "The A An This That These Those It Its He She They We I In On At But And Yet However Meanwhile There "
    "His Her Their Our As After Before When While If Since For According Then"
)
_TERMINATOR = re.compile(rf"[.!?\u2026]+[{re.escape(_CLOSE_QUOTES)}]*(?=\s)")
_QUOTED_SPAN = re.compile(r"\"[^\"]{1,1000}\"|\u201c[^\u201c\u201d]{1,1000}\u201d")
_BULLET = re.compile(r"^(?:[\u2022\u25e6\u25aa\u2023\u25cf*\u00b7\u2013\u2014-]|\d{1,2}[.)])\s+")
_INITIALISM = re.compile(r"(?:[A-Za-z]\.){2,}")
_DOUBLE_PERIOD = re.compile(r"(?<!\.)\.\.(?!\.)")
_FOLLOWING_CHARS = 24  # enough for the longest sentence opener in _OPENERS


def sentences(text: str) -> list[str]:
    """The sentences of ``text``, in order, whitespace folded, bullets and empty pieces dropped.

    A line break ends a paragraph (and so a sentence) unless the next line carries on in lower case or
    the line ends with a comma, as hard-wrapped prose does. A quotation stays in one sentence with its
    attribution. A doubled period ("Office.. This", a typo) ends a sentence and is written as one.

    >>> sentences('Mr. Li met Gen. Syrsky in the U.S. on Jan. 5. "We lost. Badly," he said. It cost $1.5m.')
    ['Mr. Li met Gen. Syrsky in the U.S. on Jan. 5.', '"We lost. Badly," he said.', 'It cost $1.5m.']
    >>> sentences("the Prosecutor General's Office.. This crisis... grew. It lives in the U.S. The end")
    ["the Prosecutor General's Office.", 'This crisis... grew.', 'It lives in the U.S.', 'The end']
    """
    return [sentence for paragraph in _paragraphs(text) for sentence in _split_paragraph(paragraph)]


def _paragraphs(text: str) -> list[str]:
    """Lines joined into paragraphs, whitespace folded (non-breaking spaces too)."""
    paragraphs: list[list[str]] = []
    previous = ""
    for raw in text.splitlines():
        line = " ".join(raw.split())
        if previous and line and _continues(previous, line):
            paragraphs[-1].append(line)
        elif line:
            paragraphs.append([line])
        previous = line
    return [" ".join(lines) for lines in paragraphs]


def _continues(previous: str, line: str) -> bool:
    """Whether ``line`` carries on the paragraph of ``previous`` (hard-wrapped text), bullets excepted."""
    return not _BULLET.match(line) and (line[0].islower() or previous.endswith(","))


def _split_paragraph(paragraph: str) -> list[str]:
    paragraph = _BULLET.sub("", paragraph)  # before splitting: "1. Point" is no sentence "1."
    quoted = _QuotedSpans(paragraph)
    cuts = [m.end() for m in _TERMINATOR.finditer(paragraph) if _is_boundary(paragraph, m, quoted)]
    pieces = (paragraph[start:end] for start, end in zip([0, *cuts], [*cuts, len(paragraph)], strict=True))
    return [sentence for sentence in map(_tidy, pieces) if any(char.isalnum() for char in sentence)]


def _tidy(piece: str) -> str:
    return _DOUBLE_PERIOD.sub(".", piece.strip())


class _QuotedSpans:
    """The quotations of a paragraph, to ask whether a place lies inside one (in logarithmic time)."""

    def __init__(self, paragraph: str) -> None:
        self.spans = [match.span() for match in _QUOTED_SPAN.finditer(paragraph)]
        self.starts = [start for start, _ in self.spans]

    def encloses(self, start: int, end: int) -> bool:
        """Whether ``start:end`` lies strictly inside one quotation (not at its closing mark)."""
        index = bisect.bisect_left(self.starts, start) - 1
        return index >= 0 and end < self.spans[index][1]


def _is_boundary(paragraph: str, match: re.Match[str], quoted: _QuotedSpans) -> bool:
    """Whether the terminator ``match`` ends a sentence: outside quotes, before a capital or a digit."""
    if quoted.encloses(match.start(), match.end()):
        return False
    # Whitespace is folded: the next word starts within a character or two.
    following = paragraph[match.end() : match.end() + _FOLLOWING_CHARS].lstrip().lstrip(_OPEN_QUOTES)
    if not following or not (following[0].isupper() or following[0].isdigit()):
        return False
    if match.group() != ".":
        return True
    return _period_ends_sentence(_word_before(paragraph, match.start()), following)


def _word_before(paragraph: str, position: int) -> str:
    start = paragraph.rfind(" ", 0, position) + 1  # paragraphs have their whitespace folded
    return paragraph[start:position].lstrip(_OPEN_QUOTES)


def _period_ends_sentence(word: str, following: str) -> bool:
    """Whether a period after ``word`` ends a sentence, given the text that follows it.

    >>> _period_ends_sentence("Gen", "Syrsky said"), _period_ends_sentence("J", "Smith")
    (False, False)
    >>> _period_ends_sentence("U.S", "The next day"), _period_ends_sentence("U.S", "Army units")
    (True, False)
    """
    bare = word.lower()
    if bare in _NEVER_FINAL or (len(word) == 1 and word.isupper()):
        return False
    if bare in _MAYBE_FINAL or _INITIALISM.fullmatch(word + "."):
        return following.split(maxsplit=1)[0] in _OPENERS
    return True


# ---------------------------------------------------------------------------------------------------------
# Numbers


@dataclass(frozen=True)
class _Number:
    start: int
    end: int
    value: str  # normalised: "253000", "1.5", "5x"
    year: bool


_SCALES = {
    "hundred": 100,
    "thousand": 10**3,
    "million": 10**6,
    "billion": 10**9,
    "trillion": 10**12,
    "mn": 10**6,
    "mln": 10**6,
    "bn": 10**9,
    "tn": 10**12,
}
# Attached to a currency amount, "m" and "k" are scales ("$5m"); elsewhere "5m" is more often five metres.
_CURRENCY_SCALES = {"k": 10**3, "m": 10**6, "bn": 10**9, "tn": 10**12}
_MULTIPLIERS = frozenset({"x", "\u00d7", "-fold"})
_ORDINALS = frozenset({"st", "nd", "rd", "th", "s"})  # "3rd", and decades: "1990s"
_UNITS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_TEENS = (
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
)
_TENS = ("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_WORD_VALUES = {
    **{word: index + 1 for index, word in enumerate(_UNITS)},
    **{word: index + 10 for index, word in enumerate(_TEENS)},
    **{word: index * 10 + 20 for index, word in enumerate(_TENS)},
}
_SCALE_WORDS = r"(?P<scales>(?:\s+(?i:hundred|thousand|million|billion|trillion|bn|mln|mn|tn)\b)*)"
_DIGIT_NUMBER = re.compile(
    r"(?<![\w.,])(?P<currency>[$\u20ac\u00a3\u00a5])?"
    r"(?P<digits>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)(?!\d|[.,]\d)"
    r"(?P<suffix>%|\+|\u00d7|-fold\b|[A-Za-z]+\b)?" + _SCALE_WORDS
)
_WORD_NUMBER = re.compile(
    rf"\b(?P<word>(?:{'|'.join(_TENS)})(?:-(?:{'|'.join(_UNITS)}))?|{'|'.join(_TEENS)}|{'|'.join(_UNITS)})"
    rf"(?P<fold>fold)?\b" + _SCALE_WORDS,
    re.IGNORECASE,
)
# Words in front of a hyphenated year that keep it a year ("mid-2025"); any other word makes a model
# name of the number ("F-16", "COVID-19"), which is no quantity.
_YEAR_PREFIXES = frozenset({"mid", "early", "late", "pre", "post", "end"})
_MONTHS = (
    "January|February|March|April|May|June|July|August|September|October|November|December"
    r"|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec"
)
# Parts of dates and times that are not quantities. Each alternative captures exactly the part to ignore;
# the year of a date stays, and counts as a year.
_DATE_PARTS = re.compile(
    r"\b\d{4}-(\d{1,2}-\d{1,2})\b"
    r"|\b(\d{1,2}/\d{1,2})/\d{2,4}\b"
    rf"|\b(?:{_MONTHS})\.?\s+(\d{{1,2}}(?:st|nd|rd|th)?)\b(?!,\d)"
    rf"|\b(\d{{1,2}}(?:st|nd|rd|th)?)\s+(?:of\s+)?(?:{_MONTHS})\b"
    r"|\b(\d{1,2}:\d{2})\b"
)
_HEDGES = re.compile(
    r"^(?:(?:nearly|almost|about|around|approximately|roughly|some|over|under|just|only|more than|"
    r"less than|fewer than|at least|at most|up to|as many as|as much as|close to)\s+)+",
    re.IGNORECASE,
)


def normalise_number(token: str) -> str | None:
    """The normalised form of a number written as ``token``, or None when ``token`` is not one number.

    Hedges in front ("nearly", "more than") are ignored; so is a trailing "+". A multiplier such as
    "fivefold" becomes "5x". "one" alone is not a number here: it is far more often a pronoun.

    >>> [normalise_number(t) for t in ("253,000", "250,000+", "nearly 576", "more than 1.5 million")]
    ['253000', '250000', '576', '1500000']
    >>> [normalise_number(t) for t in ("fivefold", "12%", "$2.5bn", "seven", "2022", "1.50")]
    ['5x', '12', '2500000000', '7', '2022', '1.5']
    >>> [normalise_number(t) for t in ("Reuters", "3rd", "F-16", "one", "576 soldiers", "")]
    [None, None, None, None, None, None]
    """
    core = _HEDGES.sub("", token.strip()).rstrip(".,;:")
    hits = _number_hits(core)
    if len(hits) == 1 and (hits[0].start, hits[0].end) == (0, len(core)):
        return hits[0].value
    return None


def number_forms(text: str) -> set[str]:
    """Every number in ``text``, normalised; years carry a ``y:`` prefix so they never match counts.

    Meant for any text, candidate source articles as much as claims: "20,538" and "20538" agree, and so do
    "1.5 million" and "1,500,000". Days of dates and clock times are not numbers.

    >>> sorted(number_forms("From 7,000 in 2022 to 1.5 million, fivefold; 253 thousand by 31 October 2025."))
    ['1500000', '253000', '5x', '7000', 'y:2022', 'y:2025']
    >>> sorted(number_forms("Posted 2025-10-31 at 10:30 by F-16 pilots, mid-2025, 3rd time."))
    ['y:2025']
    """
    return {f"y:{hit.value}" if hit.year else hit.value for hit in _number_hits(text)}


def _number_hits(text: str) -> list[_Number]:
    """The numbers of ``text`` with their places, digits and words alike, in order."""
    scan = _blank_date_parts(text)
    found = [_digit_number(m) for m in _DIGIT_NUMBER.finditer(scan) if not _glued(scan, m.start())]
    found += [_word_number(m) for m in _WORD_NUMBER.finditer(scan)]
    return sorted((hit for hit in found if hit), key=lambda hit: hit.start)


def _blank_date_parts(text: str) -> str:
    """``text`` with days and times blanked out, so that offsets still point into ``text``."""
    chars = list(text)
    for match in _DATE_PARTS.finditer(text):
        start, end = match.span(match.lastindex or 0)
        chars[start:end] = " " * (end - start)
    return "".join(chars)


def _glued(text: str, start: int) -> bool:
    """Whether the number at ``start`` is part of a name like "F-16" (but not "mid-2025")."""
    found = re.search(r"([A-Za-z]+)-$", text[max(0, start - 12) : start])
    return found is not None and found.group(1).lower() not in _YEAR_PREFIXES


def _digit_number(match: re.Match[str]) -> _Number | None:
    suffix = (match["suffix"] or "").lower()
    if suffix in _ORDINALS:
        return None
    value = Decimal(match["digits"].replace(",", ""))
    if suffix in _MULTIPLIERS:
        return _Number(match.start(), match.end(), f"{_plain(value)}x", year=False)
    scale = _scale(match["scales"]) * (_CURRENCY_SCALES.get(suffix, 1) if match["currency"] else 1)
    year = not (match["currency"] or suffix or match["scales"]) and _year_like(match["digits"])
    return _Number(match.start(), match.end(), _plain(value * scale), year)


def _word_number(match: re.Match[str]) -> _Number | None:
    base = sum(_WORD_VALUES[part] for part in match["word"].lower().split("-"))
    if match["fold"]:
        return _Number(match.start(), match.end("fold"), f"{base}x", year=False)
    scale = _scale(match["scales"])
    if base == 1 and scale == 1:
        return None
    return _Number(match.start(), match.end(), _plain(Decimal(base * scale)), year=False)


def _year_like(digits: str) -> bool:
    return len(digits) == 4 and digits.isdigit() and 1800 <= int(digits) <= 2100


def _scale(scales: str) -> int:
    product = 1
    for word in scales.split():
        product *= _SCALES[word.lower()]
    return product


def _plain(value: Decimal) -> str:
    """``value`` without exponent or trailing zeros: "1500000", "1.5"."""
    return format(value.normalize(), "f")


# Words that end the unit phrase after a number ("253,000 criminal cases | for ..."), and that are never
# names when capitalised at the start of a sentence or a name ("The", "In").
_FUNCTION_WORDS = _words(
    """a about above according across after again against ago all almost along already also although among an
    and another any are around as at be because been before being between both but by can could did do does
    down during each either even every few for from had has have he her here hers his how however i if in into
    is it its just least less let like many may meanwhile might more most much must my near nearly neither no
    nor not of off on one only onto or other our out over per several she should since so some still such
    than that the their them then there these they this those though through to too toward towards under
    unless until up upon very via was we were what when where whether which while who whom whose why will with
    within without would yet you your ultimately everybody everyone nobody someone"""
)
_UNIT_WORD = re.compile(rf"\s+([a-z][a-z{_APOSTROPHES}-]*)\b")
_MAX_UNIT_WORDS = 3


def _quantity(text: str, hit: _Number) -> str:
    """The number at ``hit`` with the unit phrase after it, as written: "253,000 criminal cases"."""
    end = hit.end
    words: list[str] = []
    while len(words) < _MAX_UNIT_WORDS and (found := _UNIT_WORD.match(text, end)):
        word = found.group(1)
        if (word in _FUNCTION_WORDS and word != "per") or (words and word.endswith("ed")):
            break
        words.append(word)
        end = found.end()
    if words and words[-1] == "per":  # "600 per" without its "day" says nothing
        end = text.rindex("per", hit.end, end)
    return text[hit.start : end].rstrip()


# ---------------------------------------------------------------------------------------------------------
# Names


@dataclass(frozen=True)
class _Entity:
    text: str
    start: int
    person: bool


# A word: an initialism ("U.S."), or letters with apostrophes and hyphens, possibly dotted ("RMX.news").
_WORD = re.compile(rf"(?:[A-Z]\.){{2,}}|[^\W\d_][\w{_APOSTROPHES}&-]*(?:\.[^\W\d_][\w-]*)*")
# How far back, in characters, a word's left context is read: enough for "deserter named" or "stating, ",
# short enough that long sentences cost linear time.
_LOOK_BACK = 40
_CONTRACTION = re.compile(rf"[{_APOSTROPHES}](?:m|re|ve|ll|d|t)$", re.IGNORECASE)
_POSSESSIVE = re.compile(rf"[{_APOSTROPHES}]s?$")
_PARTICLES = _words("de van von der den al bin da del della la le du di dos das")
_CALENDAR = _words(
    "january february march april may june july august september october november december "
    "monday tuesday wednesday thursday friday saturday sunday"
)
# Capitalised abbreviations that name no one and nothing in particular.
_NOT_ENTITIES = _words("awol ceo gdp tv ok am pm usd eur")
_DEMONYMS = _words(
    """ukrainian russian american british english european chinese french german polish italian spanish
    israeli palestinian iranian iraqi syrian turkish indian pakistani japanese korean canadian australian
    belarusian georgian hungarian romanian czech slovak dutch swedish finnish norwegian danish estonian
    latvian lithuanian moldovan serbian croatian greek arab african asian western eastern soviet"""
)
# Words before a name that say who the person is: "MP Oleksiy Honcharenko", "Lieutenant General ...".
_TITLES = _words(
    """mr mrs ms miss dr prof professor mp mep sen senator rep representative gov governor president vice
    prime minister chancellor secretary general lieutenant lt colonel col major maj captain capt sergeant sgt
    private corporal commander admiral marshal gen mayor judge justice ambassador deputy chief sir dame lord
    lady king queen prince princess pope bishop rev father head director chairman chairwoman chair
    spokesperson spokesman spokeswoman ombudsman ombudsperson speaker commissioner"""
)
# A run of capitalised words holding one of these is an organisation, kept whole:
# "Prosecutor General's Office", "Ministry of Defence", "Armed Forces of Ukraine".
_ORG_MARKERS = _words(
    """office ministry department agency service services bureau council committee commission court
    parliament assembly senate congress government administration university institute college school
    academy bank fund foundation association union party forces army navy corps command police guard staff
    company corporation group inc ltd organization organisation center centre network press journal
    church hospital board authority federation alliance coalition movement front"""
)
# Words that make a two- or three-word name a place, an outlet or a thing rather than a person.
_NOT_PERSON_WORDS = _ORG_MARKERS | _words(
    """new north south east west central united saint st mount lake river city republic kingdom states
    island islands sea ocean gulf bay valley coast big tech independent times post news daily guardian
    street square house hall"""
)
_ORG_CONNECTORS = frozenset({"of", "for"})
_SPEECH = (
    r"(?:said|says|told|tells|added|adds|explained|stated|wrote|writes|noted|asked|argued|warned|insisted|"
    r"recalled|replied|declared|admitted|claimed|continued|confirmed)"
)
_SPEECH_AFTER_NAME = re.compile(rf"\s+{_SPEECH}\b")


def _entities(sentence: str, proper: frozenset[str] = frozenset()) -> list[_Entity]:
    """Named people, places and organisations in ``sentence``, in order.

    ``proper`` holds words seen capitalised inside sentences elsewhere in the document: a lone capitalised
    word that opens a sentence counts as a name only if it is one of them ("Ukraine faces ...", but not
    "Official data shows ...").

    >>> text = "Official data from the Prosecutor General's Office, MP Oleksiy Honcharenko said."
    >>> [e.text for e in _entities(text)]
    ["Prosecutor General's Office", 'Oleksiy Honcharenko']
    >>> text = "Ukraine's ombudsperson, Olha Reshetylova, met a Russian envoy."
    >>> [(e.text, e.person) for e in _entities(text)]
    [('Olha Reshetylova', True)]
    """
    words = list(_WORD.finditer(sentence))
    found = (
        _entity(sentence, part, proper) for run in _runs(sentence, words) for part in _at_possessives(run)
    )
    return [entity for entity in found if entity]


def _runs(sentence: str, words: Sequence[re.Match[str]]) -> list[list[re.Match[str]]]:
    """Runs of adjacent capitalised words, joined across name particles and "of" after an organisation."""
    runs: list[list[re.Match[str]]] = [[]]
    for index, word in enumerate(words):
        joins = bool(runs[-1]) and _adjacent(sentence, runs[-1][-1], word)
        if word.group()[0].isupper() or (joins and _connects(runs[-1], word, words[index + 1 : index + 2])):
            if not joins:
                runs.append([])
            runs[-1].append(word)
        elif runs[-1]:
            runs.append([])
    return [_trim_lower(run) for run in runs if run]


def _adjacent(sentence: str, left: re.Match[str], right: re.Match[str]) -> bool:
    """Whether two words can belong to one name: one space apart, or after an initial or a title's period."""
    gap = sentence[left.end() : right.start()]
    word = left.group()
    if _dotted(word) or _dotted(right.group()):  # a domain name stands alone: "RMX.news KyivIndependent.com"
        return False
    return gap == " " or (
        gap == ". " and (word.lower() in _NEVER_FINAL or (len(word) == 1 and word.isupper()))
    )


def _dotted(word: str) -> bool:
    return "." in word and not _INITIALISM.fullmatch(word)


def _connects(run: Sequence[re.Match[str]], word: re.Match[str], following: Sequence[re.Match[str]]) -> bool:
    """Whether lower-case ``word`` joins the names on either side ("von der Leyen", "Ministry of Defence")."""
    text = word.group()
    allowed = text in _PARTICLES or (
        text in _ORG_CONNECTORS and _bare(run[-1].group()).lower() in _ORG_MARKERS
    )
    return (
        allowed
        and bool(following)
        and (following[0].group()[0].isupper() or following[0].group() in _PARTICLES)
    )


def _trim_lower(run: list[re.Match[str]]) -> list[re.Match[str]]:
    while run and not run[-1].group()[0].isupper():
        run = run[:-1]
    return run


def _at_possessives(run: list[re.Match[str]]) -> list[list[re.Match[str]]]:
    """``run`` cut after each possessive that does not belong to an organisation's name.

    "Ukraine's Defence Ministry" is two names; "Prosecutor General's Office" is one.
    """
    parts: list[list[re.Match[str]]] = [[]]
    for index, word in enumerate(run):
        parts[-1].append(word)
        following = run[index + 1 : index + 2]
        if (
            _POSSESSIVE.search(word.group())
            and following
            and _bare(following[0].group()).lower() not in _ORG_MARKERS
        ):
            parts.append([])
    return [part for part in parts if part]


def _bare(word: str) -> str:
    """``word`` without a possessive ending."""
    return _POSSESSIVE.sub("", word)


def _entity(sentence: str, run: list[re.Match[str]], proper: frozenset[str]) -> _Entity | None:
    run = _drop_leading(run, _FUNCTION_WORDS)
    if not run:
        return None
    if any(_bare(word.group()).lower() in _ORG_MARKERS for word in run):
        return _Entity(_text_of(sentence, run), run[0].start(), person=False)
    named = _drop_leading(run, _TITLES | _DEMONYMS)
    titled = any(_bare(word.group()).lower() in _TITLES for word in run[: len(run) - len(named)])
    if named and not titled:
        named = run  # "British Museum" keeps its adjective; "Russian President Vladimir Putin" does not
    if not named or not _is_name(sentence, named, proper):
        return None
    person = titled or _is_person(sentence, named)
    return _Entity(_text_of(sentence, named), named[0].start(), person)


def _drop_leading(run: list[re.Match[str]], words: frozenset[str]) -> list[re.Match[str]]:
    while run and _bare(run[0].group()).lower().rstrip(".") in words:
        run = run[1:]
    return run


def _text_of(sentence: str, run: Sequence[re.Match[str]]) -> str:
    return _bare(sentence[run[0].start() : run[-1].end()])


def _is_name(sentence: str, run: Sequence[re.Match[str]], proper: frozenset[str]) -> bool:
    """Whether ``run`` (leading function words and titles gone) names someone or something."""
    if len(run) > 1:
        return True
    word = run[0].group()
    bare = _bare(word)
    if _CONTRACTION.search(word) or bare.lower() in _FUNCTION_WORDS | _CALENDAR | _NOT_ENTITIES:
        return False
    return not _initial(sentence, run[0].start()) or "." in bare or bare.isupper() or bare in proper


def _is_person(sentence: str, run: Sequence[re.Match[str]]) -> bool:
    """Whether the name ``run`` is a person's, from how the sentence introduces it."""
    before = sentence[max(0, run[0].start() - _LOOK_BACK) : run[0].start()]
    after = sentence[run[-1].end() :]
    if before.endswith("named ") or _SPEECH_AFTER_NAME.match(after):
        return True
    if re.search(r"\b[a-z]+, $", before) and after.startswith(","):  # "Another soldier, Oleksii, who ..."
        return True
    words = [_bare(word.group()) for word in run]
    return 2 <= len(words) <= 3 and all(_name_like(word) for word in words)


def _name_like(word: str) -> bool:
    return not word.isupper() and "." not in word and word.lower() not in _NOT_PERSON_WORDS | _DEMONYMS


def _initial(sentence: str, position: int) -> bool:
    """Whether the word at ``position`` opens the sentence, a quotation, a sentence in one, or a clause."""
    before = sentence[max(0, position - _LOOK_BACK) : position].rstrip()
    return not before or before[-1] in _OPEN_QUOTES + ".!?:\u2026\u2014\u2013"


def _proper_words(all_sentences: Iterable[str]) -> frozenset[str]:
    """Words capitalised somewhere other than at the start of a sentence: likely names."""
    return frozenset(
        _bare(word.group())
        for sentence in all_sentences
        for word in _WORD.finditer(sentence)
        if word.group()[0].isupper() and not _initial(sentence, word.start())
    )


# ---------------------------------------------------------------------------------------------------------
# Quotations and speakers

_QUOTATION = re.compile(
    r"\"(?P<straight>[^\"]+)\"|\u201c(?P<curly>[^\u201c\u201d]+)\u201d"
    r"|(?<!\w)\u2018(?P<single>(?:[^\u2018\u2019]|\u2019(?=\w))+)\u2019(?!\w)"
)
_NAME = rf"[A-Z][\w{_APOSTROPHES}-]+(?:\s+[A-Z][\w{_APOSTROPHES}-]+){{0,3}}"
_SPEAKER_AFTER = re.compile(
    rf"[\s,\u2014\u2013]*(?:{_SPEECH}\s+(?P<a>{_NAME}|he|she|they)\b|(?P<b>{_NAME}|he|she|they)\s+{_SPEECH}\b)"
)
_CUE_BEFORE = re.compile(
    rf"(?:\b(?:{_SPEECH}|stating|saying|adding|explaining|acknowledging|noting|writing|asking|warning|"
    r"insisting|put it|according to)|:)[\s,:\u2014\u2013-]*$"
)
_PRONOUNS = frozenset({"he", "she", "they"})
_PRONOUN = re.compile(r"\b(?:he|she|they)\b", re.IGNORECASE)
_MIN_QUOTE_WORDS = 3


@dataclass
class _Context:
    """What earlier sentences tell about later ones: who has been named, and who spoke last."""

    people: list[str] = field(default_factory=list)
    last_speaker: str | None = None


def _quotes_and_speakers(
    sentence: str, entities: Sequence[_Entity], context: _Context
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The quotations in ``sentence`` and their speakers, as far as the text says who they are."""
    quotes: list[str] = []
    speakers: list[str] = []
    for match in _QUOTATION.finditer(sentence):
        quote = next(group for group in match.groups() if group is not None).strip().rstrip(",;:").strip()
        if len(quote.split()) >= _MIN_QUOTE_WORDS:
            quotes.append(quote)
            speakers.extend(filter(None, [_speaker(sentence, match, entities, context)]))
    if quotes and not speakers and context.last_speaker and sentence.lstrip()[0] in _OPEN_QUOTES:
        # A quotation standing alone carries on the words of the last speaker.
        speakers.append(context.last_speaker)
    context.last_speaker = speakers[-1] if speakers else None
    return tuple(quotes), _unique(speakers)


def _speaker(
    sentence: str, quote: re.Match[str], entities: Sequence[_Entity], context: _Context
) -> str | None:
    """Who said ``quote``: named after it ("..., she said"), or the subject before it ("Viktor ... said,")."""
    named_before = [entity.text for entity in entities if entity.person and entity.start < quote.start()]
    after = _SPEAKER_AFTER.match(sentence, quote.end())
    if after:
        return _resolve(after["a"] or after["b"], [*context.people, *named_before])
    before = sentence[: quote.start()]
    if not _CUE_BEFORE.search(before[-_LOOK_BACK:]):
        return None
    if named_before:
        return named_before[-1]
    return _resolve("she", context.people) if _PRONOUN.search(before) else None


def _resolve(name: str, people: Sequence[str]) -> str | None:
    """``name`` as the fullest name known: a pronoun is the last person named, a surname the full name."""
    if name.lower() in _PRONOUNS:
        return people[-1] if people else None
    fuller = [person for person in people if person.split()[-1] == name and person != name]
    return fuller[-1] if fuller else name


# ---------------------------------------------------------------------------------------------------------
# Claims


def extract_claims(text: str) -> list[ClaimDraft]:
    """The claims of a citing article: its sentences that carry checkable content, in order.

    A sentence is a claim when it holds a number other than a year, a quotation of three words or more,
    two names, or a name and a year. Bulleted summaries count like any sentence; a source list
    ("Sources for this article include: ...") does not: it names outlets, which archive.articles.outlet_names
    reads.

    >>> [c.terms()["quantities"] for c in extract_claims("Joined 2019.\\nBy 2022, 7,000 troops had left.")]
    [['7,000 troops']]
    """
    all_sentences = sentences(text)
    proper = _proper_words(all_sentences)
    context = _Context()
    drafts = [_draft(position, sentence, proper, context) for position, sentence in enumerate(all_sentences)]
    return [draft for draft in drafts if _is_claim(draft)]


def _draft(position: int, sentence: str, proper: frozenset[str], context: _Context) -> ClaimDraft:
    hits = _number_hits(sentence)
    entities = _entities(sentence, proper)
    quotes, speakers = _quotes_and_speakers(sentence, entities, context)
    context.people.extend(entity.text for entity in entities if entity.person)
    counts = [hit for hit in hits if not hit.year]
    return ClaimDraft(
        position=position,
        text=sentence,
        numbers=_unique(hit.value for hit in counts),
        years=_unique(hit.value for hit in hits if hit.year),
        quantities=_unique(_quantity(sentence, hit) for hit in counts),
        quotes=quotes,
        speakers=speakers,
        entities=_unique(entity.text for entity in entities),
    )


# A byline: "By Jo Checker // 2025-11-02", "Written by Anna Bell | November 2, 2025, 10:41 AM".
# And a dateline of its own: "Updated Nov. 2, 2025", "Published 2 November 2025, 10:41 GMT".
_BYLINE_HEAD = re.compile(
    r"^(?:(?:(?:written|reporting|reported|words|text|story)\s+)?by\s+\S"
    r"|(?:last\s+)?(?:updated|published|posted|modified)\b)",
    re.IGNORECASE,
)
_BYLINE_WORDS = _words(
    "by and with for of the in on at updated update published posted last modified am pm gmt utc "
    "et bst cet staff writer writers reporter reporters correspondent editor contributor"
)
_LETTER_WORD = re.compile(rf"[^\W\d_][\w{_APOSTROPHES}.-]*")


def is_byline(sentence: str) -> bool:
    """A line that only says who wrote the article, or when: not a claim, though it names a
    person and a year. Every word is a name, a month, or a byline's own word.

    >>> is_byline("By Jo Checker // 2025-11-02"), is_byline("Written by Anna Bell | Nov. 2, 2025, 10:41 AM")
    (True, True)
    >>> is_byline("By the end of March, Vladimir Putin and Joe Biden met in Geneva.")
    False
    """
    if not _BYLINE_HEAD.match(sentence):
        return False
    found = _LETTER_WORD.findall(sentence)
    return len(found) <= 16 and all(
        w[:1].isupper() or w.lower().rstrip(".") in _BYLINE_WORDS or w.lower().rstrip(".")[:3] in _MONTH_HEADS
        for w in found
    )


_MONTH_HEADS = frozenset(m[:3].lower() for m in _MONTHS.split("|"))


def _is_claim(draft: ClaimDraft) -> bool:
    if SOURCE_LIST_HEAD.match(draft.text):
        return False
    if not draft.numbers and not draft.quotes and is_byline(draft.text):
        return False
    named = len(draft.entities)
    return bool(draft.numbers or draft.quotes or named >= 2 or (named and draft.years))


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    """``items`` without repeats, first occurrence kept."""
    return tuple(dict.fromkeys(items))
