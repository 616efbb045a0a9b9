"""The Node clients of the two other surfaces, unmodified, against a real mockrouter:
``@anthropic-ai/sdk`` on Anthropic Messages (``POST /api/v1/messages``) and the ``openai``
package's Responses API (``POST /api/v1/responses``), in both dialects.

As in test_node_clients.py, one node process per client and dialect runs every case of its
script (tests/clients/node/anthropic.mjs, responses.mjs) concurrently, each case with its own
API key, and prints one JSON line per case; each test asserts one case. The scenarios a case
needs beyond the built-ins (a 529, a truncated stream) are added for that case's key first.

Streams go through the SDKs' own accumulators (``messages.stream().finalMessage()``,
``responses.stream().finalResponse()``), which reject an event they cannot place, so a wrong
event, index or order on the wire fails a case here.
"""

from __future__ import annotations

import json
import tempfile
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from recipes import recipe
from test_node_clients import NODE_DIR, TOOL_RESULT_TEXT, ScriptRun

from mockrouter.http.server import BackgroundServer

#: Scenarios added for one case's key before its script runs (cases and built-ins are named in the scripts).
CASE_SCENARIOS = {
    "truncate": """
name: node-truncate
steps:
  - content: "This stream ends cleanly before its last event arrives"
    fault: {kind: truncate, after_chunks: 3}
""",
    "overloaded": """
name: node-overloaded
steps:
  - error: {status: 529, message: "Overloaded", retry_after: 1}
  - content: "{{ request.last_user }}"
""",
}
#: The stream-fault cases, and the fault kind each one's scenario scripts, as the journal names it.
FAULT_KINDS = {
    "mid_stream_error": "error",
    "malformed_chunk": "malformed",
    "disconnect": "disconnect",
    "truncate": "truncate",
}
FAULTS = list(FAULT_KINDS)


def run_with_scenarios(script: str, server: BackgroundServer) -> ScriptRun:
    """Run ``script`` against ``server`` once the cases' own scenarios are in place."""
    prefix = f"sk-node-{uuid.uuid4().hex}"
    for case, scenario in CASE_SCENARIOS.items():
        response = httpx.post(
            server.url + "/__mockrouter/scenarios",
            params={"key": f"{prefix}-{case}"},
            content=scenario,
            headers={"content-type": "application/yaml"},
            timeout=10,
        )
        assert response.status_code == 201, response.text
    return ScriptRun(script, server, {"MOCKROUTER_KEY": prefix})


@pytest.fixture(scope="module", params=["anyrouter", "openrouter"])
def surface_server(request: pytest.FixtureRequest) -> BackgroundServer:
    return request.getfixturevalue(f"{request.param}_server")


@pytest.fixture(scope="module")
def anthropic_run(surface_server: BackgroundServer) -> ScriptRun:
    return run_with_scenarios("anthropic.mjs", surface_server)


@pytest.fixture(scope="module")
def responses_run(surface_server: BackgroundServer) -> ScriptRun:
    return run_with_scenarios("responses.mjs", surface_server)


def only_one(entries: list[dict[str, Any]], surface: str, path: str) -> dict[str, Any]:
    """The one journal entry of a case, which the client sent to ``path`` on ``surface``."""
    (entry,) = entries
    assert entry["surface"] == surface
    assert entry["path"] == path
    return entry


def comparable(value: Any) -> Any:
    """``value`` without its ``id`` fields (two answers to one prompt differ only there) and the
    fields the openai SDK adds to what it accumulated from a stream (``parsed``, ``parsed_arguments``)."""
    if isinstance(value, dict):
        return {k: comparable(v) for k, v in value.items() if k not in ("id", "parsed", "parsed_arguments")}
    if isinstance(value, list):
        return [comparable(v) for v in value]
    return value


# --- @anthropic-ai/sdk on /messages -------------------------------------------------------------------


def test_anthropic_message(anthropic_run: ScriptRun) -> None:
    message = anthropic_run.result("message")
    assert message["id"].startswith("msg_")
    assert (message["type"], message["role"], message["model"]) == ("message", "assistant", "openai/gpt-4o-mini")
    assert [(b["type"], b["text"]) for b in message["content"]] == [("text", "Hello from node anthropic")]
    assert (message["stop_reason"], message["stop_sequence"]) == ("end_turn", None)
    assert message["usage"]["input_tokens"] > 0 and message["usage"]["output_tokens"] > 0
    entry = only_one(anthropic_run.journal("message", 1), "messages", "/api/v1/messages")
    assert entry["status"] == 200 and entry["generation_id"] == message["id"]


def test_anthropic_thinking(anthropic_run: ScriptRun) -> None:
    """`reasoning` with thinking on: a signed thinking block, then the text."""
    message = anthropic_run.result("thinking")
    thinking, text = message["content"]
    assert thinking["type"] == "thinking"
    assert thinking["thinking"].startswith("The user wrote: Think first.")
    assert isinstance(thinking["signature"], str) and thinking["signature"]
    assert (text["type"], text["text"]) == ("text", "Here is a considered answer to: Think first")
    assert message["stop_reason"] == "end_turn"


def test_anthropic_tool_loop(anthropic_run: ScriptRun) -> None:
    """tool_use for the declared tool, then the tool_result turn is answered, quoting the result."""
    first, second = anthropic_run.result("tool_loop")["turns"]
    assert first["stop_reason"] == "tool_use"
    (use,) = [b for b in first["content"] if b["type"] == "tool_use"]
    assert (use["name"], use["input"]) == ("get_weather", {"city": "Paris"})
    assert second["stop_reason"] == "end_turn"
    assert [(b["type"], b["text"]) for b in second["content"]] == [("text", TOOL_RESULT_TEXT)]
    entries = anthropic_run.journal("tool_loop", 2)
    assert [e["status"] for e in entries] == [200, 200]
    sent_back = entries[1]["body"]["messages"]
    assert sent_back[-2]["role"] == "assistant" and sent_back[-2]["content"][-1]["id"] == use["id"]
    (result,) = sent_back[-1]["content"]
    assert result["type"] == "tool_result" and result["tool_use_id"] == use["id"]


def assert_complete_stream(events: list[str]) -> None:
    """message_start, then whole content blocks, then message_delta and message_stop."""
    assert events[0] == "message_start" and events[-2:] == ["message_delta", "message_stop"]
    blocks = [e for e in events[1:-2] if e != "content_block_delta"]
    assert blocks == ["content_block_start", "content_block_stop"] * (len(blocks) // 2) and blocks


def test_anthropic_stream_equals_whole_answer(anthropic_run: ScriptRun) -> None:
    result = anthropic_run.result("stream")
    whole, stream = result["whole"], result["stream"]
    final = stream["final"]
    assert final["content"] == whole["content"]
    assert [(b["type"], b["text"]) for b in final["content"]] == [("text", "Stream me, node anthropic")]
    assert stream["text"] == "Stream me, node anthropic" and stream["text_deltas"] > 1
    assert final["id"].startswith("msg_") and final["id"] != whole["id"]
    assert (final["stop_reason"], final["stop_sequence"]) == ("end_turn", None)
    assert final["usage"]["output_tokens"] == whole["usage"]["output_tokens"] > 0
    assert final["usage"]["input_tokens"] == whole["usage"]["input_tokens"] > 0
    assert_complete_stream(stream["events"])


def test_anthropic_stream_thinking(anthropic_run: ScriptRun) -> None:
    """thinking_delta and signature_delta accumulate to the non-stream answer's blocks."""
    result = anthropic_run.result("stream_thinking")
    whole, stream = result["whole"], result["stream"]
    final = stream["final"]
    assert [b["type"] for b in final["content"]] == ["thinking", "text"]
    assert without_signature(final["content"]) == without_signature(whole["content"])
    thinking = final["content"][0]
    assert "".join(stream["thinking"]) == thinking["thinking"] and len(stream["thinking"]) > 1
    assert stream["signatures"] == [thinking["signature"]] and thinking["signature"]
    assert stream["text"] == final["content"][1]["text"]
    assert_complete_stream(stream["events"])


def without_signature(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in b.items() if k != "signature"} for b in blocks]


def test_anthropic_stream_tool_use(anthropic_run: ScriptRun) -> None:
    """input_json_delta pieces accumulate to the tool's input."""
    stream = anthropic_run.result("stream_tool")
    final = stream["final"]
    assert final["stop_reason"] == "tool_use"
    (use,) = [b for b in final["content"] if b["type"] == "tool_use"]
    assert (use["name"], use["input"]) == ("get_weather", {"city": "Paris"})
    assert json.loads("".join(stream["input_json"])) == {"city": "Paris"}
    assert_complete_stream(stream["events"])


def test_anthropic_length(anthropic_run: ScriptRun) -> None:
    result = anthropic_run.result("length")
    whole, final = result["whole"], result["stream"]["final"]
    assert whole["stop_reason"] == final["stop_reason"] == "max_tokens"
    assert final["content"] == whole["content"] and whole["content"][0]["text"].endswith("ran out of")
    assert_complete_stream(result["stream"]["events"])


def test_anthropic_stream_parallel_tool_use(anthropic_run: ScriptRun) -> None:
    """Two tool_use blocks, each opened, filled and closed at its own index."""
    stream = anthropic_run.result("stream_parallel_tools")
    final = stream["final"]
    assert final["stop_reason"] == "tool_use"
    uses = [(b["name"], b["input"]) for b in final["content"] if b["type"] == "tool_use"]
    assert uses == [("get_weather", {"city": "Paris"}), ("get_time", {"city": "Paris"})]
    assert len({b["id"] for b in final["content"]}) == 2
    assert_complete_stream(stream["events"])
    assert stream["events"].count("content_block_start") == 2


def test_anthropic_retries_rate_limit(anthropic_run: ScriptRun) -> None:
    result = anthropic_run.result("rate_limited")
    assert [(b["type"], b["text"]) for b in result["content"]] == [("text", "Worth the wait")]
    assert [e["status"] for e in anthropic_run.journal("rate_limited", 2)] == [429, 200]
    assert result["elapsed_ms"] >= 900, "the client did not honour Retry-After: 1"


def test_anthropic_overloaded_raises_without_retries(anthropic_run: ScriptRun) -> None:
    result = anthropic_run.result("overloaded")
    assert result["is_overloaded_error"] and result["raised"]["status"] == 529
    assert result["raised"]["type"] == "overloaded_error"
    assert result["error_body"]["type"] == "error"
    assert result["error_body"]["error"] == {"type": "overloaded_error", "message": "Overloaded"}
    assert [e["status"] for e in anthropic_run.journal("overloaded", 1)] == [529]


@pytest.mark.parametrize("case", FAULTS)
def test_anthropic_stream_fault_raises(anthropic_run: ScriptRun, case: str) -> None:
    """Every way a stream breaks makes finalMessage() reject, after some of the answer arrived."""
    result = anthropic_run.result(case)
    assert result.get("raised"), f"{case}: the SDK settled for {result.get('final')}"
    assert result["is_anthropic_error"], result["raised"]
    assert result["events"][0] == "message_start" and "message_stop" not in result["events"]
    entry = only_one(anthropic_run.journal(case, 1), "messages", "/api/v1/messages")
    assert entry["fault"] == FAULT_KINDS[case] and entry["stream"]


def test_anthropic_mid_stream_error_is_an_api_error(anthropic_run: ScriptRun) -> None:
    """`event: error` carries Anthropic's error body; both ways of streaming raise it as an APIError."""
    for case in ("mid_stream_error", "mid_stream_error_raw"):
        result = anthropic_run.result(case)
        assert result["is_api_error"], result
        assert result["error_body"]["type"] == "error"
        assert result["error_body"]["error"]["message"] == "Provider disconnected unexpectedly"
        assert result["raised"]["type"] == result["error_body"]["error"]["type"]
    raw = anthropic_run.result("mid_stream_error_raw")["events"]
    assert raw[0] == "message_start" and "content_block_delta" in raw


# --- openai's Responses API on /responses ---------------------------------------------------------------


def text_items(response: dict[str, Any]) -> list[tuple[str, str]]:
    """(role, text) of each message output item's output_text parts."""
    return [
        (item["role"], part["text"])
        for item in response["output"]
        if item["type"] == "message"
        for part in item["content"]
        if part["type"] == "output_text"
    ]


def test_responses_create(responses_run: ScriptRun) -> None:
    response = responses_run.result("response")
    assert response["id"].startswith("resp_")
    assert (response["object"], response["status"]) == ("response", "completed")
    assert response["model"] == "openai/gpt-4o-mini"
    assert response["output_text"] == "Hello from node responses"
    assert text_items(response) == [("assistant", "Hello from node responses")]
    usage = response["usage"]
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"] > 0
    entry = only_one(responses_run.journal("response", 1), "responses", "/api/v1/responses")
    assert entry["status"] == 200 and entry["generation_id"] == response["id"]


def test_responses_instructions_and_items(responses_run: ScriptRun) -> None:
    response = responses_run.result("instructions")
    assert response["status"] == "completed" and response["output_text"] == "Items, not a string"


def reasoning_text(response: dict[str, Any]) -> str:
    """The text of the reasoning items, from their content or their summary parts."""
    texts = []
    for item in response["output"]:
        if item["type"] == "reasoning":
            parts = (item.get("content") or []) + (item.get("summary") or [])
            texts.extend(part["text"] for part in parts)
    return "".join(texts)


def test_responses_reasoning(responses_run: ScriptRun) -> None:
    result = responses_run.result("reasoning")
    whole, final = result["whole"], result["stream"]["final"]
    for response in (whole, final):
        assert [item["type"] for item in response["output"]] == ["reasoning", "message"]
        assert reasoning_text(response).startswith("The user wrote: Think first.")
        assert response["output_text"] == "Here is a considered answer to: Think first"
    assert comparable(final["output"]) == comparable(whole["output"])


def test_responses_tool_loop(responses_run: ScriptRun) -> None:
    """function_call, then the function_call_output turn is answered, quoting the output."""
    first, second = responses_run.result("tool_loop")["turns"]
    (call,) = first["output"]
    assert call["type"] == "function_call" and call["name"] == "get_weather"
    assert json.loads(call["arguments"]) == {"city": "Paris"} and call["call_id"]
    assert first["status"] == "completed" and first["output_text"] == ""
    assert second["output_text"] == TOOL_RESULT_TEXT and second["status"] == "completed"
    entries = responses_run.journal("tool_loop", 2)
    assert [e["status"] for e in entries] == [200, 200]
    sent_back = entries[1]["body"]["input"]
    assert sent_back[-2]["type"] == "function_call" and sent_back[-2]["call_id"] == call["call_id"]
    assert sent_back[-1] == {"type": "function_call_output", "call_id": call["call_id"], "output": '{"temp_c":21}'}


def assert_numbered(stream: dict[str, Any], last: str = "response.completed") -> None:
    """Named events in order, each with the next sequence_number."""
    events, sequence = stream["events"], stream["sequence"]
    assert events[:2] == ["response.created", "response.in_progress"] and events[-1] == last
    assert sequence == list(range(sequence[0], sequence[0] + len(sequence))) and sequence[0] in (0, 1)


def test_responses_stream_equals_whole_answer(responses_run: ScriptRun) -> None:
    result = responses_run.result("stream")
    whole, stream = result["whole"], result["stream"]
    final = stream["final"]
    assert final["output_text"] == whole["output_text"] == stream["text"] == "Stream me, node responses"
    assert stream["text_deltas"] > 1
    assert comparable(final["output"]) == comparable(whole["output"])
    assert final["status"] == "completed" and final["id"].startswith("resp_") and final["id"] != whole["id"]
    assert final["usage"] == whole["usage"]
    assert_numbered(stream)
    for kind in ("output_item.added", "content_part.added", "output_text.done", "content_part.done"):
        assert f"response.{kind}" in stream["events"]
    assert "response.output_item.done" in stream["events"]


def test_responses_stream_function_call(responses_run: ScriptRun) -> None:
    stream = responses_run.result("stream_tool")
    (call,) = stream["final"]["output"]
    assert call["type"] == "function_call" and call["name"] == "get_weather"
    assert "".join(stream["argument_deltas"]) == call["arguments"]
    assert json.loads(call["arguments"]) == {"city": "Paris"}
    assert "response.function_call_arguments.done" in stream["events"]
    assert_numbered(stream)


def test_responses_length(responses_run: ScriptRun) -> None:
    """A `length` answer is an incomplete response (max_output_tokens), whole and streamed."""
    result = responses_run.result("length")
    whole, stream = result["whole"], result["stream"]
    for response in (whole, stream["final"]):
        assert response["status"] == "incomplete"
        assert response["incomplete_details"] == {"reason": "max_output_tokens"}
        assert response["output_text"].endswith("ran out of")
    assert comparable(stream["final"]["output"]) == comparable(whole["output"])
    assert_numbered(stream, last="response.incomplete")


def test_responses_stream_parallel_function_calls(responses_run: ScriptRun) -> None:
    """Two function_call items, each added, filled and done at its own output_index."""
    stream = responses_run.result("stream_parallel_tools")
    calls = stream["final"]["output"]
    assert [(c["type"], c["name"], json.loads(c["arguments"])) for c in calls] == [
        ("function_call", "get_weather", {"city": "Paris"}),
        ("function_call", "get_time", {"city": "Paris"}),
    ]
    assert len({c["call_id"] for c in calls}) == 2
    assert "".join(stream["argument_deltas"]) == "".join(c["arguments"] for c in calls)
    assert stream["events"].count("response.output_item.added") == 2
    assert_numbered(stream)


def test_responses_rate_limit_raises_without_retries(responses_run: ScriptRun) -> None:
    result = responses_run.result("rate_limited")
    assert result["is_rate_limit_error"] and result["raised"]["status"] == 429
    assert result["retry_after"] == "1"
    assert [e["status"] for e in responses_run.journal("rate_limited", 1)] == [429]


def test_responses_retries_rate_limit(responses_run: ScriptRun) -> None:
    result = responses_run.result("rate_limited_retried")
    assert result["output_text"] == "Worth the wait"
    assert [e["status"] for e in responses_run.journal("rate_limited_retried", 2)] == [429, 200]
    assert result["elapsed_ms"] >= 900, "the client did not honour Retry-After: 1"


def assert_broken(run: ScriptRun, case: str) -> dict[str, Any]:
    """The case's stream began, numbered, and broke as its scenario says; its result."""
    result = run.result(case)
    assert result["events"][0] == "response.created" and "response.completed" not in result["events"]
    assert result["text"] and result["sequence"] == list(range(len(result["sequence"])))
    entry = only_one(run.journal(case, 1), "responses", "/api/v1/responses")
    assert entry["fault"] == FAULT_KINDS[case] and entry["stream"]
    return result


@pytest.mark.parametrize("case", [case for case in FAULTS if case != "truncate"])
def test_responses_stream_fault_raises(responses_run: ScriptRun, case: str) -> None:
    """An error event, a chunk that is not JSON, a dropped connection: finalResponse() rejects."""
    result = assert_broken(responses_run, case)
    assert result.get("raised"), f"{case}: the SDK settled for {result.get('final')}"


def test_responses_mid_stream_error(responses_run: ScriptRun) -> None:
    """openai's ResponseStream rejects with the `error` event itself (not an Error); iterating
    the raw stream raises nothing: the error event, then response.failed, are yielded."""
    result = assert_broken(responses_run, "mid_stream_error")
    assert result["events"][-1] == "error"
    assert result["raised"]["message"] == "Provider disconnected unexpectedly"
    events = responses_run.result("mid_stream_error_raw")["events"]
    assert responses_run.result("mid_stream_error_raw")["raised"] is None
    error, failed = events[-2:]
    assert error["type"] == "error" and error["message"] == "Provider disconnected unexpectedly"
    assert failed["type"] == "response.failed" and failed["response"]["status"] == "failed"
    assert failed["response"]["error"]["message"] == error["message"]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    streamed = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    for item in failed["response"]["output"]:  # the items finished before the error, nothing more
        assert item["type"] != "message" or item["content"][0]["text"] == streamed


def test_responses_truncated_stream_is_not_an_error_to_the_sdk(responses_run: ScriptRun) -> None:
    """A clean end before response.completed: openai's ResponseStream does not check for the
    terminal event, so finalResponse() resolves with the last snapshot, still in progress."""
    result = assert_broken(responses_run, "truncate")
    assert result.get("raised") is None
    final = result["final"]
    assert final["status"] == "in_progress" and final["usage"] is None
    assert final["output_text"] == result["text"]
    assert "This stream ends cleanly before its last event arrives".startswith(result["text"])


# --- the README's recipes, exactly as written ---------------------------------------------------------


@pytest.mark.parametrize("name", ["node-anthropic", "node-openai-responses"])
def test_readme_recipe(name: str, surface_server: BackgroundServer) -> None:
    snippet = recipe(name)
    assert snippet.language == "js"
    # Inside tests/clients/node so that its imports resolve to that node_modules; git-ignored.
    with tempfile.NamedTemporaryFile(
        "w", dir=NODE_DIR, prefix="_recipe-", suffix=".mjs", delete=False, encoding="utf-8"
    ) as script:
        script.write(snippet.for_server(surface_server.url))
    try:
        process = ScriptRun(Path(script.name).name, surface_server).process
    finally:
        Path(script.name).unlink()
    assert process.returncode == 0, process.stderr
    assert process.stdout.strip() == "Hello!"
