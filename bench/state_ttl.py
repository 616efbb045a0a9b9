"""Fresh keys stay flat with ``--state-ttl``: RSS after 10k, 50k and 100k requests that each
use a new API key (a long CI run with a key per test), against the in-process app (httpx's
ASGI transport), with a short TTL. Prints each reading, the keys and cursors held, and the
ratio last/first (flat: ≤ 1.10). ``--ttl 0`` shows the growth without expiry.

    python bench/state_ttl.py [--total 100000] [--ttl 1.0] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mockrouter.core.config import Config  # noqa: E402
from mockrouter.http.app import MockrouterApp  # noqa: E402

STEPS = "name: bench-steps\nmatch: {last_user: count}\nsteps:\n  - content: one\n  - content: two\n"


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def run(total: int, ttl: float, concurrency: int, scenario: Path) -> list[tuple[int, int, int, int]]:
    app = MockrouterApp(Config(port=0, speed=0, state_ttl=ttl, scenarios=[scenario]))
    marks = {10_000, 50_000, total}
    readings: list[tuple[int, int, int, int]] = []
    body = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "count"}]}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://mock/api/v1") as client:
        sent = 0
        while sent < total:
            batch = range(sent, min(sent + concurrency, total))
            responses = await asyncio.gather(
                *(
                    client.post("/chat/completions", json=body, headers={"authorization": f"Bearer sk-{i}"})
                    for i in batch
                )
            )
            for response in responses:
                response.raise_for_status()
            sent = batch.stop
            if sent in marks:
                readings.append((sent, rss_kib(), len(app.state.keys), len(app.state.cursors)))
                print(
                    f"{sent:>7} requests: RSS {readings[-1][1] / 1024:7.1f} MiB, "
                    f"{readings[-1][2]} keys, {readings[-1][3]} cursors",
                    flush=True,
                )
    return readings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total", type=int, default=100_000)
    parser.add_argument("--ttl", type=float, default=1.0)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    scenario = Path("/tmp") / "mockrouter-bench-state-ttl.yaml"
    scenario.write_text(STEPS)
    readings = asyncio.run(run(args.total, args.ttl, args.concurrency, scenario))
    print(f"ratio last/first: {readings[-1][1] / readings[0][1]:.3f} (flat: <= 1.10), --state-ttl {args.ttl}")


if __name__ == "__main__":
    main()
