"""The inspector: ``GET /__mockrouter/ui``, a page for people, and the admin endpoints only it
needs: the journal as a live event stream (``events``) and the scenario cursors (``cursors``).

The page is three static files in ``mockrouter/data/ui/`` (no build step; nothing loaded from
elsewhere), read once and served from memory. It is protected like the rest of the admin API
(``admin.check_admin``; a browser gives the token as HTTP Basic's password).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from functools import cache
from importlib import resources

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ..errors import RequestError, StoreUnavailable
from .runtime import Handler, RequestContext, Runtime

__all__ = ["PREFIX_ROUTES", "ROUTES"]

#: The page's files and their content types.
ASSETS = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
}
#: A page that is only ours: no framing by other sites, nothing loaded from elsewhere.
_HEADERS = {
    "content-security-policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "cache-control": "no-cache",
}
#: How often the event stream sends a comment when nothing happens (proxies close idle streams).
KEEPALIVE_S = 15.0


@cache
def _asset(name: str) -> bytes:
    return resources.files("mockrouter").joinpath("data", "ui", name).read_bytes()


def _serve(name: str) -> Response:
    if name not in ASSETS:
        raise RequestError(404, f"No inspector file {name!r}.")
    return Response(_asset(name), media_type=ASSETS[name], headers=_HEADERS)


async def page(app: Runtime, request: Request, ctx: RequestContext) -> Response:
    """``GET ui``: the inspector page."""
    return _serve("index.html")


async def asset(app: Runtime, request: Request, ctx: RequestContext) -> Response:
    """``GET ui/<file>``: one of the page's files."""
    return _serve(ctx.path.rsplit("/", 1)[-1])


async def cursors(app: Runtime, request: Request, ctx: RequestContext) -> Response:
    """``GET cursors``: each scenario cursor and the requests it served."""
    data = await app.store.cursors()
    return Response(orjson.dumps({"data": data}), media_type="application/json")


async def events(app: Runtime, request: Request, ctx: RequestContext) -> Response:
    """``GET events[?since=ID]``: the journal as server-sent events, one ``request`` event per
    entry as it is journaled (by any process sharing the store), ``reset`` when the journal was
    emptied, and a keep-alive comment every ``KEEPALIVE_S`` seconds."""
    since = request.query_params.get("since")
    journal = await app.store.journal()
    last = since if since is not None else (journal.newest_id() or "0")

    async def stream() -> AsyncIterator[bytes]:
        nonlocal last
        yield b": mockrouter journal\n\n"
        waited = False
        while True:
            try:
                current = await app.store.journal()
            except StoreUnavailable:
                yield b": store unavailable\n\n"
                await asyncio.sleep(1)
                continue
            if last != "0" and last not in current:  # emptied by a reset (or all dropped): start over
                yield b"event: reset\ndata: {}\n\n"
                last = "0"
            found = current.page(since=last, limit=1000).entries
            for entry in found:
                yield b"event: request\ndata: " + orjson.dumps(entry.listed()) + b"\n\n"
            if found:
                last, waited = found[-1].id, False
                continue
            if waited:  # a whole wait without news
                yield b": keep-alive\n\n"
            try:
                await app.store.journal_changed(KEEPALIVE_S)
            except StoreUnavailable:
                await asyncio.sleep(1)
            waited = True

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"cache-control": "no-cache"})


ROUTES: dict[str, dict[str, Handler]] = {
    "/ui": {"GET": page},
    "/events": {"GET": events},
    "/cursors": {"GET": cursors},
}
PREFIX_ROUTES: list[tuple[str, dict[str, Handler]]] = [("/ui/", {"GET": asset})]
