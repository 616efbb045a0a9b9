"""The journal listing of the admin API: a default limit, cursors to page both ways, and large
request bodies cut in the list but whole in ``GET requests/{id}`` (``mockrouter/admin.py``)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mockrouter.http.admin import DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT
from mockrouter.http.server import BackgroundServer
from mockrouter.state.journal import LIST_BODY_CAP

#: More requests under one key than one default page holds.
MANY = DEFAULT_LIST_LIMIT + 17


def send_many(server: BackgroundServer, key: str, n: int) -> None:
    with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=10) as c:
        for i in range(n):
            body = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": f"number {i}"}]}
            assert c.post("/chat/completions", json=body).status_code == 200


@pytest.fixture(scope="module")
def busy(make_server: Callable[..., BackgroundServer]) -> tuple[BackgroundServer, str, list[str]]:
    """A server with ``MANY`` requests of one key, interleaved with a few of another; the ids of the first key."""
    server = make_server()
    key, other = f"sk-busy-{uuid.uuid4().hex}", f"sk-other-{uuid.uuid4().hex}"
    send_many(server, key, MANY // 2)
    send_many(server, other, 3)
    send_many(server, key, MANY - MANY // 2)
    # The server journals a request just after its last byte is written; its thread may not
    # have got there when this one reads the reply and asks.
    deadline = time.monotonic() + 10
    while len(entries := server.app.state.journal.query(key=key)) < MANY and time.monotonic() < deadline:
        time.sleep(0.01)
    return server, key, [e["id"] for e in entries]


@pytest.fixture
def admin_of(busy: tuple[BackgroundServer, str, list[str]]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=busy[0].url + "/__mockrouter", timeout=10) as c:
        yield c


def listed(admin: httpx.Client, **params: Any) -> dict[str, Any]:
    response = admin.get("/requests", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_the_default_page_is_the_newest_entries_oldest_first(busy, admin_of) -> None:
    _, key, ids = busy
    page = listed(admin_of, key=key)
    assert [e["id"] for e in page["data"]] == ids[-DEFAULT_LIST_LIMIT:]
    assert page["next"] is None  # nothing newer
    assert page["previous"] == ids[-DEFAULT_LIST_LIMIT]  # older entries were left out: before=this


def test_limit_keeps_the_spec_meaning(busy, admin_of) -> None:
    _, key, ids = busy
    page = listed(admin_of, key=key, limit=3)
    assert [e["id"] for e in page["data"]] == ids[-3:]
    assert listed(admin_of, key=key, limit=0)["data"] == []


@settings(max_examples=25, deadline=None)
@given(limit=st.integers(1, MANY + 5), start=st.integers(0, MANY))
def test_following_next_from_any_cursor_gives_every_later_entry_once(busy, limit: int, start: int) -> None:
    server, key, ids = busy
    since = "0" if start == 0 else ids[start - 1]
    seen: list[str] = []
    with httpx.Client(base_url=server.url + "/__mockrouter", timeout=10) as admin:
        while True:
            page = listed(admin, key=key, since=since, limit=limit)
            assert len(page["data"]) <= limit
            seen += [e["id"] for e in page["data"]]
            if page["next"] is None:
                break
            assert page["next"] == page["data"][-1]["id"]
            since = page["next"]
    assert seen == ids[start:]


@settings(max_examples=15, deadline=None)
@given(limit=st.integers(1, MANY + 5))
def test_following_previous_from_the_newest_gives_every_entry_once(busy, limit: int) -> None:
    server, key, ids = busy
    pages: list[list[str]] = []
    params: dict[str, Any] = {"key": key, "limit": limit}
    with httpx.Client(base_url=server.url + "/__mockrouter", timeout=10) as admin:
        while True:
            page = listed(admin, **params)
            pages.append([e["id"] for e in page["data"]])
            if page["previous"] is None:
                break
            params["before"] = page["previous"]
    assert [i for page in reversed(pages) for i in page] == ids


def test_since_0_is_the_oldest_entry(busy, admin_of) -> None:
    _, key, ids = busy
    assert [e["id"] for e in listed(admin_of, key=key, since="0", limit=3)["data"]] == ids[:3]
    assert listed(admin_of, key=key, since=ids[-1])["data"] == []


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"since": "yesterday"}, "since"),
        ({"since": "42"}, "since"),
        ({"before": "0"}, "before"),
        ({"before": "req_x"}, "before"),
        ({"since": "0", "before": "req_00000005"}, "not both"),
        ({"limit": str(MAX_LIST_LIMIT + 1)}, "at most"),
        ({"limit": "-1"}, "limit"),
        ({"status": "2x"}, "status"),
        ({"status": "600"}, "status"),
    ],
)
def test_bad_paging_parameters_are_a_clear_400(admin_of, params: dict[str, str], words: str) -> None:
    response = admin_of.get("/requests", params=params)
    assert response.status_code == 400, response.text
    assert words in response.text
    assert "Traceback" not in response.text


def test_a_large_body_is_cut_in_the_list_and_whole_in_the_detail(anyrouter_server: BackgroundServer) -> None:
    key = f"sk-big-{uuid.uuid4().hex}"
    content = "x" * (3 * LIST_BODY_CAP)
    with httpx.Client(base_url=anyrouter_server.base_url, headers={"Authorization": f"Bearer {key}"}) as c:
        small = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "small"}]}
        big = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": content}]}
        assert c.post("/chat/completions", json=small).status_code == 200
        assert c.post("/chat/completions", json=big).status_code == 200
        bad = c.post("/chat/completions", content=b"not json " * LIST_BODY_CAP, headers={"content-type": "text/plain"})
        assert bad.status_code == 400
    with httpx.Client(base_url=anyrouter_server.url + "/__mockrouter", timeout=10) as admin:
        first, second, third = admin.get("/requests", params={"key": key}).json()["data"]
        assert first["body"] == small and first["body_cut"] is None
        for entry in (second, third):
            cut = entry["body_cut"]
            assert isinstance(entry["body"], str) and len(entry["body"].encode()) <= LIST_BODY_CAP
            assert cut["shown"] == len(entry["body"].encode()) and cut["bytes"] > 2 * LIST_BODY_CAP
            assert cut["full"] == f"/__mockrouter/requests/{entry['id']}"
        assert second["body"].startswith('{"model":"openai/gpt-4o-mini"')
        whole = admin.get(f"/requests/{second['id']}").json()
        assert whole["body"] == big and whole["body_cut"] is None
        assert admin.get(f"/requests/{third['id']}").json()["body"] == "not json " * LIST_BODY_CAP
        [unmatched] = [e for e in admin.get("/requests/unmatched", params={"key": key}).json()["data"] if e["body_cut"]]
        assert unmatched["id"] == second["id"]


def test_the_unmatched_list_pages_too(busy, admin_of) -> None:
    _, key, ids = busy
    page = admin_of.get("/requests/unmatched", params={"key": key, "limit": 2}).json()
    assert [e["id"] for e in page["data"]] == ids[-2:]  # every request here fell through to echo
    assert page["previous"] == ids[-2] and page["next"] is None


def test_the_journal_records_and_filters_by_surface(http: httpx.Client, admin: httpx.Client, api_key: str) -> None:
    """Each engine answer names its surface; ``surface=`` lists one surface's, paged as usual."""
    user = [{"role": "user", "content": "hi"}]
    sent = {
        "chat": http.post("/chat/completions", json={"model": "m", "messages": user}),
        "text": http.post("/completions", json={"model": "m", "prompt": "hi"}),
        "messages": http.post("/messages", json={"model": "m", "max_tokens": 9, "messages": user}),
        "responses": http.post("/responses", json={"model": "m", "input": "hi"}),
    }
    assert all(r.status_code == 200 for r in sent.values())
    http.get("/credits")  # not an engine route: no surface
    everything = admin.get("/requests", params={"key": api_key}).json()["data"]
    assert [e["surface"] for e in everything] == [*sent, None]
    for surface in sent:
        [entry] = admin.get("/requests", params={"key": api_key, "surface": surface}).json()["data"]
        assert entry["surface"] == surface and entry["status"] == 200


def test_status_lists_one_status_or_one_class(http: httpx.Client, admin: httpx.Client, api_key: str) -> None:
    """``status=429`` keeps the answers with that status, ``status=4xx`` its class (the inspector's filter)."""
    user = [{"role": "user", "content": "hi"}]
    codes = [
        http.post("/chat/completions", json={"model": model, "messages": user}).status_code
        for model in ("m", "mockrouter/rate-limited", "m", "mockrouter/no-such-scenario")
    ]
    assert codes == [200, 429, 200, 404]

    def listed(status: str) -> list[int]:
        return [e["status"] for e in admin.get("/requests", params={"key": api_key, "status": status}).json()["data"]]

    assert listed("200") == [200, 200]
    assert listed("429") == [429]
    assert listed("4xx") == [429, 404]
    assert listed("5xx") == []


def test_the_detail_shows_the_conversation_hash_that_matches_it(anyrouter_server: BackgroundServer) -> None:
    """``GET requests/{id}`` shows the hash ``match.conversation`` compares, the same for one
    conversation on every surface; a scenario written with it matches that conversation."""
    key = f"sk-conv-{uuid.uuid4().hex}"
    said = f"where is {uuid.uuid4().hex}?"
    auth = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=anyrouter_server.base_url, headers=auth, timeout=10) as api:
        chat = {
            "model": "m",
            "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": said}],
        }
        messages = {
            "model": "m",
            "max_tokens": 50,
            "system": "Be brief.",
            "messages": [{"role": "user", "content": said}],
        }
        assert api.post("/chat/completions", json=chat).status_code == 200
        assert api.post("/messages", json=messages).status_code == 200
        assert api.get("/models").status_code == 200
    admin = httpx.Client(base_url=anyrouter_server.url + "/__mockrouter", timeout=10)
    ids = [e["id"] for e in admin.get("/requests", params={"key": key}).json()["data"]]
    on_chat, on_messages, models = (admin.get(f"/requests/{i}").json()["conversation"] for i in ids)
    assert on_chat == on_messages and len(on_chat) == 16 and models is None
    found = f"name: found-{key}\nmatch: {{conversation: '{on_chat}'}}\nsteps: [{{content: found it}}]\n"
    assert admin.post("/scenarios", params={"key": key}, content=found).status_code == 201
    with httpx.Client(base_url=anyrouter_server.base_url, headers=auth, timeout=10) as api:
        answer = api.post("/chat/completions", json=chat).json()
    assert answer["choices"][0]["message"]["content"] == "found it"
    admin.close()
