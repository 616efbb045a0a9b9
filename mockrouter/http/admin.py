"""The admin API under ``/__mockrouter/``: health, scenarios, reset, the journal, schemas.

When the server listens on anything but loopback, every admin call needs the admin token
(``--admin-token``), sent as ``X-Mockrouter-Admin-Token`` or ``Authorization: Bearer``.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import re
import time
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from .. import __version__
from ..core.conversation import conversation_hash
from ..core.reply import HttpError
from ..core.surfaces import chat_view
from ..errors import RequestError, ScenarioError, StoreUnavailable
from ..scenario.loader import collect_json, collect_text
from ..state.report import DEFAULT_MAX_RETRIES, report
from .runtime import SCENARIO_BODY, Handler, RequestContext, Runtime

MAX_SCENARIO_BODY = 5 * 1024 * 1024
#: Journaled request bodies deeper than this are shown clipped (orjson writes at most 255 levels).
MAX_SHOWN_DEPTH = 200
CLIPPED = "[nested too deeply]"


def _json(data: Any, status: int = 200) -> Response:
    try:
        body = orjson.dumps(data)
    except TypeError:  # a journaled request body nested deeper than orjson writes
        body = orjson.dumps(_clip_depth(data, MAX_SHOWN_DEPTH))
    return Response(body, status_code=status, media_type="application/json")


def _clip_depth(value: Any, depth: int) -> Any:
    """``value`` with every container below ``depth`` levels replaced by a marker."""
    if isinstance(value, dict):
        return {k: _clip_depth(v, depth - 1) for k, v in value.items()} if depth > 0 else CLIPPED
    if isinstance(value, list | tuple):
        return [_clip_depth(v, depth - 1) for v in value] if depth > 0 else CLIPPED
    return value


def check_admin(app: Runtime, ctx: RequestContext) -> None:
    """Refuse the call unless it is allowed (token given, or loopback without a token)."""
    token = app.config.admin_token
    if token is None:
        if app.config.loopback:
            return
        raise RequestError(401, "The admin API is disabled on a non-loopback address without --admin-token.")
    sent = ctx.headers.get("x-mockrouter-admin-token")
    if sent is None:
        auth = ctx.headers.get("authorization", "")
        scheme = auth[:6].lower()
        if scheme == "bearer":
            sent = auth[7:].strip()
        elif scheme == "basic ":  # a browser (the inspector page): any user name, the token as password
            sent = _basic_password(auth[6:].strip())
    if sent is None or not hmac.compare_digest(sent.encode(), token.encode()):
        # a browser asks for the token (as a password) when it sees the Basic challenge
        challenge = {"www-authenticate": 'Basic realm="mockrouter admin", charset="UTF-8"'}
        message = "Admin token missing or wrong (send X-Mockrouter-Admin-Token)."
        raise RequestError.wrap(HttpError(401, message, headers=challenge))


def _basic_password(credentials: str) -> str | None:
    """The password of HTTP Basic credentials (``base64(user:password)``), or None if malformed."""
    try:
        decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    return decoded.partition(":")[2] if ":" in decoded else None


async def health(app: Runtime, request: Request, ctx: RequestContext) -> Response:
    """``GET health``: 200 while the server and its store answer; 503 (naming the store) while
    a shared store is unreachable (the image's health check uses it)."""
    try:
        journal = await app.store.journal()
    except StoreUnavailable as exc:
        body = {"status": "unavailable", "version": __version__, "store": app.store.info(), "error": str(exc)}
        return _json(body, status=503)
    return _json(
        {
            "status": "ok",
            "version": __version__,
            "dialect": app.config.dialect,
            "scenarios": len(app.engine.global_set),
            "journal": {"entries": len(journal), "dropped": journal.dropped},
            "store": app.store.info(),
        }
    )


async def list_scenarios(app: Runtime, request: Request, ctx: RequestContext) -> Response:
    await app.refresh_scoped()
    q = request.query_params
    return _json({"data": [s.summary() for s in app.engine.all(q.get("key"), q.get("test") or None)]})


async def add_scenarios(app: Runtime, request: Request, ctx: RequestContext) -> Response:
    """Add scenarios from a YAML or JSON body; ``?key=`` scopes them to one API key, ``?test=``
    to one test (requests with that ``X-Mockrouter-Test``). JSON (``Content-Type:
    application/json``) is read as JSON, so errors name lines of the JSON text."""
    key = request.query_params.get("key") or None
    test = request.query_params.get("test") or None
    raw = await request.body()
    if len(raw) > MAX_SCENARIO_BODY:
        raise RequestError(413, f"Scenario body is larger than {MAX_SCENARIO_BODY} bytes.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise RequestError(400, "Scenario body is not valid UTF-8.") from None
    if not text.strip():
        return _scenario_problems(
            "The body is empty: no scenario to add (send YAML, or JSON with Content-Type: application/json).", []
        )
    loaded_as_json = ctx.headers.get("content-type", "").lower().startswith("application/json")
    loaded = collect_json(raw, SCENARIO_BODY) if loaded_as_json else collect_text(text, SCENARIO_BODY)
    if loaded.errors:
        return _scenario_problems(f"{len(loaded.errors)} problem(s) in the scenarios", loaded.errors)
    if not loaded.scenarios:
        return _scenario_problems("The body holds no scenario (only empty documents or an empty list).", [])
    app.engine.add(loaded.scenarios, key=key, test=test)
    version = await app.store.add_scoped({"key": key, "test": test, "text": text, "json": loaded_as_json})
    if version is not None:  # a shared store: every process gets them
        mine = app.scoped_version
        if (mine is None and version == "1") or (mine is not None and int(mine) + 1 == int(version)):
            app.scoped_version = version  # nothing else changed since this process's last look
    added: dict[str, Any] = {"added": [s.name for s in loaded.scenarios], "key": key is not None}
    if test is not None:
        added["test"] = True
    return _json(added, status=201)


def _scenario_problems(message: str, errors: list[ScenarioError]) -> Response:
    """400 ``{"error": {"message", "errors": [{file, line, column, field, message, excerpt}]}}``."""
    return _json({"error": {"message": message, "errors": [e.as_dict() for e in errors]}}, status=400)


async def reset(app: Runtime, request: Request, ctx: RequestContext) -> Response:
    """Reset cursors, journal and counters (and scoped scenarios) — of one test, one key or all."""
    key = request.query_params.get("key") or None
    test = request.query_params.get("test") or None
    if test is not None:
        await app.store.reset_test(test)
        app.engine.drop_scope(test=test)
        return _json({"reset": "test"})
    await app.store.reset(key)
    app.engine.drop_scope(key)
    return _json({"reset": (key is None and "all") or "key"})


#: Entries a journal listing returns when no ``limit`` is given, and the most it returns at once.
DEFAULT_LIST_LIMIT = 100
MAX_LIST_LIMIT = 1000
CURSOR = re.compile(r"0|req_[0-9]+")


def _limit(request: Request) -> int:
    value = request.query_params.get("limit")
    if value is None:
        return DEFAULT_LIST_LIMIT
    if not value.isdigit():
        raise RequestError(400, "limit must be a non-negative integer", "limit")
    if int(value) > MAX_LIST_LIMIT:
        raise RequestError(
            400, f"limit must be at most {MAX_LIST_LIMIT}; page with since= (the answer's next cursor)", "limit"
        )
    return int(value)


def _cursor(request: Request, name: str, *, zero: bool = False) -> str | None:
    """The journal id in query parameter ``name`` (``0``, the start, too when ``zero``)."""
    value = request.query_params.get(name)
    if value is not None and (CURSOR.fullmatch(value) is None or (value == "0" and not zero)):
        also = " or 0 (from the oldest)" if zero else ""
        raise RequestError(400, f"{name} must be a journal entry id such as req_00000042{also}", name)
    return value


async def _listing(app: Runtime, request: Request, *, unmatched: bool = False) -> Response:
    """A page of the journal: ``{"data": [...], "previous", "next"}`` (see ``Journal.page``)."""
    q = request.query_params
    since, before = _cursor(request, "since", zero=True), _cursor(request, "before")
    if since is not None and before is not None:
        raise RequestError(400, "give since or before, not both", "before")
    journal = await app.store.journal()
    page = journal.page(
        key=q.get("key"),
        scenario=None if unmatched else q.get("scenario"),
        unmatched=unmatched,
        since=since,
        before=before,
        limit=_limit(request),
        surface=q.get("surface"),
        test=q.get("test"),
        status=_status_range(q.get("status")),
    )
    return _json({"data": [e.listed() for e in page.entries], "previous": page.previous, "next": page.next})


def _status_range(value: str | None) -> tuple[int, int] | None:
    """``status=429`` (one status) or ``status=4xx`` (a class) as an inclusive range."""
    if value is None or value == "":
        return None
    if re.fullmatch(r"[1-5][0-9][0-9]", value):
        return int(value), int(value)
    if re.fullmatch(r"[1-5]xx", value.lower()):
        low = int(value[0]) * 100
        return low, low + 99
    raise RequestError(400, "status must be a status code (429) or a class (4xx)", "status")


async def list_requests(app: Runtime, request: Request, ctx: RequestContext) -> Response:
    """``GET requests[?key=K&test=T&scenario=S&surface=S&status=429|4xx&limit=N&since=ID|before=ID]``:
    one page of the journal (``surface``: chat, text, messages or responses)."""
    return await _listing(app, request)


async def request_detail(app: Runtime, request: Request, ctx: RequestContext) -> Response:
    entry_id = ctx.path.rsplit("/", 1)[-1]
    if entry_id == "unmatched":
        return await _listing(app, request, unmatched=True)
    entry = (await app.store.journal()).get(entry_id)
    if entry is None:
        raise RequestError(404, f"No journal entry {entry_id!r}.")
    entry["conversation"] = _conversation(entry)
    return _json(entry)


def _conversation(entry: dict[str, Any]) -> str | None:
    """The hash ``match.conversation`` compares for an engine request (None for other routes
    and for bodies that are not a request): worked out when asked, not when served."""
    body, surface = entry.get("body"), entry.get("surface")
    if surface is None or not isinstance(body, dict):
        return None
    try:
        return conversation_hash(chat_view(surface, body).get("messages"))
    except (TypeError, ValueError, AttributeError):  # a body the engine refused (invalid) may not convert
        return None


def _flag(request: Request, name: str) -> bool:
    value = request.query_params.get(name, "0").lower()
    if value not in ("0", "1", "true", "false"):
        raise RequestError(400, f"{name} must be 1 or 0 (true or false)", name)
    return value in ("1", "true")


async def resilience_report(app: Runtime, request: Request, ctx: RequestContext) -> Response:
    """``GET report[?key=K&test=T&max_retries=N&include_fuzz=1]``: findings per key (see ``mockrouter.state.report``);
    requests of ``mockrouter fuzz`` are left out unless ``include_fuzz``."""
    value = request.query_params.get("max_retries", str(DEFAULT_MAX_RETRIES))
    if not value.isdigit():
        raise RequestError(400, "max_retries must be a non-negative integer", "max_retries")
    key, max_retries = request.query_params.get("key"), int(value)
    include_fuzz = _flag(request, "include_fuzz")
    by_key = (await app.store.journal()).by_key(key, request.query_params.get("test") or None)
    try:
        reports = report(by_key, max_retries=max_retries, include_fuzz=include_fuzz)
    except TypeError:  # a journaled body nested deeper than orjson writes: compare bodies clipped
        clipped = {k: [{**e, "body": _clip_depth(e["body"], MAX_SHOWN_DEPTH)} for e in es] for k, es in by_key.items()}
        reports = report(clipped, max_retries=max_retries, include_fuzz=include_fuzz)
    return _json({"data": [r.as_dict() for r in reports]})


MAX_WAIT_MS = 120_000


async def wait(app: Runtime, request: Request, ctx: RequestContext) -> Response:
    """Block until ``count`` requests (of ``key`` and/or ``test``, or of anyone) are in the journal, or the
    server has been idle for ``idle_ms``, or ``timeout_ms`` passes. Answers ``{"ok", "count",
    "waited_ms"}``; ``ok`` is false on timeout."""
    raw = await request.body()
    try:
        spec = orjson.loads(raw) if raw.strip() else {}
    except orjson.JSONDecodeError as exc:
        raise RequestError(400, f"Malformed JSON: {exc}") from None
    if not isinstance(spec, dict):
        raise RequestError(400, "Body must be a JSON object: {key?, test?, count?, idle_ms?, timeout_ms?}")
    unknown = set(spec) - {"key", "test", "count", "idle_ms", "timeout_ms"}
    if unknown:
        raise RequestError(400, f"Unknown field(s): {', '.join(sorted(unknown))}", sorted(unknown)[0])
    key = spec.get("key")
    test = spec.get("test")
    count = spec.get("count")
    idle_ms = spec.get("idle_ms")
    timeout_ms = spec.get("timeout_ms", 5000)
    if key is not None and not isinstance(key, str):
        raise RequestError(400, "key must be a string", "key")
    if test is not None and not isinstance(test, str):
        raise RequestError(400, "test must be a string", "test")
    for name, value in (("count", count), ("idle_ms", idle_ms), ("timeout_ms", timeout_ms)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or value < 0):
            raise RequestError(400, f"{name} must be a non-negative number", name)
    if count is None and idle_ms is None:
        raise RequestError(400, "Give count, idle_ms or both.")
    timeout = min(float(timeout_ms), MAX_WAIT_MS) / 1000
    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = started + timeout
    while True:
        journal = await app.store.journal()  # a shared store's: every process's requests
        now = loop.time()
        seen = journal.count(key, test=test)
        idle_for = time.monotonic() - app.state.last_activity
        newest = journal.newest()
        if newest is not None:  # another process's requests keep the server busy too
            idle_for = min(idle_for, max(time.time() - newest, 0.0))
        done = (count is not None and seen >= count) or (
            idle_ms is not None and app.state.in_flight == 0 and idle_for * 1000 >= idle_ms
        )
        if done or now >= deadline:
            return _json({"ok": done, "count": seen, "waited_ms": round((now - started) * 1000, 3)})
        wake = deadline - now
        if idle_ms is not None:
            wake = min(wake, max(idle_ms / 1000 - idle_for, 0.005))
        await app.store.journal_changed(wake)


async def set_record_mode(app: Runtime, request: Request, ctx: RequestContext) -> Response:
    """``POST record-mode {"key", "mode"}``: record and replay for one key (the pytest plugin's
    cassettes): ``replay``, ``auto`` or ``record`` as ``--mode``, ``off`` to serve as usual.
    What is recorded for the key is kept for ``GET recordings?key=`` until the key is reset."""
    raw = await request.body()
    try:
        spec = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise RequestError(400, f"Malformed JSON: {exc}") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("key"), str) or not spec["key"]:
        raise RequestError(400, 'Body must be {"key": "...", "mode": "replay|auto|record|off"}', "key")
    mode = spec.get("mode")
    if mode not in ("replay", "auto", "record", "off"):
        raise RequestError(400, "mode must be replay, auto, record or off", "mode")
    if mode in ("auto", "record") and app.upstream is None:
        raise RequestError(400, f"mode {mode} needs a server started with --upstream URL", "mode")
    if mode == "off":
        app.state.record_modes.pop(spec["key"], None)
    else:
        app.state.record_modes[spec["key"]] = mode
    return _json({"key": True, "mode": mode})


async def list_recordings(app: Runtime, request: Request, ctx: RequestContext) -> Response:
    """``GET recordings?key=K``: what was recorded for a key with its own mode, oldest first
    (recordings still being written are waited for)."""
    key = request.query_params.get("key")
    if not key:
        raise RequestError(400, "key is required", "key")
    if app.upstream is not None:  # a recording is made just after its answer ends: wait for it
        await app.upstream.settled()
    return _json({"data": app.state.recordings.get(key, [])})


async def list_schemas(app: Runtime, request: Request, ctx: RequestContext) -> Response:
    return _json({"data": app.schemas.names()})


async def schema_detail(app: Runtime, request: Request, ctx: RequestContext) -> Response:
    name = ctx.path.rsplit("/", 1)[-1].removesuffix(".json").removesuffix(".schema")
    if name not in app.schemas.documents:
        raise RequestError(404, f"No schema {name!r}; see GET /__mockrouter/schemas.")
    return _json(app.schemas.documents[name])


async def openapi(app: Runtime, request: Request, ctx: RequestContext) -> Response:
    """``GET openapi.json[?dialect=D]``: the router API as OpenAPI 3.1 (default: the server's dialect)."""
    from .openapi import document_bytes

    dialect = request.query_params.get("dialect") or app.config.dialect
    if dialect not in app.dialects:
        raise RequestError(400, f"Unknown dialect {dialect!r}; choose one of {', '.join(app.dialects)}.", "dialect")
    return Response(document_bytes(dialect), media_type="application/json")


ROUTES: dict[str, dict[str, Handler]] = {
    "/health": {"GET": health},
    "/scenarios": {"GET": list_scenarios, "POST": add_scenarios},
    "/reset": {"POST": reset},
    "/wait": {"POST": wait},
    "/report": {"GET": resilience_report},
    "/requests": {"GET": list_requests},
    "/record-mode": {"POST": set_record_mode},
    "/recordings": {"GET": list_recordings},
    "/schemas": {"GET": list_schemas},
    "/openapi.json": {"GET": openapi},
}
#: Routes with one trailing path segment (an id or a name).
PREFIX_ROUTES: list[tuple[str, dict[str, Handler]]] = [
    ("/requests/", {"GET": request_detail}),
    ("/schemas/", {"GET": schema_detail}),
]
