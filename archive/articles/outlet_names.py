"""Outlets that a citing article names without a link.

Many articles cite by name only: "Sources for this article include: RMX.news KyivIndependent.com
EurasianTimes.com TheGuardian.com", "(AP) -", "according to the Kyiv Independent". citewatch tracks
outlets by registered domain, so each such name has to become a domain: a name that is already a domain
("KyivIndependent.com") maps directly, through the public suffix list that tldextract bundles (never
fetched: tests and closed networks must work alike); any other name goes through a table of common outlets
(``BUILTIN_OUTLETS``) that users extend in ``citewatch.toml`` (``[outlets]``; see docs/outlets.md).

Only names in citing positions count. A source list, a dateline, "according to", "reported by", "told":
yes. A domain that merely appears in the text, such as a donation banner ("StopBitBurning.com needs
donations"), or the site's share buttons after the article ("Mastodon", "Parler", "Gab"): no.

A name in a citing position that matches nothing is not dropped: ``unknown_outlets`` reports it, so the
user can add it to the table.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from archive.articles.claims import SOURCE_LIST_HEAD, sentences

__all__ = [
    "BUILTIN_OUTLETS",
    "PATTERNS",
    "OutletMention",
    "find_outlets",
    "outlet_domain",
    "registered_domain",
    "unknown_outlets",
]

if TYPE_CHECKING:
    import tldextract


@functools.cache
def _extractor() -> tldextract.TLDExtract:
    """The bundled snapshot of the public suffix list; no download, no cache directory. Made on
    first use: tldextract imports requests, and `citewatch citations` imports this module."""
    import tldextract

    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


# Common outlets by the names articles use for them, lower case. A leading "the" is optional when
# matching, so "the guardian" also matches "Guardian". One domain per outlet: the BBC is bbc.com (its
# international site; bbc.co.uk serves the same articles in the UK). docs/outlets.md lists this table.
BUILTIN_OUTLETS: dict[str, str] = {
    # News agencies
    "reuters": "reuters.com",
    "ap": "apnews.com",
    "associated press": "apnews.com",
    "afp": "afp.com",
    "agence france-presse": "afp.com",
    "bloomberg": "bloomberg.com",
    "bloomberg news": "bloomberg.com",
    "dpa": "dpa.com",
    "efe": "efe.com",
    "ansa": "ansa.it",
    "xinhua": "xinhuanet.com",
    "tass": "tass.com",
    "ria novosti": "ria.ru",
    "ukrinform": "ukrinform.net",
    "interfax-ukraine": "interfax.com.ua",
    # United States
    "the new york times": "nytimes.com",
    "nyt": "nytimes.com",
    "the washington post": "washingtonpost.com",
    "the wall street journal": "wsj.com",
    "wsj": "wsj.com",
    "usa today": "usatoday.com",
    "los angeles times": "latimes.com",
    "cnn": "cnn.com",
    "fox news": "foxnews.com",
    "nbc news": "nbcnews.com",
    "cbs news": "cbsnews.com",
    "npr": "npr.org",
    "pbs": "pbs.org",
    "politico": "politico.com",
    "axios": "axios.com",
    "the hill": "thehill.com",
    "the atlantic": "theatlantic.com",
    "the new yorker": "newyorker.com",
    "time": "time.com",
    "newsweek": "newsweek.com",
    "vox": "vox.com",
    "business insider": "businessinsider.com",
    "forbes": "forbes.com",
    "cnbc": "cnbc.com",
    "the intercept": "theintercept.com",
    "propublica": "propublica.org",
    "the daily beast": "thedailybeast.com",
    "voice of america": "voanews.com",
    "voa": "voanews.com",
    "radio free europe/radio liberty": "rferl.org",
    "rfe/rl": "rferl.org",
    "breitbart": "breitbart.com",
    "newsmax": "newsmax.com",
    "the epoch times": "theepochtimes.com",
    "zerohedge": "zerohedge.com",
    "natural news": "naturalnews.com",
    "defense news": "defensenews.com",
    "military times": "militarytimes.com",
    "stars and stripes": "stripes.com",
    "responsible statecraft": "responsiblestatecraft.org",
    # United Kingdom and Ireland
    "bbc": "bbc.com",
    "bbc news": "bbc.com",
    "the guardian": "theguardian.com",
    "financial times": "ft.com",
    "ft": "ft.com",
    "the economist": "economist.com",
    "the times": "thetimes.com",
    "the telegraph": "telegraph.co.uk",
    "the daily telegraph": "telegraph.co.uk",
    "the independent": "independent.co.uk",
    "daily mail": "dailymail.co.uk",
    "the sun": "thesun.co.uk",
    "the mirror": "mirror.co.uk",
    "daily mirror": "mirror.co.uk",
    "the spectator": "spectator.co.uk",
    "the irish times": "irishtimes.com",
    # Europe
    "euronews": "euronews.com",
    "deutsche welle": "dw.com",
    "dw": "dw.com",
    "der spiegel": "spiegel.de",
    "spiegel": "spiegel.de",
    "die zeit": "zeit.de",
    "frankfurter allgemeine zeitung": "faz.net",
    "faz": "faz.net",
    "suddeutsche zeitung": "sueddeutsche.de",
    "bild": "bild.de",
    "le monde": "lemonde.fr",
    "le figaro": "lefigaro.fr",
    "liberation": "liberation.fr",
    "el pais": "elpais.com",
    "el mundo": "elmundo.es",
    "corriere della sera": "corriere.it",
    "la repubblica": "repubblica.it",
    "politico europe": "politico.eu",
    "euractiv": "euractiv.com",
    "notes from poland": "notesfrompoland.com",
    "remix news": "rmx.news",
    "rmx news": "rmx.news",
    # Ukraine and Russia
    "the kyiv independent": "kyivindependent.com",
    "kyiv post": "kyivpost.com",
    "ukrainska pravda": "pravda.com.ua",
    "the moscow times": "themoscowtimes.com",
    "meduza": "meduza.io",
    "rt": "rt.com",
    # Middle East, Asia, Pacific, Americas
    "al jazeera": "aljazeera.com",
    "haaretz": "haaretz.com",
    "the times of israel": "timesofisrael.com",
    "the jerusalem post": "jpost.com",
    "al-monitor": "al-monitor.com",
    "the eurasian times": "eurasiantimes.com",
    "south china morning post": "scmp.com",
    "scmp": "scmp.com",
    "global times": "globaltimes.cn",
    "the japan times": "japantimes.co.jp",
    "nikkei": "nikkei.com",
    "the hindu": "thehindu.com",
    "the straits times": "straitstimes.com",
    "the sydney morning herald": "smh.com.au",
    "cbc": "cbc.ca",
    "cbc news": "cbc.ca",
    "the globe and mail": "theglobeandmail.com",
}

PATTERNS = ("source-list", "according-to", "dateline", "attribution")


@dataclass(frozen=True)
class OutletMention:
    """One outlet named in a citing position of an article."""

    name: str  # as written: "KyivIndependent.com", "Reuters", "the Kyiv Independent"
    domain: str  # registered domain, lower case: "kyivindependent.com"
    context: str  # the sentence it appears in
    pattern: str  # one of PATTERNS: how the article cites it


# ---------------------------------------------------------------------------------------------------------
# Names to domains


def _words(text: str) -> frozenset[str]:
    """The words of ``text``: the word lists below read as text, not as rows of quoted strings."""
    return frozenset(text.split())


# Endings that make a dotted name a file rather than a host ("report.pdf"). .zip and .mov are also real
# top-level domains, but a citing article is far likelier to name a file.
_FILE_ENDINGS = _words(
    "pdf doc docx xls xlsx ppt pptx txt csv jpg jpeg png gif svg webp mp3 mp4 mov avi zip gz tar rar exe "
    "html htm php aspx json xml"
)
_HOST = re.compile(r"[\w-]+(?:\.[\w-]+)+")
_EDGE_PUNCTUATION = "\"'()[]<>,;:.!?\u201c\u201d\u2018\u2019"


def registered_domain(name: str) -> str | None:
    """The registered domain that ``name`` (a host, a URL, or a name like "RMX.news") stands for, else None.

    >>> [registered_domain(n) for n in ("KyivIndependent.com", "https://www.theguardian.com/uk", "RMX.news")]
    ['kyivindependent.com', 'theguardian.com', 'rmx.news']
    >>> [registered_domain(n) for n in ("news.bbc.co.uk", "(TheGuardian.com).")]
    ['bbc.co.uk', 'theguardian.com']
    >>> [registered_domain(n) for n in ("Reuters", "e.g", "U.S", "report.pdf", "co.uk", "com", "a@b.com", "")]
    [None, None, None, None, None, None, None, None]
    """
    host = _host_of(name)
    if not host or not _HOST.fullmatch(host) or host.rsplit(".", 1)[-1].lower() in _FILE_ENDINGS:
        return None
    parts = _extractor()(host)
    if not parts.suffix or not parts.domain:
        return None
    return parts.top_domain_under_public_suffix.lower()


def _host_of(name: str) -> str:
    """The host part of a name or URL, or "" when it has none (an e-mail address, for one)."""
    text = name.strip().strip(_EDGE_PUNCTUATION)
    if "@" in text:
        return ""
    if "://" in text:
        try:
            return urlsplit(text).hostname or ""
        except ValueError:  # "https://www.example.c[m/uk": no host to read
            return ""
    return text.split("/", 1)[0].split(":", 1)[0]


def outlet_domain(name: str, extra: dict[str, str] | None = None) -> str | None:
    """The domain of the outlet called ``name``, or None when neither its form nor the table tells.

    ``extra`` holds the user's own names (from ``[outlets]`` in citewatch.toml) and overrides the built-in
    table. Names compare without case, accents, punctuation or a leading "the"; a trailing "News" is
    tried without it too.

    >>> [outlet_domain(n) for n in ("KyivIndependent.com", "the Kyiv Independent", "GUARDIAN", "AP News")]
    ['kyivindependent.com', 'kyivindependent.com', 'theguardian.com', 'apnews.com']
    >>> outlet_domain("Daily Zorg"), outlet_domain("daily zorg", {"Daily Zorg": "dailyzorg.example"})
    (None, 'dailyzorg.example')
    """
    domain = registered_domain(name)
    if domain:
        return domain
    table = _table(extra)
    key = _key(name)
    return table.get(key) or (table.get(key[: -len(" news")]) if key.endswith(" news") else None)


def _key(name: str) -> str:
    """``name`` in the form table entries are compared in.

    >>> _key("The  S\u00fcddeutsche Zeitung\u2019s"), _key("Agence France-Presse"), _key("RFE/RL")
    ('suddeutsche zeitung', 'agence france presse', 'rfe rl')
    """
    folded = unicodedata.normalize("NFKD", name.replace("\u2019", "'"))
    ascii_text = folded.encode("ascii", "ignore").decode()
    text = re.sub(r"'s?$", "", ascii_text.lower().strip().replace("&", " and "))
    words = re.sub(r"[^a-z0-9]+", " ", text.replace("'", "")).split()
    return " ".join(words[1:] if words[:1] == ["the"] and len(words) > 1 else words)


_BUILTIN_KEYS = {_key(name): domain for name, domain in BUILTIN_OUTLETS.items()}


def _table(extra: dict[str, str] | None) -> dict[str, str]:
    """The built-in table with the user's entries on top."""
    user = {_key(name): _user_domain(value) for name, value in (extra or {}).items()}
    return {**_BUILTIN_KEYS, **user}


def _user_domain(value: str) -> str:
    """The domain of a user's table entry, which may be a URL, and may lie outside the public suffix list.

    >>> _user_domain("https://www.ZorgWeekly.example/news"), _user_domain("news.bbc.co.uk")
    ('zorgweekly.example', 'bbc.co.uk')
    """
    return registered_domain(value) or re.sub(r"^www\.", "", _host_of(value).lower())


# ---------------------------------------------------------------------------------------------------------
# Finding names in text


@dataclass(frozen=True)
class _Found:
    """A name in a citing position, resolved or not."""

    order: tuple[int, int, int]  # sentence, offset, item: document order
    name: str
    domain: str | None
    context: str
    pattern: str
    report: bool  # whether an unresolved name is worth telling the user about


# A token of an outlet's name: a capitalised or numeric word, or a domain name in any case.
_NAME_TOKEN = re.compile(
    r"\s*([A-Z0-9][\w'\u2019&!/-]*(?:\.[A-Za-z][\w-]*)*|[a-z][\w-]*(?:\.[A-Za-z][\w-]*)+)"
)
_NAME_CONNECTORS = frozenset({"of", "and", "de", "del", "della", "la", "le", "el", "am"})
_MAX_NAME_TOKENS = 7
_MAX_NAME_CHARS = 80  # how far back from "reported" a name is read
_NON_SPACE = re.compile(r"\S+")
# Words that make an unmatched name after "told", "reported by" look like a publication, not a person or a
# ministry: "told the Daily Zorg" is worth reporting, "according to MP Oleksiy Honcharenko" is not.
_OUTLET_WORDS = _words(
    """times post news journal herald tribune gazette independent guardian telegraph express mail mirror
    observer chronicle review daily weekly magazine radio tv television press wire insider today standard
    monitor examiner dispatch courier inquirer bulletin digest register record sentinel star sun"""
)
_ACCORDING_TO = re.compile(r"\baccording to\s+(?=(?:the\s+)?[A-Za-z0-9])", re.IGNORECASE)
_ATTRIBUTION_CUE = re.compile(
    r"\b(?:(?:first\s+)?reported\s+by|told|in\s+an\s+interview\s+with|speaking\s+to|wrote\s+in|writing\s+in|"
    r"published\s+(?:by|in)|cited\s+by|quoted\s+by|via)\s+(?=(?:[Tt]he\s+)?[A-Za-z0-9])"
)
_OUTLET_VERB = re.compile(r"\s+(?:reported|reports|wrote|writes|revealed|said|says|first reported)\b")
_DATELINE = re.compile(r"\((?P<name>[^()]{1,40})\)\s*[\u2014\u2013-]")
_INLINE_SOURCE = re.compile(r"[(\[]\s*sources?\s*:\s*(?P<list>[^)\]]+)[)\]]", re.IGNORECASE)
_LIST_SEPARATORS = re.compile(r"\s*[,;|\u2022]\s*")
_AND = re.compile(r"\s+(?:and|&)\s+")
_LIST_END = re.compile(r"[.!?](?=\s+[A-Z])")
_MAX_FOLLOWING_ITEM_WORDS = 6


def find_outlets(text: str, extra: dict[str, str] | None = None) -> list[OutletMention]:
    """Every outlet that ``text`` cites by name, in document order, one mention per domain (the first).

    Names that match no domain are left out here; ``unknown_outlets`` reports them.

    >>> [(m.name, m.domain, m.pattern) for m in find_outlets("KYIV (AP) - Troops left, Reuters reported.")]
    [('AP', 'apnews.com', 'dateline'), ('Reuters', 'reuters.com', 'attribution')]
    """
    mentions: dict[str, OutletMention] = {}
    for found in sorted(_scan(text, extra), key=lambda found: found.order):
        if found.domain and found.domain not in mentions:
            mentions[found.domain] = OutletMention(found.name, found.domain, found.context, found.pattern)
    return list(mentions.values())


def unknown_outlets(text: str, extra: dict[str, str] | None = None) -> list[str]:
    """Names that ``text`` cites as sources but that match no domain and no table entry, in order.

    These come from source lists and datelines, and from "told", "reported by" and "according to" when
    the name looks like a publication's ("the Daily Zorg"), not a person's or an authority's.

    >>> unknown_outlets("Sources: AP, Daily Zorg. Officials told the Weekly Blatt, according to MP Ivan Lis.")
    ['Daily Zorg', 'the Weekly Blatt']
    """
    names: dict[str, str] = {}
    for found in sorted(_scan(text, extra), key=lambda found: found.order):
        if found.domain is None and found.report:
            names.setdefault(_key(found.name), found.name)
    return list(names.values())


def _scan(text: str, extra: dict[str, str] | None) -> Iterator[_Found]:
    all_sentences = sentences(text)
    for index, sentence in enumerate(all_sentences):
        yield from _source_list(index, all_sentences, extra)
        yield from _inline_sources(index, sentence, extra)
        yield from _datelines(index, sentence, extra)
        yield from _after_cue(index, sentence, _ACCORDING_TO, "according-to", extra)
        yield from _after_cue(index, sentence, _ATTRIBUTION_CUE, "attribution", extra)
        yield from _before_verb(index, sentence, extra)


# Source lists ----------------------------------------------------------------------------------------------


def _source_list(index: int, all_sentences: Sequence[str], extra: dict[str, str] | None) -> Iterator[_Found]:
    """Outlets of "Sources: A, B and C" (or of a list on the lines after "Sources:")."""
    sentence = all_sentences[index]
    head = SOURCE_LIST_HEAD.match(sentence)
    if not head:
        return
    listed = _LIST_END.split(sentence[head.end() :], maxsplit=1)[0]
    if listed.strip():
        yield from _list_items(index, head.end(), listed, sentence, extra)
        return
    for offset, item in enumerate(_following_items(all_sentences[index + 1 :]), start=1):
        yield from _list_items(index + offset, 0, item, item, extra)


def _following_items(following: Sequence[str]) -> list[str]:
    """The short sentences after an empty "Sources:" head: one outlet per line."""
    items: list[str] = []
    for sentence in following:
        if len(sentence.split()) > _MAX_FOLLOWING_ITEM_WORDS or SOURCE_LIST_HEAD.match(sentence):
            break
        items.append(sentence)
    return items


def _inline_sources(index: int, sentence: str, extra: dict[str, str] | None) -> Iterator[_Found]:
    """Outlets of a parenthesised "(Source: Reuters)" inside a sentence."""
    for match in _INLINE_SOURCE.finditer(sentence):
        if match.start() > 0:  # at the start, the source-list pattern has read it
            yield from _list_items(index, match.start("list"), match["list"], sentence, extra)


def _list_items(
    index: int, offset: int, listed: str, context: str, extra: dict[str, str] | None
) -> Iterator[_Found]:
    pieces = [piece.strip(_EDGE_PUNCTUATION + " ") for piece in _LIST_SEPARATORS.split(listed)]
    items = [item for piece in pieces if piece for item in _split_piece(piece, extra)]
    for number, item in enumerate(items):
        domain = outlet_domain(item, extra)
        if domain or item[0].isupper() or item[0].isdigit():  # not "and others"
            yield _Found((index, offset, number), item, domain, context, "source-list", report=True)


def _split_piece(piece: str, extra: dict[str, str] | None) -> list[str]:
    """The outlet names in one list piece.

    "RMX.news KyivIndependent.com" is two names, "Reuters and BBC News" two, "Stars and Stripes" one.
    """
    if outlet_domain(piece, extra):
        return [piece]
    words = piece.split()
    if any(registered_domain(word) for word in words):
        return _split_at_domains(words)
    parts = _AND.split(piece)
    if len(parts) > 1:
        return [item for part in parts for item in _split_piece(part, extra)]
    return _segment(words, extra) or [piece]


def _split_at_domains(words: Sequence[str]) -> list[str]:
    """Domain names each on their own, the words between them kept together."""
    items: list[str] = []
    loose: list[str] = []
    for word in words:
        if registered_domain(word):
            items.extend([" ".join(loose), word] if loose else [word])
            loose = []
        else:
            loose.append(word)
    return [*items, " ".join(loose)] if loose else items


def _segment(words: Sequence[str], extra: dict[str, str] | None) -> list[str] | None:
    """Known names run together without separators ("Reuters AP BBC News"), longest first, or None."""
    names: list[str] = []
    start = 0
    while start < len(words):
        end = _known_name_end(words, start, extra)
        if end is None:
            return None
        names.append(" ".join(words[start:end]))
        start = end
    return names


def _known_name_end(words: Sequence[str], start: int, extra: dict[str, str] | None) -> int | None:
    """Where the longest known name that starts at ``words[start]`` ends, or None."""
    for end in range(min(len(words), start + _MAX_NAME_TOKENS), start, -1):
        if outlet_domain(" ".join(words[start:end]), extra):
            return end
    return None


# Datelines and attributions --------------------------------------------------------------------------------


def _datelines(index: int, sentence: str, extra: dict[str, str] | None) -> Iterator[_Found]:
    """Outlets of "KYIV (AP) -" and "(Reuters) -"."""
    for match in _DATELINE.finditer(sentence):
        name = match["name"].strip()
        if name[:1].isupper() and len(name.split()) <= _MAX_NAME_TOKENS // 2:
            domain = outlet_domain(name, extra)
            yield _Found((index, match.start(), 0), name, domain, sentence, "dateline", report=True)


def _after_cue(
    index: int, sentence: str, cue: re.Pattern[str], pattern: str, extra: dict[str, str] | None
) -> Iterator[_Found]:
    """Outlets named right after a cue: "according to the Kyiv Independent", "told The New York Times"."""
    for match in cue.finditer(sentence):
        tokens = _name_tokens(sentence, match.end())
        if not tokens:
            continue
        for size in range(len(tokens), 0, -1):  # longest known name first: "Reuters Tuesday" is Reuters
            name = _span(sentence, tokens[:size])
            if domain := outlet_domain(name, extra):
                yield _Found((index, match.end(), 0), name, domain, sentence, pattern, report=False)
                break
        else:
            name = _span(sentence, tokens)
            yield _Found(
                (index, match.end(), 0), name, None, sentence, pattern, report=_publication_like(name)
            )


def _before_verb(index: int, sentence: str, extra: dict[str, str] | None) -> Iterator[_Found]:
    """Known outlets named right before "reported", "wrote" and the like: "The Guardian reported".

    The whole name must match: "Steve Forbes said" is a person, not forbes.com.
    """
    for verb in _OUTLET_VERB.finditer(sentence):
        tokens = _name_tokens_before(sentence, verb.start())
        name = _span(sentence, tokens) if tokens else ""
        if domain := outlet_domain(name, extra):
            yield _Found((index, tokens[0][0], 0), name, domain, sentence, "attribution", report=False)


def _name_tokens(sentence: str, position: int) -> list[tuple[int, int]]:
    """Spans of the name that starts at ``position``: capitalised words, "the" first, connectors inside."""
    spans: list[tuple[int, int]] = []
    the = re.compile(r"the\s+", re.IGNORECASE).match(sentence, position)
    if the:
        spans.append(the.span(0))
        position = the.end()
    while len(spans) < _MAX_NAME_TOKENS and (token := _next_name_token(sentence, position, bool(spans))):
        spans.append(token)
        position = token[1]
    while spans and not _is_name_token(sentence[spans[-1][0] : spans[-1][1]]):
        spans.pop()  # no name ends in "the" or "of"
    return spans


def _next_name_token(sentence: str, position: int, inside: bool) -> tuple[int, int] | None:
    token = _NAME_TOKEN.match(sentence, position)
    if token:
        return token.span(1)
    connector = re.compile(r"\s+([a-z]+)(?=\s+[A-Z])").match(sentence, position)
    if inside and connector and connector.group(1) in _NAME_CONNECTORS:
        return connector.span(1)
    return None


def _name_tokens_before(sentence: str, position: int) -> list[tuple[int, int]]:
    """Spans of the capitalised words (and a leading "the") that end at ``position``, in order."""
    start = max(0, position - _MAX_NAME_CHARS)
    words = list(_NON_SPACE.finditer(sentence, start, position))
    if start > 0 and words:  # the first word may be cut
        words = words[1:]
    words = words[-_MAX_NAME_TOKENS:]
    spans: list[tuple[int, int]] = []
    for word in reversed(words):
        text = word.group()
        if not (_is_name_token(text) or text.lower() == "the"):
            break
        spans.insert(0, word.span())
        if text.lower() == "the":
            break
    return spans


def _is_name_token(text: str) -> bool:
    return bool(_NAME_TOKEN.fullmatch(text)) and text.lower() != "the"


def _span(sentence: str, spans: Sequence[tuple[int, int]]) -> str:
    """The text that ``spans`` cover, without a trailing possessive or punctuation."""
    text = sentence[spans[0][0] : spans[-1][1]]
    return re.sub(r"['\u2019]s?$", "", text).rstrip(_EDGE_PUNCTUATION)


def _publication_like(name: str) -> bool:
    """Whether an unmatched name reads like a publication's ("the Daily Zorg", "Zorg Times")."""
    return any(word.lower() in _OUTLET_WORDS for word in re.findall(r"[A-Za-z]+", name))
