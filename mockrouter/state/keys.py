"""API keys with limits: the keys file (``--keys FILE``) and keys made through the keys API.

A :class:`Keyring` lives in ``app.state.keyring``; it is ``None`` when no keys file was given
and no key was created, so the hot path pays a single ``if`` for all of this. What a key has
*spent* (credits, the rate-limit window) is in its :class:`KeyState`, changed through ``State`` (``state.store``).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from ..core.documents import describe, documents, line_of
from ..core.reply import HttpError
from ..core.resources import schemas_dir
from ..errors import ConfigError, ScenarioError

if TYPE_CHECKING:
    import jsonschema

    from ..core.catalog import Catalog

#: How a dialect words the router's own 429: ``(limit, window_s, name, retry_after, reset)``.
RateLimitError = Callable[[int, float, str | None, int, float], HttpError]
#: A key's rate window (``Store.window``): ``(key, window_s, now, *, count, limit)`` → awaitable
#: (requests counted, window start, admitted).
RateWindow = Callable[..., Awaitable[tuple[int, float, bool]]]
#: How a dialect words a 402: ``(requested, affordable)``, both None for "no credit left".
CreditError = Callable[[int | None, int | None], HttpError]

#: OpenRouter's limit on ``:free`` models, given to ``free_tier`` keys without a rate limit.
FREE_TIER_REQUESTS = 20
FREE_TIER_WINDOW_S = 60.0


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def next_reset(interval: str | None, now: datetime | None = None) -> str | None:
    """When a ``limit_reset`` window next rolls over, as OpenRouter resets limits: the next UTC
    midnight (``daily``), Monday (``weekly``) or first of the month (``monthly``); None for
    no (or an unknown) interval. The mock itself never resets spend."""
    midnight = (now or datetime.now(UTC)).astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if interval == "daily":
        at = midnight + timedelta(days=1)
    elif interval == "weekly":
        at = midnight + timedelta(days=7 - midnight.weekday())
    elif interval == "monthly":
        at = midnight.replace(day=1, year=midnight.year + midnight.month // 12, month=midnight.month % 12 + 1)
    else:
        return None
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(slots=True)
class RateLimit:
    requests: int
    window_s: float
    #: Why the limit exists, for the 429's message (``free-models-per-min`` for free keys).
    name: str | None = None


@dataclass(slots=True)
class KeySpec:
    """What a key may do. Mutable: the keys API renames, disables and re-limits keys."""

    key: str
    label: str | None = None
    credits: float | None = None
    rate_limit: RateLimit | None = None
    free_tier: bool = False
    disabled: bool = False
    management: bool = False
    limit_reset: str | None = None
    include_byok_in_limit: bool = False
    expires_at: str | None = None
    created_at: str = field(default_factory=now_iso)
    updated_at: str | None = None
    hash: str = ""

    def __post_init__(self) -> None:
        self.hash = key_hash(self.key)
        if self.rate_limit is None and self.free_tier:
            self.rate_limit = RateLimit(FREE_TIER_REQUESTS, FREE_TIER_WINDOW_S, "free-models-per-min")

    @property
    def masked(self) -> str:
        return mask(self.key)

    @property
    def name(self) -> str:
        return self.label if self.label is not None else self.masked


@dataclass
class KeyState:
    """What one API key (or ``X-Mockrouter-Session``) has accumulated."""

    requests: int = 0
    window_start: float = 0.0
    window_count: int = 0
    #: USD charged to a key of the keyring (its ``usage.cost`` summed); credits left = limit - usage.
    usage: float = 0.0
    #: When (monotonic) its last request was counted (``State.next_request``, for ``--state-ttl``).
    seen: float = 0.0


def mask(key: str) -> str:
    """A key as OpenRouter shows it: ``sk-or-v1-abc...xyz``."""
    return f"{key[:12]}...{key[-3:]}" if len(key) > 18 else key[:3] + "..."


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class Keyring:
    """The keys the server knows, by raw key. ``enforce``: a keys file was given, so every
    other key is refused (401); otherwise only keys made through the keys API have limits."""

    def __init__(self, specs: list[KeySpec], *, enforce: bool) -> None:
        self.enforce = enforce
        self._initial = specs
        self.by_key: dict[str, KeySpec] = {}
        self.deleted: set[str] = set()
        self.restore()

    def restore(self) -> None:
        """Back to the keys file: created keys dropped, deleted and edited ones restored."""
        self.by_key = {s.key: replace(s) for s in self._initial}
        self.deleted = set()

    def get(self, key: str) -> KeySpec | None:
        return self.by_key.get(key)

    def find_hash(self, digest: str) -> KeySpec | None:
        return next((s for s in self.by_key.values() if s.hash == digest), None)

    def add(self, spec: KeySpec) -> None:
        self.by_key[spec.key] = spec
        self.deleted.discard(spec.key)

    def delete(self, spec: KeySpec) -> None:
        self.by_key.pop(spec.key, None)
        self.deleted.add(spec.key)

    async def admit(
        self, key: str, rate_window: RateWindow, rate_limited: RateLimitError, now: float
    ) -> tuple[KeySpec | None, HttpError | None, tuple[int, float] | None]:
        """The key's spec (None for an unlimited key) or why it is refused (401, 429, the
        latter worded by ``rate_limited``), and the key's rate window (requests counted, its
        start) when it has a limit; ``rate_window`` is the store's (``Store.window``).

        A request admitted under a rate limit is counted in the key's window here, in one
        atomic step, so concurrent requests (of any process sharing the store) cannot overshoot it."""
        spec = self.by_key.get(key)
        if spec is None:
            if key in self.deleted:
                return None, HttpError(401, "This API key was deleted."), None
            if self.enforce:
                return None, HttpError(401, "Invalid API key: it is not in the keys file."), None
            return None, None, None
        if spec.disabled:
            return spec, HttpError(401, "This API key is disabled."), None
        limit = spec.rate_limit
        if limit is not None:
            count, start, admitted = await rate_window(key, limit.window_s, now, limit=limit.requests)
            if not admitted:
                reset = start + limit.window_s
                retry = max(1, math.ceil(reset - now))
                return spec, rate_limited(limit.requests, limit.window_s, limit.name, retry, reset), (count, start)
            return spec, None, (count, start)
        return spec, None, None


def credit_need(body: dict[str, Any], model: str, catalog: Catalog) -> float:
    """What a request's ``max_tokens`` (or ``max_completion_tokens``) of ``model`` may cost, in USD
    (0 without either): a key that cannot afford it is refused before anything is generated."""
    for name in ("max_completion_tokens", "max_tokens"):
        requested = body.get(name)
        if type(requested) is int and requested > 0:
            return float(requested * catalog.prices(model)[1])
    return 0.0


def credit_error(
    spec: KeySpec, spent: float, body: dict[str, Any], model: str, catalog: Catalog, refuse: CreditError
) -> HttpError | None:
    """402 (worded by ``refuse``) when the key has no credit left, or cannot afford
    ``max_tokens`` of ``model``."""
    if spec.credits is None:
        return None
    remaining = spec.credits - spent
    if remaining <= 0:
        return refuse(None, None)
    for name in ("max_completion_tokens", "max_tokens"):
        requested = body.get(name)
        if type(requested) is int and requested > 0:
            price = catalog.prices(model)[1]
            if price > 0 and requested * price > remaining:
                return refuse(requested, int(remaining / price))
            break
    return None


# -- the keys file -------------------------------------------------------------------------


@cache
def _validator() -> jsonschema.Draft202012Validator:
    import jsonschema  # only with a keys file: a server without one never loads it (~4 MB)

    return jsonschema.Draft202012Validator(orjson.loads((schemas_dir() / "keys.schema.json").read_bytes()))


def load_keys(path: Path | str) -> Keyring:
    """Read a keys file; raise :class:`ConfigError` naming file, line and field of every problem."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: cannot read the keys file: {exc}") from None
    return parse_keys(text, file)


def parse_keys(text: str, file: str = "<keys>") -> Keyring:
    try:
        docs = [d for d in documents(text, file) if d[0] is not None]
    except ScenarioError as exc:
        raise ConfigError(str(exc)) from None
    if len(docs) != 1:
        raise ConfigError(f"{file}: a keys file holds one YAML document with a `keys` list")
    data, lines, doc_line = docs[0]
    from jsonschema.exceptions import best_match

    errors: list[ScenarioError] = []
    for error in _validator().iter_errors(data):
        if error.context:
            error = best_match(error.context)
        errors.append(describe(error, lines, doc_line, file))
    if not errors:
        seen: dict[str, int] = {}
        for i, item in enumerate(data["keys"]):
            line = line_of(lines, ("keys", i, "key"), doc_line)
            if item["key"] in seen:
                message = f"duplicate key (first listed at line {seen[item['key']]})"
                errors.append(ScenarioError(message, file=file, line=line, field=f"keys[{i}].key"))
            seen.setdefault(item["key"], line)
    if errors:
        errors.sort(key=lambda e: (e.line or 0, e.field or ""))
        raise ConfigError("invalid keys file:\n" + "\n".join(str(e) for e in errors))
    specs = []
    for item in data["keys"]:
        limit = item.get("rate_limit")
        specs.append(
            KeySpec(
                key=item["key"],
                label=item.get("label"),
                credits=float(item["credits"]) if "credits" in item else None,
                rate_limit=RateLimit(int(limit["requests"]), float(limit["window_s"])) if limit else None,
                free_tier=bool(item.get("free_tier", False)),
                disabled=bool(item.get("disabled", False)),
                management=bool(item.get("management", False)),
            )
        )
    return Keyring(specs, enforce=True)
