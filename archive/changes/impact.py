"""Claim impact: what a change in a source does to the claims that rest on it.

A claim is supported by a source for the terms the source carries: its
numbers, quotations and names. When the source's text changes, each claim is
``unaffected`` (every term the old text carried is still there), ``changed``
(a number it used was replaced by another: 253,000 became 260,000), or
``lost-support`` (a number, quotation or name the old text had is gone).
Terms the old text never carried are not the source's to lose. Pure
functions over texts and :class:`archive.articles.claims.ClaimDraft` values.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from archive.articles.claims import ClaimDraft, number_forms
from archive.changes.diff import DELETE, INSERT, TextDiff, word_diff
from archive.changes.extract import normalise_text


@dataclass
class ClaimImpact:
    status: str  # unaffected | changed | lost-support
    lost: list[str] = field(default_factory=list)  # terms the old text had and the new one lacks
    changed: list[tuple[str, str]] = field(default_factory=list)  # (old number, new number)


def _replacements(diff: TextDiff) -> dict[str, set[str]]:
    """Old number -> the numbers that took its place, from each deletion and the insertion after it."""
    found: dict[str, set[str]] = {}
    for (op, text), (next_op, next_text) in zip(diff.ops, diff.ops[1:], strict=False):
        if op == DELETE and next_op == INSERT:
            new = number_forms(next_text) - number_forms(text)
            for old in number_forms(text) - number_forms(next_text):
                found.setdefault(old, set()).update(new)
    return found


def claim_impact(
    claim: ClaimDraft, old_text: str, new_text: str, diff: TextDiff | None = None
) -> ClaimImpact:
    """How the change from ``old_text`` to ``new_text`` of a source affects ``claim``.

    >>> from archive.articles.claims import extract_claims
    >>> claim = extract_claims("Prosecutors opened 253,000 criminal cases.")[0]
    >>> claim_impact(claim, "They opened 253,000 cases.", "They opened 260,000 cases.")
    ClaimImpact(status='changed', lost=['253000'], changed=[('253000', '260000')])
    >>> claim_impact(claim, "They opened 253,000 cases.", "They opened 253,000 cases, officials said.").status
    'unaffected'
    """
    old, new = normalise_text(old_text), normalise_text(new_text)
    old_numbers, new_numbers = number_forms(old), number_forms(new)
    lost = [n for n in claim.numbers if n in old_numbers and n not in new_numbers]
    lost += [
        term
        for term in (*claim.quotes, *claim.entities)
        if normalise_text(term) in old and normalise_text(term) not in new
    ]
    if not lost:
        return ClaimImpact("unaffected")
    replaced = _replacements(diff or word_diff(old, new))
    changed = [(n, m) for n in claim.numbers if n in lost for m in sorted(replaced.get(n, ()))]
    return ClaimImpact("changed" if changed else "lost-support", lost, changed)
