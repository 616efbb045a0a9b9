"""What every handler works with: the app's long-lived parts (:class:`Runtime`) and the facts
of one request (:class:`RequestContext`).

Handlers (``chat``, ``router_api``, ``admin``) take a ``Runtime`` and a ``RequestContext``;
the ASGI app (``app.MockrouterApp``) is a ``Runtime`` that also routes. So handlers never
import the app, and the app imports the handlers: no cycle.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from ..core.catalog import SCENARIO_MODEL_PREFIX, Catalog
from ..core.config import Config
from ..core.reply import HttpError
from ..core.schemas import SchemaRegistry
from ..errors import ConfigError, RequestError, StoreUnavailable
from ..scenario.engine import DEFAULT_SCENARIO, Engine
from ..scenario.loader import collect_json, collect_text, load_builtin, load_path
from ..scenario.model import Scenario
from ..state import make_store
from ..state.journal import Journal, JournalEntry
from ..state.keys import KeySpec, load_keys
from ..state.store import State
from ..wire.asgi import Headers, Send, send_response
from ..wire.coalesce import CloseWatch
from ..wire.dialects import DIALECTS
from ..wire.dialects.base import JSON, Dialect, RateInfo
from ..wire.pacer import Pacer

if TYPE_CHECKING:
    from .proxy import Upstream

__all__ = ["Handler", "RequestContext", "Runtime", "load_scenarios", "parse_bearer"]

#: Requests per window the anyrouter dialect reports in X-RateLimit-* (no keys file).
DEFAULT_RATE_LIMIT = 600
#: The ``file`` that errors in a POSTed scenario body name.
SCENARIO_BODY = "<POST /__mockrouter/scenarios>"
RATE_WINDOW_S = 60


@dataclass(slots=True)
class RequestContext:
    """Per-request facts every handler needs, and the request's journal entry."""

    method: str
    path: str
    #: By lower-case name; emptied once an engine request's answer is prepared (its sending
    #: needs none, and a paced stream is held open for seconds).
    headers: dict[str, str]
    dialect: Dialect
    key: str | None
    entry: JournalEntry
    client: str = ""
    started: float = field(default_factory=time.perf_counter)
    #: The key's entry in the keyring, once admitted (None: no keyring, or an unlimited key).
    account: KeySpec | None = None
    #: The API surface of an engine route (``chat``, ``messages``...): its errors are that
    #: surface's; None elsewhere (the dialect's envelope).
    surface: str | None = None
    #: The rate window this request was counted in (``Runtime.rate_info``), once it was.
    rate: RateInfo | None = None
    #: How to learn that the connection is lost, when the server says (``wire.coalesce``).
    close_watch: CloseWatch | None = None


Handler = Callable[["Runtime", Request, RequestContext], Awaitable[Response]]


def parse_bearer(headers: dict[str, str]) -> str | None:
    value = headers.get("authorization")
    if value is None:
        return None
    if value[:7] == "Bearer ":  # the usual form, without the general parse below
        return value[7:].strip() or None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def load_scenarios(config: Config) -> list[Scenario]:
    """Built-ins first (unless ``--no-builtin``, which keeps only the default ``echo``), then
    the user's files in the order given. A user scenario replaces a built-in of the same name."""
    scenarios = load_builtin() if config.builtin else load_builtin(DEFAULT_SCENARIO)
    for path in config.scenarios:
        scenarios.extend(load_path(path))
    if config.cassette is not None and config.cassette.is_dir() and config.cassette not in config.scenarios:
        scenarios.extend(load_path(config.cassette))  # what was recorded before replays
    return scenarios


class Runtime:
    """The parts of a running mockrouter that live as long as the app: settings, catalog,
    schemas, dialects, the scenario engine and the state. All mutable state is in ``state``."""

    def __init__(self, config: Config | None = None, scenarios: list[Scenario] | None = None) -> None:
        self.config = config or Config()
        if self.config.dialect not in DIALECTS:
            raise ConfigError(f"unknown dialect {self.config.dialect!r}; choose one of {', '.join(DIALECTS)}")
        self.catalog = Catalog.load()
        #: Each schema compiled when first used (about 1 ms): a server keeps only the request
        #: schemas of the surfaces it is asked; the chat surface's now, as every server answers it.
        self.schemas = SchemaRegistry()
        self.request_schema = self.schemas["chat-request"]
        self.dialects: dict[str, Dialect] = {n: cls.from_config(self.config) for n, cls in DIALECTS.items()}
        self.default_dialect = self.dialects[self.config.dialect]
        self.engine = Engine(scenarios if scenarios is not None else load_scenarios(self.config))
        self.state = State(Journal(self.config.journal_size))
        if self.config.keys is not None:
            self.state.keyring = load_keys(self.config.keys)
        #: Where the answers' state changes go: ``state`` itself, or Redis (``--store``).
        self.store = make_store(
            self.config.store, self.state, journal_size=self.config.journal_size, ttl=self.config.state_ttl
        )
        #: The shared scoped-scenario version this process's engine has (a shared store's).
        self.scoped_version: str | None = None
        self._faker: Any = None
        self._pacer: Pacer | None = None
        self.entropy = random.Random()
        self.started = time.time()
        #: The real router behind ``--mode record|auto`` (set by the app; None without ``--upstream``).
        self.upstream: Upstream | None = None

    @property
    def faker(self) -> Any:
        """The server's ``faker.Faker``, made on first use: only steps with faker templates need
        it (importing faker's providers costs ~8 MB of memory a server may never use)."""
        if self._faker is None:
            from faker import Faker

            self._faker = Faker()
        return self._faker

    @property
    def pacer(self) -> Pacer:
        """The running loop's one scheduler of paced writes (made there on first use)."""
        loop = asyncio.get_running_loop()
        pacer = self._pacer
        if pacer is None or pacer.loop is not loop:
            self._pacer = pacer = Pacer(loop)
        return pacer

    def record_mode(self, key: str) -> str | None:
        """The record-and-replay mode of a request with ``key``: the key's own (the pytest
        plugin's cassettes), else ``--mode``."""
        modes = self.state.record_modes
        if modes:
            return modes.get(key) or self.config.mode
        return self.config.mode

    async def sync_scoped(self, version: str | None) -> None:
        """Catch up with the scoped scenarios of a shared store (another process added or reset
        some): this engine's scoped scenarios become the store's, in the order they were added."""
        version, records = await self.store.scoped()
        self.engine.drop_scope()
        for record in records:
            text = record["text"]
            if record.get("json"):
                loaded = collect_json(text.encode(), SCENARIO_BODY)
            else:
                loaded = collect_text(text, SCENARIO_BODY)
            if loaded.scenarios:  # checked when added
                self.engine.add(loaded.scenarios, key=record.get("key"), test=record.get("test"))
        self.scoped_version = version

    async def refresh_scoped(self) -> None:
        """Catch up with a shared store's scoped scenarios, if another process changed them."""
        version, _ = await self.store.scoped()
        if version != self.scoped_version:
            await self.sync_scoped(version)

    def store_error(self, ctx: RequestContext, exc: StoreUnavailable) -> HttpError:
        """The 503 of a request the store could not serve (its rate window is not known)."""
        if ctx.rate is None:
            ctx.rate = RateInfo(DEFAULT_RATE_LIMIT, DEFAULT_RATE_LIMIT, int(time.time()) + RATE_WINDOW_S)
        return HttpError(503, f"{exc}. Requests are refused until it is back.", type="service_unavailable")

    # -- shared answers --------------------------------------------------------------------

    async def authenticate(self, ctx: RequestContext) -> str:
        """The caller's API key, or a 401 in the dialect's words; with a keyring, also
        401 for unknown/disabled keys and 429 over the key's rate limit (counted here)."""
        if ctx.key:
            keyring = self.state.keyring
            if keyring is not None:
                ctx.account, error, window = await keyring.admit(
                    ctx.key, self.store.window, ctx.dialect.rate_limit_error, time.time()
                )
                limit = ctx.account.rate_limit if ctx.account is not None else None
                if window is not None and limit is not None:
                    count, start = window
                    reset = math.ceil(start + limit.window_s)
                    ctx.rate = RateInfo(limit.requests, max(limit.requests - count, 0), reset)
                if error is not None:
                    raise RequestError.wrap(error)
            return ctx.key
        missing = "authorization" not in ctx.headers
        if ctx.surface == "messages":
            message = "x-api-key header is required" if missing else "invalid x-api-key or Authorization: Bearer header"
        elif ctx.dialect.name == "openrouter":
            message = "Missing Authentication header" if missing else "No auth credentials found"
        else:
            message = (
                "Missing API key: send 'Authorization: Bearer <key>'."
                if missing
                else ("Malformed Authorization header: expected 'Bearer <key>'.")
            )
        raise RequestError(401, message)

    def default_window(self, ctx: RequestContext, count: int, start: float) -> None:
        """Note the default rate window a request was counted in (by ``Store.begin``)."""
        remaining = DEFAULT_RATE_LIMIT - count
        ctx.rate = RateInfo(DEFAULT_RATE_LIMIT, remaining if remaining > 0 else 0, int(start + RATE_WINDOW_S))

    async def rate_info(self, ctx: RequestContext) -> RateInfo:
        """The caller's rate window, counted once per request (its key, else its address): as
        counted when the request was admitted, or counted now."""
        if ctx.rate is not None:
            return ctx.rate
        key = ctx.key if ctx.key is not None else f"ip:{ctx.client}"
        now = time.time()
        if ctx.account is not None or self.state.keyring is not None:
            limited = await self._keyed_rate_info(ctx, key, now)
            if limited is not None:
                ctx.rate = limited
                return limited
        count, start, _ = await self.store.window(key, RATE_WINDOW_S, now)
        self.default_window(ctx, count, start)
        assert ctx.rate is not None
        return ctx.rate

    async def _keyed_rate_info(self, ctx: RequestContext, key: str, now: float) -> RateInfo | None:
        """The window of a key with its own rate limit (None: the default window applies)."""
        account = ctx.account
        if account is None and ctx.key is not None and self.state.keyring is not None:
            account = self.state.keyring.get(ctx.key)
        limit = account.rate_limit if account is not None else None
        if limit is None:
            return None
        # Not admitted by authenticate (a catalog read): count it here.
        count, start, _ = await self.store.window(key, limit.window_s, now, count=ctx.account is None)
        return RateInfo(limit.requests, max(limit.requests - count, 0), math.ceil(start + limit.window_s))

    async def error_headers(self, ctx: RequestContext, error: HttpError) -> Headers:
        headers = ctx.dialect.headers(None, await self.rate_info(ctx), error=True)
        if error.headers:  # a scripted header replaces the dialect's of the same name (a recording's x-ratelimit-*)
            scripted = {name.lower().encode("latin-1") for name in error.headers}
            headers = [(name, value) for name, value in headers if name not in scripted]
        if error.retry_after is not None:
            headers.append((b"retry-after", error.retry_after.encode("latin-1")))
        if error.retry_after_ms is not None:
            ms = error.retry_after_ms
            headers.append((b"retry-after-ms", (str(int(ms)) if float(ms).is_integer() else str(ms)).encode()))
        for name, value in error.headers.items():
            headers.append((name.lower().encode("latin-1"), value.encode("latin-1")))
        return headers

    async def send_error(self, send: Send, ctx: RequestContext, error: HttpError | RequestError) -> None:
        """Answer ``error`` in the dialect's format (a RequestError: its prepared answer, or one
        made of its status, message and param) and journal it."""
        if isinstance(error, RequestError):
            error = error.answer or HttpError(error.status, error.message, param=error.param)
        headers = await self.error_headers(ctx, error)
        if error.body is not None:
            body = error.body.encode()
            content_type = (error.content_type or "text/plain; charset=utf-8").encode("latin-1")
        elif ctx.surface is not None and ctx.surface in ctx.dialect.encoders:
            encoder = ctx.dialect.encoders[ctx.surface]
            body = encoder.error(error, key=ctx.key)
            headers += encoder.error_headers(error, key=ctx.key)
            content_type = JSON
        else:
            body = ctx.dialect.error(error, key=ctx.key)
            content_type = JSON
        entry = ctx.entry
        entry.status = error.status
        entry.error = error.message or (error.body[:200] if error.body else None)
        retry_after_s = _seconds(error)
        if retry_after_s is not None:
            entry.retry_after_s = retry_after_s
        entry.bytes_sent = len(body)
        await send_response(send, error.status, body, content_type, headers)
        entry.keep_answer([body], len(body))

    def known_model(self, model: str) -> bool:
        if model.startswith(SCENARIO_MODEL_PREFIX):
            return model[len(SCENARIO_MODEL_PREFIX) :] in self.engine.global_set.by_name
        return self.catalog.get(model) is not None

    def scenario_model_ids(self) -> list[str]:
        return [SCENARIO_MODEL_PREFIX + name for name in self.engine.names()]


def _seconds(error: HttpError) -> float | None:
    """What an error's retry headers tell a client to wait, in seconds (None if nothing)."""
    if error.retry_after_ms is not None:
        return error.retry_after_ms / 1000
    if error.retry_after is None:
        return None
    try:
        return float(error.retry_after)
    except ValueError:
        pass
    try:
        return max(parsedate_to_datetime(error.retry_after).timestamp() - time.time(), 0.0)
    except (TypeError, ValueError):
        return None
