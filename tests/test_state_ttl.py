"""``--state-ttl``: the counters, cursors and record mode of a key idle past the TTL expire
(``State.sweep``); active keys, keyring keys and a TTL of 0 keep theirs."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest

from mockrouter.core.config import Config
from mockrouter.errors import ConfigError
from mockrouter.http.server import BackgroundServer

TTL = 0.2
STEPS = "name: ttl-steps\nmatch: {last_user: count}\nsteps:\n  - content: one\n  - content: two\n  - content: three\n"
ASK = {"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "count"}]}


def ask(server: BackgroundServer, key: str, **headers: str) -> str:
    response = httpx.post(
        server.base_url + "/chat/completions", json=ASK, headers={"Authorization": f"Bearer {key}", **headers}
    )
    assert response.status_code == 200, response.text
    return response.json()["choices"][0]["message"]["content"]


def idle_past(ttl: float) -> None:
    """Wait out the TTL and the sweep's period (TTL/4): the TTL is the thing under test."""
    time.sleep(ttl * 1.5)


@pytest.fixture
def steps_server(make_server: Callable[..., BackgroundServer], tmp_path) -> Callable[..., BackgroundServer]:
    def make(**fields: object) -> BackgroundServer:
        path = tmp_path / "steps.yaml"
        path.write_text(STEPS)
        return make_server(scenarios=[path], **fields)

    return make


def test_an_idle_key_starts_its_steps_over_an_active_one_does_not(steps_server) -> None:
    server = steps_server(state_ttl=TTL)
    assert [ask(server, "sk-idle"), ask(server, "sk-idle")] == ["one", "two"]
    deadline = time.monotonic() + TTL * 1.5
    active = [ask(server, "sk-active")]
    while time.monotonic() < deadline:  # a request every TTL/10 keeps sk-active's state
        time.sleep(TTL / 10)
        active.append(ask(server, "sk-active"))
    assert active[:3] == ["one", "two", "three"]
    assert "one" not in active[1:]  # the last step repeats; the cursor never started over
    state = server.app.state
    assert "sk-idle" not in state.keys
    assert not [k for k in state.cursors if k[1] == "sk-idle"]
    assert state.keys["sk-active"].requests == len(active)
    assert ask(server, "sk-idle") == "one"
    assert state.keys["sk-idle"].requests == 1  # its request counter went too


def test_sessions_and_tests_expire_like_keys(steps_server) -> None:
    server = steps_server(state_ttl=TTL)
    assert ask(server, "sk-s", **{"X-Mockrouter-Session": "s1"}) == "one"
    assert ask(server, "sk-s", **{"X-Mockrouter-Test": "t1"}) == "one"
    idle_past(TTL)
    ask(server, "sk-other")  # a request sweeps
    assert set(server.app.state.keys) == {"sk-other"}
    assert ask(server, "sk-s", **{"X-Mockrouter-Session": "s1"}) == "one"
    assert ask(server, "sk-s", **{"X-Mockrouter-Test": "t1"}) == "one"


def test_ttl_0_keeps_everything(steps_server) -> None:
    server = steps_server(state_ttl=0)
    assert [ask(server, "sk-kept"), ask(server, "sk-kept")] == ["one", "two"]
    idle_past(TTL)
    ask(server, "sk-other")
    assert ask(server, "sk-kept") == "three"
    assert server.app.state.keys["sk-kept"].requests == 3


def test_keyring_keys_keep_what_they_spent(make_server, tmp_path) -> None:
    keys = tmp_path / "keys.yaml"
    keys.write_text("keys:\n  - key: sk-billed\n    credits: 10\n  - key: sk-other\n")
    server = make_server(state_ttl=TTL, keys=keys)
    response = httpx.post(
        server.base_url + "/chat/completions", json=ASK, headers={"Authorization": "Bearer sk-billed"}
    )
    assert response.status_code == 200, response.text
    spent = server.app.state.spent("sk-billed")
    assert spent > 0
    idle_past(TTL)
    ask(server, "sk-other")
    assert server.app.state.spent("sk-billed") == spent
    assert "sk-billed" in server.app.state.keys


def test_fresh_keys_stay_bounded_once_the_ttl_passes(steps_server) -> None:
    server = steps_server(state_ttl=TTL)
    state = server.app.state
    most = 0
    with httpx.Client(base_url=server.base_url) as client:
        for i in range(2000):
            response = client.post("/chat/completions", json=ASK, headers={"Authorization": f"Bearer sk-fresh-{i}"})
            assert response.status_code == 200
            most = max(most, len(state.keys))
        assert most < 2000  # swept while the requests went on
        assert len(state.cursors) <= len(state.keys) + 1
        idle_past(TTL)
        client.post("/chat/completions", json=ASK, headers={"Authorization": "Bearer sk-last"})
    assert set(state.keys) == {"sk-last"}
    assert {k[1] for k in state.cursors} == {"sk-last"}


def test_the_ttl_is_checked() -> None:
    with pytest.raises(ConfigError, match="--state-ttl"):
        Config(state_ttl=-1)
    with pytest.raises(ConfigError, match="--state-ttl"):
        Config(state_ttl=float("nan"))


# -- the Redis store: Redis' own expiry -------------------------------------------------------


def test_in_redis_an_idle_key_expires_and_an_active_one_does_not(steps_server, redis_server) -> None:
    """With ``--store redis://`` the TTL is Redis' expiry on the key's hashes: an idle key's
    count and cursors are gone from Redis (not only forgotten by the server), an active key's stay."""
    from mockrouter.state.redis import key_hash, state_hash

    server = steps_server(state_ttl=TTL, store=redis_server.url)
    idle, active = f"sk-idle-{time.time_ns()}", f"sk-active-{time.time_ns()}"
    assert [ask(server, idle), ask(server, idle)] == ["one", "two"]
    assert redis_server.command("EXISTS", state_hash(idle, idle)) == b":1\r\n"
    deadline = time.monotonic() + TTL * 1.5
    answers = [ask(server, active)]
    while time.monotonic() < deadline:
        time.sleep(TTL / 10)
        answers.append(ask(server, active))
    assert answers[:3] == ["one", "two", "three"] and "one" not in answers[1:]
    for name in (state_hash(idle, idle), key_hash(idle)):
        assert redis_server.command("EXISTS", name) == b":0\r\n", name
    assert redis_server.command("EXISTS", state_hash(active, active)) == b":1\r\n"
    assert ask(server, idle) == "one"  # it starts over


def test_in_redis_a_test_id_expires_and_ttl_0_keeps_everything(steps_server, redis_server) -> None:
    from mockrouter.state.redis import state_hash
    from mockrouter.state.store import TEST_PREFIX

    key, test = f"sk-shared-{time.time_ns()}", f"t-{time.time_ns()}"
    short = steps_server(state_ttl=TTL, store=redis_server.url)
    assert [ask(short, key, **{"X-Mockrouter-Test": test}) for _ in range(2)] == ["one", "two"]
    idle_past(TTL)
    assert redis_server.command("EXISTS", state_hash(key, TEST_PREFIX + test)) == b":0\r\n"
    assert ask(short, key, **{"X-Mockrouter-Test": test}) == "one"
    forever = steps_server(state_ttl=0, store=redis_server.url)
    other = f"sk-forever-{time.time_ns()}"
    assert [ask(forever, other), ask(forever, other)] == ["one", "two"]
    assert redis_server.command("TTL", state_hash(other, other)) == b":-1\r\n"  # no expiry set
