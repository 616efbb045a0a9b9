"""``X-Mockrouter-Test``: tests that share one key and one server keep their own cursors,
journal view and scoped scenarios (SPEC, "Agent loops without counters")."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

from mockrouter.http.server import BackgroundServer

STEPS = """
name: three-steps
match: {last_user: "^isolation$"}
steps: [{content: one}, {content: two}, {content: three}]
"""


def _ask(http: httpx.Client, test: str, text: str = "isolation") -> str:
    response = http.post(
        "/chat/completions",
        json={"model": "m", "messages": [{"role": "user", "content": text}]},
        headers={"X-Mockrouter-Test": test},
    )
    assert response.status_code == 200, response.text
    return str(response.json()["choices"][0]["message"]["content"])


def test_scenarios_scoped_to_a_test_are_seen_only_by_its_requests(
    http: httpx.Client, admin: httpx.Client, api_key: str
) -> None:
    mine, other = f"t-{uuid.uuid4().hex}", f"t-{uuid.uuid4().hex}"
    added = admin.post("/scenarios", params={"test": mine}, content=STEPS)
    assert added.status_code == 201 and added.json() == {"added": ["three-steps"], "key": False, "test": True}
    assert _ask(http, mine) == "one"
    assert _ask(http, other) == "isolation"  # echo: the other test does not see it
    listed = admin.get("/scenarios", params={"test": mine}).json()["data"]
    assert listed[0]["name"] == "three-steps"
    assert "three-steps" not in [s["name"] for s in admin.get("/scenarios").json()["data"]]


def test_one_key_many_tests_each_walks_the_steps_in_order(
    http: httpx.Client, add_scenarios: Any, admin: httpx.Client, api_key: str
) -> None:
    add_scenarios(STEPS)
    tests = [f"t-{uuid.uuid4().hex}" for _ in range(3)]
    seen: dict[str, list[str]] = {t: [] for t in tests}
    for round_ in range(3):
        for test in tests if round_ % 2 == 0 else reversed(tests):
            seen[test].append(_ask(http, test))
    assert all(answers == ["one", "two", "three"] for answers in seen.values()), seen
    # the journal filters by test; reset of one test leaves the others alone
    page = admin.get("/requests", params={"test": tests[0]}).json()["data"]
    assert len(page) == 3 and {e["test"] for e in page} == {tests[0]}
    assert admin.post("/reset", params={"test": tests[0]}).json() == {"reset": "test"}
    assert admin.get("/requests", params={"test": tests[0]}).json()["data"] == []
    assert len(admin.get("/requests", params={"test": tests[1]}).json()["data"]) == 3
    assert _ask(http, tests[0]) == "one"  # its cursor started over
    assert _ask(http, tests[1]) == "three"  # repeat-last: untouched


def test_wait_counts_one_tests_requests(http: httpx.Client, admin: httpx.Client) -> None:
    test = f"t-{uuid.uuid4().hex}"
    _ask(http, test, "hello")
    waited = admin.post("/wait", json={"test": test, "count": 1, "timeout_ms": 2000}).json()
    assert waited["ok"] and waited["count"] == 1
    none = admin.post("/wait", json={"test": f"t-{uuid.uuid4().hex}", "count": 1, "timeout_ms": 50}).json()
    assert not none["ok"] and none["count"] == 0


@settings(max_examples=15, deadline=None)
@given(order=st.lists(st.integers(0, 3), min_size=4, max_size=16))
def test_concurrent_tests_on_one_key_never_share_cursors(anyrouter_server: BackgroundServer, order: list[int]) -> None:
    """Any interleaving, sent concurrently: each test still gets one, two, three, three..."""
    key = f"sk-{uuid.uuid4().hex}"
    tests = [f"t-{uuid.uuid4().hex}" for _ in range(4)]
    for test in tests:
        response = httpx.post(f"{anyrouter_server.url}/__mockrouter/scenarios", params={"test": test}, content=STEPS)
        assert response.status_code == 201

    async def run() -> dict[str, list[str]]:
        async with httpx.AsyncClient(
            base_url=anyrouter_server.base_url, headers={"authorization": f"Bearer {key}"}
        ) as http:

            async def ask(test: str) -> str:
                response = await http.post(
                    "/chat/completions",
                    json={"model": "m", "messages": [{"role": "user", "content": "isolation"}]},
                    headers={"X-Mockrouter-Test": test},
                )
                return str(response.json()["choices"][0]["message"]["content"])

            per_test: dict[str, list[str]] = {}
            for test_index in order:  # the order per test is sequential; tests run side by side
                per_test.setdefault(tests[test_index], [])
            lanes = {t: [i for i in order if tests[i] == t] for t in per_test}

            async def lane(test: str) -> None:
                for _ in lanes[test]:
                    per_test[test].append(await ask(test))

            await asyncio.gather(*(lane(t) for t in lanes))
            return per_test

    try:
        for test, answers in asyncio.run(run()).items():
            expected = ["one", "two", "three"] + ["three"] * max(len(answers) - 3, 0)
            assert answers == expected[: len(answers)], (test, answers)
    finally:
        for test in tests:
            httpx.post(f"{anyrouter_server.url}/__mockrouter/reset", params={"test": test})
