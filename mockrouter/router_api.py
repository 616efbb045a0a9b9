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
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from .catalog import SCENARIO_MODEL_PREFIX
from .chat import RequestError, _parse, _read
from .dialects.base import JSON, Dialect
from .journal import iso_time
from .keys import Keyring, KeySpec, credit_error, now_iso
from .tokens import count_tokens

if TYPE_CHECKING:
    from .app import Handler, MockrouterApp, RequestInfo

#: ``total_credits`` reported for a key without a credit limit.
UNLIMITED_CREDITS = 1_000_000.0
#: Vector length for embedding models the catalog does not know.
DEFAULT_DIMENSIONS = 1536
#: POST routes answered by the scenario engine (``chat.py``), and the shape of their answer.
ENGINE_ROUTES = {"/chat/completions": "chat", "/completions": "text"}


def json_response(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(body, status_code=status, media_type=JSON.decode(), headers=headers)


async def list_models(app: MockrouterApp, request: Request, info: RequestInfo) -> Response:
    """``GET /models``: the catalog plus every ``mockrouter/<scenario>`` id. No key needed."""
    return json_response(info.dialect.models(app.catalog, app.scenario_model_ids()))


def serves(name: str) -> Any:
    """Register a handler under route ``name``: a dialect without it answers 404."""

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def checked(app: MockrouterApp, request: Request, info: RequestInfo) -> Response:
            if name not in info.dialect.endpoints:
                raise RequestError(404, f"No route for {info.method} {info.path}.")
            return await handler(app, request, info)

        return checked

    return wrap


def _rest(info: RequestInfo, marker: str) -> str:
    """The path after ``marker`` (``/models/`` → the id, slashes included)."""
    return info.path.split(marker, 1)[1]


# -- catalog (no key needed) -----------------------------------------------------------------


@serves("models_count")
async def models_count(app: MockrouterApp, request: Request, info: RequestInfo) -> Response:
    return json_response(info.dialect.models_count(len(app.catalog.models) + len(app.scenario_model_ids())))


@serves("providers")
async def providers(app: MockrouterApp, request: Request, info: RequestInfo) -> Response:
    return json_response(info.dialect.providers(app.catalog.provider_names()))


@serves("health")
async def health(app: MockrouterApp, request: Request, info: RequestInfo) -> Response:
    return json_response(info.dialect.health(app.catalog.provider_names()))


async def model_path(app: MockrouterApp, request: Request, info: RequestInfo) -> Response:
    """``GET /models/{id}`` (anyrouter; the id URL-encoded or not) and
    ``GET /models/{author}/{slug}/endpoints`` (openrouter)."""
    rest = _rest(info, "/models/")
    endpoints = info.dialect.endpoints
    if "model_endpoints" in endpoints and rest.endswith("/endpoints"):
        return json_response(info.dialect.model_endpoints(_model(app, rest.removesuffix("/endpoints"))))
    if "model_detail" in endpoints:
        return json_response(info.dialect.model(_model(app, rest)))
    raise RequestError(404, f"No route for {info.method} {info.path}.")


def _model(app: MockrouterApp, model_id: str) -> Any:
    found = app.catalog.get(model_id)
    if found is not None:
        return found
    if model_id.startswith(SCENARIO_MODEL_PREFIX) and app.known_model(model_id):
        return Dialect.scenario_model(model_id)
    raise RequestError(404, f"Model {model_id!r} not found.")


# -- account -----------------------------------------------------------------------------------


def spent(app: MockrouterApp, key: str, spec: KeySpec | None) -> float:
    """USD a key has spent: charged as it went (a keyring key), else summed from the journal."""
    if spec is not None:
        ks = app.state.keys.get(key)
        return ks.usage if ks is not None else 0.0
    return sum((e.get("usage") or {}).get("cost") or 0 for e in app.state.journal.query(key=key))


def free_requests(app: MockrouterApp, key: str) -> int:
    """The key's journaled requests to ``:free`` models (OpenRouter's free-model daily quota)."""
    return app.state.journal.count(key, lambda e: str(e.get("model") or "").endswith(":free"))


async def key_info(app: MockrouterApp, request: Request, info: RequestInfo) -> Response:
    key = app.authenticate(info)
    body = info.dialect.key_info(key, info.account, spent(app, key, info.account), free_requests(app, key))
    return json_response(body)


auth_key = serves("auth_key")(key_info)
key_alias = serves("key")(key_info)


@serves("credits")
async def credits(app: MockrouterApp, request: Request, info: RequestInfo) -> Response:
    key = app.authenticate(info)
    spec = info.account
    total = spec.credits if spec is not None and spec.credits is not None else UNLIMITED_CREDITS
    return json_response(info.dialect.credits(total, spent(app, key, spec)))


# -- generation stats ------------------------------------------------------------------------


def _generation(app: MockrouterApp, info: RequestInfo, generation_id: str) -> Response:
    key = app.authenticate(info)
    if not generation_id:
        raise RequestError.invalid("id", "the generation id is required")
    found = app.state.journal.query(key=key, where=lambda e: e.get("generation_id") == generation_id, limit=1)
    if found:
        return json_response(info.dialect.generation(found[0]))
    raise RequestError(404, f"Generation {generation_id!r} not found.")


@serves("generation_by_path")
async def generation_by_path(app: MockrouterApp, request: Request, info: RequestInfo) -> Response:
    return _generation(app, info, _rest(info, "/generation/"))


@serves("generation_by_query")
async def generation_by_query(app: MockrouterApp, request: Request, info: RequestInfo) -> Response:
    return _generation(app, info, request.query_params.get("id", ""))


# -- embeddings ------------------------------------------------------------------------------


async def _json_body(
    app: MockrouterApp, request: Request, info: RequestInfo, schema: str, *, authenticate: bool = True
) -> dict[str, Any]:
    """The request's JSON object (journaled), valid against ``schema``; a bad body is
    answered after the auth check (pass ``authenticate=False`` when the caller did it)."""
    raw = await _read(app, request.receive)
    try:
        body, problem = _parse(raw, info.headers, info.entry), None
    except RequestError as exc:
        body, problem = {}, exc
    if authenticate:
        app.authenticate(info)
    if problem is not None:
        raise problem
    if app.config.validate:
        violation = app.schemas[schema].violation(body)
        if violation is not None:
            raise RequestError.violated(violation)
    return body


def embedding(seed: str, text: str, dimensions: int) -> list[float]:
    """A unit vector that is a function of (seed, model, text) only."""
    rng = random.Random(hashlib.blake2b(f"{seed}|{text}".encode(), digest_size=16).digest())
    vector = [rng.gauss(0.0, 1.0) for _ in range(dimensions)]
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [round(v / norm, 8) for v in vector]


@serves("embeddings")
async def embeddings(app: MockrouterApp, request: Request, info: RequestInfo) -> Response:
    body = await _json_body(app, request, info, "embeddings-request")
    key = info.key or ""
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
    if info.account is not None:
        refused = credit_error(info.account, app.state.key(key), {}, model_id, app.catalog, info.dialect)
        if refused is not None:
            raise RequestError.wrap(refused)
        app.state.key(key).usage += cost
    seed = f"{app.config.seed if app.config.seed is not None else 0}|{model_id}"
    vectors: list[Any] = [embedding(seed, t, size) for t in texts]
    if body.get("encoding_format") == "base64":
        vectors = [base64.b64encode(struct.pack(f"<{len(v)}f", *v)).decode() for v in vectors]
    identity = info.dialect.identity(app.entropy, int(time.time()))
    provider = app.catalog.provider_for(model_id)
    entry = info.entry
    entry.update(
        generation_id=identity.id,
        api_type="embeddings",
        model=model_id,
        provider=provider,
        usage={"prompt_tokens": tokens, "completion_tokens": 0, "total_tokens": tokens, "cost": cost},
    )
    return json_response(info.dialect.embeddings(identity, model_id, provider, vectors, tokens, cost))


# -- the keys API (openrouter) -----------------------------------------------------------------


def _manager(app: MockrouterApp, info: RequestInfo) -> Keyring:
    """The keyring (made on first use), if the caller may manage keys: with a keys file
    only its ``management`` keys may; without one, any key may."""
    app.authenticate(info)
    keyring = app.state.keyring
    if keyring is not None and keyring.enforce and not (info.account is not None and info.account.management):
        raise RequestError(403, "Only management keys can perform this operation")
    if keyring is None:
        keyring = app.state.keyring = Keyring([], enforce=False)
    return keyring


def _key_object(app: MockrouterApp, info: RequestInfo, spec: KeySpec) -> dict[str, Any]:
    used = app.state.journal.last_time(spec.key, lambda e: e.get("generation_id") is not None)
    return info.dialect.key_object(spec, spent(app, spec.key, spec), iso_time(used) if used is not None else None)


@serves("keys")
async def list_keys(app: MockrouterApp, request: Request, info: RequestInfo) -> Response:
    keyring = _manager(app, info)
    flag = request.query_params.get("include_disabled", "false").lower()
    if flag not in ("true", "false"):
        raise RequestError(400, "include_disabled must be true or false", "include_disabled")
    include_disabled = flag == "true"
    offset = request.query_params.get("offset", "0")
    if not offset.isdigit():
        raise RequestError(400, "offset must be a non-negative integer", "offset")
    specs = [s for s in keyring.by_key.values() if include_disabled or not s.disabled][int(offset) :]
    return json_response(info.dialect.keys_body([_key_object(app, info, s) for s in specs]))


@serves("keys")
async def create_key(app: MockrouterApp, request: Request, info: RequestInfo) -> Response:
    keyring = _manager(app, info)
    body = await _json_body(app, request, info, "key-create-request.openrouter", authenticate=False)
    spec = KeySpec(
        key="sk-or-v1-" + secrets.token_hex(32),
        label=body["name"],
        credits=body.get("limit"),
        limit_reset=body.get("limit_reset"),
        include_byok_in_limit=bool(body.get("include_byok_in_limit", False)),
        expires_at=body.get("expires_at"),
    )
    keyring.add(spec)
    return json_response(info.dialect.keys_body(_key_object(app, info, spec), raw_key=spec.key), status=201)


def _by_hash(app: MockrouterApp, info: RequestInfo) -> tuple[Keyring, KeySpec]:
    keyring = _manager(app, info)
    digest = _rest(info, "/keys/")
    spec = keyring.find_hash(digest)
    if spec is None:
        raise RequestError(404, f"No key with hash {digest!r}.")
    return keyring, spec


@serves("keys")
async def get_key(app: MockrouterApp, request: Request, info: RequestInfo) -> Response:
    _, spec = _by_hash(app, info)
    return json_response(info.dialect.keys_body(_key_object(app, info, spec)))


@serves("keys")
async def update_key(app: MockrouterApp, request: Request, info: RequestInfo) -> Response:
    _, spec = _by_hash(app, info)
    body = await _json_body(app, request, info, "key-update-request.openrouter", authenticate=False)
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
    return json_response(info.dialect.keys_body(_key_object(app, info, spec)))


@serves("keys")
async def delete_key(app: MockrouterApp, request: Request, info: RequestInfo) -> Response:
    keyring, spec = _by_hash(app, info)
    keyring.delete(spec)
    return json_response(info.dialect.key_deleted())


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
}
#: Routes with a trailing id (which may hold slashes: model ids).
PREFIX_ROUTES: list[tuple[str, dict[str, Handler]]] = [
    ("/models/", {"GET": model_path}),
    ("/generation/", {"GET": generation_by_path}),
    ("/keys/", {"GET": get_key, "PATCH": update_key, "DELETE": delete_key}),
]
