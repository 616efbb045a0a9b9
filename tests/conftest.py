"""Shared fixtures: real servers on free loopback ports, fresh API keys, real clients.

Two scopes, as pytest-httpserver does: one server per session and dialect (cheap to share),
and per test a fresh API key, which isolates cursors, journal and scoped scenarios.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openai
import pytest
from redis_process import RedisProcess, redis_server_binary

from mockrouter.core.config import Config
from mockrouter.http.server import BackgroundServer


@pytest.fixture(scope="session")
def make_server() -> Iterator[Callable[..., BackgroundServer]]:
    """Start a server with the given Config fields (speed 0 unless asked); stopped at session end."""
    started: list[BackgroundServer] = []

    def make(**fields: Any) -> BackgroundServer:
        fields.setdefault("speed", 0.0)
        server = BackgroundServer(Config(port=0, **fields)).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def anyrouter_server(make_server: Callable[..., BackgroundServer]) -> BackgroundServer:
    return make_server(dialect="anyrouter")


@pytest.fixture(scope="session")
def openrouter_server(make_server: Callable[..., BackgroundServer]) -> BackgroundServer:
    return make_server(dialect="openrouter")


@pytest.fixture(params=["anyrouter", "openrouter"])
def dialect(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def server(dialect: str, request: pytest.FixtureRequest) -> BackgroundServer:
    """The shared server of the current ``dialect`` parameter."""
    return request.getfixturevalue(f"{dialect}_server")


@pytest.fixture
def api_key() -> str:
    """A fresh key per test: its own cursors, journal entries and scoped scenarios."""
    return f"sk-test-{uuid.uuid4().hex}"


@pytest.fixture
def http(server: BackgroundServer, api_key: str) -> Iterator[httpx.Client]:
    """An httpx client for the router API, authenticated with this test's key."""
    with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=10) as c:
        yield c


@pytest.fixture
def admin(server: BackgroundServer) -> Iterator[httpx.Client]:
    """An httpx client for the admin API of the current server."""
    with httpx.Client(base_url=server.url + "/__mockrouter", timeout=10) as c:
        yield c


@pytest.fixture
def client(server: BackgroundServer, api_key: str) -> Iterator[openai.OpenAI]:
    """The unmodified openai SDK pointed at the mock (default retries kept)."""
    with openai.OpenAI(base_url=server.base_url, api_key=api_key, timeout=10) as c:
        yield c


@pytest.fixture
def add_scenarios(admin: httpx.Client, api_key: str) -> Callable[[str], list[str]]:
    """Add YAML scenarios scoped to this test's key; returns the names added."""

    def add(yaml_text: str) -> list[str]:
        response = admin.post(
            "/scenarios", params={"key": api_key}, content=yaml_text, headers={"content-type": "application/yaml"}
        )
        assert response.status_code == 201, response.text
        return response.json()["added"]

    return add


@pytest.fixture
def journal(admin: httpx.Client, api_key: str) -> Callable[[], list[dict[str, Any]]]:
    """This test's journal entries, oldest first."""

    def entries() -> list[dict[str, Any]]:
        response = admin.get("/requests", params={"key": api_key})
        assert response.status_code == 200, response.text
        return response.json()["data"]

    return entries


@pytest.fixture
def served_processes() -> Iterator[list[Any]]:
    """``mockrouter serve`` processes a test started (``test_cli.Served``): whatever the test left
    running is killed afterwards, and only those."""
    started: list[Any] = []
    yield started
    for served in started:
        if served.process.poll() is None:
            served.process.kill()
            served.process.communicate(timeout=5)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisProcess]:
    """A real ``redis-server`` for the whole session, on a free loopback port (stopped by PID).
    Tests that share it use their own API keys and tests ids; one that must flush it starts its own."""
    if redis_server_binary() is None:
        pytest.skip("redis-server is not installed (.ci/run installs it from Debian's packages)")
    with RedisProcess() as redis:
        yield redis
