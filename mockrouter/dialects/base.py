"""What a dialect is: the code that turns engine output into a router's bytes.

A dialect owns everything wire-specific: response ids, envelopes, headers, SSE framing,
deltas, the usage chunk and the error format. The engine hands it a :class:`Reply` or an
:class:`HttpError` and never looks at the bytes. To add a dialect, subclass
:class:`Dialect`, implement the abstract methods, and register it in ``dialects/__init__.py``.
"""

from __future__ import annotations

import hashlib
import random
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from ..catalog import Catalog, CatalogModel
from ..journal import iso_time
from ..keys import mask, next_reset
from ..reply import ContentPiece, Event, Finish, HttpError, Reply, Usage, UsageReport

JSON = b"application/json"
SSE = b"text/event-stream"
DONE = b"data: [DONE]\n\n"

dumps = orjson.dumps

#: The workspace every key spends in (OpenRouter's default workspace; the mock has one).
DEFAULT_WORKSPACE_ID = "00000000-0000-4000-8000-000000000000"
#: OpenRouter's daily quota of ``:free`` model requests: 50 for an account that never bought
#: credits (a ``free_tier`` key), 1000 once it has.
FREE_MODEL_DAILY_LIMIT = 50
FREE_MODEL_DAILY_LIMIT_PAID = 1000

if TYPE_CHECKING:
    from ..config import Config
    from ..keys import KeySpec


@dataclass(slots=True)
class Identity:
    """The id and ``created`` second of one response."""

    id: str
    created: int


@dataclass(slots=True)
class RateInfo:
    """The rate-limit window of the calling key, for dialects that report it."""

    limit: int
    remaining: int
    reset: int  # unix seconds


class StreamEncoder(ABC):
    """Turns the events of one reply into SSE ``data:`` events (bytes), one call per event."""

    @abstractmethod
    def encode(self, event: Event) -> bytes | None:
        """The bytes of one event, or None when this dialect sends nothing for it."""

    @abstractmethod
    def error_chunk(self, error: HttpError) -> bytes:
        """The in-band error event that ends a stream after its first byte."""

    keepalive: bytes = b": keep-alive\n\n"


class Dialect(ABC):
    """A router dialect. Instances are stateless and shared by all requests."""

    name: str
    #: Whether a chat request must name a model (AnyRouter documents ``model`` as required).
    requires_model: bool = False

    @classmethod
    def from_config(cls, config: Config) -> Dialect:
        """The instance a server with ``config`` uses (override to read dialect settings)."""
        return cls()

    # -- identity and headers ---------------------------------------------------------------

    @abstractmethod
    def identity(self, rng: random.Random, created: int) -> Identity:
        """A fresh response id (drawn from ``rng`` so a seeded server repeats it)."""

    @abstractmethod
    def headers(
        self, identity: Identity | None, rate: RateInfo | None, *, error: bool = False
    ) -> list[tuple[bytes, bytes]]:
        """Extra response headers (ids, rate limits) besides content type and length."""

    # -- bodies ----------------------------------------------------------------------------

    @abstractmethod
    def completion(self, reply: Reply, identity: Identity) -> bytes:
        """A non-streaming chat completion body."""

    def usage(self, usage: Usage) -> dict[str, Any]:
        """The ``usage`` object of a completion body (and of a stream's usage chunk); compiled
        answers encode it per request. Override to add the dialect's detail fields."""
        return self.usage_counts(usage)

    @abstractmethod
    def stream(self, reply: Reply, identity: Identity, body: dict[str, Any]) -> StreamEncoder:
        """An encoder for this reply's stream; ``body`` tells whether usage was asked for."""

    @abstractmethod
    def error(self, error: HttpError, *, key: str | None = None) -> bytes:
        """An error body in this dialect's envelope for a caller with API ``key`` (if known).

        Raw ``error.body`` bodies never reach the dialect; the app sends them as they are."""

    @abstractmethod
    def models(self, catalog: Catalog, scenario_ids: list[str]) -> bytes:
        """The ``GET /models`` body: the catalog plus one entry per scenario id."""

    # -- the rest of the router surface -------------------------------------------------------
    # Shapes both routers share (OpenRouter's, which AnyRouter mirrors where its docs are
    # silent) are implemented here; a dialect overrides what differs.

    #: Route names (``router_api.ROUTES``) this dialect serves; others answer 404.
    endpoints: frozenset[str] = frozenset()
    #: A request header that pins the provider the response claims (lower case), if any.
    provider_header: str | None = None
    #: ``object`` of a legacy ``/completions`` body and of its stream chunks.
    text_object: str = "text_completion"
    text_chunk_object: str = "text_completion"
    #: Whether choices carry ``native_finish_reason`` and streams always end with usage.
    native_finish: bool = False
    usage_always: bool = False

    def rate_limit_error(
        self, limit: int, window_s: float, name: str | None, retry_after: int, reset: float
    ) -> HttpError:
        """The router's own 429 for a key over its rate limit (``reset``: unix seconds)."""
        return HttpError(
            429,
            f"Rate limit exceeded: {name or f'{limit} requests per {window_s:g}s'}.",
            retry_after=str(retry_after),
        )

    def insufficient_credits(self, requested: int | None, affordable: int | None) -> HttpError:
        """402: no credit left, or (with ``requested``) not enough for ``max_tokens``."""
        if requested is None:
            return HttpError(402)
        return HttpError(
            402,
            "This request requires more credits, or fewer max_tokens. "
            f"You requested up to {requested} tokens, but can only afford {affordable}.",
        )

    def key_info(self, key: str, spec: KeySpec | None, usage: float, free_used: int = 0) -> bytes:
        """``GET /key`` (``/auth/key``): the calling key, OpenRouter's fields in ``{data}``;
        ``free_used``: the key's requests to ``:free`` models (the mock has no calendar day)."""
        limit = spec.credits if spec is not None else None
        rate = spec.rate_limit if spec is not None else None
        usage = round(usage, 12)
        free_tier = spec.free_tier if spec is not None else False
        free_limit = FREE_MODEL_DAILY_LIMIT if free_tier else FREE_MODEL_DAILY_LIMIT_PAID
        budgets = key_budgets(spec, usage)
        return dumps(
            {
                "data": {
                    "label": spec.name if spec is not None else mask(key),
                    "limit": limit,
                    "limit_reset": spec.limit_reset if spec is not None else None,
                    "limit_remaining": round(limit - usage, 12) if limit is not None else None,
                    "include_byok_in_limit": spec.include_byok_in_limit if spec is not None else False,
                    **usage_fields(usage),
                    "is_free_tier": free_tier,
                    "is_management_key": spec.management if spec is not None else False,
                    "is_provisioning_key": spec.management if spec is not None else False,
                    "creator_user_id": user_id(key),
                    "expires_at": spec.expires_at if spec is not None else None,
                    "rate_limit": {
                        "requests": rate.requests if rate is not None else -1,
                        "interval": f"{rate.window_s:g}s" if rate is not None else "1h",
                        "note": "This field is deprecated and safe to ignore.",
                    },
                    "allowed_data_regions": ["global"],
                    "free_model_daily_requests": {
                        "limit": free_limit,
                        "remaining": max(free_limit - free_used, 0),
                        "used": free_used,
                    },
                    "organization_id": None,
                    "workspace_id": DEFAULT_WORKSPACE_ID,
                    "budgets": budgets,
                    "effective_budget": effective_budget(budgets),
                }
            }
        )

    def credits(self, total_credits: float, total_usage: float) -> bytes:
        """``GET /credits``."""
        return dumps({"data": {"total_credits": round(total_credits, 12), "total_usage": round(total_usage, 12)}})

    def generation(self, entry: dict[str, Any]) -> bytes:
        """``GET /generation``: stats of one generation, from its journal entry."""
        usage = entry.get("usage") or {}
        cost = usage.get("cost", 0)
        latency = entry.get("ttft_ms")
        if latency is None:
            latency = entry.get("duration_ms")
        headers = entry.get("headers") or {}
        finish = entry.get("finish_reason")
        return dumps(
            {
                "data": {
                    "id": entry["generation_id"],
                    "upstream_id": None,
                    "total_cost": cost,
                    "cache_discount": None,
                    "upstream_inference_cost": cost,
                    "created_at": iso_time(entry["ts"]),
                    "model": entry.get("model"),
                    "app_id": None,
                    "streamed": bool(entry.get("stream")),
                    "cancelled": bool(entry.get("client_disconnected")),
                    "provider_name": entry.get("provider"),
                    "latency": round(latency) if latency is not None else None,
                    "moderation_latency": None,
                    "generation_time": round(entry.get("duration_ms") or 0),
                    "finish_reason": finish,
                    "native_finish_reason": entry.get("native_finish_reason") or finish,
                    "tokens_prompt": usage.get("prompt_tokens"),
                    "tokens_completion": usage.get("completion_tokens"),
                    "native_tokens_prompt": usage.get("prompt_tokens"),
                    "native_tokens_completion": usage.get("completion_tokens"),
                    "native_tokens_reasoning": usage.get("reasoning_tokens", 0),
                    "native_tokens_cached": 0,
                    "native_tokens_completion_images": 0,
                    "num_media_prompt": None,
                    "num_media_completion": None,
                    "num_input_audio_prompt": None,
                    "num_search_results": None,
                    "num_fetches": None,
                    "origin": headers.get("http-referer", ""),
                    "usage": cost,
                    "is_byok": False,
                    "api_type": entry.get("api_type", "completions"),
                    "router": None,
                    "service_tier": None,
                    "external_user": None,
                    "http_referer": headers.get("http-referer"),
                    "user_agent": headers.get("user-agent"),
                    "preset_id": None,
                    "web_search_engine": None,
                    "workspace_id": None,
                    "data_region": "global",  # the key's only allowed data region (GET /key)
                    "provider_responses": [
                        {
                            "provider_name": entry.get("provider"),
                            "status": entry.get("status"),
                            "latency": round(latency) if latency is not None else None,
                        }
                    ],
                }
            }
        )

    def providers(self, names: list[str]) -> bytes:
        """``GET /providers``: every provider the catalog names."""
        return dumps(
            {
                "data": [
                    {
                        "name": name,
                        "slug": provider_slug(name),
                        "privacy_policy_url": None,
                        "terms_of_service_url": None,
                        "status_page_url": None,
                    }
                    for name in names
                ]
            }
        )

    def models_count(self, count: int) -> bytes:
        """``GET /models/count`` (OpenRouter's shape in both dialects)."""
        return dumps({"data": {"count": count}})

    def model(self, m: CatalogModel) -> bytes:
        """``GET /models/{id}`` where a dialect serves it: the model object itself."""
        return dumps(self.model_object(m))

    def model_object(self, m: CatalogModel) -> dict[str, Any]:
        raise NotImplementedError

    def model_endpoints(self, m: CatalogModel) -> bytes:
        """``GET /models/{author}/{slug}/endpoints`` where a dialect serves it."""
        raise NotImplementedError

    def key_object(self, spec: KeySpec, usage: float, last_used_at: str | None = None) -> dict[str, Any]:
        """One key of the keys API, where a dialect serves it."""
        raise NotImplementedError

    def keys_body(self, keys: list[dict[str, Any]] | dict[str, Any], raw_key: str | None = None) -> bytes:
        """The keys API's ``{data}`` (a list, or one key; ``raw_key`` once, on creation)."""
        raise NotImplementedError

    def key_deleted(self) -> bytes:
        raise NotImplementedError

    def health(self, names: list[str]) -> bytes:
        """``GET /health`` where a dialect serves it: gateway and provider status."""
        return dumps(
            {
                "status": "ok",
                "providers": [{"name": n, "slug": provider_slug(n), "status": "ok"} for n in names],
            }
        )

    def embeddings(
        self, identity: Identity, model: str, provider: str, vectors: list[Any], prompt_tokens: int, cost: float
    ) -> bytes:
        """``POST /embeddings`` (OpenAI's list shape); a vector is floats or a base64 string."""
        return dumps(
            {
                "id": identity.id,
                "object": "list",
                "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)],
                "model": model,
                "provider": provider,
                "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens, "cost": cost},
            }
        )

    def text_choice(self, reply: Reply, text: str | None, finish: str | None) -> dict[str, Any]:
        choice: dict[str, Any] = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish}
        if self.native_finish:
            choice["native_finish_reason"] = (reply.native_finish_reason or finish) if finish else None
        return choice

    def text_completion(self, reply: Reply, identity: Identity) -> bytes:
        """A legacy ``/completions`` body: the reply's content as ``choices[0].text``."""
        return dumps(
            {
                "id": identity.id,
                "object": self.text_object,
                "created": identity.created,
                "model": reply.model,
                "provider": reply.provider,
                "system_fingerprint": None,
                "choices": [self.text_choice(reply, reply.content or "", reply.finish_reason)],
                "usage": self.usage_counts(reply.usage),
            }
        )

    def text_stream(self, reply: Reply, identity: Identity, body: dict[str, Any]) -> StreamEncoder:
        """An encoder for a streamed legacy ``/completions`` answer."""
        return TextStream(
            self, reply, identity, wants_usage(reply.usage_mode, body, always_by_default=self.usage_always)
        )

    # -- helpers shared by dialects --------------------------------------------------------

    @staticmethod
    def now() -> int:
        return int(time.time())

    @staticmethod
    def usage_counts(usage: Usage) -> dict[str, Any]:
        """prompt/completion/total tokens and cost, with a scenario's overrides applied."""
        prompt = usage.prompt_tokens
        completion = usage.completion_tokens
        out: dict[str, Any] = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "cost": usage.cost,
        }
        overrides = usage.overrides
        if overrides:
            for k in ("prompt_tokens", "completion_tokens", "cost"):
                if k in overrides:
                    out[k] = overrides[k]
            out["total_tokens"] = overrides.get("total_tokens", out["prompt_tokens"] + out["completion_tokens"])
        return out

    @staticmethod
    def scenario_model(model_id: str) -> CatalogModel:
        """A catalog entry for a ``mockrouter/NAME`` id (free, huge context, every capability)."""
        return CatalogModel(
            id=model_id,
            name=f"mockrouter: {model_id.split('/', 1)[1]}",
            provider="Mockrouter",
            created=1767225600,
            context_length=1_000_000,
            max_completion_tokens=100_000,
            prompt_per_m=0.0,
            completion_per_m=0.0,
            capabilities=("chat", "tool_use", "vision", "reasoning", "json_mode"),
            input_modalities=("text", "image", "file"),
            tokenizer="Other",
            reasoning=True,
            description="A mockrouter scenario, selectable as a model.",
        )


def key_budgets(spec: KeySpec | None, usage: float) -> list[dict[str, Any]]:
    """OpenRouter's budget layers of a key (``GET /key``'s ``budgets``). The mock has no
    guardrails or workspace budgets: only the key's own limit (``key_limit``), if it has one."""
    if spec is None or spec.credits is None:
        return []
    interval = spec.limit_reset if spec.limit_reset in ("daily", "weekly", "monthly") else None
    return [
        {
            "scope": "key_limit",
            "budget_id": None,
            "guardrail_id": None,
            "include_byok": spec.include_byok_in_limit,
            "limit_usd": spec.credits,
            "spend_usd": usage,
            "remaining_usd": round(spec.credits - usage, 12),
            "reset_interval": interval,
            "resets_at": next_reset(interval),
        }
    ]


def effective_budget(budgets: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The budget that blocks first: the first one already spent, else the one with the least left."""
    spent = [b for b in budgets if b["remaining_usd"] <= 0]
    if spent:
        return spent[0]
    return min(budgets, key=lambda b: b["remaining_usd"], default=None)


def usage_fields(usage: float) -> dict[str, float]:
    """OpenRouter's spend fields of a key (no periods or BYOK are modelled: all are the total)."""
    return {
        "usage": usage,
        "usage_daily": usage,
        "usage_weekly": usage,
        "usage_monthly": usage,
        "byok_usage": 0,
        "byok_usage_daily": 0,
        "byok_usage_weekly": 0,
        "byok_usage_monthly": 0,
    }


def wants_usage(mode: str, body: dict[str, Any], *, always_by_default: bool) -> bool:
    """Whether a stream ends with a usage chunk: the step's setting, else the dialect default."""
    if mode == "always":
        return True
    if mode == "never":
        return False
    if always_by_default:
        return True
    options = body.get("stream_options")
    usage = body.get("usage")
    return bool(
        (isinstance(options, dict) and options.get("include_usage") is True)
        or (isinstance(usage, dict) and usage.get("include") is True)
    )


def user_id(key: str) -> str:
    """A stable user id for a key (OpenRouter's ``user_id`` / ``creator_user_id``)."""
    return "user_" + hashlib.sha256(key.encode()).hexdigest()[:27]


def provider_slug(name: str) -> str:
    """``"Google AI Studio"`` → ``google-ai-studio``."""
    return "-".join(name.lower().split())


class TextStream(StreamEncoder):
    """A streamed legacy ``/completions`` answer: content pieces as ``choices[0].text``."""

    def __init__(self, dialect: Dialect, reply: Reply, identity: Identity, usage: bool) -> None:
        self.dialect = dialect
        self.reply = reply
        self.send_usage = usage
        self.keepalive = dialect.stream(reply, identity, {}).keepalive
        self.base = {
            "id": identity.id,
            "object": dialect.text_chunk_object,
            "created": identity.created,
            "model": reply.model,
            "provider": reply.provider,
        }

    def _chunk(self, choices: list[dict[str, Any]], **extra: Any) -> bytes:
        return b"data: " + dumps({**self.base, "choices": choices, **extra}) + b"\n\n"

    def encode(self, event: Event) -> bytes | None:
        if type(event) is ContentPiece:
            return self._chunk([self.dialect.text_choice(self.reply, event.text, None)])
        if type(event) is Finish:
            return self._chunk([self.dialect.text_choice(self.reply, "", event.reason)])
        if type(event) is UsageReport and self.send_usage:
            return self._chunk([], usage=self.dialect.usage_counts(self.reply.usage))
        return None  # the role, reasoning, refusal and tool calls have no place in a text completion

    def error_chunk(self, error: HttpError) -> bytes:
        choice = {**self.dialect.text_choice(self.reply, "", "error")}
        return (
            b"data: " + dumps({**self.base, "error": _error_object(self.dialect, error), "choices": [choice]}) + b"\n\n"
        )


def _error_object(dialect: Dialect, error: HttpError) -> Any:
    return orjson.loads(dialect.error(error))["error"]
