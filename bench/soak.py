"""Memory soak: many requests and many streams abandoned half-way must leave memory flat.

    python -m bench.soak                      # 100,000 requests + 10,000 abandoned streams
    python -m bench.soak --requests 3000 --streams 300 --journal-size 300   # what CI runs

Starts `mockrouter serve` in a subprocess (real time, so streams are in flight when the client
leaves), drives it from this process with a minimal keep-alive HTTP/1.1 client on loopback,
and prints the server's RSS: at start, after a warm-up that fills the journal, at checkpoints,
and at the end, with the ratios end/warm-up and end/start. The journal is bounded
(``--journal-size``; oldest entries dropped and counted), so once it is full, memory should
stay flat however long the soak runs.

Each request carries a ~2 KB prompt (the journal keeps the body, so an unbounded journal would
show at once). API keys rotate over ``--keys`` keys (per-key counters and cursors are kept for
every key the server has seen; see the README's Limits).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson
import psutil

ROOT = Path(__file__).resolve().parent.parent
STREAM_SCENARIO = """\
name: soak-stream
description: A long, slow stream (200 chunks, 5 ms apart) for clients to abandon half-way.
steps:
  - content: "{content}"
    timing: {{interval_ms: 5}}
"""
PROMPT = ("The quick brown fox jumps over the lazy dog. " * 45)[:2000]
#: Data events a stream client reads before it closes the connection (of ~200).
READ_BEFORE_LEAVING = 20


@dataclass
class Progress:
    requests: int = 0
    streams: int = 0
    errors: list[str] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _request(path: str, body: bytes, key: str) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status, await reader.readexactly(length)


async def _requests_worker(port: int, count: int, keys: int, offset: int, progress: Progress) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for i in range(count):
            n = offset + i
            body = orjson.dumps(
                {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": f"{n} {PROMPT}"}]}
            )
            writer.write(_request("/api/v1/chat/completions", body, f"sk-soak-{n % keys}"))
            status, _ = await _read_response(reader)
            progress.statuses[status] = progress.statuses.get(status, 0) + 1
            progress.requests += 1
    finally:
        writer.close()


async def _abandoned_stream(port: int, n: int, keys: int, progress: Progress) -> None:
    body = orjson.dumps(
        {"model": "mockrouter/soak-stream", "stream": True, "messages": [{"role": "user", "content": f"{n}"}]}
    )
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(_request("/api/v1/chat/completions", body, f"sk-soak-{n % keys}"))
        seen = b""
        while seen.count(b"data: ") < READ_BEFORE_LEAVING:
            chunk = await reader.read(65536)
            if not chunk:
                progress.errors.append(f"stream {n} ended after {seen.count(b'data: ')} events")
                return
            seen += chunk
        progress.streams += 1
    finally:
        writer.close()  # half-way: the server is still sending


async def drive(port: int, requests: int, streams: int, keys: int, offset: int, concurrency: int) -> Progress:
    """Send ``requests`` requests over ``concurrency`` keep-alive connections while ``streams``
    streams are opened (at most ``concurrency`` at a time) and abandoned half-way."""
    progress = Progress()
    per_worker = [requests // concurrency + (1 if i < requests % concurrency else 0) for i in range(concurrency)]
    starts = [offset + sum(per_worker[:i]) for i in range(concurrency)]
    limit = asyncio.Semaphore(concurrency)

    async def one_stream(n: int) -> None:
        async with limit:
            await _abandoned_stream(port, n, keys, progress)

    await asyncio.gather(
        *(_requests_worker(port, c, keys, s, progress) for c, s in zip(per_worker, starts, strict=True) if c),
        *(one_stream(offset + n) for n in range(streams)),
    )
    return progress


class Server:
    """`mockrouter serve` in a subprocess, with its RSS."""

    def __init__(self, journal_size: int, scenario_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        (scenario_dir / "soak.yaml").write_text(STREAM_SCENARIO.format(content=" ".join(["word"] * 200)))
        self.log_path = scenario_dir / "server.log"
        self._log = self.log_path.open("wb")  # a file, not a pipe: a full pipe would block the server
        flags = ["--port", str(self.port), "--speed", "1", "--journal-size", str(journal_size)]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mockrouter", "serve", *flags, "--scenarios", str(scenario_dir / "soak.yaml")],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
            env={k: v for k, v in os.environ.items() if not k.startswith("MOCKROUTER_")},
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(self.url + "/__mockrouter/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"server did not start: {self.log()}")
            time.sleep(0.05)

    def rss(self) -> int:
        return psutil.Process(self.process.pid).memory_info().rss

    def settle(self) -> bool:
        """Wait until no request is in flight (abandoned streams released); True if so."""
        response = httpx.post(self.url + "/__mockrouter/wait", json={"idle_ms": 300, "timeout_ms": 20000}, timeout=30)
        return response.json()["ok"]

    def health(self) -> dict:
        return httpx.get(self.url + "/__mockrouter/health", timeout=10).json()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-2000:]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        self._log.close()


def soak(
    requests: int, streams: int, journal_size: int, keys: int = 100, concurrency: int = 32, checkpoints: int = 5
) -> dict:
    """Run the soak; return the measurements (RSS in bytes)."""
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(journal_size, Path(tmp))
        try:
            out: dict = {"rss_start": server.rss(), "checkpoints": [], "statuses": {}, "errors": []}
            # warm-up: fill the journal (and a bit more), abandon a tenth of the streams
            warm_requests = min(requests, max(journal_size + journal_size // 5, requests // 10))
            warm_streams = streams // 10
            sent, abandoned, started = 0, 0, time.perf_counter()

            def run(n_requests: int, n_streams: int) -> None:
                nonlocal sent, abandoned
                progress = asyncio.run(drive(server.port, n_requests, n_streams, keys, sent, concurrency))
                sent += progress.requests
                abandoned += progress.streams
                for status, n in progress.statuses.items():
                    out["statuses"][status] = out["statuses"].get(status, 0) + n
                out["errors"] += progress.errors

            run(warm_requests, warm_streams)
            out["settled_warm"] = server.settle()
            out["rss_warm"] = server.rss()
            rest_requests, rest_streams = requests - warm_requests, streams - warm_streams
            for i in range(checkpoints):
                run(
                    rest_requests // checkpoints + (rest_requests % checkpoints if i == checkpoints - 1 else 0),
                    rest_streams // checkpoints + (rest_streams % checkpoints if i == checkpoints - 1 else 0),
                )
                out["checkpoints"].append((sent, abandoned, server.rss()))
            out["seconds"] = time.perf_counter() - started
            out["settled_end"] = server.settle()
            out["rss_end"] = server.rss()
            out["health"] = server.health()
            out["server_log"] = server.log()
            out["requests"], out["streams"] = sent, abandoned
            return out
        finally:
            server.stop()


def _mib(n: int) -> str:
    return f"{n / 2**20:7.1f} MiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--streams", type=int, default=10_000)
    parser.add_argument("--journal-size", type=int, default=10_000)
    parser.add_argument("--keys", type=int, default=100, help="distinct API keys, used round-robin")
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    out = soak(args.requests, args.streams, args.journal_size, args.keys, args.concurrency)
    print(f"{out['requests']} requests, {out['streams']} streams abandoned after {READ_BEFORE_LEAVING} events, "
          f"{out['seconds']:.1f} s, statuses {out['statuses']}, errors {len(out['errors'])}")  # fmt: skip
    print(f"RSS at start            {_mib(out['rss_start'])}")
    print(f"RSS after warm-up       {_mib(out['rss_warm'])}  (journal full: {args.journal_size} entries)")
    for sent, abandoned, rss in out["checkpoints"]:
        print(f"RSS at {sent:>7} + {abandoned:>6} {_mib(rss)}")
    print(f"RSS at end              {_mib(out['rss_end'])}")
    print(f"end / warm-up           {out['rss_end'] / out['rss_warm']:.3f}")
    print(f"end / start             {out['rss_end'] / out['rss_start']:.3f}")
    journal = out["health"]["journal"]
    print(f"journal: {journal['entries']} entries, {journal['dropped']} dropped; in flight at end: "
          f"{'none' if out['settled_end'] else 'SOME (streams not released)'}")  # fmt: skip
    for error in out["errors"][:5]:
        print("error:", error)
    if out["server_log"].strip():
        print("server log (tail):", out["server_log"])


if __name__ == "__main__":
    main()
