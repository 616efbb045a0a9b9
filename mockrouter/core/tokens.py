"""The token approximation used for chunking and for usage.

A token is a run of word characters, or a single other non-space character, together with
the whitespace before it. Whitespace at the very end of a text joins the last token. This is
deterministic and cheap; it is not any model's tokenizer, and it does not try to be.
"""

from __future__ import annotations

import re

#: Possessive quantifiers: \s, \w and [^\w\s] are disjoint, so no backtracking is ever needed.
_TOKEN = re.compile(r"\s*+(?:\w++|[^\w\s])")
_WORD = re.compile(r"\w++|[^\w\s]")
_ASCII = [chr(c) for c in range(128)]
_WORD_OR_SPACE = "".join(c for c in _ASCII if c.isalnum() or c == "_" or c.isspace()).encode("ascii")
#: Word characters to ``w``, everything else to a space: each word is then one ``" w"`` (or a leading ``w``).
_WORD_TO_W = bytes(ord("w") if chr(c).isalnum() or c == ord("_") else ord(" ") for c in range(256))


def tokenize(text: str) -> list[str]:
    """Split ``text`` into tokens whose concatenation is ``text`` exactly."""
    if not text:
        return []
    pieces = _TOKEN.findall(text)
    consumed = sum(map(len, pieces))
    if consumed < len(text):  # trailing whitespace, or a text that is only whitespace
        tail = text[consumed:]
        if pieces:
            pieces[-1] += tail
        else:
            pieces = [tail]
    return pieces


def count_tokens(text: str | None) -> int:
    """How many tokens ``text`` has under the approximation above (``len(tokenize(text))``).

    Runs on every request (usage), so it avoids the regex for the common case: a
    whitespace-separated word made only of word characters is exactly one token."""
    if not text:
        return 0
    if text.isascii():  # byte-level C passes: single non-word characters, then runs of word characters
        data = text.encode("ascii")
        marks = data.translate(_WORD_TO_W)  # counted without splitting (no list, no pieces)
        n = len(data.translate(None, _WORD_OR_SPACE)) + marks.count(b" w") + marks.startswith(b"w")
        return n or 1
    words = text.split()
    n = len(words)
    for word in [w for w in words if not w.isalnum()]:
        n += len(_WORD.findall(word)) - 1
    return n or 1


def group(tokens: list[str], size: int) -> list[str]:
    """Join every ``size`` consecutive tokens into one piece (a stream chunk); may return ``tokens``."""
    if size <= 1:
        return tokens
    return ["".join(tokens[i : i + size]) for i in range(0, len(tokens), size)]


def cut(text: str, size: int = 1) -> list[str]:
    """Tokenise and group in one call: the pieces a stream sends for ``text``."""
    return group(tokenize(text), size)
