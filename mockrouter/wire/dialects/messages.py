"""Anthropic's Messages API (``POST /messages``, the ``messages`` surface), the same in both
dialects: a reply as a ``message`` body, as named SSE events, and errors in Anthropic's
envelope.

The body is ``{"id": "msg_…", "type": "message", "role": "assistant", "model", "content":
[blocks], "stop_reason", "stop_sequence": null, "usage"}``. Its blocks, in order:

- ``thinking`` (the reply's reasoning) with a ``signature`` made from the reasoning text (a
  keyed BLAKE2b digest, base64): the same text always has the same signature, so a client that
  sends the block back unchanged sends back what it got;
- ``text`` for the content, and another ``text`` block for a refusal's text (Anthropic has no
  refusal field: ``stop_reason: "refusal"`` says what it is);
- ``tool_use`` per tool call: its id is the call's (``call_X`` → ``toolu_X``; characters an
  Anthropic id may not hold become ``_``), its ``input`` the parsed arguments. Arguments that
  are not a JSON object (a scenario may script any string) cannot be an ``input``, so they are
  wrapped: ``{"arguments": "<the string as scripted>"}`` (an empty string is ``{}``). A stream
  sends that wrapped object as one ``input_json_delta``, so the body and the stream agree;
  a call with explicit ``chunks`` (a recording of a stream cut mid-input) streams them as sent.

Finish reasons map ``stop`` → ``end_turn``, ``length`` → ``max_tokens``, ``tool_calls`` →
``tool_use``, ``content_filter`` → ``refusal``; a scripted Anthropic value passes as it is;
anything else is ``end_turn``. Usage: ``input_tokens`` (the prompt tokens less cached ones),
``output_tokens`` (the completion tokens, reasoning included) and the two cache counts (0
unless the scenario's ``usage`` names them); a scenario's ``input_tokens``, ``output_tokens``,
``cache_read_input_tokens`` (or ``cached_tokens``) and ``cache_creation_input_tokens`` win.

A stream is named events (``event: NAME`` + ``data: JSON``; no ``[DONE]``): ``message_start``
and a ``ping``, then per block ``content_block_start``, its deltas (``thinking_delta`` and one
``signature_delta``, ``text_delta``, ``input_json_delta``) and ``content_block_stop``, then
``message_delta`` (stop reason, output tokens) and ``message_stop``. Anthropic always sends
usage, so a step's ``stream.usage`` does not apply. Each abstract event is one write: the role
is ``message_start`` + ``ping``, a piece of a new kind closes the open block and opens the
next, the finish closes the last block, the usage report is ``message_delta`` + ``message_stop``.

Errors are ``{"type": "error", "error": {"type", "message"}, "request_id"}`` with Anthropic's
type for the status (or the error's own type when it is one of Anthropic's); after the first
byte of a stream, the same envelope as ``event: error``, which the SDKs raise. An ``error``
fault on a non-streaming answer is an HTTP error (``fault_as_status``): a message body has no
place for one.
"""

from __future__ import annotations

import base64
import hashlib
import random
import re
from typing import Any, ClassVar

import orjson

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
    ToolCall,
    ToolCallFragment,
    Usage,
    UsageReport,
)
from .base import Dialect, Encoder, Identity, StreamEncoder, dumps
from .openai import MAX_MODELS_PER_STEP, MAX_USAGES_PER_BODY

__all__ = [
    "ERROR_TYPES",
    "STOP_REASONS",
    "MessagesEncoder",
    "MessagesStream",
    "error_request_id",
    "error_type",
    "signature",
    "stop_reason",
    "tool_input",
    "tool_use_id",
]

#: Chat finish reasons as Anthropic's stop reasons.
STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "content_filter": "refusal"}
#: Stop reasons a scenario may script as they are (``anthropic.types.StopReason``).
_ANTHROPIC_STOPS = frozenset(
    ("end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal", "model_context_window_exceeded")
)
#: Anthropic's error type per HTTP status (docs.claude.com/en/api/errors; 402, 409 and 504 from
#: the SDK's ``ErrorType``). 503 is ``overloaded_error``: no capacity now, try again.
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}
#: Error types a scenario may script as they are.
_ANTHROPIC_ERRORS = frozenset(ERROR_TYPES.values())

_EMPTY_INPUT: dict[str, Any] = {}
_ID_SAFE = re.compile(r"[A-Za-z0-9_-]+")
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def stop_reason(finish: str) -> str:
    """A chat finish reason (or a scripted one) as Anthropic's ``stop_reason``."""
    mapped = STOP_REASONS.get(finish)
    if mapped is not None:
        return mapped
    return finish if finish in _ANTHROPIC_STOPS else "end_turn"


def error_type(error: HttpError) -> str:
    """Anthropic's ``error.type`` for ``error``: its own type when Anthropic has it, else the
    status's (other 4xx: ``invalid_request_error``, other 5xx: ``api_error``, as the docs say)."""
    given = error.type
    if given is not None and given in _ANTHROPIC_ERRORS:
        return given
    known = ERROR_TYPES.get(error.status)
    if known is not None:
        return known
    return "api_error" if error.status >= 500 else "invalid_request_error"


def signature(reasoning: str) -> str:
    """The ``signature`` of a thinking block: the same for the same text (base64, 88 chars)."""
    digest = hashlib.blake2b(reasoning.encode(), digest_size=64, person=b"mockrouter-think").digest()
    return base64.b64encode(digest).decode()


def tool_use_id(call_id: str) -> str:
    """A ``toolu_`` id for a chat tool call id (``call_X`` → ``toolu_X``), the same every time;
    characters Anthropic does not allow in an id (it takes ``[A-Za-z0-9_-]``) become ``_``."""
    rest = call_id[5:] if call_id.startswith("call_") else call_id
    return "toolu_" + (rest if _ID_SAFE.fullmatch(rest) else _ID_UNSAFE.sub("_", rest) or "_")


def tool_input(arguments: str) -> tuple[dict[str, Any], bool]:
    """A tool call's ``input`` and whether the arguments were a JSON object as they are
    (else the input wraps them: ``{"arguments": arguments}``, or ``{}`` for none)."""
    if not arguments.strip():
        return _EMPTY_INPUT, False
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        value = None
    if isinstance(value, dict):
        return value, True
    return {"arguments": arguments}, False


def usage_counts(usage: Usage) -> tuple[int, int, int, int]:
    """``(input, output, cache_creation, cache_read)`` tokens of ``usage``, overrides applied."""
    counts = usage.counts()
    given = usage.overrides or _EMPTY_INPUT
    cache_read = given.get("cache_read_input_tokens", given.get("cached_tokens", 0))
    cache_creation = given.get("cache_creation_input_tokens", 0)
    prompt = given.get("input_tokens", max(0, counts["prompt_tokens"] - cache_read - cache_creation))
    return prompt, given.get("output_tokens", counts["completion_tokens"]), cache_creation, cache_read


def _usage(usage: Usage, output: int | None = None) -> dict[str, Any]:
    prompt, completion, creation, read = usage_counts(usage)
    return {
        "input_tokens": prompt,
        "cache_creation_input_tokens": creation,
        "cache_read_input_tokens": read,
        "output_tokens": completion if output is None else min(output, completion),
    }


class MessagesEncoder(Encoder):
    """Anthropic Messages: ``message`` bodies, named-event streams, Anthropic's errors."""

    surface: ClassVar[str] = "messages"
    fault_as_status: ClassVar[bool] = True

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect

    def identity(self, rng: random.Random, created: int) -> Identity:
        return Identity("msg_01" + random_id(rng, 22), created)

    def headers(self, identity: Identity) -> list[tuple[bytes, bytes]]:
        """``request-id``, which the SDKs show as ``message._request_id`` (the message id's digits)."""
        return [(b"request-id", b"req_01" + identity.id.removeprefix("msg_01").encode())]

    # -- the JSON body ---------------------------------------------------------------------------

    @staticmethod
    def blocks(reply: Reply) -> list[dict[str, Any]]:
        """The ``content`` blocks of ``reply``'s message."""
        blocks: list[dict[str, Any]] = []
        if reply.reasoning:
            blocks.append({"type": "thinking", "thinking": reply.reasoning, "signature": signature(reply.reasoning)})
        if reply.content:
            blocks.append({"type": "text", "text": reply.content})
        if reply.refusal:
            blocks.append({"type": "text", "text": reply.refusal})
        blocks += [
            {"type": "tool_use", "id": tool_use_id(c.id), "name": c.name, "input": tool_input(c.arguments)[0]}
            for c in reply.tool_calls
        ]
        return blocks

    def usage(self, usage: Usage) -> dict[str, Any]:
        """The ``usage`` object of a body."""
        return _usage(usage)

    def body(self, reply: Reply, identity: Identity, request: dict[str, Any]) -> bytes:
        memo = reply.memo
        if memo is None:
            return b'{"id":"' + identity.id.encode() + self._middle(reply) + dumps(self.usage(reply.usage)) + b"}"
        # a static reply: only the id and the usage (by prompt size) change from one answer to the next
        key = (self, reply.model)
        compiled: tuple[bytes, dict[int, bytes]] | None = memo.get(key)
        if compiled is None:
            compiled = (self._middle(reply), {})
            if len(memo) < MAX_MODELS_PER_STEP:
                memo[key] = compiled
        middle, usages = compiled
        prompt = reply.usage.prompt_tokens
        usage = usages.get(prompt)
        if usage is None:
            if len(usages) >= MAX_USAGES_PER_BODY:
                usages.clear()
            usage = usages[prompt] = dumps(self.usage(reply.usage))
        return b'{"id":"' + identity.id.encode() + middle + usage + b"}"

    def _middle(self, reply: Reply) -> bytes:
        """The body between its id and its usage."""
        return (
            b'","type":"message","role":"assistant","model":'
            + dumps(reply.model)
            + b',"content":'
            + dumps(self.blocks(reply))
            + b',"stop_reason":'
            + dumps(stop_reason(reply.finish_reason))
            + b',"stop_sequence":null,"usage":'
        )

    # -- the stream and errors -------------------------------------------------------------------

    def stream(self, reply: Reply, identity: Identity, request: dict[str, Any]) -> StreamEncoder:
        return MessagesStream(self, reply, identity)

    def error_envelope(self, error: HttpError, request_id: str) -> dict[str, Any]:
        """``{"type": "error", "error": {"type", "message"}, "request_id"}`` (the message: the
        error's own, else the dialect's wording for the status)."""
        message = error.message or self.dialect.error_object(error).get("message") or "Request failed."
        return {"type": "error", "error": {"type": error_type(error), "message": message}, "request_id": request_id}

    def error(self, error: HttpError, *, key: str | None = None) -> bytes:
        return dumps(self.error_envelope(error, error_request_id(error, key)))

    def error_headers(self, error: HttpError, *, key: str | None = None) -> list[tuple[bytes, bytes]]:
        """``request-id``, the body's ``request_id`` (the SDKs' ``error.request_id``)."""
        return [(b"request-id", error_request_id(error, key).encode())]


def error_request_id(error: HttpError, key: str | None) -> str:
    """An error's ``request_id``: a digest of what it says, so a seeded server repeats its bytes."""
    seed = f"{key}\0{error.status}\0{error.type}\0{error.message}".encode()
    return "req_01" + hashlib.blake2b(seed, digest_size=11).hexdigest()


def _event(name: bytes, data: bytes) -> bytes:
    return b"event: " + name + b"\ndata: " + data + b"\n\n"


#: ``event: ping``: what keep-alives send (the SDKs skip it).
PING = _event(b"ping", b'{"type":"ping"}')
MESSAGE_STOP = _event(b"message_stop", b'{"type":"message_stop"}')
#: A named event whose data is not JSON: the SDKs parse every named event but ``ping``, and fail.
MALFORMED = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta": this is not JSON\n\n'
_DELTA = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":'
_STOP = b'event: content_block_stop\ndata: {"type":"content_block_stop","index":'
_START = b'event: content_block_start\ndata: {"type":"content_block_start","index":'
_END = b"}}\n\n"
#: What opens each kind of block (after its index), and the head of its deltas' text.
_TEXT_BLOCK = (b',"content_block":{"type":"text","text":""}}\n\n', b'"text_delta","text":')
_OPENS = {
    "thinking": (
        b',"content_block":{"type":"thinking","thinking":"","signature":""}}\n\n',
        b'"thinking_delta","thinking":',
    ),
    "text": _TEXT_BLOCK,
    "refusal": _TEXT_BLOCK,
}
_JSON_DELTA = b'"input_json_delta","partial_json":'


class MessagesStream(StreamEncoder):
    """One streamed message: keeps the open content block (its index and kind)."""

    keepalive = PING
    done = b""
    malformed = MALFORMED

    def __init__(self, encoder: MessagesEncoder, reply: Reply, identity: Identity) -> None:
        self.encoder = encoder
        self.reply = reply
        self.identity = identity
        #: The open block's index (-1: none yet) and kind (thinking, text, refusal, tool; None: closed).
        self.index = -1
        self.kind: str | None = None
        #: ``event: content_block_delta`` + data up to the open block's delta text.
        self.delta_head = b""
        self.stop = "end_turn"
        #: Tool calls whose arguments went out whole (not a JSON object: wrapped).
        self.whole: set[int] = set()

    def encode(self, event: Event) -> bytes | None:
        if isinstance(event, ContentPiece):
            return self._text("text", event.text)
        if isinstance(event, ToolCallFragment):
            return self._tool(event)
        if isinstance(event, ReasoningPiece):
            return self._text("thinking", event.text)
        if isinstance(event, RefusalPiece):
            return self._text("refusal", event.text)
        if isinstance(event, Role):
            return self._start()
        if isinstance(event, Finish):
            self.stop = stop_reason(event.reason)
            return self._close() or None
        if isinstance(event, UsageReport):
            return self._end(event.usage)
        return None

    def _start(self) -> bytes:
        reply = self.reply
        message: dict[str, Any] = {
            "id": self.identity.id,
            "type": "message",
            "role": "assistant",
            "model": reply.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": _usage(reply.usage, output=1),
        }
        return _event(b"message_start", dumps({"type": "message_start", "message": message})) + PING

    def _text(self, kind: str, text: str) -> bytes | None:
        if self.kind == kind:
            return self.delta_head + dumps(text) + _END
        if not text:  # nothing to open a block for (the body has none either)
            return None
        opened = self._open(kind, _OPENS[kind][0], _OPENS[kind][1])
        return opened + self.delta_head + dumps(text) + _END

    def _tool(self, event: ToolCallFragment) -> bytes | None:
        if event.id is None:  # a piece of the open call's arguments
            if event.index in self.whole or not event.arguments:
                return None
            return self.delta_head + dumps(event.arguments) + _END
        call = self._call(event)
        given, as_is = tool_input(call.arguments)
        head = dumps({"type": "tool_use", "id": tool_use_id(call.id), "name": call.name, "input": {}})
        out = self._open("tool", b',"content_block":' + head + b"}\n\n", _JSON_DELTA)
        if not as_is and call.pieces is None:  # explicit pieces (a recording's) go out as they were sent
            self.whole.add(event.index)
            return out + (self.delta_head + dumps(dumps(given).decode()) + _END if given else b"")
        if event.arguments:
            out += self.delta_head + dumps(event.arguments) + _END
        return out

    def _call(self, event: ToolCallFragment) -> ToolCall:
        calls = self.reply.tool_calls
        if event.index < len(calls):
            return calls[event.index]
        return ToolCall(event.id or "", event.name or "", event.arguments)

    def _open(self, kind: str, start: bytes, delta: bytes) -> bytes:
        """Close the open block and open the next (``start``: its ``content_block`` and the rest)."""
        closed = self._close()
        self.index += 1
        self.kind = kind
        index = b"%d" % self.index
        self.delta_head = _DELTA + index + b',"delta":{"type":' + delta
        return closed + _START + index + start

    def _close(self) -> bytes:
        """The events that close the open block (b"" when none is open)."""
        kind = self.kind
        if kind is None:
            return b""
        self.kind = None
        index = b"%d" % self.index
        stop = _STOP + index + b"}\n\n"
        if kind == "thinking":
            sig = dumps(signature(self.reply.reasoning or ""))
            return _DELTA + index + b',"delta":{"type":"signature_delta","signature":' + sig + _END + stop
        return stop

    def _end(self, usage: Usage) -> bytes:
        output = usage_counts(usage)[1]
        delta = b'{"type":"message_delta","delta":{"stop_reason":' + dumps(self.stop)
        delta += b',"stop_sequence":null},"usage":{"output_tokens":%d}}' % output
        return self._close() + _event(b"message_delta", delta) + MESSAGE_STOP

    def error_chunk(self, error: HttpError) -> bytes:
        request_id = "req_01" + self.identity.id.removeprefix("msg_01")
        return _event(b"error", dumps(self.encoder.error_envelope(error, request_id)))
