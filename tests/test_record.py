"""Serve → record → replay, proven through the real SDKs (SPEC "Record and replay").

Three real servers per dialect: an "upstream" mockrouter (the real router, answering with
scenarios scoped to each example's key), a recorder in front of it (``mode="record"``,
writing a cassette folder) and a replay server that is handed the one file a conversation
was recorded into (``POST /__mockrouter/scenarios?key=K``, then that key in ``replay`` mode).
The official SDKs — openai (chat completions, Responses) and anthropic (Messages), streamed
and not — ask the recorder, then the replay server, and must get the same thing both times
(``cassette_helpers.Outcome``: the assembled message, finish reason, status, the headers
that matter, usage, a stream's pieces, what they raised):

- a hypothesis property over scenario steps: content, reasoning, tool calls, each stream cut
  anywhere, errors with Retry-After and rate-limit headers, faults mid-answer;
- a three-turn tool loop, replayed turn by turn out of order and from two clients at once;
- no key on disk (the client's, the upstream's, a cookie), ``redact`` masks what it names;
- every file written passes ``mockrouter check``;
- a 429 then a success, recorded with the SDK's retries on: one turn of two steps, and the
  replay makes the SDK retry again;
- an upstream that drops the stream, and a client that hangs up, leave files that load and say so.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from cassette_helpers import CLIENTS, SURFACES, Outcome, Rig, ask, journal
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from mockrouter.core.conversation import conversation_hash
from mockrouter.core.surfaces import chat_view
from mockrouter.http.server import BackgroundServer
from mockrouter.record.recording import MASK
from mockrouter.tools.check import check_paths

DIALECTS = ("anyrouter", "openrouter")
TOOLS = [
    {
        "name": name,
        "description": f"The {name} tool.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
    for name in ("get_weather", "get_time", "search")
]


@pytest.fixture(scope="module")
def rigs(
    make_server: Callable[..., BackgroundServer], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Rig]]:
    """Per dialect: an upstream, a recorder writing its own folder, a replay server (and the
    clients that talk to them, closed with the module)."""
    out = {}
    for dialect in DIALECTS:
        folder = tmp_path_factory.mktemp(f"cassette-{dialect}")
        upstream = make_server(dialect=dialect)
        recorder = make_server(dialect=dialect, mode="record", upstream=upstream.base_url, cassette=folder)
        out[dialect] = Rig(upstream, recorder, make_server(dialect=dialect), folder)
    yield out
    CLIENTS.close()


def comparable(outcome: Outcome, dialect: str) -> dict[str, Any]:
    """``outcome`` as a recording and its replay must agree on it. On an answer, anyrouter's
    ``x-ratelimit-*`` are each server's live window (the recorder passes the upstream's on, a
    replay sends its own): left out there. An error step keeps and replays them."""
    data = outcome.as_dict()
    if dialect == "anyrouter" and (outcome.status or 0) < 400:
        data["headers"] = {k: v for k, v in data["headers"].items() if not k.startswith("x-ratelimit-")}
    return data


def loads_and_checks(path: Path) -> None:
    """``path`` passes ``mockrouter check`` (it loads, and every step renders valid on every surface)."""
    scenarios, errors = check_paths([path])
    assert not errors, "\n".join(str(e) for e in errors) + "\n" + path.read_text(encoding="utf-8")
    assert scenarios, path.read_text(encoding="utf-8")


# -- 1. the property -------------------------------------------------------------------------

#: Any text but ``{{`` (which opens a template: the transcriber writes such text as one, and its
#: stream is then cut by mockrouter, not as recorded; a note in the file says so).
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=30).filter(
    lambda t: "{{" not in t
)
#: What a user types, control characters included (a conversation's opening words are written,
#: escaped, into the file's comments).
SAID = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=30)
JSON_VALUE = st.one_of(st.none(), st.booleans(), st.integers(-(10**6), 10**6), TEXT)


@st.composite
def cut(draw: st.DrawFn, text: str) -> list[str]:
    """``text`` split anywhere into non-empty pieces."""
    if len(text) < 2:
        return [text]
    points = draw(st.sets(st.integers(1, len(text) - 1), max_size=min(len(text) - 1, 6)))
    bounds = [0, *sorted(points), len(text)]
    pieces = [text[a:b] for a, b in pairwise(bounds)]
    return pieces


@st.composite
def tool_calls(draw: st.DrawFn) -> dict[str, Any]:
    keys = st.sampled_from(["city", "q", "n", "ü x"])
    arguments = json.dumps(draw(st.dictionaries(keys, JSON_VALUE, max_size=3)), ensure_ascii=False)
    if "{{" in arguments:
        arguments = "{}"
    call: dict[str, Any] = {"name": draw(st.sampled_from([t["name"] for t in TOOLS])), "arguments": arguments}
    call["chunks"] = draw(cut(arguments))
    if draw(st.booleans()):
        call["id"] = "call_" + uuid.UUID(int=draw(st.integers(0, 2**128 - 1))).hex[:24]
    return call


@st.composite
def answers(draw: st.DrawFn) -> dict[str, Any]:
    """An answer: content and/or reasoning and/or tool calls, each stream piece list cut anywhere."""
    step: dict[str, Any] = {}
    stream: dict[str, Any] = {}
    content, reasoning = draw(st.none() | TEXT), draw(st.none() | TEXT)
    calls = draw(st.lists(tool_calls(), max_size=2))
    if content is None and reasoning is None and not calls:
        content = draw(TEXT)
    if content is not None:
        step["content"], stream["chunks"] = content, draw(cut(content))
    if reasoning is not None:
        step["reasoning"], stream["reasoning_chunks"] = reasoning, draw(cut(reasoning))
    if calls:
        step["tool_calls"] = calls
    finish = draw(st.sampled_from([None, None, "stop", "length", "content_filter"]))
    if finish is not None:
        step["finish_reason"] = finish
    usage = draw(
        st.none()
        | st.fixed_dictionaries(
            {}, optional={"prompt_tokens": st.integers(0, 10**6), "completion_tokens": st.integers(0, 10**6)}
        )
    )
    if usage:
        step["usage"] = usage
    step["stream"] = stream
    return step


RETRY_AFTER = st.one_of(
    st.none(),
    st.integers(0, 3600),
    st.builds(lambda ms: {"ms": ms}, st.integers(0, 100_000)),
    st.just("Wed, 21 Oct 2026 07:28:00 GMT"),
)
RATE_HEADERS = st.fixed_dictionaries(
    {},
    optional={
        "x-ratelimit-limit": st.integers(1, 10_000).map(str),
        "x-ratelimit-remaining": st.integers(0, 10_000).map(str),
        "x-ratelimit-reset": st.integers(0, 2**31).map(str),
    },
)


@st.composite
def errors(draw: st.DrawFn) -> dict[str, Any]:
    """An HTTP error before any byte, with Retry-After (seconds, ms or a date) and rate-limit headers."""
    error: dict[str, Any] = {"status": draw(st.sampled_from([400, 401, 402, 403, 404, 408, 429, 500, 502, 503, 529]))}
    message = draw(st.none() | TEXT)
    if message is not None:
        error["message"] = message
    retry_after = draw(RETRY_AFTER)
    if retry_after is not None:
        error["retry_after"] = retry_after
    headers = draw(RATE_HEADERS)
    if headers:
        error["headers"] = headers
    return {"error": error}


@st.composite
def faults(draw: st.DrawFn) -> dict[str, Any]:
    """An answer that goes wrong after some data events: an in-band error, a dropped
    connection, a clean end without the surface's last event."""
    step = draw(answers())
    kind = draw(st.sampled_from(["error", "disconnect", "truncate"]))
    fault: dict[str, Any] = {"kind": kind, "after_chunks": draw(st.integers(0, 8))}
    if kind == "error":
        fault["error"] = {"status": draw(st.sampled_from([429, 500, 502, 503, 529])), "message": draw(TEXT)}
    step["fault"] = fault
    return step


STEPS = st.one_of(answers(), answers(), errors(), faults())


@pytest.mark.parametrize("surface", SURFACES)
@settings(max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    dialect=st.sampled_from(DIALECTS),
    step=STEPS,
    system=st.none() | TEXT,
    said=SAID,
)
def test_replay_gives_the_sdk_what_the_recording_gave_it(
    rigs: dict[str, Rig], surface: str, dialect: str, step: dict[str, Any], system: str | None, said: str
) -> None:
    note(f"{dialect=} {step=} {system=} {said=}")
    rig = rigs[dialect]
    uid = uuid.uuid4().hex
    key = f"sk-prop-{uid}"
    rig.script(key, [{"name": f"up-{uid[:12]}", "match": {"last_user": uid}, "steps": [step]}])
    messages = [{"role": "user", "content": f"{uid} {said}"}]
    if system is not None:
        messages.insert(0, {"role": "system", "content": system})

    recorded = ask(surface, rig.recorder, key, messages, tools=TOOLS)
    rig.recorded(key, 1)
    path = rig.file_of(uid)
    loads_and_checks(path)
    rig.load(key, path)
    replayed = ask(surface, rig.replay, key, messages, tools=TOOLS)

    assert comparable(replayed, dialect) == comparable(recorded, dialect), path.read_text(encoding="utf-8")
    # and what came through the recorder is what the upstream was told to say
    if "error" in step:
        assert recorded.status == step["error"]["status"]
    elif "fault" not in step and step.get("finish_reason") in (None, "stop"):
        assert recorded.error is None and recorded.status == 200
        assert (recorded.message["content"] or None) == step.get("content")
        assert [c["name"] for c in recorded.message["tool_calls"]] == [c["name"] for c in step.get("tool_calls", [])]


def test_a_recorded_errors_rate_limit_headers_replay_once(rigs: dict[str, Rig]) -> None:
    """A 429's ``x-ratelimit-remaining: 0`` reaches the client as ``0``, through the recorder and
    from the replay, in the dialect that sends its own window's headers too (the error's win)."""
    rig = rigs["anyrouter"]
    uid = uuid.uuid4().hex
    key = f"sk-rate-{uid}"
    error = {"status": 429, "retry_after": 7, "headers": {"x-ratelimit-remaining": "0"}}
    rig.script(key, [{"name": f"up-{uid[:12]}", "match": {"last_user": uid}, "steps": [{"error": error}]}])
    messages = [{"role": "user", "content": uid}]
    recorded = ask("chat", rig.recorder, key, messages)
    rig.recorded(key, 1)
    path = rig.file_of(uid)
    loads_and_checks(path)
    rig.load(key, path)
    replayed = ask("chat", rig.replay, key, messages)
    assert recorded.headers["x-ratelimit-remaining"] == replayed.headers["x-ratelimit-remaining"] == "0"
    assert recorded.headers["retry-after"] == replayed.headers["retry-after"] == "7"
    assert replayed.headers == recorded.headers and replayed.error == recorded.error


# -- what YAML makes of some texts (the cassette writer, mockrouter/record/cassette.py) ---------


def record_and_replay(rig: Rig, surface: str, step: dict[str, Any], said: str = "hi") -> tuple[Outcome, Outcome, Path]:
    """``step`` recorded on ``surface`` and replayed; both outcomes and the file."""
    uid = uuid.uuid4().hex
    key = f"sk-one-{uid}"
    rig.script(key, [{"name": f"up-{uid[:12]}", "match": {"last_user": uid}, "steps": [step]}])
    messages = [{"role": "user", "content": f"{uid} {said}"}]
    recorded = ask(surface, rig.recorder, key, messages)
    rig.recorded(key, 1)
    path = rig.file_of(uid)
    loads_and_checks(path)
    rig.load(key, path)
    return recorded, ask(surface, rig.replay, key, messages), path


@pytest.mark.parametrize("surface", ["chat-stream", "messages-stream", "responses-stream"])
def test_a_stream_whose_last_piece_ends_in_a_blank_line(rigs: dict[str, Rig], surface: str) -> None:
    step = {"content": "Hello\n\n", "stream": {"chunks": ["Hello", "\n\n"]}}
    recorded, replayed, _ = record_and_replay(rigs["openrouter"], surface, step)
    assert replayed.as_dict() == recorded.as_dict()


def test_a_next_line_character_replays_as_itself(rigs: dict[str, Rig]) -> None:
    recorded, replayed, _ = record_and_replay(rigs["openrouter"], "chat", {"content": "a\x85b"})
    assert recorded.message["content"] == "a\x85b"
    assert replayed.message["content"] == "a\x85b"


def test_a_control_character_in_the_opening_words(rigs: dict[str, Rig]) -> None:
    recorded, replayed, _ = record_and_replay(rigs["openrouter"], "chat", {"content": "red"}, said="\x1b[31mred")
    assert replayed.as_dict() == recorded.as_dict()


# -- 2. a tool loop, replayed out of order and from two clients at once -------------------------

RESULTS = {"get_weather": '{"sky": "sunny", "celsius": 21}', "get_time": '{"time": "14:05"}'}


def loop_scenarios(uid: str) -> list[dict[str, Any]]:
    """The upstream's side of the loop: weather, then time, then the answer (matched on the turn)."""
    return [
        {
            "name": f"loop0-{uid}",
            "match": {"turn": 0},
            "steps": [
                {
                    "reasoning": "The user wants the weather; call get_weather.",
                    "tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}],
                }
            ],
        },
        {
            "name": f"loop1-{uid}",
            "match": {"turn": 1, "last_tool": "get_weather"},
            "steps": [
                {
                    "reasoning": "Now the time.",
                    "content": "Checking the time too.",  # text beside the call: one turn on every surface
                    "tool_calls": [{"name": "get_time", "arguments": {"city": "Paris"}}],
                }
            ],
        },
        {
            "name": f"loop2-{uid}",
            "match": {"turn": 2, "last_tool": "get_time"},
            "steps": [
                {
                    "content": f"Sunny, 21 C at 14:05 in Paris ({uid[:8]}).",
                    "usage": {"prompt_tokens": 91, "completion_tokens": 13},
                }
            ],
        },
    ]


def run_loop(surface: str, server: BackgroundServer, key: str, opening: str) -> list[tuple[list[Any], Outcome]]:
    """An agent loop to its end: each turn's request (chat form) and what the SDK got."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": opening}]
    turns = []
    for _ in range(5):
        outcome = ask(surface, server, key, messages, tools=TOOLS)
        turns.append((copy.deepcopy(messages), outcome))
        calls = outcome.message.get("tool_calls") or []
        if outcome.error is not None or not calls:
            break
        messages.append(
            {
                "role": "assistant",
                "content": outcome.message["content"],
                "tool_calls": [
                    {
                        "id": c["id"],
                        "type": "function",
                        "function": {
                            "name": c["name"],
                            "arguments": c["arguments"]
                            if isinstance(c["arguments"], str)
                            else json.dumps(c["arguments"]),
                        },
                    }
                    for c in calls
                ],
            }
        )
        messages += [{"role": "tool", "tool_call_id": c["id"], "content": RESULTS[c["name"]]} for c in calls]
    return turns


@pytest.mark.parametrize("surface", SURFACES)
def test_a_tool_loop_replays_out_of_order_and_concurrently(rigs: dict[str, Rig], surface: str) -> None:
    rig = rigs["openrouter"]
    uid = uuid.uuid4().hex
    key = f"sk-loop-{uid}"
    rig.script(key, loop_scenarios(uid))
    recorded = run_loop(surface, rig.recorder, key, f"{uid} What is the weather in Paris, and the time?")
    assert len(recorded) == 3, [o.as_dict() for _, o in recorded]
    assert [len(o.message["tool_calls"]) for _, o in recorded] == [1, 1, 0]
    assert recorded[-1][1].message["content"] == f"Sunny, 21 C at 14:05 in Paris ({uid[:8]})."
    rig.recorded(key, 3)
    path = rig.file_of(uid)
    loads_and_checks(path)
    docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
    assert [len(d["steps"]) for d in docs] == [1, 1, 1]  # one scenario per turn
    assert len({d["match"]["conversation"] for d in docs}) == 3
    rig.load(key, path)
    want = [comparable(outcome, "openrouter") for _, outcome in recorded]

    # the loop run again against the replay
    again = run_loop(surface, rig.replay, key, f"{uid} What is the weather in Paris, and the time?")
    assert [comparable(o, "openrouter") for _, o in again] == want

    # turns out of order: the last first
    for turn in (2, 0, 1):
        messages, _ = recorded[turn]
        assert comparable(ask(surface, rig.replay, key, messages, tools=TOOLS), "openrouter") == want[turn], turn

    # two clients at once, each asking the turns in its own order, several times over
    start = threading.Barrier(2)

    def client(order: list[int]) -> list[tuple[int, dict[str, Any]]]:
        start.wait(timeout=10)
        got = []
        for turn in order * 3:
            got.append((turn, comparable(ask(surface, rig.replay, key, recorded[turn][0], tools=TOOLS), "openrouter")))
        return got

    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(client, [[1, 2, 0], [2, 0, 1]]))
    for got in runs:
        for turn, outcome in got:
            assert outcome == want[turn], turn
    statuses = [e["status"] for e in journal(rig.replay, key)]
    assert statuses == [200] * (3 + 3 + 2 * 9)


def test_a_responses_turn_with_text_and_a_call_is_one_turn() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}
    chat = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "Now the time.", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": "14:05"},
    ]
    responses = {
        "model": "m",
        "input": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "Now the time."},
            {"type": "function_call", "call_id": "c1", "name": "get_time", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "14:05"},
        ],
    }
    view = chat_view("responses", responses)["messages"]
    assert sum(m["role"] == "assistant" for m in view) == 1
    assert conversation_hash(view) == conversation_hash(chat_view("chat", {"model": "m", "messages": chat})["messages"])


# -- 3. no key on disk; --redact masks what it names -------------------------------------------

UPSTREAM_KEY = "sk-or-v1-upstream-" + "5ecre7" * 6
ACCOUNT = re.compile(r"acct-\d{6}")


def test_no_key_reaches_the_cassette_and_redact_masks(
    make_server: Callable[..., BackgroundServer], rigs: dict[str, Rig], tmp_path: Path
) -> None:
    upstream = rigs["openrouter"].upstream
    recorder = make_server(
        dialect="openrouter",
        mode="record",
        upstream=upstream.base_url,
        cassette=tmp_path,
        upstream_key=UPSTREAM_KEY,
        redact=[ACCOUNT.pattern],
    )
    rig = Rig(upstream, recorder, rigs["openrouter"].replay, tmp_path)
    uid = uuid.uuid4().hex
    client_key = f"sk-client-{uid}"
    cookie = f"sess-{uid[:16]}"
    # the upstream sees the upstream key, never the client's: its scenarios are scoped to that key
    rig.script(
        UPSTREAM_KEY,
        [
            {
                "name": f"secret-{uid[:12]}",
                "match": {"last_user": f"{uid} my key"},
                "steps": [{"content": f"Account acct-123456 is fine (you are {client_key}; I am {UPSTREAM_KEY})."}],
            },
            {
                "name": f"denied-{uid[:12]}",
                "match": {"last_user": f"denied {uid}"},
                "steps": [{"error": {"status": 401, "message": f"Key {UPSTREAM_KEY} may not see acct-654321"}}],
            },
        ],
    )
    said = f"{uid} my key is {client_key}, my account acct-123456"
    outcomes = {}
    for surface in SURFACES:
        messages = [{"role": "user", "content": f"<{surface}> {said}"}]
        headers = {"Cookie": f"session={cookie}", "x-api-key": client_key}
        outcomes[surface] = ask(surface, recorder, client_key, messages, headers=headers)
        assert outcomes[surface].error is None, outcomes[surface].as_dict()
    denied = ask("chat", recorder, client_key, [{"role": "user", "content": f"denied {uid}"}])
    assert denied.status == 401
    rig.recorded(client_key, len(SURFACES) + 1)
    assert len(journal(upstream, UPSTREAM_KEY)) >= len(SURFACES) + 1
    assert journal(upstream, client_key) == []

    files = sorted(tmp_path.glob("*.yaml"))
    assert len(files) == len(SURFACES) + 1
    for path in files:
        text = path.read_text(encoding="utf-8")
        for secret in (client_key, UPSTREAM_KEY, cookie, uid[:16] + ","):
            assert secret not in text, (secret, path.name, text)
        assert not ACCOUNT.search(text), text
        assert MASK in text
    # the files pass `mockrouter check`, the command
    checked = subprocess.run(
        [sys.executable, "-m", "mockrouter", "check", str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout == f"ok: {len(files) * 1} scenario(s) checked\n"

    # and they replay: what the upstream said, secrets masked
    for surface, recorded in outcomes.items():
        messages = [{"role": "user", "content": f"<{surface}> {said}"}]
        rig.load(client_key, rig.file_of(f"<{surface}>"))
        replayed = ask(surface, rig.replay, client_key, messages)
        assert replayed.message["content"] == f"Account {MASK} is fine (you are {MASK}; I am {MASK})."
        assert (
            recorded.message["content"] == f"Account acct-123456 is fine (you are {client_key}; I am {UPSTREAM_KEY})."
        )


# -- 5. a 429 then a success, with the SDK's retries on -----------------------------------------


def test_a_retried_429_is_one_turn_of_two_steps_and_replays_as_a_retry(rigs: dict[str, Rig]) -> None:
    rig = rigs["openrouter"]
    uid = uuid.uuid4().hex
    key = f"sk-retry-{uid}"
    answer = f"Survived a 429 ({uid[:8]})."
    steps = [{"error": {"status": 429, "message": "Slow down", "retry_after": 1}}, {"content": answer}]
    rig.script(key, [{"name": f"up-{uid[:12]}", "match": {"last_user": uid}, "steps": steps}])
    messages = [{"role": "user", "content": f"{uid} hello"}]
    recorded = ask("chat", rig.recorder, key, messages, max_retries=2)
    assert recorded.error is None and recorded.message["content"] == answer
    rig.recorded(key, 2)
    assert [e["status"] for e in journal(rig.upstream, key)] == [429, 200]

    path = rig.file_of(uid)
    loads_and_checks(path)
    [turn] = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
    error, success = turn["steps"]
    assert error["error"]["status"] == 429 and error["error"]["retry_after"] == 1
    assert success["content"] == answer

    rig.load(key, path)
    replayed = ask("chat", rig.replay, key, messages, max_retries=2)
    assert comparable(replayed, "openrouter") == comparable(recorded, "openrouter")
    entries = journal(rig.replay, key)
    assert [e["status"] for e in entries] == [429, 200] and entries[0]["retry_after_s"] == 1


# -- 6. a stream broken off: by the upstream, by the client ------------------------------------

SIX = "one two three four five six"


@pytest.mark.parametrize("surface", ["chat-stream", "messages-stream", "responses-stream"])
def test_an_upstream_that_drops_the_stream_leaves_a_file_that_says_so(rigs: dict[str, Rig], surface: str) -> None:
    step = {"content": SIX, "fault": {"kind": "disconnect", "after_chunks": 3}}
    recorded, replayed, path = record_and_replay(rigs["openrouter"], surface, step)
    assert recorded.error is not None and recorded.pieces, recorded.as_dict()
    assert comparable(replayed, "openrouter") == comparable(recorded, "openrouter")
    text = path.read_text(encoding="utf-8")
    assert "#   upstream dropped the stream after" in text, text
    [turn] = [d for d in yaml.safe_load_all(text) if d]
    assert turn["steps"][0]["fault"]["kind"] == "disconnect"


#: Each surface's streamed request, raw (the client below reads the bytes itself).
RAW = {
    "chat": ("/chat/completions", lambda said: {"model": "openai/gpt-4o-mini", "stream": True, "messages": said}),
    "messages": (
        "/messages",
        lambda said: {"model": "anthropic/claude-sonnet-4.6", "max_tokens": 256, "stream": True, "messages": said},
    ),
    "responses": ("/responses", lambda said: {"model": "openai/gpt-4o-mini", "stream": True, "input": said}),
}


@pytest.mark.parametrize("surface", sorted(RAW))
def test_a_client_that_hangs_up_leaves_a_file_that_says_so(rigs: dict[str, Rig], surface: str) -> None:
    """The upstream sends three events and stalls; the client reads two and closes the stream.
    The recording ends where the client left, as a dropped connection, and replays as one."""
    rig = rigs["openrouter"]
    uid = uuid.uuid4().hex
    key = f"sk-gone-{uid}"
    step = {"content": SIX, "fault": {"kind": "stall", "after_chunks": 3, "ms": 10_000}}
    rig.script(key, [{"name": f"up-{uid[:12]}", "match": {"last_user": uid}, "steps": [step]}])
    route, body = RAW[surface]
    said = [{"role": "user", "content": f"{uid} talk slowly"}]
    headers = {"Authorization": f"Bearer {key}"}
    with (
        httpx.Client(timeout=10) as http,
        http.stream("POST", rig.recorder.base_url + route, json=body(said), headers=headers) as response,
    ):
        assert response.status_code == 200
        events = 0
        for line in response.iter_lines():
            events += line.startswith("data:")
            if events == 2:
                break  # leaving the block closes the stream: the client hangs up
    rig.recorded(key, 1)
    [entry] = journal(rig.recorder, key)
    assert entry["client_disconnected"] is True

    path = rig.file_of(uid)
    loads_and_checks(path)
    text = path.read_text(encoding="utf-8")
    assert "#   the client hung up after" in text and "replayed as a dropped connection" in text, text
    [turn] = [d for d in yaml.safe_load_all(text) if d]
    assert turn["steps"][0]["fault"]["kind"] == "disconnect"
    rig.load(key, path)
    replayed = ask(f"{surface}-stream", rig.replay, key, said)
    assert replayed.error is not None, replayed.as_dict()  # the connection drops, as it did
    assert "".join(piece for kind, piece in replayed.pieces if kind == "content") == turn["steps"][0].get("content", "")
