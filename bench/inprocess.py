"""In-process cost per request (no sockets): mockrouter vs the baselines, same payload.

Quick and repeatable enough to steer optimisation; the wrk benchmark (``bench/run.py``) is
the one the targets are judged by. Prints µs per request, the best of several alternating
rounds, and the ratio to the bare Starlette app.

    python bench/inprocess.py [--requests 20000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.baselines import raw_app, starlette_app
from mockrouter.core.config import Config
from mockrouter.http.app import MockrouterApp

BODY = (
    b'{"model":"openai/gpt-4o-mini","stream":false,"messages":[{"role":"system","content":"You are terse."},'
    b'{"role":"user","content":"Say hello to the benchmark, please, in a few words."}]}'
)


def scope_for(body: bytes, path: str = "/api/v1/chat/completions") -> dict:
    return {
        "type": "http",
        "method": "POST",
        "path": path,
        "query_string": b"",
        "headers": [
            (b"host", b"bench"),
            (b"content-type", b"application/json"),
            (b"authorization", b"Bearer sk-bench"),
            (b"content-length", str(len(body)).encode()),
        ],
    }


async def drive(app, body: bytes, n: int, path: str = "/api/v1/chat/completions") -> float:
    message = {"type": "http.request", "body": body, "more_body": False}
    disconnect = {"type": "http.disconnect"}
    sent = []

    async def send(m) -> None:
        sent.append(m)

    started = time.perf_counter()
    for _ in range(n):
        delivered = False

        async def receive():
            nonlocal delivered
            if delivered:
                await asyncio.sleep(0)
                return disconnect
            delivered = True
            return message

        await app(scope_for(body, path), receive, send)
        sent.clear()
    return (time.perf_counter() - started) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    apps = {
        "raw ASGI": raw_app,
        "bare Starlette": starlette_app,
        "mockrouter": MockrouterApp(Config(speed=0, scenarios=[Path(__file__).parent / "scenarios" / "bench.yaml"])),
    }
    for label, body in (("json", BODY), ("stream", BODY.replace(b'"stream":false', b'"stream":true'))):
        best = {name: float("inf") for name in apps}
        for _ in range(args.rounds):
            for name, app in apps.items():
                best[name] = min(best[name], asyncio.run(drive(app, body, args.requests)))
        base = best["bare Starlette"]
        for name, us in best.items():
            print(f"{label:6s} {name:15s} {us:7.1f} µs/request  ({base / us:4.2f}× Starlette's throughput)")


if __name__ == "__main__":
    main()
