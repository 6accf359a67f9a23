"""Fuzz target: the claims of an article's text, and the numbers of any page's text.

Entry points: :func:`archive.articles.claims.extract_claims` (every article's text, on ``add``) and
:func:`archive.articles.claims.number_forms` (candidate pages of an outlet, when resolving it). Both are
pure functions over any text: nothing here may raise.
"""

from __future__ import annotations

from tests.fuzz import harness


def TestOneInput(data: bytes) -> None:
    from archive.articles import claims

    text = harness.amplified(data).decode("utf-8", "replace")
    for draft in claims.extract_claims(text):
        draft.terms()
    claims.number_forms(text)


if __name__ == "__main__":
    harness.main(TestOneInput, "claims", ["archive.articles.claims"])
