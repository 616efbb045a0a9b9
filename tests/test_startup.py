"""What ``mockrouter serve`` loads: only what its scenarios and requests use (#20, idle RSS).

faker (~6 MB), jsonschema (~4 MB), hypothesis (~8 MB), re2 (~2.5 MB), httpx and redis are
imported when something needs them, not at start: a faker call in a template (tried at load),
a ``match`` regex, a body that fails validation (the precise error), a fuzz step, ``--upstream``,
``--store redis://``. Checked on real ``serve`` processes through Python's own import log
(``PYTHONPROFILEIMPORTTIME``, on stderr), so nothing in the server exposes its modules.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from test_cli import BASE_URL, ROOT, Served, clean_env, read_lines, stop

#: Libraries a plain scenario does without (mockrouter serves no WebSocket at all).
OPTIONAL = ("faker", "jsonschema", "hypothesis", "re2", "httpx", "redis", "websockets", "wsproto")
IMPORTED = re.compile(r"^import time:\s+\d+ \|\s+\d+ \|\s*(?P<module>[\w.]+)$", re.MULTILINE)

PLAIN = """
    name: paced
    match: {model: bench/paced}
    steps:
      - content: "one two three"
        stream: {chunks: ["one ", "two ", "three"]}
        timing: {ttft_ms: 0, interval_ms: 5}
"""
#: A faker call (tried at load) and a ``match`` regex.
USES_MORE = """
    name: fancy
    match: {last_user: "(?i)hello"}
    steps:
      - content: "{{ faker.name() }}"
"""


class Serving:
    """A ``mockrouter serve`` whose imports Python logs to a file; ``imported()`` once it ended."""

    def __init__(self, log: Path, *args: str) -> None:
        self.log = log
        with log.open("w") as stderr:  # a file, not a pipe: nobody need read it while it serves
            process = subprocess.Popen(
                [sys.executable, "-m", "mockrouter", "serve", "--port", "0", *args],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                env={**clean_env(), "PYTHONPROFILEIMPORTTIME": "1"},
            )
        assert process.stdout is not None
        banner = read_lines(process.stdout, 3, timeout=30)
        found = BASE_URL.search(banner)
        if found is None:
            process.kill()
            process.communicate(timeout=5)
            pytest.fail(f"no banner (rc={process.returncode}): {banner}\n{log.read_text()[-3000:]}")
        self.served = Served(process, int(found["port"]), banner)

    def chat(self, body: dict[str, object]) -> httpx.Response:
        return httpx.post(
            self.served.url + "/api/v1/chat/completions",
            json=body,
            headers={"authorization": "Bearer sk-test-startup"},
            timeout=30,
        )

    def imported(self) -> set[str]:
        """The top-level packages the process imported in its whole life (it is stopped here)."""
        code, _, _ = stop(self.served)
        assert code == 0
        modules = IMPORTED.findall(self.log.read_text())
        assert "uvicorn" in modules and "mockrouter.http.app" in modules  # the log is what it should be
        return {m.split(".")[0] for m in modules}


@pytest.fixture
def serving(tmp_path: Path, served_processes: list[Served]) -> Iterator[Callable[..., Serving]]:
    count = 0

    def start(*args: str) -> Serving:
        nonlocal count
        count += 1
        serving = Serving(tmp_path / f"imports-{count}.log", *args)
        served_processes.append(serving.served)
        return serving

    yield start


def scenario_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "scenario.yaml"
    path.write_text(textwrap.dedent(text))
    return os.fspath(path)


def test_a_plain_scenario_is_served_without_the_optional_libraries(
    serving: Callable[..., Serving], tmp_path: Path
) -> None:
    server = serving("--no-builtin", "--scenarios", scenario_file(tmp_path, PLAIN))
    streamed = server.chat({"model": "bench/paced", "stream": True, "messages": [{"role": "user", "content": "go"}]})
    assert streamed.status_code == 200 and "three" in streamed.text
    echoed = server.chat({"model": "any/model", "messages": [{"role": "user", "content": "hello there"}]})
    assert echoed.json()["choices"][0]["message"]["content"] == "hello there"
    imported = server.imported()
    assert "jsonschema_rs" in imported  # scenarios and requests are still validated
    assert sorted(imported.intersection(OPTIONAL)) == []


def test_what_a_scenario_or_a_request_uses_is_imported_then(serving: Callable[..., Serving], tmp_path: Path) -> None:
    server = serving("--no-builtin", "--scenarios", scenario_file(tmp_path, USES_MORE))
    named = server.chat({"model": "any/model", "messages": [{"role": "user", "content": "Hello"}]})
    assert named.status_code == 200
    assert named.json()["choices"][0]["message"]["content"] not in ("", "Hello")  # fancy's faker name, not echo
    invalid = server.chat({"model": "any/model", "messages": "not a list"})
    assert invalid.status_code == 400 and "messages" in invalid.text
    imported = server.imported()
    assert {"faker", "re2", "jsonschema"} <= imported
    assert sorted(imported.intersection({"hypothesis", "httpx", "redis"})) == []


def test_the_builtins_bring_faker_when_lorem_answers_and_hypothesis_when_fuzz_does(
    serving: Callable[..., Serving],
) -> None:
    idle = serving()
    assert sorted(idle.imported().intersection(OPTIONAL)) == []  # lorem's faker call is not tried at load
    server = serving()
    lorem = server.chat({"model": "mockrouter/lorem", "messages": [{"role": "user", "content": "x"}]})
    assert lorem.status_code == 200 and len(lorem.json()["choices"][0]["message"]["content"]) > 50
    fuzzed = server.chat({"model": "mockrouter/fuzz", "messages": [{"role": "user", "content": "x"}]})
    assert fuzzed.status_code == 200 and "x-mockrouter-seed" in fuzzed.headers
    imported = server.imported()
    assert {"faker", "hypothesis"} <= imported
    assert sorted(imported.intersection({"jsonschema", "re2", "httpx", "redis", "websockets"})) == []


def test_a_websocket_upgrade_is_answered_as_http_without_a_websocket_library(serving: Callable[..., Serving]) -> None:
    server = serving("--no-builtin")
    with socket.create_connection(("127.0.0.1", server.served.port), timeout=10) as sock:
        sock.sendall(
            b"GET /api/v1/realtime HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        answer = b""
        while b"}}" not in answer and (more := sock.recv(4096)):
            answer += more
    assert answer.startswith(b"HTTP/1.1 404 "), answer
    assert b'"No route for GET /api/v1/realtime."' in answer  # the dialect's error, not uvicorn's 500
    assert "websockets" not in server.imported()
    log = server.log.read_text()
    assert "Unsupported upgrade request." in log
    assert "No supported WebSocket library" not in log  # uvicorn's install advice would mislead
