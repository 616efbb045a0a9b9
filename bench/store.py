"""The Redis store (issue #14): what a shared store costs one worker, measured against the
memory store in the same run (the machine is shared and noisy: only ratios are judged).

1. **Throughput.** Non-stream chat, ONE worker each: ``mockrouter serve --store memory://``
   against ``--store redis://127.0.0.1:P/0`` (a ``redis-server`` this script starts, no
   persistence), the same scenario (``bench/scenarios/bench.yaml``) and the same load: wrk
   ``-t1 -c64`` with ``bench/chat.lua`` as ``bench/run.py`` does (a raw-socket asyncio loader
   when wrk is missing). Rounds interleave the two (which goes first alternates), medians are
   kept. Printed: req/s, p99, the server's and Redis' CPU per request (user + sys from
   /proc), and the ratio redis/memory (target >= 0.60).
   1b. **The store call alone**, in process without HTTP: ``begin`` + ``journal_add`` (a
   request's store work) on the memory store and on the Redis store, one and 64 at a time:
   CPU per call, so what the worker's CPU per request is made of.
2. **Round trips per request.** The worker's own counts (``GET /__mockrouter/health`` →
   ``store.round_trips`` / ``store.requests``) and Redis' (``INFO commandstats``: calls per
   request of each command, scripts' inner commands included), before and after a fixed
   number of requests one at a time, then ten times as many 64 at a time, for: any key without
   a keys file (contract: 1 round trip: EVALSHA + GET + XADD), and with a keys file a key
   without limits (1), a key with credits (2) and a key with its own rate limit (2).
   ``MONITOR`` over a few requests of each splits the commands the worker sent from those its
   Lua scripts ran; Redis' command time per request counts the worker's commands only.
3. **Memory flat over fresh keys.** 100,000 requests, each with a new API key and a two-step
   scenario (a counter and a cursor per key, as ``bench/state_ttl.py`` does for the memory
   store), ``--state-ttl 1``: Redis ``used_memory`` / ``used_memory_rss``, its key count, the
   journal stream's length and the worker's RSS after 10k, 50k and 100k requests; ratio
   last/first (flat: <= 1.10; the journal is capped by ``--journal-size``). ``--ttl 0``
   shows the growth without expiry.
4. **Redis' ceiling.** ``redis-benchmark -q -t set,get -n 100000`` (one round trip per
   command, 50 clients) and, from part 1, Redis' CPU per mockrouter request against the
   worker's: how many requests per second one Redis core serves, so how many busy workers it
   can feed.

Exits 1 when a target is missed (throughput ratio, round trips of the plain path 64 at a time,
memory ratio); ``--quick`` runs every part briefly (the test suite's smoke run; part 2 without
the keys file) and judges nothing.

    python bench/store.py [--duration 10] [--rounds 3] [--requests 200] [--total 100000]
                          [--ttl 1] [--journal-size 10000] [--no-wrk] [--quick]
                          [--only throughput,calls,trips,memory,ceiling]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import functools
import itertools
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
for _path in (ROOT, ROOT / "tests"):  # run as a script: ``bench.run`` and the tests' RedisProcess
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from redis_process import RedisProcess  # noqa: E402

from bench.run import PYTHON, Target, free_port, mockrouter_target, pin, wrk  # noqa: E402

CHAT = "/api/v1/chat/completions"
#: chat.lua's body (non-stream), so the Python loader and wrk send the same request.
BODY = (
    b'{"model":"openai/gpt-4o-mini","stream":false,"messages":[{"role":"system","content":"You are terse."},'
    b'{"role":"user","content":"Say hello to the benchmark, please, in a few words."}]}'
)
#: Part 3: a two-step scenario (each fresh key leaves a request count and a cursor).
STEPS = "name: bench-steps\nmatch: {last_user: count}\nsteps:\n  - content: one\n  - content: two\n"
STEPS_BODY = b'{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"count"}]}'
#: Part 2: one key of each kind the contract counts round trips for.
KEYS = """keys:
  - key: sk-bench
  - key: sk-credits
    credits: 1000000
  - key: sk-rate
    rate_limit: {requests: 1000000000, window_s: 3600}
"""
TICK = os.sysconf("SC_CLK_TCK")


# -- processes and Redis -----------------------------------------------------------------------


def cpu_s(pid: int) -> float:
    """user + sys CPU seconds of a process (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def info(redis: RedisProcess, section: str) -> dict[str, str]:
    raw = redis.command("INFO", section).decode()
    pairs = (line.split(":", 1) for line in raw.splitlines() if ":" in line and not line.startswith("#"))
    return {name: value.strip() for name, value in pairs}


def commandstats(redis: RedisProcess) -> dict[str, tuple[int, int]]:
    """Command → (calls, µs) since start; our own INFO/MONITOR/DBSIZE calls left out."""
    stats = {}
    for name, value in info(redis, "commandstats").items():
        fields = dict(part.split("=", 1) for part in value.split(","))
        command = name.removeprefix("cmdstat_")
        if command not in ("info", "monitor", "dbsize", "xlen", "flushall", "config|resetstat", "memory|purge"):
            stats[command] = (int(fields["calls"]), int(fields["usec"]))
    return stats


def integer(reply: bytes) -> int:
    return int(reply.strip().lstrip(b":"))


def pin_pid(pid: int, cpu: int) -> None:
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        subprocess.run(["taskset", "-pc", str(cpu), str(pid)], capture_output=True, check=False)


def start_redis() -> RedisProcess:
    """A fresh redis-server pinned to CPU 1 (with the load generator; the worker has CPU 0)."""
    redis = RedisProcess().start()
    assert redis.pid is not None
    pin_pid(redis.pid, 1)
    return redis


def stop_redis(redis: RedisProcess) -> None:
    redis.__exit__(None, None, None)


def serve_command(port: int, store: str, *extra: str, scenario: Path | None = None) -> list[str]:
    if scenario is None:
        command = mockrouter_target(port)
    else:
        command = [PYTHON, "-m", "mockrouter", "serve", "--port", str(port), "--speed", "0"]
        command += ["--scenarios", str(scenario)]
    return [*command, "--store", store, *extra]


def health(port: int) -> dict:
    response = httpx.get(f"http://127.0.0.1:{port}/__mockrouter/health", timeout=10)
    response.raise_for_status()
    return response.json()


def store_counts(port: int) -> tuple[int, int]:
    """(round_trips, requests) of the worker, from its health."""
    store = health(port).get("store") or {}
    return int(store.get("round_trips", 0)), int(store.get("requests", 0))


def worker_pid(target: Target) -> int:
    """The worker's PID: the health's ``store.worker`` (one worker), else the process started."""
    assert target.proc is not None
    pid = (health(target.port).get("store") or {}).get("worker")
    return int(pid) if pid else target.proc.pid


# -- a raw-socket loader (no client library in the way; also wrk's stand-in) ---------------------


def request_bytes(key: str, body: bytes = BODY) -> bytes:
    return (
        f"POST {CHAT} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {key}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


async def read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    if length := re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head):
        await reader.readexactly(int(length.group(1)))
    elif re.search(rb"(?i)\r\ntransfer-encoding:\s*chunked", head):
        while True:
            size = int((await reader.readline()).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    return status


@dataclass
class Load:
    sent: int = 0
    elapsed: float = 0.0
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    latencies: list[float] = field(default_factory=list)  # ms

    @property
    def rps(self) -> float:
        return self.sent / self.elapsed if self.elapsed else 0.0

    @property
    def p99(self) -> float:
        return statistics.quantiles(self.latencies, n=100)[98] if len(self.latencies) > 1 else 0.0


async def _load(
    port: int, request: Callable[[int], bytes], start: int, count: int | None, duration: float | None, concurrency: int
) -> Load:
    result = Load()
    indexes = iter(range(start, start + count)) if count is not None else itertools.count(start)
    began = time.perf_counter()
    deadline = began + duration if duration is not None else float("inf")

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < deadline:
                i = next(indexes, None)
                if i is None:
                    return
                t0 = time.perf_counter()
                writer.write(request(i))
                result.statuses[await read_response(reader)] += 1
                result.latencies.append((time.perf_counter() - t0) * 1000)
                result.sent += 1
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.elapsed = time.perf_counter() - began
    return result


def load(
    port: int,
    request: Callable[[int], bytes],
    *,
    start: int = 0,
    count: int | None = None,
    duration: float | None = None,
    concurrency: int = 1,
) -> Load:
    return asyncio.run(_load(port, request, start, count, duration, concurrency))


def plain(i: int) -> bytes:
    return request_bytes("sk-bench")


def last_line(target: Target) -> str:
    lines = [line for line in target.stderr_tail(4000).splitlines() if line.strip()]
    return lines[-1].strip()[:200] if lines else "(nothing)"


def problems(result: Load) -> str:
    bad = {status: n for status, n in result.statuses.items() if not 200 <= status < 300}
    return ", ".join(f"{n} × {status}" for status, n in sorted(bad.items()))


# -- 1. throughput ------------------------------------------------------------------------------


@dataclass
class Round:
    rps: float
    p99: float
    server_us: float  # server CPU per request
    redis_us: float | None  # Redis CPU per request
    trips: float | None  # round trips per request (health)
    problems: str


def measure_round(target: Target, redis: RedisProcess | None, duration: int, warmup: int, use_wrk: bool) -> Round:
    url = f"http://127.0.0.1:{target.port}{CHAT}"
    target.start()
    try:
        pid = worker_pid(target)
        if warmup and use_wrk:
            wrk(url, warmup, False)
        elif warmup:
            load(target.port, plain, duration=warmup, concurrency=64)
        assert redis is None or redis.pid is not None
        trips0, served0 = store_counts(target.port)
        cpu0, redis0 = cpu_s(pid), cpu_s(redis.pid) if redis and redis.pid else 0.0
        if use_wrk:
            res = wrk(url, duration, False)
            rps, p99, trouble = res.rps, res.p99, res.problems
        else:
            res2 = load(target.port, plain, duration=duration, concurrency=64)
            rps, p99, trouble = res2.rps, res2.p99, problems(res2)
        cpu1, redis1 = cpu_s(pid), cpu_s(redis.pid) if redis and redis.pid else 0.0
        trips1, served1 = store_counts(target.port)
        if trouble:
            trouble += f"; server's stderr ends: {last_line(target)}"
    finally:
        target.stop()
    count = rps * duration
    trips = (trips1 - trips0) / (served1 - served0) if redis is not None and served1 > served0 else None
    return Round(
        rps,
        p99,
        (cpu1 - cpu0) * 1e6 / count,
        (redis1 - redis0) * 1e6 / count if redis is not None else None,
        trips,
        trouble,
    )


def throughput(redis: RedisProcess, duration: int, rounds: int, warmup: int, use_wrk: bool) -> dict[str, Round]:
    targets = {
        "memory": Target("memory://", serve_command(p := free_port(), "memory://"), p),
        "redis": Target(redis.url, serve_command(p := free_port(), redis.url), p),
    }
    results: dict[str, list[Round]] = {name: [] for name in targets}
    for n in range(rounds):
        order = list(targets) if n % 2 == 0 else list(reversed(targets))
        for name in order:
            redis.command("FLUSHALL")
            got = measure_round(targets[name], redis if name == "redis" else None, duration, warmup, use_wrk)
            results[name].append(got)
            print(
                f"  round {n + 1} {name:6s}: {got.rps:8.0f} req/s, p99 {got.p99:6.2f} ms, "
                f"server CPU {got.server_us:5.0f} µs/req"
                + (f", Redis CPU {got.redis_us:5.1f} µs/req" if got.redis_us is not None else "")
                + (f", round trips/req {got.trips:.3f}" if got.trips is not None else "")
                + (f"  ({got.problems})" if got.problems else ""),
                flush=True,
            )
    medians = {}
    for name, rs in results.items():
        medians[name] = Round(
            statistics.median(r.rps for r in rs),
            statistics.median(r.p99 for r in rs),
            statistics.median(r.server_us for r in rs),
            statistics.median(r.redis_us for r in rs) if rs[0].redis_us is not None else None,
            statistics.median(r.trips for r in rs) if all(r.trips is not None for r in rs) else None,
            "; ".join(dict.fromkeys(r.problems for r in rs if r.problems)),
        )
    return medians


# -- 2. round trips -------------------------------------------------------------------------------


class Monitor:
    """Redis' MONITOR on its own connection: every command, noting whether a client (the
    worker) or a Lua script sent it."""

    LINE = re.compile(rb'^\+[\d.]+ \[\d+ ([^\]]+)\] "([^"]+)"')

    def __init__(self, redis: RedisProcess) -> None:
        self.sock = socket.create_connection(("127.0.0.1", redis.port), timeout=5)
        self.sock.sendall(b"MONITOR\r\n")
        self.file = self.sock.makefile("rb")
        assert self.file.readline().startswith(b"+OK")
        self.seen: collections.Counter[tuple[str, str]] = collections.Counter()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for line in self.file:
                if match := self.LINE.match(line):
                    source = "script" if match.group(1) == b"lua" else "client"
                    self.seen[(source, match.group(2).decode().lower())] += 1
        except (OSError, ValueError):
            pass

    def close(self) -> collections.Counter[tuple[str, str]]:
        time.sleep(0.2)  # the last lines
        self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self.thread.join(5)
        return self.seen


def per_request(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]], served: int) -> str:
    calls = {
        name: (calls - before.get(name, (0, 0))[0]) / served
        for name, (calls, _) in after.items()
        if calls > before.get(name, (0, 0))[0]
    }
    total = sum(calls.values())
    return ", ".join(f"{name} {n:.2f}" for name, n in sorted(calls.items(), key=lambda kv: -kv[1])) + (
        f" (total {total:.2f})"
    )


def settle() -> None:
    """Let the last request's journal entry be flushed (the idle flush) before reading counts."""
    time.sleep(0.1)


@dataclass
class Kind:
    label: str
    key: str
    keys_file: bool
    expected: int  # round trips per request under concurrency, by the contract


#: Part 2's keys: without a keys file (the throughput case), and a keys file's three kinds.
TRIP_KINDS = [
    Kind("any key, no keys file", "sk-bench", False, 1),
    Kind("keys file, no limits", "sk-bench", True, 1),
    Kind("keys file, credits", "sk-credits", True, 2),
    Kind("keys file, own rate limit", "sk-rate", True, 2),
]


@dataclass
class Trips:
    sequential: float
    concurrent: float
    calls: str  # Redis calls per request, sequential
    usec: float  # Redis command time per request (commandstats), concurrent


def counted(
    redis: RedisProcess,
    target: Target,
    request: Callable[[int], bytes],
    count: int,
    concurrency: int,
    inner: set[str],
) -> tuple[float, str, float, str, str]:
    """(round trips per request by the worker's counts, Redis calls per request, Redis command
    µs per request and per command, problems) over ``count`` requests. The command time counts only what the
    worker sent: a script's time includes its ``inner`` commands', which commandstats also lists."""
    settle()
    trips0, served0 = store_counts(target.port)
    stats0 = commandstats(redis)
    got = load(target.port, request, count=count, concurrency=concurrency)
    settle()
    stats1 = commandstats(redis)
    trips1, served1 = store_counts(target.port)
    served = served1 - served0
    ratio = (trips1 - trips0) / served if served > 0 else float("nan")
    usec = sum(u - stats0.get(name, (0, 0))[1] for name, (_, u) in stats1.items() if name not in inner)
    usec /= max(served, 1)
    per_call = {
        name: (u - stats0.get(name, (0, 0))[1]) / (c - stats0.get(name, (0, 0))[0])
        for name, (c, u) in stats1.items()
        if name not in inner and c > stats0.get(name, (0, 0))[0]
    }
    timing = f"{usec:.1f} µs (" + ", ".join(f"{name} {u:.2f}" for name, u in sorted(per_call.items())) + " µs per call)"
    trouble = problems(got)
    if served != count:
        trouble = "; ".join(filter(None, [trouble, f"the worker counted {served} requests of {count}"]))
    if trouble:
        trouble += f"; server's stderr ends: {last_line(target)}"
    return ratio, per_request(stats0, stats1, max(served, 1)), usec, timing, trouble


def trips(
    redis: RedisProcess, requests: int, folder: Path, keys_files: tuple[bool, ...] = (False, True)
) -> dict[str, Trips]:
    """Round trips per request (the worker's counts) for each kind of key: one request at a
    time, then 64 at a time; MONITOR over a few requests of each. ``keys_files``: which servers
    (without a keys file, with one)."""
    keys = folder / "keys.yaml"
    keys.write_text(KEYS)
    found: dict[str, Trips] = {}
    for keys_file in keys_files:
        redis.command("FLUSHALL")
        extra = ["--keys", str(keys)] if keys_file else []
        target = Target(redis.url, serve_command(p := free_port(), redis.url, *extra), p)
        target.start()
        try:
            for kind in (k for k in TRIP_KINDS if k.keys_file == keys_file):
                request = functools.partial(lambda key, i: request_bytes(key), kind.key)
                load(target.port, request, count=5)  # its state made
                # MONITOR: which commands the worker sends, which its scripts run
                sample = min(20, requests)
                settle()
                monitor = Monitor(redis)
                load(target.port, request, count=sample)
                settle()
                seen = monitor.close()
                inner = {name for source, name in seen if source == "script"}
                seq, calls, _, _, trouble = counted(redis, target, request, requests, 1, inner)
                conc, calls_conc, usec, timing, trouble_conc = counted(redis, target, request, 10 * requests, 64, inner)
                found[kind.label] = Trips(seq, conc, calls, usec)
                print(
                    f"  {kind.label}: {seq:.3f} round trips per request one at a time ({requests} requests), "
                    f"{conc:.3f} 64 at a time ({10 * requests}); contract {kind.expected}",
                    flush=True,
                )
                for source in ("client", "script"):
                    mine = {name: n / sample for (src, name), n in seen.items() if src == source}
                    listed = ", ".join(f"{name} {n:.2f}" for name, n in sorted(mine.items(), key=lambda kv: -kv[1]))
                    print(f"    MONITOR, {sample} requests one at a time, sent by the {source}: {listed}")
                print(f"    commandstats per request, one at a time: {calls}")
                print(f"    commandstats per request, 64 at a time:  {calls_conc}")
                print(f"    Redis command time per request, 64 at a time (scripts whole): {timing}")
                for note in filter(None, [trouble, trouble_conc]):
                    print(f"    ({note})")
        finally:
            target.stop()
    return found


# -- 3. memory ------------------------------------------------------------------------------------


def memory(redis: RedisProcess, total: int, marks: list[int], ttl: float, journal: int, folder: Path) -> float:
    scenario = folder / "steps.yaml"
    scenario.write_text(STEPS)
    redis.command("FLUSHALL")
    extra = ["--state-ttl", str(ttl), "--journal-size", str(journal)]
    target = Target(redis.url, serve_command(p := free_port(), redis.url, *extra, scenario=scenario), p)
    readings: list[tuple[int, int, int, int]] = []
    target.start()
    try:
        pid = worker_pid(target)
        sent = 0
        began = time.perf_counter()
        for mark in marks:
            got = load(target.port, lambda i: request_bytes(f"sk-fresh-{i}", STEPS_BODY), start=sent, count=mark - sent,
                       concurrency=16)  # fmt: skip
            if trouble := problems(got):
                print(f"  ({trouble})")
            sent = mark
            settle()
            mem = info(redis, "memory")
            keys = integer(redis.command("DBSIZE"))
            stream = integer(redis.command("XLEN", "mr:journal"))
            readings.append((sent, int(mem["used_memory"]), int(mem["used_memory_rss"]), rss_kib(pid)))
            print(
                f"  {sent:>7} requests ({sent / (time.perf_counter() - began):.0f}/s): Redis used_memory "
                f"{readings[-1][1] / 2**20:6.1f} MiB (RSS {readings[-1][2] / 2**20:6.1f}), {keys} keys, "
                f"journal stream {stream} entries; worker RSS {readings[-1][3] / 1024:6.1f} MiB",
                flush=True,
            )
    finally:
        target.stop()
    first, last = readings[0], readings[-1]
    print(
        f"  ratio last/first: Redis used_memory {last[1] / first[1]:.3f}, Redis RSS {last[2] / first[2]:.3f}, "
        f"worker RSS {last[3] / first[3]:.3f} (flat: <= 1.10), --state-ttl {ttl}, --journal-size {journal}"
    )
    return max(last[1] / first[1], last[3] / first[3])


# -- the store call alone, in process ------------------------------------------------------------


async def _store_calls(url: str, calls: int, concurrency: int) -> tuple[float, float, int]:
    """(CPU µs of this process per call, calls per second, round trips) of ``begin`` + ``journal_add``
    (a request's store work), ``concurrency`` at a time, on the store ``url``."""
    from mockrouter.state import make_store
    from mockrouter.state.journal import Journal, JournalEntry
    from mockrouter.state.store import Begin, State

    store = make_store(url, State(Journal(10_000)), journal_size=10_000, ttl=3600)
    await store.open()
    headers = ((b"content-type", b"application/json"), (b"authorization", b"Bearer sk-bench"))

    async def one() -> None:
        await store.begin(Begin(state_key="sk-bench", key="sk-bench", window_s=60.0, scenario="bench"))
        entry = JournalEntry(store.next_id(), "POST", CHAT, "", headers, "sk-bench", "anyrouter")
        store.journal_add(entry)

    async def worker(count: int) -> None:
        for _ in range(count):
            await one()

    await worker(100)
    trips0 = getattr(store, "round_trips", 0)
    cpu0, began = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker(calls // concurrency) for _ in range(concurrency)))
    cpu1, ended = time.process_time(), time.perf_counter()
    done = calls // concurrency * concurrency
    trips = getattr(store, "round_trips", 0) - trips0
    await store.close()
    return (cpu1 - cpu0) * 1e6 / done, done / (ended - began), trips


def store_calls(redis: RedisProcess, calls: int) -> dict[str, float]:
    """The store's share of a request without HTTP: this process on CPU 0 (as the worker)."""
    try:
        import uvloop

        run = uvloop.run
    except ImportError:  # pragma: no cover
        run = asyncio.run
    affinity = os.sched_getaffinity(0)
    if (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {0})
    found = {}
    try:
        for url in ("memory://", redis.url):
            for concurrency in (1, 64):
                cpu, rate, round_trips = run(_store_calls(url, calls, concurrency))
                found[f"{url.split(':')[0]} {concurrency}"] = cpu
                print(
                    f"  {url.split(':')[0]:6s} store, {concurrency:2d} at a time: {cpu:6.1f} µs CPU per begin + "
                    f"journal_add, {rate:8,.0f} calls/s" + (f", {round_trips} round trips" if round_trips else ""),
                    flush=True,
                )
    finally:
        os.sched_setaffinity(0, affinity)
    return found


# -- 4. Redis' ceiling ------------------------------------------------------------------------------


def redis_benchmark(requests: int) -> dict[str, float]:
    if not shutil.which("redis-benchmark"):
        print("  redis-benchmark is not installed: skipped")
        return {}
    redis = start_redis()
    try:
        done = subprocess.run(
            [*pin(0), "redis-benchmark", "-p", str(redis.port), "-q", "-t", "set,get", "-n", str(requests)],
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        stop_redis(redis)
    rates = {m.group(1): float(m.group(2)) for m in re.finditer(r"(\w+): ([\d.]+) requests per second", done.stdout)}
    for name, rate in rates.items():
        print(f"  redis-benchmark {name}: {rate:,.0f} requests/s (50 clients, one command per round trip)")
    return rates


# -------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per throughput round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--requests", type=int, default=200, help="sequential requests per key kind (part 2)")
    parser.add_argument("--total", type=int, default=100_000, help="fresh-key requests (part 3)")
    parser.add_argument("--ttl", type=float, default=1.0, help="--state-ttl of part 3 (0: never expire)")
    parser.add_argument("--journal-size", type=int, default=10_000)
    parser.add_argument("--only", default="throughput,calls,trips,memory,ceiling")
    parser.add_argument("--no-wrk", action="store_true", help="use the Python loader even if wrk is installed")
    parser.add_argument("--quick", action="store_true", help="every part briefly; judges nothing (smoke)")
    args = parser.parse_args()
    parts = set(args.only.split(","))
    if args.quick:
        args.duration, args.rounds, args.warmup, args.requests = 1, 1, 0, 10
        args.total, args.journal_size = 600, 50
    marks = sorted({m for m in (args.total // 10, args.total // 2, args.total) if m > 0})
    use_wrk = bool(shutil.which("wrk")) and not args.no_wrk
    if (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})  # the Python loader on CPU 1; the worker is pinned to CPU 0
    loader = "wrk -t1 -c64 (bench/chat.lua)" if use_wrk else "the Python raw-socket loader, 64 connections"
    missed: list[str] = []
    redis = start_redis()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            rounds: dict[str, Round] = {}
            if "throughput" in parts:
                print(
                    f"1. throughput, non-stream chat, one worker: median of {args.rounds} rounds, {args.duration} s "
                    f"each, {loader}; worker on CPU 0, Redis and the loader on CPU 1",
                    flush=True,
                )
                rounds = throughput(redis, args.duration, args.rounds, args.warmup, use_wrk)
                mem, red = rounds["memory"], rounds["redis"]
                ratio = red.rps / mem.rps if mem.rps else 0.0
                print(f"  {'store':10s} {'req/s':>8s} {'p99 ms':>7s} {'server µs/req':>14s} {'Redis µs/req':>13s}")
                for name, row in rounds.items():
                    redis_us = f"{row.redis_us:13.1f}" if row.redis_us is not None else f"{'-':>13s}"
                    print(f"  {name:10s} {row.rps:8.0f} {row.p99:7.2f} {row.server_us:14.0f} {redis_us}")
                print(
                    f"throughput redis/memory: {ratio:.2f}× (target >= 0.60), p99 {red.p99 / mem.p99:.2f}×, "
                    f"server CPU per request {red.server_us / mem.server_us:.2f}×",
                    flush=True,
                )
                if ratio < 0.6:
                    missed.append(f"throughput ratio {ratio:.2f} < 0.60")
            if "calls" in parts:
                print(
                    "\n1b. the store call alone, in process (no HTTP): begin + journal_add, this process on CPU 0",
                    flush=True,
                )
                cost = store_calls(redis, 256 if args.quick else 5_000)
                added = cost["redis 64"] - cost["memory 64"]
                print(f"store call CPU, redis - memory, 64 at a time: {added:.0f} µs per request", flush=True)
                if rounds:
                    mem = rounds["memory"]
                    print(
                        f"  a worker at {mem.server_us:.0f} µs per request (memory store) plus {added:.0f} µs: "
                        f"at most {mem.server_us / (mem.server_us + added):.2f}× its rate when CPU-bound"
                    )
            found: dict[str, Trips] = {}
            if "trips" in parts:
                print("\n2. round trips per request (worker's health counts; Redis INFO commandstats)", flush=True)
                found = trips(redis, args.requests, Path(tmp), (False,) if args.quick else (False, True))
                print(
                    "round trips per request, one at a time / 64 at a time: "
                    + ", ".join(f"{label} {t.sequential:.2f} / {t.concurrent:.2f}" for label, t in found.items()),
                    flush=True,
                )
                plain_trips = found[TRIP_KINDS[0].label].concurrent
                if not plain_trips <= 1.05:  # NaN (no counts) misses too
                    missed.append(
                        f"round trips per request, no keys file, 64 at a time: {plain_trips:.3f} (contract 1)"
                    )
            if "memory" in parts:
                print(f"\n3. memory over {args.total:,} fresh keys (16 at a time, Python loader)", flush=True)
                flat = memory(redis, args.total, marks, args.ttl, args.journal_size, Path(tmp))
                print(
                    f"memory last/first (worst of Redis used_memory and worker RSS): {flat:.3f}× (<= 1.10)"
                    + ("" if args.ttl > 0 else ", not judged with --ttl 0")
                )
                if flat > 1.10 and args.ttl > 0:
                    missed.append(f"memory ratio {flat:.3f} > 1.10")
            if "ceiling" in parts:
                print("\n4. Redis' ceiling", flush=True)
                rates = redis_benchmark(2_000 if args.quick else 100_000)
                red = rounds.get("redis")
                if red is not None and red.redis_us:
                    ceiling = 1e6 / red.redis_us
                    print(
                        f"  Redis CPU per mockrouter request {red.redis_us:.1f} µs → one Redis core serves "
                        f"~{ceiling:,.0f} requests/s; a worker's CPU per request {red.server_us:.0f} µs "
                        f"(~{1e6 / red.server_us:,.0f}/s on a core of its own) → one Redis feeds "
                        f"~{red.server_us / red.redis_us:.1f} busy workers"
                    )
                if red is not None and rates.get("GET"):
                    print(
                        f"  by redis-benchmark GET ({rates['GET']:,.0f}/s, one round trip each): "
                        f"~{rates['GET'] * red.server_us / 1e6:.1f} busy workers at one round trip per request"
                    )
                if found:
                    usec = found[TRIP_KINDS[0].label].usec
                    print(f"  commands alone (no I/O): {usec:.1f} µs per request → {1e6 / usec:,.0f}/s")
    finally:
        stop_redis(redis)
    if args.quick:
        print("\nquick run: nothing judged")
        return
    print("\n" + ("MISSED: " + "; ".join(missed) if missed else "every target met"))
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    main()
