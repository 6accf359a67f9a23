"""Text from captured payloads: what later diffs compare.

Pure functions over bytes, run by archive/changes/analysis.py after captures land. PDFs
give their text (pypdf). HTML pages give their main text and metadata
(trafilatura), without the site's chrome; :func:`fingerprint` folds away the
differences no reader would call a change (Unicode forms, quote and dash
styles, whitespace), so two captures compare equal when their text is.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import hashlib
import io
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

# Typographic variants folded to one form; a site switching quote styles has not edited its text.
_FOLD = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u201f": '"',
        "\u2033": '"',
        "\u00ab": '"',
        "\u00bb": '"',
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u2015": "-",
        "\u2212": "-",
        "\u00a0": " ",
        "\u2009": " ",
        "\u202f": " ",
        "\u200b": "",
        "\u00ad": "",
        "\ufeff": "",
    }
)
_SPACE = re.compile(r"[ \t\r\f\v]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")


def normalise_text(text: str) -> str:
    r"""Text with Unicode composed (NFC), quotes, dashes and spaces folded, paragraphs kept.

    >>> print(normalise_text("\u201cHi\u201d \u2014 it\u2019s  5\u00a0000.\n\n\n Next "))
    "Hi" - it's 5 000.
    <BLANKLINE>
    Next
    >>> normalise_text("cafe\u0301") == normalise_text("caf\u00e9")
    True
    """
    text = unicodedata.normalize("NFC", text).translate(_FOLD)
    lines = (_SPACE.sub(" ", line).strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def fingerprint(text: str) -> str:
    r"""A digest of the normalised text: equal for texts no reader would tell apart.

    >>> fingerprint("a  \u201cquote\u201d") == fingerprint('a "quote"')
    True
    >>> fingerprint("253,000 cases") == fingerprint("253,001 cases")
    False
    """
    return "sha256:" + hashlib.sha256(normalise_text(text).encode("utf-8")).hexdigest()


@dataclass
class PageText:
    """The main text of an HTML page, with what trafilatura found of its metadata."""

    text: str
    title: str | None = None
    author: str | None = None
    date: str | None = None

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.text)


def html_text(html: str, url: str | None = None) -> PageText:
    """The main text and metadata of an HTML page, without navigation, ads, related-article
    boxes, comments or footers; empty text when the page has no main content."""
    import trafilatura
    from trafilatura.utils import load_html

    tree = load_html(html)
    if tree is None:
        return PageText("")
    title, author, date = page_metadata(tree, url)  # before extraction prunes the tree
    doc = trafilatura.bare_extraction(tree, url=url, options=_options(url))
    assert not isinstance(doc, dict)  # a Document (or None): as_dict was not asked for
    text = normalise_text(doc.text or "") if doc is not None else ""
    if len(text.split()) < _THIN_WORDS:
        # Precision mode found (almost) nothing of a page that has an article (two in the real
        # pages' evaluation found none of a 420-word article, one 15 words of 4,800): recall
        # mode's text is the page's text, when it has far more of it.
        whole = body_text(html, url)
        if len(whole.split()) >= max(_WHOLE_WORDS, _WHOLE_SHARE * len(text.split())):
            text = whole
    if doc is None and not text:  # no main text; the title still tells a "not found" page
        return PageText("", title)
    return PageText(text, title, author, date)


# A main text this short, when recall mode finds this many words and this many times as many,
# is recall mode's text (html_text).
_THIN_WORDS, _WHOLE_WORDS, _WHOLE_SHARE = 50, 150, 4


def body_text(html: str, url: str | None = None, notes: re.Pattern[str] | None = None) -> str:
    """The page's text as trafilatura's recall mode finds it: the main text with what
    precision mode leaves out (a paragraph it judged boilerplate, a correction in italics),
    and more of the page's chrome; then, each on a line of its own, the blocks of the page
    anywhere outside its scripts with a text that ``notes`` finds (correction notes: an aside
    at the article's foot is in neither extraction). Change detection reads it only where the
    main texts of two captures agree, and only between the lines they share (see
    ``archive.changes.classify.article_span``)."""
    import trafilatura
    from trafilatura.utils import load_html

    tree = load_html(html)
    if tree is None:
        return ""
    found = _blocks_with(tree, notes) if notes is not None else []  # before extraction prunes the tree
    doc = trafilatura.bare_extraction(tree, url=url, options=_options(url, recall=True))
    assert not isinstance(doc, dict)  # a Document (or None): as_dict was not asked for
    text = normalise_text(doc.text or "") if doc is not None else ""
    lines = set(text.split("\n"))
    return "\n".join([text, *(block for block in found if block not in lines)]).strip()


_BLOCKS = frozenset(
    [
        "p",
        "div",
        "aside",
        "section",
        "article",
        "header",
        "footer",
        "li",
        "dd",
        "blockquote",
        "figcaption",
        "td",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
    ]
)
_NOTE_MAX_CHARS = 600  # a block longer than this holds more than a note (a whole article body)
_NOT_TEXT = "ancestor::script or ancestor::style or ancestor::noscript or ancestor::template"


def _blocks_with(tree: Any, pattern: re.Pattern[str]) -> list[str]:
    """The texts of the page's blocks (paragraphs, asides, ...) that hold a text node
    ``pattern`` finds, in page order, each once."""
    found: dict[str, None] = {}
    for node in tree.xpath(f"//text()[not({_NOT_TEXT})]"):
        if not pattern.search(node):
            continue
        block = node.getparent()
        while block is not None and block.tag not in _BLOCKS:
            block = block.getparent()
        if block is not None:
            text = normalise_text(" ".join(block.text_content().split()))
            if text and len(text) <= _NOTE_MAX_CHARS:
                found.setdefault(text, None)
    return list(found)


@functools.cache
def _settings(recall: bool) -> Any:
    from trafilatura.settings import Extractor

    return Extractor(
        output_format="python",
        with_metadata=False,  # page_metadata reads what citewatch compares
        comments=False,
        tables=True,
        precision=not recall,
        recall=recall,
        fast=True,  # no fallback extractors: several times faster, same text on article pages
        # Not dedup: trafilatura's dedup cache spans calls, so a second capture of the same
        # page would lose the paragraphs the first one had.
    )


def _options(url: str | None, recall: bool = False) -> Any:
    """trafilatura's settings for one page: made once (reading them from its configuration
    costs a tenth of a millisecond a page), with the page's URL."""
    options = copy.copy(_settings(recall))
    options.url = url
    options.source = url and url.encode("utf-8", "replace").decode("utf-8")
    return options


# htmldate's settings for a page's date: its own metadata and markup, the first publication.
_DATE_SEARCH: dict[str, Any] = {"extensive_search": False, "original_date": True}


def page_metadata(tree: Any, url: str | None = None) -> tuple[str | None, str | None, str | None]:
    """A parsed page's title, author and date, found as trafilatura's ``extract_metadata``
    finds them (meta tags, then JSON-LD, then the markup; the date by htmldate), without the
    fields citewatch does not compare (site name, categories, tags, licence, host name), which
    cost a third of that function's time. (These are trafilatura's own parts; a test holds
    the result to ``extract_metadata``'s, so a trafilatura that changes them is noticed.)"""
    from htmldate import find_date
    from trafilatura.metadata import (
        examine_meta,
        extract_author,
        extract_meta_json,
        extract_title,
        extract_url,
    )

    meta = examine_meta(tree)
    if meta.author and " " not in meta.author:  # one word is a handle or a site, not a byline
        meta.author = None
    with contextlib.suppress(Exception):  # its JSON-LD reading fails on odd markup; meta tags stand
        meta = extract_meta_json(tree, meta)
    meta.title = meta.title or extract_title(tree)
    meta.author = meta.author or extract_author(tree)
    meta.date = find_date(tree, url=meta.url or extract_url(tree, url), **_DATE_SEARCH)
    meta.clean_and_trim()  # unescaped, control characters gone, at most 10,000 characters
    return meta.title, meta.author, meta.date


def pdf_text(data: bytes) -> str:
    """The text of a PDF, page by page; raises ValueError when it cannot be read."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        return "\n\n".join((page.extract_text() or "").strip() for page in reader.pages).strip()
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
        raise ValueError(f"unreadable PDF: {exc}") from exc
