"""What an HTML page or a stylesheet needs to display: its page requisites.

Pure functions over text, so they are tested without a crawl. The HTML side
reads what a browser would load without running script: stylesheets, icons,
preloads, images (``src`` and ``srcset``), scripts, media and inline
``style`` attributes; the CSS side reads ``url()`` values and ``@import``
rules with tinycss2.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, cast
from urllib.parse import urljoin, urlsplit

import tinycss2
from parsel import Selector
from tinycss2.ast import AtRule, Declaration, FunctionBlock, Node, StringToken, URLToken

from archive.urls import valid_host

if TYPE_CHECKING:
    from lxml import etree

_LINK_RELS = {
    "stylesheet",
    "icon",
    "shortcut",
    "apple-touch-icon",
    "preload",
    "modulepreload",
    "manifest",
    "mask-icon",
}
MAX_PER_PAGE = 300


def _absolute(base: str, value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip()
    if not value or value.startswith(("data:", "javascript:", "about:", "#", "blob:")):
        return None
    url = urljoin(base, value).split("#", 1)[0]
    try:
        parts = urlsplit(url)
        usable = parts.scheme in {"http", "https"} and valid_host(parts.hostname or "") and parts.port != 0
    except ValueError:  # a bad port or an unbalanced IPv6 bracket
        return None
    return url if usable else None


def _srcset_urls(srcset: str) -> list[str]:
    """
    >>> _srcset_urls("a.png 1x, b.png 2x,c.png")
    ['a.png', 'b.png', 'c.png']
    """
    return [part.strip().split()[0] for part in srcset.split(",") if part.strip()]


# One pass over the tree. Queried on lxml's root, not through parsel: wrapping each of a
# page's hundreds of results in a Selector cost more than the query itself.
_CANDIDATES = (
    "//base/@href | //link[@href] | //img/@src | //script/@src | //source/@src | //video/@poster"
    " | //audio/@src | //video/@src | //input[@type='image']/@src | //embed/@src"
    " | //img/@srcset | //source/@srcset | //style | //@style"
)


def _html_candidates(sel: Selector) -> tuple[str | None, list[str]]:
    """(the ``<base href>``, if any, and every requisite reference in document order)."""
    base: str | None = None
    found: list[str] = []
    root = sel.root
    if not hasattr(root, "xpath"):  # not a parsed document
        return None, found
    for item in root.xpath(_CANDIDATES):
        if not isinstance(item, str):  # an element: <link> or <style>
            if item.tag == "style":
                found += css_references(item.text or "")
            elif set((item.get("rel") or "").lower().split()) & _LINK_RELS:
                found.append(item.get("href"))
            continue
        name = cast("etree._ElementUnicodeResult", item).attrname  # XPath's strings are lxml smart strings
        if name == "style":
            found += css_references(item, declarations=True)
        elif name == "srcset":
            found += _srcset_urls(item)
        elif name == "href":  # only <base> hrefs are attributes here
            base = base or str(item)
        else:
            found.append(str(item))
    return base, found


def html_requisites(base_url: str, page: str | Selector) -> list[str]:
    """Absolute URLs of the requisites of an HTML page, in document order, without repeats."""
    sel = page if isinstance(page, Selector) else Selector(text=page or "<html></html>")
    base_href, found = _html_candidates(sel)
    base = _absolute(base_url, base_href) or base_url
    return _unique(base, found)


def _unique(base: str, values: list[str]) -> list[str]:
    seen: dict[str, None] = {}
    for value in values:
        url = _absolute(base, value)
        if url and url != base:
            seen.setdefault(url, None)
    return list(seen)[:MAX_PER_PAGE]


def _walk(tokens: Iterable[Node]) -> list[str]:
    urls: list[str] = []
    for token in tokens:
        if isinstance(token, Declaration):
            urls += _walk(token.value)
        elif isinstance(token, URLToken):
            urls.append(token.value)
        elif isinstance(token, FunctionBlock) and token.lower_name == "url":
            urls += [t.value for t in token.arguments if isinstance(t, StringToken)]
        elif isinstance(token, AtRule) and token.lower_at_keyword == "import":
            urls += [t.value for t in token.prelude if isinstance(t, StringToken | URLToken)]
            urls += _walk(token.prelude)
        for attr in ("content", "prelude", "arguments"):
            nested = getattr(token, attr, None)
            if isinstance(nested, list) and not (token.type == "at-rule" and attr == "prelude"):
                urls += _walk(nested)
    return urls


def css_references(css: str, declarations: bool = False) -> list[str]:
    """Raw ``url()`` and ``@import`` references in a stylesheet (or a style attribute).

    >>> css_references("@import 'a.css'; body { background: url(b.png) } @font-face { src: url('f.woff2') }")
    ['a.css', 'b.png', 'f.woff2']
    """
    if declarations:
        tokens: Sequence[Node] = tinycss2.parse_blocks_contents(css, skip_comments=True, skip_whitespace=True)
    else:
        tokens = tinycss2.parse_stylesheet(css, skip_comments=True, skip_whitespace=True)
    return list(dict.fromkeys(_walk(tokens)))


def css_requisites(base_url: str, css: str) -> list[str]:
    return _unique(base_url, css_references(css))
