"""The answer pipeline of the engine routes (``POST /chat/completions``, ``/completions``,
``/messages``, ``/responses``), in raw ASGI: the hot path.

    body (read, parse, validate against the surface's request schema) → chat view
    (``core.surfaces``) → selection (the engine) → Reply (``render``, the one builder) →
    encoder (the dialect's, for this surface) → writer (JSON, or ``wire.sse``)

and everything is recorded in the request's :class:`~mockrouter.state.journal.JournalEntry`.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from collections.abc import Coroutine
from dataclasses import replace
from functools import partial
from typing import Any

from ..core.catalog import SCENARIO_MODEL_PREFIX
from ..core.reply import HttpError, Reply
from ..core.surfaces import CHAT, MESSAGES, RESPONSES, TEXT, chat_view
from ..errors import ClientGone, DeliberateDisconnect, RequestError, SelectionError, StoreUnavailable
from ..scenario.engine import Selection
from ..scenario.matcher import RequestFacts
from ..scenario.model import Scenario
from ..scenario.render import RenderInput, render
from ..state.journal import ANSWER_CAP, JournalEntry, packed
from ..state.keys import credit_error, credit_need
from ..state.store import Begin
from ..state.store import state_key as state_key_of
from ..wire.asgi import Receive, Scope, Send, send_response
from ..wire.dialects.base import JSON, Dialect, Encoder, Identity
from ..wire.sse import NO_PACING, Delivery, Pacing, stream_body, write_broken_json, write_stream
from . import body as bodies
from . import proxy
from .runtime import RATE_WINDOW_S, RequestContext, Runtime

__all__ = ["SEEDED_EPOCH", "SURFACES", "answer", "request_rng"]

#: ``created`` of seeded responses: a fixed epoch plus a seeded offset (within one year).
SEEDED_EPOCH = 1_767_225_600
#: What the work before an answer returns to :func:`answer`: the next step, to await (a
#: reply's sending, then a stream's writer), which returns the one after it, or None. Each
#: step's locals are let go before the next, which may hold a paced stream open for seconds.
Step = Coroutine[Any, Any, "Step | None"]
#: The engine routes (relative to the API prefix) and the surface each answers.
SURFACES = {"/chat/completions": CHAT, "/completions": TEXT, "/messages": MESSAGES, "/responses": RESPONSES}


async def answer(app: Runtime, scope: Scope, receive: Receive, send: Send, ctx: RequestContext, surface: str) -> None:
    """Answer one request of an engine route; the journal gets its entry whatever happens.

    The work before the answer's first byte returns the sending as a :data:`Step`, awaited
    here, and the sending returns a stream's writer the same way: what only the steps before
    needed (the parsed body, its chat view, the request's facts, the selection, the header
    dict, the response's headers) is let go before a paced stream holds the request open for
    seconds."""
    entry = ctx.entry
    app.pacer.catch_up()  # a burst of requests is taken on in one pass of the loop: paced chunks due go first
    try:
        try:
            step = await _prepare(app, receive, send, ctx, surface)
            if step is not None:
                ctx.headers = {}  # read: a stream held open does not keep them (the journal has them raw)
            while step is not None:
                step = await step
        except RequestError as exc:
            await app.send_error(send, ctx, exc)
        except StoreUnavailable as exc:
            await app.send_error(send, ctx, app.store_error(ctx, exc))
    except (ClientGone, asyncio.CancelledError):
        entry.client_disconnected = True
        raise
    except DeliberateDisconnect:
        entry.client_disconnected = False
        raise
    finally:
        entry.finish(ctx.started)
        app.store.journal_add(entry)


async def _prepare(app: Runtime, receive: Receive, send: Send, ctx: RequestContext, surface: str) -> Step | None:
    """Read, check and answer the request up to its answer's bytes: their sending is returned."""
    raw = await bodies.read_body(receive, app.config.max_body)
    try:
        body, problem = bodies.parse_json(raw, ctx.headers, ctx.entry), None
    except RequestError as exc:  # recorded; answered after the auth check
        body, problem = {}, exc
    key = ctx.key if ctx.key and app.state.keyring is None else await app.authenticate(ctx)
    if problem is not None:
        raise problem
    mode = app.record_mode(key)
    if mode == "record" and not _names_a_scenario(body, ctx.headers):
        await proxy.forward(app, receive, send, ctx, raw, body, surface)
        return None
    if surface == CHAT:
        view = body
        _validate(app, ctx.dialect, body)
    elif surface == TEXT:  # legacy /completions: the prompt becomes the user message
        _check_prompt(app, body)
        view = chat_view(TEXT, body)
        _validate(app, ctx.dialect, view)
    else:
        view = _surface_view(app, surface, body)
    return await _answer(app, receive, send, ctx, raw, body, view, key, surface, mode)


def _validate(app: Runtime, dialect: Dialect, body: dict[str, Any]) -> None:
    if app.config.validate:
        bodies.validate(app.request_schema, body)
    if dialect.requires_model and not body.get("model") and not _model_chain("", body.get("models")):
        raise RequestError.invalid("model", "required field is missing")
    if app.config.strict_models:
        _check_model(app, body.get("model"))
        for i, fallback in enumerate(body.get("models") or ()):
            if isinstance(fallback, str) and not app.known_model(fallback):
                raise RequestError(400, f"{fallback} is not a valid model ID", f"models[{i}]")


def _surface_view(app: Runtime, surface: str, body: dict[str, Any]) -> dict[str, Any]:
    """A Messages or Responses request, validated against its own schema, as the chat view."""
    if app.config.validate:
        bodies.validate(app.schemas[f"{surface}-request"], body)
    if surface == RESPONSES:  # the routers' Responses API keeps no state between requests
        if body.get("store") is True:
            raise RequestError(400, "store: true is not supported: this Responses API is stateless.", "store")
        if body.get("previous_response_id") is not None:
            raise RequestError(
                400,
                "previous_response_id is not supported: this Responses API is stateless; send the whole "
                "conversation in input.",
                "previous_response_id",
            )
    if app.config.strict_models:
        _check_model(app, body.get("model"))
    return chat_view(surface, body)


def _check_model(app: Runtime, model: Any) -> None:
    """``--strict-models``: a model id the catalog (or a scenario) knows, or a 400."""
    if isinstance(model, str) and not app.known_model(model):
        raise RequestError(400, f"{model} is not a valid model ID", "model")


def _check_prompt(app: Runtime, body: dict[str, Any]) -> None:
    """A legacy ``/completions`` body: a ``prompt``, valid against its own schema."""
    if "prompt" not in body:
        raise RequestError.invalid("prompt", "required field is missing")
    if app.config.validate:
        bodies.validate(app.schemas["completions-request"], body)


def request_rng(app: Runtime, dialect: Dialect, seq: int, raw: bytes) -> tuple[random.Random, int]:
    """The per-request random source and ``created`` second (both fixed by ``--seed``)."""
    seed = app.config.seed
    if seed is None:  # nothing to reproduce: the app's own generator, no per-request seeding
        return app.entropy, int(time.time())
    digest = hashlib.blake2b(f"{seed}|{dialect.name}|{seq}|".encode() + raw, digest_size=32).digest()
    rng = random.Random(digest)
    return rng, SEEDED_EPOCH + rng.randrange(365 * 86400)


async def _answer(
    app: Runtime,
    receive: Receive,
    send: Send,
    ctx: RequestContext,
    raw: bytes,
    request: dict[str, Any],
    body: dict[str, Any],
    key: str,
    surface: str,
    mode: str | None = None,
) -> Step | None:
    """Answer a valid request; ``request`` is the body as sent, ``body`` its chat view.
    ``mode`` (record and replay): ``auto`` forwards a request no scenario matches upstream,
    ``replay`` refuses it. A reply is returned as its sending (a coroutine), not sent."""
    entry = ctx.entry
    dialect = ctx.dialect
    headers = ctx.headers
    facts = RequestFacts.from_body(body, headers, surface)
    entry.stream = facts.stream
    models = body.get("models") if surface == CHAT else None
    chain = _model_chain(facts.model, models) if models else []
    if chain and chain[0] != facts.model:  # a fallback list: its first model answers first
        facts = replace(facts, model=chain[0])
    account = ctx.account
    credits = account.credits if account is not None else None
    test = entry.test
    state_key = state_key_of(key, headers.get("x-mockrouter-session"), test)
    header_name = headers.get("x-mockrouter-scenario")
    try:
        scenario, how, misses = app.engine.choose(facts, key, header_name, test)
    except SelectionError:  # perhaps a scenario another process added: catch up, look again
        scenario, how, misses = await _choose(app, facts, key, header_name, test)
    op = Begin(  # positional: this is the hot path
        state_key,
        key,
        RATE_WINDOW_S if ctx.rate is None else None,
        credits,
        credit_need(body, facts.model, app.catalog) if credits is not None else 0.0,
        scenario.name if scenario.chaos is None else None,
        account is not None,
    )
    began = await app.store.begin(op)  # one round trip: window, credit, count, cursor
    if ctx.rate is None:
        app.default_window(ctx, began.window_count, began.window_start)
    if began.refused and account is not None:  # a keyring key: 402 before anything is generated
        refused = credit_error(account, began.spent, body, facts.model, app.catalog, dialect.insufficient_credits)
        await app.send_error(send, ctx, refused or dialect.insufficient_credits(None, None))
        return None
    served = began.served
    if began.scoped != app.scoped_version:  # another process changed the scoped scenarios
        await app.sync_scoped(began.scoped)
        try:
            again, how, misses = await _choose(app, facts, key, header_name, test)
        except SelectionError:  # the scenario is gone (reset elsewhere): its cursor did not serve
            if served >= 0:
                await app.store.advance(scenario.name, state_key, key, by=-1)
            raise
        if again.name != scenario.name:  # (reloaded scenarios are new objects: compare names, as cursors do)
            if served >= 0:  # the cursor moved for the scenario chosen before: give it back
                await app.store.advance(scenario.name, state_key, key, by=-1)
            scenario, served = again, -1
            if scenario.chaos is None:
                served = await app.store.advance(scenario.name, state_key, key)
    seq = began.seq
    rng, created = request_rng(app, dialect, seq, raw)
    selection = app.engine.chaos(scenario, how, misses, rng) if scenario.chaos is not None else None
    if selection is None:
        if served < 0:
            served = await app.store.advance(scenario.name, state_key, key)
        selection = app.engine.pick(scenario, served, how, misses)
    _note(ctx, selection)
    if mode is not None and selection.how == "default":
        if mode == "replay":
            conversation = facts.conversation  # its hash is made once: matching may have made it already
            error = proxy.no_recording(conversation.hash, conversation.turn, entry.near_misses)
            await app.send_error(send, ctx, error)
        else:
            await proxy.forward(app, receive, send, ctx, raw, request, surface)
        return None
    if selection.step.fuzz:
        await _send_fuzz(app, send, ctx, request, facts.stream, seq, raw, surface)
        return None
    result = render(selection.step, _input(app, selection, facts, seq, rng), app.catalog)
    if isinstance(result, HttpError) and len(chain) > 1:  # the next model of the fallback list
        tried = [facts.model]
        for model in chain[1:]:
            facts = replace(facts, model=model)
            tried.append(model)
            selection = await _select(app, ctx, facts, key, state_key, rng)
            result = render(selection.step, _input(app, selection, facts, seq, rng), app.catalog)
            if not isinstance(result, HttpError):
                break
        entry.models_tried = tried
    step = selection.step
    preferred = None
    if not step.provider and (body.get("provider") or dialect.provider_header in headers):
        preferred = _preferred_provider(app, dialect, body, headers)
    if isinstance(result, HttpError):
        entry.model = facts.model  # the model asked for (a reply would have named the one that answered)
        if result.provider is None and result.status in (502, 503, 504):  # a copy: steps are shared
            result = replace(result, provider=preferred or app.catalog.provider_for(facts.model))
        if step.timing.latency_ms and app.config.speed:
            await asyncio.sleep(step.timing.latency_ms * app.config.speed / 1000)
        await app.send_error(send, ctx, result)
        return None
    if preferred is not None:  # a copy: a static reply is shared
        result = replace(result, provider=preferred)
    return _send_reply(app, receive, send, ctx, result, request, facts.stream, rng, created, surface)


async def _choose(
    app: Runtime, facts: RequestFacts, key: str, header_name: str | None, test: str | None
) -> tuple[Scenario, str, list[dict[str, Any]]]:
    """``Engine.choose``; a name no scenario has here may be one another process added to a
    scope (a shared store): then this process catches up and looks again."""
    try:
        return app.engine.choose(facts, key, header_name, test)
    except SelectionError:
        version, _ = await app.store.scoped()
        if version == app.scoped_version:
            raise
        await app.sync_scoped(version)
        return app.engine.choose(facts, key, header_name, test)


async def _select(
    app: Runtime, ctx: RequestContext, facts: RequestFacts, key: str, state_key: str, rng: random.Random
) -> Selection:
    """Choose the scenario and its step (chaos, or the cursor advanced: a round trip of its own)."""
    scenario, how, misses = await _choose(app, facts, key, facts.headers.get("x-mockrouter-scenario"), ctx.entry.test)
    selection = app.engine.chaos(scenario, how, misses, rng)
    if selection is None:
        served = await app.store.advance(scenario.name, state_key, key)
        selection = app.engine.pick(scenario, served, how, misses)
    _note(ctx, selection)
    return selection


def _note(ctx: RequestContext, selection: Selection) -> None:
    """Journal how the scenario and step were chosen."""
    entry = ctx.entry
    entry.scenario = selection.scenario.name
    entry.step = selection.step_index if selection.step_index >= 0 else None
    entry.selected_by = "chaos" if selection.chaos else selection.how
    if selection.how == "default":
        entry.unmatched = True
        entry.near_misses = selection.near_misses


def _input(app: Runtime, selection: Selection, facts: RequestFacts, seq: int, rng: random.Random) -> RenderInput:
    """What ``render`` needs; the server's faker only for a step whose templates call it."""
    return RenderInput(facts, seq, rng, app.faker if selection.step.needs_faker else None)


def _remade(encoder: Encoder, reply: Reply, identity: Identity, request: dict[str, Any]) -> bytes:
    """The whole body of a stream without a fault, made again from the request body the
    journal keeps (the journal's ``answer_from``)."""
    return stream_body(encoder.stream(reply, identity, request), reply)


def _journal_delivery(
    entry: JournalEntry, encoder: Encoder, reply: Reply, identity: Identity, delivery: Delivery
) -> None:
    """Journal what a stream's writer sent: counts, TTFT, the client leaving, the fault, and for
    the inspector the answer's first bytes (kept, or for a paced stream without a fault made
    again when shown: a reference, not ~10 kB), each write's time and where a fault fired."""
    entry.bytes_sent = delivery.bytes_sent
    entry.chunks_sent = delivery.chunks_sent
    entry.ttft_ms = delivery.ttft_ms
    entry.client_disconnected = delivery.client_disconnected
    entry.disconnected_after_ms = delivery.disconnected_after_ms
    entry.fault = delivery.fault
    if delivery.pieces is not None:
        entry.keep_answer(delivery.pieces, delivery.bytes_sent)
    else:
        entry.answer_from = partial(_remade, encoder, reply, identity)
        entry.answer_cut = delivery.bytes_sent > ANSWER_CAP
    entry.timeline = packed(delivery.writes.tolist())  # flat: the journal shows it in threes
    entry.fault_at_ms = delivery.fault_at_ms
    entry.fault_after_chunks = delivery.fault_after_chunks


def _names_a_scenario(body: dict[str, Any], headers: dict[str, str]) -> bool:
    """Whether a request picks its scenario by name (served, not forwarded, in record mode)."""
    model = body.get("model")
    return "x-mockrouter-scenario" in headers or (isinstance(model, str) and model.startswith(SCENARIO_MODEL_PREFIX))


def _model_chain(model: str, models: Any) -> list[str]:
    """``model`` (if given) then the ``models`` fallbacks, each once, in order."""
    chain = [model] if model else []
    if isinstance(models, list):
        chain += [m for m in models if isinstance(m, str) and m and m not in chain]
    return chain


def _preferred_provider(app: Runtime, dialect: Dialect, body: dict[str, Any], headers: dict[str, str]) -> str | None:
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


async def _send_reply(
    app: Runtime,
    receive: Receive,
    send: Send,
    ctx: RequestContext,
    reply: Reply,
    request: dict[str, Any],
    stream: bool,
    rng: random.Random,
    created: int,
    surface: str,
) -> Step | None:
    """Journal the reply, charge for it, and send it: a JSON body now; a stream is returned
    (its writer, to await) and journaled by the writer when it is over."""
    entry = ctx.entry
    dialect = ctx.dialect
    encoder = dialect.encoders[surface]
    identity = encoder.identity(rng, created)
    entry.generation_id = identity.id
    entry.expected = reply.journaled_expected()
    entry.status = 200
    entry.usage = reply.usage.journaled()  # for GET /generation
    entry.model = reply.model
    entry.provider = reply.provider
    entry.finish_reason = reply.finish_reason
    entry.native_finish_reason = reply.native_finish_reason
    if ctx.account is not None:  # check and charge, in one atomic step: no credit, no answer
        charged = await app.store.charge(ctx.key or "", reply.usage.counts()["cost"] or 0, ctx.account.credits)
        if not charged:
            await app.send_error(send, ctx, dialect.insufficient_credits(None, None))
            return None
    headers = dialect.headers(identity, ctx.rate or await app.rate_info(ctx))
    extra = encoder.headers(identity)
    if extra:
        headers += extra
    pacing = NO_PACING if reply.timing.is_zero else Pacing(reply.timing, app.config.speed, rng)
    if pacing.latency:
        await asyncio.sleep(pacing.latency)
    if stream:  # returned, not awaited: an open stream holds the writer's state, not this frame's
        return write_stream(
            send,
            receive,
            encoder.stream(reply, identity, request),  # (not the parsed request: the journal keeps its bytes)
            reply,
            headers,
            pacing,
            Delivery(origin=ctx.started),
            app.pacer,
            speed=app.config.speed,
            close_watch=ctx.close_watch,
            then=partial(_journal_delivery, entry, encoder, reply, identity),
        )
    fault = reply.fault
    if fault is not None and fault.kind == "error" and encoder.fault_as_status and fault.error is not None:
        entry.fault = fault.kind
        await app.send_error(send, ctx, fault.error)
        return None
    payload = encoder.body(reply, identity, request)
    if fault is not None:
        entry.fault = fault.kind
        if fault.kind != "error":
            delivery = Delivery()
            try:
                await write_broken_json(send, receive, payload, headers, fault, delivery, speed=app.config.speed)
            finally:
                entry.bytes_sent = delivery.bytes_sent
                if delivery.client_disconnected:
                    entry.client_disconnected = True
                entry.keep_answer([payload[: delivery.bytes_sent]], delivery.bytes_sent)
            return None
    await send_response(send, 200, payload, JSON, headers)
    entry.bytes_sent = size = len(payload)
    entry.ttft_ms = (time.perf_counter() - ctx.started) * 1000
    if size <= ANSWER_CAP:  # (one write: the timeline is made of ttft_ms and bytes_sent when read)
        entry.answer = payload
    else:
        entry.answer, entry.answer_cut = payload[:ANSWER_CAP], True
    return None


async def _send_fuzz(
    app: Runtime,
    send: Send,
    ctx: RequestContext,
    body: dict[str, Any],
    stream: bool,
    seq: int,
    raw: bytes,
    surface: str,
) -> None:
    """The ``fuzz`` step: a response drawn from ``mockrouter.strategies``, reproducible by its seed.

    The seed is the request's ``X-Mockrouter-Seed``, else derived from ``--seed`` (like every
    seeded answer), else random; it goes back in ``X-Mockrouter-Seed``. Drawing takes a few
    to tens of milliseconds of CPU, so it runs in a worker thread."""
    from ..fuzz import ChatStream, MessagesStream, ResponsesStream, draw_response  # hypothesis: only when fuzzing

    entry = ctx.entry
    asked = ctx.headers.get("x-mockrouter-seed", "")
    if asked.isdigit():
        seed = int(asked)
    elif app.config.seed is not None:
        digest = hashlib.blake2b(f"{app.config.seed}|fuzz|{ctx.dialect.name}|{seq}|".encode() + raw, digest_size=8)
        seed = int.from_bytes(digest.digest()) >> 1
    else:
        seed = app.entropy.getrandbits(63)
    drawn = await asyncio.to_thread(
        draw_response, seed, dialect=ctx.dialect.name, stream=stream, request=body, surface=surface
    )
    headers = [(b"x-mockrouter-seed", str(seed).encode()), *ctx.dialect.headers(None, await app.rate_info(ctx))]
    entry.status = 200
    entry.fuzz_seed = seed
    entry.expected = drawn.expected
    entry.generation_id = drawn.generation_id or None
    if not isinstance(drawn, ChatStream | MessagesStream | ResponsesStream):
        await send_response(send, 200, drawn.body, drawn.content_type.encode(), headers)
        entry.bytes_sent = len(drawn.body)
        return
    start = [(b"content-type", drawn.content_type.encode()), (b"cache-control", b"no-cache"), *headers]
    await send({"type": "http.response.start", "status": 200, "headers": start})
    for piece in drawn.writes:  # the drawn cut: pieces may split a line, a CRLF or a UTF-8 character
        await send({"type": "http.response.body", "body": piece, "more_body": True})
    await send({"type": "http.response.body", "body": b""})
    entry.bytes_sent = len(drawn.body)
    entry.chunks_sent = len(drawn.chunks)
