"""Mutable server state, behind one interface: the journal (``journal``), cursors and per-key
counters (``store``), keys with limits (``keys``), and what the journal says about a
client's resilience (``report``). Nothing here is global: the app owns one store.
"""
