"""What a dialect is: the code that turns engine output into a router's bytes.

A dialect owns everything wire-specific: response ids, envelopes, headers, SSE framing,
deltas, the usage chunk and the error format. The engine hands it a :class:`Reply` or an
:class:`HttpError` and never looks at the bytes. To add a dialect, subclass
:class:`Dialect`, implement the abstract methods, and register it in ``dialects/__init__.py``.
"""

from __future__ import annotations

import random
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from ..catalog import Catalog, CatalogModel
from ..reply import Event, HttpError, Reply, Usage

JSON = b"application/json"
SSE = b"text/event-stream"
DONE = b"data: [DONE]\n\n"

dumps = orjson.dumps

if TYPE_CHECKING:
    from ..config import Config


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
