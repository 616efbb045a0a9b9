"""``POST /chat/completions``: the hot path, in raw ASGI.

validate → select (engine) → render (engine) → encode (dialect) → write (stream writer),
recording everything in one journal entry.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import orjson

from .asgi import (
    BodyTooLarge,
    ClientGone,
    DeliberateDisconnect,
    Receive,
    Scope,
    Send,
    read_body,
    send_response,
)
from .compiled import CompiledAnswer, compiled_answer
from .dialects.base import JSON, Dialect, Identity
from .journal import RAW_BODY
from .keys import credit_error
from .reply import HttpError, Reply
from .scenario.engine import Selection, SelectionError
from .scenario.matcher import RequestFacts
from .scenario.model import Step
from .scenario.render import RenderInput, prompt_tokens, render, render_static, requested_max_tokens
from .schemas import Violation, json_type
from .stream import NO_PACING, Delivery, Pacing, write_stream

if TYPE_CHECKING:
    from .app import MockrouterApp, RequestInfo

#: ``created`` of seeded responses: a fixed epoch plus a seeded offset (within one year).
SEEDED_EPOCH = 1_767_225_600


class RequestError(Exception):
    """A client error found before any scenario ran; answered in the dialect's format."""

    def __init__(self, status: int, message: str, param: str | None = None) -> None:
        self.error = HttpError(status=status, message=message, param=param)
        super().__init__(message)

    @classmethod
    def invalid(cls, field: str, problem: str) -> RequestError:
        """The 400 for a request field that is missing or wrong: ``param`` is its JSON path
        (``messages[0].role``; None for the body itself), and the message says what is
        wrong with it (``Invalid request: messages[0].role: required field is missing``)."""
        return cls(400, f"Invalid request: {field or 'body'}: {problem}", field or None)

    @classmethod
    def violated(cls, violation: Violation) -> RequestError:
        """The 400 for a body that breaks its schema."""
        return cls.invalid(violation.field, violation.problem)

    @classmethod
    def wrap(cls, error: HttpError) -> RequestError:
        """A RequestError answering with ``error`` as it is (headers, metadata and all)."""
        exc = cls(error.status, error.message or "")
        exc.error = error
        return exc


def _content_type_ok(value: str | None) -> bool:
    if value == "application/json":  # what nearly every client sends
        return True
    if value is None:
        return False
    return value.split(";", 1)[0].strip().lower() == "application/json"


async def chat_completions(app: MockrouterApp, scope: Scope, receive: Receive, send: Send, info: RequestInfo) -> None:
    entry = info.entry
    dialect = info.dialect
    try:
        try:
            raw = await _read(app, receive)
            try:
                body, parse_error = _parse(raw, info.headers, entry), None
            except RequestError as exc:  # recorded; answered after the auth check
                body, parse_error = {}, exc
            key = app.authenticate(info)
            if parse_error is not None:
                raise parse_error
            text = app._chat_paths[info.path] == "text"
            if text:  # legacy /completions: the prompt becomes the user message
                body = _prompt_as_messages(app, body)
            _validate(app, dialect, body)
            await _answer(app, scope, receive, send, info, raw, body, key, text)
        except RequestError as exc:
            await app.send_error(send, info, exc.error)
        except SelectionError as exc:
            await app.send_error(send, info, exc.error)
    except (ClientGone, asyncio.CancelledError):
        entry["client_disconnected"] = True
        raise
    except DeliberateDisconnect:
        entry["client_disconnected"] = False
        raise
    finally:
        entry["duration_ms"] = (time.perf_counter() - info.started) * 1000
        app.state.journal.add(entry)


async def _read(app: MockrouterApp, receive: Receive) -> bytes:
    try:
        return await read_body(receive, app.config.max_body)
    except BodyTooLarge:
        raise RequestError(413, f"Request body is larger than {app.config.max_body} bytes.") from None


def _parse(raw: bytes, headers: dict[str, str], entry: dict[str, Any]) -> dict[str, Any]:
    """The JSON object in the body (recorded in the journal), or a RequestError saying why not."""
    if _content_type_ok(headers.get("content-type")):  # fast path: a good request
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = None
        if type(body) is dict:
            entry[RAW_BODY] = raw
            return body
    return _explain_bad_body(raw, headers, entry)


def _explain_bad_body(raw: bytes, headers: dict[str, str], entry: dict[str, Any]) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        entry["body"] = raw.decode("utf-8", errors="replace")
        raise RequestError(400, f"Request body is not valid UTF-8 (byte {exc.start}).") from None
    entry["body"] = text
    if not raw.strip():
        raise RequestError(400, "Request body is empty; expected a JSON object.")
    content_type = headers.get("content-type")
    if content_type is None:
        raise RequestError(400, "Content-Type header is missing; send Content-Type: application/json.")
    if not _content_type_ok(content_type):
        raise RequestError(400, f"Content-Type must be application/json, not {orjson.dumps(content_type).decode()}.")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise RequestError(400, f"Malformed JSON in request body: {exc}") from None
    if not isinstance(body, dict):
        entry["body"] = body
        raise RequestError(400, f"Request body must be a JSON object, got {json_type(body)}.")
    del entry["body"]
    entry[RAW_BODY] = raw
    return body


def _validate(app: MockrouterApp, dialect: Dialect, body: dict[str, Any]) -> None:
    if app.config.validate:
        violation = app.request_schema.violation(body)
        if violation is not None:
            raise RequestError.violated(violation)
    if dialect.requires_model and not body.get("model") and not _model_chain("", body.get("models")):
        raise RequestError.invalid("model", "required field is missing")
    model = body.get("model")
    if app.config.strict_models:
        if isinstance(model, str) and not app.known_model(model):
            raise RequestError(400, f"{model} is not a valid model ID", "model")
        for i, fallback in enumerate(body.get("models") or ()):
            if isinstance(fallback, str) and not app.known_model(fallback):
                raise RequestError(400, f"{fallback} is not a valid model ID", f"models[{i}]")


def _prompt_as_messages(app: MockrouterApp, body: dict[str, Any]) -> dict[str, Any]:
    """A legacy ``/completions`` body as a chat body: ``prompt`` → one user message."""
    if "prompt" not in body:
        raise RequestError.invalid("prompt", "required field is missing")
    if app.config.validate:
        violation = app.schemas["completions-request"].violation(body)
        if violation is not None:
            raise RequestError.violated(violation)
    prompt = body.get("prompt")
    if isinstance(prompt, list):
        prompt = prompt[0] if prompt else ""
    chat = {k: v for k, v in body.items() if k != "prompt"}
    chat["messages"] = [{"role": "user", "content": prompt if isinstance(prompt, str) else str(prompt)}]
    return chat


def request_rng(app: MockrouterApp, dialect: Dialect, seq: int, raw: bytes) -> tuple[random.Random, int]:
    """The per-request random source and ``created`` second (both fixed by ``--seed``)."""
    seed = app.config.seed
    if seed is None:  # nothing to reproduce: the app's own generator, no per-request seeding
        return app.entropy, int(time.time())
    digest = hashlib.blake2b(f"{seed}|{dialect.name}|{seq}|".encode() + raw, digest_size=32).digest()
    rng = random.Random(digest)
    return rng, SEEDED_EPOCH + rng.randrange(365 * 86400)


async def _answer(
    app: MockrouterApp,
    scope: Scope,
    receive: Receive,
    send: Send,
    info: RequestInfo,
    raw: bytes,
    body: dict[str, Any],
    key: str,
    text: bool = False,
) -> None:
    entry = info.entry
    dialect = info.dialect
    headers = info.headers
    facts = RequestFacts.from_body(body, headers)
    entry["stream"] = facts.stream
    models = body.get("models")
    if models:  # a fallback list: the first model, then each other in turn while steps are errors
        chain = _model_chain(facts.model, models)
        if chain and chain[0] != facts.model:
            facts = replace(facts, model=chain[0])
    if info.account is not None:  # a keyring key: 402 before anything is generated
        refused = credit_error(info.account, app.state.key(key), body, facts.model, app.catalog, dialect)
        if refused is not None:
            await app.send_error(send, info, refused)
            return
    state_key = headers.get("x-mockrouter-session") or key
    key_state = app.state.key(state_key)
    key_state.requests += 1
    seq = key_state.requests
    rng, created = request_rng(app, dialect, seq, raw)
    selection = _select(app, entry, facts, key, state_key, rng)
    step = selection.step
    answer = _compiled_for(app, info, step, facts) if step.plain and not (text or models) else None
    if answer is not None:
        await _send_compiled(app, send, info, step, answer, body, rng, created)
        return
    result = _render(app, step, facts, seq, rng)
    if selection.step.fuzz:
        await _send_fuzz(app, send, info, body, facts.stream, seq, raw)
        return
    if models and isinstance(result, HttpError) and len(chain) > 1:
        entry["models_tried"] = [facts.model]
        for model in chain[1:]:
            facts = replace(facts, model=model)
            entry["models_tried"].append(model)
            selection = _select(app, entry, facts, key, state_key, rng)
            result = _render(app, selection.step, facts, seq, rng)
            if not isinstance(result, HttpError):
                break
    preferred = None
    if not selection.step.provider and (body.get("provider") or dialect.provider_header in headers):
        preferred = _preferred_provider(app, dialect, body, headers)
    if isinstance(result, HttpError):
        if result.provider is None and result.status in (502, 503, 504):  # a copy: steps are shared
            result = replace(result, provider=preferred or app.catalog.provider_for(facts.model))
        if selection.step.timing.latency_ms and app.config.speed:
            await asyncio.sleep(selection.step.timing.latency_ms * app.config.speed / 1000)
        await app.send_error(send, info, result)
        return
    if preferred is not None:
        result.provider = preferred
    await _send_reply(app, scope, receive, send, info, result, body, rng, created, text)


def _select(
    app: MockrouterApp, entry: dict[str, Any], facts: RequestFacts, key: str, state_key: str, rng: random.Random
) -> Selection:
    selection = app.engine.select(facts, key, state_key, facts.headers.get("x-mockrouter-scenario"), app.state, rng)
    entry["scenario"] = selection.scenario.name
    entry["step"] = selection.step_index if selection.step_index >= 0 else None
    entry["selected_by"] = "chaos" if selection.chaos else selection.how
    if selection.how == "default":
        entry["unmatched"] = True
        entry["near_misses"] = selection.near_misses
    return selection


def _compiled_for(app: MockrouterApp, info: RequestInfo, step: Step, facts: RequestFacts) -> CompiledAnswer | None:
    """The compiled answer for a plain step, unless this request needs the general path: a
    stream, a keyring account (credits are checked and billed there), a provider preference
    the step does not override, or a ``max_tokens`` that cuts the answer."""
    static = step.static
    if static is None or facts.stream or info.account is not None or not app.config.compile_answers:
        return None
    dialect = info.dialect
    if not step.provider and (facts.body.get("provider") or dialect.provider_header in facts.headers):
        return None
    limit = requested_max_tokens(facts.body)
    if limit is not None and static.tokens > limit:
        return None
    return compiled_answer(step, dialect, app.catalog, step.model or facts.model)


def _render(app: MockrouterApp, step: Step, facts: RequestFacts, seq: int, rng: random.Random) -> Reply | HttpError:
    reply = render_static(step, facts, app.catalog)  # a scripted text: no RenderInput needed
    return reply or render(step, RenderInput(facts, seq, rng, app.faker), app.catalog)


def _model_chain(model: str, models: Any) -> list[str]:
    """``model`` (if given) then the ``models`` fallbacks, each once, in order."""
    chain = [model] if model else []
    if isinstance(models, list):
        chain += [m for m in models if isinstance(m, str) and m and m not in chain]
    return chain


def _preferred_provider(
    app: MockrouterApp, dialect: Dialect, body: dict[str, Any], headers: dict[str, str]
) -> str | None:
    """The provider a request pins (the dialect's header) or prefers (``provider.order``,
    restricted to ``provider.only``; else ``provider.only[0]``), as a display name."""
    if dialect.provider_header is not None and headers.get(dialect.provider_header):
        return app.catalog.provider_display(headers[dialect.provider_header])
    prefs = body.get("provider")
    if not isinstance(prefs, dict):
        return None
    order = [p for p in prefs.get("order") or () if isinstance(p, str) and p.strip()]
    only = [p for p in prefs.get("only") or () if isinstance(p, str) and p.strip()]
    if only:
        allowed = {p.lower() for p in only}
        order = [p for p in order if p.lower() in allowed] or only
    return app.catalog.provider_display(order[0]) if order else None


def _journal_answer(
    entry: dict[str, Any],
    generation_id: str,
    expected: Any,
    usage: dict[str, Any] | bytes,
    model: str,
    provider: str | None,
    finish_reason: str | None,
    native_finish_reason: str | None,
) -> None:
    """What every answered completion journals; both answer paths (``_send_reply`` and
    ``_send_compiled``) write it here, so their entries cannot drift apart."""
    entry["generation_id"] = generation_id
    entry["expected"] = expected
    entry["status"] = 200
    entry["usage"] = usage
    entry["model"] = model
    entry["provider"] = provider
    entry["finish_reason"] = finish_reason
    if native_finish_reason is not None:
        entry["native_finish_reason"] = native_finish_reason


async def _send_reply(
    app: MockrouterApp,
    scope: Scope,
    receive: Receive,
    send: Send,
    info: RequestInfo,
    reply: Reply,
    body: dict[str, Any],
    rng: random.Random,
    created: int,
    text: bool = False,
) -> None:
    entry = info.entry
    dialect = info.dialect
    identity: Identity = dialect.identity(rng, created)
    usage = dialect.usage_counts(reply.usage)  # for GET /generation, and the key's bill
    usage["reasoning_tokens"] = reply.usage.reasoning_tokens
    _journal_answer(
        entry,
        identity.id,
        reply.expected(),
        usage,
        reply.model,
        reply.provider,
        reply.finish_reason,
        reply.native_finish_reason,
    )
    if info.account is not None:
        app.state.key(info.key or "").usage += usage["cost"] or 0
    headers = dialect.headers(identity, app.rate_info(info))
    pacing = NO_PACING if reply.timing.is_zero else Pacing(reply.timing, app.config.speed, rng)
    if pacing.latency:
        await asyncio.sleep(pacing.latency)
    if entry["stream"]:
        delivery = Delivery()
        try:
            await write_stream(
                send,
                receive,
                dialect.text_stream(reply, identity, body) if text else dialect.stream(reply, identity, body),
                reply,
                headers,
                pacing,
                delivery,
                speed=app.config.speed,
            )
        finally:
            entry["bytes_sent"] = delivery.bytes_sent
            entry["chunks_sent"] = delivery.chunks_sent
            entry["ttft_ms"] = delivery.ttft_ms
            entry["client_disconnected"] = delivery.client_disconnected
            entry["disconnected_after_ms"] = delivery.disconnected_after_ms
            entry["fault"] = delivery.fault
        return
    payload = dialect.text_completion(reply, identity) if text else dialect.completion(reply, identity)
    if reply.fault is not None:
        entry["fault"] = reply.fault.kind
        if reply.fault.kind != "error":
            await _broken_json(app, send, receive, payload, headers, reply, entry)
            return
    await send_response(send, 200, payload, JSON, headers)
    entry["bytes_sent"] = len(payload)
    entry["ttft_ms"] = (time.perf_counter() - info.started) * 1000


async def _send_compiled(
    app: MockrouterApp,
    send: Send,
    info: RequestInfo,
    step: Step,
    answer: CompiledAnswer,
    body: dict[str, Any],
    rng: random.Random,
    created: int,
) -> None:
    """A plain step's non-streaming answer from its compiled bytes: what ``_send_reply``
    answers and journals for the same step, without rendering a ``Reply``."""
    entry = info.entry
    dialect = info.dialect
    static = step.static
    assert static is not None
    identity = dialect.identity(rng, created)
    usage, journaled_usage = answer.usage(prompt_tokens(body))
    payload = answer.body(identity, usage)
    _journal_answer(
        entry,
        identity.id,
        answer.expected,
        journaled_usage,
        answer.model,
        answer.provider,
        static.finish_reason,
        step.native_finish_reason,
    )
    await send_response(send, 200, payload, JSON, dialect.headers(identity, app.rate_info(info)))
    entry["bytes_sent"] = len(payload)
    entry["ttft_ms"] = (time.perf_counter() - info.started) * 1000


async def _send_fuzz(
    app: MockrouterApp, send: Send, info: RequestInfo, body: dict[str, Any], stream: bool, seq: int, raw: bytes
) -> None:
    """The ``fuzz`` step: a response drawn from ``mockrouter.strategies``, reproducible by its seed.

    The seed is the request's ``X-Mockrouter-Seed``, else derived from ``--seed`` (like every
    seeded answer), else random; it goes back in ``X-Mockrouter-Seed``. Drawing takes a few
    to tens of milliseconds of CPU, so it runs in a worker thread."""
    from .strategies import draw_response  # imports hypothesis machinery: only when fuzzing

    entry = info.entry
    asked = info.headers.get("x-mockrouter-seed", "")
    if asked.isdigit():
        seed = int(asked)
    elif app.config.seed is not None:
        digest = hashlib.blake2b(f"{app.config.seed}|fuzz|{info.dialect.name}|{seq}|".encode() + raw, digest_size=8)
        seed = int.from_bytes(digest.digest()) >> 1
    else:
        seed = app.entropy.getrandbits(63)
    drawn = await asyncio.to_thread(draw_response, seed, dialect=info.dialect.name, stream=stream, request=body)
    headers = [(b"x-mockrouter-seed", str(seed).encode()), *info.dialect.headers(None, app.rate_info(info))]
    entry["status"] = 200
    entry["fuzz_seed"] = seed
    entry["expected"] = drawn.expected
    first = drawn.chunks[0] if stream and drawn.chunks else getattr(drawn, "data", {})
    entry["generation_id"] = first.get("id") if isinstance(first, dict) else None
    if not stream:
        await send_response(send, 200, drawn.body, drawn.content_type.encode(), headers)
        entry["bytes_sent"] = len(drawn.body)
        return
    start = [(b"content-type", drawn.content_type.encode()), (b"cache-control", b"no-cache"), *headers]
    await send({"type": "http.response.start", "status": 200, "headers": start})
    for piece in drawn.writes:  # the drawn cut: pieces may split a line, a CRLF or a UTF-8 character
        await send({"type": "http.response.body", "body": piece, "more_body": True})
    await send({"type": "http.response.body", "body": b""})
    entry["bytes_sent"] = len(drawn.body)
    entry["chunks_sent"] = len(drawn.chunks)


async def _broken_json(
    app: MockrouterApp,
    send: Send,
    receive: Receive,
    payload: bytes,
    headers: list[tuple[bytes, bytes]],
    reply: Reply,
    entry: dict[str, Any],
) -> None:
    """Faults on a non-streaming answer: the JSON body itself goes wrong."""
    assert reply.fault is not None
    kind = reply.fault.kind
    if kind == "stall":
        if reply.fault.ms is not None:
            await asyncio.sleep(reply.fault.ms / 1000)
        else:
            while (await receive())["type"] != "http.disconnect":
                pass
            entry["client_disconnected"] = True
            return
        await send_response(send, 200, payload, JSON, headers)
        entry["bytes_sent"] = len(payload)
        return
    half = payload[: len(payload) // 2]
    if kind == "malformed":
        await send_response(send, 200, half, JSON, headers)
        entry["bytes_sent"] = len(half)
        return
    start = [(b"content-type", JSON), (b"content-length", str(len(payload)).encode()), *headers]
    await send({"type": "http.response.start", "status": 200, "headers": start})
    if kind == "dribble":
        entry["bytes_sent"] = 0
        for i in range(0, len(payload), 3):
            await send({"type": "http.response.body", "body": payload[i : i + 3], "more_body": True})
            entry["bytes_sent"] += len(payload[i : i + 3])
            if app.config.speed:
                await asyncio.sleep(0.01 * app.config.speed)
        await send({"type": "http.response.body", "body": b""})
        return
    await send({"type": "http.response.body", "body": half, "more_body": True})
    entry["bytes_sent"] = len(half)
    raise DeliberateDisconnect  # disconnect and truncate: the body ends short of its length
