"""The admin API: health, scenarios, reset, journal, schemas, and its token rule."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import httpx
import pytest

from mockrouter.core.config import Config

GOOD = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hello admin"}]}


def test_health(admin, dialect):
    body = admin.get("/health").json()
    assert body["status"] == "ok"
    assert body["dialect"] == dialect
    assert body["scenarios"] >= 20


def test_scenarios_list_and_add_scoped(admin, http, api_key):
    names = [s["name"] for s in admin.get("/scenarios").json()["data"]]
    assert {"echo", "tool-call", "rate-limited"} <= set(names)
    added = admin.post(
        "/scenarios",
        params={"key": api_key},
        content="name: scoped-one\nmatch: {last_user: admin}\nsteps:\n  - content: scoped!\n",
    )
    assert added.status_code == 201
    assert added.json()["added"] == ["scoped-one"]
    assert http.post("/chat/completions", json=GOOD).json()["choices"][0]["message"]["content"] == "scoped!"
    # other keys do not see it
    with httpx.Client(base_url=str(http.base_url), headers={"Authorization": "Bearer sk-other"}) as other:
        assert other.post("/chat/completions", json=GOOD).json()["choices"][0]["message"]["content"] == "hello admin"
    scoped = [s["name"] for s in admin.get("/scenarios", params={"key": api_key}).json()["data"]]
    assert "scoped-one" in scoped and "scoped-one" not in names


def test_add_scenarios_as_json(admin, http, api_key):
    scenario = {"name": "json-added", "match": {"last_user": "admin"}, "steps": [{"content": "from json"}]}
    response = admin.post("/scenarios", params={"key": api_key}, json=scenario)
    assert response.status_code == 201, response.text
    assert http.post("/chat/completions", json=GOOD).json()["choices"][0]["message"]["content"] == "from json"


def test_add_broken_scenarios_reports_line_and_field(admin, api_key):
    text = "name: broken\nsteps:\n  - content: ok\n  - stram: {}\n"
    response = admin.post("/scenarios", params={"key": api_key}, content=text)
    assert response.status_code == 400
    [error] = response.json()["error"]["errors"]
    assert error["line"] == 4
    assert error["field"] == "steps[1].stram"
    assert "did you mean 'stream'" in error["message"]


def test_journal_records_and_redacts(admin, http, api_key, journal):
    http.post("/chat/completions", json=GOOD, headers={"X-Custom": "yes"})
    [entry] = journal()
    assert entry["headers"]["authorization"] == "[REDACTED]"
    assert api_key not in str(entry)
    assert entry["key_hint"] == api_key[-4:]
    assert entry["headers"]["x-custom"] == "yes"
    assert entry["body"] == GOOD
    assert entry["scenario"] == "echo" and entry["step"] == 0 and entry["status"] == 200
    assert entry["expected"] == {"role": "assistant", "content": "hello admin"}
    assert entry["generation_id"]
    assert entry["time"].endswith("Z") and isinstance(entry["ts"], float)
    assert admin.get(f"/requests/{entry['id']}").json()["id"] == entry["id"]
    assert admin.get("/requests/req_nope").status_code == 404


def test_journal_filters_and_limit(admin, http, api_key):
    for i in range(5):
        http.post("/chat/completions", json={**GOOD, "messages": [{"role": "user", "content": f"m{i}"}]})
    http.post("/chat/completions", json={**GOOD, "model": "mockrouter/lorem"})
    data = admin.get("/requests", params={"key": api_key, "limit": 2}).json()["data"]
    assert [e["body"]["messages"][0]["content"] for e in data if e["scenario"] == "echo"] == ["m4"]
    assert data[-1]["scenario"] == "lorem"
    only = admin.get("/requests", params={"key": api_key, "scenario": "echo"}).json()["data"]
    assert len(only) == 5
    assert admin.get("/requests", params={"limit": "x"}).status_code == 400


def test_reset_one_key(admin, http, api_key, journal):
    http.post("/chat/completions", json={**GOOD, "model": "mockrouter/rate-limited"})
    assert journal()[0]["status"] == 429
    assert admin.post("/reset", params={"key": api_key}).status_code == 200
    assert journal() == []
    # the cursor was reset too: the first request is a 429 again
    assert http.post("/chat/completions", json={**GOOD, "model": "mockrouter/rate-limited"}).status_code == 429


def test_schemas_served(admin):
    names = admin.get("/schemas").json()["data"]
    assert "scenario" in names and "chat-request" in names
    schema = admin.get("/schemas/scenario").json()
    assert schema["title"] == "mockrouter scenario"
    assert admin.get("/schemas/nope").status_code == 404


def test_admin_needs_token_beyond_loopback():
    from starlette.testclient import TestClient

    from mockrouter.http.app import MockrouterApp

    app = MockrouterApp(Config(host="0.0.0.0", speed=0))
    with TestClient(app) as c:
        assert c.get("/__mockrouter/health").status_code == 401
    app = MockrouterApp(Config(host="0.0.0.0", admin_token="s3cret", speed=0))
    with TestClient(app) as c:
        assert c.get("/__mockrouter/health").status_code == 401
        assert c.get("/__mockrouter/health", headers={"X-Mockrouter-Admin-Token": "wrong"}).status_code == 401
        assert c.get("/__mockrouter/health", headers={"X-Mockrouter-Admin-Token": "s3cret"}).status_code == 200


@pytest.mark.parametrize("path", ["/health", "/scenarios", "/requests"])
def test_admin_with_token_on_loopback(make_server, path):
    server = make_server(admin_token="tok")
    with httpx.Client(base_url=server.url + "/__mockrouter") as c:
        assert c.get(path).status_code == 401
        assert c.get(path, headers={"Authorization": "Bearer tok"}).status_code == 200


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"", None),
        (b"  \n", None),
        (b"", "application/json"),
        (b"# only a comment\n---\n", None),
        (b"[]", "application/json"),
    ],
)
def test_add_scenarios_without_any_scenario_is_a_400(admin, api_key, body, content_type):
    headers = {"content-type": content_type} if content_type else {}
    response = admin.post("/scenarios", params={"key": api_key}, content=body, headers=headers)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert "no scenario" in error["message"].lower()
    assert error["errors"] == []


def test_add_scenarios_as_json_reports_the_line_of_the_json_text(admin, api_key):
    text = json.dumps(
        [
            {"name": "fine", "steps": [{"content": "ok"}]},
            {"name": "typo", "steps": [{"content": "a"}, {"content": "b", "finish_reson": "stop"}]},
        ],
        indent=2,
    )
    response = admin.post(
        "/scenarios", params={"key": api_key}, content=text, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400, response.text
    [error] = response.json()["error"]["errors"]
    assert error["field"] == "steps[1].finish_reson"
    assert error["line"] == text.splitlines().index('        "finish_reson": "stop"') + 1
    assert "did you mean 'finish_reason'" in error["message"]


def test_add_scenarios_with_a_syntax_error_points_at_the_spot(admin, api_key):
    response = admin.post("/scenarios", params={"key": api_key}, content=b"name: x\nsteps: [{content: @}]\n")
    assert response.status_code == 400
    body = response.json()["error"]
    [error] = body["errors"]
    assert set(error) == {"file", "line", "column", "field", "message", "excerpt"}
    assert (error["line"], error["column"], error["field"]) == (2, 19, None)
    assert error["excerpt"] == "    steps: [{content: @}]\n" + " " * 22 + "^"
    broken = admin.post(
        "/scenarios", params={"key": api_key}, content=b'{"name": }', headers={"content-type": "application/json"}
    )
    [error] = broken.json()["error"]["errors"]
    assert "invalid JSON" in error["message"] and (error["line"], error["column"]) == (1, 10)


def test_add_scenarios_answer_fields(admin, api_key):
    """Every field of the answer is in the README's admin table."""
    scoped = admin.post("/scenarios", params={"key": api_key}, content="name: answer-a\nsteps: [{content: a}]\n")
    assert scoped.status_code == 201
    assert scoped.json() == {"added": ["answer-a"], "key": True}
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    row = next(line for line in readme.splitlines() if line.startswith("| `POST scenarios"))
    for field in ("added", "key", "message", "errors", "file", "line", "column", "field", "excerpt"):
        assert f"`{field}`" in row, field


def loading_section() -> str:
    reference = (Path(__file__).resolve().parent.parent / "docs" / "scenarios.md").read_text(encoding="utf-8")
    return reference.split("\n## Loading a file\n", 1)[1].split("\n## ", 1)[0]


def test_the_reference_says_how_to_load_a_file_and_its_curl_command_works(server, api_key, http, tmp_path):
    """docs/scenarios.md names the three ways to load a file; its curl command is run as written
    (but for the server's address, a file of ours and a key to scope it to)."""
    section = loading_section()
    assert "mockrouter serve --scenarios my-scenarios.yaml" in section
    assert "mockrouter.add(" in section and "mockrouter check my-scenarios.yaml" in section
    [command] = [line.strip() for line in section.splitlines() if line.strip().startswith("curl ")]
    path = tmp_path / "my-scenarios.yaml"
    path.write_text("name: from-the-docs\nsteps:\n  - content: loaded as documented\n", encoding="utf-8")
    url = "http://127.0.0.1:8080/__mockrouter/scenarios"
    assert url in command
    command = command.replace("@my-scenarios.yaml", f"@{path}").replace(url, f"{server.url}{url[21:]}?key={api_key}")
    done = subprocess.run([*shlex.split(command), "--silent"], capture_output=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"added": ["from-the-docs"], "key": True}
    answer = http.post("/chat/completions", json={**GOOD, "model": "mockrouter/from-the-docs"}).json()
    assert answer["choices"][0]["message"]["content"] == "loaded as documented"
