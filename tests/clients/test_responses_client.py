"""The Responses API through unmodified Python clients: the ``openai`` SDK's
``client.responses.create(...)`` / ``.stream(...)`` and ``openai-agents`` running an agent
with a function tool, against a real mockrouter in both dialects. Every stream fault a
scenario can script must reach the caller as an exception (never as a short answer); the
README's recipes for both run as users copy them."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openai
import pytest
from test_python_clients import journal_of, require, run_recipes, statuses

from mockrouter.http.server import BackgroundServer

MODEL = "openai/gpt-4o-mini"
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The current weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
TOOL_RESULT = "Sunny, 21 degrees"


@pytest.fixture
def sdk(server: BackgroundServer, api_key: str) -> Iterator[openai.OpenAI]:
    """The openai SDK with its default retries, failing fast on a stalled read."""
    with openai.OpenAI(base_url=server.base_url, api_key=api_key, timeout=5) as c:
        yield c


def scenario(add: Callable[[str], list[str]], *steps: dict[str, Any]) -> str:
    """Add a scenario (JSON is YAML) under a fresh name; the model that selects it."""
    name = f"rc-{uuid.uuid4().hex[:12]}"
    add(json.dumps({"name": name, "steps": list(steps)}))
    return f"mockrouter/{name}"


def without_ids(output: list[Any]) -> list[dict[str, Any]]:
    return [item.model_dump(exclude={"id", "call_id"}, exclude_none=True) for item in output]


# -- openai: responses.create / responses.stream -----------------------------------------------


def test_plain(sdk: openai.OpenAI, dialect: str) -> None:
    response = sdk.responses.create(model=MODEL, input="Hello from the Responses API")
    assert response.output_text == "Hello from the Responses API"
    assert response.status == "completed" and response.id.startswith("resp_")
    assert response.usage is not None and response.usage.total_tokens > 0


def test_stream_matches_create(sdk: openai.OpenAI, dialect: str) -> None:
    request = {"model": "mockrouter/reasoning", "input": "Why is the sky blue?"}
    whole = sdk.responses.create(**request)
    deltas = []
    with sdk.responses.stream(**request) as stream:
        for event in stream:
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
        final = stream.get_final_response()
    assert [item.type for item in final.output] == ["reasoning", "message"]
    assert without_ids(final.output) == without_ids(whole.output)
    assert "".join(deltas) == final.output_text == whole.output_text
    assert final.usage == whole.usage


def test_function_tool_round_trip(sdk: openai.OpenAI, dialect: str, journal: Callable[[], Any]) -> None:
    conversation: list[Any] = [{"role": "user", "content": "What is the weather in Paris?"}]
    first = sdk.responses.create(model="mockrouter/tool-call", input=conversation, tools=[WEATHER])
    [call] = first.output
    assert call.type == "function_call" and call.name == "get_weather"
    assert set(json.loads(call.arguments)) == {"city"}
    conversation += first.output  # the function_call item as the SDK parsed it
    conversation.append({"type": "function_call_output", "call_id": call.call_id, "output": TOOL_RESULT})
    second = sdk.responses.create(model="mockrouter/tool-call", input=conversation, tools=[WEATHER])
    assert second.output_text == f"The tool says: {TOOL_RESULT}"
    assert [e["surface"] for e in journal()] == ["responses", "responses"]


def test_streamed_function_call(sdk: openai.OpenAI, dialect: str) -> None:
    with sdk.responses.stream(model="mockrouter/parallel-tool-calls", input="Go", tools=[WEATHER]) as stream:
        final = stream.get_final_response()
    calls = [item for item in final.output if item.type == "function_call"]
    assert [c.name for c in calls] == ["get_weather", "get_weather"] and calls[0].call_id != calls[1].call_id


def test_429_raises_without_retries(server: BackgroundServer, api_key: str, dialect: str) -> None:
    with (
        openai.OpenAI(base_url=server.base_url, api_key=api_key, max_retries=0) as c,
        pytest.raises(openai.RateLimitError) as raised,
    ):
        c.responses.create(model="mockrouter/rate-limited", input="hi")
    assert raised.value.response.headers["retry-after"] == "1"


def test_429_is_retried_by_default(sdk: openai.OpenAI, dialect: str, journal: Callable[[], Any]) -> None:
    response = sdk.responses.create(model="mockrouter/rate-limited", input="Survived")
    assert response.output_text == "Survived"
    assert [e["status"] for e in journal()] == [429, 200]


def test_incomplete_stream_is_not_a_final_response(sdk: openai.OpenAI, dialect: str) -> None:
    """The SDK's helper only accepts ``response.completed``: an answer cut by the token limit
    (``response.incomplete``) raises there, and is a normal incomplete response otherwise."""
    assert sdk.responses.create(model="mockrouter/length", input="x").incomplete_details.reason == "max_output_tokens"
    with sdk.responses.stream(model="mockrouter/length", input="x") as stream, pytest.raises(RuntimeError):
        stream.get_final_response()


#: What ``get_final_response()`` raises on each stream fault that breaks an answer.
FAULTS: dict[str, Any] = {
    "error": RuntimeError,  # an error event, then response.failed: no response.completed
    "truncate": RuntimeError,  # likewise
    "disconnect": (openai.APIConnectionError, httpx.RemoteProtocolError),
    "malformed": json.JSONDecodeError,
    "stall": openai.APITimeoutError,  # forever, so the client's read timeout
}


@pytest.mark.parametrize("kind", sorted(FAULTS))
def test_stream_faults_raise(
    server: BackgroundServer, api_key: str, dialect: str, add_scenarios: Callable[[str], list[str]], kind: str
) -> None:
    step = {"content": "one two three four five six", "fault": {"kind": kind, "after_chunks": 2}}
    model = scenario(add_scenarios, step)
    with (
        openai.OpenAI(base_url=server.base_url, api_key=api_key, max_retries=0, timeout=1) as c,
        pytest.raises(FAULTS[kind], match="response.completed" if FAULTS[kind] is RuntimeError else None),
        c.responses.stream(model=model, input="hi") as stream,
    ):
        stream.get_final_response()


def test_error_fault_events(sdk: openai.OpenAI, dialect: str, add_scenarios: Callable[[str], list[str]]) -> None:
    """Iterating the raw stream raises nothing (as with the real API): the caller sees the
    ``error`` event, then ``response.failed`` with the error."""
    step = {"content": "one two three", "fault": {"kind": "error", "after_chunks": 2, "error": {"status": 503}}}
    events = list(sdk.responses.create(model=scenario(add_scenarios, step), input="hi", stream=True))
    error, failed = events[-2:]
    assert error.type == "error" and error.code == "server_error" and error.message
    assert failed.type == "response.failed" and failed.response.error.code == "server_error"


def test_dribble_still_assembles(sdk: openai.OpenAI, dialect: str, add_scenarios: Callable[[str], list[str]]) -> None:
    step = {"content": "one two three four five six", "fault": {"kind": "dribble", "after_chunks": 1}}
    with sdk.responses.stream(model=scenario(add_scenarios, step), input="hi") as stream:
        assert stream.get_final_response().output_text == "one two three four five six"


def test_keepalives_do_not_disturb_the_sdk(
    sdk: openai.OpenAI, dialect: str, add_scenarios: Callable[[str], list[str]]
) -> None:
    model = scenario(add_scenarios, {"content": "kept alive", "stream": {"keepalive": 4}})
    with sdk.responses.stream(model=model, input="hi") as stream:
        assert stream.get_final_response().output_text == "kept alive"


# -- openai-agents -------------------------------------------------------------------------------

AGENT_STEPS = (
    {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]},
    {"content": "Agent says: {{ request.messages[-1].content }}"},
)


@pytest.fixture
def agents(monkeypatch: pytest.MonkeyPatch) -> Any:
    """``agents``, its default client restored after the test (tracing stays off: nothing in
    this suite may reach OpenAI)."""
    agents = require("agents")
    from agents.models import _openai_shared

    monkeypatch.setattr(_openai_shared, "_default_openai_client", _openai_shared.get_default_openai_client())
    return agents


def run_agent(agents: Any, server: BackgroundServer, key: str, agent: Any, *, streamed: bool) -> Any:
    """Run ``agent`` as the agents docs point it at another endpoint (a default client, the
    Responses API, no tracing: nothing leaves the machine), in one event loop that closes the
    client after."""

    async def main() -> Any:
        async with openai.AsyncOpenAI(base_url=server.base_url, api_key=key, max_retries=0) as client:
            agents.set_default_openai_client(client, use_for_tracing=False)
            agents.set_default_openai_api("responses")
            agents.set_tracing_disabled(True)
            if not streamed:
                return await agents.Runner.run(agent, "Weather in Paris?")
            result = agents.Runner.run_streamed(agent, "Weather in Paris?")
            async for _ in result.stream_events():
                pass
            return result

    return asyncio.run(main())


def scenario_header(name: str) -> Any:
    return {"X-Mockrouter-Scenario": name.removeprefix("mockrouter/")}


@pytest.mark.parametrize("streamed", [False, True], ids=["run", "run_streamed"])
def test_agent_runs_its_tool_to_a_final_answer(
    agents: Any,
    server: BackgroundServer,
    api_key: str,
    add_scenarios: Callable[[str], list[str]],
    journal: Callable[[], Any],
    streamed: bool,
) -> None:
    ran: list[str] = []

    @agents.function_tool
    def get_weather(city: str) -> str:
        """The current weather in a city."""
        ran.append(city)
        return f"Sunny in {city}"

    agent = agents.Agent(
        name="Weather",
        instructions="Use the tool.",
        tools=[get_weather],
        model="gpt-4o-mini",
        model_settings=agents.ModelSettings(extra_headers=scenario_header(scenario(add_scenarios, *AGENT_STEPS))),
    )
    result = run_agent(agents, server, api_key, agent, streamed=streamed)
    assert ran == ["Paris"]
    assert result.final_output == "Agent says: Sunny in Paris"
    entries = journal()
    assert [e["surface"] for e in entries] == ["responses", "responses"]
    assert all(e["stream"] is streamed for e in entries)


@pytest.mark.parametrize("streamed", [False, True], ids=["run", "run_streamed"])
def test_agent_sees_a_failed_answer(
    agents: Any, server: BackgroundServer, api_key: str, add_scenarios: Callable[[str], list[str]], streamed: bool
) -> None:
    step = {"content": "one two three", "fault": {"kind": "error", "after_chunks": 2, "error": {"status": 503}}}
    agent = agents.Agent(
        name="Broken",
        model="gpt-4o-mini",
        model_settings=agents.ModelSettings(extra_headers=scenario_header(scenario(add_scenarios, step))),
    )
    expected = agents.exceptions.AgentsException if streamed else openai.InternalServerError
    with pytest.raises(expected):
        run_agent(agents, server, api_key, agent, streamed=streamed)


# -- README recipes ------------------------------------------------------------------------------


def test_readme_recipes(make_server: Callable[..., BackgroundServer]) -> None:
    require("agents")
    server = make_server()  # fresh: the recipes' fixed key must not have been used yet
    printed = run_recipes(["python-openai-responses", "python-openai-agents"], server)
    assert printed["python-openai-responses"] == "Hello from Responses!\nStreamed, too.\n"
    assert printed["python-openai-agents"].startswith("The tool says: Sunny in ")
    assert statuses(journal_of(server)) == [200, 200, 200, 200]
