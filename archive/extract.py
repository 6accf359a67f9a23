"""Text from captured payloads: what later diffs compare.

Pure functions over bytes and strings. Issue-level extraction of HTML main
text (trafilatura, with metadata) builds on these; for now capture needs two
things: PDF text, and a cheap test of whether an HTML page shows its text
without JavaScript.
"""

from __future__ import annotations

import io
import logging

from lxml import html as lxml_html

logger = logging.getLogger(__name__)

# Below this much visible text a page that loads scripts is looked at closely.
_THIN_TEXT = 500
_EMPTY_TEXT = 40


def pdf_text(data: bytes) -> str:
    """The text of a PDF, page by page; raises ValueError when it cannot be read."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        return "\n\n".join((page.extract_text() or "").strip() for page in reader.pages).strip()
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
        raise ValueError(f"unreadable PDF: {exc}") from exc


def visible_text(document: str) -> tuple[str, bool]:
    """Text a reader sees without script, and whether the page loads any script."""
    try:
        tree = lxml_html.fromstring(document)
    except (ValueError, lxml_html.etree.ParserError):
        return "", False
    has_script = bool(tree.xpath("//script"))
    for node in tree.xpath("//script | //style | //noscript | //template | //head"):
        node.drop_tree()
    return " ".join(tree.text_content().split()), has_script


def needs_browser(document: str) -> bool:
    """True when an HTML page's main text is empty unless its scripts run.

    >>> needs_browser('<html><body><div id="app"></div><script src="app.js"></script></body></html>')
    True
    >>> needs_browser('<html><body><p>' + 'Plain words. ' * 60 + '</p><script></script></body></html>')
    False
    >>> needs_browser('<html><body><p>Short page, no script.</p></body></html>')
    False
    """
    text, has_script = visible_text(document)
    if not has_script or len(text) >= _THIN_TEXT:
        return False
    if len(text) < _EMPTY_TEXT:
        return True
    import trafilatura

    main = trafilatura.extract(document, favor_recall=True) or ""
    return len(main.strip()) < _EMPTY_TEXT
