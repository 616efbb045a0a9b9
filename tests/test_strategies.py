"""The public hypothesis strategies: what they generate is valid, and what they promise a
client assembles, a reference accumulator and the real openai SDK do assemble."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import openai
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from mockrouter import strategies
from mockrouter.core.schemas import SchemaRegistry
from mockrouter.strategies import (
    ChatResponse,
    ChatStream,
    InvalidRequest,
    StreamError,
    assemble,
    chat_requests,
    chat_responses,
    chat_streams,
    draw_response,
    invalid_chat_requests,
    sse_events,
)

SCHEMAS = SchemaRegistry()
FAST = settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
dialects = pytest.mark.parametrize("dialect", ["anyrouter", "openrouter"])


# -- requests --------------------------------------------------------------------------------


@settings(FAST, max_examples=100)
@given(chat_requests())
def test_every_generated_request_validates(body: dict[str, Any]) -> None:
    assert SCHEMAS["chat-request"].violation(body) is None


@settings(FAST, max_examples=100)
@given(invalid_chat_requests())
def test_every_invalid_request_fails_at_its_stated_path(case: InvalidRequest) -> None:
    violation = SCHEMAS["chat-request"].violation(case.body)
    assert violation is not None, case.reason
    assert violation.path == case.path, (case.reason, str(violation))


@settings(FAST, max_examples=30)
@given(chat_requests(model="openai/gpt-4o-mini", stream=True))
def test_request_options_are_honoured(body: dict[str, Any]) -> None:
    assert body["model"] == "openai/gpt-4o-mini" and body["stream"] is True and "models" not in body
    if "tool_choice" in body and isinstance(body["tool_choice"], dict):
        assert body["tool_choice"]["function"]["name"] in [t["function"]["name"] for t in body["tools"]]


# -- responses and streams -------------------------------------------------------------------


@dialects
def test_every_generated_response_validates(dialect: str) -> None:
    schema = SCHEMAS[f"chat-response.{dialect}"]

    @FAST
    @given(chat_responses(dialect=dialect))
    def check(response: ChatResponse) -> None:
        assert json.loads(response.body) == response.data
        assert schema.violation(response.data) is None
        messages = response.expected if isinstance(response.expected, list) else [response.expected]
        assert len(messages) == len(response.data["choices"])
        for message, choice in zip(messages, response.data["choices"], strict=True):
            assert message["content"] == choice["message"]["content"]
            calls = choice["message"].get("tool_calls", [])
            assert message.get("tool_calls", []) == [
                {"id": c["id"], "name": c["function"]["name"], "arguments": c["function"]["arguments"]} for c in calls
            ]

    check()


@dialects
def test_every_generated_stream_validates_and_assembles(dialect: str) -> None:
    schema = SCHEMAS[f"chat-chunk.{dialect}"]

    @FAST
    @given(chat_streams(dialect=dialect))
    def check(stream: ChatStream) -> None:
        decoded = [json.loads(data) for data in sse_events(stream.sse) if data != "[DONE]"]
        assert decoded == stream.chunks
        ids = {chunk["id"] for chunk in stream.chunks}
        assert len(ids) == 1
        for chunk in stream.chunks:
            assert schema.violation(chunk) is None, (schema.violation(chunk), chunk)
            if dialect == "openrouter":
                assert chunk["id"].startswith(f"gen-{chunk['created']}-")
                for choice in chunk["choices"]:
                    delta = choice["delta"]
                    if "content" in delta and delta["content"] is not None:
                        assert delta["role"] == "assistant"
        for chunk in stream.chunks:  # tool-call fragments: index always; id/name only first
            for choice in chunk["choices"]:
                for fragment in choice["delta"].get("tool_calls", []):
                    assert "index" in fragment
        assert b"".join(stream.writes) == stream.sse
        assert assemble(stream.sse) == stream.expected
        assert assemble(stream.writes) == stream.expected

    check()


def test_streams_cover_the_adversarial_features() -> None:
    """Across a modest run, each advertised oddity shows up at least once."""
    seen: set[str] = set()

    @settings(FAST, max_examples=100, derandomize=True)  # a fixed seed: coverage is not luck
    @given(chat_streams(dialect="anyrouter"))
    def collect(stream: ChatStream) -> None:
        text = stream.sse
        if b"\r\n" in text:
            seen.add("crlf")
        if b"\r" in text.replace(b"\r\n", b""):
            seen.add("cr")
        if any(isinstance(e, str) and e.startswith(":") for e in stream.events):
            seen.add("keep-alive")
        if any(c["choices"] == [] and c.get("usage") for c in stream.chunks):
            seen.add("usage-only")
        if isinstance(stream.expected, list):
            seen.add("several choices")
        message = stream.expected if isinstance(stream.expected, dict) else stream.expected[0]
        if len(message.get("tool_calls", [])) > 1:
            seen.add("parallel tool calls")
        if any(ord(ch) > 0xFFFF for ch in message["content"] or ""):
            seen.add("astral")
        if any(c["choices"] and c["choices"][0]["delta"] == {} for c in stream.chunks):
            seen.add("empty delta")
        if len(stream.writes) > 1:
            seen.add("split writes")

    collect()
    wanted = {"crlf", "cr", "keep-alive", "usage-only", "several choices", "parallel tool calls", "empty delta"}
    wanted |= {"split writes"}
    assert wanted <= seen, wanted - seen


def test_sse_decoder_follows_the_spec() -> None:
    body = b': keep-alive\r\rdata: {"a":\r\ndata: 1}\r\n\r\ndata:[DONE]\n\n'
    assert list(sse_events(body)) == ['{"a":\n1}', "[DONE]"]
    # a CR at the end of one network read and the LF at the start of the next are one line end
    assert list(sse_events([b"data: x\r", b"\n\r", b"\ndata: y\n\n"])) == ["x", "y"]
    with pytest.raises(StreamError, match=r"\[DONE\]"):
        assemble(b'data: {"choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n')
    with pytest.raises(StreamError, match="in-band error"):
        assemble(b'data: {"error":{"message":"boom"},"choices":[]}\n\ndata: [DONE]\n\n')


def test_bad_options_are_rejected_when_drawing() -> None:
    with pytest.raises(InvalidArgument, match="dialect"):
        strategies.draw(chat_streams(dialect="klingon"), 0)
    with pytest.raises(InvalidArgument, match="max_choices"):
        strategies.draw(chat_responses(max_choices=0), 0)
    with pytest.raises(InvalidArgument, match="tool_names"):
        strategies.draw(chat_responses(tool_names="get_weather"), 0)


# -- the real openai SDK, fed the same bytes through a real HTTP server -----------------------


class _Payload:
    """What the next request gets: status, content type and the writes of the body."""

    content_type = "application/json"
    writes: list[bytes] = []


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # close-delimited bodies, flushed write by write

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", _Payload.content_type)
        self.end_headers()
        for piece in _Payload.writes:
            self.wfile.write(piece)
            self.wfile.flush()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def replay_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api/v1"
    server.shutdown()
    server.server_close()


def sdk_assemble(chunks: Iterator[Any]) -> dict[str, Any] | list[dict[str, Any]]:
    """What an application does with the SDK's chunks: append strings, merge calls by index."""
    states: dict[int, dict[str, Any]] = {}
    for chunk in chunks:
        for choice in chunk.choices:
            state = states.setdefault(choice.index, {"role": "assistant", "content": None, "calls": {}})
            delta = choice.delta
            extra = delta.model_extra or {}
            for key, value in (
                ("content", delta.content),
                ("refusal", delta.refusal),
                ("reasoning", extra.get("reasoning")),
            ):
                if value is not None:
                    state[key] = (state.get(key) or "") + value
            for call in delta.tool_calls or []:
                merged = state["calls"].setdefault(call.index, {"id": None, "name": None, "arguments": ""})
                merged["id"] = merged["id"] or call.id
                if call.function is not None:
                    merged["name"] = merged["name"] or call.function.name
                    merged["arguments"] += call.function.arguments or ""
    messages = []
    for index in sorted(states):
        state = states.pop(index)
        calls = state.pop("calls")
        if calls:
            state["tool_calls"] = [calls[k] for k in sorted(calls)]
        messages.append(state)
    return messages[0] if len(messages) == 1 else messages


@dialects
def test_the_openai_sdk_assembles_expected_from_every_stream(dialect: str, replay_url: str) -> None:
    client = openai.OpenAI(base_url=replay_url, api_key="sk-test", max_retries=0, timeout=10)

    @FAST
    @given(chat_streams(dialect=dialect))
    def check(stream: ChatStream) -> None:
        _Payload.content_type, _Payload.writes = stream.content_type, stream.writes
        chunks = client.chat.completions.create(
            model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        assert sdk_assemble(iter(chunks)) == stream.expected

    check()


@dialects
def test_the_openai_sdk_reads_expected_from_every_response(dialect: str, replay_url: str) -> None:
    client = openai.OpenAI(base_url=replay_url, api_key="sk-test", max_retries=0, timeout=10)

    @settings(FAST, max_examples=30)
    @given(chat_responses(dialect=dialect))
    def check(response: ChatResponse) -> None:
        _Payload.content_type, _Payload.writes = response.content_type, [response.body]
        completion = client.chat.completions.create(
            model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
        got = []
        for choice in completion.choices:
            message: dict[str, Any] = {"role": choice.message.role, "content": choice.message.content}
            reasoning = (choice.message.model_extra or {}).get("reasoning")
            if reasoning is not None:
                message["reasoning"] = reasoning
            if choice.message.refusal is not None:
                message["refusal"] = choice.message.refusal
            if choice.message.tool_calls:
                message["tool_calls"] = [
                    {"id": c.id, "name": c.function.name, "arguments": c.function.arguments}
                    for c in choice.message.tool_calls
                ]
            got.append(message)
        assert (got[0] if len(got) == 1 else got) == response.expected

    check()


# -- drawing from a seed (the server's fuzz scenario) -----------------------------------------


@pytest.mark.parametrize("stream", [False, True])
@dialects
def test_draw_response_is_a_function_of_the_seed(dialect: str, stream: bool) -> None:
    request = {"model": "acme/model-1", "messages": [{"role": "user", "content": "hi"}]}
    first = draw_response(1234, dialect=dialect, stream=stream, request=request)
    again = draw_response(1234, dialect=dialect, stream=stream, request=request)
    assert first.body == again.body and first.expected == again.expected
    bodies = {draw_response(seed, dialect=dialect, stream=stream, request=request).body for seed in range(8)}
    assert len(bodies) >= 6  # seeds spread over the strategy
    kind = "chat-chunk" if stream else "chat-response"
    for seed in range(8):
        drawn = draw_response(seed, dialect=dialect, stream=stream, request=request)
        assert drawn.content_type == ("text/event-stream" if stream else "application/json")
        documents = list(drawn.chunks) if isinstance(drawn, ChatStream) else [drawn.data]
        for document in documents:
            assert document["model"] == "acme/model-1"
            assert SCHEMAS[f"{kind}.{dialect}"].violation(document) is None
        if isinstance(drawn, ChatStream):
            assert assemble(drawn.sse) == drawn.expected
        assert "tool_calls" not in json.dumps(drawn.expected)  # the request declares no tools


def test_draw_response_follows_the_request() -> None:
    tools = [{"type": "function", "function": {"name": "get_weather"}}]
    request = {"model": "m/x", "messages": [], "tools": tools, "n": 3, "stream_options": {"include_usage": True}}
    names: set[str] = set()
    for seed in range(12):
        drawn = draw_response(seed, dialect="anyrouter", stream=True, request=request)
        assert isinstance(drawn, ChatStream)
        assert any(c["choices"] == [] and c.get("usage") for c in drawn.chunks)  # usage was asked for
        messages = drawn.expected if isinstance(drawn.expected, list) else [drawn.expected]
        assert len(messages) <= 3
        names |= {call["name"] for m in messages for call in m.get("tool_calls", [])}
    assert names <= {"get_weather"}
    plain = draw_response(5, dialect="anyrouter", stream=True, request={"messages": []})
    assert not any(c.get("usage") for c in plain.chunks)  # not asked for: no usage chunk


@given(st.data())
@settings(max_examples=3, deadline=None, database=None)
def test_draw_response_works_inside_a_given_test(data: st.DataObject) -> None:
    """A server thread may draw while the test thread runs @given."""
    out: list[Any] = []
    thread = threading.Thread(target=lambda: out.append(draw_response(7, stream=True)))
    thread.start()
    thread.join(timeout=30)
    assert out and out[0].body == draw_response(7, stream=True).body


def test_the_readme_example_runs() -> None:
    """The ten-line example in the README's Fuzzing section, with `assemble` as the parser."""
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    block = next(b for b in readme.split("```python")[1:] if "test_my_parser_assembles_every_stream" in b)
    namespace: dict[str, Any] = {"my_parser": assemble}
    exec(block.split("```")[0], namespace)
    settings(FAST, max_examples=20)(namespace["test_my_parser_assembles_every_stream"])()
