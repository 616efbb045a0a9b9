"""What an SDK got: each official client's answer on each surface, reduced to plain data that
two runs of the same conversation can be compared by (a recording and its replay).

An :class:`Outcome` holds the HTTP status, the headers clients act on (``retry-after``,
``retry-after-ms``, ``x-ratelimit-*``), the message as the SDK assembled it (content,
reasoning or thinking, tool calls with their arguments), the finish reason, the usage
numbers, for a stream the pieces each event carried (the stream's cut), and the exception the
SDK raised if it raised one (its class, status, body). Ids a server draws afresh for every
response (``chatcmpl-…``, ``msg_…``, ``resp_…``, item ids) and timestamps are left out;
tool call ids are kept (a recording keeps them).

Also the plumbing of a record-and-replay rig: an "upstream" mockrouter answering with
scenarios scoped to one key, a recorder (``mode="record"``) in front of it writing a
cassette folder, and a replay server that is handed one recorded file for one key.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai

from mockrouter.http.server import BackgroundServer

__all__ = [
    "ANTHROPIC_MODEL",
    "CLIENTS",
    "OPENAI_MODEL",
    "SURFACES",
    "Clients",
    "Outcome",
    "Rig",
    "ask",
    "journal",
    "wait",
]

OPENAI_MODEL = "openai/gpt-4o-mini"
ANTHROPIC_MODEL = "anthropic/claude-sonnet-4.6"
#: Response headers an SDK's retry and rate-limit logic reads.
MATTERING = re.compile(r"retry-after(-ms)?|x-ratelimit-.+")
ADDRESS = re.compile(r"\b127\.0\.0\.1:\d+")
SHORT_BODY = re.compile(r" \((incomplete chunked read|received \d+ bytes, expected \d+)\)")
#: Each surface an SDK speaks, streamed or not.
SURFACES = ("chat", "chat-stream", "responses", "responses-stream", "messages", "messages-stream")


@dataclass
class Outcome:
    """What one SDK call gave its caller."""

    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    #: The assembled message: ``content``, ``reasoning``, ``tool_calls`` [{id, name, arguments}],
    #: and whatever else the surface's message carries (blocks, items), ids left out.
    message: dict[str, Any] = field(default_factory=dict)
    finish: Any = None
    usage: dict[str, Any] | None = None
    model: str | None = None
    #: A stream's pieces, in order: ("content" | "reasoning" | "args:<i>", text), and event names.
    pieces: list[tuple[str, str]] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    #: The exception the SDK raised: {type, status, body} (None: it returned normally).
    error: dict[str, Any] | None = None

    def took(self, response: httpx.Response | Any) -> None:
        self.status = response.status_code
        self.headers = {k.lower(): v for k, v in response.headers.items() if MATTERING.fullmatch(k.lower())}

    def failed(self, exc: BaseException) -> None:
        self.error = {"type": type(exc).__name__}
        if isinstance(exc, openai.APIStatusError | anthropic.APIStatusError):
            self.took(exc.response)
            self.error["status"] = exc.status_code
            self.error["body"] = exc.body
        elif isinstance(exc, openai.APIError | anthropic.APIError):
            self.error["message"] = exc.message
            self.error["body"] = exc.body
        else:
            self.error["message"] = str(exc)
        if "message" in self.error:  # a connection error names the server's address, and how it
            # knew the body was short (chunked, or a Content-Length the proxy does not pass on)
            self.error["message"] = SHORT_BODY.sub("", ADDRESS.sub("<server>", self.error["message"]))
        if isinstance(self.error.get("body"), dict):  # an in-band error event's fresh request id
            self.error["body"] = {k: v for k, v in self.error["body"].items() if k != "request_id"}

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "headers": self.headers,
            "message": self.message,
            "finish": self.finish,
            "usage": self.usage,
            "model": self.model,
            "pieces": self.pieces,
            "events": self.events,
            "error": self.error,
        }


class Clients:
    """The SDK and admin clients, one of each per server, reused across calls (making one costs
    tens of milliseconds: an SSL context); a key and a retry budget are per call
    (``with_options``, which shares the connection pool). :meth:`close` ends them all."""

    def __init__(self) -> None:
        self._openai: dict[str, openai.OpenAI] = {}
        self._anthropic: dict[str, anthropic.Anthropic] = {}
        self._http: httpx.Client | None = None
        self._lock = threading.Lock()

    @property
    def http(self) -> httpx.Client:
        with self._lock:
            if self._http is None:
                self._http = httpx.Client(timeout=15)
            return self._http

    def openai_sdk(self, server: BackgroundServer, key: str, *, max_retries: int = 0) -> openai.OpenAI:
        with self._lock:
            base = self._openai.get(server.url)
            if base is None:
                base = self._openai[server.url] = openai.OpenAI(base_url=server.base_url, api_key="-", timeout=10)
        return base.with_options(api_key=key, max_retries=max_retries)

    def anthropic_sdk(self, server: BackgroundServer, key: str, *, max_retries: int = 0) -> anthropic.Anthropic:
        with self._lock:
            base = self._anthropic.get(server.url)
            if base is None:
                # the SDK appends /v1/messages to its base_url
                base = anthropic.Anthropic(base_url=server.url + "/api", api_key="-", timeout=10)
                self._anthropic[server.url] = base
        return base.with_options(api_key=key, max_retries=max_retries)

    def close(self) -> None:
        with self._lock:
            for client in [*self._openai.values(), *self._anthropic.values()]:
                client.close()
            if self._http is not None:
                self._http.close()
            self._openai, self._anthropic, self._http = {}, {}, None


#: The clients every helper here uses (close them when the servers go: :meth:`Clients.close`).
CLIENTS = Clients()


# -- chat completions ------------------------------------------------------------------------


def _chat(client: openai.OpenAI, messages: list[dict[str, Any]], tools: list[dict[str, Any]], stream: bool) -> Outcome:
    out = Outcome()
    ask: dict[str, Any] = {"model": OPENAI_MODEL, "messages": messages}
    if tools:
        ask["tools"] = [{"type": "function", "function": t} for t in tools]
    try:
        if not stream:
            raw = client.chat.completions.with_raw_response.create(**ask)
            out.took(raw)
            completion = raw.parse()
            out.model, out.usage = completion.model, _dump(completion.usage)
            choice = completion.choices[0]
            out.finish = choice.finish_reason
            message = choice.message
            out.message = {
                "content": message.content,
                "reasoning": (message.model_extra or {}).get("reasoning"),
                "refusal": message.refusal,
                "tool_calls": [
                    {"id": c.id, "name": c.function.name, "arguments": c.function.arguments}
                    for c in message.tool_calls or []
                ],
            }
            error = (choice.model_extra or {}).get("error")
            if error is not None:
                out.message["error"] = error
            return out
        raw = client.chat.completions.with_raw_response.create(
            **ask, stream=True, stream_options={"include_usage": True}
        )
        out.took(raw)
        content: list[str] = []
        reasoning: list[str] = []
        calls: dict[int, dict[str, Any]] = {}
        try:
            for chunk in raw.parse():
                out.model = chunk.model
                if chunk.usage is not None:
                    out.usage = _dump(chunk.usage)
                for choice in chunk.choices:
                    delta = choice.delta
                    if delta.content:
                        content.append(delta.content)
                        out.pieces.append(("content", delta.content))
                    thought = (delta.model_extra or {}).get("reasoning")
                    if thought:
                        reasoning.append(thought)
                        out.pieces.append(("reasoning", thought))
                    for call in delta.tool_calls or []:
                        held = calls.setdefault(call.index, {"id": None, "name": "", "arguments": ""})
                        held["id"] = call.id or held["id"]
                        if call.function is not None:
                            held["name"] += call.function.name or ""
                            if call.function.arguments:
                                held["arguments"] += call.function.arguments
                                out.pieces.append((f"args:{call.index}", call.function.arguments))
                    if choice.finish_reason is not None:
                        out.finish = choice.finish_reason
        finally:
            out.message = {
                "content": "".join(content) if content else None,
                "reasoning": "".join(reasoning) if reasoning else None,
                "tool_calls": [calls[i] for i in sorted(calls)],
            }
    except (openai.APIError, httpx.HTTPError) as exc:
        out.failed(exc)
    return out


# -- the Responses API -----------------------------------------------------------------------


def _item(item: Any) -> dict[str, Any]:
    """An output item without its server-drawn id."""
    return item.model_dump(exclude={"id"}, exclude_none=True)


def _responses_message(output: list[Any]) -> dict[str, Any]:
    content, reasoning, calls = [], [], []
    for item in output:
        if item.type == "message":
            content += [part.text for part in item.content if part.type == "output_text"]
        elif item.type == "reasoning":
            reasoning += [part.text for part in item.summary]
        elif item.type == "function_call":
            calls.append({"id": item.call_id, "name": item.name, "arguments": item.arguments})
    return {
        "content": "".join(content) if content else None,
        "reasoning": "".join(reasoning) if reasoning else None,
        "tool_calls": calls,
        "items": [_item(item) for item in output],
    }


def _responses_final(out: Outcome, response: Any) -> None:
    out.model, out.usage = response.model, _dump(response.usage)
    details = response.incomplete_details
    out.finish = {"status": response.status, "incomplete": details.reason if details is not None else None}
    if response.error is not None:
        out.finish["error"] = _dump(response.error)
    out.message = _responses_message(response.output)


def _responses(
    client: openai.OpenAI, messages: list[dict[str, Any]], tools: list[dict[str, Any]], stream: bool
) -> Outcome:
    out = Outcome()
    ask: dict[str, Any] = {"model": OPENAI_MODEL, "input": _responses_input(messages)}
    if tools:
        ask["tools"] = [{"type": "function", **t} for t in tools]
    try:
        if not stream:
            raw = client.responses.with_raw_response.create(**ask)
            out.took(raw)
            _responses_final(out, raw.parse())
            return out
        raw = client.responses.with_raw_response.create(**ask, stream=True)
        out.took(raw)
        for event in raw.parse():
            out.events.append(event.type)
            if event.type == "response.output_text.delta":
                out.pieces.append(("content", event.delta))
            elif event.type == "response.reasoning_summary_text.delta":
                out.pieces.append(("reasoning", event.delta))
            elif event.type == "response.function_call_arguments.delta":
                out.pieces.append((f"args:{event.output_index}", event.delta))
            elif event.type in ("response.completed", "response.incomplete", "response.failed"):
                _responses_final(out, event.response)
            elif event.type == "error":
                out.message["error"] = {"code": event.code, "message": event.message}
    except (openai.APIError, httpx.HTTPError) as exc:
        out.failed(exc)
    return out


def _responses_input(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Chat messages as Responses input items (assistant tool calls, tool results)."""
    items: list[dict[str, Any]] = []
    for m in messages:
        if m["role"] == "tool":
            items.append({"type": "function_call_output", "call_id": m["tool_call_id"], "output": m["content"]})
        elif m["role"] == "assistant":
            if m.get("content"):
                items.append({"role": "assistant", "content": m["content"]})
            for call in m.get("tool_calls") or []:
                fn = call["function"]
                items.append(
                    {"type": "function_call", "call_id": call["id"], "name": fn["name"], "arguments": fn["arguments"]}
                )
        else:
            items.append({"role": m["role"], "content": m["content"]})
    return items


# -- Anthropic Messages ----------------------------------------------------------------------


def _messages_message(blocks: list[Any]) -> dict[str, Any]:
    text = [b.text for b in blocks if b.type == "text"]
    thinking = [b.thinking for b in blocks if b.type == "thinking"]
    calls = [{"id": b.id, "name": b.name, "arguments": b.input} for b in blocks if b.type == "tool_use"]
    return {
        "content": "".join(text) if text else None,
        "reasoning": "".join(thinking) if thinking else None,
        "tool_calls": calls,
        "blocks": [b.model_dump(exclude_none=True) for b in blocks],
    }


def _messages(
    client: anthropic.Anthropic, messages: list[dict[str, Any]], tools: list[dict[str, Any]], stream: bool
) -> Outcome:
    out = Outcome()
    ask: dict[str, Any] = {"model": ANTHROPIC_MODEL, "max_tokens": 4096, "messages": _anthropic_messages(messages)}
    system = [m["content"] for m in messages if m["role"] == "system"]
    if system:
        ask["system"] = "\n".join(system)
    if tools:
        ask["tools"] = [{"name": t["name"], "input_schema": t["parameters"]} for t in tools]
    try:
        if not stream:
            raw = client.messages.with_raw_response.create(**ask)
            out.took(raw)
            message = raw.parse()
            out.model, out.usage, out.finish = message.model, _dump(message.usage), message.stop_reason
            out.message = _messages_message(message.content)
            return out
        with client.messages.stream(**ask) as events:
            out.took(events.response)
            for event in events:
                out.events.append(event.type)
                if event.type == "content_block_delta":
                    delta = event.delta
                    if delta.type == "text_delta":
                        out.pieces.append(("content", delta.text))
                    elif delta.type == "thinking_delta":
                        out.pieces.append(("reasoning", delta.thinking))
                    elif delta.type == "input_json_delta":
                        out.pieces.append((f"args:{event.index}", delta.partial_json))
            try:
                message = events.get_final_message()
            except AssertionError:  # the SDK asserts a message_start came: none did
                out.error = {"type": "no message_start"}
                return out
            out.model, out.usage, out.finish = message.model, _dump(message.usage), message.stop_reason
            out.message = _messages_message(message.content)
    except (anthropic.APIError, httpx.HTTPError) as exc:
        out.failed(exc)
    except Exception as exc:  # the SDK's own transport (httpx2) raises its own errors
        if not type(exc).__module__.startswith("httpx"):
            raise
        out.failed(exc)
    return out


def _anthropic_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Chat messages as Anthropic's: tool calls as tool_use blocks, results as tool_result."""
    out: list[dict[str, Any]] = []
    for m in messages:
        if m["role"] == "tool":
            block = {"type": "tool_result", "tool_use_id": m["tool_call_id"], "content": m["content"]}
            if out and out[-1]["role"] == "user" and isinstance(out[-1]["content"], list):
                out[-1]["content"].append(block)
            else:
                out.append({"role": "user", "content": [block]})
        elif m["role"] == "assistant":
            blocks: list[dict[str, Any]] = []
            if m.get("content"):
                blocks.append({"type": "text", "text": m["content"]})
            for call in m.get("tool_calls") or []:
                fn = call["function"]
                blocks.append(
                    {"type": "tool_use", "id": call["id"], "name": fn["name"], "input": json.loads(fn["arguments"])}
                )
            out.append({"role": "assistant", "content": blocks})
        elif m["role"] != "system":  # the system prompt is a parameter of its own
            out.append({"role": m["role"], "content": m["content"]})
    return out


def _dump(value: Any) -> dict[str, Any] | None:
    return None if value is None else value.model_dump(exclude_none=True)


def ask(
    surface: str,
    server: BackgroundServer,
    key: str,
    messages: list[dict[str, Any]],
    *,
    tools: Sequence[dict[str, Any]] = (),
    max_retries: int = 0,
    headers: dict[str, str] | None = None,
) -> Outcome:
    """``messages`` (chat form) asked of ``server`` on ``surface`` (one of :data:`SURFACES`)
    through the official SDK; tools are ``{name, description?, parameters}``."""
    base, _, streamed = surface.partition("-")
    if base == "messages":
        claude = CLIENTS.anthropic_sdk(server, key, max_retries=max_retries)
        if headers:
            claude = claude.with_options(default_headers=headers)
        return _messages(claude, messages, list(tools), bool(streamed))
    client = CLIENTS.openai_sdk(server, key, max_retries=max_retries)
    if headers:
        client = client.with_options(default_headers=headers)
    run: Callable[..., Outcome] = _chat if base == "chat" else _responses
    return run(client, messages, list(tools), bool(streamed))


# -- the rig ---------------------------------------------------------------------------------


@dataclass
class Rig:
    """An upstream, a recorder in front of it writing ``folder``, and a replay server."""

    upstream: BackgroundServer
    recorder: BackgroundServer
    replay: BackgroundServer
    folder: Path

    def script(self, key: str, scenarios: list[dict[str, Any]]) -> None:
        """What the upstream answers requests with ``key`` (scenarios scoped to it)."""
        response = CLIENTS.http.post(self.upstream.url + "/__mockrouter/scenarios", params={"key": key}, json=scenarios)
        assert response.status_code == 201, response.text

    def recorded(self, key: str, count: int) -> None:
        """Wait until the recorder has answered ``count`` requests of ``key`` (then their
        recordings are on disk: the proxy writes before the journal entry is added)."""
        wait(self.recorder, key, count)

    def file_of(self, marker: str) -> Path:
        """The one cassette file that holds ``marker`` (a conversation's unique text; when it
        opens the conversation, the file is named after it)."""
        files = sorted(self.folder.glob("*.yaml"))
        named = [p for p in files if p.name.startswith(marker)]
        found = [p for p in (named or files) if marker in p.read_text(encoding="utf-8")]
        assert len(found) == 1, (marker, found, sorted(p.name for p in self.folder.glob("*.yaml")))
        return found[0]

    def load(self, key: str, path: Path) -> None:
        """Give the replay server ``path`` for ``key`` and put that key in replay mode."""
        response = CLIENTS.http.post(
            self.replay.url + "/__mockrouter/scenarios",
            params={"key": key},
            content=path.read_text(encoding="utf-8"),
            headers={"content-type": "application/yaml"},
        )
        assert response.status_code == 201, response.text
        mode = CLIENTS.http.post(self.replay.url + "/__mockrouter/record-mode", json={"key": key, "mode": "replay"})
        assert mode.status_code == 200, mode.text


def wait(server: BackgroundServer, key: str, count: int) -> None:
    response = CLIENTS.http.post(
        server.url + "/__mockrouter/wait", json={"key": key, "count": count, "timeout_ms": 10000}
    )
    assert response.status_code == 200 and response.json()["ok"], response.text


def journal(server: BackgroundServer, key: str) -> list[dict[str, Any]]:
    response = CLIENTS.http.get(server.url + "/__mockrouter/requests", params={"key": key})
    assert response.status_code == 200, response.text
    return response.json()["data"]
