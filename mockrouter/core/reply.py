"""What the scenario engine hands to a dialect: a rendered reply or an HTTP error.

The engine never builds bytes. It renders a scenario step into a :class:`Reply` (the whole
answer, for a JSON response) whose ``events`` are the same answer cut into abstract stream
events (for SSE), or into an :class:`HttpError`. A dialect turns either into bytes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from .tokens import cut


@dataclass(slots=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    reasoning_tokens: int = 0
    prompt_cost: float = 0.0
    completion_cost: float = 0.0
    #: A scripted ``usage`` mapping from the scenario; its keys win over the computed ones
    #: (``reasoning_tokens`` here, the others in ``counts``).
    overrides: dict[str, Any] | None = None
    cost: float = field(init=False)
    #: ``journaled()``, once made.
    _journaled: bytes | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.cost = round(self.prompt_cost + self.completion_cost, 12)
        if self.overrides and "reasoning_tokens" in self.overrides:
            self.reasoning_tokens = self.overrides["reasoning_tokens"]

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def counts(self) -> dict[str, Any]:
        """prompt/completion/total tokens and cost, with the scenario's overrides applied."""
        prompt = self.prompt_tokens
        completion = self.completion_tokens
        out: dict[str, Any] = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "cost": self.cost,
        }
        overrides = self.overrides
        if overrides:
            for k in ("prompt_tokens", "completion_tokens", "cost"):
                if k in overrides:
                    out[k] = overrides[k]
            out["total_tokens"] = overrides.get("total_tokens", out["prompt_tokens"] + out["completion_tokens"])
        return out

    def journaled(self) -> bytes:
        """What the journal keeps (for ``GET /generation`` and the key's bill): ``counts()`` and
        ``reasoning_tokens``, as JSON bytes, made once per usage."""
        if self._journaled is None:
            counts = self.counts()
            counts["reasoning_tokens"] = self.reasoning_tokens
            self._journaled = bytes(memoryview(orjson.dumps(counts)))
        return self._journaled


@dataclass(slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str
    #: The argument fragments a stream sends (they concatenate to ``arguments``); None: the
    #: arguments are cut by ``Reply.chunk_tokens``.
    pieces: list[str] | None = None


# -- stream events -------------------------------------------------------------------------


@dataclass(slots=True)
class Role:
    """The opening event: the assistant starts speaking."""


@dataclass(slots=True)
class ContentPiece:
    text: str


@dataclass(slots=True)
class ReasoningPiece:
    text: str


@dataclass(slots=True)
class RefusalPiece:
    text: str


@dataclass(slots=True)
class ToolCallFragment:
    """A piece of one tool call; ``id`` and ``name`` only on the call's first fragment."""

    index: int
    arguments: str
    id: str | None = None
    name: str | None = None


@dataclass(slots=True)
class Finish:
    reason: str


@dataclass(slots=True)
class UsageReport:
    usage: Usage


Event = Role | ContentPiece | ReasoningPiece | RefusalPiece | ToolCallFragment | Finish | UsageReport


@dataclass(slots=True)
class Timing:
    """Scripted delays in milliseconds (before ``--speed`` scaling)."""

    latency_ms: float = 0.0
    ttft_ms: float = 0.0
    interval_ms: float = 0.0
    jitter_ms: float = 0.0
    tokens_per_s: float | None = None
    #: The gap before each stream chunk after the first, in order (as recorded); chunks
    #: beyond the list use ``interval_ms``, ``jitter_ms`` and ``tokens_per_s``.
    intervals_ms: tuple[float, ...] = ()

    @property
    def is_zero(self) -> bool:
        return not (
            self.latency_ms
            or self.ttft_ms
            or self.interval_ms
            or self.jitter_ms
            or self.tokens_per_s
            or (self.intervals_ms and any(self.intervals_ms))
        )


@dataclass(slots=True)
class Fault:
    """A deliberate break in a stream, fired after ``after_chunks`` data events."""

    kind: str
    after_chunks: int = 0
    ms: float | None = None
    #: For ``kind: error``: the error the in-band chunk carries.
    error: HttpError | None = None
    #: For ``kind: stall``: keep-alive comments every so many ms while stalled.
    keepalive_ms: float | None = None


@dataclass(slots=True)
class Reply:
    """One rendered answer: the whole message plus the same message as stream events."""

    model: str
    provider: str
    content: str | None
    reasoning: str | None
    refusal: str | None
    tool_calls: list[ToolCall]
    finish_reason: str
    usage: Usage
    #: The stream cut of each text (pieces concatenate to the text).
    reasoning_pieces: list[str] = field(default_factory=list)
    content_pieces: list[str] = field(default_factory=list)
    refusal_pieces: list[str] = field(default_factory=list)
    #: Tokens per tool-call argument fragment (for calls without their own ``pieces``).
    chunk_tokens: int = 1
    #: ``auto`` | ``always`` | ``never``: whether a stream ends with a usage chunk.
    usage_mode: str = "auto"
    keepalive: int = 0
    timing: Timing = field(default_factory=Timing)
    fault: Fault | None = None
    native_finish_reason: str | None = None
    #: Set on a *static* reply (its texts fixed when the scenario loaded, not cut by
    #: ``max_tokens``): a memo that lives with the step, where encoders keep the bytes they
    #: compiled for it (see ``wire.dialects.openai``). None: render every time.
    memo: dict[Any, Any] | None = None
    #: ``journaled_expected()``, once made.
    _journaled: bytes | None = field(default=None, repr=False, compare=False)
    #: A static reply's ``events()``, once made (shared by every stream of it, read-only).
    _events: list[Event] | None = field(default=None, repr=False, compare=False)

    def events(self) -> list[Event]:
        """The reply as abstract stream events (built only for streamed answers)."""
        return list(self._each_event())

    def stream_events(self) -> Iterator[Event]:
        """The events one at a time, as a stream reads them: a static reply (``memo`` set)
        makes its list once and every stream of it iterates that; any other makes each event
        as it is read."""
        if self.memo is None:
            return self._each_event()
        if self._events is None:
            self._events = self.events()
        return iter(self._events)

    def _each_event(self) -> Iterator[Event]:
        yield Role()
        for p in self.reasoning_pieces:
            yield ReasoningPiece(p)
        for p in self.content_pieces:
            yield ContentPiece(p)
        for p in self.refusal_pieces:
            yield RefusalPiece(p)
        for index, call in enumerate(self.tool_calls):
            yield ToolCallFragment(index=index, arguments="", id=call.id, name=call.name)
            pieces = call.pieces if call.pieces is not None else cut(call.arguments, self.chunk_tokens)
            for p in pieces:
                yield ToolCallFragment(index=index, arguments=p)
        yield Finish(self.finish_reason)
        yield UsageReport(self.usage)

    def expected(self) -> dict[str, Any]:
        """The message a correct client assembles from this reply (kept in the journal)."""
        return expected_message(self.content, self.reasoning, self.refusal, self.tool_calls)

    def journaled_expected(self) -> bytes:
        """``expected()`` as the journal keeps it (JSON bytes), made once per reply."""
        if self._journaled is None:
            self._journaled = bytes(memoryview(orjson.dumps(self.expected())))
        return self._journaled


def expected_message(
    content: str | None, reasoning: str | None, refusal: str | None, calls: Sequence[Any]
) -> dict[str, Any]:
    """``{"role", "content", "reasoning"?, "refusal"?, "tool_calls"?}``: what a correct client
    assembles (``calls`` are objects with ``id``, ``name`` and ``arguments``)."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if reasoning is not None:
        message["reasoning"] = reasoning
    if refusal is not None:
        message["refusal"] = refusal
    if calls:
        message["tool_calls"] = [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in calls]
    return message


@dataclass(slots=True)
class HttpError:
    """An error answered with an HTTP status, before any byte of a body was sent.

    ``body``/``content_type`` send a raw body instead of the dialect's envelope (a proxy's
    HTML 502 page, say). ``retry_after`` is already in wire form: seconds or an HTTP date
    for ``Retry-After``; ``retry_after_ms`` goes to ``retry-after-ms``.
    """

    status: int
    message: str | None = None
    type: str | None = None
    code: str | int | None = None
    param: str | None = None
    metadata: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    retry_after: str | None = None
    retry_after_ms: float | None = None
    body: str | None = None
    content_type: str | None = None
    provider: str | None = None
