"""``MOCKROUTER_*`` environment variables, run through the real command in a subprocess.

A variable is read only by the subcommand that uses it, and only when its flag is not on the
command line. A value that does not parse is one line on stderr naming the variable and the
form it expects (never the value of a secret), exit 2, no traceback. A variable set to the
empty string counts as unset.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from test_cli import Served, clean_env, free_port, run, start_serve, stop

from mockrouter.tools.cli import EXIT_USAGE

#: Characters an environment value can hold (no NUL, no lone surrogates).
ENV_CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
ANY_TEXT = st.text(ENV_CHARS, min_size=1, max_size=30)


def _not_matching(pattern: str) -> st.SearchStrategy[str]:
    """Non-empty text that does not match ``pattern`` (whole value, surrounding blanks ignored)."""
    return ANY_TEXT.filter(lambda s: not re.fullmatch(pattern, s.strip(), re.ASCII))


def _out_of(low: int, high: int | None = None) -> st.SearchStrategy[str]:
    """Whole numbers outside ``low..high``, written as text."""
    below = st.integers(max_value=low - 1)
    return (below | st.integers(min_value=high + 1) if high is not None else below).map(str)


NOT_A_WHOLE_NUMBER = _not_matching(r"-?[0-9]+")
NOT_A_NUMBER = _not_matching(r"[0-9.eE+-]*") | st.sampled_from(["-1", "-0.5", "inf", "nan", "1e999", "1_0"])
NOT_A_SWITCH = ANY_TEXT.filter(lambda s: s.strip().lower() not in {"1", "0", "true", "false", "yes", "no", "on", "off"})
NOT_A_TOKEN = st.builds(
    lambda head, bad, tail: "sk-" + head + bad + tail,
    st.text(string.ascii_letters, min_size=4, max_size=8),
    st.text(ENV_CHARS.filter(lambda c: not "!" <= c <= "~"), min_size=1, max_size=3),
    st.text(string.ascii_letters, max_size=5),
)
NOT_A_HOST = st.builds(
    lambda head, bad: head + bad + "x",
    st.text(string.ascii_lowercase, min_size=1, max_size=5),
    st.sampled_from(list(" /@#?\t,;*!")),
)
NOT_A_URL = ANY_TEXT.filter(lambda s: not re.match(r"https?://[^/\s]", s.strip(), re.IGNORECASE))
MISSING_PATH = st.text(string.ascii_lowercase, min_size=1, max_size=8).map(lambda s: f"/nonexistent-mockrouter/{s}")


@dataclass(frozen=True)
class Variable:
    name: str
    command: tuple[str, ...]  # a command line that reads the variable
    junk: st.SearchStrategy[str]
    secret: bool = False


SERVE = ("serve",)
REPORT = ("report",)
FUZZ = ("fuzz", "--target", "http://127.0.0.1:9/api/v1", "--examples", "1")
VARIABLES = [
    Variable("MOCKROUTER_HOST", SERVE, NOT_A_HOST),
    Variable("MOCKROUTER_PORT", SERVE, NOT_A_WHOLE_NUMBER | _out_of(0, 65535)),
    Variable("MOCKROUTER_SCENARIOS", SERVE, MISSING_PATH),
    Variable("MOCKROUTER_DIALECT", SERVE, ANY_TEXT.filter(lambda s: s.strip() not in {"anyrouter", "openrouter"})),
    Variable("MOCKROUTER_KEYS", SERVE, MISSING_PATH),
    Variable("MOCKROUTER_SEED", SERVE, NOT_A_WHOLE_NUMBER),
    Variable("MOCKROUTER_SPEED", SERVE, NOT_A_NUMBER),
    Variable("MOCKROUTER_NO_BUILTIN", SERVE, NOT_A_SWITCH),
    Variable("MOCKROUTER_ADMIN_TOKEN", SERVE, NOT_A_TOKEN, secret=True),
    Variable("MOCKROUTER_STRICT_MODELS", SERVE, NOT_A_SWITCH),
    Variable("MOCKROUTER_JOURNAL_SIZE", SERVE, NOT_A_WHOLE_NUMBER | _out_of(1)),
    Variable("MOCKROUTER_MAX_BODY", SERVE, NOT_A_WHOLE_NUMBER | _out_of(0)),
    Variable("MOCKROUTER_MAX_HEADER", SERVE, NOT_A_WHOLE_NUMBER | _out_of(1)),
    Variable("MOCKROUTER_USAGE_CHUNK", SERVE, ANY_TEXT.filter(lambda s: s.strip() not in {"repeat", "empty"})),
    Variable("MOCKROUTER_NO_VALIDATE", SERVE, NOT_A_SWITCH),
    Variable("MOCKROUTER_ACCESS_LOG", SERVE, NOT_A_SWITCH),
    Variable("MOCKROUTER_URL", REPORT, NOT_A_URL),
    Variable("MOCKROUTER_ADMIN_TOKEN", REPORT, NOT_A_TOKEN, secret=True),
    Variable("MOCKROUTER_API_KEY", FUZZ, NOT_A_TOKEN, secret=True),
]


def _safe_env(**extra: str) -> dict[str, str]:
    """A clean environment in which, were the junk accepted, serve would not take port 8080."""
    return {**clean_env(), "MOCKROUTER_PORT": "0", **extra}


def assert_one_line_naming(variable: Variable, value: str, command: tuple[str, ...]) -> None:
    env = _safe_env(**{variable.name: value})
    done = run(*command, env=env, timeout=20)
    lines = done.stderr.splitlines()
    assert done.returncode == EXIT_USAGE, (value, done.returncode, done.stderr)
    assert len(lines) == 1, done.stderr
    assert variable.name in lines[0], lines[0]
    assert "expected " in lines[0], lines[0]
    assert "Traceback" not in done.stderr
    if variable.secret:
        assert value not in lines[0] and "got" not in lines[0], "the error line shows a secret"
    assert done.stdout == "", "nothing is printed before the error"


@pytest.mark.parametrize("variable", VARIABLES, ids=[f"{v.name}-{v.command[0]}" for v in VARIABLES])
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_bad_value_is_one_line_naming_the_variable(variable: Variable, data: st.DataObject) -> None:
    value = data.draw(variable.junk, label=variable.name)
    assert_one_line_naming(variable, value, variable.command)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("MOCKROUTER_PORT", "abc", "expected a port number from 0 to 65535"),
        ("MOCKROUTER_PORT", "99999", "expected a port number from 0 to 65535"),
        ("MOCKROUTER_SPEED", "fast", "expected a number >= 0"),
        ("MOCKROUTER_NO_BUILTIN", "maybe", "expected 1, true, yes, on, 0, false, no or off"),
        ("MOCKROUTER_DIALECT", "gpt", "expected one of anyrouter, openrouter"),
    ],
)
def test_the_documented_examples(name: str, value: str, expected: str) -> None:
    done = run("serve", env=_safe_env(**{name: value}), timeout=20)
    assert done.returncode == EXIT_USAGE
    assert done.stderr.startswith(f"error: {name}: {expected}"), done.stderr
    assert done.stderr.rstrip("\n").endswith(f"got {value!r}"), done.stderr
    assert done.stderr.count("\n") == 1


ALL_JUNK = {v.name: "junk value\x1b[31m" for v in VARIABLES}


@pytest.mark.parametrize(
    "command",
    [
        ("--version",),
        ("--help",),
        ("serve", "--help"),
        ("report", "--help"),
        ("fuzz", "--help"),
        ("check", "--help"),
        ("scenarios",),
        ("check", "scenarios"),
    ],
    ids=" ".join,
)
def test_junk_in_every_variable_does_not_break_commands_that_do_not_read_them(command: tuple[str, ...]) -> None:
    done = run(*command, env={**clean_env(), **ALL_JUNK}, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout


def test_a_flag_on_the_command_line_wins_over_a_bad_variable(served_processes: list[Served]) -> None:
    """The variable is only read when its flag is missing: junk in it is then never looked at."""
    port = free_port()
    served = start_serve(
        "--port", str(port), "--speed", "0", env={"MOCKROUTER_PORT": "abc", "MOCKROUTER_SPEED": "fast"}
    )
    served_processes.append(served)
    assert f":{port}/api/v1" in served.banner
    code, _, err = stop(served)
    assert code == 0, err


def test_an_empty_variable_counts_as_unset(served_processes: list[Served]) -> None:
    served = start_serve(
        "--port", "0", env={"MOCKROUTER_SPEED": "", "MOCKROUTER_SEED": "", "MOCKROUTER_NO_BUILTIN": ""}
    )
    served_processes.append(served)
    code, _, err = stop(served)
    assert code == 0, err


@example(secret="sk-live\n1234")
@settings(max_examples=5, deadline=None)
@given(secret=NOT_A_TOKEN)
def test_a_bad_secret_is_never_echoed(secret: str) -> None:
    done = run("report", env=_safe_env(MOCKROUTER_ADMIN_TOKEN=secret), timeout=20)
    assert done.returncode == EXIT_USAGE
    assert secret not in done.stderr
    assert "MOCKROUTER_ADMIN_TOKEN: expected visible ASCII characters without spaces" in done.stderr
