"""One scheduler for every paced write of an event loop.

A paced stream used to be a coroutine that slept between chunks: per chunk a timer, a future,
a task wake-up and an ``await send``. At 1,000 streams 20 ms apart that is 50,000 wake-ups a
second, and they, not the bytes, held the loop. :class:`Pacer` keeps every paced stream in one
deadline heap and one loop timer, set for the earliest deadline; when it fires, it steps every
stream that is due (within :data:`SLACK`), in deadline order, and each writes its chunk itself.
A stream's coroutine sleeps once, until its stream ends or needs it (a fault, the client gone).

Writing from a timer callback means calling the ASGI ``send`` without awaiting it:
:func:`drive` runs a coroutine to its end from callbacks, stepping it whenever the future it
waits on is done (what a Task does, without the Task). uvicorn's ``send`` returns without
waiting unless the socket's buffer is full; then the stream waits, off the heap, until the
write is done.

A burst of requests is taken on in one pass of the loop, and the timer waits for all of it;
so each request first calls :meth:`Pacer.catch_up`, which steps the streams overdue by more
than :data:`LATE`.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Awaitable, Callable
from functools import partial
from types import CoroutineType
from typing import Any, Protocol

__all__ = ["LATE", "PENDING", "SLACK", "Paced", "Pacer", "drive"]

#: Streams due this close after a tick are stepped in it (seconds): the loop's timers have
#: millisecond resolution, so waiting for a deadline half a millisecond away buys nothing.
SLACK = 0.0005


#: How late the most overdue stream must be before :meth:`Pacer.catch_up` steps the due ones
#: (seconds): a little lateness lets a burst of requests be taken on in one go.
LATE = 0.002


class Paced(Protocol):
    """What the pacer schedules: something stepped at its deadlines."""

    def step(self, now: float) -> float | None:
        """Do what is due at loop time ``now``; the next deadline, or None when done (or
        waiting on something else, which re-adds it)."""

    def fail(self, exc: BaseException) -> None:
        """``step`` raised ``exc``: end the stream with it (the other streams go on)."""


#: What :func:`drive` returns when the coroutine did not finish at once.
PENDING: Any = object()


def drive(awaitable: Awaitable[Any], then: Callable[[Any, BaseException | None], None]) -> Any:
    """Run ``awaitable`` without a Task: its result if it finishes at once (an exception it
    raises propagates); else :data:`PENDING`, and it is stepped again whenever the future it
    waits on is done (what a Task does), then ``then(result, None)`` or ``then(None, exc)``."""
    coro: Any = awaitable if type(awaitable) is CoroutineType else awaitable.__await__()
    try:
        future = coro.send(None)
    except StopIteration as stop:
        return stop.value
    _wait(coro, future, then)
    return PENDING


def _resume(coro: Any, then: Callable[[Any, BaseException | None], None], _: Any = None) -> None:
    try:
        future = coro.send(None)
    except StopIteration as stop:
        then(stop.value, None)
        return
    except BaseException as exc:
        then(None, exc)
        return
    _wait(coro, future, then)


def _wait(coro: Any, future: Any, then: Callable[[Any, BaseException | None], None]) -> None:
    if future is None:  # a bare yield (``asyncio.sleep(0)``): step again next turn
        asyncio.get_running_loop().call_soon(_resume, coro, then)
    else:
        future._asyncio_future_blocking = False  # taken on, as a Task does
        future.add_done_callback(partial(_resume, coro, then))  # (a partial: smaller than a closure)


class Pacer:
    """The deadline heap of one event loop's paced streams, and its one timer."""

    __slots__ = ("_at", "_heap", "_loop", "_order", "_timer")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._heap: list[tuple[float, int, Paced]] = []
        self._order = itertools.count()  # ties in deadline keep the order streams were added
        self._timer: asyncio.TimerHandle | None = None
        self._at = 0.0

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def __len__(self) -> int:
        return len(self._heap)

    def add(self, stream: Paced, due: float) -> None:
        """Step ``stream`` at loop time ``due`` (or at the first tick after it)."""
        heapq.heappush(self._heap, (due, next(self._order), stream))
        if self._timer is None or due < self._at:
            self._arm(due)

    def catch_up(self) -> None:
        """Step the streams already due, now: for code that keeps the loop busy (a burst of
        requests is taken on in one pass of the loop, and its timer waits for all of them)."""
        heap = self._heap
        if heap and heap[0][0] <= self._loop.time() - LATE:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._tick()

    def _arm(self, due: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._at = due
        self._timer = self._loop.call_at(due, self._tick)

    def _tick(self) -> None:
        self._timer = None
        heap = self._heap
        now = self._loop.time()
        limit = now + SLACK
        push, pop, order = heapq.heappush, heapq.heappop, self._order
        while heap and heap[0][0] <= limit:
            stream = pop(heap)[2]
            try:
                due = stream.step(now)
            except Exception as exc:
                stream.fail(exc)
                continue
            if due is not None:
                push(heap, (due, next(order), stream))
        if heap:
            self._arm(heap[0][0])
