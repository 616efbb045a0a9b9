"""The README's "Record your own" recipes, run as written: the shell block's commands (with
a second mockrouter standing in for the real router, and a temporary folder), and the client
between them. The client answers the same through the recorder and through the replay."""

from __future__ import annotations

import contextlib
import io
import shlex
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from mockrouter.http.server import BackgroundServer
from tests.recipes import recipe
from tests.test_cli import ROOT, Served, clean_env, start_command, stop

REAL_ROUTER = "https://openrouter.ai/api/v1"
ANSWER = """
name: capital
match: {last_user: "(?i)capital of France"}
steps:
  - content: Paris
    usage: {prompt_tokens: 17, completion_tokens: 1, total_tokens: 18}
"""


def _commands() -> list[list[str]]:
    """The ``mockrouter`` commands of the shell recipe, in order."""
    lines = [line.split("#", 1)[0].strip() for line in recipe("record-commands").code.splitlines()]
    return [shlex.split(line) for line in lines if line.startswith("mockrouter ")]


def _start(argv: list[str], env: dict[str, str]) -> Served:
    """``argv`` (``mockrouter COMMAND ...``) as a subprocess, once its banner is out."""
    assert argv[0] == "mockrouter"
    return start_command(argv[1], *argv[2:], env=env)


def _run_client(url: str, key: str) -> str:
    """The client recipe against ``url``; what it prints."""
    code = recipe("record-client").for_server(url)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), pytest.MonkeyPatch.context() as env:
        env.setenv("OPENROUTER_API_KEY", key)
        exec(compile(code, "record-client", "exec"), {"__name__": "recipe"})
    return printed.getvalue().strip()


def test_record_check_and_replay_as_the_readme_says(
    make_server: object, tmp_path: Path, served_processes: list[Served]
) -> None:
    upstream: BackgroundServer = make_server(dialect="openrouter")  # type: ignore[operator]
    key = "sk-or-v1-" + "5ecret" * 8
    upstream_key = "sk-upstream-" + "k3y" * 10
    scoped = httpx.post(upstream.url + "/__mockrouter/scenarios", params={"key": upstream_key}, content=ANSWER)
    assert scoped.status_code == 201  # the upstream answers only the key MOCKROUTER_UPSTREAM_KEY names
    folder = tmp_path / "recordings"
    record, check, serve = _commands()
    assert record[:2] == ["mockrouter", "record"] and check[:2] == ["mockrouter", "check"]
    assert serve[:2] == ["mockrouter", "serve"]

    def local(argv: list[str]) -> list[str]:
        swapped = [upstream.base_url if a == REAL_ROUTER else str(folder) if a == "recordings" else a for a in argv]
        return swapped + (["--port", "0"] if argv[1] in ("record", "serve") else [])

    env = {**clean_env(), "MOCKROUTER_UPSTREAM_KEY": upstream_key}  # the recipe's export
    recorder = _start(local(record), env)
    served_processes.append(recorder)
    assert "record mode" in recorder.banner and str(folder) in recorder.banner
    live = _run_client(recorder.url, key)
    assert live == "Paris 18"
    assert stop(recorder)[0] == 0

    checked = subprocess.run([sys.executable, "-m", *local(check)], capture_output=True, text=True, cwd=ROOT)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    files = sorted(folder.glob("*.yaml"))
    assert len(files) == 1 and files[0].name.startswith("what-is-the-capital-of-france")
    text = files[0].read_text()
    assert key not in text and upstream_key not in text and "5ecret" not in text
    assert text.startswith("# Recorded by mockrouter from http://127.0.0.1:")

    replay = _start(local(serve), clean_env())  # no upstream at all: replay only
    served_processes.append(replay)
    assert "replaying" in replay.banner
    assert _run_client(replay.url, "sk-any") == live
    assert stop(replay)[0] == 0


pytest_plugins = ["pytester"]


def test_the_pytest_cassette_recipe_records_then_replays_offline(
    make_server: object, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    upstream: BackgroundServer = make_server()  # type: ignore[operator]
    upstream_key = "sk-upstream-" + uuid.uuid4().hex
    scoped = httpx.post(upstream.url + "/__mockrouter/scenarios", params={"key": upstream_key}, content=ANSWER)
    assert scoped.status_code == 201
    pytester.makepyfile(test_capital=recipe("record-pytest").code)
    monkeypatch.setenv("MOCKROUTER_UPSTREAM_KEY", upstream_key)
    recorded = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--mockrouter-record=new", "--mockrouter-upstream", upstream.base_url
    )
    recorded.assert_outcomes(passed=1)
    [file] = (pytester.path / "cassettes" / "test_capital" / "test_capital").glob("*.yaml")
    assert upstream_key not in file.read_text() and "Paris" in file.read_text()
    monkeypatch.delenv("MOCKROUTER_UPSTREAM_KEY")
    replayed = pytester.runpytest_subprocess("-p", "no:cacheprovider")  # no upstream: the cassette only
    replayed.assert_outcomes(passed=1)
