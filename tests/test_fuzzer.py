"""The conformance fuzzer: silent against mockrouter, loud (with reproducers) against broken servers."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mockrouter.core.config import Config
from mockrouter.core.schemas import SchemaRegistry
from mockrouter.http.server import BackgroundServer
from mockrouter.tools import fuzzer
from mockrouter.tools.cli import main

SCHEMAS = SchemaRegistry()


def test_mockrouter_itself_passes(server: BackgroundServer, dialect: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["fuzz", "--target", server.base_url, "--examples", "40", "--seed", "3", "--dialect", dialect, "--api-key", "k"]
    )
    out = capsys.readouterr()
    assert code == 0, out.out
    assert "no failures" in out.out and "FAILED" not in out.out
    assert f"({dialect} dialect, seed 3)" in out.out
    total = next(line for line in out.out.splitlines() if line.startswith("total"))
    assert total.split()[1:] == ["44", "44", "0"]  # 40 generated + 4 protocol cases
    assert "[   44/44] 0 failing" in out.err  # progress


@pytest.mark.parametrize("surface", ["messages", "responses"])
def test_mockrouter_itself_passes_on_every_surface(
    server: BackgroundServer, dialect: str, surface: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--examples", "40", "--seed", "4", "--dialect", dialect, "--surface", surface, "--api-key", "k"]
    code = main(["fuzz", "--target", server.base_url, *args])
    out = capsys.readouterr()
    assert code == 0, out.out
    assert "no failures" in out.out and "FAILED" not in out.out
    assert f"({dialect} dialect, {surface} surface, seed 4)" in out.out
    protocol = 5 if surface == "responses" else 4  # responses: an unknown previous_response_id too
    total = next(line for line in out.out.splitlines() if line.startswith("total"))
    assert total.split()[1:] == [str(40 + protocol), str(40 + protocol), "0"]
    counts = {
        line.split()[0] + line.split()[1]: line.split()[2] for line in out.out.splitlines() if line[:5] == "valid"
    }
    assert int(counts["valid(json)"]) > 0 and int(counts["valid(stream)"]) > 0


@pytest.mark.parametrize("surface", ["messages", "responses"])
def test_a_scenario_that_answers_garbage_is_caught_on_every_surface(
    server: BackgroundServer, api_key: str, add_scenarios: Callable[[str], list[str]], surface: str
) -> None:
    """A real mockrouter whose scenario (for the fuzzer's model) breaks every answer mid-way."""
    add_scenarios(
        "name: garbage\nmatch: {model: openai/gpt-4o-mini}\n"
        "steps:\n  - content: hello there\n    fault: {kind: malformed, after_chunks: 1}\n"
    )
    report = fuzzer.run(server.base_url, api_key=api_key, examples=25, seed=8, surface=surface)
    by_check = {f.problem.check: f for f in report.failures}
    assert {"json", "sse"} <= set(by_check), report.failures
    assert "not JSON" in by_check["sse"].problem.message
    minimal = by_check["json"]
    assert minimal.shrunk and minimal.case.surface == surface
    if surface == "messages":  # shrunk to the smallest request: one short user message
        assert minimal.case.body == {
            "model": "openai/gpt-4o-mini",
            "max_tokens": 1,
            "messages": [{"role": "user", "content": "a"}],
        }
    else:
        assert minimal.case.body == {"model": "openai/gpt-4o-mini", "input": ""}
    route = "/messages" if surface == "messages" else "/responses"
    assert f"{server.base_url}{route}" in minimal.curl
    assert ('"x-api-key: $MOCKROUTER_API_KEY"' in minimal.curl) == (surface == "messages")
    assert all(f.case.kind == "valid" for f in report.failures)  # invalid requests still get good errors


# -- a deliberately broken server ---------------------------------------------------------------


class BrokenRouter:
    """An ASGI app that gets each answer slightly wrong: errors in a bare envelope, a JSON
    completion without ``usage``, stream chunks without ``choices`` and no ``[DONE]``."""

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = dict(scope["headers"])
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if scope["path"].endswith("/responses"):  # no Responses API here
            return await self.answer(send, 404, b"application/json", b'{"error": {"message": "not found"}}')
        if scope["path"].endswith("/messages"):
            return await self.messages(send, headers, body)
        if b"authorization" not in headers or not isinstance(body, dict):
            return await self.answer(send, 400, b"application/json", b'{"error": "bad request"}')
        if SCHEMAS["chat-request"].violation(body) is not None:
            return await self.answer(send, 400, b"application/json", b'{"message": "invalid"}')
        envelope = {"id": "chatcmpl-abc123", "created": 1700000000, "model": body["model"]}
        if body.get("stream"):
            chunk = {**envelope, "object": "chat.completion.chunk"}
            return await self.answer(send, 200, b"text/event-stream", b"data: " + json.dumps(chunk).encode() + b"\n\n")
        message = {"role": "assistant", "content": "hi"}
        completion = {**envelope, "object": "chat.completion", "choices": [{"index": 0, "message": message}]}
        completion["choices"][0]["finish_reason"] = "stop"
        return await self.answer(send, 200, b"application/json", json.dumps(completion).encode())

    async def messages(self, send: Callable[..., Any], headers: dict[bytes, bytes], body: Any) -> None:
        """Messages done wrong: errors in OpenAI's envelope (not Anthropic's), a bare 401
        type on a 400, and streams whose events carry no ``event:`` name (the anthropic SDK
        skips such events: the client sees an empty answer)."""
        if b"x-api-key" not in headers:
            error = {"type": "error", "error": {"type": "invalid_request_error", "message": "no key"}}
            return await self.answer(send, 401, b"application/json", json.dumps(error).encode())
        if not isinstance(body, dict) or SCHEMAS["messages-request"].violation(body) is not None:
            error = {"error": {"message": "invalid", "type": "invalid_request_error"}}
            return await self.answer(send, 400, b"application/json", json.dumps(error).encode())
        message = {"id": "msg_1", "type": "message", "role": "assistant", "model": body["model"], "content": []}
        message |= {"stop_reason": "end_turn", "stop_sequence": None, "usage": {"input_tokens": 1, "output_tokens": 1}}
        if not body.get("stream"):
            return await self.answer(send, 200, b"application/json", json.dumps(message).encode())
        events = [{"type": "message_start", "message": {**message, "stop_reason": None}}, {"type": "message_stop"}]
        sse = b"".join(b"data: " + json.dumps(event).encode() + b"\n\n" for event in events)
        return await self.answer(send, 200, b"text/event-stream", sse)

    @staticmethod
    async def answer(send: Callable[..., Any], status: int, content_type: bytes, body: bytes) -> None:
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", content_type)]})
        await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module")
def broken_url() -> Iterator[str]:
    server = BackgroundServer(Config(port=0), app=BrokenRouter()).start()  # type: ignore[arg-type]
    yield server.base_url
    server.stop()


@pytest.fixture(scope="module")
def broken_report(broken_url: str) -> fuzzer.FuzzReport:
    return fuzzer.run(broken_url, examples=30, seed=5)


def test_each_break_is_reported_with_a_minimal_reproducer(broken_url: str, broken_report: fuzzer.FuzzReport) -> None:
    report = broken_report
    assert not report.ok
    by_check = {f.problem.check: f for f in report.failures}
    assert {"error-schema", "response-schema", "chunk-schema", "done"} <= set(by_check)
    assert "'usage' is required" in by_check["response-schema"].problem.message
    assert "'choices' is required" in by_check["chunk-schema"].problem.message
    # hypothesis shrank each failing request to the smallest one that still fails that way
    minimal = by_check["response-schema"]
    assert minimal.shrunk and minimal.seed == 5
    assert minimal.case.body == {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": ""}]}
    assert by_check["chunk-schema"].case.body["stream"] is True
    assert len(json.dumps(by_check["chunk-schema"].case.body)) < 120
    invalid = by_check["error-schema"].case
    assert invalid.kind in ("invalid", "protocol")
    for failure in report.failures:
        assert failure.curl.startswith("curl -sS -i") and broken_url in failure.curl
        assert "Bearer sk-mockrouter-fuzz" in failure.curl or failure.case.auth is False


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_the_printed_curl_command_reproduces_the_failure(broken_report: fuzzer.FuzzReport) -> None:
    failure = next(f for f in broken_report.failures if f.problem.check == "response-schema")
    result = subprocess.run(["sh", "-c", failure.curl], capture_output=True, timeout=30, check=True)
    assert result.stdout.startswith(b"HTTP/1.1 200")
    body = result.stdout.split(b"\r\n\r\n", 1)[1]
    assert SCHEMAS["chat-response.anyrouter"].violation(json.loads(body)) is not None


def test_cli_exits_1_and_prints_reproducers(broken_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["fuzz", "--target", broken_url, "--examples", "20", "--seed", "11", "--no-shrink"])
    out = capsys.readouterr().out
    assert code == 1
    assert "FAILED [response-schema]" in out and "FAILED [done]" in out
    assert "seed: 11" in out and "curl -sS -i" in out
    assert f"rerun: mockrouter fuzz --target {broken_url} --seed 11 --examples 20" in out


def test_a_real_mockrouter_without_validation_is_caught(make_server: Callable[..., BackgroundServer]) -> None:
    """``--no-validate`` answers broken requests with 200: every such answer is a finding."""
    lax = make_server(validate=False)
    report = fuzzer.run(lax.base_url, examples=25, seed=2, api_key="sk-secret-key", shrink=False)
    [failure] = report.failures
    assert failure.problem.check == "status" and "expected a 4xx" in failure.problem.message
    assert failure.case.kind == "invalid"
    assert "$MOCKROUTER_API_KEY" in failure.curl and "sk-secret-key" not in failure.curl  # no key in reports


def test_a_broken_messages_surface_is_reported(broken_url: str) -> None:
    report = fuzzer.run(broken_url, examples=30, seed=6, surface="messages")
    by_check = {f.problem.check: f for f in report.failures}
    assert {"error-schema", "error-type", "sse"} <= set(by_check), report.failures
    assert "messages-error" in by_check["error-schema"].problem.message
    assert "'authentication_error'" in by_check["error-type"].problem.message  # its 401 said invalid_request_error
    assert "has no event: name" in by_check["sse"].problem.message
    assert by_check["sse"].case.body["stream"] is True
    assert "x-api-key: sk-mockrouter-fuzz" in by_check["sse"].curl and f"{broken_url}/messages" in by_check["sse"].curl


def test_a_server_without_the_surface_is_said_in_one_line(broken_url: str) -> None:
    done = run_fuzz("--target", broken_url, "--surface", "responses")
    assert_refused_in_one_line(done, "404", f"POST {broken_url}/responses")


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="dialect"):
        fuzzer.run("http://127.0.0.1:9/api/v1", dialect="klingon")
    with pytest.raises(ValueError, match="examples"):
        fuzzer.run("http://127.0.0.1:9/api/v1", examples=0)
    with pytest.raises(ValueError, match="surface"):
        fuzzer.run("http://127.0.0.1:9/api/v1", surface="completions")


# -- the probe: a target that is no router API is said at once (exit 2), not fuzzed -----------------


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_fuzz(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOCKROUTER_")}
    return subprocess.run(
        [sys.executable, "-m", "mockrouter", "fuzz", "--examples", "20", "--seed", "1", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def assert_refused_in_one_line(done: subprocess.CompletedProcess[str], *words: str) -> str:
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stdout == ""  # no table, no FAILED cases, no "passed"
    [line] = done.stderr.splitlines()
    assert line.startswith("error: ") and "Traceback" not in line
    for word in words:
        assert word in line
    return line


def test_a_closed_port_is_said_in_one_line() -> None:
    target = f"http://127.0.0.1:{closed_port()}/api/v1"
    assert_refused_in_one_line(run_fuzz("--target", target), target, "cannot reach")
    with pytest.raises(fuzzer.TargetError, match="cannot reach"):
        fuzzer.run(target, examples=2, seed=1, timeout=2)


def test_the_server_root_instead_of_the_api_base_is_said_with_the_fix(anyrouter_server: BackgroundServer) -> None:
    """The root of a real mockrouter answers 404 to every case: invalid ones used to pass."""
    done = run_fuzz("--target", anyrouter_server.url)
    line = assert_refused_in_one_line(done, "404", f"--target {anyrouter_server.url}/api/v1")
    assert "not a router API" in line


def test_a_refused_key_is_said_in_one_line(make_server: Callable[..., BackgroundServer], tmp_path: Path) -> None:
    keys = tmp_path / "keys.yaml"
    keys.write_text("keys:\n  - key: sk-the-only-key\n")
    strict = make_server(keys=keys)
    done = run_fuzz("--target", strict.base_url, "--api-key", "sk-someone-else")
    assert_refused_in_one_line(done, "401", "--api-key")
    assert run_fuzz("--target", strict.base_url, "--api-key", "sk-the-only-key").returncode == 0
    # on messages the key goes in x-api-key, as the anthropic SDK sends it
    done = run_fuzz("--target", strict.base_url, "--api-key", "sk-someone-else", "--surface", "messages")
    assert_refused_in_one_line(done, "401", f"POST {strict.base_url}/messages")
    done = run_fuzz("--target", strict.base_url, "--api-key", "sk-the-only-key", "--surface", "messages")
    assert done.returncode == 0, done.stdout + done.stderr
