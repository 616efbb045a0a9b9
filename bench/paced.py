"""Paced streams at scale (issue #20): scripted ``interval_ms: 20`` held at 200 and 1,000
concurrent streams, against the same paced stream from raw ASGI and bare Starlette measured in
the same run (the machine is shared and noisy: only ratios are judged).

Servers, each a uvicorn process pinned to CPU 0, with the uvicorn options mockrouter's
``uvicorn_config`` uses (uvloop, httptools, no WebSocket support, access log off, lifespan on,
no proxy headers, backlog 2048; the baselines get uvicorn's plain httptools protocol,
mockrouter its own coalescing one):

1. **raw ASGI** (the stack's limit): 50 data events of a ~250-byte chat chunk, ``await
   asyncio.sleep(0.02)`` between them, then ``data: [DONE]`` at once;
2. **bare Starlette**: the same from a ``StreamingResponse`` over an async generator;
3. **mockrouter** ``serve --no-builtin --scenarios paced.yaml`` (defaults otherwise: journal
   and validation on, ``--speed 1``): a step of 48 ``stream.chunks`` with ``timing:
   {interval_ms: 20}`` (ttft 0), so 50 paced data events (the role chunk, 48 pieces, the finish
   chunk) and ``[DONE]`` at once after the last, as the baselines send.

The client (this process, pinned to CPU 1, uvloop) opens N streams at once (raw sockets,
HTTP/1.1, ``connection: close``, one ``asyncio.Protocol`` per stream) and notes when each SSE
event's blank line arrives. Per server and N, medians of the rounds (rounds interleave the
servers, the first rotating; each wave gets a freshly started server):

- **interval error p99**: |gap between consecutive paced events - 20 ms| over the 49 gaps of
  every stream;
- **duration p50**: the request's first byte sent -> the stream's last event; **all done**:
  the wave's start (before the first connect) -> the last event of the last stream; both
  against the ideal, 49 x 20 ms = 0.98 s;
- **RSS per open stream**: (server RSS once every stream has its first event and half the
  ideal has passed - RSS just before the wave) / streams open then (``/proc/PID/status``);
- **idle RSS**: once the server answers (a malformed request uvicorn refuses with 400 itself,
  so no app code runs), before any request;
- the server's and the client's CPU over the wave (a client near 100 % would blur the figures),
  and the ramp: the wave's start -> the last stream's first event (how long the server took to
  take every stream on).

Targets (issue #20): interval error p99 <= 1.5x raw ASGI's at each N; duration p50 at the
largest N <= 1.1x ideal; all done <= 1.2x ideal; <= 15 KB per open stream; idle RSS <= 1.3x
bare Starlette's. Exits 1 when one is missed; ``--quick`` (N=20, one round, no warm-up) judges
nothing.

    python bench/paced.py [--streams 200,1000] [--rounds 3] [--warmup 10] [--at REV | --worktree] [--quick]
"""

from __future__ import annotations

# Only what uvicorn imports anyway up to the baselines' early start below: their idle RSS must
# not carry this script's own modules.
import asyncio
import sys

EVENTS = 50  # paced data events per stream, then [DONE] at once
INTERVAL_MS = 20.0
IDEAL_MS = (EVENTS - 1) * INTERVAL_MS
#: The data event of bench/baselines.py's streams (its ``CHUNKS[0]``; that module imports orjson).
CHUNK = (
    b'data: {"id":"chatcmpl-0123456789abcdef01234567","object":"chat.completion.chunk","created":1767225600,'
    b'"model":"openai/gpt-4o-mini","choices":[{"index":0,"delta":{"content":" hello"},"finish_reason":null}]}\n\n'
)
DONE = b"data: [DONE]\n\n"
MODEL = "bench/paced"
#: mockrouter's frames: the role chunk, the pieces, the finish chunk: EVENTS paced data events.
PIECES = [f"word{i:02d} " for i in range(EVENTS - 2)]
SCENARIO = {
    "name": "paced-bench",
    "match": {"model": MODEL},
    "steps": [
        {
            "content": "".join(PIECES),
            "stream": {"chunks": PIECES},
            "timing": {"ttft_ms": 0, "interval_ms": INTERVAL_MS},
        }
    ],
}
BODY = (
    b'{"model":"%s","stream":true,"messages":[{"role":"system","content":"You are a helpful assistant."},'
    b'{"role":"user","content":"Stream me fifty paced chunks, please."}]}' % MODEL.encode()
)

# targets (issue #20)
ERROR_RATIO = 1.5
P50_IDEAL = 1.1
ALL_IDEAL = 1.2
KB_PER_STREAM = 15.0
IDLE_RATIO = 1.3


# ---------------------------------------------------------------------------- the baselines


async def paced_raw_app(scope, receive, send) -> None:
    """Raw ASGI: EVENTS chunks 20 ms apart, one ``send`` each, then [DONE]."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
    for i in range(EVENTS):
        if i:
            await asyncio.sleep(INTERVAL_MS / 1000)
        await send({"type": "http.response.body", "body": CHUNK, "more_body": True})
    await send({"type": "http.response.body", "body": DONE})


def make_paced_starlette_app():
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import StreamingResponse
    from starlette.routing import Route

    async def events():
        for i in range(EVENTS):
            if i:
                await asyncio.sleep(INTERVAL_MS / 1000)
            yield CHUNK
        yield DONE

    async def chat(request: Request) -> StreamingResponse:
        await request.body()
        return StreamingResponse(events(), media_type="text/event-stream")

    return Starlette(routes=[Route("/api/v1/chat/completions", chat, methods=["POST"])])


def serve_baseline(kind: str, port: int) -> None:
    import uvicorn

    app = paced_raw_app if kind == "raw" else make_paced_starlette_app()
    # mockrouter/http/server.py uvicorn_config's options
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        access_log=False,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=3,
        h11_max_incomplete_event_size=64 * 1024,
        proxy_headers=False,
        loop="uvloop",
        http="httptools",
        ws="none",  # as uvicorn_config: no WebSocket library imported (its idle RSS would count)
    )


if __name__ == "__main__" and sys.argv[1:2] == ["--serve"]:  # a baseline's process: nothing more to import
    serve_baseline(sys.argv[2], int(sys.argv[sys.argv.index("--port") + 1]))
    sys.exit(0)

import argparse  # noqa: E402
import io  # noqa: E402
import itertools  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tarfile  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import yaml  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(ROOT))

from bench.baselines import CHUNKS  # noqa: E402
from bench.run import end_process, free_port, pin  # noqa: E402

assert (CHUNKS[0], CHUNKS[-1]) == (CHUNK, DONE)


# ---------------------------------------------------------------------------- the servers


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Server:
    name: str
    command: list[str]
    #: where it runs, first on its PYTHONPATH (mockrouter: a snapshot of HEAD)
    cwd: Path = ROOT
    proc: subprocess.Popen[bytes] | None = None
    port: int = 0

    def start(self, log: Path) -> int:
        """Start on a free port, wait until uvicorn answers; the idle RSS in KiB."""
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("MOCKROUTER_")}
        env["PYTHONPATH"] = str(self.cwd)
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [*pin(0), *self.command, "--port", str(self.port)],
                cwd=self.cwd,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while self.proc.poll() is None and time.monotonic() < deadline:
            try:  # uvicorn itself refuses a malformed request: the app runs no code for it
                with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                    s.sendall(b"X\r\n\r\n")
                    if s.recv(64).startswith(b"HTTP/1.1 400"):
                        time.sleep(0.5)
                        return rss_kb(self.proc.pid)
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.name} did not start: {log.read_text(errors='replace')[-2000:]}")

    def stop(self) -> None:
        if self.proc is None:
            return
        end_process(self.proc)
        self.proc = None


def snapshot(folder: Path, rev: str) -> Path:
    """``mockrouter/``, ``schemas/`` and ``scenarios/`` as committed at ``rev``, extracted under
    ``folder`` (the working tree may hold someone's changes in progress: the figures are of a
    commit)."""
    out = folder / "head"
    out.mkdir()
    tar = subprocess.run(
        ["git", "archive", rev, "mockrouter", "schemas", "scenarios"], cwd=ROOT, capture_output=True, check=True
    )
    with tarfile.open(fileobj=io.BytesIO(tar.stdout)) as archive:
        archive.extractall(out, filter="data")
    return out


def servers(folder: Path, rev: str | None) -> list[Server]:
    scenario = folder / "paced.yaml"
    scenario.write_text(yaml.safe_dump(SCENARIO, sort_keys=False))
    me = [sys.executable, "-m", "bench.paced"]
    return [
        Server("raw ASGI", [*me, "--serve", "raw"]),
        Server("bare Starlette", [*me, "--serve", "starlette"]),
        Server(
            "mockrouter",
            [sys.executable, "-m", "mockrouter", "serve", "--no-builtin", "--scenarios", str(scenario)],
            cwd=ROOT if rev is None else snapshot(folder, rev),
        ),
    ]


# ---------------------------------------------------------------------------- the client


class Stream(asyncio.Protocol):
    """One streamed request; ``times``: when each SSE event's closing blank line arrived."""

    #: Streams of the current wave that have their first event; of those, the ones ended; all ended.
    started = ended = closed = 0

    __slots__ = ("carry", "done", "error", "head", "request", "sent", "tail", "times", "transport")

    def __init__(self, request: bytes, done: asyncio.Future) -> None:
        self.request = request
        self.done = done
        self.times: list[float] = []
        self.sent = 0.0
        self.head = b""  # the response head until it is whole; None after
        self.carry = b""  # the last byte seen (an event's "\n\n" may straddle two reads)
        self.tail = b""  # the last bytes seen (the chunked body's end)
        self.error = ""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.sent = time.perf_counter()
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        if self.head is not None:
            self.head += data
            if b"\r\n\r\n" not in self.head:
                return
            head, data = self.head.split(b"\r\n\r\n", 1)
            self.head = None
            if not head.startswith(b"HTTP/1.1 200") or b"transfer-encoding: chunked" not in head.lower():
                self._end(f"not a chunked 200: {head[:200]!r}")
                return
        count = (self.carry + data).count(b"\n\n")
        if count:
            if not self.times:
                Stream.started += 1
            self.times += [now] * count
        self.carry = data[-1:]
        tail = (self.tail + data)[-7:]
        self.tail = tail
        if tail.endswith(b"\n0\r\n\r\n"):
            self._end("")

    def connection_lost(self, exc) -> None:
        self._end("the connection closed mid-answer")

    def _end(self, error: str) -> None:
        if not self.done.done():
            Stream.closed += 1
            Stream.ended += bool(self.times)
            self.error = error
            self.done.set_result(None)
            if self.transport is not None:
                self.transport.close()


@dataclass
class Wave:
    """One wave of N streams on one server."""

    errors: list[float]  # |gap - 20| ms, every gap of every stream
    durations: list[float]  # ms, request sent -> last event
    all_done: float  # ms, wave start -> last event
    rss_per_stream: float  # KiB
    open_at_sample: int
    connected: float  # ms, wave start -> the last connection made
    ramp: float  # ms, wave start -> the last stream's first event
    server_cpu: float  # s over the wave
    client_cpu: float  # s over the wave
    wall: float  # s
    problems: list[str] = field(default_factory=list)


async def wave(port: int, n: int, pid: int) -> Wave:
    loop = asyncio.get_running_loop()
    request = (
        b"POST /api/v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1:%d\r\nauthorization: Bearer sk-bench-paced\r\n"
        b"content-type: application/json\r\naccept: text/event-stream\r\nconnection: close\r\n"
        b"content-length: %d\r\n\r\n%s" % (port, len(BODY), BODY)
    )
    futures = [loop.create_future() for _ in range(n)]
    Stream.started = Stream.ended = Stream.closed = 0
    streams = [Stream(request, f) for f in futures]
    rss_before = rss_kb(pid)
    server_cpu0, client0 = cpu_s(pid), resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()

    async def sample() -> tuple[float, int]:
        """RSS grown and streams open: of the samples with (about) the most streams open, the
        one nearest half the ideal after the wave's start."""
        samples = []
        while Stream.closed < n:
            samples.append((time.perf_counter(), rss_kb(pid), Stream.started - Stream.ended))
            await asyncio.sleep(0.02)
        most = max((o for _, _, o in samples), default=0)
        middle = start + IDEAL_MS / 2000
        _, rss, open_now = min((s for s in samples if s[2] >= 0.98 * most), key=lambda s: abs(s[0] - middle))
        return rss - rss_before, open_now

    sampler = asyncio.ensure_future(sample())
    connects = await asyncio.gather(
        *(loop.create_connection(lambda s=s: s, "127.0.0.1", port) for s in streams), return_exceptions=True
    )
    problems = [f"connect: {c}" for c in connects if isinstance(c, BaseException)]
    for s, c in zip(streams, connects, strict=True):
        if isinstance(c, BaseException):
            s._end(f"connect: {c}")
    await asyncio.wait_for(asyncio.gather(*futures), 60)
    wall = time.perf_counter() - start
    server_cpu = cpu_s(pid) - server_cpu0
    client1 = resource.getrusage(resource.RUSAGE_SELF)
    grown, open_now = await sampler
    errors, durations, last = [], [], start
    for s in streams:
        if s.error:
            problems.append(s.error)
            continue
        if len(s.times) != EVENTS + 1:
            problems.append(f"{len(s.times)} events, not {EVENTS + 1}")
            continue
        paced = s.times[:EVENTS]
        errors += [abs((b - a) * 1000 - INTERVAL_MS) for a, b in itertools.pairwise(paced)]
        durations.append((s.times[-1] - s.sent) * 1000)
        last = max(last, s.times[-1])
    return Wave(
        errors=errors,
        durations=durations,
        all_done=(last - start) * 1000,
        rss_per_stream=grown / max(open_now, 1),
        open_at_sample=open_now,
        connected=(max((s.sent for s in streams), default=start) - start) * 1000,
        ramp=(max((s.times[0] for s in streams if s.times), default=start) - start) * 1000,
        server_cpu=server_cpu,
        client_cpu=(client1.ru_utime + client1.ru_stime) - (client0.ru_utime + client0.ru_stime),
        wall=wall,
        problems=sorted(set(problems))[:5],
    )


# ---------------------------------------------------------------------------- the run


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


@dataclass
class Row:
    """One server at one N: per round, the figures."""

    p99: list[float] = field(default_factory=list)
    p50_gap_error: list[float] = field(default_factory=list)
    duration_p50: list[float] = field(default_factory=list)
    all_done: list[float] = field(default_factory=list)
    ramp: list[float] = field(default_factory=list)
    kb_per_stream: list[float] = field(default_factory=list)
    server_cpu: list[float] = field(default_factory=list)
    client_cpu: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def add(self, w: Wave) -> None:
        self.p99.append(pct(w.errors, 0.99))
        self.p50_gap_error.append(pct(w.errors, 0.5))
        self.duration_p50.append(pct(w.durations, 0.5))
        self.all_done.append(w.all_done)
        self.ramp.append(w.ramp)
        self.kb_per_stream.append(w.rss_per_stream * 1.024)  # KiB -> kB
        self.server_cpu.append(w.server_cpu / w.wall * 100)
        self.client_cpu.append(w.client_cpu / w.wall * 100)
        self.problems += w.problems

    def median(self, name: str) -> float:
        values = getattr(self, name)
        return statistics.median(values) if values else float("nan")


def run(
    counts: list[int], rounds: int, warmup: int, folder: Path, rev: str | None
) -> tuple[dict, dict[str, list[int]]]:
    targets = servers(folder, rev)
    rows = {(t.name, n): Row() for t in targets for n in counts}
    idle: dict[str, list[int]] = {t.name: [] for t in targets}
    log = folder / "servers.log"
    for r in range(rounds):
        order = targets[r % len(targets) :] + targets[: r % len(targets)]
        for n in counts:
            for target in order:
                idle[target.name].append(target.start(log))
                try:
                    assert target.proc is not None
                    if warmup:
                        asyncio.run(wave(target.port, warmup, target.proc.pid))
                    w = asyncio.run(wave(target.port, n, target.proc.pid))
                finally:
                    target.stop()
                rows[target.name, n].add(w)
                print(
                    f"  round {r + 1}, {n} streams, {target.name}: p99 error {pct(w.errors, 0.99):.1f} ms, "
                    f"p50 {pct(w.durations, 0.5):.0f} ms, all done {w.all_done:.0f} ms "
                    f"(last connected {w.connected:.0f}, last first event {w.ramp:.0f}), "
                    f"{w.rss_per_stream * 1.024:.1f} kB/stream ({w.open_at_sample} open)"
                    + (f"  PROBLEMS: {'; '.join(w.problems)}" if w.problems else ""),
                    flush=True,
                )
    return rows, idle


def measured(rev: str | None) -> str:
    """Which mockrouter the figures are of."""
    head = subprocess.run(
        ["git", "log", "-1", "--format=%h (%cd)", "--date=format:%Y-%m-%d %H:%M", rev or "HEAD", "--"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.strip()
    if rev is not None:
        return f"mockrouter at {'HEAD ' if rev == 'HEAD' else ''}{head}, from a git archive"
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "mockrouter"], cwd=ROOT, capture_output=True, text=True
    )
    return f"mockrouter from the working tree at {head}" + (
        ", with uncommitted changes" if dirty.stdout.strip() else ""
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/paced.py", description=__doc__.splitlines()[0])
    parser.add_argument("--streams", default="200,1000", help="concurrent streams per wave, comma-separated")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=10, help="streams of a wave before each measured one")
    parser.add_argument("--quick", action="store_true", help="N=20, one round, no warm-up; judges nothing")
    parser.add_argument(
        "--at", default="HEAD", metavar="REV", help="the commit of mockrouter to measure (default HEAD)"
    )
    parser.add_argument(
        "--worktree", action="store_true", help="measure mockrouter/ as it is on disk, not as committed"
    )
    args = parser.parse_args(argv)
    counts = [20] if args.quick else [int(c) for c in args.streams.split(",") if c]
    rounds, warmup = (1, 0) if args.quick else (args.rounds, args.warmup)
    rev = None if args.worktree else args.at
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(counts) * 2 + 256
    if soft < want:  # the servers inherit it
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard) if hard != resource.RLIM_INFINITY else want, hard))
    if pin(1):
        os.sched_setaffinity(0, {1})
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:  # pragma: no cover
        pass
    print(
        f"paced bench, {measured(rev)}: {EVENTS} data events {INTERVAL_MS:g} ms apart + [DONE] per stream "
        f"(ideal {IDEAL_MS:g} ms), N = {', '.join(map(str, counts))}, {rounds} round(s) interleaved, "
        f"warm-up {warmup} streams; servers on CPU 0, client on CPU 1",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="mockrouter-bench-paced-") as tmp:
        rows, idle = run(counts, rounds, warmup, Path(tmp), rev)
    names = list(idle)
    print(f"\nmedians of {rounds} round(s); ms unless said; kB = 1,000 bytes")
    print(
        f"{'server':16s} {'N':>5s} {'err p50':>8s} {'err p99':>8s} {'dur p50':>8s} {'× ideal':>8s} {'all done':>9s}"
        f" {'× ideal':>8s} {'ramp':>6s} {'kB/stream':>10s} {'srv CPU%':>9s} {'cli CPU%':>9s}"
    )
    for n in counts:
        for name in names:
            row = rows[name, n]
            print(
                f"{name:16s} {n:5d} {row.median('p50_gap_error'):8.2f} {row.median('p99'):8.2f} "
                f"{row.median('duration_p50'):8.0f} {row.median('duration_p50') / IDEAL_MS:8.2f} "
                f"{row.median('all_done'):9.0f} {row.median('all_done') / IDEAL_MS:8.2f} {row.median('ramp'):6.0f} "
                f"{row.median('kb_per_stream'):10.1f} {row.median('server_cpu'):9.0f} {row.median('client_cpu'):9.0f}"
                + (f"  problems: {'; '.join(sorted(set(row.problems))[:3])}" if row.problems else "")
            )
    idle_mb = {name: statistics.median(v) / 1024 for name, v in idle.items()}
    print("idle RSS (MiB): " + ", ".join(f"{name} {mb:.1f}" for name, mb in idle_mb.items()))

    # the targets: figure, value, baseline, ratio, target, verdict
    mr, raw = "mockrouter", "raw ASGI"
    big = max(counts)
    checks: list[tuple[str, float, float, float, str, bool]] = []
    for n in counts:
        value, base = rows[mr, n].median("p99"), rows[raw, n].median("p99")
        checks.append(
            (
                f"paced p99 interval error @{n}",
                value,
                base,
                value / base,
                f"≤ {ERROR_RATIO}× raw",
                value <= ERROR_RATIO * base,
            )
        )
    p50 = rows[mr, big].median("duration_p50")
    checks.append(
        (
            f"paced duration p50 @{big}",
            p50,
            IDEAL_MS,
            p50 / IDEAL_MS,
            f"≤ {P50_IDEAL}× ideal",
            p50 <= P50_IDEAL * IDEAL_MS,
        )
    )
    done = rows[mr, big].median("all_done")
    checks.append(
        (
            f"paced all done @{big}",
            done,
            IDEAL_MS,
            done / IDEAL_MS,
            f"≤ {ALL_IDEAL}× ideal",
            done <= ALL_IDEAL * IDEAL_MS,
        )
    )
    kb = rows[mr, big].median("kb_per_stream")
    kb_raw = rows[raw, big].median("kb_per_stream")
    checks.append(
        (f"paced kB per open stream @{big}", kb, kb_raw, kb / kb_raw, f"≤ {KB_PER_STREAM:g} kB", kb <= KB_PER_STREAM)
    )
    value, base = idle_mb[mr], idle_mb["bare Starlette"]
    checks.append(
        ("idle RSS MiB vs Starlette", value, base, value / base, f"≤ {IDLE_RATIO}×", value <= IDLE_RATIO * base)
    )
    raw_p50 = rows[raw, big].median("duration_p50") / IDEAL_MS
    raw_done = rows[raw, big].median("all_done") / IDEAL_MS
    print(f"\n{'figure':34s} {'mockrouter':>11s} {'baseline':>10s} {'ratio':>7s} {'target':>14s}")
    missed = []
    for figure, value, base, ratio, target, met in checks:
        verdict = "quick" if args.quick else ("ok" if met else "MISSED")
        print(f"{figure:34s} {value:11.2f} {base:10.2f} {ratio:6.2f}× {target:>14s}  {verdict}")
        if not met:
            missed.append(figure)
    print(f"(raw ASGI itself @{big}: duration p50 {raw_p50:.2f}× ideal, all done {raw_done:.2f}× ideal)")
    if any(row.problems for row in rows.values()):
        print("PROBLEMS in some waves (see above): their streams are left out of the figures")
    if args.quick:
        print("quick run: nothing judged")
        return 0
    print("MISSED: " + "; ".join(missed) if missed else "every target met")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
