"""Compiled answers: an encoder answers a static reply from bytes it compiled once, and they
are, byte for byte, what rendering the body in full gives; the journal is the same too (two
seeded servers, one with compiled answers turned off)."""

from __future__ import annotations

import random
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from mockrouter.core.catalog import Catalog
from mockrouter.core.config import Config
from mockrouter.core.reply import Reply
from mockrouter.http.server import BackgroundServer
from mockrouter.scenario.loader import load_text
from mockrouter.scenario.matcher import RequestFacts
from mockrouter.scenario.render import RenderInput, render
from mockrouter.wire.dialects import DIALECTS
from mockrouter.wire.dialects.base import Identity
from mockrouter.wire.dialects.openai import MAX_MODELS_PER_STEP, MAX_USAGES_PER_BODY

PLAIN = textwrap.dedent(
    """
    name: plain
    match: {model: "compiled/*"}
    steps:
      - content: "Hello there, a scripted answer."
      - reasoning: "Thinking it over first."
        content: "Then an answer."
        finish_reason: length
        native_finish_reason: MAX_TOKENS
      - refusal: "I cannot help with that."
      - {}
      - content: "priced elsewhere, ünïcödé and \\"quotes\\" 🙂"
        model: anthropic/claude-sonnet-4
        provider: Somebody
        usage: {prompt_tokens: 7, reasoning_tokens: 2, cost: 0.5}
      - content: "usage overridden"
        usage: {completion_tokens: 99, total_tokens: 1000}
      - content: "a known, priced model"
        model: openai/gpt-4o-mini
    """
)

REQUESTS: list[dict[str, Any]] = [
    {"messages": [{"role": "user", "content": "Hi"}]},
    {"messages": [{"role": "system", "content": "terse"}, {"role": "user", "content": "Tell me more"}]},
    {"messages": [{"role": "user", "content": [{"type": "text", "text": "parts"}]}], "max_tokens": 500},
    {"messages": [{"role": "user", "content": "cut me"}], "max_tokens": 2},  # truncated: the general path
    {"messages": [{"role": "user", "content": "tools"}], "tools": [{"type": "function", "function": {"name": "f"}}]},
    {"messages": [{"role": "user", "content": "pinned"}], "provider": {"order": ["Azure"]}},  # general path
    {"messages": [{"role": "user", "content": "again"}], "user": "u-1"},
]
#: Journal fields that differ between two servers however deterministic they are.
TIMING = {"ts", "time", "duration_ms", "ttft_ms"}
#: Response headers that carry the wall clock.
CLOCK_HEADERS = {"date", "x-ratelimit-reset"}


@pytest.fixture(scope="module")
def plain_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("compiled") / "plain.yaml"
    path.write_text(PLAIN)
    return path


@pytest.fixture(scope="module")
def twins(
    make_server: Callable[..., BackgroundServer], plain_file: Path
) -> dict[str, tuple[BackgroundServer, BackgroundServer]]:
    """Per dialect: (compiled answers on, off), seeded alike."""
    return {
        dialect: tuple(  # type: ignore[misc]
            make_server(dialect=dialect, seed=7, scenarios=[plain_file], compile_answers=on) for on in (True, False)
        )
        for dialect in DIALECTS
    }


def _exchange(server: BackgroundServer, key: str, model: str) -> list[tuple[int, dict[str, str], bytes]]:
    out = []
    with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=10) as c:
        for _ in range(2):  # past the last step too (repeat-last)
            for body in REQUESTS:
                r = c.post("/chat/completions", json={"model": model, **body})
                headers = {k: v for k, v in r.headers.items() if k not in CLOCK_HEADERS}
                out.append((r.status_code, headers, r.content))
    return out


def _journal(server: BackgroundServer, key: str) -> list[dict[str, Any]]:
    entries = httpx.get(f"{server.url}/__mockrouter/requests", params={"key": key}, timeout=10).json()["data"]
    for e in entries:
        del e["headers"]["host"]  # the servers' ports differ
    return [{k: v for k, v in e.items() if k not in TIMING} for e in entries]


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
@pytest.mark.parametrize("model", ["compiled/any", "compiled/other"])
def test_compiled_answers_equal_the_general_path(
    twins: dict[str, tuple[BackgroundServer, BackgroundServer]], dialect: str, model: str
) -> None:
    compiled, general = twins[dialect]
    key = f"sk-compiled-{dialect}-{model}"
    answered = _exchange(compiled, key, model)
    assert answered == _exchange(general, key, model)
    assert all(status == 200 for status, _, _ in answered)
    assert _journal(compiled, key) == _journal(general, key)
    assert len(_journal(compiled, key)) == 2 * len(REQUESTS)


def _reply(step: Any, model: str, prompt: str = "Hi") -> Reply:
    facts = RequestFacts.from_body({"model": model, "messages": [{"role": "user", "content": prompt}]}, {})
    reply = render(step, RenderInput(facts, 1, random.Random(0), None), Catalog.load())
    assert isinstance(reply, Reply)
    return reply


def test_compiled_answer_is_cached_per_dialect_and_model_and_bounded() -> None:
    step = load_text(PLAIN, "plain.yaml")[0].steps[0]
    assert step.static is not None
    memo = step.static.memo
    encoder = DIALECTS["anyrouter"].from_config(Config()).encoders["chat"]
    identity = Identity("chatcmpl-1", 1_767_225_600)
    first = encoder.body(_reply(step, "compiled/a"), identity, {})
    assert len(memo) == 1
    assert encoder.body(_reply(step, "compiled/a"), identity, {}) == first and len(memo) == 1
    for i in range(MAX_MODELS_PER_STEP + 10):
        reply = _reply(step, f"compiled/{i}")
        assert encoder.body(reply, identity, {}) == encoder.render(reply, identity)
    assert len(memo) == MAX_MODELS_PER_STEP


@pytest.mark.parametrize("dialect_name", sorted(DIALECTS))
@pytest.mark.parametrize("index", [4, 6])  # usage overrides; a priced model
def test_usage_memo_gives_what_the_dialect_encodes_and_is_bounded(dialect_name: str, index: int) -> None:
    step = load_text(PLAIN, "plain.yaml")[0].steps[index]
    encoder = DIALECTS[dialect_name].from_config(Config()).encoders["chat"]
    identity = Identity("gen-1", 1_767_225_600)
    memo = step.static.memo if step.static is not None else {}
    for size in [*range(MAX_USAGES_PER_BODY + 10), 3, 5, 10_000]:
        reply = _reply(step, "any/model", "word " * size)
        assert reply.usage.prompt_cost > 0 or index == 4
        body = encoder.body(reply, identity, {})
        assert body == encoder.render(reply, identity)
        assert orjson.loads(body)["usage"] == orjson.loads(orjson.dumps(encoder.usage(reply.usage)))
        [compiled] = memo.values()
        assert len(compiled.usages) <= MAX_USAGES_PER_BODY


def test_only_static_replies_are_compiled() -> None:
    steps = load_text(
        textwrap.dedent(
            """
            name: mixed
            steps:
              - content: "plain"
              - content: "{{ request.model }}"
              - {tool_calls: [{name: f, arguments: {}}]}
              - {error: {status: 429}}
              - {content: slow, timing: {latency_ms: 5}}
              - {content: broken, fault: {kind: malformed}}
            """
        ),
        "mixed.yaml",
    )[0].steps
    encoder = DIALECTS["openrouter"].from_config(Config()).encoders["chat"]
    compiled = []
    for step in steps:
        result = render(
            step, RenderInput(RequestFacts.from_body({"model": "m/x", "messages": []}, {}), 1, random.Random(0), None),
            Catalog.load(),
        )  # fmt: skip
        if isinstance(result, Reply):
            encoder.body(result, Identity("gen-1", 1), {})
        compiled.append(step.static is not None and bool(step.static.memo))
    # The delay does not change the bytes; a fault does (the body is answered broken).
    assert compiled == [True, False, False, False, True, False]
