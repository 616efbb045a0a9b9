"""Mutable server state, all of it in one place: the request journal, step cursors and
per-key request counters. Owned by the app (``app.state``); nothing here is global.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .journal import pack, unpack

if TYPE_CHECKING:
    from .keys import Keyring

#: A test of one stored (packed) journal entry.
Where = Callable[[dict[str, Any]], bool]


@dataclass(slots=True)
class Page:
    """A page of journal entries (packed, oldest first) and the cursors around it: ``previous``
    (pass it as ``before``) and ``next`` (pass it as ``since``), None when nothing lies that way."""

    entries: list[dict[str, Any]]
    previous: str | None
    next: str | None


class Journal:
    """The request journal: a bounded store, oldest entries dropped (and counted) first.

    Entries are stored packed (``journal.pack``: no containers, so the garbage collector
    leaves them alone) and handed out unpacked copies by ``get``, ``query`` and iteration.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: deque[dict[str, Any]] = deque(maxlen=size)
        self._by_id: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)
        self.dropped = 0
        self._changed = asyncio.Event()
        self.watchers = 0

    def next_id(self) -> str:
        return "req_" + str(next(self._ids)).zfill(8)  # f"{n:08d}" parses its format spec each time

    def add(self, entry: dict[str, Any]) -> None:
        """Keep ``entry`` (packed in place: the caller must not use it afterwards)."""
        pack(entry)
        if len(self._entries) == self.size:
            old = self._entries[0]
            self._by_id.pop(old["id"], None)
            self.dropped += 1
        self._entries.append(entry)
        self._by_id[entry["id"]] = entry
        if self.watchers:  # only a waiting admin call pays for the event
            self._changed.set()
            self._changed = asyncio.Event()

    def changed(self) -> asyncio.Event:
        """An event set at the next ``add``; count yourself in ``watchers`` while waiting on it."""
        return self._changed

    def _matching(self, key: str | None, where: Where | None) -> Iterator[dict[str, Any]]:
        """Stored (packed) entries of ``key`` for which ``where`` holds, oldest first: filtering
        before unpacking, so a reader pays for the entries it wants, not the whole journal."""
        return (e for e in self._entries if (key is None or e["_key"] == key) and (where is None or where(e)))

    def count(self, key: str | None = None, where: Where | None = None) -> int:
        """Entries (of ``key``); with ``where``, those it holds for (it sees packed entries: scalars only)."""
        if key is None and where is None:
            return len(self._entries)
        return sum(1 for _ in self._matching(key, where))

    def last_time(self, key: str, where: Where | None = None) -> float | None:
        """When the newest entry of ``key`` (that ``where`` holds for) started: its ``ts``, or None."""
        return max((e["ts"] for e in self._matching(key, where)), default=None)

    def get(self, entry_id: str) -> dict[str, Any] | None:
        entry = self._by_id.get(entry_id)
        return None if entry is None else unpack(entry)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return map(unpack, list(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def query(
        self,
        *,
        key: str | None = None,
        scenario: str | None = None,
        unmatched: bool = False,
        where: Where | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Entries (unpacked copies) oldest first; with ``limit``, the newest ``limit`` of them.
        ``where`` sees packed entries: test scalar fields only."""
        found = [
            e
            for e in self._matching(key, where)
            if (scenario is None or e.get("scenario") == scenario) and (not unmatched or e.get("unmatched"))
        ]
        if limit is not None:
            found = found[-limit:] if limit > 0 else []
        return [unpack(e) for e in found]

    def page(
        self,
        *,
        key: str | None = None,
        scenario: str | None = None,
        unmatched: bool = False,
        since: str | None = None,
        before: str | None = None,
        limit: int,
    ) -> Page:
        """One page of the entries that ``query`` would list, oldest first (packed: the caller
        unpacks what it shows).

        ``since=ID``: the oldest ``limit`` entries journaled after entry ID (``"0"``: from the
        oldest); ``before=ID``: the newest ``limit`` journaled before it; neither: the newest
        ``limit``. The journal's order is the order requests ended in, so the cursor is the
        entry's place in it, not the number in its id. An id no longer in the journal (dropped
        or reset) counts as older than every entry kept."""
        cursor = since if since is not None else before
        target = None if cursor is None else self._by_id.get(cursor)
        found: list[dict[str, Any]] = []
        split = 0  # matching entries journaled before the cursor's entry
        for e in self._entries:
            if e is target:
                split = len(found)
            if (
                (key is None or e["_key"] == key)
                and (scenario is None or e.get("scenario") == scenario)
                and (not unmatched or e.get("unmatched"))
            ):
                found.append(e)
        if since is not None:
            begin = split + (target is not None and split < len(found) and found[split] is target)
            end = min(begin + limit, len(found))
        else:
            end = len(found) if before is None else split
            begin = max(end - limit, 0)
        entries = found[begin:end]
        return Page(
            entries,
            previous=entries[0]["id"] if entries and begin > 0 else None,
            next=entries[-1]["id"] if entries and end < len(found) else None,
        )

    def clear(self, key: str | None = None) -> None:
        if key is None:
            self._entries.clear()
            self._by_id.clear()
            return
        kept = [e for e in self._entries if e["_key"] != key]
        self._entries = deque(kept, maxlen=self.size)
        self._by_id = {e["id"]: e for e in kept}


@dataclass
class KeyState:
    """What one API key (or ``X-Mockrouter-Session``) has accumulated."""

    requests: int = 0
    window_start: float = 0.0
    window_count: int = 0
    #: USD charged to a key of the keyring (its ``usage.cost`` summed); credits left = limit - usage.
    usage: float = 0.0


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
