"""record.transcribe: an upstream exchange becomes one scenario step that says it again.

Real parts throughout: a mockrouter server plays the upstream (a scenario step makes the
answer), httpx captures the exchange as the recording proxy does (status, headers, each body
piece with its time), the transcript is loaded as a second scenario on the same server, and the
same request must get the same answer: the same events (ids and times aside), assembling to the
same message. A property does that for generated steps on every surface, dialect and stream
mode; example tests cover what a real router sends that mockrouter's own encoders do not, the
notes, and garbage, which must still give a step that loads.
"""

from __future__ import annotations

import gzip
import itertools
import json
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml
from faker import Faker
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mockrouter.core.catalog import Catalog
from mockrouter.core.schemas import SchemaRegistry
from mockrouter.fuzz import assemble, assemble_messages, assemble_responses, responses_summary, sse_named_events
from mockrouter.http.server import BackgroundServer
from mockrouter.record.exchange import Exchange
from mockrouter.record.transcribe import Transcript, transcribe
from mockrouter.scenario.loader import collect_json
from mockrouter.scenario.model import Step
from mockrouter.tools.check import check_paths, check_step

PATHS = {"chat": "/chat/completions", "text": "/completions", "messages": "/messages", "responses": "/responses"}
SURFACES = tuple(PATHS)
DIALECTS = ("anyrouter", "openrouter")


def request_for(surface: str, stream: bool, **extra: Any) -> dict[str, Any]:
    """A plain request on ``surface`` (a large token limit where the surface needs one)."""
    if surface == "chat":
        body: dict[str, Any] = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi there"}]}
    elif surface == "text":
        body = {"model": "openai/gpt-3.5-turbo-instruct", "prompt": "hi there"}
    elif surface == "messages":
        body = {
            "model": "anthropic/claude-haiku-4.5",
            "max_tokens": 4096,
            "messages": [{"role": "user", "content": "hi"}],
        }
    else:
        body = {"model": "openai/gpt-4o-mini", "input": "hi there"}
    return {**body, "stream": stream, **extra}


# -- the upstream and the capture ------------------------------------------------------------


class Upstream:
    """A mockrouter server as the upstream, for one API key: serve a step, capture the answer."""

    def __init__(self, server: BackgroundServer) -> None:
        self.server = server
        self.key = f"sk-rec-{uuid.uuid4().hex}"
        self.client = httpx.Client(timeout=10)
        self.n = 0

    def serve(self, step: dict[str, Any]) -> str:
        """Add a scenario answering with ``step`` (as JSON, byte-exact); its name."""
        self.n += 1
        name = f"s{self.n}"
        response = self.client.post(
            self.server.url + "/__mockrouter/scenarios",
            params={"key": self.key},
            content=orjson.dumps({"name": name, "steps": [step]}),
            headers={"content-type": "application/json"},
        )
        assert response.status_code == 201, response.text
        return name

    def capture(self, surface: str, request: dict[str, Any], scenario: str) -> Exchange:
        """Send ``request`` and keep the answer as the recording proxy does."""
        headers = {"Authorization": f"Bearer {self.key}", "X-Mockrouter-Scenario": scenario}
        sent = time.perf_counter()
        with self.client.stream("POST", self.server.base_url + PATHS[surface], json=request, headers=headers) as r:
            arrived = time.perf_counter()
            chunks: list[tuple[float, bytes]] = []
            complete = True
            try:
                for piece in r.iter_raw():
                    chunks.append((time.perf_counter() - arrived, piece))
            except httpx.HTTPError:
                complete = False
        return Exchange(
            surface=surface,
            path=PATHS[surface],
            request=request,
            status=r.status_code,
            headers=[(k.lower(), v) for k, v in r.headers.multi_items()],
            chunks=chunks,
            latency_s=arrived - sent,
            complete=complete,
            started=time.time(),
        )

    def round_trip(
        self, surface: str, request: dict[str, Any], step: dict[str, Any]
    ) -> tuple[Exchange, Transcript, Exchange]:
        """The upstream's answer to ``step``, its transcript, and the transcript's answer."""
        original = self.capture(surface, request, self.serve(step))
        transcript = transcribe(original)
        return original, transcript, self.capture(surface, request, self.serve(transcript.step))

    def close(self) -> None:
        self.client.close()


@pytest.fixture
def upstream(server: BackgroundServer) -> Iterator[Upstream]:
    up = Upstream(server)
    yield up
    up.close()


# -- what a client sees ----------------------------------------------------------------------

#: Ids mockrouter draws per response (not per step): they differ between two answers of a step.
_DRAWN_ID = re.compile(r"(chatcmpl-|gen-\d+-|msg_01|resp_|rs_|msg_|req_01)[A-Za-z0-9]+")
_TIMES = frozenset({"created", "created_at", "completed_at"})


def masked(value: Any) -> Any:
    """``value`` with the ids and times that differ between two answers of one step masked."""
    if isinstance(value, dict):
        return {k: (0 if k in _TIMES and isinstance(v, int) else masked(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v) for v in value]
    if isinstance(value, str) and _DRAWN_ID.fullmatch(value):
        return "<id>"
    return value


def seen(exchange: Exchange) -> dict[str, Any]:
    """What a client sees: status, content type, the body (each SSE event, JSON parsed and
    masked; a JSON body parsed and masked; anything else as text) and whether it ended cleanly."""
    body = exchange.body
    content_type = exchange.header("content-type") or ""
    out: dict[str, Any] = {"status": exchange.status, "type": content_type, "complete": exchange.complete}
    if content_type.startswith("text/event-stream"):
        events = []
        for name, data in sse_named_events(body):
            try:
                events.append((name, masked(json.loads(data))))
            except ValueError:
                events.append((name, data))
        out["events"] = events
        out["comments"] = sum(1 for line in body.split(b"\n") if line.startswith(b":"))
    else:
        try:
            out["body"] = masked(json.loads(body))
        except ValueError:
            out["body"] = body.decode("utf-8", "replace")
    return out


def assembled(exchange: Exchange) -> Any:
    """The answer a correct client assembles (the reference accumulators), ids masked."""
    body = exchange.body
    streamed = (exchange.header("content-type") or "").startswith("text/event-stream")
    if exchange.surface == "messages":
        return masked(assemble_messages(body) if streamed else json.loads(body))
    if exchange.surface == "responses":
        return masked(assemble_responses(body) if streamed else responses_summary(json.loads(body)))
    if not streamed:
        return masked(json.loads(body)["choices"][0])
    if exchange.surface == "text":
        chunks = [json.loads(d) for _, d in sse_named_events(body) if d != "[DONE]"]
        return "".join(c["choices"][0]["text"] for c in chunks if c.get("choices"))
    return masked(assemble(body))


def loaded_step(step: dict[str, Any]) -> Step:
    loaded = collect_json(orjson.dumps({"name": "t", "steps": [step]}), "<transcript>")
    assert loaded.errors == [], [str(e) for e in loaded.errors]
    return loaded.scenarios[0].steps[0]


REGISTRY = SchemaRegistry()
CATALOG = Catalog.load()
FAKER = Faker()


def checked(step: dict[str, Any]) -> list[str]:
    """What ``mockrouter check`` says of the step (nothing: it passes)."""
    return [str(e) for e in check_step(loaded_step(step), ("steps", 0), REGISTRY, CATALOG, FAKER)]


# -- the property ------------------------------------------------------------------------------

#: Text without ``{{`` (in a scenario it would open a template) and without surrogates.
TEXTS = st.text(st.characters(codec="utf-8"), min_size=1, max_size=20).filter(lambda t: "{{" not in t)


@st.composite
def split(draw: st.DrawFn, text: str) -> list[str]:
    """``text`` cut anywhere into non-empty pieces."""
    cuts = sorted(draw(st.sets(st.integers(1, len(text) - 1), max_size=6))) if len(text) > 1 else []
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


ARGUMENTS = st.one_of(
    st.dictionaries(st.text("abcxyz_", min_size=1, max_size=6), st.integers() | TEXTS | st.booleans(), max_size=3).map(
        lambda d: json.dumps(d, ensure_ascii=False)
    ),
    TEXTS,
)


@st.composite
def tool_calls(draw: st.DrawFn) -> dict[str, Any]:
    arguments = draw(ARGUMENTS.filter(lambda a: "{{" not in a))
    call: dict[str, Any] = {"name": draw(st.from_regex(r"[a-z_][a-z0-9_]{0,11}", fullmatch=True))}
    if draw(st.booleans()):
        call["id"] = "call_" + draw(st.from_regex(r"[A-Za-z0-9]{4,12}", fullmatch=True))
    call["arguments"] = arguments
    if draw(st.booleans()):
        call["chunks"] = draw(split(arguments))
    return call


@st.composite
def answer_steps(draw: st.DrawFn, surface: str) -> dict[str, Any]:
    """A step that answers: texts and tool calls cut anywhere, a finish reason, usage
    overrides, keep-alives, sometimes a fault."""
    step: dict[str, Any] = {}
    stream: dict[str, Any] = {}
    for kind, pieces in (("content", "chunks"), ("reasoning", "reasoning_chunks")):
        if draw(st.booleans()):
            step[kind] = text = draw(TEXTS)
            if draw(st.booleans()):
                stream[pieces] = draw(split(text))
    if surface in ("chat", "responses") and draw(st.integers(0, 3)) == 0:
        step["refusal"] = draw(TEXTS)
    if draw(st.booleans()):
        step["tool_calls"] = draw(st.lists(tool_calls(), min_size=1, max_size=2))
    finishes = ["stop", "length", "tool_calls", "content_filter"] + (["error"] if surface == "chat" else [])
    if draw(st.booleans()):
        step["finish_reason"] = draw(st.sampled_from(finishes))
    if draw(st.booleans()):
        usage = {"prompt_tokens": draw(st.integers(0, 999)), "completion_tokens": draw(st.integers(0, 999))}
        if draw(st.booleans()):
            usage["cost"] = draw(st.floats(0, 1, allow_nan=False))
        step["usage"] = usage
    if draw(st.booleans()):
        stream["keepalive"] = draw(st.integers(1, 3))
    if stream:
        step["stream"] = stream
    if draw(st.integers(0, 2)) == 0:
        kind = draw(st.sampled_from(["error", "disconnect", "truncate", "malformed", "dribble"]))
        fault: dict[str, Any] = {"kind": kind, "after_chunks": draw(st.integers(0, 8))}
        if kind == "error" and draw(st.booleans()):
            fault["error"] = {"status": draw(st.sampled_from([429, 500, 502, 503])), "message": draw(TEXTS)}
        step["fault"] = fault
    return step


HTTP_DATES = st.sampled_from(["Wed, 21 Oct 2026 07:28:00 GMT", "Thu, 01 Jan 2026 00:00:00 GMT"])


@st.composite
def error_steps(draw: st.DrawFn) -> dict[str, Any]:
    """An HTTP error: the dialect's envelope or a raw body, with Retry-After in any form."""
    error: dict[str, Any] = {"status": draw(st.sampled_from([400, 401, 402, 403, 408, 429, 500, 502, 503, 504, 529]))}
    if draw(st.booleans()):
        error["message"] = draw(TEXTS)
    retry = draw(st.sampled_from(["none", "seconds", "date", "ms"]))
    if retry == "seconds":
        error["retry_after"] = draw(st.integers(0, 120))
    elif retry == "date":
        error["retry_after"] = draw(HTTP_DATES)
    elif retry == "ms":
        error["retry_after"] = {"ms": draw(st.integers(0, 5000))}
    if draw(st.booleans()):
        error["headers"] = {"x-should-retry": draw(st.sampled_from(["true", "false"]))}
    if draw(st.integers(0, 3)) == 0:
        error["body"] = "<html><body><h1>" + draw(st.text("abc <>&é", max_size=10)) + "</h1></body></html>"
        error["content_type"] = "text/html"
    return {"error": error}


def before_tool_use(answer: dict[str, Any]) -> list[Any]:
    """The events of a Messages stream before its first tool_use block."""
    events = answer["events"]
    for n, (_, data) in enumerate(events):
        if isinstance(data, dict) and data.get("content_block", {}).get("type") == "tool_use":
            return events[:n]
    return events


def replays(original: Exchange, transcript: Transcript, replay: Exchange) -> None:
    """``replay`` says what ``original`` said."""
    step = transcript.step
    if "error" in step:
        assert replay.status == original.status and replay.body == original.body
        assert replay.header("content-type") == original.header("content-type")
        for name in ("retry-after", "retry-after-ms", "request-id", "x-should-retry"):
            assert replay.header(name) == original.header(name), name
        for name, value in step["error"].get("headers", {}).items():
            assert value in [v for k, v in replay.headers if k == name], name
        return
    fault = step.get("fault", {}).get("kind")
    streamed = (original.header("content-type") or "").startswith("text/event-stream")
    if not streamed and fault in ("disconnect", "truncate", "malformed"):
        # a broken JSON body: the same break (what broke was not JSON, so there is nothing more to say)
        assert (replay.status, replay.complete) == (original.status, original.complete)
        with pytest.raises(ValueError):
            json.loads(replay.body)
        return
    if any("is not a JSON object (cut off?)" in note for note in transcript.notes):
        # an Anthropic tool input cut off mid-JSON cannot be streamed as it came (mockrouter sends
        # what is not a JSON object wrapped, whole): the same up to that tool call
        assert before_tool_use(seen(replay)) == before_tool_use(seen(original))
        return
    assert seen(replay) == seen(original)
    if original.complete and original.status == 200 and fault is None:
        assert assembled(replay) == assembled(original)


@pytest.fixture(scope="module")
def upstreams(anyrouter_server: BackgroundServer, openrouter_server: BackgroundServer) -> Iterator[dict[str, Upstream]]:
    ups = {"anyrouter": Upstream(anyrouter_server), "openrouter": Upstream(openrouter_server)}
    yield ups
    for up in ups.values():
        up.close()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_a_transcript_replays_what_the_upstream_said(upstreams: dict[str, Upstream], data: st.DataObject) -> None:
    surface = data.draw(st.sampled_from(SURFACES), label="surface")
    dialect = data.draw(st.sampled_from(DIALECTS), label="dialect")
    stream = data.draw(st.booleans(), label="stream")
    extra = {"stream_options": {"include_usage": True}} if stream and data.draw(st.booleans()) else {}
    step = data.draw(answer_steps(surface) | error_steps(), label="step")
    original, transcript, replay = upstreams[dialect].round_trip(surface, request_for(surface, stream, **extra), step)
    assert not [n for n in transcript.notes if n.startswith(("could not", "dropped", "the step does not"))]
    replays(original, transcript, replay)
    assert checked(transcript.step) == []


# -- every surface, dialect and mode, with everything at once -------------------------------

RICH = {
    "reasoning": "The user greets me; answer, then look it up.",
    "content": "Hello there, friend!",
    "tool_calls": [
        {"name": "get_weather", "arguments": {"city": "Paris", "unit": "c"}},
        {"id": "call_second", "name": "get_time", "arguments": '{"zone": "Europe/Paris"}'},
    ],
    "stream": {"chunks": ["Hel", "lo there", ", friend!"], "keepalive": 2},
    "usage": {"prompt_tokens": 11, "completion_tokens": 22, "cost": 0.00042},
}


@pytest.mark.parametrize("surface", SURFACES)
@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_each_surface_replays_content_reasoning_tools_finish_usage_model(
    upstream: Upstream, surface: str, stream: bool
) -> None:
    request = request_for(surface, stream, **({"stream_options": {"include_usage": True}} if stream else {}))
    original, transcript, replay = upstream.round_trip(surface, request, RICH)
    assert transcript.notes == []
    replays(original, transcript, replay)
    step = transcript.step
    assert step["model"] == request_for(surface, stream)["model"]
    if surface != "text":
        assert step["content"] == RICH["content"] and step["reasoning"] == RICH["reasoning"]
        assert [c["name"] for c in step["tool_calls"]] == ["get_weather", "get_time"]
        # byte-exact as sent; an Anthropic body sends an input object (written compactly)
        exact = '{"zone":"Europe/Paris"}' if surface == "messages" and not stream else '{"zone": "Europe/Paris"}'
        assert step["tool_calls"][1]["arguments"] == exact
        assert step["finish_reason"] == "tool_calls"
    if stream:
        assert step["stream"]["keepalive"] == 2
        if surface != "text":
            assert step["stream"]["chunks"] == RICH["stream"]["chunks"]
            assert "".join(step["stream"]["reasoning_chunks"]) == RICH["reasoning"]
    usage = step["usage"]
    if surface in ("chat", "text"):
        assert usage["prompt_tokens"] == 11 and usage["completion_tokens"] == 22 and usage["cost"] == 0.00042
    else:
        assert usage["input_tokens"] == 11 and usage["output_tokens"] == 22
    assert checked(step) == []


def test_anthropic_tool_ids_replay_as_they_came(upstream: Upstream) -> None:
    step = {"tool_calls": [{"id": "call_01AbC", "name": "f", "arguments": {"a": 1}}]}
    original, transcript, replay = upstream.round_trip("messages", request_for("messages", False), step)
    [block] = json.loads(original.body)["content"]
    assert block["id"] == "toolu_01AbC" and transcript.step["tool_calls"][0]["id"] == "call_01AbC"
    assert json.loads(replay.body)["content"][0]["id"] == "toolu_01AbC"
    assert transcript.step["tool_calls"][0]["arguments"] == '{"a":1}'  # the input object, compact


# -- usage chunks: only where `auto` would not do what the upstream did ------------------------


@pytest.mark.parametrize(
    ("dialect", "asked", "expected"),
    [
        ("anyrouter", True, None),
        ("anyrouter", False, "never"),
        ("openrouter", False, "always"),
        ("openrouter", True, None),
    ],
)
def test_stream_usage_is_said_only_where_auto_differs(
    upstreams: dict[str, Upstream], dialect: str, asked: bool, expected: str | None
) -> None:
    extra = {"stream_options": {"include_usage": True}} if asked else {}
    transcript = upstreams[dialect].round_trip("chat", request_for("chat", True, **extra), {"content": "hi"})[1]
    assert transcript.step.get("stream", {}).get("usage") == expected
    for other in DIALECTS:  # the same in the other dialect: the usage chunk comes or not as it did
        again = upstreams[other].capture(
            "chat", request_for("chat", True, **extra), upstreams[other].serve(transcript.step)
        )
        assert any("usage" in e[1] for e in seen(again)["events"] if isinstance(e[1], dict)) == (expected != "never")


# -- faults ----------------------------------------------------------------------------------


@pytest.mark.parametrize("surface", SURFACES)
def test_an_in_band_error_replays_after_the_same_content(upstream: Upstream, surface: str) -> None:
    step = {"content": "one two three four", "fault": {"kind": "error", "after_chunks": 3, "error": {"status": 503}}}
    original, transcript, replay = upstream.round_trip(surface, request_for(surface, True), step)
    fault = transcript.step["fault"]
    # the status as the wire tells it (a Responses error says only its code: server_error)
    assert fault["kind"] == "error" and fault["error"]["status"] == (500 if surface == "responses" else 503)
    # three frames before the error: the role and two pieces, or (legacy completions have no role frame) three pieces
    assert fault["after_chunks"] == 3
    assert transcript.step["content"] == ("one two three" if surface == "text" else "one two")
    assert seen(replay) == seen(original)


@pytest.mark.parametrize("surface", SURFACES)
def test_a_dropped_stream_replays_as_a_disconnect_after_what_came(upstream: Upstream, surface: str) -> None:
    step = {"content": "one two three four", "fault": {"kind": "disconnect", "after_chunks": 2}}
    original, transcript, replay = upstream.round_trip(surface, request_for(surface, True), step)
    assert not original.complete and not replay.complete
    assert transcript.step["fault"] == {"kind": "disconnect", "after_chunks": 2}
    assert any(n.startswith("upstream dropped the stream after") for n in transcript.notes), transcript.notes
    assert seen(replay) == seen(original)


def test_a_stream_without_its_last_event_replays_as_truncate(upstream: Upstream) -> None:
    step = {"content": "one two", "fault": {"kind": "truncate", "after_chunks": 4}}  # role, 2 pieces, finish
    original, transcript, replay = upstream.round_trip("chat", request_for("chat", True), step)
    assert not original.body.rstrip().endswith(b"[DONE]")
    assert transcript.step["fault"]["kind"] == "truncate"
    assert any("without [DONE]" in n for n in transcript.notes), transcript.notes
    assert seen(replay) == seen(original)


def test_a_malformed_event_mid_stream_replays_at_its_place(upstream: Upstream) -> None:
    step = {"content": "one two three", "fault": {"kind": "malformed", "after_chunks": 2}}
    original, transcript, replay = upstream.round_trip("chat", request_for("chat", True), step)
    assert transcript.step["fault"] == {"kind": "malformed", "after_chunks": 2}
    assert transcript.step["content"] == "one two three"  # what came after the bad event too
    assert any(n.startswith("event 2 is not JSON") for n in transcript.notes), transcript.notes
    assert seen(replay) == seen(original)


def events_of(body: bytes) -> list[bytes]:
    return [e + b"\n\n" for e in body.split(b"\n\n") if e]


def test_a_client_that_hung_up_leaves_a_valid_step(upstream: Upstream) -> None:
    whole = upstream.capture("chat", request_for("chat", True), upstream.serve({"content": "one two three four"}))
    events = events_of(whole.body)
    gone = replace(whole, chunks=[(0.001 * i, e) for i, e in enumerate(events[:3])], client_gone=True)
    transcript = transcribe(gone)
    assert transcript.step["content"] == "one two"
    assert transcript.step["fault"] == {"kind": "disconnect", "after_chunks": 3}
    assert any("client hung up after 3 events" in n for n in transcript.notes), transcript.notes
    replay = upstream.capture("chat", request_for("chat", True), upstream.serve(transcript.step))
    assert seen(replay)["events"] == seen(gone)["events"]


def test_a_json_body_that_does_not_parse_is_a_malformed_fault() -> None:
    exchange = Exchange(
        "chat", "/chat/completions", request_for("chat", False), 200,
        [("content-type", "application/json")], [(0.01, b'{"id": "x", "choices": [oops')],
    )  # fmt: skip
    transcript = transcribe(exchange)
    assert transcript.step == {"fault": {"kind": "malformed", "after_chunks": 0}}
    assert transcript.notes == ['upstream answered 200 with a body that is not JSON (\'{"id": "x", "choices": [oops\')']
    loaded_step(transcript.step)


def test_a_json_body_broken_off_is_a_disconnect(upstream: Upstream) -> None:
    step = {"content": "one two", "fault": {"kind": "disconnect"}}
    original, transcript, replay = upstream.round_trip("chat", request_for("chat", False), step)
    assert not original.complete
    assert transcript.step["fault"] == {"kind": "disconnect", "after_chunks": 0}
    assert not replay.complete


# -- errors ----------------------------------------------------------------------------------


def test_an_html_502_page_replays_byte_for_byte(upstream: Upstream) -> None:
    page = "<html><head><title>502 Bad Gateway</title></head><body><center>nginx</center></body></html>\r\n"
    step = {"error": {"status": 502, "body": page, "content_type": "text/html"}}
    transcript, replay = upstream.round_trip("chat", request_for("chat", True), step)[1:]
    assert transcript.step["error"]["body"] == page and transcript.step["error"]["content_type"] == "text/html"
    assert (replay.status, replay.body, replay.header("content-type")) == (502, page.encode(), "text/html")


@pytest.mark.parametrize(
    ("given", "written"),
    [(7, 7), ("Wed, 21 Oct 2026 07:28:00 GMT", "Wed, 21 Oct 2026 07:28:00 GMT"), ({"ms": 1500}, {"ms": 1500})],
)
def test_retry_after_is_kept_in_its_form(upstream: Upstream, given: Any, written: Any) -> None:
    step = {"error": {"status": 429, "retry_after": given, "headers": {"anthropic-ratelimit-requests-remaining": "0"}}}
    original, transcript, replay = upstream.round_trip("messages", request_for("messages", False), step)
    error = transcript.step["error"]
    assert error["retry_after"] == written
    assert error["headers"]["anthropic-ratelimit-requests-remaining"] == "0"
    assert error["headers"]["request-id"].startswith("req_")
    assert "content-type" not in error["headers"]
    replays(original, transcript, replay)


def test_both_retry_headers_keep_both() -> None:
    exchange = Exchange(
        "chat", "/chat/completions", request_for("chat", False), 503,
        [("content-type", "application/json"), ("retry-after", "2"), ("retry-after-ms", "1500"),
         ("set-cookie", "secret=1"), ("x-request-id", "abc")],
        [(0.0, b'{"error": {"message": "busy"}}')],
    )  # fmt: skip
    error = transcribe(exchange).step["error"]
    assert error == {
        "status": 503,
        "body": '{"error": {"message": "busy"}}',
        "content_type": "application/json",
        "retry_after": 2,
        "headers": {"retry-after-ms": "1500", "x-request-id": "abc"},
    }


# -- what real routers send that mockrouter's own encoders do not ----------------------------


def sse(*events: Any, comments: int = 0) -> bytes:
    out = b": OPENROUTER PROCESSING\n\n" * comments
    for event in events:
        if isinstance(event, tuple):
            name, data = event
            out += b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"
        else:
            out += b"data: " + (event.encode() if isinstance(event, str) else orjson.dumps(event)) + b"\n\n"
    return out


def streamed(surface: str, body: bytes, **fields: Any) -> Exchange:
    pieces = [(0.01 * (i + 1), e) for i, e in enumerate(body.split(b"\n\n")[:-1])]
    pieces = [(at, piece + b"\n\n") for at, piece in pieces]
    return Exchange(
        surface,
        PATHS[surface],
        request_for(surface, True),
        200,
        [("content-type", "text/event-stream")],
        pieces,
        **fields,
    )


def test_an_openai_stream_with_role_and_content_together(upstream: Upstream) -> None:
    chunk = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-2024-08-06"}
    body = sse(
        {**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hi"}, "finish_reason": None}]},
        {**chunk, "choices": [{"index": 0, "delta": {"reasoning_content": "hmm"}, "finish_reason": None}]},
        {**chunk, "choices": [{"index": 0, "delta": {"content": " you"}, "finish_reason": None}]},
        {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "function_call"}]},
        "[DONE]",
        comments=3,
    )
    transcript = transcribe(streamed("chat", body), timing=True)
    step = transcript.step
    assert step["content"] == "Hi you" and step["stream"]["chunks"] == ["Hi", " you"]
    assert step["reasoning"] == "hmm" and step["model"] == "gpt-4o-2024-08-06"
    assert step["finish_reason"] == "tool_calls" and step["native_finish_reason"] == "function_call"
    assert step["stream"]["keepalive"] == 3 and step["stream"]["usage"] == "never"
    assert step["timing"]["ttft_ms"] == 40.0  # the first event came after the three comments
    assert any("function_call" in n for n in transcript.notes)
    replay = upstream.capture("chat", request_for("chat", True), upstream.serve(step))
    message = assemble(replay.body)
    assert message["content"] == "Hi you" and message["reasoning"] == "hmm"


def named(kind: str, **fields: Any) -> tuple[str, dict[str, Any]]:
    """A named SSE event whose data's ``type`` is its name."""
    return kind, {"type": kind, **fields}


def test_an_anthropic_stream_with_an_input_in_the_block_start_and_a_stop_sequence() -> None:
    tool = {"type": "tool_use", "id": "toolu_9", "name": "f", "input": {"k": [1]}}
    body = sse(
        named("message_start", message={"id": "msg_x", "model": "claude-x", "usage": {"input_tokens": 9}}),
        named("ping"),
        named("content_block_start", index=0, content_block={"type": "text", "text": ""}),
        named("content_block_delta", index=0, delta={"type": "text_delta", "text": "A"}),
        named("content_block_stop", index=0),
        named("content_block_start", index=1, content_block={"type": "redacted_thinking", "data": "x"}),
        named("content_block_stop", index=1),
        named("content_block_start", index=2, content_block=tool),
        named("content_block_stop", index=2),
        named("message_delta", delta={"stop_reason": "stop_sequence"}, usage={"output_tokens": 5}),
        named("message_stop"),
    )
    transcript = transcribe(streamed("messages", body))
    step = transcript.step
    assert step["content"] == "A" and step["model"] == "claude-x"
    assert step["tool_calls"] == [{"id": "call_9", "name": "f", "arguments": '{"k":[1]}'}]
    assert step["finish_reason"] == "stop" and step["native_finish_reason"] == "stop_sequence"
    assert step["usage"]["input_tokens"] == 9 and step["usage"]["output_tokens"] == 5
    assert "a 'redacted_thinking' content block is not replayed" in transcript.notes
    assert "stop_reason 'stop_sequence' replays as end_turn" in transcript.notes
    assert checked(step) == []


def test_a_responses_stream_of_reasoning_text() -> None:
    response = {"id": "resp_1", "object": "response", "model": "o-x", "status": "in_progress", "output": []}
    completed = {**response, "status": "completed", "usage": {"input_tokens": 3, "output_tokens": 4}}
    body = sse(
        named("response.created", sequence_number=0, response=response),
        named(
            "response.output_item.added", sequence_number=1, output_index=0, item={"id": "rs_1", "type": "reasoning"}
        ),
        named("response.reasoning_text.delta", sequence_number=2, output_index=0, item_id="rs_1", delta="why"),
        named("response.completed", sequence_number=3, response=completed),
    )
    transcript = transcribe(streamed("responses", body))
    assert transcript.step["reasoning"] == "why" and transcript.step["finish_reason"] == "stop"
    assert any("reasoning text" in n for n in transcript.notes)


def test_text_holding_a_template_opening_replays_as_itself(upstream: Upstream) -> None:
    opening = '{{ "{{" }}'  # the template that writes "{{"
    step = {
        "content": f"Use {opening} name }}}} in Jinja",
        "tool_calls": [{"name": "f", "arguments": f'{{"t": "{opening}x}}}}"}}'}],
    }
    original, transcript, replay = upstream.round_trip("chat", request_for("chat", True), step)
    assert assemble(original.body)["content"] == "Use {{ name }} in Jinja"
    assert any("written as a template" in n for n in transcript.notes)
    assert "chunks" not in transcript.step.get("stream", {})
    assert assemble(replay.body) == assemble(original.body) | {"tool_calls": assemble(replay.body)["tool_calls"]}
    assert assemble(replay.body)["tool_calls"][0]["arguments"] == '{"t": "{{x}}"}'


def test_a_compressed_body_is_read_decompressed() -> None:
    body = orjson.dumps(
        {"choices": [{"index": 0, "message": {"role": "assistant", "content": "zipped"}, "finish_reason": "stop"}]}
    )
    exchange = Exchange(
        "chat", "/chat/completions", request_for("chat", False), 200,
        [("content-type", "application/json"), ("content-encoding", "gzip")], [(0.0, gzip.compress(body))],
    )  # fmt: skip
    assert transcribe(exchange).step == {"content": "zipped", "finish_reason": "stop"}


def test_a_max_tokens_below_mockrouters_count_is_noted(upstream: Upstream) -> None:
    original = upstream.capture("chat", request_for("chat", False), upstream.serve({"content": "a b c d e f"}))
    cut = replace(original, request={**original.request, "max_tokens": 3})
    assert any("over the request's max tokens (3)" in n for n in transcribe(cut).notes)


def test_a_200_with_an_error_body_is_an_error_fault(upstream: Upstream) -> None:
    exchange = Exchange(
        "chat", "/chat/completions", request_for("chat", False), 200, [("content-type", "application/json")],
        [(0.0, b'{"error": {"code": 502, "message": "Provider returned error", "metadata": {"raw": "boom"}}}')],
    )  # fmt: skip
    transcript = transcribe(exchange)
    assert transcript.step == {
        "fault": {
            "kind": "error",
            "after_chunks": 0,
            "error": {"status": 502, "code": 502, "message": "Provider returned error", "metadata": {"raw": "boom"}},
        }
    }
    assert transcript.notes == [
        "upstream answered 200 with an error body; replayed as an answer with finish_reason error"
    ]
    replay = upstream.capture("chat", request_for("chat", False), upstream.serve(transcript.step))
    choice = json.loads(replay.body)["choices"][0]
    assert replay.status == 200 and choice["finish_reason"] == "error"
    assert choice["error"]["message"] == "Provider returned error"


def test_a_stream_that_is_not_utf8_is_read_with_replacements() -> None:
    chunk = b'data: {"choices": [{"index": 0, "delta": {"content": "caf\xe9"}, "finish_reason": "stop"}]}\n\n'
    transcript = transcribe(streamed("chat", chunk + b"data: [DONE]\n\n"))
    assert transcript.step["content"] == "caf\ufffd"
    assert "the stream is not valid UTF-8: bad bytes replaced by U+FFFD" in transcript.notes


# -- garbage in, a valid step out --------------------------------------------------------------

#: Field names the parsers look at, so junk often looks nearly right.
JUNK_KEYS = st.sampled_from(
    ["type", "choices", "delta", "content", "index", "usage", "error", "message", "item", "output_index",
     "content_block", "tool_calls", "function", "arguments", "text", "response", "status", "partial_json"]
)  # fmt: skip
JUNK_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(JUNK_KEYS, inner, max_size=4),
    max_leaves=12,
)
JUNK_EVENTS = st.one_of(
    st.binary(max_size=40),
    st.sampled_from(
        [
            b"data: [DONE]\n\n",
            b": ping\n\n",
            b"data: {}\n\n",
            b'data: {"error": 5}\n\n',
            b'event: error\ndata: {"type":"error"}\n\n',
            b'data: {"choices": [{"delta": {"tool_calls": [{}]}}]}\n\n',
            b'event: message_stop\ndata: {"type": "message_stop"}\n\n',
            b"\xff\xfe\n\n",
            b'data: {"type": "response.completed", "response": {"status": "failed"}}\n\n',
        ]
    ),
    st.builds(lambda v: b"data: " + json.dumps(v).encode() + b"\n\n", JUNK_JSON),
    st.builds(
        lambda n, v: b"event: " + n.encode() + b"\ndata: " + json.dumps(v).encode() + b"\n\n", JUNK_KEYS, JUNK_JSON
    ),
)
HEADER_NAMES = st.sampled_from(["retry-after", "retry-after-ms", "x-ratelimit-reset", "request-id", "content-encoding"])


@settings(max_examples=150, deadline=None)
@given(
    surface=st.sampled_from([*SURFACES, "other"]),
    status=st.sampled_from([200, 201, 302, 400, 429, 500, 502, 529, 600]),
    content_type=st.sampled_from(["text/event-stream", "application/json", "text/html", ""]),
    events=st.lists(JUNK_EVENTS, max_size=8),
    complete=st.booleans(),
    client_gone=st.booleans(),
    timing=st.booleans(),
    headers=st.lists(st.tuples(HEADER_NAMES, st.text(st.characters(max_codepoint=255), max_size=8)), max_size=3),
)  # fmt: skip
def test_any_upstream_bytes_give_a_step_that_loads(
    surface: str, status: int, content_type: str, events: list[bytes], complete: bool, client_gone: bool,
    timing: bool, headers: list[tuple[str, str]],
) -> None:  # fmt: skip
    exchange = Exchange(
        surface, "/x", {"stream": True}, status, [("content-type", content_type), *headers],
        [(0.001 * i, e) for i, e in enumerate(events)], latency_s=0.01, complete=complete, client_gone=client_gone,
    )  # fmt: skip
    transcript = transcribe(exchange, timing=timing)
    loaded_step(transcript.step)
    assert not [n for n in transcript.notes if n.startswith("could not transcribe")]
    assert all(isinstance(n, str) and "\n" not in n for n in transcript.notes)


# -- timing ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def timed(make_server: Any) -> Iterator[Upstream]:
    up = Upstream(make_server(speed=1.0))
    yield up
    up.close()


@pytest.mark.parametrize("surface", ["chat", "messages"])
def test_timing_is_recorded_and_replayed(timed: Upstream, surface: str) -> None:
    step = {"content": "one two three", "timing": {"latency_ms": 60, "ttft_ms": 150, "intervals_ms": [0, 200, 0]}}
    original = timed.capture(surface, request_for(surface, True), timed.serve(step))
    transcript = transcribe(original, timing=True)
    recorded = transcript.step["timing"]
    assert 50 <= recorded["latency_ms"] < 400 and 120 <= recorded["ttft_ms"] < 400
    gaps = recorded["intervals_ms"]
    assert gaps[1] >= 160 and gaps[0] < 100 and gaps[2] < 100, gaps
    replay = timed.capture(surface, request_for(surface, True), timed.serve(transcript.step))
    again = transcribe(replay, timing=True).step["timing"]
    assert again["ttft_ms"] >= 120 and again["intervals_ms"][1] >= 160, again


# -- `mockrouter check` passes what the recorder writes ---------------------------------------


def test_transcripts_pass_check_as_a_file(upstream: Upstream, tmp_path: Path) -> None:
    steps = []
    for surface in SURFACES:
        for stream in (False, True):
            steps.append(upstream.round_trip(surface, request_for(surface, stream), RICH)[1].step)
    steps.append(
        upstream.round_trip(
            "chat", request_for("chat", True), {"content": "x y z", "fault": {"kind": "error", "after_chunks": 2}}
        )[1].step
    )
    steps.append(
        upstream.round_trip("chat", request_for("chat", False), {"error": {"status": 429, "retry_after": 1}})[1].step
    )
    path = tmp_path / "recorded.yaml"
    path.write_text(yaml.safe_dump({"name": "recorded", "steps": steps}, allow_unicode=True, sort_keys=False))
    scenarios, errors = check_paths([path])
    assert errors == [] and len(scenarios[0].steps) == len(steps)
