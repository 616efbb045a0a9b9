"""Response strategies, writing each dialect's wire format: :func:`chat_responses`
(:class:`ChatResponse`, one JSON body) and :func:`chat_streams` (:class:`ChatStream`, an SSE
body and the network writes it is cut into), each with ``.expected``: the message a correct
client assembles."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from ..core.reply import expected_message
from ._blocks import _NAME, MODELS, _alnum, _check_dialect, _check_range, _interleave, _split, texts, tool_arguments

KEEPALIVE = {"anyrouter": ": keep-alive", "openrouter": ": OPENROUTER PROCESSING"}
PROVIDERS = ("OpenAI", "Azure", "Anthropic", "Google AI Studio", "Novita", "Z.AI")
NATIVE_FINISH = {
    "stop": ("stop", "end_turn", "STOP"),
    "length": ("length", "max_tokens", "MAX_TOKENS"),
    "tool_calls": ("tool_calls", "tool_use", "function_call"),
    "content_filter": ("content_filter", "SAFETY", "refusal"),
}


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

    @property
    def generation_id(self) -> str:
        """The completion's id."""
        return str(self.data["id"])


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

    @property
    def generation_id(self) -> str:
        """The completion's id (every chunk's)."""
        return str(self.chunks[0]["id"])


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
    delta: dict[str, Any]
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
        first_args = pieces.pop(0) if bool(pieces) and draw(st.booleans()) else ""
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
    final: dict[str, Any] = {"role": "assistant", "content": ""} if openrouter else {}
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
