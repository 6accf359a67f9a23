"""Fuzz target: outlets named without a link ("Sources for this article include: RMX.news ...").

Entry points: :func:`archive.articles.outlet_names.find_outlets` and
:func:`archive.articles.outlet_names.unknown_outlets`, as ``archive.articles.storage`` calls them on every
article's text, with a user's ``[outlets]`` table. Nothing here may raise.
"""

from __future__ import annotations

from tests.fuzz import harness

# A user's [outlets] table (citewatch.toml): a name, a URL, and a host outside the suffix list.
USER_OUTLETS = {"Daily Zorg": "dailyzorg.example", "Zorg Weekly": "https://www.ZorgWeekly.example/news"}


def TestOneInput(data: bytes) -> None:
    from archive.articles import outlet_names

    text = harness.amplified(data).decode("utf-8", "replace")
    for mention in outlet_names.find_outlets(text, USER_OUTLETS):
        assert mention.domain, mention
    outlet_names.unknown_outlets(text, USER_OUTLETS)


if __name__ == "__main__":
    harness.main(TestOneInput, "outlet_names", ["archive.articles.outlet_names"])
