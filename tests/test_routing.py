"""Routing: the ``models`` fallback list (tried before any byte is sent), provider
preferences and the X-AnyRouter-Provider pin, and --strict-models on fallback entries.

SPEC (Models), issue 7 item 4, router-wire.md §5 (fallbacks), anyrouter.md §7.
"""

from __future__ import annotations

import httpx
import openai
import pytest

from mockrouter.core.schemas import SchemaRegistry

REGISTRY = SchemaRegistry()
MESSAGES = [{"role": "user", "content": "route me"}]
BROKEN = """\
name: broken-upstream
match: {model: "acme/broken*"}
steps:
  - error: {status: 503, retry_after: 1}
"""


def body(**fields):
    return {"messages": MESSAGES, **fields}


def test_fallback_list_serves_from_the_second_model(http, dialect, add_scenarios, journal):
    add_scenarios(BROKEN)
    response = http.post("/chat/completions", json=body(model="acme/broken", models=["openai/gpt-4o-mini"]))
    assert response.status_code == 200, response.text
    reply = response.json()
    assert REGISTRY.for_dialect("chat-response", dialect).violation(reply) is None
    assert reply["model"] == "openai/gpt-4o-mini" and reply["provider"] == "OpenAI"
    assert reply["choices"][0]["message"]["content"] == "route me"
    [entry] = journal()
    assert entry["models_tried"] == ["acme/broken", "openai/gpt-4o-mini"]
    assert entry["model"] == "openai/gpt-4o-mini" and entry["scenario"] == "echo"


def test_fallback_with_the_openai_sdk_and_a_stream(client, dialect, add_scenarios):
    add_scenarios(BROKEN)
    reply = client.chat.completions.create(
        model="acme/broken-1", messages=MESSAGES, extra_body={"models": ["acme/broken-2", "anthropic/claude-haiku-4.5"]}
    )
    assert reply.model == "anthropic/claude-haiku-4.5"
    stream = client.chat.completions.create(
        model="acme/broken-1", messages=MESSAGES, stream=True, extra_body={"models": ["openai/gpt-4o"]}
    )
    chunks = list(stream)
    assert {c.model for c in chunks} == {"openai/gpt-4o"}


def test_models_without_model_starts_with_the_first_entry(http, dialect, add_scenarios):
    add_scenarios(BROKEN)
    reply = http.post("/chat/completions", json=body(models=["acme/broken", "google/gemini-2.5-flash"])).json()
    assert reply["model"] == "google/gemini-2.5-flash" and reply["provider"] == "Google AI Studio"


def test_when_every_model_fails_the_last_error_is_answered(http, dialect, add_scenarios):
    add_scenarios(BROKEN)
    response = http.post("/chat/completions", json=body(model="acme/broken-a", models=["acme/broken-b"]))
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert REGISTRY.for_dialect("error", dialect).violation(response.json()) is None


def test_no_fallback_without_an_error(http, dialect):
    reply = http.post("/chat/completions", json=body(model="openai/gpt-4o", models=["openai/gpt-4o-mini"])).json()
    assert reply["model"] == "openai/gpt-4o"


@pytest.mark.parametrize(
    ("provider", "claimed"),
    [
        ({"order": ["together", "openai"]}, "Together"),
        ({"order": ["together", "openai"], "only": ["openai"]}, "OpenAI"),
        ({"only": ["google-ai-studio"]}, "Google AI Studio"),
        ({"order": ["SomeNewHost"]}, "SomeNewHost"),
        ({"sort": "price"}, "Anthropic"),
    ],
)
def test_provider_preferences_decide_the_claimed_provider(http, dialect, provider, claimed):
    reply = http.post("/chat/completions", json=body(model="anthropic/claude-sonnet-4.6", provider=provider)).json()
    assert reply["provider"] == claimed


def test_anyrouter_provider_header_pins_the_provider(http, dialect):
    headers = {"X-AnyRouter-Provider": "openrouter"}
    reply = http.post("/chat/completions", json=body(model="anthropic/claude-sonnet-4.6"), headers=headers).json()
    # AnyRouter's own header; OpenRouter has no such header and ignores it
    assert reply["provider"] == ("openrouter" if dialect == "anyrouter" else "Anthropic")


def test_a_step_that_claims_a_provider_wins(http, dialect, add_scenarios):
    add_scenarios("name: pinned\nsteps:\n  - content: hi\n    provider: Azure\n")
    reply = http.post("/chat/completions", json=body(model="mockrouter/pinned", provider={"order": ["openai"]})).json()
    assert reply["provider"] == "Azure"


def test_upstream_errors_name_the_preferred_provider(server, api_key, dialect):
    if dialect != "openrouter":
        pytest.skip("provider_name metadata is openrouter's")
    response = httpx.post(
        server.base_url + "/chat/completions",
        json=body(model="mockrouter/bad-gateway", provider={"order": ["together"]}),
        headers={"Authorization": f"Bearer {api_key}"},
    )
    assert response.status_code == 502
    assert response.json()["error"]["metadata"]["provider_name"] == "Together"


@pytest.fixture(scope="module")
def strict(make_server):
    return {d: make_server(dialect=d, strict_models=True) for d in ("anyrouter", "openrouter")}


def test_strict_models_checks_fallback_entries(strict, dialect, api_key):
    client = openai.OpenAI(base_url=strict[dialect].base_url, api_key=api_key, max_retries=0)
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="openai/gpt-4o", messages=MESSAGES, extra_body={"models": ["openai/gpt-4o-mini", "acme/nope"]}
        )
    assert "acme/nope is not a valid model ID" in str(caught.value)
    if dialect == "anyrouter":
        assert caught.value.body["param"] == "models[1]"
    ok = client.chat.completions.create(
        model="openai/gpt-4o", messages=MESSAGES, extra_body={"models": ["mockrouter/echo"]}
    )
    assert ok.model == "openai/gpt-4o"


def test_anyrouter_still_needs_a_model_when_models_names_none(http, dialect):
    response = http.post("/chat/completions", json=body(models=[""], provider={"order": [""]}))
    if dialect == "anyrouter":
        assert response.status_code == 400 and response.json()["error"]["param"] == "model"
    else:  # openrouter: the model is optional
        assert response.status_code == 200 and response.json()["provider"] == "Mockrouter"
