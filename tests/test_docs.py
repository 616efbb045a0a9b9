"""The docs that cannot drift: the scenario reference, the cookbook, the CI recipe, editor support.

- ``docs/scenarios.md`` is generated from ``schemas/scenario.schema.json`` (``mockrouter.tools.docs``);
  every field there has a description and examples, and every example, placed in a whole
  scenario, loads with the real loader and passes ``mockrouter check``.
- Every recipe of ``docs/cookbook.md`` runs in a real server and fails the way it promises.
- The README's GitHub Actions recipe starts a real ``mockrouter serve`` and waits on its health.
- Every built-in scenario names the schema in its ``yaml-language-server`` modeline.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import yaml
from faker import Faker
from jsonschema import Draft202012Validator
from recipes import ROOT, recipe, recipes

from mockrouter.core.catalog import Catalog
from mockrouter.core.schemas import SchemaRegistry
from mockrouter.http.server import BackgroundServer
from mockrouter.scenario.loader import load_text
from mockrouter.tools import docs
from mockrouter.tools.check import check_scenario

SCHEMA = docs.load_schema()
EXAMPLES = docs.examples(SCHEMA)
COOKBOOK = ROOT / "docs" / "cookbook.md"
REFERENCE = ROOT / "docs" / "scenarios.md"


# --------------------------------------------------------------------------- A. the reference


def test_reference_is_generated_from_the_schema() -> None:
    assert REFERENCE.read_text(encoding="utf-8") == docs.render(SCHEMA), (
        "docs/scenarios.md is out of date with schemas/scenario.schema.json: "
        "run `python -m mockrouter.tools.docs` from the repository root and commit the result"
    )


def _all_properties() -> Iterator[tuple[str, dict[str, Any]]]:
    for section in docs.sections(SCHEMA):
        for prop, node in section.node["properties"].items():
            yield f"{section.paths[0]}.{prop}".lstrip("."), node


def test_every_object_of_the_schema_is_documented() -> None:
    """Each object with properties, in $defs or inline anywhere, is a section of the reference."""
    documented = {id(s.node) for s in docs.sections(SCHEMA)}

    def objects(node: Any) -> Iterator[dict[str, Any]]:
        if isinstance(node, dict):
            if isinstance(node.get("properties"), dict):
                yield node
            for key, value in node.items():
                if key != "examples":
                    yield from objects(value)
        elif isinstance(node, list):
            for value in node:
                yield from objects(value)

    missing = [o for o in objects(SCHEMA) if id(o) not in documented]
    assert not missing, f"objects of the schema the reference does not reach: {missing}"


@pytest.mark.parametrize(("path", "node"), list(_all_properties()), ids=[p for p, _ in _all_properties()])
def test_every_property_has_a_description_and_valid_examples(path: str, node: dict[str, Any]) -> None:
    info = docs.property_info(SCHEMA, node)
    assert info.get("description"), f"{path}: no description in the schema"
    assert info.get("examples"), f"{path}: no examples in the schema"
    validator = Draft202012Validator({**node, "$defs": SCHEMA["$defs"]})
    for example in info["examples"]:
        errors = [e.message for e in validator.iter_errors(example)]
        assert not errors, f"{path}: example {example!r} breaks the schema: {errors}"
    assert any(e.where == path for e in EXAMPLES), f"{path}: no example shown in the reference"


@pytest.fixture(scope="module")
def checker() -> Callable[[str], list[str]]:
    registry, catalog, faker = SchemaRegistry(), Catalog.load(), Faker()

    def check(text: str) -> list[str]:
        [scenario] = load_text(text, "example.yaml")  # raises ScenarioErrors with file:line: field
        return [str(e) for e in check_scenario(scenario, registry, catalog, faker)]

    return check


@pytest.mark.parametrize("example", EXAMPLES, ids=[f"{e.where or 'scenario'}={e.value!r}"[:80] for e in EXAMPLES])
def test_every_example_loads_in_a_whole_scenario(example: docs.Example, checker: Callable[[str], list[str]]) -> None:
    text = docs.to_yaml(example.scenario)
    assert yaml.safe_load(text) == example.scenario
    assert yaml.safe_load(docs.to_yaml(example.snippet)) == example.snippet  # what the reference shows
    assert checker(text) == []


def test_schema_defaults_are_the_loaders() -> None:
    [scenario] = load_text("name: d\nsteps:\n  - content: x\n    fault: {kind: error}\n  - error: {status: 502}\n")
    step, error_step = scenario.steps
    defs, props = SCHEMA["$defs"], SCHEMA["properties"]
    assert scenario.priority == props["priority"]["default"]
    assert scenario.then == props["then"]["default"]
    for name in ("chunk_tokens", "keepalive", "usage"):
        assert getattr(step.stream, name) == defs["stream"]["properties"][name]["default"], name
    for name in ("latency_ms", "ttft_ms", "interval_ms", "jitter_ms"):
        assert getattr(step.timing, name) == defs["timing"]["properties"][name]["default"], name
    assert step.fault is not None and step.fault.error is not None
    assert step.fault.after_chunks == defs["fault"]["properties"]["after_chunks"]["default"]
    fault_error = defs["fault"]["properties"]["error"]["properties"]
    assert step.fault.error.status == fault_error["status"]["default"]
    assert step.fault.error.message == fault_error["message"]["default"]
    assert error_step.error is not None and error_step.error.content_type is None  # the default is the server's:
    assert defs["error"]["properties"]["content_type"]["default"].startswith("text/plain")


def test_the_schema_examples_answer_through_a_real_server(
    make_server: Callable[..., BackgroundServer],
) -> None:
    """The complete scenarios of the schema, added through the admin API and requested."""
    server = make_server()
    key = "sk-docs-examples"
    with httpx.Client(timeout=10) as http:
        for doc in SCHEMA["examples"]:
            added = http.post(
                f"{server.url}/__mockrouter/scenarios",
                params={"key": key},
                content=docs.to_yaml(doc),
                headers={"content-type": "application/yaml"},
            )
            assert added.status_code == 201, added.text
        ask = {"messages": [{"role": "user", "content": "hello there"}]}
        auth = {"Authorization": f"Bearer {key}"}
        greet = http.post(f"{server.base_url}/chat/completions", json={**ask, "model": "m"}, headers=auth)
        assert greet.status_code == 200 and greet.json()["choices"][0]["message"]["content"] == "Hi! How can I help?"
        flaky = [
            http.post(
                f"{server.base_url}/chat/completions", json={**ask, "model": "mockrouter/flaky-then-ok"}, headers=auth
            )
            for _ in range(3)
        ]
        assert [r.status_code for r in flaky] == [503, 200, 503]
        assert flaky[0].headers["retry-after"] == "1"
        assert flaky[1].json()["choices"][0]["message"]["content"] == "Recovered: hello there"


def test_readme_links_the_reference_and_the_cookbook() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "(docs/scenarios.md)" in readme
    assert "(docs/cookbook.md)" in readme


# --------------------------------------------------------------------------- B. the cookbook

CHAT = [{"role": "user", "content": "hi"}]


def test_cookbook_has_ten_short_recipes_that_pass_check(checker: Callable[[str], list[str]]) -> None:
    found = recipes(COOKBOOK)
    assert len(found) == 10 and all(name.startswith("cookbook-") for name in found), sorted(found)
    text = COOKBOOK.read_text(encoding="utf-8")
    for name, item in found.items():
        assert item.language == "yaml", name
        assert len(item.code.splitlines()) <= 10, f"{name}: longer than 10 lines"
        assert checker(item.code) == [], name
        # a heading and two sentences before each recipe
        before = text[: text.index(f"<!-- recipe: {name} -->")].rstrip().rsplit("\n## ", 1)[1]
        assert before.count(". ") + before.count(".\n") >= 2, name


@pytest.fixture(scope="module")
def cookbook_server(make_server: Callable[..., BackgroundServer]) -> BackgroundServer:
    return make_server()


class Cook:
    """One cookbook recipe loaded for a fresh key of the shared server."""

    def __init__(self, server: BackgroundServer, name: str, key: str) -> None:
        self.server = server
        self.item = recipe(f"cookbook-{name}", COOKBOOK)
        self.key = key
        #: SDK clients made by ``sdk``, closed by the ``cook`` fixture: an unclosed client's
        #: pooled socket is found by a later garbage collection, failing whichever test runs then.
        self.clients: list[openai.OpenAI] = []
        self.model = f"mockrouter/{yaml.safe_load(self.item.code)['name']}"
        added = httpx.post(
            f"{server.url}/__mockrouter/scenarios",
            params={"key": key},
            content=self.item.code,
            headers={"content-type": "application/yaml"},
        )
        assert added.status_code == 201, added.text

    def post(self, stream: bool = False, dialect: str = "anyrouter", timeout: float = 10) -> httpx.Response:
        return httpx.post(
            f"{self.server.base_url}/chat/completions",
            json={"model": self.model, "messages": CHAT, "stream": stream},
            headers={"Authorization": f"Bearer {self.key}", "X-Mockrouter-Dialect": dialect},
            timeout=timeout,
        )

    def stream_lines(self, timeout: float = 10) -> Iterator[str]:
        """The SSE lines of one streamed request, as they arrive."""
        body = {"model": self.model, "messages": CHAT, "stream": True}
        headers = {"Authorization": f"Bearer {self.key}"}
        with httpx.stream(
            "POST", f"{self.server.base_url}/chat/completions", json=body, headers=headers, timeout=timeout
        ) as response:
            assert response.status_code == 200
            yield from response.iter_lines()

    def sdk(self, **options: Any) -> openai.OpenAI:
        client = openai.OpenAI(base_url=self.server.base_url, api_key=self.key, **options)
        self.clients.append(client)
        return client

    def statuses(self) -> list[int]:
        entries = httpx.get(f"{self.server.url}/__mockrouter/requests", params={"key": self.key}).json()["data"]
        return [e["status"] for e in entries]


@pytest.fixture
def cook(cookbook_server: BackgroundServer, api_key: str) -> Iterator[Callable[[str], Cook]]:
    made: list[Cook] = []

    def make(name: str) -> Cook:
        made.append(Cook(cookbook_server, name, api_key))
        return made[-1]

    yield make
    for c in made:
        for client in c.clients:
            client.close()


def _data(lines: list[str]) -> list[str]:
    return [line[len("data: ") :] for line in lines if line.startswith("data: ")]


def test_cookbook_rate_limited(cook: Callable[[str], Cook]) -> None:
    c = cook("rate-limited")
    started = time.monotonic()
    reply = c.sdk().chat.completions.create(model=c.model, messages=CHAT)  # the SDK honours Retry-After
    waited = time.monotonic() - started
    assert reply.choices[0].message.content == "Thanks for waiting."
    assert c.statuses() == [429, 200] and 0.9 <= waited < 5
    first = Cook(c.server, "rate-limited", c.key + "-raw").post()  # a fresh key sees the 429 first
    assert first.status_code == 429 and first.headers["retry-after"] == "1"


def test_cookbook_rate_limited_forever(cook: Callable[[str], Cook]) -> None:
    c = cook("rate-limited-forever")
    with pytest.raises(openai.RateLimitError) as info:
        c.sdk(max_retries=2).chat.completions.create(model=c.model, messages=CHAT)
    assert info.value.response.headers["retry-after-ms"] == "200"
    assert c.statuses() == [429, 429, 429]  # a bounded client gives up


def test_cookbook_upstream_errors(cook: Callable[[str], Cook]) -> None:
    c = cook("upstream-errors")
    bad_gateway = c.post(dialect="openrouter")
    assert bad_gateway.status_code == 502
    error = bad_gateway.json()["error"]
    assert error["code"] == 502 and error["message"] == "Provider returned error"
    assert error["metadata"]["provider_name"] == "OpenAI" and error["metadata"]["raw"] == "upstream connect error"
    overloaded = c.post(dialect="openrouter")
    assert overloaded.status_code == 503 and overloaded.headers["retry-after"] == "1"
    timed_out = c.post(dialect="openrouter")
    assert timed_out.status_code == 504 and timed_out.json()["error"]["message"] == "Upstream timed out"
    assert c.post(dialect="openrouter").json()["choices"][0]["message"]["content"] == "Fourth time lucky."


def test_cookbook_upstream_errors_with_a_retrying_sdk(cook: Callable[[str], Cook]) -> None:
    c = cook("upstream-errors")
    reply = c.sdk(max_retries=3).chat.completions.create(model=c.model, messages=CHAT)
    assert reply.choices[0].message.content == "Fourth time lucky."
    assert c.statuses() == [502, 503, 504, 200]


def test_cookbook_insufficient_credits(cook: Callable[[str], Cook]) -> None:
    c = cook("insufficient-credits")
    with pytest.raises(openai.APIStatusError) as info:
        c.sdk(max_retries=2).chat.completions.create(model=c.model, messages=CHAT)
    assert info.value.status_code == 402 and "Insufficient credits" in info.value.message
    assert c.statuses() == [402]  # not retried


def test_cookbook_mid_stream_error(cook: Callable[[str], Cook]) -> None:
    c = cook("mid-stream-error")
    events = _data(list(c.stream_lines()))
    assert "[DONE]" not in events
    chunks = [json.loads(e) for e in events]
    assert len(chunks) == 4 and "error" not in chunks[2]
    last = chunks[-1]
    assert last["error"]["message"] == "Provider disconnected unexpectedly"
    assert last["choices"][0]["finish_reason"] == "error"


def test_cookbook_connection_dropped(cook: Callable[[str], Cook]) -> None:
    c = cook("connection-dropped")
    lines: list[str] = []
    with pytest.raises(httpx.RemoteProtocolError):
        for line in c.stream_lines():
            lines.append(line)
    assert len(_data(lines)) == 3 and "[DONE]" not in _data(lines)


def test_cookbook_stalled_stream(cook: Callable[[str], Cook]) -> None:
    c = cook("stalled-stream")
    lines: list[str] = []
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        for line in c.stream_lines(timeout=0.5):
            lines.append(line)
    assert len(_data(lines)) == 2 and time.monotonic() - started < 5


def test_cookbook_malformed_chunk(cook: Callable[[str], Cook]) -> None:
    c = cook("malformed-chunk")
    events = _data(list(c.stream_lines()))
    assert events[-1] == "[DONE]"
    bad = []
    for event in events[:-1]:
        try:
            json.loads(event)
        except json.JSONDecodeError:
            bad.append(event)
    assert len(bad) == 1 and events.index(bad[0]) == 2
    with pytest.raises(json.JSONDecodeError):  # the openai SDK does not skip it
        for _ in c.sdk().chat.completions.create(model=c.model, messages=CHAT, stream=True):
            pass


def test_cookbook_not_a_full_answer(cook: Callable[[str], Cook]) -> None:
    c = cook("not-a-full-answer")
    replies = [c.post() for _ in range(3)]
    assert [r.status_code for r in replies] == [200, 200, 200]
    choices = [r.json()["choices"][0] for r in replies]
    assert [ch["finish_reason"] for ch in choices] == ["content_filter", "length", "error"]
    assert choices[2]["error"]["code"] and choices[2]["message"]["content"] == "Half an"


def test_cookbook_invalid_tool_arguments(cook: Callable[[str], Cook]) -> None:
    c = cook("invalid-tool-arguments")
    reply = c.sdk().chat.completions.create(model=c.model, messages=CHAT)
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    [call] = choice.message.tool_calls or []
    assert call.function.name == "get_weather" and call.function.arguments == '{"city": "Tok'
    with pytest.raises(json.JSONDecodeError):
        json.loads(call.function.arguments)


# --------------------------------------------------------------------------- C. the CI recipe

USER_TEST = """
from openai import OpenAI


def test_reply_through_the_service():
    client = OpenAI()  # OPENAI_BASE_URL and OPENAI_API_KEY from the job's env
    reply = client.chat.completions.create(model="mockrouter/ci-greeting", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content == "Hello from CI"
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(shutil.which("curl") is None, reason="the recipe waits with curl (on GitHub's runners too)")
def test_ci_recipe_starts_a_server_and_waits_for_health(tmp_path: Path) -> None:
    item = recipe("ci-github-actions")
    port = _free_port()
    job = yaml.safe_load(item.code.replace("8080", str(port)))  # substitution 1: a free port
    steps = {step["name"]: step for step in job["jobs"]["test"]["steps"] if "run" in step}
    assert list(steps) == ["Install mockrouter", "Start mockrouter", "Run tests"]
    assert steps["Install mockrouter"]["run"].split()[:2] == ["pip", "install"]
    install = "true"  # substitution 2: mockrouter is installed in this environment already
    # The user's repository: a scenario for --scenarios and a test that reads the job's env.
    (tmp_path / "tests" / "mockrouter").mkdir(parents=True)
    (tmp_path / "tests" / "mockrouter" / "greeting.yaml").write_text(
        "name: ci-greeting\nsteps:\n  - content: Hello from CI\n", encoding="utf-8"
    )
    (tmp_path / "tests" / "test_app.py").write_text(USER_TEST, encoding="utf-8")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env = {k: v for k, v in env.items() if not k.startswith(("MOCKROUTER_", "OPENAI_", "PYTEST_"))}

    def run(script: str, extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # GitHub's default shell: bash -e
            ["bash", "-e", "-c", script], cwd=tmp_path, env={**env, **(extra or {})}, capture_output=True, text=True
        )

    assert run(install).returncode == 0
    # The start step in a session of its own, so the server it leaves running can be stopped by id.
    start = subprocess.Popen(
        ["bash", "-e", "-c", steps["Start mockrouter"]["run"]],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = start.communicate(timeout=60)
        log = (tmp_path / "mockrouter.log").read_text(encoding="utf-8", errors="replace")
        assert start.returncode == 0, f"{out}\n{err}\n{log}"
        assert json.loads(out)["status"] == "ok"  # what the health wait printed
        answer = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/chat/completions",
            json={"model": "mockrouter/ci-greeting", "messages": CHAT},
            headers={"Authorization": "Bearer sk-ci"},
        )
        assert answer.status_code == 200 and answer.json()["choices"][0]["message"]["content"] == "Hello from CI"
        job_env = {k: str(v) for k, v in steps["Run tests"]["env"].items()}
        # Not a change to the recipe: this machine's pytest plugins (schemathesis, ...) only slow the inner run.
        tests = run(steps["Run tests"]["run"], {**job_env, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})
        assert tests.returncode == 0, tests.stdout + tests.stderr
        assert "1 passed" in tests.stdout
    finally:
        os.killpg(start.pid, signal.SIGTERM)  # the background server is in the start step's group
    for _ in range(100):
        try:
            httpx.get(f"http://127.0.0.1:{port}/__mockrouter/health", timeout=0.2)
        except httpx.TransportError:
            break
        time.sleep(0.1)
    else:
        pytest.fail("the background server did not stop on SIGTERM")


# --------------------------------------------------------------------------- D. editor support

BUILTIN_FILES = sorted((ROOT / "scenarios").glob("*.yaml"))
MODELINE = re.compile(r"^# yaml-language-server: \$schema=(\S+)$")


@pytest.mark.parametrize("path", BUILTIN_FILES, ids=lambda p: p.name)
def test_every_builtin_names_the_schema_in_its_modeline(path: Path) -> None:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    match = MODELINE.match(first)
    assert match, f"{path.name}: the first line is not a yaml-language-server modeline: {first!r}"
    assert (path.parent / match.group(1)).resolve() == (ROOT / "schemas" / "scenario.schema.json").resolve()


def test_readme_editor_snippets_point_at_the_schema() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Editor support") :]
    section = section[: section.index("\n## ")]
    yaml_block = re.search(r"```yaml\n(.*?)\n```", section, re.DOTALL)
    json_block = re.search(r"```json\n(.*?)\n```", section, re.DOTALL)
    assert yaml_block and json_block
    modeline = MODELINE.match(yaml_block.group(1).splitlines()[0])
    assert modeline and (ROOT / "scenarios" / modeline.group(1)).resolve() == ROOT / "schemas" / "scenario.schema.json"
    load_text(yaml_block.group(1))  # the example file is a valid scenario
    [(schema, globs)] = json.loads(json_block.group(1))["yaml.schemas"].items()
    assert (ROOT / schema).resolve() == ROOT / "schemas" / "scenario.schema.json"
    assert any(ROOT.glob(globs[0]))  # the built-ins match the first glob
    command = re.search(r'`(python -c "[^`]*")`', section)
    assert command, "the README no longer says how to find the installed schema"
    printed = subprocess.run(
        [sys.executable, "-c", command.group(1).split('"', 1)[1].rsplit('"', 1)[0]],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(printed).name == "scenario.schema.json" and Path(printed).is_file()
