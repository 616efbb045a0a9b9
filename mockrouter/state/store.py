"""Mutable server state, all of it in one place: the request journal, step cursors and
per-key counters. Owned by the app (``app.state``); nothing here is global.

With ``--state-ttl`` (:meth:`State.expire_idle`) the state of a key, session or test idle
longer than the TTL is dropped: its counters, cursors, record mode and recordings. A request
stamps its key's ``KeyState.seen`` (``next_request``); at most once per TTL/4 a request also
sweeps every key, O(keys), so a key goes between 1 and 1.25 TTLs after its last request.
Keys of the keyring keep everything (what they spent must survive). Scoped scenarios stay:
they are keyed by API key or test, not by the state key a request stamps, and are added
before a key's first request (``POST /__mockrouter/reset`` drops them).

:class:`State` holds one process's state. The request path changes it through a
:class:`Store` (below): :class:`MemoryStore` over a ``State``, or ``state.redis.RedisStore``,
which keeps the same things in Redis for many workers and hosts.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from .journal import Journal, JournalEntry
from .keys import Keyring, KeyState

#: The state key (and scenario scope) of a test is this prefix and its ``X-Mockrouter-Test`` id:
#: a NUL cannot be in a header value, so no API key or session names the same state.
TEST_PREFIX = "\x00test:"


def state_key(key: str, session: str | None, test: str | None) -> str:
    """Whose cursors and counters a request moves: its ``X-Mockrouter-Session``, else its
    ``X-Mockrouter-Test``, else its API key."""
    if session:
        return session
    return TEST_PREFIX + test if test else key


def who(state_key: str) -> str:
    """Whose cursor a state key moves, as the inspector shows it: ``test NAME``, or the last
    four characters of an API key or session (``key …abcd``: a key is a secret)."""
    if state_key.startswith(TEST_PREFIX):
        return "test " + state_key[len(TEST_PREFIX) :]
    return "key …" + state_key[-4:]


@dataclass
class State:
    journal: Journal
    cursors: dict[tuple[str, str], int] = field(default_factory=dict)
    keys: dict[str, KeyState] = field(default_factory=dict)
    #: Router requests being served now, and when the last one started or ended (monotonic).
    in_flight: int = 0
    last_activity: float = field(default_factory=time.monotonic)
    #: Keys with limits (``--keys FILE`` or the keys API); None = every key is unlimited.
    keyring: Keyring | None = None
    #: Record-and-replay modes of single keys (the pytest plugin's cassettes), over ``--mode``.
    record_modes: dict[str, str] = field(default_factory=dict)
    #: What was recorded for those keys (``record.Recording.as_dict()``), until the key is reset.
    recordings: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: Seconds a key may be idle before its state goes (``--state-ttl``); 0: never.
    ttl: float = 0.0
    #: When (monotonic) a request next sweeps idle keys; never while ``ttl`` is 0.
    sweep_at: float = math.inf

    def expire_idle(self, ttl: float) -> None:
        """Drop the state of keys idle longer than ``ttl`` seconds (0: keep it forever)."""
        self.ttl = ttl
        self.sweep_at = time.monotonic() + ttl / 4 if ttl > 0 else math.inf

    def key(self, state_key: str) -> KeyState:
        """The counters of a key (made on first use). Read them; change them through the
        methods below, so that a shared store can make each change one atomic step."""
        ks = self.keys.get(state_key)
        if ks is None:
            ks = self.keys[state_key] = KeyState()
        return ks

    def started(self) -> None:
        """A router request began (``in_flight`` counts it until ``ended``)."""
        self.in_flight += 1

    def ended(self) -> None:
        """A router request ended: the server has been idle since now if none is left."""
        self.in_flight -= 1
        self.last_activity = time.monotonic()

    def next_request(self, state_key: str) -> int:
        """Count a request of ``state_key``; its number (1 for the first)."""
        ks = self.key(state_key)
        ks.requests += 1
        ks.seen = now = time.monotonic()
        if now >= self.sweep_at:
            self.sweep(now)
        return ks.requests

    def sweep(self, now: float) -> list[str]:
        """Drop the state of every key idle for longer than the TTL (``seen`` before
        ``now - ttl``), but for keyring keys and keys that were billed; the keys dropped."""
        self.sweep_at = now + self.ttl / 4
        before = now - self.ttl
        keyring = self.keyring.by_key if self.keyring is not None else {}
        idle = [k for k, ks in self.keys.items() if ks.seen < before and not ks.usage and k not in keyring]
        if not idle:
            return idle
        for k in idle:
            del self.keys[k]
            self.record_modes.pop(k, None)
            self.recordings.pop(k, None)
        gone = set(idle)
        self.cursors = {k: v for k, v in self.cursors.items() if k[1] not in gone}
        return idle

    def charge(self, key: str, cost: float) -> None:
        """Bill ``cost`` (USD) to a key of the keyring."""
        self.key(key).usage += cost

    def spent(self, key: str) -> float:
        """USD billed to ``key`` so far."""
        ks = self.keys.get(key)
        return ks.usage if ks is not None else 0.0

    def rate_window(
        self, key: str, window_s: float, now: float, *, count: bool = True, limit: int | None = None
    ) -> tuple[int, float, bool]:
        """The key's fixed rate window of ``window_s`` seconds (a new one once the last is over):
        count this request in it when ``count``, and with ``limit`` only while the window has
        room. Returns the requests counted in the window, when it started (unix seconds), and
        whether this request was admitted."""
        ks = self.key(key)
        if now - ks.window_start >= window_s:
            ks.window_start = now
            ks.window_count = 0
        admitted = limit is None or ks.window_count < limit
        if count and admitted:
            ks.window_count += 1
        return ks.window_count, ks.window_start, admitted

    def advance(self, scenario: str, state_key: str) -> int:
        """Return how many requests this (scenario, key) has had before, and count this one."""
        k = (scenario, state_key)
        n = self.cursors.get(k, 0)
        self.cursors[k] = n + 1
        return n

    def reset(self, state_key: str | None = None) -> None:
        if state_key is None:
            self.cursors.clear()
            self.keys.clear()
            self.journal.clear()
            self.record_modes.clear()
            self.recordings.clear()
            if self.keyring is not None:  # back to the keys file (created keys dropped)
                self.keyring.restore()
                if not self.keyring.enforce:
                    self.keyring = None
            return
        self.cursors = {k: v for k, v in self.cursors.items() if k[1] != state_key}
        self.keys.pop(state_key, None)
        self.journal.clear(state_key)
        self.record_modes.pop(state_key, None)
        self.recordings.pop(state_key, None)

    def reset_test(self, test: str) -> None:
        """Forget one test's cursors, counters and journal entries (``X-Mockrouter-Test``)."""
        own = TEST_PREFIX + test
        self.cursors = {k: v for k, v in self.cursors.items() if k[1] != own}
        self.keys.pop(own, None)
        self.journal.clear(test=test)


# -- the store interface -------------------------------------------------------------------


@dataclass(slots=True)
class Begin:
    """What a request's state change is, asked in one call (one round trip to a shared store):
    count its key's rate window, check its credit, count the request and advance one cursor."""

    #: Whose request count and cursors move (``state_key``).
    state_key: str
    #: Whose rate window and credit (the raw API key).
    key: str
    #: Count the key's fixed rate window of this many seconds (None: counted elsewhere).
    window_s: float | None = None
    #: Refuse (``Began.refused``) when the key has no credit left or cannot afford ``need`` USD.
    credits: float | None = None
    need: float = 0.0
    #: Advance this scenario's cursor (None: none yet, e.g. a chaos roll comes first).
    scenario: str | None = None
    #: A keyring key: its window and spend never expire (``--state-ttl``).
    keep: bool = False


@dataclass(slots=True)
class Began:
    #: The request's number for its state key (1 for the first); 0 when refused.
    seq: int = 0
    #: Requests the cursor served before this one (-1: no cursor advanced).
    served: int = -1
    #: The rate window after counting this request, and when it started (unix seconds).
    window_count: int = 0
    window_start: float = 0.0
    #: USD spent by the key before this request.
    spent: float = 0.0
    #: No credit left (the request changed nothing but the rate window).
    refused: bool = False
    #: The shared scoped-scenario version (None: the store is not shared).
    scoped: str | None = None


class Store(Protocol):
    """All mutable state of the answers, behind one interface: ``memory://`` (:class:`MemoryStore`,
    one process) or ``redis://`` (``state.redis.RedisStore``, any number of workers and hosts).

    Every method that may need a round trip is a coroutine; the memory store's never suspend."""

    url: str
    #: Process-local state: the keyring, record modes, in-flight requests (and, in memory, everything).
    state: State

    async def open(self) -> None:
        """Connect (raises ``StoreUnavailable``) and start background work; ``close`` ends it."""

    async def close(self) -> None: ...

    def next_id(self) -> str:
        """A journal id unique among every process sharing the store."""

    async def begin(self, op: Begin) -> Began: ...

    async def advance(self, scenario: str, state_key: str, key: str, by: int = 1) -> int:
        """Count a request on ``scenario``'s cursor (``by=-1``: give one back); how many it served before."""

    async def window(
        self, key: str, window_s: float, now: float, *, count: bool = True, limit: int | None = None
    ) -> tuple[int, float, bool]:
        """``State.rate_window`` as one atomic step."""

    async def charge(self, key: str, cost: float, credits: float | None = None) -> bool:
        """Bill ``cost`` USD to ``key``, unless (``credits`` given) it has spent them all: False then."""

    async def spent(self, key: str) -> float: ...

    def journal_add(self, entry: JournalEntry) -> None:
        """Keep a finished request's entry (written to a shared store just after)."""

    async def journal(self) -> Journal:
        """The journal with every process's entries (a shared store's: synced now)."""

    async def journal_changed(self, timeout: float) -> None:
        """Return when an entry is added by any process, or after ``timeout`` seconds."""

    async def reset(self, key: str | None = None) -> None: ...

    async def reset_test(self, test: str) -> None: ...

    async def add_scoped(self, record: dict[str, Any]) -> str | None:
        """Share scenarios added to a scope (``{"key", "test", "text", "json"}``); the new version
        (None: the store is not shared, the caller's engine is all there is)."""

    async def scoped(self) -> tuple[str | None, list[dict[str, Any]]]:
        """The shared scoped-scenario version and records, oldest first."""

    def info(self) -> dict[str, Any]:
        """What ``GET /__mockrouter/health`` shows of the store."""

    async def cursors(self) -> list[dict[str, Any]]:
        """Every scenario cursor: ``{"scenario", "who", "served"}`` (``who``: :func:`who`)."""


class MemoryStore:
    """The state of one process, in its memory (``--store memory://``, the default)."""

    url = "memory://"

    def __init__(self, state: State) -> None:
        self.state = state

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def next_id(self) -> str:
        return self.state.journal.next_id()

    async def begin(self, op: Begin) -> Began:
        state = self.state
        out = Began()
        if op.window_s is not None:
            out.window_count, out.window_start, _ = state.rate_window(op.key, op.window_s, time.time())
        if op.credits is not None:
            out.spent = spent = state.spent(op.key)
            remaining = op.credits - spent
            if remaining <= 0 or op.need > remaining:
                out.refused = True
                return out
        out.seq = state.next_request(op.state_key)
        if op.scenario is not None:
            out.served = state.advance(op.scenario, op.state_key)
        return out

    async def advance(self, scenario: str, state_key: str, key: str, by: int = 1) -> int:
        if by == 1:
            return self.state.advance(scenario, state_key)
        cursors = self.state.cursors
        served = cursors.get((scenario, state_key), 0)
        cursors[(scenario, state_key)] = max(served + by, 0)
        return served

    async def window(
        self, key: str, window_s: float, now: float, *, count: bool = True, limit: int | None = None
    ) -> tuple[int, float, bool]:
        return self.state.rate_window(key, window_s, now, count=count, limit=limit)

    async def charge(self, key: str, cost: float, credits: float | None = None) -> bool:
        if credits is not None and self.state.spent(key) >= credits:
            return False
        self.state.charge(key, cost)
        return True

    async def spent(self, key: str) -> float:
        return self.state.spent(key)

    def journal_add(self, entry: JournalEntry) -> None:
        self.state.journal.add(entry)

    async def journal(self) -> Journal:
        return self.state.journal

    async def journal_changed(self, timeout: float) -> None:
        journal = self.state.journal
        journal.watchers += 1
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(journal.changed().wait(), timeout)
        finally:
            journal.watchers -= 1

    async def reset(self, key: str | None = None) -> None:
        self.state.reset(key)

    async def reset_test(self, test: str) -> None:
        self.state.reset_test(test)

    async def add_scoped(self, record: dict[str, Any]) -> str | None:
        return None

    async def scoped(self) -> tuple[str | None, list[dict[str, Any]]]:
        return None, []

    def info(self) -> dict[str, Any]:
        return {"url": self.url}

    async def cursors(self) -> list[dict[str, Any]]:
        return [{"scenario": s, "who": who(k), "served": n} for (s, k), n in self.state.cursors.items()]
