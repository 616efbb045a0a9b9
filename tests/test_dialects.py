"""The two wire dialects, byte by byte, with raw httpx: content types, SSE framing, ids,
deltas, usage chunks, rate-limit headers, error envelopes, Retry-After variants, seeded
determinism and the per-request dialect switch. Every JSON body and every stream chunk these
tests receive is validated against the dialect's published schema."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from mockrouter.core.schemas import SchemaRegistry

REGISTRY = SchemaRegistry()
MODEL = "openai/gpt-4o-mini"
MESSAGES = [{"role": "user", "content": "hello there"}]
CHAT = {"model": MODEL, "messages": MESSAGES}
ROBOT = {"model": MODEL, "messages": [{"role": "robot", "content": "beep"}]}
GREET = """\
name: greet
match: {last_user: "(?i)hello"}
steps:
  - content: "Hi! How can I help?"
"""
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
]
OPENROUTER_ID = re.compile(r"^gen-(\d+)-[A-Za-z0-9]{20}$")
RATE_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")
ANYROUTER_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "payment_required_error",
    403: "permission_error",
    429: "rate_limit_error",
    502: "upstream_error",
    503: "service_unavailable",
    504: "upstream_timeout",
}


# -- helpers: every body and chunk goes through the schemas --------------------------------


def assert_valid(kind: str, dialect: str, instance: Any) -> None:
    violation = REGISTRY.for_dialect(kind, dialect).violation(instance)
    assert violation is None, f"{kind}.{dialect}: {violation}\n{json.dumps(instance)[:2000]}"


def assert_compact(payload: str) -> None:
    """No whitespace outside JSON strings: the compact single-line form routers send."""
    in_string = escaped = False
    for i, ch in enumerate(payload):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        else:
            assert not ch.isspace(), f"whitespace at {i} outside strings: {payload[max(0, i - 30) : i + 30]!r}"


def json_body(response: httpx.Response, dialect: str) -> dict[str, Any]:
    """A JSON response: exact content type, and the success or error schema by status."""
    assert response.headers["content-type"] == "application/json", response.headers
    body = response.json()
    assert_compact(response.text)
    assert_valid("chat-response" if response.status_code == 200 else "error", dialect, body)
    return body


def sse_chunks(response: httpx.Response, dialect: str, *, done: bool = True) -> tuple[list[dict[str, Any]], list[str]]:
    """Parse and check an SSE body: (data chunks as JSON, comment lines in order of arrival).

    Every event is one line ``data: <compact JSON>`` (or a ``:`` comment) followed by a blank
    line; the stream ends with ``data: [DONE]`` unless ``done`` is False (faults)."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/event-stream", response.headers
    text = response.content.decode("utf-8")
    assert text.endswith("\n\n"), repr(text[-80:])
    events = text[:-2].split("\n\n")
    if done:
        assert events[-1] == "data: [DONE]", repr(events[-1])
        events = events[:-1]
    chunks: list[dict[str, Any]] = []
    comments: list[str] = []
    for event in events:
        assert "\n" not in event and "\r" not in event, f"multi-line event: {event!r}"
        if event.startswith(":"):
            assert not chunks, "comments come before the first data event"
            comments.append(event)
            continue
        assert event.startswith("data: "), repr(event)
        payload = event[len("data: ") :]
        assert payload != "[DONE]", "[DONE] only at the very end"
        assert_compact(payload)
        chunk = json.loads(payload)
        assert_valid("chat-chunk", dialect, chunk)
        chunks.append(chunk)
    assert chunks, "a stream has data events"
    return chunks, comments


def post(http: httpx.Client, body: dict[str, Any], **kwargs: Any) -> httpx.Response:
    return http.post("/chat/completions", json=body, **kwargs)


def stream_body(extra: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    return {**CHAT, "stream": True, **fields, **(extra or {})}


def content_of(chunks: list[dict[str, Any]]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


def deltas(chunks: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for chunk in chunks:
        for choice in chunk["choices"]:
            yield choice["delta"]


def other(dialect: str) -> str:
    return "openrouter" if dialect == "anyrouter" else "anyrouter"


# -- both dialects ------------------------------------------------------------------------


def test_content_types_and_sse_framing(http, dialect, add_scenarios):
    add_scenarios(GREET)
    response = post(http, CHAT)
    assert response.status_code == 200
    body = json_body(response, dialect)
    assert body["choices"][0]["message"]["content"] == "Hi! How can I help?"

    response = post(http, stream_body())
    chunks, comments = sse_chunks(response, dialect)
    assert comments == []
    assert content_of(chunks) == "Hi! How can I help?"
    assert response.content.endswith(b"\n\ndata: [DONE]\n\n")
    assert response.content.startswith(b"data: {")
    assert len({c["id"] for c in chunks}) == 1
    assert len({c["created"] for c in chunks}) == 1

    error = post(http, ROBOT)
    assert error.status_code == 400
    json_body(error, dialect)


@pytest.mark.parametrize("model", ["mockrouter/reasoning", "mockrouter/tool-call", "mockrouter/lorem"])
def test_builtin_streams_and_bodies_validate(http, dialect, model):
    json_body(post(http, {**CHAT, "model": model, "tools": TOOLS}), dialect)
    chunks, _ = sse_chunks(post(http, stream_body(model=model, tools=TOOLS)), dialect)
    finishes = [ch["finish_reason"] for c in chunks for ch in c["choices"] if ch["finish_reason"]]
    assert finishes and finishes[0] in ("stop", "tool_calls")


def test_models_validate(http, dialect):
    response = http.get("/models")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert_valid("models", dialect, body)
    ids = {m["id"] for m in body["data"]}
    assert {"openai/gpt-4o-mini", "mockrouter/echo"} <= ids
    if dialect == "openrouter":  # parameters follow capabilities: clients read them before sending tools
        params = {m["id"]: m["supported_parameters"] for m in body["data"]}
        assert {"tools", "tool_choice", "structured_outputs"} <= set(params["openai/gpt-4o-mini"])
        assert "tools" not in params["deepseek/deepseek-r1"] and "reasoning" in params["deepseek/deepseek-r1"]
        assert params["openai/text-embedding-3-small"] == []
        assert {"tools", "reasoning", "structured_outputs"} <= set(params["mockrouter/echo"])


def test_mid_stream_error_chunk(http, dialect):
    response = post(http, stream_body(model="mockrouter/mid-stream-error"))
    chunks, _ = sse_chunks(response, dialect, done=False)
    assert b"[DONE]" not in response.content
    *before, last = chunks
    assert all("error" not in c for c in before)
    assert content_of(before) == "I was"
    assert set(last) >= {"id", "error", "choices"}
    [choice] = last["choices"]
    assert choice["finish_reason"] == "error"
    assert choice["delta"] in ({}, {"content": ""})
    if dialect == "openrouter":
        assert isinstance(last["error"]["code"], int) and not isinstance(last["error"]["code"], bool)
        assert choice["native_finish_reason"] == "error"
    else:
        assert set(last["error"]) == {"message", "type", "code", "param"}
        assert isinstance(last["error"]["code"], str)


def test_usage_overrides_reasoning_tokens(http, dialect, add_scenarios, journal):
    """`usage.reasoning_tokens` is reported as `completion_tokens_details.reasoning_tokens`, in JSON
    answers and in the stream's usage chunk, and in the journal (so also in the generation stats)."""
    add_scenarios(
        "name: think\nsteps:\n  - reasoning: Let me think about it\n    content: done\n"
        "    usage: {completion_tokens: 50, reasoning_tokens: 42}\n"
    )
    answer = json_body(post(http, {**CHAT, "model": "mockrouter/think"}), dialect)
    chunks, _ = sse_chunks(
        post(http, stream_body(model="mockrouter/think", stream_options={"include_usage": True})), dialect
    )
    for usage in (answer["usage"], chunks[-1]["usage"]):
        assert usage["completion_tokens"] == 50
        assert usage["completion_tokens_details"]["reasoning_tokens"] == 42
    assert [e["usage"]["reasoning_tokens"] for e in journal()] == [42, 42]


def test_retry_after_variants_and_raw_bodies(http, dialect, add_scenarios):
    add_scenarios(
        """\
name: variants
steps:
  - error: {status: 429, retry_after: 2}
  - error: {status: 429, retry_after: {ms: 1500}}
  - error: {status: 503, retry_after: "Wed, 21 Oct 2026 07:28:00 GMT"}
  - error:
      status: 429
      message: custom headers
      headers: {x-custom: abc, x-attempt-budget: 5}
  - error:
      status: 502
      body: "<html><body><h1>502 Bad Gateway</h1></body></html>"
      content_type: text/html
  - content: recovered
"""
    )
    body = {**CHAT, "model": "mockrouter/variants"}

    r = post(http, body)
    assert r.status_code == 429
    assert r.headers["retry-after"] == "2"
    assert "retry-after-ms" not in r.headers
    json_body(r, dialect)

    r = post(http, body)
    assert r.status_code == 429
    assert r.headers["retry-after-ms"] == "1500"
    assert "retry-after" not in r.headers
    json_body(r, dialect)

    r = post(http, body)
    assert r.status_code == 503
    assert r.headers["retry-after"] == "Wed, 21 Oct 2026 07:28:00 GMT"
    json_body(r, dialect)

    r = post(http, body)
    assert r.status_code == 429
    assert r.headers["x-custom"] == "abc"
    assert r.headers["x-attempt-budget"] == "5"
    assert json_body(r, dialect)["error"]["message"] == "custom headers"

    r = post(http, body)
    assert r.status_code == 502
    assert r.headers["content-type"] == "text/html"
    assert r.text == "<html><body><h1>502 Bad Gateway</h1></body></html>"

    r = post(http, body)
    assert r.status_code == 200
    assert json_body(r, dialect)["choices"][0]["message"]["content"] == "recovered"


@pytest.mark.parametrize("model", ["mockrouter/lorem", "mockrouter/tool-call"])
def test_seeded_server_is_byte_identical(seeded, dialect, model):
    server = seeded(42, dialect)
    body = {**CHAT, "model": model, "tools": TOOLS}

    def first(stream: bool) -> httpx.Response:
        with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer sk-{uuid.uuid4().hex}"}) as c:
            return post(c, {**body, "stream": stream})

    a, b = first(False), first(False)
    assert a.status_code == b.status_code == 200
    assert a.content == b.content
    body_a = json_body(a, dialect)
    id_header = "x-generation-id" if dialect == "openrouter" else "x-request-id"
    assert a.headers[id_header] == b.headers[id_header] == body_a["id"]

    sa, sb = first(True), first(True)
    assert sa.content == sb.content
    chunks, _ = sse_chunks(sa, dialect)
    assert sa.headers[id_header] == sb.headers[id_header] == chunks[0]["id"]

    other_seed = seeded(43, dialect)
    with httpx.Client(base_url=other_seed.base_url, headers={"Authorization": "Bearer sk-other-seed"}) as c:
        c_body = json_body(post(c, body), dialect)
    assert c_body["id"] != body_a["id"]


def test_unseeded_server_varies_ids(dialect, server):
    ids = set()
    for n in range(2):
        with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer sk-unseeded-{n}"}) as c:
            ids.add(json_body(post(c, CHAT), dialect)["id"])
    assert len(ids) == 2


def test_dialect_header_switches_per_request(http, dialect):
    switched = other(dialect)
    header = {"X-Mockrouter-Dialect": switched}
    body = json_body(post(http, CHAT, headers=header), switched)
    chunks, _ = sse_chunks(post(http, stream_body(), headers=header), switched)
    error = json_body(post(http, ROBOT, headers=header), switched)["error"]
    if switched == "openrouter":
        assert OPENROUTER_ID.match(body["id"])
        assert all("native_finish_reason" in ch for c in chunks for ch in c["choices"])
        assert error["code"] == 400
    else:
        assert body["id"].startswith("chatcmpl-")
        assert all("usage" not in c for c in chunks)
        assert error["code"] == "invalid_request" and error["type"] == "invalid_request_error"
    # and without the header, the server's own dialect again
    plain = json_body(post(http, CHAT), dialect)
    assert plain["id"].startswith("chatcmpl-" if dialect == "anyrouter" else "gen-")


# -- anyrouter ---------------------------------------------------------------------------

# Overriding the ``dialect`` fixture's parameters pins ``server``, ``http``, ``add_scenarios``
# (and everything else built on them) to one dialect's shared server.
anyrouter_only = pytest.mark.parametrize("dialect", ["anyrouter"])
openrouter_only = pytest.mark.parametrize("dialect", ["openrouter"])


@anyrouter_only
def test_anyrouter_ids(http):
    body = json_body(post(http, CHAT), "anyrouter")
    assert re.fullmatch(r"chatcmpl-[A-Za-z0-9]+", body["id"])
    assert body["object"] == "chat.completion"
    chunks, _ = sse_chunks(post(http, stream_body()), "anyrouter")
    assert {c["id"] for c in chunks} == {chunks[0]["id"]}
    assert chunks[0]["id"].startswith("chatcmpl-") and chunks[0]["id"] != body["id"]


@anyrouter_only
@pytest.mark.parametrize("model", [MODEL, "mockrouter/tool-call", "mockrouter/reasoning"])
def test_anyrouter_role_only_on_first_delta(http, model):
    chunks, _ = sse_chunks(post(http, stream_body(model=model, tools=TOOLS)), "anyrouter")
    all_deltas = list(deltas(chunks))
    assert all_deltas[0].get("role") == "assistant"
    assert all("role" not in d for d in all_deltas[1:])
    assert all("native_finish_reason" not in ch for c in chunks for ch in c["choices"])


@anyrouter_only
@pytest.mark.parametrize(
    ("extra", "wanted"),
    [
        ({}, False),
        ({"stream_options": {"include_usage": True}}, True),
        ({"stream_options": {"include_usage": False}}, False),
        ({"usage": {"include": True}}, True),
    ],
    ids=["none", "stream_options", "stream_options-false", "usage.include"],
)
def test_anyrouter_usage_chunk_only_when_asked(http, extra, wanted):
    chunks, _ = sse_chunks(post(http, stream_body(extra)), "anyrouter")
    with_usage = [c for c in chunks if c.get("usage")]
    if not wanted:
        assert with_usage == []
        return
    assert with_usage == [chunks[-1]], "one usage chunk, the last before [DONE]"
    usage = chunks[-1]["usage"]
    assert chunks[-1]["choices"] == []
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


@anyrouter_only
def test_anyrouter_stream_usage_always_override(http, add_scenarios):
    add_scenarios('name: u\nsteps:\n  - content: "a b c"\n    stream: {usage: always}\n')
    chunks, _ = sse_chunks(post(http, stream_body(model="mockrouter/u")), "anyrouter")
    assert "usage" in chunks[-1]
    assert all("usage" not in c for c in chunks[:-1])


def _assert_rate_headers(response: httpx.Response) -> int:
    for name in RATE_HEADERS:
        assert name in response.headers, f"{response.status_code} {response.request.url.path}: no {name}"
        assert response.headers[name].isdigit(), (name, response.headers[name])
    limit, remaining, reset = (int(response.headers[n]) for n in RATE_HEADERS)
    assert 0 <= remaining <= limit
    assert reset >= int(time.time()) - 1, "reset is a unix time in seconds"
    return remaining


@anyrouter_only
def test_anyrouter_rate_limit_headers_on_every_response(http):
    responses = [
        post(http, CHAT),
        post(http, stream_body()),
        post(http, ROBOT),
        post(http, {**CHAT, "model": "mockrouter/rate-limited"}),
        post(http, {**CHAT, "model": "mockrouter/bad-gateway"}),
        post(http, {**CHAT, "model": "mockrouter/insufficient-credits"}),
    ]
    assert [r.status_code for r in responses] == [200, 200, 400, 429, 502, 402]
    remaining = [_assert_rate_headers(r) for r in responses]
    assert remaining == sorted(remaining, reverse=True) and remaining[0] > remaining[-1]


@anyrouter_only
def test_anyrouter_rate_limit_headers_on_catalog_reads_with_a_key(http):
    _assert_rate_headers(http.get("/models"))


@anyrouter_only
def test_anyrouter_rate_limit_headers_on_401(server):
    response = httpx.post(server.base_url + "/chat/completions", json=CHAT)
    assert response.status_code == 401
    json_body(response, "anyrouter")
    _assert_rate_headers(response)


@anyrouter_only
@pytest.mark.parametrize(
    ("status", "body", "auth"),
    [
        (400, ROBOT, True),
        (401, CHAT, False),
        (402, {**CHAT, "model": "mockrouter/insufficient-credits"}, True),
        (403, {**CHAT, "model": "mockrouter/moderation"}, True),
        (429, {**CHAT, "model": "mockrouter/rate-limited"}, True),
        (502, {**CHAT, "model": "mockrouter/bad-gateway"}, True),
        (503, {**CHAT, "model": "mockrouter/overloaded"}, True),
        (504, {**CHAT, "model": "mockrouter/upstream-timeout"}, True),
    ],
)
def test_anyrouter_error_envelope(server, api_key, status, body, auth):
    headers = {"Authorization": f"Bearer {api_key}"} if auth else {}
    response = httpx.post(server.base_url + "/chat/completions", json=body, headers=headers)
    assert response.status_code == status, response.text
    payload = json_body(response, "anyrouter")
    assert list(payload) == ["error"]
    error = payload["error"]
    assert set(error) == {"message", "type", "code", "param"}
    assert error["type"] == ANYROUTER_TYPES[status]
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    if status == 400:
        assert error["param"] == "messages[0].role"
        assert "messages[0].role" in error["message"]
    else:
        assert error["param"] is None
    if status == 429:
        assert error["code"] == "rate_limited"
        assert response.headers["retry-after"] == "1"


# -- openrouter --------------------------------------------------------------------------


@openrouter_only
def test_openrouter_ids_created_and_generation_header(http):
    response = post(http, CHAT)
    body = json_body(response, "openrouter")
    match = OPENROUTER_ID.match(body["id"])
    assert match, body["id"]
    assert body["created"] == int(match.group(1))
    assert abs(body["created"] - time.time()) < 60
    assert response.headers["x-generation-id"] == body["id"]
    assert "system_fingerprint" in body

    response = post(http, stream_body())
    chunks, _ = sse_chunks(response, "openrouter")
    ids = {c["id"] for c in chunks}
    assert len(ids) == 1
    [gen] = ids
    match = OPENROUTER_ID.match(gen)
    assert match
    assert all(c["created"] == int(match.group(1)) for c in chunks)
    assert response.headers["x-generation-id"] == gen


@openrouter_only
@pytest.mark.parametrize("model", [MODEL, "mockrouter/reasoning", "mockrouter/tool-call"])
def test_openrouter_deltas(http, model):
    chunks, _ = sse_chunks(post(http, stream_body(model=model, tools=TOOLS)), "openrouter")
    for chunk in chunks:
        assert isinstance(chunk.get("provider"), str) and chunk["provider"]
        for choice in chunk["choices"]:
            assert "native_finish_reason" in choice
            delta = choice["delta"]
            if "content" in delta or "reasoning" in delta:
                assert delta.get("role") == "assistant", delta
    content_deltas = [d for d in deltas(chunks) if d.get("content")]
    if model != "mockrouter/tool-call":
        assert len(content_deltas) > 1
    reasoning = [d for d in deltas(chunks) if d.get("reasoning")]
    if model == "mockrouter/reasoning":
        assert reasoning and all(d.get("role") == "assistant" for d in reasoning)
        assert all(d["reasoning_details"][0]["text"] == d["reasoning"] for d in reasoning)
    # tool-call continuation fragments follow the OpenAI pattern: no role
    fragments = [d for d in deltas(chunks) if d.get("tool_calls")]
    if model == "mockrouter/tool-call":
        assert fragments[0].get("role") == "assistant"
        assert all("role" not in d for d in fragments[1:])


@openrouter_only
def test_openrouter_usage_chunk_always_last(http):
    chunks, _ = sse_chunks(post(http, stream_body()), "openrouter")
    assert "usage" in chunks[-1], "usage is sent even when not asked"
    assert all("usage" not in c for c in chunks[:-1])
    usage = chunks[-1]["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    finishes = [ch["finish_reason"] for c in chunks for ch in c["choices"] if ch["finish_reason"]]
    assert finishes and set(finishes) == {"stop"}


@openrouter_only
def test_openrouter_stream_usage_never(http, add_scenarios):
    add_scenarios('name: quiet\nsteps:\n  - content: "no usage here"\n    stream: {usage: never}\n')
    response = post(http, stream_body(extra={"stream_options": {"include_usage": True}}, model="mockrouter/quiet"))
    chunks, _ = sse_chunks(response, "openrouter")
    assert content_of(chunks) == "no usage here"
    assert all("usage" not in c for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


@openrouter_only
def test_openrouter_keepalive_comments(http, add_scenarios):
    add_scenarios('name: waits\nsteps:\n  - content: "ok then"\n    stream: {keepalive: 2}\n')
    response = post(http, stream_body(model="mockrouter/waits"))
    chunks, comments = sse_chunks(response, "openrouter")
    assert comments == [": OPENROUTER PROCESSING"] * 2
    assert response.content.startswith(b": OPENROUTER PROCESSING\n\n: OPENROUTER PROCESSING\n\ndata: {")
    assert content_of(chunks) == "ok then"


@openrouter_only
def test_openrouter_no_rate_limit_headers_on_success(http):
    for response in (post(http, CHAT), post(http, stream_body())):
        assert response.status_code == 200
        assert not [h for h in response.headers if h.lower().startswith("x-ratelimit")], response.headers


@openrouter_only
@pytest.mark.parametrize(
    ("status", "body", "auth"),
    [
        (400, ROBOT, True),
        (401, CHAT, False),
        (402, {**CHAT, "model": "mockrouter/insufficient-credits"}, True),
        (403, {**CHAT, "model": "mockrouter/moderation"}, True),
        (429, {**CHAT, "model": "mockrouter/rate-limited"}, True),
    ],
)
def test_openrouter_error_envelope(server, api_key, status, body, auth):
    headers = {"Authorization": f"Bearer {api_key}"} if auth else {}
    response = httpx.post(server.base_url + "/chat/completions", json=body, headers=headers)
    assert response.status_code == status, response.text
    payload = json_body(response, "openrouter")
    error = payload["error"]
    assert error["code"] == status and type(error["code"]) is int
    assert isinstance(error["message"], str) and error["message"]
    assert "type" not in error and "param" not in error
    if auth:
        assert re.fullmatch(r"user_\w+", payload["user_id"])
        assert set(payload) == {"error", "user_id"}
    else:
        assert set(payload) == {"error"}
        assert error["message"] == "Missing Authentication header"
    if status == 400:
        assert "messages[0].role" in error["message"]
    if status == 403:
        assert error["metadata"]["reasons"] == ["harassment"]
        assert len(error["metadata"]["flagged_input"]) <= 100
    if status == 402:
        assert error["message"].startswith("Insufficient credits")


@openrouter_only
@pytest.mark.parametrize(("scenario", "status"), [("bad-gateway", 502), ("overloaded", 503), ("upstream-timeout", 504)])
def test_openrouter_upstream_errors_say_provider_returned_error(server, scenario, status):
    # selected by header, so the model (and the provider the error names) is a catalog one;
    # two models through the same built-in: the provider follows each request's model
    for model, provider in (("openai/gpt-4o-mini", "OpenAI"), ("anthropic/claude-sonnet-4.6", "Anthropic")):
        headers = {"Authorization": f"Bearer sk-{uuid.uuid4().hex}", "X-Mockrouter-Scenario": scenario}
        response = httpx.post(server.base_url + "/chat/completions", json={**CHAT, "model": model}, headers=headers)
        assert response.status_code == status
        error = json_body(response, "openrouter")["error"]
        assert error["code"] == status
        assert error["message"] == "Provider returned error"
        assert error["metadata"]["provider_name"] == provider, model
        assert isinstance(error["metadata"]["raw"], str) and error["metadata"]["raw"]
        assert not [h for h in response.headers if h.lower().startswith("x-ratelimit")]
        if status == 503:
            assert response.headers["retry-after"] == "1"


@openrouter_only
def test_openrouter_scripted_upstream_message_is_kept(http, add_scenarios):
    add_scenarios('name: proxy\nsteps:\n  - error: {status: 502, message: "Upstream fell over"}\n')
    error = json_body(post(http, {**CHAT, "model": "mockrouter/proxy"}), "openrouter")["error"]
    assert error["message"] == "Upstream fell over"
    assert error["code"] == 502


# -- seeded servers ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seeded(make_server) -> Callable[[int, str], Any]:
    servers: dict[tuple[int, str], Any] = {}

    def get(seed: int, dialect: str) -> Any:
        if (seed, dialect) not in servers:
            servers[seed, dialect] = make_server(dialect=dialect, seed=seed)
        return servers[seed, dialect]

    return get
