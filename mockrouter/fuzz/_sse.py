"""The SSE decoder and the reference stream accumulator: SSE bytes → the message(s) a correct
client assembles. No hypothesis here: code that only decodes streams does not import it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

from ..errors import StreamError

_EOL = re.compile(rb"\r\n|\r|\n")


def sse_events(data: bytes | Iterable[bytes]) -> Iterator[str]:
    """The ``data`` of every SSE event in ``data`` (bytes, or an iterable of byte chunks cut
    anywhere), per the SSE spec as the openai SDK implements it: lines end with CR, LF or
    CRLF; lines starting with ``:`` are comments; one space after ``field:`` is dropped;
    several ``data:`` lines join with ``\\n``; a blank line dispatches the event."""
    for _, payload in sse_named_events(data):
        yield payload


def sse_named_events(data: bytes | Iterable[bytes]) -> Iterator[tuple[str | None, str]]:
    """``(name, data)`` of every SSE event in ``data``, decoded as :func:`sse_events` does;
    ``name`` is the event's last ``event:`` field (``None`` without one: the anthropic SDK
    skips such events, the openai SDK reads them)."""
    pieces = [bytes(data)] if isinstance(data, bytes | bytearray) else data
    data_lines: list[str] | None = None
    name: str | None = None
    for raw in _lines(pieces):
        line = raw.decode("utf-8")
        if not line:
            if data_lines is not None:
                yield name, "\n".join(data_lines)
            data_lines, name = None, None
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "data":
            data_lines = [*(data_lines or []), value]
        elif field == "event":
            name = value


def _lines(pieces: Iterable[bytes]) -> Iterator[bytes]:
    """The lines of a byte stream cut anywhere (CR, LF and CRLF end a line; a CR at the end of
    what arrived waits for a possible LF)."""
    buffer = b""
    for piece in pieces:
        buffer += piece
        start = 0
        for match in _EOL.finditer(buffer):
            if match.group() == b"\r" and match.end() == len(buffer):
                break  # a CR at the end of what arrived: the LF of a CRLF may follow
            yield buffer[start : match.start()]
            start = match.end()
        buffer = buffer[start:]
    if buffer:
        yield buffer.removesuffix(b"\r")


def assemble_chunks(chunks: Iterable[dict[str, Any]]) -> dict[str, Any] | list[dict[str, Any]]:
    """The assistant message(s) a correct client builds from parsed stream chunks: strings
    appended per choice (``content`` is ``None`` until a delta carries a string), tool
    calls merged by ``index``. One message, or a list by choice index when there are
    several choices. Raises :class:`StreamError` on an in-band error chunk."""
    states: dict[int, dict[str, Any]] = {}
    for n, chunk in enumerate(chunks):
        if not isinstance(chunk, dict):
            raise StreamError(f"event {n}: not a JSON object")
        if chunk.get("error"):
            raise StreamError(f"event {n}: in-band error: {chunk['error']!r}")
        for choice in chunk.get("choices") or ():
            state = states.setdefault(choice["index"], {"role": "assistant", "content": None, "calls": {}})
            delta = choice.get("delta") or {}
            for key in ("content", "reasoning", "refusal"):
                if isinstance(delta.get(key), str):
                    state[key] = (state.get(key) or "") + delta[key]
            for fragment in delta.get("tool_calls") or ():
                call = state["calls"].setdefault(fragment["index"], {"id": None, "name": None, "arguments": ""})
                if fragment.get("id"):
                    call["id"] = call["id"] or fragment["id"]
                function = fragment.get("function") or {}
                if function.get("name"):
                    call["name"] = call["name"] or function["name"]
                if isinstance(function.get("arguments"), str):
                    call["arguments"] += function["arguments"]
    if not states:
        raise StreamError("no choices in the stream")
    messages = []
    for index in sorted(states):
        state = states[index]
        message = {"role": "assistant", "content": state["content"]}
        for key in ("reasoning", "refusal"):
            if key in state:
                message[key] = state[key]
        if state["calls"]:
            message["tool_calls"] = [state["calls"][k] for k in sorted(state["calls"])]
        messages.append(message)
    return messages[0] if len(messages) == 1 else messages


def assemble(sse: bytes | Iterable[bytes]) -> dict[str, Any] | list[dict[str, Any]]:
    """The reference accumulator: SSE bytes (or byte chunks) → the message(s) a correct
    client assembles, as :attr:`ChatStream.expected`. Raises :class:`StreamError` when an
    event is not JSON, carries an in-band error, or the stream does not end with
    ``[DONE]``."""
    chunks = []
    done = False
    for n, data in enumerate(sse_events(sse)):
        if done:
            raise StreamError(f"event {n}: data after [DONE]")
        if data == "[DONE]":
            done = True
            continue
        try:
            chunks.append(json.loads(data))
        except ValueError as exc:
            raise StreamError(f"event {n}: not JSON: {exc}") from None
    if not done:
        raise StreamError("the stream ended without data: [DONE]")
    return assemble_chunks(chunks)
