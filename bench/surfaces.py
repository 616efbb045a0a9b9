"""In-process cost per request on each API surface, against chat completions of the same build.

Issue #12's targets: a non-stream answer on Messages and on Responses at >= 0.9x the chat
completions rate, a 20-event stream at >= 0.8x. The same scripted answer (bench/scenarios/
bench.yaml) is asked for in each surface's shape; rounds alternate and the best is kept. The
wrk suite (``bench/run``) measures the same ratios over sockets.

    python bench/surfaces.py [--requests 20000] [--rounds 5]
    python bench/surfaces.py --instructions [--requests 1000]   # callgrind: steady on a busy machine
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.inprocess import BODY, drive
from bench.instructions import in_process_instructions
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


def body_of(surface: str, stream: bool) -> tuple[str, bytes]:
    path, body = SURFACES[surface]
    return path, body.replace(b'"stream":false', b'"stream":true') if stream else body


def instructions(surface: str, stream: bool, n: int) -> int:
    """Instructions per request on ``surface`` under callgrind, in process (heap frozen, as
    ``serve`` does): the run of 0 requests subtracted from the run of ``n``."""
    path, body = body_of(surface, stream)
    return in_process_instructions(n, body, path)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--instructions", action="store_true", help="count instructions under callgrind instead")
    args = parser.parse_args()
    if args.instructions:
        for label, stream, target in (("json", False, ">= 0.90"), ("stream", True, ">= 0.80")):
            counts = {surface: instructions(surface, stream, args.requests) for surface in SURFACES}
            for surface, count in counts.items():
                ratio = counts["chat"] / count
                print(f"{label:6} {surface:10} {count:9,} instructions/request  rate vs chat {ratio:5.2f}x  ({target})")
        return
    app = MockrouterApp(Config(speed=0, scenarios=[Path(__file__).parent / "scenarios" / "bench.yaml"]))
    for label, targets in (("json", ">= 0.90"), ("stream", ">= 0.80")):
        best: dict[str, float] = {}
        for _ in range(args.rounds):
            for surface in SURFACES:
                path, body = body_of(surface, label == "stream")
                us = asyncio.run(drive(app, body, args.requests, path))
                best[surface] = min(best.get(surface, us), us)
        chat = best["chat"]
        for surface, us in best.items():
            print(f"{label:6} {surface:10} {us:7.1f} µs/request  rate vs chat {chat / us:5.2f}x  (target {targets})")


if __name__ == "__main__":
    main()
