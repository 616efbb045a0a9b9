"""Scenario selection, match conditions, cursors and near misses.

SPEC ("Scenarios", "Details users and tests rely on"): header ``X-Mockrouter-Scenario`` beats
model ``mockrouter/NAME`` beats ``match``; the highest priority wins, then load order; scoped
scenarios are tried before global ones; cursors are per (scenario, key), and
``X-Mockrouter-Session`` overrides the key; unmatched requests get ``echo`` and the journal
records the three nearest scenarios with what failed.
"""

from __future__ import annotations

import fnmatch
import json
import random
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mockrouter.core.conversation import conversation_hash
from mockrouter.core.surfaces import chat_view
from mockrouter.http.server import BackgroundServer
from mockrouter.scenario import matcher as matcher_module
from mockrouter.scenario.engine import Engine
from mockrouter.scenario.loader import load_text
from mockrouter.scenario.matcher import RequestFacts, _model_matches, evaluate
from mockrouter.state.store import Journal, State

U = uuid.uuid4().hex[:8]  # keeps this module's global scenario names unique in the session

WEATHER_TOOL = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}},
}


def chat(
    client: httpx.Client,
    text: str = "hello",
    *,
    model: str = "acme/model-1",
    headers: dict[str, str] | None = None,
    **fields: Any,
) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": text}], **fields}
    return client.post("/chat/completions", json=body, headers=headers or {})


def answer(response: httpx.Response) -> str:
    """The assistant text of a JSON or SSE answer."""
    assert response.status_code == 200, response.text
    if response.headers["content-type"].startswith("text/event-stream"):
        text = ""
        for line in response.text.splitlines():
            if line.startswith("data: ") and line != "data: [DONE]":
                for choice in json.loads(line[6:]).get("choices", []):
                    text += choice.get("delta", {}).get("content") or ""
        return text
    return response.json()["choices"][0]["message"]["content"]


def say(client: httpx.Client, text: str = "hello", **kwargs: Any) -> str:
    return answer(chat(client, text, **kwargs))


@pytest.fixture
def dialect() -> str:
    """Selection is dialect-free (the engine knows nothing of envelopes): one dialect suffices."""
    return "anyrouter"


# -- selection order (scoped scenarios) -------------------------------------------------------


def test_header_beats_model_beats_match(http: httpx.Client, add_scenarios: Callable[[str], list[str]]) -> None:
    add_scenarios(
        """\
name: by-match
match: {model: "acme/*"}
steps: [{content: from-match}]
---
name: by-model
steps: [{content: from-model}]
---
name: by-header
steps: [{content: from-header}]
"""
    )
    assert say(http) == "from-match"
    assert say(http, model="mockrouter/by-model") == "from-model"
    assert say(http, model="mockrouter/by-model", headers={"X-Mockrouter-Scenario": "by-header"}) == "from-header"
    assert say(http, headers={"X-Mockrouter-Scenario": "by-header"}) == "from-header"
    # a scenario without `match` is never auto-matched
    assert say(http, "plain", model="other/model") == "plain"


def test_model_selection_reaches_builtins_and_scenarios_without_match(http: httpx.Client) -> None:
    response = chat(http, "hi", model="mockrouter/content-filter")
    assert response.json()["choices"][0]["finish_reason"] == "content_filter"


def test_higher_priority_wins_regardless_of_load_order(
    http: httpx.Client, add_scenarios: Callable[[str], list[str]]
) -> None:
    add_scenarios(
        """\
name: low
priority: 1
match: {last_user: "prio"}
steps: [{content: low}]
---
name: high
priority: 10
match: {last_user: "prio"}
steps: [{content: high}]
---
name: negative
priority: -5
match: {last_user: "prio"}
steps: [{content: negative}]
"""
    )
    assert say(http, "prio test") == "high"


def test_equal_priority_first_loaded_wins(http: httpx.Client, add_scenarios: Callable[[str], list[str]]) -> None:
    add_scenarios(
        """\
name: first
match: {last_user: "tie"}
steps: [{content: first}]
---
name: second
match: {last_user: "tie"}
steps: [{content: second}]
"""
    )
    add_scenarios("name: third\nmatch: {last_user: tie}\nsteps: [{content: third}]\n")
    assert say(http, "tie break") == "first"


def test_equal_priority_literal_model_and_glob_keep_load_order(
    http: httpx.Client, add_scenarios: Callable[[str], list[str]]
) -> None:
    """Literal model ids are indexed separately from globs; the index must not change the order."""
    add_scenarios(
        """\
name: glob-first
match: {model: "acme/*"}
steps: [{content: glob}]
---
name: literal-second
match: {model: acme/exact}
steps: [{content: literal}]
"""
    )
    assert say(http, model="acme/exact") == "glob"


def test_unknown_scenario_name_is_a_404_with_a_hint(http: httpx.Client) -> None:
    response = chat(http, model="mockrouter/rate-limitd")
    assert response.status_code == 404
    assert "did you mean 'rate-limited'" in response.text
    response = chat(http, headers={"X-Mockrouter-Scenario": "tool-cal"})
    assert response.status_code == 404
    assert "did you mean 'tool-call'" in response.text
    response = chat(http, headers={"X-Mockrouter-Scenario": "zzzzzzzz-nothing-like-it"})
    assert response.status_code == 404
    assert "zzzzzzzz-nothing-like-it" in response.text


# -- match conditions ------------------------------------------------------------------------


def test_model_glob_string(http: httpx.Client, add_scenarios: Callable[[str], list[str]]) -> None:
    add_scenarios('name: g\nmatch: {model: "openai/gpt-4o*"}\nsteps: [{content: matched}]\n')
    assert say(http, "x", model="openai/gpt-4o") == "matched"
    assert say(http, "x", model="openai/gpt-4o-mini") == "matched"
    assert say(http, "x", model="openai/gpt-3.5") == "x"
    assert say(http, "x", model="azure/openai/gpt-4o") == "x"


def test_model_glob_list(http: httpx.Client, add_scenarios: Callable[[str], list[str]]) -> None:
    add_scenarios('name: gl\nmatch: {model: ["exact/one", "wild/*", "q?/x"]}\nsteps: [{content: matched}]\n')
    assert say(http, "x", model="exact/one") == "matched"
    assert say(http, "x", model="wild/anything") == "matched"
    assert say(http, "x", model="q1/x") == "matched"
    assert say(http, "x", model="exact/two") == "x"
    assert say(http, "x", model="q12/x") == "x"


def test_model_literal_list(http: httpx.Client, add_scenarios: Callable[[str], list[str]]) -> None:
    add_scenarios("name: lit\nmatch: {model: [lit/one, lit/two]}\nsteps: [{content: matched}]\n")
    assert say(http, "x", model="lit/one") == "matched"
    assert say(http, "x", model="lit/two") == "matched"
    assert say(http, "x", model="lit/three") == "x"


@pytest.mark.parametrize("want", [True, False])
def test_stream_condition(want: bool, http: httpx.Client, add_scenarios: Callable[[str], list[str]]) -> None:
    add_scenarios(f"name: s\nmatch: {{stream: {str(want).lower()}}}\nsteps: [{{content: matched}}]\n")
    assert say(http, "x", stream=want) == "matched"
    assert say(http, "x", stream=not want) == "x"


def test_has_tools(http: httpx.Client, add_scenarios: Callable[[str], list[str]]) -> None:
    add_scenarios("name: t\nmatch: {has_tools: true}\nsteps: [{content: tools}]\n")
    assert say(http, "x", tools=[WEATHER_TOOL]) == "tools"
    assert say(http, "x") == "x"


def test_has_tools_false(http: httpx.Client, add_scenarios: Callable[[str], list[str]]) -> None:
    add_scenarios("name: nt\nmatch: {has_tools: false}\nsteps: [{content: no-tools}]\n")
    assert say(http, "x") == "no-tools"
    assert say(http, "x", tools=[WEATHER_TOOL]) == "x"


def test_last_role(http: httpx.Client, add_scenarios: Callable[[str], list[str]]) -> None:
    add_scenarios("name: r\nmatch: {last_role: tool}\nsteps: [{content: after-tool}]\n")
    messages = [
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "22C"},
    ]
    response = http.post("/chat/completions", json={"model": "m/x", "messages": messages})
    assert answer(response) == "after-tool"
    assert say(http, "weather?") == "weather?"


def test_last_user_regex(http: httpx.Client, add_scenarios: Callable[[str], list[str]]) -> None:
    add_scenarios('name: lu\nmatch: {last_user: "(?i)weather in \\\\w+$"}\nsteps: [{content: matched}]\n')
    assert say(http, "What is the WEATHER in Tokyo") == "matched"
    assert say(http, "weather in Tokyo?") == "weather in Tokyo?"
    # the last *user* message counts, even when an assistant message follows it
    messages = [{"role": "user", "content": "weather in Paris"}, {"role": "assistant", "content": "It rains."}]
    assert answer(http.post("/chat/completions", json={"model": "m/x", "messages": messages})) == "matched"


def test_last_user_joins_text_parts(http: httpx.Client, add_scenarios: Callable[[str], list[str]]) -> None:
    add_scenarios('name: parts\nmatch: {last_user: "^first\\nsecond$"}\nsteps: [{content: joined}]\n')
    content = [{"type": "text", "text": "first"}, {"type": "text", "text": "second"}]
    response = http.post("/chat/completions", json={"model": "m/x", "messages": [{"role": "user", "content": content}]})
    assert answer(response) == "joined"


def test_header_regex(http: httpx.Client, add_scenarios: Callable[[str], list[str]]) -> None:
    add_scenarios('name: h\nmatch: {header: {X-Tenant: "^acme$"}}\nsteps: [{content: tenant}]\n')
    assert say(http, "x", headers={"x-tenant": "acme"}) == "tenant"
    assert say(http, "x", headers={"X-TENANT": "acme"}) == "tenant"
    assert say(http, "x", headers={"x-tenant": "acme2"}) == "x"
    assert say(http, "x") == "x"


def test_body_dotted_path_equality_and_regex(http: httpx.Client, add_scenarios: Callable[[str], list[str]]) -> None:
    add_scenarios(
        """\
name: json-schema
match: {body: {"response_format.type": json_schema}}
steps: [{content: schema}]
---
name: by-temperature
match: {body: {temperature: 0.25, n: 1}}
steps: [{content: temperature}]
---
name: by-user
match: {body: {user: "^team-\\\\d+$"}}
steps: [{content: user}]
---
name: by-bool
match: {body: {parallel_tool_calls: false}}
steps: [{content: bool}]
---
name: by-index
match: {body: {"messages.0.role": system}}
steps: [{content: index}]
"""
    )
    schema_format = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
    assert say(http, "x", response_format=schema_format) == "schema"
    assert say(http, "x", response_format={"type": "json_object"}) == "x"
    assert say(http, "x", temperature=0.25, n=1) == "temperature"
    assert say(http, "x", temperature=0.25) == "x"
    assert say(http, "x", temperature=0.5, n=1) == "x"
    assert say(http, "x", user="team-42") == "user"
    assert say(http, "x", user="team-42b") == "x"
    assert say(http, "x", parallel_tool_calls=False) == "bool"
    assert say(http, "x", parallel_tool_calls=True) == "x"
    messages = [{"role": "system", "content": "s"}, {"role": "user", "content": "x"}]
    assert answer(http.post("/chat/completions", json={"model": "m/x", "messages": messages})) == "index"


def test_body_equality_distinguishes_bool_from_number(
    http: httpx.Client, add_scenarios: Callable[[str], list[str]]
) -> None:
    add_scenarios("name: one\nmatch: {body: {top_k: 1}}\nsteps: [{content: one}]\n")
    assert say(http, "x", top_k=1) == "one"
    assert say(http, "x", top_k=2) == "x"


def test_all_conditions_must_hold(http: httpx.Client, add_scenarios: Callable[[str], list[str]]) -> None:
    add_scenarios('name: all\nmatch: {model: "acme/*", stream: false, last_user: "^go$"}\nsteps: [{content: all}]\n')
    assert say(http, "go") == "all"
    assert say(http, "go", stream=True) == "go"
    assert say(http, "go", model="other/x") == "go"
    assert say(http, "go!") == "go!"


# -- cursors and `then` --------------------------------------------------------------------


def test_then_repeat_last_is_the_default(http: httpx.Client, add_scenarios: Callable[[str], list[str]]) -> None:
    add_scenarios("name: rl\nsteps: [{content: a}, {content: b}]\n")
    assert [say(http, model="mockrouter/rl") for _ in range(4)] == ["a", "b", "b", "b"]


def test_then_cycle(http: httpx.Client, add_scenarios: Callable[[str], list[str]]) -> None:
    add_scenarios("name: cy\nthen: cycle\nsteps: [{content: a}, {content: b}, {content: c}]\n")
    assert [say(http, model="mockrouter/cy") for _ in range(7)] == ["a", "b", "c", "a", "b", "c", "a"]


def test_then_exhausted(
    http: httpx.Client, add_scenarios: Callable[[str], list[str]], journal: Callable[[], list[dict[str, Any]]]
) -> None:
    add_scenarios("name: ex\nthen: exhausted\nsteps: [{content: a}, {content: b}]\n")
    assert say(http, model="mockrouter/ex") == "a"
    assert say(http, model="mockrouter/ex") == "b"
    for _ in range(2):
        response = chat(http, model="mockrouter/ex")
        assert response.status_code == 404
        assert "exhausted" in response.text
        assert "error" in response.json()
    assert [e["status"] for e in journal()] == [200, 200, 404, 404]


def test_cursor_is_per_scenario(http: httpx.Client, add_scenarios: Callable[[str], list[str]]) -> None:
    add_scenarios(
        "name: p\nsteps: [{content: p1}, {content: p2}]\n---\nname: q\nsteps: [{content: q1}, {content: q2}]\n"
    )
    assert say(http, model="mockrouter/p") == "p1"
    assert say(http, model="mockrouter/q") == "q1"
    assert say(http, model="mockrouter/p") == "p2"
    assert say(http, model="mockrouter/q") == "q2"


def test_journal_records_scenario_and_step(
    http: httpx.Client, add_scenarios: Callable[[str], list[str]], journal: Callable[[], list[dict[str, Any]]]
) -> None:
    add_scenarios("name: js\nthen: cycle\nsteps: [{content: a}, {content: b}]\n")
    for _ in range(3):
        say(http, model="mockrouter/js")
    assert [(e["scenario"], e["step"]) for e in journal()] == [("js", 0), ("js", 1), ("js", 0)]


# -- a dedicated server with global scenarios ------------------------------------------------

GLOBAL_YAML = f"""\
name: g-steps-{U}
steps: [{{content: one}}, {{content: two}}, {{content: three}}]
---
name: g-scope-{U}
priority: 100
match: {{last_user: "^scope-probe-{U}$"}}
steps: [{{content: global}}]
---
name: g-tie-a-{U}
match: {{last_user: "^tie-{U}$"}}
steps: [{{content: tie-a}}]
---
name: g-tie-b-{U}
match: {{last_user: "^tie-{U}$"}}
steps: [{{content: tie-b}}]
"""


@pytest.fixture(scope="module")
def global_server(make_server: Callable[..., BackgroundServer], tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder: Path = tmp_path_factory.mktemp("global-scenarios")
    path = folder / "globals.yaml"
    path.write_text(GLOBAL_YAML)
    return make_server(scenarios=[path])


def _client(server: BackgroundServer, key: str) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=10)


@pytest.fixture
def keys(global_server: BackgroundServer) -> Iterator[Callable[[], httpx.Client]]:
    """Clients on the dedicated server, each with a fresh key."""
    made: list[httpx.Client] = []

    def new() -> httpx.Client:
        made.append(_client(global_server, f"sk-matcher-{uuid.uuid4().hex}"))
        return made[-1]

    yield new
    for c in made:
        c.close()


def _key_of(client: httpx.Client) -> str:
    return client.headers["authorization"].removeprefix("Bearer ")


def _add_scoped(server: BackgroundServer, key: str, yaml_text: str) -> None:
    response = httpx.post(
        server.url + "/__mockrouter/scenarios",
        params={"key": key},
        content=yaml_text,
        headers={"content-type": "application/yaml"},
    )
    assert response.status_code == 201, response.text


def test_scoped_scenarios_beat_global_ones(global_server: BackgroundServer, keys: Callable[[], httpx.Client]) -> None:
    scoped, other = keys(), keys()
    _add_scoped(
        global_server,
        _key_of(scoped),
        f'name: scoped-low\npriority: -10\nmatch: {{last_user: "^scope-probe-{U}$"}}\nsteps: [{{content: scoped}}]\n',
    )
    assert say(scoped, f"scope-probe-{U}") == "scoped"
    assert say(other, f"scope-probe-{U}") == "global"


def test_scoped_scenario_with_a_global_name_shadows_it_for_that_key_only(
    global_server: BackgroundServer, keys: Callable[[], httpx.Client]
) -> None:
    scoped, other = keys(), keys()
    _add_scoped(global_server, _key_of(scoped), f"name: g-steps-{U}\nsteps: [{{content: shadow}}]\n")
    assert say(scoped, model=f"mockrouter/g-steps-{U}") == "shadow"
    assert say(other, model=f"mockrouter/g-steps-{U}") == "one"


def test_equal_priority_global_first_loaded_wins(keys: Callable[[], httpx.Client]) -> None:
    assert say(keys(), f"tie-{U}") == "tie-a"


def test_cursors_are_per_key(keys: Callable[[], httpx.Client]) -> None:
    a, b = keys(), keys()
    model = f"mockrouter/g-steps-{U}"
    assert say(a, model=model) == "one"
    assert say(a, model=model) == "two"
    assert say(b, model=model) == "one"
    assert say(a, model=model) == "three"
    assert say(b, model=model) == "two"
    assert say(a, model=model) == "three"


def test_session_header_overrides_the_key_as_state_key(keys: Callable[[], httpx.Client]) -> None:
    a, b = keys(), keys()
    model = f"mockrouter/g-steps-{U}"
    session = {"X-Mockrouter-Session": f"session-{uuid.uuid4().hex}"}
    assert say(a, model=model, headers=session) == "one"
    assert say(b, model=model, headers=session) == "two"
    # without the header each key has its own cursor, untouched by the session's
    assert say(a, model=model) == "one"
    assert say(b, model=model) == "one"
    assert say(a, model=model, headers=session) == "three"


def test_session_also_drives_seq(keys: Callable[[], httpx.Client], global_server: BackgroundServer) -> None:
    a, b = keys(), keys()
    _add_scoped(global_server, _key_of(a), "name: seq\nsteps: [{content: '{{ seq }}'}]\n")
    _add_scoped(global_server, _key_of(b), "name: seq\nsteps: [{content: '{{ seq }}'}]\n")
    session = {"X-Mockrouter-Session": f"session-{uuid.uuid4().hex}"}
    assert say(a, model="mockrouter/seq", headers=session) == "1"
    assert say(b, model="mockrouter/seq", headers=session) == "2"


# -- unmatched requests and near misses ------------------------------------------------------

NEAR_MISS_YAML = """\
name: far
match: {model: "other/*", last_user: "zzz"}
steps: [{content: far}]
---
name: near-half
match: {model: "nm/*", last_user: "zzz"}
steps: [{content: near-half}]
---
name: farthest
match: {model: "q/*", has_tools: true, stream: true}
steps: [{content: farthest}]
---
name: nearest
match: {model: nm/x, stream: true, last_user: "^hello$"}
steps: [{content: nearest}]
"""


def test_unmatched_requests_get_echo_and_near_misses(
    http: httpx.Client,
    admin: httpx.Client,
    api_key: str,
    add_scenarios: Callable[[str], list[str]],
    journal: Callable[[], list[dict[str, Any]]],
) -> None:
    add_scenarios(NEAR_MISS_YAML)
    assert say(http, "hello", model="nm/x") == "hello"
    assert say(http, "zzz", model="nm/y") == "near-half"  # a matched request is not listed

    response = admin.get("/requests/unmatched", params={"key": api_key})
    assert response.status_code == 200, response.text
    entries = response.json()["data"]
    assert len(entries) == 1
    entry = entries[0]
    assert entry["scenario"] == "echo"
    assert entry["status"] == 200
    misses = entry["near_misses"]
    assert 1 <= len(misses) <= 3
    assert len(misses) == 3
    assert [m["scenario"] for m in misses[:2]] == ["nearest", "near-half"]
    assert misses[2]["scenario"] in ("far", "farthest")
    assert misses[0]["mismatches"] == [{"condition": "stream", "expected": True, "actual": False}]
    assert misses[1]["mismatches"] == [{"condition": "last_user", "expected": "zzz", "actual": "hello"}]
    for miss in misses:
        assert miss["mismatches"], miss
        for mismatch in miss["mismatches"]:
            assert set(mismatch) >= {"condition", "expected", "actual"}
    # the whole journal has both requests; only the first is unmatched
    assert [e["scenario"] for e in journal()] == ["echo", "near-half"]


def test_unmatched_is_scoped_to_the_key(
    http: httpx.Client, admin: httpx.Client, api_key: str, add_scenarios: Callable[[str], list[str]]
) -> None:
    add_scenarios(NEAR_MISS_YAML)
    say(http, "hello", model="nm/x")
    other = admin.get("/requests/unmatched", params={"key": api_key + "-other"})
    assert other.status_code == 200
    assert other.json()["data"] == []


def test_unmatched_without_matchable_scenarios_has_no_near_misses(
    http: httpx.Client, admin: httpx.Client, api_key: str
) -> None:
    assert say(http, "lonely", model="nothing/matches") == "lonely"
    [entry] = admin.get("/requests/unmatched", params={"key": api_key}).json()["data"]
    assert entry["near_misses"] == []


# -- the engine directly ---------------------------------------------------------------------


def _facts(text: str = "hello", model: str = "acme/x", **fields: Any) -> RequestFacts:
    body = {"model": model, "messages": [{"role": "user", "content": text}], **fields}
    return RequestFacts.from_body(body, {k.lower(): v for k, v in fields.pop("headers", {}).items()})


def _engine(yaml_text: str) -> Engine:
    return Engine(load_text(yaml_text, "engine.yaml"))


def test_engine_priority_and_order() -> None:
    engine = _engine(
        """\
name: echo
steps: [{content: echo}]
---
name: a
match: {last_user: x}
steps: [{content: a}]
---
name: b
match: {last_user: x}
steps: [{content: b}]
---
name: c
priority: 2
match: {last_user: "^x$"}
steps: [{content: c}]
"""
    )
    assert engine.choose(_facts("x"), "k", None)[0].name == "c"
    assert engine.choose(_facts("xx"), "k", None)[0].name == "a"
    scenario, how, misses = engine.choose(_facts("y"), "k", None)
    assert (scenario.name, how) == ("echo", "default")
    assert [m["scenario"] for m in misses] == ["c", "a", "b"]  # equal distance: rank order


def test_engine_scoped_before_global_and_header_first() -> None:
    engine = _engine("name: echo\nsteps: [{content: e}]\n---\nname: g\npriority: 9\nmatch: {}\nsteps: [{content: g}]\n")
    engine.add(load_text("name: s\npriority: -9\nmatch: {}\nsteps: [{content: s}]\n"), key="k1")
    assert engine.choose(_facts(), "k1", None)[0].name == "s"
    assert engine.choose(_facts(), "k2", None)[0].name == "g"
    assert engine.choose(_facts(model="mockrouter/echo"), "k1", "g") == (engine.find("g", "k1"), "header", [])


def test_engine_cursor_per_state_key() -> None:
    engine = _engine("name: echo\nsteps: [{content: e}]\n---\nname: n\nsteps: [{content: '1'}, {content: '2'}]\n")
    state = State(Journal(10))
    rng = random.Random(0)
    facts = _facts(model="mockrouter/n")
    picks = [engine.select(facts, "key", sk, None, state, rng).step_index for sk in ("s1", "s1", "s2", "s1")]
    assert picks == [0, 1, 0, 1]


def test_evaluate_reports_every_failed_condition() -> None:
    [scenario] = load_text(
        'name: e\nmatch: {model: "a/*", stream: true, has_tools: true, last_role: tool, '
        'last_user: "^q$", header: {x-t: "^1$"}, body: {n: 2}}\nsteps: [{content: x}]\n'
    )
    assert scenario.match is not None
    result = evaluate(scenario.match, _facts("p", model="b/x"))
    assert not result.matched
    assert result.conditions == 7
    assert result.distance == 1.0
    assert [m.condition for m in result.mismatches] == [
        "model",
        "stream",
        "has_tools",
        "last_role",
        "last_user",
        "header.x-t",
        "body.n",
    ]
    assert evaluate(scenario.match, _facts("p", model="b/x"), first_failure=True).conditions == 1


GLOB_TEXT = st.text(alphabet="ab/-*?[]!.", max_size=8)


@given(glob=GLOB_TEXT, other=GLOB_TEXT)
def test_model_match_fast_path_agrees_with_the_glob(glob: str, other: str) -> None:
    patterns = [(glob, re.compile(fnmatch.translate(glob)))]
    for model in (glob, other):
        assert _model_matches(patterns, model) == fnmatch.fnmatchcase(model, glob)


AGENT_LOOP = f"""
name: loop-plan-{U}
match: {{model: agent/{U}, turn: 0}}
steps: [{{tool_calls: [{{name: search, arguments: {{q: docs}}}}]}}]
---
name: loop-fetch-{U}
match: {{model: agent/{U}, last_tool: search}}
steps: [{{tool_calls: [{{name: fetch, arguments: {{url: "https://example.com"}}}}]}}]
---
name: loop-answer-{U}
match: {{model: agent/{U}, last_tool: fetch, tool_result: "(?i)page", turn: {{min: 2}}}}
steps: [{{content: "done after {{{{ request.messages[-1].content }}}}"}}]
---
name: loop-system-{U}
match: {{model: agent/{U}, system: "(?i)pirate", turn: 0}}
priority: 5
steps: [{{content: arr}}]
"""


def _agent_step(http: httpx.Client, messages: list[dict[str, Any]]) -> dict[str, Any]:
    response = http.post("/chat/completions", json={"model": f"agent/{U}", "messages": messages})
    assert response.status_code == 200, response.text
    return response.json()["choices"][0]["message"]


def _run_loop(http: httpx.Client, question: str) -> list[str]:
    """Drive one agent loop to its final answer; the tools each call got, then the answer."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": question}]
    called = []
    for _ in range(4):
        message = _agent_step(http, messages)
        if not message.get("tool_calls"):
            return [*called, message["content"]]
        messages.append(message)
        for call in message["tool_calls"]:
            name = call["function"]["name"]
            called.append(name)
            messages.append({"role": "tool", "tool_call_id": call["id"], "content": f"{name} page for {question}"})
    raise AssertionError(f"no final answer: {messages}")


def test_agent_loops_match_the_conversation_not_cursors(
    http: httpx.Client, add_scenarios: Callable[[str], list[str]]
) -> None:
    """SPEC "Agent loops without counters": turn, last_tool, tool_result and system choose each
    step from the conversation, so interleaved and repeated loops on one key all finish the same
    way (cursors would drift)."""
    add_scenarios(AGENT_LOOP)
    questions = [f"q{i}" for i in range(6)]
    # interleave six conversations step by step on one key, and run one of them twice
    results = [_run_loop(http, q) for q in questions] + [_run_loop(http, questions[0])]
    for question, result in zip([*questions, questions[0]], results, strict=True):
        assert result == ["search", "fetch", f"done after fetch page for {question}"]
    pirate = _agent_step(http, [{"role": "system", "content": "You are a Pirate."}, {"role": "user", "content": "hi"}])
    assert pirate["content"] == "arr"


def test_a_missed_agent_condition_is_a_near_miss(
    http: httpx.Client, add_scenarios: Callable[[str], list[str]], journal: Callable[[], list[dict[str, Any]]]
) -> None:
    add_scenarios(AGENT_LOOP)
    messages = [
        {"role": "user", "content": "x"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "fetch", "arguments": "{}"}}
        ]},
        {"role": "tool", "tool_call_id": "c1", "content": "nothing useful"},
    ]  # fmt: skip
    http.post("/chat/completions", json={"model": f"agent/{U}", "messages": messages})
    entry = journal()[-1]
    assert entry["unmatched"] is True
    misses = {m["scenario"]: m for m in entry["near_misses"]}
    failed = {f["condition"]: f for f in misses[f"loop-answer-{U}"]["mismatches"]}
    assert set(failed) == {"tool_result", "turn"}
    assert failed["tool_result"]["actual"] == "nothing useful"
    assert failed["turn"] == {"condition": "turn", "expected": {"min": 2}, "actual": 1}


# -- match.conversation (issue #13) -------------------------------------------------------------


TOOL_TURN = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Weather in Tokyo?"},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Tokyo"}'}}
    ]},
    {"role": "tool", "tool_call_id": "call_1", "content": "22C and sunny"},
]  # fmt: skip


def _conversation_facts(messages: list[dict[str, Any]], surface: str = "chat") -> RequestFacts:
    return RequestFacts.from_body({"model": "acme/x", "messages": messages}, {}, surface)


def test_conversation_matches_the_request_hash_and_near_misses_show_both() -> None:
    here, there = conversation_hash(TOOL_TURN), conversation_hash(TOOL_TURN[:2])
    [single, listed] = load_text(
        f"name: single\nmatch: {{conversation: {here}}}\nsteps: [{{content: s}}]\n---\n"
        f"name: listed\nmatch: {{conversation: [{there}, {here}]}}\nsteps: [{{content: l}}]\n"
    )
    assert single.match is not None and listed.match is not None
    for messages in (TOOL_TURN, TOOL_TURN[:2]):
        assert evaluate(listed.match, _conversation_facts(messages)).matched
    assert evaluate(single.match, _conversation_facts(TOOL_TURN)).matched
    # ids and formatting of JSON arguments are not the conversation
    renamed = [*TOOL_TURN[:2], {**TOOL_TURN[2], "tool_calls": [
        {"id": "call_zz", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Tokyo"}'}}
    ]}, {**TOOL_TURN[3], "tool_call_id": "call_zz"}]  # fmt: skip
    assert evaluate(single.match, _conversation_facts(renamed)).matched
    missed = evaluate(single.match, _conversation_facts(TOOL_TURN[:2]))
    assert [m.as_dict() for m in missed.mismatches] == [
        {"condition": "conversation", "expected": here, "actual": there}
    ]
    other = _conversation_facts([{"role": "user", "content": "something else"}])
    assert [m.as_dict() for m in evaluate(listed.match, other).mismatches] == [
        {"condition": "conversation", "expected": [there, here], "actual": conversation_hash(other.body["messages"])}
    ]


def test_the_hash_is_made_only_when_a_conversation_condition_asks(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[Any] = []

    def counting(messages: Any) -> str:
        made.append(messages)
        return conversation_hash(messages)

    monkeypatch.setattr(matcher_module, "conversation_hash", counting)
    engine = _engine(
        "name: echo\nsteps: [{content: e}]\n---\n"
        "name: agent\nmatch: {turn: 1, last_tool: get_weather}\nsteps: [{content: a}]\n"
    )
    facts = _conversation_facts(TOOL_TURN)
    assert engine.choose(facts, "k", None)[0].name == "agent"
    assert made == []  # the agent conditions read the conversation, not its hash
    [hashed] = load_text(f"name: h\nmatch: {{conversation: {conversation_hash(TOOL_TURN)}}}\nsteps: [{{content: h}}]\n")
    assert hashed.match is not None
    assert evaluate(hashed.match, facts).matched and evaluate(hashed.match, facts).matched
    assert len(made) == 1  # once per request, however many scenarios ask


def test_conversation_selects_the_turn_on_a_real_server(
    http: httpx.Client, add_scenarios: Callable[[str], list[str]], journal: Callable[[], list[dict[str, Any]]]
) -> None:
    """A recorded conversation replays by its hash: each turn answers its own scenario, in any
    order and as often as asked; a turn nobody recorded is a near miss naming both hashes."""
    first, second = TOOL_TURN[:2], TOOL_TURN
    add_scenarios(
        f"name: turn-0-{U}\nmatch: {{conversation: {conversation_hash(first)}}}\nsteps: [{{content: first}}]\n---\n"
        f"name: turn-1-{U}\nmatch: {{conversation: {conversation_hash(second)}}}\nsteps: [{{content: second}}]\n"
    )

    def ask(messages: list[dict[str, Any]]) -> str:
        response = http.post("/chat/completions", json={"model": "acme/x", "messages": messages})
        return str(response.json()["choices"][0]["message"]["content"])

    assert [ask(second), ask(first), ask(second), ask(first)] == ["second", "first", "second", "first"]
    lost = [*first, {"role": "assistant", "content": "No tool today."}, {"role": "user", "content": "Why?"}]
    assert ask(lost) == "Why?"  # the echo default
    entry = journal()[-1]
    misses = {m["scenario"]: m["mismatches"] for m in entry["near_misses"]}
    assert misses[f"turn-1-{U}"] == [
        {"condition": "conversation", "expected": conversation_hash(second), "actual": conversation_hash(lost)}
    ]


# A conversation in a surface-neutral form, written as a chat request and as an Anthropic
# Messages request: (system, [(user text | None, assistant text | None, [(tool, args, result)])]).
_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12)
_INT = st.integers(-(2**63), 2**63 - 1)  # what a JSON body parses to (orjson reads larger ones as floats)
_ARGS = st.dictionaries(st.sampled_from(["city", "q", "n", "tags"]), _INT | _TEXT | st.lists(st.booleans()))
_CALLS = st.lists(st.tuples(st.sampled_from(["get_weather", "search"]), _ARGS, _TEXT), max_size=2)
_TURN = st.tuples(_TEXT, st.none() | _TEXT, _CALLS).filter(lambda t: t[1] is not None or t[2])
_CONVERSATION = st.tuples(st.none() | _TEXT, st.lists(_TURN, min_size=1, max_size=3), _TEXT)


def _as_chat(system: str | None, turns: list[Any], last: str, style: int) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    if system is not None:
        messages.append({"role": "developer" if style % 2 else "system", "content": system})
    for t, (user, text, calls) in enumerate(turns):
        messages.append({"role": "user", "content": user if style % 3 else [{"type": "text", "text": user}]})
        assistant: dict[str, Any] = {"role": "assistant", "content": text}
        if calls:
            assistant["tool_calls"] = [
                {"id": f"call_{t}_{i}", "type": "function",
                 "function": {"name": name, "arguments": json.dumps(args, indent=style % 2 or None)}}
                for i, (name, args, _) in enumerate(calls)
            ]  # fmt: skip
        messages.append(assistant)
        messages += [
            {"role": "tool", "tool_call_id": f"call_{t}_{i}", "content": result}
            for i, (_, _, result) in enumerate(calls)
        ]
    return [*messages, {"role": "user", "content": last}]


def _as_anthropic(system: str | None, turns: list[Any], last: str, style: int) -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []  # tool results ride in the next user message
    for t, (user, text, calls) in enumerate(turns):
        messages.append({"role": "user", "content": [*results, {"type": "text", "text": user}]})
        blocks: list[dict[str, Any]] = [{"type": "thinking", "thinking": "hm", "signature": "sig"}] if style else []
        if text is not None:
            blocks.append({"type": "text", "text": text})
        blocks += [
            {"type": "tool_use", "id": f"toolu_{t}{i}", "name": name, "input": args}
            for i, (name, args, _) in enumerate(calls)
        ]
        messages.append({"role": "assistant", "content": blocks})
        results = [
            {"type": "tool_result", "tool_use_id": f"toolu_{t}{i}", "content": result}
            for i, (_, _, result) in enumerate(calls)
        ]
    messages.append({"role": "user", "content": [*results, {"type": "text", "text": last}] if results else last})
    body: dict[str, Any] = {"model": "acme/x", "max_tokens": 64, "messages": messages}
    if system is not None:
        body["system"] = system if style % 2 else [{"type": "text", "text": system}]
    return body


@settings(max_examples=80, deadline=None)
@given(conversation=_CONVERSATION, style=st.integers(0, 5))
def test_the_same_conversation_hashes_and_matches_alike_on_chat_and_messages(conversation: Any, style: int) -> None:
    chat_body = {"model": "acme/x", "messages": _as_chat(*conversation, style)}
    anthropic_body = _as_anthropic(*conversation, style)
    chat_facts = RequestFacts.from_body(chat_view("chat", chat_body), {}, "chat")
    anthropic_facts = RequestFacts.from_body(chat_view("messages", anthropic_body), {}, "messages")
    wanted = conversation_hash(chat_body["messages"])
    assert anthropic_facts.conversation.hash == chat_facts.conversation.hash == wanted
    engine = _engine(
        "name: echo\nsteps: [{content: e}]\n---\n"
        f'name: this\nmatch: {{conversation: "{wanted}"}}\nsteps: [{{content: t}}]\n---\n'  # quoted: all digits
        f"name: before\nmatch: {{conversation: '{conversation_hash(chat_body['messages'][:-1])}'}}\n"
        "steps: [{content: n}]\n"
    )
    assert engine.choose(chat_facts, "k", None)[0].name == "this"
    assert engine.choose(anthropic_facts, "k", None)[0].name == "this"
