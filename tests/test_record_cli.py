"""Record and replay from the command line, with real processes (SPEC "Record and replay").

The upstream ("the real router") is a second mockrouter, in this process, answering with
scenarios scoped to the test's key; ``mockrouter record`` and ``mockrouter serve --mode ...``
run as subprocesses, and the unmodified openai SDK talks to them:

- ``mockrouter record --upstream URL --out DIR`` forwards an agent loop (a tool call, then a
  streamed answer) and a second conversation; ``mockrouter serve --scenarios DIR`` then gives
  the same answers with the upstream out of the picture;
- ``serve --mode auto`` records only what has no recording, and replays it once the upstream
  is gone; ``serve --mode replay`` refuses anything else with a 404 naming the near misses.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import yaml
from test_cli import Served, clean_env, run, start_command, stop

from mockrouter.core.config import Config
from mockrouter.http.server import BackgroundServer

MODEL = "openai/gpt-4o-mini"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city now.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
]
WEATHER_QUESTION = "What is the weather in Paris?"
TOOL_RESULT = '{"sky": "sunny", "celsius": 21}'
#: What the upstream answers (its scenarios, scoped to the test's key): a tool call with
#: reasoning on the first turn, text with scripted usage once the tool has answered, and a
#: haiku for another conversation. ``{token}`` is unique per test, so an answer cannot come
#: from anywhere but this upstream or a recording of it.
UPSTREAM_SCENARIOS = """\
name: up-weather-call
match: {{last_user: weather, turn: 0}}
steps:
  - reasoning: The user wants the weather; call get_weather.
    tool_calls:
      - name: get_weather
        arguments: {{city: Paris}}
---
name: up-weather-answer
match: {{last_tool: get_weather}}
steps:
  - content: "Sunny and 21 C in Paris ({token})."
    usage: {{prompt_tokens: 57, completion_tokens: 11}}
---
name: up-haiku
match: {{last_user: haiku}}
steps:
  - content: "Autumn moonlight, a worm digs silently into the chestnut ({token})."
"""


# -- processes and servers ---------------------------------------------------------------------


def start(command: str, *args: str) -> Served:
    """``mockrouter COMMAND ARGS`` (serve or record) in a subprocess; returns once its banner is
    out and its health check answers."""
    return start_command(command, *args)


def stopped(served: Served) -> None:
    """SIGINT, and the process exits 0 saying why, with nothing on stderr."""
    code, out, err = stop(served)
    assert code == 0, err
    assert out == "shutting down (SIGINT)\n", out
    assert "Traceback" not in err, err


def start_upstream() -> BackgroundServer:
    return BackgroundServer(Config(port=0, speed=0.0)).start()


@pytest.fixture(scope="module")
def upstream() -> Iterator[BackgroundServer]:
    """The "real router" of this module's tests (those that stop it start their own)."""
    server = start_upstream()
    yield server
    server.stop()


def script_upstream(server: BackgroundServer, key: str) -> str:
    """Give ``key`` the upstream's scenarios; returns the token its answers carry."""
    token = uuid.uuid4().hex[:10]
    response = httpx.post(
        server.url + "/__mockrouter/scenarios",
        params={"key": key},
        content=UPSTREAM_SCENARIOS.format(token=token),
        headers={"content-type": "application/yaml"},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return token


def journal(url: str, key: str) -> list[dict[str, Any]]:
    response = httpx.get(url + "/__mockrouter/requests", params={"key": key}, timeout=10)
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def sdk(served: Served, key: str, **options: Any) -> openai.OpenAI:
    options.setdefault("max_retries", 0)
    return openai.OpenAI(base_url=served.url + "/api/v1", api_key=key, timeout=10, **options)


# -- the conversations -------------------------------------------------------------------------


def answered(reply: Any) -> dict[str, Any]:
    """What a JSON answer said, without what a replay makes anew (ids, created)."""
    choice = reply.choices[0]
    message = choice.message
    calls = [(c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls or []]
    return {
        "content": message.content or "",
        "reasoning": (message.model_extra or {}).get("reasoning") or "",
        "tool_calls": calls,
        "finish_reason": choice.finish_reason,
        "usage": (reply.usage.prompt_tokens, reply.usage.completion_tokens),
    }


def streamed(stream: Any) -> dict[str, Any]:
    """What a streamed answer said, its deltas put together, and how its text was cut into
    chunks (a replay cuts it as recorded)."""
    content: list[str] = []
    reasoning: list[str] = []
    finish, usage = None, None
    for chunk in stream:
        if chunk.usage is not None:
            usage = (chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
        for choice in chunk.choices:
            content.append(choice.delta.content or "")
            reasoning.append((choice.delta.model_extra or {}).get("reasoning") or "")
            finish = choice.finish_reason or finish
    return {
        "content": "".join(content),
        "pieces": [piece for piece in content if piece],
        "reasoning": "".join(reasoning),
        "finish_reason": finish,
        "usage": usage,
        "stream": True,
    }


def weather_loop(client: openai.OpenAI) -> list[dict[str, Any]]:
    """An agent loop, as an agent runs it: ask; the model calls get_weather; send the tool's
    result back (with the call as *this* server answered it, its own id) and stream the answer."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": WEATHER_QUESTION}]
    first = client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS)  # type: ignore[arg-type]
    message = first.choices[0].message
    assert message.tool_calls, message
    call = message.tool_calls[0]
    messages.append(
        {
            "role": "assistant",
            "content": message.content,
            "tool_calls": [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.function.name, "arguments": call.function.arguments},
                }
            ],
        }
    )
    messages.append({"role": "tool", "tool_call_id": call.id, "content": TOOL_RESULT})
    stream = client.chat.completions.create(
        model=MODEL,
        messages=messages,  # type: ignore[arg-type]
        tools=TOOLS,  # type: ignore[arg-type]
        stream=True,
        stream_options={"include_usage": True},
    )
    return [answered(first), streamed(stream)]


def haiku(client: openai.OpenAI, words: str = "Write a haiku about autumn.") -> dict[str, Any]:
    reply = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": words}])
    return answered(reply)


def check_weather(answers: list[dict[str, Any]], token: str) -> None:
    """The weather loop's answers are what the upstream scripts."""
    first, second = answers
    assert first["tool_calls"] == [("get_weather", {"city": "Paris"})], first
    assert first["reasoning"] == "The user wants the weather; call get_weather.", first
    assert (first["content"], first["finish_reason"]) == ("", "tool_calls"), first
    assert second["content"] == f"Sunny and 21 C in Paris ({token}).", second
    assert (second["finish_reason"], second["usage"]) == ("stop", (57, 11)), second


def recorded_files(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.yaml"))}


def recorded_conversations(folder: Path) -> set[str]:
    """Every ``match.conversation`` in the folder's files."""
    found = set()
    for text in recorded_files(folder).values():
        for doc in yaml.safe_load_all(text):
            if isinstance(doc, dict):
                found.add(doc["match"]["conversation"])
    return found


# -- mockrouter record, replayed by serve --scenarios -------------------------------------------


def test_record_proxies_writes_a_cassette_that_serve_replays(
    tmp_path: Path, upstream: BackgroundServer, served_processes: list[Served]
) -> None:
    key = f"sk-record-{uuid.uuid4().hex}"
    token = script_upstream(upstream, key)
    out = tmp_path / "recorded"
    recorder = start(
        "record", "--upstream", upstream.base_url, "--out", str(out), "--port", "0", "--redact", r"secret-\w+"
    )
    served_processes.append(recorder)
    first_line = recorder.banner.splitlines()[0]
    assert "record mode" in first_line, recorder.banner
    assert upstream.base_url in first_line and str(out) in first_line, recorder.banner

    with sdk(recorder, key) as client:
        live_weather = weather_loop(client)
        live_haiku = haiku(client, "Write a haiku about autumn, secret-abc123.")
    check_weather(live_weather, token)
    assert live_haiku["content"] == f"Autumn moonlight, a worm digs silently into the chestnut ({token})."
    # every request went upstream, with the client's key
    assert [e["scenario"] for e in journal(upstream.url, key)] == ["up-weather-call", "up-weather-answer", "up-haiku"]
    stopped(recorder)

    files = recorded_files(out)
    assert len(files) == 2, files  # one file per conversation
    text = "\n".join(files.values())
    assert key not in text and "secret-abc123" not in text  # keys never reach disk; --redact masks
    assert len(recorded_conversations(out)) == 3  # one scenario per turn
    checked = run("check", str(out))
    assert checked.returncode == 0, checked.stderr

    replayer = start("serve", "--scenarios", str(out), "--port", "0", "--speed", "0")
    served_processes.append(replayer)
    assert "mode" not in replayer.banner.splitlines()[0]  # plain scenarios: no record mode
    replay_key = f"sk-replay-{uuid.uuid4().hex}"  # another key: the upstream knows nothing of it
    with sdk(replayer, replay_key) as client:
        assert weather_loop(client) == live_weather
        assert haiku(client, "Write a haiku about autumn, secret-abc123.") == live_haiku
    replayed = {e["scenario"] for e in journal(replayer.url, replay_key)}
    assert replayed == {f"rec-{h}" for h in recorded_conversations(out)}  # each turn by its recording
    assert journal(upstream.url, replay_key) == []
    stopped(replayer)


BAD_FLAGS = [
    (("record", "--upstream", "ftp://x"), "--upstream: expected an http:// or https:// URL, got 'ftp://x'"),
    (("record", "--out", "somewhere"), "the following arguments are required: --upstream"),
    (("record", "--upstream", "http://127.0.0.1:9/api/v1", "--redact", "("), "--redact: expected a regular"),
    (("serve", "--mode", "auto"), "--mode auto needs --upstream"),
    (("serve", "--mode", "record", "--cassette", "x"), "--mode record needs --upstream"),
    (("serve", "--mode", "auto", "--upstream", "localhost:8080"), "--upstream: expected an http://"),
]


@pytest.mark.parametrize(("args", "needle"), [pytest.param(*case, id=" ".join(case[0])) for case in BAD_FLAGS])
def test_bad_recording_flags_are_one_line_errors(args: tuple[str, ...], needle: str) -> None:
    done = run(*args, env=clean_env(), timeout=30)
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert needle in done.stderr, done.stderr
    assert done.stdout == ""


# -- serve --mode auto, then --mode replay -------------------------------------------------------


def test_serve_auto_records_what_is_missing_and_replays_it_once_the_upstream_is_gone(
    tmp_path: Path, served_processes: list[Served]
) -> None:
    key = f"sk-auto-{uuid.uuid4().hex}"
    cassette = tmp_path / "cassette"
    gone = start_upstream()
    try:
        token = script_upstream(gone, key)
        served = start(
            "serve", "--mode", "auto", "--upstream", gone.base_url, "--cassette", str(cassette),
            "--port", "0", "--speed", "0",
        )  # fmt: skip
        served_processes.append(served)
        first_line = served.banner.splitlines()[0]
        assert "auto mode" in first_line and gone.base_url in first_line, served.banner
        with sdk(served, key) as client:
            live = weather_loop(client)
        check_weather(live, token)
        assert len(journal(gone.url, key)) == 2  # both turns went upstream
        stopped(served)
    finally:
        gone.stop()
    files = recorded_files(cassette)
    assert len(files) == 1, files
    with pytest.raises(ConnectionRefusedError):  # the upstream is really gone
        socket.create_connection(("127.0.0.1", gone.port), timeout=2).close()
    # Hold its port (bound, never listening: connections are still refused), or the OS may give
    # it to the next server started with --port 0, which would then forward to itself.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        with contextlib.suppress(OSError):  # in TIME_WAIT: the OS gives it to nobody then either
            holder.bind(("127.0.0.1", gone.port))
        again = start(
            "serve", "--mode", "auto", "--upstream", gone.base_url, "--cassette", str(cassette),
            "--port", "0", "--speed", "0",
        )  # fmt: skip
        served_processes.append(again)
        with sdk(again, key) as client:
            assert weather_loop(client) == live  # replayed: nothing needed the upstream
            with pytest.raises(openai.InternalServerError) as info:  # a new conversation must go upstream
                haiku(client)
        assert info.value.status_code == 502
        assert f"could not reach the upstream {gone.base_url}/chat/completions" in str(info.value), info.value
        stopped(again)
        assert recorded_files(cassette) == files  # a failed forward records nothing

    replay = start("serve", "--mode", "replay", "--cassette", str(cassette), "--port", "0", "--speed", "0")
    served_processes.append(replay)
    assert "replaying" in replay.banner.splitlines()[0] and "nothing goes upstream" in replay.banner, replay.banner
    other = f"sk-other-{uuid.uuid4().hex}"
    with sdk(replay, other, max_retries=2) as client:  # the SDK's default retries: a 404 is not retried
        assert weather_loop(client) == live
        started = time.monotonic()
        with pytest.raises(openai.NotFoundError) as missing:
            haiku(client)
        took = time.monotonic() - started
    assert took < 2, took
    message = str(missing.value)
    assert "No recording matches this request" in message, message
    assert "replay mode" in message
    nearest = re.findall(r"\brec-[0-9a-f]{16}\b", message)
    assert nearest and {n.removeprefix("rec-") for n in nearest} <= recorded_conversations(cassette), message
    body = missing.value.body
    assert isinstance(body, dict) and body.get("code") == "no_recording", body
    entries = journal(replay.url, other)
    assert len(entries) == 3, entries  # the two replayed turns and the refused one, asked once
    assert entries[-1]["status"] == 404 and entries[-1]["unmatched"]
    stopped(replay)


def test_record_timing_writes_the_streams_timing(tmp_path: Path, served_processes: list[Served]) -> None:
    """``--timing``: the time to the first chunk, as the upstream took it, is in the file."""
    slow = BackgroundServer(Config(port=0, speed=1.0)).start()
    try:
        key = f"sk-timing-{uuid.uuid4().hex}"
        script = "name: slow\nmatch: {last_user: slowly}\nsteps: [{content: a b c, timing: {ttft_ms: 150}}]\n"
        assert httpx.post(slow.url + "/__mockrouter/scenarios", params={"key": key}, content=script).status_code == 201
        recorder = start("record", "--upstream", slow.base_url, "--out", str(tmp_path), "--port", "0", "--timing")
        served_processes.append(recorder)
        body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "slowly"}]}
        with httpx.stream(
            "POST", recorder.url + "/api/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}
        ) as response:
            assert response.status_code == 200 and b"[DONE]" in response.read()
        stopped(recorder)
    finally:
        slow.stop()
    [text] = recorded_files(tmp_path).values()
    [doc] = [d for d in yaml.safe_load_all(text) if d]
    assert doc["steps"][0]["timing"]["ttft_ms"] >= 120, doc["steps"][0]
