"""Building blocks shared by the request and response strategies: the dialect names, the
adversarial text and JSON strategies, cutting text into pieces, interleaving sequences, and
the option checks (an :class:`~hypothesis.errors.InvalidArgument` when drawing)."""

from __future__ import annotations

import json
import string
from functools import cache, lru_cache
from typing import Any

import orjson
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.strategies import SearchStrategy

DIALECTS = ("anyrouter", "openrouter")
ALNUM = string.ascii_letters + string.digits
MODELS = ("openai/gpt-4o-mini", "anthropic/claude-3.5-sonnet", "google/gemini-2.0-flash-001", "meta-llama/llama-3-8b")

#: Text that breaks naive parsers: astral characters, combining marks, ZWJ sequences, RTL,
#: line terminators (which ``str.splitlines`` splits on but SSE does not), and SSE syntax.
TRICKY = (
    "😀",
    "👩\u200d👩\u200d👧",
    "🏳️\u200d🌈",
    "e\u0301",
    "\u0301",
    "𝔘𝔫𝔦",
    "𠜎",
    "مرحبا",
    "\u200f",
    "\u200b",
    "\ufeff",
    "\x00",
    "\t",
    "\n",
    "\r",
    "\r\n",
    "\n\n",
    "\u2028",
    "\u0085",
    "\x1c",
    '"',
    "\\",
    "\\u00e9",
    "data: [DONE]",
    "\n\ndata: {}\n\n",
    ": keep-alive",
    "</s>",
)


def _check_dialect(dialect: str) -> None:
    if dialect not in DIALECTS:
        raise InvalidArgument(f"dialect={dialect!r}: expected one of {', '.join(DIALECTS)}")


def _check_range(name: str, value: int, low: int, high: int | None = None) -> None:
    if not isinstance(value, int) or value < low or (high is not None and value > high):
        bound = f"{low}..{high}" if high is not None else f">= {low}"
        raise InvalidArgument(f"{name}={value!r}: expected an integer {bound}")


# -- text, JSON, tool arguments; cutting and interleaving ------------------------------------


@cache
def texts(*, min_pieces: int = 0, max_pieces: int = 8) -> SearchStrategy[str]:
    """Text a model might say, or a client might send, including text that breaks parsers.

    Generates the concatenation of ``min_pieces``..``max_pieces`` pieces, each either 1–4
    arbitrary characters (any code point encodable as UTF-8: astral planes, combining
    marks, controls, NUL), a short ASCII word, or one of :data:`TRICKY` (emoji with ZWJ,
    combining sequences, RTL, ``\\r``, ``\\u2028``, ``data: [DONE]``...).
    Shrinks towards fewer pieces and towards ``"0"``-like ASCII.
    """
    _check_range("min_pieces", min_pieces, 0)
    _check_range("max_pieces", max_pieces, min_pieces)
    piece = st.one_of(
        st.text(alphabet="abcdefghij klmnop", min_size=1, max_size=6),
        st.text(st.characters(codec="utf-8"), min_size=1, max_size=4),
        st.sampled_from(TRICKY),
    )
    return st.lists(piece, min_size=min_pieces, max_size=max_pieces).map("".join)


@cache
def json_values(*, max_leaves: int = 8) -> SearchStrategy[Any]:
    """JSON-encodable values: null, booleans, integers within ±2**53, finite floats,
    :func:`texts`, and lists / objects of them (at most ``max_leaves`` scalars).
    Shrinks towards ``None`` and small flat values."""
    _check_range("max_leaves", max_leaves, 1)
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**53) + 1, 2**53 - 1),
        st.floats(allow_nan=False, allow_infinity=False),
        texts(max_pieces=4),
    )
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts(max_pieces=2), inner, max_size=3),
        max_leaves=max_leaves,
    )


@cache
def _argument_objects() -> SearchStrategy[dict[str, Any]]:
    return st.dictionaries(texts(max_pieces=3), json_values(max_leaves=6), max_size=4)


@lru_cache(maxsize=4096)
def _cut_lists(length: int, max_cuts: int) -> SearchStrategy[list[int]]:
    return st.lists(st.integers(0, length), max_size=max_cuts)


@st.composite
def tool_arguments(draw: st.DrawFn) -> str:
    """A tool call's ``arguments`` string: a JSON object encoded compactly, with spaces and
    newlines (``indent=2``), or with ``\\uXXXX`` escapes for every non-ASCII character
    (astral characters as surrogate pairs); sometimes ``""`` or ``"{}"`` (no arguments).
    Shrinks towards ``"{}"``."""
    value = draw(_argument_objects())
    style = draw(st.sampled_from(["compact", "indent", "ascii", "empty"]))
    if style == "empty":
        return "" if not value else "{}"
    if style == "indent":
        return json.dumps(value, indent=2, ensure_ascii=False)
    if style == "ascii":
        return json.dumps(value, ensure_ascii=True)
    return orjson.dumps(value).decode()


@st.composite
def _split(draw: st.DrawFn, text: str, max_pieces: int = 8) -> list[str]:
    """``text`` cut at arbitrary code-point boundaries (pieces may be empty); shrinks to [text]."""
    cuts = sorted(draw(_cut_lists(len(text), max_pieces - 1)))
    pieces, start = [], 0
    for cut in cuts:
        pieces.append(text[start:cut])
        start = cut
    pieces.append(text[start:])
    return pieces


def _interleave(draw: st.DrawFn, sequences: list[list[Any]]) -> list[Any]:
    """The items of every sequence, each sequence's order kept; shrinks to concatenation."""
    labels = [i for i, seq in enumerate(sequences) for _ in seq]
    order = draw(st.permutations(labels)) if len(sequences) > 1 else labels
    cursors = [0] * len(sequences)
    out = []
    for label in order:
        out.append(sequences[label][cursors[label]])
        cursors[label] += 1
    return out


@cache
def _alnum(size: int) -> SearchStrategy[str]:
    return st.text(alphabet=ALNUM, min_size=size, max_size=size)


#: A tool or function name: ``^[a-zA-Z0-9_-]{1,64}$``.
_NAME = st.from_regex(r"[a-zA-Z0-9_-]{1,64}", fullmatch=True)


# -- framing named SSE events (the Messages and Responses surfaces) ------------------------------


def _json_text(value: Any, ascii_only: bool) -> str:
    if ascii_only:
        return json.dumps(value, ensure_ascii=True, separators=(",", ":"))
    return orjson.dumps(value).decode()


@st.composite
def _named_sse(draw: st.DrawFn, events: list[dict[str, Any] | str]) -> tuple[bytes, list[bytes]]:
    """``events`` (data objects, each sent as ``event: <its type>``, and comment lines) as an
    SSE body, and that body cut into network writes.

    Adversarial within the SSE spec: LF, CRLF, CR or mixed line ends; ``event:``/``data:``
    with or without the space; the ``event:`` line after the ``data:`` lines; an object's
    JSON over several ``data:`` lines (joined with ``\\n``: whitespace to JSON);
    ``\\uXXXX``-escaped JSON; the bytes cut anywhere (inside a UTF-8 sequence, between CR
    and LF). Shrinks towards LF, spaces, one ``data:`` line per event, one write."""
    eol_mode = draw(st.sampled_from(["\n", "\r\n", "\r", "mixed"]))
    data_prefix = draw(st.sampled_from(["data: ", "data:"]))
    event_prefix = draw(st.sampled_from(["event: ", "event:"]))
    ascii_only = draw(st.booleans())
    multiline = draw(st.booleans())
    name_last = draw(st.booleans())
    previous = ""

    def eol() -> str:
        """A line end; right after a CR only CR or CRLF (a lone LF would join it as CRLF)."""
        if eol_mode != "mixed":
            return eol_mode
        return draw(st.sampled_from(["\r\n", "\r"] if previous.endswith("\r") else ["\n", "\r\n", "\r"]))

    out: list[str] = []
    for event in events:
        lines: list[str]
        if isinstance(event, str):
            lines = [event]
        else:
            items = [_json_text(k, ascii_only) + ":" + _json_text(v, ascii_only) for k, v in event.items()]
            splits = set()
            if multiline and len(items) > 1:
                splits = set(draw(st.lists(st.integers(0, len(items) - 2), max_size=2)))
            parts, current = [], "{"
            for i, item in enumerate(items):
                current += item + ("," if i < len(items) - 1 else "}")
                if i in splits:
                    parts.append(current)
                    current = ""
            parts.append(current)
            lines = [data_prefix + part for part in parts]
            name = event_prefix + str(event["type"])
            lines = [*lines, name] if name_last and draw(st.booleans()) else [name, *lines]
        for line in [*lines, ""]:
            previous = line + eol()
            out.append(previous)
    sse = "".join(out).encode()
    cuts = sorted(set(draw(st.lists(st.integers(1, len(sse) - 1), max_size=8))))
    writes = [sse[a:b] for a, b in zip([0, *cuts], [*cuts, len(sse)], strict=True)]
    return sse, writes
