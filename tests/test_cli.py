"""The command line: ``python -m mockrouter check | scenarios | serve | --version``.

SPEC ("Command line"): ``check`` names file, line and field and exits 1 on any error;
``scenarios`` lists scenarios; ``serve`` prints the base URL, the dialect and how many
scenarios it loaded, reads ``MOCKROUTER_*`` environment variables, and shuts down cleanly on
Ctrl-C.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

import httpx
import pytest

import mockrouter
from mockrouter.scenario.loader import load_builtin

ROOT = Path(__file__).resolve().parent.parent
BUILTIN_NAMES = [s.name for s in load_builtin()]
ERROR_LINE = re.compile(r"^(?P<file>.+?):(?P<line>\d+): (?P<field>\S+): (?P<message>.+)$")


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mockrouter", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env() -> dict[str, str]:
    """The environment without any MOCKROUTER_* variable a developer may have set."""
    return {k: v for k, v in os.environ.items() if not k.startswith("MOCKROUTER_")}


# -- --version -------------------------------------------------------------------------------


def test_version() -> None:
    done = run("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"mockrouter {mockrouter.__version__}"


def test_no_command_is_a_usage_error() -> None:
    done = run()
    assert done.returncode == 2
    assert done.stderr == "mockrouter: error: the following arguments are required: COMMAND (see 'mockrouter --help')\n"


@pytest.mark.parametrize(
    "args",
    [
        ("serve", "--port"),
        ("serve", "--bogus"),
        ("serve", "--dialect", "gpt"),
        ("fuzz",),
        ("report", "--max-retries", "x"),
    ],
    ids=" ".join,
)
def test_a_usage_error_is_one_line_naming_the_help(args: tuple[str, ...]) -> None:
    done = run(*args, env=clean_env())
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"mockrouter {args[0]}: error: ")
    assert done.stderr.endswith(f"(see 'mockrouter {args[0]} --help')\n")


# -- check -----------------------------------------------------------------------------------


def test_check_builtin_scenarios_passes() -> None:
    done = run("check", "scenarios")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert f"{len(BUILTIN_NAMES)} scenario" in done.stdout


def test_check_broken_file_names_file_line_and_field(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "name: broken\n"
        "steps:\n"
        "  - content: hello\n"
        "    stram: {chunk_tokens: 2}\n"
        "  - error:\n"
        "      status: abc\n"
    )  # fmt: skip
    done = run("check", str(broken))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    found = [m.groupdict() for line in done.stderr.splitlines() if (m := ERROR_LINE.match(line))]
    assert {(f["file"], f["line"], f["field"]) for f in found} == {
        (str(broken), "4", "steps[0].stram"),
        (str(broken), "6", "steps[1].error.status"),
    }
    assert any("did you mean 'stream'" in f["message"] for f in found)


def test_check_reports_every_bad_file_and_still_checks_good_ones(tmp_path: Path) -> None:
    (tmp_path / "a-good.yaml").write_text("name: good\nsteps: [{content: fine}]\n")
    (tmp_path / "b-bad.yaml").write_text("name: bad\nsteps: [{content: fine, bogus: 1}]\n")
    (tmp_path / "c-syntax.yml").write_text("name: syntax\nsteps: [\n")
    done = run("check", str(tmp_path))
    assert done.returncode == 1
    assert str(tmp_path / "b-bad.yaml") + ":2: steps[0].bogus: " in done.stderr
    assert str(tmp_path / "c-syntax.yml") + ":" in done.stderr
    assert "a-good.yaml" not in done.stderr


def test_check_a_missing_path_fails(tmp_path: Path) -> None:
    done = run("check", str(tmp_path / "nope.yaml"))
    assert done.returncode == 1
    assert "nope.yaml" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("text", "line", "field", "needles"),
    [
        pytest.param(
            "name: bad-output\nsteps:\n  - content: fine\n  - error:\n"
            "      status: 502\n      metadata: {provider_name: 7}\n",
            4,
            "steps[1]",
            ["openrouter error", "provider_name"],
            id="error-metadata",
        ),
        pytest.param(
            # the sample requests have no `user`: the name renders empty
            'name: empty-tool\nsteps:\n  - tool_calls:\n      - name: "{{ request.user }}"\n',
            3,
            "steps[0]",
            ["chat-response", "tool_calls[0].function.name"],
            id="tool-call-name-renders-empty",
        ),
    ],
)
def test_check_flags_a_step_whose_output_is_schema_invalid(
    text: str, line: int, field: str, needles: list[str], tmp_path: Path
) -> None:
    """Steps that load fine but render responses the dialect's schema rejects.

    The scenario schema allows any ``metadata`` mapping and any tool name template; the
    openrouter error schema wants ``metadata.provider_name`` to be a string, and every chat
    schema wants a non-empty function name. Only the output check can catch these.
    """
    bad = tmp_path / "bad-output.yaml"
    bad.write_text(text)
    done = run("check", str(bad))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    found = [m.groupdict() for line in done.stderr.splitlines() if (m := ERROR_LINE.match(line))]
    assert found, done.stderr
    for problem in found:
        assert (problem["file"], problem["line"], problem["field"]) == (str(bad), str(line), field)
    for needle in needles:
        assert any(needle in problem["message"] for problem in found), (needle, done.stderr)


def test_check_does_not_flag_deliberate_breaks(tmp_path: Path) -> None:
    ok = tmp_path / "faults.yaml"
    ok.write_text(
        "name: raw-502\n"
        "steps:\n"
        "  - error: {status: 502, body: '<html>Bad gateway</html>', content_type: text/html}\n"
        "---\n"
        "name: garbage\n"
        "steps:\n"
        "  - content: soon broken\n"
        "    fault: {kind: malformed, after_chunks: 1}\n"
    )
    done = run("check", str(ok))
    assert done.returncode == 0, done.stderr
    assert "2 scenario" in done.stdout


def test_check_flags_a_fault_beyond_the_stream(tmp_path: Path) -> None:
    """`one two` streams at most 5 data events (openrouter: role + 2 pieces + finish + usage): a
    fault after 5 fires (before [DONE]); after 6 it never would, silently, so check says so."""
    path = tmp_path / "late.yaml"
    path.write_text(
        "name: late\n"
        "steps:\n"
        "  - content: one two\n"
        "    fault: {kind: disconnect, after_chunks: 5}\n"
        "  - content: one two\n"
        "    fault: {kind: truncate, after_chunks: 6}\n"
        "  - content: '{{ request.last_user }}'\n"  # length depends on the request: not judged
        "    fault: {kind: error, after_chunks: 600}\n"
        "chaos:\n"
        "  rate: 0.5\n"
        "  faults:\n"
        "    - content: one two\n"
        "      fault: {kind: stall, after_chunks: 99}\n"
    )
    done = run("check", str(path))
    assert done.returncode == 1
    found = [m.groupdict() for line in done.stderr.splitlines() if (m := ERROR_LINE.match(line))]
    assert [(p["file"], p["line"], p["field"]) for p in found] == [
        (str(path), "5", "steps[1].fault.after_chunks"),
        (str(path), "12", "chaos.faults[0].fault.after_chunks"),
    ], done.stderr
    assert "after_chunks 6 is beyond the stream, which has at most 5 data events" in found[0]["message"]
    assert "the truncate fault never fires" in found[0]["message"]
    assert "the stall fault never fires" in found[1]["message"]


# -- scenarios -------------------------------------------------------------------------------


def test_scenarios_lists_the_builtins() -> None:
    done = run("scenarios")
    assert done.returncode == 0, done.stderr
    listed = {line.split()[0] for line in done.stdout.splitlines() if line and not line[0].isspace()}
    assert set(BUILTIN_NAMES) <= listed
    for name in ("echo", "tool-call", "rate-limited", "overloaded", "stall"):
        assert name in listed


def test_scenarios_of_a_path_lists_its_scenarios_with_match_and_steps(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(
        "name: mine-one\n"
        "description: First of mine.\n"
        'match: {model: "acme/*"}\n'
        "steps: [{content: a}, {content: b}]\n"
        "---\n"
        "name: mine-two\n"
        "steps: [{content: c}]\n"
    )
    done = run("scenarios", str(path))
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line and not line[0].isspace()]
    assert [line.split()[0] for line in lines] == ["mine-one", "mine-two"]
    assert "2 step" in lines[0]
    assert "acme/*" in lines[0]
    assert "1 step" in lines[1]
    assert "First of mine." in done.stdout
    assert "echo" not in done.stdout


def test_scenarios_of_a_broken_path_fails(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\nsteps: [{content: a, bogus: 1}]\n")
    done = run("scenarios", str(path))
    assert done.returncode == 1
    assert f"{path}:2: steps[0].bogus" in done.stderr


# -- serve -----------------------------------------------------------------------------------


class Served:
    def __init__(self, process: subprocess.Popen[str], port: int, banner: str) -> None:
        self.process = process
        self.port = port
        self.banner = banner

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


BASE_URL = re.compile(r"base URL: http://(?P<host>[^\s/]+):(?P<port>\d+)/api/v1")
SHUTDOWN = re.compile(r"^shutting down \((SIGINT|SIGTERM)\)$")


def read_lines(stream: IO[str], count: int, timeout: float) -> str:
    """Up to ``count`` lines of ``stream`` (fewer if it ends or ``timeout`` passes)."""
    lines: list[str] = []

    def read() -> None:
        while len(lines) < count and (line := stream.readline()):
            lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    return "".join(lines)


def start_serve(*args: str, env: dict[str, str] | None = None) -> Served:
    """``mockrouter serve`` in a subprocess; returns once its banner is out.

    The banner is printed once the server listens and the app has started: the health check
    right after it must answer at once, on the port the banner names (no polling).
    """
    return start_command("serve", *args, env=env)


def start_command(command: str, *args: str, env: dict[str, str] | None = None) -> Served:
    """``mockrouter COMMAND ARGS`` (a command that serves: ``serve`` or ``record``), as
    :func:`start_serve` starts it."""
    process = subprocess.Popen(
        [sys.executable, "-m", "mockrouter", command, *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**clean_env(), **(env or {})},
    )
    assert process.stdout is not None
    banner = read_lines(process.stdout, 3, timeout=15)
    found = BASE_URL.search(banner)
    if found is None:
        process.kill()
        out, err = process.communicate(timeout=5)
        pytest.fail(f"no banner (rc={process.returncode})\nstdout: {banner}{out}\nstderr: {err}")
    served = Served(process, int(found["port"]), banner)
    try:
        health = httpx.get(served.url + "/__mockrouter/health", timeout=5)
        assert health.status_code == 200, health.text
    except BaseException:
        process.kill()
        process.communicate(timeout=5)
        raise
    return served


def stop(served: Served, sig: signal.Signals = signal.SIGINT) -> tuple[int, str, str]:
    """Signal the server and wait for it; returns (exit code, stdout after the banner, stderr)."""
    served.process.send_signal(sig)
    try:
        out, err = served.process.communicate(timeout=8)
    except subprocess.TimeoutExpired:
        served.process.kill()
        out, err = served.process.communicate(timeout=5)
        pytest.fail(f"serve did not exit within 8 s of {sig.name}\nstderr: {err}")
    return served.process.returncode, out, err


def test_serve_prints_banner_answers_health_and_exits_on_sigint(served_processes: list[Served]) -> None:
    port = free_port()
    served = start_serve("--port", str(port), "--speed", "0")
    served_processes.append(served)
    assert served.port == port
    assert f"http://127.0.0.1:{port}/api/v1" in served.banner
    assert "anyrouter" in served.banner
    assert re.search(rf"\b{len(BUILTIN_NAMES)} scenarios\b", served.banner), served.banner

    health = httpx.get(served.url + "/__mockrouter/health", timeout=5)
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    assert health.json()["dialect"] == "anyrouter"
    assert health.json()["scenarios"] == len(BUILTIN_NAMES)
    chat = httpx.post(
        served.url + "/api/v1/chat/completions",
        headers={"Authorization": "Bearer sk-cli"},
        json={"model": "x/y", "messages": [{"role": "user", "content": "ping from the CLI test"}]},
        timeout=5,
    )
    assert chat.status_code == 200
    assert chat.json()["choices"][0]["message"]["content"] == "ping from the CLI test"

    started = time.monotonic()
    code, out, err = stop(served)
    assert time.monotonic() - started < 5
    assert code == 0, err
    assert err == ""
    assert out == "shutting down (SIGINT)\n"
    with pytest.raises(httpx.TransportError):
        httpx.get(served.url + "/__mockrouter/health", timeout=1)


def test_serve_reads_port_and_dialect_from_the_environment(served_processes: list[Served]) -> None:
    port = free_port()
    served = start_serve(
        env={"MOCKROUTER_PORT": str(port), "MOCKROUTER_DIALECT": "openrouter", "MOCKROUTER_SPEED": "0"}
    )
    served_processes.append(served)
    assert f"http://127.0.0.1:{port}/api/v1" in served.banner
    assert "openrouter" in served.banner
    assert httpx.get(served.url + "/__mockrouter/health", timeout=5).json()["dialect"] == "openrouter"
    chat = httpx.post(
        served.url + "/api/v1/chat/completions",
        headers={"Authorization": "Bearer sk-cli-env"},
        json={"model": "x/y", "messages": [{"role": "user", "content": "hi"}]},
        timeout=5,
    )
    assert chat.status_code == 200
    assert chat.json()["id"].startswith("gen-")
    code, _, err = stop(served)
    assert code == 0, err


def test_serve_flags_beat_the_environment_and_count_user_scenarios(
    tmp_path: Path, served_processes: list[Served]
) -> None:
    (tmp_path / "extra.yaml").write_text(
        "name: cli-extra\nsteps: [{content: extra}]\n---\nname: cli-more\nsteps: [{content: more}]\n"
    )
    port = free_port()
    served = start_serve(
        "--port", str(port), "--dialect", "anyrouter", "--speed", "0", "--scenarios", str(tmp_path),
        env={"MOCKROUTER_PORT": "1", "MOCKROUTER_DIALECT": "openrouter"},
    )  # fmt: skip
    served_processes.append(served)
    assert "anyrouter" in served.banner
    assert re.search(rf"\b{len(BUILTIN_NAMES) + 2} scenarios\b", served.banner), served.banner
    chat = httpx.post(
        served.url + "/api/v1/chat/completions",
        headers={"Authorization": "Bearer sk-cli-extra"},
        json={"model": "mockrouter/cli-extra", "messages": [{"role": "user", "content": "hi"}]},
        timeout=5,
    )
    assert chat.json()["choices"][0]["message"]["content"] == "extra"
    code, _, err = stop(served)
    assert code == 0, err


def test_serve_with_a_broken_scenario_file_fails_with_its_location(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: b\nsteps:\n  - content: x\n    stram: 1\n")
    done = run("serve", "--port", str(free_port()), "--scenarios", str(broken), env=clean_env(), timeout=20)
    assert done.returncode == 1
    assert f"{broken}:4: steps[0].stram" in done.stderr
    assert "Traceback" not in done.stderr


def test_serve_rejects_a_bad_speed() -> None:
    done = run("serve", "--port", str(free_port()), "--speed", "-1", env=clean_env(), timeout=20)
    assert done.returncode == 2
    assert done.stderr == (
        "mockrouter serve: error: argument --speed: expected a number >= 0 (0 skips every delay, 1 is real time),"
        " got '-1' (see 'mockrouter serve --help')\n"
    )


@pytest.mark.parametrize("speed", [-1.0, float("nan"), float("inf")])
def test_a_config_refuses_a_speed_that_is_no_delay_factor(speed: float) -> None:
    """What the flag refuses, a Config made in code refuses too (a NaN delay is no deadline)."""
    from mockrouter.core.config import Config
    from mockrouter.errors import ConfigError

    with pytest.raises(ConfigError, match=r"^--speed must be a number >= 0$"):
        Config(speed=speed)
