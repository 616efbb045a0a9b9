"""``GET /__mockrouter/openapi.json``: a valid OpenAPI 3.1 document whose every ``$ref`` resolves
inside it, built from schemas/, describing what the server really answers."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from mockrouter.http.openapi import CHAT_ERROR_STATUSES, REQUIRES_A_MODEL, build, document_bytes

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
    assert body["content"]["application/json"]["schema"]["allOf"][1] == REQUIRES_A_MODEL
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


#: Every route of each dialect: (method, path) → (success status, its schema, error statuses beyond
#: 405/431 that every route has). ``None``: the model object of ``models.anyrouter``.
COMMON_ROUTES = {
    ("post", "/completions"): (200, "completions.{d}", set(CHAT_ERROR_STATUSES)),
    ("get", "/models/count"): (200, "models-count", set()),
    ("get", "/providers"): (200, "providers", set()),
    ("get", "/credits"): (200, "credits", {401, 429}),
    ("get", "/auth/key"): (200, "key-info", {401, 429}),
}
ROUTES = {
    "anyrouter": {
        **COMMON_ROUTES,
        ("get", "/models/{id}"): (200, "models.anyrouter.model", {404}),
        ("get", "/generation/{id}"): (200, "generation", {400, 401, 404, 429}),
        ("get", "/health"): (200, "health.anyrouter", set()),
        ("post", "/embeddings"): (200, "embeddings.anyrouter", {400, 401, 402, 413, 429}),
    },
    "openrouter": {
        **COMMON_ROUTES,
        ("get", "/key"): (200, "key-info", {401, 429}),
        ("get", "/generation"): (200, "generation", {400, 401, 404, 429}),
        ("get", "/models/{author}/{slug}/endpoints"): (200, "endpoints.openrouter", {404}),
        ("get", "/keys"): (200, "key-list.openrouter", {400, 401, 403, 429}),
        ("post", "/keys"): (201, "key.openrouter", {400, 401, 403, 413, 429}),
        ("get", "/keys/{hash}"): (200, "key.openrouter", {401, 403, 404, 429}),
        ("patch", "/keys/{hash}"): (200, "key.openrouter", {400, 401, 403, 404, 413, 429}),
        ("delete", "/keys/{hash}"): (200, "key-deleted.openrouter", {401, 403, 404, 429}),
    },
}
REQUEST_BODIES = {
    ("post", "/completions"): "completions-request",
    ("post", "/embeddings"): "embeddings-request",
    ("post", "/keys"): "key-create-request.openrouter",
    ("patch", "/keys/{hash}"): "key-update-request.openrouter",
}
#: The other API surfaces (issue #12): route -> (request schema, body schema, event schema,
#: error schema or None for the dialect's, whether Anthropic's x-api-key is accepted).
SURFACE_ROUTES = {
    "/messages": ("messages-request", "messages-response", "messages-event", "messages-error", True),
    "/messages/count_tokens": ("messages-count-tokens-request", "messages-count-tokens", None, "messages-error", True),
    "/responses": ("responses-request", "responses-response", "responses-event", None, False),
}
CATALOG_READS = {
    "/models",
    "/models/count",
    "/providers",
    "/health",
    "/models/{id}",
    "/models/{author}/{slug}/endpoints",
}


@pytest.mark.parametrize("dialect", DIALECTS)
def test_every_route_of_the_dialect_is_documented(dialect: str) -> None:
    document = build(dialect)
    expected = {(m, "/api/v1" + p) for m, p in ROUTES[dialect]} | {
        ("post", "/api/v1/chat/completions"),
        ("get", "/api/v1/models"),
        *(("post", "/api/v1" + p) for p in SURFACE_ROUTES),
    }
    documented = {(m, p) for p, item in document["paths"].items() for m in item}
    assert documented == expected
    for (method, path), (ok, schema, errors) in ROUTES[dialect].items():
        operation = document["paths"]["/api/v1" + path][method]
        schema = schema.format(d=dialect)
        assert set(operation["responses"]) == {str(ok)} | {str(s) for s in errors | {405, 431}}, path
        assert operation["responses"][str(ok)]["content"]["application/json"]["schema"] == {
            "$ref": f"#/components/schemas/{schema}"
        }
        for status in errors:
            assert operation["responses"][str(status)]["content"]["application/json"]["schema"] == {
                "$ref": f"#/components/schemas/error.{dialect}"
            }
        assert operation["security"] == ([] if path in CATALOG_READS else [{"bearer": []}]), path
        if (method, path) in REQUEST_BODIES:
            body = operation["requestBody"]["content"]["application/json"]["schema"]
            assert f"#/components/schemas/{REQUEST_BODIES[method, path]}" in str(body)
    completions = document["paths"]["/api/v1/completions"]["post"]["responses"]["200"]["content"]
    assert f"completions-chunk.{dialect}" in str(completions["text/event-stream"])


@pytest.mark.parametrize("dialect", DIALECTS)
def test_the_messages_and_responses_surfaces_are_documented(dialect: str) -> None:
    """Each surface's route names its own request, response, stream-event and error schemas,
    and the Messages routes take Anthropic's ``x-api-key`` as well as a bearer token."""
    document = build(dialect)
    for path, (request, body, event, error, anthropic) in SURFACE_ROUTES.items():
        operation = document["paths"]["/api/v1" + path]["post"]
        assert f"#/components/schemas/{request}" in str(operation["requestBody"]), path
        content = operation["responses"]["200"]["content"]
        assert content["application/json"]["schema"] == {"$ref": f"#/components/schemas/{body}"}, path
        if event is not None:
            assert f"#/components/schemas/{event}" in str(content["text/event-stream"]), path
        for status in ("400", "401", "429"):
            schema = operation["responses"][status]["content"]["application/json"]["schema"]
            wanted = error or ("responses-error.openrouter" if dialect == "openrouter" else f"error.{dialect}")
            assert schema == {"$ref": f"#/components/schemas/{wanted}"}, (path, status)
        assert ({"x-api-key": []} in operation["security"]) == anthropic, path
        for name in (request, body, event, error):
            if name is not None:
                assert name in document["components"]["schemas"], name
    counted = document["components"]["schemas"]["messages-count-tokens-request"]
    assert "max_tokens" not in counted["required"] and "max_tokens" in counted["properties"]


class _Doc:
    """The validator of each documented response, resolving refs inside the document."""

    def __init__(self, dialect: str) -> None:
        self.document = build(dialect)
        resource = Resource.from_contents(self.document, default_specification=DRAFT202012)
        self.registry = Registry().with_resource("urn:openapi", resource)

    def check(self, method: str, path: str, response: httpx.Response) -> None:
        """``response`` has a documented status and its body validates against that status's schema."""
        operation = self.document["paths"]["/api/v1" + path][method]
        status = str(response.status_code)
        assert status in operation["responses"], (method, path, status, response.text)
        schema = operation["responses"][status]["content"]["application/json"]["schema"]
        jsonschema.Draft202012Validator(_rebase(schema), registry=self.registry).validate(response.json())

    def check_sse(self, method: str, path: str, lines: list[str]) -> None:
        content = self.document["paths"]["/api/v1" + path][method]["responses"]["200"]["content"]
        event = content["text/event-stream"]["schema"]["properties"]["data"]["oneOf"][1]["contentSchema"]
        validator = jsonschema.Draft202012Validator(_rebase(event), registry=self.registry)
        data = [line[6:] for line in lines if line.startswith("data: ")]
        assert data[-1] == "[DONE]"
        for item in data[:-1]:
            validator.validate(httpx.Response(200, content=item).json())


def _rebase(schema: Any) -> Any:
    """``schema`` with its document-local refs pointing into ``urn:openapi``."""
    if isinstance(schema, dict):
        return {
            k: ("urn:openapi" + v if k == "$ref" and isinstance(v, str) and v.startswith("#/") else _rebase(v))
            for k, v in schema.items()
        }
    if isinstance(schema, list):
        return [_rebase(v) for v in schema]
    return schema


def test_real_answers_of_every_new_route_validate_against_the_document(
    http: httpx.Client, server: Any, dialect: str
) -> None:
    doc = _Doc(dialect)
    anonymous = httpx.Client(base_url=server.base_url, timeout=10)
    completion = {"model": "openai/gpt-4o-mini", "prompt": "hi"}
    made = http.post("/completions", json=completion)
    assert made.status_code == 200
    doc.check("post", "/completions", made)
    with http.stream("POST", "/completions", json={**completion, "stream": True}) as stream:
        doc.check_sse("post", "/completions", list(stream.iter_lines()))
    doc.check("post", "/completions", anonymous.post("/completions", json=completion))  # 401
    doc.check("post", "/completions", http.post("/completions", json={"model": "openai/gpt-4o-mini"}))  # 400
    for path in ("/models/count", "/providers"):
        doc.check("get", path, anonymous.get(path))
    for path in ("/credits", "/auth/key") + (("/key",) if dialect == "openrouter" else ()):
        doc.check("get", path, http.get(path))
        doc.check("get", path, anonymous.get(path))  # 401
    generation_id = made.json()["id"]
    if dialect == "anyrouter":
        doc.check("get", "/models/{id}", anonymous.get("/models/openai%2Fgpt-4o-mini"))
        doc.check("get", "/models/{id}", anonymous.get("/models/openai/gpt-4o-mini"))
        missing = anonymous.get("/models/nobody%2Fnothing")
        assert missing.status_code == 404
        doc.check("get", "/models/{id}", missing)
        found = http.get(f"/generation/{generation_id}")
        assert found.status_code == 200, found.text
        doc.check("get", "/generation/{id}", found)
        doc.check("get", "/generation/{id}", http.get("/generation/gen-nope"))  # 404
        doc.check("get", "/health", anonymous.get("/health"))
        embedded = http.post("/embeddings", json={"model": "openai/text-embedding-3-small", "input": ["a", "b"]})
        assert embedded.status_code == 200, embedded.text
        doc.check("post", "/embeddings", embedded)
        doc.check("post", "/embeddings", http.post("/embeddings", json={"model": "x"}))  # 400
        doc.check("post", "/embeddings", anonymous.post("/embeddings", json={"model": "x", "input": "a"}))  # 401
    else:
        found = http.get("/generation", params={"id": generation_id})
        assert found.status_code == 200, found.text
        doc.check("get", "/generation", found)
        doc.check("get", "/generation", http.get("/generation"))  # 400
        doc.check("get", "/generation", http.get("/generation", params={"id": "gen-nope"}))  # 404
        endpoints = anonymous.get("/models/openai/gpt-4o-mini/endpoints")
        assert endpoints.status_code == 200, endpoints.text
        doc.check("get", "/models/{author}/{slug}/endpoints", endpoints)
        doc.check("get", "/models/{author}/{slug}/endpoints", anonymous.get("/models/nobody/nothing/endpoints"))
        created = http.post("/keys", json={"name": "ci", "limit": 5})
        assert created.status_code == 201, created.text
        doc.check("post", "/keys", created)
        doc.check("post", "/keys", http.post("/keys", json={}))  # 400
        digest = created.json()["data"]["hash"]
        doc.check("get", "/keys", http.get("/keys", params={"include_disabled": "true", "offset": 0}))
        doc.check("get", "/keys", http.get("/keys", params={"offset": "-1"}))  # 400
        doc.check("get", "/keys/{hash}", http.get(f"/keys/{digest}"))
        doc.check("patch", "/keys/{hash}", http.patch(f"/keys/{digest}", json={"disabled": True}))
        doc.check("delete", "/keys/{hash}", http.delete(f"/keys/{digest}"))
        doc.check("get", "/keys/{hash}", http.get(f"/keys/{digest}"))  # 404
        doc.check("delete", "/keys/{hash}", anonymous.delete(f"/keys/{digest}"))  # 401
    anonymous.close()


def test_keys_file_refusals_validate_against_the_document(
    make_server: Callable[..., Any], tmp_path: Path, dialect: str
) -> None:
    """403 (a non-management key on the keys API), 402 (no credits left) and 429 (the key's rate
    limit) are documented where they happen, in the dialect's error schema."""
    keys = tmp_path / "keys.json"
    slow_spec = {"key": "sk-slow", "rate_limit": {"requests": 1, "window_s": 60}}
    keys.write_text(json.dumps({"keys": [{"key": "sk-plain", "credits": 0}, slow_spec]}))
    server = make_server(dialect=dialect, keys=keys)
    doc = _Doc(dialect)
    with httpx.Client(base_url=server.base_url, timeout=10) as c:
        plain = {"Authorization": "Bearer sk-plain"}
        slow = {"Authorization": "Bearer sk-slow"}
        broke = c.post("/completions", json={"model": "openai/gpt-4o-mini", "prompt": "hi"}, headers=plain)
        assert broke.status_code == 402, broke.text
        doc.check("post", "/completions", broke)
        doc.check("get", "/credits", c.get("/credits", headers=slow))
        limited = c.get("/credits", headers=slow)
        assert limited.status_code == 429, limited.text
        doc.check("get", "/credits", limited)
        doc.check("get", "/auth/key", c.get("/auth/key", headers={"Authorization": "Bearer sk-unknown"}))  # 401
        if dialect == "anyrouter":
            poor = c.post("/embeddings", json={"model": "openai/text-embedding-3-small", "input": "a"}, headers=plain)
            assert poor.status_code == 402, poor.text
            doc.check("post", "/embeddings", poor)
        else:
            refused = c.get("/keys", headers=plain)
            assert refused.status_code == 403, refused.text
            doc.check("get", "/keys", refused)
            doc.check("post", "/keys", c.post("/keys", json={"name": "x"}, headers=plain))
            doc.check("delete", "/keys/{hash}", c.delete("/keys/abc", headers=plain))
