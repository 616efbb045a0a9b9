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
"""

from __future__ import annotations

import asyncio
from typing import Any


class CoalescingTransport:
    """A transport that sends a response's head together with the write after it."""

    __slots__ = ("_head", "_loop", "_transport", "get_extra_info", "is_closing", "pause_reading", "resume_reading")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._head: bytes | None = None
        # What uvicorn calls on every request: the transport's own methods, no Python call between.
        self.is_closing = transport.is_closing
        self.get_extra_info = transport.get_extra_info
        self.pause_reading = transport.pause_reading
        self.resume_reading = transport.resume_reading

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


def coalescing(protocol: type[asyncio.Protocol]) -> type[asyncio.Protocol]:
    """``protocol`` (one of uvicorn's HTTP protocol classes) writing through a :class:`CoalescingTransport`."""

    class Coalescing(protocol):  # type: ignore[valid-type,misc]
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]

    Coalescing.__name__ = Coalescing.__qualname__ = "Coalescing" + protocol.__name__
    return Coalescing
