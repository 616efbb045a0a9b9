"""In-process cost per request on each API surface, against chat completions of the same build.

Issue #12's targets: a non-stream answer on Messages and on Responses at >= 0.9x the chat
completions rate, a 20-event stream at >= 0.8x. The same scripted answer (bench/scenarios/
bench.yaml) is asked for in each surface's shape; rounds alternate and the best is kept. The
wrk suite (``bench/run``) measures the same ratios over sockets.

    python bench/surfaces.py [--requests 20000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.inprocess import BODY, drive
from mockrouter.core.config import Config
from mockrouter.http.app import MockrouterApp

PROMPT = b"Say hello to the benchmark, please, in a few words."
#: (route, non-stream body) per surface; ``"stream":false`` is flipped for the stream runs.
SURFACES = {
    "chat": ("/api/v1/chat/completions", BODY),
    "messages": (
        "/api/v1/messages",
        b'{"model":"openai/gpt-4o-mini","max_tokens":1024,"stream":false,"system":"You are terse.",'
        b'"messages":[{"role":"user","content":"' + PROMPT + b'"}]}',
    ),
    "responses": (
        "/api/v1/responses",
        b'{"model":"openai/gpt-4o-mini","stream":false,"instructions":"You are terse.","input":"' + PROMPT + b'"}',
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    app = MockrouterApp(Config(speed=0, scenarios=[Path(__file__).parent / "scenarios" / "bench.yaml"]))
    for label, targets in (("json", ">= 0.90"), ("stream", ">= 0.80")):
        best: dict[str, float] = {}
        for _ in range(args.rounds):
            for surface, (path, body) in SURFACES.items():
                if label == "stream":
                    body = body.replace(b'"stream":false', b'"stream":true')
                us = asyncio.run(drive(app, body, args.requests, path))
                best[surface] = min(best.get(surface, us), us)
        chat = best["chat"]
        for surface, us in best.items():
            print(f"{label:6} {surface:10} {us:7.1f} µs/request  rate vs chat {chat / us:5.2f}x  (target {targets})")


if __name__ == "__main__":
    main()
