"""Fuzz target: a pasted Markdown article, read as ``citewatch add story.md`` reads it.

Entry point: :func:`archive.articles.ingest.from_markdown` (markdown-it renders it, lxml parses the
HTML), after the CLI's own checks (``is_binary``, ``decode_text``). Nothing here may raise.
"""

from __future__ import annotations

from tests.fuzz import harness


def TestOneInput(data: bytes) -> None:
    from archive.articles import ingest

    text = harness.pasted_text(data)  # None: `citewatch add` refuses it before reading it
    if text is not None:
        ingest.from_markdown(text)


if __name__ == "__main__":
    harness.main(TestOneInput, "ingest_markdown", ["archive.articles.ingest"])
