"""The `fuzz` built-in: a freshly drawn adversarial answer per request, replayable by its seed,
with the expected message in the journal — so a client in any language can be property-tested."""

from __future__ import annotations

import json

import anthropic
import httpx
import openai
import pytest

from mockrouter.core.schemas import SchemaRegistry
from mockrouter.strategies import assemble, assemble_messages, assemble_responses, responses_summary, sse_named_events

REGISTRY = SchemaRegistry()
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]


def body(stream: bool, **extra) -> dict:
    return {
        "model": "mockrouter/fuzz",
        "messages": [{"role": "user", "content": "go"}],
        "stream": stream,
        "tools": TOOLS,
        **extra,
    }


def message_of(data: dict) -> dict:
    message = data["choices"][0]["message"]
    out = {"role": "assistant", "content": message.get("content")}
    if message.get("reasoning") is not None:
        out["reasoning"] = message["reasoning"]
    if message.get("tool_calls"):
        out["tool_calls"] = [
            {"id": c["id"], "name": c["function"]["name"], "arguments": c["function"]["arguments"]}
            for c in message["tool_calls"]
        ]
    return out


def test_json_answers_validate_and_match_the_journal(http, journal, dialect):
    seeds = set()
    for _ in range(5):
        response = http.post("/chat/completions", json=body(False))
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        seeds.add(response.headers["x-mockrouter-seed"])
        data = response.json()
        assert REGISTRY.for_dialect("chat-response", dialect).violation(data) is None
    entries = journal()
    assert len(seeds) == 5 and {str(e["fuzz_seed"]) for e in entries} == seeds
    expected = entries[-1]["expected"]
    expected = expected[0] if isinstance(expected, list) else expected
    got = message_of(data)
    assert got["content"] == expected.get("content")
    assert got.get("tool_calls", []) == expected.get("tool_calls", [])


def test_replaying_a_seed_gives_the_same_bytes(http, dialect):
    first = http.post("/chat/completions", json=body(True))
    seed = first.headers["x-mockrouter-seed"]
    again = http.post("/chat/completions", json=body(True), headers={"X-Mockrouter-Seed": seed})
    assert again.headers["x-mockrouter-seed"] == seed
    assert again.content == first.content
    other = http.post("/chat/completions", json=body(True), headers={"X-Mockrouter-Seed": str(int(seed) + 1)})
    assert other.content != first.content


def test_streams_assemble_to_the_expected_message(http, journal, dialect):
    for _ in range(4):
        response = http.post("/chat/completions", json=body(True))
        assert response.headers["content-type"] == "text/event-stream"
        expected = journal()[-1]["expected"]
        assert assemble(response.content) == expected
        for line in response.content.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n"):
            if line.startswith(b"data:") and line[5:].strip() not in (b"[DONE]", b"") and line[5:].strip()[:1] == b"{":
                try:
                    chunk = json.loads(line[5:])
                except json.JSONDecodeError:  # a chunk spread over several data: lines
                    continue
                assert REGISTRY.for_dialect("chat-chunk", dialect).violation(chunk) is None


def test_the_openai_sdk_assembles_what_the_journal_expects(client, journal):
    for _ in range(3):
        content, calls = "", {}
        for chunk in client.chat.completions.create(**body(True)):
            for choice in chunk.choices:
                if choice.index != 0:
                    continue
                content += choice.delta.content or ""
                for fragment in choice.delta.tool_calls or []:
                    call = calls.setdefault(fragment.index, {"id": None, "name": "", "arguments": ""})
                    call["id"] = call["id"] or fragment.id
                    if fragment.function:
                        call["name"] += fragment.function.name or ""
                        call["arguments"] += fragment.function.arguments or ""
        expected = journal()[-1]["expected"]
        expected = expected[0] if isinstance(expected, list) else expected
        assert content == (expected.get("content") or "")
        assert [calls[i] for i in sorted(calls)] == expected.get("tool_calls", [])


@pytest.mark.parametrize("stream", [False, True])
def test_seeded_server_is_deterministic(make_server, stream):
    server = make_server(seed=9, dialect="openrouter")
    outputs = []
    for key in ("sk-one", "sk-two"):
        with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as c:
            r = c.post("/chat/completions", json=body(stream))
            outputs.append((r.headers["x-mockrouter-seed"], r.content))
    assert outputs[0] == outputs[1]


def test_fuzz_step_cannot_mix_with_content(admin, api_key):
    response = admin.post(
        "/scenarios", params={"key": api_key}, content="name: mixed\nsteps:\n  - fuzz: true\n    content: hi\n"
    )
    assert response.status_code == 400
    assert response.json()["error"]["errors"][0]["field"] == "steps[0].fuzz"


def test_openai_sdk_non_stream(client):
    reply = client.chat.completions.create(**body(False))
    assert reply.choices and reply.choices[0].message.role == "assistant"
    assert isinstance(reply, openai.types.chat.ChatCompletion)


# -- the other surfaces: the same scenario answers Messages and Responses requests in their shape --

MESSAGES_TOOLS = [{"name": "get_weather", "input_schema": {"type": "object"}}]
RESPONSES_TOOLS = [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}]


def surface_request(surface: str, stream: bool) -> tuple[str, dict]:
    if surface == "messages":
        body = {"model": "mockrouter/fuzz", "max_tokens": 64, "messages": [{"role": "user", "content": "go"}]}
        return "/messages", {**body, "tools": MESSAGES_TOOLS, "stream": stream}
    return "/responses", {"model": "mockrouter/fuzz", "input": "go", "tools": RESPONSES_TOOLS, "stream": stream}


def tools_called(surface: str, expected: dict) -> set[str]:
    if surface == "messages":
        return {block["name"] for block in expected["content"] if block["type"] == "tool_use"}
    return {item["name"] for item in expected["output"] if item["type"] == "function_call"}


@pytest.mark.parametrize("surface", ["messages", "responses"])
def test_other_surfaces_answer_in_their_own_shape(http, journal, dialect, surface):
    """Bodies and events valid per the surface's schemas; the journal's ``expected`` is what
    the surface's reference accumulator assembles; tools only the request's own."""
    assemble_surface = assemble_messages if surface == "messages" else assemble_responses
    called: set[str] = set()
    for n in range(6):
        stream = n % 2 == 1
        path, request = surface_request(surface, stream)
        response = http.post(path, json=request)
        assert response.status_code == 200, response.text
        entry = journal()[-1]
        assert str(entry["fuzz_seed"]) == response.headers["x-mockrouter-seed"]
        expected = entry["expected"]
        if stream:
            assert response.headers["content-type"].startswith("text/event-stream")
            assert assemble_surface(response.content) == expected
            schema = REGISTRY.for_dialect(f"{surface}-event", dialect)
            for _, data in sse_named_events(response.content):
                assert schema.violation(json.loads(data)) is None
        else:
            data = response.json()
            assert REGISTRY.for_dialect(f"{surface}-response", dialect).violation(data) is None
            assert (data if surface == "messages" else responses_summary(data)) == expected
        assert entry["generation_id"] == expected["id"]
        called |= tools_called(surface, expected)
    assert called <= {"get_weather"}


@pytest.mark.parametrize("surface", ["messages", "responses"])
def test_other_surfaces_replay_a_seed(http, surface):
    path, request = surface_request(surface, True)
    first = http.post(path, json=request)
    seed = first.headers["x-mockrouter-seed"]
    again = http.post(path, json=request, headers={"X-Mockrouter-Seed": seed})
    assert again.content == first.content


def test_the_anthropic_sdk_assembles_what_the_journal_expects(server, api_key, journal):
    root = server.base_url.removesuffix("/v1")
    with anthropic.Anthropic(base_url=root, api_key=api_key, max_retries=0, timeout=10) as sdk:
        for _ in range(3):
            _, request = surface_request("messages", False)
            del request["stream"]  # stream() asks for it
            with sdk.messages.stream(**request) as events:
                final = events.get_final_message().model_dump(mode="json", exclude_unset=True)
            if final.get("stop_details") is None:
                final.pop("stop_details", None)
            assert final == journal()[-1]["expected"]


def test_the_openai_sdk_streams_what_the_journal_expects_on_responses(client, journal):
    for _ in range(3):
        _, request = surface_request("responses", False)
        del request["stream"]
        with client.responses.stream(**request) as events:
            last = list(events)[-1]
        expected = journal()[-1]["expected"]
        assert last.type == f"response.{expected['status']}"
        assert responses_summary(last.response.model_dump(mode="json", exclude_unset=True)) == expected
