"""A response's head leaves with its body: the transport wrapper on a real event loop, and the
real server answering in one segment while scripted waits still reach the client on time."""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from typing import Any

import httpx
import pytest

from mockrouter.core.config import Config
from mockrouter.http.server import BackgroundServer, uvicorn_config
from mockrouter.wire.coalesce import CoalescingTransport

USER = [{"role": "user", "content": "stall, please"}]
REQUEST = (
    b"POST /api/v1/chat/completions HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer sk-co\r\n"
    b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
)


class RecordingTransport(asyncio.Transport):
    """The far side of the wrapper: records each write it receives as one call."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: object = None) -> object:
        return {"peername": ("127.0.0.1", 1)}.get(name, default)


def test_a_head_leaves_with_the_write_after_it_and_other_writes_at_once() -> None:
    async def scenario() -> tuple[list[bytes], list[bytes], list[bytes]]:
        inner = RecordingTransport()
        transport = CoalescingTransport(inner, asyncio.get_running_loop())
        transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
        assert inner.writes == [] and transport.get_write_buffer_size() == 19  # held for its body
        transport.write(b"body")
        answered = list(inner.writes)  # one write, at once: not at the end of the turn
        transport.write(b"chunk 1")  # no head waiting: straight out
        transport.write(b"chunk 2")
        chunks = list(inner.writes)
        transport.write(b"HTTP/1.1 200 OK\r\n\r\n")  # a head with nothing after it this turn
        await asyncio.sleep(0)  # leaves at the end of the turn
        return answered, chunks, inner.writes

    answered, chunks, writes = asyncio.run(scenario())
    assert answered == [b"HTTP/1.1 200 OK\r\n\r\nbody"]
    assert chunks == [*answered, b"chunk 1", b"chunk 2"]
    assert writes == [*chunks, b"HTTP/1.1 200 OK\r\n\r\n"]


def test_close_flushes_and_abort_drops() -> None:
    async def scenario() -> tuple[RecordingTransport, RecordingTransport]:
        loop = asyncio.get_running_loop()
        closed, aborted = RecordingTransport(), RecordingTransport()
        a, b = CoalescingTransport(closed, loop), CoalescingTransport(aborted, loop)
        a.write(b"HTTP/1.1 200 OK\r\n\r\n")  # a head waiting for its body
        a.close()
        b.write(b"HTTP/1.1 200 OK\r\n\r\n")
        b.abort()
        await asyncio.sleep(0)  # the scheduled flushes find nothing left to write
        assert a.get_extra_info("peername") == ("127.0.0.1", 1)  # everything else is the real transport's
        return closed, aborted

    closed, aborted = asyncio.run(scenario())
    assert closed.writes == [b"HTTP/1.1 200 OK\r\n\r\n"] and closed.closed
    assert aborted.writes == [] and aborted.aborted


def test_server_uses_the_coalescing_protocol() -> None:
    config = uvicorn_config(object(), Config(port=0))  # type: ignore[arg-type]
    config.load()
    assert config.http_protocol_class.__name__.startswith("Coalescing")


#: ``struct tcp_info`` (linux/tcp.h): ``tcpi_data_segs_in``, segments that carried data, is
#: the u32 at byte 152 (Linux 4.6 and later).
DATA_SEGS_IN = struct.Struct("=I")
DATA_SEGS_IN_OFFSET = 152


def _data_segments_in(sock: socket.socket) -> int | None:
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    except (AttributeError, OSError):  # not Linux
        return None
    if len(info) < DATA_SEGS_IN_OFFSET + 4:
        return None
    return DATA_SEGS_IN.unpack_from(info, DATA_SEGS_IN_OFFSET)[0]


def _answer(sock: socket.socket, reader: Any, body: bytes) -> None:
    sock.sendall(REQUEST % (len(body), body))
    assert reader.readline().startswith(b"HTTP/1.1 200")
    length = 0
    while (line := reader.readline()) != b"\r\n":
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            length = int(value)
    assert len(reader.read(length)) == length


def test_a_json_answer_leaves_in_one_segment(anyrouter_server: BackgroundServer) -> None:
    body = b'{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'
    with socket.create_connection(("127.0.0.1", anyrouter_server.port)) as sock, sock.makefile("rb") as reader:
        sock.settimeout(5)
        _answer(sock, reader, body)  # the connection is warm: only data segments are counted below
        before = _data_segments_in(sock)
        if before is None:
            pytest.skip("TCP_INFO's data segment count is Linux-only")
        _answer(sock, reader, body)
        after = _data_segments_in(sock)
    assert after is not None and after - before == 1  # head and body in one segment (uvicorn alone: 2)


def test_a_stall_still_sends_what_came_before_it(make_server, api_key: str) -> None:
    server = make_server(speed=1.0)
    scenario = (
        "name: stall-early\nmatch: {model: co/stall}\nsteps:\n"
        "  - content: one two three four five six\n    fault: {kind: stall, after_chunks: 2, ms: 1500}\n"
    )
    with httpx.Client(base_url=server.url) as admin:
        response = admin.post("/__mockrouter/scenarios", params={"key": api_key}, content=scenario)
        assert response.status_code == 201, response.text
    started = time.monotonic()
    seen: list[float] = []
    with (
        httpx.Client(base_url=server.base_url, headers={"authorization": f"Bearer {api_key}"}, timeout=10) as http,
        http.stream("POST", "/chat/completions", json={"model": "co/stall", "stream": True, "messages": USER}) as r,
    ):
        assert r.status_code == 200
        for line in r.iter_lines():
            if line.startswith("data: {"):
                seen.append(time.monotonic() - started)
    assert len(seen) >= 3
    assert seen[1] < 1.0  # the chunks before the stall arrived before it, not with what follows
    assert seen[-1] >= 1.4
