"""The AnyRouter dialect (the default): OpenAI-style envelopes with string error codes,
``chatcmpl-`` ids, the role on the first delta only, usage only when asked for, and
``X-RateLimit-*`` headers on every response.
"""

from __future__ import annotations

import random
from typing import Any

from ...core.catalog import Catalog, CatalogModel
from ...core.ids import random_id
from ...core.reply import HttpError
from .base import Dialect, Encoder, Identity, RateInfo, dumps
from .messages import MessagesEncoder
from .openai import ChatEncoder, TextEncoder
from .responses import ResponsesEncoder

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
    schema_family = "anyrouter"
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

    def make_encoders(self) -> dict[str, Encoder]:
        return {
            "chat": ChatEncoder(self, precompile=self.precompile),
            "text": TextEncoder(self),
            "messages": MessagesEncoder(self),
            "responses": ResponsesEncoder(self),
        }

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
        return dumps({"object": "list", "data": self._model_objects(catalog, scenario_ids)})
