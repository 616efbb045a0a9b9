"""Request validation errors name the field: a 400 for a body that breaks its schema says
which field (``param`` in anyrouter, the message in both dialects) and what is wrong with
it, in JSON terms (``null``, ``array``, ``"robot"``), never Python's (``None``, ``list``,
``'robot'``)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings

from mockrouter.core.schemas import SchemaRegistry, json_path, json_type
from mockrouter.strategies import InvalidRequest, invalid_chat_requests

REGISTRY = SchemaRegistry()
HTTP_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

#: What a message that leaks Python looks like: type names, ``None``/``True``/``False``,
#: single-quoted reprs, dict/list reprs, jsonschema's own phrasing.
PYTHON = re.compile(
    r"\b(None|True|False|NoneType|list|dict|str|int|float|bool|tuple)\b"
    r"|'[^']*'|\{'|\['"
    r"|is not of type|is a required property|is not valid under any|is not one of"
)


#: A JSON string in a message: a value quoted from the request, which may say anything.
JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def speaks_json(message: str) -> bool:
    return PYTHON.search(JSON_STRING.sub('""', message)) is None


def error_of(response: httpx.Response, dialect: str) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    body = response.json()
    assert REGISTRY.for_dialect("error", dialect).violation(body) is None, body
    return body["error"]


def assert_names(error: dict[str, Any], dialect: str, param: str | None) -> None:
    """The 400 names ``param`` (anyrouter: as ``param``; both: in the message), in JSON terms."""
    message = error["message"]
    if dialect == "anyrouter":
        assert error["param"] == param, error
    else:
        assert "param" not in error
    if param is not None:
        assert f"{param}: " in message, message
    assert speaks_json(message), message


# -- the property ------------------------------------------------------------------------------

#: ``InvalidRequest.reason`` of a break that removes a required field → the field removed
#: (``InvalidRequest.path`` is then the object that lacks it).
MISSING = {
    "message without role": "role",
    "tool message without tool_call_id": "tool_call_id",
    "video_url without url": "url",
    "json_schema without name": "name",
}


def _at(body: Any, path: str) -> Any:
    """The value at a JSON path of ours (``messages[1].content``) in ``body``."""
    value = body
    for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", path):
        value = value[int(index)] if index else value[name]
    return value


def broken_field(case: InvalidRequest) -> str | None:
    """The JSON path of the field that breaks ``case``: its ``path``, extended by the
    field's name when the break removed a required field; None for a non-object body."""
    if not isinstance(case.body, dict):
        return None
    if case.reason == "no messages field":
        return "messages"
    missing = MISSING.get(case.reason)
    if missing is None and case.reason.endswith(" message without content"):
        missing = "content"
    if missing is None and case.reason.endswith(" part without its payload"):
        missing = case.reason.split()[0]  # the payload key is named like the part type
    if missing is None and case.reason in ("bad response_format", "bad tool_choice"):
        value = _at(case.body, case.path)
        if isinstance(value, dict):  # an object without a required member
            wanted = ["type", "json_schema"] if case.reason == "bad response_format" else ["type", "function"]
            missing = next(name for name in wanted if name not in value)
    return f"{case.path}.{missing}" if missing else case.path


@pytest.mark.parametrize("dialect", ["anyrouter", "openrouter"])
def test_every_invalid_chat_request_names_its_field(request, dialect, api_key):
    """For any request broken at one place (a required field removed, a value of the wrong
    type or out of range), the real server's 400 names that field's JSON path."""
    server = request.getfixturevalue(f"{dialect}_server")
    with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {api_key}"}) as http:

        @HTTP_SETTINGS
        @given(invalid_chat_requests(model="openai/gpt-4o-mini"))
        def check(case: InvalidRequest) -> None:
            error = error_of(http.post("/chat/completions", json=case.body), dialect)
            assert_names(error, dialect, broken_field(case))

        check()


# -- examples: every POST endpoint with a request schema --------------------------------------

CHAT = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize(
    ("body", "param", "says"),
    [
        ({"model": "x/y"}, "messages", "messages: required field is missing"),
        ({**CHAT, "messages": None}, "messages", "messages: expected array, got null"),
        ({**CHAT, "messages": []}, "messages", "messages: must not be empty"),
        ({**CHAT, "messages": [{"content": "a"}]}, "messages[0].role", "messages[0].role: required field is missing"),
        (
            {**CHAT, "messages": [{"role": "user", "content": None}]},
            "messages[0].content",
            "messages[0].content: expected string or array, got null",
        ),
        (
            {**CHAT, "messages": [{"role": "robot", "content": "a"}]},
            "messages[0].role",
            'messages[0].role: expected one of "system", "developer", "user", "assistant", "tool", got "robot"',
        ),
        (
            {**CHAT, "messages": [{"role": "tool", "content": "a"}]},
            "messages[0].tool_call_id",
            "messages[0].tool_call_id: required field is missing",
        ),
        (
            {**CHAT, "tools": [{"type": "function", "function": {"name": "a"}}, {"type": "function", "function": {}}]},
            "tools[1].function.name",
            "tools[1].function.name: required field is missing",
        ),
        (
            {**CHAT, "tools": [{"type": "function", "function": {"name": "get weather"}}]},
            "tools[0].function.name",
            'tools[0].function.name: must match the pattern ^[a-zA-Z0-9_-]{1,64}$, got "get weather"',
        ),
        (
            {**CHAT, "stream_options": {"include_usage": "yes"}},
            "stream_options.include_usage",
            "stream_options.include_usage: expected boolean, got string",
        ),
        ({**CHAT, "stream": 1}, "stream", "stream: expected boolean or null, got integer"),
        ({**CHAT, "temperature": 3}, "temperature", "temperature: must be at most 2, got 3"),
        ({**CHAT, "repetition_penalty": 0}, "repetition_penalty", "repetition_penalty: must be greater than 0, got 0"),
        ({**CHAT, "max_tokens": 1.5}, "max_tokens", "max_tokens: expected integer or null, got number"),
        ({**CHAT, "metadata": {"k": True}}, "metadata.k", "metadata.k: expected string, got boolean"),
        ({**CHAT, "metadata": {"a.b": 1}}, 'metadata["a.b"]', 'metadata["a.b"]: expected string, got integer'),
        ({**CHAT, "tool_choice": {"type": "function"}}, "tool_choice.function", "required field is missing"),
        ({**CHAT, "tool_choice": 5}, "tool_choice", "tool_choice: expected string or object, got integer"),
        ({**CHAT, "model": ""}, "model", "model: must not be empty"),
        ({**CHAT, "model": ["a"]}, "model", "model: expected string, got array"),
        ({**CHAT, "response_format": {}}, "response_format.type", "response_format.type: required field is missing"),
    ],
)
def test_chat_completions(http, dialect, body, param, says):
    error = error_of(http.post("/chat/completions", json=body), dialect)
    assert_names(error, dialect, param)
    assert says in error["message"]


def test_anyrouter_model_is_named_like_any_other_field(anyrouter_server, api_key):
    headers = {"Authorization": f"Bearer {api_key}"}
    response = httpx.post(anyrouter_server.base_url + "/chat/completions", json={"messages": []}, headers=headers)
    assert_names(error_of(response, "anyrouter"), "anyrouter", "messages")  # the schema speaks first
    body = {"messages": [{"role": "user", "content": "a"}]}
    error = error_of(
        httpx.post(anyrouter_server.base_url + "/chat/completions", json=body, headers=headers), "anyrouter"
    )
    assert_names(error, "anyrouter", "model")
    assert "model: required field is missing" in error["message"]


@pytest.mark.parametrize(
    ("body", "param", "says"),
    [
        ({"model": "x/y"}, "prompt", "prompt: required field is missing"),
        ({"model": "x/y", "prompt": None}, "prompt", "prompt: expected string or array, got null"),
        ({"model": "x/y", "prompt": ["a", "b"]}, "prompt", "prompt: must have at most 1 item, got 2"),
        ({"model": "x/y", "prompt": "a", "max_tokens": 0}, "max_tokens", "max_tokens: must be at least 1, got 0"),
        ({"model": "x/y", "prompt": "a", "stop": False}, "stop", "stop: expected string, array or null, got boolean"),
    ],
)
def test_completions(http, dialect, body, param, says):
    error = error_of(http.post("/completions", json=body), dialect)
    assert_names(error, dialect, param)
    assert says in error["message"]


@pytest.mark.parametrize(
    ("body", "param", "says"),
    [
        ({"model": "openai/text-embedding-3-small"}, "input", "input: required field is missing"),
        ({"input": "a"}, "model", "model: required field is missing"),
        ({"model": "openai/text-embedding-3-small", "input": None}, "input", "expected string or array, got null"),
        ({"model": "openai/text-embedding-3-small", "input": []}, "input", "input: must not be empty"),
        ({"model": "openai/text-embedding-3-small", "input": [1.5]}, "input[0]", "got number"),
        (
            {"model": "openai/text-embedding-3-small", "input": "a", "encoding_format": "hex"},
            "encoding_format",
            'encoding_format: expected one of "float", "base64", got "hex"',
        ),
        (
            {"model": "openai/text-embedding-3-small", "input": "a", "dimensions": "8"},
            "dimensions",
            "dimensions: expected integer, got string",
        ),
        (
            {"model": "openai/text-embedding-3-small", "input": "a", "dimensions": 5000},
            "dimensions",
            "dimensions: must be at most 1536 for openai/text-embedding-3-small, got 5000",
        ),
    ],
)
def test_embeddings(anyrouter_server, api_key, body, param, says):
    headers = {"Authorization": f"Bearer {api_key}"}
    error = error_of(httpx.post(anyrouter_server.base_url + "/embeddings", json=body, headers=headers), "anyrouter")
    assert_names(error, "anyrouter", param)
    assert says in error["message"]


@pytest.mark.parametrize(
    ("method", "body", "param", "says"),
    [
        ("POST", {}, "name", "name: required field is missing"),
        ("POST", {"name": None}, "name", "name: expected string, got null"),
        ("POST", {"name": "a", "limit": -1}, "limit", "limit: must be at least 0, got -1"),
        ("POST", {"name": "a", "limti": 5}, "limti", "limti: unknown field"),
        ("PATCH", {"disabled": "yes"}, "disabled", "disabled: expected boolean, got string"),
        ("PATCH", {"limit_reset": "yearly"}, "limit_reset", 'expected one of "daily", "weekly", "monthly", null'),
    ],
)
def test_keys_api(openrouter_server, api_key, method, body, param, says):
    with httpx.Client(base_url=openrouter_server.base_url, headers={"Authorization": f"Bearer {api_key}"}) as http:
        path = "/keys"
        if method == "PATCH":
            created = http.post("/keys", json={"name": "target"})
            assert created.status_code == 201, created.text
            path = "/keys/" + created.json()["data"]["hash"]
        error = error_of(http.request(method, path, json=body), "openrouter")
    assert_names(error, "openrouter", param)
    assert says in error["message"]


# -- the pieces --------------------------------------------------------------------------------


def test_json_path_notation():
    assert json_path(["messages", 1, "role"]) == "messages[1].role"
    assert json_path(["tools", 0, "function", "name"]) == "tools[0].function.name"
    assert json_path(["logit_bias", "50256"]) == "logit_bias.50256"
    assert json_path(["metadata", "a.b"]) == 'metadata["a.b"]'
    assert json_path(["metadata", ""]) == 'metadata[""]'
    assert json_path(['we"ird']) == '["we\\"ird"]'
    assert json_path([]) == ""


@pytest.mark.parametrize(
    ("value", "name"),
    [
        (None, "null"),
        (True, "boolean"),
        (1, "integer"),
        (1.5, "number"),
        ("a", "string"),
        ([], "array"),
        ({}, "object"),
    ],
)
def test_json_type(value, name):
    assert json_type(value) == name


def test_violation_keeps_the_validator_path_for_tools():
    """``path``/``message`` stay what the validator says (``check`` and ``fuzz`` print them);
    ``field``/``problem`` are what a 400 says."""
    violation = REGISTRY["chat-request"].violation({"messages": [{"content": "a"}]})
    assert violation is not None
    assert violation.path == "messages[0]"
    assert violation.field == "messages[0].role"
    assert violation.problem == "required field is missing"
