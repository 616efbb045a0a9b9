"""Hostile scenario files: catastrophic regexes, thousands of documents, template tricks.

Each is a load error naming file and line, or is harmless by construction, and never a hang.
The regex checks that could hang if the protection were removed run in a child process (or
against a `mockrouter serve` subprocess) with a hard timeout, so a regression fails the test
instead of freezing the session: a backtracking regex holds the GIL.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest

from mockrouter.core.documents import MAX_DOCUMENTS
from mockrouter.errors import ScenarioError, ScenarioErrors, TemplateError
from mockrouter.scenario.loader import load_text
from mockrouter.scenario.matcher import RequestFacts, evaluate, holds

ROOT = Path(__file__).resolve().parent.parent
EVIL = "(a+)+$"
#: With a backtracking engine each extra "a" doubles the time: 30 are minutes, 10 000 forever.
VICTIMS = [(30, "b"), (10_000, "b"), (1_000_000, "!")]  # "a" * n + tail


def errors_of(text: str) -> list[ScenarioError]:
    with pytest.raises(ScenarioErrors) as info:
        load_text(textwrap.dedent(text), "f.yaml")
    return info.value.errors


# -- catastrophic backtracking ------------------------------------------------------------------

CHILD = r"""
import json, sys, time
from mockrouter.scenario.loader import load_text
from mockrouter.scenario.matcher import RequestFacts, evaluate, holds
evil, victims = sys.argv[1], json.loads(sys.argv[2])
[scenario] = load_text(
    "name: evil\nmatch:\n  last_user: %s\n  header: {x-evil: %s}\n  body: {metadata.evil: %s}\nsteps: [{content: x}]\n"
    % ((json.dumps(evil),) * 3),
    "evil.yaml",
)
started = time.perf_counter()
for n, tail in victims:
    victim = "a" * n + tail
    body = {"messages": [{"role": "user", "content": victim}], "metadata": {"evil": victim}}
    facts = RequestFacts.from_body(body, {"x-evil": victim})
    holds(scenario.match, facts)
    evaluate(scenario.match, facts)
print(json.dumps({"seconds": time.perf_counter() - started}))
"""


def test_catastrophic_patterns_match_in_linear_time() -> None:
    try:
        done = subprocess.run(
            [sys.executable, "-c", CHILD, EVIL, json.dumps(VICTIMS)],
            capture_output=True,
            text=True,
            timeout=20,
            cwd=ROOT,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"matching {EVIL!r} is still running after 20 s: backtracking is back")
    assert done.returncode == 0, done.stderr[-2000:]
    seconds = json.loads(done.stdout.strip().splitlines()[-1])["seconds"]
    assert seconds < 2, seconds  # ~1 MB of text, three regexes, holds + evaluate: milliseconds


def test_every_match_regex_is_linear_time() -> None:
    """In process (cheap now that it is linear): last_user, header and body regexes all hold up."""
    [scenario] = load_text(
        f"name: evil\nmatch:\n  last_user: '{EVIL}'\n  header: {{x-evil: '{EVIL}'}}\n"
        f"  body: {{metadata.evil: '{EVIL}'}}\nsteps: [{{content: x}}]\n",
        "evil.yaml",
    )
    assert scenario.match is not None
    for victim in ("a" * 30 + "b", "a" * 30):
        facts = RequestFacts.from_body(
            {"messages": [{"role": "user", "content": victim}], "metadata": {"evil": victim}}, {"x-evil": victim}
        )
        started = time.perf_counter()
        result = evaluate(scenario.match, facts)
        assert holds(scenario.match, facts) is result.matched
        assert result.matched is victim.endswith("a")
        assert time.perf_counter() - started < 0.1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_server_with_a_catastrophic_scenario_keeps_answering(tmp_path: Path) -> None:
    """End to end against `mockrouter serve`: the evil pattern is tried on every request."""
    (tmp_path / "evil.yaml").write_text(
        f"name: evil\nmatch:\n  last_user: '{EVIL}'\n  header: {{x-evil: '{EVIL}'}}\nsteps: [{{content: matched}}]\n"
    )
    port = _free_port()
    command = ["serve", "--port", str(port), "--speed", "0", "--scenarios", str(tmp_path / "evil.yaml")]
    process = subprocess.Popen(
        [sys.executable, "-m", "mockrouter", *command],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 15
        while True:
            try:
                if httpx.get(url + "/__mockrouter/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and process.poll() is None, "serve did not start"
            time.sleep(0.05)
        headers = {"Authorization": "Bearer sk-evil"}
        for victim in ("a" * 30 + "b", "a" * 100_000 + "b", "a" * 40):
            body = {"model": "x/y", "messages": [{"role": "user", "content": victim}]}
            started = time.monotonic()
            response = httpx.post(
                url + "/api/v1/chat/completions", json=body, headers={**headers, "x-evil": victim[-20_000:]}, timeout=5
            )
            assert response.status_code == 200, response.text
            assert time.monotonic() - started < 2
            content = response.json()["choices"][0]["message"]["content"]
            assert (content == "matched") is victim.endswith("a")
    except httpx.TimeoutException:
        pytest.fail(f"the server hung on {EVIL!r}: backtracking is back")
    finally:
        process.kill()
        process.communicate(timeout=5)


@pytest.mark.parametrize(
    ("pattern", "what"),
    [
        (r"(a)\1", "escape sequence"),
        ("foo(?=bar)", "perl operator"),
        ("(?<!x)y", "perl operator"),
        ("(?>a+)b", "perl operator"),
        ("a++", "repetition operator"),
        ("((a{100}){100}){100}", "repetition size"),
    ],
)
@pytest.mark.parametrize("where", ["last_user", "header", "body"])
def test_patterns_re2_cannot_run_in_linear_time_are_load_errors(pattern: str, what: str, where: str) -> None:
    value = json.dumps(pattern)
    spec = {
        "last_user": f"  last_user: {value}\n",
        "header": f"  header:\n    x-tenant: {value}\n",
        "body": f"  body:\n    metadata.tenant: {value}\n",
    }[where]
    [error] = errors_of("name: rx\nmatch:\n" + spec + "steps: [{content: x}]\n")
    assert error.file == "f.yaml"
    assert error.line == (3 if where == "last_user" else 4)
    assert error.field is not None and error.field.startswith(f"match.{where}")
    assert "invalid regex" in error.message and what in error.message
    if what != "repetition size":
        assert "RE2" in error.message


def test_an_oversized_pattern_is_a_load_error() -> None:
    [error] = errors_of("name: rx\nmatch:\n  last_user: " + json.dumps(r"\pL{1000}" * 20) + "\nsteps: [{content: x}]\n")
    assert error.line == 3
    assert "invalid regex" in error.message and "too large" in error.message


# -- thousands of documents ---------------------------------------------------------------------


def test_more_than_max_documents_is_a_load_error_naming_the_line() -> None:
    text = "a: 1\n---\n" * (MAX_DOCUMENTS + 5)
    started = time.perf_counter()
    with pytest.raises(ScenarioErrors) as info:
        load_text(text, "many.yaml")
    [error] = info.value.errors
    assert error.file == "many.yaml"
    assert error.line == 2 * MAX_DOCUMENTS + 1  # the first document past the limit
    assert str(MAX_DOCUMENTS) in error.message
    assert time.perf_counter() - started < 10


def test_two_thousand_scenarios_in_one_file_load() -> None:
    text = "".join(f"---\nname: s{i}\nmatch: {{last_user: 'x{i}$'}}\nsteps: [{{content: hi}}]\n" for i in range(2000))
    started = time.perf_counter()
    scenarios = load_text(text, "big.yaml")
    assert len(scenarios) == 2000 and scenarios[-1].line == 4 * 1999 + 2
    assert time.perf_counter() - started < 10


# -- template tricks ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "template",
    [
        '{{ "{0.__class__}".format(request) }}',
        '{{ "%s" % request }}',
        '{{ f"{request}" }}',
        "{{ request.model.__format__ }}",
        "{{ request.model | format }}",
        '{{ faker.pystr_format("{{seed_instance}}") }}',
        '{{ faker.format("seed_instance") }}',
        "{{ faker.__init__() }}",
        "{{ request.__class__.__mro__ }}",
        "{{ getattr(request, 'x') }}",
        "{{ import os }}",
        "{{ seq * 100000 }}",
        '{{ "ab" * 100000000 }}',
        "{{ faker.binary(10000000) }}",
    ],
)
def test_template_tricks_are_load_errors_naming_file_and_line(template: str) -> None:
    [error] = errors_of("name: tpl\nsteps:\n  - content: fine\n  - content: " + json.dumps(template) + "\n")
    assert isinstance(error, TemplateError)
    assert (error.file, error.line, error.field) == ("f.yaml", 4, "steps[1].content")


def test_format_syntax_outside_braces_is_plain_text() -> None:
    from mockrouter.scenario.templates import compile_template

    text = "{0.__class__} {request} %s %(x)s {{{{"
    template = compile_template(text.replace("{{{{", "{ {"))
    assert template.static == text.replace("{{{{", "{ {")


# -- header injection -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "field"),
    [
        ({"status": 429, "retry_after": "1\r\nSet-Cookie: session=stolen"}, "steps[0].error.retry_after"),
        ({"status": 429, "retry_after": "in 5 € seconds"}, "steps[0].error.retry_after"),
        ({"status": 503, "headers": {"Via": "proxy\r\nSet-Cookie: session=stolen"}}, "steps[0].error.headers.Via"),
        ({"status": 503, "headers": {"Via": "1.1 прокси"}}, "steps[0].error.headers.Via"),
        ({"status": 503, "headers": {"X-A\nX-B": "1"}}, None),
    ],
)
def test_headers_that_would_break_the_response_are_refused_by_the_admin_api(anyrouter_server, error, field) -> None:
    """Served, these made the answer a 500 (not Latin-1) or a dropped connection (CR/LF: h11 and
    httptools refuse the header); they are load errors, with the loader's message."""
    scenario = {"name": "inject", "steps": [{"error": error}]}
    [expected] = errors_of(json.dumps(scenario))
    response = httpx.post(anyrouter_server.url + "/__mockrouter/scenarios", json=scenario, timeout=10)
    assert response.status_code == 400, response.text
    [reported] = response.json()["error"]["errors"]
    assert reported["message"] == expected.message
    assert reported["field"] == expected.field
    if field is not None:
        assert reported["field"] == field
    chat = {"model": "mockrouter/inject", "messages": [{"role": "user", "content": "hi"}]}
    answer = httpx.post(
        anyrouter_server.base_url + "/chat/completions", json=chat, headers={"Authorization": "Bearer sk-x"}
    )
    assert answer.status_code == 404  # never loaded
