"""One socket write per response: uvicorn's HTTP protocols with writes coalesced per loop turn.

uvicorn writes a response's head when the app sends ``http.response.start`` and its body
when the app sends ``http.response.body``: two ``send()`` system calls, two TCP segments and
two wake-ups of the client for every JSON answer, and one per chunk of a stream. On
loopback each of those calls runs the receiving side's TCP stack too, so they cost the
server more than the rest of uvicorn's work on a request.

:class:`CoalescingTransport` keeps the writes made during one turn of the event loop and
hands them to the real transport together at the end of that turn (``call_soon``). What
an app sends without yielding to the loop leaves in one system call; anything it sends
after an ``await`` that waits (a scripted delay, a stall) is flushed before the wait ends,
so timing on the wire is unchanged. Closing flushes first, so a deliberately truncated
body still reaches the client before the connection drops.
"""

from __future__ import annotations

import asyncio
from typing import Any


class CoalescingTransport:
    """A transport that gathers the writes of one loop turn into one write of the real one."""

    __slots__ = ("_loop", "_pending", "_transport", "get_extra_info", "is_closing", "pause_reading", "resume_reading")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] | None = None
        # What uvicorn calls on every request: the transport's own methods, no Python call between.
        self.is_closing = transport.is_closing
        self.get_extra_info = transport.get_extra_info
        self.pause_reading = transport.pause_reading
        self.resume_reading = transport.resume_reading

    def write(self, data: bytes) -> None:
        pending = self._pending
        if pending is None:
            self._pending = [data]
            self._loop.call_soon(self.flush)
        else:
            pending.append(data)

    def writelines(self, lines: Any) -> None:
        for data in lines:
            self.write(data)

    def flush(self) -> None:
        pending = self._pending
        if pending is None:
            return
        self._pending = None
        if self._transport.is_closing():
            return
        self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def get_write_buffer_size(self) -> int:
        waiting = sum(map(len, self._pending)) if self._pending else 0
        return self._transport.get_write_buffer_size() + waiting

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending = None
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
