"""Bad input never gets a 500 or kills the server: each gets a clear 4xx in the dialect's format,
and the request still reaches the journal."""

from __future__ import annotations

import httpx
import pytest

from mockrouter.core.schemas import SchemaRegistry

REGISTRY = SchemaRegistry()
GOOD = b'{"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}'


def _assert_error(response: httpx.Response, dialect: str, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert REGISTRY.for_dialect("error", dialect).violation(body) is None, body
    if dialect == "openrouter":
        assert body["error"]["code"] == status
    return body["error"]


@pytest.mark.parametrize(
    ("content", "content_type", "fragment"),
    [
        (b"{not json", "application/json", "Malformed JSON"),
        (b"", "application/json", "empty"),
        (b"   ", "application/json", "empty"),
        (b"[1, 2]", "application/json", "JSON object"),
        (b'"text"', "application/json", "JSON object"),
        (GOOD, "text/plain", "Content-Type"),
        (b"\xff\xfe{}", "application/json", "UTF-8"),
    ],
)
def test_malformed_bodies_get_400(http, journal, dialect, content, content_type, fragment):
    response = http.post("/chat/completions", content=content, headers={"content-type": content_type})
    error = _assert_error(response, dialect, 400)
    assert fragment.lower() in error["message"].lower()
    entries = journal()
    assert len(entries) == 1
    assert entries[0]["status"] == 400
    assert entries[0]["body"] is not None or content == b""


def test_missing_content_type_gets_400(server, api_key, dialect):
    request = httpx.Request(
        "POST",
        server.base_url + "/chat/completions",
        content=GOOD,  # no content type
        headers={"Authorization": f"Bearer {api_key}"},
    )
    with httpx.Client() as c:
        response = c.send(request)
    error = _assert_error(response, dialect, 400)
    assert error["message"] == "Content-Type header is missing; send Content-Type: application/json."


@pytest.mark.parametrize(
    ("content", "content_type", "message"),
    [
        (b"[1, 2]", "application/json", "Request body must be a JSON object, got array."),
        (b'"text"', "application/json", "Request body must be a JSON object, got string."),
        (b"null", "application/json", "Request body must be a JSON object, got null."),
        (b"3", "application/json", "Request body must be a JSON object, got integer."),
        (b"2.5", "application/json", "Request body must be a JSON object, got number."),
        (b"true", "application/json", "Request body must be a JSON object, got boolean."),
        (GOOD, "text/plain", 'Content-Type must be application/json, not "text/plain".'),
    ],
)
def test_bad_body_messages_speak_json(http, dialect, content, content_type, message):
    """JSON type names and JSON quoting (``array``, ``"text/plain"``), not Python's
    (``list``, ``'text/plain'``)."""
    response = http.post("/chat/completions", content=content, headers={"content-type": content_type})
    error = _assert_error(response, dialect, 400)
    assert error["message"] == message
    if dialect == "anyrouter":
        assert error["param"] is None


def test_invalid_field_names_its_path(http, dialect):
    body = {"model": "x/y", "messages": [{"role": "user", "content": "a"}, {"role": "robot", "content": "b"}]}
    error = _assert_error(http.post("/chat/completions", json=body), dialect, 400)
    assert "messages[1].role" in error["message"]
    if dialect == "anyrouter":
        assert error["param"] == "messages[1].role"
        assert error["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"model": "x/y", "messages": []}, "messages"),
        ({"model": "x/y"}, "messages"),
        ({"model": "x/y", "messages": [{"role": "user", "content": "a"}], "temperature": 3}, "temperature"),
        ({"model": "x/y", "messages": [{"role": "user", "content": "a"}], "max_tokens": "ten"}, "max_tokens"),
        ({"model": "x/y", "messages": [{"role": "user", "content": "a"}], "stream": "yes"}, "stream"),
        ({"model": 5, "messages": [{"role": "user", "content": "a"}]}, "model"),
    ],
)
def test_schema_violations(http, dialect, body, path):
    error = _assert_error(http.post("/chat/completions", json=body), dialect, 400)
    assert path in error["message"]


def test_anyrouter_requires_model(anyrouter_server, api_key):
    with httpx.Client(base_url=anyrouter_server.base_url, headers={"Authorization": f"Bearer {api_key}"}) as c:
        response = c.post("/chat/completions", json={"messages": [{"role": "user", "content": "a"}]})
    assert _assert_error(response, "anyrouter", 400)["param"] == "model"


@pytest.mark.parametrize("authorization", [None, "", "Bearer", "Token abc", "Basic abc", "sk-no-scheme"])
def test_missing_or_malformed_key_gets_401(server, dialect, authorization):
    headers = {} if authorization is None else {"Authorization": authorization}
    with httpx.Client(base_url=server.base_url) as c:
        response = c.post("/chat/completions", content=GOOD, headers={"content-type": "application/json", **headers})
    error = _assert_error(response, dialect, 401)
    if dialect == "anyrouter":
        assert error["type"] == "authentication_error"
    else:
        expected = "Missing Authentication header" if authorization is None else "No auth credentials found"
        assert error["message"] == expected


def test_body_over_limit_gets_413(make_server, api_key):
    server = make_server(max_body=1000)
    with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {api_key}"}) as c:
        big = {"model": "x/y", "messages": [{"role": "user", "content": "a" * 5000}]}
        response = c.post("/chat/completions", json=big)
        assert response.status_code == 413
        ok = c.post("/chat/completions", content=GOOD, headers={"content-type": "application/json"})
        assert ok.status_code == 200


def test_unknown_route_and_wrong_method(http, dialect):
    error = _assert_error(http.get("/no/such/thing"), dialect, 404)
    assert "/api/v1/no/such/thing" in error["message"]
    response = http.get("/chat/completions")
    _assert_error(response, dialect, 405)
    assert "POST" in response.headers["allow"]
    _assert_error(http.delete("/models"), dialect, 405)


def test_v1_alias(server, api_key):
    with httpx.Client(base_url=server.url + "/v1", headers={"Authorization": f"Bearer {api_key}"}) as c:
        response = c.post("/chat/completions", content=GOOD, headers={"content-type": "application/json"})
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "hi"


def test_strict_models(make_server, api_key):
    server = make_server(strict_models=True)
    with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {api_key}"}) as c:
        bad = c.post("/chat/completions", json={"model": "acme/nope", "messages": [{"role": "user", "content": "a"}]})
        assert bad.status_code == 400
        assert bad.json()["error"]["message"] == "acme/nope is not a valid model ID"
        for model in ("openai/gpt-4o-mini", "mockrouter/echo"):
            ok = c.post("/chat/completions", json={"model": model, "messages": [{"role": "user", "content": "a"}]})
            assert ok.status_code == 200, ok.text


def test_server_survives_a_burst_of_garbage(http, dialect):
    for junk in (b"\x00" * 100, b"{" * 10000, b'{"messages": ' * 500, b"null", b"1e999999"):
        response = http.post("/chat/completions", content=junk, headers={"content-type": "application/json"})
        assert 400 <= response.status_code < 500
    assert http.post("/chat/completions", content=GOOD, headers={"content-type": "application/json"}).status_code == 200
