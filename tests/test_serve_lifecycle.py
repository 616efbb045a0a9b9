"""`mockrouter serve` as a process: the warning beyond loopback, the header limit flag, and a
graceful shutdown (SIGTERM / SIGINT) that ends open streams, stalled ones included."""

from __future__ import annotations

import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from test_cli import Served, read_lines, start_serve, stop

from mockrouter.tools.cli import EXIT_LISTEN, EXIT_USAGE, parse_args

ROOT = Path(__file__).resolve().parent.parent
WARNING = "warning: listening beyond loopback without --admin-token"
SLOW = """\
name: slow-stream
steps:
  - content: "{content}"
    timing: {{interval_ms: 50}}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("MOCKROUTER_")}


class Serve:
    def __init__(self, *args: str) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mockrouter", "serve", "--port", str(self.port), *args],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
        )

    def wait_listening(self) -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        pytest.fail(f"serve did not listen (rc={self.process.poll()})")

    def stderr_lines_until(self, text: str, timeout: float) -> str:
        """stderr read so far, up to the line holding ``text`` (or until ``timeout``)."""
        assert self.process.stderr is not None
        seen = ""
        selector = selectors.DefaultSelector()
        selector.register(self.process.stderr, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        while text not in seen and time.monotonic() < deadline:
            if selector.select(timeout=0.1):
                line = self.process.stderr.readline()
                if not line:
                    break
                seen += line
        selector.close()
        return seen

    def finish(self) -> tuple[int | None, str]:
        if self.process.poll() is None:
            self.process.kill()
        _, err = self.process.communicate(timeout=10)
        return self.process.returncode, err


@pytest.fixture
def served() -> Iterator[list[Serve]]:
    started: list[Serve] = []
    yield started
    for s in started:
        s.finish()


# -- admin API beyond loopback ------------------------------------------------------------------


def test_serving_beyond_loopback_without_a_token_warns_at_start(served: list[Serve]) -> None:
    server = Serve("--host", "0.0.0.0", "--speed", "0")
    served.append(server)
    early = server.stderr_lines_until(WARNING, timeout=15)
    assert WARNING in early, early
    assert "admin API refuses every call" in early
    server.wait_listening()
    # and it does refuse, even from loopback: the rule follows the bind address
    assert httpx.get(server.url + "/__mockrouter/health", timeout=5).status_code == 401


def test_serving_beyond_loopback_with_a_token_does_not_warn(served: list[Serve]) -> None:
    server = Serve("--host", "0.0.0.0", "--speed", "0", "--admin-token", "s3cret")
    served.append(server)
    server.wait_listening()
    headers = {"X-Mockrouter-Admin-Token": "s3cret"}
    assert httpx.get(server.url + "/__mockrouter/health", headers=headers, timeout=5).status_code == 200
    server.process.send_signal(signal.SIGTERM)
    _, err = server.finish()
    assert WARNING not in err


def test_serving_on_loopback_does_not_warn(served: list[Serve]) -> None:
    server = Serve("--speed", "0")
    served.append(server)
    server.wait_listening()
    assert httpx.get(server.url + "/__mockrouter/health", timeout=5).status_code == 200
    server.process.send_signal(signal.SIGTERM)
    _, err = server.finish()
    assert WARNING not in err


# -- flags --------------------------------------------------------------------------------------


def test_max_header_flag_and_environment() -> None:
    assert parse_args(["serve"], environ={}).max_header == 32 * 1024
    assert parse_args(["serve", "--max-header", "4096"], environ={}).max_header == 4096
    assert parse_args(["serve"], environ={"MOCKROUTER_MAX_HEADER": "8192"}).max_header == 8192
    assert parse_args(["serve", "--max-header", "4096"], environ={"MOCKROUTER_MAX_HEADER": "8192"}).max_header == 4096


def test_serve_answers_431_over_the_max_header_flag(served: list[Serve]) -> None:
    server = Serve("--speed", "0", "--max-header", "2000")
    served.append(server)
    server.wait_listening()
    response = httpx.get(server.url + "/api/v1/models", headers={"x-pad": "a" * 3000}, timeout=5)
    assert response.status_code == 431
    assert "2000 bytes" in response.json()["error"]["message"]


# -- graceful shutdown --------------------------------------------------------------------------


class OpenStream(threading.Thread):
    """A streaming request held open in a thread; records how and when it ended."""

    def __init__(self, url: str, model: str) -> None:
        super().__init__(daemon=True)
        self.url, self.model = url, model
        self.started = threading.Event()
        self.events = 0
        self.ended_at: float | None = None
        self.outcome = ""

    def run(self) -> None:
        body = {"model": self.model, "stream": True, "messages": [{"role": "user", "content": "hold on"}]}
        headers = {"Authorization": "Bearer sk-shutdown"}
        try:
            with httpx.stream(
                "POST", self.url + "/api/v1/chat/completions", json=body, headers=headers, timeout=30
            ) as response:
                for line in response.iter_lines():
                    if line.startswith("data: "):
                        self.events += 1
                        self.started.set()
            self.outcome = "closed"
        except httpx.HTTPError as exc:  # the server ended the response early: also an end
            self.outcome = type(exc).__name__
        finally:
            self.ended_at = time.monotonic()
            self.started.set()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_shutdown_ends_open_streams_and_exits_within_seconds(
    sig: signal.Signals, served: list[Serve], tmp_path: Path
) -> None:
    (tmp_path / "slow.yaml").write_text(SLOW.format(content=" ".join(["word"] * 400)))  # ~20 s of stream
    server = Serve("--speed", "1", "--scenarios", str(tmp_path / "slow.yaml"))
    served.append(server)
    server.wait_listening()
    stalled = OpenStream(server.url, "mockrouter/stall")  # two chunks, then nothing until the client leaves
    slow = OpenStream(server.url, "mockrouter/slow-stream")
    for stream in (stalled, slow):
        stream.start()
        assert stream.started.wait(10), "the stream did not start"
    time.sleep(0.3)
    assert stalled.ended_at is None and slow.ended_at is None, "streams must be open at the signal"
    assert slow.events >= 2

    signalled = time.monotonic()
    server.process.send_signal(sig)
    try:
        server.process.wait(timeout=8)
    except subprocess.TimeoutExpired:
        pytest.fail(f"serve still running 8 s after {sig.name} with open streams")
    exited = time.monotonic() - signalled
    code, err = server.finish()
    for stream in (stalled, slow):
        stream.join(timeout=5)
        assert stream.ended_at is not None, "a client stream was left hanging"
        assert stream.ended_at - signalled < 8
    assert exited < 3, exited  # ~0.7 s measured; uvicorn alone waits out its 3 s graceful timeout
    assert code == 0, (code, err)
    assert err == ""


# -- the port, the banner, the end ----------------------------------------------------------------


def _run_serve(*args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mockrouter", "serve", "--speed", "0", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=_env(),
        timeout=timeout,
    )


@settings(max_examples=8, deadline=None)
@given(port=st.integers(max_value=-1) | st.integers(min_value=65536))
@example(port=99999)
@example(port=65536)
@example(port=-1)
def test_a_port_outside_0_to_65535_is_refused(port: int) -> None:
    done = _run_serve("--port", str(port))
    assert done.returncode == EXIT_USAGE
    assert done.stdout == "", "no banner for a port that cannot be used"
    assert done.stderr == (
        f"mockrouter serve: error: argument --port: expected a port number from 0 to 65535 (0: any free port),"
        f" got '{port}' (see 'mockrouter serve --help')\n"
    )


def test_port_0_listens_on_a_free_port_and_the_banner_names_it(served_processes: list[Served]) -> None:
    served = start_serve("--port", "0", "--speed", "0")  # reads the banner, then checks health on its port
    served_processes.append(served)
    assert served.port != 0
    assert f"  base URL: http://127.0.0.1:{served.port}/api/v1\n" in served.banner
    assert f"  admin:    http://127.0.0.1:{served.port}/__mockrouter/health\n" in served.banner


def test_the_banner_comes_once_the_port_answers(served_processes: list[Served]) -> None:
    """No polling: a connection and a health check straight after the banner succeed."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "mockrouter", "serve", "--port", str(port), "--speed", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    served_processes.append(Served(process, port, ""))
    assert process.stdout is not None
    banner = read_lines(process.stdout, 3, timeout=15)
    assert f"base URL: http://127.0.0.1:{port}/api/v1" in banner, banner
    with socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
    assert httpx.get(f"http://127.0.0.1:{port}/__mockrouter/health", timeout=5).status_code == 200


def test_a_port_in_use_is_one_line_and_exit_3() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _run_serve("--port", str(port))
    assert done.returncode == EXIT_LISTEN == 3
    assert done.stdout == "", "no banner when nothing listens"
    assert done.stderr == (
        f"error: port {port} is in use on 127.0.0.1: stop what uses it, or choose another port with --port"
        " (0: any free port)\n"
    )


@pytest.mark.parametrize(
    ("host", "message"),
    [
        ("no-such-host.invalid", "cannot listen on no-such-host.invalid: no such host"),
        ("192.0.2.1", "cannot listen on 192.0.2.1: not an address of this machine"),
    ],
)
def test_an_address_that_cannot_be_listened_on_is_one_line_and_exit_3(host: str, message: str) -> None:
    done = _run_serve("--host", host, "--port", "0", "--admin-token", "t")
    assert done.returncode == EXIT_LISTEN
    assert done.stdout == ""
    assert done.stderr == f"error: {message}\n"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_prints_one_line_and_exits_0(sig: signal.Signals, served_processes: list[Served]) -> None:
    served = start_serve("--port", "0", "--speed", "0")
    served_processes.append(served)
    code, out, err = stop(served, sig)
    assert code == 0, err
    assert out == f"shutting down ({sig.name})\n"
    assert err == ""
