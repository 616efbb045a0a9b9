"""The OpenRouter dialect: ``gen-<seconds>-<20 chars>`` ids, integer error codes with
``metadata``, ``role``/``content`` repeated in every delta, ``provider`` and
``native_finish_reason`` on every chunk, and a usage chunk that always closes the stream.
"""

from __future__ import annotations

import random
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ...core.catalog import Catalog, CatalogModel
from ...core.ids import random_id
from ...core.reply import HttpError, Reply, ToolCallFragment, Usage
from .account import DEFAULT_WORKSPACE_ID, usage_fields, user_id
from .base import Dialect, Encoder, Identity, RateInfo, dumps
from .messages import MessagesEncoder
from .openai import ChatEncoder, ChatStream, TextEncoder
from .responses import OpenRouterResponses

if TYPE_CHECKING:
    from ...core.config import Config
    from ...state.keys import KeySpec

UPSTREAM = (502, 503, 504)
MESSAGES: dict[int, str] = {
    400: "Invalid request",
    401: "No auth credentials found",
    402: "Insufficient credits. Add more using https://openrouter.ai/credits",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request timed out",
    413: "Payload Too Large",
    429: "Rate limit exceeded",
    500: "Internal Server Error",
}
SUPPORTED_PARAMETERS = [
    "max_tokens",
    "temperature",
    "top_p",
    "stop",
    "frequency_penalty",
    "presence_penalty",
    "seed",
    "response_format",
]


def supported_parameters(m: CatalogModel) -> list[str]:
    """What a model's ``supported_parameters`` lists: the sampling parameters of a chat model,
    plus ``tools``/``tool_choice``, ``structured_outputs`` and ``reasoning`` only where the
    model has the capability (clients such as the AI SDK read this list before sending tools).
    An embedding model takes none of them."""
    if m.category == "embedding":
        return []
    params = list(SUPPORTED_PARAMETERS)
    if "json_mode" in m.capabilities:
        params.append("structured_outputs")
    if "tool_use" in m.capabilities:
        params += ["tools", "tool_choice"]
    if m.reasoning:
        params += ["reasoning", "include_reasoning"]
    return params


class OpenRouter(Dialect):
    name = "openrouter"
    schema_family = "openrouter"
    endpoints = frozenset(
        {"auth_key", "key", "credits", "keys", "generation_by_query", "model_endpoints", "models_count", "providers"}
    )
    keepalive = b": OPENROUTER PROCESSING\n\n"

    def __init__(self, usage_chunk: str = "repeat", *, precompile: bool = True) -> None:
        #: ``repeat``: the usage chunk repeats the final choice; ``empty``: ``choices: []``.
        self.usage_chunk = usage_chunk
        super().__init__(precompile=precompile)

    @classmethod
    def from_config(cls, config: Config) -> OpenRouter:
        return cls(usage_chunk=config.usage_chunk, precompile=config.compile_answers)

    def make_encoders(self) -> dict[str, Encoder]:
        return {
            "chat": OpenRouterChat(self, precompile=self.precompile),
            "text": OpenRouterText(self),
            "messages": MessagesEncoder(self),
            "responses": OpenRouterResponses(self),
        }

    def identity(self, rng: random.Random, created: int) -> Identity:
        return Identity(f"gen-{created}-{random_id(rng, 20)}", created)

    def headers(
        self, identity: Identity | None, rate: RateInfo | None, *, error: bool = False
    ) -> list[tuple[bytes, bytes]]:
        out = []
        if identity is not None:
            out.append((b"x-generation-id", identity.id.encode()))
        return out

    def error_object(self, error: HttpError) -> dict[str, Any]:
        code = error.code if isinstance(error.code, int) and not isinstance(error.code, bool) else error.status
        obj: dict[str, Any] = {"message": error.message or "", "code": code}
        metadata = dict(error.metadata) if error.metadata else None
        if error.status in UPSTREAM and not error.message:
            obj["message"] = "Provider returned error"
            metadata = {"provider_name": error.provider, "raw": _raw_upstream(error.status), **(metadata or {})}
        elif not obj["message"]:
            obj["message"] = MESSAGES.get(error.status, "Request failed")
        if metadata is not None:
            obj["metadata"] = metadata
        return obj

    def error(self, error: HttpError, *, key: str | None = None) -> bytes:
        body: dict[str, Any] = {"error": self.error_object(error)}
        if key is not None:
            body["user_id"] = user_id(key)
        return dumps(body)

    def model_object(self, m: CatalogModel) -> dict[str, Any]:
        params = supported_parameters(m)
        modality = "+".join(m.input_modalities) + "->" + "+".join(m.output_modalities)
        out: dict[str, Any] = {
            "id": m.id,
            "canonical_slug": m.id,
            "hugging_face_id": None,
            "name": m.name,
            "created": m.created,
            "description": m.description,
            "context_length": m.context_length,
            "architecture": {
                "modality": modality,
                "input_modalities": list(m.input_modalities),
                "output_modalities": list(m.output_modalities),
                "tokenizer": m.tokenizer,
                "instruct_type": None,
            },
            "pricing": {"prompt": _per_token(m.prompt_per_m), "completion": _per_token(m.completion_per_m)},
            "top_provider": {
                "context_length": m.context_length,
                "max_completion_tokens": m.max_completion_tokens or None,
                "is_moderated": m.author == "openai",
            },
            "per_request_limits": None,
            "supported_parameters": params,
            "default_parameters": None,
            "links": {"details": f"/api/v1/models/{m.id}/endpoints"},
            "supported_voices": None,
        }
        return out

    def models(self, catalog: Catalog, scenario_ids: list[str]) -> bytes:
        data = self._model_objects(catalog, scenario_ids)
        # The 2026 spec's required paging fields (@openrouter/sdk rejects a list without them).
        return dumps({"data": data, "links": {"next": None}, "total_count": len(data)})

    def rate_limit_error(
        self, limit: int, window_s: float, name: str | None, retry_after: int, reset: float
    ) -> HttpError:
        """OpenRouter's own 429: the only response with X-RateLimit-* (reset in unix ms),
        also echoed in ``metadata.headers``."""
        headers = {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(int(reset * 1000)),
        }
        error = super().rate_limit_error(limit, window_s, name, retry_after, reset)
        return replace(error, metadata={"headers": headers, "provider_name": None}, headers=headers)

    def insufficient_credits(self, requested: int | None, affordable: int | None) -> HttpError:
        error = super().insufficient_credits(requested, affordable)
        if requested is None:
            return error
        return replace(
            error,
            message=f"{error.message} To increase, visit https://openrouter.ai/settings/credits and add more credits",
            metadata={"provider_name": None},
        )

    def model_endpoints(self, m: CatalogModel) -> bytes:
        obj = self.model_object(m)
        latency = {"p50": 250, "p75": 400, "p90": 600, "p99": 1200}
        throughput = {"p50": 80, "p75": 60, "p90": 45, "p99": 20}
        tools = "tool_use" in m.capabilities and "tool_choice" in obj["supported_parameters"]
        endpoint = {
            "name": f"{m.provider} | {m.id}",
            "model_id": m.id,
            "model_name": m.name,
            "context_length": m.context_length,
            "pricing": obj["pricing"],
            "provider_name": m.provider,
            "tag": "-".join(m.provider.lower().split()),
            "quantization": "unknown",
            "max_completion_tokens": m.max_completion_tokens or None,
            "max_prompt_tokens": None,
            "supported_parameters": obj["supported_parameters"],
            "status": 0,
            "uptime_last_5m": 100,
            "uptime_last_30m": 100,
            "uptime_last_1d": 100,
            "latency_last_30m": latency,
            "throughput_last_30m": throughput,
            "supports_implicit_caching": False,
            # Which `tool_choice` values work: every one for a model with tool use, none otherwise.
            "supports_tool_choice": dict.fromkeys(("auto", "none", "required", "function"), tools),
            "native_tools": {},  # no provider-native server tools (web search...) are modelled
            "service_tier": None,  # a standard endpoint
            "supports_diarization": False,  # no speech-to-text endpoints
        }
        data = {
            "id": m.id,
            "name": m.name,
            "created": m.created,
            "description": m.description,
            "architecture": obj["architecture"],
            "endpoints": [endpoint],
        }
        return dumps({"data": data})

    def keys_body(self, keys: list[dict[str, Any]] | dict[str, Any], raw_key: str | None = None) -> bytes:
        body: dict[str, Any] = {"data": keys}
        if raw_key is not None:
            body["key"] = raw_key
        return dumps(body)

    def key_deleted(self) -> bytes:
        return dumps({"deleted": True})

    def key_object(self, spec: KeySpec, usage: float, last_used_at: str | None = None) -> dict[str, Any]:
        """One key of the keys API (``GET/POST /keys``, ``/keys/{hash}``); ``last_used_at``:
        when the key's newest journaled generation started (None: none yet)."""
        usage = round(usage, 12)
        return {
            "hash": spec.hash,
            "name": spec.name,
            "label": spec.masked,
            "disabled": spec.disabled,
            "limit": spec.credits,
            "limit_remaining": round(spec.credits - usage, 12) if spec.credits is not None else None,
            "limit_reset": spec.limit_reset,
            "include_byok_in_limit": spec.include_byok_in_limit,
            **usage_fields(usage),
            "created_at": spec.created_at,
            "updated_at": spec.updated_at,
            "last_used_at": last_used_at,
            "expires_at": spec.expires_at,
            "creator_user_id": user_id(spec.key),
            "external_user": None,
            "workspace_id": DEFAULT_WORKSPACE_ID,
        }


def _per_token(per_million: float) -> str:
    """USD per 1M tokens → OpenRouter's decimal string per token (no exponent)."""
    text = f"{per_million / 1e6:.12f}".rstrip("0").rstrip(".")
    return text or "0"


def _raw_upstream(status: int) -> str:
    reasons = {502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}
    return dumps({"error": {"message": reasons.get(status, "Upstream error"), "code": status}}).decode()


class OpenRouterChat(ChatEncoder):
    """OpenRouter's chat completions: ``reasoning`` and ``refusal`` always in the message,
    ``reasoning_details``, ``logprobs`` and ``native_finish_reason`` in the choice,
    ``system_fingerprint`` in the envelope, OpenRouter's usage details, usage always streamed."""

    usage_always = True
    dialect: OpenRouter

    def message(self, reply: Reply) -> dict[str, Any]:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": reply.content,
            "refusal": reply.refusal,
            "reasoning": reply.reasoning,
        }
        if reply.reasoning is not None:
            message["reasoning_details"] = [
                {"type": "reasoning.text", "text": reply.reasoning, "format": "unknown", "index": 0}
            ]
        if reply.tool_calls:
            message["tool_calls"] = self.tool_calls(reply)
        return message

    def choice(self, reply: Reply) -> dict[str, Any]:
        choice: dict[str, Any] = {
            "index": 0,
            "logprobs": None,
            "finish_reason": reply.finish_reason,
            "native_finish_reason": reply.native_finish_reason or reply.finish_reason,
            "message": self.message(reply),
        }
        error = self.fault_error(reply)
        if error is not None:
            choice["finish_reason"] = choice["native_finish_reason"] = "error"
            choice["error"] = self.dialect.error_object(error)
        return choice

    def envelope(self, reply: Reply, identity: Identity) -> dict[str, Any]:
        return {**super().envelope(reply, identity), "system_fingerprint": None}

    def usage(self, u: Usage) -> dict[str, Any]:
        out = u.counts()
        out["is_byok"] = False
        out["prompt_tokens_details"] = {
            "cached_tokens": 0,
            "cache_write_tokens": 0,
            "audio_tokens": 0,
            "video_tokens": 0,
        }
        out["cost_details"] = {
            "upstream_inference_cost": out["cost"],
            "upstream_inference_prompt_cost": round(u.prompt_cost, 12),
            "upstream_inference_completions_cost": round(u.completion_cost, 12),
        }
        out["completion_tokens_details"] = {
            "reasoning_tokens": u.reasoning_tokens,
            "image_tokens": 0,
            "audio_tokens": 0,
        }
        return out


class OpenRouterStream(ChatStream):
    """OpenRouter's chunks: ``role`` repeated in every content delta, ``native_finish_reason``
    on every choice, and a usage chunk that repeats the final choice (or has none)."""

    __slots__ = ("final_choice",)

    close = b',"finish_reason":null,"native_finish_reason":null}]}\n\n'
    encoder: OpenRouterChat

    def __init__(self, encoder: OpenRouterChat, reply: Reply, identity: Identity, usage: bool) -> None:
        super().__init__(encoder, reply, identity, usage)
        self.final_choice = b""

    def content_delta(self, text: bytes) -> bytes:
        return b'{"role":"assistant","content":' + text + b"}"

    def reasoning_delta(self, text: bytes) -> bytes:
        return (
            b'{"role":"assistant","content":"","reasoning":'
            + text
            + b',"reasoning_details":[{"type":"reasoning.text","text":'
            + text
            + b',"format":"unknown","index":0}]}'
        )

    def refusal_delta(self, text: bytes) -> bytes:
        return b'{"role":"assistant","content":"","refusal":' + text + b"}"

    def tool_delta(self, event: ToolCallFragment) -> dict[str, Any]:
        if event.id is None:
            return {"tool_calls": [{"index": event.index, "function": {"arguments": event.arguments}}]}
        return {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "index": event.index,
                    "id": event.id,
                    "type": "function",
                    "function": {"name": event.name, "arguments": event.arguments},
                }
            ],
        }

    def finish(self, reason: str) -> bytes:
        native = self.reply.native_finish_reason or reason
        self.final_choice = (
            b'{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":'
            + dumps(reason)
            + b',"native_finish_reason":'
            + dumps(native)
            + b"}"
        )
        return self.head + b',"choices":[' + self.final_choice + b"]}\n\n"

    def usage_chunk(self) -> bytes:
        choices = self.final_choice if self.encoder.dialect.usage_chunk == "repeat" else b""
        usage = dumps(self.encoder.usage(self.reply.usage))
        return self.head + b',"choices":[' + choices + b'],"usage":' + usage + b"}\n\n"

    def error_choice(self) -> bytes:
        return b'{"index":0,"delta":{"content":""},"finish_reason":"error","native_finish_reason":"error"}'


OpenRouterChat.stream_class = OpenRouterStream


class OpenRouterText(TextEncoder):
    """Legacy completions as OpenRouter sends them: the body says ``chat.completion`` on the
    wire (TS-SDK issue #101), choices carry ``native_finish_reason``, usage always streamed."""

    object = "chat.completion"
    chunk_object = "chat.completion.chunk"
    native_finish = True
    usage_always = True
