"""One pipelined connection to Redis for the request path: commands packed and replies parsed
by hiredis (the C parser redis-py uses too), written on one socket as they come, replies matched
to callers in order.

Why not redis-py's own client here: measured on this project's machines, one redis-py asyncio
pipeline of the request's three commands costs ~90-100 µs of client CPU (its connection pool,
locks, stream reader and per-command callbacks), and a raw redis-py connection ~85 µs; this
connection costs ~14 µs under load, because many requests' calls share one socket without
waiting for each other (Redis answers in order). redis-py still does everything else: the check
at start, scripts, blocking reads, resets, the admin reads. The calls made in one turn of the
event loop leave in one write.

A connection that breaks fails every call in flight with ``ConnectionError`` and is opened
again by the next call. A reply that does not come within ``timeout`` seconds (a Redis that
hangs rather than goes away) breaks the connection the same way.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import hiredis

__all__ = ["ReplyError", "Wire", "pack"]

ReplyError = hiredis.ReplyError
#: A command (a tuple of str, bytes, int or float) as RESP bytes (hiredis' stub types it narrower).
pack: Callable[[tuple[Any, ...]], bytes] = hiredis.pack_command


class _Protocol(asyncio.Protocol):
    def __init__(self, wire: Wire) -> None:
        self.wire = wire
        self.reader = hiredis.Reader()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not an asyncio.Transport subclass

    def data_received(self, data: bytes) -> None:
        reader = self.reader
        reader.feed(data)
        waiting = self.wire.waiting
        while (reply := reader.gets()) is not False:
            if not waiting:  # a reply nobody asked for: the stream is out of step
                self.wire.broken(ConnectionError("Redis sent a reply nobody asked for"))
                return
            call = waiting[0]
            call.replies.append(reply)
            if len(call.replies) == call.count:
                waiting.popleft()
                if not call.future.done():
                    call.future.set_result(call.replies)

    def connection_lost(self, exc: Exception | None) -> None:
        self.wire.broken(ConnectionError(f"connection to Redis lost: {exc}" if exc else "Redis closed the connection"))


class _Call:
    __slots__ = ("count", "future", "replies", "sent")

    def __init__(self, future: asyncio.Future[list[Any]], count: int, sent: float) -> None:
        self.future = future
        self.count = count
        self.replies: list[Any] = []
        self.sent = sent


class Wire:
    """Pipelined calls on one connection (``connect`` arguments as redis-py's ``parse_url``)."""

    def __init__(
        self,
        host: str,
        port: int = 6379,
        db: int = 0,
        username: str | None = None,
        password: str | None = None,
        *,
        tls: bool = False,
        timeout: float = 5.0,
        connect_timeout: float = 2.0,
    ) -> None:
        self.host, self.port, self.db = host, port, db
        self.username, self.password, self.tls = username, password, tls
        self.timeout, self.connect_timeout = timeout, connect_timeout
        self.waiting: deque[_Call] = deque()
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Lock | None = None
        self._watchdog: asyncio.TimerHandle | None = None
        #: Calls of this loop turn not written yet.
        self._out: list[bytes] = []

    async def call(self, packed: bytes, count: int) -> list[Any]:
        """Send ``packed`` (``count`` commands, packed with :func:`pack`); their replies, in order
        (an error reply is a :class:`ReplyError` in its place). Raises ``ConnectionError``."""
        protocol = self._protocol
        if protocol is None or protocol.transport is None or protocol.transport.is_closing():
            protocol = await self._connect()
        assert protocol.transport is not None
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Any]] = loop.create_future()
        self.waiting.append(_Call(future, count, time.monotonic()))
        if not self._out:  # the calls of one loop turn leave in one write (one system call)
            loop.call_soon(self._send, protocol)
        self._out.append(packed)
        if self._watchdog is None:
            self._watchdog = loop.call_later(self.timeout, self._check)
        return await future

    def _send(self, protocol: _Protocol) -> None:
        out, self._out = self._out, []
        if protocol.transport is not None and not protocol.transport.is_closing():
            protocol.transport.write(b"".join(out))

    def broken(self, exc: Exception) -> None:
        """Fail every call in flight and drop the connection (the next call opens another)."""
        protocol, self._protocol = self._protocol, None
        if protocol is not None and protocol.transport is not None:
            protocol.transport.abort()
        waiting, self.waiting = self.waiting, deque()
        self._out = []
        for call in waiting:
            if not call.future.done():
                call.future.set_exception(exc)

    def _check(self) -> None:
        """Break the connection if its oldest call has waited ``timeout`` seconds (Redis hangs)."""
        self._watchdog = None
        if not self.waiting:
            return
        age = time.monotonic() - self.waiting[0].sent
        if age >= self.timeout:
            self.broken(ConnectionError(f"Redis did not answer within {self.timeout:g} s"))
        else:
            self._watchdog = asyncio.get_running_loop().call_later(self.timeout - age, self._check)

    async def _connect(self) -> _Protocol:
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            current = self._protocol
            if current is not None and current.transport is not None and not current.transport.is_closing():
                return current
            loop = asyncio.get_running_loop()
            context = ssl.create_default_context() if self.tls else None
            try:
                _, protocol = await asyncio.wait_for(
                    loop.create_connection(lambda: _Protocol(self), self.host, self.port, ssl=context),
                    self.connect_timeout,
                )
            except TimeoutError:
                raise ConnectionError(f"timed out connecting to {self.host}:{self.port}") from None
            except OSError as exc:
                raise ConnectionError(f"cannot connect to {self.host}:{self.port}: {exc.strerror or exc}") from None
            self._protocol = protocol
            setup: list[tuple[Any, ...]] = []
            if self.password is not None:
                auth = ("AUTH", self.username, self.password) if self.username else ("AUTH", self.password)
                setup.append(auth)
            if self.db:
                setup.append(("SELECT", self.db))
            if setup:
                replies = await self.call(b"".join(pack(c) for c in setup), len(setup))
                for reply in replies:
                    if isinstance(reply, ReplyError):
                        self.broken(ConnectionError(f"Redis refused the connection's setup: {reply}"))
                        raise ConnectionError(f"Redis refused the connection's setup: {reply}")
            return protocol

    def close(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        self.broken(ConnectionError("closed"))
