"""What a dialect is: the code that turns engine output into a router's bytes.

A dialect owns everything wire-specific: response ids, envelopes, headers, the error format,
the catalog's shapes, and one :class:`Encoder` per API surface (``chat``: chat completions,
``text``: legacy completions) that writes a :class:`~mockrouter.core.reply.Reply` as a JSON
body or as SSE events. The engine hands a dialect a ``Reply`` or an ``HttpError`` and never
looks at the bytes.

To add a dialect, subclass :class:`Dialect` (or an existing dialect), implement the
abstract methods, give it its encoders, and register it in ``dialects/__init__.py``.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import orjson

from ...core.catalog import Catalog, CatalogModel
from ...core.reply import Event, HttpError, Reply
from . import account

if TYPE_CHECKING:
    from ...core.config import Config
    from ...state.keys import KeySpec

__all__ = [
    "DONE",
    "JSON",
    "SSE",
    "Dialect",
    "Encoder",
    "Identity",
    "RateInfo",
    "StreamEncoder",
    "dumps",
    "wants_usage",
]

JSON = b"application/json"
SSE = b"text/event-stream"
DONE = b"data: [DONE]\n\n"

dumps = orjson.dumps


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
    """Turns the events of one reply into SSE events (bytes), one call per event. Made per
    streamed reply, so it may keep state (open blocks, sequence numbers)."""

    __slots__ = ()  # a subclass may slot its state: one is held by every open stream

    @abstractmethod
    def encode(self, event: Event) -> bytes | None:
        """The bytes of one event (one or more SSE events: the writer counts them as one
        chunk), or None when this surface sends nothing for it."""

    @abstractmethod
    def error_chunk(self, error: HttpError) -> bytes:
        """The in-band error event that ends a stream after its first byte."""

    #: What keep-alives (and a stall's keep-alives) send.
    keepalive: bytes = b": keep-alive\n\n"
    #: What ends a complete stream (nothing, on surfaces whose last event says it is the last).
    done: bytes = DONE
    #: What a ``malformed`` fault sends: one event a client parses as JSON, and cannot.
    malformed: bytes = b'data: {"id": this is not JSON\n\n'


class Encoder(ABC):
    """One API surface in one dialect: a reply as a JSON body, or as a stream, and the
    surface's errors. ``request`` is always the body as the client sent it (the surface's
    own shape)."""

    #: The surface's name (``chat``, ``text``, ``messages``, ``responses``): what the journal
    #: and ``check`` call it.
    surface: ClassVar[str]
    #: Whether an ``error`` fault on a non-streaming answer is sent as an HTTP error (the
    #: fault's status, :meth:`error`'s body) rather than inside a 200 body.
    fault_as_status: ClassVar[bool] = False
    dialect: Dialect

    def identity(self, rng: random.Random, created: int) -> Identity:
        """A fresh response id on this surface (the dialect's, unless the surface has its own)."""
        return self.dialect.identity(rng, created)

    def headers(self, identity: Identity) -> list[tuple[bytes, bytes]]:
        """Response headers this surface adds to a successful answer (besides the dialect's)."""
        return []

    @abstractmethod
    def body(self, reply: Reply, identity: Identity, request: dict[str, Any]) -> bytes:
        """The non-streaming response body."""

    @abstractmethod
    def stream(self, reply: Reply, identity: Identity, request: dict[str, Any]) -> StreamEncoder:
        """An encoder for this reply's stream (``request`` tells, say, whether usage was asked for)."""

    def error(self, error: HttpError, *, key: str | None = None) -> bytes:
        """An HTTP error body on this surface: the dialect's envelope, unless the surface has its own."""
        return self.dialect.error(error, key=key)

    def error_headers(self, error: HttpError, *, key: str | None = None) -> list[tuple[bytes, bytes]]:
        """Response headers this surface adds to an HTTP error (besides the dialect's)."""
        return []


class Dialect(ABC):
    """A router dialect. Instances are stateless and shared by all requests."""

    name: str
    #: The family of response schemas this dialect's bodies follow (``chat-response.<family>``
    #: in ``schemas/``): its own name, or that of the dialect it extends (a subclass inherits it).
    schema_family: str
    #: Whether a chat request must name a model (AnyRouter documents ``model`` as required).
    requires_model: bool = False
    #: Route names (``router_api.ROUTES``) this dialect serves; others answer 404.
    endpoints: frozenset[str] = frozenset()
    #: A request header that pins the provider the response claims (lower case), if any.
    provider_header: str | None = None
    #: The comment line a stream sends to keep the connection alive.
    keepalive: bytes = b": keep-alive\n\n"

    def __init__(self, *, precompile: bool = True) -> None:
        #: Whether encoders answer static replies from compiled bytes (``Config.compile_answers``).
        self.precompile = precompile
        #: The encoder of each surface this dialect serves, by surface name.
        self.encoders: dict[str, Encoder] = self.make_encoders()

    @classmethod
    def from_config(cls, config: Config) -> Dialect:
        """The instance a server with ``config`` uses (override to read dialect settings)."""
        return cls(precompile=config.compile_answers)

    @abstractmethod
    def make_encoders(self) -> dict[str, Encoder]:
        """This dialect's encoders, by surface name (called once, by ``__init__``)."""

    # -- identity, headers, errors ------------------------------------------------------------

    @abstractmethod
    def identity(self, rng: random.Random, created: int) -> Identity:
        """A fresh response id (drawn from ``rng`` so a seeded server repeats it)."""

    @abstractmethod
    def headers(
        self, identity: Identity | None, rate: RateInfo | None, *, error: bool = False
    ) -> list[tuple[bytes, bytes]]:
        """Extra response headers (ids, rate limits) besides content type and length."""

    @abstractmethod
    def error_object(self, error: HttpError) -> dict[str, Any]:
        """The ``error`` object of this dialect's error envelope (also sent in-band)."""

    def error(self, error: HttpError, *, key: str | None = None) -> bytes:
        """An error body in this dialect's envelope for a caller with API ``key`` (if known).

        Raw ``error.body`` bodies never reach the dialect; the app sends them as they are."""
        return dumps({"error": self.error_object(error)})

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

    # -- the catalog ----------------------------------------------------------------------------

    @abstractmethod
    def model_object(self, m: CatalogModel) -> dict[str, Any]:
        """One model as this dialect's ``GET /models`` lists it."""

    def models(self, catalog: Catalog, scenario_ids: list[str]) -> bytes:
        """The ``GET /models`` body: the catalog plus one entry per scenario id."""
        return dumps({"data": self._model_objects(catalog, scenario_ids)})

    def _model_objects(self, catalog: Catalog, scenario_ids: list[str]) -> list[dict[str, Any]]:
        data = [self.model_object(m) for m in catalog.models.values()]
        data += [self.model_object(scenario_model(i)) for i in scenario_ids]
        return data

    def models_count(self, count: int) -> bytes:
        """``GET /models/count`` (OpenRouter's shape in both dialects)."""
        return dumps({"data": {"count": count}})

    def model(self, m: CatalogModel) -> bytes:
        """``GET /models/{id}`` where a dialect serves it: the model object itself."""
        return dumps(self.model_object(m))

    def model_endpoints(self, m: CatalogModel) -> bytes:
        """``GET /models/{author}/{slug}/endpoints`` where a dialect serves it."""
        raise NotImplementedError

    def providers(self, names: list[str]) -> bytes:
        """``GET /providers``: every provider the catalog names."""
        return dumps({"data": [account.provider_object(name) for name in names]})

    def health(self, names: list[str]) -> bytes:
        """``GET /health`` where a dialect serves it: gateway and provider status."""
        return dumps(
            {
                "status": "ok",
                "providers": [{"name": n, "slug": account.provider_slug(n), "status": "ok"} for n in names],
            }
        )

    # -- the account and generation stats (OpenRouter's shapes, which AnyRouter mirrors) ---------

    def key_info(self, key: str, spec: KeySpec | None, usage: float, free_used: int = 0) -> bytes:
        """``GET /key`` (``/auth/key``): the calling key."""
        return dumps({"data": account.key_info(key, spec, usage, free_used)})

    def credits(self, total_credits: float, total_usage: float) -> bytes:
        """``GET /credits``."""
        return dumps({"data": {"total_credits": round(total_credits, 12), "total_usage": round(total_usage, 12)}})

    def generation(self, entry: dict[str, Any]) -> bytes:
        """``GET /generation``: stats of one generation, from its journal entry."""
        return dumps({"data": account.generation(entry)})

    def key_object(self, spec: KeySpec, usage: float, last_used_at: str | None = None) -> dict[str, Any]:
        """One key of the keys API, where a dialect serves it."""
        raise NotImplementedError

    def keys_body(self, keys: list[dict[str, Any]] | dict[str, Any], raw_key: str | None = None) -> bytes:
        """The keys API's ``{data}`` (a list, or one key; ``raw_key`` once, on creation)."""
        raise NotImplementedError

    def key_deleted(self) -> bytes:
        raise NotImplementedError

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
