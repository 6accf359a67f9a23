"""Which of an outlet's pages is behind an article's claims: ranking with evidence.

Pure functions over values: the crawler discovers an outlet's pages (sitemaps,
feeds, front page) and fetches the best few; this module narrows them by date,
ranks them, and says why.

Two stages, as a reader would check:

1. **Shortlist.** BM25 (``rank_bm25``) over what discovery knows of each page
   (title, summary, the words of its URL), with the claims' words as the query,
   plus any exact numbers and quoted phrases already visible there.
2. **Confirm.** The shortlisted pages' full text is scored for *evidence*: the
   claims' exact numbers, quoted phrases and named entities found in it, each
   weighed by how much of its claim's wording the page shares. The final score,
   0 to 1, is the evidence (strong terms weigh more, capped) scaled by the page's
   topicality, so a page with the same numbers on another topic, or the same
   topic with other numbers, stays below the right page.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlsplit

from archive.articles.claims import ClaimDraft, normalise_number, number_forms

_WORD = re.compile(r"[^\W\d_][\w'-]*", re.U)
# Evidence weights: an exact number or a quoted phrase says far more than a name.
WEIGHTS = {"number": 3.0, "small-number": 1.0, "quote": 4.0, "entity": 1.0, "year": 0.25}
# Evidence worth this much (three numbers on the claims' topic and a name, say) is full evidence.
FULL_EVIDENCE = 10.0
ENTITY_CAP = 3.0
_SNIPPET = 60
# Curly quotes and dashes, by code point, made plain.
_PLAIN = str.maketrans({0x201C: '"', 0x201D: '"', 0x2018: "'", 0x2019: "'", 0x2014: "-", 0x2013: "-"})


@dataclass
class Entry:
    """A page of an outlet as discovery found it."""

    url: str
    title: str = ""
    summary: str = ""
    published: datetime | None = None
    found_via: str = "sitemap"  # sitemap | news-sitemap | feed | front-page


@dataclass
class Scored:
    entry: Entry
    score: float
    evidence: dict[str, Any] = field(default_factory=dict)
    confirmed: bool = False


def fold(text: str) -> str:
    """Lowercase, NFKC, curly quotes and dashes made plain, whitespace folded.

    >>> fold("\\u201cLet\\u2019s  be honest\\u201d \\u2014 she said")
    '"let\\'s be honest" - she said'
    """
    text = unicodedata.normalize("NFKC", text).lower()
    text = text.translate(_PLAIN)
    return " ".join(text.split())


def words(text: str) -> list[str]:
    """Content words for BM25: folded, no stop words (jusText's English list, which also drops
    common verbs such as "opened"), no one- or two-letter words.

    >>> words("The Prosecutor General's Office opened cases")
    ['prosecutor', "general's", 'office', 'cases']
    """
    stop = _stop_words()
    return [w for w in _WORD.findall(fold(text)) if len(w) > 2 and w not in stop]


@functools.cache
def _stop_words() -> frozenset[str]:
    import justext  # here, not at the top: it imports lxml, and `citewatch citations` imports this module

    return frozenset(justext.get_stoplist("English"))


def url_words(url: str) -> str:
    """The words of a URL's path (slugs carry titles).

    >>> url_words("https://x.org/news/2025/10/ukraine-desertion-cases-soar.html")
    'news ukraine desertion cases soar html'
    """
    return " ".join(re.findall(r"[^\W\d_]+", unquote(urlsplit(url).path)))


# -- the claims as a query ------------------------------------------------------
@dataclass(frozen=True)
class Term:
    kind: str  # number | small-number | quote | entity | year
    text: str  # as the claim has it
    match: str  # what is looked for: a normalised number or a folded phrase
    claim: int  # position of the claim
    raw: str = ""  # a number as the claim writes it: "253,000"
    unit: tuple[str, ...] = ()  # the words after it: ("criminal", "cases")

    @property
    def weight(self) -> float:
        return WEIGHTS[self.kind]


def claim_terms(claims: Sequence[ClaimDraft]) -> list[Term]:
    """The strong terms of the claims, one per distinct thing looked for."""
    terms: dict[tuple[str, str], Term] = {}
    for claim in claims:
        units = _units(claim)
        for number in claim.numbers:
            kind = "small-number" if _small(number) else "number"
            raw, unit = units.get(number, ("", ()))
            terms.setdefault((kind, number), Term(kind, number, number, claim.position, raw, unit))
        for year in claim.years:
            terms.setdefault(("year", year), Term("year", year, "y:" + year, claim.position))
        for quote in claim.quotes:
            terms.setdefault(("quote", fold(quote)), Term("quote", quote, _quote_core(quote), claim.position))
        for entity in claim.entities:
            terms.setdefault(("entity", fold(entity)), Term("entity", entity, fold(entity), claim.position))
    return list(terms.values())


def _units(claim: ClaimDraft) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Number -> (as written, the words of its unit), from the claim's quantities.

    >>> _units(ClaimDraft(0, "x", numbers=("253000",), quantities=("253,000 criminal cases",)))
    {'253000': ('253,000', ('criminal', 'cases'))}
    """
    found: dict[str, tuple[str, tuple[str, ...]]] = {}
    for quantity in claim.quantities:
        first, _, rest = quantity.partition(" ")
        number = normalise_number(first)
        if number and rest:
            found.setdefault(number, (first, tuple(words(rest))))
    return found


def _small(number: str) -> bool:
    try:
        return float(number.rstrip("x%")) < 10
    except ValueError:
        return False


def _quote_core(quote: str) -> str:
    """The middle of a quote, folded: outlets trim and re-punctuate quotes at the edges."""
    folded = re.sub(r"[^\w\s']", " ", fold(quote))
    tokens = folded.split()
    return " ".join(tokens[1:-1] if len(tokens) > 5 else tokens)


def query_words(claims: Sequence[ClaimDraft]) -> list[str]:
    return [w for claim in claims for w in words(claim.text)]


# -- matching -------------------------------------------------------------------
@dataclass
class Document:
    """A text prepared once for matching: folded, its numbers and its words."""

    text: str
    folded: str = ""
    plain: str = ""
    numbers: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.folded = fold(self.text)
        self.plain = " ".join(re.sub(r"[^\w\s']", " ", self.folded).split())
        self.numbers = number_forms(self.text)


def _snippet(doc: Document, needle: str) -> str:
    """Where ``needle`` (folded) stands in the page, as the page writes it: its case and quote
    marks, whole words, an ellipsis where the text goes on.

    >>> _snippet(Document("Officials said 253,000 criminal cases were opened in Kyiv."), "253,000")
    'Officials said 253,000 criminal cases were opened in Kyiv.'
    >>> _snippet(Document("A " * 40 + "Zelensky said so. " + "b " * 40), "zelensky")[:12]
    '\u2026A A A A A A'
    """
    at = doc.folded.find(needle)
    if at < 0:
        return ""
    index = _folded_index(doc.text)
    start = index[max(0, at - _SNIPPET)]
    end = index[min(len(index) - 1, at + len(needle) + _SNIPPET)]
    text = doc.text
    if start > 0:  # begin at a word's start
        space = text.find(" ", start, index[at])
        start = space + 1 if space >= 0 else start
    if end < len(text):  # end at a word's end
        space = text.rfind(" ", index[min(len(index) - 1, at + len(needle))], end)
        end = space if space >= 0 else end
    snippet = " ".join(text[start:end].split())
    return ("\u2026" if start > 0 else "") + snippet + ("\u2026" if end < len(text) else "")


def _folded_index(text: str) -> list[int]:
    """For each character of ``fold(text)``, where it comes from in ``text`` (one entry more,
    for the end). Folding changes lengths (NFKC, collapsed whitespace): positions found in the
    folded text are read back in the original with it."""
    index: list[int] = []
    folded_space = True  # leading whitespace is dropped
    for i, char in enumerate(text):
        piece = unicodedata.normalize("NFKC", char).lower().translate(_PLAIN)
        if piece.isspace() or not piece:
            if piece and not folded_space:
                index.append(i)
                folded_space = True
            continue
        index.extend([i] * len(piece))
        folded_space = False
    index.append(len(text))
    return index


def term_found(term: Term, doc: Document) -> bool:
    if term.kind in {"number", "small-number", "year"}:
        return term.match in doc.numbers
    if term.kind == "quote":
        return bool(term.match) and term.match in doc.plain
    return re.search(r"(?<!\w)" + re.escape(term.match) + r"(?!\w)", doc.folded) is not None


def claim_overlap(claims: Sequence[ClaimDraft], doc: Document) -> dict[int, float]:
    """Per claim, the share of its content words a page carries: is the page about what it says?"""
    present = set(words(doc.text))
    overlap = {}
    for claim in claims:
        wanted = set(words(claim.text))
        overlap[claim.position] = len(wanted & present) / len(wanted) if wanted else 0.0
    return overlap


def unit_check(term: Term, doc: Document) -> str | None:
    """Is a claim's number followed, on the page, by the claim's unit ("253,000 criminal cases"
    and not "253,000 tonnes")? ``matched``, ``missing``, ``unchecked`` (written another way), or
    None when the claim gives the number no unit."""
    if not term.unit or not term.raw:
        return None
    spots = [
        m.end()
        for m in re.finditer(r"(?<![\w.,])" + re.escape(fold(term.raw)) + r"(?![\w]|[.,]\d)", doc.folded)
    ]
    if not spots:
        return "unchecked"
    near = (set(words(doc.folded[end : end + 60])) for end in spots)
    return "matched" if any(set(term.unit) & found for found in near) else "missing"


def topicality(overlap: dict[int, float], claims: set[int] | None = None) -> float:
    """How much a page is about the claims whose numbers or quotes it carries (``claims``), or
    else about the three claims it is closest to: their mean overlap, doubled and capped at 1
    (a news report shares about half of a claim's words).

    >>> topicality({0: 0.6, 1: 0.5, 2: 0.4, 3: 0.0}), topicality({0: 0.1}), topicality({0: 0.9, 1: 0.1}, {1})
    (1.0, 0.2, 0.2)
    """
    best = [overlap[c] for c in claims or ()] or sorted(overlap.values(), reverse=True)[:3]
    return min(1.0, 2 * sum(best) / len(best)) if best else 0.0


def _strong_claims(found: list[dict[str, Any]]) -> set[int]:
    """Claims whose number (with its unit, when the claim gives one) or quote a page carries."""
    return {
        m["claim"]
        for m in found
        if m["kind"] == "quote" or (m["kind"] == "number" and m.get("unit") != "missing")
    }


def evidence(
    terms: Iterable[Term], parts: dict[str, Document], overlap: dict[int, float] | None = None
) -> tuple[float, list[dict[str, Any]]]:
    """Weighted evidence of ``terms`` in the named parts of a page (title, summary, text).

    With ``overlap`` (see :func:`claim_overlap`), a term counts in full only when
    the page also says much of what its claim says: a claim's number on a page
    about something else is weak evidence. Names together count at most
    ``ENTITY_CAP``: a page naming the same people is on the topic, not the source.
    """
    total, names, found = 0.0, 0.0, []
    for term in terms:
        where = next((name for name, doc in parts.items() if term_found(term, doc)), None)
        if where is None:
            continue
        weight = term.weight * (0.25 + 0.75 * min(1.0, 2 * overlap[term.claim]) if overlap else 1.0)
        unit = unit_check(term, parts[where])
        weight *= {"matched": 1.0, "unchecked": 0.67, "missing": 0.33}.get(unit or "", 1.0)
        if term.kind == "entity":
            weight = min(weight, max(0.0, ENTITY_CAP - names))
            names += weight
        total += weight
        needle = term.match if term.kind in {"quote", "entity"} else fold(term.text)
        item = {"kind": term.kind, "term": term.text, "claim": term.claim, "where": where}
        item.update({"unit": unit} if unit else {})
        snippet = _snippet(parts[where], needle)
        found.append({**item, "snippet": snippet} if snippet else item)
    return total, found


# -- ranking --------------------------------------------------------------------
def window(published: datetime | None, days_before: int, days_after: int) -> tuple[datetime, datetime] | None:
    """The dates a cited article may have, around the citing article's (None: any date)."""
    if published is None:
        return None
    return published - timedelta(days=days_before), published + timedelta(days=days_after + 1)


def in_window(entries: Iterable[Entry], span: tuple[datetime, datetime] | None) -> list[Entry]:
    """Entries published within ``span`` (see :func:`window`); undated ones stay."""
    if span is None:
        return list(entries)
    return [e for e in entries if e.published is None or span[0] <= naive_utc(e.published) < span[1]]


def naive_utc(when: datetime) -> datetime:
    """A date as the database keeps it: UTC, without a time zone."""
    return when.astimezone(UTC).replace(tzinfo=None) if when.tzinfo else when


def _bm25(query: list[str], docs: list[list[str]]) -> list[float]:
    from rank_bm25 import BM25Okapi  # and numpy with it: imported where ranking runs, only

    if not docs or not query or not any(docs):
        return [0.0] * len(docs)
    scores = BM25Okapi([d or ["-"] for d in docs]).get_scores(query)
    top = max(scores) if len(scores) else 0.0
    return [float(s) / top if top > 0 else 0.0 for s in scores]


def _entry_parts(entry: Entry) -> dict[str, Document]:
    return {
        "title": Document(entry.title),
        "summary": Document(entry.summary),
        "url": Document(url_words(entry.url)),
    }


def shortlist(entries: Sequence[Entry], claims: Sequence[ClaimDraft]) -> list[Scored]:
    """Rank what discovery knows of each page, best first."""

    terms = claim_terms(claims)
    texts = [f"{e.title} {e.summary} {url_words(e.url)}" for e in entries]
    similarity = _bm25(query_words(claims), [words(t) for t in texts])
    ranked = []
    for entry, sim in zip(entries, similarity, strict=True):
        weight, found = evidence(terms, _entry_parts(entry))
        score = 0.6 * sim + 0.4 * min(1.0, weight / FULL_EVIDENCE)
        ranked.append(Scored(entry, round(score, 4), {"similarity": round(sim, 4), "matched": found}))
    ranked.sort(key=lambda s: (-s.score, s.entry.url))
    return ranked


def confirm(
    shortlisted: Sequence[Scored], texts: dict[str, str], claims: Sequence[ClaimDraft]
) -> list[Scored]:
    """Score the shortlisted pages whose full text was fetched (``texts`` by URL); best first.

    Pages without text keep their shortlist score, halved and unconfirmed, below
    every confirmed page with real evidence.
    """
    terms = claim_terms(claims)
    fetched = [s for s in shortlisted if texts.get(s.entry.url)]
    result = []
    for item in fetched:
        parts = {"title": Document(item.entry.title), "text": Document(texts[item.entry.url])}
        overlap = claim_overlap(claims, parts["text"])
        weight, found = evidence(terms, parts, overlap)
        topical = topicality(overlap, _strong_claims(found))
        score = min(1.0, weight / FULL_EVIDENCE) * (0.5 + 0.5 * topical)
        detail = {"topicality": round(topical, 4), "evidence_weight": round(weight, 3), "matched": found}
        result.append(Scored(item.entry, round(score, 4), detail, confirmed=True))
    result += [Scored(s.entry, round(s.score / 2, 4), s.evidence) for s in shortlisted if s not in fetched]
    result.sort(key=lambda s: (not s.confirmed, -s.score, s.entry.url))
    return result


def claims_supported(scored: Scored, claims: Sequence[ClaimDraft] = ()) -> list[int]:
    """Positions of the claims a page carries strong evidence for: a number or a quote, or the
    person the claim quotes (a name is looked for once, so every claim quoting them counts)."""
    matched = scored.evidence.get("matched", [])
    supported = {m["claim"] for m in matched if m["kind"] in {"number", "quote"}}
    names = {fold(m["term"]) for m in matched if m["kind"] == "entity"}
    supported |= {c.position for c in claims if any(fold(who) in names for who in c.speakers)}
    return sorted(supported)
