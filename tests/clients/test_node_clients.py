"""The popular Node clients against a real mockrouter: `openai`, `@openrouter/sdk`, and `ai` with
`@openrouter/ai-sdk-provider`, plus the README's Node recipes exactly as written.

Each client is driven by a script in tests/clients/node/ that runs all its cases in one node process
(start-up and imports are the slow part) and prints one JSON line per case; a module-scoped fixture
runs it once and each test asserts one case. Every case uses its own API key (``<prefix>-<case>``,
named in its line), so the journal tells which requests the client really made.

The packages are pinned in tests/clients/node/package-lock.json: ``npm ci --prefix tests/clients/node``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from recipes import recipe

from mockrouter.http.server import BackgroundServer
from mockrouter.wire.dialects.account import DEFAULT_WORKSPACE_ID

NODE_DIR = Path(__file__).resolve().parent / "node"
SCRIPT_TIMEOUT_S = 60
INSTALL_HINT = "run `npm ci --prefix tests/clients/node` (Node.js >= 20) to install the Node clients"
TOOL_RESULT_TEXT = 'The tool says: {"temp_c":21}'


def _node() -> str:
    """The node binary, with the pinned packages installed; fail (never skip) otherwise."""
    node = shutil.which("node")
    if node is None:
        pytest.fail(f"`node` is not on PATH: install Node.js >= 20, then {INSTALL_HINT}", pytrace=False)
    wanted = json.loads((NODE_DIR / "package.json").read_text(encoding="utf-8"))["dependencies"]
    for package, version in wanted.items():
        manifest = NODE_DIR / "node_modules" / package / "package.json"
        if not manifest.is_file():
            pytest.fail(f"{package} is not installed in tests/clients/node/node_modules: {INSTALL_HINT}", pytrace=False)
        installed = json.loads(manifest.read_text(encoding="utf-8"))["version"]
        if installed != version:
            message = f"{package} {installed} is installed, package.json pins {version}: {INSTALL_HINT}"
            pytest.fail(message, pytrace=False)
    return node


def _run_node(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    node = _node()
    full_env = {k: v for k, v in os.environ.items() if k not in {"OPENROUTER_BASE_URL", "OPENAI_BASE_URL"}}
    full_env.update(env)
    try:
        return subprocess.run(
            [node, *args], cwd=NODE_DIR, env=full_env, capture_output=True, text=True, timeout=SCRIPT_TIMEOUT_S
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"node {' '.join(args)} did not finish in {SCRIPT_TIMEOUT_S} s; stderr: {exc.stderr!r}")


class ScriptRun:
    """One run of a client script: its per-case lines, and the journal of the server it talked to."""

    def __init__(self, script: str, server: BackgroundServer, env: dict[str, str] | None = None) -> None:
        self.script = script
        self.server = server
        self.process = _run_node(
            [script],
            {"MOCKROUTER_BASE_URL": server.base_url, "MOCKROUTER_KEY": f"sk-node-{uuid.uuid4().hex}", **(env or {})},
        )
        self.lines: dict[str, dict[str, Any]] = {}
        for raw in self.process.stdout.splitlines():
            if raw.startswith("{"):
                line = json.loads(raw)
                self.lines[line["case"]] = line

    def line(self, case: str) -> dict[str, Any]:
        if case not in self.lines:
            pytest.fail(
                f"{self.script} printed no line for case {case!r} (exit {self.process.returncode})\n"
                f"stdout:\n{self.process.stdout}\nstderr:\n{self.process.stderr}"
            )
        return self.lines[case]

    def result(self, case: str) -> dict[str, Any]:
        """What the client returned in this case; fails with the client's error when it raised."""
        line = self.line(case)
        if not line["ok"]:
            pytest.fail(f"{self.script} {case}: {json.dumps(line['error'], indent=2)}\n{line.get('stack', '')}")
        return line["result"]

    def journal(self, case: str, count: int) -> list[dict[str, Any]]:
        """The requests the client made in this case, oldest first, once ``count`` of them are journaled
        (an entry is written as its answer ends, which may be just after the client has read it)."""
        admin = self.server.url + "/__mockrouter"
        key = self.line(case)["key"]
        httpx.post(admin + "/wait", json={"key": key, "count": count, "timeout_ms": 5000}, timeout=10)
        response = httpx.get(admin + "/requests", params={"key": key}, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()["data"]


@pytest.fixture(scope="module")
def openai_run(anyrouter_server: BackgroundServer) -> ScriptRun:
    return ScriptRun("openai.mjs", anyrouter_server)


@pytest.fixture(scope="module")
def openrouter_sdk_run(openrouter_server: BackgroundServer) -> ScriptRun:
    return ScriptRun("openrouter-sdk.mjs", openrouter_server, {"OPENROUTER_BASE_URL": openrouter_server.base_url})


@pytest.fixture(scope="module")
def ai_sdk_run(openrouter_server: BackgroundServer) -> ScriptRun:
    return ScriptRun("ai-sdk.mjs", openrouter_server)


def assert_tool_round_trip(run: ScriptRun, result: dict[str, Any]) -> None:
    """The client parsed the drawn tool call, sent its result back, and got the text answer."""
    entries = run.journal("tool_call", 2)
    assert [e["status"] for e in entries] == [200, 200]
    (sent,) = entries[0]["expected"]["tool_calls"]
    (call,) = result["tool_calls"]
    assert call["name"] == "get_weather" == sent["name"]
    assert call["arguments"] == {"city": "Paris"} == json.loads(sent["arguments"])
    assert call["id"] == sent["id"]
    follow_up = entries[1]["body"]["messages"]
    assert follow_up[-1]["role"] == "tool" and follow_up[-1]["tool_call_id"] == sent["id"]
    assert follow_up[-2]["role"] == "assistant" and follow_up[-2]["tool_calls"][0]["id"] == sent["id"]
    assert result["content"] == TOOL_RESULT_TEXT
    assert result["finish_reason"] == "stop"


def assert_retried_once(run: ScriptRun, case: str) -> None:
    """`rate-limited` answered 429 + Retry-After: 1, the client waited and asked again, once."""
    result = run.result(case)
    assert result["content"] == "Worth the wait"
    assert [e["status"] for e in run.journal(case, 2)] == [429, 200]
    assert result["elapsed_ms"] >= 900, "the client did not honour Retry-After: 1"


# --- openai (anyrouter dialect) ---------------------------------------------------------------------


def test_openai_chat(openai_run: ScriptRun) -> None:
    result = openai_run.result("chat")
    assert result["content"] == "Hello from node openai"
    assert result["finish_reason"] == "stop"
    assert result["id"].startswith("chatcmpl-")
    usage = result["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0


def test_openai_stream(openai_run: ScriptRun) -> None:
    result = openai_run.result("stream")
    assert result["content"] == "Stream me, node openai"
    assert result["deltas"] > 1
    assert result["finish_reason"] == "stop"
    assert result["usage"]["completion_tokens"] == result["deltas"]


def test_openai_tool_call(openai_run: ScriptRun) -> None:
    result = openai_run.result("tool_call")
    assert result["first_finish_reason"] == "tool_calls"
    assert result["tool_calls"][0]["type"] == "function"
    assert_tool_round_trip(openai_run, result)


def test_openai_error(openai_run: ScriptRun) -> None:
    result = openai_run.result("error")
    assert result["is_api_error"]
    raised = result["raised"]
    assert raised["status"] == 402
    assert raised["type"] == "payment_required_error" and raised["code"] == "insufficient_credits"
    assert [e["status"] for e in openai_run.journal("error", 1)] == [402]


def test_openai_retries_rate_limit(openai_run: ScriptRun) -> None:
    assert_retried_once(openai_run, "rate_limited")


# --- @openrouter/sdk (openrouter dialect) ------------------------------------------------------------


def test_openrouter_sdk_chat(openrouter_sdk_run: ScriptRun) -> None:
    result = openrouter_sdk_run.result("chat")
    assert result["content"] == "Hello from node openrouter"
    assert result["finish_reason"] == "stop"
    assert result["id"].startswith("gen-")
    usage = result["usage"]
    assert usage["totalTokens"] == usage["promptTokens"] + usage["completionTokens"] > 0


def test_openrouter_sdk_base_url_from_env(openrouter_sdk_run: ScriptRun) -> None:
    assert openrouter_sdk_run.result("env_base_url")["content"] == "Found through the environment"


def test_openrouter_sdk_models(openrouter_sdk_run: ScriptRun) -> None:
    result = openrouter_sdk_run.result("models")
    count = httpx.get(openrouter_sdk_run.server.base_url + "/models/count", timeout=10).json()["data"]["count"]
    assert result["total_count"] == result["count"] == count
    assert {"openai/gpt-4o-mini", "mockrouter/tool-call"} <= set(result["ids"])
    assert result["tool_call_links"] == {"details": "/api/v1/models/mockrouter/tool-call/endpoints"}


def test_openrouter_sdk_stream(openrouter_sdk_run: ScriptRun) -> None:
    result = openrouter_sdk_run.result("stream")
    assert result["content"] == "Stream me, node openrouter"
    assert result["deltas"] > 1
    assert result["finish_reason"] == "stop"
    assert result["usage"]["completionTokens"] == result["deltas"]  # openrouter always sends the usage chunk


def test_openrouter_sdk_tool_call(openrouter_sdk_run: ScriptRun) -> None:
    result = openrouter_sdk_run.result("tool_call")
    assert result["first_finish_reason"] == "tool_calls"
    assert_tool_round_trip(openrouter_sdk_run, result)


def test_openrouter_sdk_key_metadata(openrouter_sdk_run: ScriptRun) -> None:
    """apiKeys.getCurrentKeyMetadata() parses GET /key with the SDK's strict schema."""
    data = openrouter_sdk_run.result("key_metadata")
    assert data["allowedDataRegions"] == ["global"]
    assert data["freeModelDailyRequests"] == {"limit": 1000, "remaining": 999, "used": 1}
    assert data["organizationId"] is None
    assert data["workspaceId"] == DEFAULT_WORKSPACE_ID
    assert data["isFreeTier"] is False and data["limit"] is None


def test_openrouter_sdk_generation(openrouter_sdk_run: ScriptRun) -> None:
    """generations.getGeneration() parses GET /generation?id= (its schema requires a data_region string)."""
    result = openrouter_sdk_run.result("generation")
    assert result["id"] == result["reply_id"] and result["model"] == "openai/gpt-4o-mini"
    assert result["data_region"] == "global"


def test_openrouter_sdk_credits(openrouter_sdk_run: ScriptRun) -> None:
    assert openrouter_sdk_run.result("credits") == {"totalCredits": 1_000_000, "totalUsage": 0}


def test_openrouter_sdk_keys_api(openrouter_sdk_run: ScriptRun) -> None:
    """The keys API's key objects parse with the SDK's schemas (create, get, list, update, delete)."""
    result = openrouter_sdk_run.result("keys_api")
    created = result["created"]
    assert created["limit"] == 5 and created["workspaceId"] == DEFAULT_WORKSPACE_ID
    assert created["externalUser"] is None
    assert result["raw_key_prefix"] == "sk-or-v1-"
    assert result["got_hash"] == created["hash"] and result["listed"]
    assert result["updated_name"] == "renamed" and result["deleted"] is True


def test_openrouter_sdk_error(openrouter_sdk_run: ScriptRun) -> None:
    result = openrouter_sdk_run.result("error")
    assert result["is_openrouter_error"]
    assert result["raised"]["name"] == "PaymentRequiredResponseError"
    assert result["raised"]["statusCode"] == 402
    assert result["error_body"]["code"] == 402
    assert [e["status"] for e in openrouter_sdk_run.journal("error", 1)] == [402]


def test_openrouter_sdk_does_not_retry_rate_limit_by_default(openrouter_sdk_run: ScriptRun) -> None:
    result = openrouter_sdk_run.result("rate_limited_default")
    assert result["raised"]["name"] == "TooManyRequestsResponseError"
    assert result["raised"]["statusCode"] == 429
    assert result["retry_after"] == "1"
    assert [e["status"] for e in openrouter_sdk_run.journal("rate_limited_default", 1)] == [429]


def test_openrouter_sdk_retries_rate_limit_with_retry_codes(openrouter_sdk_run: ScriptRun) -> None:
    assert_retried_once(openrouter_sdk_run, "rate_limited")


# --- ai + @openrouter/ai-sdk-provider (openrouter dialect) --------------------------------------------


def test_ai_sdk_chat(ai_sdk_run: ScriptRun) -> None:
    result = ai_sdk_run.result("chat")
    assert result["text"] == "Hello from the node ai sdk"
    assert result["finish_reason"] == "stop"
    assert result["model"] == "openai/gpt-4o-mini"
    assert result["usage"]["totalTokens"] == result["usage"]["inputTokens"] + result["usage"]["outputTokens"] > 0


def test_ai_sdk_stream(ai_sdk_run: ScriptRun) -> None:
    result = ai_sdk_run.result("stream")
    assert result["errors"] == []
    assert result["content"] == "Stream me, node ai sdk"
    assert result["deltas"] > 1
    assert result["finish_reason"] == "stop"
    assert result["usage"]["outputTokens"] == result["deltas"]


def test_ai_sdk_tool_call(ai_sdk_run: ScriptRun) -> None:
    result = ai_sdk_run.result("tool_call")
    assert result["steps"] == 2
    assert result["first_finish_reason"] == "tool-calls"
    assert result["executed"] == [{"city": "Paris"}]
    assert_tool_round_trip(ai_sdk_run, result)


def test_ai_sdk_error(ai_sdk_run: ScriptRun) -> None:
    result = ai_sdk_run.result("error")
    assert result["is_api_call_error"]
    assert result["raised"]["statusCode"] == 402
    assert result["raised"]["isRetryable"] is False
    assert [e["status"] for e in ai_sdk_run.journal("error", 1)] == [402]


def test_ai_sdk_retries_rate_limit(ai_sdk_run: ScriptRun) -> None:
    assert_retried_once(ai_sdk_run, "rate_limited")


# --- the README's recipes, exactly as written ---------------------------------------------------------


RECIPES = [("node-openai", "anyrouter"), ("node-openrouter", "openrouter"), ("node-ai-sdk", "openrouter")]


@pytest.mark.parametrize(("name", "dialect"), RECIPES)
def test_readme_recipe(name: str, dialect: str, request: pytest.FixtureRequest) -> None:
    server: BackgroundServer = request.getfixturevalue(f"{dialect}_server")
    snippet = recipe(name)
    assert snippet.language == "js"
    # Inside tests/clients/node so that `import "openai"` resolves to its node_modules; git-ignored.
    with tempfile.NamedTemporaryFile(
        "w", dir=NODE_DIR, prefix="_recipe-", suffix=".mjs", delete=False, encoding="utf-8"
    ) as script:
        script.write(snippet.for_server(server.url))
    try:
        process = _run_node([script.name], {})
    finally:
        Path(script.name).unlink()
    assert process.returncode == 0, process.stderr
    assert process.stdout.strip() == "Hello!"
