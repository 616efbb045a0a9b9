"""Router endpoints other than chat completions, as small handlers: the catalog, the
account (key, credits, keys API), generation stats and embeddings.

Paths are relative to the API prefix (``/api/v1`` and its ``/v1`` alias). Each handler is
registered under a route name; a dialect serves the names in its ``endpoints`` and every
other route answers 404 in its error format. Bodies are shaped by the dialect.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import math
import random
import secrets
import struct
import time
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..core.catalog import SCENARIO_MODEL_PREFIX
from ..core.surfaces import MESSAGES, chat_view
from ..core.tokens import count_tokens
from ..errors import RequestError
from ..scenario.render import prompt_tokens
from ..state.journal import iso_time
from ..state.keys import Keyring, KeySpec, credit_error, now_iso
from ..wire.dialects.base import JSON, dumps, scenario_model
from . import body as bodies
from .runtime import Handler, RequestContext, Runtime

#: ``total_credits`` reported for a key without a credit limit.
UNLIMITED_CREDITS = 1_000_000.0
#: Vector length for embedding models the catalog does not know.
DEFAULT_DIMENSIONS = 1536
#: POST routes answered by the scenario engine (``chat.py``), and the shape of their answer.
ENGINE_ROUTES = {"/chat/completions": "chat", "/completions": "text"}


def json_response(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(body, status_code=status, media_type=JSON.decode(), headers=headers)


async def list_models(app: Runtime, request: Request, ctx: RequestContext) -> Response:
    """``GET /models``: the catalog plus every ``mockrouter/<scenario>`` id. No key needed."""
    return json_response(ctx.dialect.models(app.catalog, app.scenario_model_ids()))


def serves(name: str) -> Callable[[Handler], Handler]:
    """Register a handler under route ``name``: a dialect without it answers 404."""

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def checked(app: Runtime, request: Request, ctx: RequestContext) -> Response:
            if name not in ctx.dialect.endpoints:
                raise RequestError(404, f"No route for {ctx.method} {ctx.path}.")
            return await handler(app, request, ctx)

        return checked

    return wrap


def _rest(ctx: RequestContext, marker: str) -> str:
    """The path after ``marker`` (``/models/`` → the id, slashes included)."""
    return ctx.path.split(marker, 1)[1]


# -- catalog (no key needed) -----------------------------------------------------------------


@serves("models_count")
async def models_count(app: Runtime, request: Request, ctx: RequestContext) -> Response:
    return json_response(ctx.dialect.models_count(len(app.catalog.models) + len(app.scenario_model_ids())))


@serves("providers")
async def providers(app: Runtime, request: Request, ctx: RequestContext) -> Response:
    return json_response(ctx.dialect.providers(app.catalog.provider_names()))


@serves("health")
async def health(app: Runtime, request: Request, ctx: RequestContext) -> Response:
    return json_response(ctx.dialect.health(app.catalog.provider_names()))


async def model_path(app: Runtime, request: Request, ctx: RequestContext) -> Response:
    """``GET /models/{id}`` (anyrouter; the id URL-encoded or not) and
    ``GET /models/{author}/{slug}/endpoints`` (openrouter)."""
    rest = _rest(ctx, "/models/")
    endpoints = ctx.dialect.endpoints
    if "model_endpoints" in endpoints and rest.endswith("/endpoints"):
        return json_response(ctx.dialect.model_endpoints(_model(app, rest.removesuffix("/endpoints"))))
    if "model_detail" in endpoints:
        return json_response(ctx.dialect.model(_model(app, rest)))
    raise RequestError(404, f"No route for {ctx.method} {ctx.path}.")


def _model(app: Runtime, model_id: str) -> Any:
    found = app.catalog.get(model_id)
    if found is not None:
        return found
    if model_id.startswith(SCENARIO_MODEL_PREFIX) and app.known_model(model_id):
        return scenario_model(model_id)
    raise RequestError(404, f"Model {model_id!r} not found.")


# -- account -----------------------------------------------------------------------------------


async def spent(app: Runtime, key: str, spec: KeySpec | None) -> float:
    """USD a key has spent: charged as it went (a keyring key), else summed from the journal."""
    if spec is not None:
        return await app.store.spent(key)
    journal = await app.store.journal()
    return sum((e.get("usage") or {}).get("cost") or 0 for e in journal.query(key=key))


async def free_requests(app: Runtime, key: str) -> int:
    """The key's journaled requests to ``:free`` models (OpenRouter's free-model daily quota)."""
    journal = await app.store.journal()
    return journal.count(key, lambda e: (e.model or "").endswith(":free"))


async def key_info(app: Runtime, request: Request, ctx: RequestContext) -> Response:
    key = await app.authenticate(ctx)
    body = ctx.dialect.key_info(key, ctx.account, await spent(app, key, ctx.account), await free_requests(app, key))
    return json_response(body)


auth_key = serves("auth_key")(key_info)
key_alias = serves("key")(key_info)


@serves("credits")
async def credits(app: Runtime, request: Request, ctx: RequestContext) -> Response:
    key = await app.authenticate(ctx)
    spec = ctx.account
    total = spec.credits if spec is not None and spec.credits is not None else UNLIMITED_CREDITS
    return json_response(ctx.dialect.credits(total, await spent(app, key, spec)))


# -- generation stats ------------------------------------------------------------------------


async def _generation(app: Runtime, ctx: RequestContext, generation_id: str) -> Response:
    key = await app.authenticate(ctx)
    if not generation_id:
        raise RequestError.invalid("id", "the generation id is required")
    found = (await app.store.journal()).query(key=key, where=lambda e: e.generation_id == generation_id, limit=1)
    if found:
        return json_response(ctx.dialect.generation(found[0]))
    raise RequestError(404, f"Generation {generation_id!r} not found.")


@serves("generation_by_path")
async def generation_by_path(app: Runtime, request: Request, ctx: RequestContext) -> Response:
    return await _generation(app, ctx, _rest(ctx, "/generation/"))


@serves("generation_by_query")
async def generation_by_query(app: Runtime, request: Request, ctx: RequestContext) -> Response:
    return await _generation(app, ctx, request.query_params.get("id", ""))


# -- embeddings ------------------------------------------------------------------------------


async def _json_body(
    app: Runtime, request: Request, ctx: RequestContext, schema: str, *, authenticate: bool = True
) -> dict[str, Any]:
    """The request's JSON object (journaled), valid against ``schema``; a bad body is
    answered after the auth check (pass ``authenticate=False`` when the caller did it)."""
    raw = await bodies.read_body(request.receive, app.config.max_body)
    try:
        body, problem = bodies.parse_json(raw, ctx.headers, ctx.entry), None
    except RequestError as exc:
        body, problem = {}, exc
    if authenticate:
        await app.authenticate(ctx)
    if problem is not None:
        raise problem
    if app.config.validate:
        bodies.validate(app.schemas[schema], body)
    return body


def embedding(seed: str, text: str, dimensions: int) -> list[float]:
    """A unit vector that is a function of (seed, model, text) only."""
    rng = random.Random(hashlib.blake2b(f"{seed}|{text}".encode(), digest_size=16).digest())
    vector = [rng.gauss(0.0, 1.0) for _ in range(dimensions)]
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [round(v / norm, 8) for v in vector]


@serves("embeddings")
async def embeddings(app: Runtime, request: Request, ctx: RequestContext) -> Response:
    body = await _json_body(app, request, ctx, "embeddings-request")
    key = ctx.key or ""
    model_id = body["model"]
    model = app.catalog.get(model_id)
    if model is not None and model.category != "embedding":
        raise RequestError(400, f"{model_id} is not an embedding model", "model")
    if model is None and app.config.strict_models:
        raise RequestError(400, f"{model_id} is not a valid model ID", "model")
    size = (model.dimensions if model is not None else None) or DEFAULT_DIMENSIONS
    wanted = body.get("dimensions")
    if wanted is not None:
        if wanted > size:
            raise RequestError.invalid("dimensions", f"must be at most {size} for {model_id}, got {wanted}")
        size = wanted
    raw_input = body["input"]
    # One text, a list of texts, one list of token ids or a list of them. JSON Schema's
    # "integer" admits 1.0, so a token id may arrive as a float.
    one = not isinstance(raw_input, list) or not raw_input or isinstance(raw_input[0], int | float)
    items = [raw_input] if one else raw_input
    texts = [item if isinstance(item, str) else " ".join(map(str, item)) for item in items]
    tokens = sum(count_tokens(t) for t in texts)
    cost = round(tokens * app.catalog.prices(model_id)[0], 12)
    if ctx.account is not None:
        refused = credit_error(
            ctx.account, await app.store.spent(key), {}, model_id, app.catalog, ctx.dialect.insufficient_credits
        )
        if refused is not None:
            raise RequestError.wrap(refused)
        if not await app.store.charge(key, cost, ctx.account.credits):
            raise RequestError.wrap(ctx.dialect.insufficient_credits(None, None))
    seed = f"{app.config.seed if app.config.seed is not None else 0}|{model_id}"
    vectors: list[Any] = [embedding(seed, t, size) for t in texts]
    if body.get("encoding_format") == "base64":
        vectors = [base64.b64encode(struct.pack(f"<{len(v)}f", *v)).decode() for v in vectors]
    identity = ctx.dialect.identity(app.entropy, int(time.time()))
    provider = app.catalog.provider_for(model_id)
    entry = ctx.entry
    entry.generation_id = identity.id
    entry.api_type = "embeddings"
    entry.model = model_id
    entry.provider = provider
    entry.usage = {"prompt_tokens": tokens, "completion_tokens": 0, "total_tokens": tokens, "cost": cost}
    return json_response(ctx.dialect.embeddings(identity, model_id, provider, vectors, tokens, cost))


# -- Anthropic's count_tokens ------------------------------------------------------------------


async def messages_count_tokens(app: Runtime, request: Request, ctx: RequestContext) -> Response:
    """``POST /messages/count_tokens``: the input tokens a Messages request would be billed
    (what its answer's ``usage.input_tokens`` says), ``{"input_tokens": N}``."""
    raw = await bodies.read_body(request.receive, app.config.max_body)
    try:
        body, problem = bodies.parse_json(raw, ctx.headers, ctx.entry), None
    except RequestError as exc:
        body, problem = {}, exc
    await app.authenticate(ctx)
    if problem is not None:
        raise problem
    if app.config.validate:  # a Messages request without its max_tokens, which counting does not need
        bodies.validate(app.schemas["messages-request"], {"max_tokens": 1, **body})
    ctx.entry.api_type = "count_tokens"
    return json_response(dumps({"input_tokens": prompt_tokens(chat_view(MESSAGES, body))}))


# -- the keys API (openrouter) -----------------------------------------------------------------


async def _manager(app: Runtime, ctx: RequestContext) -> Keyring:
    """The keyring (made on first use), if the caller may manage keys: with a keys file
    only its ``management`` keys may; without one, any key may."""
    await app.authenticate(ctx)
    keyring = app.state.keyring
    if keyring is not None and keyring.enforce and not (ctx.account is not None and ctx.account.management):
        raise RequestError(403, "Only management keys can perform this operation")
    if keyring is None:
        keyring = app.state.keyring = Keyring([], enforce=False)
    return keyring


async def _key_object(app: Runtime, ctx: RequestContext, spec: KeySpec) -> dict[str, Any]:
    used = (await app.store.journal()).last_time(spec.key, lambda e: e.generation_id is not None)
    return ctx.dialect.key_object(spec, await spent(app, spec.key, spec), iso_time(used) if used is not None else None)


@serves("keys")
async def list_keys(app: Runtime, request: Request, ctx: RequestContext) -> Response:
    keyring = await _manager(app, ctx)
    flag = request.query_params.get("include_disabled", "false").lower()
    if flag not in ("true", "false"):
        raise RequestError(400, "include_disabled must be true or false", "include_disabled")
    include_disabled = flag == "true"
    offset = request.query_params.get("offset", "0")
    if not offset.isdigit():
        raise RequestError(400, "offset must be a non-negative integer", "offset")
    specs = [s for s in keyring.by_key.values() if include_disabled or not s.disabled][int(offset) :]
    return json_response(ctx.dialect.keys_body([await _key_object(app, ctx, s) for s in specs]))


@serves("keys")
async def create_key(app: Runtime, request: Request, ctx: RequestContext) -> Response:
    keyring = await _manager(app, ctx)
    body = await _json_body(app, request, ctx, "key-create-request.openrouter", authenticate=False)
    spec = KeySpec(
        key="sk-or-v1-" + secrets.token_hex(32),
        label=body["name"],
        credits=body.get("limit"),
        limit_reset=body.get("limit_reset"),
        include_byok_in_limit=bool(body.get("include_byok_in_limit", False)),
        expires_at=body.get("expires_at"),
    )
    keyring.add(spec)
    return json_response(ctx.dialect.keys_body(await _key_object(app, ctx, spec), raw_key=spec.key), status=201)


async def _by_hash(app: Runtime, ctx: RequestContext) -> tuple[Keyring, KeySpec]:
    keyring = await _manager(app, ctx)
    digest = _rest(ctx, "/keys/")
    spec = keyring.find_hash(digest)
    if spec is None:
        raise RequestError(404, f"No key with hash {digest!r}.")
    return keyring, spec


@serves("keys")
async def get_key(app: Runtime, request: Request, ctx: RequestContext) -> Response:
    _, spec = await _by_hash(app, ctx)
    return json_response(ctx.dialect.keys_body(await _key_object(app, ctx, spec)))


@serves("keys")
async def update_key(app: Runtime, request: Request, ctx: RequestContext) -> Response:
    _, spec = await _by_hash(app, ctx)
    body = await _json_body(app, request, ctx, "key-update-request.openrouter", authenticate=False)
    if "name" in body:
        spec.label = body["name"]
    if "disabled" in body:
        spec.disabled = body["disabled"]
    if "limit" in body:
        spec.credits = body["limit"]
    if "limit_reset" in body:
        spec.limit_reset = body["limit_reset"]
    if "include_byok_in_limit" in body:
        spec.include_byok_in_limit = body["include_byok_in_limit"]
    spec.updated_at = now_iso()
    return json_response(ctx.dialect.keys_body(await _key_object(app, ctx, spec)))


@serves("keys")
async def delete_key(app: Runtime, request: Request, ctx: RequestContext) -> Response:
    keyring, spec = await _by_hash(app, ctx)
    keyring.delete(spec)
    return json_response(ctx.dialect.key_deleted())


ROUTES: dict[str, dict[str, Handler]] = {
    "/models": {"GET": list_models},
    "/models/count": {"GET": models_count},
    "/providers": {"GET": providers},
    "/health": {"GET": health},
    "/auth/key": {"GET": auth_key},
    "/key": {"GET": key_alias},
    "/credits": {"GET": credits},
    "/generation": {"GET": generation_by_query},
    "/embeddings": {"POST": embeddings},
    "/keys": {"GET": list_keys, "POST": create_key},
    "/messages/count_tokens": {"POST": messages_count_tokens},
}
#: Routes that speak Anthropic's dialect: the key may come in ``x-api-key``, errors are Anthropic's.
ANTHROPIC_ROUTES = ("/messages/count_tokens",)
#: Routes with a trailing id (which may hold slashes: model ids).
PREFIX_ROUTES: list[tuple[str, dict[str, Handler]]] = [
    ("/models/", {"GET": model_path}),
    ("/generation/", {"GET": generation_by_path}),
    ("/keys/", {"GET": get_key, "PATCH": update_key, "DELETE": delete_key}),
]
