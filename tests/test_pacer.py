"""The one scheduler of paced writes (``wire.pacer``): ``drive`` runs a coroutine as a Task
would, the pacer steps every stream at (never before) its deadlines, and a real server keeps
hundreds of paced streams whole, in order and on time, through a client that stops reading."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import socket
import time

import httpx
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from mockrouter.core.config import Config
from mockrouter.http.server import BackgroundServer
from mockrouter.wire.pacer import PENDING, SLACK, Pacer, drive

# ---------------------------------------------------------------------------- drive


class Boom(Exception):
    pass


async def scripted(loop: asyncio.AbstractEventLoop, waits: list[str], result: int, fail: bool) -> int:
    """A coroutine that waits as ``waits`` says (a future resolved later, a bare yield, a
    future already resolved), then returns ``result`` or raises."""
    for kind in waits:
        if kind == "future":
            future = loop.create_future()
            loop.call_soon(future.set_result, None)
            await future
        elif kind == "sleep0":
            await asyncio.sleep(0)
        elif kind == "cancelled":
            future = loop.create_future()
            loop.call_soon(future.cancel)
            with contextlib.suppress(asyncio.CancelledError):
                await future
        else:  # "done": a future done before it is awaited does not suspend
            future = loop.create_future()
            future.set_result(None)
            await future
    if fail:
        raise Boom(result)
    return result


@settings(max_examples=60, deadline=None)
@given(
    waits=st.lists(st.sampled_from(["future", "sleep0", "done", "cancelled"]), max_size=6),
    result=st.integers(),
    fail=st.booleans(),
)
def test_drive_gives_what_awaiting_gives(waits: list[str], result: int, fail: bool) -> None:
    """Whatever the coroutine waits on, ``drive`` ends with the result or exception ``await``
    gives, at once (returned or raised) when nothing suspended it, else through ``then``."""

    async def main() -> tuple[object, list[tuple[object, BaseException | None]]]:
        loop = asyncio.get_running_loop()
        heard: list[tuple[object, BaseException | None]] = []
        ended = loop.create_future()

        def then(value: object, exc: BaseException | None) -> None:
            heard.append((value, exc))
            ended.set_result(None)

        try:
            now = drive(scripted(loop, waits, result, fail), then)
        except Boom as exc:
            now = exc
        if now is PENDING:
            await asyncio.wait_for(ended, 2)
        return now, heard

    now, heard = asyncio.run(main())
    suspends = any(kind != "done" for kind in waits)
    if suspends:
        assert now is PENDING and len(heard) == 1
        value, exc = heard[0]
        if fail:
            assert isinstance(exc, Boom) and exc.args == (result,) and value is None
        else:
            assert exc is None and value == result
    else:
        assert heard == []
        if fail:
            assert isinstance(now, Boom) and now.args == (result,)
        else:
            assert now == result


# ---------------------------------------------------------------------------- the pacer


class Ticker:
    """A stream stepped at the deadlines ``offsets`` (seconds after it is added): it notes the
    loop time of each step; ``bad`` makes its step at that index raise."""

    def __init__(self, loop: asyncio.AbstractEventLoop, offsets: list[float], bad: int | None) -> None:
        self.loop = loop
        self.offsets = offsets
        self.bad = bad
        self.deadlines: list[float] = []
        self.stepped: list[float] = []
        self.failed: BaseException | None = None
        self.finished = loop.create_future()

    def start(self, pacer: Pacer) -> None:
        due = self.loop.time() + self.offsets[0]
        self.deadlines.append(due)
        pacer.add(self, due)

    def step(self, now: float) -> float | None:
        self.stepped.append(now)
        index = len(self.stepped) - 1
        if index == self.bad:
            raise Boom(index)
        if index + 1 == len(self.offsets):
            self.finished.set_result(None)
            return None
        due = self.deadlines[-1] + self.offsets[index + 1]
        self.deadlines.append(due)
        return due

    def fail(self, exc: BaseException) -> None:
        self.failed = exc
        self.finished.set_result(None)


@settings(max_examples=25, deadline=None)
@given(
    streams=st.lists(
        st.tuples(
            st.lists(st.sampled_from([0.0, 0.001, 0.002, 0.005, 0.013]), min_size=1, max_size=8),
            st.none() | st.integers(0, 7),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_pacer_steps_every_stream_at_its_deadlines(streams: list[tuple[list[float], int | None]]) -> None:
    """Each stream is stepped once per deadline, in order, never before its deadline (less
    the slack), and a stream whose step raises is failed alone: the others go on."""

    async def main() -> list[Ticker]:
        loop = asyncio.get_running_loop()
        pacer = Pacer(loop)
        tickers = [Ticker(loop, offsets, bad) for offsets, bad in streams]
        for ticker in tickers:
            ticker.start(pacer)
        await asyncio.wait_for(asyncio.gather(*(t.finished for t in tickers)), 5)
        assert len(pacer) == 0
        return tickers

    for ticker in asyncio.run(main()):
        steps = len(ticker.offsets) if ticker.bad is None or ticker.bad >= len(ticker.offsets) else ticker.bad + 1
        assert len(ticker.stepped) == steps
        for due, at in zip(ticker.deadlines, ticker.stepped, strict=False):
            assert at >= due - SLACK - 1e-9
        assert ticker.stepped == sorted(ticker.stepped)
        if steps <= len(ticker.offsets) and ticker.bad is not None and ticker.bad < len(ticker.offsets):
            assert isinstance(ticker.failed, Boom)
        else:
            assert ticker.failed is None


def test_catch_up_steps_only_what_is_overdue_and_the_timer_goes_on() -> None:
    """While the loop is busy (a burst of requests), ``catch_up`` steps the streams overdue by
    more than ``LATE`` at once, leaves the others, and the pacer's one timer still steps every
    later deadline once."""

    async def main() -> tuple[Ticker, Ticker, int, int]:
        loop = asyncio.get_running_loop()
        pacer = Pacer(loop)
        soon, later = Ticker(loop, [0.001, 0.010, 0.010], None), Ticker(loop, [0.050], None)
        soon.start(pacer)
        later.start(pacer)
        time.sleep(0.005)  # the loop is busy: soon's first deadline passes by more than LATE
        pacer.catch_up()
        stepped_soon, stepped_later = len(soon.stepped), len(later.stepped)
        await asyncio.wait_for(asyncio.gather(soon.finished, later.finished), 2)
        return soon, later, stepped_soon, stepped_later

    soon, later, stepped_soon, stepped_later = asyncio.run(main())
    assert (stepped_soon, stepped_later) == (1, 0)
    assert len(soon.stepped) == 3 and len(later.stepped) == 1
    for ticker in (soon, later):
        assert all(at >= due - SLACK - 1e-9 for due, at in zip(ticker.deadlines, ticker.stepped, strict=True))


# ---------------------------------------------------------------------------- through a real server


def paced_scenario(name: str, pieces: list[str], interval_ms: float) -> str:
    return yaml.safe_dump(
        {
            "name": name,
            "match": {"last_user": name},
            "steps": [{"stream": {"chunks": pieces}, "timing": {"interval_ms": interval_ms}}],
        }
    )


def request_bytes(port: int, key: str, user: str) -> bytes:
    body = json.dumps({"model": "x/y", "stream": True, "messages": [{"role": "user", "content": user}]}).encode()
    return (
        b"POST /api/v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1:%d\r\nauthorization: Bearer %s\r\n"
        b"content-type: application/json\r\nconnection: close\r\ncontent-length: %d\r\n\r\n%s"
        % (port, key.encode(), len(body), body)
    )


def dechunk(raw: bytes) -> bytes:
    """The body of a chunked HTTP/1.1 response (``raw``: the whole response)."""
    head, rest = raw.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200"), head
    body = bytearray()
    while True:
        size_line, rest = rest.split(b"\r\n", 1)
        size = int(size_line, 16)
        if size == 0:
            return bytes(body)
        body += rest[:size]
        rest = rest[size + 2 :]


def contents(body: bytes) -> list[str]:
    events = [e[6:] for e in body.split(b"\n\n") if e.startswith(b"data: ")]
    assert events[-1] == b"[DONE]", events[-3:]
    chunks = [json.loads(e) for e in events[:-1]]
    return [c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]]


@pytest.fixture(scope="module")
def timed_server(make_server):
    return make_server(speed=1.0)


def test_many_paced_streams_at_once_each_whole_in_order_and_paced(timed_server, api_key):
    """300 streams of 12 chunks 20 ms apart, opened at once: every one gets its own pieces in
    order and [DONE], none ends before its 11 gaps could have passed (less the catch-up of
    half a gap each), and the journal counts every chunk."""
    pieces = [f"p{i:02d} " for i in range(10)]  # + the role and finish chunks: 12 paced events
    with httpx.Client(base_url=timed_server.url) as admin:
        added = admin.post(
            "/__mockrouter/scenarios", params={"key": api_key}, content=paced_scenario("many", pieces, 20)
        )
        assert added.status_code == 201, added.text
    port = int(timed_server.url.rsplit(":", 1)[1])
    request = request_bytes(port, api_key, "many")

    async def one() -> tuple[bytes, float]:
        started = time.monotonic()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request)
        raw = await asyncio.wait_for(reader.read(), 30)
        writer.close()
        return raw, time.monotonic() - started

    async def wave() -> list[tuple[bytes, float]]:
        return await asyncio.gather(*(one() for _ in range(300)))

    for raw, took in asyncio.run(wave()):
        assert contents(dechunk(raw)) == ["", *pieces, ""]  # role, the pieces, the finish chunk
        assert took >= 11 * 0.020 / 2
    with httpx.Client(base_url=timed_server.url) as admin:
        entries = admin.get("/__mockrouter/requests", params={"key": api_key, "limit": 1000}).json()["data"]
    assert len(entries) == 300
    assert {e["chunks_sent"] for e in entries} == {12}
    assert not any(e["client_disconnected"] for e in entries)


def test_a_client_that_stops_reading_still_gets_everything(timed_server, api_key):
    """A paced stream of 12 MB (48 chunks of 250 kB, 2 ms apart: four pieces, each written
    once in the scenario and repeated through YAML aliases) to a client with a small receive
    buffer that reads nothing for a second: the socket fills, uvicorn's ``send`` waits for it
    to drain (the writer's write that had to wait), and then the client gets every byte, in
    order, and the journal the same count."""
    letters = "abcd"
    pieces = [letters[i % 4] * 250_000 for i in range(48)]
    text = (
        "name: slow-reader\nmatch: {last_user: slow-reader}\nsteps:\n  - timing: {interval_ms: 2}\n"
        "    stream:\n      chunks:\n"
        + "".join(f"        - &{c} {c * 250_000}\n" for c in letters)
        + "".join(f"        - *{letters[i % 4]}\n" for i in range(4, 48))
    )
    with httpx.Client(base_url=timed_server.url, timeout=30) as admin:
        added = admin.post("/__mockrouter/scenarios", params={"key": api_key}, content=text)
        assert added.status_code == 201, added.text
    port = int(timed_server.url.rsplit(":", 1)[1])
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", port))
        sock.sendall(request_bytes(port, api_key, "slow-reader"))
        time.sleep(1.0)  # the server writes on meanwhile: its buffers fill
        sock.settimeout(30)
        raw = bytearray()
        while data := sock.recv(1 << 20):
            raw += data
    body = dechunk(bytes(raw))
    assert contents(body) == ["", *pieces, ""]
    with httpx.Client(base_url=timed_server.url) as admin:
        entry = admin.get("/__mockrouter/requests", params={"key": api_key}).json()["data"][-1]
    assert entry["bytes_sent"] == len(body) and entry["chunks_sent"] == 50
    assert not entry["client_disconnected"]


SURFACE_REQUESTS = {
    "chat": ("/chat/completions", {"messages": [{"role": "user", "content": "remade"}]}),
    "text": ("/completions", {"prompt": "remade"}),
    "messages": ("/messages", {"max_tokens": 100, "messages": [{"role": "user", "content": "remade"}]}),
    "responses": ("/responses", {"input": "remade"}),
}


@pytest.mark.parametrize("surface", sorted(SURFACE_REQUESTS))
def test_the_journal_shows_the_paced_answer_byte_for_byte(timed_server, api_key, surface):
    """A paced stream keeps no copy of what it wrote: the journal makes it again when shown.
    On every surface, with keep-alives, it is byte for byte what the client got."""
    with httpx.Client(base_url=timed_server.url) as admin:
        added = admin.post(
            "/__mockrouter/scenarios",
            params={"key": api_key},
            content="name: remade\nmatch: {last_user: remade}\nsteps:\n"
            "  - content: one two three four five six seven\n    stream: {chunk_tokens: 2, keepalive: 2}\n"
            "    timing: {ttft_ms: 30, interval_ms: 5, jitter_ms: 3}\n",
        )
        assert added.status_code == 201, added.text
    path, body = SURFACE_REQUESTS[surface]
    with httpx.Client(base_url=timed_server.base_url, headers={"authorization": f"Bearer {api_key}"}) as http:
        got = http.post(path, json={"model": "x/y", "stream": True, **body})
    assert got.status_code == 200, got.text
    with httpx.Client(base_url=timed_server.url) as admin:
        newest = admin.get("/__mockrouter/requests", params={"key": api_key}).json()["data"][-1]
        detail = admin.get(f"/__mockrouter/requests/{newest['id']}").json()
    assert detail["answer"].encode() == got.content
    assert detail["bytes_sent"] == len(got.content) and detail["answer_cut"] is False
    assert sum(size for _, size, _ in detail["timeline"]) == len(got.content)


def add_scenario(server, key: str, text: str) -> None:
    with httpx.Client(base_url=server.url) as admin:
        added = admin.post("/__mockrouter/scenarios", params={"key": key}, content=text)
        assert added.status_code == 201, added.text


def journaled(server, key: str) -> list[dict]:
    """The key's journal entries, once there is one (a stream is journaled when it ends)."""
    deadline = time.monotonic() + 10
    while True:
        with httpx.Client(base_url=server.url) as admin:
            entries = admin.get("/__mockrouter/requests", params={"key": key}).json()["data"]
        if entries or time.monotonic() > deadline:
            return entries
        time.sleep(0.02)


def paced_gaps(server, key: str, scenario: str, user: str) -> tuple[dict, list[float]]:
    """Add ``scenario`` for ``key``, stream one chat answer for ``user``: its journal entry and
    the gaps between its chunks, as the journal's timeline measures them."""
    add_scenario(server, key, scenario)
    with httpx.Client(base_url=server.base_url, headers={"authorization": f"Bearer {key}"}) as http:
        got = http.post(
            "/chat/completions",
            json={"model": "x/y", "stream": True, "messages": [{"role": "user", "content": user}]},
        )
    assert got.status_code == 200, got.text
    with httpx.Client(base_url=server.url) as admin:
        newest = admin.get("/__mockrouter/requests", params={"key": key}).json()["data"][-1]
        detail = admin.get(f"/__mockrouter/requests/{newest['id']}").json()
    times = [at for at, _, _ in detail["timeline"][:-1]]  # the chunks (the last write is [DONE], at once after them)
    return detail, [b - a for a, b in itertools.pairwise(times)]


def test_seeded_jitter_paces_a_stream_the_same_way_each_time(make_server):
    """``jitter_ms`` is drawn from the request's seeded generator as the pacer steps the stream:
    two servers with the same ``--seed`` give one request the same gaps (as the journal's
    timeline measures them), and the gaps do vary."""
    scenario = (
        "name: jittery\nmatch: {last_user: jitter}\nsteps:\n"
        "  - content: a b c d e f g h i j\n    timing: {interval_ms: 40, jitter_ms: 30}\n"
    )
    _, first = paced_gaps(make_server(speed=1.0, seed=20), "sk-jitter", scenario, "jitter")
    _, second = paced_gaps(make_server(speed=1.0, seed=20), "sk-jitter", scenario, "jitter")
    assert len(first) == len(second) >= 9
    assert max(first) - min(first) > 10  # 40 +- 30 ms: drawn, not fixed
    differences = sorted(abs(a - b) for a, b in zip(first, second, strict=True))
    assert differences[len(differences) // 2] < 5, (first, second)  # the same draws (timer noise aside)


@pytest.mark.parametrize("speed", [0.5, 2.0])
def test_speed_scales_a_paced_stream(make_server, speed: float) -> None:
    """``--speed`` multiplies every scripted delay of a paced stream: its TTFT and each gap (as
    the journal's timeline measures them)."""
    scenario = "name: sped\nmatch: {last_user: sped}\nsteps:\n  - content: a b c d e f g h\n"
    scenario += "    timing: {ttft_ms: 60, interval_ms: 30}\n"
    detail, gaps = paced_gaps(make_server(speed=speed), "sk-speed", scenario, "sped")
    gaps.sort()
    assert len(gaps) >= 8
    assert 30 * speed * 0.7 < gaps[len(gaps) // 2] < 30 * speed * 1.5, gaps
    assert 60 * speed * 0.9 < detail["ttft_ms"] < 60 * speed + 100, detail["ttft_ms"]


@pytest.fixture(scope="module")
def h11_server():
    """uvicorn's pure-Python HTTP protocol (``serve`` uses httptools): the pacer drives its
    ``send`` and ``receive`` as well."""
    server = BackgroundServer(Config(port=0, speed=1.0), http="h11").start()
    yield server
    server.stop()


def test_paced_streams_keepalives_and_a_stall_on_h11(h11_server) -> None:
    key = "sk-h11"
    add_scenario(
        h11_server,
        key,
        "name: h11-paced\nmatch: {last_user: paced}\nsteps:\n"
        "  - content: one two three four five\n    stream: {keepalive: 3}\n"
        "    timing: {ttft_ms: 60, interval_ms: 10}\n"
        "---\nname: h11-stall\nmatch: {last_user: stall}\nsteps:\n"
        "  - content: one two three four five\n    timing: {interval_ms: 5}\n"
        "    fault: {kind: stall, after_chunks: 2, ms: 150, keepalive_ms: 40}\n",
    )
    with httpx.Client(base_url=h11_server.base_url, headers={"authorization": f"Bearer {key}"}, timeout=10) as http:
        paced = http.post("/chat/completions", json={"model": "x/y", "stream": True, "messages": [
            {"role": "user", "content": "paced"}]})  # fmt: skip
        stalled = http.post("/chat/completions", json={"model": "x/y", "stream": True, "messages": [
            {"role": "user", "content": "stall"}]})  # fmt: skip
    assert paced.status_code == 200 and stalled.status_code == 200
    assert paced.text.count(": keep-alive") == 3
    assert "".join(contents(paced.content)) == "one two three four five"
    assert stalled.text.count(": keep-alive") >= 2  # every 40 ms through a 150 ms stall
    assert "".join(contents(stalled.content)) == "one two three four five"
    with httpx.Client(base_url=h11_server.url) as admin:
        entries = admin.get("/__mockrouter/requests", params={"key": key}).json()["data"]
    assert [e["bytes_sent"] for e in entries] == [len(paced.content), len(stalled.content)]
    assert entries[1]["fault"] == "stall" and entries[1]["fault_after_chunks"] == 2
    assert entries[0]["ttft_ms"] >= 60


@pytest.fixture(scope="module")
def plain_server():
    """uvicorn's own httptools protocol, not mockrouter's (``serve`` adds the close watch and
    coalescing; an app mounted in another server has neither): a stream learns that its client
    left by awaiting ``receive``."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    server = BackgroundServer(Config(port=0, speed=1.0), http=HttpToolsProtocol).start()
    yield server
    server.stop()


@pytest.mark.parametrize("which", ["h11_server", "timed_server", "plain_server"])
@pytest.mark.parametrize("fault", ["", "    fault: {kind: stall, after_chunks: 2}\n"])
def test_a_client_that_leaves_a_paced_stream_is_journaled_as_gone(request, which: str, fault: str) -> None:
    """On h11 and httptools (mockrouter's protocols: the connection's close watch) and on
    uvicorn's plain httptools (``receive`` answers ``http.disconnect``), a client that leaves
    after two chunks ends its stream at once, even one stalled until the client leaves, and the
    journal says it left."""
    server = request.getfixturevalue(which)
    key = f"sk-gone-{which}-{len(fault)}"
    scenario = "name: gone\nmatch: {last_user: leave}\nsteps:\n  - content: a b c d e f g h i j k l\n"
    add_scenario(server, key, scenario + "    timing: {interval_ms: 50}\n" + fault)
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(request_bytes(server.port, key, "leave"))
        got = b""
        while got.count(b"data: ") < 2:
            got += sock.recv(65536)
        if fault:
            time.sleep(0.2)  # the stall has begun (its third chunk was due 50 ms after the second)
    left = time.monotonic()
    [entry] = journaled(server, key)
    assert entry["client_disconnected"] is True, entry
    assert 2 <= entry["chunks_sent"] < 14  # gone long before its 13 chunks and 600 ms were up
    assert entry["duration_ms"] < 600 and time.monotonic() - left < 0.5
    assert entry["fault"] == ("stall" if fault else None)


@pytest.mark.parametrize("which", ["h11_server", "timed_server", "plain_server"])
def test_a_client_gone_before_its_stream_starts_ends_it_at_once(request, which: str) -> None:
    """The client leaves while the answer waits out its latency: the stream, once it starts,
    finds it gone (the close watch says so at once, as ``receive`` does), sends nothing paced,
    and the journal says the client left."""
    server = request.getfixturevalue(which)
    key = f"sk-early-{which}"
    scenario = "name: early\nmatch: {last_user: early}\nsteps:\n  - content: a b c d e f g h i j k l\n"
    add_scenario(server, key, scenario + "    timing: {latency_ms: 300, interval_ms: 100}\n")
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(request_bytes(server.port, key, "early"))
        time.sleep(0.1)
    [entry] = journaled(server, key)
    assert entry["client_disconnected"] is True, entry
    assert entry["chunks_sent"] <= 1 and entry["duration_ms"] < 1000  # not its 13 chunks, 1.5 s
