"""The token approximation (``mockrouter.core.tokens``): lossless, counted consistently, cut evenly.

SPEC ("Cutting"): a token is a run of word characters or a single other non-space character,
with the whitespace before it.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mockrouter.core.tokens import count_tokens, cut, group, tokenize

# Text biased towards the interesting cases: whitespace runs, punctuation, astral characters,
# combining marks, emoji with modifiers and scripts where \w is not ASCII.
PIECES = st.sampled_from(
    [
        *" \t\n\r\u00a0\u2028.,!?'\"-_(){}[]:;aZ09",
        *["é", "e\u0301", "日", "本", "ß", "Ж", "🙂", "👍🏽", "\U0001d518", "\U0001f600", "\u200b", "٣", "ﷺ"],
    ]
)
texts = st.one_of(
    st.text(),
    st.lists(PIECES, max_size=40).map("".join),
    st.text(st.sampled_from(" \t\n\r\u00a0\u3000")),
)


@given(texts)
@example("")
@example("   ")
@example("\n\n")
@example("Hello, world!  ")
@example("🙂🙂 \U0001d518nicode\u00a0")
@settings(max_examples=300, deadline=None)
def test_tokens_join_back_to_the_text(text: str) -> None:
    tokens = tokenize(text)
    assert "".join(tokens) == text
    assert all(tokens), "no empty tokens"


@given(texts.filter(lambda t: t.strip() != ""))
@example("Hello, world!")
@example(" \t🙂 ")
@settings(max_examples=300, deadline=None)
def test_count_tokens_agrees_with_tokenize(text: str) -> None:
    assert count_tokens(text) == len(tokenize(text))


def test_count_tokens_of_nothing_is_zero() -> None:
    assert count_tokens("") == 0
    assert count_tokens(None) == 0
    assert tokenize("") == []


@given(texts, st.integers(min_value=1, max_value=12))
@example("Hello, world!", 3)
@example("", 2)
@settings(max_examples=300, deadline=None)
def test_cut_joins_back_and_has_the_right_number_of_pieces(text: str, size: int) -> None:
    pieces = cut(text, size)
    tokens = tokenize(text)
    assert "".join(pieces) == text
    assert len(pieces) == math.ceil(len(tokens) / size)
    assert all(pieces)
    # every piece but the last holds exactly `size` tokens
    assert [len(tokenize(p)) for p in pieces[:-1]] == [size] * max(len(pieces) - 1, 0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello, world!", ["Hello", ",", " world", "!"]),
        ("a  b", ["a", "  b"]),
        ("  lead", ["  lead"]),
        ("trail  ", ["trail  "]),
        ("x+=1", ["x", "+", "=", "1"]),
        ("don't", ["don", "'", "t"]),
        ("日本語 テキスト", ["日本語", " テキスト"]),
        ("hi 🙂🙂", ["hi", " 🙂", "🙂"]),
        ("snake_case_1", ["snake_case_1"]),
        ("   ", ["   "]),
    ],
)
def test_tokenize_examples(text: str, expected: list[str]) -> None:
    assert tokenize(text) == expected


def test_cut_groups_tokens() -> None:
    assert cut("Hello, world!", 2) == ["Hello,", " world!"]
    assert cut("Hello, world!", 3) == ["Hello, world", "!"]
    assert cut("Hello, world!", 100) == ["Hello, world!"]
    assert cut("Hello, world!") == ["Hello", ",", " world", "!"]
    assert group(["a", "b", "c"], 1) == ["a", "b", "c"]
