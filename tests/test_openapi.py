"""``GET /__mockrouter/openapi.json``: a valid OpenAPI 3.1 document whose every ``$ref`` resolves
inside it, built from schemas/, describing what the server really answers."""

from __future__ import annotations

from typing import Any

import httpx
import jsonschema
import pytest
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from mockrouter.openapi import CHAT_ERROR_STATUSES, build, document_bytes

DIALECTS = ("anyrouter", "openrouter")
GOOD = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def _refs(value: Any) -> list[str]:
    if isinstance(value, dict):
        found = [value["$ref"]] if isinstance(value.get("$ref"), str) else []
        return found + [r for v in value.values() for r in _refs(v)]
    if isinstance(value, list):
        return [r for v in value for r in _refs(v)]
    return []


def _resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"{ref} does not resolve (at {part!r})"
        node = node[part]
    return node


def _validator(document: dict[str, Any], ref: str) -> jsonschema.Draft202012Validator:
    """A validator for the component at ``ref``, resolving refs inside the OpenAPI document."""
    resource = Resource.from_contents(document, default_specification=DRAFT202012)
    registry = Registry().with_resource("urn:openapi", resource)
    return jsonschema.Draft202012Validator({"$ref": "urn:openapi" + ref}, registry=registry)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_document_is_valid_openapi_3_1(dialect: str) -> None:
    document = build(dialect)
    assert document["openapi"].startswith("3.1")
    validate(document)  # openapi-spec-validator: raises on any violation of the OpenAPI 3.1 schema


@pytest.mark.parametrize("dialect", DIALECTS)
def test_every_ref_resolves_inside_the_document(dialect: str) -> None:
    document = build(dialect)
    refs = _refs(document)
    assert len(refs) > 20
    assert not [r for r in refs if "$defs" in r or not r.startswith("#/components/schemas/")], refs
    for ref in refs:
        _resolve(document, ref)
    assert "$id" not in str(document["components"]["schemas"])  # an $id would re-base the refs


@pytest.mark.parametrize("dialect", DIALECTS)
def test_routes_statuses_and_security(dialect: str) -> None:
    document = build(dialect)
    chat = document["paths"]["/api/v1/chat/completions"]["post"]
    assert set(chat["responses"]) == {"200"} | {str(s) for s in CHAT_ERROR_STATUSES}
    for status in ("400", "401", "402", "403", "404", "408", "413", "429", "500", "502", "503", "504"):
        schema = chat["responses"][status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": f"#/components/schemas/error.{dialect}"}
    ok = chat["responses"]["200"]["content"]
    assert ok["application/json"]["schema"] == {"$ref": f"#/components/schemas/chat-response.{dialect}"}
    assert "text/event-stream" in ok
    assert chat["security"] == [{"bearer": []}]
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "Any non-empty key is accepted.",
    }
    models = document["paths"]["/api/v1/models"]["get"]
    assert models["security"] == []
    assert models["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": f"#/components/schemas/models.{dialect}"
    }


def test_the_anyrouter_document_requires_a_model_and_openrouter_does_not() -> None:
    body = build("anyrouter")["paths"]["/api/v1/chat/completions"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"]["allOf"][1] == {"required": ["model"]}
    body = build("openrouter")["paths"]["/api/v1/chat/completions"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/chat-request"}


def test_built_once_per_dialect() -> None:
    assert document_bytes("anyrouter") is document_bytes("anyrouter")
    assert document_bytes("anyrouter") != document_bytes("openrouter")


def test_served_in_the_servers_dialect_or_the_one_asked(admin: httpx.Client, dialect: str) -> None:
    response = admin.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert f"chat-response.{dialect}" in response.json()["components"]["schemas"]
    for other in DIALECTS:
        served = admin.get("/openapi.json", params={"dialect": other}).json()
        assert served == build(other)
    bad = admin.get("/openapi.json", params={"dialect": "nope"})
    assert bad.status_code == 400
    assert "anyrouter" in bad.json()["error"]["message"]


def test_real_answers_validate_against_the_documents_components(http: httpx.Client, dialect: str) -> None:
    document = build(dialect)
    ok = http.post("/chat/completions", json=GOOD)
    _validator(document, f"#/components/schemas/chat-response.{dialect}").validate(ok.json())
    models = http.get("/models")
    _validator(document, f"#/components/schemas/models.{dialect}").validate(models.json())
    error = http.post("/chat/completions", json={"messages": []})
    _validator(document, f"#/components/schemas/error.{dialect}").validate(error.json())
    chunk = _validator(document, f"#/components/schemas/chat-chunk.{dialect}")
    with http.stream("POST", "/chat/completions", json={**GOOD, "stream": True}) as stream:
        events = [line[6:] for line in stream.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    for event in events[:-1]:
        chunk.validate(httpx.Response(200, content=event).json())
