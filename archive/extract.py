"""Text from captured payloads: what later diffs compare.

Pure functions over bytes. PDF text is extracted at capture time (pypdf) and
stored once per payload digest.
"""

from __future__ import annotations

import io


def pdf_text(data: bytes) -> str:
    """The text of a PDF, page by page; raises ValueError when it cannot be read."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        return "\n\n".join((page.extract_text() or "").strip() for page in reader.pages).strip()
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
        raise ValueError(f"unreadable PDF: {exc}") from exc
