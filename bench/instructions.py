"""Instructions per request under callgrind: the steady figure on a noisy machine.

Wall time on a shared machine moves by ±30 % between runs; the number of instructions a
request executes does not (same binary, same inputs, ``PYTHONHASHSEED=0``). Each figure is
the difference between a run of N requests and a run of 0 (both after the same warm-up),
divided by N, so start-up and shutdown cancel out.

    python bench/instructions.py [--requests 2000] [--only mockrouter,starlette,raw] [--in-process]

Server mode (default) runs each server under ``valgrind --tool=callgrind`` with uvicorn,
uvloop and httptools, and drives it from this process over one keep-alive connection: it
counts user-space instructions of the whole server (uvicorn included), not the kernel's.
``--in-process`` drives mockrouter's ASGI app directly (``inprocess.drive``), no sockets, with
the start-up heap frozen as ``mockrouter serve`` freezes it.
Needs ``valgrind`` (Debian package). Each server run takes about a minute.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.inprocess import BODY  # noqa: E402
from bench.run import free_port  # noqa: E402

WARM_UP = 50
REQUEST = (
    b"POST /api/v1/chat/completions HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
    b"Authorization: Bearer sk-bench\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY)
)
SERVERS = {
    "raw": lambda port: [sys.executable, "-m", "bench.baselines", "raw", str(port)],
    "starlette": lambda port: [sys.executable, "-m", "bench.baselines", "starlette", str(port)],
    "mockrouter": lambda port: [
        *(sys.executable, "-m", "mockrouter", "serve", "--port", str(port), "--speed", "0"),
        *("--scenarios", str(ROOT / "bench/scenarios/bench.yaml")),
    ],
}
CALLGRIND = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]


def _collected(log: str) -> int:
    found = re.search(r"Collected : (\d+)", log)
    if found is None:
        raise RuntimeError(f"callgrind printed no total:\n{log[-2000:]}")
    return int(found.group(1))


def _drive(port: int, n: int) -> None:
    """``n`` requests (after the warm-up) on one keep-alive connection, each read whole."""
    deadline = time.monotonic() + 300  # a server under valgrind starts slowly
    while True:
        try:
            sock = socket.create_connection(("127.0.0.1", port))
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    with sock, sock.makefile("rb") as reader:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(WARM_UP + n):
            sock.sendall(REQUEST)
            status = reader.readline()
            assert b" 200 " in status, status
            length = 0
            while (line := reader.readline()) != b"\r\n":
                name, _, value = line.partition(b":")
                if name.lower() == b"content-length":
                    length = int(value)
            reader.read(length)


def server_instructions(name: str, n: int) -> int:
    """Server-side instructions of ``n`` requests to server ``name`` (uvicorn included)."""
    totals = []
    for count in (0, n):
        port = free_port()
        with tempfile.NamedTemporaryFile("w+", suffix=".log") as log:
            proc = subprocess.Popen(
                [*CALLGRIND, *SERVERS[name](port)],
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONHASHSEED": "0"},
            )
            try:
                _drive(port, count)
            finally:
                proc.send_signal(2)  # SIGINT: uvicorn shuts down and callgrind writes its totals
                proc.wait(timeout=300)
            log.seek(0)
            totals.append(_collected(log.read()))
    return (totals[1] - totals[0]) // n


def in_process_instructions(n: int, body: bytes | None = None, path: str = "/api/v1/chat/completions") -> int:
    """Instructions of ``n`` requests to mockrouter's ASGI app, no sockets (``inprocess.drive``):
    ``body`` (default: the chat benchmark request) POSTed to ``path``."""
    script = (
        f"import asyncio, sys; from pathlib import Path; sys.path.insert(0, {str(ROOT)!r})\n"
        "from bench.inprocess import drive, BODY\n"
        "from mockrouter.http.app import MockrouterApp; from mockrouter.core.config import Config\n"
        f"app = MockrouterApp(Config(speed=0, scenarios=[Path({str(ROOT / 'bench/scenarios/bench.yaml')!r})]))\n"
        # As `mockrouter serve` does once started (server.py): what start-up made is moved out of
        # the collector's reach, so a full collection does not walk it on the request path.
        "import gc; gc.collect(); gc.freeze()\n"
        f"body, path = {body!r} or BODY, {path!r}\n"
        "asyncio.run(drive(app, body, 300, path)); n = int(sys.argv[1])\n"
        "if n: asyncio.run(drive(app, body, n, path))\n"
    )
    totals = []
    for count in (0, n):
        out = subprocess.run(
            [*CALLGRIND, sys.executable, "-c", script, str(count)],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONHASHSEED": "0"},
            check=True,
        )
        totals.append(_collected(out.stderr))
    return (totals[1] - totals[0]) // n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--only", default="raw,starlette,mockrouter")
    parser.add_argument("--in-process", action="store_true")
    args = parser.parse_args()
    if args.in_process:
        print(f"mockrouter in process: {in_process_instructions(args.requests):,} instructions/request")
        return
    for name in args.only.split(","):
        print(f"{name:12s} {server_instructions(name, args.requests):,} instructions/request (uvicorn included)")


if __name__ == "__main__":
    main()
