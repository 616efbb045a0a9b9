"""``--help`` of every command, read as a user reads it, and the exit codes the README lists.

Each command's help opens with a sentence; every flag and argument says what it does and its
default (or that it is required, or off unless given); the exit codes are the same in
``mockrouter --help``, in ``mockrouter.tools.cli.EXIT_CODES`` and in the README.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from recipes import README
from test_cli import clean_env, run

from mockrouter.tools.cli import EXIT_CODES

COMMANDS = ["serve", "check", "scenarios", "report", "fuzz"]
DEFAULT = re.compile(r"\((default: [^)]+|required[^)]*)\)")


@dataclass
class Entry:
    """One flag or argument of a help page: how it is written and what the help says of it."""

    invocation: str
    help: str


def help_page(*command: str) -> str:
    done = run(*command, "--help", env={**clean_env(), "COLUMNS": "100"})
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return done.stdout


def description(page: str) -> str:
    """The paragraph between the usage lines and the first section."""
    paragraphs = page.split("\n\n")
    return " ".join(paragraphs[1].split())


def entries(page: str) -> list[Entry]:
    """The entries of every section ("options:", "positional arguments:", ...)."""
    found: list[Entry] = []
    in_section = False
    for line in page.splitlines():
        if not line.strip():
            in_section = False
            continue
        if re.match(r"^\S.*:$", line):
            in_section = True
            continue
        if not in_section:
            continue
        indent = len(line) - len(line.lstrip())
        if indent <= 4:  # a new entry: "  --port N   the port ..." (subcommands are indented by 4)
            invocation, _, text = line.strip().partition("  ")
            found.append(Entry(invocation, text.strip()))
        else:
            found[-1].help = f"{found[-1].help} {line.strip()}".strip()
    return found


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_help_opens_with_a_sentence(command: str) -> None:
    text = description(help_page(command))
    assert re.fullmatch(r"[A-Z].*\.", text), text
    assert len(text.split()) >= 5, text


@pytest.mark.parametrize("command", COMMANDS)
def test_every_flag_says_what_it_does_and_its_default(command: str) -> None:
    listed = [e for e in entries(help_page(command)) if e.invocation != "-h, --help"]
    assert listed, "no flags found: the help page changed shape"
    for entry in listed:
        assert entry.help, f"{command} {entry.invocation}: no help text"
        assert DEFAULT.search(entry.help), f"{command} {entry.invocation}: no default in {entry.help!r}"
        words = DEFAULT.sub("", entry.help).split()
        assert len(words) >= 3, f"{command} {entry.invocation}: {entry.help!r} says too little"


def test_serve_flags_name_their_environment_variable() -> None:
    for entry in entries(help_page("serve")):
        if entry.invocation == "-h, --help":
            continue
        flag = entry.invocation.split()[0]
        variable = "MOCKROUTER_" + flag.removeprefix("--").replace("-", "_").upper()
        assert variable in entry.help, f"{flag}: {entry.help!r} does not name {variable}"


def test_the_top_level_help_lists_every_command_and_the_exit_codes() -> None:
    page = help_page()
    listed = {e.invocation: e.help for e in entries(page)}
    for command in COMMANDS:
        assert listed.get(command), f"{command} is not listed with a help text"
    assert listed.get("--version")
    for code, meaning in EXIT_CODES.items():
        assert re.search(rf"^\s+{code}\s+{re.escape(meaning)}$", page, re.MULTILINE), (code, meaning)


def test_the_readme_lists_the_exit_codes() -> None:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Command line") :]
    section = section[: section.index("\n## ", 1)]
    table = dict(re.findall(r"^\| `(\d+)` \| (.+?) \|$", section, re.MULTILINE))
    assert {int(code) for code in table} == set(EXIT_CODES), table
