"""Templates as users write them: a scenario file full of faker calls served by a real server,
and request fields checked at load time with their file, line and field."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from mockrouter.errors import ScenarioErrors, TemplateError
from mockrouter.http.server import BackgroundServer
from mockrouter.scenario.loader import load_text
from mockrouter.scenario.templates import known_request_fields

FAKER_SCENARIO = """\
name: fake-order
match: {last_user: order}
steps:
  - content: |-
      id: {{ faker.random_int(1, 1000000) }}
      count: {{ faker.pyint() }}
      below: {{ faker.random_int(-500, -1) }}
      price: {{ faker.pyfloat(left_digits=3, right_digits=2, positive=true) }}
      phone: {{ faker.numerify("###-###") }}
      date: {{ faker.date_between("-30d", "today") }}
      note: {{ faker.sentence(nb_words=8) }}
      name: {{ faker.name() }}
      email: {{ faker.email() }}
      uuid: {{ faker.uuid4() }}
      city: {{ faker.city() }}
      big: {{ faker.random_int(1000000000000, 9000000000000) }}
      model: {{ request.model }}
      asked: {{ request.last_user }}
"""

LINES = {
    "id": r"\d{1,7}",
    "count": r"\d+",
    "below": r"-\d{1,3}",
    "price": r"\d{1,3}\.\d{1,2}",
    "phone": r"\d{3}-\d{3}",
    "date": r"\d{4}-\d\d-\d\d",
    "note": r"[A-Z][a-z]*( [a-z]+)*\.",
    "name": r"[A-Z][\w.' -]+",
    "email": r"[\w.+-]+@[\w.-]+\.\w+",
    "uuid": r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}",
    "city": r"[A-Z][\w' -]+",
    "big": r"[1-9]\d{12}",
    "model": r"openai/gpt-4o-mini",
    "asked": r"one order please",
}


def ask(server: BackgroundServer, key: str) -> str:
    response = httpx.post(
        server.url + "/v1/chat/completions",
        headers={"Authorization": f"Bearer {key}"},
        json={"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "one order please"}]},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()["choices"][0]["message"]["content"]


def test_a_scenario_file_of_ordinary_faker_calls_is_served(
    make_server: Callable[..., BackgroundServer], tmp_path: Path
) -> None:
    path = tmp_path / "orders.yaml"
    path.write_text(FAKER_SCENARIO)
    server = make_server(scenarios=[path], seed=42)
    first = ask(server, "sk-test-faker-a")
    fields = dict(line.split(": ", 1) for line in first.split("\n"))
    assert list(fields) == list(LINES)
    for name, pattern in LINES.items():
        assert re.fullmatch(pattern, fields[name]), (name, fields[name])
    assert 1 <= int(fields["id"]) <= 1_000_000
    assert ask(server, "sk-test-faker-b") == first, "a seeded server renders the same text for the same request"


def test_mockrouter_serve_starts_with_that_file(tmp_path: Path) -> None:
    """The bug: ``mockrouter serve --scenarios FILE`` refused ``random_int(1, 1000000)`` and did
    not start. ``mockrouter check`` loads files exactly as ``serve`` does."""
    path = tmp_path / "orders.yaml"
    path.write_text(FAKER_SCENARIO)
    result = subprocess.run(
        [sys.executable, "-m", "mockrouter", "check", str(path)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr


# -- request fields ---------------------------------------------------------------------------


def test_the_known_request_fields_are_every_surfaces_request_properties_and_last_user() -> None:
    """A template sees the chat view of any surface's request: chat's fields, and each
    surface's own (``input``, ``system``...)."""
    import json

    from mockrouter.core.resources import schemas_dir

    fields = {"last_user"}
    for surface in ("chat", "messages", "responses"):
        fields |= set(json.loads((schemas_dir() / f"{surface}-request.schema.json").read_text())["properties"])
    assert {"messages", "input", "instructions", "system"} <= fields
    assert set(known_request_fields()) == fields


@pytest.mark.parametrize(
    ("template", "needles"),
    [
        ("{{ request.last_usr }}", ["last_usr", "did you mean", "last_user"]),
        ("{{ request.modle | upper }}", ["modle", "did you mean", "model"]),
        ("{{ request.mesages[0].content }}", ["mesages", "messages"]),
        ("{{ request.nope }}", ["nope", "fields of a request", "messages-request.schema.json"]),
        ("{{ request.model.name }}", ["request.model", "string"]),
        ("{{ request.last_user.text }}", ["request.last_user", "string"]),
        ("{{ request.messages.content }}", ["request.messages", "list", "request.messages[0]"]),
        ("{{ request.messages[0][1] }}", ["request.messages[0]", "object"]),
        ("{{ request.temperature[0] }}", ["request.temperature", "number"]),
        ("{{ request[0] }}", ["request", "field"]),
    ],
)
def test_unknown_request_fields_are_load_errors_with_file_line_and_field(template: str, needles: list[str]) -> None:
    text = f"name: typo\nsteps:\n  - content: fine\n  - content: {template!r}\n"
    with pytest.raises(ScenarioErrors) as info:
        load_text(text, "typo.yaml")
    [error] = info.value.errors
    assert isinstance(error, TemplateError)
    assert (error.file, error.line, error.field) == ("typo.yaml", 4, "steps[1].content")
    for needle in needles:
        assert needle in error.message, (needle, error.message)
    assert str(error).startswith("typo.yaml:4: steps[1].content: ")


def test_mockrouter_check_reports_a_misspelt_request_field(tmp_path: Path) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            name: typo
            steps:
              - tool_calls:
                  - name: lookup
                    arguments: '{"query": "{{ request.last_usr }}"}'
            """
        )
    )
    result = subprocess.run(
        [sys.executable, "-m", "mockrouter", "check", str(path)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert f"{path}:5: steps[0].tool_calls[0].arguments:" in output, output
    assert "did you mean 'last_user'" in output, output
    assert "Traceback" not in output


@pytest.mark.parametrize(
    "template",
    [
        "{{ request }}",
        "{{ request.user }}",
        "{{ request.messages[-1].content }}",
        "{{ request.messages[0].content[0].text }}",
        "{{ request.messages[0].tool_calls[0].function.arguments }}",
        "{{ request.messages[0].anything_a_client_adds }}",
        "{{ request.tools[0].function.parameters.properties.city }}",
        "{{ request.response_format.json_schema.schema.type }}",
        "{{ request.metadata.tenant }}",
        "{{ request.provider.order[0] }}",
        "{{ request.tool_choice.function.name }}",
        "{{ request.stop[0] }}",
    ],
)
def test_paths_the_chat_request_schema_allows_load(template: str) -> None:
    [scenario] = load_text(f"name: ok\nsteps:\n  - content: {template!r}\n", "ok.yaml")
    assert scenario.name == "ok"


def test_the_builtin_scenarios_still_load() -> None:
    from mockrouter.core.resources import scenarios_dir

    result = subprocess.run(
        [sys.executable, "-m", "mockrouter", "check", str(scenarios_dir())], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
