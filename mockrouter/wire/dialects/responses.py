"""The OpenAI Responses surface (``POST /responses``): a reply as a ``response`` object, or as
the named SSE events of a streamed response.

The body is ``{"id": "resp_…", "object": "response", "status", "output": [items], "usage",
…}`` with the request's settings echoed as the API echoes them. ``output`` holds, in order, a
``reasoning`` item (the reasoning as its summary), a ``message`` item (``output_text`` and/or
``refusal`` parts) and one ``function_call`` item per tool call. ``length`` and
``content_filter`` make the response ``incomplete`` (``incomplete_details.reason``
``max_output_tokens`` / ``content_filter``).

A stream is named events (``event: TYPE`` + ``data: {"type": TYPE, "sequence_number": N, …}``,
no ``[DONE]``): ``response.created`` and ``response.in_progress``, then per output item
``response.output_item.added``, its parts and deltas and their ``….done``,
``response.output_item.done``, and last ``response.completed`` (``response.incomplete``,
``response.failed``) carrying the same response object as the JSON body. The openai SDK's
stream helper checks this order strictly (an item's events only after it was added, every
added item done before the response completes, ids that never change), so
:class:`ResponsesStream` derives every item and id from the reply once and walks them in
order, whatever events the reply's pieces arrive as. A static reply (its texts fixed when the
scenario loaded) is rendered once: its finished response and its stream are kept as bytes
around the response id (:class:`Shape`, in the reply's memo; :class:`CompiledStream`), so a
request only joins in its id, time, echoed settings and usage. An in-band error is an ``error`` event
followed by ``response.failed``: ``responses.stream(...).get_final_response()`` then raises
(no ``response.completed``), and so does ``openai-agents``.

:class:`OpenRouterResponses` adds OpenRouter's usage fields (``cost``, ``is_byok``,
``cost_details``), its echoed penalties, the ``error_type`` of a failed response, and its
Responses error envelope (``{"error": {"code": "invalid_prompt", "message"}, "metadata":
null}``: string codes, documented for this API apart from chat's).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ...core.ids import random_id
from ...core.reply import (
    ContentPiece,
    Event,
    Finish,
    HttpError,
    ReasoningPiece,
    RefusalPiece,
    Reply,
    Role,
    ToolCallFragment,
    Usage,
    UsageReport,
)
from .base import Dialect, Encoder, Identity, StreamEncoder, dumps
from .openai import MAX_MODELS_PER_STEP, MAX_USAGES_PER_BODY

__all__ = [
    "CompiledStream",
    "Frame",
    "OpenRouterResponses",
    "ResponsesEncoder",
    "ResponsesStream",
    "Shape",
    "TrackedStream",
    "error_code",
    "status_of",
]

#: finish_reason -> (status, incomplete_details.reason).
STATUSES: dict[str, tuple[str, str | None]] = {
    "stop": ("completed", None),
    "tool_calls": ("completed", None),
    "length": ("incomplete", "max_output_tokens"),
    "content_filter": ("incomplete", "content_filter"),
    "error": ("failed", None),
}
#: The terminal stream event of each status.
TERMINAL = {"completed": "response.completed", "incomplete": "response.incomplete", "failed": "response.failed"}
#: What a ``malformed`` fault sends: a named event whose data the SDK cannot parse as JSON.
MALFORMED = b'event: response.output_text.delta\ndata: {"type": this is not JSON\n\n'


def status_of(finish_reason: str) -> tuple[str, str | None]:
    """The response ``status`` and ``incomplete_details.reason`` of a finish reason (a
    scripted reason the API has no word for completes the response)."""
    return STATUSES.get(finish_reason, ("completed", None))


def error_code(error: HttpError) -> str:
    """The Responses API's error code for ``error``: a scripted string code as it is, else
    by status (``rate_limit_exceeded``, ``invalid_prompt``, ``server_error``)."""
    if isinstance(error.code, str):
        return error.code
    if error.status == 429:
        return "rate_limit_exceeded"
    if 400 <= error.status < 500:
        return "invalid_prompt"
    return "server_error"


def _head(kind: str) -> bytes:
    """The bytes of an event named ``kind`` up to its fields."""
    return b"event: " + kind.encode() + b'\ndata: {"type":"' + kind.encode() + b'"'


# The head of every event this surface sends, made once.
CREATED = _head("response.created")
IN_PROGRESS = _head("response.in_progress")
ITEM_ADDED = _head("response.output_item.added")
ITEM_DONE = _head("response.output_item.done")
PART_ADDED = _head("response.content_part.added")
PART_DONE = _head("response.content_part.done")
TEXT_DELTA = _head("response.output_text.delta")
TEXT_DONE = _head("response.output_text.done")
REFUSAL_DELTA = _head("response.refusal.delta")
REFUSAL_DONE = _head("response.refusal.done")
SUMMARY_PART_ADDED = _head("response.reasoning_summary_part.added")
SUMMARY_PART_DONE = _head("response.reasoning_summary_part.done")
SUMMARY_DELTA = _head("response.reasoning_summary_text.delta")
SUMMARY_DONE = _head("response.reasoning_summary_text.done")
ARGS_DELTA = _head("response.function_call_arguments.delta")
ARGS_DONE = _head("response.function_call_arguments.done")
ERROR = _head("error")
TERMINAL_HEADS = {kind: _head(kind) for kind in TERMINAL.values()}
#: What ends every event: its sequence number (``%`` the number).
SEQ = b',"sequence_number":%d}\n\n'


#: What stands for a response id's tail (the part after ``resp_``) in compiled bytes: the
#: ids of a response's reasoning and message items end with it.
MARK = "\x00tail\x00"
_MARKED = Identity("resp_" + MARK, 0)
_MARK_BYTES = dumps(MARK)[1:-1]


@dataclass(slots=True)
class Frame:
    """What one answer's response objects share, as bytes: the head up to ``completed_at``'s
    value (id, ``created_at``), ``created_at``'s value, the id's tail, and the request's echoed
    settings (up to ``usage``'s value)."""

    head: bytes
    created: bytes
    tail: bytes
    echo: bytes


@dataclass(slots=True)
class Shape:
    """A reply's finished response as bytes around what changes per request (the id's tail,
    ``created_at``, the echo, the usage), made once for a static reply (kept in its memo)."""

    #: Whether ``completed_at`` is set.
    completed: bool
    #: ``,"status":…,"output":[…]``, split where the id's tail goes.
    pieces: list[bytes]
    #: The same, in progress and with no output yet (the stream's first snapshots).
    in_progress: bytes
    #: What follows the usage (a failed response's extra fields, the closing brace).
    end: bytes
    #: The head of the stream's last event.
    terminal: bytes
    #: The output's plan: the message's index (-1: none), the tool calls' indexes, whether
    #: the reasoning comes first, the message's output_text and refusal part indexes (-1: none).
    message: int
    calls: list[int]
    reasoning: bool
    text_part: int
    refusal_part: int
    #: Prompt tokens -> the ``usage`` bytes.
    usages: dict[int, bytes] = field(default_factory=dict)
    #: A static reply's stream (made by its first streamed answer): what each event between
    #: the first and the last makes, split where the id's tail goes (None: nothing).
    frames: list[list[bytes] | None] | None = None
    #: The sequence number of the stream's last event.
    last: int = 0


def snapshot_events(frame: Frame, shape: Shape) -> bytes:
    """``response.created`` and ``response.in_progress`` (sequence numbers 0 and 1)."""
    snapshot = b',"response":' + frame.head + b"null" + shape.in_progress + frame.echo + b"null}"
    return CREATED + snapshot + SEQ % 0 + IN_PROGRESS + snapshot + SEQ % 1


class ResponsesEncoder(Encoder):
    """OpenAI Responses as the OpenAI API writes them; a dialect subclasses it for what differs."""

    surface: ClassVar[str] = "responses"
    fault_as_status: ClassVar[bool] = True
    #: The request settings a response echoes, with the API's defaults (``store`` and
    #: ``previous_response_id`` are fixed: the routers keep no state).
    echo: ClassVar[dict[str, Any]] = {
        "instructions": None,
        "max_output_tokens": None,
        "parallel_tool_calls": True,
        "reasoning": {"effort": None, "summary": None},
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "user": None,
        "metadata": {},
        "previous_response_id": None,
        "store": False,
    }
    #: Settings echoed as null when the request sends null (the others take their default).
    nullable: ClassVar[frozenset[str]] = frozenset(
        {"instructions", "max_output_tokens", "temperature", "top_p", "user"}
    )

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        #: The echoed settings a request sets (``store`` and ``previous_response_id`` are fixed).
        self.settable = frozenset(self.echo) - {"previous_response_id", "store"}
        #: Each echoed setting's ``"name":`` and its default field, as JSON bytes.
        self.labels = {key: dumps(key) + b":" for key in self.echo}
        self.defaults = {key: self.labels[key] + dumps(value) for key, value in self.echo.items()}
        #: The echo of a request that sets none of them; per setting, the others' defaults (for
        #: a request that sets just one, the common case: ``instructions``).
        self.default_echo = b"," + b",".join(self.defaults.values()) + b',"usage":'
        self.others = {
            key: b"".join(b"," + field for other, field in self.defaults.items() if other != key) + b',"usage":'
            for key in self.echo
        }

    def identity(self, rng: random.Random, created: int) -> Identity:
        return Identity("resp_" + random_id(rng, 48), created)

    # -- the parts of a response -------------------------------------------------------------------

    def output(self, reply: Reply, identity: Identity) -> list[dict[str, Any]]:
        """The response's output items, complete (what the stream's ``output_item.done`` send)."""
        tail = identity.id[5:]
        items: list[dict[str, Any]] = []
        if reply.reasoning:
            items.append(
                {
                    "id": "rs_" + tail,
                    "type": "reasoning",
                    "summary": [{"type": "summary_text", "text": reply.reasoning}],
                }
            )
        if reply.content or reply.refusal is not None or not reply.tool_calls:
            items.append(
                {
                    "id": "msg_" + tail,
                    "type": "message",
                    "status": "completed" if status_of(reply.finish_reason)[0] == "completed" else "incomplete",
                    "role": "assistant",
                    "content": content_parts(reply),
                }
            )
        for call in reply.tool_calls:
            items.append(
                {
                    "id": function_call_id(call.id),
                    "type": "function_call",
                    "status": "completed",
                    "call_id": call.id,
                    "name": call.name,
                    "arguments": call.arguments,
                }
            )
        return items

    def usage(self, usage: Usage) -> dict[str, Any]:
        """The ``usage`` object: the reply's counts, with the scenario's overrides (its chat
        names, or this surface's: ``input_tokens``, ``output_tokens``, ``cached_tokens``)."""
        counts = usage.counts()
        given = usage.overrides or {}
        prompt = given.get("input_tokens", counts["prompt_tokens"])
        completion = given.get("output_tokens", counts["completion_tokens"])
        total = given.get("total_tokens", prompt + completion)
        cached = given.get("cached_tokens", given.get("cache_read_input_tokens", 0))
        return {
            "input_tokens": prompt,
            "input_tokens_details": {"cached_tokens": cached},
            "output_tokens": completion,
            "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
            "total_tokens": total,
        }

    def failure(self, error: HttpError) -> dict[str, Any]:
        """The ``error`` of a failed response."""
        message = self.dialect.error_object(error).get("message") or "The response failed."
        return {"code": error_code(error), "message": message}

    def failure_fields(self, error: dict[str, Any]) -> bytes:
        """Fields a failed response carries beside its ``error`` (none, in OpenAI's API)."""
        return b""

    # -- the response object ---------------------------------------------------------------------

    def frame(self, identity: Identity, request: dict[str, Any]) -> Frame:
        """What one answer's response objects share, as bytes (made once per answer)."""
        rid = identity.id.encode()
        created = b"%d" % identity.created
        head = b'{"id":"%b","object":"response","created_at":%b,"completed_at":' % (rid, created)
        return Frame(head, created, rid[5:], self.echo_bytes(request))

    def echo_bytes(self, request: dict[str, Any]) -> bytes:
        """``,<the echoed settings>,"usage":``: the request's own value of each setting it sent
        (null too, for the ``nullable`` ones), the API's default of the others."""
        given = request.keys() & self.settable
        if not given:
            return self.default_echo
        if len(given) == 1:
            (key,) = given
            value = request[key]
            if value is None and key not in self.nullable:
                return self.default_echo
            return b"," + self.labels[key] + dumps(value) + self.others[key]
        fields = dict(self.defaults)
        for key in given:
            value = request[key]
            if value is not None or key in self.nullable:
                fields[key] = self.labels[key] + dumps(value)
        return b"," + b",".join(fields.values()) + b',"usage":'

    def state(
        self, model: str, status: str, incomplete: str | None = None, error: dict[str, Any] | None = None
    ) -> bytes:
        """``,"status":…`` up to ``"output":`` (the fields a response's state decides)."""
        return b"".join(
            (
                b',"status":"',
                status.encode(),
                b'","background":false,"error":',
                b"null" if error is None else dumps(error),
                b',"incomplete_details":',
                b"null" if incomplete is None else b'{"reason":' + dumps(incomplete) + b"}",
                b',"model":',
                dumps(model),
                b',"output":',
            )
        )

    def shape(self, reply: Reply) -> Shape:
        """The reply's :class:`Shape`: from its memo for a static reply (unless the dialect
        does not precompile), else made now."""
        memo = reply.memo
        if memo is None or not self.dialect.precompile:
            return self.compile(reply)
        key = (self, reply.model)
        shape = memo.get(key)
        if shape is None:
            shape = self.compile(reply)
            if len(memo) < MAX_MODELS_PER_STEP:
                memo[key] = shape
        return shape

    def compile(self, reply: Reply) -> Shape:
        """Render the reply's finished response once around a marked id, keep the bytes."""
        status, reason = status_of(reply.finish_reason)
        error = None
        if status == "failed":
            error = self.failure(HttpError(500, "The model failed to complete the response."))
        state = self.state(reply.model, status, reason, error)
        items = self.output(reply, _MARKED)
        kinds = [item["type"] for item in items]
        message = kinds.index("message") if "message" in kinds else -1
        parts = [part["type"] for part in items[message]["content"]] if message >= 0 else []
        return Shape(
            completed=status == "completed",
            pieces=(state + dumps(items)).split(_MARK_BYTES),
            in_progress=self.state(reply.model, "in_progress") + b"[]",
            end=(b"" if error is None else self.failure_fields(error)) + b"}",
            terminal=TERMINAL_HEADS[TERMINAL[status]],
            message=message,
            calls=[i for i, kind in enumerate(kinds) if kind == "function_call"],
            reasoning=kinds[:1] == ["reasoning"],
            text_part=parts.index("output_text") if "output_text" in parts else -1,
            refusal_part=parts.index("refusal") if "refusal" in parts else -1,
        )

    def usage_bytes(self, shape: Shape, usage: Usage) -> bytes:
        """The usage as JSON, kept per prompt size in the shape."""
        usages = shape.usages
        found = usages.get(usage.prompt_tokens)
        if found is None:
            found = dumps(self.usage(usage))
            if len(usages) >= MAX_USAGES_PER_BODY:
                usages.clear()
            usages[usage.prompt_tokens] = found
        return found

    def finished(self, shape: Shape, frame: Frame, usage: Usage) -> bytes:
        """The finished response: the body, and what the stream's last event carries."""
        return b"".join(
            (
                frame.head,
                frame.created if shape.completed else b"null",
                frame.tail.join(shape.pieces),
                frame.echo,
                self.usage_bytes(shape, usage),
                shape.end,
            )
        )

    def body(self, reply: Reply, identity: Identity, request: dict[str, Any]) -> bytes:
        """:meth:`finished`, joined in one go (the JSON answer's hot path)."""
        shape = self.shape(reply)
        rid = identity.id.encode()
        created = b"%d" % identity.created
        return b"".join(
            (
                b'{"id":"',
                rid,
                b'","object":"response","created_at":',
                created,
                b',"completed_at":',
                created if shape.completed else b"null",
                rid[5:].join(shape.pieces),
                self.echo_bytes(request),
                self.usage_bytes(shape, reply.usage),
                shape.end,
            )
        )

    def stream(self, reply: Reply, identity: Identity, request: dict[str, Any]) -> StreamEncoder:
        fault = reply.fault
        frame = self.frame(identity, request)
        if fault is None and reply.memo is not None and self.dialect.precompile:
            shape = self.shape(reply)
            if shape.frames is None:
                self.compile_stream(reply, shape)
            return CompiledStream(self, frame, shape)
        kind = TrackedStream if fault is not None and fault.kind == "error" else ResponsesStream
        return kind(self, reply, frame, self.output(reply, identity))

    def compile_stream(self, reply: Reply, shape: Shape) -> None:
        """Stream a static reply once around a marked id and keep, per event, its bytes."""
        stream = ResponsesStream(self, reply, Frame(b"", b"", b"", b""), self.output(reply, _MARKED))
        events = reply.events()
        stream.encode(events[0])  # the opening snapshots, made per request
        frames = []
        for event in events[1:-1]:
            out = stream.encode(event)
            frames.append(None if out is None else out.split(_MARK_BYTES))
        shape.last = stream.seq
        shape.frames = frames


class OpenRouterResponses(ResponsesEncoder):
    """OpenRouter's Responses: ``cost``, ``is_byok`` and ``cost_details`` in the usage, the
    penalties echoed, ``error_type`` beside the ``error`` of a failed response."""

    echo: ClassVar[dict[str, Any]] = {
        **ResponsesEncoder.echo,
        "presence_penalty": None,
        "frequency_penalty": None,
    }
    nullable = ResponsesEncoder.nullable | {"presence_penalty", "frequency_penalty"}

    def usage(self, usage: Usage) -> dict[str, Any]:
        out = super().usage(usage)
        cost = usage.counts()["cost"]
        out["cost"] = cost
        out["is_byok"] = False
        out["cost_details"] = {
            "upstream_inference_cost": cost,
            "upstream_inference_input_cost": round(usage.prompt_cost, 12),
            "upstream_inference_output_cost": round(usage.completion_cost, 12),
        }
        return out

    def failure_fields(self, error: dict[str, Any]) -> bytes:
        return b',"error_type":' + dumps(error["code"])

    def error(self, error: HttpError, *, key: str | None = None) -> bytes:
        """OpenRouter's Responses API errors: ``{"error": {"code", "message"}, "metadata":
        null}`` with a string code (``invalid_prompt``, ``rate_limit_exceeded``,
        ``server_error``), unlike its chat envelope's numeric one."""
        message = self.dialect.error_object(error).get("message") or "Request failed."
        return dumps({"error": {"code": error_code(error), "message": message}, "metadata": None})


def content_parts(reply: Reply) -> list[dict[str, Any]]:
    """The message's content parts: ``output_text`` (when there is text, or nothing else)
    then ``refusal``."""
    parts: list[dict[str, Any]] = []
    if reply.content or reply.refusal is None:
        parts.append({"type": "output_text", "text": reply.content or "", "annotations": [], "logprobs": []})
    if reply.refusal is not None:
        parts.append({"type": "refusal", "refusal": reply.refusal})
    return parts


def function_call_id(call_id: str) -> str:
    """The ``fc_`` item id of a tool call, derived from its call id."""
    return "fc_" + call_id.removeprefix("call_")


class ResponsesStream(StreamEncoder):
    """One streamed response. The output items are known from the reply; each abstract event
    belongs to one of them (reasoning, the message, tool call ``i``), and reaching an item
    closes the one before it (and sends whole any item the events skipped, such as an empty
    message), so the events always arrive in the order the SDK demands. A piece of the item
    (and part) already open, the common case, is one delta event joined from bytes made once."""

    done = b""
    malformed = MALFORMED

    def __init__(self, encoder: ResponsesEncoder, reply: Reply, frame: Frame, items: list[dict[str, Any]]) -> None:
        self.encoder = encoder
        self.reply = reply
        self.frame = frame
        self.items = items
        self.shape = shape = encoder.shape(reply)
        self.keepalive = encoder.dialect.keepalive
        self.seq = 0
        #: The item being streamed (-1: none yet, ``len(items)``: all done), and the message
        #: part being streamed (likewise).
        self.current = -1
        self.part = -1
        self.message = message = shape.message
        self.calls = shape.calls
        self.reasoning = shape.reasoning
        self.text_part = shape.text_part
        self.refusal_part = shape.refusal_part
        #: Per item, the bytes that name it (item id, output index).
        self.where = [b',"item_id":' + dumps(item["id"]) + b',"output_index":%d' % i for i, item in enumerate(items)]
        #: What the deltas of the message's parts and of the reasoning say before their text.
        self.text_delta = self.refusal_delta = self.summary_delta = b""
        if message >= 0:
            where = self.where[message]
            self.text_delta = TEXT_DELTA + where + b',"content_index":%d,"logprobs":[],"delta":' % self.text_part
            self.refusal_delta = REFUSAL_DELTA + where + b',"content_index":%d,"delta":' % self.refusal_part
        if self.reasoning:
            self.summary_delta = SUMMARY_DELTA + self.where[0] + b',"summary_index":0,"delta":'

    # -- the framing -----------------------------------------------------------------------------

    def event(self, head: bytes, rest: bytes) -> bytes:
        """One SSE event: ``head`` (its name and type), ``rest`` (its fields), the next
        sequence number."""
        seq = self.seq
        self.seq = seq + 1
        return head + rest + SEQ % seq

    # -- events ----------------------------------------------------------------------------------

    def encode(self, event: Event) -> bytes | None:
        if isinstance(event, ContentPiece):
            if self.current == self.message and self.part == self.text_part >= 0:
                out = b""
            elif self.text_part < 0:
                return None
            else:
                out = self.reach(self.message) + self.reach_part(self.text_part)
            seq = self.seq
            self.seq = seq + 1
            return out + self.text_delta + dumps(event.text) + SEQ % seq
        if isinstance(event, ReasoningPiece):
            if not self.reasoning:
                return None
            out = self.reach(0) if self.current else b""
            seq = self.seq
            self.seq = seq + 1
            return out + self.summary_delta + dumps(event.text) + SEQ % seq
        if isinstance(event, ToolCallFragment):
            if event.index >= len(self.calls):
                return None
            index = self.calls[event.index]
            out = self.reach(index) if self.current != index else b""
            if event.arguments:
                out += self.event(ARGS_DELTA, self.where[index] + b',"delta":' + dumps(event.arguments))
            return out or None
        if isinstance(event, RefusalPiece):
            if self.refusal_part < 0:
                return None
            out = self.reach(self.message) + self.reach_part(self.refusal_part)
            seq = self.seq
            self.seq = seq + 1
            return out + self.refusal_delta + dumps(event.text) + SEQ % seq
        if isinstance(event, Role):
            self.seq = 2
            return snapshot_events(self.frame, self.shape)
        if isinstance(event, Finish):
            return self.reach(len(self.items)) or None
        if isinstance(event, UsageReport):
            final = self.encoder.finished(self.shape, self.frame, event.usage)
            return self.event(self.shape.terminal, b',"response":' + final)
        return None

    def error_chunk(self, error: HttpError) -> bytes:
        """``error`` then ``response.failed`` (with the items finished so far)."""
        return self.failed(error, self.current)

    def failed(self, error: HttpError, current: int) -> bytes:
        failure = self.encoder.failure(error)
        out = self.event(
            ERROR,
            b',"code":' + dumps(failure["code"]) + b',"message":' + dumps(failure["message"]) + b',"param":null',
        )
        frame = self.frame
        snapshot = b"".join(
            (
                frame.head,
                b"null",
                self.encoder.state(self.reply.model, "failed", error=failure),
                dumps(self.items[:current] if current >= 0 else []),
                frame.echo,
                b"null",
                self.encoder.failure_fields(failure),
                b"}",
            )
        )
        return out + self.event(TERMINAL_HEADS["response.failed"], b',"response":' + snapshot)

    # -- items -----------------------------------------------------------------------------------

    def reach(self, index: int) -> bytes:
        """Close the current item, send whole the ones before ``index``, open ``index``
        (``len(items)``: close them all)."""
        current = self.current
        if index <= current:
            return b""
        out = self.close(current) if current >= 0 else b""
        for skipped in range(current + 1, min(index, len(self.items))):
            out += self.whole(skipped)
        self.current = index
        if index < len(self.items):
            out += self.open(index)
        return out

    def open(self, index: int) -> bytes:
        item = self.items[index]
        kind = item["type"]
        if kind == "reasoning":
            added = {**item, "summary": []}
            return self.event(ITEM_ADDED, b',"output_index":%d,"item":' % index + dumps(added)) + self.event(
                SUMMARY_PART_ADDED,
                self.where[index] + b',"summary_index":0,"part":{"type":"summary_text","text":""}',
            )
        if kind == "message":
            added = {**item, "status": "in_progress", "content": []}
        else:
            added = {**item, "status": "in_progress", "arguments": ""}
        return self.event(ITEM_ADDED, b',"output_index":%d,"item":' % index + dumps(added))

    def close(self, index: int) -> bytes:
        item = self.items[index]
        kind = item["type"]
        where = self.where[index]
        if kind == "reasoning":
            summary = item["summary"][0]
            out = self.event(SUMMARY_DONE, where + b',"summary_index":0,"text":' + dumps(summary["text"]))
            out += self.event(SUMMARY_PART_DONE, where + b',"summary_index":0,"part":' + dumps(summary))
        elif kind == "message":
            out = self.reach_part(len(item["content"]))
        else:
            out = self.event(ARGS_DONE, where + b',"arguments":' + dumps(item["arguments"]))
        return out + self.event(ITEM_DONE, b',"output_index":%d,"item":' % index + dumps(item))

    def whole(self, index: int) -> bytes:
        """An item no event reached: added, its full text as one delta, done."""
        out = self.open(index)
        item = self.items[index]
        kind = item["type"]
        if kind == "reasoning":
            out += self.event(self.summary_delta, dumps(item["summary"][0]["text"]))
        elif kind == "function_call" and item["arguments"]:
            out += self.event(ARGS_DELTA, self.where[index] + b',"delta":' + dumps(item["arguments"]))
        self.current = index
        return out + self.close(index)

    # -- message parts ---------------------------------------------------------------------------

    def reach_part(self, index: int) -> bytes:
        """Close the message's current part, send whole the ones before ``index``, open
        ``index`` (the number of parts: close them all)."""
        current = self.part
        if index <= current:
            return b""
        parts = self.items[self.message]["content"]
        out = self.close_part(current) if current >= 0 else b""
        for skipped in range(current + 1, min(index, len(parts))):
            out += self.open_part(skipped) + self.part_delta(skipped) + self.close_part(skipped)
        self.part = index
        if index < len(parts):
            out += self.open_part(index)
        return out

    def open_part(self, index: int) -> bytes:
        part = self.items[self.message]["content"][index]
        empty = {**part, "text": ""} if part["type"] == "output_text" else {**part, "refusal": ""}
        return self.event(PART_ADDED, self.where[self.message] + b',"content_index":%d,"part":' % index + dumps(empty))

    def part_delta(self, index: int) -> bytes:
        part = self.items[self.message]["content"][index]
        if part["type"] == "output_text":
            return self.event(self.text_delta, dumps(part["text"])) if part["text"] else b""
        return self.event(self.refusal_delta, dumps(part["refusal"])) if part["refusal"] else b""

    def close_part(self, index: int) -> bytes:
        part = self.items[self.message]["content"][index]
        where = self.where[self.message] + b',"content_index":%d' % index
        if part["type"] == "output_text":
            out = self.event(TEXT_DONE, where + b',"logprobs":[],"text":' + dumps(part["text"]))
        else:
            out = self.event(REFUSAL_DONE, where + b',"refusal":' + dumps(part["refusal"]))
        return out + self.event(PART_DONE, where + b',"part":' + dumps(part))


class CompiledStream(StreamEncoder):
    """A static reply's stream without faults: the events between the first and the last, made
    once (:meth:`ResponsesEncoder.compile_stream`), joined around this response's id; the
    snapshots and the finished response made per request (id, time, echo, usage)."""

    done = b""
    malformed = MALFORMED

    def __init__(self, encoder: ResponsesEncoder, frame: Frame, shape: Shape) -> None:
        self.encoder = encoder
        self.frame = frame
        self.shape = shape
        self.keepalive = encoder.dialect.keepalive
        self.next = 0

    def encode(self, event: Event) -> bytes | None:
        if isinstance(event, Role):
            return snapshot_events(self.frame, self.shape)
        if isinstance(event, UsageReport):
            shape = self.shape
            final = self.encoder.finished(shape, self.frame, event.usage)
            return shape.terminal + b',"response":' + final + SEQ % shape.last
        frames = self.shape.frames
        assert frames is not None
        index = self.next
        self.next = index + 1
        pieces = frames[index]
        return None if pieces is None else self.frame.tail.join(pieces)

    def error_chunk(self, error: HttpError) -> bytes:
        """Not reached (a reply with a fault streams through :class:`TrackedStream`); an error
        event, for completeness."""
        failure = self.encoder.failure(error)
        return (
            ERROR
            + b',"code":'
            + dumps(failure["code"])
            + b',"message":'
            + dumps(failure["message"])
            + (b',"param":null' + SEQ % self.shape.last)
        )


class TrackedStream(ResponsesStream):
    """A stream that ends with an ``error`` fault. The writer may encode the whole reply before
    it sends the first byte, so the error's events are numbered on from the state recorded
    after the frame the fault follows (``fault.after_chunks`` frames), not from the end."""

    def __init__(self, encoder: ResponsesEncoder, reply: Reply, frame: Frame, items: list[dict[str, Any]]) -> None:
        super().__init__(encoder, reply, frame, items)
        #: (next sequence number, current item) after each frame.
        self.marks: list[tuple[int, int]] = []

    def encode(self, event: Event) -> bytes | None:
        out = super().encode(event)
        if out is not None:
            self.marks.append((self.seq, self.current))
        return out

    def error_chunk(self, error: HttpError) -> bytes:
        fault = self.reply.fault
        sent = min(fault.after_chunks, len(self.marks)) if fault is not None else len(self.marks)
        self.seq, current = self.marks[sent - 1] if sent else (0, -1)
        return self.failed(error, current)
