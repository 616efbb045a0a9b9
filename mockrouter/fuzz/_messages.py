"""The Anthropic Messages surface: request strategies (:func:`messages_requests`,
:func:`invalid_messages_requests`) and answer strategies (:func:`messages_responses`,
:class:`MessagesResponse`; :func:`messages_streams`, :class:`MessagesStream`), each answer
with ``.expected``: the final message a correct client (the anthropic SDK) holds."""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import orjson
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.strategies import SearchStrategy

from ._blocks import (
    _NAME,
    ALNUM,
    MODELS,
    _alnum,
    _argument_objects,
    _check_dialect,
    _check_range,
    _named_sse,
    _split,
    texts,
)
from ._requests import InvalidRequest

#: Anthropic's stop reasons other than ``tool_use`` (which tool calls imply).
STOP_REASONS = ("end_turn", "max_tokens", "stop_sequence", "refusal")
#: What ``messages_streams`` may send between events: the dialects' keep-alive comments.
COMMENTS = (": keep-alive", ": OPENROUTER PROCESSING", ":")
_BASE64 = ALNUM + "+/"


# -- requests ------------------------------------------------------------------------------------


@cache
def _text_block() -> SearchStrategy[dict[str, Any]]:
    cache_control = st.fixed_dictionaries(
        {"type": st.just("ephemeral")}, optional={"ttl": st.sampled_from(["5m", "1h"])}
    )
    return st.fixed_dictionaries(
        {"type": st.just("text"), "text": texts(min_pieces=1)}, optional={"cache_control": cache_control}
    )


def _toolu_id() -> SearchStrategy[str]:
    return _alnum(22).map(lambda s: "toolu_01" + s)


@cache
def _user_blocks() -> SearchStrategy[dict[str, Any]]:
    png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
    image_source = st.sampled_from(
        [
            {"type": "base64", "media_type": "image/png", "data": png},
            {"type": "url", "url": "https://example.com/cat.png"},
        ]
    )
    document_source = st.sampled_from(
        [
            {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0xLjQK"},
            {"type": "text", "media_type": "text/plain", "data": "plain text"},
            {"type": "url", "url": "https://example.com/report.pdf"},
        ]
    )
    result_content = texts() | st.lists(_text_block(), max_size=2)
    return st.one_of(
        _text_block(),
        st.fixed_dictionaries({"type": st.just("image"), "source": image_source}),
        st.fixed_dictionaries(
            {"type": st.just("document"), "source": document_source}, optional={"title": texts(min_pieces=1)}
        ),
        st.fixed_dictionaries(
            {"type": st.just("tool_result"), "tool_use_id": _toolu_id()},
            optional={"content": result_content, "is_error": st.booleans()},
        ),
    )


@cache
def _assistant_blocks() -> SearchStrategy[dict[str, Any]]:
    return st.one_of(
        _text_block(),
        st.fixed_dictionaries(
            {"type": st.just("tool_use"), "id": _toolu_id(), "name": _NAME, "input": _argument_objects()}
        ),
        st.fixed_dictionaries(
            {"type": st.just("thinking"), "thinking": texts(), "signature": _alnum(32).map(lambda s: "Eo" + s)}
        ),
        st.fixed_dictionaries({"type": st.just("redacted_thinking"), "data": _alnum(40)}),
    )


@cache
def _message(role: str) -> SearchStrategy[dict[str, Any]]:
    blocks = _user_blocks() if role == "user" else _assistant_blocks()
    content = texts(min_pieces=1) | st.lists(blocks, min_size=1, max_size=4)
    return st.fixed_dictionaries({"role": st.just(role), "content": content})


@cache
def _input_schema() -> SearchStrategy[dict[str, Any]]:
    leaf = st.sampled_from(
        [
            {"type": "string"},
            {"type": "integer"},
            {"type": "number"},
            {"type": "boolean"},
            {"type": "string", "enum": ["c", "f"]},
        ]
    )
    props = st.dictionaries(st.from_regex(r"[a-z_]{1,12}", fullmatch=True), leaf, max_size=3)
    return props.map(lambda p: {"type": "object", "properties": p, "required": sorted(p)[:1]})


@cache
def _messages_tools() -> SearchStrategy[list[dict[str, Any]]]:
    tool = st.fixed_dictionaries(
        {"name": _NAME, "input_schema": _input_schema()},
        optional={"description": texts(max_pieces=4), "cache_control": st.just({"type": "ephemeral"})},
    )
    return st.lists(tool, min_size=1, max_size=4, unique_by=lambda t: t["name"])


@st.composite
def messages_requests(
    draw: st.DrawFn, *, model: str | None = None, stream: bool | None = None, max_messages: int = 6
) -> dict[str, Any]:
    """Anthropic Messages request bodies, valid per ``schemas/messages-request.schema.json``.

    ``model``, ``max_tokens`` and ``messages`` always; messages of both roles with string
    content or blocks: ``text`` (with ``cache_control``), ``image`` and ``document`` (base64,
    url and text sources), ``tool_result`` (string or text-block content, ``is_error``) in
    user messages; ``text``, ``tool_use``, ``thinking`` with its signature and
    ``redacted_thinking`` in assistant messages; the last message is a user message. Optional:
    ``system`` (a string or text blocks), ``tools`` (``input_schema``) and ``tool_choice``
    (``auto``, ``any``, ``none``, ``tool`` naming a declared tool), ``thinking`` (``enabled``
    with a ``budget_tokens`` below ``max_tokens``, or ``disabled``), ``temperature`` and
    ``top_p`` within 0..1, ``top_k``, ``stop_sequences``, ``metadata.user_id``, ``stream``.

    ``model``: use this model (drawn otherwise). ``stream``: fix ``stream`` (``None`` draws
    it, absent included). ``max_messages``: at most this many messages (at least 1).

    Shrinks towards ``{"model": ..., "max_tokens": 1, "messages": [{"role": "user",
    "content": "a"}]}``.
    """
    _check_range("max_messages", max_messages, 1)
    if model is not None and (not isinstance(model, str) or not model):
        raise InvalidArgument(f"model={model!r}: expected a non-empty string")
    history = draw(st.lists(st.sampled_from(["user", "assistant"]).flatmap(_message), max_size=max_messages - 1))
    body: dict[str, Any] = {"model": model or draw(st.sampled_from(MODELS))}
    body["max_tokens"] = draw(st.sampled_from([1, 1024]) | st.integers(1, 64_000))
    body["messages"] = [*history, draw(_message("user"))]
    if stream is not None:
        body["stream"] = stream
    else:
        drawn = draw(st.sampled_from(["absent", False, True]))
        if drawn != "absent":
            body["stream"] = drawn
    optional: dict[str, SearchStrategy[Any]] = {
        "system": texts() | st.lists(_text_block(), min_size=1, max_size=2),
        "temperature": st.sampled_from([0, 1]) | st.floats(0, 1),
        "top_p": st.floats(0, 1),
        "top_k": st.integers(0, 500),
        "stop_sequences": st.lists(texts(min_pieces=1, max_pieces=2), max_size=3),
        "metadata": st.fixed_dictionaries({}, optional={"user_id": st.text(alphabet=ALNUM, max_size=16)}),
    }
    for name in sorted(draw(st.lists(st.sampled_from(sorted(optional)), unique=True, max_size=4))):
        body[name] = draw(optional[name])
    if draw(st.booleans()):
        body["thinking"] = {"type": "disabled"}
        if body["max_tokens"] > 1024 and draw(st.booleans()):
            body["thinking"] = {"type": "enabled", "budget_tokens": draw(st.integers(1024, body["max_tokens"] - 1))}
    if draw(st.booleans()):
        tools = draw(_messages_tools())
        body["tools"] = tools
        kind = draw(st.sampled_from(["absent", "auto", "any", "none", "tool"]))
        if kind == "tool":
            body["tool_choice"] = {"type": "tool", "name": draw(st.sampled_from([t["name"] for t in tools]))}
        elif kind != "absent":
            body["tool_choice"] = {"type": kind}
        if kind in ("auto", "any", "tool") and draw(st.booleans()):
            body["tool_choice"]["disable_parallel_tool_use"] = draw(st.booleans())
    return body


@st.composite
def invalid_messages_requests(draw: st.DrawFn, *, model: str | None = None) -> InvalidRequest:
    """Messages request bodies broken at one known JSON path (:class:`InvalidRequest`).

    Starts from a :func:`messages_requests` body and applies one break: ``model``,
    ``max_tokens`` or ``messages`` missing; ``max_tokens`` below 1 or not an integer;
    ``messages`` not a list; a message with a bad or missing ``role`` (``system`` is not a
    Messages role) or without ``content``; a block without ``type``; a tool without
    ``input_schema``; ``temperature`` above 1; an unknown ``tool_choice`` type; a ``thinking``
    of an unknown type; ``stop_sequences`` not a list; a body that is not an object.
    Shrinks towards the first of those breaks on the smallest body.
    """
    body = copy.deepcopy(draw(messages_requests(model=model)))
    messages = body["messages"]
    breaks = ["model", "max_tokens", "max_tokens_range", "max_tokens_type", "messages", "messages_type"]
    breaks += ["role", "missing_role", "missing_content", "tool_schema", "temperature", "tool_choice"]
    breaks += ["thinking", "stop_sequences", "not_object"]
    blocks = [
        (i, j) for i, m in enumerate(messages) if isinstance(m["content"], list) for j in range(len(m["content"]))
    ]
    if blocks:
        breaks.append("block_type")
    kind = draw(st.sampled_from(breaks))
    if kind in ("model", "max_tokens", "messages"):
        del body[kind]
        return InvalidRequest(body, "", f"no {kind} field")
    if kind == "max_tokens_range":
        body["max_tokens"] = draw(st.sampled_from([0, -1]))
        return InvalidRequest(body, "max_tokens", "max_tokens below 1")
    if kind == "max_tokens_type":
        body["max_tokens"] = draw(st.sampled_from(["1024", 1.5, None]))
        return InvalidRequest(body, "max_tokens", "max_tokens is not an integer")
    if kind == "messages_type":
        body["messages"] = draw(st.sampled_from(["hello", {"role": "user"}, None]))
        return InvalidRequest(body, "messages", "messages is not a list")
    i = draw(st.integers(0, len(messages) - 1))
    if kind == "role":
        messages[i]["role"] = draw(st.sampled_from(["system", "tool", "robot", "", 5, None]))
        return InvalidRequest(body, f"messages[{i}].role", "not a Messages role")
    if kind == "missing_role":
        del messages[i]["role"]
        return InvalidRequest(body, f"messages[{i}]", "message without role")
    if kind == "missing_content":
        del messages[i]["content"]
        return InvalidRequest(body, f"messages[{i}]", "message without content")
    if kind == "block_type":
        i, j = draw(st.sampled_from(blocks))
        del messages[i]["content"][j]["type"]
        return InvalidRequest(body, f"messages[{i}].content[{j}]", "content block without type")
    if kind == "tool_schema":
        if "tools" not in body:
            body["tools"] = [{"name": "get_weather", "input_schema": {"type": "object"}}]
        k = draw(st.integers(0, len(body["tools"]) - 1))
        del body["tools"][k]["input_schema"]
        body.pop("tool_choice", None)
        return InvalidRequest(body, f"tools[{k}]", "tool without input_schema")
    if kind == "temperature":
        body["temperature"] = draw(st.sampled_from([1.5, -0.1, "hot"]))
        return InvalidRequest(body, "temperature", "temperature outside 0..1")
    if kind == "tool_choice":
        body["tool_choice"] = {"type": draw(st.sampled_from(["sometimes", "function", ""]))}
        return InvalidRequest(body, "tool_choice.type", "unknown tool_choice type")
    if kind == "thinking":
        body["thinking"] = {"type": "extreme"}
        return InvalidRequest(body, "thinking.type", "unknown thinking type")
    if kind == "stop_sequences":
        body["stop_sequences"] = draw(st.sampled_from(["\n\nHuman:", 5]))
        return InvalidRequest(body, "stop_sequences", "stop_sequences is not a list")
    assert kind == "not_object"
    return InvalidRequest(draw(st.sampled_from([[body], "hello", 42, None])), "", "body is not a JSON object")


# -- answers -------------------------------------------------------------------------------------


@dataclass
class _Answer:
    """One drawn answer, before it is written as a body or a stream."""

    id: str
    model: str
    blocks: list[dict[str, Any]]  # the final content blocks
    stop_reason: str
    stop_sequence: str | None
    usage: dict[str, Any]  # the final usage

    def message(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": self.blocks,
            "stop_reason": self.stop_reason,
            "stop_sequence": self.stop_sequence,
            "usage": self.usage,
        }


def _options(dialect: str, max_tool_calls: int, tool_names: Sequence[str] | None) -> None:
    _check_dialect(dialect)
    _check_range("max_tool_calls", max_tool_calls, 0, 16)
    if tool_names is not None and (
        isinstance(tool_names, str) or not all(isinstance(n, str) and n for n in tool_names)
    ):
        raise InvalidArgument(f"tool_names={tool_names!r}: expected a list of non-empty names")


@st.composite
def _answer(draw: st.DrawFn, model: str | None, max_tool_calls: int, tool_names: Sequence[str] | None) -> _Answer:
    blocks: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(0, 2))):
        signature = "Eo" + draw(st.text(alphabet=_BASE64, min_size=8, max_size=120))
        blocks.append({"type": "thinking", "thinking": draw(texts()), "signature": signature})
    if draw(st.integers(0, 5)) == 5:
        blocks.append({"type": "redacted_thinking", "data": "EmwK" + draw(st.text(alphabet=_BASE64, max_size=80))})
    for _ in range(draw(st.sampled_from([1, 0, 2]))):
        blocks.append({"type": "text", "text": draw(texts())})
    calls = 0
    if max_tool_calls and tool_names != [] and draw(st.booleans()):
        names = st.sampled_from(list(tool_names)) if tool_names else _NAME
        calls = draw(st.integers(1, max_tool_calls))
        for k in range(calls):
            tool_id = f"toolu_01{draw(_alnum(20))}{k:02d}"
            blocks.append({"type": "tool_use", "id": tool_id, "name": draw(names), "input": draw(_argument_objects())})
    stop_reason = "tool_use" if calls else draw(st.sampled_from(STOP_REASONS))
    stop_sequence = draw(texts(min_pieces=1, max_pieces=2)) if stop_reason == "stop_sequence" else None
    usage: dict[str, Any] = {
        "input_tokens": draw(st.integers(0, 1_000_000)),
        "output_tokens": draw(st.integers(0, 100_000)),
    }
    if draw(st.booleans()):
        usage["cache_creation_input_tokens"] = draw(st.integers(0, 10_000))
        usage["cache_read_input_tokens"] = draw(st.integers(0, 10_000))
    if draw(st.booleans()):
        usage["service_tier"] = "standard"
    ident = "msg_01" + draw(_alnum(22))
    return _Answer(ident, model or draw(st.sampled_from(MODELS)), blocks, stop_reason, stop_sequence, usage)


@dataclass(frozen=True)
class MessagesResponse:
    """A non-streaming Anthropic message: ``body`` (bytes, ``content_type``), ``data`` (the
    parsed JSON) and ``expected`` — the message a correct client reads: ``{"id", "type":
    "message", "role": "assistant", "model", "content": [blocks], "stop_reason",
    "stop_sequence", "usage"}``, blocks ``{"type": "thinking", "thinking", "signature"}``,
    ``{"type": "redacted_thinking", "data"}``, ``{"type": "text", "text"}`` and
    ``{"type": "tool_use", "id", "name", "input"}`` (``input`` an object). Here ``expected
    == data``."""

    dialect: str
    data: dict[str, Any]
    body: bytes
    expected: dict[str, Any]
    content_type: str = "application/json"
    stream: bool = False

    @property
    def generation_id(self) -> str:
        """The answer's id (``msg_…``)."""
        return str(self.data["id"])


@st.composite
def messages_responses(
    draw: st.DrawFn,
    *,
    dialect: str = "anyrouter",
    model: str | None = None,
    max_tool_calls: int = 3,
    tool_names: Sequence[str] | None = None,
) -> MessagesResponse:
    """Non-streaming Anthropic messages (:class:`MessagesResponse`), valid per
    ``schemas/messages-response.schema.json``.

    Adversarial within the schema: thinking blocks (one or two, with signatures),
    ``redacted_thinking``, no text block, an empty one or two, unicode text (astral,
    combining, ZWJ, line separators, NUL, text that looks like SSE), parallel ``tool_use``
    blocks with arbitrary JSON ``input`` objects; every ``stop_reason`` (``stop_sequence``
    with its ``stop_sequence``); usage with and without the cache counts; bodies
    ``\\uXXXX``-escaped or indented.

    ``dialect``: ``anyrouter`` or ``openrouter``. ``model``: the ``model`` field (drawn when
    ``None``). ``max_tool_calls``: at most this many ``tool_use`` blocks (0: none).
    ``tool_names``: use only these tools (``[]``: no tool use; ``None``: drawn names).

    Shrinks towards one short ASCII text block, ``end_turn``, compact JSON.
    """
    _options(dialect, max_tool_calls, tool_names)
    answer = draw(_answer(model, max_tool_calls, tool_names))
    data = answer.message()
    encoding = draw(st.sampled_from(["compact", "ascii", "indent"]))
    if encoding == "compact":
        body = orjson.dumps(data)
    else:
        body = json.dumps(data, ensure_ascii=encoding == "ascii", indent=2 if encoding == "indent" else None).encode()
    return MessagesResponse(dialect, data, body, copy.deepcopy(data))


@dataclass(frozen=True)
class MessagesStream:
    """A streamed Anthropic message.

    ``sse`` is the whole ``text/event-stream`` body: named events (``event: message_start``
    … ``message_stop``, ``ping``), no ``[DONE]``; ``writes`` the same bytes cut where a
    server would flush them (anywhere: inside a UTF-8 sequence, between CR and LF).
    ``events`` is what it carries, in order: the data objects (each sent as ``event: <its
    type>``) and comment lines (``": ..."``); ``chunks`` only the data objects.
    ``expected`` is the message a correct client assembles (see :class:`MessagesResponse`;
    ``usage`` as the SDK keeps it: ``message_start``'s, with each count ``message_delta``
    sends replacing it). :func:`assemble_messages` is the reference accumulator.
    """

    dialect: str
    events: list[dict[str, Any] | str]
    chunks: list[dict[str, Any]]
    sse: bytes
    writes: list[bytes]
    expected: dict[str, Any]
    content_type: str = "text/event-stream"
    stream: bool = True

    @property
    def body(self) -> bytes:
        return self.sse

    @property
    def generation_id(self) -> str:
        """The answer's id (``msg_…``, in ``message_start``)."""
        return str(self.chunks[0]["message"]["id"])


def _block_events(draw: st.DrawFn, index: int, block: dict[str, Any]) -> list[dict[str, Any]]:
    """One content block as ``content_block_start``, its deltas and ``content_block_stop``."""
    kind = block["type"]
    deltas: list[dict[str, Any]] = []
    start: dict[str, Any]
    if kind == "thinking":
        start = {"type": "thinking", "thinking": "", "signature": ""}
        deltas = [{"type": "thinking_delta", "thinking": p} for p in draw(_split(block["thinking"]))]
        deltas.append({"type": "signature_delta", "signature": block["signature"]})
    elif kind == "text":
        start = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": p} for p in draw(_split(block["text"]))]
    elif kind == "tool_use":
        start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
        style = draw(st.sampled_from(["compact", "indent", "ascii"]))
        if style == "compact":
            text = orjson.dumps(block["input"]).decode()
        else:
            text = json.dumps(block["input"], indent=2 if style == "indent" else None, ensure_ascii=style == "ascii")
        pieces = draw(_split(text)) if block["input"] or draw(st.booleans()) else []
        deltas = [{"type": "input_json_delta", "partial_json": p} for p in [""][: draw(st.integers(0, 1))] + pieces]
    else:
        start = dict(block)  # redacted_thinking: whole in its start event
    events: list[dict[str, Any]] = [{"type": "content_block_start", "index": index, "content_block": start}]
    events += [{"type": "content_block_delta", "index": index, "delta": d} for d in deltas]
    events.append({"type": "content_block_stop", "index": index})
    return events


@st.composite
def messages_streams(
    draw: st.DrawFn,
    *,
    dialect: str = "anyrouter",
    model: str | None = None,
    max_tool_calls: int = 3,
    tool_names: Sequence[str] | None = None,
) -> MessagesStream:
    """Streamed Anthropic messages (:class:`MessagesStream`): every event's data valid per
    ``schemas/messages-event.schema.json``, in the order the anthropic SDK requires.

    ``message_start`` (the message with empty ``content``, ``stop_reason: null`` and the
    input usage) then, per block, ``content_block_start`` / ``content_block_delta``* /
    ``content_block_stop`` (``thinking_delta`` pieces then one ``signature_delta``;
    ``text_delta``; ``input_json_delta`` pieces, sometimes led by an empty one, of the tool
    input's JSON compact, indented or ``\\u``-escaped; ``redacted_thinking`` whole in its
    start), ``message_delta`` (``stop_reason``, ``stop_sequence``, cumulative ``usage``:
    ``output_tokens``, sometimes the input counts again) and ``message_stop``.
    Adversarial within the SSE spec and the schemas: text and JSON cut at any code point
    with empty pieces; ``ping`` events and keep-alive comments anywhere after
    ``message_start``; the framing of :func:`_named_sse` (line ends, field spacing, the
    ``event:`` line last, JSON over several ``data:`` lines, escaped JSON, writes cut
    anywhere).

    Options as :func:`messages_responses`. Shrinks towards one text block in one delta, LF
    framing, one write.
    """
    _options(dialect, max_tool_calls, tool_names)
    answer = draw(_answer(model, max_tool_calls, tool_names))
    final = answer.message()
    start_usage = dict(answer.usage)
    start_usage["output_tokens"] = draw(st.sampled_from([1, 0]))
    delta_usage: dict[str, Any] = {"output_tokens": answer.usage["output_tokens"]}
    if "cache_read_input_tokens" in answer.usage and draw(st.booleans()):
        for key in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"):
            delta_usage[key] = answer.usage[key]
    elif draw(st.booleans()):
        start_usage["input_tokens"] = draw(st.integers(0, 1_000_000))  # sent again, final, in message_delta
        delta_usage["input_tokens"] = answer.usage["input_tokens"]
    opening = {**final, "content": [], "stop_reason": None, "stop_sequence": None, "usage": start_usage}
    chunks: list[dict[str, Any]] = [{"type": "message_start", "message": opening}]
    if draw(st.booleans()):
        chunks.append({"type": "ping"})
    for index, block in enumerate(answer.blocks):
        chunks += _block_events(draw, index, block)
    stop = {"stop_reason": answer.stop_reason, "stop_sequence": answer.stop_sequence}
    chunks.append({"type": "message_delta", "delta": stop, "usage": delta_usage})
    chunks.append({"type": "message_stop"})
    for position in sorted(draw(st.lists(st.integers(1, len(chunks) - 1), max_size=3)), reverse=True):
        chunks.insert(position, {"type": "ping"})
    comment = draw(st.sampled_from(COMMENTS))
    events: list[dict[str, Any] | str] = [comment] * draw(st.integers(0, 2))
    after = set(draw(st.lists(st.integers(0, len(chunks) - 1), max_size=3)))
    for i, chunk in enumerate(chunks):
        events.append(chunk)
        if i in after:
            events.append(comment)
    sse, writes = draw(_named_sse(events))
    return MessagesStream(dialect, events, chunks, sse, writes, final)
