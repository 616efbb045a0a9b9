"""The docs that cannot drift: the scenario reference, the cookbook, the CI recipe, editor support.

- ``docs/scenarios.md`` is generated from ``schemas/scenario.schema.json`` (``mockrouter.docs``);
  every field there has a description and examples, and every example, placed in a whole
  scenario, loads with the real loader and passes ``mockrouter check``.
- Every recipe of ``docs/cookbook.md`` runs in a real server and fails the way it promises.
- The README's GitHub Actions recipe starts a real ``mockrouter serve`` and waits on its health.
- Every built-in scenario names the schema in its ``yaml-language-server`` modeline.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import yaml
from faker import Faker
from jsonschema import Draft202012Validator
from recipes import ROOT

from mockrouter import docs
from mockrouter.catalog import Catalog
from mockrouter.check import check_scenario
from mockrouter.scenario.loader import load_text
from mockrouter.schemas import SchemaRegistry
from mockrouter.server import BackgroundServer

SCHEMA = docs.load_schema()
EXAMPLES = docs.examples(SCHEMA)
COOKBOOK = ROOT / "docs" / "cookbook.md"
REFERENCE = ROOT / "docs" / "scenarios.md"


# --------------------------------------------------------------------------- A. the reference


def test_reference_is_generated_from_the_schema() -> None:
    assert REFERENCE.read_text(encoding="utf-8") == docs.render(SCHEMA), (
        "docs/scenarios.md is out of date with schemas/scenario.schema.json: "
        "run `python -m mockrouter.docs` from the repository root and commit the result"
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
