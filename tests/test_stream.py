"""Streams that misbehave on cue: timing, keep-alives, faults, chaos — seen by real clients."""

from __future__ import annotations

import json
import random
import time

import httpx
import openai
import pytest

from mockrouter.core.reply import Timing
from mockrouter.core.schemas import SchemaRegistry
from mockrouter.wire.sse import Pacing

REGISTRY = SchemaRegistry()
USER = [{"role": "user", "content": "stream please"}]


def sse_events(raw: bytes) -> list[bytes]:
    """The raw events of an SSE body (comments included), split on blank lines."""
    return [e for e in raw.split(b"\n\n") if e]


def data_chunks(raw: bytes) -> list[dict]:
    return [json.loads(e[6:]) for e in sse_events(raw) if e.startswith(b"data: {")]


def content_of(chunks) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


@pytest.fixture(scope="module")
def timed_server(make_server):
    """A server at real speed, for timing."""
    return make_server(speed=1.0)


def fault_scenario(kind: str, after: int = 2, extra: str = "") -> str:
    return (
        f"name: f-{kind}\nmatch: {{last_user: stream}}\nsteps:\n"
        f"  - content: one two three four five six\n    fault: {{kind: {kind}, after_chunks: {after}{extra}}}\n"
    )


def test_error_fault_raises_api_error_after_content(client, add_scenarios, journal, dialect):
    add_scenarios(fault_scenario("error", 3))
    seen = []
    with pytest.raises(openai.APIError) as info:
        for chunk in client.chat.completions.create(model="x/y", messages=USER, stream=True):
            seen.append(chunk)
    assert content_of(seen) == "one two"  # role chunk + 2 content chunks, then the error
    assert "Provider disconnected unexpectedly" in str(info.value)
    [entry] = journal()
    assert entry["fault"] == "error" and entry["chunks_sent"] == 4 and entry["status"] == 200


def test_error_chunk_shape(http, add_scenarios, dialect):
    add_scenarios(fault_scenario("error", 1, ", error: {status: 503, message: overloaded upstream}"))
    response = http.post("/chat/completions", json={"model": "x/y", "messages": USER, "stream": True})
    assert not response.text.rstrip().endswith("data: [DONE]")
    chunks = data_chunks(response.content)
    last = chunks[-1]
    assert last["choices"][0]["finish_reason"] == "error"
    assert last["error"]["message"] == "overloaded upstream"
    if dialect == "openrouter":
        assert last["error"]["code"] == 503 and last["choices"][0]["delta"] == {"content": ""}
    else:
        assert last["error"]["type"] == "service_unavailable"
    for chunk in chunks:
        assert REGISTRY.for_dialect("chat-chunk", dialect).violation(chunk) is None, chunk


def test_error_fault_without_stream_is_200_with_choice_error(http, add_scenarios, dialect):
    add_scenarios(fault_scenario("error", 0))
    response = http.post("/chat/completions", json={"model": "x/y", "messages": USER})
    assert response.status_code == 200
    body = response.json()
    assert body["choices"][0]["finish_reason"] == "error"
    assert body["choices"][0]["error"]["message"] == "Provider disconnected unexpectedly"
    assert REGISTRY.for_dialect("chat-response", dialect).violation(body) is None


def test_disconnect_is_not_a_clean_end(client, http, add_scenarios, journal):
    add_scenarios(fault_scenario("disconnect", 2))
    with pytest.raises((openai.APIConnectionError, httpx.RemoteProtocolError, httpx.ReadError)):
        for _ in client.chat.completions.create(model="x/y", messages=USER, stream=True):
            pass
    with pytest.raises(httpx.RemoteProtocolError):
        http.post("/chat/completions", json={"model": "x/y", "messages": USER, "stream": True})
    entries = journal()
    assert entries[-1]["fault"] == "disconnect" and entries[-1]["chunks_sent"] == 2


def test_malformed_chunk_is_a_decode_error(client, add_scenarios):
    add_scenarios(fault_scenario("malformed", 2))
    with pytest.raises(json.JSONDecodeError):
        for _ in client.chat.completions.create(model="x/y", messages=USER, stream=True):
            pass


def test_truncate_ends_cleanly_without_done(http, add_scenarios, journal):
    add_scenarios(fault_scenario("truncate", 3))
    response = http.post("/chat/completions", json={"model": "x/y", "messages": USER, "stream": True})
    assert response.status_code == 200
    assert b"[DONE]" not in response.content
    assert len(data_chunks(response.content)) == 3
    assert journal()[0]["fault"] == "truncate"


def test_dribble_still_assembles(client, add_scenarios, http):
    add_scenarios(fault_scenario("dribble", 1))
    chunks = list(client.chat.completions.create(model="x/y", messages=USER, stream=True))
    assert content_of(chunks) == "one two three four five six"
    with http.stream("POST", "/chat/completions", json={"model": "x/y", "messages": USER, "stream": True}) as r:
        pieces = list(r.iter_raw())
    assert b"".join(pieces).endswith(b"data: [DONE]\n\n")


def test_stall_until_client_gives_up(timed_server, api_key, add_scenarios_on):
    add_scenarios_on(timed_server, api_key, fault_scenario("stall", 2))
    client = openai.OpenAI(
        base_url=timed_server.base_url, api_key=api_key, max_retries=0, timeout=openai.Timeout(5, read=1.5)
    )
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        for _ in client.chat.completions.create(model="x/y", messages=USER, stream=True):
            pass
    assert time.monotonic() - started < 5
    entry = wait_for_entry(timed_server, api_key)
    assert entry["client_disconnected"] is True and entry["fault"] == "stall" and entry["chunks_sent"] == 2


def test_stall_with_ms_then_continues_with_keepalives(timed_server, api_key, add_scenarios_on):
    add_scenarios_on(timed_server, api_key, fault_scenario("stall", 2, ", ms: 400, keepalive_ms: 100"))
    with httpx.Client(base_url=timed_server.base_url, headers={"Authorization": f"Bearer {api_key}"}) as c:
        started = time.monotonic()
        response = c.post("/chat/completions", json={"model": "x/y", "messages": USER, "stream": True})
        elapsed = time.monotonic() - started
    assert 0.35 < elapsed < 3
    events = sse_events(response.content)
    assert events[-1] == b"data: [DONE]"
    assert sum(1 for e in events if e.startswith(b":")) >= 2
    assert (
        "".join(c["choices"][0]["delta"].get("content") or "" for c in data_chunks(response.content) if c["choices"])
        == "one two three four five six"
    )


def test_keepalives_do_not_disturb_the_sdk(client, add_scenarios, http, dialect):
    add_scenarios("name: ka\nmatch: {last_user: stream}\nsteps:\n  - content: kept alive\n    stream: {keepalive: 4}\n")
    assert content_of(client.chat.completions.create(model="x/y", messages=USER, stream=True)) == "kept alive"
    raw = http.post("/chat/completions", json={"model": "x/y", "messages": USER, "stream": True}).content
    comment = b": OPENROUTER PROCESSING" if dialect == "openrouter" else b": keep-alive"
    assert sse_events(raw)[:4] == [comment] * 4


def test_timing_loose_bounds(timed_server, api_key, add_scenarios_on):
    add_scenarios_on(
        timed_server,
        api_key,
        "name: timed\nmatch: {last_user: stream}\nsteps:\n"
        "  - content: a b c d e\n    timing: {ttft_ms: 300, interval_ms: 50}\n",
    )
    client = openai.OpenAI(base_url=timed_server.base_url, api_key=api_key)
    started = time.monotonic()
    arrivals = []
    for _chunk in client.chat.completions.create(model="x/y", messages=USER, stream=True):
        arrivals.append(time.monotonic() - started)
    assert arrivals[0] >= 0.25  # time to first token
    assert arrivals[-1] - arrivals[0] >= 0.2  # six gaps of ~50 ms between the chunks that follow
    entry = wait_for_entry(timed_server, api_key)
    assert entry["ttft_ms"] >= 250 and entry["duration_ms"] >= entry["ttft_ms"]


def test_latency_on_non_stream(timed_server, api_key, add_scenarios_on):
    add_scenarios_on(
        timed_server,
        api_key,
        "name: late\nmatch: {last_user: stream}\nsteps:\n  - content: late\n    timing: {latency_ms: 300}\n",
    )
    client = openai.OpenAI(base_url=timed_server.base_url, api_key=api_key)
    started = time.monotonic()
    assert client.chat.completions.create(model="x/y", messages=USER).choices[0].message.content == "late"
    assert time.monotonic() - started >= 0.25


def test_speed_zero_skips_delays(http, add_scenarios):
    add_scenarios(
        "name: slowish\nmatch: {last_user: stream}\nsteps:\n"
        "  - content: quick\n    timing: {latency_ms: 5000, ttft_ms: 5000, interval_ms: 1000}\n"
    )
    started = time.monotonic()
    response = http.post("/chat/completions", json={"model": "x/y", "messages": USER, "stream": True})
    assert response.status_code == 200 and time.monotonic() - started < 2


def test_client_abandoning_a_stream_is_journaled(timed_server, api_key, add_scenarios_on):
    add_scenarios_on(
        timed_server,
        api_key,
        "name: long\nmatch: {last_user: stream}\nsteps:\n"
        "  - content: a b c d e f g h i j k l m n o p\n    timing: {interval_ms: 100}\n",
    )
    client = openai.OpenAI(base_url=timed_server.base_url, api_key=api_key)
    stream = client.chat.completions.create(model="x/y", messages=USER, stream=True)
    for i, _ in enumerate(stream):
        if i == 2:
            break
    stream.close()
    entry = wait_for_entry(timed_server, api_key, lambda e: e["client_disconnected"])
    assert entry["client_disconnected"] is True
    assert 2 <= entry["chunks_sent"] < 17
    assert entry["disconnected_after_ms"] is not None


def test_chaos_is_seeded_and_replays(make_server, api_key):
    scenario = (
        "name: chaotic\nmatch: {last_user: chaos}\nsteps:\n  - content: fine\n"
        "chaos:\n  rate: 0.5\n  faults:\n    - error: {status: 503}\n    - error: {status: 429}\n"
    )

    def run(seed: int) -> list[int]:
        server = make_server(seed=seed)
        with httpx.Client(base_url=server.url) as admin:
            assert admin.post("/__mockrouter/scenarios", content=scenario).status_code == 201
        with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {api_key}"}) as c:
            body = {"model": "x/y", "messages": [{"role": "user", "content": "chaos"}]}
            return [c.post("/chat/completions", json=body).status_code for _ in range(40)]

    first = run(11)
    assert first == run(11)
    assert set(first) == {200, 429, 503}
    assert 8 <= first.count(200) <= 32


def test_seeded_streams_are_byte_identical(make_server):
    server = make_server(seed=5, dialect="openrouter")
    body = {"model": "mockrouter/lorem", "messages": USER, "stream": True}
    outputs = []
    for key in ("sk-a", "sk-b"):
        with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}) as c:
            outputs.append(c.post("/chat/completions", json=body).content)
    assert outputs[0] == outputs[1]
    assert len(data_chunks(outputs[0])) > 10


# -- helpers -----------------------------------------------------------------------------


@pytest.fixture
def add_scenarios_on():
    def add(server, key: str, text: str) -> None:
        with httpx.Client(base_url=server.url) as admin:
            response = admin.post("/__mockrouter/scenarios", params={"key": key}, content=text)
            assert response.status_code == 201, response.text

    return add


def wait_for_entry(server, key: str, ready=lambda e: True, timeout: float = 3.0) -> dict:
    """The key's newest journal entry once ``ready`` holds (entries land when a response ends)."""
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=server.url) as admin:
        while True:
            data = admin.get("/__mockrouter/requests", params={"key": key}).json()["data"]
            if data and ready(data[-1]):
                return data[-1]
            if time.monotonic() > deadline:
                raise AssertionError(f"no ready journal entry: {data}")
            time.sleep(0.02)


@pytest.mark.parametrize(("setting", "choices"), [("repeat", 1), ("empty", 0)])
def test_openrouter_usage_chunk_setting(make_server, api_key, setting, choices):
    server = make_server(dialect="openrouter", usage_chunk=setting)
    with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {api_key}"}) as c:
        raw = c.post("/chat/completions", json={"model": "x/y", "messages": USER, "stream": True}).content
    chunks = data_chunks(raw)
    assert sse_events(raw)[-1] == b"data: [DONE]"
    last = chunks[-1]
    assert last["usage"]["total_tokens"] == last["usage"]["prompt_tokens"] + last["usage"]["completion_tokens"]
    assert len(last["choices"]) == choices
    if choices:
        assert last["choices"][0]["finish_reason"] == "stop"
    assert REGISTRY.for_dialect("chat-chunk", "openrouter").violation(last) is None


def test_tokens_per_s_paces_the_stream(timed_server, api_key, add_scenarios_on):
    add_scenarios_on(
        timed_server,
        api_key,
        "name: tps\nmatch: {last_user: stream}\nsteps:\n"
        "  - content: a b c d e f g h i j\n    timing: {tokens_per_s: 50}\n",
    )
    with httpx.Client(base_url=timed_server.base_url, headers={"Authorization": f"Bearer {api_key}"}) as c:
        started = time.monotonic()
        c.post("/chat/completions", json={"model": "x/y", "messages": USER, "stream": True})
        elapsed = time.monotonic() - started
    assert elapsed >= 0.18  # 12 events 20 ms apart


# -- the same delivery on every surface (issue #12) --------------------------------------------

SURFACE_ROUTES = {
    "messages": ("/messages", {"model": "x/y", "max_tokens": 256, "messages": USER, "stream": True}),
    "responses": ("/responses", {"model": "x/y", "input": USER[0]["content"], "stream": True}),
}


def surface_text(surface: str, raw: bytes) -> str:
    """The streamed text of a Messages or Responses answer (its text deltas)."""
    text = ""
    for event in sse_events(raw):
        data = [line[6:] for line in event.split(b"\n") if line.startswith(b"data: ")]
        if not data:
            continue
        body = json.loads(data[0])
        if surface == "messages" and body.get("type") == "content_block_delta":
            text += body["delta"].get("text", "")
        elif surface == "responses" and body.get("type") == "response.output_text.delta":
            text += body["delta"]
    return text


@pytest.mark.parametrize("surface", list(SURFACE_ROUTES))
def test_timing_and_stall_keepalives_on_every_surface(surface, timed_server, api_key, add_scenarios_on):
    """ttft, intervals and a stall with keep-alives pace Messages and Responses streams as they
    pace chat ones; the keep-alive is the surface's own (Anthropic's ``ping`` event)."""
    add_scenarios_on(
        timed_server,
        api_key,
        "name: timed\nmatch: {last_user: stream}\nsteps:\n"
        "  - content: a b c d e\n    timing: {ttft_ms: 300, interval_ms: 50}\n"
        "    fault: {kind: stall, after_chunks: 3, ms: 300, keepalive_ms: 100}\n",
    )
    path, body = SURFACE_ROUTES[surface]
    with httpx.Client(base_url=timed_server.base_url, headers={"Authorization": f"Bearer {api_key}"}) as c:
        started = time.monotonic()
        response = c.post(path, json=body)
        elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert elapsed >= 0.3 + 0.3 + 0.1  # ttft, the stall, and some intervals
    assert surface_text(surface, response.content) == "a b c d e"
    events = sse_events(response.content)
    if surface == "messages":
        assert sum(1 for e in events if e == b'event: ping\ndata: {"type":"ping"}') >= 3  # message_start's + stall's
    else:
        assert sum(1 for e in events if e.startswith(b":")) >= 2
    entry = wait_for_entry(timed_server, api_key)
    assert entry["surface"] == surface and entry["fault"] == "stall"
    assert entry["ttft_ms"] >= 250 and entry["duration_ms"] >= 600


@pytest.mark.parametrize("surface", list(SURFACE_ROUTES))
def test_chaos_strikes_every_surface(surface, http, add_scenarios, journal):
    """A chaos fault (always, here) replaces the scripted step on Messages and Responses too:
    the 503 before the first byte in the surface's error format, with its Retry-After."""
    add_scenarios(
        "name: chaotic\nmatch: {last_user: stream}\nsteps: [{content: calm}]\n"
        "chaos: {rate: 1, faults: [{error: {status: 503, retry_after: 1}}]}\n"
    )
    path, body = SURFACE_ROUTES[surface]
    response = http.post(path, json=body)
    assert response.status_code == 503 and response.headers["retry-after"] == "1"
    if surface == "messages":
        assert response.json()["type"] == "error" and response.json()["error"]["type"] == "overloaded_error"
    else:
        assert "error" in response.json()
    [entry] = journal()
    assert (entry["selected_by"], entry["surface"]) == ("chaos", surface)


# -- explicit pieces and recorded gaps (issue #13) -----------------------------------------------

PIECES = """\
name: pieces
match: {last_user: stream}
steps:
  - reasoning: "Let me look it up."
    stream: {reasoning_chunks: ["Let", " me look", " it up."], chunk_tokens: 3}
    tool_calls:
      - name: get_weather
        arguments: '{"city": "Tokyo", "unit": "c"}'
        chunks: ['{"ci', 'ty": "Tok', 'yo", "unit": "c"}']
      - name: get_time
        arguments: '{"tz": "Asia/Tokyo"}'
        chunks: ['{"tz"', ': "Asia/Tokyo"}']
"""
REASONING_PIECES = ["Let", " me look", " it up."]
CALL_PIECES = [['{"ci', 'ty": "Tok', 'yo", "unit": "c"}'], ['{"tz"', ': "Asia/Tokyo"}']]
PIECE_ROUTES = {
    "chat": ("/chat/completions", {"model": "x/y", "messages": USER, "stream": True}),
    **SURFACE_ROUTES,
}


def named_events(raw: bytes) -> list[dict]:
    """The JSON data of every SSE event of a Messages or Responses stream."""
    out = []
    for event in sse_events(raw):
        data = [line[6:] for line in event.split(b"\n") if line.startswith(b"data: ")]
        if data and data[0] != b"[DONE]":
            out.append(json.loads(data[0]))
    return out


def streamed_pieces(surface: str, raw: bytes) -> tuple[list[str], list[list[str]]]:
    """The reasoning pieces and each tool call's argument pieces, as the stream sent them."""
    reasoning: list[str] = []
    calls: dict[int, list[str]] = {}
    if surface == "chat":
        for chunk in data_chunks(raw):
            for choice in chunk["choices"]:
                delta = choice["delta"]
                if delta.get("reasoning"):
                    reasoning.append(delta["reasoning"])
                for call in delta.get("tool_calls") or ():
                    if call["function"]["arguments"]:
                        calls.setdefault(call["index"], []).append(call["function"]["arguments"])
    for body in named_events(raw) if surface != "chat" else ():
        kind, delta = body["type"], body.get("delta")
        if kind == "content_block_delta" and delta["type"] == "thinking_delta":
            reasoning.append(delta["thinking"])
        elif kind == "content_block_delta" and delta["type"] == "input_json_delta":
            calls.setdefault(body["index"], []).append(delta["partial_json"])
        elif kind == "response.reasoning_summary_text.delta":
            reasoning.append(delta)
        elif kind == "response.function_call_arguments.delta":
            calls.setdefault(body["output_index"], []).append(delta)
    return reasoning, [calls[i] for i in sorted(calls)]


@pytest.mark.parametrize("surface", list(PIECE_ROUTES))
def test_recorded_pieces_go_out_as_written_on_every_surface(surface, http, add_scenarios, journal):
    """``stream.reasoning_chunks`` and ``tool_calls[i].chunks`` are the deltas on the wire, one
    for one, on chat completions, Anthropic Messages and OpenAI Responses, in both dialects."""
    add_scenarios(PIECES)
    path, body = PIECE_ROUTES[surface]
    response = http.post(path, json=body)
    assert response.status_code == 200, response.text
    assert streamed_pieces(surface, response.content) == (REASONING_PIECES, CALL_PIECES)
    if surface == "responses":  # the finished items hold the whole texts
        done = [e for e in named_events(response.content) if e["type"] == "response.function_call_arguments.done"]
        assert [e["arguments"] for e in done] == ["".join(p) for p in CALL_PIECES]
    expected = journal()[-1]["expected"]
    assert expected["reasoning"] == "Let me look it up."
    assert [c["arguments"] for c in expected["tool_calls"]] == ["".join(p) for p in CALL_PIECES]


def test_recorded_pieces_assemble_in_the_openai_sdk(client, add_scenarios):
    add_scenarios(PIECES)
    arguments: dict[int, str] = {}
    for chunk in client.chat.completions.create(model="x/y", messages=USER, stream=True):
        calls = (chunk.choices[0].delta.tool_calls if chunk.choices else None) or ()
        for call in calls:
            arguments[call.index] = arguments.get(call.index, "") + (call.function.arguments or "")
    assert [json.loads(arguments[i]) for i in sorted(arguments)] == [
        {"city": "Tokyo", "unit": "c"},
        {"tz": "Asia/Tokyo"},
    ]


def test_recorded_intervals_are_served_then_the_interval_takes_over():
    """Each response has its own place in ``intervals_ms`` (scaled by ``--speed``); past the
    list, ``interval_ms`` paces as before. No sleeping here: the delays are read, not waited."""
    timing = Timing(interval_ms=20, intervals_ms=(0, 150))
    for speed in (1.0, 2.0):
        pacing = Pacing(timing, speed, random.Random(0))
        assert pacing.active and pacing.gaps
        assert [pacing.between() for _ in range(4)] == pytest.approx([0, 0.15 * speed, 0.02 * speed, 0.02 * speed])
    assert Pacing(timing, 1.0, random.Random(0)).between() == 0  # a fresh response starts over
    assert not Pacing(timing, 0.0, random.Random(0)).active  # --speed 0: no delays at all
    assert not Pacing(Timing(intervals_ms=(0, 0)), 1.0, random.Random(0)).active


TEXT_DELTA = {"chat": None, "messages": "content_block_delta", "responses": "response.output_text.delta"}


def text_arrivals(surface: str, response: httpx.Response, started: float) -> list[tuple[float, str]]:
    """(seconds since ``started``, text) of each content delta, as the bytes arrive."""
    arrivals = []
    for line in response.iter_lines():
        if not line.startswith("data: {"):
            continue
        body = json.loads(line[6:])
        if surface == "chat":
            text = "".join(c["delta"].get("content") or "" for c in body["choices"])
        elif body.get("type") == TEXT_DELTA[surface]:
            text = body["delta"] if surface == "responses" else body["delta"].get("text", "")
        else:
            continue
        if text:
            arrivals.append((time.monotonic() - started, text))
    return arrivals


@pytest.mark.parametrize("surface", list(PIECE_ROUTES))
def test_recorded_intervals_are_the_gaps_on_the_wire(surface, timed_server, api_key, add_scenarios_on):
    """At speed 1: a 0 ms gap, then 150 ms, then ``interval_ms`` (60) for the chunks the list
    does not reach; generous bounds, measured where a client sees them."""
    add_scenarios_on(
        timed_server,
        api_key,
        "name: gaps\nmatch: {last_user: stream}\nsteps:\n  - content: abcd\n"
        "    stream: {chunks: [a, b, c, d]}\n    timing: {intervals_ms: [0, 150], interval_ms: 60}\n",
    )
    path, body = PIECE_ROUTES[surface]
    with httpx.Client(base_url=timed_server.base_url, headers={"Authorization": f"Bearer {api_key}"}) as http:
        started = time.monotonic()
        with http.stream("POST", path, json=body) as response:
            arrivals = text_arrivals(surface, response, started)
    assert [text for _, text in arrivals] == ["a", "b", "c", "d"]
    a, b, c, d = (when for when, _ in arrivals)
    assert a < 0.1  # the role chunk, then "a" after 0 ms
    assert b - a >= 0.12
    assert c - b >= 0.04 and d - c >= 0.04
