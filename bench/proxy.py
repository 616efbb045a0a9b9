"""The recording proxy adds no buffering: time to first token and each chunk's arrival,
through ``mockrouter record`` against straight from the upstream (issue #13).

The upstream is a ``mockrouter serve`` process streaming a scripted answer (``timing:
{ttft_ms: 50, interval_ms: 10}``, 20 content pieces); the proxy is a ``mockrouter record``
process in front of it (its own event loop, its own process), writing every exchange into a
temporary folder. A raw-socket client (HTTP/1.1 keep-alive, one connection to each server, no
client library in the way) sends N streamed requests straight to the upstream and N through
the proxy, alternating (which goes first alternates too), one at a time, and notes when each
SSE data event arrives. Each request is a new conversation, so each one is a recording file.

Printed: TTFT (the first data event carrying text; the role chunk comes before it) p50/p90
for both and the difference; the added latency of every data event (its arrival through the
proxy minus the median arrival of the same event sent directly: a proxy that batched would
deliver early events late) and the gap between events against the scripted interval; the
end of the body (the proxy ends it, then records the exchange in a worker thread); that every
proxied request left its recording, with the scripted answer. Target (the issue's): ≤ 2 ms
added at p50 on loopback, for the first text and for every event. Exits 1 when missed or a
recording is missing (``--smoke``: a few requests, judges only the recordings).

    python bench/proxy.py [--requests 200] [--warmup 5] [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.run import end_process, free_port  # noqa: E402

TTFT_MS = 50.0
INTERVAL_MS = 10.0
PIECES = [f"piece {i:02d} " for i in range(20)]
TARGET_MS = 2.0
#: A chunk that carries answer text (a non-empty content delta).
CONTENT = re.compile(rb'"content":"[^"]')
SCENARIO = {
    "name": "ttft-bench",
    "match": {"model": "bench/ttft"},
    "steps": [
        {
            "content": "".join(PIECES),
            "stream": {"chunks": PIECES},
            "timing": {"ttft_ms": TTFT_MS, "interval_ms": INTERVAL_MS},
        }
    ],
}


@dataclass
class Timeline:
    """One streamed request: when each SSE data event arrived, in ms after the request was sent."""

    events: list[float] = field(default_factory=list)
    #: The index in ``events`` of the first carrying answer text (the role chunk comes before it).
    first_content: int | None = None
    #: ms until the body's end (the last chunk of the chunked encoding) arrived.
    end: float = 0.0


class RawClient:
    """One keep-alive HTTP/1.1 connection; reads a chunked SSE answer as bytes arrive."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.pending = b""  # bytes read past the previous answer (none expected)

    def close(self) -> None:
        self.sock.close()

    def stream(self, body: bytes) -> Timeline:
        head = (
            b"POST /api/v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1:%d\r\n"
            b"authorization: Bearer sk-bench-proxy\r\ncontent-type: application/json\r\n"
            b"accept: text/event-stream\r\ncontent-length: %d\r\n\r\n" % (self.port, len(body))
        )
        line = Timeline()
        sent = time.perf_counter()
        self.sock.sendall(head + body)
        raw = self.pending
        while b"\r\n\r\n" not in raw:
            raw += self._recv()
        headers, raw = raw.split(b"\r\n\r\n", 1)
        status = headers.split(b"\r\n", 1)[0]
        if b" 200 " not in status + b" ":
            raise RuntimeError(f"port {self.port}: {status.decode(errors='replace')}: {raw[:500]!r}")
        if b"transfer-encoding: chunked" not in headers.lower():
            raise RuntimeError(f"port {self.port}: expected a chunked stream, had {headers!r}")
        body_bytes = b""  # decoded, not yet split into events
        done = False
        while True:
            now = (time.perf_counter() - sent) * 1000
            # decode every whole chunk of the chunked encoding held so far
            while not done:
                cut = raw.find(b"\r\n")
                if cut < 0:
                    break
                size = int(raw[:cut].split(b";")[0], 16)
                if size == 0:
                    if len(raw) < cut + 4:
                        break
                    self.pending, done = raw[cut + 4 :], True
                elif len(raw) < cut + 2 + size + 2:
                    break
                else:
                    body_bytes += raw[cut + 2 : cut + 2 + size]
                    raw = raw[cut + 2 + size + 2 :]
            *events, body_bytes = body_bytes.split(b"\n\n")
            for event in events:
                if event.startswith(b"data:"):
                    if line.first_content is None and CONTENT.search(event):
                        line.first_content = len(line.events)
                    line.events.append(now)
            if done:
                if body_bytes.strip():
                    raise RuntimeError(f"port {self.port}: unterminated event at the end: {body_bytes[:200]!r}")
                line.end = now
                return line
            raw += self._recv()

    def _recv(self) -> bytes:
        data = self.sock.recv(65536)
        if not data:
            raise RuntimeError(f"port {self.port}: the connection closed mid-answer")
        return data


@dataclass
class Server:
    """A server in its own process (its own event loop) on ``port``: ``command`` after the Python."""

    command: list[str]
    port: int
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def spawn(self) -> None:
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, *self.command, "--port", str(self.port)],
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )

    def wait_ready(self) -> None:
        """Return once mockrouter's health endpoint answers through ``port`` (polled, bounded)."""
        assert self.proc is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"GET /__mockrouter/health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
                    if s.recv(64).startswith(b"HTTP/1.1 200"):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{self.command} did not start: {self.log.read_text(errors='replace')[-2000:]}")

    def stop(self) -> None:
        if self.proc is None:
            return
        end_process(self.proc)
        self.proc = None


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


async def _relay(port: int, target: int) -> None:
    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target)
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    server = await asyncio.start_server(connection, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def relay(port: int, target: int) -> None:
    """The floor: a bare TCP relay (uvloop, as uvicorn runs mockrouter) that copies bytes both
    ways. What it adds is what one more process and loopback hop cost on this machine now."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(_relay(port, target))
    else:
        uvloop.run(_relay(port, target))


def request_body(n: int) -> bytes:
    """A streamed chat request; ``n`` makes it a conversation of its own (its own recording)."""
    message = {"role": "user", "content": f"Time the first token of request {n}, please."}
    return json.dumps({"model": "bench/ttft", "stream": True, "messages": [message]}).encode()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


#: The three ways to the upstream, in the order printed.
PATHS = ("direct", "relay", "proxy")


@dataclass
class Outcome:
    timelines: dict[str, list[Timeline]]
    #: Recorded scenarios found in the proxy's folder, and whose answer is the scripted one.
    recordings: int
    faithful: int
    expected_recordings: int


def measure(requests: int, warmup: int, folder: Path) -> Outcome:
    scenario = folder / "ttft.yaml"
    scenario.write_text(yaml.safe_dump(SCENARIO, sort_keys=False))
    out = folder / "recordings"
    ports = {name: free_port() for name in PATHS}
    upstream = f"http://127.0.0.1:{ports['direct']}/api/v1"
    servers = {
        "direct": Server(
            ["-m", "mockrouter", "serve", "--scenarios", str(scenario)], ports["direct"], folder / "up.log"
        ),
        "relay": Server(
            ["-m", "bench.proxy", "--relay-to", str(ports["direct"])], ports["relay"], folder / "relay.log"
        ),
        "proxy": Server(
            ["-m", "mockrouter", "record", "--upstream", upstream, "--out", str(out)], ports["proxy"], folder / "p.log"
        ),
    }
    timelines: dict[str, list[Timeline]] = {name: [] for name in PATHS}
    try:
        for server in servers.values():
            server.spawn()  # all at once: the relay and the proxy reach the upstream only when asked
        for server in servers.values():
            server.wait_ready()
        clients = {name: RawClient(ports[name]) for name in PATHS}
        try:
            n = 0
            for i in range(warmup + requests):
                order = PATHS[i % 3 :] + PATHS[: i % 3]  # each goes first, second and third in turn
                for name in order:
                    line = clients[name].stream(request_body(n))
                    n += 1
                    if i >= warmup:
                        timelines[name].append(line)
        finally:
            for client in clients.values():
                client.close()
    finally:
        for server in reversed(servers.values()):
            server.stop()
    recordings = faithful = 0
    for path in sorted(out.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if isinstance(doc, dict) and str(doc.get("name", "")).startswith("rec-"):
                recordings += 1
                steps = doc.get("steps") or [{}]
                faithful += len(steps) == 1 and steps[0].get("content") == SCENARIO["steps"][0]["content"]
    return Outcome(timelines, recordings, faithful, warmup + requests)


@dataclass
class Figures:
    """One way's figures, ms: TTFT p50/p90, added over direct (TTFT p50, every event p50/p90),
    the p50 gap between events, the end of the body's p50 added."""

    ttft: tuple[float, float]
    ttft_added: float
    event_added: tuple[float, float]
    gap: float
    end_added: float


def summarise(outcome: Outcome) -> tuple[int, dict[str, Figures]]:
    lines = [line for way in outcome.timelines.values() for line in way]
    counts = {len(line.events) for line in lines}
    if len(counts) != 1:
        raise RuntimeError(f"answers differ in their number of data events: {sorted(counts)}")
    count = counts.pop()
    firsts = {line.first_content for line in lines}
    if len(firsts) != 1 or None in firsts:
        raise RuntimeError(f"answers differ in where their text starts: {sorted(map(str, firsts))}")
    first = firsts.pop()
    assert first is not None
    direct = outcome.timelines["direct"]
    # when each event arrives sent directly (median over requests): what the upstream's pacing gives
    schedule = [statistics.median(line.events[k] for line in direct) for k in range(count)]
    ttft_direct = pct([line.events[first] for line in direct], 0.5)
    end_direct = pct([line.end for line in direct], 0.5)
    figures = {}
    for name, way in outcome.timelines.items():
        ttft = [line.events[first] for line in way]
        added = [line.events[k] - schedule[k] for line in way for k in range(count)]
        gaps = [b - a for line in way for a, b in zip(line.events, line.events[1:], strict=False)]
        figures[name] = Figures(
            ttft=(pct(ttft, 0.5), pct(ttft, 0.9)),
            ttft_added=pct(ttft, 0.5) - ttft_direct,
            event_added=(pct(added, 0.5), pct(added, 0.9)),
            gap=pct(gaps, 0.5),
            end_added=pct([line.end for line in way], 0.5) - end_direct,
        )
    return count, figures


WAYS = {
    "direct": "straight to the upstream",
    "relay": "bare TCP relay (the floor)",
    "proxy": "mockrouter record",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/proxy.py", description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=150, help="streamed requests each way (after warm-up)")
    parser.add_argument("--warmup", type=int, default=5, help="requests each way not counted")
    parser.add_argument("--smoke", action="store_true", help="a few requests; judge only the recordings")
    parser.add_argument("--relay-to", type=int, metavar="PORT", help=argparse.SUPPRESS)  # the relay's process
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.relay_to is not None:
        relay(args.port, args.relay_to)
        return 0
    requests, warmup = (4, 1) if args.smoke else (args.requests, args.warmup)
    with tempfile.TemporaryDirectory(prefix="mockrouter-bench-proxy-") as tmp:
        outcome = measure(requests, warmup, Path(tmp))
    count, figures = summarise(outcome)
    print(
        f"proxy bench: {requests} streams each way (+{warmup} warm-up), interleaved; upstream scripted "
        f"ttft {TTFT_MS:g} ms, {len(PIECES)} pieces {INTERVAL_MS:g} ms apart ({count} data events: "
        f"role, pieces, finish, [DONE]); ms, added = over direct"
    )
    print(
        f"{'':34s} {'TTFT p50':>9s} {'TTFT p90':>9s} {'added':>7s} {'every event':>12s} {'(p90)':>7s}"
        f" {'gap p50':>8s} {'body end':>9s}"
    )
    for name, f in figures.items():
        print(
            f"{name + ': ' + WAYS[name]:34s} {f.ttft[0]:9.2f} {f.ttft[1]:9.2f} {f.ttft_added:+7.2f} "
            f"{f.event_added[0]:+12.2f} {f.event_added[1]:+7.2f} {f.gap:8.2f} {f.end_added:+9.2f}"
        )
    proxy, floor = figures["proxy"], figures["relay"]
    print(
        f"the proxy's own share (proxy − bare relay): TTFT {proxy.ttft_added - floor.ttft_added:+.2f} ms, "
        f"every event {proxy.event_added[0] - floor.event_added[0]:+.2f} ms"
    )
    print(
        f"gap between events p50: proxy {proxy.gap:.2f} ms, direct {figures['direct'].gap:.2f} ms (scripted "
        f"{INTERVAL_MS:g} ms; a proxy that batched would show ~0)"
    )
    written = outcome.recordings == outcome.faithful == outcome.expected_recordings
    print(
        f"recordings: {outcome.recordings} of {outcome.expected_recordings} proxied requests written, "
        f"{outcome.faithful} with the scripted answer" + ("" if written else "  MISSING")
    )
    met = proxy.ttft_added <= TARGET_MS and proxy.event_added[0] <= TARGET_MS
    verdict = "smoke" if args.smoke else ("ok" if met else "MISSED")
    # the suite's row: figure, value, baseline, ratio, target, result
    ratio = proxy.ttft[0] / figures["direct"].ttft[0]
    print(
        f"{'proxy TTFT p50 (added)':34s} {proxy.ttft[0]:9.1f} ms {figures['direct'].ttft[0]:12.1f} {ratio:6.2f}× "
        f"{'+≤ 2 ms':>8s}  {verdict}  (added {proxy.ttft_added:+.2f} ms, every event {proxy.event_added[0]:+.2f}; "
        f"bare relay {floor.ttft_added:+.2f})"
    )
    if not written:
        return 1
    return 0 if args.smoke or met else 1


if __name__ == "__main__":
    raise SystemExit(main())
