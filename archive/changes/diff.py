"""Word-level diffs of extracted text: what a reader sees changed between two captures.

diff-match-patch works on characters. Each distinct word (and each run of
spaces or punctuation) is mapped to one private-use character, the encoded
strings are diffed and semantically cleaned up, and the result is decoded
back: so a diff never splits a word ("253,000" becoming "254,000" is one word
replaced, not one digit). Pure functions over strings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from diff_match_patch import diff_match_patch

DELETE, EQUAL, INSERT = -1, 0, 1
_TOKENS = re.compile("\\s+|[\\w'\u2019.,-]*\\w|[^\\w\\s]")
_FIRST_CODE = 0xF0000  # Supplementary Private Use Area-A: never in extracted text


@dataclass
class TextDiff:
    """The pieces of a diff in order: (DELETE | EQUAL | INSERT, text)."""

    ops: list[tuple[int, str]] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(op != EQUAL for op, _ in self.ops)

    @property
    def words_added(self) -> int:
        return sum(_count_words(text) for op, text in self.ops if op == INSERT)

    @property
    def words_removed(self) -> int:
        return sum(_count_words(text) for op, text in self.ops if op == DELETE)

    def old(self) -> str:
        return "".join(text for op, text in self.ops if op != INSERT)

    def new(self) -> str:
        return "".join(text for op, text in self.ops if op != DELETE)


def _count_words(text: str) -> int:
    return sum(1 for token in _TOKENS.findall(text) if token[0].isalnum() or token[-1].isalnum())


def _encode(text: str, codes: dict[str, str], tokens: list[str]) -> str:
    found = _TOKENS.findall(text)
    for token in dict.fromkeys(found):
        if token not in codes:  # a new word: the next code
            codes[token] = chr(_FIRST_CODE + len(tokens))
            tokens.append(token)
    return "".join(map(codes.__getitem__, found))


def word_diff(old: str, new: str, timeout: float = 2.0) -> TextDiff:
    """The word-level diff of two texts.

    >>> d = word_diff("Prosecutors opened 253,000 cases.", "Prosecutors opened 254,000 cases.")
    >>> [(op, text) for op, text in d.ops if op != EQUAL]
    [(-1, '253,000'), (1, '254,000')]
    >>> d.words_added, d.words_removed, word_diff("same", "same").changed
    (1, 1, False)
    """
    codes: dict[str, str] = {}
    tokens: list[str] = []
    a, b = _encode(old, codes, tokens), _encode(new, codes, tokens)
    engine = diff_match_patch()
    engine.Diff_Timeout = timeout
    diffs = engine.diff_main(a, b, False)
    engine.diff_cleanupSemantic(diffs)
    return TextDiff(
        [(op, "".join(tokens[ord(c) - _FIRST_CODE] for c in chunk)) for op, chunk in diffs if chunk]
    )
