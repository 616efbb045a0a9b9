"""The writer: sends a reply's SSE events straight to the ASGI ``send``, with the scripted
timing (scaled by ``--speed``) and faults, and records what was actually sent; and the
faults of a non-streaming answer (``write_broken_json``).

A stream with no delays and no fault is joined into one write (the common CI case, and the
fastest). Any other is a :class:`_Stream` the loop's :class:`~mockrouter.wire.pacer.Pacer`
steps, each chunk encoded and written when it is due; a fault is fired by the request's
coroutine once the pacer hands the stream back.
"""

from __future__ import annotations

import asyncio
import random
import time
from array import array
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ..core.reply import Fault, Reply, Timing
from ..errors import DeliberateDisconnect
from .asgi import Headers, Receive, Send, send_response
from .coalesce import CloseWatch
from .dialects.base import JSON, SSE, StreamEncoder
from .pacer import PENDING, Pacer, drive

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
    the pieces written (references, not copies). A paced stream without a fault keeps no
    pieces (``pieces`` None): what it sent is :func:`stream_body` cut at ``bytes_sent``, so
    the journal remakes it when shown rather than holding it."""

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
    pieces: list[bytes] | None = None


class Pacing:
    """Delays of one response in seconds, scaled by ``--speed``, with seeded jitter.

    ``timing.intervals_ms`` (recorded gaps) are served first, one per chunk after the first,
    from this response's own index; the chunks beyond them get ``interval``/``jitter``."""

    __slots__ = ("gaps", "interval", "intervals", "jitter", "latency", "next", "rng", "scale", "ttft")

    def __init__(self, timing: Timing, speed: float, rng: random.Random) -> None:
        # Only jitter draws from it: a seeded request's generator (2.5 kB) is not held else.
        self.rng = rng if timing.jitter_ms else None
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
        rng = self.rng
        if not self.jitter or rng is None:  # (no jitter_ms, or --speed 0)
            return self.interval
        return max(0.0, self.interval + rng.uniform(-self.jitter, self.jitter))


#: The pacing of an answer with no scripted delays (the common case; shared, it holds no state).
NO_PACING = Pacing(Timing(), 0.0, random.Random(0))


class _Stream:
    """One stream on its way: what the pacer steps (its chunks, keep-alives and the end, each
    written from the pacer's tick) and, for a fault, what the coroutine goes on with.

    Frames are encoded one ahead of the write (the next one tells whether this is the last),
    not all before the stream starts: an open stream holds one frame, not fifty."""

    __slots__ = (
        "chunk_due",
        "closed",
        "delivery",
        "due",
        "encoder",
        "ended",
        "events",
        "fault_after",
        "frame",
        "gap",
        "gone",
        "keepalives",
        "origin",
        "pacer",
        "pacing",
        "pausing",
        "receive",
        "send",
        "started",
        "waiter",
    )

    def __init__(
        self, send: Send, encoder: StreamEncoder, reply: Reply, pacing: Pacing, delivery: Delivery, pacer: Pacer
    ) -> None:
        self.send = send
        self.encoder = encoder
        self.events = reply.stream_events()
        self.pacing = pacing
        self.delivery = delivery
        self.pacer = pacer
        fault = reply.fault
        self.fault_after = -1 if fault is None else fault.after_chunks
        self.started = time.perf_counter()
        self.origin = delivery.origin or self.started
        self.frame = self.next_frame()
        self.keepalives = 0  # keep-alives still to send before the first chunk
        self.gap = 0.0  # between them
        self.chunk_due = 0.0  # when the next chunk is due (loop time)
        self.due: Any = None  # what to do once a write that had to wait is done: a deadline, or _END
        self.gone = False  # the client left
        self.ended = False  # the pacer is done with it (complete, failed, or handed back for its fault)
        self.closed = False  # the response's last write is made: a disconnect now is no news
        self.pausing: asyncio.Future[None] | None = None  # a fault's pause in progress
        loop = pacer.loop
        #: What the coroutine waits on: None when the stream is complete, _FAULT when its
        #: fault is due, _GONE when the client left; an exception when a write failed.
        self.waiter: asyncio.Future[Any] = loop.create_future()

    def next_frame(self) -> bytes | None:
        encode = self.encoder.encode
        for event in self.events:
            frame = encode(event)
            if frame is not None:
                return frame
        return None

    def rest(self) -> list[bytes]:
        """The frames not sent yet (the stream's fault is firing)."""
        frames = []
        frame = self.frame
        while frame is not None:
            frames.append(frame)
            frame = self.next_frame()
        self.frame = None
        return frames

    # -- the pacer's side ------------------------------------------------------------------

    def begin(self, keepalives: int) -> None:
        """Start the body: now (a first chunk due at once leaves with the head), or at the
        pacer's ticks (keep-alives spread over the time to the first token, then the chunks,
        due from the first)."""
        pacing = self.pacing
        now = self.pacer.loop.time()
        self.chunk_due = now + pacing.ttft
        if keepalives:
            self.keepalives = keepalives
            self.gap = pacing.ttft / (keepalives + 1)
            self.pacer.add(self, now + self.gap)
        elif pacing.ttft:
            self.pacer.add(self, self.chunk_due)
        else:
            due = self.step(now)
            if due is not None:
                self.pacer.add(self, due)

    def step(self, now: float) -> float | None:
        """Write what is due at loop time ``now`` (a keep-alive, or the next chunk and any due
        with it, or the end); the next deadline, or None (done, handed back, or waiting on a
        write)."""
        if self.ended or self.gone:
            return None
        if self.keepalives:
            self.keepalives -= 1
            due = self.chunk_due - self.gap * self.keepalives
            return due if self.write(self.encoder.keepalive, due) else None
        delivery = self.delivery
        pacing = self.pacing
        while True:
            if delivery.chunks_sent == self.fault_after:
                self.end(_FAULT)
                return None
            frame = self.frame
            if frame is None:
                self.ended = True
                if self.write(self.encoder.done, _END, more=False):
                    self.end(None)
                return None
            first = not delivery.chunks_sent
            self.frame = self.next_frame()
            if self.frame is not None and pacing.gaps:  # the next chunk's deadline
                gap = pacing.between()
                due = max((now if first else self.chunk_due) + gap, now + gap / 2)
            else:
                due = now
            self.chunk_due = due
            delivery.chunks_sent += 1
            if first:
                delivery.ttft_ms = (time.perf_counter() - self.started) * 1000
            if not self.write(frame, due):
                return None
            if due > now:
                return due

    def write(self, data: bytes, then: Any, *, more: bool = True) -> bool:
        """Send ``data`` from the pacer's tick; False when the stream must wait for it (the
        socket's buffer is full: it goes on with ``then`` once the write is done)."""
        self.sent(data)
        if not more:
            self.closed = True
        if drive(self.send({"type": "http.response.body", "body": data, "more_body": more}), self.written) is PENDING:
            self.due = then
            return False
        return True

    def sent(self, data: bytes) -> None:
        """Count ``data`` as written: bytes, the timeline, the pieces a fault stream keeps."""
        if data:
            delivery = self.delivery
            delivery.bytes_sent += len(data)
            delivery.writes.extend(((time.perf_counter() - self.origin) * 1000, len(data), delivery.chunks_sent))
            if delivery.pieces is not None:
                delivery.pieces.append(data)

    def written(self, _: Any, exc: BaseException | None) -> None:
        """A write that had to wait is done."""
        if exc is not None:
            self.fail(exc)
        elif self.due is _END:
            self.end(None)
        elif not self.gone:
            self.pacer.add(self, self.due)

    def end(self, outcome: Any) -> None:
        self.ended = True
        if not self.waiter.done():
            self.waiter.set_result(outcome)

    def fail(self, exc: BaseException) -> None:
        self.ended = True
        if not self.waiter.done():
            self.waiter.set_exception(exc)

    def watched(self, message: Any, exc: BaseException | None) -> None:
        """``receive`` answered: the client left (or, after the response, uvicorn says so)."""
        if exc is None and message.get("type") != "http.disconnect":
            self.pacer.loop.call_soon(self.watch)  # more of the request body: read on (next turn)
            return
        self.lost()

    def lost(self) -> None:
        """The client left: the pacer stops stepping this stream; a fault's pause wakes."""
        if self.closed:
            return
        self.gone = True
        if self.pausing is not None and not self.pausing.done():
            self.pausing.set_result(None)
        if not self.waiter.done():
            self.waiter.set_result(_GONE)

    def watch(self, receive: Receive | None = None) -> None:
        """Learn when the client leaves (``receive`` answers ``http.disconnect``), without a
        task: uvicorn's ``receive`` waits on one event, stepped by callbacks."""
        if receive is not None:
            self.receive = receive
        message = drive(self.receive(), self.watched)
        if message is not PENDING:
            self.watched(message, None)

    # -- the coroutine's side, once a fault fires ------------------------------------------

    async def emit(self, data: bytes, *, more: bool = True) -> bool:
        """Send one piece; False once the client has gone."""
        if self.gone:
            return False
        if not more:
            self.closed = True
        await self.send({"type": "http.response.body", "body": data, "more_body": more})
        self.sent(data)
        return not self.gone

    async def pause(self, seconds: float) -> bool:
        """Sleep, but wake as soon as the client leaves; False when it has."""
        if seconds <= 0 or self.gone:
            return not self.gone
        loop = self.pacer.loop
        future: asyncio.Future[None] = loop.create_future()
        timer = loop.call_later(seconds, _release, future) if seconds != float("inf") else None
        self.pausing = future
        try:
            await future
        finally:
            self.pausing = None
            if timer is not None:
                timer.cancel()
        return not self.gone


_END: Any = object()
_FAULT: Any = object()
_GONE: Any = object()


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
    pacer: Pacer,
    *,
    speed: float,
    close_watch: CloseWatch | None,
    then: Callable[[Delivery], None],
) -> None:
    """Send the whole SSE response for ``reply``; ``then(delivery)`` once it is over (sent,
    broken by its fault, or left by the client). The client leaving is learnt from
    ``close_watch`` (``wire.coalesce``) when the server gives one, else by awaiting
    ``receive``'s ``http.disconnect``.

    A stream with no delay and no fault leaves in one write. Any other is stepped by
    ``pacer`` (the loop's one scheduler of paced writes) while this coroutine waits for its
    end, the client leaving, or its fault (which it then fires itself). Paced chunks are due
    at times counted from the first chunk, not from the write before: a chunk sent late is
    followed by a shorter gap (never under half the scripted one), so a stream does not
    drift longer under load."""
    try:
        fault = reply.fault
        if fault is None and not pacing.active:
            started = time.perf_counter()
            origin = delivery.origin or started
            body, chunks = _body(encoder, reply)
            await send(_start(headers))
            await send({"type": "http.response.body", "body": body})
            delivery.bytes_sent = len(body)
            delivery.chunks_sent = chunks
            delivery.ttft_ms = (time.perf_counter() - started) * 1000
            delivery.writes.extend(((time.perf_counter() - origin) * 1000, len(body), chunks))
            delivery.pieces = [body]
            return

        if fault is not None:  # what a fault leaves sent is kept as written
            delivery.pieces = []
        stream = _Stream(send, encoder, reply, pacing, delivery, pacer)
        try:
            await send(_start(headers))
            del headers  # sent: an open stream does not hold them
            if close_watch is not None:
                close_watch.watch(stream.lost)
            else:
                stream.watch(receive)
            stream.begin(reply.keepalive)
            outcome = await stream.waiter
            if outcome is _FAULT and fault is not None:
                delivery.fault_at_ms = (time.perf_counter() - stream.origin) * 1000
                await _fire(fault, stream.rest(), stream.emit, stream.pause, encoder, delivery, speed)
        finally:
            stream.ended = stream.closed = True
            if close_watch is not None:
                close_watch.watch(None)
            if stream.gone:
                delivery.client_disconnected = True
                delivery.disconnected_after_ms = (time.perf_counter() - stream.started) * 1000
    finally:
        then(delivery)


def _start(headers: Headers) -> dict[str, Any]:
    return {
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"content-type", SSE), (b"cache-control", b"no-cache"), *headers],
    }


def stream_body(encoder: StreamEncoder, reply: Reply) -> bytes:
    """The whole body of ``reply``'s stream without a fault, as ``encoder`` (a fresh one)
    writes it: the keep-alives, every chunk, the end."""
    return _body(encoder, reply)[0]


def _body(encoder: StreamEncoder, reply: Reply) -> tuple[bytes, int]:
    frames = [b for event in reply.stream_events() if (b := encoder.encode(event)) is not None]
    return encoder.keepalive * reply.keepalive + b"".join(frames) + encoder.done, len(frames)


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
