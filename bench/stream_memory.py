"""Where the bytes of one open paced stream go (issue #20): tracemalloc, by file:line.

The server runs in this process: uvicorn's ``Server.serve()`` as a task on a uvloop loop, with
mockrouter's app as ``mockrouter serve --no-builtin --scenarios paced.yaml`` builds it (the
scenario is ``bench/paced.py``'s, 50 data events 20 ms apart; ``uvicorn_config``, its coalescing
protocol, the heap frozen as ``serve`` does), or with ``--app raw`` ``bench/paced.py``'s raw ASGI
app on uvicorn's own httptools protocol. The client is a child process (this file with
``--client``; ``bench/paced.py``'s ``Stream`` protocol: raw sockets, HTTP/1.1, ``connection:
close``), so that neither the snapshot nor RSS holds anything of the client.

After a warm-up wave of a few streams (one-time caches are then in both snapshots), a
tracemalloc snapshot and ``VmRSS`` (``/proc/self/status``) are taken; N streams are opened at
once; once every stream has its first event and half a stream's ideal duration has passed
since they were opened, RSS and a second snapshot are taken. Printed, per stream open then
(uvicorn's connections): RSS grown (and less what tracemalloc itself grew by), tracemalloc's
total, the top 25 differences (``--top``) grouped by line and the top 5 by traceback (6
frames), each in bytes and blocks per stream; and what is still held once every stream has
ended (the journal's entries: it keeps the last ``--journal-size`` requests).

tracemalloc recording 6 frames makes every allocation ~2 µs dearer (a request ~50x slower to take
on): at 20 ms a server takes longer to take 300 streams on than a stream lasts. So by default
every delay is 30x longer (``--speed 30``: mockrouter's ``--speed``, the raw app's sleep):
the same events, frames and objects per stream, held longer. ``--no-trace`` (speed 1 unless
given) measures RSS alone, without tracemalloc in the process.

What one sees is not the other: the kernel's socket buffers are in neither; uvloop's and
libuv's C allocations (handles, read buffers) and httptools' parser state are in RSS but not in
tracemalloc; allocations the loop makes outside any Python frame show as the loop's own line
(``asyncio/runners.py``).

    python bench/stream_memory.py [--app mockrouter|raw] [--streams 300] [--warmup 5]
                                  [--speed F] [--top 25] [--no-trace] [--at REV | --worktree]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import resource
import socket
import statistics
import sys
import tempfile
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(ROOT))

import uvicorn  # noqa: E402
import uvloop  # noqa: E402
import yaml  # noqa: E402
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol  # noqa: E402

from bench import paced  # noqa: E402

TRACE_FRAMES = 6
#: ``--speed`` when tracing: every delay this many times longer.
TRACE_SPEED = 30.0


# ---------------------------------------------------------------------------- the client


async def client(port: int, n: int) -> None:
    """Open ``n`` paced streams at once; say ``start``, ``first S`` (every stream has its first
    event, S s after the start) and ``done S problems`` (S: the median stream's duration)."""
    loop = asyncio.get_running_loop()
    request = (
        b"POST /api/v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1:%d\r\nauthorization: Bearer sk-bench-paced\r\n"
        b"content-type: application/json\r\naccept: text/event-stream\r\nconnection: close\r\n"
        b"content-length: %d\r\n\r\n%s" % (port, len(paced.BODY), paced.BODY)
    )
    futures = [loop.create_future() for _ in range(n)]
    streams = [paced.Stream(request, f) for f in futures]
    print("start", flush=True)
    start = loop.time()
    connects = await asyncio.gather(
        *(loop.create_connection(lambda s=s: s, "127.0.0.1", port) for s in streams), return_exceptions=True
    )
    for s, c in zip(streams, connects, strict=True):
        if isinstance(c, BaseException):
            s._end(f"connect: {c}")
    while paced.Stream.started < n and paced.Stream.closed < n:
        await asyncio.sleep(0.005)
    print(f"first {loop.time() - start:.3f}", flush=True)
    await asyncio.wait_for(asyncio.gather(*futures), 300)
    duration = statistics.median(s.times[-1] - s.sent for s in streams if s.times)
    print(f"done {duration:.3f} " + "; ".join(sorted({s.error for s in streams if s.error})), flush=True)


async def run_client(port: int, n: int, at_first=None) -> float:
    """One wave from a child process; ``await at_first(started, ramp)`` once every stream has
    its first event (``started``: this loop's time when the child said ``start``). Returns the
    median stream's duration."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--client", str(port), str(n), stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    started, duration = 0.0, 0.0
    async for raw in proc.stdout:
        word, _, rest = raw.decode().strip().partition(" ")
        if word == "start":
            started = asyncio.get_running_loop().time()
        elif word == "first" and at_first is not None:
            await at_first(started, float(rest))
        elif word == "done":
            duration, _, problems = rest.partition(" ")
            if problems:
                raise RuntimeError(f"the wave of {n} streams had problems: {problems}")
    if await proc.wait():
        raise RuntimeError(f"the client exited {proc.returncode}")
    return float(duration)


# ---------------------------------------------------------------------------- the server


def make_server(app_name: str, port: int, speed: float, folder: Path, rev: str | None) -> uvicorn.Server:
    """uvicorn's server for ``app_name``, as ``bench/paced.py`` runs it, its delays ``speed``
    times longer; mockrouter as committed at ``rev`` (a git archive first on ``sys.path``), or
    as on disk when ``rev`` is None."""
    assert "mockrouter" not in sys.modules, "mockrouter imported before its path was chosen"
    if rev is not None:
        sys.path.insert(0, str(paced.snapshot(folder, rev)))
    from mockrouter.core.config import Config
    from mockrouter.http.app import MockrouterApp
    from mockrouter.http.server import Server, uvicorn_config

    if app_name == "raw":  # paced.py's baselines: uvicorn_config's options, uvicorn's own protocol
        paced.INTERVAL_MS *= speed  # paced_raw_app reads it at every pause (this process's copy)
        config = uvicorn_config(paced.paced_raw_app, Config(port=port), http=HttpToolsProtocol)  # type: ignore[arg-type]
    else:
        scenario = folder / "paced.yaml"
        scenario.write_text(yaml.safe_dump(paced.SCENARIO, sort_keys=False))
        # serve --no-builtin --scenarios paced.yaml --speed F
        options = Config(port=port, scenarios=[scenario], builtin=False, speed=speed)
        config = uvicorn_config(MockrouterApp(options), options)
    config.load()  # as ``serve`` does, before freezing the heap
    return Server(config)


def rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def snapshot() -> tracemalloc.Snapshot:
    gc.collect()
    return tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])


def where(frame: tracemalloc.Frame) -> str:
    """``file:line``, the path from its package on."""
    path = frame.filename
    for marker in ("site-packages/", "/lib/python3", "/head/", str(ROOT) + "/"):  # head/: the git archive
        if marker in path:
            path = path.split(marker, 1)[1]
            if marker == "/lib/python3":
                path = path.split("/", 1)[1]  # ".11/asyncio/tasks.py" -> "asyncio/tasks.py"
            break
    return f"{path}:{frame.lineno}"


def report(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, n: int, top: int = 25) -> None:
    by_line = after.compare_to(before, "lineno")
    size, count = sum(s.size_diff for s in by_line), sum(s.count_diff for s in by_line)
    print(f"tracemalloc: {size / n:,.0f} bytes per stream in all ({count / n:.0f} blocks)")
    packages: dict[str, int] = {}
    for s in by_line:
        name = where(s.traceback[0]).split("/", 1)[0].split(":", 1)[0]
        packages[name] = packages.get(name, 0) + s.size_diff
    ranked = sorted(packages.items(), key=lambda item: -item[1])
    print("  by the innermost frame's package: " + ", ".join(f"{k} {v / n:,.0f}" for k, v in ranked if v / n >= 1))
    print(f"\ntop {top} lines, bytes (blocks) per open stream:")
    for s in by_line[:top]:
        print(f"  {s.size_diff / n:8,.0f} ({s.count_diff / n:5.1f})  {where(s.traceback[0])}")
    print(f"\ntop 5 tracebacks ({TRACE_FRAMES} frames, innermost first), bytes (blocks) per open stream:")
    for s in after.compare_to(before, "traceback")[:5]:
        print(f"  {s.size_diff / n:8,.0f} ({s.count_diff / n:5.1f})")
        for frame in reversed(s.traceback):
            print(f"      {where(frame)}")


@dataclass
class HalfWay:
    """What is read once every stream has its first event and half a stream has passed."""

    ramp: float = 0.0  # s, the wave's start -> every stream has its first event (the client's clock)
    at: float = 0.0  # s, the wave's start -> the readings
    open: int = 0  # uvicorn's connections then
    rss: int = 0
    traced: int = 0  # tracemalloc's own memory
    snapshot: tracemalloc.Snapshot | None = None


async def measure(
    app_name: str, n: int, warmup: int, speed: float, trace: bool, rev: str | None, top: int = 25
) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # asyncio's TCP_NODELAY
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    half = HalfWay()
    ideal = paced.IDEAL_MS / 1000 * speed

    with tempfile.TemporaryDirectory(prefix="mockrouter-stream-memory-") as tmp:
        server = make_server(app_name, port, speed, Path(tmp), rev)

        async def at_first(started: float, ramp: float) -> None:
            loop = asyncio.get_running_loop()
            await asyncio.sleep(max(0.0, started + ideal / 2 - loop.time()))
            half.ramp, half.at, half.open = ramp, loop.time() - started, len(server.server_state.connections)
            half.rss, half.traced = rss_bytes(), tracemalloc.get_tracemalloc_memory()
            half.snapshot = snapshot() if trace else None

        gc.collect()
        gc.freeze()  # as ``mockrouter serve`` does
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            await asyncio.sleep(0.01)
        if trace:
            tracemalloc.start(TRACE_FRAMES)
        if warmup:
            await run_client(port, warmup)
        before = snapshot() if trace else None
        rss, traced = rss_bytes(), tracemalloc.get_tracemalloc_memory()
        duration = await run_client(port, n, at_first)
        end = snapshot() if trace else None
        server.should_exit = True
        await task

    what = paced.measured(rev) if app_name == "mockrouter" else "raw ASGI (bench/paced.py)"
    print(f"{what}, speed {speed:g}: {n} paced streams, {paced.EVENTS} events each")
    print(
        f"  the last first event {half.ramp:.2f} s after the wave's start; measured at {half.at:.2f} s,"
        f" {half.open} streams open; median stream {duration:.2f} s (ideal {ideal:.2f})"
    )
    if half.open < n:
        print(f"  WARNING: {n - half.open} streams had ended before the measurement: raise --speed")
    grown, overhead = half.rss - rss, half.traced - traced
    per = max(half.open, 1)
    print(
        f"RSS grown: {grown / per:,.0f} bytes per open stream"
        + (
            f" with tracemalloc in the process, {(grown - overhead) / per:,.0f} less its own {overhead / per:,.0f}"
            " (--no-trace: RSS alone)"
            if trace
            else ""
        )
    )
    if before is not None and half.snapshot is not None:
        report(before, half.snapshot, per, top)
    if before is not None and end is not None:
        by_line = end.compare_to(before, "lineno")
        total = sum(s.size_diff for s in by_line)
        print(f"\nstill held once every stream has ended (the journal): {total / n:,.0f} bytes per stream; top 5:")
        for s in by_line[:5]:
            print(f"  {s.size_diff / n:8,.0f} ({s.count_diff / n:5.1f})  {where(s.traceback[0])}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/stream_memory.py", description=__doc__.splitlines()[0])
    parser.add_argument("--app", choices=("mockrouter", "raw"), default="mockrouter")
    parser.add_argument("--streams", type=int, default=300, help="paced streams open at once")
    parser.add_argument("--warmup", type=int, default=5, help="streams of a wave before the measured one")
    parser.add_argument(
        "--speed", type=float, help=f"every delay F times longer (default {TRACE_SPEED:g}; 1 with --no-trace)"
    )
    parser.add_argument("--top", type=int, default=25, help="lines shown (default 25)")
    parser.add_argument("--no-trace", action="store_true", help="RSS only, without tracemalloc in the process")
    parser.add_argument("--at", default="HEAD", metavar="REV", help="the commit of mockrouter (default HEAD)")
    parser.add_argument("--worktree", action="store_true", help="mockrouter/ as it is on disk, not as committed")
    parser.add_argument("--client", nargs=2, type=int, metavar=("PORT", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    want = max(args.streams, args.client[1] if args.client else 0) + 256
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:  # the client inherits it
        resource.setrlimit(resource.RLIMIT_NOFILE, (want if hard == resource.RLIM_INFINITY else min(want, hard), hard))
    if args.client:
        uvloop.run(client(*args.client))
        return 0
    speed = args.speed if args.speed is not None else (1.0 if args.no_trace else TRACE_SPEED)
    rev = None if args.worktree else args.at
    uvloop.run(measure(args.app, args.streams, args.warmup, speed, not args.no_trace, rev, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
