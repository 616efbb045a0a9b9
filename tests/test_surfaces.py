"""core.surfaces: every surface's request seen as a chat request, and the conversation facts
(turn, last tool, tool result, system) the agent-loop conditions read from that view."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from mockrouter.core.surfaces import CHAT, MESSAGES, RESPONSES, TEXT, chat_view, text_of
from mockrouter.scenario.matcher import Conversation, RequestFacts

names = st.sampled_from(["get_weather", "search", "lookup_order", "run_sql"])
words = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)


@st.composite
def tool_loops(draw: st.DrawFn) -> list[tuple[str, str, str]]:
    """An agent loop: (user text, tool called, tool result) per round."""
    return draw(st.lists(st.tuples(words, names, words), min_size=0, max_size=4))


def anthropic_request(loop: list[tuple[str, str, str]], system: str | None, final: str) -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    for i, (text, tool, result) in enumerate(loop):
        messages.append({"role": "user", "content": text})
        messages.append(
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": "c2ln"},
                    {"type": "tool_use", "id": f"toolu_{i}", "name": tool, "input": {"q": text}},
                ],
            }
        )
        messages.append(
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": f"toolu_{i}", "content": [{"type": "text", "text": result}]}
                ],
            }
        )
    if final:
        messages.append({"role": "user", "content": [{"type": "text", "text": final}]})
    body: dict[str, Any] = {"model": "anthropic/claude-sonnet-4.5", "max_tokens": 64, "messages": messages}
    if system is not None:
        body["system"] = [{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}]
    return body


def responses_request(loop: list[tuple[str, str, str]], system: str | None, final: str) -> dict[str, Any]:
    items: list[dict[str, Any]] = []
    for i, (text, tool, result) in enumerate(loop):
        items.append({"role": "user", "content": [{"type": "input_text", "text": text}]})
        items.append({"type": "function_call", "call_id": f"call_{i}", "name": tool, "arguments": "{}"})
        items.append({"type": "function_call_output", "call_id": f"call_{i}", "output": result})
    if final:
        items.append({"type": "message", "role": "user", "content": final})
    body: dict[str, Any] = {"model": "openai/gpt-4o", "input": items, "max_output_tokens": 99}
    if system is not None:
        body["instructions"] = system
    return body


def chat_request(loop: list[tuple[str, str, str]], system: str | None, final: str) -> dict[str, Any]:
    messages: list[dict[str, Any]] = [] if system is None else [{"role": "system", "content": system}]
    for i, (text, tool, result) in enumerate(loop):
        messages.append({"role": "user", "content": text})
        call = {"id": f"call_{i}", "type": "function", "function": {"name": tool, "arguments": "{}"}}
        messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        messages.append({"role": "tool", "tool_call_id": f"call_{i}", "content": result})
    if final:
        messages.append({"role": "user", "content": final})
    return {"model": "openai/gpt-4o", "messages": messages}


@given(loop=tool_loops(), system=st.none() | words, final=words)
def test_every_surface_tells_the_same_conversation(
    loop: list[tuple[str, str, str]], system: str | None, final: str
) -> None:
    """The same agent loop sent on any surface gives the same turn, last tool, tool result and
    system prompt, and the same last user text."""
    seen = []
    for surface, build in ((CHAT, chat_request), (MESSAGES, anthropic_request), (RESPONSES, responses_request)):
        facts = RequestFacts.from_body(chat_view(surface, build(loop, system, final)), {}, surface)
        talk = facts.conversation
        seen.append((talk.turn, talk.last_tool, talk.tool_result, talk.system, facts.last_user, facts.last_role))
    assert seen[0] == seen[1] == seen[2], seen
    turn, last_tool, tool_result, shown_system, _, _ = seen[0]
    assert turn == len(loop)
    assert shown_system == (system or "")
    if loop and not final:
        assert (last_tool, tool_result) == (loop[-1][1], loop[-1][2])
    else:
        assert last_tool is None and tool_result is None


def test_messages_view_maps_tools_limits_and_stops() -> None:
    body = {
        "model": "m",
        "max_tokens": 5,
        "stop_sequences": ["END"],
        "tool_choice": {"type": "none"},
        "metadata": {"user_id": "u1"},
        "tools": [{"name": "get_weather", "description": "d", "input_schema": {"type": "object", "properties": {}}}],
        "messages": [{"role": "user", "content": "hi"}],
    }
    view = chat_view(MESSAGES, body)
    assert view["tools"] == [
        {
            "type": "function",
            "function": {"name": "get_weather", "description": "d", "parameters": body["tools"][0]["input_schema"]},
        }
    ]
    assert (view["max_tokens"], view["stop"], view["tool_choice"], view["metadata"]) == (
        5,
        ["END"],
        "none",
        {"user_id": "u1"},
    )
    assert body["messages"] == [{"role": "user", "content": "hi"}], "the original request is not changed"


def test_responses_view_maps_limits_formats_and_parallel_calls() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    body = {
        "model": "m",
        "input": [
            {"role": "developer", "content": "be terse"},
            {"type": "function_call", "call_id": "a", "name": "f", "arguments": "{}"},
            {"type": "function_call", "call_id": "b", "name": "g", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "a", "output": "one"},
            {"type": "function_call_output", "call_id": "b", "output": "two"},
        ],
        "max_output_tokens": 7,
        "text": {"format": {"type": "json_schema", "name": "n", "schema": schema}},
        "tools": [{"type": "function", "name": "f", "parameters": schema}, {"type": "web_search"}],
    }
    view = chat_view(RESPONSES, body)
    assert view["max_tokens"] == 7
    assert view["response_format"] == {"type": "json_schema", "json_schema": {"name": "n", "schema": schema}}
    assert [t["function"]["name"] for t in view["tools"]] == ["f"]
    roles = [m["role"] for m in view["messages"]]
    assert roles == ["system", "assistant", "tool", "tool"]
    assert [c["id"] for c in view["messages"][1]["tool_calls"]] == ["a", "b"]
    talk = Conversation.of(view["messages"])
    assert (talk.turn, talk.last_tool, talk.tool_result, talk.system) == (1, "g", "two", "be terse")


def test_text_of_reads_every_kind_of_text_part() -> None:
    parts = [
        {"type": "text", "text": "a"},
        {"type": "input_text", "text": "b"},
        {"type": "output_text", "text": "c"},
        {"type": "image", "source": {}},
        {"type": "tool_result", "content": "d"},
    ]
    assert text_of(parts) == "a\nb\nc\nd"
    assert text_of(None) == "" and text_of("x") == "x"


@given(prompt=words | st.lists(words, max_size=3))
def test_a_completion_prompt_is_the_user_message(prompt: str | list[str]) -> None:
    """Legacy ``/completions``: the prompt (a list's first item) is the one user message; the
    request's other fields stay."""
    view = chat_view(TEXT, {"model": "m", "prompt": prompt, "max_tokens": 5})
    first = prompt if isinstance(prompt, str) else (prompt[0] if prompt else "")
    assert view == {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": first}]}
    assert RequestFacts.from_body(view, {}, TEXT).last_user == first
