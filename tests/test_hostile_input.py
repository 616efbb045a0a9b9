"""The bad-input matrix beyond tests/test_http_errors.py: deeply nested JSON, huge numbers and
oversized headers each get a clear 4xx in the dialect's envelope (or, where the JSON is valid,
a normal answer), land in the journal, and leave the server answering."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from mockrouter.core.schemas import SchemaRegistry
from mockrouter.http.server import BackgroundServer

REGISTRY = SchemaRegistry()
GOOD = b'{"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}'
JSON = {"content-type": "application/json"}


def _assert_error(response: httpx.Response, dialect: str, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert REGISTRY.for_dialect("error", dialect).violation(body) is None, body
    if dialect == "openrouter":
        assert body["error"]["code"] == status
    return body["error"]


def _still_alive(http: httpx.Client) -> None:
    response = http.post("/chat/completions", content=GOOD, headers=JSON)
    assert response.status_code == 200, response.text


def _with_extra(raw_value: bytes) -> bytes:
    """A valid request with one unknown field holding ``raw_value`` (raw JSON text)."""
    return GOOD[:-1] + b', "extra": ' + raw_value + b"}"


# -- deeply nested JSON -------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["body", "field"])
def test_100k_nested_arrays_get_400(http, journal, dialect, where):
    nested = b"[" * 100_000 + b"]" * 100_000
    content = nested if where == "body" else _with_extra(nested)
    error = _assert_error(http.post("/chat/completions", content=content, headers=JSON), dialect, 400)
    assert "depth" in error["message"] or "nested" in error["message"]
    [entry] = journal()
    assert entry["status"] == 400
    _still_alive(http)


def test_100k_nested_objects_get_400(http, journal, dialect):
    content = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
    _assert_error(http.post("/chat/completions", content=content, headers=JSON), dialect, 400)
    assert journal()[0]["status"] == 400
    _still_alive(http)


def test_nesting_the_parser_accepts_but_the_journal_cannot_write_is_shown_clipped(make_server, api_key):
    """300 levels parse (orjson reads 1024) but orjson writes only 255: the journal and the
    report must not 500. (A server of its own: the body stays in its journal.)"""
    server = make_server()
    http = httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=10)
    admin = httpx.Client(base_url=server.url + "/__mockrouter", timeout=10)
    response = http.post("/chat/completions", content=_with_extra(b"[" * 300 + b"]" * 300), headers=JSON)
    assert response.status_code == 200, response.text
    listed = admin.get("/requests", params={"key": api_key})
    assert listed.status_code == 200, listed.text
    [entry] = listed.json()["data"]
    depth, value = 0, entry["body"]["extra"]
    while isinstance(value, list):
        depth, value = depth + 1, value[0]
    assert value == "[nested too deeply]" and 100 < depth < 255
    assert admin.get(f"/requests/{entry['id']}").status_code == 200
    for params in ({}, {"key": api_key}):
        report = admin.get("/report", params=params)
        assert report.status_code == 200, report.text
        assert report.json()["data"][0]["requests"] == 1
    assert not server.app.errors
    _still_alive(http)
    http.close()
    admin.close()


# -- huge numbers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        _with_extra(b"1e999999"),
        _with_extra(b"-1e999999"),
        _with_extra(b"9" * 100_000),
        GOOD[:-1] + b', "temperature": 1e999999}',
        GOOD[:-1] + b', "max_tokens": 1e400}',
    ],
    ids=["exp", "neg-exp", "100k-digits", "temperature", "max_tokens"],
)
def test_numbers_beyond_a_double_get_400(http, journal, dialect, content):
    error = _assert_error(http.post("/chat/completions", content=content, headers=JSON), dialect, 400)
    assert "number" in error["message"].lower()
    assert journal()[0]["status"] == 400
    _still_alive(http)


@pytest.mark.parametrize("field", ["extra", "seed", "max_tokens"])
def test_integers_beyond_64_bits_are_answered_not_crashed(http, journal, field):
    """JSON allows them; the parser reads them as floats. Never a 500, and the journal can show them."""
    content = GOOD[:-1] + f', "{field}": {2**80}}}'.encode()
    response = http.post("/chat/completions", content=content, headers=JSON)
    assert response.status_code == 200, response.text
    [entry] = journal()
    assert entry["status"] == 200
    assert entry["body"][field] == float(2**80)
    _still_alive(http)


def test_a_huge_number_in_a_bounded_field_names_the_field(http, dialect):
    content = GOOD[:-1] + f', "temperature": {2**80}}}'.encode()
    error = _assert_error(http.post("/chat/completions", content=content, headers=JSON), dialect, 400)
    assert "temperature" in error["message"]


# -- headers over the limit ---------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["one-100KiB-header", "2000-small-headers"])
def test_headers_over_the_limit_get_431(http, journal, dialect, shape):
    if shape == "one-100KiB-header":
        headers = {"x-big": "a" * 100 * 1024}
    else:
        headers = {f"x-h{i}": "v" * 20 for i in range(2000)}
    response = http.post("/chat/completions", content=GOOD, headers={**JSON, **headers})
    error = _assert_error(response, dialect, 431)
    assert "32768 bytes" in error["message"]
    if dialect == "anyrouter":
        assert error["type"] == "request_too_large"
    [entry] = journal()
    assert entry["status"] == 431
    assert entry["headers"]["authorization"] == "[REDACTED]"
    assert all(len(v) <= 256 for v in entry["headers"].values())  # the journal keeps no 100 KiB value
    _still_alive(http)


def test_headers_under_the_limit_pass(http):
    response = http.post("/chat/completions", content=GOOD, headers={**JSON, "x-big": "a" * 16 * 1024})
    assert response.status_code == 200, response.text


def test_admin_calls_with_huge_headers_get_431_too(admin):
    response = admin.get("/health", headers={"x-big": "a" * 100 * 1024})
    assert response.status_code == 431
    assert admin.get("/health").status_code == 200


def test_max_header_is_configurable(make_server: Callable[..., BackgroundServer], api_key: str):
    server = make_server(max_header=2048)
    with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {api_key}"}) as c:
        assert c.post("/chat/completions", content=GOOD, headers={**JSON, "x-pad": "a" * 1024}).status_code == 200
        response = c.post("/chat/completions", content=GOOD, headers={**JSON, "x-pad": "a" * 3000})
        assert response.status_code == 431
        assert "2048 bytes" in response.json()["error"]["message"]
        assert c.get("/models", headers={"x-pad": "a" * 3000}).status_code == 431


# -- every refusal is journaled -----------------------------------------------------------------


def test_every_refusal_lands_in_the_journal_and_the_server_keeps_answering(make_server, api_key):
    """The statuses are tested above and in test_http_errors.py; here: each refusal is journaled
    (found by a marker header, since a request without a key has no key to filter by)."""
    server = make_server(max_body=300_000, max_header=4096)
    auth = {"Authorization": f"Bearer {api_key}"}
    cases = {
        "no-auth": ("POST", "/chat/completions", GOOD, {**JSON}, 401),
        "bad-auth": ("POST", "/chat/completions", GOOD, {**JSON, "Authorization": "Token x"}, 401),
        "no-route": ("GET", "/no/such/route", b"", auth, 404),
        "bad-method": ("DELETE", "/models", b"", auth, 405),
        "too-big": ("POST", "/chat/completions", b'{"x": "' + b"a" * 400_000 + b'"}', {**JSON, **auth}, 413),
        "bad-type": ("POST", "/chat/completions", GOOD, {"content-type": "text/plain", **auth}, 400),
        "bad-utf8": ("POST", "/chat/completions", b"\xff{}", {**JSON, **auth}, 400),
        "deep": ("POST", "/chat/completions", b"[" * 100_000 + b"]" * 100_000, {**JSON, **auth}, 400),
        "huge-number": ("POST", "/chat/completions", _with_extra(b"1e999999"), {**JSON, **auth}, 400),
        "huge-header": ("POST", "/chat/completions", GOOD, {**JSON, **auth, "x-big": "a" * 5000}, 431),
    }
    with httpx.Client(base_url=server.base_url, timeout=10) as c:
        for name, (method, path, content, headers, status) in cases.items():
            response = c.request(method, path, content=content, headers={**headers, "x-case": name})
            assert response.status_code == status, (name, response.text)
            assert response.headers["content-type"] == "application/json", name
            assert c.post("/chat/completions", content=GOOD, headers={**JSON, **auth}).status_code == 200
    entries = httpx.get(server.url + "/__mockrouter/requests", timeout=10).json()["data"]
    by_case = {e["headers"].get("x-case"): e for e in entries if e["headers"].get("x-case")}
    assert {name: by_case[name]["status"] for name in cases} == {name: case[-1] for name, case in cases.items()}
    assert not server.app.errors
