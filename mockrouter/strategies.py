"""Hypothesis strategies for the router API: requests, and the answers a router may send.

Property-test a client library against everything a router may legally send::

    from hypothesis import given
    from mockrouter.strategies import assemble, chat_streams

    @given(chat_streams(dialect="openrouter"))
    def test_my_parser(stream):
        assert my_parser(stream.sse) == stream.expected   # or feed stream.writes one by one

What there is:

- :func:`chat_requests` — bodies valid per ``schemas/chat-request.schema.json``;
  :func:`invalid_chat_requests` — :class:`InvalidRequest` cases, each invalid at one known
  JSON path.
- :func:`chat_responses` (:class:`ChatResponse`) and :func:`chat_streams`
  (:class:`ChatStream`) — schema-valid for a dialect, and adversarial, each with
  ``.expected``: the message a correct client assembles.
- Building blocks: :func:`texts`, :func:`json_values`, :func:`tool_arguments`.
- :func:`assemble` — the reference stream accumulator (SSE bytes → expected message);
  :func:`sse_events` — the SSE decoder it uses (CR, LF and CRLF line ends, comments,
  multi-line ``data:``).
- :func:`draw_response` — one response or stream drawn deterministically from an integer
  seed (for servers: the ``fuzz`` scenario).

Every strategy takes keyword-only options, checks them when drawing (an
:class:`hypothesis.errors.InvalidArgument` names the bad one), and shrinks towards the
plainest value: short ASCII text, one choice, no reasoning or tool calls, LF framing, no
keep-alives, one network write.
"""

from __future__ import annotations

import copy
import json
import random
import re
import string
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Any

import orjson
from hypothesis import HealthCheck, Phase, Verbosity, find, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.strategies import SearchStrategy

from .core.reply import expected_message

__all__ = [
    "DIALECTS",
    "ChatResponse",
    "ChatStream",
    "InvalidRequest",
    "StreamError",
    "assemble",
    "assemble_chunks",
    "chat_requests",
    "chat_responses",
    "chat_streams",
    "draw",
    "draw_response",
    "invalid_chat_requests",
    "json_values",
    "sse_events",
    "texts",
    "tool_arguments",
]

DIALECTS = ("anyrouter", "openrouter")
KEEPALIVE = {"anyrouter": ": keep-alive", "openrouter": ": OPENROUTER PROCESSING"}
_EOL = re.compile(rb"\r\n|\r|\n")
ALNUM = string.ascii_letters + string.digits
MODELS = ("openai/gpt-4o-mini", "anthropic/claude-3.5-sonnet", "google/gemini-2.0-flash-001", "meta-llama/llama-3-8b")
PROVIDERS = ("OpenAI", "Azure", "Anthropic", "Google AI Studio", "Novita", "Z.AI")
NATIVE_FINISH = {
    "stop": ("stop", "end_turn", "STOP"),
    "length": ("length", "max_tokens", "MAX_TOKENS"),
    "tool_calls": ("tool_calls", "tool_use", "function_call"),
    "content_filter": ("content_filter", "SAFETY", "refusal"),
}

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


# -- building blocks -------------------------------------------------------------------------


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


# -- requests --------------------------------------------------------------------------------

_NAME = st.from_regex(r"[a-zA-Z0-9_-]{1,64}", fullmatch=True)
_URL = st.sampled_from(
    [
        "https://example.com/cat.png",
        "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
        "https://例え.jp/画像.jpg?q=1&x=%20",
    ]
)
_CACHE = st.fixed_dictionaries({"type": st.just("ephemeral")}, optional={"ttl": st.sampled_from(["5m", "1h"])})


@cache
def _text_part() -> SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({"type": st.just("text"), "text": texts()}, optional={"cache_control": _CACHE})


@cache
def _content_parts() -> SearchStrategy[dict[str, Any]]:
    return st.one_of(
        _text_part(),
        st.fixed_dictionaries(
            {
                "type": st.just("image_url"),
                "image_url": st.fixed_dictionaries(
                    {"url": _URL}, optional={"detail": st.sampled_from(["auto", "low", "high", "original"])}
                ),
            }
        ),
        st.fixed_dictionaries(
            {
                "type": st.just("input_audio"),
                "input_audio": st.fixed_dictionaries(
                    {"data": st.just("UklGRiQAAABXQVZFZm10IBAAAAABAAEA"), "format": st.sampled_from(["wav", "mp3"])}
                ),
            }
        ),
        st.fixed_dictionaries(
            {
                "type": st.just("file"),
                "file": st.fixed_dictionaries(
                    {},
                    optional={
                        "filename": st.just("report.pdf"),
                        "file_data": st.just("data:application/pdf;base64,JVBERi0xLjQK"),
                        "file_id": st.just("file-abc123"),
                    },
                ),
            }
        ),
        st.fixed_dictionaries(
            {"type": st.sampled_from(["video_url", "input_video"]), "video_url": st.fixed_dictionaries({"url": _URL})}
        ),
    )


@cache
def _tool_call_in_history() -> SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "id": st.builds(lambda s: "call_" + s, _alnum(12)),
            "type": st.just("function"),
            "function": st.fixed_dictionaries({"name": _NAME, "arguments": tool_arguments()}),
        }
    )


@cache
def _messages_of_role(role: str) -> SearchStrategy[dict[str, Any]]:
    name = {"name": st.text(alphabet=ALNUM + "_-", min_size=1, max_size=12)}
    if role in ("system", "developer"):
        content = texts() | st.lists(_text_part(), max_size=3)
        return st.fixed_dictionaries({"role": st.just(role), "content": content}, optional=name)
    if role == "user":
        content = texts() | st.lists(_content_parts(), max_size=4)
        return st.fixed_dictionaries({"role": st.just(role), "content": content}, optional=name)
    if role == "tool":
        return st.fixed_dictionaries(
            {
                "role": st.just("tool"),
                "content": texts() | st.lists(_text_part(), max_size=2),
                "tool_call_id": st.builds(lambda s: "call_" + s, _alnum(12)),
            }
        )
    refusal_part = st.fixed_dictionaries({"type": st.just("refusal"), "refusal": texts()})
    return st.fixed_dictionaries(
        {"role": st.just("assistant")},
        optional={
            "content": st.none() | texts() | st.lists(_text_part() | refusal_part, max_size=2),
            "tool_calls": st.lists(_tool_call_in_history(), min_size=1, max_size=3),
            "reasoning": st.none() | texts(),
            "refusal": st.none() | texts(),
            **name,
        },
    )


@cache
def _bounded(low: float, high: float, *, exclude_min: bool = False) -> SearchStrategy[float]:
    bounds = [high] if exclude_min else [low, high]
    return st.sampled_from(bounds) | st.floats(low, high, exclude_min=exclude_min)


@cache
def _json_schema_for_output() -> SearchStrategy[dict[str, Any]]:
    leaf = st.sampled_from(
        [
            {"type": "string"},
            {"type": "integer", "minimum": 0, "maximum": 100},
            {"type": "number"},
            {"type": "boolean"},
            {"type": "array", "items": {"type": "string"}, "maxItems": 3},
            {"type": "string", "enum": ["red", "green", "blue"]},
        ]
    )

    def obj(props: dict[str, Any]) -> dict[str, Any]:
        return {"type": "object", "properties": props, "required": sorted(props), "additionalProperties": False}

    return st.dictionaries(st.from_regex(r"[a-z_]{1,12}", fullmatch=True), leaf, max_size=4).map(obj)


@cache
def _tools() -> SearchStrategy[list[dict[str, Any]]]:
    parameters = _json_schema_for_output()
    function = st.fixed_dictionaries(
        {"name": _NAME},
        optional={"description": texts(max_pieces=4), "parameters": parameters, "strict": st.none() | st.booleans()},
    )
    tool = st.fixed_dictionaries(
        {"type": st.just("function"), "function": function}, optional={"cache_control": _CACHE}
    )
    return st.lists(tool, min_size=1, max_size=4, unique_by=lambda t: t["function"]["name"])


@st.composite
def chat_requests(
    draw: st.DrawFn, *, model: str | None = None, stream: bool | None = None, max_messages: int = 6
) -> dict[str, Any]:
    """Chat completion request bodies valid per ``schemas/chat-request.schema.json``.

    Messages of every role (``system``, ``developer``, ``user``, ``assistant`` with
    ``tool_calls``/``reasoning``/``refusal``, ``tool``) and every content-part form (text
    with ``cache_control``, ``image_url`` with https and ``data:`` URLs, ``input_audio``,
    ``file``, ``video_url``, ``input_video``, ``refusal``); the last message is usually a
    user message. Optional parameters: ``tools`` and ``tool_choice`` (naming a declared
    tool), ``response_format`` (``text``, ``json_object``, ``json_schema`` with a schema),
    sampling parameters at and between their bounds (and ``null``), ``stop``,
    ``logit_bias``, ``reasoning``, ``provider``, ``metadata``, ``stream`` and
    ``stream_options`` / ``usage``.

    ``model``: use this model id (the default draws one, or leaves ``model`` out — the
    schema does not require it; a drawn model may come with a ``models`` fallback list).
    ``stream``: fix ``stream`` (``None`` draws it, absent included). ``max_messages``:
    at most this many messages (at least 1).

    Shrinks towards ``{"model": ..., "messages": [{"role": "user", "content": ""}]}``.
    """
    _check_range("max_messages", max_messages, 1)
    if model is not None and (not isinstance(model, str) or not model):
        raise InvalidArgument(f"model={model!r}: expected a non-empty string")
    history = draw(
        st.lists(
            st.sampled_from(["user", "assistant", "system", "developer", "tool"]).flatmap(_messages_of_role),
            max_size=max_messages - 1,
        )
    )
    last = draw(_messages_of_role("user") | st.sampled_from(["assistant", "system", "tool"]).flatmap(_messages_of_role))
    body: dict[str, Any] = {}
    if model is not None:
        body["model"] = model
    else:
        drawn = draw(st.sampled_from(MODELS) | st.none())
        if drawn is not None:
            body["model"] = drawn
            if draw(st.booleans()):
                body["models"] = draw(st.lists(st.sampled_from(MODELS), min_size=1, max_size=3))
    body["messages"] = [*history, last]
    if stream is not None:
        body["stream"] = stream
    else:
        drawn_stream = draw(st.sampled_from(["absent", False, True, None]))
        if drawn_stream != "absent":
            body["stream"] = drawn_stream
    if body.get("stream") and draw(st.booleans()):
        body["stream_options"] = draw(st.none() | st.fixed_dictionaries({}, optional={"include_usage": st.booleans()}))
    optional: dict[str, SearchStrategy[Any]] = {
        "usage": st.fixed_dictionaries({}, optional={"include": st.booleans()}),
        "max_tokens": st.none() | st.sampled_from([1, 4096]) | st.integers(1, 100_000),
        "max_completion_tokens": st.none() | st.integers(1, 100_000),
        "temperature": st.none() | _bounded(0, 2),
        "top_p": st.none() | _bounded(0, 1),
        "top_k": st.none() | st.sampled_from([0]) | st.integers(0, 1000),
        "frequency_penalty": st.none() | _bounded(-2, 2),
        "presence_penalty": st.none() | _bounded(-2, 2),
        "repetition_penalty": st.none() | _bounded(0, 2, exclude_min=True),
        "min_p": st.none() | _bounded(0, 1),
        "top_a": st.none() | _bounded(0, 1),
        "seed": st.none() | st.integers(-(2**63), 2**63 - 1),
        "n": st.none() | st.just(1),
        "stop": st.none() | texts(max_pieces=2) | st.lists(texts(max_pieces=2), max_size=4),
        "logit_bias": st.none()
        | st.dictionaries(st.integers(0, 200_000).map(str), _bounded(-100, 100).map(round), max_size=3),
        "logprobs": st.none() | st.booleans(),
        "top_logprobs": st.none() | st.integers(0, 20),
        "response_format": st.one_of(
            st.just({"type": "text"}),
            st.just({"type": "json_object"}),
            st.fixed_dictionaries(
                {
                    "type": st.just("json_schema"),
                    "json_schema": st.fixed_dictionaries(
                        {"name": st.from_regex(r"[a-zA-Z0-9_-]{1,32}", fullmatch=True)},
                        optional={
                            "schema": _json_schema_for_output(),
                            "strict": st.none() | st.booleans(),
                            "description": texts(max_pieces=3),
                        },
                    ),
                }
            ),
        ),
        "reasoning": st.fixed_dictionaries(
            {},
            optional={
                "effort": st.sampled_from(["max", "xhigh", "high", "medium", "low", "minimal", "none"]),
                "max_tokens": st.integers(1, 32_000),
                "exclude": st.booleans(),
                "enabled": st.booleans(),
            },
        ),
        "reasoning_effort": st.sampled_from(["high", "medium", "low", "minimal", "none", None]),
        "provider": st.fixed_dictionaries(
            {},
            optional={
                "order": st.lists(st.sampled_from(["openai", "azure", "anthropic"]), max_size=2),
                "allow_fallbacks": st.booleans(),
                "require_parameters": st.booleans(),
                "data_collection": st.sampled_from(["allow", "deny"]),
                "zdr": st.booleans(),
                "sort": st.sampled_from(["price", "throughput", "latency"]),
            },
        ),
        "user": st.text(alphabet=ALNUM, max_size=16),
        "metadata": st.none() | st.dictionaries(st.text(alphabet=ALNUM, min_size=1, max_size=8), texts(), max_size=4),
        "parallel_tool_calls": st.booleans(),
        "service_tier": st.none() | st.sampled_from(["auto", "default"]),
    }
    chosen = draw(st.lists(st.sampled_from(sorted(optional)), unique=True, max_size=8))
    for name in sorted(chosen):
        body[name] = draw(optional[name])
    if draw(st.booleans()):
        tools = draw(_tools())
        body["tools"] = tools
        names = [t["function"]["name"] for t in tools]
        choice = draw(
            st.sampled_from(["absent", "none", "auto", "required", "named"]),
        )
        if choice == "named":
            body["tool_choice"] = {"type": "function", "function": {"name": draw(st.sampled_from(names))}}
        elif choice != "absent":
            body["tool_choice"] = choice
    return body


@dataclass(frozen=True)
class InvalidRequest:
    """A request body that is invalid at exactly one place.

    ``path`` is where the request schema's validator points (``messages[1].role``); for a
    missing required field it is the path of the object that lacks it (``messages[0]``,
    or ``""`` for the body itself). ``reason`` says what was broken.
    """

    body: Any
    path: str
    reason: str


def _message_indices(body: dict[str, Any], roles: Iterable[str]) -> list[int]:
    wanted = set(roles)
    return [i for i, m in enumerate(body["messages"]) if m.get("role") in wanted]


@st.composite
def invalid_chat_requests(draw: st.DrawFn, *, model: str | None = None) -> InvalidRequest:
    """Request bodies broken at one known JSON path (:class:`InvalidRequest`).

    Starts from a :func:`chat_requests` body (``model`` as there) and applies one break: a
    bad or missing ``role``; missing or null ``content`` where it is required; a ``tool``
    message without ``tool_call_id``; an unknown content-part type or a part missing its
    payload; empty, missing or non-list ``messages``; a sampling parameter just outside its
    bound or of the wrong type; ``logit_bias`` out of range; a tool with a bad ``type`` or
    ``name``; bad ``tool_choice``, ``response_format``, ``reasoning``, ``metadata``,
    ``stream_options`` or ``provider`` values; an empty ``model``; a body that is not an
    object. Shrinks towards the first of those breaks on the smallest body.
    """
    body = copy.deepcopy(draw(chat_requests(model=model)))
    messages = body["messages"]
    breaks = ["role", "missing_role", "messages_empty", "messages_type", "missing_messages", "param_range"]
    breaks += ["param_type", "logit_bias", "tool_type", "tool_name", "tool_choice", "response_format"]
    breaks += ["json_schema", "reasoning", "metadata", "stream_options", "provider", "model", "not_object"]
    if _message_indices(body, ["user", "system", "developer", "tool"]):
        breaks += ["content_null", "content_missing"]
    if _message_indices(body, ["tool"]):
        breaks.append("tool_call_id")
    parts = [
        (i, j) for i, m in enumerate(messages) if isinstance(m.get("content"), list) for j in range(len(m["content"]))
    ]
    if parts:
        breaks += ["part_type", "part_payload"]
    kind = draw(st.sampled_from(breaks))

    def pick(roles: Iterable[str]) -> int:
        return draw(st.sampled_from(_message_indices(body, roles)))

    if kind == "role":
        i = draw(st.integers(0, len(messages) - 1))
        messages[i]["role"] = draw(st.sampled_from(["robot", "", "Assistant", 5, None]))
        return InvalidRequest(body, f"messages[{i}].role", "unknown role")
    if kind == "missing_role":
        i = draw(st.integers(0, len(messages) - 1))
        del messages[i]["role"]
        return InvalidRequest(body, f"messages[{i}]", "message without role")
    if kind == "content_null":
        i = pick(["user", "system", "developer", "tool"])
        messages[i]["content"] = None
        return InvalidRequest(body, f"messages[{i}].content", f"null content in a {messages[i]['role']} message")
    if kind == "content_missing":
        i = pick(["user", "system", "developer", "tool"])
        del messages[i]["content"]
        return InvalidRequest(body, f"messages[{i}]", f"{messages[i]['role']} message without content")
    if kind == "tool_call_id":
        i = pick(["tool"])
        del messages[i]["tool_call_id"]
        return InvalidRequest(body, f"messages[{i}]", "tool message without tool_call_id")
    if kind == "part_type":
        i, j = draw(st.sampled_from(parts))
        messages[i]["content"][j]["type"] = draw(st.sampled_from(["img", "TEXT", "", 3]))
        return InvalidRequest(body, f"messages[{i}].content[{j}].type", "unknown content part type")
    if kind == "part_payload":
        i, j = draw(st.sampled_from(parts))
        part = messages[i]["content"][j]
        kind_of_part = part["type"]
        if kind_of_part == "input_video":
            part["video_url"] = {}
            return InvalidRequest(body, f"messages[{i}].content[{j}].video_url", "video_url without url")
        if kind_of_part == "file":
            part["file"] = "report.pdf"
            return InvalidRequest(body, f"messages[{i}].content[{j}].file", "file payload is not an object")
        del part[kind_of_part]  # the payload key is named like the type (text, image_url, ...)
        return InvalidRequest(body, f"messages[{i}].content[{j}]", f"{kind_of_part} part without its payload")
    if kind == "messages_empty":
        body["messages"] = []
        return InvalidRequest(body, "messages", "no messages")
    if kind == "messages_type":
        body["messages"] = draw(st.sampled_from(["hello", {"role": "user"}, None]))
        return InvalidRequest(body, "messages", "messages is not a list")
    if kind == "missing_messages":
        del body["messages"]
        return InvalidRequest(body, "", "no messages field")
    if kind == "param_range":
        name, value = draw(
            st.sampled_from(
                [
                    ("temperature", 2.0001),
                    ("temperature", -0.5),
                    ("top_p", 1.5),
                    ("top_k", -1),
                    ("frequency_penalty", 2.5),
                    ("presence_penalty", -2.01),
                    ("repetition_penalty", 0),
                    ("min_p", 1.01),
                    ("top_a", -0.01),
                    ("max_tokens", 0),
                    ("max_completion_tokens", -5),
                    ("n", 0),
                    ("top_logprobs", 21),
                ]
            )
        )
        body[name] = value
        return InvalidRequest(body, name, f"{name} out of range")
    if kind == "param_type":
        name, value = draw(
            st.sampled_from(
                [("stream", "yes"), ("temperature", "hot"), ("seed", 1.5), ("max_tokens", 1.5), ("tools", {})]
            )
        )
        body[name] = value
        if name == "tools":
            body.pop("tool_choice", None)
        return InvalidRequest(body, name, f"{name} of the wrong type")
    if kind == "logit_bias":
        body["logit_bias"] = {"50256": draw(st.sampled_from([150, -101, "high"]))}
        return InvalidRequest(body, "logit_bias.50256", "logit bias out of range")
    if kind in ("tool_type", "tool_name"):
        if "tools" not in body:
            body["tools"] = [{"type": "function", "function": {"name": "get_weather"}}]
        k = draw(st.integers(0, len(body["tools"]) - 1))
        if kind == "tool_type":
            body["tools"][k]["type"] = "web_search"
            return InvalidRequest(body, f"tools[{k}].type", "tool type is not function")
        body["tools"][k]["function"]["name"] = draw(st.sampled_from(["get weather", "x" * 65, "", "naïve"]))
        return InvalidRequest(body, f"tools[{k}].function.name", "tool name does not match ^[a-zA-Z0-9_-]{1,64}$")
    if kind == "tool_choice":
        body["tool_choice"] = draw(st.sampled_from(["sometimes", "any", {"type": "function"}]))
        return InvalidRequest(body, "tool_choice", "bad tool_choice")
    if kind == "response_format":
        value = draw(st.sampled_from([{"type": "yaml"}, {"type": "json_schema"}, {}]))
        body["response_format"] = value
        path = "response_format.type" if value.get("type") == "yaml" else "response_format"
        return InvalidRequest(body, path, "bad response_format")
    if kind == "json_schema":
        body["response_format"] = {"type": "json_schema", "json_schema": {"schema": {"type": "object"}}}
        return InvalidRequest(body, "response_format.json_schema", "json_schema without name")
    if kind == "reasoning":
        body["reasoning"] = {"effort": "extreme"}
        return InvalidRequest(body, "reasoning.effort", "unknown reasoning effort")
    if kind == "metadata":
        body["metadata"] = {"k": draw(st.sampled_from([1, True, ["x"]]))}
        return InvalidRequest(body, "metadata.k", "metadata value is not a string")
    if kind == "stream_options":
        body["stream_options"] = {"include_usage": "yes"}
        return InvalidRequest(body, "stream_options.include_usage", "include_usage is not a boolean")
    if kind == "provider":
        body["provider"] = {"data_collection": "maybe"}
        return InvalidRequest(body, "provider.data_collection", "unknown data_collection")
    if kind == "model":
        body["model"] = draw(st.sampled_from(["", 42]))
        return InvalidRequest(body, "model", "empty or non-string model")
    assert kind == "not_object"
    return InvalidRequest(draw(st.sampled_from([[body], "hello", 42, None])), "", "body is not a JSON object")


# -- responses and streams -------------------------------------------------------------------


@dataclass
class _Call:
    id: str
    name: str
    arguments: str


@dataclass
class _Choice:
    index: int
    content: str | None
    reasoning: str | None
    refusal: str | None
    calls: list[_Call]
    finish_reason: str
    native_finish_reason: str

    def expected(self) -> dict[str, Any]:
        return expected_message(self.content, self.reasoning, self.refusal, self.calls)


@dataclass
class _Envelope:
    id: str
    created: int
    model: str
    provider: str | None
    system_fingerprint: str | bool | None  # False: key absent


def _options(dialect: str, max_choices: int | None, max_tool_calls: int, tool_names: Sequence[str] | None) -> int:
    _check_dialect(dialect)
    _check_range("max_tool_calls", max_tool_calls, 0, 16)
    if tool_names is not None and (
        isinstance(tool_names, str) or not all(isinstance(n, str) and n for n in tool_names)
    ):
        raise InvalidArgument(f"tool_names={tool_names!r}: expected a list of non-empty names")
    if max_choices is None:
        max_choices = 3 if dialect == "anyrouter" else 1
    _check_range("max_choices", max_choices, 1, 8)
    return max_choices


@st.composite
def _envelope(draw: st.DrawFn, dialect: str, model: str | None) -> _Envelope:
    created = draw(st.integers(1_600_000_000, 2_000_000_000))
    if dialect == "openrouter":
        ident = f"gen-{created}-{draw(_alnum(20))}"
        provider: str | None = draw(st.sampled_from(PROVIDERS))
        fingerprint: str | bool | None = draw(st.none() | st.just("fp_" + "a1b2c3d4e5"))
    else:
        ident = "chatcmpl-" + draw(_alnum(24))
        provider = draw(st.none() | st.sampled_from(PROVIDERS))
        fingerprint = draw(st.just(False) | st.none() | st.just("fp_a1b2c3d4e5"))
    return _Envelope(ident, created, model or draw(st.sampled_from(MODELS)), provider, fingerprint)


@st.composite
def _choice(
    draw: st.DrawFn, index: int, dialect: str, max_tool_calls: int, tool_names: Sequence[str] | None, stream: bool
) -> _Choice:
    content = draw(texts() | st.none())
    if stream and dialect == "openrouter" and content is None:
        content = ""  # openrouter sends content (at least "") in every delta
    reasoning = draw(texts()) if draw(st.booleans()) else None
    refusal = draw(texts(max_pieces=3)) if draw(st.integers(0, 5)) == 5 else None
    calls: list[_Call] = []
    if max_tool_calls and tool_names != [] and draw(st.booleans()):
        count = draw(st.integers(1, max_tool_calls))
        names = st.sampled_from(list(tool_names)) if tool_names else _NAME
        for k in range(count):
            ident = draw(st.sampled_from(["call_", "toolu_", "call-", ""])) + draw(_alnum(16)) + str(k)
            calls.append(_Call(ident, draw(names), draw(tool_arguments())))
    finish = "tool_calls" if calls else draw(st.sampled_from(["stop", "length", "content_filter"]))
    native = draw(st.sampled_from(NATIVE_FINISH[finish]))
    return _Choice(index, content, reasoning, refusal, calls, finish, native)


@st.composite
def _usage(draw: st.DrawFn, dialect: str) -> dict[str, Any]:
    prompt = draw(st.integers(0, 1_000_000))
    completion = draw(st.integers(0, 100_000))
    usage: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if dialect == "openrouter" or draw(st.booleans()):
        usage["cost"] = draw(st.sampled_from([0, 0.0]) | st.floats(0, 100))
    if draw(st.booleans()):
        usage["prompt_tokens_details"] = {"cached_tokens": draw(st.integers(0, prompt))}
        usage["completion_tokens_details"] = {"reasoning_tokens": draw(st.integers(0, completion))}
    if dialect == "openrouter" and draw(st.booleans()):
        usage["is_byok"] = False
    return usage


def _expected(choices: list[_Choice]) -> dict[str, Any] | list[dict[str, Any]]:
    return choices[0].expected() if len(choices) == 1 else [c.expected() for c in choices]


@dataclass(frozen=True)
class ChatResponse:
    """A non-streaming chat completion: ``body`` (bytes, ``content_type``), ``data`` (the
    parsed JSON) and ``expected`` — the assistant message a correct client reads,
    ``{"role", "content", "reasoning"?, "refusal"?, "tool_calls"?: [{"id", "name",
    "arguments"}]}``, or a list of them (by choice index) when there are several choices."""

    dialect: str
    data: dict[str, Any]
    body: bytes
    expected: dict[str, Any] | list[dict[str, Any]]
    content_type: str = "application/json"
    stream: bool = False


@st.composite
def chat_responses(
    draw: st.DrawFn,
    *,
    dialect: str = "anyrouter",
    model: str | None = None,
    max_choices: int | None = None,
    max_tool_calls: int = 3,
    tool_names: Sequence[str] | None = None,
) -> ChatResponse:
    """Non-streaming chat completions valid per ``schemas/chat-response.<dialect>.schema.json``.

    Adversarial within the schema: unicode content (astral, combining, ZWJ, line
    separators, NUL, text that looks like SSE), ``null`` content, reasoning, refusals,
    parallel tool calls with ``arguments`` pretty-printed, ``\\u``-escaped, empty or
    ``{}``; several choices (anyrouter); bodies encoded with ``\\uXXXX`` escapes for every
    non-ASCII character (astral ones as surrogate pairs) or indented, and (openrouter, as
    observed on long requests) leading whitespace before the JSON.

    ``dialect``: ``anyrouter`` or ``openrouter``. ``model``: the ``model`` field (drawn
    when ``None``). ``max_choices``: at most this many choices (default 3 for anyrouter, 1
    for openrouter, which does not support ``n``). ``max_tool_calls``: per choice (0: none).
    ``tool_names``: call only these tools (``[]``: no tool calls; ``None``: drawn names).

    Shrinks towards one choice with short ASCII content, compact JSON, no extras.
    """
    max_choices = _options(dialect, max_choices, max_tool_calls, tool_names)
    env = draw(_envelope(dialect, model))
    count = draw(st.integers(1, max_choices))
    choices = [draw(_choice(i, dialect, max_tool_calls, tool_names, False)) for i in range(count)]
    data: dict[str, Any] = {"id": env.id, "object": "chat.completion", "created": env.created, "model": env.model}
    if env.provider is not None:
        data["provider"] = env.provider
    if env.system_fingerprint is not False:
        data["system_fingerprint"] = env.system_fingerprint
    if dialect == "openrouter" and draw(st.booleans()):
        data["service_tier"] = draw(st.sampled_from([None, "default", "auto"]))
    out_choices = []
    for c in choices:
        message: dict[str, Any] = {"role": "assistant", "content": c.content}
        if dialect == "openrouter":
            message["refusal"] = c.refusal
            message["reasoning"] = c.reasoning
            if c.reasoning is not None and draw(st.booleans()):
                message["reasoning_details"] = [
                    {"type": "reasoning.text", "text": c.reasoning, "format": "unknown", "index": 0}
                ]
        else:
            for key in ("reasoning", "refusal"):
                value = getattr(c, key)
                if value is not None or draw(st.booleans()):
                    message[key] = value
        if c.calls:
            message["tool_calls"] = [
                {"id": t.id, "type": "function", "function": {"name": t.name, "arguments": t.arguments}}
                for t in c.calls
            ]
        choice: dict[str, Any] = {"index": c.index, "message": message, "finish_reason": c.finish_reason}
        if dialect == "openrouter" or draw(st.booleans()):
            choice["native_finish_reason"] = c.native_finish_reason
        if dialect == "openrouter" or draw(st.booleans()):
            choice["logprobs"] = None
        out_choices.append(choice)
    data["choices"] = out_choices
    data["usage"] = draw(_usage(dialect))
    encoding = draw(st.sampled_from(["compact", "ascii", "indent"]))
    if encoding == "compact":
        body = orjson.dumps(data)
    else:
        body = json.dumps(data, ensure_ascii=encoding == "ascii", indent=2 if encoding == "indent" else None).encode()
    if dialect == "openrouter":
        body = draw(st.sampled_from(["", "\n", "\n\n\n", " \n"])).encode() + body
    return ChatResponse(dialect, data, body, _expected(choices))


@dataclass(frozen=True)
class ChatStream:
    """A streamed chat completion.

    ``sse`` is the whole ``text/event-stream`` body; ``writes`` the same bytes cut where a
    server would flush them (anywhere: inside a UTF-8 sequence, between CR and LF).
    ``events`` is what it carries, in order: chunk dicts, comment lines (``": ..."``) and
    ``"[DONE]"``; ``chunks`` only the chunk dicts. ``expected`` is the assistant message
    a correct client assembles (see :class:`ChatResponse`); ``content`` is the concatenation
    of every string ``delta.content`` (``None`` when no delta carried one), likewise
    ``reasoning`` and ``refusal`` (absent when never sent); tool calls are merged by
    ``index`` (``id`` and ``name`` from the first fragment, ``arguments`` concatenated).
    """

    dialect: str
    events: list[dict[str, Any] | str]
    chunks: list[dict[str, Any]]
    sse: bytes
    writes: list[bytes]
    expected: dict[str, Any] | list[dict[str, Any]]
    content_type: str = "text/event-stream"
    stream: bool = True

    @property
    def body(self) -> bytes:
        return self.sse


@dataclass
class _Op:
    """One choice's delta in one chunk (several tool-call fragments may share it)."""

    choice: int
    delta: dict[str, Any]
    finish: str | None = None
    native: str | None = None
    fragments: list[dict[str, Any]] = field(default_factory=list)


def _choice_ops(draw: st.DrawFn, c: _Choice, dialect: str) -> list[_Op]:
    openrouter = dialect == "openrouter"
    ops: list[_Op] = []
    if openrouter:
        ops.append(_Op(c.index, {"role": "assistant", "content": ""}))
    else:
        opening: dict[str, Any] = {"role": "assistant"}
        shape = draw(st.sampled_from(["content", "bare", "null"]))
        if c.content is not None and shape == "content":
            opening["content"] = ""
        elif shape == "null":
            opening["content"] = None
        ops.append(_Op(c.index, opening))
    for piece in draw(_split(c.reasoning)) if c.reasoning is not None else []:
        if openrouter:
            detail = {"type": "reasoning.text", "text": piece, "format": "unknown", "index": 0}
            delta = {"role": "assistant", "content": "", "reasoning": piece, "reasoning_details": [detail]}
        else:
            delta = {"reasoning": piece}
        ops.append(_Op(c.index, delta))
    for piece in draw(_split(c.content)) if c.content is not None else []:
        ops.append(_Op(c.index, {"role": "assistant", "content": piece} if openrouter else {"content": piece}))
    for piece in draw(_split(c.refusal, 3)) if c.refusal is not None else []:
        delta = {"role": "assistant", "content": "", "refusal": piece} if openrouter else {"refusal": piece}
        ops.append(_Op(c.index, delta))
    # tool calls: per call, a first fragment (index, id, type, name) then argument pieces
    per_call: list[list[dict[str, Any]]] = []
    for k, call in enumerate(c.calls):
        pieces = draw(_split(call.arguments))
        first_args = pieces.pop(0) if pieces and draw(st.booleans()) else ""
        fragments = [
            {"index": k, "id": call.id, "type": "function", "function": {"name": call.name, "arguments": first_args}}
        ]
        fragments += [{"index": k, "function": {"arguments": p}} for p in pieces]
        per_call.append(fragments)
    merged = _interleave(draw, per_call)
    groups: list[list[dict[str, Any]]] = []
    for fragment in merged:
        joinable = groups and all(f["index"] != fragment["index"] for f in groups[-1])
        if joinable and draw(st.booleans()):
            groups[-1].append(fragment)
        else:
            groups.append([fragment])
    for group in groups:
        delta = {"tool_calls": group}
        if openrouter and any("id" in f for f in group):
            delta = {"role": "assistant", "content": None, "tool_calls": group}
        ops.append(_Op(c.index, delta))
    # empty deltas anywhere after the opening one
    empty = {"role": "assistant", "content": ""} if openrouter else {}
    for position in sorted(draw(st.lists(st.integers(1, len(ops)), max_size=3)), reverse=True):
        ops.insert(position, _Op(c.index, dict(empty)))
    final = {"role": "assistant", "content": ""} if openrouter else {}
    if openrouter and c.reasoning is None and draw(st.booleans()):
        final["reasoning"] = None
    ops.append(_Op(c.index, final, c.finish_reason, c.native_finish_reason))
    return ops


def _json_text(value: Any, ascii_only: bool) -> str:
    if ascii_only:
        return json.dumps(value, ensure_ascii=True, separators=(",", ":"))
    return orjson.dumps(value).decode()


@st.composite
def chat_streams(
    draw: st.DrawFn,
    *,
    dialect: str = "anyrouter",
    model: str | None = None,
    max_choices: int | None = None,
    max_tool_calls: int = 3,
    tool_names: Sequence[str] | None = None,
    usage: bool | None = None,
) -> ChatStream:
    """Streamed chat completions (:class:`ChatStream`): every chunk valid per
    ``schemas/chat-chunk.<dialect>.schema.json``, ending with ``data: [DONE]``.

    The dialect's delta rules hold (anyrouter: ``role`` on a choice's first delta only;
    openrouter: ``role: "assistant"`` and ``content`` in every delta, ``provider`` and
    ``native_finish_reason`` on every chunk, ``reasoning_details``); tool-call fragments
    carry ``index`` on every fragment and ``id``/``type``/``name`` only on the first.
    Adversarial within the SSE spec and the schemas: text and tool-call arguments cut at
    any code point (inside escapes, between a base and its combining mark, inside ZWJ
    sequences) with empty pieces; empty deltas; parallel tool calls with interleaved
    fragments, several in one chunk; several choices interleaved (anyrouter); keep-alive
    comments before and between events; ``usage: null`` on every chunk and a usage-only
    chunk (``choices: []``), or (openrouter) the final choice repeated with the usage;
    LF, CRLF, CR or mixed line ends; ``data:`` without the space; a chunk's JSON spread over
    several ``data:`` lines (joined with ``\\n``, which JSON reads as whitespace);
    ``\\uXXXX``-escaped JSON; the bytes cut into network ``writes`` anywhere.

    Options as :func:`chat_responses`, plus ``usage``: send a usage chunk (``None``: drawn
    for anyrouter, always for openrouter, which always sends one).

    Shrinks towards one choice, one content delta, LF framing, one write.
    """
    max_choices = _options(dialect, max_choices, max_tool_calls, tool_names)
    if usage is not None and not isinstance(usage, bool):
        raise InvalidArgument(f"usage={usage!r}: expected a bool or None")
    openrouter = dialect == "openrouter"
    env = draw(_envelope(dialect, model))
    count = draw(st.integers(1, max_choices))
    choices = [draw(_choice(i, dialect, max_tool_calls, tool_names, True)) for i in range(count)]
    ops = _interleave(draw, [_choice_ops(draw, c, dialect) for c in choices])
    send_usage = True if openrouter else (draw(st.booleans()) if usage is None else usage)
    null_usage = send_usage and not openrouter and draw(st.booleans())
    legacy_order = openrouter and draw(st.booleans())
    log_probs = draw(st.booleans())

    def chunk(choice_objs: list[dict[str, Any]], usage_value: Any = False) -> dict[str, Any]:
        head: dict[str, Any] = {"id": env.id, "object": "chat.completion.chunk", "created": env.created}
        head["model"] = env.model
        if env.provider is not None:
            head["provider"] = env.provider
        if legacy_order:  # 2025 key order: id, provider, model, object, created, choices, system_fingerprint
            head = {"id": env.id, "provider": env.provider, "model": env.model}
            head |= {"object": "chat.completion.chunk", "created": env.created}
        head["choices"] = choice_objs
        if env.system_fingerprint is not False:
            head["system_fingerprint"] = env.system_fingerprint
        if usage_value is not False:
            head["usage"] = usage_value
        return head

    def choice_obj(op: _Op) -> dict[str, Any]:
        obj: dict[str, Any] = {"index": op.choice, "delta": op.delta, "finish_reason": op.finish}
        if openrouter:
            obj["native_finish_reason"] = op.native
        if log_probs:
            obj["logprobs"] = None
        return obj

    chunks = [chunk([choice_obj(op)], None if null_usage else False) for op in ops]
    if send_usage:
        usage_value = draw(_usage(dialect))
        repeat = openrouter and draw(st.booleans())
        chunks.append(chunk([choice_obj(ops[-1])] if repeat else [], usage_value))
    # events: keep-alives before the first chunk and between chunks
    comment = draw(st.sampled_from([KEEPALIVE[dialect], ":", ": " + KEEPALIVE[dialect][2:].lower()]))
    events: list[dict[str, Any] | str] = [comment] * draw(st.integers(0, 3))
    after = set(draw(st.lists(st.integers(0, len(chunks) - 1), max_size=3)))
    for i, c in enumerate(chunks):
        events.append(c)
        if i in after:
            events.append(comment)
    events.append("[DONE]")
    # framing
    eol_mode = draw(st.sampled_from(["\n", "\r\n", "\r", "mixed"]))
    prefix = draw(st.sampled_from(["data: ", "data:"]))
    ascii_only = draw(st.booleans())
    multiline = draw(st.booleans())

    def eol(prev: str | None = None) -> str:
        """A line end; right after a CR only CR or CRLF (a lone LF would join it as CRLF)."""
        if eol_mode != "mixed":
            return eol_mode
        return draw(st.sampled_from(["\r\n", "\r"] if prev == "\r" else ["\n", "\r\n", "\r"]))

    def line(text: str) -> str:
        end = eol()
        return text + end

    def blank(previous: str) -> str:
        return eol(prev="\r" if previous.endswith("\r") else None)

    out: list[str] = []
    for event in events:
        if isinstance(event, str):
            text = line(event if event.startswith(":") else prefix + event)
        else:
            items = [_json_text(k, ascii_only) + ":" + _json_text(v, ascii_only) for k, v in event.items()]
            splits = set(draw(st.lists(st.integers(0, len(items) - 2), max_size=2))) if multiline else set()
            lines, current = [], "{"
            for i, item in enumerate(items):
                current += item + ("," if i < len(items) - 1 else "}")
                if i in splits:
                    lines.append(current)
                    current = ""
            lines.append(current)
            text = "".join(line(prefix + part) for part in lines)
        out.append(text + blank(text))
    sse = "".join(out).encode()
    cuts = sorted(set(draw(st.lists(st.integers(1, len(sse) - 1), max_size=8))))
    writes = [sse[a:b] for a, b in zip([0, *cuts], [*cuts, len(sse)], strict=True)]
    return ChatStream(dialect, events, chunks, sse, writes, _expected(choices))


# -- the reference accumulator -----------------------------------------------------------------


class StreamError(ValueError):
    """The stream is not a well-formed chat completion stream (what and where)."""


def sse_events(data: bytes | Iterable[bytes]) -> Iterator[str]:
    """The ``data`` of every SSE event in ``data`` (bytes, or an iterable of byte chunks cut
    anywhere), per the SSE spec as the openai SDK implements it: lines end with CR, LF or
    CRLF; lines starting with ``:`` are comments; one space after ``field:`` is dropped;
    several ``data:`` lines join with ``\\n``; a blank line dispatches the event."""
    pieces = [bytes(data)] if isinstance(data, bytes | bytearray) else data
    data_lines: list[str] | None = None

    def lines() -> Iterator[bytes]:
        buffer = b""
        for piece in pieces:
            buffer += piece
            start = 0
            for match in _EOL.finditer(buffer):
                if match.group() == b"\r" and match.end() == len(buffer):
                    break  # a CR at the end of what arrived: the LF of a CRLF may follow
                yield buffer[start : match.start()]
                start = match.end()
            buffer = buffer[start:]
        if buffer:
            yield buffer.removesuffix(b"\r")

    for raw in lines():
        line = raw.decode("utf-8")
        if not line:
            if data_lines is not None:
                yield "\n".join(data_lines)
            data_lines = None
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data_lines = [*(data_lines or []), value]


def assemble_chunks(chunks: Iterable[dict[str, Any]]) -> dict[str, Any] | list[dict[str, Any]]:
    """The assistant message(s) a correct client builds from parsed stream chunks: strings
    appended per choice (``content`` is ``None`` until a delta carries a string), tool
    calls merged by ``index``. One message, or a list by choice index when there are
    several choices. Raises :class:`StreamError` on an in-band error chunk."""
    states: dict[int, dict[str, Any]] = {}
    for n, chunk in enumerate(chunks):
        if not isinstance(chunk, dict):
            raise StreamError(f"event {n}: not a JSON object")
        if chunk.get("error"):
            raise StreamError(f"event {n}: in-band error: {chunk['error']!r}")
        for choice in chunk.get("choices") or ():
            state = states.setdefault(choice["index"], {"role": "assistant", "content": None, "calls": {}})
            delta = choice.get("delta") or {}
            for key in ("content", "reasoning", "refusal"):
                if isinstance(delta.get(key), str):
                    state[key] = (state.get(key) or "") + delta[key]
            for fragment in delta.get("tool_calls") or ():
                call = state["calls"].setdefault(fragment["index"], {"id": None, "name": None, "arguments": ""})
                if fragment.get("id"):
                    call["id"] = call["id"] or fragment["id"]
                function = fragment.get("function") or {}
                if function.get("name"):
                    call["name"] = call["name"] or function["name"]
                if isinstance(function.get("arguments"), str):
                    call["arguments"] += function["arguments"]
    if not states:
        raise StreamError("no choices in the stream")
    messages = []
    for index in sorted(states):
        state = states[index]
        message = {"role": "assistant", "content": state["content"]}
        for key in ("reasoning", "refusal"):
            if key in state:
                message[key] = state[key]
        if state["calls"]:
            message["tool_calls"] = [state["calls"][k] for k in sorted(state["calls"])]
        messages.append(message)
    return messages[0] if len(messages) == 1 else messages


def assemble(sse: bytes | Iterable[bytes]) -> dict[str, Any] | list[dict[str, Any]]:
    """The reference accumulator: SSE bytes (or byte chunks) → the message(s) a correct
    client assembles, as :attr:`ChatStream.expected`. Raises :class:`StreamError` when an
    event is not JSON, carries an in-band error, or the stream does not end with
    ``[DONE]``."""
    chunks = []
    done = False
    for n, data in enumerate(sse_events(sse)):
        if done:
            raise StreamError(f"event {n}: data after [DONE]")
        if data == "[DONE]":
            done = True
            continue
        try:
            chunks.append(json.loads(data))
        except ValueError as exc:
            raise StreamError(f"event {n}: not JSON: {exc}") from None
    if not done:
        raise StreamError("the stream ended without data: [DONE]")
    return assemble_chunks(chunks)


# -- deterministic drawing (for servers) -------------------------------------------------------

_DRAW_SETTINGS = settings(
    database=None,
    phases=[Phase.generate],
    max_examples=50,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    verbosity=Verbosity.quiet,
)


def draw(strategy: SearchStrategy[Any], seed: int) -> Any:
    """One value of ``strategy``, a function of ``seed`` (for a given hypothesis version),
    drawn from the whole strategy (not biased towards small values as a test's first
    examples are).

    Feeds the strategy hypothesis's own random choices seeded with ``seed`` (a
    ``ConjectureData`` in a build context, as ``@given`` does per example; a draw that
    overruns or is rejected is retried with a derived seed). Should a future hypothesis move
    those internals, it falls back on the public :func:`hypothesis.find` (database-less,
    no shrinking, seeded), which is slower and favours smaller values. Safe in a server
    thread while the process runs ``@given`` tests: hypothesis keeps its context per thread.
    """
    try:
        from hypothesis.control import BuildContext
        from hypothesis.errors import StopTest
        from hypothesis.internal.conjecture.data import ConjectureData
    except ImportError:  # pragma: no cover - a hypothesis without these internals
        return _find_draw(strategy, seed)
    for attempt in range(20):
        rng = random.Random(seed if attempt == 0 else f"{seed}/{attempt}")
        try:
            data = ConjectureData(random=rng)
            with BuildContext(data, is_final=False, wrapped_test=draw):
                value = data.draw(strategy)
        except StopTest:
            continue
        except TypeError:  # pragma: no cover - internals changed shape
            return _find_draw(strategy, seed)
        return value
    return _find_draw(strategy, seed)  # pragma: no cover


def _find_draw(strategy: SearchStrategy[Any], seed: int, skip: int = 10) -> Any:
    calls = 0

    def after_skipping(_: Any) -> bool:
        nonlocal calls
        calls += 1
        return calls > skip

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "overly large repr" of the found example
        return find(strategy, after_skipping, settings=_DRAW_SETTINGS, random=random.Random(seed))


def draw_response(
    seed: int, *, dialect: str = "anyrouter", stream: bool = False, request: dict[str, Any] | None = None
) -> ChatResponse | ChatStream:
    """A response to ``request`` drawn from :func:`chat_responses` / :func:`chat_streams`,
    reproducible from ``seed``: the same (seed, dialect, stream, request) gives the same
    bytes with the same mockrouter and hypothesis versions.

    From ``request`` (a chat request body; optional): ``model`` becomes the response's
    model; tool calls name only tools the request declares (none without ``tools`` or
    with ``tool_choice: "none"``); anyrouter streams end with a usage chunk only when
    ``stream_options.include_usage`` or ``usage.include`` asks; anyrouter answers with up to
    ``n`` (≤ 4) choices, else one.
    """
    _check_dialect(dialect)
    options: dict[str, Any] = {"dialect": dialect, "max_choices": 1}
    if request is not None:
        model = request.get("model")
        if isinstance(model, str) and model:
            options["model"] = model
        tools = request.get("tools")
        names = []
        if isinstance(tools, list) and request.get("tool_choice") != "none":
            for tool in tools:
                function = tool.get("function") if isinstance(tool, dict) else None
                name = function.get("name") if isinstance(function, dict) else None
                if isinstance(name, str) and name and name not in names:
                    names.append(name)
        options["tool_names"] = names
        n = request.get("n")
        if dialect == "anyrouter" and isinstance(n, int) and not isinstance(n, bool) and n > 1:
            options["max_choices"] = min(n, 4)
        if stream and dialect == "anyrouter":
            stream_options = request.get("stream_options")
            usage = request.get("usage")
            options["usage"] = bool(
                (isinstance(stream_options, dict) and stream_options.get("include_usage"))
                or (isinstance(usage, dict) and usage.get("include"))
            )
    strategy = chat_streams(**options) if stream else chat_responses(**options)
    return draw(strategy, seed)
