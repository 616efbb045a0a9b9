"""Compiled answers: the JSON body of a scripted reply rendered once, filled in per request.

A *plain* step (``Step.plain``: fixed texts, no tool calls, error, fault, delay or fuzz)
answers every non-streaming request with the same message. What changes from one request
to the next is the response id, ``created``, the model (and with it provider and prices)
and the usage, which depends on the prompt. So the body is rendered once per (step,
dialect, model) by the dialect's own ``completion`` around marker values, cut at the
markers, and a request only joins its id, ``created`` and usage into the pieces. The
general path (render a ``Reply``, build the dicts, encode them) costs several times more.

The dialect stays the only code that knows the envelope: the cut is checked against the
rendered body, and a dialect whose body does not have the shape
``{"id": ..., ..., "created": ..., ..., "usage": {...}}`` gets no compiled answer (the
general path serves it). ``tests/test_compiled.py`` checks both paths give the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from .catalog import Catalog
from .dialects.base import Dialect, Identity
from .reply import Reply, Usage, expected_message
from .scenario.model import Step

#: Marker values the body is rendered with, to be cut out (``created``: 2100-01-01T00:00:01Z).
ID_MARK = "mockrouter-compiled-id"
CREATED_MARK = 4_102_444_801
_HEAD = b'{"id":"' + ID_MARK.encode() + b'"'
_CREATED_KEY = b',"created":'
_CREATED_VALUE = str(CREATED_MARK).encode()
#: A step answering more distinct models than this renders the rest each time (bounded memory).
MAX_MODELS_PER_STEP = 256
#: Encoded usages kept per answer, one per prompt size seen (then the memo starts over).
MAX_USAGES_PER_ANSWER = 64


@dataclass(slots=True, frozen=True)
class CompiledAnswer:
    """One plain step's answer for one dialect and model, as the bytes between the parts
    that change per request: ``{"id":"<id>`` + ``after_id`` + ``<created>`` +
    ``after_created`` + ``<usage>`` + ``}``."""

    model: str
    provider: str
    prompt_price: float
    completion_price: float
    after_id: bytes
    after_created: bytes
    #: The journal's ``expected`` message, already packed (see ``journal.pack``).
    expected: bytes
    dialect: Dialect
    completion_tokens: int
    reasoning_tokens: int
    #: The scenario's ``usage`` overrides, if any.
    overrides: dict[str, Any] | None
    #: Prompt tokens -> (the body's ``usage`` bytes, the journal's ``usage``, packed).
    usages: dict[int, tuple[bytes, bytes]] = field(default_factory=dict)

    def usage(self, prompt_tokens: int) -> tuple[bytes, bytes]:
        """The encoded usage for a prompt of this size: the body's, and the journal's (packed).

        Usage depends only on the prompt size, and a test suite sends the same prompts again
        and again, so the encodings are kept per size (a bounded memo, emptied when full)."""
        try:
            return self.usages[prompt_tokens]
        except KeyError:
            pass
        usage = Usage(
            prompt_tokens,
            self.completion_tokens,
            self.reasoning_tokens,
            prompt_tokens * self.prompt_price,
            self.completion_tokens * self.completion_price,
            self.overrides,
        )
        counts = self.dialect.usage_counts(usage)  # the journal's: for GET /generation, and the key's bill
        counts["reasoning_tokens"] = usage.reasoning_tokens
        encoded = (_packed(self.dialect.usage(usage)), _packed(counts))
        if len(self.usages) >= MAX_USAGES_PER_ANSWER:
            self.usages.clear()
        self.usages[prompt_tokens] = encoded
        return encoded

    def body(self, identity: Identity, usage: bytes) -> bytes:
        return b"".join(
            (
                b'{"id":"',
                identity.id.encode(),
                self.after_id,
                str(identity.created).encode(),
                self.after_created,
                usage,
                b"}",
            )
        )


def compiled_answer(step: Step, dialect: Dialect, catalog: Catalog, model: str) -> CompiledAnswer | None:
    """The compiled answer of plain ``step`` for ``model`` (cached on the step), or None
    when the dialect's body cannot be cut.

    The cache is keyed by the dialect instance, which belongs to one app, whose catalog
    is loaded once: so (dialect, model) fixes the catalog too."""
    cache = step.compiled
    key = (dialect, model)
    try:
        return cache[key]
    except KeyError:
        pass
    answer = compile_answer(step, dialect, catalog, model)
    if len(cache) < MAX_MODELS_PER_STEP:
        cache[key] = answer
    return answer


def compile_answer(step: Step, dialect: Dialect, catalog: Catalog, model: str) -> CompiledAnswer | None:
    """Render plain ``step``'s body for ``model`` with marker id and ``created`` and cut it
    at them; None when the body does not have the shape the cut expects."""
    static = step.static
    assert static is not None
    provider, prompt_price, completion_price = catalog.billing(model)
    provider = step.provider or provider
    usage = Usage(0, static.tokens, static.reasoning_tokens, overrides=step.usage)
    reply = Reply(
        model=model,
        provider=provider,
        content=static.content,
        reasoning=static.reasoning,
        refusal=static.refusal,
        tool_calls=[],
        finish_reason=static.finish_reason,
        usage=usage,
        native_finish_reason=step.native_finish_reason,
    )
    full = dialect.completion(reply, Identity(ID_MARK, CREATED_MARK))
    tail = b',"usage":' + orjson.dumps(dialect.usage(usage)) + b"}"
    created_at = full.find(_CREATED_KEY + _CREATED_VALUE + b",")
    if not full.startswith(_HEAD) or not full.endswith(tail) or created_at < 0:
        return None
    value_at = created_at + len(_CREATED_KEY)
    return CompiledAnswer(
        model=model,
        provider=provider,
        prompt_price=prompt_price,
        completion_price=completion_price,
        after_id=full[len(_HEAD) - 1 : value_at],
        after_created=full[value_at + len(_CREATED_VALUE) : len(full) - len(tail) + len(b',"usage":')],
        expected=_packed(expected_message(static.content, static.reasoning, static.refusal, [])),
        dialect=dialect,
        completion_tokens=static.tokens,
        reasoning_tokens=static.reasoning_tokens,
        overrides=step.usage,
    )


def _packed(value: Any) -> bytes:
    return bytes(memoryview(orjson.dumps(value)))
