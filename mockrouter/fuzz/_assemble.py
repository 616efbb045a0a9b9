"""The reference accumulators of the Anthropic Messages and OpenAI Responses surfaces: SSE
bytes → the final answer a correct client holds (:func:`assemble_messages`,
:func:`assemble_responses`), and the compact form of a Responses answer both compare
(:func:`responses_summary`). No hypothesis here, as in ``_sse``.

Each follows its official SDK's accumulator (anthropic's ``accumulate_event``, openai's
``ResponseStreamState``) and is stricter where the SDK would build a wrong answer quietly:
a stream that ends before its last event, deltas that disagree with the ``.done`` event that
repeats them, a block or item addressed before it was opened.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from ..errors import StreamError
from ._sse import sse_named_events

# -- Anthropic Messages --------------------------------------------------------------------------


def assemble_messages(sse: bytes | Iterable[bytes]) -> dict[str, Any]:
    """The final Anthropic message a correct client assembles from a Messages stream, as
    :attr:`MessagesStream.expected`: ``message_start``'s message with the content blocks
    built from ``content_block_start``/``_delta`` (``text_delta`` appended to ``text``,
    ``thinking_delta`` to ``thinking``, ``signature_delta`` replacing ``signature``,
    ``input_json_delta`` concatenated and parsed into ``input`` at ``content_block_stop``),
    ``stop_reason``/``stop_sequence`` from ``message_delta``, and ``usage`` as the SDK keeps
    it (``message_start``'s, each non-null count of ``message_delta``'s usage replacing it).

    As the anthropic SDK: events without an ``event:`` name and ``ping`` events are skipped,
    the data's ``type`` says what an event is, unknown types are ignored. Raises
    :class:`StreamError` on an ``error`` event, data that is not JSON, an event before
    ``message_start``, a delta for a block not open, tool input that is not a JSON object,
    or a stream that ends without ``message_stop``."""
    message: dict[str, Any] | None = None
    buffers: dict[int, str] = {}
    for n, (name, data) in enumerate(sse_named_events(sse)):
        if name is None or name == "ping":
            continue
        if name == "error":
            raise StreamError(f"event {n}: in-band error: {data[:300]}")
        event = _json_object(n, data)
        kind = event.get("type")
        if message is None:
            if kind != "message_start":
                raise StreamError(f"event {n}: {kind!r} before message_start")
            message = json.loads(json.dumps(event["message"]))  # a copy
            message["content"] = list(message.get("content") or [])
            continue
        if kind == "message_stop":
            return message
        _messages_event(n, event, message, buffers)
    raise StreamError("the stream ended without message_stop")


def _messages_event(n: int, event: dict[str, Any], message: dict[str, Any], buffers: dict[int, str]) -> None:
    kind = event.get("type")
    content: list[dict[str, Any]] = message["content"]
    if kind == "content_block_start":
        if event.get("index") != len(content):
            raise StreamError(f"event {n}: content_block_start index {event.get('index')!r}, expected {len(content)}")
        content.append(dict(event["content_block"]))
    elif kind == "content_block_delta":
        _messages_delta(n, event, _block(n, event, content), buffers)
    elif kind == "content_block_stop":
        block = _block(n, event, content)
        index: int = event["index"]
        if block.get("type") == "tool_use" and buffers.get(index):
            try:
                value = json.loads(buffers.pop(index))
            except ValueError as exc:
                raise StreamError(f"event {n}: the tool input of block {index} is not JSON: {exc}") from None
            if not isinstance(value, dict):
                raise StreamError(f"event {n}: the tool input of block {index} is not a JSON object")
            block["input"] = value
    elif kind == "message_delta":
        delta = event.get("delta") or {}
        message["stop_reason"] = delta.get("stop_reason")
        message["stop_sequence"] = delta.get("stop_sequence")
        usage = message.setdefault("usage", {})
        for key, value in (event.get("usage") or {}).items():
            if value is not None or key == "output_tokens":
                usage[key] = value


def _block(n: int, event: dict[str, Any], content: list[dict[str, Any]]) -> dict[str, Any]:
    index = event.get("index")
    if not isinstance(index, int) or not 0 <= index < len(content):
        raise StreamError(f"event {n}: {event.get('type')} for block {index!r}, which was not started")
    return content[index]


def _messages_delta(n: int, event: dict[str, Any], block: dict[str, Any], buffers: dict[int, str]) -> None:
    delta = event.get("delta") or {}
    kind, block_type = str(delta.get("type")), block.get("type")
    wanted = {
        "text_delta": ("text", "text"),
        "thinking_delta": ("thinking", "thinking"),
        "signature_delta": ("thinking", "signature"),
        "input_json_delta": ("tool_use", "partial_json"),
    }.get(kind)
    if wanted is None:
        return  # citations_delta and what comes next: not part of the message we compare
    if wanted[0] != block_type:
        raise StreamError(f"event {n}: a {kind} for a {block_type} block")
    if kind == "text_delta":
        block["text"] = block.get("text", "") + delta["text"]
    elif kind == "thinking_delta":
        block["thinking"] = block.get("thinking", "") + delta["thinking"]
    elif kind == "signature_delta":
        block["signature"] = delta["signature"]
    else:
        buffers[event["index"]] = buffers.get(event["index"], "") + delta["partial_json"]


def _json_object(n: int, data: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except ValueError as exc:
        raise StreamError(f"event {n}: not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise StreamError(f"event {n}: not a JSON object")
    return value


# -- OpenAI Responses ----------------------------------------------------------------------------

#: The events that end a Responses stream.
TERMINAL = ("response.completed", "response.incomplete", "response.failed")


def responses_summary(response: dict[str, Any]) -> dict[str, Any]:
    """The part of a Responses ``response`` object a client acts on, as
    :attr:`ResponsesStream.expected`: ``id``, ``model``, ``status``,
    ``incomplete_details``, ``usage`` and ``output`` with each item cut to what it says —
    reasoning ``{type, id, summary: [{type, text}]}``, message ``{type, id, role, content:
    [{type: "output_text", text} | {type: "refusal", refusal}]}``, function call ``{type,
    id, call_id, name, arguments}``; other item types as they are."""
    return {
        "id": response.get("id"),
        "model": response.get("model"),
        "status": response.get("status"),
        "incomplete_details": response.get("incomplete_details"),
        "output": [_item_summary(item) for item in response.get("output") or ()],
        "usage": response.get("usage"),
    }


def _item_summary(item: dict[str, Any]) -> dict[str, Any]:
    kind = item.get("type")
    if kind == "reasoning":
        summary = [{"type": p.get("type"), "text": p.get("text")} for p in item.get("summary") or ()]
        return {"type": kind, "id": item.get("id"), "summary": summary}
    if kind == "message":
        parts = []
        for part in item.get("content") or ():
            key = "refusal" if part.get("type") == "refusal" else "text"
            parts.append({"type": part.get("type"), key: part.get(key)})
        return {"type": kind, "id": item.get("id"), "role": item.get("role"), "content": parts}
    if kind == "function_call":
        keys = ("type", "id", "call_id", "name", "arguments")
        return {key: item.get(key) for key in keys}
    return dict(item)


def assemble_responses(sse: bytes | Iterable[bytes]) -> dict[str, Any]:
    """The final answer a correct client holds after a Responses stream, as
    :attr:`ResponsesStream.expected` (:func:`responses_summary` of the last event's
    ``response``, whose ``output`` is, when that response leaves it out, the items the
    stream built).

    Checks what openai's ``ResponseStreamState`` checks and more: the first event is
    ``response.created``; ``sequence_number`` grows strictly; every lifecycle event carries
    the same response id; an output index is added once, and content, text, argument and
    summary events address an item (and part) already added; each ``…done`` event repeats
    exactly what the deltas built; ``response.output_item.done`` has the added item's
    identity and the built content; the final ``output`` agrees with the items built.
    Raises :class:`StreamError` on any break, on an ``error`` event, a ``response.failed``,
    data that is not JSON, or a stream without a final event."""
    state = _ResponsesState()
    for n, (_, data) in enumerate(sse_named_events(sse)):
        if state.final is not None:
            raise StreamError(f"event {n}: an event after {state.final.get('status')!r} ended the stream")
        state.handle(n, _json_object(n, data))
    if state.final is None:
        raise StreamError("the stream ended without response.completed, response.incomplete or response.failed")
    return state.result()


class _ResponsesState:
    """One Responses stream being read: the response, the items by output index."""

    def __init__(self) -> None:
        self.response: dict[str, Any] | None = None
        self.final: dict[str, Any] | None = None
        self.sequence = -1
        self.items: dict[int, dict[str, Any]] = {}
        self.done: dict[int, dict[str, Any]] = {}

    def handle(self, n: int, event: dict[str, Any]) -> None:
        kind = event.get("type")
        number = event.get("sequence_number")
        if not isinstance(number, int) or isinstance(number, bool) or number <= self.sequence:
            raise StreamError(f"event {n}: sequence_number {number!r} after {self.sequence}")
        self.sequence = number
        if kind == "error":
            raise StreamError(f"event {n}: in-band error: {event.get('code')!r}: {event.get('message')!r}")
        if self.response is None:
            if kind != "response.created":
                raise StreamError(f"event {n}: {kind!r} before response.created")
            self.response = event["response"]
            return
        if kind in (*TERMINAL, "response.created", "response.in_progress", "response.queued"):
            self._lifecycle(n, kind, event)
        elif kind == "response.output_item.added":
            index = event["output_index"]
            if index in self.items:
                raise StreamError(f"event {n}: output index {index} added twice")
            self.items[index] = json.loads(json.dumps(event["item"]))
        elif kind == "response.output_item.done":
            self._item_done(n, event)
        elif isinstance(kind, str):
            self._content(n, kind, event)

    def _lifecycle(self, n: int, kind: str, event: dict[str, Any]) -> None:
        response = event.get("response") or {}
        assert self.response is not None
        if response.get("id") != self.response.get("id"):
            raise StreamError(f"event {n}: {kind} for response {response.get('id')!r}, not {self.response.get('id')!r}")
        if kind == "response.failed":
            raise StreamError(f"event {n}: response.failed: {response.get('error')!r}")
        if kind in TERMINAL:
            self.final = response

    def _item(self, n: int, event: dict[str, Any]) -> dict[str, Any]:
        index = event.get("output_index")
        if index not in self.items:
            raise StreamError(f"event {n}: {event.get('type')} for output index {index!r}, which was not added")
        return self.items[index]

    def _content(self, n: int, kind: str, event: dict[str, Any]) -> None:
        item = self._item(n, event)
        if kind in ("response.content_part.added", "response.reasoning_summary_part.added"):
            key, at = (
                ("content", "content_index") if kind.endswith("content_part.added") else ("summary", "summary_index")
            )
            parts = item.setdefault(key, [])
            if event.get(at) != len(parts):
                raise StreamError(f"event {n}: {kind} at {at} {event.get(at)!r}, expected {len(parts)}")
            parts.append(dict(event["part"]))
            return
        if kind == "response.function_call_arguments.delta":
            item["arguments"] = item.get("arguments", "") + event["delta"]
        elif kind == "response.function_call_arguments.done":
            _same(n, kind, item.get("arguments"), event.get("arguments"))
        elif kind in _TEXT_EVENTS:
            key, at, field = _TEXT_EVENTS[kind]
            parts = item.get(key) or []
            index = event.get(at)
            if not isinstance(index, int) or not 0 <= index < len(parts):
                raise StreamError(f"event {n}: {kind} for {at} {index!r}, which was not added")
            part = parts[index]
            if kind.endswith(".delta"):
                part[field] = part.get(field, "") + event["delta"]
            else:
                _same(n, kind, part.get(field), event.get(field))
        elif kind in ("response.content_part.done", "response.reasoning_summary_part.done"):
            key, at = (
                ("content", "content_index") if kind.endswith("content_part.done") else ("summary", "summary_index")
            )
            parts = item.get(key) or []
            index = event.get(at)
            if not isinstance(index, int) or not 0 <= index < len(parts):
                raise StreamError(f"event {n}: {kind} for {at} {index!r}, which was not added")
            _same(n, kind, _part_text(parts[index]), _part_text(event.get("part") or {}))

    def _item_done(self, n: int, event: dict[str, Any]) -> None:
        added = self._item(n, event)
        item = event["item"]
        identity = ("type", "id", "call_id")
        if any(added.get(k) != item.get(k) for k in identity):
            raise StreamError(f"event {n}: output_item.done for another item than was added")
        _same(n, "response.output_item.done", _item_summary(added), _item_summary(item))
        self.done[event["output_index"]] = item

    def result(self) -> dict[str, Any]:
        assert self.final is not None
        built = [self.done.get(i, self.items[i]) for i in sorted(self.items)]
        final = dict(self.final)
        if final.get("output") is None:
            final["output"] = built
        summary = responses_summary(final)
        if summary["output"] != [_item_summary(item) for item in built]:
            raise StreamError("the final response's output differs from the items the stream built")
        return summary


#: text events → (the item's list, the index field, the part's text field).
_TEXT_EVENTS = {
    "response.output_text.delta": ("content", "content_index", "text"),
    "response.output_text.done": ("content", "content_index", "text"),
    "response.refusal.delta": ("content", "content_index", "refusal"),
    "response.refusal.done": ("content", "content_index", "refusal"),
    "response.reasoning_summary_text.delta": ("summary", "summary_index", "text"),
    "response.reasoning_summary_text.done": ("summary", "summary_index", "text"),
}


def _part_text(part: dict[str, Any]) -> Any:
    return part.get("refusal") if part.get("type") == "refusal" else part.get("text")


def _same(n: int, kind: str, built: Any, said: Any) -> None:
    if built != said:
        raise StreamError(f"event {n}: {kind} says {said!r}, the deltas built {built!r}")
