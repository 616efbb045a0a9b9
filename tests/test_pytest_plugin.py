"""The pytest plugin, loaded the way users load it: through its entry point, in a pytest run
of its own (``pytester``). The README's "Testing with pytest" examples are run here too."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import yaml

import mockrouter
from mockrouter.http.server import BackgroundServer
from mockrouter.tools import pytest_plugin

pytest_plugins = ["pytester"]

README = Path(__file__).resolve().parent.parent / "README.md"


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """A pytest run of its own (in this process, to save start-up time): the plugin comes from
    the installed entry point, as for users."""
    return pytester.runpytest_inprocess("-p", "no:cacheprovider", *args)


def run_fresh(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """A separate Python process, as a user's CI job would run it."""
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)


def readme_examples() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Testing with pytest", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


def test_readme_has_examples() -> None:
    assert len(readme_examples()) >= 3


@pytest.mark.parametrize("index", range(len(readme_examples())))
def test_readme_example_runs(pytester: pytest.Pytester, index: int) -> None:
    pytester.makepyfile(test_example=readme_examples()[index])
    result = run(pytester)
    result.assert_outcomes(passed=len(re.findall(r"^def test_", readme_examples()[index], flags=re.M)))


def test_fixture_basics_and_isolation(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import httpx
        from openai import OpenAI

        KEYS = []

        def test_first(mockrouter):
            KEYS.append(mockrouter.api_key)
            assert mockrouter.base_url == mockrouter.url + "/api/v1"
            mockrouter.add("name: only-mine\\nmatch: {last_user: ping}\\nsteps:\\n  - content: pong\\n")
            client = OpenAI(base_url=mockrouter.base_url, api_key=mockrouter.api_key)
            reply = client.chat.completions.create(model="x/y", messages=[{"role": "user", "content": "ping"}])
            assert reply.choices[0].message.content == "pong"
            assert [e.scenario for e in mockrouter.requests] == ["only-mine"]

        def test_second_sees_nothing_of_the_first(mockrouter):
            assert KEYS and mockrouter.api_key != KEYS[0]
            assert mockrouter.requests == []
            client = OpenAI(base_url=mockrouter.base_url, api_key=mockrouter.api_key)
            reply = client.chat.completions.create(model="x/y", messages=[{"role": "user", "content": "ping"}])
            assert reply.choices[0].message.content == "ping"  # echo: the first test's scenario is not here
            [entry] = mockrouter.unmatched
            assert entry.unmatched and entry.scenario == "echo"

        def test_reset_and_wait_for(mockrouter):
            httpx.post(mockrouter.base_url + "/chat/completions",
                       json={"model": "x/y", "messages": [{"role": "user", "content": "a"}]},
                       headers={"Authorization": "Bearer " + mockrouter.api_key})
            assert len(mockrouter.wait_for(1, timeout=2)) == 1
            mockrouter.reset()
            assert mockrouter.requests == []
        """
    )
    run_fresh(pytester).assert_outcomes(passed=3)


def test_add_accepts_text_dicts_and_paths(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", scenario_file="name: from-file\nsteps:\n  - content: file!\n")
    pytester.makepyfile(
        """
        import pytest
        from pathlib import Path
        from openai import OpenAI

        def ask(mockrouter, model):
            client = OpenAI(base_url=mockrouter.base_url, api_key=mockrouter.api_key)
            reply = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "q"}])
            return reply.choices[0].message.content

        def test_sources(mockrouter):
            assert mockrouter.add({"name": "from-dict", "steps": [{"content": "dict!"}]}) == ["from-dict"]
            assert mockrouter.add(Path("scenario_file.yaml")) == ["from-file"]
            assert mockrouter.add("scenario_file.yaml") == ["from-file"]
            assert ask(mockrouter, "mockrouter/from-dict") == "dict!"
            assert ask(mockrouter, "mockrouter/from-file") == "file!"

        def test_broken_scenario_says_where(mockrouter):
            expected = r":4: steps\\[1\\].stram: unknown key 'stram' \\(did you mean 'stream'"
            with pytest.raises(ValueError, match=expected):
                mockrouter.add("name: broken\\nsteps:\\n  - content: ok\\n  - stram: {}\\n")
        """
    )
    run(pytester).assert_outcomes(passed=2)


def test_add_a_missing_file_raises_file_not_found(pytester: pytest.Pytester) -> None:
    """A str with no newline ending in .yaml/.yml/.json, or a pathlib.Path, is a path; anything
    else is YAML text."""
    pytester.makefile(".json", scenario_json='{"name": "from-json", "steps": [{"content": "json!"}]}')
    pytester.makepyfile(
        """
        import pytest
        from pathlib import Path

        @pytest.mark.parametrize("source", ["/path/that/does/not/exist.yaml", "missing.yml", "gone.json",
                                            Path("/path/that/does/not/exist.yaml"), Path("no/such/folder")])
        def test_missing(mockrouter, source):
            with pytest.raises(FileNotFoundError) as info:
                mockrouter.add(source)
            assert str(source) in str(info.value)
            assert info.value.filename == str(source)

        def test_json_file(mockrouter):
            assert mockrouter.add("scenario_json.json") == ["from-json"]

        def test_other_one_line_text_is_yaml(mockrouter):
            with pytest.raises(ValueError, match="pass a pathlib.Path"):
                mockrouter.add("scenarios/")
            with pytest.raises(ValueError, match="no scenario"):
                mockrouter.add("")
        """
    )
    run(pytester).assert_outcomes(passed=7)


def test_marker_and_options(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import time
        import pytest
        from openai import OpenAI

        def ask(mockrouter, model="x/y"):
            client = OpenAI(base_url=mockrouter.base_url, api_key=mockrouter.api_key)
            return client.chat.completions.create(model=model, messages=[{"role": "user", "content": "q"}])

        def test_option_dialect(mockrouter):
            assert mockrouter.dialect == "openrouter"
            assert ask(mockrouter).id.startswith("gen-")

        @pytest.mark.mockrouter(dialect="anyrouter", scenarios=["name: m1\\nsteps:\\n  - content: one\\n",
                                                                   {"name": "m2", "steps": [{"content": "two"}]}])
        def test_marker_dialect_and_scenarios(mockrouter):
            reply = ask(mockrouter, "mockrouter/m1")
            assert reply.id.startswith("chatcmpl-") and reply.choices[0].message.content == "one"
            assert ask(mockrouter, "mockrouter/m2").choices[0].message.content == "two"

        SLOW = "name: slow\\nsteps:\\n  - content: s\\n    timing: {latency_ms: 300}\\n"

        @pytest.mark.mockrouter(speed=1, scenarios=SLOW)
        def test_marker_speed(mockrouter):
            started = time.monotonic()
            ask(mockrouter, "mockrouter/slow")
            assert time.monotonic() - started >= 0.25

        def test_default_speed_skips_delays(mockrouter):
            mockrouter.add("name: slow\\nsteps:\\n  - content: s\\n    timing: {latency_ms: 3000}\\n")
            started = time.monotonic()
            ask(mockrouter, "mockrouter/slow")
            assert time.monotonic() - started < 2
        """
    )
    run(pytester, "--mockrouter-dialect", "openrouter").assert_outcomes(passed=4)


def test_client_retrying_a_400_is_flagged(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import httpx

        def test_retries_a_bad_request(mockrouter):
            body = {"model": "x/y", "messages": [{"role": "robot", "content": "hi"}]}
            for _ in range(2):
                httpx.post(mockrouter.base_url + "/chat/completions", json=body,
                           headers={"Authorization": "Bearer " + mockrouter.api_key})
            mockrouter.assert_resilient()
        """
    )
    result = run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*retried_non_retryable: retried after a non-retryable 400*"])


def test_server_errors_fail_the_test_that_caused_them(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import httpx

        def test_a_server_bug(mockrouter, monkeypatch):
            app = mockrouter.server.app
            def boom(*args, **kwargs):
                raise RuntimeError("kaboom in the engine")
            monkeypatch.setattr(app.engine, "pick", boom)
            response = httpx.post(mockrouter.base_url + "/chat/completions",
                                  json={"model": "x/y", "messages": [{"role": "user", "content": "a"}]},
                                  headers={"Authorization": "Bearer " + mockrouter.api_key})
            assert response.status_code == 500

        def test_the_next_test_is_fine(mockrouter):
            response = httpx.post(mockrouter.base_url + "/chat/completions",
                                  json={"model": "x/y", "messages": [{"role": "user", "content": "a"}]},
                                  headers={"Authorization": "Bearer " + mockrouter.api_key})
            assert response.status_code == 200
        """
    )
    result = run(pytester)
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*mockrouter raised while serving this test*", "*RuntimeError: kaboom in the engine*"])


def test_works_under_xdist(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import os
        import pytest
        from openai import OpenAI

        @pytest.mark.parametrize("n", range(6))
        def test_many(mockrouter, n):
            mockrouter.add(f"name: s{n}\\nmatch: {{last_user: q}}\\nsteps:\\n  - content: answer {n}\\n")
            client = OpenAI(base_url=mockrouter.base_url, api_key=mockrouter.api_key)
            reply = client.chat.completions.create(model="x/y", messages=[{"role": "user", "content": "q"}])
            assert reply.choices[0].message.content == f"answer {n}"
            assert len(mockrouter.requests) == 1
            with open(f"port-{os.environ['PYTEST_XDIST_WORKER']}-{n}", "w") as f:
                f.write(mockrouter.url)
        """
    )
    run_fresh(pytester, "-n", "2").assert_outcomes(passed=6)
    urls = {}
    for path in pytester.path.glob("port-*"):
        urls.setdefault(path.name.split("-")[1], set()).add(path.read_text())
    assert len(urls) == 2, urls  # two workers...
    assert all(len(u) == 1 for u in urls.values())  # ...each with one server of its own
    assert len(set().union(*urls.values())) == 2


def test_plugin_import_is_cheap() -> None:
    """Loading the plugin (every pytest run, when installed) must not import the server stack."""
    import subprocess
    import sys

    code = (
        "import sys, mockrouter.tools.pytest_plugin; "
        "print(sorted({'uvicorn', 'starlette', 'faker'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_public_names() -> None:
    """``__all__`` lists exactly what the package exports, and each name resolves."""
    assert set(mockrouter.__all__) == set(mockrouter._EXPORTS) | {"__version__"}
    for name in mockrouter.__all__:
        assert getattr(mockrouter, name) is not None
    assert (
        pytest_plugin.JournalEntry.from_json(
            {"id": "r", "time": "t", "ts": 1.0, "method": "POST", "path": "/", "new_field": 1}
        ).raw["new_field"]
        == 1
    )


def test_readme_says_how_to_install_pytest_for_the_plugin() -> None:
    """pytest is not a dependency of mockrouter, so the README says how to get it (and that is true)."""
    import tomllib

    project = tomllib.loads((README.parent / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert not any(d.split(">")[0].split("=")[0].strip() == "pytest" for d in project["dependencies"])
    assert any(d.startswith("pytest>") for d in project["optional-dependencies"]["test"])
    assert project["entry-points"]["pytest11"] == {"mockrouter": "mockrouter.tools.pytest_plugin"}
    section = README.read_text(encoding="utf-8").split("## Testing with pytest", 1)[1].split("\n## ", 1)[0]
    intro = section.split("| Fixture member |", 1)[0]
    assert "pytest itself is not a dependency" in intro
    assert "`pip install . pytest`" in intro and '`pip install ".[test]"`' in intro


def test_the_references_fixture_line_loads_a_file(pytester: pytest.Pytester) -> None:
    """docs/scenarios.md ("Loading a file") shows ``mockrouter.add(Path(...))`` and the marker:
    both run here as written."""
    reference = (README.parent / "docs" / "scenarios.md").read_text(encoding="utf-8")
    section = reference.split("\n## Loading a file\n", 1)[1].split("\n## ", 1)[0]
    [call] = re.findall(r"`(mockrouter\.add\(Path\(\"(.+?)\"\)\))`", section)
    statement, file = call
    assert "`@pytest.mark.mockrouter(scenarios=[Path(...)])`" in section
    scenario = pytester.path / file
    scenario.parent.mkdir(parents=True)
    scenario.write_text("name: documented\nsteps:\n  - content: as documented\n", encoding="utf-8")
    pytester.makepyfile(
        f"""
        import pytest
        from pathlib import Path
        from openai import OpenAI

        def ask(mockrouter):
            client = OpenAI(base_url=mockrouter.base_url, api_key=mockrouter.api_key)
            messages = [{{"role": "user", "content": "q"}}]
            reply = client.chat.completions.create(model="mockrouter/documented", messages=messages)
            return reply.choices[0].message.content

        def test_add(mockrouter):
            assert {statement} == ["documented"]
            assert ask(mockrouter) == "as documented"

        @pytest.mark.mockrouter(scenarios=[Path({file!r})])
        def test_marker(mockrouter):
            assert ask(mockrouter) == "as documented"
        """
    )
    run(pytester).assert_outcomes(passed=2)


def test_requests_lists_every_entry_whole(pytester: pytest.Pytester) -> None:
    """The admin API lists the journal a page at a time and cuts large bodies; the fixture's
    ``requests`` still gives every entry of the key, each with its whole body."""
    pytester.makepyfile(
        """
        import httpx

        def test_many_and_large(mockrouter):
            with httpx.Client(base_url=mockrouter.base_url,
                              headers={"Authorization": "Bearer " + mockrouter.api_key}) as http:
                def ask(text):
                    message = {"role": "user", "content": text}
                    http.post("/chat/completions", json={"model": "x/y", "messages": [message]})

                for i in range(130):
                    ask(str(i))
                big = "x" * 40_000
                ask(big)
            entries = mockrouter.requests
            assert len(entries) == 131
            assert [e.body["messages"][0]["content"] for e in entries[:130]] == [str(i) for i in range(130)]
            assert entries[-1].body["messages"][0]["content"] == big
        """
    )
    run(pytester).assert_outcomes(passed=1)


# -- cassettes -----------------------------------------------------------------------------------

#: A user's test with a cassette: it asks the question in question.txt (so a run can change it
#: without rewriting the module) and keeps each answer in answers.txt.
CASSETTE_TEST = """
import pathlib
import pytest
from openai import OpenAI

@pytest.mark.mockrouter(cassette=True)
def test_ask(mockrouter):
    question = pathlib.Path("question.txt").read_text()
    messages = [{"role": "user", "content": question}]
    with OpenAI(base_url=mockrouter.base_url, api_key=mockrouter.api_key, max_retries=0) as client:
        reply = client.chat.completions.create(model="openai/gpt-4o-mini", messages=messages)
    with open("answers.txt", "a") as answers:
        answers.write(reply.choices[0].message.content + "\\n")
"""
FRANCE = "What is the capital of France?"
ITALY = "What is the capital of Italy?"


def script_upstream(upstream: BackgroundServer, key: str, take: int) -> None:
    """What the upstream answers ``key`` from now on: its journal and scenarios start afresh."""
    with httpx.Client(base_url=upstream.url + "/__mockrouter", timeout=10) as admin:
        admin.post("/reset", params={"key": key}).raise_for_status()
        scenario = f"name: capital\nmatch: {{last_user: capital}}\nsteps:\n  - content: Paris (take {take})\n"
        added = admin.post(
            "/scenarios", params={"key": key}, content=scenario, headers={"content-type": "application/yaml"}
        )
        assert added.status_code == 201, added.text


def forwarded(upstream: BackgroundServer, key: str) -> int:
    """How many requests reached the upstream with ``key``."""
    response = httpx.get(upstream.url + "/__mockrouter/requests", params={"key": key}, timeout=10)
    response.raise_for_status()
    return len(response.json()["data"])


def test_cassettes_record_replay_and_record_again(
    pytester: pytest.Pytester, make_server: Callable[..., BackgroundServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """(Separate processes: the in-process runs' module snapshots left httpcore's lazily
    imported backends behind, and a later test's ``httpx`` raised an unmapped httpcore error.)

    ``new`` records what a test asked; ``none`` (the default) replays it with no upstream at
    all and fails a question nothing recorded; ``all`` records the conversation again."""
    upstream = make_server()
    key = f"sk-upstream-{uuid.uuid4().hex}"  # sent upstream instead of each test's own key
    monkeypatch.setenv("MOCKROUTER_UPSTREAM_KEY", key)
    monkeypatch.delenv("MOCKROUTER_UPSTREAM", raising=False)
    script_upstream(upstream, key, take=1)
    pytester.makepyfile(test_cassette=CASSETTE_TEST)
    question, answers = pytester.path / "question.txt", pytester.path / "answers.txt"
    folder = pytester.path / "cassettes" / "test_cassette" / "test_ask"

    def answer() -> str:
        return answers.read_text(encoding="utf-8").splitlines()[-1]

    question.write_text(FRANCE, encoding="utf-8")
    run_fresh(pytester, "--mockrouter-record=new", "--mockrouter-upstream", upstream.base_url).assert_outcomes(passed=1)
    assert answer() == "Paris (take 1)"
    assert forwarded(upstream, key) == 1
    [france] = folder.glob("*.yaml")
    recorded = france.read_text(encoding="utf-8")
    assert "Paris (take 1)" in recorded
    assert key not in recorded and "sk-mockrouter-" not in recorded  # neither key reaches the disk
    [turn] = [doc for doc in yaml.safe_load_all(recorded) if doc]
    assert turn["match"] == {"conversation": turn["match"]["conversation"]} and len(turn["steps"]) == 1

    run_fresh(pytester).assert_outcomes(passed=1)  # none: the cassette, no upstream given
    assert answer() == "Paris (take 1)"
    assert forwarded(upstream, key) == 1

    question.write_text(ITALY, encoding="utf-8")
    result = run_fresh(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*NotFoundError*No recording matches this request*"])
    assert forwarded(upstream, key) == 1

    run_fresh(pytester, "--mockrouter-record=new", "--mockrouter-upstream", upstream.base_url).assert_outcomes(passed=1)
    assert forwarded(upstream, key) == 2  # only the new question went upstream
    assert len(list(folder.glob("*.yaml"))) == 2
    assert france.read_text(encoding="utf-8") == recorded  # what was recorded is left as it was

    question.write_text(FRANCE, encoding="utf-8")
    script_upstream(upstream, key, take=2)
    run_fresh(pytester, "--mockrouter-record=all", "--mockrouter-upstream", upstream.base_url).assert_outcomes(passed=1)
    assert answer() == "Paris (take 2)"
    assert forwarded(upstream, key) == 1
    again = france.read_text(encoding="utf-8")
    assert "Paris (take 2)" in again and "take 1" not in again  # rewritten, not added to
    [turn] = [doc for doc in yaml.safe_load_all(again) if doc]
    assert len(turn["steps"]) == 1

    run_fresh(pytester).assert_outcomes(passed=1)
    assert answer() == "Paris (take 2)"


def test_cassette_recording_needs_an_upstream(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MOCKROUTER_UPSTREAM", raising=False)
    pytester.makepyfile(test_cassette=CASSETTE_TEST)
    (pytester.path / "question.txt").write_text(FRANCE, encoding="utf-8")
    result = run(pytester, "--mockrouter-record=new")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*--mockrouter-record=new needs --mockrouter-upstream URL*"])
    assert not (pytester.path / "cassettes").exists()
