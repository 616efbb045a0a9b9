"""The shipped JSON Schemas: well-formed, accept real wire shapes, reject bad ones where they break.

Uses only ``jsonschema`` and the files in ``schemas/``; no server. Valid instances are taken from
the reference captures (router-wire.md, anyrouter.md) and from what the ``openai`` SDK sends.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"
SCHEMA_FILES = sorted(SCHEMAS.glob("*.schema.json"))
EXPECTED = [
    "chat-request.schema.json",
    "chat-response.anyrouter.schema.json",
    "chat-response.openrouter.schema.json",
    "chat-chunk.anyrouter.schema.json",
    "chat-chunk.openrouter.schema.json",
    "error.anyrouter.schema.json",
    "error.openrouter.schema.json",
    "models.anyrouter.schema.json",
    "models.openrouter.schema.json",
]


@cache
def load(name: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / name).read_text(encoding="utf-8"))


@cache
def validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(load(name))


def error_path(name: str, instance: Any) -> list[Any] | None:
    """Path of the best-matching error, or None when the instance is valid."""
    error = best_match(validator(name).iter_errors(instance))
    if error is None:
        return None
    # The server reports `error.path`; it must be the full path from the document root
    # (it is not when best_match descends into an anyOf/oneOf branch).
    assert list(error.path) == list(error.absolute_path)
    return list(error.path)


def assert_valid(name: str, instance: Any) -> None:
    errors = [f"{list(e.path)}: {e.message}" for e in validator(name).iter_errors(instance)]
    assert not errors, f"{name} rejected a valid instance:\n" + "\n".join(errors)


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


# --------------------------------------------------------------------------- the files


def test_expected_files_exist() -> None:
    names = {p.name for p in SCHEMA_FILES}
    assert set(EXPECTED) <= names


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=lambda p: p.name)
def test_schema_is_valid_2020_12(path: Path) -> None:
    schema = json.loads(path.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


@pytest.mark.parametrize("name", EXPECTED)
def test_schema_header_and_self_contained(name: str) -> None:
    schema = load(name)
    assert schema["$id"] == f"https://mockrouter.dev/schemas/{name}"
    assert schema["title"]
    assert schema["description"]
    for ref in _refs(schema):
        assert ref.startswith("#/$defs/"), f"{name}: non-local $ref {ref}"
        target: Any = schema
        for part in ref[2:].split("/"):
            target = target[part]


@pytest.mark.parametrize("name", EXPECTED)
def test_json_uses_two_space_indentation(name: str) -> None:
    lines = (SCHEMAS / name).read_text(encoding="utf-8").splitlines()
    assert lines[1].startswith('  "') and not lines[1].startswith("   ")


# --------------------------------------------------------------------------- chat request

REQ = "chat-request.schema.json"

SDK_REQUEST = {
    # What openai-python sends for create(tools=[pydantic_function_tool(W)], temperature=None, ...)
    "model": "openai/gpt-4o-mini",
    "messages": [
        {"role": "developer", "content": "Be brief."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in this image?"},
                {
                    "type": "image_url",
                    "image_url": {"url": "https://example.com/a.png", "detail": "low"},
                },
                {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
                {
                    "type": "file",
                    "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBE"},
                },
            ],
        },
    ],
    "logprobs": True,
    "max_completion_tokens": 256,
    "n": 2,
    "parallel_tool_calls": False,
    "reasoning_effort": "low",
    "seed": 7,
    "stop": ["\n\n"],
    "stream": True,
    "stream_options": {"include_usage": True},
    "temperature": None,
    "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "strict": True,
                "parameters": {
                    "properties": {"city": {"title": "City", "type": "string"}},
                    "required": ["city"],
                    "title": "W",
                    "type": "object",
                    "additionalProperties": False,
                },
            },
        }
    ],
    "top_logprobs": 3,
}

SDK_PARSE_REQUEST = {
    # chat.completions.parse(response_format=PydanticModel)
    "model": "m",
    "stream": False,
    "messages": [{"role": "user", "content": "hi"}],
    "response_format": {
        "type": "json_schema",
        "json_schema": {
            "schema": {
                "properties": {"city": {"title": "City", "type": "string"}},
                "required": ["city"],
                "type": "object",
                "additionalProperties": False,
            },
            "name": "W",
            "strict": True,
        },
    },
}

TOOL_FOLLOW_UP = {
    "model": "openai/gpt-4o",
    "messages": [
        {"role": "system", "content": "You are a weather bot."},
        {"role": "user", "content": "Weather in Paris?", "name": "alice"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_01ABC",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_01ABC", "content": '{"temp_c": 21}'},
    ],
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Get the weather",
                "parameters": {
                    "type": "object",
                    "properties": {
                        "city": {"type": "string"},
                        "unit": {"enum": ["celsius", "fahrenheit"]},
                    },
                    "required": ["city"],
                },
            },
            "cache_control": {"type": "ephemeral"},
        }
    ],
    "tool_choice": "auto",
    "response_format": {"type": "json_object"},
}

OPENROUTER_EXTRAS = {
    "models": ["anthropic/claude-sonnet-4.6", "openai/gpt-4o"],
    "messages": [
        {
            "role": "user",
            "content": [
                {
                    "type": "text",
                    "text": "long context",
                    "cache_control": {"type": "ephemeral", "ttl": "1h"},
                },
                {"type": "video_url", "video_url": {"url": "https://example.com/v.mp4"}},
            ],
        },
        {"role": "assistant", "content": "Sure", "reasoning": "thinking...", "refusal": None},
    ],
    "reasoning": {"effort": "high", "exclude": False},
    "include_reasoning": True,
    "usage": {"include": True},
    "provider": {
        "order": ["Azure", "OpenAI"],
        "allow_fallbacks": False,
        "only": ["azure"],
        "ignore": ["novita"],
        "sort": {"by": "price", "partition": "none"},
        "require_parameters": True,
        "some_new_flag": 1,
    },
    "plugins": [{"id": "web", "enabled": True, "max_results": 3}],
    "transforms": ["middle-out"],
    "top_k": 40,
    "repetition_penalty": 1.1,
    "min_p": 0.05,
    "top_a": 0.0,
    "frequency_penalty": -2,
    "presence_penalty": 2,
    "logit_bias": {"50256": -100, "13": 5.5},
    "metadata": {"trace": "abc"},
    "user": "user-42",
    "stop": "END",
    "prediction": {"type": "content", "content": "draft"},
    "service_tier": None,
    "session_id": "unknown params are allowed",
    "web_search_options": {"search_context_size": "low"},
}


@pytest.mark.parametrize(
    "instance",
    [
        {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}]},
        {"messages": [{"role": "user", "content": "no model: the account default"}]},
        SDK_REQUEST,
        SDK_PARSE_REQUEST,
        TOOL_FOLLOW_UP,
        OPENROUTER_EXTRAS,
        {"messages": [{"role": "user", "content": "x"}, {"role": "assistant"}]},  # prefill w/o content
        {"messages": [{"role": "user", "content": "x"}], "reasoning": {"max_tokens": 2000}},
        {"messages": [{"role": "user", "content": "x"}], "reasoning": {"enabled": True}},
        {"messages": [{"role": "user", "content": "x"}], "stop": ["a", "b", "c", "d", "e", "f"]},
        {"messages": [{"role": "user", "content": "x"}], "tool_choice": "required", "tools": []},
    ],
)
def test_request_valid(instance: dict[str, Any]) -> None:
    assert_valid(REQ, instance)


def _with(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(base)
    out.update(changes)
    return out


BASE = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}]}


@pytest.mark.parametrize(
    ("instance", "path"),
    [
        (
            _with(
                BASE,
                messages=[{"role": "user", "content": "hi"}, {"role": "robot", "content": "beep"}],
            ),
            ["messages", 1, "role"],
        ),
        (_with(BASE, temperature=3), ["temperature"]),
        (_with(BASE, temperature=-0.1), ["temperature"]),
        (
            _with(
                TOOL_FOLLOW_UP,
                messages=[*TOOL_FOLLOW_UP["messages"][:3], {"role": "tool", "content": "21"}],
            ),
            ["messages", 3],
        ),
        ({"model": "openai/gpt-4o-mini"}, []),
        (_with(BASE, messages=[]), ["messages"]),
        (_with(BASE, messages=[{"content": "no role"}]), ["messages", 0]),
        (_with(BASE, messages=[{"role": "user"}]), ["messages", 0]),
        (_with(BASE, messages=[{"role": "user", "content": None}]), ["messages", 0, "content"]),
        (_with(BASE, messages=[{"role": "system", "content": 42}]), ["messages", 0, "content"]),
        (
            _with(BASE, messages=[{"role": "tool", "tool_call_id": "c", "content": None}]),
            ["messages", 0, "content"],
        ),
        (
            _with(BASE, messages=[{"role": "user", "content": [{"type": "text"}]}]),
            ["messages", 0, "content", 0],
        ),
        (
            _with(BASE, messages=[{"role": "user", "content": [{"type": "audio", "audio": "x"}]}]),
            ["messages", 0, "content", 0, "type"],
        ),
        (
            _with(
                BASE,
                messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}],
            ),
            ["messages", 0, "content", 0, "image_url"],
        ),
        (
            _with(
                BASE,
                messages=[
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "image_url",
                                "image_url": {"url": "https://x/a.png", "detail": "ultra"},
                            }
                        ],
                    }
                ],
            ),
            ["messages", 0, "content", 0, "image_url", "detail"],
        ),
        (
            _with(
                BASE,
                messages=[
                    {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f"}}],
                    }
                ],
            ),
            ["messages", 0, "tool_calls", 0, "function"],
        ),
        (_with(BASE, model=""), ["model"]),
        (_with(BASE, stream="yes"), ["stream"]),
        (_with(BASE, max_tokens=0), ["max_tokens"]),
        (_with(BASE, max_completion_tokens=1.5), ["max_completion_tokens"]),
        (_with(BASE, top_p=1.5), ["top_p"]),
        (_with(BASE, top_k=-1), ["top_k"]),
        (_with(BASE, frequency_penalty=2.5), ["frequency_penalty"]),
        (_with(BASE, repetition_penalty=0), ["repetition_penalty"]),
        (_with(BASE, min_p=2), ["min_p"]),
        (_with(BASE, n=0), ["n"]),
        (_with(BASE, top_logprobs=21), ["top_logprobs"]),
        (_with(BASE, logprobs="true"), ["logprobs"]),
        (_with(BASE, stop=[1]), ["stop", 0]),
        (_with(BASE, logit_bias={"50256": -101}), ["logit_bias", "50256"]),
        (_with(BASE, stream_options={"include_usage": "yes"}), ["stream_options", "include_usage"]),
        (_with(BASE, response_format={"type": "xml"}), ["response_format", "type"]),
        (_with(BASE, response_format={"type": "json_schema"}), ["response_format"]),
        (
            _with(BASE, response_format={"type": "json_schema", "json_schema": {"schema": {}}}),
            ["response_format", "json_schema"],
        ),
        (
            _with(BASE, tools=[{"type": "function", "function": {"name": "get weather"}}]),
            ["tools", 0, "function", "name"],
        ),
        (_with(BASE, tools=[{"type": "retrieval"}]), ["tools", 0]),
        (_with(BASE, tool_choice="sometimes"), ["tool_choice"]),
        (
            _with(BASE, tool_choice={"type": "function", "function": {}}),
            ["tool_choice", "function"],
        ),
        (_with(BASE, parallel_tool_calls="no"), ["parallel_tool_calls"]),
        (_with(BASE, reasoning={"effort": "extreme"}), ["reasoning", "effort"]),
        (_with(BASE, reasoning_effort="extreme"), ["reasoning_effort"]),
        (_with(BASE, provider={"order": "OpenAI"}), ["provider", "order"]),
        (_with(BASE, provider={"allow_fallbacks": "false"}), ["provider", "allow_fallbacks"]),
        (_with(BASE, metadata={"k": 1}), ["metadata", "k"]),
        (_with(BASE, plugins=[{"enabled": True}]), ["plugins", 0]),
        (_with(BASE, models="openai/gpt-4o"), ["models"]),
    ],
)
def test_request_invalid_path(instance: dict[str, Any], path: list[Any]) -> None:
    assert error_path(REQ, instance) == path


def test_request_missing_messages_names_messages() -> None:
    error = best_match(validator(REQ).iter_errors({"model": "openai/gpt-4o-mini"}))
    assert error is not None
    assert error.validator == "required"
    assert "messages" in error.message


# --------------------------------------------------------------------------- responses

AR_RESP = "chat-response.anyrouter.schema.json"
OR_RESP = "chat-response.openrouter.schema.json"

AR_RESPONSE = {
    # AnyRouter docs example, completed with finish_reason and usage.
    "id": "chatcmpl-8yWq4JqLfEjJ9L",
    "object": "chat.completion",
    "created": 1760000000,
    "model": "anthropic/claude-sonnet-4.6",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello!"}, "finish_reason": "stop"}],
    "usage": {
        "prompt_tokens": 5840,
        "completion_tokens": 12,
        "total_tokens": 5852,
        "prompt_tokens_details": {"cached_tokens": 5800},
    },
}

AR_TOOL_RESPONSE = {
    "id": "chatcmpl-abc123",
    "object": "chat.completion",
    "created": 1760000000,
    "model": "openai/gpt-4o",
    "provider": "OpenAI",
    "system_fingerprint": None,
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_01ABC",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                    }
                ],
            },
            "finish_reason": "tool_calls",
            "native_finish_reason": "tool_calls",
            "logprobs": None,
        }
    ],
    "usage": {"prompt_tokens": 50, "completion_tokens": 10, "total_tokens": 60, "cost": 0.00012},
}

OR_RESPONSE = {
    # router-wire.md §3, real 2026 body.
    "id": "gen-1780000000-Q1w2E3r4T5y6U7i8O9p0",
    "object": "chat.completion",
    "created": 1780000000,
    "model": "openai/gpt-4o-mini",
    "provider": "Azure",
    "system_fingerprint": "fp_abc123",
    "service_tier": "default",
    "choices": [
        {
            "index": 0,
            "logprobs": None,
            "finish_reason": "stop",
            "native_finish_reason": "stop",
            "message": {
                "role": "assistant",
                "content": "Hello!",
                "refusal": None,
                "reasoning": None,
            },
        }
    ],
    "usage": {
        "prompt_tokens": 9,
        "completion_tokens": 3,
        "total_tokens": 12,
        "cost": 0.0000031,
        "is_byok": False,
        "prompt_tokens_details": {
            "cached_tokens": 0,
            "cache_write_tokens": 0,
            "audio_tokens": 0,
            "video_tokens": 0,
        },
        "cost_details": {
            "upstream_inference_cost": 0.0000031,
            "upstream_inference_prompt_cost": 0.0000013,
            "upstream_inference_completions_cost": 0.0000018,
        },
        "completion_tokens_details": {"reasoning_tokens": 0, "image_tokens": 0, "audio_tokens": 0},
    },
}

OR_REASONING_TOOL_RESPONSE = {
    "id": "gen-1785000000-AbCdEfGhIjKlMnOpQrSt",
    "object": "chat.completion",
    "created": 1785000000,
    "model": "anthropic/claude-sonnet-4.6",
    "provider": "Anthropic",
    "system_fingerprint": None,
    "choices": [
        {
            "index": 0,
            "logprobs": None,
            "finish_reason": "tool_calls",
            "native_finish_reason": "tool_use",
            "message": {
                "role": "assistant",
                "content": "",
                "refusal": None,
                "reasoning": "The user wants weather.",
                "reasoning_details": [
                    {
                        "type": "reasoning.text",
                        "text": "The user wants weather.",
                        "format": "anthropic-claude-v1",
                        "index": 0,
                        "signature": "sig",
                    },
                    {
                        "type": "reasoning.encrypted",
                        "data": "b64==",
                        "format": "anthropic-claude-v1",
                        "index": 1,
                    },
                ],
                "tool_calls": [
                    {
                        "id": "toolu_01",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Tokyo"}'},
                    }
                ],
            },
        }
    ],
    "usage": {"prompt_tokens": 100, "completion_tokens": 40, "total_tokens": 140, "cost": 0.0009},
}

OR_PARTIAL_ERROR_RESPONSE = _with(
    OR_RESPONSE,
    choices=[
        {
            "index": 0,
            "logprobs": None,
            "finish_reason": "error",
            "native_finish_reason": "error",
            "message": {
                "role": "assistant",
                "content": "Partial",
                "refusal": None,
                "reasoning": None,
            },
            "error": {
                "code": 502,
                "message": "Provider disconnected",
                "metadata": {"error_type": "provider_unavailable"},
            },
        }
    ],
)


@pytest.mark.parametrize("instance", [AR_RESPONSE, AR_TOOL_RESPONSE])
def test_anyrouter_response_valid(instance: dict[str, Any]) -> None:
    assert_valid(AR_RESP, instance)


@pytest.mark.parametrize("instance", [OR_RESPONSE, OR_REASONING_TOOL_RESPONSE, OR_PARTIAL_ERROR_RESPONSE])
def test_openrouter_response_valid(instance: dict[str, Any]) -> None:
    assert_valid(OR_RESP, instance)


def _drop(base: dict[str, Any], key: str) -> dict[str, Any]:
    out = copy.deepcopy(base)
    del out[key]
    return out


def _choice(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(base)
    out["choices"][0].update(changes)
    return out


def _message(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(base)
    out["choices"][0]["message"].update(changes)
    return out


@pytest.mark.parametrize(
    ("instance", "path"),
    [
        (_with(AR_RESPONSE, id="gen-1780000000-Q1w2E3r4T5y6U7i8O9p0"), ["id"]),
        (_with(AR_RESPONSE, object="chat.completion.chunk"), ["object"]),
        (_with(AR_RESPONSE, created=-1), ["created"]),
        (_with(AR_RESPONSE, usgae={}), []),
        (_drop(AR_RESPONSE, "usage"), []),
        (_with(AR_RESPONSE, choices=[]), ["choices"]),
        (_choice(AR_RESPONSE, finish_reason="done"), ["choices", 0, "finish_reason"]),
        (_choice(AR_RESPONSE, finish_reason=None), ["choices", 0, "finish_reason"]),
        (_choice(AR_RESPONSE, delta={}), ["choices", 0]),
        (_message(AR_RESPONSE, role="user"), ["choices", 0, "message", "role"]),
        (_message(AR_RESPONSE, tool_calls=[]), ["choices", 0, "message", "tool_calls"]),
        (
            _message(
                AR_TOOL_RESPONSE,
                tool_calls=[{"id": "", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
            ),
            ["choices", 0, "message", "tool_calls", 0, "id"],
        ),
        (
            _message(
                AR_TOOL_RESPONSE,
                tool_calls=[{"id": "c", "type": "function", "function": {"name": "f", "arguments": {}}}],
            ),
            ["choices", 0, "message", "tool_calls", 0, "function", "arguments"],
        ),
        (_with(AR_RESPONSE, usage={"prompt_tokens": 1, "completion_tokens": 1}), ["usage"]),
        (
            _with(
                AR_RESPONSE,
                usage={"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2, "cost": -1},
            ),
            ["usage", "cost"],
        ),
    ],
)
def test_anyrouter_response_invalid_path(instance: dict[str, Any], path: list[Any]) -> None:
    assert error_path(AR_RESP, instance) == path


@pytest.mark.parametrize(
    ("instance", "path"),
    [
        (_with(OR_RESPONSE, id="chatcmpl-abc"), ["id"]),
        (_with(OR_RESPONSE, id="gen-1780000000-short"), ["id"]),
        (_drop(OR_RESPONSE, "system_fingerprint"), []),
        (_drop(OR_RESPONSE, "provider"), []),
        (_with(OR_RESPONSE, openrouter_metdata={}), []),
        (
            _with(OR_RESPONSE, usage={"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}),
            ["usage"],
        ),
        (_choice(OR_RESPONSE, native_finish_reason=7), ["choices", 0, "native_finish_reason"]),
        (_message(OR_RESPONSE, content=["Hello"]), ["choices", 0, "message", "content"]),
        (
            _message(OR_RESPONSE, reasoning_details=[{"type": "reasoning.secret"}]),
            ["choices", 0, "message", "reasoning_details", 0, "type"],
        ),
        (
            _choice(OR_PARTIAL_ERROR_RESPONSE, error={"code": "server_error", "message": "x"}),
            ["choices", 0, "error", "code"],
        ),
    ],
)
def test_openrouter_response_invalid_path(instance: dict[str, Any], path: list[Any]) -> None:
    assert error_path(OR_RESP, instance) == path


def test_openrouter_response_requires_message_fields() -> None:
    for key in ("refusal", "reasoning", "content"):
        message = copy.deepcopy(OR_RESPONSE["choices"][0]["message"])
        del message[key]
        assert error_path(
            OR_RESP,
            _message(OR_RESPONSE) | {"choices": [OR_RESPONSE["choices"][0] | {"message": message}]},
        ) == ["choices", 0, "message"]
    for key in ("native_finish_reason", "logprobs"):
        choice = copy.deepcopy(OR_RESPONSE["choices"][0])
        del choice[key]
        assert error_path(OR_RESP, _with(OR_RESPONSE, choices=[choice])) == ["choices", 0]


# --------------------------------------------------------------------------- chunks

AR_CHUNK = "chat-chunk.anyrouter.schema.json"
OR_CHUNK = "chat-chunk.openrouter.schema.json"


def ar_chunk(choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-abc",
        "object": "chat.completion.chunk",
        "created": 1760000000,
        "model": "openai/gpt-4o-mini",
        "choices": choices,
        **extra,
    }


def or_chunk(choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "id": "gen-1785000000-AbCdEfGhIjKlMnOpQrSt",
        "object": "chat.completion.chunk",
        "created": 1785000000,
        "model": "vendor/model:free",
        "provider": "Novita",
        "choices": choices,
        **extra,
    }


USAGE = {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12, "cost": 0.0000031}

AR_STREAM = [
    ar_chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]),
    ar_chunk([{"index": 0, "delta": {"content": "Hel"}, "finish_reason": None}]),
    ar_chunk([{"index": 0, "delta": {"content": "lo"}, "finish_reason": None, "logprobs": None}]),
    ar_chunk(
        [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        system_fingerprint=None,
        provider="OpenAI",
    ),
    ar_chunk([], usage={"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}),
    # tool-call fragments (router-wire §4.2)
    ar_chunk(
        [
            {
                "index": 0,
                "delta": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": "call_x",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": ""},
                        }
                    ],
                },
                "finish_reason": None,
            }
        ]
    ),
    ar_chunk(
        [
            {
                "index": 0,
                "delta": {"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]},
                "finish_reason": None,
            }
        ]
    ),
    ar_chunk(
        [
            {
                "index": 0,
                "delta": {
                    "tool_calls": [
                        {"index": 0, "function": {"arguments": '"Paris"}'}},
                        {
                            "index": 1,
                            "id": "call_y",
                            "type": "function",
                            "function": {"name": "get_time", "arguments": "{}"},
                        },
                    ]
                },
                "finish_reason": None,
            }
        ]
    ),
    ar_chunk(
        [
            {
                "index": 0,
                "delta": {},
                "finish_reason": "tool_calls",
                "native_finish_reason": "tool_calls",
            }
        ]
    ),
    # mid-stream error
    ar_chunk(
        [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}],
        error={
            "message": "Upstream disconnected",
            "type": "upstream_error",
            "code": "upstream_error",
            "param": None,
        },
    ),
    ar_chunk(
        [],
        error={
            "message": "Upstream disconnected",
            "type": "upstream_error",
            "code": None,
            "param": None,
        },
    ),
    ar_chunk([{"index": 0, "delta": {"content": "x"}, "finish_reason": None}], usage=None),
]

OR_STREAM = [
    # router-wire §4.2, 2026 reasoning stream (Novita)
    or_chunk(
        [
            {
                "index": 0,
                "delta": {
                    "content": "",
                    "role": "assistant",
                    "reasoning": "The",
                    "reasoning_details": [{"type": "reasoning.text", "text": "The", "format": "unknown", "index": 0}],
                },
                "finish_reason": None,
                "native_finish_reason": None,
            }
        ]
    ),
    or_chunk(
        [
            {
                "index": 0,
                "delta": {"content": "To", "role": "assistant"},
                "finish_reason": None,
                "native_finish_reason": None,
            }
        ]
    ),
    or_chunk(
        [
            {
                "index": 0,
                "delta": {"content": "", "role": "assistant", "reasoning": None},
                "finish_reason": "stop",
                "native_finish_reason": "stop",
            }
        ]
    ),
    or_chunk(
        [
            {
                "index": 0,
                "delta": {"content": "", "role": "assistant"},
                "finish_reason": "stop",
                "native_finish_reason": "stop",
            }
        ],
        service_tier=None,
        usage=OR_RESPONSE["usage"],
    ),
    or_chunk([], usage=USAGE),
    # 2025 key set: logprobs per choice and system_fingerprint per chunk
    or_chunk(
        [
            {
                "index": 0,
                "delta": {"role": "assistant", "content": "Hi"},
                "finish_reason": None,
                "native_finish_reason": None,
                "logprobs": None,
            }
        ],
        system_fingerprint="fp_1",
    ),
    # tool-call fragments
    or_chunk(
        [
            {
                "index": 0,
                "delta": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": "call_x",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": ""},
                        }
                    ],
                },
                "finish_reason": None,
                "native_finish_reason": None,
            }
        ]
    ),
    or_chunk(
        [
            {
                "index": 0,
                "delta": {"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]},
                "finish_reason": None,
                "native_finish_reason": None,
            }
        ]
    ),
    or_chunk(
        [
            {
                "index": 0,
                "delta": {},
                "finish_reason": "tool_calls",
                "native_finish_reason": "tool_use",
            }
        ]
    ),
    # router-wire §4.4 mid-stream error
    {
        "id": "gen-1780000000-Q1w2E3r4T5y6U7i8O9p0",
        "object": "chat.completion.chunk",
        "created": 1780000000,
        "model": "openai/gpt-4o",
        "provider": "OpenAI",
        "error": {
            "code": 502,
            "message": "Provider disconnected unexpectedly",
            "metadata": {"error_type": "provider_unavailable", "provider_code": "x"},
        },
        "choices": [
            {
                "index": 0,
                "delta": {"content": ""},
                "finish_reason": "error",
                "native_finish_reason": "error",
            }
        ],
    },
    # 2026 variant: choices [] plus top-level error
    or_chunk([], error={"code": 500, "message": "Internal Server Error"}),
]


@pytest.mark.parametrize("instance", AR_STREAM)
def test_anyrouter_chunk_valid(instance: dict[str, Any]) -> None:
    assert_valid(AR_CHUNK, instance)


@pytest.mark.parametrize("instance", OR_STREAM)
def test_openrouter_chunk_valid(instance: dict[str, Any]) -> None:
    assert_valid(OR_CHUNK, instance)


AR_CONTENT = AR_STREAM[1]
OR_CONTENT = OR_STREAM[1]


@pytest.mark.parametrize(
    ("instance", "path"),
    [
        (_with(AR_CONTENT, choices=[]), ["choices"]),
        (_with(AR_CONTENT, choices=[], usage=None), ["choices"]),
        (_with(AR_CONTENT, id="gen-1785000000-AbCdEfGhIjKlMnOpQrSt"), ["id"]),
        (_with(AR_CONTENT, object="chat.completion"), ["object"]),
        (_with(AR_CONTENT, extra=1), []),
        (_choice(AR_CONTENT, finish_reason="done"), ["choices", 0, "finish_reason"]),
        (_choice(AR_CONTENT, delta={"content": "x", "text": "x"}), ["choices", 0, "delta"]),
        (_choice(AR_CONTENT, delta={"role": "user"}), ["choices", 0, "delta", "role"]),
        (
            _choice(AR_CONTENT, delta={"tool_calls": [{"function": {"arguments": "{"}}]}),
            ["choices", 0, "delta", "tool_calls", 0],
        ),
        (
            _choice(AR_CONTENT, delta={"tool_calls": [{"index": -1}]}),
            ["choices", 0, "delta", "tool_calls", 0, "index"],
        ),
        (_drop(AR_CONTENT, "created"), []),
        (_with(AR_CONTENT, usage={"prompt_tokens": 1}), ["usage"]),
        (_with(AR_CONTENT, error={"code": 502, "message": "x"}), ["error"]),
        (
            _with(
                AR_CONTENT,
                error={"message": "x", "type": "upstream_error", "code": 502, "param": None},
            ),
            ["error", "code"],
        ),
    ],
)
def test_anyrouter_chunk_invalid_path(instance: dict[str, Any], path: list[Any]) -> None:
    assert error_path(AR_CHUNK, instance) == path


@pytest.mark.parametrize(
    ("instance", "path"),
    [
        (_drop(OR_CONTENT, "provider"), []),
        (_with(OR_CONTENT, id="chatcmpl-abc"), ["id"]),
        (_with(OR_CONTENT, choices=[]), ["choices"]),
        (
            _with(OR_CONTENT, choices=[{"index": 0, "delta": {"content": "x"}, "finish_reason": None}]),
            ["choices", 0],
        ),
        (
            _choice(OR_CONTENT, delta={"reasoning_details": [{"text": "x"}]}),
            ["choices", 0, "delta", "reasoning_details", 0],
        ),
        (_with(OR_STREAM[-1], error={"code": "server_error", "message": "x"}), ["error", "code"]),
        (
            _with(
                OR_STREAM[-1],
                error={"message": "x", "type": "upstream_error", "code": None, "param": None},
            ),
            ["error", "code"],
        ),
        (
            _with(OR_STREAM[4], usage={"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}),
            ["usage"],
        ),
    ],
)
def test_openrouter_chunk_invalid_path(instance: dict[str, Any], path: list[Any]) -> None:
    assert error_path(OR_CHUNK, instance) == path


def test_openrouter_chunk_without_provider_fails() -> None:
    error = best_match(validator(OR_CHUNK).iter_errors(_drop(OR_CONTENT, "provider")))
    assert error is not None
    assert error.validator == "required"
    assert "provider" in error.message


# --------------------------------------------------------------------------- errors

AR_ERR = "error.anyrouter.schema.json"
OR_ERR = "error.openrouter.schema.json"


@pytest.mark.parametrize(
    "instance",
    [
        {
            "error": {
                "message": "Rate limit exceeded for model openai/gpt-4-turbo",
                "type": "rate_limit_error",
                "code": "rate_limited",
                "param": None,
            }
        },
        {
            "error": {
                "message": "temperature must be <= 2",
                "type": "invalid_request_error",
                "code": "invalid_value",
                "param": "temperature",
            }
        },
        {
            "error": {
                "message": "Insufficient credits",
                "type": "payment_required_error",
                "code": None,
                "param": None,
            }
        },
        {
            "error": {
                "message": "No healthy upstream",
                "type": "service_unavailable",
                "code": None,
                "param": None,
            }
        },
    ],
)
def test_anyrouter_error_valid(instance: dict[str, Any]) -> None:
    assert_valid(AR_ERR, instance)


@pytest.mark.parametrize(
    ("instance", "path"),
    [
        (
            {"error": {"message": "x", "type": "rate_limit_error", "code": 429, "param": None}},
            ["error", "code"],
        ),
        (
            {"error": {"message": "x", "type": "rate_limit_error", "code": "rate_limited"}},
            ["error"],
        ),
        (
            {"error": {"message": "x", "type": "too_many", "code": None, "param": None}},
            ["error", "type"],
        ),
        (
            {
                "error": {
                    "message": "x",
                    "type": "rate_limit_error",
                    "code": None,
                    "param": None,
                    "metadata": {},
                }
            },
            ["error"],
        ),
        ({"error": {"code": 429, "message": "x"}}, ["error"]),
        ({"message": "x"}, []),
    ],
)
def test_anyrouter_error_invalid_path(instance: dict[str, Any], path: list[Any]) -> None:
    assert error_path(AR_ERR, instance) == path


@pytest.mark.parametrize(
    "instance",
    [
        # router-wire §5 envelope
        {
            "error": {
                "message": "Provider returned error",
                "code": 429,
                "metadata": {
                    "raw": "vendor/model:free is temporarily rate-limited upstream.",
                    "provider_name": "Venice",
                    "is_byok": False,
                    "retry_after_seconds": 16,
                    "retry_after_seconds_raw": 15.75,
                    "headers": {"Retry-After": "16"},
                },
            },
            "user_id": "user_2abc",
        },
        {
            "error": {
                "code": 402,
                "message": "Insufficient credits. Add more using https://openrouter.ai/credits",
                "metadata": {"provider_name": None},
            }
        },
        {
            "error": {
                "code": 403,
                "message": "Request flagged by moderation",
                "metadata": {
                    "reasons": ["violence"],
                    "flagged_input": "some...text",
                    "provider_name": "OpenAI",
                    "model_slug": "openai/gpt-4o",
                },
            }
        },
        {
            "error": {
                "code": 502,
                "message": "Provider returned error",
                "metadata": {"provider_name": "Novita", "raw": {"error": "upstream"}},
            }
        },
        {"error": {"code": 401, "message": "Missing Authentication header"}},
    ],
)
def test_openrouter_error_valid(instance: dict[str, Any]) -> None:
    assert_valid(OR_ERR, instance)


@pytest.mark.parametrize(
    ("instance", "path"),
    [
        ({"error": {"code": "rate_limited", "message": "x"}}, ["error", "code"]),
        ({"error": {"code": 42, "message": "x"}}, ["error", "code"]),
        ({"error": {"code": 600, "message": "x"}}, ["error", "code"]),
        ({"error": {"code": 429}}, ["error"]),
        ({"error": {"code": 429, "message": "x", "metadata": "raw"}}, ["error", "metadata"]),
        (
            {"error": {"code": 403, "message": "x", "metadata": {"reasons": "violence"}}},
            ["error", "metadata", "reasons"],
        ),
        ({"error": {"code": 429, "message": "x"}, "user_id": 7}, ["user_id"]),
        ({"error": {"code": 429, "message": "x"}, "status": 429}, []),
    ],
)
def test_openrouter_error_invalid_path(instance: dict[str, Any], path: list[Any]) -> None:
    assert error_path(OR_ERR, instance) == path


# --------------------------------------------------------------------------- models

AR_MODELS = "models.anyrouter.schema.json"
OR_MODELS = "models.openrouter.schema.json"

AR_MODEL = {
    # AnyRouter docs example
    "id": "openai/gpt-4-turbo",
    "object": "model",
    "provider": "OpenAI",
    "category": "text",
    "context_length": 128000,
    "pricing": {"input_per_1k": 10, "output_per_1k": 30},
    "capabilities": ["chat", "tool_use", "vision"],
}

OR_MODEL = {
    "id": "openai/gpt-4o-mini",
    "canonical_slug": "openai/gpt-4o-mini-2024-07-18",
    "hugging_face_id": None,
    "name": "OpenAI: GPT-4o-mini",
    "created": 1721260800,
    "description": "GPT-4o mini.",
    "context_length": 128000,
    "architecture": {
        "modality": "text+image->text",
        "input_modalities": ["text", "image"],
        "output_modalities": ["text"],
        "tokenizer": "GPT",
        "instruct_type": None,
    },
    "pricing": {
        "prompt": "0.00000015",
        "completion": "0.0000006",
        "request": "0",
        "image": "0.000217",
        "input_cache_read": "0.000000075",
        "discount": 0,
    },
    "top_provider": {
        "context_length": 128000,
        "max_completion_tokens": 16384,
        "is_moderated": True,
    },
    "per_request_limits": None,
    "supported_parameters": [
        "max_tokens",
        "temperature",
        "tools",
        "tool_choice",
        "response_format",
    ],
    "default_parameters": {"temperature": None, "top_p": None},
    "links": {"details": "/api/v1/models/openai/gpt-4o-mini/endpoints"},
    "supported_voices": None,
    "knowledge_cutoff": "2023-10-01",
    "expiration_date": None,
}

OR_REASONING_MODEL = _with(
    OR_MODEL,
    id="anthropic/claude-sonnet-4.6",
    canonical_slug="",
    context_length=None,
    architecture={
        "modality": None,
        "input_modalities": ["text", "image", "file"],
        "output_modalities": ["text"],
    },
    top_provider={"is_moderated": False, "context_length": None, "max_completion_tokens": None},
    default_parameters=None,
    reasoning={
        "supported_efforts": ["high", "medium", "low"],
        "default_effort": "medium",
        "default_enabled": False,
        "mandatory": False,
        "supports_max_tokens": True,
    },
)


@pytest.mark.parametrize(
    "instance",
    [
        {"object": "list", "data": [AR_MODEL]},
        {"object": "list", "data": []},
        {
            "object": "list",
            "data": [
                _with(
                    AR_MODEL,
                    id="openai/text-embedding-3-small",
                    category="embedding",
                    capabilities=[],
                    pricing={"input_per_1k": 0.00002, "output_per_1k": 0},
                )
            ],
        },
    ],
)
def test_anyrouter_models_valid(instance: dict[str, Any]) -> None:
    assert_valid(AR_MODELS, instance)


def test_anyrouter_single_model_def() -> None:
    schema = load(AR_MODELS)
    single = Draft202012Validator({"$ref": "#/$defs/model", "$defs": schema["$defs"]})
    assert not list(single.iter_errors(AR_MODEL))
    assert list(single.iter_errors({"object": "list", "data": [AR_MODEL]}))


def _model(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {"object": "list", "data": [_with(base, **changes)]}


@pytest.mark.parametrize(
    ("instance", "path"),
    [
        ({"data": [AR_MODEL]}, []),
        ({"object": "list", "data": [_drop(AR_MODEL, "capabilities")]}, ["data", 0]),
        (_model(AR_MODEL, object="models"), ["data", 0, "object"]),
        (_model(AR_MODEL, category="video"), ["data", 0, "category"]),
        (_model(AR_MODEL, context_length=-5), ["data", 0, "context_length"]),
        (
            _model(AR_MODEL, pricing={"input_per_1k": "10", "output_per_1k": 30}),
            ["data", 0, "pricing", "input_per_1k"],
        ),
        (_model(AR_MODEL, pricing={"input_per_1k": 10}), ["data", 0, "pricing"]),
        (_model(AR_MODEL, capabilities="chat"), ["data", 0, "capabilities"]),
    ],
)
def test_anyrouter_models_invalid_path(instance: dict[str, Any], path: list[Any]) -> None:
    assert error_path(AR_MODELS, instance) == path


@pytest.mark.parametrize(
    "instance",
    [
        {"data": [OR_MODEL, OR_REASONING_MODEL]},
        {"data": [OR_MODEL], "total_count": 1, "links": {"next": None}},
        {"data": []},
    ],
)
def test_openrouter_models_valid(instance: dict[str, Any]) -> None:
    assert_valid(OR_MODELS, instance)


def _or_model(**changes: Any) -> dict[str, Any]:
    return {"data": [_with(OR_MODEL, **changes)]}


@pytest.mark.parametrize(
    ("instance", "path"),
    [
        ({"object": "list"}, []),
        ({"data": [_drop(OR_MODEL, "architecture")]}, ["data", 0]),
        ({"data": [_drop(OR_MODEL, "per_request_limits")]}, ["data", 0]),
        (
            _or_model(pricing={"prompt": "1.5e-07", "completion": "0"}),
            ["data", 0, "pricing", "prompt"],
        ),
        (
            _or_model(pricing={"prompt": 0.00000015, "completion": "0"}),
            ["data", 0, "pricing", "prompt"],
        ),
        (_or_model(pricing={"prompt": "0"}), ["data", 0, "pricing"]),
        (
            _or_model(pricing={"prompt": "0", "completion": "0", "web_fetch": "-1"}),
            ["data", 0, "pricing", "web_fetch"],
        ),
        (
            _or_model(architecture={"modality": "text->text", "input_modalities": ["text"]}),
            ["data", 0, "architecture"],
        ),
        (_or_model(top_provider={"context_length": 1}), ["data", 0, "top_provider"]),
        (_or_model(context_length="128k"), ["data", 0, "context_length"]),
        (_or_model(supported_parameters="tools"), ["data", 0, "supported_parameters"]),
        ({"data": [OR_MODEL], "total_count": -1}, ["total_count"]),
    ],
)
def test_openrouter_models_invalid_path(instance: dict[str, Any], path: list[Any]) -> None:
    assert error_path(OR_MODELS, instance) == path


def test_completions_request_declares_every_chat_parameter_as_chat_does() -> None:
    """A /completions body is checked as a chat request after its prompt becomes the message, so
    its schema must type every chat parameter the same way (schemathesis once sent ``seed: {}``,
    which the completions schema allowed and the server refused)."""
    chat, completions = load("chat-request.schema.json"), load("completions-request.schema.json")
    own = {"prompt", "model", "models", "stream", "max_tokens"}  # typed for /completions itself
    for name, definition in chat["properties"].items():
        if name == "messages" or name in own:
            continue
        assert completions["properties"].get(name) == definition, name
    assert completions["$defs"] == chat["$defs"]
    bad = {"prompt": "hi", "seed": {}}
    assert not validator("completions-request.schema.json").is_valid(bad)
