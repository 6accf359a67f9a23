"""Word-level diffs: whole words, exact reconstruction, honest counts."""

from __future__ import annotations

from archive.changes.diff import DELETE, EQUAL, INSERT, word_diff
from archive.changes.extract import normalise_text
from tests.test_extract import PARAGRAPHS

OLD = "\n\n".join(PARAGRAPHS)


def _changes(old: str, new: str) -> list[tuple[int, str]]:
    return [(op, text.strip()) for op, text in word_diff(old, new).ops if op != EQUAL]


def test_both_texts_are_rebuilt_exactly() -> None:
    new = OLD.replace("202,997", "203,997") + "\n\nCorrection: an earlier version misstated the month."
    diff = word_diff(OLD, new)
    assert (diff.old(), diff.new()) == (OLD, new)


def test_a_one_digit_edit_replaces_one_whole_number() -> None:
    assert _changes(OLD, OLD.replace("253,000", "253,001")) == [(DELETE, "253,000"), (INSERT, "253,001")]


def test_a_paragraph_added_at_the_end() -> None:
    added = "Update: the ministry disputed the figures on Friday."
    diff = word_diff(OLD, OLD + "\n\n" + added)
    assert _changes(OLD, OLD + "\n\n" + added) == [(INSERT, added)]
    assert (diff.words_added, diff.words_removed) == (len(added.split()), 0)


def test_a_sentence_moved_is_one_deletion_and_one_insertion() -> None:
    moved = "\n\n".join([PARAGRAPHS[1], PARAGRAPHS[0], PARAGRAPHS[2]])
    changes = _changes(OLD, moved)
    assert sorted(op for op, _ in changes) == [DELETE, INSERT]
    assert {text for _, text in changes} == {PARAGRAPHS[0]} or {text for _, text in changes} == {
        PARAGRAPHS[1]
    }


def test_whitespace_and_typography_are_no_change_once_normalised() -> None:
    reflowed = OLD.replace(" ", "  ").replace("\u201c", '"').replace("\u201d", '"')
    assert not word_diff(normalise_text(OLD), normalise_text(reflowed)).changed
    assert word_diff(OLD, reflowed).changed  # raw texts differ: normalise before comparing
