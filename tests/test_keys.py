"""The keys file: unknown and disabled keys, credits that run out (402), rate limits that
bite (429 with Retry-After and X-RateLimit-*), free-tier keys, reset, and file errors.

SPEC ("Details users and tests rely on": Credits, Keys file), router-wire.md §1.4, §5, §7.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from mockrouter.core.schemas import SchemaRegistry
from mockrouter.errors import ConfigError
from mockrouter.http.server import BackgroundServer
from mockrouter.state.keys import parse_keys
from mockrouter.tools.cli import main

REGISTRY = SchemaRegistry()
CHAT = {"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "hello there"}]}
KEYS_FILE = """\
# a keys file as a user writes it
keys:
  - key: sk-credits
    label: CI budget
    credits: 1.0
  - key: sk-afford
    credits: 0.001
  - key: sk-rate
    rate_limit: {requests: 3, window_s: 1.5}
  - key: sk-sdk-rate
    rate_limit: {requests: 2, window_s: 1}
  - key: sk-free
    free_tier: true
  - key: sk-off
    disabled: true
  - key: sk-plain
"""
COSTLY = "name: costly\nsteps:\n  - content: ok\n    usage: {cost: 0.4}\n"


def valid(name: str, data: Any) -> None:
    violation = REGISTRY[name].violation(data)
    assert violation is None, f"{name}: {violation}\n{data}"


@pytest.fixture(scope="module")
def keyed_servers(
    make_server: Callable[..., BackgroundServer], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, BackgroundServer]:
    path = tmp_path_factory.mktemp("keys") / "keys.yaml"
    path.write_text(KEYS_FILE)
    return {d: make_server(dialect=d, keys=path) for d in ("anyrouter", "openrouter")}


@pytest.fixture
def keyed(keyed_servers: dict[str, BackgroundServer], dialect: str) -> BackgroundServer:
    return keyed_servers[dialect]


@pytest.fixture
def call(keyed: BackgroundServer) -> Iterator[Callable[..., httpx.Response]]:
    """``call(key, body=None, path=...)``; every key of the file starts afresh (reset) per test."""
    for line in KEYS_FILE.splitlines():
        if line.startswith("  - key: "):
            httpx.post(keyed.url + "/__mockrouter/reset", params={"key": line[9:]}).raise_for_status()
    with httpx.Client(base_url=keyed.base_url, timeout=10) as client:

        def send(key: str, body: dict[str, Any] | None = None, path: str = "/chat/completions") -> httpx.Response:
            headers = {"Authorization": f"Bearer {key}"}
            if body is None and path != "/chat/completions":
                return client.get(path, headers=headers)
            return client.post(path, json=body or CHAT, headers=headers)

        yield send


def add_scoped(server: BackgroundServer, key: str, yaml_text: str) -> None:
    response = httpx.post(server.url + "/__mockrouter/scenarios", params={"key": key}, content=yaml_text)
    assert response.status_code == 201, response.text


def test_unknown_and_disabled_keys_get_401(call, dialect):
    for key in ("sk-not-listed", "sk-off"):
        response = call(key)
        assert response.status_code == 401, response.text
        valid(f"error.{dialect}", response.json())
    assert call("sk-plain").status_code == 200


def test_catalog_reads_need_no_listed_key(keyed):
    response = httpx.get(keyed.base_url + "/models", headers={"Authorization": "Bearer sk-not-listed"})
    assert response.status_code == 200


def test_credits_run_out_after_a_known_number_of_requests(call, keyed, dialect):
    add_scoped(keyed, "sk-credits", COSTLY)
    body = {**CHAT, "model": "mockrouter/costly"}
    # 1.0 credit, 0.4 per request: 1.0 → 0.6 → 0.2 → -0.2 (the last one may overdraw), then 402
    statuses = [call("sk-credits", body).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 402]
    refused = call("sk-credits", body)
    assert refused.status_code == 402
    error = refused.json()
    valid(f"error.{dialect}", error)
    if dialect == "openrouter":
        assert error["error"]["code"] == 402 and error["error"]["message"].startswith("Insufficient credits")
    else:
        assert error["error"]["type"] == "payment_required_error"
        assert error["error"]["code"] == "insufficient_credits"
    credits = call("sk-credits", path="/credits").json()
    valid("credits", credits)
    assert credits["data"]["total_credits"] == 1.0
    assert credits["data"]["total_usage"] == pytest.approx(1.2)
    info = call("sk-credits", path="/auth/key").json()
    valid("key-info", info)
    assert info["data"]["label"] == "CI budget"
    assert info["data"]["limit"] == 1.0
    assert info["data"]["limit_remaining"] == pytest.approx(-0.2)
    # a reset of the key gives its credits back
    httpx.post(keyed.url + "/__mockrouter/reset", params={"key": "sk-credits"}).raise_for_status()
    add_scoped(keyed, "sk-credits", COSTLY)
    assert call("sk-credits", body).status_code == 200


def test_max_tokens_beyond_what_is_left_gets_the_afford_402(call, dialect):
    # gpt-4o completion: $10 / 1M tokens; $0.001 affords 100 tokens
    response = call("sk-afford", {**CHAT, "max_tokens": 1000})
    assert response.status_code == 402
    payload = response.json()
    valid(f"error.{dialect}", payload)
    message = payload["error"]["message"]
    assert "You requested up to 1000 tokens, but can only afford 100." in message
    if dialect == "openrouter":
        assert payload["error"]["metadata"] == {"provider_name": None}
    assert call("sk-afford", {**CHAT, "max_tokens": 50}).status_code == 200


def test_rate_limit_gives_n_successes_then_a_429_whose_retry_after_works(call, dialect):
    responses = [call("sk-rate") for _ in range(4)]
    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    limited = responses[-1]
    valid(f"error.{dialect}", limited.json())
    retry_after = limited.headers["retry-after"]
    assert retry_after.isdigit() and 1 <= int(retry_after) <= 2
    assert limited.headers["x-ratelimit-limit"] == "3"
    assert limited.headers["x-ratelimit-remaining"] == "0"
    reset = int(limited.headers["x-ratelimit-reset"])
    if dialect == "anyrouter":  # on every response, unix seconds
        assert [r.headers["x-ratelimit-remaining"] for r in responses[:3]] == ["2", "1", "0"]
        assert abs(reset - time.time()) <= 3
    else:  # only on the router's own 429, unix milliseconds (also in metadata.headers)
        assert not [h for r in responses[:3] for h in r.headers if h.startswith("x-ratelimit")]
        assert abs(reset / 1000 - time.time()) <= 3
        assert limited.json()["error"]["metadata"]["headers"]["X-RateLimit-Limit"] == "3"
    time.sleep(int(retry_after))
    assert call("sk-rate").status_code == 200


def test_openai_sdk_honours_the_rate_limit(keyed, dialect, admin_of):
    httpx.post(keyed.url + "/__mockrouter/reset", params={"key": "sk-sdk-rate"}).raise_for_status()
    client = openai.OpenAI(base_url=keyed.base_url, api_key="sk-sdk-rate", max_retries=3, timeout=10)
    started = time.monotonic()
    for _ in range(3):
        reply = client.chat.completions.create(**CHAT)
        assert reply.choices[0].message.content == "hello there"
    assert time.monotonic() - started >= 0.5  # the third request waited for the window
    entries = admin_of(keyed, "sk-sdk-rate")
    assert [e["status"] for e in entries] == [200, 200, 429, 200]


@pytest.fixture
def admin_of() -> Callable[[BackgroundServer, str], list[dict[str, Any]]]:
    def entries(server: BackgroundServer, key: str) -> list[dict[str, Any]]:
        return httpx.get(server.url + "/__mockrouter/requests", params={"key": key}).json()["data"]

    return entries


def test_free_tier_key_gets_20_requests_per_minute(call, dialect):
    # every request of the key counts, account endpoints included
    info = call("sk-free", path="/auth/key").json()["data"]
    assert info["is_free_tier"] is True
    assert info["rate_limit"]["requests"] == 20 and info["rate_limit"]["interval"] == "60s"
    assert info["free_model_daily_requests"] == {"limit": 50, "remaining": 50, "used": 0}  # never bought credits
    statuses = [call("sk-free").status_code for _ in range(19)]
    assert statuses == [200] * 19
    limited = call("sk-free")
    assert limited.status_code == 429
    assert "free-models-per-min" in limited.json()["error"]["message"]
    assert 1 <= int(limited.headers["retry-after"]) <= 60


def test_without_a_keys_file_any_key_is_unlimited_and_usage_adds_up(http, dialect):
    costs = []
    for _ in range(2):
        response = http.post("/chat/completions", json=CHAT)
        assert response.status_code == 200
        costs.append(response.json()["usage"]["cost"])
    info = http.get("/auth/key").json()
    valid("key-info", info)
    assert info["data"]["limit"] is None and info["data"]["limit_remaining"] is None
    assert costs[0] > 0 and info["data"]["usage"] == pytest.approx(sum(costs))
    credits = http.get("/credits").json()
    valid("credits", credits)
    assert credits["data"]["total_usage"] == pytest.approx(info["data"]["usage"])


# -- the file ------------------------------------------------------------------------------


def test_keys_file_errors_name_file_line_and_field():
    text = "keys:\n  - key: sk-a\n    credits: -1\n  - key: sk-b\n    rate_limt: {requests: 1, window_s: 1}\n"
    with pytest.raises(ConfigError) as caught:
        parse_keys(text, "keys.yaml")
    message = str(caught.value)
    assert "keys.yaml:3: keys[0].credits:" in message
    assert "keys.yaml:5: keys[1].rate_limt: unknown key 'rate_limt' (did you mean 'rate_limit'?)" in message


def test_keys_file_duplicate_key():
    with pytest.raises(ConfigError, match=r"k\.yaml:3: keys\[1\]\.key: duplicate key \(first listed at line 2\)"):
        parse_keys("keys:\n  - key: sk-a\n  - key: sk-a\n", "k.yaml")


def test_keys_file_bad_yaml():
    with pytest.raises(ConfigError, match=r"k\.yaml:\d+: invalid YAML"):
        parse_keys("keys:\n  - key: [unclosed\n", "k.yaml")


def test_serve_with_a_broken_keys_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    bad = tmp_path / "keys.yaml"
    bad.write_text("keys:\n  - label: no key here\n")
    assert main(["serve", "--port", "0", "--keys", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:2: keys[0]: 'key' is required" in err
