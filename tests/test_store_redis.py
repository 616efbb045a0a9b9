"""The Redis store across processes (#14): two ``mockrouter serve --store redis://... --workers 2``
processes (two "hosts", two uvicorn workers each) on one real Redis, hammered concurrently by the
openai SDK from many threads, every other request sent to the other host.

What must hold, as the issue states it: credits cover exactly the answers they pay for (402 after,
never more than one request's overspend); a rate limit of N admits exactly N; a scenario's steps come
back in order, each once per cursor; the journal holds every request, readable from any process;
``wait`` wakes on requests another process served; the resilience report sees retries that landed on
different processes. And an outage of Redis: 503s naming the store while it is away, no crash, and a
consistent state once it is back (:func:`test_a_redis_outage_is_503s_then_a_consistent_fresh_state`).

The cluster is started once for the module (``cluster``), on the session's ``redis_server``; every
test takes fresh API keys from pools written into the cluster's keys file (nothing is flushed: other
modules share that Redis). The outage tests start a Redis and servers of their own.

Three tests began as product bugs these proofs found (a 404 that moved a cursor, a long ``wait``
answered 503, journal ids that repeated after a Redis restart); they are fixed.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from redis_process import RedisProcess, redis_server_binary
from test_cli import Served, start_command

from mockrouter.core.schemas import SchemaRegistry

REGISTRY = SchemaRegistry()
#: Threads firing requests at once (the machine has 2 cores; more threads only queue).
THREADS = 24
#: One answer of ``priced`` costs this (1/128: exact in binary, so sums of it are exact too).
COST = 1 / 128
#: Answers a credit key's credits cover: credits = (k - 0.5) x COST, so the k-th answer is still
#: admitted (spent (k - 1) x COST < credits) and overspends by half a request; the next is a 402.
CREDIT_COUNTS = (1, 13, 50)
#: ``rate_limit.requests`` of the rate keys (window 60 s: a test run never sees it roll over).
RATE_LIMITS = (1, 7, 20)
STEPS = 5
SCENARIOS = "\n---\n".join(
    [
        "name: five-steps\nsteps:\n"
        + "".join(f"  - content: step-{i}\n" for i in range(STEPS))
        + "then: exhausted\n",  # a sixth request of a cursor is a 404: each step is served once
        f"name: priced\nsteps:\n  - content: priced answer\n    usage: {{cost: {COST}}}\n",
        "name: ten-priced\nsteps:\n"
        + "".join(f"  - content: step-{i}\n    usage: {{cost: {COST}}}\n" for i in range(10))
        + "then: repeat-last\n",
    ]
)
USER = "hello from many hosts"
ID = re.compile(r"^req_\d+$")
#: No test hammers more often than this: each example takes fresh keys from the pools.
EXAMPLES = 3
FAST = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,  # a failing example is not worth replaying: it would run on other, fresh keys
    phases=(Phase.explicit, Phase.generate),  # shrinking a concurrency failure would re-fire, on fresh keys
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


# -- the cluster -------------------------------------------------------------------------------


class Pool:
    """Fresh API keys listed in the keys file, handed out once each."""

    def __init__(self, prefix: str, size: int, line: str = "") -> None:
        self.keys = [f"{prefix}-{i}" for i in range(size)]
        self.line = line
        self._next = iter(self.keys)
        self._lock = threading.Lock()

    def take(self) -> str:
        with self._lock:
            key = next(self._next, None)
        if key is None:
            raise RuntimeError(f"the pool of {self.keys[0].rsplit('-', 1)[0]} keys is used up: make it larger")
        return key

    def yaml(self) -> str:
        return "".join(f"  - key: {k}\n" + (f"    {self.line}\n" if self.line else "") for k in self.keys)


@dataclass
class Pools:
    plain: Pool
    credits: dict[int, Pool]
    rate: dict[int, Pool]

    @classmethod
    def make(cls, run: str) -> Pools:
        return cls(
            plain=Pool(f"sk-redis-{run}-plain", 80),
            credits={
                k: Pool(f"sk-redis-{run}-credits{k}", EXAMPLES + 2, f"credits: {(k - 0.5) * COST!r}")
                for k in CREDIT_COUNTS
            },
            rate={
                n: Pool(f"sk-redis-{run}-rate{n}", EXAMPLES + 2, f"rate_limit: {{requests: {n}, window_s: 60}}")
                for n in RATE_LIMITS
            },
        )

    def all(self) -> list[Pool]:
        return [self.plain, *self.credits.values(), *self.rate.values()]

    def keys_file(self) -> str:
        return "keys:\n" + "".join(pool.yaml() for pool in self.all())


@dataclass
class Host:
    """One ``mockrouter serve`` process: its output is drained (a full pipe would block it), its
    workers' PIDs are collected from ``/health`` so that teardown can end them by PID."""

    served: Served
    http: httpx.Client = field(init=False)
    admin: httpx.Client = field(init=False)
    workers: set[int] = field(default_factory=set)
    output: list[str] = field(default_factory=list)
    drains: list[threading.Thread] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.http = httpx.Client(timeout=30, limits=httpx.Limits(max_connections=THREADS * 2))
        self.admin = httpx.Client(base_url=self.url + "/__mockrouter", timeout=30)
        for stream in (self.served.process.stdout, self.served.process.stderr):
            self.drains.append(threading.Thread(target=self._drain, args=(stream,), daemon=True))
            self.drains[-1].start()

    def _drain(self, stream: Any) -> None:
        with contextlib.suppress(ValueError, OSError):
            for line in stream:
                self.output.append(line)

    @property
    def url(self) -> str:
        return self.served.url

    @property
    def base_url(self) -> str:
        return self.served.url + "/api/v1"

    @property
    def port(self) -> int:
        return self.served.port

    def sdk(self, key: str, *, max_retries: int = 0, **options: Any) -> openai.OpenAI:
        """The openai SDK on this host, over the host's shared connection pool."""
        options.setdefault("http_client", self.http)
        return openai.OpenAI(base_url=self.base_url, api_key=key, max_retries=max_retries, timeout=30, **options)

    def health(self) -> httpx.Response:
        """``/health`` over a fresh connection (so that any worker may answer it)."""
        response = httpx.get(self.url + "/__mockrouter/health", headers={"Connection": "close"}, timeout=10)
        with contextlib.suppress(ValueError, KeyError, TypeError):
            self.workers.add(int(response.json()["store"]["worker"]))
        return response

    def wait(self, key: str, count: int, timeout_ms: int = 15_000) -> dict[str, Any]:
        response = self.admin.post("/wait", json={"key": key, "count": count, "timeout_ms": timeout_ms})
        assert response.status_code == 200, response.text
        return response.json()

    def journal(self, key: str) -> list[dict[str, Any]]:
        response = self.admin.get("/requests", params={"key": key, "limit": 1000})
        assert response.status_code == 200, response.text
        return response.json()["data"]

    def stop(self) -> None:
        """SIGINT to the serve process (it stops its workers); whatever is still alive after
        that, the process or a worker it left, is killed by PID."""
        process = self.served.process
        for client in (self.http, self.admin):
            client.close()
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        for pid in self.workers:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        for drain in self.drains:
            drain.join(5)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def serve(*args: str) -> Host:
    return Host(start_command("serve", "--port", "0", "--speed", "0", *args))


@dataclass
class Cluster:
    hosts: tuple[Host, Host]
    pools: Pools
    store: str

    def host(self, i: int) -> Host:
        return self.hosts[i % 2]


@pytest.fixture(scope="module")
def cluster(redis_server: RedisProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    folder = tmp_path_factory.mktemp("redis-store")
    pools = Pools.make(uuid.uuid4().hex[:8])
    (folder / "keys.yaml").write_text(pools.keys_file())
    (folder / "scenarios.yaml").write_text(SCENARIOS)
    args = ("--store", redis_server.url, "--workers", "2")
    args += ("--keys", str(folder / "keys.yaml"), "--scenarios", str(folder / "scenarios.yaml"))
    started: list[Host] = []
    try:
        started.append(serve(*args))
        started.append(serve(*args))
        yield Cluster((started[0], started[1]), pools, redis_server.url)
    finally:
        for host in started:
            host.stop()


# -- firing requests ------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What the client got: the status, and the answer's text and cost (200) or the error body."""

    host: int
    status: int
    content: str | None = None
    cost: float | None = None
    error: Any = None
    headers: httpx.Headers | None = None


def ask(client: openai.OpenAI, host: int, model: str, content: str = USER, **extra: Any) -> Outcome:
    try:
        completion = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": content}], **extra
        )
    except openai.APIStatusError as error:
        try:
            body = error.response.json()
        except ValueError:
            body = error.response.text
        return Outcome(host, error.status_code, error=body, headers=error.response.headers)
    usage = completion.model_dump()["usage"] or {}
    return Outcome(host, 200, completion.choices[0].message.content, usage.get("cost"))


def hammer(cluster: Cluster, key: str, n: int, model: str, contents: list[str] | None = None) -> list[Outcome]:
    """``n`` concurrent requests of ``key`` from ``THREADS`` threads, alternating the two hosts."""
    clients = [host.sdk(key) for host in cluster.hosts]

    def one(i: int) -> Outcome:
        return ask(clients[i % 2], i % 2, model, contents[i] if contents else USER)

    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(one, range(n)))


def statuses(outcomes: list[Outcome]) -> Counter[int]:
    return Counter(o.status for o in outcomes)


def valid(name: str, data: Any) -> None:
    violation = REGISTRY[name].violation(data)
    assert violation is None, f"{name}: {violation}\n{data}"


# -- the processes ----------------------------------------------------------------------------


def test_each_host_runs_two_workers_on_the_shared_store(cluster: Cluster) -> None:
    """Both hosts answer from two worker processes each (four in all, none of them the serve
    process itself), and every worker says it uses the cluster's Redis."""
    seen: list[set[int]] = []
    for host in cluster.hosts:
        assert f", store {cluster.store}" in host.served.banner.splitlines()[0], host.served.banner
        assert ", 2 workers" in host.served.banner.splitlines()[0], host.served.banner
        pids = set()
        with ThreadPoolExecutor(8) as pool:  # which worker accepts a connection is the kernel's choice
            for _ in range(10):
                for future in [pool.submit(host.health) for _ in range(32)]:
                    answer = future.result()
                    assert answer.status_code == 200, answer.text
                    body = answer.json()
                    assert body["status"] == "ok"
                    assert body["store"]["url"] == cluster.store
                    pids.add(body["store"]["worker"])
                if len(pids) == 2:
                    break
        assert len(pids) == 2, f"320 fresh connections reached {len(pids)} worker(s) of {host.url}: {pids}"
        assert host.served.process.pid not in pids
        seen.append(pids)
    assert not seen[0] & seen[1]


# -- credits ----------------------------------------------------------------------------------


@FAST
@given(answers=st.sampled_from(CREDIT_COUNTS), extra=st.integers(1, 40))
def test_credits_cover_exactly_the_answers_they_pay_for(cluster: Cluster, answers: int, extra: int) -> None:
    """Credits for ``answers`` - 0.5 answers, ``answers + extra`` requests at once on both hosts:
    exactly ``answers`` are served (the last overspends by half an answer), the rest are 402; both
    hosts report the same spend."""
    key = cluster.pools.credits[answers].take()
    outcomes = hammer(cluster, key, answers + extra, "mockrouter/priced")
    assert statuses(outcomes) == {200: answers, 402: extra}
    assert {o.cost for o in outcomes if o.status == 200} == {COST}
    for refused in (o for o in outcomes if o.status == 402):
        valid("error.anyrouter", refused.error)
        assert refused.error["error"]["code"] == "insufficient_credits"
    credits = (answers - 0.5) * COST
    for host in cluster.hosts:
        headers = {"Authorization": f"Bearer {key}"}
        total = host.http.get(host.base_url + "/credits", headers=headers).json()
        valid("credits", total)
        assert total["data"] == {"total_credits": credits, "total_usage": answers * COST}
        info = host.http.get(host.base_url + "/auth/key", headers=headers).json()["data"]
        assert info["limit"] == credits
        assert info["usage"] == answers * COST
        assert info["limit_remaining"] == -0.5 * COST


# -- rate limits -------------------------------------------------------------------------------


@FAST
@given(limit=st.sampled_from(RATE_LIMITS), factor=st.floats(1.5, 3.0))
def test_a_rate_limit_of_n_admits_exactly_n_across_hosts(cluster: Cluster, limit: int, factor: float) -> None:
    """``rate_limit: {requests: N, window_s: 60}``, 1.5N to 3N requests at once on both hosts:
    exactly N are answered, the others get the router's 429 with a Retry-After within the window."""
    key = cluster.pools.rate[limit].take()
    n = max(limit + 1, round(limit * factor))
    outcomes = hammer(cluster, key, n, "openai/gpt-4o-mini")
    assert statuses(outcomes) == {200: limit, 429: n - limit}
    for limited in (o for o in outcomes if o.status == 429):
        valid("error.anyrouter", limited.error)
        assert limited.headers is not None
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert limited.headers["x-ratelimit-limit"] == str(limit)
        assert limited.headers["x-ratelimit-remaining"] == "0"


# -- cursors ----------------------------------------------------------------------------------


@FAST
@given(n=st.integers(STEPS, 4 * STEPS))
def test_concurrent_requests_of_one_key_take_each_step_once(cluster: Cluster, n: int) -> None:
    """``n`` >= 5 requests at once of one key on a 5-step scenario that ends ``exhausted``: steps
    0..4 are each answered once (by text and by the journal's ``step``), the others are 404."""
    key = cluster.pools.plain.take()
    outcomes = hammer(cluster, key, n, "mockrouter/five-steps")
    assert statuses(outcomes) == ({200: STEPS, 404: n - STEPS} if n > STEPS else {200: STEPS})
    assert sorted(o.content or "" for o in outcomes if o.status == 200) == [f"step-{i}" for i in range(STEPS)]
    for exhausted in (o for o in outcomes if o.status == 404):
        assert "exhausted" in exhausted.error["error"]["message"]
    assert cluster.host(n).wait(key, n)["ok"] is True
    served = [e for e in cluster.host(n + 1).journal(key) if e["status"] == 200]
    assert sorted(e["step"] for e in served) == list(range(STEPS))


def test_each_session_gets_its_steps_in_order_on_alternating_hosts(cluster: Cluster) -> None:
    """24 ``X-Mockrouter-Session`` cursors of one key in parallel, each sending its 5 requests one
    after the other, every other one to the other host: each session gets step-0..step-4 in order,
    and a sixth request finds its cursor exhausted."""
    key = cluster.pools.plain.take()
    clients = [host.sdk(key) for host in cluster.hosts]

    def session(s: int) -> list[Outcome]:
        headers = {"X-Mockrouter-Session": f"session-{s}-{uuid.uuid4().hex}"}
        return [
            ask(clients[(s + j) % 2], (s + j) % 2, "mockrouter/five-steps", extra_headers=headers)
            for j in range(STEPS + 1)
        ]

    with ThreadPoolExecutor(THREADS) as pool:
        sessions = list(pool.map(session, range(24)))
    for outcomes in sessions:
        assert [o.status for o in outcomes] == [200] * STEPS + [404]
        assert [o.content for o in outcomes[:STEPS]] == [f"step-{i}" for i in range(STEPS)]
        assert {o.host for o in outcomes} == {0, 1}


# -- the journal ------------------------------------------------------------------------------


@FAST
@given(m=st.integers(1, 60))
def test_the_journal_holds_every_request_and_every_host_reads_it(cluster: Cluster, m: int) -> None:
    """``m`` requests at once, each with its own text, on both hosts: a ``wait`` for ``m`` on one
    host returns, and then both hosts list the same ``m`` entries: distinct ``req_`` ids, every
    text once, each entry readable by id on the other host."""
    key = cluster.pools.plain.take()
    texts = [f"journal {i} {uuid.uuid4().hex}" for i in range(m)]
    outcomes = hammer(cluster, key, m, "openai/gpt-4o-mini", texts)
    assert statuses(outcomes) == {200: m}
    answer = cluster.hosts[0].wait(key, m)
    assert answer["ok"] is True and answer["count"] == m, answer
    listings = [host.journal(key) for host in cluster.hosts]
    ids = [e["id"] for e in listings[0]]
    assert len(ids) == m and len(set(ids)) == m
    assert all(ID.match(i) for i in ids), ids
    assert sorted(e["body"]["messages"][-1]["content"] for e in listings[0]) == sorted(texts)
    assert [e["id"] for e in listings[1]] == ids
    assert listings[1] == listings[0]
    last = cluster.hosts[1].admin.get(f"/requests/{ids[-1]}")
    assert last.status_code == 200, last.text
    assert last.json()["id"] == ids[-1]


@pytest.mark.parametrize(("waiter", "sender"), [(0, 1), (1, 0)], ids=["wait-on-A", "wait-on-B"])
def test_wait_wakes_on_a_request_the_other_host_served(cluster: Cluster, waiter: int, sender: int) -> None:
    """A ``wait`` for one request of a fresh key, blocked on one host, returns ok as soon as the
    other host has served that request (not at its timeout)."""
    key = cluster.pools.plain.take()
    waiting, serving = cluster.hosts[waiter], cluster.hosts[sender]
    assert waiting.wait(key, 1, timeout_ms=200) == {"ok": False, "count": 0, "waited_ms": pytest.approx(200, abs=150)}
    answers: list[dict[str, Any]] = []
    thread = threading.Thread(target=lambda: answers.append(waiting.wait(key, 1, timeout_ms=10_000)), daemon=True)
    thread.start()
    time.sleep(0.3)  # the wait is blocked by now; the request comes later, on the other host
    sent = time.monotonic()
    assert ask(serving.sdk(key), sender, "openai/gpt-4o-mini").status == 200
    thread.join(12)
    woke = time.monotonic() - sent
    assert answers, "the wait did not return"
    [answer] = answers
    assert answer["ok"] is True and answer["count"] == 1, answer
    assert 250 <= answer["waited_ms"] < 5000, answer
    assert woke < 3


SCOPED = "name: scoped-two\nsteps: [{content: one}, {content: two}]\nthen: exhausted\n"


def post_scoped(host: Host, key: str) -> None:
    response = host.admin.post("/scenarios", params={"key": key}, content=SCOPED)
    assert response.status_code == 201, response.text


def test_a_scoped_scenario_and_a_reset_apply_on_every_host(cluster: Cluster) -> None:
    """A scenario posted for a key on host A answers on host B too, with one cursor for both;
    a reset of the key on B empties its journal and drops its scenario on A as well."""
    a, b = cluster.hosts
    key = cluster.pools.plain.take()

    def ask_on(host: int) -> Outcome:
        return ask(cluster.host(host).sdk(key), host, "mockrouter/scoped-two")

    post_scoped(a, key)
    outcomes = [ask_on(1), ask_on(0), ask_on(1)]
    assert [(o.status, o.content) for o in outcomes] == [(200, "one"), (200, "two"), (404, None)]
    assert a.wait(key, 3)["ok"] is True
    assert len(b.journal(key)) == 3

    reset = b.admin.post("/reset", params={"key": key})
    assert reset.status_code == 200, reset.text
    assert a.journal(key) == []
    gone = ask_on(0)
    assert gone.status == 404 and "No scenario named 'scoped-two'" in gone.error["error"]["message"], gone


def test_a_request_for_a_scenario_dropped_on_another_host_moves_no_cursor(cluster: Cluster) -> None:
    """Host A serves a key's scoped scenario; host B resets the key; A, not knowing yet, is asked
    for the scenario and answers 404. Posted again, the scenario starts at its first step."""
    a, b = cluster.hosts
    key = cluster.pools.plain.take()
    post_scoped(a, key)
    assert ask(a.sdk(key), 0, "mockrouter/scoped-two").content == "one"
    assert b.admin.post("/reset", params={"key": key}).status_code == 200
    assert ask(a.sdk(key), 0, "mockrouter/scoped-two").status == 404
    post_scoped(b, key)
    assert ask(b.sdk(key), 1, "mockrouter/scoped-two").content == "one"


def test_a_long_wait_times_out_with_ok_false(cluster: Cluster) -> None:
    """A ``wait`` for a request that never comes, with a timeout longer than 5 s, answers
    ``{"ok": false}`` at its timeout (a blocking read on Redis is not an unreachable Redis)."""
    key = cluster.pools.plain.take()
    started = time.monotonic()
    response = cluster.hosts[0].admin.post("/wait", json={"key": key, "count": 1, "timeout_ms": 5200})
    elapsed = time.monotonic() - started
    assert response.status_code == 200, response.text
    assert response.json()["ok"] is False and response.json()["count"] == 0
    assert 5.1 <= elapsed < 7


# -- the resilience report --------------------------------------------------------------------


class Alternating(httpx.BaseTransport):
    """Each request (each attempt of the SDK) to the next of ``ports``, round robin."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = itertools.cycle(ports)
        self.sent: list[int] = []
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        port = next(self.ports)
        self.sent.append(port)
        request.url = request.url.copy_with(port=port)
        request.headers["host"] = f"{request.url.host}:{port}"
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def report(host: Host, key: str) -> dict[str, Any]:
    response = host.admin.get("/report", params={"key": key})
    assert response.status_code == 200, response.text
    [data] = response.json()["data"]
    return data


def test_the_report_sees_retries_that_landed_on_the_other_host(cluster: Cluster) -> None:
    """The SDK (max_retries=2) gets the 429 of ``rate-limited`` from host A, waits out its
    Retry-After and retries on host B: both hosts' reports see the two attempts as one well-behaved
    retry (no finding; seen apart, the 429 would be ``no_retry``). A client that retries at once on
    the other host is judged from both attempts: ``retry_after_ignored`` and ``no_backoff``."""
    a, b = cluster.hosts
    polite = cluster.pools.plain.take()
    transport = Alternating([a.port, b.port])
    with httpx.Client(transport=transport, timeout=30) as http:
        reply = a.sdk(polite, max_retries=2, http_client=http).chat.completions.create(
            model="mockrouter/rate-limited", messages=[{"role": "user", "content": USER}]
        )
    assert reply.choices[0].message.content == USER
    assert transport.sent == [a.port, b.port]
    assert a.wait(polite, 2)["ok"] is True
    first, second = b.journal(polite)
    assert (first["status"], second["status"]) == (429, 200)
    assert second["headers"].get("x-stainless-retry-count") == "1"
    for host in cluster.hosts:
        judged = report(host, polite)
        assert judged["requests"] == 2 and judged["findings"] == [], judged

    hasty = cluster.pools.plain.take()
    body = {"model": "mockrouter/rate-limited", "messages": [{"role": "user", "content": USER}]}
    headers = {"Authorization": f"Bearer {hasty}"}
    assert a.http.post(a.base_url + "/chat/completions", json=body, headers=headers).status_code == 429
    assert b.http.post(b.base_url + "/chat/completions", json=body, headers=headers).status_code == 200
    assert b.wait(hasty, 2)["ok"] is True
    limited, ok = a.journal(hasty)
    for host in cluster.hosts:
        judged = report(host, hasty)
        assert judged["requests"] == 2, judged
        assert {f["kind"] for f in judged["findings"]} == {"retry_after_ignored", "no_backoff"}, judged
        for finding in judged["findings"]:
            assert finding["request_ids"] == [limited["id"], ok["id"]]


# -- a Redis outage ---------------------------------------------------------------------------


def test_a_redis_outage_is_503s_then_a_consistent_fresh_state(tmp_path: Path) -> None:
    """Redis killed under a serving process (2 workers), then brought back on the same port.

    While it is away every chat request is a 503 in the dialect's error format naming the store,
    ``/health`` is 503 ``unavailable``, and the serve process and both workers stay up.

    "Correct state after": the Redis here has no persistence, so the one that comes back is
    empty; what was written before the kill (cursors, spend, journal, the counter that numbers
    processes) is gone with it, and that is Redis' doing. What mockrouter owes is a state that
    is consistent with that Redis and with what it served since:

    - the outage requests are journaled (as 503s: kept in the workers, written once Redis is
      back), and so is every request after, each once;
    - cursors and spend are Redis' alone (no stale copy in a worker): a key used before the
      outage starts again at step 0 with nothing spent; a key used after it moved one step per
      answer (not for its 503s) and spent exactly the cost of its answers;
    - the journal reads the same whichever worker answers.

    (A host started after the restart: ``test_a_host_started_after_a_redis_restart_...``.)
    """
    if redis_server_binary() is None:
        pytest.skip("redis-server is not installed")
    run = uuid.uuid4().hex
    keys = {phase: f"sk-outage-{phase}-{run}" for phase in ("before", "during")}
    (tmp_path / "keys.yaml").write_text(
        "keys:\n" + "".join(f"  - key: {k}\n    credits: {1000 * COST}\n" for k in keys.values())
    )
    (tmp_path / "scenarios.yaml").write_text(SCENARIOS)
    args = ("--keys", str(tmp_path / "keys.yaml"), "--scenarios", str(tmp_path / "scenarios.yaml"))
    with RedisProcess() as redis:
        host = serve("--store", redis.url, "--workers", "2", *args)
        try:
            outage(host, redis, keys["before"], keys["during"])
        finally:
            host.stop()


def test_a_host_started_after_a_redis_restart_journals_ids_of_its_own(tmp_path: Path) -> None:
    """Redis restarted empty under host A; host B started after that. Journal ids must stay
    unique across processes (the contract), so both hosts list every request either served since
    the restart, each once."""
    if redis_server_binary() is None:
        pytest.skip("redis-server is not installed")
    key = f"sk-restart-{uuid.uuid4().hex}"
    (tmp_path / "scenarios.yaml").write_text(SCENARIOS)
    hosts: list[Host] = []
    with RedisProcess() as redis:
        try:
            hosts.append(serve("--store", redis.url, "--workers", "2", "--scenarios", str(tmp_path / "scenarios.yaml")))
            old = Chat(hosts[0], key)
            try:
                for i in range(2):
                    assert old(f"before {i}").status == 200
                journal_holding(hosts[0], key, [t for t, _ in old.sent])
                redis.stop()
                redis.start()
                deadline = time.monotonic() + 10
                while old(f"again {len(old.sent)}").status != 200:
                    assert time.monotonic() < deadline, f"no 200 within 10 s of Redis' return: {old.sent[-1]}"
                    time.sleep(0.1)
                for _ in range(8):  # ids of old's workers go on from where they were: about 2 to 6
                    assert old(f"again {len(old.sent)}").status == 200
            finally:
                old.close()
            hosts.append(serve("--store", redis.url, "--workers", "2", "--scenarios", str(tmp_path / "scenarios.yaml")))
            new = Chat(hosts[1], key)
            try:
                for i in range(12):  # ids from 1 to about 6 per worker: the same ids, if numbered alike
                    assert new(f"new host {i}").status == 200
            finally:
                new.close()
            since = [t for t, o in old.sent + new.sent if t.startswith(("again", "new")) and o.status == 200]
            for host in hosts:
                journal_holding(host, key, since)
        finally:
            for host in hosts:
                host.stop()


class Chat:
    """The openai SDK on one key and one host, each request on a fresh connection (so that
    both workers get some); ``sent`` keeps every (text, outcome)."""

    def __init__(self, host: Host, key: str) -> None:
        self.http = httpx.Client(timeout=30, headers={"Connection": "close"})
        self.client = host.sdk(key, http_client=self.http)
        self.sent: list[tuple[str, Outcome]] = []

    def __call__(self, text: str) -> Outcome:
        outcome = ask(self.client, 0, "mockrouter/ten-priced", text)
        self.sent.append((text, outcome))
        return outcome

    def close(self) -> None:
        self.http.close()


def journal_holding(host: Host, key: str, texts: list[str], timeout: float = 1.0) -> list[dict[str, Any]]:
    """The key's journal once it holds every one of ``texts`` (a ``wait`` for that many entries,
    then a bounded poll: the journal may rightly hold more than those, so the wait may return
    early; if it times out, the listing says what is missing)."""
    host.wait(key, len(texts), timeout_ms=3000)
    deadline = time.monotonic() + timeout
    while True:
        entries = host.journal(key)
        held = Counter(text_of(e) for e in entries if e["path"].endswith("/chat/completions"))
        if all(held[t] for t in texts) or time.monotonic() > deadline:
            missing = [t for t in texts if not held[t]]
            assert not missing, f"not in the journal of {host.url}: {missing}; it holds {sorted(held)}"
            assert max(held.values()) == 1, f"journaled twice: {held}"
            assert len({e["id"] for e in entries}) == len(entries), [e["id"] for e in entries]
            return entries
        time.sleep(0.05)


def text_of(entry: dict[str, Any]) -> str | None:
    """The last user text of a journaled chat request (None for a request without a body)."""
    body = entry["body"]
    return body["messages"][-1]["content"] if isinstance(body, dict) else None


def outage(host: Host, redis: RedisProcess, before_key: str, during_key: str) -> None:
    with ThreadPoolExecutor(8) as pool:  # which worker accepts a connection is the kernel's choice: ask until both did
        for _ in range(20):
            assert all(f.result().status_code == 200 for f in [pool.submit(host.health) for _ in range(24)])
            if len(host.workers) == 2:
                break
    assert len(host.workers) == 2, host.workers
    before, during = Chat(host, before_key), Chat(host, during_key)
    try:
        assert [before(f"before {i}").content for i in range(3)] == ["step-0", "step-1", "step-2"]
        journal_holding(host, before_key, [t for t, _ in before.sent])

        redis.stop()
        for i in range(6):
            o = during(f"outage {i}")
            assert o.status == 503, o
            valid("error.anyrouter", o.error)
            message = o.error["error"]["message"]
            assert "state store" in message and redis.url in message, message
        for _ in range(6):
            health = host.health()
            assert health.status_code == 503, health.text
            assert health.json()["status"] == "unavailable"
            assert health.json()["store"]["url"] == redis.url
            assert health.json()["error"]
        assert host.served.process.poll() is None, "".join(host.output)
        for pid in host.workers:
            os.kill(pid, 0)  # still alive (ProcessLookupError otherwise)
        outage_ends = len(during.sent)

        redis.start()
        deadline = time.monotonic() + 10
        while during(f"after {len(during.sent) - outage_ends}").status != 200:
            assert time.monotonic() < deadline, f"no 200 within 10 s of Redis' return: {during.sent[-1]}"
            time.sleep(0.1)
        for _ in range(6):
            o = during(f"after {len(during.sent) - outage_ends}")
            assert o.status == 200, o
        assert {o.status for _, o in during.sent} <= {200, 503}

        entries = journal_holding(host, during_key, [t for t, _ in during.sent])
        status_of = {text_of(e): e["status"] for e in entries}
        assert [status_of[t] for t, _ in during.sent] == [o.status for _, o in during.sent]
        served = [o for _, o in during.sent if o.status == 200]
        assert [o.content for o in served] == [f"step-{i}" for i in range(len(served))]
        assert spent(host, during_key) == len(served) * COST

        # the key used before the outage: Redis forgot its cursor and spend, and so does every worker
        assert [before(f"again {i}").content for i in range(4)] == [f"step-{i}" for i in range(4)]
        assert spent(host, before_key) == 4 * COST
        journal_holding(host, before_key, [f"again {i}" for i in range(4)])
        listings = [host.journal(before_key) for _ in range(12)]  # fresh connections: both workers
        for listing in listings[1:]:
            assert listing == listings[0], "two workers of one process list different journals"
    finally:
        before.close()
        during.close()


def spent(host: Host, key: str) -> float:
    response = host.http.get(host.base_url + "/credits", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text
    return float(response.json()["data"]["total_usage"])


def test_the_inspector_stream_and_cursors_show_the_other_hosts_requests(cluster: Cluster) -> None:
    """``GET events`` on host A delivers, live, the journal entry of a request host B served, and
    ``GET cursors`` on A shows the cursor B moved (the inspector page reads both)."""
    a, b = cluster.hosts
    key = cluster.pools.plain.take()
    post_scoped(a, key)
    seen: list[dict[str, Any]] = []

    def listen() -> None:
        with httpx.stream("GET", a.url + "/__mockrouter/events", timeout=15) as events:
            for line in events.iter_lines():
                if line.startswith("data: {") and '"key_hint"' in line:
                    entry = json.loads(line[len("data: ") :])
                    if entry["key_hint"] == key[-4:]:
                        seen.append(entry)
                        return

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    time.sleep(0.5)  # the stream is open: only entries journaled from now on come
    assert ask(b.sdk(key), 1, "mockrouter/scoped-two").content == "one"
    thread.join(10)
    assert seen, "the event stream of host A never showed host B's request"
    [entry] = seen
    assert entry["scenario"] == "scoped-two" and entry["status"] == 200 and entry["step"] == 0
    cursors = a.admin.get("/cursors").json()["data"]
    assert {"scenario": "scoped-two", "who": "key …" + key[-4:], "served": 1} in cursors
