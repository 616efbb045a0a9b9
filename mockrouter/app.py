"""The ASGI application: owns all state and dispatches requests.

``POST .../chat/completions`` goes straight to the raw-ASGI handler in ``chat.py`` (the hot
path); every other route is a small handler taking a Starlette ``Request``. Unknown paths and
wrong methods are answered in the dialect's error format, never with a bare 404/405.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from itertools import chain
from typing import Any

from faker import Faker
from starlette.requests import Request
from starlette.responses import Response

from .asgi import ClientGone, DeliberateDisconnect, Headers, Receive, Scope, Send, header_dict, send_response
from .catalog import SCENARIO_MODEL_PREFIX, Catalog
from .chat import RequestError, chat_completions
from .config import Config
from .dialects import DIALECTS
from .dialects.base import JSON, Dialect, RateInfo
from .journal import RAW_HEADERS, new_entry, shown_headers
from .keys import KeySpec, load_keys, roll_window
from .reply import HttpError
from .scenario.engine import Engine
from .scenario.loader import load_builtin, load_path
from .scenario.model import Scenario
from .schemas import SchemaRegistry
from .state import Journal, KeyState, State

API_PREFIXES = ("/api/v1", "/v1")
ADMIN_PREFIX = "/__mockrouter"
#: Requests per window the anyrouter dialect reports in X-RateLimit-* (no keys file).
DEFAULT_RATE_LIMIT = 600
RATE_WINDOW_S = 60

MAX_CAPTURED_ERRORS = 100
#: A request answered 431 keeps only this much of each header value in the journal.
MAX_JOURNALED_HEADER = 256

Handler = Callable[["MockrouterApp", Request, "RequestInfo"], Awaitable[Response]]


@dataclass(slots=True)
class RequestInfo:
    """Per-request facts every handler needs."""

    method: str
    path: str
    headers: dict[str, str]
    dialect: Dialect
    key: str | None
    entry: dict[str, Any]
    client: str = ""
    started: float = field(default_factory=time.perf_counter)
    #: The key's entry in the keyring, once admitted (None: no keyring, or an unlimited key).
    account: KeySpec | None = None


@dataclass(slots=True)
class CapturedError:
    """An exception raised while serving a request (a mockrouter bug), kept for the test."""

    key: str | None
    method: str
    path: str
    error: str
    traceback: str


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
    builtin = load_builtin()
    if not config.builtin:
        builtin = [s for s in builtin if s.name == "echo"]
    scenarios = list(builtin)
    for path in config.scenarios:
        scenarios.extend(load_path(path))
    return scenarios


class MockrouterApp:
    """mockrouter as an ASGI app. All mutable state lives on this object."""

    def __init__(self, config: Config | None = None, scenarios: list[Scenario] | None = None) -> None:
        from . import admin, router_api

        self.config = config or Config()
        self.catalog = Catalog.load()
        self.schemas = SchemaRegistry()
        self.schemas.compile_all()
        self.request_schema = self.schemas["chat-request"]
        self.dialects: dict[str, Dialect] = {n: cls.from_config(self.config) for n, cls in DIALECTS.items()}
        self.default_dialect = self.dialects[self.config.dialect]
        self.engine = Engine(scenarios if scenarios is not None else load_scenarios(self.config))
        self.state = State(Journal(self.config.journal_size))
        if self.config.keys is not None:
            self.state.keyring = load_keys(self.config.keys)
        self.faker = Faker()
        self.entropy = random.Random()
        self.started = time.time()
        self.errors: list[CapturedError] = []
        #: POST routes served by the raw-ASGI scenario path, and what they answer.
        self._chat_paths = {p + path: kind for p in API_PREFIXES for path, kind in router_api.ENGINE_ROUTES.items()}
        self.routes: dict[str, dict[str, Handler]] = {}
        for prefix in API_PREFIXES:
            for path, methods in router_api.ROUTES.items():
                self.routes[prefix + path] = methods
        for path, methods in admin.ROUTES.items():
            self.routes[ADMIN_PREFIX + path] = methods
        self.pattern_routes = [(ADMIN_PREFIX + p, m) for p, m in admin.PREFIX_ROUTES]
        self.pattern_routes += [(a + p, m) for a in API_PREFIXES for p, m in router_api.PREFIX_ROUTES]

    # -- ASGI ------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            try:
                await self._http(scope, receive, send)
            except (DeliberateDisconnect, ClientGone, asyncio.CancelledError):
                raise
            except Exception as exc:  # a bug: keep it for the test that caused it, answer 500
                await self._internal_error(scope, send, exc)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _internal_error(self, scope: Scope, send: Send, exc: Exception) -> None:
        headers = header_dict(scope)
        self.errors.append(
            CapturedError(
                key=parse_bearer(headers),
                method=scope["method"],
                path=scope["path"],
                error=f"{type(exc).__name__}: {exc}",
                traceback="".join(traceback.format_exception(exc)),
            )
        )
        del self.errors[:-MAX_CAPTURED_ERRORS]
        dialect = self.dialects.get(headers.get("x-mockrouter-dialect", ""), self.default_dialect)
        body = dialect.error(HttpError(500, f"mockrouter internal error: {type(exc).__name__}: {exc}"))
        with contextlib.suppress(Exception):  # the response may have started already
            await send_response(send, 500, body, JSON)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        method: str = scope["method"]
        headers = header_dict(scope)
        dialect = self.dialects.get(headers.get("x-mockrouter-dialect", ""), self.default_dialect)
        admin = path.startswith(ADMIN_PREFIX)
        key = parse_bearer(headers) if not admin else None
        query = scope.get("query_string", b"").decode("latin-1")
        raw_headers = tuple(scope["headers"])
        entry = new_entry(
            "" if admin else self.state.journal.next_id(), method, path, query, raw_headers, key, dialect.name
        )
        client = scope.get("client")
        info = RequestInfo(method, path, headers, dialect, key, entry, client[0] if client else "")
        if sum(map(len, chain.from_iterable(raw_headers))) > self.config.max_header:  # uvicorn sets no limit
            del entry[RAW_HEADERS]
            entry["headers"] = {n: v[:MAX_JOURNALED_HEADER] for n, v in shown_headers(raw_headers).items()}
            message = f"Request headers are larger than {self.config.max_header} bytes."
            error = HttpError(431, message, type="request_too_large", code="request_header_fields_too_large")
            await self.send_error(send, info, error)
            if not admin:
                entry["duration_ms"] = (time.perf_counter() - info.started) * 1000
                self.state.journal.add(entry)
            return
        state = self.state
        if admin:
            await self._dispatch(scope, receive, send, info, admin)
            return
        state.in_flight += 1
        try:
            if path in self._chat_paths and method == "POST":
                await chat_completions(self, scope, receive, send, info)
                return
            try:
                await self._dispatch(scope, receive, send, info, admin)
            finally:
                entry["duration_ms"] = (time.perf_counter() - info.started) * 1000
                state.journal.add(entry)
        finally:
            state.in_flight -= 1
            state.last_activity = time.monotonic()

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send, info: RequestInfo, admin: bool) -> None:
        if info.path in self._chat_paths:
            methods: dict[str, Handler] | None = {"POST": _handled_by_chat}
        else:
            methods = self.routes.get(info.path)
        if methods is None:
            for prefix, prefixed in self.pattern_routes:
                if info.path.startswith(prefix) and len(info.path) > len(prefix):
                    methods = prefixed
                    break
        if methods is None:
            await self.send_error(send, info, HttpError(404, f"No route for {info.method} {info.path}."))
            return
        handler = methods.get(info.method)
        if handler is None and info.method == "HEAD":
            handler = methods.get("GET")
        if handler is None:
            allow = ", ".join(sorted(methods))
            await self.send_error(
                send,
                info,
                HttpError(
                    405,
                    f"Method {info.method} is not allowed on {info.path}; allowed: {allow}.",
                    headers={"allow": allow},
                ),
            )
            return
        request = Request(scope, receive)
        try:
            if admin:
                from .admin import check_admin

                check_admin(self, info)
            response = await handler(self, request, info)
        except RequestError as exc:
            await self.send_error(send, info, exc.error)
            return
        if not admin:
            info.entry["status"] = response.status_code
            response.raw_headers.extend(info.dialect.headers(None, self.rate_info(info)))
        await response(scope, receive, send)

    # -- shared answers --------------------------------------------------------------------

    def authenticate(self, info: RequestInfo) -> str:
        """The caller's API key, or a 401 in the dialect's words; with a keyring, also
        401 for unknown/disabled keys and 429 over the key's rate limit."""
        if info.key:
            keyring = self.state.keyring
            if keyring is not None:
                info.account, error = keyring.admit(info.key, self.state, info.dialect, time.time())
                if error is not None:
                    raise RequestError.wrap(error)
            return info.key
        missing = "authorization" not in info.headers
        if info.dialect.name == "openrouter":
            message = "Missing Authentication header" if missing else "No auth credentials found"
        else:
            message = (
                "Missing API key: send 'Authorization: Bearer <key>'."
                if missing
                else ("Malformed Authorization header: expected 'Bearer <key>'.")
            )
        raise RequestError(401, message)

    def rate_info(self, info: RequestInfo) -> RateInfo:
        """Count this response in the caller's window (its key, else its address)."""
        ks = self.state.key(info.key if info.key is not None else f"ip:{info.client}")
        now = time.time()
        if info.account is not None or self.state.keyring is not None:
            limited = self._keyed_rate_info(info, ks, now)
            if limited is not None:
                return limited
        if now - ks.window_start >= RATE_WINDOW_S:
            ks.window_start = now
            ks.window_count = 0
        ks.window_count += 1
        remaining = DEFAULT_RATE_LIMIT - ks.window_count
        return RateInfo(DEFAULT_RATE_LIMIT, remaining if remaining > 0 else 0, int(ks.window_start + RATE_WINDOW_S))

    def _keyed_rate_info(self, info: RequestInfo, ks: KeyState, now: float) -> RateInfo | None:
        """The window of a key with its own rate limit (None: the default window applies)."""
        account = info.account
        if account is None and info.key is not None and self.state.keyring is not None:
            account = self.state.keyring.get(info.key)
        limit = account.rate_limit if account is not None else None
        if limit is None:
            return None
        roll_window(ks, limit.window_s, now)
        if info.account is None:  # not admitted by authenticate (a catalog read): count it here
            ks.window_count += 1
        reset = math.ceil(ks.window_start + limit.window_s)
        return RateInfo(limit.requests, max(limit.requests - ks.window_count, 0), reset)

    def error_headers(self, info: RequestInfo, error: HttpError) -> Headers:
        headers = info.dialect.headers(None, self.rate_info(info), error=True)
        if error.retry_after is not None:
            headers.append((b"retry-after", error.retry_after.encode("latin-1")))
        if error.retry_after_ms is not None:
            ms = error.retry_after_ms
            headers.append((b"retry-after-ms", (str(int(ms)) if float(ms).is_integer() else str(ms)).encode()))
        for name, value in error.headers.items():
            headers.append((name.lower().encode("latin-1"), value.encode("latin-1")))
        return headers

    async def send_error(self, send: Send, info: RequestInfo, error: HttpError) -> None:
        headers = self.error_headers(info, error)
        if error.body is not None:
            body = error.body.encode()
            content_type = (error.content_type or "text/plain; charset=utf-8").encode("latin-1")
        else:
            body = info.dialect.error(error, key=info.key)
            content_type = JSON
        info.entry["status"] = error.status
        info.entry["error"] = error.message or (error.body[:200] if error.body else None)
        retry_after_s = _seconds(error)
        if retry_after_s is not None:
            info.entry["retry_after_s"] = retry_after_s
        info.entry["bytes_sent"] = len(body)
        await send_response(send, error.status, body, content_type, headers)

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


async def _handled_by_chat(app: MockrouterApp, request: Request, info: RequestInfo) -> Response:
    raise AssertionError("POST chat/completions is dispatched before routing")  # pragma: no cover


def create_app(config: Config | None = None) -> MockrouterApp:
    """Build the ASGI app for ``config`` (loads and checks every scenario now)."""
    return MockrouterApp(config)
