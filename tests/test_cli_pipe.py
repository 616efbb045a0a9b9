"""Every command that prints survives a reader that goes away (``mockrouter report --json | head -c 600``).

The tests give the command a real pipe whose reading end is already closed, so every write
fails with EPIPE: the command must stop quietly (no ``BrokenPipeError`` traceback, no
"Exception ignored" at exit) with exit code 141, as a program stopped by SIGPIPE.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
from test_cli import ROOT, clean_env

from mockrouter.http.server import BackgroundServer
from mockrouter.tools.cli import EXIT_BROKEN_PIPE


def run_into_closed_pipe(*args: str, stderr_too: bool = False) -> subprocess.CompletedProcess[str]:
    """Run ``mockrouter ARGS`` with stdout (and stderr if ``stderr_too``) a pipe nobody reads."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            [sys.executable, "-m", "mockrouter", *args],
            cwd=ROOT,
            stdout=write_end,
            stderr=write_end if stderr_too else subprocess.PIPE,
            text=True,
            env=clean_env(),
            timeout=120,
        )
    finally:
        os.close(write_end)


def assert_quiet_stop(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == EXIT_BROKEN_PIPE, (done.returncode, done.stderr)
    assert done.stderr in ("", None), done.stderr


@pytest.fixture(scope="module")
def report_server() -> Iterator[BackgroundServer]:
    """A server with a journal, so that ``report`` has something to print."""
    with BackgroundServer() as server:
        for n in range(40):
            httpx.post(
                server.base_url + "/chat/completions",
                headers={"Authorization": f"Bearer sk-pipe-{n % 4}"},
                json={"model": "mockrouter/echo", "messages": [{"role": "user", "content": f"hello {n}"}]},
                timeout=10,
            )
        yield server


@pytest.mark.parametrize(
    "args",
    [
        ("--help",),
        ("--version",),
        ("serve", "--help"),
        ("check", "--help"),
        ("scenarios", "--help"),
        ("report", "--help"),
        ("fuzz", "--help"),
        ("scenarios",),
        ("check", "scenarios"),
    ],
    ids=" ".join,
)
def test_printing_into_a_closed_pipe_stops_quietly(args: tuple[str, ...]) -> None:
    assert_quiet_stop(run_into_closed_pipe(*args))


@pytest.mark.parametrize("json", [True, False], ids=["json", "table"])
def test_report_into_a_closed_pipe_stops_quietly(json: bool, report_server: BackgroundServer) -> None:
    assert_quiet_stop(run_into_closed_pipe("report", "--url", report_server.url, *(["--json"] if json else [])))


def test_fuzz_into_a_closed_pipe_stops_quietly(report_server: BackgroundServer) -> None:
    done = run_into_closed_pipe("fuzz", "--target", report_server.base_url, "--examples", "3", "--seed", "1")
    assert done.returncode == EXIT_BROKEN_PIPE, done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr, done.stderr


def test_errors_into_a_closed_pipe_stop_quietly() -> None:
    """``mockrouter check broken.yaml 2>&1 | head -1``: the error lines go to the closed pipe too."""
    done = run_into_closed_pipe("check", "/nonexistent-mockrouter.yaml", stderr_too=True)
    assert done.returncode == EXIT_BROKEN_PIPE


def test_report_json_through_head(report_server: BackgroundServer) -> None:
    """The command of the issue, through a shell: ``head`` keeps 600 bytes, nothing else is said."""
    command = f"{sys.executable} -m mockrouter report --json --url {report_server.url} | head -c 600"
    done = subprocess.run(["sh", "-c", command], cwd=ROOT, capture_output=True, text=True, env=clean_env(), timeout=60)
    assert done.stderr == ""
    assert len(done.stdout) <= 600
    assert done.stdout.startswith("{")
