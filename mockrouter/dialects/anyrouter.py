"""The AnyRouter dialect (the default): OpenAI-style envelopes with string error codes,
``chatcmpl-`` ids, the role on the first delta only, usage only when asked for, and
``X-RateLimit-*`` headers on every response.
"""

from __future__ import annotations

import random
from typing import Any

from ..catalog import Catalog, CatalogModel
from ..ids import random_id
from ..reply import (
    ContentPiece,
    Event,
    Finish,
    HttpError,
    ReasoningPiece,
    RefusalPiece,
    Reply,
    Role,
    ToolCallFragment,
    Usage,
    UsageReport,
)
from .base import Dialect, Identity, RateInfo, StreamEncoder, dumps, wants_usage

#: (type, code) per status, from AnyRouter's error table; the codes and the types of the
#: statuses it omits (402, 405, 408) are our documented choices.
ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "invalid_request"),
    401: ("authentication_error", "invalid_api_key"),
    402: ("payment_required_error", "insufficient_credits"),
    403: ("permission_error", "permission_denied"),
    404: ("not_found_error", "not_found"),
    405: ("method_not_allowed_error", "method_not_allowed"),
    408: ("timeout_error", "request_timeout"),
    409: ("conflict_error", "conflict"),
    413: ("request_too_large", "request_too_large"),
    422: ("invalid_request_error", "unprocessable_entity"),
    429: ("rate_limit_error", "rate_limited"),
    499: ("client_closed_request", "client_closed_request"),
    500: ("internal_server_error", "internal_error"),
    502: ("upstream_error", "upstream_error"),
    503: ("service_unavailable", "service_unavailable"),
    504: ("upstream_timeout", "upstream_timeout"),
}
DEFAULT_MESSAGES: dict[int, str] = {
    400: "Invalid request.",
    401: "Invalid or missing API key.",
    402: "Insufficient credits.",
    403: "This key is not allowed to perform this request.",
    404: "Not found.",
    408: "Request timed out.",
    429: "Rate limit exceeded.",
    500: "Internal server error.",
    502: "Upstream provider returned an error.",
    503: "No healthy upstream is available.",
    504: "Upstream provider timed out.",
}


def error_type_and_code(status: int) -> tuple[str, str]:
    if status in ERRORS:
        return ERRORS[status]
    return (
        ("internal_server_error", "internal_error") if status >= 500 else ("invalid_request_error", "invalid_request")
    )


class AnyRouter(Dialect):
    name = "anyrouter"
    requires_model = True
    endpoints = frozenset(
        {
            "auth_key",
            "credits",
            "generation_by_path",
            "model_detail",
            "models_count",
            "providers",
            "health",
            "embeddings",
        }
    )
    provider_header = "x-anyrouter-provider"

    def identity(self, rng: random.Random, created: int) -> Identity:
        return Identity("chatcmpl-" + random_id(rng, 24), created)

    def headers(
        self, identity: Identity | None, rate: RateInfo | None, *, error: bool = False
    ) -> list[tuple[bytes, bytes]]:
        out = []
        if identity is not None:
            out.append((b"x-request-id", identity.id.encode()))
        if rate is not None:
            out.append((b"x-ratelimit-limit", b"%d" % (rate.limit,)))
            out.append((b"x-ratelimit-remaining", b"%d" % (rate.remaining,)))
            out.append((b"x-ratelimit-reset", b"%d" % (rate.reset,)))
        return out

    def error_object(self, error: HttpError) -> dict[str, Any]:
        kind, code = error_type_and_code(error.status)
        return {
            "message": error.message or DEFAULT_MESSAGES.get(error.status, "Request failed."),
            "type": error.type or kind,
            "code": str(error.code) if error.code is not None else code,
            "param": error.param,
        }

    def error(self, error: HttpError, *, key: str | None = None) -> bytes:
        return dumps({"error": self.error_object(error)})

    def message(self, reply: Reply) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": reply.content}
        if reply.reasoning is not None:
            message["reasoning"] = reply.reasoning
        if reply.refusal is not None:
            message["refusal"] = reply.refusal
        if reply.tool_calls:
            message["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in reply.tool_calls
            ]
        return message

    def usage(self, usage: Usage) -> dict[str, Any]:
        out = self.usage_counts(usage)
        if usage.reasoning_tokens:
            out["completion_tokens_details"] = {"reasoning_tokens": usage.reasoning_tokens}
        return out

    def completion(self, reply: Reply, identity: Identity) -> bytes:
        choice: dict[str, Any] = {"index": 0, "message": self.message(reply), "finish_reason": reply.finish_reason}
        if reply.fault is not None and reply.fault.kind == "error" and reply.fault.error is not None:
            choice["finish_reason"] = "error"
            choice["error"] = self.error_object(reply.fault.error)
        return dumps(
            {
                "id": identity.id,
                "object": "chat.completion",
                "created": identity.created,
                "model": reply.model,
                "provider": reply.provider,
                "choices": [choice],
                "usage": self.usage(reply.usage),
            }
        )

    def stream(self, reply: Reply, identity: Identity, body: dict[str, Any]) -> StreamEncoder:
        return _AnyRouterStream(self, reply, identity, wants_usage(reply.usage_mode, body, always_by_default=False))

    def model_object(self, m: CatalogModel) -> dict[str, Any]:
        return {
            "id": m.id,
            "object": "model",
            "provider": m.provider,
            "category": m.category,
            "context_length": m.context_length,
            "pricing": {"input_per_1k": m.prompt_per_m / 1000, "output_per_1k": m.completion_per_m / 1000},
            "capabilities": list(m.capabilities),
        }

    def models(self, catalog: Catalog, scenario_ids: list[str]) -> bytes:
        data = [self.model_object(m) for m in catalog.models.values()]
        data += [self.model_object(self.scenario_model(i)) for i in scenario_ids]
        return dumps({"object": "list", "data": data})


class _AnyRouterStream(StreamEncoder):
    def __init__(self, dialect: AnyRouter, reply: Reply, identity: Identity, usage: bool) -> None:
        self.dialect = dialect
        self.reply = reply
        self.identity = identity
        self.send_usage = usage
        head = dumps(
            {
                "id": identity.id,
                "object": "chat.completion.chunk",
                "created": identity.created,
                "model": reply.model,
                "provider": reply.provider,
            }
        )
        self.head = b"data: " + head[:-1]  # the envelope without its closing brace
        self.open = self.head + b',"choices":[{"index":0,"delta":'
        self.close = b',"finish_reason":null}]}\n\n'

    def encode(self, event: Event) -> bytes | None:
        if type(event) is ContentPiece:
            return self.open + b'{"content":' + dumps(event.text) + b"}" + self.close
        if type(event) is Role:
            return self.open + b'{"role":"assistant","content":""}' + self.close
        if type(event) is ReasoningPiece:
            return self.open + b'{"reasoning":' + dumps(event.text) + b"}" + self.close
        if type(event) is RefusalPiece:
            return self.open + b'{"refusal":' + dumps(event.text) + b"}" + self.close
        if type(event) is ToolCallFragment:
            fragment: dict[str, Any] = {"index": event.index}
            if event.id is not None:
                fragment["id"] = event.id
                fragment["type"] = "function"
                fragment["function"] = {"name": event.name, "arguments": event.arguments}
            else:
                fragment["function"] = {"arguments": event.arguments}
            return self.open + dumps({"tool_calls": [fragment]}) + self.close
        if type(event) is Finish:
            return self.open + b'{},"finish_reason":' + dumps(event.reason) + b"}]}\n\n"
        if type(event) is UsageReport:
            if not self.send_usage:
                return None
            return self.head + b',"choices":[],"usage":' + dumps(self.dialect.usage(self.reply.usage)) + b"}\n\n"
        return None

    def error_chunk(self, error: HttpError) -> bytes:
        return (
            self.head
            + b',"error":'
            + dumps(self.dialect.error_object(error))
            + b',"choices":[{"index":0,"delta":{},"finish_reason":"error"}]}\n\n'
        )
