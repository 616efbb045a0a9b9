"""The `json-mode` built-in answers with an instance of the requested JSON schema."""

from __future__ import annotations

import json

import jsonschema
import pytest

SCHEMAS = [
    {"type": "object", "properties": {"city": {"type": "string"}, "temp": {"type": "number"}}, "required": ["city"]},
    {
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 3, "maxLength": 20},
            "age": {"type": "integer", "minimum": 18, "maximum": 99},
            "tags": {"type": "array", "items": {"enum": ["a", "b", "c"]}, "minItems": 2},
            "address": {"$ref": "#/$defs/address"},
            "kind": {"const": "person"},
            "nickname": {"type": ["string", "null"]},
        },
        "required": ["name", "age", "tags", "address", "kind"],
        "additionalProperties": False,
        "$defs": {"address": {"type": "object", "properties": {"zip": {"type": "string"}}, "required": ["zip"]}},
    },
    {"type": "array", "items": {"anyOf": [{"type": "integer"}, {"type": "boolean"}]}},
    {
        "type": "object",
        "properties": {
            "code": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{4}$"},
            "id": {"type": "string", "format": "uuid"},
            "email": {"type": "string", "format": "email"},
        },
        "required": ["code", "id", "email"],
    },
]


@pytest.mark.parametrize("schema", SCHEMAS)
def test_json_schema_answers_validate(http, schema):
    body = {
        "model": "mockrouter/json-mode",
        "messages": [{"role": "user", "content": "Answer in JSON"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema, "strict": True}},
    }
    content = http.post("/chat/completions", json=body).json()["choices"][0]["message"]["content"]
    jsonschema.validate(json.loads(content), schema, format_checker=jsonschema.FormatChecker())


def test_json_object_gets_an_object(http):
    body = {
        "model": "mockrouter/json-mode",
        "messages": [{"role": "user", "content": "JSON please"}],
        "response_format": {"type": "json_object"},
    }
    content = http.post("/chat/completions", json=body).json()["choices"][0]["message"]["content"]
    assert isinstance(json.loads(content), dict)


def test_deterministic_per_seed(make_server):
    import httpx

    server = make_server(seed=3)
    body = {
        "model": "mockrouter/json-mode",
        "messages": [{"role": "user", "content": "x"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": SCHEMAS[1]}},
    }
    answers = []
    for key in ("sk-a", "sk-b"):
        with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}) as c:
            answers.append(c.post("/chat/completions", json=body).json()["choices"][0]["message"]["content"])
    assert answers[0] == answers[1]
