"""Mutable server state, all of it in one place: the request journal, step cursors and
per-key counters. Owned by the app (``app.state``); nothing here is global.

With ``--state-ttl`` (:meth:`State.expire_idle`) the state of a key, session or test idle
longer than the TTL is dropped: its counters, cursors, record mode and recordings. A request
stamps its key's ``KeyState.seen`` (``next_request``); at most once per TTL/4 a request also
sweeps every key, O(keys), so a key goes between 1 and 1.25 TTLs after its last request.
Keys of the keyring keep everything (what they spent must survive). Scoped scenarios stay:
they are keyed by API key or test, not by the state key a request stamps, and are added
before a key's first request (``POST /__mockrouter/reset`` drops them).

:class:`State` is the one interface the rest of mockrouter uses for state; a shared store
(Redis, for many workers) implements the same methods.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from .journal import Journal
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
