"""Mutable server state, all of it in one place: the request journal, step cursors and
per-key counters. Owned by the app (``app.state``); nothing here is global.

:class:`State` is the one interface the rest of mockrouter uses for state; a shared store
(Redis, for many workers) implements the same methods.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .journal import Journal
from .keys import Keyring, KeyState


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

    def key(self, state_key: str) -> KeyState:
        ks = self.keys.get(state_key)
        if ks is None:
            ks = self.keys[state_key] = KeyState()
        return ks

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
            if self.keyring is not None:  # back to the keys file (created keys dropped)
                self.keyring.restore()
                if not self.keyring.enforce:
                    self.keyring = None
            return
        self.cursors = {k: v for k, v in self.cursors.items() if k[1] != state_key}
        self.keys.pop(state_key, None)
        self.journal.clear(state_key)
