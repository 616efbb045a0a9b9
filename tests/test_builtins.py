"""Every built-in scenario, in both dialects, streamed and not, through the live server.

SPEC ("Built-in scenarios", "Fidelity"): every response body and stream chunk the mock emits
validates against the response schemas, unless a scenario deliberately breaks it; the failure
built-ins fail on a key's first request and succeed after; ``stall`` stalls until the client
gives up.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from mockrouter.core.schemas import SchemaRegistry
from mockrouter.http.server import BackgroundServer
from mockrouter.scenario.loader import load_builtin
from mockrouter.tools.check import check_paths

ROOT = Path(__file__).resolve().parent.parent
REGISTRY = SchemaRegistry()
BUILTINS = {s.name: s for s in load_builtin()}

#: The built-ins SPEC.md promises ("Built-in scenarios").
SPEC_BUILTINS = [
    "echo",
    "lorem",
    "tool-call",
    "parallel-tool-calls",
    "reasoning",
    "json-mode",
    "length",
    "content-filter",
    "rate-limited",
    "overloaded",
    "bad-gateway",
    "insufficient-credits",
    "moderation",
    "timeout",
    "upstream-timeout",
    "mid-stream-error",
    "disconnect",
    "stall",
    "malformed-chunk",
    "slow",
    "fuzz",
]
ERROR_BUILTINS = {
    "rate-limited": 429,
    "overloaded": 503,
    "bad-gateway": 502,
    "upstream-timeout": 504,
    "insufficient-credits": 402,
    "moderation": 403,
    "timeout": 408,
}
#: Built-ins whose first answer is broken on purpose: only the well-formed parts are validated.
FAULTY = {"disconnect", "malformed-chunk", "mid-stream-error", "dribble", "stall"}

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
            "required": ["city"],
        },
    },
}
RESPONSE_FORMAT = {
    "type": "json_schema",
    "json_schema": {
        "name": "answer",
        "schema": {
            "type": "object",
            "properties": {"n": {"type": "integer"}, "tags": {"type": "array", "items": {"type": "string"}}},
            "required": ["n"],
        },
    },
}


def request_body(name: str, stream: bool, *, follow_up: bool = False) -> dict[str, Any]:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is the weather in Tokyo?"},
    ]
    if follow_up:
        messages += [
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "22C and sunny"},
        ]
    body: dict[str, Any] = {
        "model": f"mockrouter/{name}",
        "messages": messages,
        "tools": [WEATHER_TOOL],
        "response_format": RESPONSE_FORMAT,
    }
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


@dataclass
class Answer:
    status: int
    content_type: str
    json: Any = None  # the JSON body of a non-streamed answer (None when it is not JSON)
    chunks: list[Any] = field(default_factory=list)  # parsed data: events of a stream
    garbage: list[str] = field(default_factory=list)  # data: lines that are not JSON
    done: bool = False
    transport_error: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


def send(http: httpx.Client, body: dict[str, Any], timeout: httpx.Timeout | None = None) -> Answer:
    """Send a chat request and collect whatever arrives, even from a broken answer."""
    answer = Answer(0, "")
    buffer = b""
    try:
        with http.stream("POST", "/chat/completions", json=body, timeout=timeout or httpx.Timeout(10)) as response:
            answer.status = response.status_code
            answer.content_type = response.headers.get("content-type", "")
            answer.headers = dict(response.headers)
            for piece in response.iter_bytes():
                buffer += piece
    except httpx.TransportError as exc:
        answer.transport_error = type(exc).__name__
    if answer.content_type.startswith("text/event-stream"):
        for line in buffer.decode("utf-8", errors="replace").split("\n"):
            if not line.startswith("data: "):
                continue
            payload = line[6:]
            if payload == "[DONE]":
                answer.done = True
                continue
            try:
                answer.chunks.append(json.loads(payload))
            except ValueError:
                answer.garbage.append(payload)
    else:
        try:
            answer.json = json.loads(buffer)
        except ValueError:
            answer.json = None
    return answer


def assert_valid(kind: str, dialect: str, instance: Any) -> None:
    violation = REGISTRY.for_dialect(kind, dialect).violation(instance)
    assert violation is None, f"{dialect} {kind} invalid: {violation}\n{json.dumps(instance)[:2000]}"


def assert_answer_valid(answer: Answer, dialect: str, stream: bool, *, faulty: bool = False) -> None:
    if answer.status != 200:
        assert answer.json is not None, "an error answer must be JSON"
        assert_valid("error", dialect, answer.json)
        return
    if stream:
        assert answer.content_type.split(";")[0] == "text/event-stream"
        assert answer.chunks, "a stream with no chunks"
        for chunk in answer.chunks:
            assert_valid("chat-chunk", dialect, chunk)
        if not faulty:
            assert answer.done, "a clean stream ends with [DONE]"
            assert not answer.garbage
            assert answer.transport_error is None
        return
    assert answer.content_type == "application/json"
    if answer.json is None:
        assert faulty, "a non-faulty answer must be JSON"
        return
    assert_valid("chat-response", dialect, answer.json)


def wait_for(predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


# -- the library itself ------------------------------------------------------------------------


def test_builtin_scenarios_check_clean() -> None:
    scenarios, errors = check_paths([ROOT / "scenarios"])
    assert [str(e) for e in errors] == []
    assert sorted(s.name for s in scenarios) == sorted(BUILTINS)


def test_every_spec_builtin_is_shipped() -> None:
    missing = [name for name in SPEC_BUILTINS if name not in BUILTINS]
    assert missing == []


def test_builtins_are_marked_builtin() -> None:
    assert BUILTINS
    assert all(s.builtin for s in BUILTINS.values())
    assert "echo" in BUILTINS


# -- every built-in, every dialect, streamed or not --------------------------------------------

# `stall` never ends on its own (tested below); `fuzz` sends adversarial SSE framing (CRLF, multi-line
# data, no space after "data:") that this walk's simple parser does not read — tests/test_fuzz_scenario.py
# checks it with the reference accumulator and the openai SDK.
RUNNABLE = sorted(n for n in BUILTINS if n not in ("stall", "fuzz"))


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize("name", RUNNABLE)
def test_builtin_output_is_schema_valid(
    name: str, stream: bool, dialect: str, http: httpx.Client, journal: Callable[[], list[dict[str, Any]]]
) -> None:
    steps = len(BUILTINS[name].steps)
    answers = []
    for i in range(steps):
        follow_up = name in ("tool-call", "parallel-tool-calls") and i % 2 == 1
        answers.append(send(http, request_body(name, stream, follow_up=follow_up)))
    for i, answer in enumerate(answers):
        assert_answer_valid(answer, dialect, stream, faulty=name in FAULTY and i == 0)
    entries = journal()
    assert [e["scenario"] for e in entries] == [name] * len(answers)
    statuses = [a.status for a in answers]
    if name in ERROR_BUILTINS:
        # the failure built-ins fail on a key's first request and succeed after
        assert statuses == [ERROR_BUILTINS[name], 200]
        assert answers[0].content_type == "application/json"
    elif name not in FAULTY:
        assert all(status == 200 for status in statuses), statuses
    else:
        assert statuses[1:] == [200] * (len(statuses) - 1)


def test_rate_limited_sends_retry_after_1(http: httpx.Client) -> None:
    first = send(http, request_body("rate-limited", False))
    assert first.status == 429
    assert first.headers.get("retry-after") == "1"


def test_failure_builtins_are_per_key(server: BackgroundServer, http: httpx.Client) -> None:
    assert send(http, request_body("overloaded", False)).status == 503
    assert send(http, request_body("overloaded", False)).status == 200
    with httpx.Client(base_url=server.base_url, headers={"Authorization": "Bearer sk-another-key-xyz1"}) as other:
        assert send(other, request_body("overloaded", False)).status == 503


def test_mid_stream_error_chunk(dialect: str, http: httpx.Client) -> None:
    answer = send(http, request_body("mid-stream-error", True))
    assert answer.status == 200
    assert not answer.done, "no [DONE] after an in-band error"
    last = answer.chunks[-1]
    assert "error" in last
    assert last["choices"][0]["finish_reason"] == "error"
    for chunk in answer.chunks:
        assert_valid("chat-chunk", dialect, chunk)


def test_mid_stream_error_non_streaming_is_a_200_with_finish_reason_error(dialect: str, http: httpx.Client) -> None:
    answer = send(http, request_body("mid-stream-error", False))
    assert answer.status == 200
    assert answer.json["choices"][0]["finish_reason"] == "error"
    assert_valid("chat-response", dialect, answer.json)


def test_disconnect_drops_the_stream(dialect: str, http: httpx.Client) -> None:
    answer = send(http, request_body("disconnect", True))
    assert answer.status == 200
    assert not answer.done
    assert answer.transport_error is not None
    assert len(answer.chunks) == 3  # after_chunks: 3
    for chunk in answer.chunks:
        assert_valid("chat-chunk", dialect, chunk)


def test_malformed_chunk_sends_one_garbage_line(dialect: str, http: httpx.Client) -> None:
    answer = send(http, request_body("malformed-chunk", True))
    assert len(answer.garbage) == 1
    for chunk in answer.chunks:
        assert_valid("chat-chunk", dialect, chunk)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_stall_holds_until_the_client_gives_up(
    stream: bool, dialect: str, http: httpx.Client, journal: Callable[[], list[dict[str, Any]]]
) -> None:
    started = time.monotonic()
    answer = send(http, request_body("stall", stream), timeout=httpx.Timeout(5, read=1.5))
    assert answer.transport_error == "ReadTimeout"
    assert time.monotonic() - started < 4
    if stream:
        assert answer.status == 200
        assert len(answer.chunks) == 2  # after_chunks: 2
        for chunk in answer.chunks:
            assert_valid("chat-chunk", dialect, chunk)

    def disconnected() -> bool:
        entries = journal()
        return bool(entries) and entries[0]["client_disconnected"] is True

    assert wait_for(disconnected), journal()
    entry = journal()[0]
    assert entry["scenario"] == "stall"
    # the next request of the key succeeds
    second = send(http, request_body("stall", stream))
    assert second.status == 200
    assert_answer_valid(second, dialect, stream)


def test_insufficient_credits_names_only_the_dialects_own_credits_page(http: httpx.Client, dialect: str) -> None:
    """The built-in 402 is the dialect's own: OpenRouter's text sends users to openrouter.ai's
    credits page; AnyRouter documents no credits URL, so its message names none (and never
    OpenRouter's)."""
    response = http.post("/chat/completions", json=request_body("insufficient-credits", False))
    assert response.status_code == 402
    error = response.json()["error"]
    if dialect == "openrouter":
        assert error["message"] == "Insufficient credits. Add more using https://openrouter.ai/credits"
        assert error["code"] == 402
    else:
        assert "openrouter.ai" not in response.text
        assert error["message"] == "Insufficient credits."
        assert (error["type"], error["code"]) == ("payment_required_error", "insufficient_credits")
