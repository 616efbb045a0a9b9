"""End to end with the unmodified ``openai`` SDK, in both dialects: scripted content, tool calls
(single, parallel, streamed, follow-up turns), SDK retries on 429, the SDK's exception classes
for every error status, the model list, usage, and mid-stream faults."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

MESSAGES = [{"role": "user", "content": "hello there"}]

GREET = """\
name: greet
match: {last_user: "(?i)hello"}
steps:
  - content: "Hi! How can I help?"
"""

LONG_ANSWER = "one two three four five six seven eight nine ten eleven twelve"

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather in a city.",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string"},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                },
                "required": ["city", "unit"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_time",
            "description": "Current time in a timezone.",
            "parameters": {
                "type": "object",
                "properties": {"timezone": {"type": "string"}, "hour24": {"type": "boolean"}},
                "required": ["timezone", "hour24"],
            },
        },
    },
]
REQUIRED = {t["function"]["name"]: t["function"]["parameters"]["required"] for t in TOOLS}
PROPERTIES = {t["function"]["name"]: t["function"]["parameters"]["properties"] for t in TOOLS}
PY_TYPES = {"string": str, "boolean": bool, "integer": int, "number": (int, float)}


# -- helpers -------------------------------------------------------------------------------


def collect(stream: Any) -> tuple[list[Any], str, dict[int, dict[str, str]], str | None, Any]:
    """Consume an SDK stream: (chunks, content, tool calls by index, finish_reason, usage)."""
    chunks = []
    content = ""
    calls: dict[int, dict[str, str]] = {}
    finish = None
    usage = None
    with stream:
        for chunk in stream:
            chunks.append(chunk)
            if chunk.usage is not None:
                usage = chunk.usage
            for choice in chunk.choices:
                delta = choice.delta
                if delta.content:
                    content += delta.content
                for fragment in delta.tool_calls or []:
                    call = calls.setdefault(fragment.index, {"id": "", "name": "", "arguments": ""})
                    if fragment.id:
                        assert not call["id"], "a tool call's id arrives once"
                        call["id"] = fragment.id
                    if fragment.function is not None:
                        if fragment.function.name:
                            call["name"] += fragment.function.name
                        if fragment.function.arguments:
                            call["arguments"] += fragment.function.arguments
                if choice.finish_reason is not None:
                    finish = choice.finish_reason
    return chunks, content, calls, finish, usage


def content_chunks(chunks: list[Any]) -> int:
    return sum(1 for c in chunks if c.choices and c.choices[0].delta.content)


def check_arguments(name: str, arguments: str, declared: bool) -> dict[str, Any]:
    """Arguments are a JSON object; with declared tools they satisfy the tool's schema."""
    parsed = json.loads(arguments)
    assert isinstance(parsed, dict), arguments
    if declared:
        assert name in REQUIRED, name
        for param in REQUIRED[name]:
            assert param in parsed, (name, param, parsed)
            spec = PROPERTIES[name][param]
            assert isinstance(parsed[param], PY_TYPES[spec["type"]]), (param, parsed[param])
            if spec["type"] != "boolean":
                assert not isinstance(parsed[param], bool)
            if "enum" in spec:
                assert parsed[param] in spec["enum"]
    else:
        assert name == "get_weather"
        assert isinstance(parsed.get("city"), str) and parsed["city"]
    return parsed


def tool_kwargs(declared: bool) -> dict[str, Any]:
    return {"tools": TOOLS} if declared else {}


# -- content -------------------------------------------------------------------------------


def test_non_stream_content_equals_script(client, add_scenarios, journal):
    assert add_scenarios(GREET) == ["greet"]
    completion = client.chat.completions.create(model="openai/gpt-4o-mini", messages=MESSAGES)
    choice = completion.choices[0]
    assert choice.message.content == "Hi! How can I help?"
    assert choice.message.role == "assistant"
    assert choice.finish_reason == "stop"
    assert completion.model == "openai/gpt-4o-mini"
    [entry] = journal()
    assert entry["scenario"] == "greet"
    assert entry["generation_id"] == completion.id


def test_unmatched_request_falls_back_to_echo(client, add_scenarios):
    add_scenarios(GREET)
    completion = client.chat.completions.create(
        model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "good morning"}]
    )
    assert completion.choices[0].message.content == "good morning"


def test_stream_content_equals_script_in_several_chunks(client, add_scenarios):
    add_scenarios(GREET)
    stream = client.chat.completions.create(model="openai/gpt-4o-mini", messages=MESSAGES, stream=True)
    chunks, content, calls, finish, _ = collect(stream)
    assert content == "Hi! How can I help?"
    assert content_chunks(chunks) > 1
    assert calls == {}
    assert finish == "stop"
    assert len({c.id for c in chunks}) == 1


def test_stream_helper_final_completion(client, add_scenarios, dialect):
    add_scenarios(GREET)
    with client.chat.completions.stream(model="openai/gpt-4o-mini", messages=MESSAGES) as stream:
        deltas = [e.delta for e in stream if e.type == "content.delta"]
        final = stream.get_final_completion()
    assert "".join(deltas) == "Hi! How can I help?"
    assert len(deltas) > 1
    assert final.choices[0].message.content == "Hi! How can I help?"
    assert final.choices[0].finish_reason == "stop"
    if dialect == "anyrouter":  # openrouter repeats role in every delta (openai-python#2129)
        assert final.choices[0].message.role == "assistant"


# -- tool calls ----------------------------------------------------------------------------


@pytest.mark.parametrize("declared", [False, True], ids=["no-tools", "declared-tools"])
def test_single_tool_call_non_stream(client, declared):
    completion = client.chat.completions.create(
        model="mockrouter/tool-call", messages=MESSAGES, **tool_kwargs(declared)
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    [call] = choice.message.tool_calls
    assert call.type == "function"
    assert call.id
    expected_name = "get_weather"  # the first declared tool, or the fallback
    assert call.function.name == expected_name
    args = check_arguments(call.function.name, call.function.arguments, declared)
    if not declared:
        assert args == {"city": "Paris"}


@pytest.mark.parametrize("declared", [False, True], ids=["no-tools", "declared-tools"])
def test_single_tool_call_stream(client, declared, journal):
    stream = client.chat.completions.create(
        model="mockrouter/tool-call", messages=MESSAGES, stream=True, **tool_kwargs(declared)
    )
    chunks, _, calls, finish, _ = collect(stream)
    assert finish == "tool_calls"
    assert list(calls) == [0]
    call = calls[0]
    assert call["id"] and call["name"] == "get_weather"
    check_arguments(call["name"], call["arguments"], declared)
    # the arguments really were streamed in pieces
    fragments = [c for c in chunks if c.choices and c.choices[0].delta.tool_calls]
    assert len(fragments) > 2
    [entry] = journal()
    assert entry["expected"]["tool_calls"] == [call]


@pytest.mark.parametrize("declared", [False, True], ids=["no-tools", "declared-tools"])
def test_parallel_tool_calls_non_stream(client, declared):
    completion = client.chat.completions.create(
        model="mockrouter/parallel-tool-calls", messages=MESSAGES, **tool_kwargs(declared)
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls
    assert len(calls) >= 2
    assert len({c.id for c in calls}) == len(calls), "parallel calls need distinct ids"
    for call in calls:
        check_arguments(call.function.name, call.function.arguments, declared)
    if declared:
        assert [c.function.name for c in calls[:2]] == ["get_weather", "get_time"]


@pytest.mark.parametrize("declared", [False, True], ids=["no-tools", "declared-tools"])
def test_parallel_tool_calls_stream(client, declared, journal):
    stream = client.chat.completions.create(
        model="mockrouter/parallel-tool-calls", messages=MESSAGES, stream=True, **tool_kwargs(declared)
    )
    _, _, calls, finish, _ = collect(stream)
    assert finish == "tool_calls"
    assert sorted(calls) == list(range(len(calls)))
    assert len(calls) >= 2
    assert len({c["id"] for c in calls.values()}) == len(calls)
    for call in calls.values():
        assert call["id"]
        check_arguments(call["name"], call["arguments"], declared)
    if declared:
        assert [calls[0]["name"], calls[1]["name"]] == ["get_weather", "get_time"]
    [entry] = journal()
    assert entry["expected"]["tool_calls"] == [calls[i] for i in sorted(calls)]


@pytest.mark.parametrize("model", ["mockrouter/tool-call", "mockrouter/parallel-tool-calls"])
@pytest.mark.parametrize("declared", [False, True], ids=["no-tools", "declared-tools"])
def test_stream_helper_assembles_tool_calls(client, dialect, model, declared):
    with client.chat.completions.stream(model=model, messages=MESSAGES, **tool_kwargs(declared)) as stream:
        for _ in stream:
            pass
        final = stream.get_final_completion()
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls
    assert len(calls) == (1 if model.endswith("/tool-call") else 2)
    assert len({c.id for c in calls}) == len(calls)
    for call in calls:
        check_arguments(call.function.name, call.function.arguments, declared)
    if dialect == "anyrouter":  # see openai-python#2129 for openrouter's repeated role
        assert choice.message.role == "assistant"


def test_follow_up_turn_matched_by_last_role_tool(client, add_scenarios, journal):
    add_scenarios(
        """\
name: agent-call
match: {last_role: user, has_tools: true}
steps:
  - tool_calls:
      - name: get_weather
        arguments: {city: Tokyo, unit: celsius}
---
name: agent-answer
match: {last_role: tool}
steps:
  - content: "The weather service says: {{ request.messages[-1].content }}"
"""
    )
    messages: list[dict[str, Any]] = [{"role": "user", "content": "What is the weather in Tokyo?"}]
    first = client.chat.completions.create(model="openai/gpt-4o-mini", messages=messages, tools=TOOLS)
    [call] = first.choices[0].message.tool_calls
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Tokyo", "unit": "celsius"}
    messages.append(first.choices[0].message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": "22 degrees and sunny"})
    second = client.chat.completions.create(model="openai/gpt-4o-mini", messages=messages, tools=TOOLS)
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.content == "The weather service says: 22 degrees and sunny"
    assert not second.choices[0].message.tool_calls
    assert [e["scenario"] for e in journal()] == ["agent-call", "agent-answer"]


def test_builtin_tool_call_follow_up_quotes_the_result(client):
    first = client.chat.completions.create(model="mockrouter/tool-call", messages=MESSAGES, tools=TOOLS)
    [call] = first.choices[0].message.tool_calls
    messages = [
        *MESSAGES,
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "it is 17:45"},
    ]
    second = client.chat.completions.create(model="mockrouter/tool-call", messages=messages, tools=TOOLS)
    assert second.choices[0].finish_reason == "stop"
    assert "it is 17:45" in second.choices[0].message.content


# -- retries and errors --------------------------------------------------------------------


def test_429_with_retry_after_is_retried_then_succeeds(client, journal):
    completion = client.chat.completions.create(model="mockrouter/rate-limited", messages=MESSAGES)
    assert completion.choices[0].message.content == "hello there"
    entries = journal()
    assert [e["status"] for e in entries] == [429, 200]
    gap = entries[1]["ts"] - entries[0]["ts"]
    assert gap >= 0.9, f"the SDK should wait for Retry-After: 1, waited {gap:.3f}s"
    assert entries[1]["headers"].get("x-stainless-retry-count") == "1"


def test_invalid_body_raises_bad_request(client, dialect, journal):
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="openai/gpt-4o-mini", messages=[{"role": "robot", "content": "beep"}])
    error = info.value
    assert error.status_code == 400
    assert isinstance(error.body, dict)
    assert "messages[0].role" in error.body["message"]
    assert "messages[0].role" in error.message
    if dialect == "anyrouter":
        assert error.param == "messages[0].role"
        assert error.type == "invalid_request_error"
    else:
        assert error.body["code"] == 400
    assert [e["status"] for e in journal()] == [400], "a 400 is not retried"


def test_empty_authorization_raises_authentication_error(server, dialect):
    with (
        openai.OpenAI(
            base_url=server.base_url, api_key="unused", default_headers={"Authorization": ""}, timeout=10
        ) as c,
        pytest.raises(openai.AuthenticationError) as info,
    ):
        c.chat.completions.create(model="openai/gpt-4o-mini", messages=MESSAGES)
    assert info.value.status_code == 401
    if dialect == "anyrouter":
        assert info.value.type == "authentication_error"
    else:
        assert info.value.body["code"] == 401


def test_missing_authorization_raises_authentication_error(server, dialect):
    with (
        openai.OpenAI(base_url=server.base_url, api_key="unused", timeout=10) as c,
        pytest.raises(openai.AuthenticationError) as info,
    ):
        c.chat.completions.create(
            model="openai/gpt-4o-mini", messages=MESSAGES, extra_headers={"Authorization": openai.Omit()}
        )
    assert info.value.status_code == 401
    if dialect == "openrouter":
        assert info.value.body["message"] == "Missing Authentication header"


def test_moderation_raises_permission_denied(client, journal):
    with pytest.raises(openai.PermissionDeniedError) as info:
        client.chat.completions.create(model="mockrouter/moderation", messages=MESSAGES)
    assert info.value.status_code == 403
    assert "moderation" in info.value.body["message"]
    assert [e["status"] for e in journal()] == [403], "a 403 is not retried"


def test_repeated_429_raises_rate_limit_error_after_retries(client, add_scenarios, journal):
    add_scenarios(
        """\
name: always-busy
steps:
  - error: {status: 429, retry_after: {ms: 5}}
  - error: {status: 429, retry_after: {ms: 5}}
  - error: {status: 429, retry_after: {ms: 5}}
  - content: finally
"""
    )
    with pytest.raises(openai.RateLimitError) as info:
        client.with_options(max_retries=0).chat.completions.create(model="mockrouter/always-busy", messages=MESSAGES)
    assert info.value.status_code == 429
    assert [e["status"] for e in journal()] == [429]
    with pytest.raises(openai.RateLimitError):
        client.with_options(max_retries=1).chat.completions.create(model="mockrouter/always-busy", messages=MESSAGES)
    assert [e["status"] for e in journal()] == [429, 429, 429]
    completion = client.chat.completions.create(model="mockrouter/always-busy", messages=MESSAGES)
    assert completion.choices[0].message.content == "finally"


@pytest.mark.parametrize(
    ("model", "status"),
    [("mockrouter/bad-gateway", 502), ("mockrouter/overloaded", 503), ("mockrouter/upstream-timeout", 504)],
)
def test_upstream_failures_raise_internal_server_error(client, model, status, journal):
    fast = client.with_options(max_retries=0)
    with pytest.raises(openai.InternalServerError) as info:
        fast.chat.completions.create(model=model, messages=MESSAGES)
    assert info.value.status_code == status
    # the failure built-ins fail once per key, then succeed
    assert fast.chat.completions.create(model=model, messages=MESSAGES).choices[0].message.content == "hello there"
    assert [e["status"] for e in journal()] == [status, 200]


def test_insufficient_credits_raises_api_status_error_402(client, journal):
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="mockrouter/insufficient-credits", messages=MESSAGES)
    assert info.value.status_code == 402
    assert not isinstance(
        info.value, (openai.BadRequestError, openai.PermissionDeniedError, openai.InternalServerError)
    )
    assert "credits" in info.value.body["message"].lower()
    assert [e["status"] for e in journal()] == [402], "a 402 is not retried"


# -- models and usage ----------------------------------------------------------------------


def test_models_list(client):
    ids = [m.id for m in client.models.list()]
    assert "openai/gpt-4o-mini" in ids
    assert "mockrouter/echo" in ids
    assert "mockrouter/tool-call" in ids
    assert len(ids) == len(set(ids))


def test_non_stream_usage_adds_up(client):
    completion = client.chat.completions.create(model="mockrouter/lorem", messages=MESSAGES)
    usage = completion.usage
    assert usage.prompt_tokens > 0
    assert usage.completion_tokens > 10
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_stream_usage_when_asked(client):
    stream = client.chat.completions.create(
        model="mockrouter/lorem", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    chunks, content, _, finish, usage = collect(stream)
    assert finish == "stop"
    assert usage is not None
    assert chunks[-1].usage is not None, "usage comes in the final chunk"
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.completion_tokens > 10
    assert content


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_max_tokens_truncates_with_length(client, add_scenarios, stream):
    add_scenarios(f'name: long\nsteps:\n  - content: "{LONG_ANSWER}"\n')
    kwargs: dict[str, Any] = {"model": "mockrouter/long", "messages": MESSAGES, "max_tokens": 3}
    if stream:
        _, content, _, finish, usage = collect(
            client.chat.completions.create(stream=True, stream_options={"include_usage": True}, **kwargs)
        )
    else:
        completion = client.chat.completions.create(**kwargs)
        content = completion.choices[0].message.content
        finish = completion.choices[0].finish_reason
        usage = completion.usage
    assert finish == "length"
    assert usage.completion_tokens <= 3
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert content and LONG_ANSWER.startswith(content) and content != LONG_ANSWER
    assert content == "one two three"


# -- mid-stream faults ---------------------------------------------------------------------


def test_mid_stream_error_raises_api_error_after_content(client, journal):
    seen = []
    stream = client.chat.completions.create(model="mockrouter/mid-stream-error", messages=MESSAGES, stream=True)
    with stream, pytest.raises(openai.APIError) as info:
        for chunk in stream:
            seen.append(chunk.choices[0].delta.content or "")
    error = info.value
    assert not isinstance(error, (openai.APIStatusError, openai.APIConnectionError))
    assert "".join(seen) == "I was"
    assert error.message == "Provider disconnected unexpectedly"
    assert isinstance(error.body, dict) and error.body["message"] == error.message
    [entry] = journal()
    assert entry["status"] == 200
    assert entry["fault"] == "error"


def test_disconnect_raises_connection_error(client, journal):
    seen = []
    stream = client.chat.completions.create(model="mockrouter/disconnect", messages=MESSAGES, stream=True)
    with stream, pytest.raises(openai.APIConnectionError):
        for chunk in stream:
            seen.append(chunk.choices[0].delta.content or "")
    assert "".join(seen) == "This stream", "chunks before the drop are delivered, and the end is not clean"
    [entry] = journal()
    assert entry["fault"] == "disconnect"


def test_malformed_chunk_raises_json_decode_error(client):
    seen = []
    stream = client.chat.completions.create(model="mockrouter/malformed-chunk", messages=MESSAGES, stream=True)
    with stream, pytest.raises(json.JSONDecodeError):
        for chunk in stream:
            seen.append(chunk.choices[0].delta.content or "")
    assert "".join(seen) == "The"


def test_faults_pass_after_the_first_request(client):
    for model in ("mockrouter/mid-stream-error", "mockrouter/disconnect", "mockrouter/malformed-chunk"):
        fast = client.with_options(max_retries=0)
        stream = fast.chat.completions.create(model=model, messages=MESSAGES, stream=True)
        with pytest.raises((openai.APIError, json.JSONDecodeError)), stream:
            for _ in stream:
                pass
        _, content, _, finish, _ = collect(fast.chat.completions.create(model=model, messages=MESSAGES, stream=True))
        assert (content, finish) == ("hello there", "stop"), model
