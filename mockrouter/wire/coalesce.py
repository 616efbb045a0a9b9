"""One socket write per response: uvicorn's HTTP protocols with a response's head held for its body.

uvicorn writes a response's head when the app sends ``http.response.start`` and its body
when the app sends ``http.response.body``: two ``send()`` system calls, two TCP segments and
two wake-ups of the client for every JSON answer. On loopback each of those calls runs the
receiving side's TCP stack too, so they cost the server more than the rest of uvicorn's work
on a request.

:class:`CoalescingTransport` holds a response's head (a write that starts ``HTTP/``) until the
next write, and sends both in one call, at once; a head with nothing after it in the same loop
turn (a stream waiting for its first chunk) leaves at the end of that turn. Every other write
goes straight to the socket: a paced stream's chunk leaves the moment it is written, even
while the loop is busy taking on a burst of requests (holding writes to the end of the turn
delayed them by the whole burst). Closing flushes first, so a deliberately truncated body
still reaches the client before the connection drops.

The same protocols tell a request when its connection is lost: each request's scope gets the
key :data:`CLOSE_WATCH` (as Starlette adds ``app`` and ``router``): the connection's transport,
a :class:`CloseWatch`: ``watch(callback)`` has ``callback()`` called once when the connection
is lost, or at once if it is already (``watch(None)`` forgets it). A paced stream learns so
that its client left without keeping a ``receive()`` pending for seconds (a coroutine, an
event's waiter and a future: ~1 kB per open stream); :func:`close_watch` is how the app asks
for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial
from typing import Any, Protocol

__all__ = ["CLOSE_WATCH", "CloseWatch", "CoalescingTransport", "close_watch", "coalescing"]

#: The scope key of the connection's transport, to watch for its close (see the module's docstring).
CLOSE_WATCH = "mockrouter.close_watch"


#: ``CoalescingTransport._on_lost`` once the connection is lost.
_LOST: Any = object()


class CloseWatch(Protocol):
    """What tells a request that its connection is lost."""

    def watch(self, callback: Callable[[], None] | None) -> None:
        """Call ``callback`` once the connection is lost, at once if it is already (None:
        forget the one given before)."""


class CoalescingTransport:
    """A transport that sends a response's head together with the write after it."""

    __slots__ = ("_head", "_loop", "_on_lost", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._head: bytes | None = None
        self._on_lost: Callable[[], None] | None = None

    # What uvicorn calls on every request, passed on. (Methods, not the transport's bound methods
    # kept in slots: those were 256 bytes per connection, for ~0.1 µs a call.)

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def write(self, data: bytes) -> None:
        head = self._head
        if head is not None:  # the head waiting: it leaves with this write, now
            self._head = None
            if not self._transport.is_closing():
                self._transport.write(head + data)
        elif data[:5] == b"HTTP/":  # a response's head: held for its body, or to the end of the turn
            self._head = data
            self._loop.call_soon(self.flush)
        else:
            self._transport.write(data)

    def writelines(self, lines: Any) -> None:
        for data in lines:
            self.write(data)

    def flush(self) -> None:
        head = self._head
        if head is None:
            return
        self._head = None
        if not self._transport.is_closing():
            self._transport.write(head)

    def get_write_buffer_size(self) -> int:
        waiting = len(self._head) if self._head is not None else 0
        return self._transport.get_write_buffer_size() + waiting

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._head = None
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:  # the rest of the transport interface
        return getattr(self._transport, name)

    def watch(self, callback: Callable[[], None] | None) -> None:
        """Call ``callback`` once the connection is lost, at once if it is already (None:
        forget the one given before)."""
        if self._on_lost is _LOST:
            if callback is not None:
                callback()
            return
        self._on_lost = callback

    def lost(self) -> None:
        """The connection is lost: tell the one watching, once."""
        callback, self._on_lost = self._on_lost, _LOST
        if callback is not None and callback is not _LOST:
            callback()


def coalescing(protocol: type[asyncio.Protocol]) -> type[asyncio.Protocol]:
    """``protocol`` (one of uvicorn's HTTP protocol classes) writing through a :class:`CoalescingTransport`."""

    class Coalescing(protocol):  # type: ignore[valid-type,misc]
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            wrapper = CoalescingTransport(transport, self.loop)  # type: ignore[arg-type]
            super().connection_made(wrapper)  # (uvicorn keeps it as self.transport)
            self.app = partial(_with_close_watch, self.app, wrapper)  # type: ignore[has-type]

        def connection_lost(self, exc: Exception | None) -> None:
            super().connection_lost(exc)
            self.transport.lost()

    Coalescing.__name__ = Coalescing.__qualname__ = "Coalescing" + protocol.__name__
    return Coalescing


def _with_close_watch(app: Any, transport: CoalescingTransport, scope: Any, receive: Any, send: Any) -> Any:
    """Call ``app`` with the connection's transport in ``scope`` (a plain function returning
    the app's coroutine: no frame of its own while the request runs)."""
    scope[CLOSE_WATCH] = transport
    return app(scope, receive, send)


def close_watch(scope: Any) -> CloseWatch | None:
    """What tells that the connection ``scope`` came on is lost, if its server gives one."""
    return scope.get(CLOSE_WATCH)  # type: ignore[no-any-return]
