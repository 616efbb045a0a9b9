"""``mockrouter check``: every problem of a file in one run, each with file, line and field.

SPEC ("Command line"): ``check`` lints YAML syntax, the scenario schema, and that every
response a scenario can produce validates; errors name file, line and field; exit 1 on any
error. A problem in one document or step never hides the problems of another, so a user fixes
a file in one round instead of one error per run.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from mockrouter.scenario.loader import collect_text
from mockrouter.tools.check import check_paths

#: Five documents; every problem sits in its own document or step, of a different kind.
MANY_PROBLEMS = textwrap.dedent(
    """\
    name: first
    steps:
      - content: "hi {{ request.model | shout }}"
      - content: hello
        error: {status: 500}
        stram: 2
    ---
    name: first
    steps:
      - content: ok
    ---
    name: third
    priority: high
    steps:
      - content: fine
        fault: {kind: disconnect, after_chunks: 500}
    ---
    name: fourth
    match: {last_user: "(unclosed"}
    steps:
      - error: {status: 429, retry_after: "soon\\r\\nX-Injected: 1"}
    ---
    name: fifth
    steps:
      - tool_calls: [{name: f, arguments: "{{ request.__class__ }}"}]
        finish_reason: sideways
    """
)
#: (line, field, a word of the message) of every problem in MANY_PROBLEMS.
EXPECTED = {
    (3, "steps[0].content", "shout"),  # unknown filter in a template
    (5, "steps[1].error", "content"),  # `error` together with `content`
    (6, "steps[1].stram", "stream"),  # unknown key, with a hint
    (8, "name", "duplicate"),  # a second scenario named `first`
    (13, "priority", "integer"),  # wrong type
    (15, "steps[0].fault.after_chunks", "never fires"),  # found by rendering the step (at its line)
    (19, "match.last_user", "regex"),  # a regex that does not compile
    (21, "steps[0].error.retry_after", "header"),  # a header value that would inject headers
    (25, "steps[0].tool_calls[0].arguments", "template"),  # a template outside the language
    (26, "steps[0].finish_reason", "sideways"),  # not one of the finish reasons
}

LINE = re.compile(r"^(?P<file>.+?):(?P<line>\d+): (?P<field>[^:]+): (?P<message>.*)$")


def test_check_reports_every_problem_of_a_file_in_one_run(tmp_path: Path) -> None:
    path = tmp_path / "many.yaml"
    path.write_text(MANY_PROBLEMS, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "mockrouter", "check", str(path)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-1] == f"{len(EXPECTED)} problem(s)", result.stderr
    found = []
    for line in lines[:-1]:
        match = LINE.match(line)
        assert match is not None, f"not file:line: field: message: {line!r}"
        assert match["file"] == str(path)
        found.append((int(match["line"]), match["field"], match["message"]))
    assert [(line, field) for line, field, _ in found] == sorted((line, field) for line, field, _ in EXPECTED)
    for (line, field, message), (_, _, word) in zip(found, sorted(EXPECTED), strict=True):
        assert word in message, (line, field, message)


def test_the_clean_documents_of_a_broken_file_are_still_checked(tmp_path: Path) -> None:
    path = tmp_path / "mixed.yaml"
    path.write_text(
        "name: bad\nsteps:\n  - stram: 1\n---\nname: good\nsteps:\n  - content: x\n"
        "    fault: {kind: truncate, after_chunks: 99}\n",
        encoding="utf-8",
    )
    scenarios, errors = check_paths([path])
    assert [s.name for s in scenarios] == ["good"]
    assert [(e.line, e.field) for e in errors] == [(3, "steps[0].stram"), (7, "steps[0].fault.after_chunks")]


# -- a property: problems never hide each other ----------------------------------------------

#: Steps as (YAML lines, problems as (line offset, field under the step)).
STEPS: list[tuple[list[str], list[tuple[int, str]]]] = [
    (["  - content: fine"], []),
    (["  - content: x", "    stram: 1"], [(1, "stram")]),
    (["  - content: x", "    finish_reason: sideways"], [(1, "finish_reason")]),
    (["  - content: x", "    error: {status: 500}"], [(1, "error")]),
    (['  - content: "{{ seq | shout }}"'], [(0, "content")]),
    (['  - content: "{{ seq | shout }}"', "    stram: 1"], [(0, "content"), (1, "stram")]),
    (['  - error: {status: 500, headers: {"Content-Length": "1"}}'], [(0, "error.headers.Content-Length")]),
    (
        ["  - error: {status: 99}", "    tool_calls: [{name: '{{ nope }}'}]"],
        [(0, "error.status"), (1, "tool_calls[0].name")],
    ),
]


@st.composite
def files(draw: st.DrawFn) -> tuple[str, set[tuple[int, str]]]:
    """A file of several documents, each with a few steps, and the (line, field) of every problem."""
    lines: list[str] = []
    expected: set[tuple[int, str]] = set()
    names = draw(st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=4))
    seen: set[str] = set()
    for name in names:
        if lines:
            lines.append("---")
        lines.append(f"name: {name}")
        if name in seen:
            expected.add((len(lines), "name"))
        seen.add(name)
        if draw(st.booleans()):
            lines.append("priority: high")
            expected.add((len(lines), "priority"))
        lines.append("steps:")
        for i, (step, problems) in enumerate(draw(st.lists(st.sampled_from(STEPS), min_size=1, max_size=4))):
            for offset, field in problems:
                expected.add((len(lines) + 1 + offset, f"steps[{i}].{field}"))
            lines += step
    return "\n".join(lines) + "\n", expected


@settings(max_examples=60, deadline=None)
@given(files())
def test_every_problem_is_reported_whatever_else_is_wrong(case: tuple[str, set[tuple[int, str]]]) -> None:
    text, expected = case
    loaded = collect_text(text, "p.yaml")
    assert {(e.line, e.field) for e in loaded.errors} == expected, text
    assert all(e.file == "p.yaml" for e in loaded.errors)
    assert [e.line for e in loaded.errors] == sorted(e.line or 0 for e in loaded.errors)
