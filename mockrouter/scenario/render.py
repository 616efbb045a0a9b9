"""Render a scenario step for one request: the one place a :class:`Reply` is built (or the
step's :class:`HttpError` returned). Dialect-free: ids, envelopes and bytes are not made here.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import orjson

from ..core.catalog import Catalog
from ..core.ids import random_id
from ..core.reply import HttpError, Reply, ToolCall, Usage
from ..core.surfaces import text_of
from ..core.tokens import count_tokens, group, tokenize
from .examples import example
from .matcher import RequestFacts
from .model import StaticTexts, Step, TextSpec
from .templates import TemplateContext

#: Static replies kept per step (one per model and prompt size seen; then the cache starts over).
MAX_STATIC_REPLIES = 1024
#: Tokens of framing counted per message on top of its text (roughly what chat formats add).
MESSAGE_OVERHEAD_TOKENS = 3


@dataclass(slots=True)
class RenderInput:
    """Per-request inputs to rendering besides the step itself."""

    facts: RequestFacts
    seq: int
    rng: random.Random
    faker: Any  # faker.Faker; seeded here when the step needs it


def prompt_tokens(body: dict[str, Any]) -> int:
    """Prompt tokens of a request: message texts plus a fixed overhead per message and tools.

    Tokens never span a line break, so one pass over the joined texts counts them all."""
    texts = []
    for message in body.get("messages") or ():
        if type(message) is dict:
            content = message.get("content")
            texts.append(content if type(content) is str else text_of(content))
    total = count_tokens("\n".join(texts)) + MESSAGE_OVERHEAD_TOKENS * len(texts)
    if body.get("tools"):
        total += count_tokens(orjson.dumps(body["tools"]).decode())
    return total


def requested_max_tokens(body: dict[str, Any]) -> int | None:
    for name in ("max_completion_tokens", "max_tokens"):
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def _json_schema_instance(body: dict[str, Any], rng: random.Random) -> Any:
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        spec = fmt.get("json_schema") or {}
        schema = spec.get("schema") if isinstance(spec, dict) else None
        return example(schema if isinstance(schema, dict) else {"type": "object"}, rng)
    return {}


def render(step: Step, inp: RenderInput, catalog: Catalog) -> Reply | HttpError:
    """Turn ``step`` into the answer for this request: its error, or the one :class:`Reply`.

    A step whose texts were fixed at load (``step.static``) only looks them up, unless the
    request's ``max_tokens`` cuts them; such a reply is *static*: built once per (model,
    prompt size) and shared, read-only, by every request of that shape, and an encoder may
    answer it from bytes it compiled once (``Reply.memo``). Templates, tool calls and
    truncation are worked out here per request."""
    if step.error is not None:
        return step.error
    facts = inp.facts
    body = facts.body
    limit = requested_max_tokens(body)
    static = step.static
    model = step.model or facts.model
    prompt = prompt_tokens(body)
    if static is not None and (limit is None or static.tokens <= limit):
        cached = static.replies.get((model, prompt))
        if cached is None:
            cached = _reply(step, _static_texts(static), model, prompt, catalog, memo=static.memo)
            if len(static.replies) >= MAX_STATIC_REPLIES:
                static.replies.clear()
            static.replies[model, prompt] = cached
        return cached
    return _reply(step, _texts(step, inp, limit), model, prompt, catalog)


def _reply(
    step: Step, texts: _Texts, model: str, prompt: int, catalog: Catalog, memo: dict[Any, Any] | None = None
) -> Reply:
    """The one constructor of a Reply: what the step says (``texts``), for ``model``, priced."""
    provider, prompt_price, completion_price = catalog.billing(model)
    return Reply(
        model=model,
        provider=step.provider or provider,
        content=texts.content,
        reasoning=texts.reasoning,
        refusal=texts.refusal,
        tool_calls=texts.calls,
        finish_reason=texts.finish,
        usage=Usage(
            prompt,
            texts.completion,
            texts.reasoning_tokens,
            prompt * prompt_price,
            texts.completion * completion_price,
            step.usage,
        ),
        reasoning_pieces=texts.reasoning_pieces,
        content_pieces=texts.content_pieces,
        refusal_pieces=texts.refusal_pieces,
        chunk_tokens=step.stream.chunk_tokens,
        usage_mode=step.stream.usage,
        keepalive=step.stream.keepalive,
        timing=step.timing,
        fault=step.fault,
        native_finish_reason=step.native_finish_reason,
        memo=memo,
    )


def _static_texts(static: StaticTexts) -> _Texts:
    """A step's texts as fixed at load."""
    return _Texts(
        content=static.content,
        reasoning=static.reasoning,
        refusal=static.refusal,
        content_pieces=static.content_pieces,
        reasoning_pieces=static.reasoning_pieces,
        refusal_pieces=static.refusal_pieces,
        calls=[],
        finish=static.finish_reason,
        reasoning_tokens=static.reasoning_tokens,
        completion=static.tokens,
    )


@dataclass(slots=True)
class _Texts:
    """What a step says for one request, worked out per request (templates, tool calls,
    truncation by ``max_tokens``)."""

    content: str | None
    reasoning: str | None
    refusal: str | None
    content_pieces: list[str]
    reasoning_pieces: list[str]
    refusal_pieces: list[str]
    calls: list[ToolCall]
    finish: str
    reasoning_tokens: int
    completion: int


def _texts(step: Step, inp: RenderInput, limit: int | None) -> _Texts:
    facts = inp.facts
    body = facts.body
    rng = inp.rng
    chunk = step.stream.chunk_tokens
    ctx = None
    if step.dynamic:
        if step.needs_faker and inp.faker is not None:
            inp.faker.seed_instance(rng.getrandbits(64))
        ctx = TemplateContext(
            request=body,
            last_user=facts.last_user,
            seq=inp.seq,
            faker=inp.faker,
            json_schema_instance=lambda: _json_schema_instance(body, rng),
        )

    def text(spec: TextSpec | None) -> tuple[str | None, list[str], int]:
        if spec is None:
            return None, [], 0
        if spec.pieces is not None:
            return spec.template.static, spec.pieces, spec.tokens
        assert ctx is not None
        value = spec.template.render(ctx)
        tokens = tokenize(value)
        return value, group(tokens, chunk), len(tokens)

    reasoning, reasoning_pieces, reasoning_tokens = text(step.reasoning)
    content, content_pieces, content_tokens = text(step.content)
    refusal, refusal_pieces, refusal_tokens = text(step.refusal)
    calls = _tool_calls(step, ctx, body, rng) if step.tool_calls or step.call_declared_tools else []

    finish = step.finish_reason
    used = reasoning_tokens + content_tokens + refusal_tokens
    call_tokens = sum(count_tokens(c.name) + count_tokens(c.arguments) for c in calls) if calls else 0
    if limit is not None and used + call_tokens > limit:
        budget = limit
        reasoning, reasoning_pieces, budget = _truncate(reasoning, budget, chunk)
        content, content_pieces, budget = _truncate(content, budget, chunk)
        refusal, refusal_pieces, budget = _truncate(refusal, budget, chunk)
        reasoning_tokens = count_tokens(reasoning)
        calls = []
        call_tokens = 0
        finish = "length"
        used = limit - budget

    if finish is None:
        finish = "tool_calls" if calls else "stop"
    if content is None and not calls and refusal is None:
        content = ""
    return _Texts(
        content=content,
        reasoning=reasoning,
        refusal=refusal,
        content_pieces=content_pieces,
        reasoning_pieces=reasoning_pieces,
        refusal_pieces=refusal_pieces,
        calls=calls,
        finish=finish,
        reasoning_tokens=reasoning_tokens,
        completion=used + call_tokens,
    )


def _truncate(text: str | None, budget: int, chunk: int) -> tuple[str | None, list[str], int]:
    if text is None:
        return None, [], budget
    tokens = tokenize(text)
    kept = tokens[:budget]
    return "".join(kept), group(kept, chunk), budget - len(kept)


def _tool_calls(step: Step, ctx: TemplateContext | None, body: dict[str, Any], rng: random.Random) -> list[ToolCall]:
    declared = [
        t["function"]
        for t in body.get("tools") or []
        if isinstance(t, dict) and isinstance(t.get("function"), dict) and isinstance(t["function"].get("name"), str)
    ]
    if step.call_declared_tools and declared:
        calls = []
        for i in range(step.call_declared_tools):
            fn = declared[i % len(declared)]
            params = fn.get("parameters") if isinstance(fn.get("parameters"), dict) else {"type": "object"}
            arguments = orjson.dumps(example(params, rng)).decode()
            calls.append(ToolCall(id="call_" + random_id(rng, 24), name=fn["name"], arguments=arguments))
        return calls
    return [
        ToolCall(
            id=spec.id or "call_" + random_id(rng, 24),
            name=spec.name.render(ctx),
            arguments=spec.arguments.render(ctx),
            pieces=spec.pieces,
        )
        for spec in step.tool_calls
    ]
