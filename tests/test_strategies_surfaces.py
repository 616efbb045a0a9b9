"""The strategies of the Anthropic Messages and OpenAI Responses surfaces: what they generate
validates against the shipped schemas, the reference accumulators assemble ``.expected`` from
every drawn stream (whole or cut into writes), and so do the real SDKs — anthropic's
``messages.stream`` and openai's ``responses.stream``, whose strict state machine every drawn
stream passes — fed the same writes by a real HTTP server."""

from __future__ import annotations

import itertools
import json
import re
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import anthropic
import openai
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import InvalidArgument

from mockrouter import strategies
from mockrouter.core.schemas import SchemaRegistry
from mockrouter.strategies import (
    InvalidRequest,
    MessagesResponse,
    MessagesStream,
    ResponsesResponse,
    ResponsesStream,
    StreamError,
    assemble_messages,
    assemble_responses,
    draw_response,
    invalid_messages_requests,
    invalid_responses_requests,
    messages_requests,
    messages_responses,
    messages_streams,
    responses_requests,
    responses_responses,
    responses_streams,
    responses_summary,
    sse_named_events,
)

SCHEMAS = SchemaRegistry()
FAST = settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
dialects = pytest.mark.parametrize("dialect", ["anyrouter", "openrouter"])


# -- requests ------------------------------------------------------------------------------------


@settings(FAST, max_examples=150)
@given(messages_requests())
def test_every_messages_request_validates(body: dict[str, Any]) -> None:
    assert SCHEMAS["messages-request"].violation(body) is None


@settings(FAST, max_examples=150)
@given(responses_requests())
def test_every_responses_request_validates(body: dict[str, Any]) -> None:
    assert SCHEMAS["responses-request"].violation(body) is None
    assert body.get("store") is not True and "previous_response_id" not in body  # a stateless router answers it


@settings(FAST, max_examples=150)
@given(invalid_messages_requests())
def test_every_invalid_messages_request_fails_at_its_stated_path(case: InvalidRequest) -> None:
    violation = SCHEMAS["messages-request"].violation(case.body)
    assert violation is not None, case.reason
    assert violation.path == case.path, (case.reason, str(violation))


@settings(FAST, max_examples=150)
@given(invalid_responses_requests())
def test_every_invalid_responses_request_fails_at_its_stated_path(case: InvalidRequest) -> None:
    violation = SCHEMAS["responses-request"].violation(case.body)
    assert violation is not None, case.reason
    assert violation.path == case.path, (case.reason, str(violation))


@settings(FAST, max_examples=30)
@given(messages_requests(model="anthropic/claude-sonnet-4", stream=True), responses_requests(model="m/x", stream=False))
def test_request_options_are_honoured(messages: dict[str, Any], responses: dict[str, Any]) -> None:
    assert messages["model"] == "anthropic/claude-sonnet-4" and messages["stream"] is True
    assert messages["messages"][-1]["role"] == "user"
    if isinstance(messages.get("tool_choice"), dict) and messages["tool_choice"]["type"] == "tool":
        assert messages["tool_choice"]["name"] in [t["name"] for t in messages["tools"]]
    thinking = messages.get("thinking") or {}
    if thinking.get("type") == "enabled":
        assert 1024 <= thinking["budget_tokens"] < messages["max_tokens"]
    assert responses["model"] == "m/x" and responses["stream"] is False


# -- Messages answers ----------------------------------------------------------------------------


@dialects
def test_every_messages_response_validates(dialect: str) -> None:
    schema = SCHEMAS.for_dialect("messages-response", dialect)

    @FAST
    @given(messages_responses(dialect=dialect))
    def check(response: MessagesResponse) -> None:
        assert json.loads(response.body) == response.data == response.expected
        assert schema.violation(response.data) is None
        assert response.generation_id.startswith("msg_")
        if response.data["stop_reason"] == "tool_use":
            assert any(block["type"] == "tool_use" for block in response.data["content"])

    check()


@dialects
def test_every_messages_stream_validates_and_assembles(dialect: str) -> None:
    schema = SCHEMAS.for_dialect("messages-event", dialect)

    @FAST
    @given(messages_streams(dialect=dialect))
    def check(stream: MessagesStream) -> None:
        decoded = [(name, json.loads(data)) for name, data in sse_named_events(stream.writes)]
        assert [event for _, event in decoded] == stream.chunks
        assert all(name == event["type"] for name, event in decoded)  # named as their type
        for chunk in stream.chunks:
            assert schema.violation(chunk) is None, (schema.violation(chunk), chunk)
        assert stream.chunks[0]["type"] == "message_start" and stream.chunks[-1]["type"] == "message_stop"
        assert b"".join(stream.writes) == stream.sse
        assert assemble_messages(stream.sse) == stream.expected
        assert assemble_messages(stream.writes) == stream.expected
        assert stream.generation_id == stream.expected["id"]

    check()


def test_messages_streams_cover_the_adversarial_features() -> None:
    seen: set[str] = set()

    @settings(FAST, max_examples=150, derandomize=True)  # a fixed seed: coverage is not luck
    @given(messages_streams())
    def collect(stream: MessagesStream) -> None:
        kinds = {block["type"] for block in stream.expected["content"]}
        seen.update(kinds)
        if sum(block["type"] == "tool_use" for block in stream.expected["content"]) > 1:
            seen.add("parallel tool use")
        if any(c["type"] == "ping" for c in stream.chunks):
            seen.add("ping")
        if any(isinstance(e, str) for e in stream.events):
            seen.add("comment")
        if b"\r\n" in stream.sse:
            seen.add("crlf")
        if len(stream.writes) > 1:
            seen.add("split writes")
        if re.search(rb"data:[^\n]*\nevent:", stream.sse.replace(b"\r\n", b"\n").replace(b"\r", b"\n")):
            seen.add("event line after data")
        if "input_tokens" in next(c for c in stream.chunks if c["type"] == "message_delta")["usage"]:
            seen.add("input usage in message_delta")
        if stream.expected["stop_reason"] == "stop_sequence":
            seen.add("stop_sequence")

    collect()
    wanted = {"thinking", "text", "tool_use", "redacted_thinking", "parallel tool use", "ping", "comment"}
    wanted |= {"crlf", "split writes", "event line after data", "input usage in message_delta", "stop_sequence"}
    assert wanted <= seen, wanted - seen


def _named(kind: str, **fields: Any) -> bytes:
    return f"event: {kind}\ndata: {json.dumps({'type': kind, **fields})}\n\n".encode()


def test_the_messages_accumulator_rejects_broken_streams() -> None:
    start = _named("message_start", message={"id": "msg_1", "content": [], "usage": {}})
    text = _named("content_block_start", index=0, content_block={"type": "text", "text": ""})
    delta = _named("content_block_delta", index=0, delta={"type": "text_delta", "text": "hi"})
    stop = _named("message_stop")
    assert assemble_messages(start + text + delta + stop)["content"] == [{"type": "text", "text": "hi"}]
    # unnamed events are skipped, as the anthropic SDK skips them
    assert assemble_messages(start + text + delta.split(b"\n", 1)[1] + stop)["content"] == [
        {"type": "text", "text": ""}
    ]
    with pytest.raises(StreamError, match="without message_stop"):
        assemble_messages(start + text + delta)
    with pytest.raises(StreamError, match="in-band error"):
        error = b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n'
        assemble_messages(start + text + error)
    with pytest.raises(StreamError, match="not JSON"):
        assemble_messages(start + b"event: content_block_delta\ndata: {oops\n\n")
    with pytest.raises(StreamError, match="before message_start"):
        assemble_messages(text + start + stop)
    with pytest.raises(StreamError, match="not started"):
        assemble_messages(start + delta + stop)
    tool = _named(
        "content_block_start", index=0, content_block={"type": "tool_use", "id": "t", "name": "f", "input": {}}
    )
    args = _named("content_block_delta", index=0, delta={"type": "input_json_delta", "partial_json": "[1]"})
    block_stop = _named("content_block_stop", index=0)
    with pytest.raises(StreamError, match="not a JSON object"):
        assemble_messages(start + tool + args + block_stop + stop)


# -- Responses answers ---------------------------------------------------------------------------


@dialects
def test_every_responses_response_validates(dialect: str) -> None:
    schema = SCHEMAS.for_dialect("responses-response", dialect)

    @FAST
    @given(responses_responses(dialect=dialect))
    def check(response: ResponsesResponse) -> None:
        assert json.loads(response.body) == response.data
        assert schema.violation(response.data) is None
        assert response.expected == responses_summary(response.data)
        assert response.generation_id.startswith("resp_")
        incomplete = response.data["status"] == "incomplete"
        assert incomplete == (response.data["incomplete_details"] is not None)

    check()


@dialects
def test_every_responses_stream_validates_and_assembles(dialect: str) -> None:
    schema = SCHEMAS.for_dialect("responses-event", dialect)

    @FAST
    @given(responses_streams(dialect=dialect))
    def check(stream: ResponsesStream) -> None:
        decoded = [(name, json.loads(data)) for name, data in sse_named_events(stream.writes)]
        assert [event for _, event in decoded] == stream.chunks
        assert all(name == event["type"] for name, event in decoded)
        numbers = [chunk["sequence_number"] for chunk in stream.chunks]
        assert numbers == list(range(len(numbers)))
        for chunk in stream.chunks:
            assert schema.violation(chunk) is None, (schema.violation(chunk), chunk)
        assert stream.chunks[0]["type"] == "response.created"
        assert stream.chunks[-1]["type"] in ("response.completed", "response.incomplete")
        assert b"".join(stream.writes) == stream.sse
        assert assemble_responses(stream.sse) == stream.expected
        assert assemble_responses(stream.writes) == stream.expected
        assert stream.generation_id == stream.expected["id"]

    check()


def test_responses_streams_cover_the_adversarial_features() -> None:
    seen: set[str] = set()

    @settings(FAST, max_examples=100, derandomize=True)  # a fixed seed: coverage is not luck
    @given(responses_streams(max_tool_calls=4))
    def collect(stream: ResponsesStream) -> None:
        output = stream.expected["output"]
        seen.update(item["type"] for item in output)
        seen.add(stream.expected["status"])
        if any(part["type"] == "refusal" for item in output for part in item.get("content", [])):
            seen.add("refusal")
        indices = [c["output_index"] for c in stream.chunks if "output_index" in c]
        if any(b < a for a, b in itertools.pairwise(indices)):
            seen.add("interleaved items")
        if any(isinstance(e, str) for e in stream.events):
            seen.add("comment")
        if b"\r" in stream.sse.replace(b"\r\n", b""):
            seen.add("cr")

    collect()
    wanted = {"reasoning", "message", "function_call", "completed", "incomplete", "refusal", "interleaved items"}
    assert wanted | {"comment", "cr"} <= seen, (wanted | {"comment", "cr"}) - seen


def _event(kind: str, n: int, **fields: Any) -> bytes:
    return f"event: {kind}\ndata: {json.dumps({'type': kind, 'sequence_number': n, **fields})}\n\n".encode()


def test_the_responses_accumulator_rejects_broken_streams() -> None:
    response = {"id": "resp_1", "status": "in_progress", "output": []}
    done = {"id": "resp_1", "status": "completed"}
    item = {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "f", "arguments": ""}
    created = _event("response.created", 0, response=response)
    added = _event("response.output_item.added", 1, output_index=0, item=item)
    delta = _event("response.function_call_arguments.delta", 2, item_id="fc_1", output_index=0, delta="{}")
    item_done = _event("response.output_item.done", 3, output_index=0, item={**item, "arguments": "{}"})
    completed = _event("response.completed", 4, response=done)
    whole = assemble_responses(created + added + delta + item_done + completed)
    assert whole["output"] == [{**item, "arguments": "{}"}] and whole["status"] == "completed"
    with pytest.raises(StreamError, match="ended without"):
        assemble_responses(created + added + delta + item_done)
    with pytest.raises(StreamError, match="sequence_number"):
        assemble_responses(created + added + delta.replace(b'"sequence_number": 2', b'"sequence_number": 1'))
    with pytest.raises(StreamError, match=r"before response\.created"):
        assemble_responses(added + created)
    with pytest.raises(StreamError, match="not added"):
        assemble_responses(created + delta)
    with pytest.raises(StreamError, match="added twice"):
        assemble_responses(created + added + added.replace(b'"sequence_number": 1', b'"sequence_number": 2'))
    wrong = _event("response.function_call_arguments.done", 3, item_id="fc_1", output_index=0, arguments="{ }")
    with pytest.raises(StreamError, match="the deltas built"):
        assemble_responses(created + added + delta + wrong)
    with pytest.raises(StreamError, match="in-band error"):
        assemble_responses(created + _event("error", 1, code="server_error", message="boom"))
    with pytest.raises(StreamError, match=r"response\.failed"):
        assemble_responses(created + _event("response.failed", 1, response={"id": "resp_1", "status": "failed"}))
    with pytest.raises(StreamError, match="differs"):
        other = {**done, "output": [{**item, "arguments": "{}", "name": "g"}]}
        assemble_responses(created + added + delta + item_done + _event("response.completed", 4, response=other))


def test_bad_options_are_rejected_when_drawing() -> None:
    with pytest.raises(InvalidArgument, match="dialect"):
        strategies.draw(messages_streams(dialect="klingon"), 0)
    with pytest.raises(InvalidArgument, match="max_tool_calls"):
        strategies.draw(responses_responses(max_tool_calls=-1), 0)
    with pytest.raises(InvalidArgument, match="tool_names"):
        strategies.draw(responses_streams(tool_names="get_weather"), 0)
    with pytest.raises(InvalidArgument, match="max_messages"):
        strategies.draw(messages_requests(max_messages=0), 0)
    with pytest.raises(InvalidArgument, match="surface"):
        draw_response(1, surface="carrier-pigeon")


# -- the real SDKs, fed the same bytes through a real HTTP server --------------------------------


class _Payload:
    """What the next request gets: the content type and the writes of the body."""

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
def replay_root() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _anthropic_message(message: Any) -> dict[str, Any]:
    data: dict[str, Any] = message.model_dump(mode="json", exclude_unset=True)
    if data.get("stop_details") is None:  # the SDK sets it from message_delta
        data.pop("stop_details", None)
    return data


@dialects
def test_the_anthropic_sdk_assembles_expected_from_every_stream(dialect: str, replay_root: str) -> None:
    client = anthropic.Anthropic(base_url=replay_root + "/api", api_key="sk-test", max_retries=0, timeout=10)

    @FAST
    @given(messages_streams(dialect=dialect))
    def check(stream: MessagesStream) -> None:
        _Payload.content_type, _Payload.writes = stream.content_type, stream.writes
        request = {"model": "m", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
        with client.messages.stream(**request) as events:  # type: ignore[arg-type]
            final = events.get_final_message()
        assert _anthropic_message(final) == stream.expected

    check()


@dialects
def test_the_anthropic_sdk_reads_expected_from_every_response(dialect: str, replay_root: str) -> None:
    client = anthropic.Anthropic(base_url=replay_root + "/api", api_key="sk-test", max_retries=0, timeout=10)

    @settings(FAST, max_examples=30)
    @given(messages_responses(dialect=dialect))
    def check(response: MessagesResponse) -> None:
        _Payload.content_type, _Payload.writes = response.content_type, [response.body]
        message = client.messages.create(model="m", max_tokens=16, messages=[{"role": "user", "content": "hi"}])
        assert _anthropic_message(message) == response.expected

    check()


@dialects
def test_the_openai_sdk_assembles_expected_from_every_responses_stream(dialect: str, replay_root: str) -> None:
    """``responses.stream`` runs openai's strict ``ResponseStreamState`` over every event; the
    last event's response (``get_final_response()`` when completed) is ``.expected``."""
    client = openai.OpenAI(base_url=replay_root + "/api/v1", api_key="sk-test", max_retries=0, timeout=10)

    @FAST
    @given(responses_streams(dialect=dialect))
    def check(stream: ResponsesStream) -> None:
        _Payload.content_type, _Payload.writes = stream.content_type, stream.writes
        with client.responses.stream(model="m", input="hi") as events:
            last = list(events)[-1]
            if last.type == "response.completed":
                assert events.get_final_response().id == stream.expected["id"]
        assert last.type == f"response.{stream.expected['status']}"
        assert responses_summary(last.response.model_dump(mode="json", exclude_unset=True)) == stream.expected

    check()


@dialects
def test_the_openai_sdk_reads_expected_from_every_responses_response(dialect: str, replay_root: str) -> None:
    client = openai.OpenAI(base_url=replay_root + "/api/v1", api_key="sk-test", max_retries=0, timeout=10)

    @settings(FAST, max_examples=30)
    @given(responses_responses(dialect=dialect))
    def check(response: ResponsesResponse) -> None:
        _Payload.content_type, _Payload.writes = response.content_type, [response.body]
        answer = client.responses.create(model="m", input="hi")
        assert responses_summary(answer.model_dump(mode="json", exclude_unset=True)) == response.expected
        texts = [p["text"] for i in response.expected["output"] for p in i.get("content", []) if "text" in p]
        assert answer.output_text == "".join(texts)

    check()


# -- drawing from a seed (the server's fuzz scenario) --------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("surface", ["messages", "responses"])
@dialects
def test_draw_response_is_a_function_of_the_seed(dialect: str, surface: str, stream: bool) -> None:
    request = {"model": "acme/model-1", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}
    first = draw_response(1234, dialect=dialect, stream=stream, request=request, surface=surface)
    again = draw_response(1234, dialect=dialect, stream=stream, request=request, surface=surface)
    assert first.body == again.body and first.expected == again.expected
    drawn = [draw_response(seed, dialect=dialect, stream=stream, request=request, surface=surface) for seed in range(8)]
    assert len({d.body for d in drawn}) >= 6
    kind = f"{surface}-event" if stream else f"{surface}-response"
    for answer in drawn:
        assert answer.stream is stream
        assert answer.content_type == ("text/event-stream" if stream else "application/json")
        documents = list(answer.chunks) if isinstance(answer, MessagesStream | ResponsesStream) else [answer.data]
        for document in documents:
            assert SCHEMAS.for_dialect(kind, dialect).violation(document) is None
        assert answer.expected["model"] == "acme/model-1"
        assert "tool_use" not in json.dumps(answer.expected) and "function_call" not in json.dumps(answer.expected)
        if isinstance(answer, MessagesStream):
            assert assemble_messages(answer.writes) == answer.expected
        if isinstance(answer, ResponsesStream):
            assert assemble_responses(answer.writes) == answer.expected


def test_draw_response_calls_only_the_tools_a_request_declares() -> None:
    messages_tools = [
        {"name": "get_weather", "input_schema": {"type": "object"}},
        {"name": "lookup", "input_schema": {"type": "object"}},
        {"type": "web_search_20250305", "name": "web_search"},  # a server tool: not the client's to run
    ]
    responses_tools = [{"type": "function", "name": "get_weather"}, {"type": "web_search_preview"}]
    cases = [
        ("messages", {"tools": messages_tools}, {"get_weather", "lookup"}),
        ("messages", {"tools": messages_tools, "tool_choice": {"type": "tool", "name": "lookup"}}, {"lookup"}),
        ("messages", {"tools": messages_tools, "tool_choice": {"type": "none"}}, set()),
        ("responses", {"tools": responses_tools}, {"get_weather"}),
        ("responses", {"tools": responses_tools, "tool_choice": "none"}, set()),
    ]
    for surface, request, allowed in cases:
        names: set[str] = set()
        for seed in range(20):
            for stream in (False, True):
                answer = draw_response(seed, stream=stream, request=request, surface=surface)
                if surface == "messages":
                    names |= {b["name"] for b in answer.expected["content"] if b["type"] == "tool_use"}
                else:
                    names |= {i["name"] for i in answer.expected["output"] if i["type"] == "function_call"}
        assert names == allowed, (surface, request)


def test_draw_response_on_chat_is_unchanged_by_the_surface_option() -> None:
    request = {"model": "m/x", "messages": [{"role": "user", "content": "hi"}]}
    for surface in ("chat", "text"):
        for stream in (False, True):
            assert (
                draw_response(5, stream=stream, request=request, surface=surface).body
                == draw_response(5, stream=stream, request=request).body
            )
