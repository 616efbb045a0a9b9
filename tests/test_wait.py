"""``POST /__mockrouter/wait``: block until requests have arrived, or the server is idle, or time is up.

Body ``{key?, count?, idle_ms?, timeout_ms?}``; answer ``{"ok", "count", "waited_ms"}``, ``ok``
false on timeout. A request counts once it is journaled, that is when its response ends.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import httpx
import pytest

GOOD = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "wait for me"}]}


def send_later(base_url: str, key: str, delays: list[float]) -> threading.Thread:
    """A background thread that sends one request after each delay."""

    def run() -> None:
        with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=10) as c:
            for delay in delays:
                time.sleep(delay)
                assert c.post("/chat/completions", json=GOOD).status_code == 200

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def wait(admin: httpx.Client, **spec: Any) -> tuple[dict[str, Any], float]:
    """The answer of one wait call and how long it took, seen by the client (seconds)."""
    started = time.monotonic()
    response = admin.post("/wait", json=spec, timeout=30)
    elapsed = time.monotonic() - started
    assert response.status_code == 200, response.text
    return response.json(), elapsed


@pytest.fixture(scope="module")
def timed_server(make_server):
    """A server at real speed: scripted stream intervals are really waited."""
    return make_server(speed=1.0)


# -- count ----------------------------------------------------------------------------------


def test_count_returns_once_enough_requests_arrived(server, api_key, admin, journal):
    sender = send_later(server.base_url, api_key, [0.05, 0.05, 0.05])
    answer, elapsed = wait(admin, key=api_key, count=3, timeout_ms=5000)
    sender.join(10)
    assert answer["ok"] is True
    assert answer["count"] == 3
    assert answer["waited_ms"] < 5000 and elapsed < 4
    assert len(journal()) == 3


def test_count_times_out(server, api_key, admin):
    sender = send_later(server.base_url, api_key, [0.0])
    answer, elapsed = wait(admin, key=api_key, count=5, timeout_ms=500)
    sender.join(10)
    assert answer["ok"] is False
    assert answer["count"] == 1
    assert 450 <= answer["waited_ms"] < 3000
    assert 0.45 <= elapsed < 3


def test_key_filters_the_count(server, api_key, admin, http):
    other_key = f"sk-test-{uuid.uuid4().hex}"
    with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {other_key}"}) as other:
        for _ in range(2):
            assert other.post("/chat/completions", json=GOOD).status_code == 200
    answer, _ = wait(admin, key=api_key, count=1, timeout_ms=300)
    assert answer == {"ok": False, "count": 0, "waited_ms": answer["waited_ms"]}
    assert http.post("/chat/completions", json=GOOD).status_code == 200
    answer, _ = wait(admin, key=api_key, count=1, timeout_ms=300)
    assert answer["ok"] is True and answer["count"] == 1
    theirs, _ = wait(admin, key=other_key, count=2, timeout_ms=300)
    assert theirs["ok"] is True and theirs["count"] == 2


# -- idle_ms --------------------------------------------------------------------------------


def test_idle_after_requests_stop(server, api_key, admin, http):
    for _ in range(2):
        assert http.post("/chat/completions", json=GOOD).status_code == 200
    answer, elapsed = wait(admin, idle_ms=200, timeout_ms=5000)
    assert answer["ok"] is True
    assert elapsed < 1
    assert answer["waited_ms"] >= 100  # the last request ended a moment ago: most of the 200 ms is left


def test_idle_waits_for_a_stream_in_flight(timed_server, api_key):
    with httpx.Client(base_url=timed_server.url + "/__mockrouter") as admin:
        response = admin.post(
            "/scenarios",
            params={"key": api_key},
            content="name: ten\nsteps:\n  - content: a b c d e f g h i j\n    timing: {interval_ms: 100}\n",
        )
        assert response.status_code == 201, response.text
        first_chunk = threading.Event()
        ended: list[float] = []

        def stream() -> None:
            request = {"model": "mockrouter/ten", "messages": GOOD["messages"], "stream": True}
            headers = {"Authorization": f"Bearer {api_key}"}
            with (
                httpx.Client(base_url=timed_server.base_url, headers=headers, timeout=10) as c,
                c.stream("POST", "/chat/completions", json=request) as r,
            ):
                for line in r.iter_lines():
                    if line.startswith("data: {"):
                        first_chunk.set()
            ended.append(time.monotonic())

        streamer = threading.Thread(target=stream, daemon=True)
        streamer.start()
        assert first_chunk.wait(5)
        started = time.monotonic()
        answer, _ = wait(admin, idle_ms=150, timeout_ms=5000)
        returned = time.monotonic()
        streamer.join(10)
    assert ended, "the stream did not end"
    remaining = ended[0] - started
    assert remaining > 0.5  # ~10 more chunks 100 ms apart were still to come
    assert answer["ok"] is True
    assert answer["waited_ms"] >= remaining * 1000  # the stream's rest, plus (most of) the 150 ms idle
    assert returned - ended[0] >= 0.05


# -- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        b"not json",
        b'{"count": 1, "colour": "blue"}',
        b'{"count": -1}',
        b'{"idle_ms": -5}',
        b'{"key": "sk-x", "timeout_ms": 100}',
        b"{}",
        b"[1]",
    ],
    ids=["non-json", "unknown-field", "negative-count", "negative-idle", "neither", "empty-object", "not-an-object"],
)
def test_bad_input_is_400(admin, content):
    started = time.monotonic()
    response = admin.post("/wait", content=content, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    assert time.monotonic() - started < 2
