"""Loading scenario files: every problem is a ScenarioError naming file, line and field.

SPEC ("Scenarios"): unknown keys are errors with a "did you mean" hint, every error names
file, line and field; templates outside the language are load errors; ``stream.chunks`` must
concatenate to ``content``. ``mockrouter check`` reports all problems of a file at once.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mockrouter.core.resources import scenarios_dir
from mockrouter.errors import ScenarioError, ScenarioErrors, TemplateError
from mockrouter.scenario.loader import collect_json, collect_path, load_builtin, load_json, load_text


def errors_of(text: str, file: str = "f.yaml") -> list[ScenarioError]:
    with pytest.raises(ScenarioErrors) as info:
        load_text(textwrap.dedent(text), file)
    errors = info.value.errors
    assert errors, "ScenarioErrors without errors"
    for error in errors:
        assert isinstance(error, ScenarioError)
        assert error.file == file
        assert error.message
    return errors


def only_error(text: str, file: str = "f.yaml") -> ScenarioError:
    errors = errors_of(text, file)
    assert len(errors) == 1, [str(e) for e in errors]
    return errors[0]


def test_unknown_step_key_gets_a_did_you_mean_hint() -> None:
    error = only_error(
        """\
        name: typo
        steps:
          - content: hello
            stram: {chunk_tokens: 2}
        """
    )
    assert "did you mean 'stream'" in error.message
    assert "stram" in error.message
    assert error.field == "steps[0].stram"
    assert error.line == 4
    assert str(error).startswith("f.yaml:4: steps[0].stram: ")


def test_unknown_key_in_a_later_step_names_that_step() -> None:
    error = only_error(
        """\
        name: typo2
        steps:
          - content: one
          - content: two
            finish_reasn: stop
        """
    )
    assert error.field == "steps[1].finish_reasn"
    assert error.line == 5
    assert "did you mean 'finish_reason'" in error.message


def test_unknown_top_level_key() -> None:
    error = only_error(
        """\
        name: top
        descripton: misspelt
        steps:
          - content: hi
        """
    )
    assert error.field == "descripton"
    assert error.line == 2
    assert "did you mean 'description'" in error.message


def test_unknown_key_without_a_close_match_lists_the_allowed_keys() -> None:
    error = only_error(
        """\
        name: top
        steps:
          - content: hi
        zzzzzz: 1
        """
    )
    assert error.field == "zzzzzz"
    assert error.line == 4
    assert "steps" in error.message


def test_wrong_type_names_field_and_line() -> None:
    error = only_error(
        """\
        name: wrong-type
        steps:
          - content: ok
          - error:
              message: nope
              status: "abc"
        """
    )
    assert error.field == "steps[1].error.status"
    assert error.line == 6
    assert "abc" in error.message


def test_missing_required_key() -> None:
    error = only_error(
        """\
        name: no-steps
        description: forgot them
        """
    )
    assert "steps" in error.message
    assert error.line == 1


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        ("name: a\nsteps:\n  - content: hi\n    finish_reason: stop\n   bad: x\n", {5}),
        ("name: a\nsteps:\n  - content: [unclosed\n", {3, 4}),
        ("name: a\nsteps:\n\t- content: tab\n", {3}),
        ("name: a\nname: [\n", {2, 3}),
    ],
)
def test_invalid_yaml_syntax_reports_a_line(text: str, lines: set[int]) -> None:
    error = only_error(text)
    assert "YAML" in error.message
    assert error.line in lines


@pytest.mark.parametrize(
    ("text", "kind"),
    [("- a\n- b\n", "a list"), ("just a string\n", "a string"), ("42\n", "a number"), ("true\n", "a boolean")],
)
def test_a_document_that_is_not_a_mapping(text: str, kind: str) -> None:
    error = only_error(text)
    assert "mapping" in error.message
    assert kind in error.message
    assert error.line == 1


def test_duplicate_names_in_one_file() -> None:
    error = only_error(
        """\
        name: twin
        steps: [{content: one}]
        ---
        name: other
        steps: [{content: two}]
        ---
        name: twin
        steps: [{content: three}]
        """
    )
    assert "duplicate" in error.message
    assert "twin" in error.message
    assert error.field == "name"
    assert error.line == 7


def test_invalid_regex_in_last_user() -> None:
    error = only_error(
        """\
        name: bad-regex
        match:
          last_user: "(unclosed"
        steps:
          - content: hi
        """
    )
    assert error.field == "match.last_user"
    assert error.line == 3
    assert "regex" in error.message


def test_invalid_regex_in_a_header_match() -> None:
    error = only_error(
        """\
        name: bad-header-regex
        match:
          header: {x-tenant: "[a-"}
        steps:
          - content: hi
        """
    )
    assert error.field is not None
    assert error.field.startswith("match.header")
    assert error.line == 3


@pytest.mark.parametrize(
    "template",
    [
        "{{ request.__class__ }}",
        "{{ __import__('os') }}",
        '{{ "a" * 1000000 }}',
        "{{ faker.seed_instance(1) }}",
        "{{ request.model.upper() }}",
    ],
)
def test_template_outside_the_language_is_a_load_error(template: str) -> None:
    text = "name: tpl\nsteps:\n  - content: fine\n  - content: " + json.dumps(template) + "\n"
    error = only_error(text)
    assert isinstance(error, TemplateError)
    assert error.file == "f.yaml"
    assert error.line == 4
    assert error.field == "steps[1].content"


def test_template_errors_in_tool_call_arguments_and_reasoning_are_located() -> None:
    errors = errors_of(
        """\
        name: tpl2
        steps:
          - reasoning: "{{ request.__dict__ }}"
            tool_calls:
              - name: f
                arguments: "{{ open('x') }}"
        """
    )
    assert all(isinstance(e, TemplateError) for e in errors)
    assert {(e.field, e.line) for e in errors} == {
        ("steps[0].reasoning", 3),
        ("steps[0].tool_calls[0].arguments", 6),
    }


def test_stream_chunks_must_concatenate_to_content() -> None:
    error = only_error(
        """\
        name: chunks
        steps:
          - content: hello world
            stream:
              chunks: ["hello", " there"]
        """
    )
    assert "concatenate" in error.message
    assert error.field == "steps[0].stream.chunks"
    assert error.line == 5


def test_stream_chunks_that_do_concatenate_load() -> None:
    [scenario] = load_text("name: ok\nsteps:\n  - content: hello world\n    stream: {chunks: [hel, lo, ' world']}\n")
    assert scenario.steps[0].content is not None
    assert scenario.steps[0].content.pieces == ["hel", "lo", " world"]


def test_an_error_step_cannot_also_have_content() -> None:
    error = only_error(
        """\
        name: both
        steps:
          - content: hello
            error: {status: 500}
        """
    )
    assert "error" in (error.field or "")
    assert error.line in (3, 4)
    assert "content" in error.message


def test_multi_document_error_in_the_third_document_reports_its_line() -> None:
    error = only_error(
        """\
        name: first
        steps: [{content: one}]
        ---
        name: second
        steps: [{content: two}]
        ---
        name: third
        steps:
          - content: three
            bogus: 1
        """
    )
    assert error.line == 10
    assert error.field == "steps[0].bogus"


def test_several_errors_in_one_file_are_all_reported() -> None:
    errors = errors_of(
        """\
        name: many
        steps:
          - content: x
            stram: 1
          - error: {status: "abc"}
        then: never
        ---
        name: more
        steps:
          - content: "{{ request.__class__ }}"
        ---
        - not a mapping
        """
    )
    located = {(e.line, e.field) for e in errors}
    assert (4, "steps[0].stram") in located
    assert (5, "steps[1].error.status") in located
    assert (6, "then") in located
    assert (10, "steps[0].content") in located
    assert any(e.line == 12 and "mapping" in e.message for e in errors)
    assert len(errors) == 5


def test_valid_multi_document_file_loads_in_order_with_defaults() -> None:
    scenarios = load_text(
        textwrap.dedent(
            """\
            # a comment before the first document
            name: alpha
            steps: [{content: a}]
            ---
            name: beta
            priority: 5
            then: cycle
            match: {model: "acme/*"}
            steps:
              - content: b1
              - content: b2
            ---
            name: gamma
            then: exhausted
            steps: [{error: {status: 429, retry_after: 2}}]
            """
        ),
        "multi.yaml",
    )
    assert [s.name for s in scenarios] == ["alpha", "beta", "gamma"]
    assert [s.priority for s in scenarios] == [0, 5, 0]
    assert [s.then for s in scenarios] == ["repeat-last", "cycle", "exhausted"]
    assert [len(s.steps) for s in scenarios] == [1, 2, 1]
    assert scenarios[0].match is None
    assert scenarios[1].match is not None
    assert all(s.file == "multi.yaml" for s in scenarios)
    assert scenarios[2].steps[0].error is not None
    assert scenarios[2].steps[0].error.status == 429


def test_empty_documents_are_skipped() -> None:
    assert [s.name for s in load_text("---\nname: only\nsteps: [{content: x}]\n---\n")] == ["only"]


# -- alias bombs -------------------------------------------------------------------------

BOMB_RUNNER = r"""
import json, resource, sys, time
resource.setrlimit(resource.RLIMIT_AS, (1_500_000_000, 1_500_000_000))
from pathlib import Path
from mockrouter.errors import ScenarioErrors
where, levels, mode, tmp = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
lines = ['x0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
for i in range(1, levels):
    lines.append(f"x{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
def block(indent):
    return "\n".join(" " * indent + line for line in lines)
if where == "top":
    doc = block(0) + "\nname: bomb\nsteps: [{content: x}]\n"
elif where == "arguments":
    doc = "name: bomb\nsteps:\n  - tool_calls:\n      - name: f\n        arguments:\n" + block(10) + "\n"
elif where == "metadata":
    doc = "name: bomb\nsteps:\n  - error:\n      status: 500\n      metadata:\n" + block(8) + "\n"
elif where == "body":
    doc = "name: bomb\nmatch:\n  body:\n" + block(4) + "\nsteps:\n  - content: x\n"
started = time.perf_counter()
try:
    if mode == "load":
        from mockrouter.scenario.loader import load_text
        load_text(doc, "bomb.yaml")
        outcome = "loaded"
    else:
        from mockrouter.tools.check import check_paths
        path = Path(tmp) / "bomb.yaml"
        path.write_text(doc)
        _, errors = check_paths([path])
        outcome = "checked" if not errors else "errors"
except ScenarioErrors as exc:
    outcome = "errors"
except MemoryError:
    outcome = "MemoryError"
print(json.dumps({"outcome": outcome, "seconds": time.perf_counter() - started}))
"""


@pytest.mark.parametrize(
    ("where", "mode"),
    [
        ("top", "load"),
        ("body", "load"),
        ("metadata", "load"),
        ("arguments", "load"),
        ("metadata", "check"),
    ],
)
def test_yaml_alias_bomb_loads_or_fails_quickly(where: str, mode: str, tmp_path: Path) -> None:
    """Nine levels of nine-fold aliases (9**9 leaves) must not hang the loader nor `check`.

    Runs in a child process with a memory cap and a hard timeout so a regression cannot take
    the test session down with it.
    """
    try:
        done = subprocess.run(
            [sys.executable, "-c", BOMB_RUNNER, where, "9", mode, str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=8,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"alias bomb in {where} ({mode}) still running after 8 s")
    assert done.returncode == 0, (
        f"child exited with {done.returncode} (negative: killed by a signal, e.g. after hitting the "
        f"1.5 GB memory cap): {done.stderr[-2000:]}"
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["outcome"] in ("loaded", "checked", "errors"), result
    assert result["seconds"] < 5, result  # unguarded: 17 s or out of memory


# -- response headers a scenario sends: Latin-1, no control characters, token names -----------

BAD_HEADER_TEXT = [
    ("in 5 € seconds", "Latin-1"),
    ("1\r\nSet-Cookie: a=b", "control character"),
    ("x\nX-Evil: 1", "control character"),
    ("a\x00b", "control character"),
]


@pytest.mark.parametrize(("value", "why"), BAD_HEADER_TEXT)
def test_a_retry_after_string_that_cannot_be_a_header_is_a_load_error(value: str, why: str) -> None:
    error = only_error(
        f"name: h\nsteps:\n  - content: ok\n  - error: {{status: 429, retry_after: {json.dumps(value)}}}\n"
    )
    assert (error.line, error.field) == (4, "steps[1].error.retry_after")
    assert why in error.message


@pytest.mark.parametrize(("value", "why"), BAD_HEADER_TEXT)
def test_a_header_value_that_cannot_be_sent_is_a_load_error(value: str, why: str) -> None:
    text = f"name: h\nsteps:\n  - error:\n      status: 503\n      headers:\n        Via: {json.dumps(value)}\n"
    error = only_error(text)
    assert (error.line, error.field) == (6, "steps[0].error.headers.Via")
    assert why in error.message


@pytest.mark.parametrize("name", ["X-A\r\nX-B", "X A", "X-Ü", "X:Y", ""])
def test_a_header_name_that_is_not_a_token_is_a_load_error(name: str) -> None:
    fault = f"    - error: {{status: 503, headers: {{{json.dumps(name)}: v}}}}\n"
    text = "name: h\nchaos:\n  rate: 1\n  faults:\n" + fault + "steps: [{content: ok}]\n"
    error = only_error(text)
    assert error.line == 5 and error.field.startswith("chaos.faults[0].error.headers")
    assert "header name" in error.message
    assert "\r" not in str(error) and "\n" not in str(error)  # one line of `check` output, control chars escaped


def test_latin1_header_values_with_tabs_load() -> None:
    [scenario] = load_text(
        "name: h\nsteps:\n  - error:\n      status: 429\n      retry_after: Fri, 31 Dec 1999 23:59:59 GMT\n"
        '      headers: {Via: "caf\\xe9\\t1.1", X-N: 3}\n',
        "f.yaml",
    )
    assert scenario.steps[0].error.headers == {"Via": "café\t1.1", "X-N": "3"}


@pytest.mark.parametrize("name", ["Content-Length", "transfer-encoding", "Connection", "Content-Type"])
def test_a_header_the_server_frames_the_response_with_is_a_load_error(name: str) -> None:
    text = f"name: h\nsteps:\n  - error:\n      status: 503\n      headers:\n        {name}: '12'\n"
    error = only_error(text)
    assert (error.line, error.field) == (6, f"steps[0].error.headers.{name}")
    assert "set by the server" in error.message


# -- syntax errors point at the spot ---------------------------------------------------------


@given(
    before=st.lists(st.from_regex(r"[a-z]{1,8}", fullmatch=True), max_size=6, unique=True),
    key=st.from_regex(r"[a-z]{1,8}", fullmatch=True),
    spaces=st.integers(1, 5),
)
def test_a_yaml_syntax_error_names_line_and_column_and_shows_a_caret(before: list[str], key: str, spaces: int) -> None:
    """``@`` cannot start a YAML token: wherever it sits, the error says where and shows it."""
    lines = [f"{k}: v" for k in before if k != key] + [f"{key}:{' ' * spaces}@oops", "name: x", "steps: [{content: x}]"]
    error = only_error("\n".join(lines) + "\n")
    row = len(lines) - 2
    column = len(key) + 1 + spaces + 1
    assert "invalid YAML" in error.message and "'@'" in error.message
    assert (error.line, error.column) == (row, column)
    assert str(error).startswith(f"f.yaml:{row}: invalid YAML at column {column}: ")
    assert error.excerpt == f"    {lines[row - 1]}\n    {' ' * (column - 1)}^"


@pytest.mark.parametrize(
    ("text", "line", "column", "context"),
    [
        # an unclosed flow sequence: the file ends, so the caret sits after the last character and the
        # message says where the sequence opened
        ("name: a\nsteps:\n  - content: [unclosed\n", 3, 23, "line 3, column 14"),
        # a tab cannot indent YAML: shown escaped, the caret under it
        ("name: a\nsteps:\n\t- content: tab\n", 3, 1, None),
        ("name: a\nsteps:\n  - content: hi\n    finish_reason: stop\n   bad: x\n", 5, 4, "line 3, column 3"),
    ],
)
def test_yaml_syntax_errors_show_the_offending_line(text: str, line: int, column: int, context: str | None) -> None:
    error = only_error(text)
    assert (error.line, error.column) == (line, column)
    assert error.excerpt is not None
    source, caret = error.excerpt.split("\n")
    assert source.startswith("    ") and "\t" not in source  # control characters escaped, never raw
    shown = text.splitlines()[line - 1].replace("\t", "\\t")
    assert source == "    " + shown
    prefix = text.splitlines()[line - 1][: column - 1].replace("\t", "\\t")
    assert caret == " " * (4 + len(prefix)) + "^"
    if context is not None:
        assert context in error.message


# -- JSON: lines of the JSON text, JSON semantics ------------------------------------------


@given(
    steps=st.integers(1, 4),
    bad=st.data(),
    indent=st.sampled_from([None, 1, 2, 4, "\t"]),
    as_list=st.booleans(),
)
def test_json_errors_name_the_line_of_the_json_text(steps: int, bad: st.DataObject, indent: Any, as_list: bool) -> None:
    broken = bad.draw(st.integers(0, steps - 1))
    scenario: dict[str, Any] = {
        "name": "from-json",
        "steps": [{"content": f"step {i}"} for i in range(steps)],
    }
    scenario["steps"][broken]["stram"] = 1
    text = json.dumps([{"name": "ok", "steps": [{"content": "x"}]}, scenario] if as_list else scenario, indent=indent)
    loaded = collect_json(text.encode(), "body.json")
    [error] = loaded.errors
    assert error.field == f"steps[{broken}].stram"
    expected_line = next(i for i, line in enumerate(text.splitlines(), 1) if '"stram"' in line)
    assert error.line == expected_line


def test_json_is_read_as_json_not_as_yaml() -> None:
    """Tabs and surrogate-pair escapes are fine JSON that YAML 1.1 readers get wrong."""
    text = '{\n\t"name": "emoji",\n\t"steps": [{"content": "\\ud83d\\ude00"}]\n}'
    [scenario] = load_json(text.encode(), "body.json")
    assert scenario.steps[0].content is not None
    assert scenario.steps[0].content.template.source == "\N{GRINNING FACE}"


@pytest.mark.parametrize(
    ("raw", "line", "column"),
    [(b'{"name": "x",\n "steps": [}', 2, 12), (b'{\n  "name": tru\n}', 2, 11), (b"[1,", 1, 4)],
)
def test_json_syntax_errors_name_line_and_column(raw: bytes, line: int, column: int) -> None:
    [error] = collect_json(raw, "body.json").errors
    assert "invalid JSON" in error.message
    assert (error.line, error.column) == (line, column)
    assert error.excerpt is not None and error.excerpt.endswith("^")


@pytest.mark.parametrize(
    ("raw", "kind"), [(b"null", "null"), (b'"text"', "a string"), (b"[1]", "a number"), (b"[[]]", "a list")]
)
def test_json_that_is_not_a_scenario_object(raw: bytes, kind: str) -> None:
    [error] = collect_json(raw, "body.json").errors
    assert "must be a mapping" in error.message and kind in error.message


@pytest.mark.parametrize("depth", [130, 900])
@pytest.mark.parametrize("where", ["error.metadata", "tool_calls[0].arguments"])
def test_json_nested_too_deeply_is_a_load_error_not_a_crash(depth: int, where: str) -> None:
    deep = "[" * depth + "]" * depth
    step = (
        '{"error": {"status": 500, "metadata": {"x": %s}}}'
        if where == "error.metadata"
        else '{"tool_calls": [{"name": "f", "arguments": {"x": %s}}]}'
    )
    raw = ('{"name": "deep",\n "steps": [' + step % deep + "]}").encode()
    [error] = collect_json(raw, "deep.json").errors
    assert "nested more than" in error.message
    assert error.line == 2
    assert error.field is not None and error.field.startswith(f"steps[0].{where}")


# -- the fields a recording needs (issue #13) ----------------------------------------------------

HASH = "3f2a9c0d41b7e865"


@pytest.mark.parametrize(
    ("value", "field", "shown"),
    [
        ("3F2A9C0D41B7E865", "match.conversation", "3F2A9C0D41B7E865"),  # upper case
        ("3f2a9c0d41b7e86", "match.conversation", "3f2a9c0d41b7e86"),  # 15 digits
        ("3f2a9c0d41b7e865a", "match.conversation", "3f2a9c0d41b7e865a"),  # 17
        ("zf2a9c0d41b7e865", "match.conversation", "zf2a9c0d41b7e865"),
        (f"[{HASH}, nothex]", "match.conversation[1]", "nothex"),
        ("[]", "match.conversation", "non-empty"),
        ("{hash: 1}", "match.conversation", "is not of type"),
    ],
)
def test_a_malformed_conversation_hash_is_a_load_error(value: str, field: str, shown: str) -> None:
    error = only_error(f"name: c\nmatch:\n  model: x\n  conversation: {value}\nsteps: [{{content: x}}]\n")
    assert (error.field, error.line) == (field, 4)
    assert shown in error.message


def test_conversation_hashes_load_as_a_list() -> None:
    one, many = load_text(
        f"name: one\nmatch: {{conversation: {HASH}}}\nsteps: [{{content: x}}]\n---\n"
        f"name: many\nmatch: {{conversation: [{HASH}, 0b7e4c19d2a85f60]}}\nsteps: [{{content: x}}]\n"
    )
    assert one.match is not None and one.match.conversation == [HASH]
    assert many.match is not None and many.match.conversation == [HASH, "0b7e4c19d2a85f60"]
    assert one.summary()["match"] == {"conversation": HASH}
    assert many.summary()["match"] == {"conversation": [HASH, "0b7e4c19d2a85f60"]}


@pytest.mark.parametrize(
    ("where", "typo", "hint"),
    [
        ("match", f"conversaton: {HASH}", "conversation"),
        ("steps[0].stream", "reasoning_chunk: [a]", "reasoning_chunks"),
        ("steps[0].timing", "intervalls_ms: [1]", "intervals_ms"),
        ("steps[0].tool_calls[0]", "chunk: ['{}']", "chunks"),
    ],
)
def test_the_new_fields_get_did_you_mean_hints(where: str, typo: str, hint: str) -> None:
    blocks = {
        "match": f"match: {{{typo}}}\nsteps:\n  - content: x\n",
        "steps[0].stream": f"steps:\n  - content: x\n    stream: {{{typo}}}\n",
        "steps[0].timing": f"steps:\n  - content: x\n    timing: {{{typo}}}\n",
        "steps[0].tool_calls[0]": f"steps:\n  - tool_calls: [{{name: f, arguments: '{{}}', {typo}}}]\n",
    }
    error = only_error("name: typo\n" + blocks[where])
    assert error.field == f"{where}.{typo.split(':')[0]}"
    assert f"did you mean {hint!r}" in error.message


def test_reasoning_chunks_must_concatenate_to_reasoning() -> None:
    error = only_error(
        """\
        name: rc
        steps:
          - reasoning: think first
            content: answer
            stream:
              reasoning_chunks: [think, " later"]
        """
    )
    assert (error.field, error.line) == ("steps[0].stream.reasoning_chunks", 6)
    assert "concatenate to `reasoning`" in error.message


def test_reasoning_chunks_cannot_cut_a_templated_reasoning() -> None:
    error = only_error(
        """\
        name: rct
        steps:
          - reasoning: "{{ seq }}"
            stream: {reasoning_chunks: ["{{ seq }}"]}
        """
    )
    assert (error.field, error.line) == ("steps[0].stream.reasoning_chunks", 4)
    assert "templated `reasoning`" in error.message


def test_reasoning_chunks_are_the_pieces_and_without_reasoning_the_text() -> None:
    given, alone = load_text(
        "name: given\nsteps:\n  - reasoning: think first\n    content: ok\n"
        "    stream: {reasoning_chunks: [thi, nk, ' first'], chunk_tokens: 5}\n---\n"
        "name: alone\nsteps:\n  - content: ok\n    stream: {reasoning_chunks: [a, b]}\n"
    )
    step = given.steps[0]
    assert step.reasoning is not None and step.reasoning.pieces == ["thi", "nk", " first"]
    assert step.static is not None and step.static.reasoning_pieces == ["thi", "nk", " first"]
    assert step.static.reasoning_tokens == 2  # tokens are the text's, however it is cut
    assert alone.steps[0].reasoning is not None and alone.steps[0].reasoning.template.static == "ab"


@pytest.mark.parametrize(
    ("call", "line", "message"),
    [
        ("arguments: {city: Tokyo}\n        chunks: ['{}']", 6, "raw string"),
        ("chunks: ['{}']", 5, "raw string"),  # no arguments: the default is a mapping
        ("arguments: '{\"a\": 1}'\n        chunks: ['{\"a\"', ': 2}']", 6, "concatenate to `arguments`"),
        ("arguments: \"{{ seq }}\"\n        chunks: ['{{ seq }}']", 6, "templated `arguments`"),
    ],
)
def test_tool_call_chunks_need_the_raw_arguments_they_make_up(call: str, line: int, message: str) -> None:
    error = only_error(f"name: tc\nsteps:\n  - tool_calls:\n      - name: f\n        {call}\n")
    assert (error.field, error.line) == ("steps[0].tool_calls[0].chunks", line)
    assert message in error.message


def test_tool_call_chunks_load_as_the_call_pieces() -> None:
    [scenario] = load_text(
        'name: tc\nsteps:\n  - tool_calls:\n      - {name: f, arguments: \'{"city": "Tokyo"}\', '
        "chunks: ['{\"ci', 'ty\": \"Tok', '', 'yo\"}']}\n      - {name: g, arguments: '{}'}\n"
    )
    first, second = scenario.steps[0].tool_calls
    assert first.pieces == ['{"ci', 'ty": "Tok', "", 'yo"}']
    assert second.pieces is None


@pytest.mark.parametrize(
    ("value", "field", "message"),
    [
        ("[10, -1]", "steps[0].timing.intervals_ms[1]", "less than the minimum of 0"),
        ("[10, slow]", "steps[0].timing.intervals_ms[1]", "is not of type 'number'"),
        ("[]", "steps[0].timing.intervals_ms", "non-empty"),
        ("40", "steps[0].timing.intervals_ms", "is not of type 'array'"),
    ],
)
def test_malformed_intervals_are_load_errors(value: str, field: str, message: str) -> None:
    error = only_error(f"name: iv\nsteps:\n  - content: a b c\n    timing:\n      intervals_ms: {value}\n")
    assert (error.field, error.line) == (field, 5)
    assert message in error.message


def test_intervals_load_as_a_tuple_of_milliseconds() -> None:
    [scenario] = load_text("name: iv\nsteps:\n  - content: a b\n    timing: {intervals_ms: [0, 150, 2.5]}\n")
    timing = scenario.steps[0].timing
    assert timing.intervals_ms == (0.0, 150.0, 2.5)
    assert not timing.is_zero
    [zeros] = load_text("name: iv0\nsteps:\n  - content: a b\n    timing: {intervals_ms: [0, 0]}\n")
    assert zeros.steps[0].timing.is_zero  # gaps of nothing: the stream goes out in one write


def test_the_summary_shows_the_agent_loop_conditions_as_written() -> None:
    [scenario] = load_text(
        f"name: s\nmatch: {{surface: messages, turn: {{min: 1, max: 3}}, last_tool: search, "
        f'tool_result: "(?i)page", system: pirate, conversation: [{HASH}]}}\nsteps: [{{content: x}}]\n'
    )
    assert scenario.summary()["match"] == {
        "surface": "messages",
        "turn": {"min": 1, "max": 3},
        "last_tool": "search",
        "tool_result": "(?i)page",
        "system": "pirate",
        "conversation": HASH,
    }


def test_a_yaml_value_json_cannot_hold_is_checked_by_jsonschema_as_before() -> None:
    """The fast check (jsonschema-rs) reads JSON data only: a YAML date goes to jsonschema,
    which accepts it where the schema takes any value and words the error where it does not."""
    loaded = load_text("name: dated\nmatch:\n  body:\n    created: 2024-01-01\nsteps:\n  - content: hi\n")
    assert [s.name for s in loaded] == ["dated"]
    error = only_error("name: dated\nsteps:\n  - content: 2024-01-01\n")
    assert (error.line, error.field) == (3, "steps[0].content")
    assert error.message == "datetime.date(2024, 1, 1) is not of type 'string'"


def test_the_builtin_library_passes_every_check_it_skips_at_serve() -> None:
    """``serve`` loads the built-ins without trying their faker calls (faker is imported when
    ``lorem`` first answers): loaded as any user file, with every check, they have no problem."""
    loaded = collect_path(scenarios_dir())
    assert [str(e) for e in loaded.errors] == []
    assert sorted(s.name for s in loaded.scenarios) == sorted(s.name for s in load_builtin())
    assert any(step.needs_faker for s in loaded.scenarios for step in s.steps)  # lorem's call was tried


def test_each_builtin_loads_alone_from_its_own_file() -> None:
    """``--no-builtin`` loads only ``echo``, from ``echo.yaml``: each built-in is in NAME.yaml."""
    library = [s.name for s in load_builtin()]
    assert "echo" in library
    for name in library:
        assert [s.name for s in load_builtin(name)] == [name]


@pytest.mark.parametrize(
    ("text", "line", "field", "key", "kind"),
    [
        ("match:\n  header:\n    1: x\n", 3, "match.header", "1", "a number"),
        ("match:\n  body:\n    on: x\n", 3, "match.body", "on", "a boolean"),
        ("match:\n  body:\n    2024-01-01: x\n", 3, "match.body", "2024-01-01", "date"),
        (
            "steps:\n  - error: {status: 500, message: m, headers: {1.5: x}}\n",
            2,
            "steps[0].error.headers",
            "1.5",
            "a number",
        ),
    ],
)
def test_a_key_yaml_does_not_read_as_text_is_a_located_error(
    text: str, line: int, field: str, key: str, kind: str
) -> None:
    """YAML reads ``on:`` as true and ``200:`` as a number; a scenario's keys are text (this
    crashed the loader where a mapping takes any key: header names, body paths, headers)."""
    errors = errors_of("name: keyed\n" + text + ("steps:\n  - content: hi\n" if "steps" not in text else ""))
    assert [(e.line, e.field, e.message) for e in errors] == [
        (line + 1, field, f"the key {key} is not text to YAML (it reads {key} as {kind}): quote it")
    ]


#: A step whose every timing field is a number on a line of its own (the line after ``timing:``
#: is line 5); ``intervals_ms`` holds two.
_TIMED = """\
name: timed
steps:
  - content: "a b c"
    timing:
      latency_ms: 1
      ttft_ms: 2
      interval_ms: 3
      jitter_ms: 1
      tokens_per_s: 50
      intervals_ms:
        - 4
        - 5
"""
_NUMBERS = [
    (5, "steps[0].timing.latency_ms"),
    (6, "steps[0].timing.ttft_ms"),
    (7, "steps[0].timing.interval_ms"),
    (8, "steps[0].timing.jitter_ms"),
    (9, "steps[0].timing.tokens_per_s"),
    (11, "steps[0].timing.intervals_ms[0]"),
    (12, "steps[0].timing.intervals_ms[1]"),
]


@given(
    st.sets(st.sampled_from(range(len(_NUMBERS))), min_size=1),
    st.sampled_from([".nan", ".NaN", ".inf", ".Inf", "-.inf", "+.inf"]),
)
def test_a_number_that_is_not_finite_is_a_located_error(which: set[int], spelling: str) -> None:
    """YAML reads ``.nan`` and ``.inf`` as numbers the schema's ``minimum`` lets through; a NaN
    delay is no deadline (it stopped every paced stream of the server). Each is an error at its
    line and field, and nothing of the scenario is built."""
    lines = _TIMED.splitlines()
    for i in which:
        line = _NUMBERS[i][0]
        lines[line - 1] = lines[line - 1].rsplit(" ", 1)[0] + " " + spelling
    errors = errors_of("\n".join(lines) + "\n")
    shown = "nan" if "n" in spelling.lower().replace("inf", "") else ("-inf" if spelling[0] == "-" else "inf")
    assert [(e.line, e.field, e.message) for e in errors] == [
        (_NUMBERS[i][0], _NUMBERS[i][1], f"{shown} is not a finite number (JSON has no NaN or infinity)")
        for i in sorted(which)
    ]


def test_the_timed_step_above_loads_as_written() -> None:
    [scenario] = load_text(_TIMED, "t.yaml")
    timing = scenario.steps[0].timing
    assert (timing.ttft_ms, timing.interval_ms, timing.intervals_ms) == (2, 3, (4, 5))
