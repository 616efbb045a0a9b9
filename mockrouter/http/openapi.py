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

from .. import __version__
from ..core.schemas import SchemaRegistry
from ..wire.dialects import DIALECTS

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
#: What a dialect that requires a model asks of a body: a non-empty ``model``, or a ``models``
#: fallback list with a non-empty id.
REQUIRES_A_MODEL: dict[str, Any] = {
    "anyOf": [
        {"required": ["model"], "properties": {"model": {"minLength": 1}}},
        {"required": ["models"], "properties": {"models": {"contains": {"type": "string", "minLength": 1}}}},
    ]
}
#: The Messages routes take the key as Anthropic's SDKs send it, or as a bearer token.
ANTHROPIC_SECURITY: list[dict[str, list[str]]] = [{"x-api-key": []}, {"bearer": []}]
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

    def without_required(self, name: str, base: str, field: str) -> dict[str, str]:
        """A ``$ref`` to schema ``name``: schema file ``base`` with ``field`` no longer required."""
        self.ref(base)
        if name not in self.schemas:
            schema = self.schemas[base]
            self.schemas[name] = {**schema, "required": [r for r in schema.get("required", ()) if r != field]}
        return {"$ref": f"#/components/schemas/{name}"}

    def _inline(self, name: str, document: dict[str, Any]) -> dict[str, Any]:
        schema = {k: v for k, v in document.items() if k not in ("$schema", "$id", "$defs")}
        for def_name, definition in document.get("$defs", {}).items():
            self.schemas[f"{name}.{def_name}"] = _rewrite(definition, name)
        rewritten: dict[str, Any] = _rewrite(schema, name)
        return rewritten


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


def _named_sse_event(event_ref: str) -> dict[str, Any]:
    """One named Server-Sent Event (Messages, Responses): ``event: <type>`` and ``data``, an
    event object as JSON; no ``[DONE]``."""
    return {
        "type": "object",
        "description": "One SSE event: `event: <type>` and `data: <event JSON>` whose `type` repeats the name.",
        "required": ["data"],
        "properties": {
            "event": {"type": "string"},
            "data": {"type": "string", "contentMediaType": "application/json", "contentSchema": {"$ref": event_ref}},
        },
    }


def _errors(
    components: _Components, dialect: str, statuses: dict[int, str], error_schema: str | None = None
) -> dict[str, Any]:
    error = components.ref(error_schema or f"error.{dialect}")
    return {
        str(status): {"description": description, "content": {"application/json": {"schema": error}}}
        for status, description in statuses.items()
    }


def _json(ref: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ref}}}


def _path_param(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string", "minLength": 1},
    }


class _Builder:
    """Builds the operations of one dialect's document."""

    def __init__(self, dialect: str, components: _Components) -> None:
        self.dialect = dialect
        self.components = components

    def ref(self, name: str) -> dict[str, str]:
        return self.components.ref(name)

    def operation(
        self,
        operation_id: str,
        summary: str,
        ok: dict[str, Any],
        errors: dict[int, str],
        *,
        keyed: bool = True,
        ok_status: int = 200,
        body: dict[str, Any] | None = None,
        parameters: list[dict[str, Any]] | None = None,
        description: str | None = None,
        error_schema: str | None = None,
        security: list[dict[str, list[str]]] | None = None,
    ) -> dict[str, Any]:
        """One operation: ``keyed`` ones need a bearer key (and may answer 401/429);
        a ``body`` adds 400/413; every route may answer 405 and 431. Errors are in the
        dialect's envelope unless ``error_schema`` names another (Anthropic's)."""
        statuses = dict(errors)
        if keyed:
            statuses.setdefault(401, CHAT_ERROR_STATUSES[401])
            statuses.setdefault(429, "Rate limited (the key's own limit); see `Retry-After`.")
        if body is not None:
            statuses.setdefault(400, CHAT_ERROR_STATUSES[400])
            statuses.setdefault(413, CHAT_ERROR_STATUSES[413])
        statuses.update(MODELS_ERROR_STATUSES)
        operation: dict[str, Any] = {"operationId": operation_id, "summary": summary}
        if description:
            operation["description"] = description
        operation["security"] = (security or [{"bearer": []}]) if keyed else []
        if parameters:
            operation["parameters"] = parameters
        if body is not None:
            operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
        operation["responses"] = {
            str(ok_status): ok,
            **_errors(self.components, self.dialect, dict(sorted(statuses.items())), error_schema),
        }
        return operation

    def messages(self) -> dict[str, Any]:
        """``POST /messages``: Anthropic's Messages API (runs the scenario engine)."""
        ok = {
            "description": "The message, or its stream of named events.",
            "content": {
                "application/json": {"schema": self.ref("messages-response")},
                "text/event-stream": {"schema": _named_sse_event(self.ref("messages-event")["$ref"])},
            },
        }
        description = (
            "Anthropic's Messages API on the same scenarios: JSON, or with `stream: true` named events "
            "(`message_start`, `content_block_*`, `ping`, `message_delta`, `message_stop`; a mid-stream "
            "error is `event: error`). The key may be sent as `x-api-key` or `Authorization: Bearer`; "
            "errors are Anthropic's envelope."
        )
        statuses = {**CHAT_ERROR_STATUSES, 529: "Overloaded (scripted)."}
        return self.operation(
            "createMessage",
            "Create a message, Anthropic Messages API (runs the scenario engine)",
            ok,
            statuses,
            body=self.ref("messages-request"),
            description=description,
            error_schema="messages-error",
            security=ANTHROPIC_SECURITY,
        )

    def count_tokens(self) -> dict[str, Any]:
        """``POST /messages/count_tokens``."""
        return self.operation(
            "countMessageTokens",
            "The input tokens a Messages request is billed (its answer's `usage.input_tokens`)",
            _json(self.ref("messages-count-tokens"), "The count."),
            {},
            body=self.components.without_required("messages-count-tokens-request", "messages-request", "max_tokens"),
            error_schema="messages-error",
            security=ANTHROPIC_SECURITY,
        )

    def responses(self) -> dict[str, Any]:
        """``POST /responses``: OpenAI's Responses API, stateless (runs the scenario engine)."""
        ok = {
            "description": "The response, or its stream of named events.",
            "content": {
                "application/json": {"schema": self.ref("responses-response")},
                "text/event-stream": {"schema": _named_sse_event(self.ref("responses-event")["$ref"])},
            },
        }
        description = (
            "OpenAI's Responses API on the same scenarios: JSON, or with `stream: true` named events "
            "with a growing `sequence_number` (`response.created` ... `response.completed`, "
            "`response.incomplete`, `error`). Stateless, as the routers' is: `store: true` and "
            "`previous_response_id` are a 400."
        )
        errors = f"responses-error.{self.dialect}"
        return self.operation(
            "createResponse",
            "Create a model response, OpenAI Responses API (runs the scenario engine)",
            ok,
            CHAT_ERROR_STATUSES,
            body=self.ref("responses-request"),
            description=description,
            error_schema=errors if errors in self.components.registry.documents else None,
        )

    def engine(self, kind: str) -> dict[str, Any]:
        """``POST /chat/completions`` (``kind`` chat) or ``POST /completions`` (completions)."""
        dialect = self.dialect
        request_schema: dict[str, Any] = self.ref(f"{kind}-request")
        if DIALECTS[dialect].requires_model:
            request_schema = {"allOf": [request_schema, REQUIRES_A_MODEL]}
        if kind == "chat":
            chunk = self.ref(f"chat-chunk.{dialect}")["$ref"]
            answer = self.ref(f"chat-response.{dialect}")
            operation_id, summary = "createChatCompletion", "Create a chat completion (runs the scenario engine)"
        else:
            chunk = self.ref(f"completions-chunk.{dialect}")["$ref"]
            answer = self.ref(f"completions.{dialect}")
            operation_id, summary = (
                "createCompletion",
                "Create a legacy text completion: `prompt` becomes the user message (runs the scenario engine)",
            )
        description = (
            "JSON, or Server-Sent Events with `stream: true`: `data: <chunk>` events, each a "
            f"`{chunk}` object, ending with `data: [DONE]` (a mid-stream error chunk ends the "
            "stream without it). The scenario is chosen by the header `X-Mockrouter-Scenario`, the "
            "model `mockrouter/NAME`, the scenarios' `match` blocks, or the default `echo`."
        )
        ok = {
            "description": "The completion, or its stream.",
            "content": {
                "application/json": {"schema": answer},
                "text/event-stream": {"schema": _sse_event(chunk)},
            },
        }
        return self.operation(
            operation_id, summary, ok, CHAT_ERROR_STATUSES, body=request_schema, description=description
        )


def _paths(b: _Builder) -> dict[str, dict[str, Any]]:
    dialect = b.dialect
    endpoints = DIALECTS[dialect].endpoints
    paths: dict[str, dict[str, Any]] = {
        "/chat/completions": {"post": b.engine("chat")},
        "/completions": {"post": b.engine("completions")},
        "/messages": {"post": b.messages()},
        "/messages/count_tokens": {"post": b.count_tokens()},
        "/responses": {"post": b.responses()},
        "/models": {
            "get": b.operation(
                "listModels",
                "The model catalog plus one `mockrouter/NAME` entry per scenario",
                _json(b.ref(f"models.{dialect}"), "The models."),
                {},
                keyed=False,
            )
        },
    }
    if "models_count" in endpoints:
        paths["/models/count"] = {
            "get": b.operation(
                "countModels",
                "The number of models `/models` lists",
                _json(b.ref("models-count"), "The count."),
                {},
                keyed=False,
            )
        }
    if "model_detail" in endpoints:
        b.ref(f"models.{dialect}")
        paths["/models/{id}"] = {
            "get": b.operation(
                "getModel",
                "One model of the catalog (or a `mockrouter/NAME` scenario model)",
                _json({"$ref": f"#/components/schemas/models.{dialect}.model"}, "The model."),
                {404: "Unknown model."},
                keyed=False,
                parameters=[_path_param("id", "The model id, URL-encoded (`anthropic%2Fclaude-sonnet-4.6`) or not.")],
            )
        }
    if "model_endpoints" in endpoints:
        paths["/models/{author}/{slug}/endpoints"] = {
            "get": b.operation(
                "listModelEndpoints",
                "The endpoints (providers) serving one model",
                _json(b.ref(f"endpoints.{dialect}"), "The model and its endpoints."),
                {404: "Unknown model."},
                keyed=False,
                parameters=[
                    _path_param("author", "The model id's author (`openai` of `openai/gpt-4o`)."),
                    _path_param("slug", "The model id's name (`gpt-4o` of `openai/gpt-4o`)."),
                ],
            )
        }
    if "providers" in endpoints:
        paths["/providers"] = {
            "get": b.operation(
                "listProviders",
                "Every provider of the catalog",
                _json(b.ref("providers"), "The providers."),
                {},
                keyed=False,
            )
        }
    if "health" in endpoints:
        paths["/health"] = {
            "get": b.operation(
                "getHealth",
                "The router's and its providers' status",
                _json(b.ref(f"health.{dialect}"), "The status."),
                {},
                keyed=False,
            )
        }
    if "credits" in endpoints:
        paths["/credits"] = {
            "get": b.operation(
                "getCredits",
                "The calling key's credits and usage",
                _json(b.ref("credits"), "The credits."),
                {},
            )
        }
    key_info = _json(b.ref("key-info"), "The calling key.")
    if "auth_key" in endpoints:
        paths["/auth/key"] = {"get": b.operation("getAuthKey", "The calling key", key_info, {})}
    if "key" in endpoints:
        paths["/key"] = {"get": b.operation("getKey", "The calling key", key_info, {})}
    generation = _json(b.ref("generation"), "The generation's stats.")
    generation_missing = {404: "No such generation of the calling key (or its answer has not ended)."}
    if "generation_by_path" in endpoints:
        paths["/generation/{id}"] = {
            "get": b.operation(
                "getGeneration",
                "Stats of one of the calling key's generations",
                generation,
                {400: "Empty generation id.", **generation_missing},
                parameters=[_path_param("id", "The generation id (the completion's `id`).")],
            )
        }
    if "generation_by_query" in endpoints:
        paths["/generation"] = {
            "get": b.operation(
                "getGeneration",
                "Stats of one of the calling key's generations",
                generation,
                {400: "Missing or empty `id`.", **generation_missing},
                parameters=[
                    {
                        "name": "id",
                        "in": "query",
                        "required": True,
                        "description": "The generation id (the completion's `id`).",
                        "schema": {"type": "string", "minLength": 1},
                    }
                ],
            )
        }
    if "embeddings" in endpoints:
        paths["/embeddings"] = {
            "post": b.operation(
                "createEmbeddings",
                "Embed text: deterministic unit vectors",
                _json(b.ref(f"embeddings.{dialect}"), "The embeddings."),
                {
                    400: "Invalid request, a chat model, or `dimensions` over the model's.",
                    402: CHAT_ERROR_STATUSES[402].replace(" (scripted)", " (the key's limit)"),
                },
                body=b.ref("embeddings-request"),
            )
        }
    if "keys" in endpoints:
        forbidden = {403: "Only management keys can perform this operation (with a keys file)."}
        key = _json(b.ref(f"key.{dialect}"), "The key.")
        hash_param = [_path_param("hash", "The key's `hash`.")]
        missing_key = {404: "No key with this hash."}
        paths["/keys"] = {
            "get": b.operation(
                "listKeys",
                "The keys (management keys only)",
                _json(b.ref(f"key-list.{dialect}"), "The keys."),
                {400: "`offset` is not a non-negative integer.", **forbidden},
                parameters=[
                    {
                        "name": "include_disabled",
                        "in": "query",
                        "required": False,
                        "description": "List disabled keys too.",
                        "schema": {"type": "boolean", "default": False},
                    },
                    {
                        "name": "offset",
                        "in": "query",
                        "required": False,
                        "description": "Skip this many keys.",
                        "schema": {"type": "integer", "minimum": 0, "default": 0},
                    },
                ],
            ),
            "post": b.operation(
                "createKey",
                "Create a key (management keys only); `key` holds the new secret",
                _json(b.ref(f"key.{dialect}"), "The new key, `key` its secret (shown once)."),
                forbidden,
                ok_status=201,
                body=b.ref(f"key-create-request.{dialect}"),
            ),
        }
        paths["/keys/{hash}"] = {
            "get": b.operation("getKeyByHash", "One key", key, {**forbidden, **missing_key}, parameters=hash_param),
            "patch": b.operation(
                "updateKey",
                "Update a key",
                key,
                {**forbidden, **missing_key},
                parameters=hash_param,
                body=b.ref(f"key-update-request.{dialect}"),
            ),
            "delete": b.operation(
                "deleteKey",
                "Delete a key",
                _json(b.ref(f"key-deleted.{dialect}"), "The key is gone."),
                {**forbidden, **missing_key},
                parameters=hash_param,
            ),
        }
    return {API_PREFIX + path: item for path, item in paths.items()}


def build(dialect: str, registry: SchemaRegistry | None = None) -> dict[str, Any]:
    """The OpenAPI document of the router API in ``dialect`` (a fresh dict): every route the
    dialect serves (``Dialect.endpoints``) under ``/api/v1``."""
    if dialect not in DIALECTS:
        raise ValueError(f"unknown dialect {dialect!r}")
    components = _Components(registry or SchemaRegistry())
    paths = _paths(_Builder(dialect, components))
    return {
        "openapi": OPENAPI_VERSION,
        "jsonSchemaDialect": JSON_SCHEMA_DIALECT,
        "info": {
            "title": f"mockrouter router API ({dialect} dialect)",
            "version": __version__,
            "description": "A local mock of an OpenRouter-style LLM router API. Generated from mockrouter's schemas/.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(components.schemas.items())),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "Any non-empty key is accepted."},
                "x-api-key": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "x-api-key",
                    "description": "Anthropic's header, on the Messages routes.",
                },
            },
        },
    }


@cache
def document_bytes(dialect: str) -> bytes:
    """The document of ``dialect`` as JSON, built once per process."""
    return orjson.dumps(build(dialect))
