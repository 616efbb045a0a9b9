"""The official ``anthropic`` Python SDK, unmodified, against a real mockrouter's ``/messages``,
in both dialects: a plain message, extended thinking, a tool loop run to its end, a stream that
assembles to the non-streamed answer, a 429 the SDK retries, a 529 it raises, and every stream
fault kind — each one an exception, except ``truncate``, which the SDK does not notice (it
hands back a message whose ``stop_reason`` is None). Then the README's recipes, as users copy
them.

The SDK appends ``/v1/messages`` to its ``base_url``, so it is the server's root plus ``/api``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import httpx
import httpx2
import pytest
from recipes import recipe

from mockrouter.http.server import BackgroundServer

MODEL = "anthropic/claude-sonnet-4.6"
WEATHER = {
    "name": "get_weather",
    "description": "The current weather in a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
SIX = "one two three four five six"


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


@pytest.fixture
def claude(server: BackgroundServer, api_key: str) -> Iterator[anthropic.Anthropic]:
    """The SDK pointed at the mock (default retries kept)."""
    with anthropic.Anthropic(base_url=server.url + "/api", api_key=api_key, timeout=10) as c:
        yield c


@pytest.fixture
def claude_once(server: BackgroundServer, api_key: str) -> Iterator[anthropic.Anthropic]:
    """The SDK with retries off and a short read timeout (for errors and faults)."""
    with anthropic.Anthropic(base_url=server.url + "/api", api_key=api_key, max_retries=0, timeout=2) as c:
        yield c


def wait_journaled(server: BackgroundServer, key: str, count: int) -> None:
    response = httpx.post(server.url + "/__mockrouter/wait", json={"key": key, "count": count, "timeout_ms": 5000})
    assert response.status_code == 200 and response.json()["ok"], response.text


def test_create(claude: anthropic.Anthropic) -> None:
    reply = claude.messages.create(model=MODEL, max_tokens=1024, messages=user("Hello from anthropic!"))
    assert reply.id.startswith("msg_") and reply.role == "assistant" and reply.model == MODEL
    [block] = reply.content
    assert isinstance(block, anthropic.types.TextBlock) and block.text == "Hello from anthropic!"
    assert reply.stop_reason == "end_turn" and reply.stop_sequence is None
    assert reply.usage.input_tokens > 0 and reply.usage.output_tokens > 0
    assert reply.usage.cache_read_input_tokens == 0


def test_thinking_is_signed_and_goes_back_unchanged(claude: anthropic.Anthropic) -> None:
    ask: dict[str, Any] = {
        "model": "mockrouter/reasoning",
        "max_tokens": 2048,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
    }
    reply = claude.messages.create(**ask, messages=user("Is it prime?"))
    thinking, text = reply.content
    assert isinstance(thinking, anthropic.types.ThinkingBlock) and isinstance(text, anthropic.types.TextBlock)
    assert "Is it prime?" in thinking.thinking and thinking.signature
    assert text.text == "Here is a considered answer to: Is it prime?"
    history = [*user("Is it prime?"), reply.to_param(), *user("And now?")]  # thinking block as it came
    again = claude.messages.create(**ask, messages=history)
    assert again.content[-1].type == "text" and again.content[-1].text.endswith("And now?")  # type: ignore[union-attr]


def test_tool_loop_runs_to_its_end(claude: anthropic.Anthropic) -> None:
    messages: list[Any] = user("What is the weather in Paris?")
    results = []
    for _ in range(5):
        reply = claude.messages.create(
            model="mockrouter/tool-call", max_tokens=1024, tools=[WEATHER], messages=messages
        )
        messages.append(reply.to_param())
        if reply.stop_reason != "tool_use":
            break
        [use] = [b for b in reply.content if isinstance(b, anthropic.types.ToolUseBlock)]
        assert use.id.startswith("toolu_") and use.name == "get_weather" and isinstance(use.input, dict)
        result = f"Sunny in {use.input['city']}"
        results.append(result)
        messages.append(
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": result}]}
        )
    assert reply.stop_reason == "end_turn" and len(results) == 1
    assert reply.content[0].type == "text" and reply.content[0].text == f"The tool says: {results[0]}"


@pytest.mark.parametrize("model", ["mockrouter/echo", "mockrouter/reasoning", "mockrouter/content-filter"])
def test_stream_assembles_the_whole_answer(claude: anthropic.Anthropic, model: str) -> None:
    ask: dict[str, Any] = {"model": model, "max_tokens": 2048, "messages": user("Stream it, please")}
    whole = claude.messages.create(**ask)
    with claude.messages.stream(**ask) as stream:
        texts = list(stream.text_stream)
        final = stream.get_final_message()
    assert [b.to_dict() for b in final.content] == [b.to_dict() for b in whole.content]
    assert (final.stop_reason, final.usage.output_tokens) == (whole.stop_reason, whole.usage.output_tokens)
    assert "".join(texts) == "".join(b.text for b in whole.content if b.type == "text")


def test_stream_of_parallel_tool_calls(claude: anthropic.Anthropic) -> None:
    clock = {"name": "get_time", "input_schema": {"type": "object", "properties": {"zone": {"type": "string"}}}}
    ask: dict[str, Any] = {"model": "mockrouter/parallel-tool-calls", "max_tokens": 1024, "tools": [WEATHER, clock]}
    with claude.messages.stream(**ask, messages=user("Weather and time?")) as stream:
        final = stream.get_final_message()
    uses = [b for b in final.content if isinstance(b, anthropic.types.ToolUseBlock)]
    assert [u.name for u in uses] == ["get_weather", "get_time"] and final.stop_reason == "tool_use"
    assert all(isinstance(u.input, dict) for u in uses) and len({u.id for u in uses}) == 2


def test_429_is_retried_after_retry_after(
    server: BackgroundServer, claude: anthropic.Anthropic, api_key: str, journal: Callable[[], Any]
) -> None:
    reply = claude.messages.create(model="mockrouter/rate-limited", max_tokens=64, messages=user("Survived a 429"))
    assert reply.content[0].type == "text" and reply.content[0].text == "Survived a 429"
    wait_journaled(server, api_key, 2)
    entries = journal()
    assert [e["status"] for e in entries] == [429, 200] and entries[0]["retry_after_s"] == 1


def test_429_raises_without_retries(claude_once: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.RateLimitError) as info:
        claude_once.messages.create(model="mockrouter/rate-limited", max_tokens=64, messages=user("no retries"))
    assert info.value.type == "rate_limit_error" and info.value.response.headers["retry-after"] == "1"


def test_529_raises_overloaded_error(claude_once: anthropic.Anthropic, add_scenarios: Callable[..., Any]) -> None:
    add_scenarios("name: busy\nsteps:\n  - error: {status: 529, message: Overloaded}\n")
    with pytest.raises(anthropic.OverloadedError) as info:
        claude_once.messages.create(model="mockrouter/busy", max_tokens=64, messages=user("hi"))
    assert isinstance(info.value, anthropic.InternalServerError)
    assert (info.value.status_code, info.value.type, info.value.api_message) == (529, "overloaded_error", "Overloaded")


def test_bad_request_and_auth_errors(claude_once: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as bad:
        claude_once.messages.create(model=MODEL, max_tokens=64, messages=[{"role": "robot", "content": "x"}])  # type: ignore[list-item]
    assert bad.value.type == "invalid_request_error" and "messages[0].role" in (bad.value.api_message or "")
    # this SDK sends its api_key as Authorization: Bearer (older ones: x-api-key; both work)
    with pytest.raises(anthropic.AuthenticationError) as auth:
        claude_once.messages.create(
            model=MODEL, max_tokens=64, messages=user("hi"), extra_headers={"Authorization": anthropic.omit}
        )
    assert auth.value.type == "authentication_error"


def test_count_tokens(claude: anthropic.Anthropic) -> None:
    ask: dict[str, Any] = {"model": MODEL, "system": "Be brief.", "messages": user("Count me in"), "tools": [WEATHER]}
    counted = claude.messages.count_tokens(**ask)
    assert counted.input_tokens == claude.messages.create(**ask, max_tokens=64).usage.input_tokens > 0


# -- stream faults: the SDK must not hand back a short answer as if it were whole ----------------


def fault(kind: str, extra: str = "") -> str:
    return f"name: f-{kind}\nsteps:\n  - content: {SIX}\n    fault: {{kind: {kind}, after_chunks: 3{extra}}}\n"


def stream_once(client: anthropic.Anthropic, model: str) -> anthropic.types.Message:
    with client.messages.stream(model=model, max_tokens=64, messages=user("stream")) as stream:
        return stream.get_final_message()


@pytest.mark.parametrize(
    ("kind", "extra", "raised"),
    [
        ("error", ", error: {status: 529, message: upstream overloaded}", anthropic.APIStatusError),
        ("malformed", "", json.JSONDecodeError),
        # the SDK's transport is httpx2 (a fork of httpx); from anthropic 2.17 its read errors
        # come wrapped in the SDK's own connection and timeout errors
        ("disconnect", "", (httpx2.RemoteProtocolError, anthropic.APIConnectionError)),
        ("stall", ", ms: 10000", (httpx2.ReadTimeout, anthropic.APITimeoutError)),
    ],
)
def test_stream_faults_raise(
    claude_once: anthropic.Anthropic,
    add_scenarios: Callable[..., Any],
    kind: str,
    extra: str,
    raised: type | tuple[type, ...],
) -> None:
    add_scenarios(fault(kind, extra))
    with pytest.raises(raised) as info:
        stream_once(claude_once, f"mockrouter/f-{kind}")
    if kind == "error":  # the in-band event: the SDK's status error, on the stream's 200
        assert isinstance(info.value, anthropic.APIStatusError) and info.value.status_code == 200
        assert info.value.type == "overloaded_error" and info.value.api_message == "upstream overloaded"


def test_truncated_stream_is_not_raised_but_has_no_stop_reason(
    claude_once: anthropic.Anthropic, add_scenarios: Callable[..., Any]
) -> None:
    """The SDK does not check that a stream ended with message_stop: a truncated stream comes
    back as a message with what arrived and ``stop_reason`` None, which is how a client tells."""
    add_scenarios(fault("truncate"))
    final = stream_once(claude_once, "mockrouter/f-truncate")
    assert final.stop_reason is None and [b.to_dict() for b in final.content] == [{"type": "text", "text": "one two"}]


def test_dribble_still_assembles(claude_once: anthropic.Anthropic, add_scenarios: Callable[..., Any]) -> None:
    add_scenarios(fault("dribble"))
    final = stream_once(claude_once, "mockrouter/f-dribble")
    assert final.stop_reason == "end_turn" and final.content[0].type == "text" and final.content[0].text == SIX


# -- the README's recipes -----------------------------------------------------------------------

RECIPE_DRIVER = """
import sys
for name, code in {recipes!r}:
    print("=== recipe " + name, flush=True)
    exec(compile(code, name, "exec"), {{"__name__": "__main__"}})
    sys.stdout.flush()
"""


def test_readme_recipes(anyrouter_server: BackgroundServer) -> None:
    names = ["python-anthropic", "python-anthropic-stream"]
    codes = [(name, recipe(name).for_server(anyrouter_server.url)) for name in names]
    done = subprocess.run(
        [sys.executable, "-c", RECIPE_DRIVER.format(recipes=codes)],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    _, *parts = re.split(r"^=== recipe (\S+)\n", done.stdout, flags=re.MULTILINE)
    out = dict(zip(parts[::2], parts[1::2], strict=True))
    assert out["python-anthropic"] == "Hello from anthropic!\n"
    streamed, final = out["python-anthropic-stream"].splitlines()
    assert streamed == "Here is a considered answer to: Stream to me"
    assert final == "thinking end_turn"
