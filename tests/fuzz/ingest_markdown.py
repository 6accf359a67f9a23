"""Fuzz target: a pasted Markdown article, read as ``citewatch add story.md`` reads it.

Entry point: :func:`archive.ingest.from_markdown` (markdown-it renders it, lxml parses the
HTML), after the CLI's own checks (``is_binary``, ``decode_text``). Nothing here may raise.
"""

from __future__ import annotations

from tests.fuzz import harness


def TestOneInput(data: bytes) -> None:
    from archive import ingest

    raw = harness.amplified(data)
    if ingest.is_binary(raw):
        return  # `citewatch add` says "is not text" before reading it
    text = ingest.decode_text(raw)
    if text is not None:
        ingest.from_markdown(text)


if __name__ == "__main__":
    harness.main(TestOneInput, "ingest_markdown", ["archive.ingest"])
