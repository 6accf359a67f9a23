"""Fuzz target: a pasted plain-text article, read as ``citewatch add story.txt`` reads it.

Entry point: :func:`archive.articles.ingest.from_text`, after the CLI's own checks (``is_binary`` refuses
binary data, ``decode_text`` picks the encoding). Nothing here may raise: the CLI and the spider
catch no error of theirs.
"""

from __future__ import annotations

from tests.fuzz import harness


def TestOneInput(data: bytes) -> None:
    from archive.articles import ingest

    text = harness.pasted_text(data)  # None: `citewatch add` refuses it before reading it
    if text is not None:
        ingest.from_text(text)


if __name__ == "__main__":
    harness.main(TestOneInput, "ingest_text", ["archive.articles.ingest"])
