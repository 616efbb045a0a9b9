"""The OpenAI-style surfaces both chat dialects share: chat completions (``chat``) and legacy
completions (``text``), as JSON bodies and as SSE streams.

:class:`ChatEncoder` writes what the OpenAI API writes; a dialect subclasses it and overrides
only where its wire differs (OpenRouter repeats ``role`` in every delta, adds
``native_finish_reason``, always ends with usage...). The hooks are small methods that return
a delta, a choice or a usage object.

A *static* reply (one whose text was fixed when its scenario loaded: ``Reply.memo`` is set)
answers every non-streaming request with the same bytes except the id, ``created`` and the
usage. So the encoder renders its body once per (model, provider), keeps the bytes around
the parts that change in the reply's memo, and a request only joins them
(:class:`CompiledBody`). ``tests/test_compiled.py`` checks both ways give the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

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
from .base import Dialect, Encoder, Identity, StreamEncoder, dumps, wants_usage

__all__ = ["MAX_MODELS_PER_STEP", "MAX_USAGES_PER_BODY", "ChatEncoder", "ChatStream", "CompiledBody", "TextEncoder"]

#: A static reply answering more distinct (model, provider) pairs than this renders the rest
#: each time (bounded memory).
MAX_MODELS_PER_STEP = 256
#: Encoded usages kept per compiled body, one per prompt size seen (then the memo starts over).
MAX_USAGES_PER_BODY = 64


@dataclass(slots=True)
class CompiledBody:
    """A static reply's body for one model and provider, as the bytes between the parts that
    change per request: ``{"id":"<id>`` + ``after_id`` + ``<created>`` + ``after_created``
    + ``<usage>`` + ``}``."""

    after_id: bytes
    after_created: bytes
    #: Prompt tokens -> the body's ``usage`` bytes.
    usages: dict[int, bytes] = field(default_factory=dict)

    def join(self, identity: Identity, usage: bytes) -> bytes:
        return b"".join(
            (b'{"id":"', identity.id.encode(), self.after_id, b"%d" % identity.created, self.after_created, usage, b"}")
        )


class ChatEncoder(Encoder):
    """Chat completions as the OpenAI API writes them; subclass to change what differs."""

    surface: ClassVar[str] = "chat"
    object: ClassVar[str] = "chat.completion"
    chunk_object: ClassVar[str] = "chat.completion.chunk"
    #: Whether a stream ends with a usage chunk when the request did not ask for one.
    usage_always: ClassVar[bool] = False

    def __init__(self, dialect: Dialect, *, precompile: bool = True) -> None:
        self.dialect = dialect
        #: Whether static replies are answered from compiled bytes (off: rendered each time).
        self.precompile = precompile

    # -- the JSON body ---------------------------------------------------------------------------

    def message(self, reply: Reply) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": reply.content}
        if reply.reasoning is not None:
            message["reasoning"] = reply.reasoning
        if reply.refusal is not None:
            message["refusal"] = reply.refusal
        if reply.tool_calls:
            message["tool_calls"] = self.tool_calls(reply)
        return message

    @staticmethod
    def tool_calls(reply: Reply) -> list[dict[str, Any]]:
        return [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in reply.tool_calls
        ]

    def choice(self, reply: Reply) -> dict[str, Any]:
        choice: dict[str, Any] = {"index": 0, "message": self.message(reply), "finish_reason": reply.finish_reason}
        error = self.fault_error(reply)
        if error is not None:
            choice["finish_reason"] = "error"
            choice["error"] = self.dialect.error_object(error)
        return choice

    @staticmethod
    def fault_error(reply: Reply) -> HttpError | None:
        """The error of an ``error`` fault on a non-streaming answer (a choice-level error)."""
        fault = reply.fault
        if fault is not None and fault.kind == "error":
            return fault.error
        return None

    def envelope(self, reply: Reply, identity: Identity) -> dict[str, Any]:
        """The body's fields before ``choices`` (override to add a dialect's own)."""
        return {
            "id": identity.id,
            "object": self.object,
            "created": identity.created,
            "model": reply.model,
            "provider": reply.provider,
        }

    def usage(self, usage: Usage) -> dict[str, Any]:
        """The ``usage`` object of a body (and of a stream's usage chunk)."""
        out = usage.counts()
        if usage.reasoning_tokens:
            out["completion_tokens_details"] = {"reasoning_tokens": usage.reasoning_tokens}
        return out

    def render(self, reply: Reply, identity: Identity) -> bytes:
        """The body, rendered in full."""
        return dumps(
            {**self.envelope(reply, identity), "choices": [self.choice(reply)], "usage": self.usage(reply.usage)}
        )

    def body(self, reply: Reply, identity: Identity, request: dict[str, Any]) -> bytes:
        memo = reply.memo
        if memo is None or reply.fault is not None or not self.precompile:
            return self.render(reply, identity)
        key = (self, reply.model, reply.provider)
        compiled = memo.get(key)
        if compiled is None:
            compiled = self.compile(reply)
            if len(memo) < MAX_MODELS_PER_STEP:
                memo[key] = compiled
        usages = compiled.usages
        prompt = reply.usage.prompt_tokens
        usage = usages.get(prompt)
        if usage is None:
            usage = dumps(self.usage(reply.usage))
            if len(usages) >= MAX_USAGES_PER_BODY:
                usages.clear()
            usages[prompt] = usage
        return compiled.join(identity, usage)

    def compile(self, reply: Reply) -> CompiledBody:
        """Render ``reply`` once around marker values and keep the bytes between them."""
        head = dumps(self.envelope(reply, _MARKS))
        created_at = head.index(_CREATED_MARK)
        return CompiledBody(
            after_id=head[len(_ID_HEAD) - 1 : created_at] + b',"created":',
            after_created=head[created_at + len(_CREATED_MARK) : -1]
            + b',"choices":'
            + dumps([self.choice(reply)])
            + b',"usage":',
        )

    # -- the stream ------------------------------------------------------------------------------

    def stream(self, reply: Reply, identity: Identity, request: dict[str, Any]) -> StreamEncoder:
        return self.stream_class(
            self, reply, identity, wants_usage(reply.usage_mode, request, always_by_default=self.usage_always)
        )

    #: The stream encoder made per streamed reply (a dialect may subclass :class:`ChatStream`).
    stream_class: ClassVar[type[ChatStream]]


#: The marker identity ``compile`` renders with (``created``: 2100-01-01T00:00:01Z).
_MARKS = Identity("mockrouter-compiled-id", 4_102_444_801)
_ID_HEAD = b'{"id":"mockrouter-compiled-id"'
_CREATED_MARK = b',"created":4102444801'


_CHOICE_OPEN = b',"choices":[{"index":0,"delta":'


class ChatStream(StreamEncoder):
    """A streamed chat completion: one ``chat.completion.chunk`` per event. The deltas are
    methods, so a dialect overrides only the ones its wire spells differently."""

    __slots__ = ("dialect", "encoder", "keepalive", "open", "reply", "send_usage")

    #: What ends a chunk whose choice has not finished.
    close = b',"finish_reason":null}]}\n\n'

    def __init__(self, encoder: ChatEncoder, reply: Reply, identity: Identity, usage: bool) -> None:
        self.encoder = encoder
        self.dialect = encoder.dialect
        self.reply = reply
        self.send_usage = usage
        self.keepalive = encoder.dialect.keepalive
        head = dumps(
            {
                "id": identity.id,
                "object": encoder.chunk_object,
                "created": identity.created,
                "model": reply.model,
                "provider": reply.provider,
            }
        )
        self.open = b"data: " + head[:-1] + _CHOICE_OPEN  # every delta chunk starts so

    @property
    def head(self) -> bytes:
        """``data: `` and the envelope without its closing brace (the last chunks' start)."""
        return self.open[: -len(_CHOICE_OPEN)]

    def encode(self, event: Event) -> bytes | None:
        if isinstance(event, ContentPiece):
            return self.open + self.content_delta(dumps(event.text)) + self.close
        if isinstance(event, Role):
            return self.open + b'{"role":"assistant","content":""}' + self.close
        if isinstance(event, ReasoningPiece):
            return self.open + self.reasoning_delta(dumps(event.text)) + self.close
        if isinstance(event, RefusalPiece):
            return self.open + self.refusal_delta(dumps(event.text)) + self.close
        if isinstance(event, ToolCallFragment):
            return self.open + dumps(self.tool_delta(event)) + self.close
        if isinstance(event, Finish):
            return self.finish(event.reason)
        if isinstance(event, UsageReport):
            return self.usage_chunk() if self.send_usage else None
        return None

    def content_delta(self, text: bytes) -> bytes:
        return b'{"content":' + text + b"}"

    def reasoning_delta(self, text: bytes) -> bytes:
        return b'{"reasoning":' + text + b"}"

    def refusal_delta(self, text: bytes) -> bytes:
        return b'{"refusal":' + text + b"}"

    def tool_delta(self, event: ToolCallFragment) -> dict[str, Any]:
        fragment: dict[str, Any] = {"index": event.index}
        if event.id is not None:
            fragment["id"] = event.id
            fragment["type"] = "function"
            fragment["function"] = {"name": event.name, "arguments": event.arguments}
        else:
            fragment["function"] = {"arguments": event.arguments}
        return {"tool_calls": [fragment]}

    def finish(self, reason: str) -> bytes:
        return self.open + b'{},"finish_reason":' + dumps(reason) + b"}]}\n\n"

    def usage_chunk(self) -> bytes:
        return self.head + b',"choices":[],"usage":' + dumps(self.encoder.usage(self.reply.usage)) + b"}\n\n"

    def error_choice(self) -> bytes:
        return b'{"index":0,"delta":{},"finish_reason":"error"}'

    def error_chunk(self, error: HttpError) -> bytes:
        return (
            self.head
            + b',"error":'
            + dumps(self.dialect.error_object(error))
            + b',"choices":['
            + self.error_choice()
            + b"]}\n\n"
        )


ChatEncoder.stream_class = ChatStream


class TextEncoder(Encoder):
    """Legacy ``/completions``: the reply's content as ``choices[0].text``."""

    surface: ClassVar[str] = "text"
    #: ``object`` of a body and of its stream chunks.
    object: ClassVar[str] = "text_completion"
    chunk_object: ClassVar[str] = "text_completion"
    #: Whether choices carry ``native_finish_reason`` and streams always end with usage.
    native_finish: ClassVar[bool] = False
    usage_always: ClassVar[bool] = False

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect

    def choice(self, reply: Reply, text: str | None, finish: str | None) -> dict[str, Any]:
        choice: dict[str, Any] = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish}
        if self.native_finish:
            choice["native_finish_reason"] = (reply.native_finish_reason or finish) if finish else None
        return choice

    def body(self, reply: Reply, identity: Identity, request: dict[str, Any]) -> bytes:
        return dumps(
            {
                "id": identity.id,
                "object": self.object,
                "created": identity.created,
                "model": reply.model,
                "provider": reply.provider,
                "system_fingerprint": None,
                "choices": [self.choice(reply, reply.content or "", reply.finish_reason)],
                "usage": reply.usage.counts(),
            }
        )

    def stream(self, reply: Reply, identity: Identity, request: dict[str, Any]) -> StreamEncoder:
        return TextStream(
            self, reply, identity, wants_usage(reply.usage_mode, request, always_by_default=self.usage_always)
        )


class TextStream(StreamEncoder):
    """A streamed legacy ``/completions`` answer: content pieces as ``choices[0].text``."""

    def __init__(self, encoder: TextEncoder, reply: Reply, identity: Identity, usage: bool) -> None:
        self.encoder = encoder
        self.reply = reply
        self.send_usage = usage
        self.keepalive = encoder.dialect.keepalive
        self.base = {
            "id": identity.id,
            "object": encoder.chunk_object,
            "created": identity.created,
            "model": reply.model,
            "provider": reply.provider,
        }

    def _chunk(self, choices: list[dict[str, Any]], **extra: Any) -> bytes:
        return b"data: " + dumps({**self.base, **extra, "choices": choices}) + b"\n\n"

    def encode(self, event: Event) -> bytes | None:
        if isinstance(event, ContentPiece):
            return self._chunk([self.encoder.choice(self.reply, event.text, None)])
        if isinstance(event, Finish):
            return self._chunk([self.encoder.choice(self.reply, "", event.reason)])
        if isinstance(event, UsageReport) and self.send_usage:
            return b"data: " + dumps({**self.base, "choices": [], "usage": self.reply.usage.counts()}) + b"\n\n"
        return None  # the role, reasoning, refusal and tool calls have no place in a text completion

    def error_chunk(self, error: HttpError) -> bytes:
        choice = self.encoder.choice(self.reply, "", "error")
        return self._chunk([choice], error=self.encoder.dialect.error_object(error))
