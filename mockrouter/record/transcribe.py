"""One exchange with the real router as the scenario step that makes mockrouter say it again.

:func:`transcribe` reads what the upstream answered — an HTTP error, a JSON body or an SSE
stream, on any surface (``chat``, ``text``, ``messages``, ``responses``) — and writes one step:

- an error (status >= 400) is ``error: {status, body, content_type, retry_after?, headers?}``,
  the body as the bytes came (so a replay shows the client the same bytes) and the headers
  clients act on (``Retry-After`` / ``retry-after-ms``, rate limits, request ids);
- an answer is its ``content``, ``reasoning``, ``refusal`` and ``tool_calls`` (arguments as the
  exact string sent), ``finish_reason`` in the chat vocabulary (and ``native_finish_reason``
  when the upstream said more), ``usage`` with the upstream's numbers, ``model`` and
  ``provider``; a stream also keeps its cut (``stream.chunks``, ``stream.reasoning_chunks``,
  ``tool_calls[i].chunks``), its keep-alive comments before the first event, and whether it
  sent a usage chunk where ``stream.usage: auto`` would not (``auto`` differs by dialect, so the
  step says ``always`` when usage came unasked and ``never`` when none came);
- what went wrong is a ``fault``: an in-band error event (``error``), an event that is not
  JSON (``malformed``), a body broken off (``disconnect``; also when the client hung up), a
  clean end without the surface's last event (``truncate``), a 2xx JSON body that does not
  parse (``malformed``);
- with ``timing``: ``latency_ms`` (to the headers; for a JSON answer, to its last byte),
  ``ttft_ms`` (to the first stream frame) and ``intervals_ms`` (the gap before each later one).

It works in three passes. *Hear*: the body is read as the surface's clients read it (the SSE
decoder of :mod:`mockrouter.fuzz`, each event with the time it arrived) into a :class:`_Heard`,
which also keeps which abstract stream events (``core.reply``: the role, each piece, each
tool-call fragment, the finish, the usage) had arrived, and when. *Write*: the step. *Replay*:
the step is loaded with mockrouter's own loader, rendered for the recorded request and encoded
as ``wire.sse.write_stream`` sends it; matching each frame of that replay to the event it
encodes gives ``fault.after_chunks`` (the writer fires when ``chunks_sent == after_chunks``:
the frames whose events the upstream had delivered) and the time of every frame.

Text that holds ``{{`` (which opens a template) is written so it renders as itself; such a text
cannot carry explicit chunks, and a note says so. No upstream bytes make :func:`transcribe`
raise: a step the loader refuses loses what it refused, with a note.
"""

from __future__ import annotations

import codecs
import itertools
import math
import random
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import orjson

from ..core.catalog import Catalog
from ..core.reply import (
    ContentPiece,
    Event,
    Finish,
    HttpError,
    ReasoningPiece,
    RefusalPiece,
    Role,
    ToolCallFragment,
    UsageReport,
)
from ..core.surfaces import CHAT, MESSAGES, RESPONSES, SURFACES, TEXT, chat_view
from ..core.tokens import count_tokens
from ..fuzz import sse_named_events
from ..scenario.loader import collect_json, header_text_problem
from ..scenario.matcher import RequestFacts
from ..scenario.render import RenderInput, render, requested_max_tokens
from ..wire.dialects.anyrouter import ERRORS as ANYROUTER_ERRORS
from ..wire.dialects.anyrouter import AnyRouter
from ..wire.dialects.base import Encoder, wants_usage
from ..wire.dialects.messages import ERROR_TYPES as ANTHROPIC_ERRORS
from ..wire.dialects.messages import tool_input
from .exchange import Exchange

__all__ = ["Transcript", "transcribe"]


@dataclass(slots=True)
class Transcript:
    """A transcribed exchange: the step and what was odd about it."""

    #: A YAML-ready scenario step (plain dicts, lists, strings, numbers and booleans).
    step: dict[str, Any]
    #: One-line remarks for a comment above the step (``upstream dropped the stream after 7 events``).
    notes: list[str]


def transcribe(exchange: Exchange, *, timing: bool = False) -> Transcript:
    """The scenario step that replays ``exchange`` (with its recorded delays when ``timing``)."""
    notes = _Notes()
    try:
        step = _step(exchange, timing, notes)
    except Exception as exc:  # a bug here must not lose the recording: say so in the file
        notes.add(f"could not transcribe this answer ({type(exc).__name__}: {exc}); replayed as a bare step")
        step = _fallback(exchange)
    return Transcript(_loadable(step, notes), notes.lines)


# -- what was heard --------------------------------------------------------------------------

#: An abstract stream event, as ``Reply.events()`` makes them: ``("role",)``, ``("content", i)``
#: (the i-th content piece; likewise reasoning, refusal), ``("tool", call, -1)`` (a call's
#: opening fragment), ``("tool", call, j)`` (its j-th argument piece), ``("finish",)``, ``("usage",)``.
Key = tuple[Any, ...]
ROLE: Key = ("role",)
FINISH: Key = ("finish",)
USAGE: Key = ("usage",)
TEXTS = ("content", "reasoning", "refusal")

#: The step's finish reasons (chat's vocabulary).
FINISH_REASONS = frozenset({"stop", "length", "tool_calls", "content_filter", "error"})
#: Chat finish reasons of other providers, in that vocabulary.
CHAT_FINISHES = {"function_call": "tool_calls", "eos": "stop", "end_turn": "stop", "max_tokens": "length"}
#: Anthropic stop reasons in chat's vocabulary, and those a replay says again as they are.
ANTHROPIC_STOPS = {
    "end_turn": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "model_context_window_exceeded": "length",
}
EXACT_STOPS = frozenset({"end_turn", "max_tokens", "tool_use", "refusal"})
#: Responses error codes with the status they stand for.
RESPONSES_CODES = {"rate_limit_exceeded": 429, "server_error": 500, "invalid_prompt": 400}
#: Response headers an error step keeps: those clients act on (retry and rate-limit logic, ids).
KEPT_HEADERS = re.compile(r"x-ratelimit-.+|anthropic-ratelimit-.+|x-should-retry|request-id|x-request-id")
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
#: The most keep-alive comments a step may ask for (the scenario schema's bound).
MAX_KEEPALIVE = 10_000
#: Error bodies longer than this are cut (a proxy's error page is small; a runaway one is not kept).
MAX_ERROR_BODY = 1_000_000


class _Notes:
    """Notes in the order they were made, each once."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, line: str) -> None:
        line = " ".join(line.split())  # one line, whatever an upstream's text held
        if line not in self.lines:
            self.lines.append(line)


@dataclass(slots=True)
class _Call:
    """One tool call as heard: its arguments as the pieces they came in, or whole (a JSON body)."""

    id: str | None = None
    name: str | None = None
    pieces: list[str] = field(default_factory=list)
    whole: str | None = None

    @property
    def arguments(self) -> str:
        return "".join(self.pieces) if self.pieces else (self.whole or "")


@dataclass(slots=True)
class _Heard:
    """What the upstream said, and when each abstract stream event arrived (``at``)."""

    notes: _Notes
    #: Stream pieces of content, reasoning and refusal.
    pieces: dict[str, list[str]] = field(default_factory=dict)
    #: A JSON body's texts (present even when empty).
    whole: dict[str, str] = field(default_factory=dict)
    calls: list[_Call] = field(default_factory=list)
    finish: str | None = None
    native: str | None = None
    usage: dict[str, int | float] = field(default_factory=dict)
    model: str | None = None
    provider: str | None = None
    #: Whether a stream sent a usage chunk, and its surface's last event.
    usage_seen: bool = False
    terminal: bool = False
    data_events: int = 0
    #: The fault heard in-band (``error`` with its error, ``malformed``), without ``after_chunks``.
    fault: dict[str, Any] | None = None
    #: The events that had arrived when the in-band fault came.
    cut: set[Key] | None = None
    at: dict[Key, float] = field(default_factory=dict)

    def mark(self, key: Key, at: float) -> None:
        self.at.setdefault(key, at)

    def piece(self, kind: str, text: Any, at: float) -> None:
        if not isinstance(text, str) or not text:
            return
        pieces = self.pieces.setdefault(kind, [])
        self.mark((kind, len(pieces)), at)
        pieces.append(text)

    def text(self, kind: str) -> str | None:
        if kind in self.whole:
            return self.whole[kind]
        pieces = self.pieces.get(kind)
        return "".join(pieces) if pieces else None

    def open_call(self, at: float, id: Any = None, name: Any = None) -> int:
        """A new tool call (its opening fragment); its position."""
        position = len(self.calls)
        self.calls.append(_Call(_string(id), _string(name)))
        self.mark(("tool", position, -1), at)
        return position

    def call_piece(self, position: int, text: Any, at: float) -> None:
        if not isinstance(text, str) or not text:
            return
        call = self.calls[position]
        self.mark(("tool", position, len(call.pieces)), at)
        call.pieces.append(text)

    def broke(self, fault: dict[str, Any], why: str) -> None:
        """An in-band fault: the first one is replayed, later ones only noted."""
        if self.fault is None:
            self.fault = fault
            self.cut = set(self.at)
            self.notes.add(why)
        else:
            self.notes.add(f"{why} (not replayed: only the first fault is)")

    def take_usage(self, usage: dict[str, int | float]) -> None:
        self.usage.update(usage)

    def identity(self, data: dict[str, Any]) -> None:
        """``model`` and ``provider`` of a body, chunk or response object."""
        model, provider = data.get("model"), data.get("provider")
        if isinstance(model, str) and model:
            self.model = model
        if isinstance(provider, str) and provider:
            self.provider = provider


def _obj(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    """``value`` when it is a JSON array, else an empty one."""
    return value if isinstance(value, list) else []


def _string(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _count(value: Any) -> int | None:
    """A token count (a non-negative integer), or None."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        return None
    return int(value) if float(value).is_integer() else None


def _cost(value: Any) -> float | int | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        return None
    return value


def _json(data: str | bytes) -> Any:
    """Parsed JSON, or ``_BAD``."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return _BAD


_BAD = object()


# -- the step --------------------------------------------------------------------------------


def _step(exchange: Exchange, timing: bool, notes: _Notes) -> dict[str, Any]:
    body = _decoded(exchange, notes)
    if not 200 <= exchange.status < 300:
        step = _error_step(exchange, body, notes)
        if timing:
            step["timing"] = {"latency_ms": _ms(exchange.latency_s + _last(exchange))}
        return step
    if exchange.status != 200:
        notes.add(f"upstream answered {exchange.status}; a replay answers 200")
    surface = exchange.surface if exchange.surface in SURFACES else CHAT
    if surface != exchange.surface:
        notes.add(f"unknown surface {exchange.surface!r}: read as chat completions")
    content_type = (exchange.header("content-type") or "").lower()
    streamed = content_type.startswith("text/event-stream")
    asked = exchange.request.get("stream") is True if isinstance(exchange.request, dict) else False
    if streamed != asked:
        notes.add(f"the request {'asked' if asked else 'did not ask'} for a stream; the upstream sent {content_type!r}")
    heard = _Heard(notes)
    if streamed:
        chunks = _stream_chunks(exchange, body, notes)
        keepalive = _hear_stream(heard, surface, chunks, notes)
        return _write_stream(heard, exchange, surface, keepalive, timing, notes)
    _hear_json(heard, surface, body, exchange, notes)
    step = _write_answer(heard, exchange, surface, stream=False)
    fault = _json_fault(heard, exchange, notes)
    if fault is not None:
        step["fault"] = fault
    if timing:
        step["timing"] = {"latency_ms": _ms(exchange.latency_s + _last(exchange))}
    return step


def _fallback(exchange: Exchange) -> dict[str, Any]:
    """The step of an exchange the transcriber could not read: its error as it came, or an empty answer."""
    if 200 <= exchange.status < 300:
        return {"content": ""}
    status = exchange.status if 400 <= exchange.status <= 599 else 502
    return {"error": {"status": status, "body": exchange.body.decode("utf-8", "replace")[:MAX_ERROR_BODY]}}


def _ms(seconds: float) -> float:
    return round(max(seconds, 0.0) * 1000, 1)


def _last(exchange: Exchange) -> float:
    """When the body's last piece arrived (seconds after the headers)."""
    return exchange.chunks[-1][0] if exchange.chunks else 0.0


def _decoded(exchange: Exchange, notes: _Notes) -> bytes:
    """The body, decompressed when the upstream compressed it anyway."""
    body = exchange.body
    encoding = (exchange.header("content-encoding") or "identity").lower().strip()
    if encoding in ("identity", ""):
        return body
    if encoding in ("gzip", "x-gzip", "deflate"):
        try:
            wbits = 47 if encoding != "deflate" else 15
            return zlib.decompressobj(wbits).decompress(body)
        except zlib.error:
            notes.add(f"the body says content-encoding {encoding} but does not decompress; read as it came")
            return body
    notes.add(f"the body is {encoding}-encoded, which the transcriber does not decode; read as it came")
    return body


# -- errors ----------------------------------------------------------------------------------


def _error_step(exchange: Exchange, body: bytes, notes: _Notes) -> dict[str, Any]:
    status = exchange.status
    if not 400 <= status <= 599:
        notes.add(f"upstream answered {status}, which a scenario cannot send; replayed as 502")
        status = 502
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = body.decode("utf-8", "replace")
        notes.add("the error body is not valid UTF-8: bad bytes replaced by U+FFFD")
    if len(text) > MAX_ERROR_BODY:
        notes.add(f"the error body was {len(text)} characters; kept the first {MAX_ERROR_BODY}")
        text = text[:MAX_ERROR_BODY]
    if not exchange.complete:
        notes.add("upstream broke the error body off; replayed as far as it came")
    if exchange.client_gone:
        notes.add("the client hung up before the error body ended; replayed as far as it came")
    error: dict[str, Any] = {"status": status, "body": text}
    content_type = exchange.header("content-type")
    if content_type is not None and content_type and header_text_problem(content_type) is None:
        error["content_type"] = content_type
    headers: dict[str, str] = {}
    retry_after = exchange.header("retry-after")
    retry_ms = exchange.header("retry-after-ms")
    if retry_after is not None and retry_after.strip() and header_text_problem(retry_after.strip()) is None:
        error["retry_after"] = _retry_after(retry_after.strip())
        if retry_ms is not None:
            headers["retry-after-ms"] = retry_ms
    elif retry_ms is not None:
        ms = _json(retry_ms.strip())
        if isinstance(ms, int | float) and not isinstance(ms, bool) and math.isfinite(ms) and ms >= 0:
            error["retry_after"] = {"ms": ms}
        else:
            headers["retry-after-ms"] = retry_ms
    for name, value in exchange.headers:
        if KEPT_HEADERS.fullmatch(name) and name not in headers:
            headers[name] = value
    for name, value in list(headers.items()):
        problem = header_text_problem(value)
        if problem is not None or not _HEADER_NAME.fullmatch(name):
            notes.add(f"header {name!r} dropped: {problem or 'not an HTTP token'}")
            del headers[name]
    if headers:
        error["headers"] = headers
    return {"error": error}


def _retry_after(value: str) -> int | float | str:
    """``Retry-After`` as a step says it: seconds as a number, anything else (an HTTP date) as it is."""
    if re.fullmatch(r"\d+", value):
        return int(value)
    if re.fullmatch(r"\d+\.\d+", value):
        return float(value)
    return value


def _fault_error(error: Any) -> dict[str, Any]:
    """A fault's ``error`` from an in-band error object (any surface's spelling); its status
    from what the object says (an integer code, an error type, a Responses code), if it says."""
    out: dict[str, Any] = {}
    status: int | None = None
    if not isinstance(error, dict):
        error = {"message": error} if isinstance(error, str) else {}
    code, kind, message = error.get("code"), error.get("type"), error.get("message")
    if isinstance(code, int) and not isinstance(code, bool) and 400 <= code <= 599:
        status = status or code
        out["code"] = code
    elif isinstance(code, str) and code:
        out["code"] = code
        status = status or RESPONSES_CODES.get(code)
    if isinstance(kind, str) and kind:
        out["type"] = kind
        status = status or _status_of_type(kind)
    if status is not None:
        out = {"status": status, **out}
    out["message"] = message if isinstance(message, str) else ("" if message is None else str(message))
    metadata = error.get("metadata")
    if isinstance(metadata, dict):
        out["metadata"] = metadata
    return out


def _status_of_type(kind: str) -> int | None:
    for table in (ANTHROPIC_ERRORS, {status: pair[0] for status, pair in ANYROUTER_ERRORS.items()}):
        for status, name in table.items():
            if name == kind:
                return status
    return None


# -- JSON answers ----------------------------------------------------------------------------


def _hear_json(heard: _Heard, surface: str, body: bytes, exchange: Exchange, notes: _Notes) -> None:
    data = _json(body) if body.strip() else _BAD
    if data is _BAD:
        if exchange.complete and not exchange.client_gone:
            heard.fault = {"kind": "malformed"}
            notes.add(f"upstream answered {exchange.status} with a body that is not JSON ({_excerpt(body)})")
        return
    if not isinstance(data, dict):
        notes.add(f"upstream answered a JSON {type(data).__name__}, not an object; replayed as an empty answer")
        return
    heard.identity(data)
    if surface == MESSAGES:
        _hear_messages_json(heard, data, notes)
    elif surface == RESPONSES:
        _hear_responses_json(heard, data, notes)
    else:
        _hear_chat_json(heard, data, surface == TEXT, notes)


def _excerpt(body: bytes) -> str:
    text = body[:60].decode("utf-8", "replace")
    return repr(text) + ("…" if len(body) > 60 else "") if body else "empty"


def _json_fault(heard: _Heard, exchange: Exchange, notes: _Notes) -> dict[str, Any] | None:
    if exchange.client_gone:
        notes.add("the client hung up before the body ended; replayed as a dropped connection")
        return {"kind": "disconnect", "after_chunks": 0}
    if not exchange.complete:
        notes.add(f"upstream broke the body off after {len(exchange.body)} bytes")
        return {"kind": "disconnect", "after_chunks": 0}
    if heard.fault is not None:
        return {"kind": heard.fault["kind"], "after_chunks": 0, **{k: v for k, v in heard.fault.items() if k != "kind"}}
    return None


def _hear_chat_json(heard: _Heard, data: dict[str, Any], text_surface: bool, notes: _Notes) -> None:
    heard.usage = _chat_usage(data.get("usage"))
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices:
        if data.get("error"):
            heard.fault = {"kind": "error", "error": _fault_error(data["error"])}
            notes.add("upstream answered 200 with an error body; replayed as an answer with finish_reason error")
        else:
            notes.add("the answer has no choices; replayed as an empty answer")
        return
    if len(choices) > 1:
        notes.add(f"upstream answered {len(choices)} choices; only the first is replayed")
    choice = choices[0] if isinstance(choices[0], dict) else {}
    if text_surface:
        if isinstance(choice.get("text"), str):
            heard.whole["content"] = choice["text"]
    else:
        message = _obj(choice.get("message"))
        for kind in TEXTS:
            if isinstance(message.get(kind), str):
                heard.whole[kind] = message[kind]
        if "reasoning" not in heard.whole and isinstance(message.get("reasoning_content"), str):
            heard.whole["reasoning"] = message["reasoning_content"]
        for call in _list(message.get("tool_calls")):
            if isinstance(call, dict):
                function = _obj(call.get("function"))
                arguments = function.get("arguments")
                heard.calls.append(
                    _Call(
                        _string(call.get("id")),
                        _string(function.get("name")),
                        whole=arguments if isinstance(arguments, str) else _compact(arguments),
                    )
                )
    if choice.get("error"):  # an error after the answer began: 200, finish_reason error, the error
        heard.fault = {"kind": "error", "error": _fault_error(choice["error"])}
    else:
        _chat_finish(heard, choice.get("finish_reason"), choice.get("native_finish_reason"))


def _compact(value: Any) -> str | None:
    if value is None:
        return None
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return None


def _chat_finish(heard: _Heard, finish: Any, native: Any) -> None:
    if isinstance(native, str) and native:
        heard.native = native
    if not isinstance(finish, str) or not finish:
        return
    if finish in FINISH_REASONS:
        heard.finish = finish
        return
    mapped = CHAT_FINISHES.get(finish, "stop")
    heard.finish = mapped
    heard.native = heard.native or finish
    heard.notes.add(f"finish_reason {finish!r} is not one a step can say: replayed as {mapped!r}")


def _usage_counts(
    usage: Any, names: tuple[str, ...], details: tuple[tuple[str, str, str], ...] = ()
) -> dict[str, int | float] | None:
    """The counts a usage object reports: top-level ``names``, and ``(object, field, as)`` from
    its details objects, plus ``cost``; None when ``usage`` is not an object. Every surface's
    reader below names its fields and maps them to the step's."""
    if not isinstance(usage, dict):
        return None
    out: dict[str, int | float] = {}
    for name in names:
        value = _count(usage.get(name))
        if value is not None:
            out[name] = value
    for container, member, name in details:
        detail = usage.get(container)
        if isinstance(detail, dict) and (value := _count(detail.get(member))) is not None:
            out[name] = value
    cost = _cost(usage.get("cost"))
    if cost is not None:
        out["cost"] = cost
    return out


def _chat_usage(usage: Any) -> dict[str, int | float]:
    out = _usage_counts(
        usage,
        ("prompt_tokens", "completion_tokens", "total_tokens"),
        (
            ("completion_tokens_details", "reasoning_tokens", "reasoning_tokens"),
            ("prompt_tokens_details", "cached_tokens", "cached_tokens"),
        ),
    )
    if out is None:
        return {}
    if not out.get("cached_tokens", 1):  # a zero cache count is the default: not written
        del out["cached_tokens"]
    return out


def _hear_messages_json(heard: _Heard, data: dict[str, Any], notes: _Notes) -> None:
    if data.get("type") == "error":
        heard.fault = {"kind": "error", "error": _fault_error(data.get("error"))}
        notes.add("upstream answered 200 with an error body; a replay answers with the error's status")
        return
    texts: list[str] = []
    thinking: list[str] = []
    for block in _list(data.get("content")):
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif kind == "thinking" and isinstance(block.get("thinking"), str):
            thinking.append(block["thinking"])
        elif kind == "tool_use":
            heard.calls.append(
                _Call(_tool_id(block.get("id")), _string(block.get("name")), whole=_compact(block.get("input", {})))
            )
        else:
            notes.add(f"a {kind!r} content block is not replayed")
    _joined(heard, "content", texts, "text")
    _joined(heard, "reasoning", thinking, "thinking")
    _messages_stop(heard, data.get("stop_reason"))
    heard.usage = _messages_usage(data.get("usage"))


def _joined(heard: _Heard, kind: str, texts: list[str], block: str) -> None:
    if texts:
        heard.whole[kind] = "".join(texts)
    if len(texts) > 1:
        heard.notes.add(f"{len(texts)} {block} blocks joined into one")


def _tool_id(value: Any) -> str | None:
    """A step's tool-call id that replays as Anthropic's ``toolu_…`` id (``call_X`` → ``toolu_X``)."""
    text = _string(value)
    if text is None:
        return None
    return "call_" + text.removeprefix("toolu_")


def _messages_stop(heard: _Heard, stop: Any) -> None:
    if not isinstance(stop, str) or not stop:
        return
    mapped = ANTHROPIC_STOPS.get(stop)
    if mapped is None:
        heard.finish = "stop"
        heard.native = stop
        heard.notes.add(f"stop_reason {stop!r} is not one a step can say: replayed as end_turn")
        return
    heard.finish = mapped
    if stop not in EXACT_STOPS:
        heard.native = stop
        heard.notes.add(f"stop_reason {stop!r} replays as {'end_turn' if mapped == 'stop' else 'max_tokens'}")


def _messages_usage(usage: Any) -> dict[str, int | float]:
    out = _usage_counts(
        usage, ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
    )
    if out is None:
        return {}
    if "input_tokens" in out:
        out["prompt_tokens"] = int(
            out["input_tokens"] + out.get("cache_read_input_tokens", 0) + out.get("cache_creation_input_tokens", 0)
        )
    if "output_tokens" in out:
        out["completion_tokens"] = out["output_tokens"]
    return out


def _hear_responses_json(heard: _Heard, data: dict[str, Any], notes: _Notes) -> None:
    if data.get("object") != "response" and isinstance(data.get("error"), dict):
        heard.fault = {"kind": "error", "error": _fault_error(data["error"])}
        notes.add("upstream answered 200 with an error body; a replay answers with the error's status")
        return
    summary: list[str] = []
    reasoning_text: list[str] = []
    texts: list[str] = []
    refusals: list[str] = []
    messages = 0
    for item in _list(data.get("output")):
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind == "reasoning":
            summary += [p["text"] for p in _list(item.get("summary")) if isinstance(p, dict) and _is_str(p.get("text"))]
            reasoning_text += [
                p["text"] for p in _list(item.get("content")) if isinstance(p, dict) and _is_str(p.get("text"))
            ]
        elif kind == "message":
            messages += 1
            for part in _list(item.get("content")):
                if isinstance(part, dict) and part.get("type") == "output_text" and _is_str(part.get("text")):
                    texts.append(part["text"])
                elif isinstance(part, dict) and part.get("type") == "refusal" and _is_str(part.get("refusal")):
                    refusals.append(part["refusal"])
        elif kind == "function_call":
            arguments = item.get("arguments")
            heard.calls.append(
                _Call(
                    _string(item.get("call_id")),
                    _string(item.get("name")),
                    whole=arguments if isinstance(arguments, str) else _compact(arguments),
                )
            )
        else:
            notes.add(f"a {kind!r} output item is not replayed")
    if messages > 1:
        notes.add(f"{messages} message items joined into one")
    _reasoning_of(heard, summary, reasoning_text)
    if texts:
        heard.whole["content"] = "".join(texts)
    if refusals:
        heard.whole["refusal"] = "".join(refusals)
    _responses_status(heard, data)
    heard.usage = _responses_usage(data.get("usage"))


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _reasoning_of(heard: _Heard, summary: list[str], reasoning_text: list[str]) -> None:
    if summary:
        heard.whole["reasoning"] = "\n\n".join(summary)
        if len(summary) > 1:
            heard.notes.add(f"{len(summary)} reasoning summary parts joined into one")
    elif reasoning_text:
        heard.whole["reasoning"] = "".join(reasoning_text)
        heard.notes.add("the reasoning came as reasoning text; a replay sends it as the reasoning summary")


def _responses_status(heard: _Heard, response: dict[str, Any]) -> None:
    status = response.get("status")
    details = response.get("incomplete_details")
    reason = details.get("reason") if isinstance(details, dict) else None
    if status == "completed":
        heard.finish = "tool_calls" if heard.calls else "stop"
    elif status == "incomplete":
        heard.finish = "content_filter" if reason == "content_filter" else "length"
        if reason not in ("content_filter", "max_output_tokens"):
            heard.notes.add(f"incomplete for {reason!r}: replayed as max_output_tokens")
    elif status == "failed":
        error = response.get("error")
        if heard.fault is None:
            heard.broke({"kind": "error", "error": _fault_error(error)}, "the response failed")
    elif isinstance(status, str):
        heard.notes.add(f"response status {status!r}: replayed as completed")


def _responses_usage(usage: Any) -> dict[str, int | float]:
    out = _usage_counts(
        usage,
        ("input_tokens", "output_tokens", "total_tokens"),
        (
            ("input_tokens_details", "cached_tokens", "cached_tokens"),
            ("output_tokens_details", "reasoning_tokens", "reasoning_tokens"),
        ),
    )
    if out is None:
        return {}
    if "input_tokens" in out:
        out["prompt_tokens"] = out["input_tokens"]
    if "output_tokens" in out:
        out["completion_tokens"] = out["output_tokens"]
    return out


# -- streams ---------------------------------------------------------------------------------


@dataclass(slots=True)
class _Event:
    name: str | None
    data: str
    #: When the event arrived (seconds after the response headers).
    at: float


def _stream_chunks(exchange: Exchange, body: bytes, notes: _Notes) -> list[tuple[float, bytes]]:
    """The body's pieces with their times, as valid UTF-8 (bad bytes replaced)."""
    chunks = exchange.chunks if body == exchange.body else [(_last(exchange), body)]
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        notes.add("the stream is not valid UTF-8: bad bytes replaced by U+FFFD")
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        chunks = [(at, decoder.decode(piece).encode()) for at, piece in chunks]
        chunks.append((_last(exchange), decoder.decode(b"", final=True).encode()))
    return chunks


def _events(chunks: list[tuple[float, bytes]]) -> list[_Event]:
    """The SSE events of the body, each with the time of the piece that completed it."""
    clock = [0.0]

    def pieces() -> Iterator[bytes]:
        for at, piece in chunks:
            clock[0] = at
            yield piece

    return [_Event(name, data, clock[0]) for name, data in sse_named_events(pieces())]


_EOL = re.compile(r"\r\n|\r|\n")
_BLANK = re.compile(r"(?:\r\n|\r|\n)(?:\r\n|\r|\n)")


def _comments(text: str, notes: _Notes) -> int:
    """Comment lines before the first event (keep-alives); notes those after, and a last event cut off."""
    before = after = 0
    seen = False
    for line in _EOL.split(text):
        if line.startswith(":"):
            if seen:
                after += 1
            else:
                before += 1
        elif line:
            seen = True
    if after:
        notes.add(f"{after} keep-alive comment(s) came between events; a replay sends none there")
    ends = [m.end() for m in _BLANK.finditer(text)]
    tail = text[ends[-1] :] if ends else text
    if any(line.startswith("data") for line in _EOL.split(tail)):
        notes.add("the last event was cut off before its end; it is not replayed")
    return before


def _hear_stream(heard: _Heard, surface: str, chunks: list[tuple[float, bytes]], notes: _Notes) -> int:
    """Read the stream into ``heard``; returns its keep-alive comments before the first event."""
    text = b"".join(piece for _, piece in chunks).decode("utf-8", "replace")
    keepalive = _comments(text, notes)
    events = _events(chunks)
    if surface == MESSAGES:  # its keep-alives are ping events (before message_start)
        keepalive += next((n for n, e in enumerate(events) if e.name != "ping"), len(events))
        _hear_messages_stream(heard, events)
    elif surface == RESPONSES:
        _hear_responses_stream(heard, events)
    else:
        _hear_chat_stream(heard, events, surface == TEXT)
    return keepalive


def _malformed(heard: _Heard, n: int, event: _Event) -> None:
    heard.broke({"kind": "malformed"}, f"event {n} is not JSON ({_excerpt(event.data.encode())})")


def _hear_chat_stream(heard: _Heard, events: list[_Event], text_surface: bool) -> None:
    positions: dict[Any, int] = {}
    for n, event in enumerate(events):
        if heard.terminal:
            heard.notes.add("events after [DONE] are not replayed")
            break
        if event.data == "[DONE]":
            heard.terminal = True
            continue
        heard.data_events += 1
        chunk = _json(event.data)
        if not isinstance(chunk, dict):
            _malformed(heard, n, event)
            continue
        heard.identity(chunk)
        if chunk.get("error"):
            heard.broke({"kind": "error", "error": _fault_error(chunk["error"])}, f"upstream sent an error (event {n})")
            break
        heard.mark(ROLE, event.at)
        if isinstance(chunk.get("usage"), dict):
            heard.take_usage(_chat_usage(chunk["usage"]))
            heard.usage_seen = True
            heard.mark(USAGE, event.at)
        for choice in _list(chunk.get("choices")):
            if not isinstance(choice, dict):
                continue
            if choice.get("index", 0) != 0:
                heard.notes.add("upstream streamed several choices; only the first is replayed")
                continue
            if text_surface:
                heard.piece("content", choice.get("text"), event.at)
            else:
                _chat_delta(heard, choice.get("delta"), positions, event.at)
            finish = choice.get("finish_reason")
            if finish == "error" and choice.get("error"):
                heard.broke(
                    {"kind": "error", "error": _fault_error(choice.get("error"))},
                    f"upstream finished with an error at event {n}",
                )
                return
            if isinstance(finish, str) and finish:
                _chat_finish(heard, finish, choice.get("native_finish_reason"))
                heard.mark(FINISH, event.at)


def _chat_delta(heard: _Heard, delta: Any, positions: dict[Any, int], at: float) -> None:
    if not isinstance(delta, dict):
        return
    reasoning = delta.get("reasoning")
    heard.piece("reasoning", reasoning if isinstance(reasoning, str) else delta.get("reasoning_content"), at)
    heard.piece("content", delta.get("content"), at)
    heard.piece("refusal", delta.get("refusal"), at)
    for fragment in _list(delta.get("tool_calls")):
        if not isinstance(fragment, dict):
            continue
        index = fragment.get("index", 0)
        function = _obj(fragment.get("function"))
        position = positions.get(index if isinstance(index, int) else 0)
        if position is None:
            position = positions[index if isinstance(index, int) else 0] = heard.open_call(at)
        elif position != len(heard.calls) - 1:
            heard.notes.add("the tool calls' fragments came interleaved; a replay sends one call after another")
        call = heard.calls[position]
        call.id = call.id or _string(fragment.get("id"))
        call.name = call.name or _string(function.get("name"))
        heard.call_piece(position, function.get("arguments"), at)


def _breaks(event: _Event, data: Any) -> bool:
    """Whether an event is an error or not JSON (which a fault can replay even after a stream's
    last event: on the surfaces that send nothing after it, the writer's fault fires there)."""
    return event.name == "error" or not isinstance(data, dict) or data.get("type") == "error"


def _hear_messages_stream(heard: _Heard, events: list[_Event]) -> None:
    blocks: dict[Any, tuple[str, int]] = {}  # block index -> (kind, tool call position)
    open_blocks: set[Any] = set()
    texts = thinking = 0
    delta_at: float | None = None
    for n, event in enumerate(events):
        data = _json(event.data)
        if heard.terminal and not _breaks(event, data):  # an error or garbage after the end is replayed there
            heard.notes.add("events after message_stop are not replayed")
            break
        if not isinstance(data, dict):
            if event.name == "ping":
                continue
            heard.data_events += 1
            _malformed(heard, n, event)
            continue
        kind = data.get("type", event.name)
        if kind == "ping":
            continue
        heard.data_events += 1
        if kind == "error" or event.name == "error":
            heard.broke(
                {"kind": "error", "error": _fault_error(data.get("error"))}, f"upstream sent an error (event {n})"
            )
            break
        if kind == "message_start":
            heard.mark(ROLE, event.at)
            message = _obj(data.get("message"))
            heard.identity(message)
            heard.take_usage(_messages_usage(message.get("usage")))
        elif kind == "content_block_start":
            heard.mark(ROLE, event.at)
            block = _obj(data.get("content_block"))
            index = data.get("index")
            open_blocks.add(index)
            heard.at.pop(FINISH, None)  # the blocks closed so far were not the last
            btype = block.get("type")
            if btype == "text":
                texts += 1
                heard.piece("content", block.get("text"), event.at)
                blocks[index] = ("text", -1)
            elif btype == "thinking":
                thinking += 1
                heard.piece("reasoning", block.get("thinking"), event.at)
                blocks[index] = ("thinking", -1)
            elif btype == "tool_use":
                position = heard.open_call(event.at, _tool_id(block.get("id")), block.get("name"))
                given = block.get("input")
                if isinstance(given, dict) and given:
                    heard.calls[position].whole = _compact(given)
                blocks[index] = ("tool", position)
            else:
                heard.notes.add(f"a {btype!r} content block is not replayed")
                blocks[index] = ("other", -1)
        elif kind == "content_block_delta":
            _messages_delta(heard, data, blocks, event.at)
        elif kind == "content_block_stop":
            open_blocks.discard(data.get("index"))
            if not open_blocks:
                heard.at[FINISH] = event.at
        elif kind == "message_delta":
            delta = _obj(data.get("delta"))
            _messages_stop(heard, delta.get("stop_reason"))
            heard.take_usage(_messages_usage(data.get("usage")))
            heard.mark(FINISH, event.at)
            delta_at = event.at
        elif kind == "message_stop":
            heard.terminal = True
            heard.mark(USAGE, event.at if delta_at is None else delta_at)
    if texts > 1:
        heard.notes.add(f"{texts} text blocks joined into one")
    if thinking > 1:
        heard.notes.add(f"{thinking} thinking blocks joined into one")
    if FINISH in heard.at and not heard.terminal and delta_at is not None:
        heard.notes.add("message_delta came without message_stop; a replay does not send it")


def _messages_delta(heard: _Heard, data: dict[str, Any], blocks: dict[Any, tuple[str, int]], at: float) -> None:
    delta = _obj(data.get("delta"))
    kind, position = blocks.get(data.get("index"), ("other", -1))
    dtype = delta.get("type")
    if dtype == "text_delta" and kind == "text":
        heard.piece("content", delta.get("text"), at)
    elif dtype == "thinking_delta" and kind == "thinking":
        heard.piece("reasoning", delta.get("thinking"), at)
    elif dtype == "input_json_delta" and kind == "tool":
        heard.call_piece(position, delta.get("partial_json"), at)
    elif dtype not in ("signature_delta", "citations_delta") and kind != "other":
        heard.notes.add(f"a {dtype!r} delta is not replayed")


def _hear_responses_stream(heard: _Heard, events: list[_Event]) -> None:
    items: dict[Any, tuple[str, int]] = {}  # output index -> (type, tool call position)
    by_id: dict[Any, Any] = {}  # item id -> output index
    added: set[Any] = set()
    done: set[Any] = set()
    summary_parts: set[tuple[Any, Any]] = set()
    reasoning_text: list[str] = []
    messages = 0
    final: dict[str, Any] | None = None
    for n, event in enumerate(events):
        data = _json(event.data)
        if final is not None and not _breaks(event, data):  # an error or garbage after the end is replayed there
            heard.notes.add("events after the response ended are not replayed")
            break
        heard.data_events += 1
        if not isinstance(data, dict):
            _malformed(heard, n, event)
            continue
        kind = data.get("type", event.name)
        index = data.get("output_index", by_id.get(data.get("item_id")))
        if kind == "error":
            heard.broke({"kind": "error", "error": _fault_error(data)}, f"upstream sent an error (event {n})")
            break
        if kind == "response.created":
            heard.mark(ROLE, event.at)
            if isinstance(data.get("response"), dict):
                heard.identity(data["response"])
        elif kind == "response.output_item.added":
            heard.mark(ROLE, event.at)
            item = _obj(data.get("item"))
            added.add(index)
            heard.at.pop(FINISH, None)  # the items done so far were not the last
            by_id[item.get("id")] = index
            itype = item.get("type")
            position = -1
            if itype == "function_call":
                position = heard.open_call(event.at, item.get("call_id"), item.get("name"))
                heard.call_piece(position, item.get("arguments"), event.at)
            elif itype == "message":
                messages += 1
            elif itype != "reasoning":
                heard.notes.add(f"a {itype!r} output item is not replayed")
            items[index] = (str(itype), position)
        elif kind == "response.output_text.delta":
            heard.piece("content", data.get("delta"), event.at)
        elif kind == "response.refusal.delta":
            heard.piece("refusal", data.get("delta"), event.at)
        elif kind == "response.reasoning_summary_part.added":
            part = (index, data.get("summary_index"))
            if summary_parts and part not in summary_parts:
                heard.piece("reasoning", "\n\n", event.at)
                heard.notes.add("several reasoning summary parts joined into one")
            summary_parts.add(part)
        elif kind == "response.reasoning_summary_text.delta":
            heard.piece("reasoning", data.get("delta"), event.at)
        elif kind == "response.reasoning_text.delta" and isinstance(data.get("delta"), str):
            reasoning_text.append(data["delta"])
        elif kind == "response.function_call_arguments.delta":
            itype, position = items.get(index, ("", -1))
            if position >= 0:
                heard.call_piece(position, data.get("delta"), event.at)
        elif kind == "response.function_call_arguments.done":
            itype, position = items.get(index, ("", -1))
            if position >= 0 and not heard.calls[position].pieces and isinstance(data.get("arguments"), str):
                heard.calls[position].whole = data["arguments"]
        elif kind == "response.output_item.done":
            done.add(index)
            item = _obj(data.get("item"))
            if item.get("type") == "message" and item.get("status") == "incomplete" and heard.finish is None:
                heard.finish = "length"  # until the response says why (a stream cut before it: the likeliest)
            if added <= done:
                heard.at[FINISH] = event.at
        elif kind in ("response.completed", "response.incomplete", "response.failed"):
            final = _obj(data.get("response"))
            heard.identity(final)
            if kind != "response.failed":
                heard.terminal = True
                heard.mark(FINISH, event.at)
                heard.mark(USAGE, event.at)
            _responses_status(heard, final)
            heard.take_usage(_responses_usage(final.get("usage")))
    if "reasoning" not in heard.pieces and reasoning_text:
        for piece in reasoning_text:
            heard.piece("reasoning", piece, heard.at.get(ROLE, 0.0))
        heard.notes.add("the reasoning came as reasoning text; a replay sends it as the reasoning summary")
    if messages > 1:
        heard.notes.add(f"{messages} message items joined into one")


# -- writing the step ------------------------------------------------------------------------


def _literal(text: str) -> tuple[str, bool]:
    """``text`` as a scenario string that renders as itself, and whether it had to change:
    ``{{`` opens a template, so it is written as the template ``{{ "{{" }}``."""
    if "{{" not in text:
        return text, False
    return text.replace("{{", '{{ "{{" }}'), True


def _write_answer(heard: _Heard, exchange: Exchange, surface: str, *, stream: bool) -> dict[str, Any]:
    """The step's answer fields (no fault, no timing); a stream's cut goes into ``stream``."""
    _cut_short(heard, exchange, surface)
    step: dict[str, Any] = {}
    cut: dict[str, Any] = {}
    for kind, pieces_field in (("content", "chunks"), ("reasoning", "reasoning_chunks"), ("refusal", None)):
        value = heard.text(kind)
        if value is None:
            continue
        step[kind], templated = _literal(value)
        pieces = heard.pieces.get(kind)
        if templated:
            heard.notes.add(f"the {kind} holds '{{{{': written as a template, so its stream is cut by mockrouter")
        elif stream and pieces and pieces_field is not None:
            cut[pieces_field] = list(pieces)
    calls = []
    for n, call in enumerate(heard.calls):
        written: dict[str, Any] = {}
        if call.id is not None:
            written["id"] = call.id
        name = call.name
        if name is None:
            heard.notes.add(f"tool call {n} came without a name: replayed as 'tool'")
            name = "tool"
        written["name"], _ = _literal(name)
        written["arguments"], templated = _literal(call.arguments)
        if templated:
            heard.notes.add(f"tool call {n}'s arguments hold '{{{{': written as a template, cut by mockrouter")
        elif stream and call.pieces:
            written["chunks"] = list(call.pieces)
        if surface == MESSAGES and not tool_input(call.arguments)[1] and call.arguments:
            heard.notes.add(
                f"tool call {n}'s input is not a JSON object (cut off?): a replayed stream sends its pieces"
                ' as they came; a JSON answer wraps it as {"arguments": ...}'
                if "chunks" in written
                else f"tool call {n}'s input is not a JSON object (cut off?): a replay sends it whole,"
                ' as {"arguments": ...}'
            )
        calls.append(written)
    if calls:
        step["tool_calls"] = calls
    if heard.finish is not None:
        step["finish_reason"] = heard.finish
    if heard.native is not None and heard.native != heard.finish:  # the default is the finish reason
        step["native_finish_reason"] = heard.native
    if heard.model is not None:
        step["model"] = heard.model
    if heard.provider is not None:
        step["provider"] = heard.provider
    if heard.usage:
        step["usage"] = dict(heard.usage)
    if cut:
        step["stream"] = cut
    return step


def _write_stream(
    heard: _Heard, exchange: Exchange, surface: str, keepalive: int, timing: bool, notes: _Notes
) -> dict[str, Any]:
    step = _write_answer(heard, exchange, surface, stream=True)
    stream = step.setdefault("stream", {})
    if keepalive:
        stream["keepalive"] = min(keepalive, MAX_KEEPALIVE)
    if surface in (CHAT, TEXT):
        mode = _usage_mode(heard, exchange)
        if mode is not None:
            stream["usage"] = mode
    if not stream:
        del step["stream"]
    fault = _stream_fault(heard, exchange, surface, notes)
    step = _loadable(step, notes)  # what the replay is worked out from must be what loads
    frames = _replay(step, exchange, surface)
    delivered = heard.cut if heard.cut is not None else set(heard.at)
    sent = len(frames)
    if fault is not None:
        sent = 0
        while sent < len(frames) and frames[sent] in delivered:
            sent += 1
        fault["after_chunks"] = sent
        step["fault"] = fault
    if timing:
        step["timing"] = _timing(heard, exchange, frames[:sent])
    return step


def _cut_short(heard: _Heard, exchange: Exchange, surface: str) -> None:
    """Note when a replay of the request would be cut: mockrouter truncates an answer longer
    than the request's ``max_tokens`` by its own token count, which is not the upstream's."""
    request = exchange.request if isinstance(exchange.request, dict) else {}
    limit = requested_max_tokens(chat_view(surface, request))
    if limit is None:
        return
    tokens = sum(count_tokens(heard.text(kind)) for kind in TEXTS)
    tokens += sum(count_tokens(call.name) + count_tokens(call.arguments) for call in heard.calls)
    if tokens > limit:
        heard.notes.add(
            f"mockrouter counts {tokens} tokens in this answer, over the request's max tokens ({limit}):"
            " a replay cuts it and says length"
        )


def _usage_mode(heard: _Heard, exchange: Exchange) -> str | None:
    """``stream.usage`` where ``auto`` would not do what the upstream did in every dialect
    (anyrouter sends usage only when asked; openrouter always)."""
    request = exchange.request if isinstance(exchange.request, dict) else {}
    if heard.usage_seen:
        return None if wants_usage("auto", request, always_by_default=False) else "always"
    return "never" if heard.terminal else None


def _stream_fault(heard: _Heard, exchange: Exchange, surface: str, notes: _Notes) -> dict[str, Any] | None:
    events = f"{heard.data_events} event{'s' if heard.data_events != 1 else ''}"
    if heard.fault is not None and heard.fault["kind"] == "error":
        if exchange.client_gone:
            notes.add("the client hung up after the error")
        return dict(heard.fault)
    last = {MESSAGES: "message_stop", RESPONSES: "response.completed"}.get(surface, "[DONE]")
    end: dict[str, Any] | None = None
    if exchange.client_gone and not heard.terminal:
        notes.add(f"the client hung up after {events}; replayed as a dropped connection")
        end = {"kind": "disconnect"}
    elif not exchange.complete and not heard.terminal:
        notes.add(f"upstream dropped the stream after {events}")
        end = {"kind": "disconnect"}
    elif not heard.terminal:
        notes.add(f"upstream ended the stream after {events} without {last}")
        end = {"kind": "truncate"}
    elif not exchange.complete and not exchange.client_gone:
        if surface in (MESSAGES, RESPONSES):  # nothing follows their last event: the drop can follow it too
            notes.add(f"upstream dropped the connection after {last}")
            end = {"kind": "disconnect"}
        else:
            notes.add(f"upstream dropped the connection after {last} (not replayed)")
    if heard.fault is not None:
        if end is not None:
            notes.add(f"the stream also ended without {last}; a replay of the malformed event ends cleanly")
        return dict(heard.fault)
    return end


# -- the replay ------------------------------------------------------------------------------


@cache
def _catalog() -> Catalog:
    return Catalog.load()


@cache
def _encoders() -> dict[str, Encoder]:
    """The encoders the replay is worked out with (frame counts are the same in every dialect
    once ``stream.usage`` is explicit, which the step makes it where dialects differ)."""
    return AnyRouter(precompile=False).encoders


def _replay(step: dict[str, Any], exchange: Exchange, surface: str) -> list[Key]:
    """The event each frame of the step's stream encodes, in the order the writer sends them
    (empty when the step does not load: then no fault is placed)."""
    loaded = collect_json(orjson.dumps({"name": "transcript", "steps": [step]}), "<transcript>")
    if loaded.errors or not loaded.scenarios:
        return []
    request = exchange.request if isinstance(exchange.request, dict) else {}
    view = dict(chat_view(surface, request))
    if not isinstance(view.get("messages"), list):
        view["messages"] = []
    facts = RequestFacts.from_body(view, {}, surface)
    reply = render(loaded.scenarios[0].steps[0], RenderInput(facts, 1, random.Random(0), None), _catalog())
    if isinstance(reply, HttpError):
        return []
    encoder = _encoders()[surface]
    writer = encoder.stream(reply, encoder.identity(random.Random(0), 0), request)
    return [key for key, event in _keyed(reply.events()) if writer.encode(event) is not None]


def _keyed(events: list[Event]) -> Iterator[tuple[Key, Event]]:
    counts: dict[str, int] = {}
    fragments: dict[int, int] = {}
    for event in events:
        if isinstance(event, ContentPiece | ReasoningPiece | RefusalPiece):
            kind = _PIECES[type(event)]
            n = counts.get(kind, 0)
            counts[kind] = n + 1
            yield (kind, n), event
        elif isinstance(event, ToolCallFragment):
            if event.id is not None:
                yield ("tool", event.index, -1), event
            else:
                j = fragments.get(event.index, 0)
                fragments[event.index] = j + 1
                yield ("tool", event.index, j), event
        elif isinstance(event, Role):
            yield ROLE, event
        elif isinstance(event, Finish):
            yield FINISH, event
        elif isinstance(event, UsageReport):
            yield USAGE, event


_PIECES: dict[type, str] = {ContentPiece: "content", ReasoningPiece: "reasoning", RefusalPiece: "refusal"}


def _timing(heard: _Heard, exchange: Exchange, frames: list[Key]) -> dict[str, Any]:
    out: dict[str, Any] = {"latency_ms": _ms(exchange.latency_s)}
    if not frames:
        return out
    times: list[float] = []
    previous = heard.at.get(ROLE, 0.0)
    for key in frames:
        previous = heard.at.get(key, previous)
        times.append(previous)
    out["ttft_ms"] = _ms(times[0])
    if len(times) > 1:
        out["intervals_ms"] = [_ms(b - a) for a, b in itertools.pairwise(times)]
    return out


# -- a step that loads -----------------------------------------------------------------------

#: What a step the loader refuses gives up, in order, until it loads.
_DROPS: list[tuple[str, Callable[[dict[str, Any]], bool]]] = []


def _drop(description: str) -> Callable[[Callable[[dict[str, Any]], bool]], Callable[[dict[str, Any]], bool]]:
    def register(fn: Callable[[dict[str, Any]], bool]) -> Callable[[dict[str, Any]], bool]:
        _DROPS.append((description, fn))
        return fn

    return register


@_drop("the recorded intervals")
def _drop_intervals(step: dict[str, Any]) -> bool:
    timing = step.get("timing")
    return isinstance(timing, dict) and timing.pop("intervals_ms", None) is not None


@_drop("the reasoning and tool-call chunks")
def _drop_piece_lists(step: dict[str, Any]) -> bool:
    dropped = False
    stream = step.get("stream")
    if isinstance(stream, dict) and stream.pop("reasoning_chunks", None) is not None:
        dropped = True
    for call in step.get("tool_calls") or ():
        if isinstance(call, dict) and call.pop("chunks", None) is not None:
            dropped = True
    return dropped


@_drop("the stream's cut")
def _drop_stream(step: dict[str, Any]) -> bool:
    return step.pop("stream", None) is not None


@_drop("the usage numbers")
def _drop_usage(step: dict[str, Any]) -> bool:
    return step.pop("usage", None) is not None


@_drop("the timing")
def _drop_timing(step: dict[str, Any]) -> bool:
    return step.pop("timing", None) is not None


@_drop("everything but the texts")
def _drop_rest(step: dict[str, Any]) -> bool:
    kept: dict[str, Any] = {k: step[k] for k in ("content", "reasoning", "refusal") if k in step}
    if "error" in step:
        kept = {"error": {k: step["error"][k] for k in ("status", "body") if k in step["error"]}}
    changed = kept != step
    step.clear()
    step.update(kept)
    return changed


def _problems(step: dict[str, Any]) -> list[str]:
    loaded = collect_json(orjson.dumps({"name": "transcript", "steps": [step]}), "<transcript>")
    return [f"{e.field or ''}: {e.message}" if e.field else str(e.message) for e in loaded.errors]


def _loadable(step: dict[str, Any], notes: _Notes) -> dict[str, Any]:
    """``step``, giving up what the loader refuses (each loss noted) until it loads."""
    problems = _problems(step)
    for description, drop in _DROPS:
        if not problems:
            return step
        if drop(step):
            notes.add(f"dropped {description}: the loader refused the step ({problems[0]})")
            problems = _problems(step)
    if problems:
        notes.add(f"the step does not load ({problems[0]}); replayed as an empty answer")
        return {"content": ""}
    return step
