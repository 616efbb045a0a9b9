"""Compiled answers: a plain step answers and journals, byte for byte, what the general
path answers and journals (two seeded servers, one with compiled answers turned off)."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from mockrouter.catalog import Catalog
from mockrouter.compiled import MAX_MODELS_PER_STEP, MAX_USAGES_PER_ANSWER, compiled_answer
from mockrouter.config import Config
from mockrouter.dialects import DIALECTS
from mockrouter.reply import Usage
from mockrouter.scenario.loader import load_text
from mockrouter.server import BackgroundServer

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


def test_compiled_answer_is_cached_per_dialect_and_model_and_bounded() -> None:
    step = load_text(PLAIN, "plain.yaml")[0].steps[0]
    catalog = Catalog.load()
    dialect = DIALECTS["anyrouter"].from_config(Config())
    first = compiled_answer(step, dialect, catalog, "compiled/a")
    assert first is not None and compiled_answer(step, dialect, catalog, "compiled/a") is first
    for i in range(MAX_MODELS_PER_STEP + 10):
        assert compiled_answer(step, dialect, catalog, f"compiled/{i}") is not None
    assert len(step.compiled) == MAX_MODELS_PER_STEP


@pytest.mark.parametrize("dialect_name", sorted(DIALECTS))
def test_usage_memo_gives_what_the_dialect_encodes_and_is_bounded(dialect_name: str) -> None:
    step = load_text(PLAIN, "plain.yaml")[0].steps[4]  # priced, with usage overrides
    dialect = DIALECTS[dialect_name].from_config(Config())
    answer = compiled_answer(step, dialect, Catalog.load(), "openai/gpt-4o-mini")
    assert answer is not None and answer.prompt_price > 0
    for prompt in [*range(MAX_USAGES_PER_ANSWER + 10), 3, 5, 10_000]:
        usage = Usage(
            prompt, answer.completion_tokens, answer.reasoning_tokens,
            prompt * answer.prompt_price, answer.completion_tokens * answer.completion_price, step.usage,
        )  # fmt: skip
        counts = {**dialect.usage_counts(usage), "reasoning_tokens": usage.reasoning_tokens}
        assert answer.usage(prompt) == (orjson.dumps(dialect.usage(usage)), orjson.dumps(counts))
        assert len(answer.usages) <= MAX_USAGES_PER_ANSWER


def test_only_plain_steps_are_compiled() -> None:
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
    assert [s.plain for s in steps] == [True, False, False, False, False, False]
