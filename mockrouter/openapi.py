"""An OpenAPI 3.1 document of the router API, built from the published JSON Schemas.

``GET /__mockrouter/openapi.json[?dialect=anyrouter|openrouter]`` serves it, so API testing
tools (schemathesis, SDK generators) can drive mockrouter. Each schema of ``schemas/`` that a
route uses is inlined under ``components/schemas`` by its short name (``chat-request``,
``error.anyrouter``); its ``$defs`` are hoisted beside it as ``<name>.<def>`` and every
internal ``#/$defs/...`` reference is rewritten to point there, so every ``$ref`` resolves
inside the document. Built once per dialect.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import orjson

from . import __version__
from .dialects import DIALECTS
from .schemas import SchemaRegistry

OPENAPI_VERSION = "3.1.0"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
API_PREFIX = "/api/v1"
#: Every error status the chat endpoint answers in the dialect's envelope (scripted or not).
CHAT_ERROR_STATUSES = {
    400: "Invalid request: malformed JSON, wrong content type, a field that breaks the request schema.",
    401: "Missing or malformed `Authorization: Bearer <key>`.",
    402: "Insufficient credits (scripted).",
    403: "Refused by moderation (scripted).",
    404: "Unknown `mockrouter/NAME` scenario, or an exhausted scenario.",
    405: "Wrong method.",
    408: "Request timeout (scripted).",
    413: "Body larger than `--max-body`.",
    429: "Rate limited (scripted); see `Retry-After`.",
    431: "Request headers larger than `--max-header`.",
    500: "Internal error (scripted).",
    502: "Upstream provider error (scripted).",
    503: "No healthy upstream (scripted).",
    504: "Upstream timeout (scripted).",
}
MODELS_ERROR_STATUSES = {
    405: "Wrong method.",
    431: "Request headers larger than `--max-header`.",
}


class _Components:
    """Collects inlined schemas under ``components/schemas``."""

    def __init__(self, registry: SchemaRegistry) -> None:
        self.registry = registry
        self.schemas: dict[str, Any] = {}

    def ref(self, name: str) -> dict[str, str]:
        """A ``$ref`` to schema file ``name``, inlining it (and its ``$defs``) on first use."""
        if name not in self.schemas:
            document = self.registry.documents[name]
            self.schemas[name] = {}  # reserve the slot: a schema may refer to itself
            self.schemas[name] = self._inline(name, document)
        return {"$ref": f"#/components/schemas/{name}"}

    def _inline(self, name: str, document: dict[str, Any]) -> dict[str, Any]:
        schema = {k: v for k, v in document.items() if k not in ("$schema", "$id", "$defs")}
        for def_name, definition in document.get("$defs", {}).items():
            self.schemas[f"{name}.{def_name}"] = _rewrite(definition, name)
        return _rewrite(schema, name)


def _rewrite(value: Any, name: str) -> Any:
    """A copy of ``value`` whose ``#/$defs/X`` references point at ``#/components/schemas/<name>.X``."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key == "$ref" and isinstance(item, str) and item.startswith("#/$defs/"):
                rest = item[len("#/$defs/") :]
                def_name, _, pointer = rest.partition("/")
                out[key] = f"#/components/schemas/{name}.{def_name}" + (f"/{pointer}" if pointer else "")
            else:
                out[key] = _rewrite(item, name)
        return out
    if isinstance(value, list):
        return [_rewrite(item, name) for item in value]
    return value


def _sse_event(chunk_ref: str) -> dict[str, Any]:
    """One Server-Sent Event of a chat stream (as OpenAPI 3.2's ``itemSchema`` would put it;
    schemathesis reads a 3.1 ``text/event-stream`` schema the same way): ``data`` is a chunk
    as JSON, or ``[DONE]``."""
    return {
        "type": "object",
        "description": "One SSE event: `data: <chunk JSON>`, or `data: [DONE]` at the end.",
        "required": ["data"],
        "properties": {
            "data": {
                "oneOf": [
                    {"const": "[DONE]"},
                    {
                        "type": "string",
                        "contentMediaType": "application/json",
                        "contentSchema": {"$ref": chunk_ref},
                    },
                ]
            }
        },
    }


def _errors(components: _Components, dialect: str, statuses: dict[int, str]) -> dict[str, Any]:
    error = components.ref(f"error.{dialect}")
    return {
        str(status): {"description": description, "content": {"application/json": {"schema": error}}}
        for status, description in statuses.items()
    }


def build(dialect: str, registry: SchemaRegistry | None = None) -> dict[str, Any]:
    """The OpenAPI document of the router API in ``dialect`` (a fresh dict)."""
    if dialect not in DIALECTS:
        raise ValueError(f"unknown dialect {dialect!r}")
    components = _Components(registry or SchemaRegistry())
    request_schema: dict[str, Any] = components.ref("chat-request")
    if DIALECTS[dialect].requires_model:
        request_schema = {"allOf": [request_schema, {"required": ["model"]}]}
    chunk = components.ref(f"chat-chunk.{dialect}")["$ref"]
    chat = {
        "operationId": "createChatCompletion",
        "summary": "Create a chat completion (runs the scenario engine)",
        "description": (
            "JSON, or Server-Sent Events with `stream: true`: `data: <chunk>` events, each a "
            f"`{chunk}` object, ending with `data: [DONE]` (a mid-stream error chunk ends the "
            "stream without it). The scenario is chosen by the header `X-Mockrouter-Scenario`, the "
            "model `mockrouter/NAME`, the scenarios' `match` blocks, or the default `echo`."
        ),
        "security": [{"bearer": []}],
        "requestBody": {"required": True, "content": {"application/json": {"schema": request_schema}}},
        "responses": {
            "200": {
                "description": "The completion, or its stream.",
                "content": {
                    "application/json": {"schema": components.ref(f"chat-response.{dialect}")},
                    "text/event-stream": {"schema": _sse_event(chunk)},
                },
            },
            **_errors(components, dialect, CHAT_ERROR_STATUSES),
        },
    }
    models = {
        "operationId": "listModels",
        "summary": "The model catalog plus one `mockrouter/NAME` entry per scenario",
        "security": [],
        "responses": {
            "200": {
                "description": "The models.",
                "content": {"application/json": {"schema": components.ref(f"models.{dialect}")}},
            },
            **_errors(components, dialect, MODELS_ERROR_STATUSES),
        },
    }
    return {
        "openapi": OPENAPI_VERSION,
        "jsonSchemaDialect": JSON_SCHEMA_DIALECT,
        "info": {
            "title": f"mockrouter router API ({dialect} dialect)",
            "version": __version__,
            "description": "A local mock of an OpenRouter-style LLM router API. Generated from mockrouter's schemas/.",
        },
        "servers": [{"url": "/"}],
        "paths": {
            f"{API_PREFIX}/chat/completions": {"post": chat},
            f"{API_PREFIX}/models": {"get": models},
        },
        "components": {
            "schemas": dict(sorted(components.schemas.items())),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "Any non-empty key is accepted."}
            },
        },
    }


@cache
def document_bytes(dialect: str) -> bytes:
    """The document of ``dialect`` as JSON, built once per process."""
    return orjson.dumps(build(dialect))
