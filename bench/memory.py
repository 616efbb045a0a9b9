"""Memory stays flat: RSS of a running server after 10,000 and after 100,000 requests.

The journal is bounded (``--journal-size``, default 10,000), so once it is full, further
requests must not grow the process. Prints both RSS readings and their ratio (target ≤ 1.10).

    python bench/memory.py [--first 10000] [--total 100000] [--concurrency 32] [--stream-every 4]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import free_port  # noqa: E402


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def load(url: str, count: int, concurrency: int, stream_every: int, offset: int) -> None:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(offset, offset + count):
        queue.put_nowait(i)

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            i = queue.get_nowait()
            body = {
                "model": "openai/gpt-4o-mini",
                "stream": stream_every > 0 and i % stream_every == 0,
                "messages": [{"role": "user", "content": f"request number {i} with some words"}],
            }
            response = await client.post(url, json=body, headers={"authorization": f"Bearer sk-{i % 100}"})
            response.raise_for_status()

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))


def measure(first: int, total: int, concurrency: int = 32, stream_every: int = 4) -> tuple[int, int, float]:
    """(RSS KiB after ``first`` requests, RSS KiB after ``total``, overall req/s)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mockrouter", "serve", "--port", str(port), "--speed", "0"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/api/v1/chat/completions"
    try:
        for _ in range(100):
            try:
                httpx.get(f"http://127.0.0.1:{port}/__mockrouter/health")
                break
            except httpx.TransportError:
                time.sleep(0.1)
        started = time.monotonic()
        asyncio.run(load(url, first, concurrency, stream_every, 0))
        rss_first = rss_kib(proc.pid)
        asyncio.run(load(url, total - first, concurrency, stream_every, first))
        rss_last = rss_kib(proc.pid)
        elapsed = time.monotonic() - started
    finally:
        proc.terminate()
        proc.wait(10)
    return rss_first, rss_last, total / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--first", type=int, default=10_000)
    parser.add_argument("--total", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--stream-every", type=int, default=4)
    args = parser.parse_args()
    first, last, rps = measure(args.first, args.total, args.concurrency, args.stream_every)
    print(f"RSS after {args.first:>7} requests: {first / 1024:7.1f} MiB")
    print(f"RSS after {args.total:>7} requests: {last / 1024:7.1f} MiB")
    print(f"ratio: {last / first:.3f} (target <= 1.10); {rps:.0f} req/s overall")


if __name__ == "__main__":
    main()
