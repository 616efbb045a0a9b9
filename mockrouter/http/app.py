"""The ASGI application: routes each request to its handler.

The engine routes (``POST .../chat/completions``, ``.../completions``) go straight to the
raw-ASGI answer pipeline in ``chat.py`` (the hot path); every other route is a small handler
taking a Starlette ``Request``. Unknown paths and wrong methods are answered in the dialect's
error format, never with a bare 404/405. Everything a handler may use is the app's
:class:`~mockrouter.http.runtime.Runtime` side; this module only adds routing.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import traceback
from dataclasses import dataclass
from itertools import chain
from typing import NoReturn

from starlette.requests import Request

from ..core.config import Config
from ..core.reply import HttpError
from ..errors import ClientGone, DeliberateDisconnect, RequestError, StoreUnavailable
from ..scenario.model import Scenario
from ..state.journal import JournalEntry, shown_headers
from ..wire.asgi import Receive, Scope, Send, header_dict, send_response
from ..wire.coalesce import close_watch
from ..wire.dialects.base import JSON
from . import admin, chat, inspector, proxy, router_api
from .runtime import Handler, RequestContext, Runtime, parse_bearer

__all__ = ["ADMIN_PREFIX", "API_PREFIXES", "CapturedError", "MockrouterApp", "create_app"]

API_PREFIXES = ("/api/v1", "/v1")
ADMIN_PREFIX = "/__mockrouter"
MAX_CAPTURED_ERRORS = 100
#: A request answered 431 keeps only this much of each header value in the journal.
MAX_JOURNALED_HEADER = 256


@dataclass(slots=True)
class CapturedError:
    """An exception raised while serving a request (a mockrouter bug), kept for the test."""

    key: str | None
    method: str
    path: str
    error: str
    traceback: str


class MockrouterApp(Runtime):
    """mockrouter as an ASGI app: a :class:`Runtime` that routes. All mutable state lives in
    ``self.state``."""

    def __init__(self, config: Config | None = None, scenarios: list[Scenario] | None = None) -> None:
        super().__init__(config, scenarios)
        self.state.expire_idle(self.config.state_ttl)  # idle keys' state expires (--state-ttl)
        if self.config.upstream:
            self.upstream = proxy.Upstream(self.config)
        self.errors: list[CapturedError] = []
        #: POST routes answered by the scenario pipeline, and the surface each answers.
        self.engine_routes = {p + path: surface for p in API_PREFIXES for path, surface in chat.SURFACES.items()}
        #: Routes besides the engine's that speak Anthropic's dialect (auth by ``x-api-key``, its errors).
        self.anthropic_paths = frozenset(p + path for p in API_PREFIXES for path in router_api.ANTHROPIC_ROUTES)
        self.routes: dict[str, dict[str, Handler]] = {}
        for prefix in API_PREFIXES:
            for path, methods in router_api.ROUTES.items():
                self.routes[prefix + path] = methods
        for path, methods in (*admin.ROUTES.items(), *inspector.ROUTES.items()):
            self.routes[ADMIN_PREFIX + path] = methods
        self.pattern_routes = [(ADMIN_PREFIX + p, m) for p, m in (*admin.PREFIX_ROUTES, *inspector.PREFIX_ROUTES)]
        self.pattern_routes += [(a + p, m) for a in API_PREFIXES for p, m in router_api.PREFIX_ROUTES]

    # -- ASGI ------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await self._lifespan(receive, send)
            return
        try:  # (one frame for the whole request: a paced stream holds it open for seconds)
            ctx = self._context(scope)
            entry = ctx.entry
            is_admin = ctx.path.startswith(ADMIN_PREFIX)
            raw_headers = entry.raw_headers
            if sum(map(len, chain.from_iterable(raw_headers))) > self.config.max_header:  # uvicorn sets no limit
                entry.raw_headers = ()
                entry.headers = {n: v[:MAX_JOURNALED_HEADER] for n, v in shown_headers(raw_headers).items()}
                message = f"Request headers are larger than {self.config.max_header} bytes."
                error = HttpError(431, message, type="request_too_large", code="request_header_fields_too_large")
                await self.send_error(send, ctx, error)
                if not is_admin:
                    entry.finish(ctx.started)
                    self.store.journal_add(entry)
                return
            if is_admin:
                await self._dispatch(scope, receive, send, ctx, is_admin)
                return
            state = self.state
            state.started()
            try:
                surface = self.engine_routes.get(ctx.path)
                if surface is not None and ctx.method == "POST":
                    await chat.answer(self, scope, receive, send, ctx, surface)
                    return
                try:
                    await self._dispatch(scope, receive, send, ctx, is_admin)
                finally:
                    entry.finish(ctx.started)
                    self.store.journal_add(entry)
            finally:
                state.ended()
        except (DeliberateDisconnect, ClientGone, asyncio.CancelledError):
            raise
        except Exception as exc:  # a bug: keep it for the test that caused it, answer 500
            await self._internal_error(scope, send, exc)

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
                try:
                    await self.store.open()
                    await self.sync_scoped(None)
                except StoreUnavailable as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.upstream is not None:
                    await self.upstream.close()
                await self.store.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _context(self, scope: Scope) -> RequestContext:
        """The request's context and journal entry, from its scope. (Made apart from
        ``__call__``, whose frame lives as long as the request: it holds the context, not its
        makings.)"""
        path: str = scope["path"]
        method: str = scope["method"]
        headers = header_dict(scope)
        dialect = self.dialects.get(headers.get("x-mockrouter-dialect", ""), self.default_dialect)
        is_admin = path.startswith(ADMIN_PREFIX)
        surface = self.engine_routes.get(path)
        key = parse_bearer(headers) if not is_admin else None
        if key is None and "x-api-key" in headers and (surface == "messages" or path in self.anthropic_paths):
            key = headers["x-api-key"].strip() or None  # how Anthropic's SDKs send the key
        query = scope.get("query_string", b"").decode("latin-1")
        raw_headers = scope["headers"]  # the server's own list (not a copy: an open stream holds it)
        entry = JournalEntry(
            "" if is_admin else self.store.next_id(),
            method,
            path,
            query,
            raw_headers,
            key,
            dialect.name,
            time.time(),
            key[-4:] if key else None,
        )
        if not is_admin:
            entry.test = headers.get("x-mockrouter-test") or None
        client = scope.get("client")
        ctx = RequestContext(method, path, headers, dialect, key, entry, client[0] if client else "")
        ctx.close_watch = close_watch(scope)
        if surface is not None:
            ctx.surface = entry.surface = surface
        elif path in self.anthropic_paths:
            ctx.surface = "messages"
        return ctx

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send, ctx: RequestContext, is_admin: bool) -> None:
        if ctx.path in self.engine_routes:  # any method but POST (POST went to the pipeline)
            methods: dict[str, Handler] | None = {"POST": _answered_by_the_pipeline}
        else:
            methods = self.routes.get(ctx.path)
        if methods is None:
            for prefix, prefixed in self.pattern_routes:
                if ctx.path.startswith(prefix) and len(ctx.path) > len(prefix):
                    methods = prefixed
                    break
        if methods is None:
            await self.send_error(send, ctx, HttpError(404, f"No route for {ctx.method} {ctx.path}."))
            return
        handler = methods.get(ctx.method)
        if handler is None and ctx.method == "HEAD":
            handler = methods.get("GET")
        if handler is None:
            allow = ", ".join(sorted(methods))
            await self.send_error(
                send,
                ctx,
                HttpError(
                    405,
                    f"Method {ctx.method} is not allowed on {ctx.path}; allowed: {allow}.",
                    headers={"allow": allow},
                ),
            )
            return
        request = Request(scope, receive)
        try:
            if is_admin:
                admin.check_admin(self, ctx)
            response = await handler(self, request, ctx)
            if not is_admin:
                ctx.entry.status = response.status_code
                response.raw_headers.extend(ctx.dialect.headers(None, await self.rate_info(ctx)))
        except RequestError as exc:
            await self.send_error(send, ctx, exc)
            return
        except StoreUnavailable as exc:  # a shared store is away: 503 naming it, the server stays up
            await self.send_error(send, ctx, self.store_error(ctx, exc))
            return
        await response(scope, receive, send)


async def _answered_by_the_pipeline(app: Runtime, request: Request, ctx: RequestContext) -> NoReturn:
    raise AssertionError("POST to an engine route is answered before routing")  # pragma: no cover


def create_app(config: Config | None = None) -> MockrouterApp:
    """Build the ASGI app for ``config`` (loads and checks every scenario now)."""
    return MockrouterApp(config)
