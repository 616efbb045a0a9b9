"""The resilience report: real clients against a real server, judged from the journal.

Each test behaves like one kind of client and checks the findings of its key: their kinds, and
that ``request_ids`` point at the journal entries that prove them (``mockrouter/report.py``).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from mockrouter.state.report import IMMEDIATE_S

ROOT = Path(__file__).resolve().parent.parent
USER = [{"role": "user", "content": "how resilient am I?"}]
ECHO = {"X-Mockrouter-Scenario": "echo"}
#: A pause that is not "at once" (a retry sooner than ``IMMEDIATE_S`` is ``no_backoff``).
PAUSE = IMMEDIATE_S + 0.05


def body(model: str = "openai/gpt-4o-mini", messages: list[dict[str, Any]] = USER, **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": messages, **extra}


def key_report(admin: httpx.Client, key: str, **params: Any) -> dict[str, Any]:
    """The report of one key: ``{"key_hint", "requests", "findings"}``."""
    response = admin.get("/report", params={"key": key, **params})
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert len(data) == 1, data
    assert data[0]["key_hint"] == key[-4:]
    return data[0]


def findings(admin: httpx.Client, key: str, **params: Any) -> list[dict[str, Any]]:
    return key_report(admin, key, **params)["findings"]


def kinds(found: list[dict[str, Any]]) -> set[str]:
    return {f["kind"] for f in found}


def of_kind(found: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [f for f in found if f["kind"] == kind]


def ids(entries: list[dict[str, Any]]) -> list[str]:
    return [e["id"] for e in entries]


def chat_entries(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in entries if e["path"].endswith("/chat/completions")]


@pytest.fixture(scope="module")
def timed_server(make_server):
    """A server at real speed: scripted stream intervals are really waited."""
    return make_server(speed=1.0)


def add_scenarios_on(server, key: str, text: str) -> None:
    with httpx.Client(base_url=server.url) as admin:
        response = admin.post("/__mockrouter/scenarios", params={"key": key}, content=text)
        assert response.status_code == 201, response.text


def report_when(
    server, key: str, ready: Callable[[dict[str, Any]], bool], timeout: float = 3.0
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The key's report and journal once ``ready(report)`` holds (entries land when a response ends)."""
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=server.url + "/__mockrouter") as admin:
        while True:
            data = admin.get("/report", params={"key": key}).json()["data"]
            if data and ready(data[0]):
                return data[0], admin.get("/requests", params={"key": key}).json()["data"]
            if time.monotonic() > deadline:
                raise AssertionError(f"report not ready within {timeout}s: {data}")
            time.sleep(0.02)


# -- retries after errors ----------------------------------------------------------------------


def test_openai_sdk_default_retries_pass(server, api_key, admin, journal):
    """429 with Retry-After 1: the SDK waits about a second, retries once, gets a 200."""
    with openai.OpenAI(base_url=server.base_url, api_key=api_key) as client:
        started = time.monotonic()
        reply = client.chat.completions.create(model="mockrouter/rate-limited", messages=USER)
        elapsed = time.monotonic() - started
    assert reply.choices[0].message.content == USER[0]["content"]
    assert elapsed >= 0.9
    first, second = chat_entries(journal())
    assert (first["status"], second["status"]) == (429, 200)
    assert first["retry_after_s"] == 1
    assert second["headers"].get("x-stainless-retry-count") == "1"
    assert findings(admin, api_key) == []


def test_naive_immediate_retry_ignores_retry_after(http, api_key, admin, journal):
    request = body("mockrouter/rate-limited")
    for _ in range(3):
        if http.post("/chat/completions", json=request).status_code == 200:
            break
    limited, ok = chat_entries(journal())
    assert (limited["status"], ok["status"]) == (429, 200)
    found = findings(admin, api_key)
    assert kinds(found) == {"retry_after_ignored", "no_backoff"}
    [ignored] = of_kind(found, "retry_after_ignored")
    assert ignored["request_ids"] == [limited["id"], ok["id"]]
    for finding in of_kind(found, "no_backoff"):
        assert finding["request_ids"] == [limited["id"], ok["id"]]


def test_retrying_a_400_is_flagged(http, api_key, admin, journal):
    invalid = body(messages=[{"role": "robot", "content": "beep"}])
    for attempt in range(2):
        if attempt:
            time.sleep(PAUSE)  # a pause, so that only the retry itself is at fault
        assert http.post("/chat/completions", json=invalid).status_code == 400
    first, second = chat_entries(journal())
    found = findings(admin, api_key)
    assert kinds(found) == {"retried_non_retryable"}
    assert found[0]["request_ids"] == [first["id"], second["id"]]


def test_giving_up_on_a_503_is_flagged(http, api_key, admin, journal):
    assert http.post("/chat/completions", json=body("mockrouter/overloaded")).status_code == 503
    [entry] = chat_entries(journal())
    found = findings(admin, api_key)
    assert kinds(found) == {"no_retry"}
    assert found[0]["request_ids"] == [entry["id"]]


def test_retry_storm_depends_on_max_retries(http, api_key, admin, add_scenarios, journal):
    add_scenarios("name: storm\nsteps:\n" + "  - error: {status: 503}\n" * 8)
    for attempt in range(8):  # one request and 7 retries, with small but growing pauses
        if attempt:
            time.sleep(0.03 + 0.03 * attempt)
        assert http.post("/chat/completions", json=body("mockrouter/storm")).status_code == 503
    attempts = ids(chat_entries(journal()))
    assert len(attempts) == 8
    [storm] = of_kind(findings(admin, api_key), "retry_storm")
    assert storm["request_ids"] == attempts
    assert of_kind(findings(admin, api_key, max_retries=6), "retry_storm")
    assert not of_kind(findings(admin, api_key, max_retries=7), "retry_storm")
    assert not of_kind(findings(admin, api_key, max_retries=10), "retry_storm")
    # one chain of 7 retries of a 503: nothing else to find (server-side gaps jitter, so no claim on the pace)
    assert kinds(findings(admin, api_key, max_retries=10)) <= {"no_backoff"}


def retry_with_pauses(http: httpx.Client, add_scenarios, pauses: list[float]) -> None:
    """One request against repeated 500s (no Retry-After), retried after each pause."""
    add_scenarios("name: broken\nsteps:\n  - error: {status: 500}\n")
    for attempt in range(len(pauses) + 1):
        if attempt:
            time.sleep(pauses[attempt - 1])
        assert http.post("/chat/completions", json=body("mockrouter/broken")).status_code == 500


def test_constant_retry_gaps_are_no_backoff(http, api_key, admin, add_scenarios, journal):
    retry_with_pauses(http, add_scenarios, [PAUSE, PAUSE, PAUSE])
    attempts = ids(chat_entries(journal()))
    assert len(attempts) == 4
    found = findings(admin, api_key)
    assert kinds(found) == {"no_backoff"}
    assert found[0]["request_ids"] == attempts


def test_growing_retry_gaps_are_backoff(http, api_key, admin, add_scenarios, journal):
    retry_with_pauses(http, add_scenarios, [PAUSE, 2 * PAUSE, 4 * PAUSE])
    assert len(chat_entries(journal())) == 4
    assert findings(admin, api_key) == []


# -- streams ----------------------------------------------------------------------------------


def test_closing_a_flowing_stream_is_abandoned(timed_server, api_key):
    add_scenarios_on(
        timed_server,
        api_key,
        "name: long-stream\nsteps:\n"
        "  - content: a b c d e f g h i j k l m n o p q r s t\n    timing: {interval_ms: 100}\n",
    )
    with openai.OpenAI(base_url=timed_server.base_url, api_key=api_key) as client:
        stream = client.chat.completions.create(model="mockrouter/long-stream", messages=USER, stream=True)
        for i, _chunk in enumerate(stream):
            if i == 1:
                break
        stream.close()
    report, entries = report_when(timed_server, api_key, lambda r: r["requests"] >= 1)
    [entry] = chat_entries(entries)
    assert entry["stream"] is True and entry["client_disconnected"] is True
    assert kinds(report["findings"]) == {"stream_abandoned"}
    assert report["findings"][0]["request_ids"] == [entry["id"]]


def test_timing_out_on_a_stall_is_not_abandoned(timed_server, api_key):
    timeout = openai.Timeout(5, read=1.5)  # the SDK's own (its HTTP library is httpx2 since openai 3.6x)
    client = openai.OpenAI(base_url=timed_server.base_url, api_key=api_key, max_retries=0, timeout=timeout)
    with client, pytest.raises(openai.APITimeoutError):
        for _ in client.chat.completions.create(model="mockrouter/stall", messages=USER, stream=True):
            pass
    report, entries = report_when(timed_server, api_key, lambda r: r["requests"] >= 1)
    [entry] = chat_entries(entries)
    assert entry["client_disconnected"] is True and entry["fault"] == "stall"
    assert "stream_abandoned" not in kinds(report["findings"])
    assert report["findings"] == []


# -- repeats after a success ----------------------------------------------------------------


def test_sdk_style_retry_after_success_is_duplicate(http, api_key, admin, journal):
    request = body()
    assert http.post("/chat/completions", json=request).status_code == 200
    assert http.post("/chat/completions", json=request, headers={"x-stainless-retry-count": "1"}).status_code == 200
    first, second = chat_entries(journal())
    found = findings(admin, api_key)
    assert kinds(found) == {"duplicate_after_success"}
    assert found[0]["request_ids"] == [first["id"], second["id"]]


def test_repeated_prompt_is_not_duplicate(http, api_key, admin, journal):
    request = body()
    for _ in range(2):
        assert http.post("/chat/completions", json=request).status_code == 200
    assert len(chat_entries(journal())) == 2
    assert findings(admin, api_key) == []


def test_repeated_idempotency_key_after_success_is_duplicate(http, api_key, admin, journal):
    request = body()
    for _ in range(2):
        assert http.post("/chat/completions", json=request, headers={"idempotency-key": "idem-42"}).status_code == 200
    first, second = chat_entries(journal())
    found = findings(admin, api_key)
    assert kinds(found) == {"duplicate_after_success"}
    assert found[0]["request_ids"] == [first["id"], second["id"]]


def test_fresh_idempotency_keys_are_not_duplicate(http, api_key, admin):
    request = body()
    for n in range(2):
        assert http.post("/chat/completions", json=request, headers={"idempotency-key": f"idem-{n}"}).status_code == 200
    assert findings(admin, api_key) == []


# -- scope ----------------------------------------------------------------------------------


def test_keys_are_judged_apart(server, http, api_key, admin, journal):
    other_key = f"sk-test-{uuid.uuid4().hex}"
    assert http.post("/chat/completions", json=body("mockrouter/overloaded")).status_code == 503
    with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {other_key}"}) as other:
        # the same body right after, answered 200 (by echo): a retry if the keys were mixed up
        answered = other.post("/chat/completions", json=body("mockrouter/overloaded"), headers=ECHO)
        assert answered.status_code == 200
    [flagged] = chat_entries(journal())
    assert len(admin.get("/requests", params={"key": other_key}).json()["data"]) == 1

    mine = key_report(admin, api_key)
    assert mine["requests"] == 1
    assert kinds(mine["findings"]) == {"no_retry"}
    assert mine["findings"][0]["request_ids"] == [flagged["id"]]
    theirs = key_report(admin, other_key)
    assert theirs["requests"] == 1
    assert theirs["findings"] == []

    everyone = admin.get("/report").json()["data"]
    by_hint = {r["key_hint"]: r for r in everyone}
    assert len(everyone) >= 2
    assert by_hint[api_key[-4:]] == mine
    assert by_hint[other_key[-4:]] == theirs
    for r in everyone:
        if r["key_hint"] != api_key[-4:]:
            assert not {i for f in r["findings"] for i in f["request_ids"]} & {flagged["id"]}


# -- the command line -------------------------------------------------------------------------


def run_report(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOCKROUTER_")}
    return subprocess.run(
        [sys.executable, "-m", "mockrouter", "report", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )


@pytest.fixture
def cli_server(anyrouter_server):
    return anyrouter_server


def send(server, key: str, request: dict[str, Any]) -> int:
    with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}) as c:
        return c.post("/chat/completions", json=request).status_code


def test_cli_exits_1_on_a_finding(cli_server, api_key):
    assert send(cli_server, api_key, body("mockrouter/overloaded")) == 503
    done = run_report("--url", cli_server.url, "--key", api_key)
    assert done.returncode == 1, done.stderr
    assert "no_retry" in done.stdout


def test_cli_exits_0_for_a_clean_key(cli_server, api_key):
    assert send(cli_server, api_key, body()) == 200
    done = run_report("--url", cli_server.url, "--key", api_key)
    assert done.returncode == 0, done.stdout + done.stderr
    assert api_key[-4:] in done.stdout
    assert not any(kind in done.stdout for kind in ("no_retry", "no_backoff", "retry_storm", "stream_abandoned"))


def test_cli_json_is_parseable(cli_server, api_key):
    assert send(cli_server, api_key, body("mockrouter/overloaded")) == 503
    done = run_report("--url", cli_server.url, "--key", api_key, "--json")
    assert done.returncode == 1, done.stderr
    [report] = json.loads(done.stdout)["data"]
    assert report["key_hint"] == api_key[-4:]
    assert [f["kind"] for f in report["findings"]] == ["no_retry"]


def test_cli_exits_2_when_unreachable():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    done = run_report("--url", f"http://127.0.0.1:{port}", "--key", "sk-nobody")
    assert done.returncode == 2
    assert done.stderr.strip()


# -- fuzz traffic -------------------------------------------------------------------------------


def test_a_fuzz_run_leaves_the_report_clean(make_server):
    """``mockrouter fuzz`` sends the same broken request again and again (hypothesis draws small
    examples more than once; shrinking resends): judged as a client, that is a pile of findings.
    Its requests carry ``X-Mockrouter-Fuzz: 1`` and the report leaves them out unless asked
    (``include_fuzz``)."""
    from mockrouter.state.journal import FUZZ_HEADER
    from mockrouter.tools import fuzzer

    server = make_server()
    assert fuzzer.run(server.base_url, examples=100, seed=4).ok
    with httpx.Client(base_url=server.url + "/__mockrouter", timeout=30) as admin:
        entries = admin.get("/requests", params={"key": fuzzer.DEFAULT_KEY, "limit": 1000}).json()["data"]
        assert entries and all(e["headers"].get(FUZZ_HEADER) == "1" for e in entries)
        assert admin.get("/report").json()["data"] == []
        included = admin.get("/report", params={"include_fuzz": "1"}).json()["data"]
        assert [r["key_hint"] for r in included] == [fuzzer.DEFAULT_KEY[-4:]] and included[0]["findings"]
        assert admin.get("/report", params={"include_fuzz": "maybe"}).status_code == 400
    done = run_report("--url", server.url)
    assert done.returncode == 0, done.stdout + done.stderr
    judged = run_report("--url", server.url, "--include-fuzz")
    assert judged.returncode == 1 and fuzzer.DEFAULT_KEY[-4:] in judged.stdout, judged.stdout + judged.stderr


# -- every surface ----------------------------------------------------------------------------

SURFACE_REQUESTS = {
    "messages": ("/messages", {"model": "mockrouter/rate-limited", "max_tokens": 64, "messages": USER}),
    "responses": ("/responses", {"model": "mockrouter/rate-limited", "input": USER[0]["content"]}),
}


@pytest.mark.parametrize("surface", list(SURFACE_REQUESTS))
def test_naive_retries_are_judged_on_every_surface(surface, http, api_key, admin, journal):
    """The report reads Messages and Responses answers like chat ones: an immediate retry of a
    429 ignores its Retry-After, and giving up on a 529 is ``no_retry``."""
    path, request = SURFACE_REQUESTS[surface]
    for _ in range(3):
        if http.post(path, json=request).status_code == 200:
            break
    limited, ok = journal()
    assert (limited["status"], ok["status"], limited["surface"]) == (429, 200, surface)
    found = findings(admin, api_key)
    assert kinds(found) == {"retry_after_ignored", "no_backoff"}
    assert of_kind(found, "retry_after_ignored")[0]["request_ids"] == [limited["id"], ok["id"]]


def test_the_anthropic_sdk_is_judged_resilient(server, api_key, admin, journal, add_scenarios):
    """The anthropic SDK waits out a 429's Retry-After and retries a 529 with backoff: no finding;
    the same 529 given up on (max_retries=0) is ``no_retry``."""
    import anthropic

    add_scenarios(
        "name: overloaded-once\nmatch: {model: report/529}\n"
        "steps: [{error: {status: 529, message: Overloaded}}, {content: fine}]\nthen: repeat-last\n"
    )
    sdk = anthropic.Anthropic(base_url=server.url + "/api", api_key=api_key)
    reply = sdk.messages.create(model="mockrouter/rate-limited", max_tokens=64, messages=USER)
    assert reply.content[0].text == USER[0]["content"]
    assert sdk.messages.create(model="report/529", max_tokens=64, messages=USER).content[0].text == "fine"
    statuses = [e["status"] for e in journal()]
    assert statuses == [429, 200, 529, 200]
    assert findings(admin, api_key) == []
    with pytest.raises(anthropic.InternalServerError):
        sdk.with_options(max_retries=0).messages.create(
            model="mockrouter/overloaded", max_tokens=64, messages=[{"role": "user", "content": "again"}]
        )
    assert kinds(findings(admin, api_key)) == {"no_retry"}
