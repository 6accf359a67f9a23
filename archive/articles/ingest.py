"""A citing article as citewatch reads it: metadata, main text and the links in that text.

HTML (a file, or a page citewatch fetched) goes through trafilatura's main-content
extraction, so navigation, share bars, tag lists, footers and "related" boxes
never reach the citations; each link keeps its anchor text and the sentence it
sits in. Markdown and plain text are the user's own paste: all of it is content,
links are its ``[text](url)`` links and bare URLs. DOIs in any form become
``https://doi.org/<doi>``.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urljoin, urlsplit

from archive.articles.claims import sentences
from archive.urls import valid_host

# trafilatura, lxml, markdown-it and w3lib are imported where they are used: `citewatch
# citations` and `changes` import this module for ArticleDoc and read no HTML (docs/architecture.md).
if TYPE_CHECKING:
    import lxml.html
    from lxml import etree

# Query parameters that track the reader and never change the resource.
_TRACKING = re.compile(
    r"^(utm_[a-z_]+|fbclid|gclid|dclid|gbraid|wbraid|msclkid|yclid|igshid|mc_cid|mc_eid|_ga|_gl|"
    r"ref_src|ref_url|cmpid|ocid|smid|smtyp|s_cid|at_medium|at_campaign|__twitter_impression)$",
    re.I,
)
_DOI = re.compile(
    r"\b(10\.\d{4,9}/(?:[^\s\"<>()\[\]{}]|\([^\s\"<>()]*\))*(?:[^\s\"<>()\[\]{}.,;:!?']|\([^\s\"<>()]*\)))",
    re.I,
)
_DOI_HOSTS = {"doi.org", "dx.doi.org", "www.doi.org"}
_BARE_URL = re.compile(r"https?://[^\s<>\"'()\[\]]+[^\s<>\"'()\[\].,;:!?]", re.I)
_MD_LINK = re.compile(r"\[([^\]]*)\]\((https?://(?:[^()\s]|\([^()\s]*\))+)(?:\s+\"[^\"]*\")?\)")
_BYLINE = re.compile(r"^\s*by\s+(?P<author>[^/|·•]+?)\s*(?:[/|·•]+\s*(?P<date>.+))?$", re.I)


@dataclass(frozen=True)
class LinkRef:
    """A link of the article's main text."""

    url: str  # normalised
    anchor: str
    context: str  # the sentence the link is in
    kind: str = "link"  # link | doi


@dataclass
class ArticleDoc:
    input_kind: str  # url | html | markdown | text
    text: str
    title: str | None = None
    author: str | None = None
    published: datetime | None = None
    url: str | None = None
    canonical_url: str | None = None
    links: list[LinkRef] = field(default_factory=list)


def normalise_url(url: str, base: str | None = None) -> str | None:
    """The URL a citation points at: absolute, no fragment, no tracking parameters.

    >>> normalise_url("HTTPS://Example.org/a?utm_source=x&id=3&fbclid=y#top")
    'https://example.org/a?id=3'
    >>> normalise_url("/b", base="https://example.org/a"), normalise_url("mailto:x@y.org")
    ('https://example.org/b', None)
    """
    from w3lib.url import safe_url_string, url_query_cleaner

    try:
        url = urljoin(base, url.strip()) if base else url.strip()  # "http://[::1" raises
        parts = urlsplit(url)
        if parts.scheme.lower() not in {"http", "https"} or not valid_host(parts.hostname or ""):
            return None
        tracking = [k for k, _ in parse_qsl(parts.query, keep_blank_values=True) if _TRACKING.match(k)]
        cleaned = url_query_cleaner(url, tracking, remove=True) if tracking else url.split("#", 1)[0]
        parts = urlsplit(safe_url_string(cleaned))
        return parts._replace(scheme=parts.scheme.lower(), netloc=parts.netloc.lower(), fragment="").geturl()
    except ValueError:
        return None


def doi_url(doi: str) -> str:
    return "https://doi.org/" + doi.rstrip(".,;")


def _doi_of_url(url: str) -> str | None:
    parts = urlsplit(url)
    if (parts.hostname or "").lower() in _DOI_HOSTS:
        match = _DOI.search(parts.path)
        return match.group(1) if match else None
    return None


def find_dois(text: str) -> list[str]:
    """DOIs written in text: ``doi:10...``, ``https://doi.org/10...`` or bare ``10.xxxx/...``.

    >>> find_dois("See doi:10.1000/xyz123. Also https://doi.org/10.5555/ABC.1, and 10.1000/xyz123.")
    ['10.1000/xyz123', '10.5555/ABC.1']
    """
    return list(dict.fromkeys(m.group(1) for m in _DOI.finditer(text)))


def _context(paragraph: str, anchor: str) -> str:
    """The sentence of ``paragraph`` that holds ``anchor`` (the paragraph when none does)."""
    parts = _sentences(paragraph)
    for sentence in parts:
        if anchor and anchor in sentence:
            return sentence
    return parts[0] if len(parts) == 1 else paragraph.strip()


@functools.lru_cache(maxsize=16)
def _sentences(paragraph: str) -> tuple[str, ...]:
    """A paragraph's sentences, split once for all its links (a paragraph of 1,000 links split
    1,000 times took seconds)."""
    return tuple(sentences(paragraph))


def _link(url: str, anchor: str, paragraph: str, base: str | None) -> LinkRef | None:
    normal = normalise_url(url, base)
    if normal is None:
        return None
    doi = _doi_of_url(normal)
    anchor = " ".join(anchor.split())
    if doi:
        return LinkRef(doi_url(doi), anchor, _context(paragraph, anchor), "doi")
    return LinkRef(normal, anchor, _context(paragraph, anchor))


def _text_dois(paragraph: str) -> list[LinkRef]:
    """The DOIs written in ``paragraph``. One that is also a link is dropped later, by ``_merge``
    (a set of the links so far, made for each paragraph, grew with the square of the article)."""
    return [LinkRef(doi_url(doi), doi, _context(paragraph, doi), "doi") for doi in find_dois(paragraph)]


def _merge(links: list[LinkRef]) -> list[LinkRef]:
    """One LinkRef per URL, the first mention's anchor and context."""
    merged: dict[str, LinkRef] = {}
    for link in links:
        merged.setdefault(link.url, link)
    return list(merged.values())


# -- HTML -----------------------------------------------------------------------
# Where site chrome lives, inside or around an article's container.
_CHROME = (
    "ancestor-or-self::*[self::nav or self::aside or self::footer or self::header or self::form"
    " or @role='navigation' or @role='complementary'"
    " or contains(@class,'share') or contains(@class,'social') or contains(@class,'related')"
    " or contains(@class,'tags') or contains(@class,'newsletter') or contains(@class,'comment')"
    " or contains(@class,'promo') or contains(@class,'banner') or contains(@class,'byline')]"
)
_CONTAINERS = "//article | //main | //*[@itemprop='articleBody'] | //*[@role='main']"
_BLOCK = (
    "ancestor-or-self::*[self::p or self::li or self::blockquote or self::dd or self::td"
    " or self::figcaption][1]"
)


def _main_xml(html: str | bytes, url: str | None) -> etree._Element | None:
    import trafilatura
    from lxml import etree

    extract = functools.partial(
        trafilatura.extract,
        url=url,
        output_format="xml",
        include_links=True,
        include_tables=True,
        with_metadata=True,
    )
    try:
        xml = extract(html)
    except etree.XMLSyntaxError:  # trafilatura re-reads the XML it writes: a tag XML refuses (<b'>)
        xml = extract(_xml_named(html))
    if not xml:
        return None
    try:
        return etree.fromstring(xml.encode("utf-8"))
    except etree.XMLSyntaxError:
        return None


_XML_NAME = re.compile(r"[A-Za-z_][\w.-]*\Z")


def _xml_named(html: str | bytes) -> lxml.html.HtmlElement:
    """``html`` parsed, with each element whose tag is no XML name unwrapped (its text is kept)."""
    import lxml.html

    tree = lxml.html.document_fromstring(html)
    for element in list(tree.iter()):
        named = not isinstance(element.tag, str) or _XML_NAME.match(element.tag)
        if not named and element.getparent() is not None:
            element.drop_tag()
    return tree


def _blocks(main: etree._Element) -> list[etree._Element]:
    return [el for el in main.iter("p", "item", "quote", "cell", "head") if el.getparent() is not None]


def block_text(element: etree._Element) -> str:
    """An element's text with links set apart: adjacent links never run together.

    >>> from lxml import etree
    >>> block_text(etree.fromstring("<p>See <ref>RMX.news</ref><ref>Kyiv.com</ref> (<ref>AP</ref>).</p>"))
    'See RMX.news Kyiv.com (AP).'
    """
    parts: list[str] = []

    def walk(el: etree._Element) -> None:
        link = el.tag in {"ref", "a"}
        parts.append(" " if link else "")
        parts.append(el.text or "")
        for child in el:
            if isinstance(child.tag, str):
                walk(child)
            parts.append(child.tail or "")
        parts.append(" " if link else "")

    walk(element)
    text = " ".join("".join(parts).split())
    return re.sub(r"([(\[])\s+", r"\1", re.sub(r"\s+([.,;:!?)\]])", r"\1", text))


def _read_blocks(
    blocks: list[etree._Element], link_path: str, attribute: str, base: str | None, bare_urls: bool = False
) -> tuple[list[str], list[LinkRef]]:
    """The text blocks of an article, and their links (with DOIs, and bare URLs if asked)."""
    paragraphs: list[str] = []
    links: list[LinkRef] = []
    for block in blocks:
        paragraph = block_text(block)
        if not paragraph:
            continue
        paragraphs.append(paragraph)
        for element in block.xpath(link_path):
            found = _link(element.get(attribute) or "", block_text(element), paragraph, base)
            links.append(found) if found else None
        links += (_bare_links(paragraph) if bare_urls else []) + _text_dois(paragraph)
    return paragraphs, links


def _parse_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value[:10])
    except ValueError:
        return None


def _container_links(html: str | bytes, url: str | None) -> list[LinkRef]:
    """Links of the article's own container that trafilatura's text may have left out (a source
    list or a references section is link-dense, and text extraction drops such blocks)."""
    import trafilatura
    from lxml import etree

    try:
        tree = trafilatura.load_html(html)
    except (ValueError, etree.ParserError):
        return []
    if tree is None:
        return []
    containers = tree.xpath(_CONTAINERS)
    if not containers:
        return []
    main = max(containers, key=lambda el: len(el.xpath("string()")))
    links = []
    for anchor in main.xpath(".//a[@href]"):
        if anchor.xpath(_CHROME):
            continue
        block = (anchor.xpath(_BLOCK) or [anchor])[0]
        found = _link(anchor.get("href") or "", block_text(anchor), block_text(block), url)
        links.append(found) if found else None
    return links


def from_html(html: str | bytes, url: str | None = None, input_kind: str = "html") -> ArticleDoc:
    """Read an HTML article (bytes: its charset is detected): metadata, main text, and the
    links of the main text and of the article's container, never of the site's chrome."""
    import trafilatura

    doc = _main_xml(html, url)
    # bytes too, whatever its annotation says: it hands them to load_html, which decodes them
    meta = trafilatura.extract_metadata(html, default_url=url)  # type: ignore[arg-type]  # see above
    article = ArticleDoc(input_kind, "", url=url)
    if meta is not None:
        article.title, article.author = meta.title, meta.author
        article.published = _parse_date(meta.date)
        article.canonical_url = normalise_url(meta.url) if meta.url else None
    paragraphs, links = _read_blocks(
        _blocks(doc) if doc is not None else [], ".//ref[@target]", "target", url
    )
    links += _container_links(html, url)
    article.text = "\n\n".join(paragraphs)
    article.title = article.title or (doc.get("title") if doc is not None else None)
    own = {article.canonical_url, normalise_url(url) if url else None}
    article.links = _merge([link for link in links if link.url not in own])
    return article


# -- Telling text from binary data -------------------------------------------------
# C0 control bytes that text never holds (tab, line breaks, form feed and escape are text).
_CONTROL = bytes([*range(0, 9), *range(14, 27), *range(28, 32), 127])


def decode_text(raw: bytes) -> str | None:
    """``raw`` as text: UTF-8, or the encoding charset-normalizer finds most likely; None when
    no encoding reads it as text.

    >>> decode_text("Café".encode("utf-8")), decode_text(b"\\x00\\x9f\\xff\\x01" * 16)
    ('Café', None)
    """
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start >= len(raw) - 3 and exc.reason == "unexpected end of data":
            return raw[: exc.start].decode("utf-8")  # a sample cut inside a character
    from charset_normalizer import from_bytes

    best = from_bytes(raw).best()
    return str(best) if best is not None else None


def is_binary(data: bytes, sample: int = 8192) -> bool:
    """Whether ``data`` is no text: a NUL or other control bytes (more than 1 in 100) in its
    first ``sample`` bytes, or bytes that no encoding reads as text.

    >>> is_binary(b"Plain text.\\n"), is_binary(b"PK\\x03\\x04\\x14\\x00"), is_binary(bytes(range(1, 128)))
    (False, True, True)
    """
    head = data[:sample]
    controls = len(head) - len(head.translate(None, _CONTROL))
    if b"\x00" in head or controls * 100 > len(head):
        return True
    return decode_text(head) is None


# -- Markdown and plain text -------------------------------------------------------
def _text_metadata(lines: list[str]) -> tuple[str | None, str | None, datetime | None]:
    """Title, author and date of a pasted article: the line before a "By NAME // DATE" byline."""
    for i, line in enumerate(lines):
        match = _BYLINE.match(line)
        if match and len(match.group("author")) <= 80:
            title = lines[i - 1].strip() if i else None
            return title, match.group("author").strip(), _loose_date(match.group("date") or "")
    first = next((line.strip() for line in lines if len(line.split()) >= 4), None)
    return first, None, None


def _loose_date(text: str) -> datetime | None:
    """
    >>> _loose_date("2025-10-31"), _loose_date("October 31, 2025"), _loose_date("soon")
    (datetime.datetime(2025, 10, 31, 0, 0), datetime.datetime(2025, 10, 31, 0, 0), None)
    """
    iso = re.search(r"\d{4}-\d{2}-\d{2}", text)
    if iso:
        return _parse_date(iso.group(0))
    for fmt in ("%B %d, %Y", "%d %B %Y", "%b %d, %Y", "%d %b %Y"):
        try:
            return datetime.strptime(text.strip(), fmt)
        except ValueError:
            continue
    return None


def _bare_links(paragraph: str) -> list[LinkRef]:
    found = (_link(m.group(0), m.group(0), paragraph, None) for m in _BARE_URL.finditer(paragraph))
    return [link for link in found if link is not None]


def from_text(text: str, input_kind: str = "text") -> ArticleDoc:
    """Read a pasted article: every paragraph is content; links are bare URLs and DOIs."""
    lines = [line for line in text.splitlines() if line.strip()]
    title, author, published = _text_metadata(lines)
    paragraphs = [" ".join(line.split()) for line in lines]
    links: list[LinkRef] = []
    for paragraph in paragraphs:
        plain = _MD_LINK.sub(r"\1", paragraph)
        for match in _MD_LINK.finditer(paragraph):
            found = _link(match.group(2), match.group(1), plain, None)
            links.append(found) if found else None
        links += _bare_links(plain) + _text_dois(plain)
    body = "\n\n".join(_MD_LINK.sub(r"\1", p) for p in paragraphs)
    return ArticleDoc(input_kind, body, title, author, published, links=_merge(links))


def from_markdown(text: str) -> ArticleDoc:
    """Markdown, rendered by markdown-it (CommonMark): its blocks are the text, its links and
    the bare URLs and DOIs in its text are the links."""
    import lxml.html
    from markdown_it import MarkdownIt

    rendered = MarkdownIt("commonmark").render(text)
    root = lxml.html.fromstring(f"<div>{rendered}</div>")
    blocks = root.xpath("//p | //li[not(p)] | //h1 | //h2 | //h3 | //h4 | //h5 | //h6 | //td")
    paragraphs, links = _read_blocks(blocks, ".//a[@href]", "href", None, bare_urls=True)
    headings = root.xpath("//h1")
    title, author, published = _text_metadata(paragraphs)
    title = block_text(headings[0]) if headings else title
    return ArticleDoc("markdown", "\n\n".join(paragraphs), title, author, published, links=_merge(links))
