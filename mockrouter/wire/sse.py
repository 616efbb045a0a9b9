"""The writer: sends a reply's SSE events straight to the ASGI ``send``, with the scripted
timing (scaled by ``--speed``) and faults, and records what was actually sent; and the
faults of a non-streaming answer (``write_broken_json``).

A stream with no delays and no fault is joined into one write (the common CI case, and the
fastest); everything else goes event by event, watching for the client leaving.
"""

from __future__ import annotations

import asyncio
import random
import time
from array import array
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from ..core.reply import Fault, Reply, Timing
from ..errors import DeliberateDisconnect
from .asgi import Headers, Receive, Send, send_response
from .dialects.base import JSON, SSE, StreamEncoder

#: Send one body piece (``more`` = more to come); False once the client has gone.
Emit = Callable[..., Awaitable[bool]]
#: Sleep up to N seconds; False when the client left meanwhile.
Pause = Callable[[float], Awaitable[bool]]

DRIBBLE_BYTES = 3
DRIBBLE_INTERVAL_MS = 10.0


@dataclass(slots=True)
class Delivery:
    """What the writer sent (copied into the journal entry): counts, and for the inspector's
    timeline each body write (``writes``: ms since ``origin``, bytes, chunks sent so far) and
    the pieces written (references, not copies)."""

    bytes_sent: int = 0
    chunks_sent: int = 0
    ttft_ms: float | None = None
    client_disconnected: bool = False
    disconnected_after_ms: float | None = None
    fault: str | None = None
    fault_at_ms: float | None = None
    fault_after_chunks: int | None = None
    #: What ``writes`` and ``fault_at_ms`` count from (a ``perf_counter`` reading: the request's
    #: start); 0 means the response's start.
    origin: float = 0.0
    #: Flat, three numbers per write (ms, bytes, chunks sent after it): an ``array`` of
    #: doubles, not a list per write (that was ~7 kB per open 50-chunk stream).
    writes: array[float] = field(default_factory=lambda: array("d"))
    pieces: list[bytes] = field(default_factory=list)


class Pacing:
    """Delays of one response in seconds, scaled by ``--speed``, with seeded jitter.

    ``timing.intervals_ms`` (recorded gaps) are served first, one per chunk after the first,
    from this response's own index; the chunks beyond them get ``interval``/``jitter``."""

    __slots__ = ("gaps", "interval", "intervals", "jitter", "latency", "next", "rng", "scale", "ttft")

    def __init__(self, timing: Timing, speed: float, rng: random.Random) -> None:
        self.rng = rng
        self.scale = speed / 1000
        self.latency = timing.latency_ms * self.scale
        self.ttft = timing.ttft_ms * self.scale
        interval = timing.interval_ms
        if timing.tokens_per_s:
            interval = max(interval, 1000 / timing.tokens_per_s)
        self.interval = interval * self.scale
        self.jitter = timing.jitter_ms * self.scale
        #: The recorded gaps in ms (the step's own tuple: scaled when served), and the next one.
        self.intervals = timing.intervals_ms if self.scale else ()
        self.next = 0
        #: Whether chunks after the first wait at all.
        self.gaps = bool(self.interval or self.jitter or (self.intervals and any(self.intervals)))

    @property
    def active(self) -> bool:
        return bool(self.ttft or self.gaps)

    def between(self) -> float:
        """The pause before the next chunk (after the first)."""
        intervals = self.intervals
        if intervals:
            index = self.next
            if index < len(intervals):
                self.next = index + 1
                return intervals[index] * self.scale
        if not self.jitter:
            return self.interval
        return max(0.0, self.interval + self.rng.uniform(-self.jitter, self.jitter))


#: The pacing of an answer with no scripted delays (the common case; shared, it holds no state).
NO_PACING = Pacing(Timing(), 0.0, random.Random(0))


async def _watch(receive: Receive, gone: asyncio.Event, waiting: list[asyncio.Future[None]]) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            gone.set()
            for future in waiting:  # a pause in progress ends now
                if not future.done():
                    future.set_result(None)
            return


def _release(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def write_stream(
    send: Send,
    receive: Receive,
    encoder: StreamEncoder,
    reply: Reply,
    headers: Headers,
    pacing: Pacing,
    delivery: Delivery,
    *,
    speed: float,
) -> None:
    """Send the whole SSE response for ``reply``.

    Paced chunks are due at times counted from the first chunk (``due``), not from the write
    before: a chunk the loop sends late is followed by a shorter gap (never under half the
    scripted one), so a stream does not drift longer under load."""
    started = time.perf_counter()
    origin = delivery.origin or started
    frames = [b for event in reply.events() if (b := encoder.encode(event)) is not None]
    start = {
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"content-type", SSE), (b"cache-control", b"no-cache"), *headers],
    }
    fault = reply.fault
    if fault is None and not pacing.active:
        body = encoder.keepalive * reply.keepalive + b"".join(frames) + encoder.done
        await send(start)
        await send({"type": "http.response.body", "body": body})
        delivery.bytes_sent = len(body)
        delivery.chunks_sent = len(frames)
        delivery.ttft_ms = (time.perf_counter() - started) * 1000
        delivery.writes.extend(((time.perf_counter() - origin) * 1000, len(body), len(frames)))
        delivery.pieces.append(body)
        return

    gone = asyncio.Event()
    waiting: list[asyncio.Future[None]] = []  # the pause in progress, for the watcher to end
    watcher = asyncio.ensure_future(_watch(receive, gone, waiting))
    loop = asyncio.get_running_loop()

    async def emit(data: bytes, *, more: bool = True) -> bool:
        if gone.is_set():
            return False
        await send({"type": "http.response.body", "body": data, "more_body": more})
        delivery.bytes_sent += len(data)
        if data:
            delivery.writes.extend(((time.perf_counter() - origin) * 1000, len(data), delivery.chunks_sent))
            delivery.pieces.append(data)
        return not gone.is_set()

    async def pause(seconds: float) -> bool:
        """Sleep, but wake as soon as the client leaves; False when it has. One future and one
        timer per pause (``asyncio.wait_for`` made a task of its own each time: per chunk, that
        was most of a paced stream's cost)."""
        if seconds <= 0 or gone.is_set():
            return not gone.is_set()
        future: asyncio.Future[None] = loop.create_future()
        timer = loop.call_later(seconds, _release, future) if seconds != float("inf") else None
        waiting.append(future)
        try:
            await future
        finally:
            waiting.pop()
            if timer is not None:
                timer.cancel()
        return not gone.is_set()

    try:
        await send(start)
        ok = True
        keepalives = reply.keepalive
        if keepalives:
            gap = pacing.ttft / (keepalives + 1)
            for _ in range(keepalives):
                ok = await pause(gap) and await emit(encoder.keepalive)
                if not ok:
                    break
            if ok:
                ok = await pause(gap)
        elif pacing.ttft:
            ok = await pause(pacing.ttft)
        index = 0
        due = 0.0  # when the chunk last sent was due (loop time)
        while ok and index < len(frames):
            if fault is not None and delivery.chunks_sent == fault.after_chunks:
                delivery.fault_at_ms = (time.perf_counter() - origin) * 1000
                await _fire(fault, frames[index:], emit, pause, encoder, delivery, speed)
                return
            if index and pacing.gaps:
                gap = pacing.between()
                now = loop.time()
                due = max(due + gap, now + gap / 2)  # catch up on lateness, by half a gap at most
                ok = await pause(due - now)
                if not ok:
                    break
            elif not index:
                due = loop.time()
            ok = await emit(frames[index])
            if ok:
                delivery.chunks_sent += 1
                delivery.writes[-1] = delivery.chunks_sent
                if delivery.ttft_ms is None:
                    delivery.ttft_ms = (time.perf_counter() - started) * 1000
            index += 1
        if ok and fault is not None and delivery.chunks_sent == fault.after_chunks:
            delivery.fault_at_ms = (time.perf_counter() - origin) * 1000
            await _fire(fault, [], emit, pause, encoder, delivery, speed)
            return
        if ok:
            await emit(encoder.done, more=False)
    finally:
        watcher.cancel()
        if gone.is_set():
            delivery.client_disconnected = True
            delivery.disconnected_after_ms = (time.perf_counter() - started) * 1000


async def _fire(
    fault: Fault, rest: list[bytes], emit: Emit, pause: Pause, encoder: StreamEncoder, delivery: Delivery, speed: float
) -> None:
    """Break the stream as ``fault`` says; ``rest`` are the frames not sent yet."""
    delivery.fault = fault.kind
    delivery.fault_after_chunks = delivery.chunks_sent
    kind = fault.kind
    if kind == "error":
        assert fault.error is not None
        if await emit(encoder.error_chunk(fault.error), more=False):
            delivery.chunks_sent += 1
            delivery.writes[-1] = delivery.chunks_sent
        return
    if kind == "truncate":
        await emit(b"", more=False)
        return
    if kind == "disconnect":
        raise DeliberateDisconnect
    if kind == "malformed":
        if not await emit(encoder.malformed):
            return
        delivery.chunks_sent += 1
        delivery.writes[-1] = delivery.chunks_sent
    elif kind == "stall":
        if not await _stall(fault, emit, pause, encoder, speed):
            return
    elif kind == "dribble":
        tail = b"".join(rest) + encoder.done
        gap = DRIBBLE_INTERVAL_MS * speed / 1000
        for i in range(0, len(tail), DRIBBLE_BYTES):
            if not await emit(tail[i : i + DRIBBLE_BYTES]) or not await pause(gap):
                return
        delivery.chunks_sent += len(rest)
        await emit(b"", more=False)
        return
    for frame in rest:
        if not await emit(frame):
            return
        delivery.chunks_sent += 1
        delivery.writes[-1] = delivery.chunks_sent
    await emit(encoder.done, more=False)


async def _stall(fault: Fault, emit: Emit, pause: Pause, encoder: StreamEncoder, speed: float) -> bool:
    """No data for ``fault.ms`` (unscaled; forever without it), keep-alives if asked.

    Returns whether the client is still there when the stall ends."""
    total = float("inf") if fault.ms is None else fault.ms / 1000
    gap = fault.keepalive_ms * speed / 1000 if fault.keepalive_ms else 0.0
    if gap <= 0:
        return await pause(total)
    waited = 0.0
    while waited < total:
        step = min(gap, total - waited)
        if not await pause(step):
            return False
        waited += step
        if waited < total and not await emit(encoder.keepalive):
            return False
    return True


async def write_broken_json(
    send: Send,
    receive: Receive,
    payload: bytes,
    headers: Headers,
    fault: Fault,
    delivery: Delivery,
    *,
    speed: float,
) -> None:
    """Faults on a non-streaming answer: the JSON body itself goes wrong (``payload`` is the
    body as it should have been)."""
    kind = fault.kind
    if kind == "stall":
        if fault.ms is not None:
            await asyncio.sleep(fault.ms / 1000)
        else:
            while (await receive())["type"] != "http.disconnect":
                pass
            delivery.client_disconnected = True
            return
        await send_response(send, 200, payload, JSON, headers)
        delivery.bytes_sent = len(payload)
        return
    half = payload[: len(payload) // 2]
    if kind == "malformed":
        await send_response(send, 200, half, JSON, headers)
        delivery.bytes_sent = len(half)
        return
    start = [(b"content-type", JSON), (b"content-length", str(len(payload)).encode()), *headers]
    await send({"type": "http.response.start", "status": 200, "headers": start})
    if kind == "dribble":
        for i in range(0, len(payload), DRIBBLE_BYTES):
            piece = payload[i : i + DRIBBLE_BYTES]
            await send({"type": "http.response.body", "body": piece, "more_body": True})
            delivery.bytes_sent += len(piece)
            if speed:
                await asyncio.sleep(DRIBBLE_INTERVAL_MS * speed / 1000)
        await send({"type": "http.response.body", "body": b""})
        return
    await send({"type": "http.response.body", "body": half, "more_body": True})
    delivery.bytes_sent = len(half)
    raise DeliberateDisconnect  # disconnect and truncate: the body ends short of its length
