"""SPEC "Agent loops without counters": the README's agent loop, scripted with ``turn``,
``last_tool`` and ``tool_result`` only, run to its end through the real ``openai`` (chat and
Responses) and ``anthropic`` clients, many loops at once on one key, in both dialects.

Cursors would hand the second loop the third step; matching the conversation cannot drift.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anthropic
import openai
import pytest
from recipes import recipe

from mockrouter.http.server import BackgroundServer

SEARCH = {
    "name": "search",
    "description": "Search the docs.",
    "schema": {"type": "object", "properties": {"q": {"type": "string"}}},
}
FETCH = {
    "name": "fetch",
    "description": "Fetch a page.",
    "schema": {"type": "object", "properties": {"url": {"type": "string"}}},
}
TOOLS = (SEARCH, FETCH)
LOOPS = 6


def run_tool(name: str, question: str) -> str:
    return f"{name} page about {question}"


def chat_loop(server: BackgroundServer, key: str, question: str) -> tuple[list[str], str]:
    sdk = openai.OpenAI(base_url=server.base_url, api_key=key, max_retries=0)
    tools = [
        {
            "type": "function",
            "function": {"name": t["name"], "description": t["description"], "parameters": t["schema"]},
        }
        for t in TOOLS
    ]
    messages: list[Any] = [{"role": "user", "content": question}]
    called: list[str] = []
    for _ in range(5):
        message = sdk.chat.completions.create(model="openai/gpt-4o", messages=messages, tools=tools).choices[0].message
        if not message.tool_calls:
            return called, message.content or ""
        messages.append(message.model_dump(exclude_none=True))
        for call in message.tool_calls:
            called.append(call.function.name)
            messages.append(
                {"role": "tool", "tool_call_id": call.id, "content": run_tool(call.function.name, question)}
            )
    raise AssertionError("the loop did not end")


def messages_loop(server: BackgroundServer, key: str, question: str) -> tuple[list[str], str]:
    sdk = anthropic.Anthropic(base_url=server.url + "/api", api_key=key, max_retries=0)
    tools = [{"name": t["name"], "description": t["description"], "input_schema": t["schema"]} for t in TOOLS]
    messages: list[Any] = [{"role": "user", "content": question}]
    called: list[str] = []
    for _ in range(5):
        message = sdk.messages.create(
            model="anthropic/claude-sonnet-4.5", max_tokens=1024, messages=messages, tools=tools
        )
        uses = [b for b in message.content if b.type == "tool_use"]
        if message.stop_reason != "tool_use":
            return called, "".join(b.text for b in message.content if b.type == "text")
        messages.append({"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in message.content]})
        called += [u.name for u in uses]
        results = [{"type": "tool_result", "tool_use_id": u.id, "content": run_tool(u.name, question)} for u in uses]
        messages.append({"role": "user", "content": results})
    raise AssertionError("the loop did not end")


def responses_loop(server: BackgroundServer, key: str, question: str) -> tuple[list[str], str]:
    sdk = openai.OpenAI(base_url=server.base_url, api_key=key, max_retries=0)
    tools: Any = [
        {"type": "function", "name": t["name"], "description": t["description"], "parameters": t["schema"]}
        for t in TOOLS
    ]
    items: list[Any] = [{"role": "user", "content": question}]
    called: list[str] = []
    for _ in range(5):
        response = sdk.responses.create(model="openai/gpt-4o", input=items, tools=tools)
        calls = [item for item in response.output if item.type == "function_call"]
        if not calls:
            return called, response.output_text
        for call in calls:
            called.append(call.name)
            items.append(
                {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments}
            )
            items.append(
                {"type": "function_call_output", "call_id": call.call_id, "output": run_tool(call.name, question)}
            )
    raise AssertionError("the loop did not end")


LOOP_DRIVERS: dict[str, Callable[[BackgroundServer, str, str], tuple[list[str], str]]] = {
    "chat": chat_loop,
    "messages": messages_loop,
    "responses": responses_loop,
}


@pytest.mark.parametrize("surface", list(LOOP_DRIVERS))
def test_the_readme_agent_loop_runs_on_every_surface_concurrently(
    surface: str,
    server: BackgroundServer,
    api_key: str,
    add_scenarios: Callable[[str], list[str]],
    journal: Callable[[], list[dict[str, Any]]],
) -> None:
    add_scenarios(recipe("agent-loop").code)
    drive = LOOP_DRIVERS[surface]
    questions = [f"question {i}" for i in range(LOOPS)]
    with ThreadPoolExecutor(LOOPS) as pool:
        results = list(pool.map(lambda q: drive(server, api_key, q), questions))
    for question, (called, answer) in zip(questions, results, strict=True):
        assert called == ["search", "fetch"], (question, called)
        assert answer == f"Done: {run_tool('fetch', question)}"
    entries = journal()
    assert len(entries) == 3 * LOOPS
    assert {e["surface"] for e in entries} == {surface}
    assert sorted(e["scenario"] for e in entries) == sorted(["plan", "fetch", "answer"] * LOOPS)
