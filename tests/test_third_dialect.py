"""Adding a dialect touches one module, its schemas and one registration line.

This test does it: ``Acme`` below is a whole dialect (a router that speaks AnyRouter's wire
with its own ids, its own request-id header and its own provider-pinning header). It needed:

- its module (here, this file: the class);
- its schemas: none of its own, because its bodies keep AnyRouter's shapes (its ids too:
  ``chatcmpl-`` + anything alphanumeric), so it inherits ``schema_family = "anyrouter"``. A dialect
  whose shapes or id format differ adds ``schemas/chat-response.<name>.schema.json`` and the
  rest, and sets ``schema_family = "<name>"`` (the schemas check ``chatcmpl-`` ids: an ``acme-`` id
  was caught by this test);
- one registration line: the entry in ``DIALECTS`` (``wire/dialects/__init__.py``), made here
  with ``monkeypatch.setitem``.

No file of the engine, the HTTP app, the writer, the state or the tools changed: the server,
``check``, the schemas and the journal all pick it up by name.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import httpx
import openai
import orjson
import pytest
from faker import Faker

from mockrouter.core.catalog import Catalog
from mockrouter.core.config import Config
from mockrouter.core.ids import random_id
from mockrouter.core.schemas import SchemaRegistry
from mockrouter.http.server import BackgroundServer
from mockrouter.scenario.loader import load_builtin
from mockrouter.tools.check import step_outputs
from mockrouter.wire.dialects import DIALECTS
from mockrouter.wire.dialects.anyrouter import AnyRouter
from mockrouter.wire.dialects.base import Identity, RateInfo


class Acme(AnyRouter):
    """AnyRouter's wire, with Acme's ids and headers."""

    name = "acme"
    provider_header = "x-acme-provider"

    def identity(self, rng: random.Random, created: int) -> Identity:
        return Identity("chatcmpl-acme" + random_id(rng, 16), created)

    def headers(
        self, identity: Identity | None, rate: RateInfo | None, *, error: bool = False
    ) -> list[tuple[bytes, bytes]]:
        out = super().headers(None, rate, error=error)
        if identity is not None:
            out.append((b"x-acme-request", identity.id.encode()))
        return out


@pytest.fixture(scope="module")
def acme_server() -> Iterator[BackgroundServer]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(DIALECTS, "acme", Acme)  # the registration line
        server = BackgroundServer(Config(port=0, speed=0.0, dialect="acme")).start()
        try:
            yield server
        finally:
            server.stop()


def test_the_server_speaks_the_new_dialect(acme_server: BackgroundServer) -> None:
    schemas = SchemaRegistry()
    client = openai.OpenAI(base_url=acme_server.base_url, api_key="sk-acme", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="mockrouter/echo", messages=[{"role": "user", "content": "hello acme"}]
    )
    completion = raw.parse()
    assert completion.id.startswith("chatcmpl-acme")
    assert raw.headers["x-acme-request"] == completion.id
    assert completion.choices[0].message.content == "hello acme"
    assert schemas.for_dialect("chat-response", Acme.schema_family).violation(orjson.loads(raw.content)) is None

    chunks = list(
        client.chat.completions.create(
            model="mockrouter/echo", messages=[{"role": "user", "content": "streamed"}], stream=True
        )
    )
    assert {c.id for c in chunks} == {chunks[0].id} and chunks[0].id.startswith("chatcmpl-acme")
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "streamed"

    with httpx.Client(base_url=acme_server.base_url, headers={"Authorization": "Bearer sk-acme"}) as http:
        pinned = http.post(
            "/chat/completions",
            json={"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]},
            headers={"x-acme-provider": "google-ai-studio"},
        )
        assert pinned.json()["provider"] == "Google AI Studio"
        refused = http.post("/chat/completions", json={"messages": []})
        assert refused.status_code == 400
        assert schemas.for_dialect("error", Acme.schema_family).violation(refused.json()) is None
        journal = httpx.get(f"{acme_server.url}/__mockrouter/requests", params={"key": "sk-acme"}).json()["data"]
        assert {e["dialect"] for e in journal} == {"acme"}


def test_check_renders_every_builtin_in_the_new_dialect(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(DIALECTS, "acme", Acme)
    schemas = SchemaRegistry()
    catalog, faker = Catalog.load(), Faker()
    seen = 0
    for scenario in load_builtin():
        for step in scenario.steps:
            for out in step_outputs(step, catalog, faker):
                if out.dialect != "acme" or step.deliberate_break:
                    continue
                seen += 1
                violation = schemas.for_dialect(out.kind, Acme.schema_family).violation(out.data)
                assert violation is None, (scenario.name, out)
    assert seen > 50
