"""Rendering: a step's static texts (fixed at load) answer exactly what working them out per
request answers."""

from __future__ import annotations

import random
import textwrap
from dataclasses import replace
from typing import Any

import pytest

from mockrouter.core.catalog import Catalog
from mockrouter.core.reply import ContentPiece, ReasoningPiece, Reply, ToolCallFragment
from mockrouter.core.tokens import cut
from mockrouter.scenario.loader import load_text
from mockrouter.scenario.matcher import RequestFacts
from mockrouter.scenario.render import RenderInput, render

CATALOG = Catalog.load()

STEPS = textwrap.dedent(
    """
    name: static
    steps:
      - content: "Hello there, a scripted answer."
      - content: "cut into chunks"
        stream: {chunk_tokens: 2}
      - content: "hello world"
        stream: {chunks: [hel, lo, " world"]}
      - reasoning: "Thinking it over."
        content: "Done."
        stream: {reasoning_chunks: ["Thin", "king it", " over."], chunks: [Do, ne.]}
        timing: {intervals_ms: [0, 150]}
      - reasoning: "Thinking it over first."
        content: "Then an answer."
        finish_reason: length
        native_finish_reason: MAX_TOKENS
      - refusal: "I cannot help with that."
      - {}
      - content: "priced elsewhere"
        model: anthropic/claude-sonnet-4
        provider: Somebody
        usage: {prompt_tokens: 7, reasoning_tokens: 2, cost: 0.5}
    """
)

BODIES: list[dict[str, Any]] = [
    {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello, please."}]},
    {
        "model": "not/in-the-catalog",
        "messages": [{"role": "system", "content": "terse"}, {"role": "user", "content": "hi"}],
    },
    {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], "max_tokens": 1000},
    {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], "max_completion_tokens": 3},
    {"model": "openai/gpt-4o-mini", "messages": [], "tools": [{"type": "function", "function": {"name": "f"}}]},
]


def _general(step: Any, facts: RequestFacts) -> Any:
    """What ``render`` answers when the step's texts are worked out per request."""
    return render(replace(step, static=None), RenderInput(facts, 1, random.Random(0), None), CATALOG)


@pytest.mark.parametrize("body", BODIES)
def test_static_steps_render_as_the_general_path_does(body: dict[str, Any]) -> None:
    [scenario] = load_text(STEPS)
    facts = RequestFacts.from_body(body, {})
    for step in scenario.steps:
        assert step.static is not None
        general = _general(step, facts)
        fast = render(step, RenderInput(facts, 1, random.Random(0), None), CATALOG)
        assert isinstance(fast, Reply) and isinstance(general, Reply)
        if fast.memo is None:  # max_tokens cuts the text: truncated per request
            assert general.finish_reason == "length" == fast.finish_reason
            continue
        assert replace(fast, memo=None) == general


def test_templated_error_and_tool_steps_are_not_static() -> None:
    [scenario] = load_text(
        textwrap.dedent(
            """
            name: dynamic
            steps:
              - content: "Turn {{ seq }}"
              - tool_calls: [{name: f, arguments: {a: 1}}]
              - error: {status: 503}
            """
        )
    )
    facts = RequestFacts.from_body(BODIES[0], {})
    for step in scenario.steps:
        result = render(step, RenderInput(facts, 1, random.Random(0), None), CATALOG)
        assert not isinstance(result, Reply) or result.memo is None


def test_static_replies_are_shared_per_model_and_prompt_size_and_bounded() -> None:
    from mockrouter.scenario.render import MAX_STATIC_REPLIES

    [scenario] = load_text(STEPS)
    step = scenario.steps[0]
    assert step.static is not None

    def reply(prompt: str, model: str = "openai/gpt-4o-mini") -> Any:
        facts = RequestFacts.from_body({"model": model, "messages": [{"role": "user", "content": prompt}]}, {})
        return render(step, RenderInput(facts, 1, random.Random(0), None), CATALOG)

    assert reply("same size") is reply("same text")  # same model, same prompt tokens: one shared reply
    assert reply("same size") is not reply("a longer prompt than that")
    assert reply("same size") is not reply("same size", model="not/in-the-catalog")
    for n in range(MAX_STATIC_REPLIES + 10):
        reply("w " * n)
    assert len(step.static.replies) <= MAX_STATIC_REPLIES


def test_explicit_pieces_are_the_stream_events() -> None:
    """``stream.reasoning_chunks`` and ``tool_calls[i].chunks`` are sent as written (the other
    call still cut by ``chunk_tokens``); the whole texts are what the pieces make up."""
    [scenario] = load_text(
        textwrap.dedent(
            """
            name: pieces
            steps:
              - reasoning: "Look it up."
                stream: {reasoning_chunks: ["Lo", "ok it up."], chunk_tokens: 2}
                tool_calls:
                  - {name: f, arguments: '{"city": "Tokyo"}', chunks: ['{"ci', 'ty": "To', "", 'kyo"}']}
                  - {name: g, arguments: {a: 1}}
            """
        )
    )
    facts = RequestFacts.from_body(BODIES[0], {})
    reply = render(scenario.steps[0], RenderInput(facts, 1, random.Random(0), None), CATALOG)
    assert isinstance(reply, Reply)
    events = reply.events()
    assert [e.text for e in events if isinstance(e, ReasoningPiece)] == ["Lo", "ok it up."]
    assert not [e for e in events if isinstance(e, ContentPiece)]
    fragments = [(e.index, e.arguments) for e in events if isinstance(e, ToolCallFragment) and e.id is None]
    assert fragments == [(0, '{"ci'), (0, 'ty": "To'), (0, ""), (0, 'kyo"}')] + [(1, p) for p in cut('{"a":1}', 2)]
    assert [(c.name, c.arguments) for c in reply.tool_calls] == [("f", '{"city": "Tokyo"}'), ("g", '{"a":1}')]
    assert reply.expected()["tool_calls"][0]["arguments"] == '{"city": "Tokyo"}'


def test_a_token_limit_recuts_explicit_pieces() -> None:
    """``max_tokens`` below the answer truncates it: the pieces no longer add up, so the kept
    text is cut by ``chunk_tokens`` (and tool calls are dropped), as for ``stream.chunks``."""
    [scenario] = load_text(
        'name: cut\nsteps:\n  - reasoning: "one two three four"\n'
        '    stream: {reasoning_chunks: ["one two", " three four"]}\n'
        "    tool_calls: [{name: f, arguments: '{}', chunks: ['{', '}']}]\n"
    )
    facts = RequestFacts.from_body({**BODIES[0], "max_tokens": 2}, {})
    reply = render(scenario.steps[0], RenderInput(facts, 1, random.Random(0), None), CATALOG)
    assert isinstance(reply, Reply)
    assert (reply.reasoning, reply.reasoning_pieces, reply.tool_calls) == ("one two", ["one", " two"], [])
    assert reply.finish_reason == "length"
