"""The state of every worker and host in one Redis (``--store redis://HOST:PORT/DB``; Valkey too).

What lives where (``{tag}`` is 16 hex digits of the SHA-256 of the API key, so that every Redis
key of one API key is in one Redis Cluster slot, and no key shows in ``KEYS *``):

- ``mr:{tag}:k`` — a hash: the key's rate window (``ws``, ``wc``) and what it spent (``spend``);
- ``mr:{tag}:s:<16 hex of the state key>`` — a hash: the state key's request count (``n``) and
  its cursors (``c:<scenario>``); the state key is the API key, a session or a test;
- ``mr:journal`` — the journal, a Stream capped at ``--journal-size`` (oldest dropped first);
  ``mr:journal:gen`` changes when entries are deleted (a reset), so readers rebuild;
- ``mr:scoped`` / ``mr:scoped:ver`` — scenarios added to a key's or a test's scope, and their
  version (every process reloads its scoped scenarios when it sees a new one);

One round trip per request, on one pipelined connection (``_resp.Wire``: hiredis packs and
parses; redis-py's client, which costs several times more per call, does all the rest): the
``BEGIN`` script (rate window, credit check, request count and cursor, atomically) goes with a
``GET`` of the scoped-scenario version and the writes that wait: ``XADD`` of journal entries of
requests that ended since the last call, and charges of keys without a credit limit. A write is
sent at once when no other request is in flight (so other processes see it), else with the next
request's round trip or, if none comes, after ``FLUSH_DELAY_S``. A key with credits adds the
``CHARGE`` script (check and charge, atomically), a key with its own rate limit one window call
before the body is read.

--state-ttl is Redis' own expiry: every call sets the hashes it touches to expire after the TTL;
a key that spent something (or is in the keyring) keeps its ``k`` hash.

Redis lost while serving: calls raise :class:`~mockrouter.errors.StoreUnavailable` (the HTTP
layer answers 503 naming the store); journal entries wait in this process until Redis is back.
Each script is atomic, so a request changes all it should or nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import itertools
import os
import socket
import time
from collections import deque
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson
import redis.asyncio as aioredis
from redis.asyncio.connection import parse_url
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..core.config import STORE_SCHEMES, store_scheme
from ..errors import ConfigError, StoreUnavailable
from ._resp import ReplyError, Wire, pack
from .journal import Journal, JournalEntry, decode_entry, encode_entry
from .store import TEST_PREFIX, Began, Begin, State, who

__all__ = ["FLUSH_DELAY_S", "RedisStore", "check_reachable", "shown_url"]

#: How long a finished request's journal entry may wait for another request's round trip before
#: it is written on its own (only while other requests are in flight: an idle server writes it at once).
FLUSH_DELAY_S = 0.002
#: While Redis is away, how often waiting journal entries are retried.
RETRY_S = 0.5
#: The longest one blocking read of the journal stream waits (``wait`` reads again until its timeout).
BLOCK_S = 2.0

_PREFIX = "mr:"
JOURNAL = "mr:journal"
JOURNAL_GEN = "mr:journal:gen"
SCOPED = "mr:scoped"
SCOPED_VER = "mr:scoped:ver"

#: KEYS: the state key's hash, the API key's hash. ARGV: now, window_s|'', limit|'', count (1|0),
#: credits|'', need, scenario|'', count the request (1|0), state TTL ms, key TTL ms (0: keep), who
#: (``store.who``: the inspector's name for the state key, written with the first request).
#: Returns {seq, served, window count, window start, status (1 ok, 0 rate limited, 2 no credit), spend}.
BEGIN = """
local wc, ws, status = 0, '0', 1
if ARGV[2] ~= '' then
  local v = redis.call('HMGET', KEYS[2], 'ws', 'wc')
  ws = v[1] or '0'
  wc = tonumber(v[2]) or 0
  if tonumber(ARGV[1]) - tonumber(ws) >= tonumber(ARGV[2]) then ws = ARGV[1]; wc = 0 end
  if ARGV[3] ~= '' and wc >= tonumber(ARGV[3]) then status = 0
  elseif ARGV[4] == '1' then wc = wc + 1 end
  redis.call('HSET', KEYS[2], 'ws', ws, 'wc', wc)
end
local spend = redis.call('HGET', KEYS[2], 'spend') or '0'
local kttl = tonumber(ARGV[10])
if kttl > 0 and tonumber(spend) == 0 then redis.call('PEXPIRE', KEYS[2], kttl) end
local seq, served = 0, -1
if status == 1 and ARGV[5] ~= '' then
  local remaining = tonumber(ARGV[5]) - tonumber(spend)
  if remaining <= 0 or tonumber(ARGV[6]) > remaining then status = 2 end
end
if status == 1 and ARGV[8] == '1' then
  seq = redis.call('HINCRBY', KEYS[1], 'n', 1)
  if seq == 1 then redis.call('HSET', KEYS[1], 'w', ARGV[11]) end
  if ARGV[7] ~= '' then served = redis.call('HINCRBY', KEYS[1], 'c:' .. ARGV[7], 1) - 1 end
  local sttl = tonumber(ARGV[9])
  if sttl > 0 then redis.call('PEXPIRE', KEYS[1], sttl) end
end
return {seq, served, wc, ws, status, spend}
"""

#: KEYS: the API key's hash. ARGV: cost, credits|''. Returns {charged (1|0), spend}.
CHARGE = """
local spend = redis.call('HGET', KEYS[1], 'spend') or '0'
if ARGV[2] ~= '' and tonumber(spend) >= tonumber(ARGV[2]) then return {0, spend} end
spend = redis.call('HINCRBYFLOAT', KEYS[1], 'spend', ARGV[1])
redis.call('PERSIST', KEYS[1])
return {1, spend}
"""

#: KEYS: the state key's hash. ARGV: scenario, state TTL ms, by. Returns what the cursor served before.
ADVANCE = """
local served = redis.call('HINCRBY', KEYS[1], 'c:' .. ARGV[1], ARGV[3]) - tonumber(ARGV[3])
local ttl = tonumber(ARGV[2])
if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
return served
"""

_UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)


def shown_url(url: str) -> str:
    """A store URL as logs and errors show it: without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def check_reachable(url: str) -> None:
    """Raise :class:`StoreUnavailable` unless the Redis at ``url`` answers a PING (at start, so
    that ``serve`` says so in one line and exits)."""
    import redis

    url = _redis_url(url)
    client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
    try:
        client.ping()
    except (RedisError, OSError) as exc:
        raise StoreUnavailable(shown_url(url), _reason(exc)) from None
    finally:
        client.close()


@functools.lru_cache(maxsize=4096)
def _redis_url(url: str) -> str:
    """A ``valkey://`` URL as redis-py reads it (``redis://``; ``valkeys`` → ``rediss``)."""
    return "redis" + url[len("valkey") :] if store_scheme(url).startswith("valkey") else url


@contextlib.contextmanager
def _reaching(store: str) -> Iterator[None]:
    """Turn a Redis that cannot be reached (refused, timed out, gone) into :class:`StoreUnavailable`."""
    try:
        yield
    except _UNREACHABLE as exc:
        raise StoreUnavailable(store, _reason(exc)) from None


def _tag(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def key_hash(key: str) -> str:
    """The Redis key of an API key's rate window and spend."""
    return f"mr:{{{_tag(key)}}}:k"


def state_hash(key: str, state_key: str) -> str:
    """The Redis key of a state key's count and cursors (in its API key's slot)."""
    return f"mr:{{{_tag(key)}}}:s:{_tag(state_key)}"


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200].rstrip(".")


class RedisStore:
    """State in Redis, shared by every worker and host started with the same ``--store``.

    The process keeps a copy of the journal (``_mirror``), brought up to date from the stream
    when read; ``state`` holds what stays per process (the keyring, record modes, in-flight)."""

    def __init__(self, url: str, state: State, *, journal_size: int, ttl: float) -> None:
        if store_scheme(url) not in STORE_SCHEMES[1:]:
            raise ConfigError(f"--store {url!r}: use memory:// or redis://HOST:PORT/DB")
        url = _redis_url(url)
        self.url = shown_url(url)
        self.state = state
        self.size = journal_size
        self.ttl_ms = int(ttl * 1000)
        options: dict[str, Any] = {"socket_connect_timeout": 2, "retry": Retry(NoBackoff(), 1)}
        self.redis: aioredis.Redis = aioredis.Redis.from_url(url, socket_timeout=5, **options)
        #: For blocking reads (``wait``): no socket timeout of its own (each read blocks ``BLOCK_S`` at most).
        self._blocking: aioredis.Redis = aioredis.Redis.from_url(url, socket_timeout=None, **options)
        where = parse_url(url)
        if "path" in where:
            raise ConfigError(f"--store {self.url!r}: a Unix socket is not supported; use redis://HOST:PORT/DB")
        #: The request path's connection (``_resp.Wire``); redis-py's client does the rest.
        self._wire = Wire(
            where.get("host", "localhost"), int(where.get("port", 6379)), int(where.get("db", 0)),
            where.get("username"), where.get("password"), tls=store_scheme(url) == "rediss",
        )  # fmt: skip
        self._sha: dict[str, str] = {}
        self._ids = itertools.count(1)
        #: This process's journal id prefix: random, not a Redis counter, which a Redis that
        #: restarts empty would hand out again (ten digits: a clash among 100 processes ~ 5e-7).
        self._proc = str(int.from_bytes(os.urandom(8)) % 10**10).zfill(10)
        #: Writes waiting for the next round trip (packed commands, and how many): journal
        #: entries, charges without a credit limit.
        self._pending: deque[tuple[bytes, int]] = deque()
        self._flush: asyncio.TimerHandle | None = None
        self._flushing: asyncio.Task[None] | None = None
        self._mirror = Journal(journal_size)
        self._last = "0-0"
        self._gen: bytes | None = None
        self.round_trips = 0
        self.requests = 0
        self.lost = 0

    # -- life ------------------------------------------------------------------------------

    async def open(self) -> None:
        try:  # a Redis that refuses us (a wrong password, say) is as unavailable as one away
            await self.redis.ping()
            await self._load_scripts()
        except (*_UNREACHABLE, RedisError) as exc:
            raise StoreUnavailable(self.url, _reason(exc)) from None

    async def close(self) -> None:
        if self._flush is not None:
            self._flush.cancel()
        if self._flushing is not None and not self._flushing.done():
            self._flushing.cancel()
        with contextlib.suppress(StoreUnavailable):
            await self._write_pending()
        self._wire.close()
        await self.redis.aclose()
        await self._blocking.aclose()

    def next_id(self) -> str:
        return "req_" + self._proc + str(next(self._ids)).zfill(8)

    def info(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "host": socket.gethostname(),
            "worker": os.getpid(),
            "round_trips": self.round_trips,
            "requests": self.requests,
            "journal_waiting": len(self._pending),
        }

    async def ping(self) -> None:
        try:
            await self.redis.ping()
        except (*_UNREACHABLE, RedisError) as exc:
            raise StoreUnavailable(self.url, _reason(exc)) from None

    # -- one call, one round trip ----------------------------------------------------------

    async def _run(self, commands: list[tuple[Any, ...]], *, journal: bool = True) -> list[Any]:
        """Run ``commands`` in one round trip on the request path's connection, with the
        writes waiting (journal entries, charges: ``journal``); the replies to ``commands``. A
        script Redis lost (it restarted) is loaded again and the call repeated."""
        for attempt in (0, 1):
            sent = self._take() if journal else []
            packed = b"".join([*map(pack, commands), *(data for data, _ in sent)])
            self.round_trips += 1
            try:
                replies = await self._wire.call(packed, len(commands) + sum(n for _, n in sent))
            except ConnectionError as exc:
                self._pending.extendleft(reversed(sent))
                raise StoreUnavailable(self.url, _reason(exc)) from None
            mine = replies[: len(commands)]
            for reply in replies[len(commands) :]:
                if isinstance(reply, ReplyError):  # a write Redis refused (not an outage): not retried
                    self.lost += 1
            if attempt == 0 and any(isinstance(r, ReplyError) and str(r).startswith("NOSCRIPT") for r in mine):
                await self._load_scripts()
                continue
            for r in mine:
                if isinstance(r, ReplyError):
                    raise RuntimeError(f"Redis refused {commands[0][0]}: {r}")  # a bug, not an outage
            return mine
        raise AssertionError("unreachable")  # pragma: no cover

    async def _load_scripts(self) -> None:
        with _reaching(self.url):
            for name, script in (("begin", BEGIN), ("charge", CHARGE), ("advance", ADVANCE)):
                self._sha[name] = await self.redis.script_load(script)

    async def begin(self, op: Begin) -> Began:
        self.requests += 1
        window = op.window_s is not None
        args = (
            repr(time.time()), repr(op.window_s) if window else "", "", "1",
            "" if op.credits is None else repr(op.credits), repr(op.need), op.scenario or "", "1",
            self.ttl_ms, 0 if op.keep else self.ttl_ms, who(op.state_key),
        )  # fmt: skip
        keys = (state_hash(op.key, op.state_key), key_hash(op.key))

        commands = [("EVALSHA", self._sha["begin"], 2, *keys, *args), ("GET", SCOPED_VER)]
        (seq, served, wc, ws, status, spend), version = await self._run(commands)
        return Began(
            seq=int(seq), served=int(served), window_count=int(wc), window_start=float(ws),
            spent=float(spend), refused=int(status) == 2, scoped=None if version is None else version.decode(),
        )  # fmt: skip

    async def advance(self, scenario: str, state_key: str, key: str, by: int = 1) -> int:
        command = ("EVALSHA", self._sha["advance"], 1, state_hash(key, state_key), scenario, self.ttl_ms, by)
        (served,) = await self._run([command])
        return int(served)

    async def window(
        self, key: str, window_s: float, now: float, *, count: bool = True, limit: int | None = None
    ) -> tuple[int, float, bool]:
        args = (repr(now), repr(window_s), "" if limit is None else str(limit), "1" if count else "0",
                "", "0", "", "0", 0, self.ttl_ms, "")  # fmt: skip
        command = ("EVALSHA", self._sha["begin"], 2, state_hash(key, key), key_hash(key), *args)
        ((_, _, wc, ws, status, _),) = await self._run([command])
        return int(wc), float(ws), int(status) == 1

    async def charge(self, key: str, cost: float, credits: float | None = None) -> bool:
        if credits is None:  # nothing to check: written with the next round trip, as journal entries are
            name = key_hash(key)
            self._pending.append(
                (pack(("HINCRBYFLOAT", name, "spend", repr(float(cost)))) + pack(("PERSIST", name)), 2)
            )
            self._schedule_flush()
            return True
        command = ("EVALSHA", self._sha["charge"], 1, key_hash(key), repr(float(cost)), repr(credits))
        ((charged, _),) = await self._run([command])
        return int(charged) == 1

    async def spent(self, key: str) -> float:
        (spend,) = await self._run([("HGET", key_hash(key), "spend")])
        return float(spend or 0)

    # -- the journal -----------------------------------------------------------------------

    def journal_add(self, entry: JournalEntry) -> None:
        command = ("XADD", JOURNAL, "MAXLEN", "=", self.size, "*", "e", encode_entry(entry))
        self._pending.append((pack(command), 1))
        while len(self._pending) > self.size:  # Redis away for long: the oldest go first, counted
            self._pending.popleft()
            self.lost += 1
        self._schedule_flush()

    def _schedule_flush(self) -> None:
        if self._flush is None:  # busy: the next request's round trip takes it, else in FLUSH_DELAY_S
            loop = asyncio.get_running_loop()
            delay = FLUSH_DELAY_S if self.state.in_flight > 1 else 0.0  # idle: at once, for readers elsewhere
            self._flush = loop.call_later(delay, self._start_flush)

    def _take(self) -> list[tuple[bytes, int]]:
        sent = list(self._pending)
        self._pending.clear()
        return sent

    def _start_flush(self) -> None:
        self._flush = None
        if self._pending and (self._flushing is None or self._flushing.done()):
            self._flushing = asyncio.ensure_future(self._flush_loop())

    async def _flush_loop(self) -> None:
        while self._pending:
            try:
                await self._write_pending()
            except StoreUnavailable:
                await asyncio.sleep(RETRY_S)

    async def _write_pending(self) -> None:
        if self._pending:
            await self._run([])

    async def journal(self) -> Journal:
        await self._write_pending()
        with _reaching(self.url):
            pipe = self.redis.pipeline(transaction=False)
            pipe.get(JOURNAL_GEN)
            pipe.xrange(JOURNAL, "(" + self._last, "+")
            gen, fresh = await pipe.execute()
            if gen is None:  # a Redis that restarted empty (or never had one): mark this generation
                await self.redis.set(JOURNAL_GEN, os.urandom(8).hex(), nx=True)
                gen = await self.redis.get(JOURNAL_GEN)
            if gen != self._gen:  # entries were deleted (a reset, a restarted Redis): read them all again
                self._gen, self._mirror, self._last = gen, Journal(self.size), "0-0"
                fresh = await self.redis.xrange(JOURNAL, "-", "+")
        mirror = self._mirror
        for stream_id, fields in fresh:
            self._last = stream_id.decode()
            entry = decode_entry(fields[b"e"])
            if entry.id not in mirror:  # written twice after a lost reply: once here
                mirror.add(entry)
        mirror.dropped = max(mirror.dropped, self.lost)
        return mirror

    async def journal_changed(self, timeout: float) -> None:
        last = self._last
        with _reaching(self.url):
            await self._blocking.xread({JOURNAL: last}, count=1, block=max(int(min(timeout, BLOCK_S) * 1000), 1))

    async def cursors(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        with _reaching(self.url):
            async for name in self.redis.scan_iter(match="mr:{*}:s:*", count=1000):
                fields: Any = await self.redis.hgetall(name)
                label = fields.get(b"w", b"?").decode()
                for field, value in fields.items():
                    if field.startswith(b"c:"):
                        out.append({"scenario": field[2:].decode(), "who": label, "served": int(value)})
        return out

    # -- resets and scoped scenarios ---------------------------------------------------------

    async def _unlink(self, pattern: str, keep: tuple[str, ...] = ()) -> None:
        kept = {k.encode() for k in keep}
        batch: list[bytes] = []
        async for name in self.redis.scan_iter(match=pattern, count=1000):
            if name in kept:
                continue
            batch.append(name)
            if len(batch) >= 500:
                await self.redis.unlink(*batch)
                batch = []
        if batch:
            await self.redis.unlink(*batch)

    async def _drop_entries(self, test: str | None = None, key: str | None = None) -> None:
        doomed: list[bytes] = []
        stream: Any = await self.redis.xrange(JOURNAL, "-", "+")
        for stream_id, fields in stream:
            entry = decode_entry(fields[b"e"])
            if (key is not None and entry.key == key) or (test is not None and entry.test == test):
                doomed.append(stream_id)
        for i in range(0, len(doomed), 500):
            await self.redis.xdel(JOURNAL, *doomed[i : i + 500])

    async def _new_generation(self) -> None:
        await self.redis.set(JOURNAL_GEN, os.urandom(8).hex())

    async def reset(self, key: str | None = None) -> None:
        await self._write_pending()
        with _reaching(self.url):
            if key is None:  # scenarios added without a scope stay, as they do in each process
                await self._unlink(_PREFIX + "*", keep=(SCOPED,))
                await self._drop_scoped(lambda r: r.get("key") is not None or r.get("test") is not None)
            else:
                await self.redis.unlink(key_hash(key), state_hash(key, key))
                await self._drop_entries(key=key)
                await self._drop_scoped(lambda r: r.get("key") == key and r.get("test") is None)
            await self._new_generation()
            await self.redis.incr(SCOPED_VER)
        if key is None:
            self.state.reset()

    async def reset_test(self, test: str) -> None:
        await self._write_pending()
        with _reaching(self.url):
            await self._unlink(f"mr:{{*}}:s:{_tag(TEST_PREFIX + test)}")
            await self._drop_entries(test=test)
            await self._drop_scoped(lambda r: r.get("test") == test)
            await self._new_generation()
            await self.redis.incr(SCOPED_VER)

    async def _drop_scoped(self, doomed: Any) -> None:
        kept = [r for r in await self.redis.lrange(SCOPED, 0, -1) if not doomed(orjson.loads(r))]
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(SCOPED)
        if kept:
            pipe.rpush(SCOPED, *kept)
        await pipe.execute()

    async def add_scoped(self, record: dict[str, Any]) -> str | None:
        with _reaching(self.url):
            pipe = self.redis.pipeline(transaction=True)
            pipe.rpush(SCOPED, orjson.dumps(record))
            pipe.incr(SCOPED_VER)
            _, version = await pipe.execute()
        return str(version)

    async def scoped(self) -> tuple[str | None, list[dict[str, Any]]]:
        with _reaching(self.url):
            pipe = self.redis.pipeline(transaction=True)
            pipe.get(SCOPED_VER)
            pipe.lrange(SCOPED, 0, -1)
            version, records = await pipe.execute()
        return (None if version is None else version.decode()), [orjson.loads(r) for r in records]
