"""The shared splitter: chunks fit, boundaries are natural, and no word is lost."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.adapters.textsplit import HARD_CUT_MARK, clip, split_text
from tests.adapters.payload_tools import texts


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("", 10, []),
        ("   \n ", 10, []),
        ("  short  ", 10, ["short"]),
        ("one two three four", 9, ["one two", "three", "four"]),
        # a paragraph break wins over a later word break when the chunk is at least half full
        ("First part here.\n\nSecond part follows", 30, ["First part here.", "Second part follows"]),
        # a sentence end wins over a later word break
        ("It rained today. Then the sun came out", 30, ["It rained today.", "Then the sun came out"]),
        ('He said "no." Then he left the room', 22, ['He said "no."', "Then he left the room"]),
        # a line break (list item) wins over a sentence end
        ("• one. two\n• three four five", 20, ["• one. two", "• three four five"]),
        # a boundary too early to be worth it loses to the furthest word break
        ("Hi. " + "word " * 10, 30, ["Hi. word word word word word", "word word word word word"]),
        # a URL is one token: the split goes around it, never through it
        (
            "see https://example.com/a/very/long/path now",
            38,
            ["see", "https://example.com/a/very/long/path", "now"],
        ),
        # a single token longer than the limit is cut, and the cut is marked
        ("abcdefghijklmnop", 6, ["abcde…", "fghij…", "klmnop"]),
    ],
)
def test_splits_at_the_best_boundary(text: str, limit: int, expected: list[str]) -> None:
    assert split_text(text, limit) == expected


def test_a_hard_cut_never_separates_a_kept_sequence() -> None:
    escaped = r"ab\*cd\*ef\*gh"
    chunks = split_text(escaped, 5, keep=re.compile(r"\\.", re.DOTALL))
    assert all(not c.removesuffix(HARD_CUT_MARK).endswith("\\") for c in chunks)
    assert "".join(c.removesuffix(HARD_CUT_MARK) for c in chunks) == escaped


def test_a_hard_cut_never_tears_an_emoji_or_an_accent_apart() -> None:
    family = "👩\u200d👩\u200d👧"
    text = "a" * 3 + family + "e\u0301" * 3
    for limit in range(7, 12):  # the family (five code points) fits in one chunk
        chunks = split_text(text, limit)
        for chunk in chunks:
            body = chunk.removesuffix(HARD_CUT_MARK)
            assert not body.endswith("\u200d")
            assert not body.startswith(("\u200d", "\u0301"))
        assert "".join(c.removesuffix(HARD_CUT_MARK) for c in chunks) == text


@pytest.mark.parametrize(
    "grapheme",
    [
        "🇺🇸",  # a flag: two regional indicators
        "🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f",  # England: a flag and tag characters
        "1\ufe0f\u20e3",  # a keycap: digit, variation selector, enclosing mark
        "👋🏽",  # a skin-tone modifier
    ],
)
def test_a_hard_cut_falls_between_emoji_never_inside_one(grapheme: str) -> None:
    text = grapheme * 12
    for limit in range(len(grapheme) + 1, len(grapheme) * 3 + 2):
        chunks = split_text(text, limit)
        assert all(len(c) <= limit for c in chunks)
        for chunk in chunks:
            body = chunk.removesuffix(HARD_CUT_MARK)
            assert body == grapheme * (len(body) // len(grapheme)), (limit, chunk)


def test_a_tiny_limit_is_refused_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match="limit must be at least 2"):
        split_text("text", 1)


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("Short title", 20, ("Short title", False)),
        ("A fairly long title that goes on", 15, ("A fairly long…", True)),
        ("x" * 30, 10, ("x" * 8 + "…", True)),
        ("Wait… then more words", 8, ("Wait……", True)),
    ],
)
def test_clip_marks_what_it_cuts(text: str, limit: int, expected: tuple[str, bool]) -> None:
    assert clip(text, limit) == expected
    assert len(clip(text, limit)[0]) <= limit


@settings(max_examples=150, deadline=None)
@given(text=texts(max_words=120), limit=st.integers(min_value=2, max_value=400))
def test_any_text_fits_and_keeps_every_word(text: str, limit: int) -> None:
    chunks = split_text(text, limit)
    assert all(0 < len(c) <= limit for c in chunks)
    assert all(c == c.strip() for c in chunks)
    if all(len(w) <= limit for w in text.split()):
        assert " ".join(chunks).split() == text.split()
    else:  # pieces of over-long words carry the mark; without marks every character comes back
        assert "".join("".join(chunks).split()).replace(HARD_CUT_MARK, "") == "".join(text.split()).replace(
            HARD_CUT_MARK, ""
        )
        assert any(c.endswith(HARD_CUT_MARK) for c in chunks)
