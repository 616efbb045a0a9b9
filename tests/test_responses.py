"""The OpenAI Responses surface on the wire (``POST /responses``), in both dialects, through
httpx: bodies and named-event streams validated against the published schemas, streams that
assemble into the body's output, every fault kind, HTTP errors and request validation."""

from __future__ import annotations

import copy
import json
import random
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mockrouter.core.catalog import Catalog
from mockrouter.core.schemas import SchemaRegistry
from mockrouter.core.surfaces import chat_view
from mockrouter.scenario.loader import load_text
from mockrouter.scenario.matcher import RequestFacts
from mockrouter.scenario.render import RenderInput, render
from mockrouter.wire.dialects.anyrouter import AnyRouter
from mockrouter.wire.dialects.openrouter import OpenRouter

REGISTRY = SchemaRegistry()
CATALOG = Catalog.load()
MODEL = "openai/gpt-4o-mini"
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The current weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
CLOCK = {"type": "function", "name": "get_time", "parameters": {"type": "object", "properties": {}}}
TERMINAL = {"response.completed", "response.incomplete", "response.failed"}


# -- helpers ---------------------------------------------------------------------------------


def events_of(raw: bytes) -> list[dict[str, Any]]:
    """The data of every event of a Responses stream, checked: each is named by an ``event:``
    line equal to its ``type``, carries valid JSON, and validates against the event schema."""
    out = []
    for block in raw.decode().split("\n\n"):
        lines = [line for line in block.split("\n") if line and not line.startswith(":")]
        if not lines:
            continue
        assert len(lines) == 2 and lines[0].startswith("event: ") and lines[1].startswith("data: "), block
        data = json.loads(lines[1][6:])
        assert data["type"] == lines[0][7:], block
        violation = REGISTRY["responses-event"].violation(data)
        assert violation is None, f"{violation}: {data}"
        out.append(data)
    return out


def assemble(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The output items a client builds from the events, checking the order the openai SDK
    demands: sequence numbers 0, 1, 2..., created and in_progress first, each item added at
    the next index, its parts and deltas only while it is open, done with what was streamed."""
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert [e["type"] for e in events[:2]] == ["response.created", "response.in_progress"]
    rid = events[0]["response"]["id"]
    items: list[dict[str, Any]] = []
    current: int | None = None
    for event in events[2:]:
        kind = event["type"]
        if kind in TERMINAL or kind == "error":
            if kind not in ("error", "response.failed"):  # a failure may cut an item short
                assert current is None, f"{kind} with item {current} still open"
            if "response" in event:
                assert event["response"]["id"] == rid
            continue
        index = event["output_index"]
        if kind == "response.output_item.added":
            assert current is None and index == len(items), event
            items.append(copy.deepcopy(event["item"]))
            current = index
            continue
        assert index == current, f"{kind} for item {index} while {current} is open"
        item = items[index]
        if kind != "response.output_item.done":
            assert event["item_id"] == item["id"]
        if kind == "response.content_part.added":
            assert event["content_index"] == len(item["content"])
            item["content"].append(copy.deepcopy(event["part"]))
        elif kind == "response.output_text.delta":
            item["content"][event["content_index"]]["text"] += event["delta"]
        elif kind == "response.refusal.delta":
            item["content"][event["content_index"]]["refusal"] += event["delta"]
        elif kind == "response.output_text.done":
            assert item["content"][event["content_index"]]["text"] == event["text"]
        elif kind == "response.refusal.done":
            assert item["content"][event["content_index"]]["refusal"] == event["refusal"]
        elif kind == "response.content_part.done":
            assert item["content"][event["content_index"]] == event["part"]
        elif kind == "response.reasoning_summary_part.added":
            assert event["summary_index"] == len(item["summary"])
            item["summary"].append(copy.deepcopy(event["part"]))
        elif kind == "response.reasoning_summary_text.delta":
            item["summary"][event["summary_index"]]["text"] += event["delta"]
        elif kind == "response.reasoning_summary_text.done":
            assert item["summary"][event["summary_index"]]["text"] == event["text"]
        elif kind == "response.reasoning_summary_part.done":
            assert item["summary"][event["summary_index"]] == event["part"]
        elif kind == "response.function_call_arguments.delta":
            item["arguments"] += event["delta"]
        elif kind == "response.function_call_arguments.done":
            assert item["arguments"] == event["arguments"]
        elif kind == "response.output_item.done":
            if "status" in event["item"]:
                item["status"] = event["item"]["status"]
            assert item == event["item"], "the done item differs from what was streamed"
            current = None
        else:
            raise AssertionError(f"unexpected event {kind}")
    return items


def without_ids(items: list[dict[str, Any]], *, drawn: bool = False) -> list[dict[str, Any]]:
    """Items with their ids and call ids dropped (two requests draw different ones); with
    ``drawn``, tool-call arguments drawn from a schema are reduced to their keys."""
    out = [{k: v for k, v in item.items() if k not in ("id", "call_id")} for item in items]
    for item in out:
        if drawn and item["type"] == "function_call":
            item["arguments"] = sorted(json.loads(item["arguments"]))
    return out


def check_body(body: dict[str, Any], dialect: str) -> None:
    violation = REGISTRY.for_dialect("responses-response", dialect).violation(body)
    assert violation is None, f"{violation}: {body}"


def fresh_session() -> dict[str, str]:
    """A header that gives a request its own scenario cursors (so both requests of
    :func:`answer` get a cycling scenario's first step)."""
    return {"X-Mockrouter-Session": uuid.uuid4().hex}


def answer(
    http: httpx.Client, dialect: str, *, drawn: bool = False, **request: Any
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The JSON body and the stream events of the same request, each checked against the
    schemas, the stream's assembled output equal to its last event's and to the body's
    (``drawn``: tool-call arguments are drawn per request, only their keys must agree)."""
    request.setdefault("model", MODEL)
    request.setdefault("input", "Hello there")
    response = http.post("/responses", json=request, headers=fresh_session())
    assert response.status_code == 200, response.text
    body = response.json()
    check_body(body, dialect)
    streamed = http.post("/responses", json={**request, "stream": True}, headers=fresh_session())
    assert streamed.status_code == 200, streamed.text
    assert streamed.headers["content-type"].startswith("text/event-stream")
    events = events_of(streamed.content)
    assert events[-1]["type"] in TERMINAL
    final = events[-1]["response"]
    check_body(final, dialect)
    assert assemble(events) == final["output"]
    assert without_ids(final["output"], drawn=drawn) == without_ids(body["output"], drawn=drawn)
    assert final["status"] == body["status"] and final["incomplete_details"] == body["incomplete_details"]
    return body, events


def text_of(body: dict[str, Any]) -> str:
    return "".join(
        part["text"]
        for item in body["output"]
        if item["type"] == "message"
        for part in item["content"]
        if "text" in part
    )


def scenario(add: Callable[[str], list[str]], step: dict[str, Any]) -> str:
    """Add a one-step scenario (JSON is YAML) under a fresh name; the model that selects it."""
    name = f"r-{uuid.uuid4().hex[:12]}"
    add(json.dumps({"name": name, "steps": [step]}))
    return f"mockrouter/{name}"


# -- the built-in scenarios, JSON and streamed -------------------------------------------------


def test_echo(http: httpx.Client, dialect: str, journal: Callable[[], list[dict[str, Any]]]) -> None:
    body, events = answer(http, dialect, input="Hello there, router")
    assert body["object"] == "response" and body["id"].startswith("resp_") and body["status"] == "completed"
    assert [item["type"] for item in body["output"]] == ["message"]
    assert text_of(body) == "Hello there, router"
    assert body["usage"]["total_tokens"] == body["usage"]["input_tokens"] + body["usage"]["output_tokens"]
    assert [e["type"] for e in events].count("response.output_text.delta") > 1
    assert events[-1]["type"] == "response.completed"
    assert {e["surface"] for e in journal()} == {"responses"}
    if dialect == "openrouter":
        assert body["usage"]["cost"] >= 0 and body["usage"]["is_byok"] is False


def test_reasoning(http: httpx.Client, dialect: str) -> None:
    body, events = answer(http, dialect, model="mockrouter/reasoning", input="Why is the sky blue?")
    reasoning, message = body["output"]
    assert reasoning["type"] == "reasoning" and "Why is the sky blue?" in reasoning["summary"][0]["text"]
    assert message["type"] == "message" and text_of(body).endswith("Why is the sky blue?")
    assert body["usage"]["output_tokens_details"]["reasoning_tokens"] > 0
    assert "response.reasoning_summary_text.delta" in {e["type"] for e in events}


def test_tool_call(http: httpx.Client, dialect: str) -> None:
    body, _ = answer(
        http, dialect, drawn=True, model="mockrouter/tool-call", input="Weather in Paris?", tools=[WEATHER]
    )
    [call] = body["output"]
    assert call["type"] == "function_call" and call["name"] == "get_weather" and call["status"] == "completed"
    assert call["call_id"].startswith("call_") and call["id"].startswith("fc_")
    assert set(json.loads(call["arguments"])) == {"city"}
    assert body["status"] == "completed" and body["tools"] == [WEATHER]


def test_tool_result_turn(http: httpx.Client, dialect: str) -> None:
    conversation = [
        {"role": "user", "content": "Weather in Paris?"},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"city":"Paris"}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "Sunny, 21 degrees"},
    ]
    http.post("/responses", json={"model": "mockrouter/tool-call", "input": "Weather?", "tools": [WEATHER]})
    body = http.post("/responses", json={"model": "mockrouter/tool-call", "input": conversation, "tools": [WEATHER]})
    assert text_of(body.json()) == "The tool says: Sunny, 21 degrees"


def test_parallel_tool_calls(http: httpx.Client, dialect: str) -> None:
    body, events = answer(
        http, dialect, drawn=True, model="mockrouter/parallel-tool-calls", input="Go", tools=[WEATHER, CLOCK]
    )
    assert [(i["type"], i["name"]) for i in body["output"]] == [
        ("function_call", "get_weather"),
        ("function_call", "get_time"),
    ]
    assert len({i["call_id"] for i in body["output"]}) == 2
    added = [e["output_index"] for e in events if e["type"] == "response.output_item.added"]
    assert added == [0, 1]


@pytest.mark.parametrize(("name", "reason"), [("length", "max_output_tokens"), ("content-filter", "content_filter")])
def test_incomplete(http: httpx.Client, dialect: str, name: str, reason: str) -> None:
    body, events = answer(http, dialect, model=f"mockrouter/{name}")
    assert body["status"] == "incomplete" and body["incomplete_details"] == {"reason": reason}
    assert body["output"][0]["status"] == "incomplete" and text_of(body)
    assert events[-1]["type"] == "response.incomplete"


def test_max_output_tokens_truncates(http: httpx.Client, dialect: str) -> None:
    words = "one two three four five six seven eight nine ten eleven twelve"
    body, _ = answer(http, dialect, input=words, max_output_tokens=3)
    assert body["status"] == "incomplete" and body["incomplete_details"] == {"reason": "max_output_tokens"}
    assert words.startswith(text_of(body)) and len(text_of(body)) < len(words)
    assert body["max_output_tokens"] == 3 and body["usage"]["output_tokens"] <= 3


def test_refusal(http: httpx.Client, dialect: str, add_scenarios: Callable[[str], list[str]]) -> None:
    model = scenario(add_scenarios, {"refusal": "I can't help with that."})
    body, events = answer(http, dialect, model=model)
    [message] = body["output"]
    assert message["content"] == [{"type": "refusal", "refusal": "I can't help with that."}]
    assert "response.refusal.delta" in {e["type"] for e in events}


def test_request_settings_are_echoed(http: httpx.Client, dialect: str) -> None:
    settings_ = {
        "instructions": "Be brief.",
        "temperature": 0.2,
        "top_p": 0.5,
        "tools": [WEATHER],
        "tool_choice": "none",
        "parallel_tool_calls": False,
        "metadata": {"run": "42"},
        "text": {"format": {"type": "json_object"}},
        "reasoning": {"effort": "low", "summary": "auto"},
        "store": False,
    }
    if dialect == "openrouter":
        settings_["presence_penalty"] = 0.5
    body, _ = answer(http, dialect, input=[{"role": "user", "content": "Hi"}], **settings_)
    for key, value in settings_.items():
        assert body[key] == value, key
    assert body["previous_response_id"] is None and body["model"] == MODEL
    defaults = answer(http, dialect, temperature=None, tool_choice=None, metadata=None)[0]
    assert (defaults["temperature"], defaults["tool_choice"], defaults["metadata"]) == (None, "auto", {})


SAFE_TEXT = st.text(st.sampled_from("abcdefghij XYZ.,!?-"), min_size=1, max_size=40)
ARGUMENTS = st.dictionaries(st.sampled_from(["city", "n", "tags"]), st.integers(0, 99) | SAFE_TEXT, max_size=3)


@st.composite
def steps(draw: st.DrawFn) -> dict[str, Any]:
    """A scenario step: any mix of reasoning, content, refusal and tool calls, any finish
    reason, cut into pieces of any size."""
    step: dict[str, Any] = {}
    for key in ("reasoning", "content", "refusal"):
        if draw(st.booleans()):
            step[key] = draw(SAFE_TEXT)
    calls = draw(st.lists(st.tuples(st.sampled_from(["get_weather", "get_time"]), ARGUMENTS), max_size=3))
    if calls:
        step["tool_calls"] = [{"name": name, "arguments": args} for name, args in calls]
    if draw(st.booleans()):
        step["finish_reason"] = draw(st.sampled_from(["stop", "length", "tool_calls", "content_filter"]))
    step["stream"] = {"chunk_tokens": draw(st.integers(1, 4))}
    return step


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(step=steps())
def test_streams_assemble_into_the_body(
    http: httpx.Client, dialect: str, add_scenarios: Callable[[str], list[str]], step: dict[str, Any]
) -> None:
    body, _ = answer(http, dialect, model=scenario(add_scenarios, step))
    kinds = [item["type"] for item in body["output"]]
    assert kinds == sorted(kinds, key=["reasoning", "message", "function_call"].index)
    assert kinds.count("function_call") == len(step.get("tool_calls", []))
    assert ("reasoning" in kinds) == ("reasoning" in step)
    message = [item for item in body["output"] if item["type"] == "message"]
    if "refusal" in step:
        assert message[0]["content"][-1] == {"type": "refusal", "refusal": step["refusal"]}
    if "content" in step:
        assert text_of(body) == step["content"]


REQUESTS = st.sampled_from(
    [
        {"model": MODEL, "input": "hi"},
        {"model": MODEL, "input": "hi", "instructions": "Be brief."},
        {"model": MODEL, "input": "hi", "temperature": None, "tool_choice": None},
        {"model": MODEL, "input": "hi", "tools": [WEATHER], "metadata": {"k": "v"}, "presence_penalty": 0.5},
    ]
)


@settings(max_examples=60, deadline=None)
@given(step=steps(), request=REQUESTS, dialect=st.sampled_from([AnyRouter, OpenRouter]))
def test_compiled_answers_are_the_rendered_ones(step: dict[str, Any], request: dict[str, Any], dialect: Any) -> None:
    """A static reply's body and stream, made from the bytes compiled for its step, are byte
    for byte what rendering them in full gives (a dialect that does not precompile), the
    first time and from the memo; the stream's last event carries the body."""
    [scenario_] = load_text(json.dumps({"name": "compiled", "steps": [step]}))
    facts = RequestFacts.from_body(chat_view("responses", request), {}, "responses")
    reply = render(scenario_.steps[0], RenderInput(facts, 1, random.Random(0), None), CATALOG)
    fast = dialect(precompile=True).encoders["responses"]
    slow = dialect(precompile=False).encoders["responses"]
    identity = fast.identity(random.Random(7), 1_767_225_600)

    def streamed(encoder: Any) -> bytes:
        stream = encoder.stream(reply, identity, request)
        return b"".join(b for event in reply.events() if (b := stream.encode(event)) is not None)

    body = slow.body(reply, identity, request)
    assert fast.body(reply, identity, request) == body == fast.body(reply, identity, request)
    raw = streamed(slow)
    assert streamed(fast) == raw == streamed(fast)
    events = events_of(raw)
    assemble(events)
    assert events[-1]["response"] == json.loads(body)


# -- faults ------------------------------------------------------------------------------------


def fault(add: Callable[[str], list[str]], kind: str, after: int, **extra: Any) -> str:
    return scenario(
        add, {"content": "one two three four five six", "fault": {"kind": kind, "after_chunks": after, **extra}}
    )


def stream(http: httpx.Client, model: str) -> httpx.Response:
    response = http.post("/responses", json={"model": model, "input": "hi", "stream": True})
    assert response.status_code == 200, response.text
    return response


def test_error_fault_in_a_stream(
    http: httpx.Client, dialect: str, add_scenarios: Callable[[str], list[str]], journal: Callable[[], Any]
) -> None:
    model = fault(add_scenarios, "error", 3, error={"status": 503, "message": "overloaded upstream"})
    events = events_of(stream(http, model).content)
    assemble(events)
    error, failed = events[-2:]
    assert error["type"] == "error" and error["message"] == "overloaded upstream"
    assert error["code"] == "server_error" and error["param"] is None
    assert failed["type"] == "response.failed" and failed["response"]["status"] == "failed"
    assert failed["response"]["error"] == {"code": "server_error", "message": "overloaded upstream"}
    deltas = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert deltas == "one two"  # created+in_progress, 2 content chunks, then the error
    assert journal()[-1]["fault"] == "error"


def test_error_fault_without_stream_is_an_http_error(
    http: httpx.Client, dialect: str, add_scenarios: Callable[[str], list[str]]
) -> None:
    model = fault(add_scenarios, "error", 0, error={"status": 503, "message": "overloaded upstream"})
    response = http.post("/responses", json={"model": model, "input": "hi"})
    assert response.status_code == 503
    assert response.json()["error"]["message"] == "overloaded upstream"
    assert REGISTRY.for_dialect("responses-error", dialect).violation(response.json()) is None
    if dialect == "openrouter":  # its Responses API's own envelope: string codes, metadata null
        assert response.json() == {
            "error": {"code": "server_error", "message": "overloaded upstream"},
            "metadata": None,
        }


def test_truncate_ends_without_a_terminal_event(http: httpx.Client, add_scenarios: Callable[[str], list[str]]) -> None:
    events = events_of(stream(http, fault(add_scenarios, "truncate", 3)).content)
    assert not TERMINAL & {e["type"] for e in events}
    assert events[-1]["type"] == "response.output_text.delta"


def test_disconnect_is_not_a_clean_end(http: httpx.Client, add_scenarios: Callable[[str], list[str]]) -> None:
    with pytest.raises(httpx.RemoteProtocolError):
        stream(http, fault(add_scenarios, "disconnect", 2))


def test_malformed_is_a_named_event_that_is_not_json(
    http: httpx.Client, add_scenarios: Callable[[str], list[str]]
) -> None:
    raw = stream(http, fault(add_scenarios, "malformed", 2)).content
    blocks = [b for b in raw.split(b"\n\n") if b]
    [broken] = [i for i, b in enumerate(blocks) if b"this is not JSON" in b]
    name, data = blocks[broken].split(b"\n")
    assert name.startswith(b"event: response.")
    with pytest.raises(json.JSONDecodeError):
        json.loads(data.removeprefix(b"data: "))
    before = events_of(b"\n\n".join(blocks[:broken]))
    assert before[-1]["type"] == "response.output_text.delta"  # created + in_progress, then the first piece
    rest = b"\n\n".join(blocks[:broken] + blocks[broken + 1 :]) + b"\n\n"
    assert events_of(rest)[-1]["type"] == "response.completed"  # then the rest of the answer


def test_dribble_still_assembles(http: httpx.Client, add_scenarios: Callable[[str], list[str]]) -> None:
    model = fault(add_scenarios, "dribble", 1)
    with http.stream("POST", "/responses", json={"model": model, "input": "hi", "stream": True}) as response:
        pieces = list(response.iter_raw())
    assert len(pieces) > 10
    events = events_of(b"".join(pieces))
    assemble(events)
    assert events[-1]["type"] == "response.completed"


def test_stall_then_continues_with_keepalives(make_server: Callable[..., Any], api_key: str) -> None:
    server = make_server(speed=1.0)  # keep-alives are paced, so not at speed 0
    step = {"content": "one two three", "fault": {"kind": "stall", "after_chunks": 2, "ms": 300, "keepalive_ms": 50}}
    with httpx.Client(base_url=server.url) as admin:
        name = f"stall-{uuid.uuid4().hex[:8]}"
        added = admin.post(
            "/__mockrouter/scenarios", params={"key": api_key}, content=json.dumps({"name": name, "steps": [step]})
        )
        assert added.status_code == 201, added.text
    with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=10) as http:
        raw = stream(http, f"mockrouter/{name}").content
    assert raw.count(b"\n\n: keep-alive\n\n") >= 2  # keep-alive comments while stalled
    events = events_of(raw)
    assemble(events)
    assert events[-1]["type"] == "response.completed"


def test_keepalives_before_the_first_event(http: httpx.Client, add_scenarios: Callable[[str], list[str]]) -> None:
    model = scenario(add_scenarios, {"content": "kept alive", "stream": {"keepalive": 3}})
    raw = stream(http, model).content
    assert raw.startswith(b": ")
    assert events_of(raw)[-1]["type"] == "response.completed"


# -- HTTP errors and validation ----------------------------------------------------------------


def test_rate_limited_error_step(http: httpx.Client, dialect: str) -> None:
    response = http.post("/responses", json={"model": "mockrouter/rate-limited", "input": "hi"})
    assert response.status_code == 429 and response.headers["retry-after"] == "1"
    assert "Rate limit exceeded" in response.json()["error"]["message"]
    assert REGISTRY.for_dialect("responses-error", dialect).violation(response.json()) is None
    assert response.json()["error"]["code"] == ("rate_limit_exceeded" if dialect == "openrouter" else "rate_limited")
    again = http.post("/responses", json={"model": "mockrouter/rate-limited", "input": "hi", "stream": True})
    assert again.status_code == 200 and events_of(again.content)[-1]["type"] == "response.completed"


@pytest.mark.parametrize(
    ("request_body", "field"),
    [
        ({"model": MODEL, "input": 3}, "input"),
        ({"model": MODEL}, "input"),
        ({"model": MODEL, "input": "hi", "temperature": 3}, "temperature"),
        ({"model": MODEL, "input": "hi", "tools": [{"type": "function"}]}, "tools[0]"),
        ({"model": MODEL, "input": [{"type": "function_call_output", "output": "x"}]}, "input[0]"),
        ({"model": MODEL, "input": [{"role": "robot", "content": "x"}]}, "input[0].role"),
        ({"model": MODEL, "input": "hi", "text": {"format": {"type": "json_schema"}}}, "text.format"),
        ({"model": MODEL, "input": "hi", "store": True}, "store"),
        ({"model": MODEL, "input": "hi", "previous_response_id": "resp_1"}, "previous_response_id"),
    ],
)
def test_bad_request_names_the_field(
    http: httpx.Client, dialect: str, request_body: dict[str, Any], field: str
) -> None:
    response = http.post("/responses", json=request_body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert field in error["message"], error
    if dialect == "anyrouter":
        assert error["param"].startswith(field)
