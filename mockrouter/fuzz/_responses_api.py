"""The OpenAI Responses surface: request strategies (:func:`responses_requests`,
:func:`invalid_responses_requests`) and answer strategies (:func:`responses_responses`,
:class:`ResponsesResponse`; :func:`responses_streams`, :class:`ResponsesStream`), each answer
with ``.expected``: the final response a correct client (the openai SDK) holds, in the
compact form of :func:`responses_summary`."""

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

from ._assemble import responses_summary
from ._blocks import (
    _NAME,
    ALNUM,
    MODELS,
    _alnum,
    _check_dialect,
    _check_range,
    _interleave,
    _named_sse,
    _split,
    texts,
    tool_arguments,
)
from ._requests import InvalidRequest

KEEPALIVE = {"anyrouter": ": keep-alive", "openrouter": ": OPENROUTER PROCESSING"}
_HEX = "0123456789abcdef"
#: finish → (status, incomplete_details.reason).
_ENDINGS = {"stop": ("completed", None), "length": ("incomplete", "max_output_tokens")}
_ENDINGS["content_filter"] = ("incomplete", "content_filter")


# -- requests ------------------------------------------------------------------------------------


def _call_id() -> SearchStrategy[str]:
    return _alnum(24).map(lambda s: "call_" + s)


@cache
def _input_items() -> SearchStrategy[dict[str, Any]]:
    user_part = st.one_of(
        st.fixed_dictionaries({"type": st.just("input_text"), "text": texts()}),
        st.fixed_dictionaries(
            {"type": st.just("input_image")},
            optional={
                "image_url": st.sampled_from(["https://example.com/cat.png", "data:image/png;base64,iVBORw0KGgo="]),
                "detail": st.sampled_from(["auto", "low", "high"]),
            },
        ),
        st.fixed_dictionaries(
            {"type": st.just("input_file")},
            optional={
                "filename": st.just("report.pdf"),
                "file_data": st.just("data:application/pdf;base64,JVBERi0xLjQK"),
            },
        ),
    )
    message_type = {"type": st.just("message")}
    user = st.fixed_dictionaries(
        {
            "role": st.sampled_from(["user", "system", "developer"]),
            "content": texts() | st.lists(user_part, max_size=3),
        },
        optional=message_type,
    )
    output_text: SearchStrategy[dict[str, Any]] = st.fixed_dictionaries(
        {"type": st.just("output_text"), "text": texts()}, optional={"annotations": st.just([])}
    )
    assistant = st.fixed_dictionaries(
        {"role": st.just("assistant"), "content": texts() | st.lists(output_text, min_size=1, max_size=2)},
        optional=message_type,
    )
    call = st.fixed_dictionaries(
        {"type": st.just("function_call"), "call_id": _call_id(), "name": _NAME, "arguments": tool_arguments()},
        optional={"id": _alnum(24).map(lambda s: "fc_" + s)},
    )
    output = st.fixed_dictionaries({"type": st.just("function_call_output"), "call_id": _call_id(), "output": texts()})
    reasoning = st.fixed_dictionaries(
        {
            "type": st.just("reasoning"),
            "id": _alnum(24).map(lambda s: "rs_" + s),
            "summary": st.lists(st.fixed_dictionaries({"type": st.just("summary_text"), "text": texts()}), max_size=2),
        }
    )
    return st.one_of(user, assistant, call, output, reasoning)


@cache
def _function_tools() -> SearchStrategy[list[dict[str, Any]]]:
    leaf = st.sampled_from([{"type": "string"}, {"type": "integer"}, {"type": "boolean"}, {"type": "number"}])
    props = st.dictionaries(st.from_regex(r"[a-z_]{1,12}", fullmatch=True), leaf, max_size=3)
    parameters = props.map(
        lambda p: {"type": "object", "properties": p, "required": sorted(p), "additionalProperties": False}
    )
    tool = st.fixed_dictionaries(
        {"type": st.just("function"), "name": _NAME},
        optional={"description": texts(max_pieces=4), "parameters": parameters, "strict": st.booleans()},
    )
    return st.lists(tool, min_size=1, max_size=4, unique_by=lambda t: t["name"])


@st.composite
def responses_requests(
    draw: st.DrawFn, *, model: str | None = None, stream: bool | None = None, max_items: int = 6
) -> dict[str, Any]:
    """OpenAI Responses request bodies, valid per ``schemas/responses-request.schema.json``
    and answerable by a stateless router (no ``store: true``, no ``previous_response_id``).

    ``input`` a string or items: messages of every role (``type: "message"`` or not) with
    string content or parts (``input_text``, ``input_image``, ``input_file``; an assistant's
    ``output_text``), ``function_call``, ``function_call_output`` and ``reasoning`` items.
    Optional: ``instructions``, function ``tools`` and ``tool_choice`` (``auto``, ``none``,
    ``required``, a named function), ``reasoning`` (``effort``, ``summary``),
    ``max_output_tokens`` (≥ 16), ``temperature`` (0..2), ``top_p``, ``text.format``
    (``text``, ``json_object``, ``json_schema``), ``metadata``, ``parallel_tool_calls``,
    ``store: false``, ``truncation``, ``user``, ``stream``.

    ``model``: use this model (drawn otherwise). ``stream``: fix ``stream`` (``None`` draws
    it, absent included). ``max_items``: at most this many input items (at least 1).

    Shrinks towards ``{"model": ..., "input": ""}``.
    """
    _check_range("max_items", max_items, 1)
    if model is not None and (not isinstance(model, str) or not model):
        raise InvalidArgument(f"model={model!r}: expected a non-empty string")
    body: dict[str, Any] = {"model": model or draw(st.sampled_from(MODELS))}
    body["input"] = draw(texts() | st.lists(_input_items(), min_size=1, max_size=max_items))
    if stream is not None:
        body["stream"] = stream
    else:
        drawn = draw(st.sampled_from(["absent", False, True]))
        if drawn != "absent":
            body["stream"] = drawn
    schema: dict[str, Any] = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
    schema["additionalProperties"] = False
    optional: dict[str, SearchStrategy[Any]] = {
        "instructions": texts(),
        "reasoning": st.fixed_dictionaries(
            {},
            optional={
                "effort": st.sampled_from(["minimal", "low", "medium", "high"]),
                "summary": st.sampled_from(["auto", "concise", "detailed"]),
            },
        ),
        "max_output_tokens": st.sampled_from([16, 4096]) | st.integers(16, 100_000),
        "temperature": st.sampled_from([0, 2]) | st.floats(0, 2),
        "top_p": st.floats(0, 1),
        "text": st.sampled_from(
            [
                {"format": {"type": "text"}},
                {"format": {"type": "json_object"}},
                {"format": {"type": "json_schema", "name": "answer", "schema": schema, "strict": True}},
            ]
        ),
        "metadata": st.dictionaries(st.text(alphabet=ALNUM, min_size=1, max_size=8), texts(max_pieces=3), max_size=3),
        "parallel_tool_calls": st.booleans(),
        "store": st.just(False),
        "truncation": st.sampled_from(["auto", "disabled"]),
        "user": st.text(alphabet=ALNUM, max_size=16),
    }
    for name in sorted(draw(st.lists(st.sampled_from(sorted(optional)), unique=True, max_size=5))):
        body[name] = draw(optional[name])
    if draw(st.booleans()):
        tools = draw(_function_tools())
        body["tools"] = tools
        kind = draw(st.sampled_from(["absent", "auto", "none", "required", "named"]))
        if kind == "named":
            body["tool_choice"] = {"type": "function", "name": draw(st.sampled_from([t["name"] for t in tools]))}
        elif kind != "absent":
            body["tool_choice"] = kind
    return body


@st.composite
def invalid_responses_requests(draw: st.DrawFn, *, model: str | None = None) -> InvalidRequest:
    """Responses request bodies broken at one known JSON path (:class:`InvalidRequest`).

    Starts from a :func:`responses_requests` body and applies one break: ``input`` of the
    wrong type; ``temperature`` above 2; ``max_output_tokens`` below 1 or not an integer;
    ``stream`` not a boolean; a function tool without ``name``; an unknown ``tool_choice``;
    an unknown ``reasoning.effort``; a ``metadata`` value that is not a string; a ``model``
    that is not a string; a body that is not an object. Shrinks towards the first of those
    breaks on the smallest body.
    """
    body = copy.deepcopy(draw(responses_requests(model=model)))
    breaks = ["input", "temperature", "max_output_tokens", "stream", "tool_name", "tool_choice"]
    breaks += ["reasoning", "metadata", "model", "not_object"]
    kind = draw(st.sampled_from(breaks))
    if kind == "input":
        body["input"] = draw(st.sampled_from([42, None, {"role": "user"}, True]))
        return InvalidRequest(body, "input", "input is neither a string nor a list of items")
    if kind == "temperature":
        body["temperature"] = draw(st.sampled_from([2.5, -1, "hot"]))
        return InvalidRequest(body, "temperature", "temperature outside 0..2")
    if kind == "max_output_tokens":
        body["max_output_tokens"] = draw(st.sampled_from([0, -5, "many", 1.5]))
        return InvalidRequest(body, "max_output_tokens", "max_output_tokens below 1 or not an integer")
    if kind == "stream":
        body["stream"] = draw(st.sampled_from(["yes", 1]))
        return InvalidRequest(body, "stream", "stream is not a boolean")
    if kind == "tool_name":
        if "tools" not in body:
            body["tools"] = [{"type": "function", "name": "get_weather"}]
        k = draw(st.integers(0, len(body["tools"]) - 1))
        del body["tools"][k]["name"]
        body.pop("tool_choice", None)
        return InvalidRequest(body, f"tools[{k}]", "function tool without name")
    if kind == "tool_choice":
        body["tool_choice"] = draw(st.sampled_from(["sometimes", "any", 7]))
        return InvalidRequest(body, "tool_choice", "unknown tool_choice")
    if kind == "reasoning":
        body["reasoning"] = {"effort": "extreme"}
        return InvalidRequest(body, "reasoning.effort", "unknown reasoning effort")
    if kind == "metadata":
        body["metadata"] = {"k": draw(st.sampled_from([1, True, ["x"]]))}
        return InvalidRequest(body, "metadata.k", "metadata value is not a string")
    if kind == "model":
        body["model"] = draw(st.sampled_from([42, None, ["m"]]))
        return InvalidRequest(body, "model", "model is not a string")
    assert kind == "not_object"
    return InvalidRequest(draw(st.sampled_from([[body], "hello", 42, None])), "", "body is not a JSON object")


# -- answers -------------------------------------------------------------------------------------


def _options(dialect: str, max_tool_calls: int, tool_names: Sequence[str] | None) -> None:
    _check_dialect(dialect)
    _check_range("max_tool_calls", max_tool_calls, 0, 16)
    if tool_names is not None and (
        isinstance(tool_names, str) or not all(isinstance(n, str) and n for n in tool_names)
    ):
        raise InvalidArgument(f"tool_names={tool_names!r}: expected a list of non-empty names")


def _hex_id(prefix: str, k: int = 0) -> SearchStrategy[str]:
    """``prefix`` and 48 hex digits, the last four ``k`` (ids of one answer's items differ)."""
    return st.text(alphabet=_HEX, min_size=44, max_size=44).map(lambda s: f"{prefix}{s}{k:04x}")


@dataclass
class _Answer:
    """One drawn answer: the final response object and its items, before the wire."""

    response: dict[str, Any]
    items: list[dict[str, Any]]


@st.composite
def _answer(
    draw: st.DrawFn, dialect: str, model: str | None, max_tool_calls: int, tool_names: Sequence[str] | None
) -> _Answer:
    items: list[dict[str, Any]] = []
    if draw(st.booleans()):
        summary = [{"type": "summary_text", "text": draw(texts())} for _ in range(draw(st.integers(0, 2)))]
        items.append({"type": "reasoning", "id": draw(_hex_id("rs_")), "summary": summary})
    calls = []
    if max_tool_calls and tool_names != [] and draw(st.booleans()):
        names = st.sampled_from(list(tool_names)) if tool_names else _NAME
        for k in range(draw(st.integers(1, max_tool_calls))):
            call = {
                "type": "function_call",
                "id": draw(_hex_id("fc_", k)),
                "call_id": f"call_{draw(_alnum(22))}{k:02d}",
            }
            call |= {"name": draw(names), "arguments": draw(tool_arguments()), "status": "completed"}
            calls.append(call)
    finish = "tool_calls" if calls else draw(st.sampled_from(["stop", "length", "content_filter"]))
    status, reason = _ENDINGS.get(finish, ("completed", None))
    if not calls or draw(st.booleans()):  # a message: text, a refusal, or both
        parts: list[dict[str, Any]] = []
        if draw(st.integers(0, 5)) < 5:
            parts.append({"type": "output_text", "text": draw(texts()), "annotations": []})
        if not parts or draw(st.integers(0, 5)) == 5:
            parts.append({"type": "refusal", "refusal": draw(texts(max_pieces=3))})
        message: dict[str, Any] = {"type": "message", "id": draw(_hex_id("msg_")), "status": status}
        message["role"] = "assistant"
        message["content"] = parts
        items.append(message)
    items += calls
    usage: dict[str, Any] = {"input_tokens": draw(st.integers(0, 1_000_000))}
    usage["input_tokens_details"] = {"cached_tokens": draw(st.integers(0, usage["input_tokens"]))}
    usage["output_tokens"] = draw(st.integers(0, 100_000))
    usage["output_tokens_details"] = {"reasoning_tokens": draw(st.integers(0, usage["output_tokens"]))}
    usage["total_tokens"] = usage["input_tokens"] + usage["output_tokens"]
    if dialect == "openrouter" and draw(st.booleans()):
        usage["cost"] = draw(st.sampled_from([0, 0.0]) | st.floats(0, 100))
    response: dict[str, Any] = {
        "id": draw(_hex_id("resp_")),
        "object": "response",
        "created_at": draw(st.integers(1_600_000_000, 2_000_000_000)),
        "status": status,
        "error": None,
        "incomplete_details": {"reason": reason} if reason else None,
        "instructions": draw(st.none() | texts(max_pieces=3)),
        "max_output_tokens": draw(st.none() | st.integers(16, 100_000)),
        "model": model or draw(st.sampled_from(MODELS)),
        "output": items,
        "parallel_tool_calls": draw(st.booleans()),
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "store": False,
        "temperature": draw(st.sampled_from([1.0, 0.0, 0.7])),
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": usage,
        "user": None,
        "metadata": {},
    }
    return _Answer(response, items)


@dataclass(frozen=True)
class ResponsesResponse:
    """A non-streaming OpenAI Responses answer: ``body`` (bytes, ``content_type``), ``data``
    (the parsed JSON response object) and ``expected`` — what a correct client reads, as
    :func:`responses_summary` cuts it: ``{"id", "model", "status", "incomplete_details",
    "output", "usage"}``, ``output`` items reasoning ``{type, id, summary: [{type, text}]}``,
    message ``{type, id, role, content: [{type: "output_text", text} | {type: "refusal",
    refusal}]}`` and function call ``{type, id, call_id, name, arguments}``."""

    dialect: str
    data: dict[str, Any]
    body: bytes
    expected: dict[str, Any]
    content_type: str = "application/json"
    stream: bool = False

    @property
    def generation_id(self) -> str:
        """The answer's id (``resp_…``)."""
        return str(self.data["id"])


@st.composite
def responses_responses(
    draw: st.DrawFn,
    *,
    dialect: str = "anyrouter",
    model: str | None = None,
    max_tool_calls: int = 3,
    tool_names: Sequence[str] | None = None,
) -> ResponsesResponse:
    """Non-streaming Responses answers (:class:`ResponsesResponse`), valid per
    ``schemas/responses-response.schema.json``.

    Adversarial within the schema: a reasoning item with zero, one or two summary parts;
    a message with unicode text (astral, combining, ZWJ, line separators, NUL, text that
    looks like SSE), a refusal part, or both; parallel function calls (with or without a
    message) whose ``arguments`` are pretty-printed, ``\\u``-escaped, empty or ``{}``;
    ``status: "incomplete"`` with ``incomplete_details.reason`` ``max_output_tokens`` or
    ``content_filter``; bodies ``\\uXXXX``-escaped or indented.

    ``dialect``: ``anyrouter`` or ``openrouter``. ``model``: the ``model`` field (drawn
    when ``None``). ``max_tool_calls``: at most this many function calls (0: none).
    ``tool_names``: call only these tools (``[]``: none; ``None``: drawn names).

    Shrinks towards one message with short ASCII text, ``completed``, compact JSON.
    """
    _options(dialect, max_tool_calls, tool_names)
    answer = draw(_answer(dialect, model, max_tool_calls, tool_names))
    data = answer.response
    encoding = draw(st.sampled_from(["compact", "ascii", "indent"]))
    if encoding == "compact":
        body = orjson.dumps(data)
    else:
        body = json.dumps(data, ensure_ascii=encoding == "ascii", indent=2 if encoding == "indent" else None).encode()
    return ResponsesResponse(dialect, data, body, responses_summary(data))


@dataclass(frozen=True)
class ResponsesStream:
    """A streamed OpenAI Responses answer.

    ``sse`` is the whole ``text/event-stream`` body: named events whose data carry ``type``
    and a strictly growing ``sequence_number``, no ``[DONE]``; ``writes`` the same bytes cut
    where a server would flush them. ``events`` is what it carries, in order: the data
    objects (each sent as ``event: <its type>``) and comment lines; ``chunks`` only the data
    objects. ``expected`` is the final answer a correct client holds (see
    :class:`ResponsesResponse`); :func:`assemble_responses` is the reference accumulator.
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
        """The answer's id (``resp_…``, in ``response.created``)."""
        return str(self.chunks[0]["response"]["id"])


def _opened(item: dict[str, Any]) -> dict[str, Any]:
    """An item as ``response.output_item.added`` shows it: in progress, nothing said yet."""
    kind = item["type"]
    if kind == "message":
        return {**item, "status": "in_progress", "content": []}
    if kind == "function_call":
        return {**item, "status": "in_progress", "arguments": ""}
    return {**item, "summary": []}


def _item_events(draw: st.DrawFn, index: int, item: dict[str, Any]) -> list[dict[str, Any]]:
    """One output item's events, without sequence numbers: added, its parts and deltas, done."""
    at = {"item_id": item["id"], "output_index": index}
    events: list[dict[str, Any]] = [
        {"type": "response.output_item.added", "output_index": index, "item": _opened(item)}
    ]
    if item["type"] == "reasoning":
        for k, part in enumerate(item["summary"]):
            where = {**at, "summary_index": k}
            events.append({"type": "response.reasoning_summary_part.added", **where, "part": {**part, "text": ""}})
            for piece in draw(_split(part["text"])):
                events.append({"type": "response.reasoning_summary_text.delta", **where, "delta": piece})
            events.append({"type": "response.reasoning_summary_text.done", **where, "text": part["text"]})
            events.append({"type": "response.reasoning_summary_part.done", **where, "part": part})
    elif item["type"] == "message":
        for k, part in enumerate(item["content"]):
            where = {**at, "content_index": k}
            key = "refusal" if part["type"] == "refusal" else "text"
            empty = {**part, key: ""}
            events.append({"type": "response.content_part.added", **where, "part": empty})
            name = "response.refusal" if key == "refusal" else "response.output_text"
            extra: dict[str, Any] = {"logprobs": []} if key == "text" else {}
            for piece in draw(_split(part[key])):
                events.append({"type": f"{name}.delta", **where, "delta": piece, **extra})
            events.append({"type": f"{name}.done", **where, key: part[key], **extra})
            events.append({"type": "response.content_part.done", **where, "part": part})
    else:
        for piece in draw(_split(item["arguments"])):
            events.append({"type": "response.function_call_arguments.delta", **at, "delta": piece})
        events.append({"type": "response.function_call_arguments.done", **at, "arguments": item["arguments"]})
    events.append({"type": "response.output_item.done", "output_index": index, "item": item})
    return events


@st.composite
def responses_streams(
    draw: st.DrawFn,
    *,
    dialect: str = "anyrouter",
    model: str | None = None,
    max_tool_calls: int = 3,
    tool_names: Sequence[str] | None = None,
) -> ResponsesStream:
    """Streamed Responses answers (:class:`ResponsesStream`): every event's data valid per
    ``schemas/responses-event.schema.json``, in the order openai's strict
    ``ResponseStreamState`` requires.

    ``response.created`` and ``response.in_progress`` (the response in progress, no output
    yet), then per item ``response.output_item.added``, its parts (``…content_part.added``,
    ``response.output_text.delta``* or ``response.refusal.delta``*, their ``…done``,
    ``…content_part.done``; reasoning summaries likewise; function-call argument deltas and
    ``…arguments.done``) and ``response.output_item.done``, and at last
    ``response.completed`` or ``response.incomplete`` with the whole response. Sequence
    numbers count from 0. Adversarial within the SSE spec and the schemas: text and
    arguments cut at any code point with empty pieces; the events of parallel function
    calls interleaved (each call's own order kept, output indices in the order the calls
    open); keep-alive comments anywhere; the framing of :func:`_named_sse`.

    Options as :func:`responses_responses`. Shrinks towards one message in one delta, LF
    framing, one write.
    """
    _options(dialect, max_tool_calls, tool_names)
    answer = draw(_answer(dialect, model, max_tool_calls, tool_names))
    final = answer.response
    items = answer.items
    first_call = next((i for i, item in enumerate(items) if item["type"] == "function_call"), len(items))
    calls = items[first_call:]
    per_call = [_item_events(draw, 0, call) for call in calls]
    # the calls' events interleaved, each call's own order kept; output indices in opening order
    order = _interleave(draw, [[k] * len(events) for k, events in enumerate(per_call)])
    opening = list(dict.fromkeys(order))
    for position, k in enumerate(opening):
        for event in per_call[k]:
            event["output_index"] = first_call + position
    items[first_call:] = [calls[k] for k in opening]
    progress = {**final, "status": "in_progress", "output": [], "usage": None, "incomplete_details": None}
    chunks: list[dict[str, Any]] = [{"type": "response.created", "response": progress}]
    chunks.append({"type": "response.in_progress", "response": progress})
    for index, item in enumerate(items[:first_call]):
        chunks += _item_events(draw, index, item)
    cursors = [0] * len(per_call)
    for k in order:
        chunks.append(per_call[k][cursors[k]])
        cursors[k] += 1
    ending = "response.completed" if final["status"] == "completed" else "response.incomplete"
    chunks.append({"type": ending, "response": final})
    chunks = [{"type": c["type"], "sequence_number": n, **c} for n, c in enumerate(chunks)]
    comment = draw(st.sampled_from([KEEPALIVE[dialect], ":"]))
    events: list[dict[str, Any] | str] = [comment] * draw(st.integers(0, 2))
    after = set(draw(st.lists(st.integers(0, len(chunks) - 1), max_size=3)))
    for i, chunk in enumerate(chunks):
        events.append(chunk)
        if i in after:
            events.append(comment)
    sse, writes = draw(_named_sse(events))
    return ResponsesStream(dialect, events, chunks, sse, writes, responses_summary(final))
