"""Render a scenario step for one request: a :class:`Reply` (with its stream events) or an
:class:`HttpError`. Dialect-free: ids of responses, envelopes and bytes are not made here.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import orjson

from ..catalog import Catalog
from ..ids import random_id
from ..reply import HttpError, Reply, ToolCall, Usage
from ..tokens import count_tokens, group, tokenize
from .examples import example
from .matcher import RequestFacts, message_text
from .model import Step, TextSpec
from .templates import TemplateContext

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
            texts.append(content if type(content) is str else message_text(content))
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
    """Turn ``step`` into the answer for this request (static parts were prepared at load)."""
    if step.error is not None:
        return step.error
    return render_static(step, inp.facts, catalog) or _render(step, inp, catalog)


def render_static(step: Step, facts: RequestFacts, catalog: Catalog) -> Reply | None:
    """What :func:`render` answers for a step whose texts were fixed at load (no templates,
    no tool calls, no error) when ``max_tokens`` cuts nothing; None for any other step.

    Only the model, its prices and the prompt vary per request, so this is the hot path of
    a scripted answer: it needs no :class:`RenderInput` and skips the general path's work."""
    static = step.static
    if static is None or step.error is not None:
        return None
    limit = requested_max_tokens(facts.body)
    if limit is not None and static.tokens > limit:
        return None
    model = step.model or facts.model
    billing = catalog.billing(model)
    prompt = prompt_tokens(facts.body)
    completion = static.tokens
    usage = Usage(prompt, completion, static.reasoning_tokens, prompt * billing[1], completion * billing[2], step.usage)
    stream = step.stream
    # Positional (in Reply's field order): keywords cost a dict per call, twice the time here.
    return Reply(
        model,
        step.provider or billing[0],
        static.content,
        static.reasoning,
        static.refusal,
        [],  # tool_calls
        static.finish_reason,
        usage,
        static.reasoning_pieces,
        static.content_pieces,
        static.refusal_pieces,
        stream.chunk_tokens,
        stream.usage,  # usage_mode
        stream.keepalive,
        step.timing,
        step.fault,
        step.native_finish_reason,
    )


def _render(step: Step, inp: RenderInput, catalog: Catalog) -> Reply:
    """The general path: templates, tool calls, truncation by ``max_tokens``."""
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
    limit = requested_max_tokens(body)
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

    model = step.model or facts.model
    completion = used + call_tokens
    p_price, c_price = catalog.prices(model)
    prompt = prompt_tokens(body)
    return Reply(
        model=model,
        provider=step.provider or catalog.provider_for(model),
        content=content,
        reasoning=reasoning,
        refusal=refusal,
        tool_calls=calls,
        finish_reason=finish,
        usage=Usage(prompt, completion, reasoning_tokens, prompt * p_price, completion * c_price, step.usage),
        reasoning_pieces=reasoning_pieces,
        content_pieces=content_pieces,
        refusal_pieces=refusal_pieces,
        chunk_tokens=chunk,
        usage_mode=step.stream.usage,
        keepalive=step.stream.keepalive,
        timing=step.timing,
        fault=step.fault,
        native_finish_reason=step.native_finish_reason,
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
            id=spec.id or "call_" + random_id(rng, 24), name=spec.name.render(ctx), arguments=spec.arguments.render(ctx)
        )
        for spec in step.tool_calls
    ]
