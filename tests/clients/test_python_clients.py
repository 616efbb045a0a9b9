"""The popular Python clients, unmodified, against a real mockrouter.

Per client, in the dialect it targets: a plain chat, a streamed chat, a tool-call round trip,
an error it must raise, and a 429 it survives (by default, or when told to retry) or raises.
Then the README's recipes for that client, run as users copy them (in a subprocess).

``openai`` is a test dependency; the others come with the ``clients`` extra
(``pip install -e ".[test,clients]"``) and their tests fail without it. Generic
OpenAI-compatible clients (``openai``, ``langchain-openai``) talk to the default ``anyrouter``
dialect; OpenRouter-specific ones (the ``openrouter`` SDK, litellm's ``openrouter/`` provider)
to a server started with ``dialect="openrouter"``.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, time, timedelta
from types import ModuleType
from typing import Any

import httpx
import openai
import pytest
from recipes import recipe

from mockrouter.http.server import BackgroundServer

MODEL = "openai/gpt-4o-mini"
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
TOOL_RESULT = "Sunny, 21 degrees"
# litellm fetches its model cost map from GitHub at import unless told to use the bundled one.
LITELLM_ENV = {"LITELLM_LOCAL_MODEL_COST_MAP": "True"}


def require(name: str) -> ModuleType:
    """Import a client of the matrix, or fail (not skip: CI must never pass without running it)."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        pytest.fail(f"{name} is not installed ({exc}); install the client matrix: pip install -e '.[test,clients]'")


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def journal_of(server: BackgroundServer) -> list[dict[str, Any]]:
    """Every journal entry of ``server`` (a fresh one, for a recipe's fixed key), oldest first."""
    response = httpx.get(server.url + "/__mockrouter/requests", timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def expected_call(entry: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The (name, parsed arguments) of the tool call the journal says was sent."""
    (call,) = entry["expected"]["tool_calls"]
    arguments = call["arguments"]
    return call["name"], json.loads(arguments) if isinstance(arguments, str) else arguments


RECIPE_DRIVER = """
import sys
for name, code in {recipes!r}:
    print("=== recipe " + name, flush=True)
    exec(compile(code, name, "exec"), {{"__name__": "__main__"}})
    sys.stdout.flush()
"""


def run_recipes(names: list[str], server: BackgroundServer, env: dict[str, str] | None = None) -> dict[str, str]:
    """Run the README recipes ``names``, in order, against ``server``; each one's printed output.

    They share one fresh interpreter (one import of the client for all of them), each in its
    own namespace, exactly as written but for the server's address.
    """
    codes = [(name, recipe(name).for_server(server.url)) for name in names]
    done = subprocess.run(
        [sys.executable, "-c", RECIPE_DRIVER.format(recipes=codes)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )
    assert done.returncode == 0, f"recipes {names} failed:\n{done.stdout}\n{done.stderr}"
    _, *parts = re.split(r"^=== recipe (\S+)\n", done.stdout, flags=re.MULTILINE)
    return dict(zip(parts[::2], parts[1::2], strict=True))


def wait_journaled(server: BackgroundServer, key: str, count: int) -> None:
    """Until ``count`` requests of ``key`` are journaled (an entry is written as its answer ends,
    which may be just after the client has read it); the journal feeds generation stats and
    a key's unlimited usage and ``last_used_at``."""
    body = {"key": key, "count": count, "timeout_ms": 5000}
    response = httpx.post(server.url + "/__mockrouter/wait", json=body, timeout=10)
    assert response.status_code == 200, response.text


def statuses(entries: list[dict[str, Any]]) -> list[int]:
    return [entry["status"] for entry in entries]


# --------------------------------------------------------------------------------------------
# openai (anyrouter)


class TestOpenAI:
    @pytest.fixture
    def dialect(self) -> str:
        return "anyrouter"

    @pytest.fixture
    def sdk(self, server: BackgroundServer, api_key: str) -> Iterator[openai.OpenAI]:
        with openai.OpenAI(base_url=server.base_url, api_key=api_key, timeout=10) as c:
            yield c

    def test_plain_chat(self, sdk: openai.OpenAI) -> None:
        reply = sdk.chat.completions.create(model=MODEL, messages=user("Hello, openai!"))
        assert reply.choices[0].message.content == "Hello, openai!"
        assert reply.choices[0].finish_reason == "stop"

    def test_streamed_chat(self, sdk: openai.OpenAI, journal: Callable[[], list[dict[str, Any]]]) -> None:
        chunks = list(
            sdk.chat.completions.create(
                model=MODEL,
                messages=user("Streaming through openai"),
                stream=True,
                stream_options={"include_usage": True},
            )
        )
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == "Streaming through openai"
        assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
        assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
        (entry,) = journal()
        assert entry["stream"] and not entry["client_disconnected"]

    def test_tool_call_round_trip(self, sdk: openai.OpenAI, journal: Callable[[], list[dict[str, Any]]]) -> None:
        messages: list[Any] = user("What is the weather in Paris?")
        first = sdk.chat.completions.create(model="mockrouter/tool-call", messages=messages, tools=[WEATHER_TOOL])
        assert first.choices[0].finish_reason == "tool_calls"
        (call,) = first.choices[0].message.tool_calls
        assert (call.function.name, json.loads(call.function.arguments)) == expected_call(journal()[0])
        messages += [
            first.choices[0].message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": TOOL_RESULT},
        ]
        second = sdk.chat.completions.create(model="mockrouter/tool-call", messages=messages, tools=[WEATHER_TOOL])
        assert second.choices[0].message.content == f"The tool says: {TOOL_RESULT}"
        assert second.choices[0].finish_reason == "stop"

    def test_insufficient_credits_raises_402(self, sdk: openai.OpenAI) -> None:
        # openai has no class of its own for 402: the generic APIStatusError.
        with pytest.raises(openai.APIStatusError) as raised:
            sdk.chat.completions.create(model="mockrouter/insufficient-credits", messages=user("hi"))
        assert raised.value.status_code == 402
        assert "Insufficient credits" in raised.value.message

    def test_moderation_raises_permission_denied(self, sdk: openai.OpenAI) -> None:
        with pytest.raises(openai.PermissionDeniedError) as raised:
            sdk.chat.completions.create(model="mockrouter/moderation", messages=user("hi"))
        assert raised.value.status_code == 403

    def test_survives_429_by_default(self, sdk: openai.OpenAI, journal: Callable[[], list[dict[str, Any]]]) -> None:
        reply = sdk.chat.completions.create(model="mockrouter/rate-limited", messages=user("Survived"))
        assert reply.choices[0].message.content == "Survived"
        assert statuses(journal()) == [429, 200]

    def test_without_retries_raises_rate_limit_error(self, server: BackgroundServer, api_key: str) -> None:
        with (
            openai.OpenAI(base_url=server.base_url, api_key=api_key, max_retries=0, timeout=10) as sdk,
            pytest.raises(openai.RateLimitError) as raised,
        ):
            sdk.chat.completions.create(model="mockrouter/rate-limited", messages=user("hi"))
        assert raised.value.status_code == 429
        assert raised.value.response.headers["retry-after"] == "1"

    def test_readme_recipes(self, make_server: Callable[..., BackgroundServer]) -> None:
        server = make_server()  # fresh: the recipes' fixed key must not have been used yet
        printed = run_recipes(["python-openai", "python-openai-retry"], server)
        assert printed == {"python-openai": "Hello from openai!\n", "python-openai-retry": "Survived a 429\n"}
        assert statuses(journal_of(server)) == [200, 429, 200]


# --------------------------------------------------------------------------------------------
# openrouter, the official OpenRouter SDK (openrouter dialect)


@pytest.fixture(scope="module")
def openrouter_sdk() -> ModuleType:
    return require("openrouter")


# GET /key's required `rate_limit` parses into the SDK's class marked @deprecated, which warns
# (an error under this suite's filterwarnings) whenever it is built.
SDK_DEPRECATIONS = pytest.mark.filterwarnings("ignore:.*DEPRECATED:DeprecationWarning")


class TestOpenRouterSDK:
    @pytest.fixture
    def dialect(self) -> str:
        return "openrouter"

    @pytest.fixture
    def sdk(self, openrouter_sdk: ModuleType, server: BackgroundServer, api_key: str) -> Iterator[Any]:
        with openrouter_sdk.OpenRouter(api_key=api_key, server_url=server.base_url, timeout_ms=10_000) as c:
            yield c

    def test_plain_chat(self, sdk: Any) -> None:
        reply = sdk.chat.send(model=MODEL, messages=user("Hello, OpenRouter SDK!"))
        assert reply.choices[0].message.content == "Hello, OpenRouter SDK!"
        assert reply.choices[0].finish_reason == "stop"
        assert reply.id.startswith("gen-")
        assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens

    def test_streamed_chat(self, sdk: Any, journal: Callable[[], list[dict[str, Any]]]) -> None:
        with sdk.chat.send(model=MODEL, messages=user("Streaming through the SDK"), stream=True) as events:
            chunks = list(events)
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == "Streaming through the SDK"
        assert "stop" in {c.choices[0].finish_reason for c in chunks if c.choices}
        assert chunks[-1].usage is not None  # openrouter always ends with the usage chunk
        (entry,) = journal()
        assert entry["stream"] and not entry["client_disconnected"]

    def test_tool_call_round_trip(self, sdk: Any, journal: Callable[[], list[dict[str, Any]]]) -> None:
        messages: list[Any] = user("What is the weather in Paris?")
        first = sdk.chat.send(model="mockrouter/tool-call", messages=messages, tools=[WEATHER_TOOL])
        assert first.choices[0].finish_reason == "tool_calls"
        (call,) = first.choices[0].message.tool_calls
        assert (call.function.name, json.loads(call.function.arguments)) == expected_call(journal()[0])
        messages += [
            first.choices[0].message,  # the SDK's own assistant message goes back as is
            {"role": "tool", "tool_call_id": call.id, "content": TOOL_RESULT},
        ]
        second = sdk.chat.send(model="mockrouter/tool-call", messages=messages, tools=[WEATHER_TOOL])
        assert second.choices[0].message.content == f"The tool says: {TOOL_RESULT}"
        assert second.choices[0].finish_reason == "stop"

    def test_insufficient_credits_raises_402(self, sdk: Any, openrouter_sdk: ModuleType) -> None:
        with pytest.raises(openrouter_sdk.errors.PaymentRequiredResponseError) as raised:
            sdk.chat.send(model="mockrouter/insufficient-credits", messages=user("hi"))
        assert raised.value.status_code == 402
        # the SDK parsed OpenRouter's error envelope: {"error": {"code": 402, "message"}, "user_id"}
        assert raised.value.data.error.code == 402
        assert "Insufficient credits" in raised.value.data.error.message

    def test_does_not_retry_429_by_default(
        self, sdk: Any, openrouter_sdk: ModuleType, journal: Callable[[], list[dict[str, Any]]]
    ) -> None:
        # The SDK's default retry policy covers 5XX only.
        with pytest.raises(openrouter_sdk.errors.TooManyRequestsResponseError) as raised:
            sdk.chat.send(model="mockrouter/rate-limited", messages=user("hi"))
        assert raised.value.status_code == 429
        assert statuses(journal()) == [429]

    def test_survives_429_when_told_to_retry_it(
        self,
        openrouter_sdk: ModuleType,
        server: BackgroundServer,
        api_key: str,
        journal: Callable[[], list[dict[str, Any]]],
    ) -> None:
        utils = openrouter_sdk.utils
        retry = utils.RetryConfig("backoff", utils.BackoffStrategy(100, 2000, 1.5, 10_000), False, ["429", "5XX"])
        with openrouter_sdk.OpenRouter(api_key=api_key, server_url=server.base_url, retry_config=retry) as sdk:
            reply = sdk.chat.send(model="mockrouter/rate-limited", messages=user("Survived"))
        assert reply.choices[0].message.content == "Survived"
        assert statuses(journal()) == [429, 200]

    # The non-chat methods that map to routes mockrouter serves: the SDK's strict models must
    # parse every answer (a missing required field raises ResponseValidationError).

    def test_catalog(self, sdk: Any) -> None:
        models = sdk.models.list().result.data
        assert sdk.models.count().data.count == len(models)
        assert {"openai/gpt-4o-mini", "mockrouter/echo"} <= {m.id for m in models}
        assert "OpenAI" in {p.name for p in sdk.providers.list().data}

    def test_model_endpoints(self, sdk: Any) -> None:
        listed = sdk.endpoints.list(author="openai", slug="gpt-4o-mini").data
        assert listed.id == MODEL
        (endpoint,) = listed.endpoints
        assert endpoint.provider_name == "OpenAI"
        choice = endpoint.supports_tool_choice  # a model with tool use: every tool_choice value
        assert (choice.auto, choice.none, choice.required, choice.function) == (True, True, True, True)
        assert endpoint.native_tools == {}
        assert endpoint.service_tier is None
        assert endpoint.supports_diarization is False
        (no_tools,) = sdk.endpoints.list(author="deepseek", slug="deepseek-r1").data.endpoints
        choice = no_tools.supports_tool_choice
        assert (choice.auto, choice.none, choice.required, choice.function) == (False, False, False, False)

    def test_credits_and_generation(self, sdk: Any, server: BackgroundServer, api_key: str) -> None:
        reply = sdk.chat.send(model=MODEL, messages=user("Count me"))
        wait_journaled(server, api_key, 1)
        generation = sdk.generations.get_generation(id=reply.id).data
        assert (generation.id, generation.model, generation.streamed) == (reply.id, MODEL, False)
        assert generation.data_region == "global"
        assert generation.tokens_completion == reply.usage.completion_tokens
        credits = sdk.credits.get_credits().data
        assert credits.total_credits == 1_000_000
        assert credits.total_usage == pytest.approx(generation.total_cost)

    @SDK_DEPRECATIONS
    def test_key_metadata_without_limit(self, sdk: Any, api_key: str) -> None:
        data = sdk.api_keys.get_current_key_metadata().data
        assert data.label == api_key[:12] + "..." + api_key[-3:]
        assert (data.limit, data.limit_remaining) == (None, None)
        assert data.budgets == [] and data.effective_budget is None

    @SDK_DEPRECATIONS
    def test_key_metadata_with_limit(
        self, sdk: Any, openrouter_sdk: ModuleType, server: BackgroundServer, api_key: str
    ) -> None:
        created = sdk.api_keys.create(name="budgeted", limit=2.0, limit_reset="weekly", include_byok_in_limit=True)
        with openrouter_sdk.OpenRouter(api_key=created.key, server_url=server.base_url, timeout_ms=10_000) as own:
            own.chat.send(model=MODEL, messages=user("Spend a little"))
            data = own.api_keys.get_current_key_metadata().data
        (budget,) = data.budgets
        assert (budget.scope, budget.budget_id, budget.guardrail_id) == ("key_limit", None, None)
        assert (budget.limit_usd, budget.include_byok, budget.reset_interval) == (2.0, True, "weekly")
        assert budget.spend_usd == data.usage > 0
        assert budget.remaining_usd == pytest.approx(data.limit_remaining) == pytest.approx(2.0 - data.usage)
        now = datetime.now(UTC)
        assert budget.resets_at.weekday() == 0 and budget.resets_at.time() == time(0)  # next Monday, 00:00 UTC
        assert now < budget.resets_at <= now + timedelta(days=7)
        assert data.effective_budget == budget

    def test_keys_api(self, sdk: Any, openrouter_sdk: ModuleType, server: BackgroundServer) -> None:
        created = sdk.api_keys.create(name="ci", limit=0.5)
        assert created.key.startswith("sk-or-v1-")
        digest = created.data.hash
        assert (created.data.name, created.data.limit, created.data.last_used_at) == ("ci", 0.5, None)
        assert sdk.api_keys.get(hash=digest).data.last_used_at is None
        before = datetime.now(UTC)
        with openrouter_sdk.OpenRouter(api_key=created.key, server_url=server.base_url, timeout_ms=10_000) as own:
            own.chat.send(model=MODEL, messages=user("First use"))
        wait_journaled(server, created.key, 1)
        used = sdk.api_keys.get(hash=digest).data.last_used_at
        assert before - timedelta(seconds=1) <= used <= datetime.now(UTC)
        (listed,) = [k for k in sdk.api_keys.list().data if k.hash == digest]
        assert (listed.name, listed.last_used_at) == ("ci", used)
        updated = sdk.api_keys.update(hash=digest, name="ci-off", disabled=True).data
        assert (updated.name, updated.disabled, updated.last_used_at) == ("ci-off", True, used)
        assert updated.updated_at is not None
        assert digest not in {k.hash for k in sdk.api_keys.list().data}  # disabled keys are left out by default
        assert digest in {k.hash for k in sdk.api_keys.list(include_disabled=True).data}
        sdk.api_keys.delete(hash=digest)
        with pytest.raises(openrouter_sdk.errors.NotFoundResponseError):
            sdk.api_keys.get(hash=digest)

    def test_readme_recipes(self, openrouter_sdk: ModuleType, make_server: Callable[..., BackgroundServer]) -> None:
        server = make_server(dialect="openrouter")
        printed = run_recipes(["python-openrouter", "python-openrouter-retry"], server)
        assert printed == {
            "python-openrouter": "Hello from the OpenRouter SDK!\n",
            "python-openrouter-retry": "Survived a 429\n",
        }
        assert statuses(journal_of(server)) == [200, 429, 200]


# --------------------------------------------------------------------------------------------
# litellm, provider openrouter/ (openrouter dialect)


@pytest.fixture(scope="module")
def litellm() -> Iterator[ModuleType]:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in LITELLM_ENV.items():
            patch.setenv(name, value)
        module = require("litellm")
    module.suppress_debug_info = True  # no "Give Feedback / Get Help" banner on every error
    yield module


# litellm builds pydantic schemas from TypedDicts with ReadOnly items on first use; pydantic warns.
@pytest.mark.filterwarnings("ignore:Item.* using the `ReadOnly` qualifier:UserWarning")
class TestLiteLLM:
    @pytest.fixture
    def dialect(self) -> str:
        return "openrouter"

    @pytest.fixture
    def complete(self, litellm: ModuleType, server: BackgroundServer, api_key: str) -> Callable[..., Any]:
        """``litellm.completion`` against the mock: model ids get litellm's ``openrouter/`` prefix."""

        def call(model: str, messages: list[Any], **kwargs: Any) -> Any:
            return litellm.completion(
                model=f"openrouter/{model}",
                messages=messages,
                api_base=server.base_url,
                api_key=api_key,
                timeout=10,
                **kwargs,
            )

        return call

    def test_plain_chat(self, complete: Callable[..., Any]) -> None:
        reply = complete(MODEL, user("Hello, litellm!"))
        assert reply.choices[0].message.content == "Hello, litellm!"
        assert reply.choices[0].finish_reason == "stop"

    def test_streamed_chat(
        self, complete: Callable[..., Any], litellm: ModuleType, journal: Callable[[], list[dict[str, Any]]]
    ) -> None:
        chunks = list(complete(MODEL, user("Streaming through litellm"), stream=True))
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == "Streaming through litellm"
        assert "stop" in {c.choices[0].finish_reason for c in chunks if c.choices}
        rebuilt = litellm.stream_chunk_builder(chunks)
        assert rebuilt.choices[0].message.content == text
        (entry,) = journal()
        assert entry["stream"] and not entry["client_disconnected"]

    def test_tool_call_round_trip(
        self, complete: Callable[..., Any], journal: Callable[[], list[dict[str, Any]]]
    ) -> None:
        messages: list[Any] = user("What is the weather in Paris?")
        first = complete("mockrouter/tool-call", messages, tools=[WEATHER_TOOL])
        assert first.choices[0].finish_reason == "tool_calls"
        (call,) = first.choices[0].message.tool_calls
        assert (call.function.name, json.loads(call.function.arguments)) == expected_call(journal()[0])
        messages += [
            first.choices[0].message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": TOOL_RESULT},
        ]
        second = complete("mockrouter/tool-call", messages, tools=[WEATHER_TOOL])
        assert second.choices[0].message.content == f"The tool says: {TOOL_RESULT}"
        assert second.choices[0].finish_reason == "stop"

    def test_insufficient_credits_raises_402(self, complete: Callable[..., Any], litellm: ModuleType) -> None:
        # litellm maps 402 to no class of its own: the generic APIError, with the status.
        with pytest.raises(litellm.exceptions.APIError) as raised:
            complete("mockrouter/insufficient-credits", user("hi"))
        assert raised.value.status_code == 402
        assert "Insufficient credits" in str(raised.value)

    def test_does_not_retry_429_by_default(
        self, complete: Callable[..., Any], litellm: ModuleType, journal: Callable[[], list[dict[str, Any]]]
    ) -> None:
        with pytest.raises(litellm.exceptions.RateLimitError) as raised:
            complete("mockrouter/rate-limited", user("hi"))
        assert raised.value.status_code == 429
        assert statuses(journal()) == [429]

    def test_survives_429_with_num_retries(
        self, complete: Callable[..., Any], journal: Callable[[], list[dict[str, Any]]]
    ) -> None:
        reply = complete("mockrouter/rate-limited", user("Survived"), num_retries=1)
        assert reply.choices[0].message.content == "Survived"
        assert statuses(journal()) == [429, 200]

    def test_readme_recipes(self, litellm: ModuleType, make_server: Callable[..., BackgroundServer]) -> None:
        server = make_server(dialect="openrouter")
        printed = run_recipes(["python-litellm", "python-litellm-retry"], server, LITELLM_ENV)
        assert printed["python-litellm"] == "Hello from litellm!\n"
        # litellm prints its "Give Feedback / Get Help" banner for the 429 before it retries
        assert printed["python-litellm-retry"].splitlines()[-1] == "Survived a 429"
        assert statuses(journal_of(server)) == [200, 429, 200]


# --------------------------------------------------------------------------------------------
# langchain-openai (anyrouter)


@pytest.fixture(scope="module")
def langchain_openai() -> ModuleType:
    return require("langchain_openai")


class TestLangChain:
    @pytest.fixture
    def dialect(self) -> str:
        return "anyrouter"

    @pytest.fixture
    def chat_model(self, langchain_openai: ModuleType, server: BackgroundServer, api_key: str) -> Callable[..., Any]:
        def make(model: str = MODEL, **kwargs: Any) -> Any:
            return langchain_openai.ChatOpenAI(
                base_url=server.base_url, api_key=api_key, model=model, timeout=10, **kwargs
            )

        return make

    def test_plain_chat(self, chat_model: Callable[..., Any]) -> None:
        answer = chat_model().invoke("Hello, LangChain!")
        assert answer.content == "Hello, LangChain!"
        assert answer.response_metadata["finish_reason"] == "stop"
        assert answer.usage_metadata["output_tokens"] > 0

    def test_streamed_chat(self, chat_model: Callable[..., Any], journal: Callable[[], list[dict[str, Any]]]) -> None:
        chunks = list(chat_model().stream("Streaming through LangChain"))
        whole = chunks[0]
        for chunk in chunks[1:]:
            whole += chunk
        assert whole.content == "Streaming through LangChain"
        assert whole.response_metadata["finish_reason"] == "stop"
        assert chunks[-1].chunk_position == "last"
        (entry,) = journal()
        assert entry["stream"] and not entry["client_disconnected"]

    def test_tool_call_round_trip(
        self, chat_model: Callable[..., Any], journal: Callable[[], list[dict[str, Any]]]
    ) -> None:
        from langchain_core.messages import HumanMessage, ToolMessage

        model = chat_model("mockrouter/tool-call").bind_tools([WEATHER_TOOL])
        messages: list[Any] = [HumanMessage("What is the weather in Paris?")]
        first = model.invoke(messages)
        assert first.response_metadata["finish_reason"] == "tool_calls"
        (call,) = first.tool_calls
        assert (call["name"], call["args"]) == expected_call(journal()[0])
        messages += [first, ToolMessage(TOOL_RESULT, tool_call_id=call["id"])]
        second = model.invoke(messages)
        assert second.content == f"The tool says: {TOOL_RESULT}"
        assert second.tool_calls == []

    def test_insufficient_credits_raises_402(self, chat_model: Callable[..., Any]) -> None:
        # LangChain lets the openai SDK's exceptions through.
        with pytest.raises(openai.APIStatusError) as raised:
            chat_model("mockrouter/insufficient-credits").invoke("hi")
        assert raised.value.status_code == 402

    def test_survives_429_by_default(
        self, chat_model: Callable[..., Any], journal: Callable[[], list[dict[str, Any]]]
    ) -> None:
        assert chat_model("mockrouter/rate-limited").invoke("Survived").content == "Survived"
        assert statuses(journal()) == [429, 200]

    def test_without_retries_raises_rate_limit_error(self, chat_model: Callable[..., Any]) -> None:
        with pytest.raises(openai.RateLimitError) as raised:
            chat_model("mockrouter/rate-limited", max_retries=0).invoke("hi")
        assert raised.value.status_code == 429

    def test_readme_recipe(self, langchain_openai: ModuleType, anyrouter_server: BackgroundServer) -> None:
        assert run_recipes(["python-langchain"], anyrouter_server) == {"python-langchain": "Hello from LangChain!\n"}
