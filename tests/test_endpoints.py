"""The router surface beyond chat, with real clients in both dialects: catalog, account,
generation stats, legacy completions, embeddings and the keys API; every body is checked
against its schema, and the other dialect's routes answer 404 in the current one's format.

SPEC (HTTP surface table, "Catalog shapes", "Auth scope"), router-wire.md §1, anyrouter.md §1, §6.
"""

from __future__ import annotations

import base64
import struct
import urllib.parse
from typing import Any

import httpx
import openai
import orjson
import pytest

from mockrouter.core.schemas import SchemaRegistry
from mockrouter.wire.dialects.account import DEFAULT_WORKSPACE_ID

REGISTRY = SchemaRegistry()
CHAT = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Count my tokens please"}]}
anyrouter_only = pytest.mark.parametrize("dialect", ["anyrouter"])
openrouter_only = pytest.mark.parametrize("dialect", ["openrouter"])


def valid(name: str, data: Any) -> Any:
    violation = REGISTRY[name].violation(data)
    assert violation is None, f"{name}: {violation}\n{data}"
    return data


def ok(response: httpx.Response, schema: str, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    return valid(schema, response.json())


def not_found(response: httpx.Response, dialect: str) -> None:
    assert response.status_code == 404, response.text
    valid(f"error.{dialect}", response.json())


def sse(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.headers["content-type"] == "text/event-stream"
    events = [line[6:] for line in response.text.split("\n") if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    return [orjson.loads(e) for e in events[:-1]]


# -- catalog: no key needed ------------------------------------------------------------------


def test_models_count_matches_the_list(server, dialect):
    count = ok(httpx.get(server.base_url + "/models/count"), "models-count")["data"]["count"]
    assert count == len(httpx.get(server.base_url + "/models").json()["data"])


def test_providers(server, dialect):
    data = ok(httpx.get(server.base_url + "/providers"), "providers")["data"]
    assert {"name": "Anthropic", "slug": "anthropic"}.items() <= data[1].items()
    assert "Google AI Studio" in {p["name"] for p in data}


@anyrouter_only
def test_anyrouter_health(server, dialect):
    body = ok(httpx.get(server.base_url + "/health"), "health.anyrouter")
    assert body["status"] == "ok" and body["providers"]


@anyrouter_only
def test_anyrouter_model_by_url_encoded_id(server, dialect, client):
    encoded = urllib.parse.quote("anthropic/claude-sonnet-4.6", safe="")
    model = httpx.get(f"{server.base_url}/models/{encoded}").json()
    valid("models.anyrouter", {"object": "list", "data": [model]})
    assert model["id"] == "anthropic/claude-sonnet-4.6" and model["provider"] == "Anthropic"
    retrieved = client.models.retrieve("anthropic/claude-sonnet-4.6")
    assert retrieved.id == "anthropic/claude-sonnet-4.6"
    assert httpx.get(f"{server.base_url}/models/mockrouter%2Fecho").json()["provider"] == "Mockrouter"
    not_found(httpx.get(f"{server.base_url}/models/acme%2Fnope"), "anyrouter")
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("acme/nope")


@openrouter_only
def test_openrouter_model_endpoints(server, dialect):
    body = ok(httpx.get(server.base_url + "/models/openai/gpt-4o-mini/endpoints"), "endpoints.openrouter")
    [endpoint] = body["data"]["endpoints"]
    assert body["data"]["id"] == endpoint["model_id"] == "openai/gpt-4o-mini"
    assert endpoint["provider_name"] == "OpenAI" and endpoint["pricing"]["prompt"] == "0.00000015"
    not_found(httpx.get(server.base_url + "/models/acme/nope/endpoints"), "openrouter")
    not_found(httpx.get(server.base_url + "/models/openai%2Fgpt-4o-mini"), "openrouter")


@pytest.mark.parametrize(
    ("dialect", "path"),
    [
        ("anyrouter", "/key"),
        ("anyrouter", "/keys"),
        ("anyrouter", "/generation?id=x"),
        ("anyrouter", "/models/openai/gpt-4o/endpoints"),
        ("openrouter", "/health"),
        ("openrouter", "/generation/gen-1-x"),
    ],
)
def test_the_other_dialects_routes_are_404_in_this_dialects_format(server, dialect, path, http):
    not_found(http.get(path), dialect)


@openrouter_only
def test_openrouter_embeddings_are_404(http, dialect):
    not_found(http.post("/embeddings", json={"model": "openai/text-embedding-3-small", "input": "x"}), dialect)


# -- account ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/auth/key", "/credits", "/generation/x", "/generation?id=x"])
def test_account_endpoints_need_a_key(server, dialect, path):
    response = httpx.get(server.base_url + path)
    if response.status_code == 404:  # the other dialect's route
        return
    assert response.status_code == 401
    valid(f"error.{dialect}", response.json())


def test_key_info(http, dialect, api_key):
    data = ok(http.get("/auth/key"), "key-info")["data"]
    assert data["label"] == f"{api_key[:12]}...{api_key[-3:]}"
    assert data["is_free_tier"] is False and data["rate_limit"]["requests"] == -1
    if dialect == "openrouter":
        assert ok(http.get("/key"), "key-info") == {"data": data}
    # the fields @openrouter/sdk requires (tests/clients/test_node_clients.py parses them with it)
    assert data["allowed_data_regions"] == ["global"]
    assert data["free_model_daily_requests"] == {"limit": 1000, "remaining": 1000, "used": 0}
    assert data["organization_id"] is None and data["workspace_id"] == DEFAULT_WORKSPACE_ID


def test_key_info_counts_requests_to_free_models(http, dialect):
    for model in ("meta-llama/llama-3.3-70b-instruct:free", "openai/gpt-4o-mini", "google/gemma-3-27b-it:free"):
        assert http.post("/chat/completions", json={**CHAT, "model": model}).status_code == 200
    data = ok(http.get("/auth/key"), "key-info")["data"]
    assert data["free_model_daily_requests"] == {"limit": 1000, "remaining": 998, "used": 2}


def test_credits(http, dialect):
    data = ok(http.get("/credits"), "credits")["data"]
    assert data == {"total_credits": 1_000_000.0, "total_usage": 0}


# -- generation stats ------------------------------------------------------------------------


def _generation(http: httpx.Client, dialect: str, generation_id: str) -> httpx.Response:
    if dialect == "anyrouter":
        return http.get(f"/generation/{generation_id}")
    return http.get("/generation", params={"id": generation_id})


def test_generation_stats_from_the_journal(server, http, dialect):
    reply = http.post("/chat/completions", json=CHAT).json()
    data = ok(_generation(http, dialect, reply["id"]), "generation")["data"]
    assert data["id"] == reply["id"]
    assert data["tokens_prompt"] == reply["usage"]["prompt_tokens"]
    assert data["tokens_completion"] == reply["usage"]["completion_tokens"]
    assert data["total_cost"] == reply["usage"]["cost"] > 0
    assert data["model"] == "openai/gpt-4o-mini" and data["provider_name"] == "OpenAI"
    assert data["finish_reason"] == "stop" and data["streamed"] is False and data["cancelled"] is False
    assert data["latency"] is not None and data["api_type"] == "completions"
    streamed = http.post("/chat/completions", json={**CHAT, "stream": True})
    chunk_id = sse(streamed)[0]["id"]
    assert ok(_generation(http, dialect, chunk_id), "generation")["data"]["streamed"] is True
    # another key does not see it; an unknown id is a 404
    other = httpx.get(
        server.base_url + (f"/generation/{reply['id']}" if dialect == "anyrouter" else f"/generation?id={reply['id']}"),
        headers={"Authorization": "Bearer sk-someone-else"},
    )
    not_found(other, dialect)
    not_found(_generation(http, dialect, "gen-0-nope"), dialect)


@openrouter_only
def test_generation_without_id_is_400(http, dialect):
    response = http.get("/generation")
    assert response.status_code == 400
    valid("error.openrouter", response.json())


# -- legacy completions ----------------------------------------------------------------------


def test_legacy_completions_with_the_openai_sdk(client, http, dialect):
    completion = client.completions.create(model="openai/gpt-4o-mini", prompt="Once upon a time")
    assert completion.choices[0].text == "Once upon a time"  # echo
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.completion_tokens == 4
    raw = http.post("/completions", json={"model": "openai/gpt-4o-mini", "prompt": ["In a hole"]})
    body = ok(raw, f"completions.{dialect}")
    assert body["choices"][0]["text"] == "In a hole"


def test_legacy_completions_stream(client, http, dialect):
    stream = client.completions.create(model="openai/gpt-4o-mini", prompt="one two three", stream=True)
    assert "".join(c.choices[0].text for c in stream if c.choices) == "one two three"
    chunks = sse(http.post("/completions", json={"model": "openai/gpt-4o-mini", "prompt": "a b", "stream": True}))
    for chunk in chunks:
        valid(f"completions-chunk.{dialect}", chunk)
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "stop"


def test_legacy_completions_run_scenarios(http, dialect, add_scenarios):
    add_scenarios('name: poet\nmatch: {last_user: "^Roses"}\nsteps:\n  - content: "are red"\n')
    body = ok(http.post("/completions", json={"model": "x/y", "prompt": "Roses"}), f"completions.{dialect}")
    assert body["choices"][0]["text"] == "are red"
    failing = http.post("/completions", json={"model": "mockrouter/overloaded", "prompt": "hi"})
    assert failing.status_code == 503


@pytest.mark.parametrize(
    ("body", "param"),
    [({"model": "x/y"}, "prompt"), ({"model": "x/y", "prompt": 3}, "prompt"), ({"prompt": "a", "max_tokens": 0}, None)],
)
def test_legacy_completions_bad_requests(http, dialect, body, param):
    response = http.post("/completions", json=body)
    assert response.status_code == 400, response.text
    error = valid(f"error.{dialect}", response.json())["error"]
    if dialect == "anyrouter" and param:
        assert error["param"] == param


# -- embeddings (anyrouter) ------------------------------------------------------------------


@anyrouter_only
def test_embeddings_with_the_openai_sdk(client, http, dialect):
    result = client.embeddings.create(model="openai/text-embedding-3-small", input=["hello", "world"])
    assert [len(d.embedding) for d in result.data] == [1536, 1536]
    assert result.usage.prompt_tokens == 2
    again = client.embeddings.create(model="openai/text-embedding-3-small", input="hello")
    assert again.data[0].embedding == pytest.approx(result.data[0].embedding, abs=1e-6)  # deterministic
    assert result.data[0].embedding != result.data[1].embedding
    norm = sum(v * v for v in result.data[0].embedding)
    assert norm == pytest.approx(1.0, abs=1e-4)
    short = client.embeddings.create(model="openai/text-embedding-3-small", input="hello", dimensions=8)
    assert len(short.data[0].embedding) == 8


@anyrouter_only
def test_embeddings_raw(http, dialect):
    body = ok(
        http.post(
            "/embeddings", json={"model": "openai/text-embedding-3-small", "input": "hi", "encoding_format": "float"}
        ),
        "embeddings.anyrouter",
    )
    encoded = ok(
        http.post(
            "/embeddings", json={"model": "openai/text-embedding-3-small", "input": "hi", "encoding_format": "base64"}
        ),
        "embeddings.anyrouter",
    )
    for tokens, count in (([1, 2, 3], 1), ([1.0, 2], 1), ([[1, 2], [3.0]], 2)):  # token ids; 1.0 is an integer
        response = http.post("/embeddings", json={"model": "openai/text-embedding-3-small", "input": tokens})
        answered = ok(response, "embeddings.anyrouter")
        assert len(answered["data"]) == count, tokens
    raw = base64.b64decode(encoded["data"][0]["embedding"])
    assert list(struct.unpack(f"<{len(raw) // 4}f", raw)) == pytest.approx(body["data"][0]["embedding"], abs=1e-6)
    for bad in (
        {"model": "openai/gpt-4o", "input": "hi"},
        {"model": "openai/text-embedding-3-small"},
        {"model": "openai/text-embedding-3-small", "input": "hi", "dimensions": 5000},
    ):
        response = http.post("/embeddings", json=bad)
        assert response.status_code == 400, (bad, response.text)
        valid("error.anyrouter", response.json())


# -- the keys API (openrouter) ---------------------------------------------------------------


@pytest.fixture(scope="module")
def keys_server(make_server):
    return make_server(dialect="openrouter")


def test_keys_crud(keys_server):
    admin_key = {"Authorization": "Bearer sk-manager"}
    with httpx.Client(base_url=keys_server.base_url, headers=admin_key, timeout=10) as c:
        created = ok(c.post("/keys", json={"name": "ci", "limit": 0.5}), "key.openrouter", status=201)
        raw_key, key = created["key"], created["data"]
        assert key["name"] == "ci" and key["limit"] == key["limit_remaining"] == 0.5
        assert (
            key["workspace_id"] == DEFAULT_WORKSPACE_ID and key["external_user"] is None
        )  # @openrouter/sdk needs both
        listed = ok(c.get("/keys"), "key-list.openrouter")["data"]
        assert [k["hash"] for k in listed] == [key["hash"]]
        assert ok(c.get(f"/keys/{key['hash']}"), "key.openrouter")["data"]["name"] == "ci"
        # the new key works, and is billed against its limit
        as_new = {"Authorization": f"Bearer {raw_key}"}
        assert c.post("/chat/completions", json=CHAT, headers=as_new).status_code == 200
        info = ok(c.get("/key", headers=as_new), "key-info")["data"]
        assert info["limit"] == 0.5 and info["usage"] > 0 and info["limit_remaining"] < 0.5
        patched = ok(c.patch(f"/keys/{key['hash']}", json={"disabled": True, "name": "off"}), "key.openrouter")
        assert patched["data"]["disabled"] is True and patched["data"]["updated_at"]
        assert c.post("/chat/completions", json=CHAT, headers=as_new).status_code == 401
        assert c.get("/keys").json()["data"] == []
        assert len(c.get("/keys", params={"include_disabled": "true"}).json()["data"]) == 1
        assert ok(c.delete(f"/keys/{key['hash']}"), "key-deleted.openrouter") == {"deleted": True}
        not_found(c.get(f"/keys/{key['hash']}"), "openrouter")
        assert c.post("/chat/completions", json=CHAT, headers=as_new).status_code == 401
        bad = c.post("/keys", json={"limit": 1})
        assert bad.status_code == 400 and "name" in bad.json()["error"]["message"]
    # other keys still work without a keys file
    assert httpx.post(keys_server.base_url + "/chat/completions", json=CHAT, headers={"Authorization": "Bearer sk-x"})
