"""The Anthropic Messages surface on the wire, in both dialects, through httpx against real
servers: bodies and named-event streams of the built-in scenarios, every event checked against
its schema; a stream assembles back to the body of the same step (a property); each fault
kind; errors in Anthropic's envelope (with Retry-After); bad requests naming the field; auth by
``x-api-key``; count_tokens."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mockrouter.core.catalog import Catalog
from mockrouter.core.reply import Reply
from mockrouter.core.schemas import SchemaRegistry
from mockrouter.http.server import BackgroundServer
from mockrouter.scenario.loader import load_text
from mockrouter.scenario.matcher import RequestFacts
from mockrouter.scenario.render import RenderInput, render
from mockrouter.wire.dialects import DIALECTS
from mockrouter.wire.dialects.base import Identity
from mockrouter.wire.dialects.messages import tool_use_id

REGISTRY = SchemaRegistry()
HEADERS = {"anthropic-version": "2023-06-01"}
WEATHER = {
    "name": "get_weather",
    "description": "The current weather in a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
CLOCK = {"name": "get_time", "input_schema": {"type": "object", "properties": {"zone": {"type": "string"}}}}
#: The stop reason of each scripted finish reason (``error`` is no Anthropic value).
STOPS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "content_filter": "refusal"}


@pytest.fixture
def anthropic(server: BackgroundServer, api_key: str) -> Iterator[httpx.Client]:
    """httpx speaking to ``/messages`` as Anthropic's SDKs do (the key in ``x-api-key``)."""
    headers = {**HEADERS, "x-api-key": api_key}
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=10) as c:
        yield c


def request(text: str = "Hello there", *, model: str = "anthropic/claude-sonnet-4.6", **extra: Any) -> dict[str, Any]:
    return {"model": model, "max_tokens": 1024, "messages": [{"role": "user", "content": text}], **extra}


def valid(kind: str, instance: Any) -> Any:
    violation = REGISTRY[kind].violation(instance)
    assert violation is None, f"{kind}: {violation} in {instance}"
    return instance


def message(response: httpx.Response) -> dict[str, Any]:
    """A 200 JSON body, checked against the response schema."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    return valid("messages-response", response.json())


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    """An error answer, checked against Anthropic's envelope."""
    assert response.status_code == status, response.text
    return valid("messages-error", response.json())["error"]


def events(raw: bytes) -> list[tuple[str, Any]]:
    """Every SSE event of a stream as (name, data): each named, its data JSON whose ``type`` is
    the name, valid against the event schema. Comments or unnamed events fail."""
    out = []
    for block in raw.decode().split("\n\n"):
        if not block:
            continue
        lines = block.split("\n")
        assert len(lines) == 2 and lines[0].startswith("event: ") and lines[1].startswith("data: "), block
        name, data = lines[0][7:], json.loads(lines[1][6:])
        assert data["type"] == name
        out.append((name, valid("messages-event", data)))
    return out


def stream(client: httpx.Client, body: dict[str, Any], **kw: Any) -> list[tuple[str, Any]]:
    response = client.post("/messages", json={**body, "stream": True}, **kw)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    return events(response.content)


def assemble(stream_events: list[tuple[str, Any]]) -> dict[str, Any]:
    """The message a client builds from a complete stream, checking the order as it goes: one
    message_start (pings anywhere), blocks opened in index order and closed before the next,
    deltas of the open block's kind, one signature_delta per thinking block before it stops,
    message_delta after the last block, message_stop last."""
    names = [name for name, _ in stream_events if name != "ping"]
    assert names[0] == "message_start" and names.count("message_start") == 1
    assert names[-2:] == ["message_delta", "message_stop"] and names.count("message_stop") == 1
    start = next(data for name, data in stream_events if name == "message_start")
    built: dict[str, Any] = json.loads(json.dumps(start["message"]))
    partial: dict[int, str] = {}
    signed: set[int] = set()
    open_index: int | None = None
    for name, data in stream_events:
        if name == "content_block_start":
            assert open_index is None and data["index"] == len(built["content"])
            open_index = data["index"]
            built["content"].append(dict(data["content_block"]))
        elif name == "content_block_delta":
            assert data["index"] == open_index
            block, delta = built["content"][open_index], data["delta"]
            kind = delta["type"]
            if kind == "text_delta":
                assert block["type"] == "text"
                block["text"] += delta["text"]
            elif kind == "thinking_delta":
                assert block["type"] == "thinking" and open_index not in signed
                block["thinking"] += delta["thinking"]
            elif kind == "signature_delta":
                assert block["type"] == "thinking" and open_index not in signed
                signed.add(open_index)
                block["signature"] = delta["signature"]
            else:
                assert kind == "input_json_delta" and block["type"] == "tool_use"
                partial[open_index] = partial.get(open_index, "") + delta["partial_json"]
        elif name == "content_block_stop":
            assert data["index"] == open_index
            block = built["content"][open_index]
            if block["type"] == "tool_use":
                block["input"] = json.loads(partial.get(open_index) or "{}")
            if block["type"] == "thinking":
                assert open_index in signed, "a thinking block stopped without its signature"
            open_index = None
        elif name == "message_delta":
            assert open_index is None
            built["stop_reason"] = data["delta"]["stop_reason"]
            built["stop_sequence"] = data["delta"].get("stop_sequence")
            built["usage"]["output_tokens"] = data["usage"]["output_tokens"]
    return built


def same_answer(body: dict[str, Any], built: dict[str, Any], *, inputs: bool = True) -> None:
    """Two answers of the same step agree but for the message id, tool ids (random per request)
    and, unless ``inputs``, tool inputs (generated per request from the tool's schema)."""

    def strip(m: dict[str, Any]) -> dict[str, Any]:
        blocks = [
            {**b, "id": "toolu_", "input": b["input"] if inputs else sorted(b["input"])}
            if b["type"] == "tool_use"
            else b
            for b in m["content"]
        ]
        return {**m, "id": "msg_", "content": blocks}

    assert strip(built) == strip(body)


def texts(m: dict[str, Any], kind: str = "text") -> list[str]:
    return [b[kind] for b in m["content"] if b["type"] == kind]


def tool_uses(m: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(b["name"], b["input"]) for b in m["content"] if b["type"] == "tool_use"]


def wait_journaled(server: BackgroundServer, key: str, count: int) -> None:
    response = httpx.post(server.url + "/__mockrouter/wait", json={"key": key, "count": count, "timeout_ms": 5000})
    assert response.status_code == 200 and response.json()["ok"], response.text


# -- the built-in scenarios, as a body and as a stream ------------------------------------------


def test_echo(anthropic: httpx.Client) -> None:
    body = message(anthropic.post("/messages", json=request("Say hello, please.")))
    assert body["id"].startswith("msg_") and body["role"] == "assistant" and body["type"] == "message"
    assert body["content"] == [{"type": "text", "text": "Say hello, please."}]
    assert body["stop_reason"] == "end_turn" and body["stop_sequence"] is None
    assert body["model"] == "anthropic/claude-sonnet-4.6"
    usage = body["usage"]
    assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0
    assert usage["cache_read_input_tokens"] == usage["cache_creation_input_tokens"] == 0
    built = assemble(stream(anthropic, request("Say hello, please.")))
    same_answer(body, built)


@pytest.mark.parametrize("streamed", [False, True])
def test_request_id_header_names_the_message(anthropic: httpx.Client, streamed: bool) -> None:
    """Anthropic's SDKs read ``request-id`` (``message._request_id``); it carries the message's digits."""
    response = anthropic.post("/messages", json=request(stream=streamed))
    assert response.status_code == 200
    message_id = message(response)["id"] if not streamed else events(response.content)[0][1]["message"]["id"]
    assert response.headers["request-id"] == "req_" + message_id.removeprefix("msg_")


def test_an_error_names_its_request_id_in_body_and_header(anthropic: httpx.Client) -> None:
    """The SDKs read an error's request id from the ``request-id`` header; the body says the same."""
    response = anthropic.post("/messages", json={"model": "x", "max_tokens": 0, "messages": []})
    assert response.status_code == 400
    assert response.headers["request-id"] == response.json()["request_id"]
    assert response.json()["request_id"].startswith("req_")


def test_system_blocks_and_a_conversation_are_accepted(anthropic: httpx.Client) -> None:
    body = request(
        "and now?",
        system=[{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        messages=[
            {"role": "user", "content": [{"type": "text", "text": "first"}]},
            {"role": "assistant", "content": "an answer"},
            {"role": "user", "content": [{"type": "text", "text": "and now?"}]},
        ],
        metadata={"user_id": "u-1"},
        temperature=0.2,
        top_k=5,
        stop_sequences=["\n\nHuman:"],
        container={"id": "unknown fields pass"},
    )
    assert texts(message(anthropic.post("/messages", json=body))) == ["and now?"]


def test_reasoning_is_a_signed_thinking_block(anthropic: httpx.Client) -> None:
    body = message(anthropic.post("/messages", json=request("Why?", model="mockrouter/reasoning")))
    assert [b["type"] for b in body["content"]] == ["thinking", "text"]
    thinking = body["content"][0]
    assert "Why?" in thinking["thinking"] and len(thinking["signature"]) > 40
    built = assemble(stream(anthropic, request("Why?", model="mockrouter/reasoning")))
    same_answer(body, built)  # the same text has the same signature
    other = message(anthropic.post("/messages", json=request("Why not?", model="mockrouter/reasoning")))
    assert other["content"][0]["signature"] != thinking["signature"]


def test_tool_call_then_the_result(anthropic: httpx.Client) -> None:
    first = request("Weather in Paris?", model="mockrouter/tool-call", tools=[WEATHER])
    body = message(anthropic.post("/messages", json=first))
    [use] = body["content"]
    assert use["type"] == "tool_use" and use["id"].startswith("toolu_") and use["name"] == "get_weather"
    assert isinstance(use["input"], dict) and body["stop_reason"] == "tool_use"
    follow = {
        **first,
        "messages": [
            *first["messages"],
            {"role": "assistant", "content": body["content"]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use["id"], "content": "Sunny"}]},
        ],
    }
    answer = message(anthropic.post("/messages", json=follow))
    assert texts(answer) == ["The tool says: Sunny"] and answer["stop_reason"] == "end_turn"
    built = assemble(stream(anthropic, first))  # the cycle starts again: a tool call
    same_answer(body, built, inputs=False)


def test_parallel_tool_calls(anthropic: httpx.Client) -> None:
    ask = request("Weather and time?", model="mockrouter/parallel-tool-calls", tools=[WEATHER, CLOCK])
    body = message(anthropic.post("/messages", json=ask))
    assert [name for name, _ in tool_uses(body)] == ["get_weather", "get_time"]
    ids = [b["id"] for b in body["content"]]
    assert len(set(ids)) == 2 and body["stop_reason"] == "tool_use"
    anthropic.post("/messages", json=ask)  # the follow-up step
    same_answer(body, assemble(stream(anthropic, ask)), inputs=False)


def test_max_tokens_truncates(anthropic: httpx.Client) -> None:
    long = "one two three four five six seven eight nine ten"
    body = message(anthropic.post("/messages", json={**request(long), "max_tokens": 3}))
    assert body["stop_reason"] == "max_tokens" and texts(body) == ["one two three"]
    assert body["usage"]["output_tokens"] == 3
    same_answer(body, assemble(stream(anthropic, {**request(long), "max_tokens": 3})))
    scripted = message(anthropic.post("/messages", json=request(model="mockrouter/length")))
    assert scripted["stop_reason"] == "max_tokens"


def test_content_filter_is_a_refusal(anthropic: httpx.Client) -> None:
    body = message(anthropic.post("/messages", json=request(model="mockrouter/content-filter")))
    assert body["stop_reason"] == "refusal" and texts(body) == ["I can't continue with"]
    same_answer(body, assemble(stream(anthropic, request(model="mockrouter/content-filter"))))


def test_scripted_refusal_is_a_text_block(anthropic: httpx.Client, add_scenarios: Callable[..., Any]) -> None:
    add_scenarios("name: refuses\nsteps:\n  - refusal: I cannot help with that.\n    finish_reason: content_filter\n")
    body = message(anthropic.post("/messages", json=request(model="mockrouter/refuses")))
    assert body["content"] == [{"type": "text", "text": "I cannot help with that."}]
    assert body["stop_reason"] == "refusal"
    same_answer(body, assemble(stream(anthropic, request(model="mockrouter/refuses"))))


def test_usage_overrides_and_cached_tokens(anthropic: httpx.Client, add_scenarios: Callable[..., Any]) -> None:
    add_scenarios("name: billed\nsteps:\n  - content: hi\n    usage: {prompt_tokens: 40, completion_tokens: 9}\n")
    body = message(anthropic.post("/messages", json=request(model="mockrouter/billed")))
    assert body["usage"]["input_tokens"] == 40 and body["usage"]["output_tokens"] == 9
    built = assemble(stream(anthropic, request(model="mockrouter/billed")))
    assert built["usage"] == body["usage"]


def test_journal_records_the_surface(
    server: BackgroundServer, anthropic: httpx.Client, api_key: str, journal: Callable[[], Any]
) -> None:
    body = message(anthropic.post("/messages", json=request("journaled")))
    stream(anthropic, request("journaled"))
    wait_journaled(server, api_key, 2)
    entries = journal()
    assert [e["surface"] for e in entries] == ["messages", "messages"]
    assert entries[0]["generation_id"] == body["id"] and entries[1]["stream"] is True


STATIC = """
name: static
steps:
  - reasoning: Thinking it over.
    content: A scripted answer.
    usage: {completion_tokens: 7}
  - refusal: Not that.
    finish_reason: content_filter
  - content: priced elsewhere
    model: anthropic/claude-sonnet-4
"""


@pytest.mark.parametrize("dialect_name", sorted(DIALECTS))
def test_static_bodies_compiled_once_are_the_rendered_bytes(dialect_name: str) -> None:
    """A static reply's body is kept in its memo but for the id and the usage (by prompt size);
    what it answers is byte for byte what rendering it afresh answers, on a first and a later call."""
    encoder = DIALECTS[dialect_name]().encoders["messages"]
    [scenario] = load_text(STATIC)
    for step in scenario.steps:
        for prompt in ("Hi", "a longer prompt of several more tokens", "Hi"):
            for model in ("openai/gpt-4o-mini", "x/unknown"):
                body = {"model": model, "max_tokens": 100, "messages": [{"role": "user", "content": prompt}]}
                facts = RequestFacts.from_body(body, {}, "messages")
                reply = render(step, RenderInput(facts, 1, random.Random(0), None), Catalog.load())
                assert isinstance(reply, Reply) and reply.memo is not None
                identity = Identity(f"msg_01{prompt.count(' ')}", 0)
                fresh = encoder.body(replace(reply, memo=None), identity, body)
                assert encoder.body(reply, identity, body) == fresh == encoder.body(reply, identity, body)
                valid("messages-response", json.loads(fresh))


def test_scripted_tool_ids_become_valid_toolu_ids(anthropic: httpx.Client, add_scenarios: Callable[..., Any]) -> None:
    assert [tool_use_id(i) for i in ("call_abc", "abc", "call_a.b c", "call_")] == [
        "toolu_abc",
        "toolu_abc",
        "toolu_a_b_c",
        "toolu__",
    ]
    add_scenarios("name: ids\nsteps:\n  - tool_calls: [{name: f, id: 'call_x/1'}, {name: g, id: 'fc.2'}]\n")
    body = message(anthropic.post("/messages", json=request(model="mockrouter/ids")))
    assert [b["id"] for b in body["content"]] == ["toolu_x_1", "toolu_fc_2"]


# -- a property: the stream of any step assembles back to its body -----------------------------

_TEXT = st.text(st.characters(codec="utf-8", exclude_characters="{}", exclude_categories=("Cs",)), max_size=30)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


@st.composite
def steps(draw: st.DrawFn) -> dict[str, Any]:
    """A scenario step: any mix of reasoning, content, refusal and tool calls (with mapping or
    raw-string arguments, some not JSON objects), cut into pieces of 1 to 4 tokens."""
    step: dict[str, Any] = {"stream": {"chunk_tokens": draw(st.integers(1, 4))}}
    for field in ("reasoning", "content", "refusal"):
        if draw(st.booleans()):
            step[field] = draw(_TEXT)
    calls = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "name": st.from_regex(r"[a-z][a-z0-9_]{0,11}", fullmatch=True),
                    "arguments": st.dictionaries(st.text(max_size=8), _JSON, max_size=3)
                    | _JSON.map(json.dumps)
                    | st.text(max_size=12),
                }
            ),
            max_size=3,
        )
    )
    if calls:
        step["tool_calls"] = [{**call, "id": f"call_p{i}"} for i, call in enumerate(calls)]
    finish = draw(st.none() | st.sampled_from(["stop", "length", "tool_calls", "content_filter", "error"]))
    if finish is not None:
        step["finish_reason"] = finish
    return step


def expected_input(arguments: Any) -> dict[str, Any]:
    """A tool_use input as the module docstring promises: a mapping or a JSON object as it is,
    nothing as ``{}``, anything else wrapped."""
    if isinstance(arguments, dict):
        return arguments
    if not arguments.strip():
        return {}
    try:
        value = json.loads(arguments)
    except ValueError:
        value = None
    return value if isinstance(value, dict) else {"arguments": arguments}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(step=steps())
def test_any_step_streams_what_its_body_says(
    step: dict[str, Any], anthropic: httpx.Client, admin: httpx.Client, api_key: str
) -> None:
    name = f"prop-{uuid.uuid4().hex[:12]}"
    added = admin.post("/scenarios", params={"key": api_key}, json={"name": name, "steps": [step]})
    assert added.status_code == 201, added.text
    ask = {**request(model=f"mockrouter/{name}"), "max_tokens": 100_000}
    body = message(anthropic.post("/messages", json=ask))
    built = assemble(stream(anthropic, ask))
    assert built == {**body, "id": built["id"]}
    # ... and both say what the step scripted, in Anthropic's terms
    blocks = body["content"]
    if step.get("reasoning"):
        assert blocks.pop(0)["thinking"] == step["reasoning"]
    assert [b["text"] for b in blocks if b["type"] == "text"] == [
        step[f] for f in ("content", "refusal") if step.get(f)
    ]
    calls = step.get("tool_calls", [])
    assert [(b["id"], b["name"], b["input"]) for b in blocks if b["type"] == "tool_use"] == [
        (f"toolu_p{i}", c["name"], expected_input(c["arguments"])) for i, c in enumerate(calls)
    ]
    finish = step.get("finish_reason") or ("tool_calls" if calls else "stop")
    assert body["stop_reason"] == STOPS.get(finish, "end_turn")


# -- faults ---------------------------------------------------------------------------------------

SIX = "one two three four five six"


def fault_scenario(kind: str, after: int, extra: str = "") -> str:
    return f"name: f-{kind}\nsteps:\n  - content: {SIX}\n    fault: {{kind: {kind}, after_chunks: {after}{extra}}}\n"


def text_so_far(stream_events: list[tuple[str, Any]]) -> str:
    return "".join(d["delta"].get("text", "") for n, d in stream_events if n == "content_block_delta")


def test_error_fault_is_an_error_event_after_the_first_byte(
    anthropic: httpx.Client, add_scenarios: Callable[..., Any]
) -> None:
    add_scenarios(fault_scenario("error", 3, ", error: {status: 529, message: upstream overloaded}"))
    got = stream(anthropic, request(model="mockrouter/f-error"))
    name, data = got[-1]
    assert name == "error" and "message_stop" not in [n for n, _ in got]
    assert valid("messages-error", data)["error"] == {"type": "overloaded_error", "message": "upstream overloaded"}
    assert data["request_id"].startswith("req_")
    assert text_so_far(got) == "one two"  # message_start + ping, then two text deltas


def test_error_fault_without_stream_is_an_http_error(
    anthropic: httpx.Client, add_scenarios: Callable[..., Any], journal: Callable[[], Any]
) -> None:
    add_scenarios(fault_scenario("error", 0, ", error: {status: 529, message: upstream overloaded}"))
    error = error_of(anthropic.post("/messages", json=request(model="mockrouter/f-error")), 529)
    assert error == {"type": "overloaded_error", "message": "upstream overloaded"}
    assert journal()[0]["fault"] == "error"


def test_truncate_ends_without_message_stop(anthropic: httpx.Client, add_scenarios: Callable[..., Any]) -> None:
    add_scenarios(fault_scenario("truncate", 3))
    got = stream(anthropic, request(model="mockrouter/f-truncate"))
    names = [n for n, _ in got]
    assert "message_stop" not in names and "message_delta" not in names and names[-1] == "content_block_delta"
    assert text_so_far(got) == "one two"


def test_malformed_is_a_named_event_that_is_not_json(
    anthropic: httpx.Client, add_scenarios: Callable[..., Any]
) -> None:
    add_scenarios(fault_scenario("malformed", 2))
    raw = anthropic.post("/messages", json={**request(model="mockrouter/f-malformed"), "stream": True}).content
    blocks = [b for b in raw.decode().split("\n\n") if b]
    broken = []
    for block in blocks:
        name, data = block.split("\n")
        try:
            json.loads(data[6:])
        except ValueError:
            broken.append(name)
    # a named event that is not ping (SDKs skip unnamed events and pings, and parse the rest)
    assert broken == ["event: content_block_delta"]
    # two chunks first: message_start + ping, then content_block_start + the first delta
    assert blocks.index(next(b for b in blocks if "not JSON" in b)) == 4


def test_disconnect_drops_the_connection(anthropic: httpx.Client, add_scenarios: Callable[..., Any]) -> None:
    add_scenarios(fault_scenario("disconnect", 2))
    with pytest.raises(httpx.RemoteProtocolError):
        anthropic.post("/messages", json={**request(model="mockrouter/f-disconnect"), "stream": True})


def test_dribble_and_keepalives_still_assemble(anthropic: httpx.Client, add_scenarios: Callable[..., Any]) -> None:
    add_scenarios(fault_scenario("dribble", 1))
    assert texts(assemble(stream(anthropic, request(model="mockrouter/f-dribble")))) == [SIX]
    add_scenarios(f"name: pings\nsteps:\n  - content: {SIX}\n    stream: {{keepalive: 2}}\n")
    got = stream(anthropic, request(model="mockrouter/pings"))
    assert [n for n, _ in got[:3]] == ["ping", "ping", "message_start"]
    assert texts(assemble(got)) == [SIX]


# -- errors, bad requests, auth --------------------------------------------------------------------


def test_rate_limited_is_anthropics_429_with_retry_after(anthropic: httpx.Client) -> None:
    response = anthropic.post("/messages", json=request(model="mockrouter/rate-limited"))
    assert error_of(response, 429)["type"] == "rate_limit_error"
    assert response.headers["retry-after"] == "1"
    assert response.json()["request_id"].startswith("req_")
    assert texts(message(anthropic.post("/messages", json=request("again", model="mockrouter/rate-limited")))) == [
        "again"
    ]


@pytest.mark.parametrize(
    ("status", "scripted_type", "expected"),
    [
        (529, None, "overloaded_error"),
        (503, None, "overloaded_error"),
        (500, None, "api_error"),
        (502, None, "api_error"),
        (504, None, "timeout_error"),
        (402, None, "billing_error"),
        (403, None, "permission_error"),
        (404, None, "not_found_error"),
        (413, None, "request_too_large"),
        (418, None, "invalid_request_error"),
        (400, "permission_error", "permission_error"),  # an Anthropic type passes as scripted
        (429, "rate_limit_exceeded", "rate_limit_error"),  # another router's type does not
    ],
)
def test_error_steps_get_anthropics_type(
    anthropic: httpx.Client, add_scenarios: Callable[..., Any], status: int, scripted_type: str | None, expected: str
) -> None:
    kind = f", type: {scripted_type}" if scripted_type else ""
    add_scenarios(f"name: fails\nsteps:\n  - error: {{status: {status}, message: scripted{kind}}}\n")
    for stream_it in (False, True):
        ask = {**request(model="mockrouter/fails"), "stream": stream_it}
        assert error_of(anthropic.post("/messages", json=ask), status) == {"type": expected, "message": "scripted"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"max_tokens": None}, "max_tokens"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"model": None}, "model"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "system", "content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": "user"}]}, "messages[0].content"),
        (
            {"messages": [{"role": "user", "content": [{"type": "tool_result", "content": "x"}]}]},
            "messages[0].content[0].tool_use_id",
        ),
        ({"messages": [{"role": "user", "content": [{"type": "text"}]}]}, "messages[0].content[0].text"),
        ({"temperature": 1.5}, "temperature"),
        ({"thinking": {"type": "enabled"}}, "thinking.budget_tokens"),
        ({"thinking": {"type": "enabled", "budget_tokens": 100}}, "thinking.budget_tokens"),
        ({"tools": [{"name": "f"}]}, "tools[0].input_schema"),
        ({"tool_choice": {"type": "tool"}}, "tool_choice.name"),
        ({"system": 3}, "system"),
    ],
)
def test_bad_request_is_a_400_naming_the_field(anthropic: httpx.Client, change: dict[str, Any], field: str) -> None:
    body = {k: v for k, v in {**request(), **change}.items() if v is not None}
    error = error_of(anthropic.post("/messages", json=body), 400)
    assert error["type"] == "invalid_request_error"
    assert f" {field}: " in error["message"], error["message"]


def test_unknown_block_types_and_fields_pass(anthropic: httpx.Client) -> None:
    body = request(
        messages=[
            {"role": "user", "content": "search for it"},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": "c2ln"},
                    {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": "x"}},
                    {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []},
                    {"type": "text", "text": "found it", "citations": None},
                ],
            },
            {"role": "user", "content": [{"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}]},
        ],
        tools=[{"type": "web_search_20250305", "name": "web_search", "max_uses": 2}, WEATHER],
        tool_choice={"type": "auto", "disable_parallel_tool_use": True},
        thinking={"type": "enabled", "budget_tokens": 1024},
        context_management={"edits": []},
    )
    message(anthropic.post("/messages", json=body))


def test_auth_by_x_api_key_or_bearer_and_a_missing_key(server: BackgroundServer, api_key: str) -> None:
    url = server.base_url + "/messages"
    assert httpx.post(url, json=request(), headers={**HEADERS, "x-api-key": api_key}).status_code == 200
    assert httpx.post(url, json=request(), headers={**HEADERS, "authorization": f"Bearer {api_key}"}).status_code == 200
    error = error_of(httpx.post(url, json=request(), headers=HEADERS), 401)
    assert error["type"] == "authentication_error" and "x-api-key" in error["message"]


def test_count_tokens_is_what_the_answer_bills(anthropic: httpx.Client) -> None:
    ask = request("Count these words for me", system="Be brief.", tools=[WEATHER])
    counted = anthropic.post("/messages/count_tokens", json={k: v for k, v in ask.items() if k != "max_tokens"})
    assert counted.status_code == 200, counted.text
    tokens = valid("messages-count-tokens", counted.json())["input_tokens"]
    assert tokens == message(anthropic.post("/messages", json=ask))["usage"]["input_tokens"] > 0
    bad = anthropic.post("/messages/count_tokens", json={"model": "x", "messages": [{"role": "bot", "content": ""}]})
    assert "messages[0].role" in error_of(bad, 400)["message"]
