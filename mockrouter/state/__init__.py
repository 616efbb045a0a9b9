"""Mutable server state, behind one interface: the journal (``journal``), cursors and per-key
counters (``store``), keys with limits (``keys``), and what the journal says about a
client's resilience (``report``). Nothing here is global: the app owns one store.
"""

from __future__ import annotations

from .store import MemoryStore, State, Store

__all__ = ["make_store"]


def make_store(url: str, state: State, *, journal_size: int, ttl: float) -> Store:
    """The store ``--store URL`` names (``memory://``: :class:`~.store.MemoryStore`; ``redis://``:
    :class:`~.redis.RedisStore`, imported only then). Not connected yet: ``await store.open()``."""
    if url.startswith("memory://"):
        return MemoryStore(state)
    from .redis import RedisStore

    return RedisStore(url, state, journal_size=journal_size, ttl=ttl)
