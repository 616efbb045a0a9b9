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
order, whatever events the reply's pieces arrive as. An in-band error is an ``error`` event
followed by ``response.failed``: ``responses.stream(...).get_final_response()`` then raises
(no ``response.completed``), and so does ``openai-agents``.

:class:`OpenRouterResponses` adds OpenRouter's usage fields (``cost``, ``is_byok``,
``cost_details``), its echoed penalties and the ``error_type`` of a failed response.
"""

from __future__ import annotations

import random
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

__all__ = ["OpenRouterResponses", "ResponsesEncoder", "ResponsesStream", "error_code", "status_of"]

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
    """The bytes of an event named ``kind`` up to its sequence number."""
    return b"event: " + kind.encode() + b'\ndata: {"type":"' + kind.encode() + b'","sequence_number":'


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
END = b"}\n\n"


class ResponsesEncoder(Encoder):
    """OpenAI Responses as the OpenAI API writes them; a dialect subclasses it for what differs."""

    surface: ClassVar[str] = "responses"
    fault_as_status: ClassVar[bool] = True

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect

    def identity(self, rng: random.Random, created: int) -> Identity:
        return Identity("resp_" + random_id(rng, 48), created)

    # -- the response object ---------------------------------------------------------------------

    def output(self, reply: Reply, identity: Identity) -> list[dict[str, Any]]:
        """The response's output items, complete (what the stream's ``output_item.done`` send)."""
        tail = identity.id[5:]
        status, _ = status_of(reply.finish_reason)
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
                    "status": "completed" if status == "completed" else "incomplete",
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

    def echoed(self, request: dict[str, Any]) -> dict[str, Any]:
        """The request's settings as the response echoes them (the API's defaults when unset)."""
        get = request.get
        return {
            "instructions": get("instructions"),
            "max_output_tokens": get("max_output_tokens"),
            "parallel_tool_calls": _given(get("parallel_tool_calls"), True),
            "previous_response_id": None,
            "reasoning": get("reasoning") or {"effort": None, "summary": None},
            "store": False,
            "temperature": get("temperature", 1.0),
            "text": get("text") or {"format": {"type": "text"}},
            "tool_choice": _given(get("tool_choice"), "auto"),
            "tools": get("tools") or [],
            "top_p": get("top_p", 1.0),
            "truncation": get("truncation") or "disabled",
            "user": get("user"),
            "metadata": get("metadata") or {},
        }

    def response(
        self,
        reply: Reply,
        identity: Identity,
        request: dict[str, Any],
        *,
        status: str,
        output: list[dict[str, Any]],
        usage: dict[str, Any] | None,
        incomplete: str | None = None,
        error: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A response object in any state (the body; the stream's snapshots)."""
        return {
            "id": identity.id,
            "object": "response",
            "created_at": identity.created,
            "status": status,
            "background": False,
            "completed_at": identity.created if status == "completed" else None,
            "error": error,
            "incomplete_details": {"reason": incomplete} if incomplete else None,
            "model": reply.model,
            "output": output,
            **self.echoed(request),
            "usage": usage,
        }

    def failure(self, error: HttpError) -> dict[str, Any]:
        """The ``error`` of a failed response."""
        message = self.dialect.error_object(error).get("message") or "The response failed."
        return {"code": error_code(error), "message": message}

    def final(self, reply: Reply, identity: Identity, request: dict[str, Any]) -> dict[str, Any]:
        """The finished response: the body, and what the stream's last event carries."""
        status, reason = status_of(reply.finish_reason)
        error = (
            self.failure(HttpError(500, "The model failed to complete the response.")) if status == "failed" else None
        )
        return self.response(
            reply,
            identity,
            request,
            status=status,
            output=self.output(reply, identity),
            usage=self.usage(reply.usage),
            incomplete=reason,
            error=error,
        )

    def body(self, reply: Reply, identity: Identity, request: dict[str, Any]) -> bytes:
        return dumps(self.final(reply, identity, request))

    def stream(self, reply: Reply, identity: Identity, request: dict[str, Any]) -> StreamEncoder:
        return ResponsesStream(self, reply, identity, request)


class OpenRouterResponses(ResponsesEncoder):
    """OpenRouter's Responses: ``cost``, ``is_byok`` and ``cost_details`` in the usage, the
    penalties echoed, ``error_type`` beside the ``error`` of a failed response."""

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

    def echoed(self, request: dict[str, Any]) -> dict[str, Any]:
        out = super().echoed(request)
        out["presence_penalty"] = request.get("presence_penalty")
        out["frequency_penalty"] = request.get("frequency_penalty")
        return out

    def response(
        self,
        reply: Reply,
        identity: Identity,
        request: dict[str, Any],
        *,
        status: str,
        output: list[dict[str, Any]],
        usage: dict[str, Any] | None,
        incomplete: str | None = None,
        error: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        out = super().response(
            reply, identity, request, status=status, output=output, usage=usage, incomplete=incomplete, error=error
        )
        if error is not None:
            out["error_type"] = error["code"]
        return out


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
    message), so the events always arrive in the order the SDK demands."""

    done = b""
    malformed = MALFORMED

    def __init__(self, encoder: ResponsesEncoder, reply: Reply, identity: Identity, request: dict[str, Any]) -> None:
        self.encoder = encoder
        self.reply = reply
        self.identity = identity
        self.request = request
        self.keepalive = encoder.dialect.keepalive
        self.seq = 0
        #: With an ``error`` fault: (next sequence number, current item) after each frame.
        fault = reply.fault
        self.marks: list[tuple[int, int]] | None = [] if fault is not None and fault.kind == "error" else None
        #: The finished items, in output order; what each is (kind, and the call index).
        self.items = encoder.output(reply, identity)
        self.message = -1
        self.calls: list[int] = []
        for index, item in enumerate(self.items):
            if item["type"] == "message":
                self.message = index
            elif item["type"] == "function_call":
                self.calls.append(index)
        #: The item being streamed (-1: none yet), and the message part being streamed.
        self.current = -1
        self.part = -1
        #: Per item, the bytes after ``sequence_number`` that name it (item id, output index).
        self.where = [
            b',"item_id":' + dumps(item["id"]) + b',"output_index":%d' % index for index, item in enumerate(self.items)
        ]
        self.reasoning = bool(self.items) and self.items[0]["type"] == "reasoning"
        #: The message's ``output_text`` and ``refusal`` part indexes (-1: none), and what
        #: their deltas say before the text.
        parts = self.items[self.message]["content"] if self.message >= 0 else []
        kinds = [part["type"] for part in parts]
        self.text_part = kinds.index("output_text") if "output_text" in kinds else -1
        self.refusal_part = kinds.index("refusal") if "refusal" in kinds else -1
        self.text_where = self.refusal_where = b""
        if self.message >= 0:
            where = self.where[self.message]
            self.text_where = where + b',"content_index":%d,"logprobs":[],"delta":' % self.text_part
            self.refusal_where = where + b',"content_index":%d,"delta":' % self.refusal_part

    # -- the framing -----------------------------------------------------------------------------

    def event(self, head: bytes, rest: bytes) -> bytes:
        """One SSE event: ``head`` (its name and type), the next sequence number, ``rest``."""
        seq = self.seq
        self.seq = seq + 1
        return head + b"%d" % seq + rest + END

    def snapshot(self, status: str, **fields: Any) -> bytes:
        """``,"response":{…}`` in ``status``, with no output yet unless given."""
        fields.setdefault("output", [])
        fields.setdefault("usage", None)
        return b',"response":' + dumps(
            self.encoder.response(self.reply, self.identity, self.request, status=status, **fields)
        )

    # -- events ----------------------------------------------------------------------------------

    def encode(self, event: Event) -> bytes | None:
        out = self.frame(event)
        if self.marks is not None and out is not None:
            self.marks.append((self.seq, self.current))
        return out

    def frame(self, event: Event) -> bytes | None:
        """The events one abstract event makes (None: nothing to send)."""
        if isinstance(event, ContentPiece):
            if self.text_part < 0:
                return None
            out = self.reach(self.message) + self.reach_part(0)
            return out + self.event(TEXT_DELTA, self.text_where + dumps(event.text))
        if isinstance(event, ReasoningPiece):
            if not self.reasoning:
                return None
            out = self.reach(0)
            return out + self.event(SUMMARY_DELTA, self.where[0] + b',"summary_index":0,"delta":' + dumps(event.text))
        if isinstance(event, RefusalPiece):
            if self.refusal_part < 0:
                return None
            out = self.reach(self.message) + self.reach_part(self.refusal_part)
            return out + self.event(REFUSAL_DELTA, self.refusal_where + dumps(event.text))
        if isinstance(event, ToolCallFragment):
            if event.index >= len(self.calls):
                return None
            index = self.calls[event.index]
            out = self.reach(index)
            if event.arguments:
                out += self.event(ARGS_DELTA, self.where[index] + b',"delta":' + dumps(event.arguments))
            return out or None
        if isinstance(event, Role):
            snapshot = self.snapshot("in_progress")
            return self.event(CREATED, snapshot) + self.event(IN_PROGRESS, snapshot)
        if isinstance(event, Finish):
            return self.reach(len(self.items)) or None
        if isinstance(event, UsageReport):
            final = self.encoder.final(self.reply, self.identity, self.request)
            return self.event(TERMINAL_HEADS[TERMINAL[final["status"]]], b',"response":' + dumps(final))
        return None

    def error_chunk(self, error: HttpError) -> bytes:
        """``error`` then ``response.failed`` (with the items finished so far), numbered on from
        the last frame the writer sent before the fault: the writer may have encoded the
        whole reply first, so the state is the one recorded after ``fault.after_chunks`` frames."""
        fault = self.reply.fault
        sent = min(fault.after_chunks, len(self.marks)) if fault is not None and self.marks is not None else 0
        self.seq, current = self.marks[sent - 1] if self.marks and sent else (0, -1)
        failure = self.encoder.failure(error)
        message = dumps(failure["message"])
        out = self.event(ERROR, b',"code":' + dumps(failure["code"]) + b',"message":' + message + b',"param":null')
        done = self.items[:current] if current >= 0 else []
        return out + self.event(TERMINAL_HEADS["response.failed"], self.snapshot("failed", output=done, error=failure))

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
            text = item["summary"][0]["text"]
            out += self.event(SUMMARY_DELTA, self.where[index] + b',"summary_index":0,"delta":' + dumps(text))
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
        where = self.where[self.message] + b',"content_index":%d' % index
        if part["type"] == "output_text":
            if not part["text"]:
                return b""
            return self.event(TEXT_DELTA, where + b',"logprobs":[],"delta":' + dumps(part["text"]))
        return self.event(REFUSAL_DELTA, where + b',"delta":' + dumps(part["refusal"])) if part["refusal"] else b""

    def close_part(self, index: int) -> bytes:
        part = self.items[self.message]["content"][index]
        where = self.where[self.message] + b',"content_index":%d' % index
        if part["type"] == "output_text":
            out = self.event(TEXT_DONE, where + b',"logprobs":[],"text":' + dumps(part["text"]))
        else:
            out = self.event(REFUSAL_DONE, where + b',"refusal":' + dumps(part["refusal"]))
        return out + self.event(PART_DONE, where + b',"part":' + dumps(part))


def _given(value: Any, default: Any) -> Any:
    """A request's setting as echoed: its value, or the API's default when unset or null."""
    return default if value is None else value
