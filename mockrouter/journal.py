"""Journal entries: what a request looked like and what was answered, minus secrets."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

#: Headers whose values never reach the journal.
SECRET_HEADERS = frozenset({"authorization", "x-api-key", "cookie", "x-mockrouter-admin-token", "proxy-authorization"})
REDACTED = "[REDACTED]"
#: Entry fields kept for the server's own use and never shown.
PRIVATE = ("_key",)


def redact(headers: dict[str, str]) -> dict[str, str]:
    """A copy of ``headers`` with every secret value replaced."""
    out = dict(headers)
    for name in SECRET_HEADERS.intersection(out):
        out[name] = REDACTED
    return out


#: Every field an entry shows; a request sets only those that apply (cheap on the hot path).
DEFAULTS: dict[str, Any] = {
    "body": None,
    "scenario": None,
    "step": None,
    "selected_by": None,
    "status": None,
    "stream": False,
    "fault": None,
    "error": None,
    "retry_after_s": None,
    "ttft_ms": None,
    "duration_ms": None,
    "bytes_sent": 0,
    "chunks_sent": 0,
    "client_disconnected": False,
    "disconnected_after_ms": None,
    "unmatched": False,
    "near_misses": None,
    "generation_id": None,
    "expected": None,
    "model": None,
    "provider": None,
    "finish_reason": None,
    "usage": None,
    "fuzz_seed": None,
}


def new_entry(
    entry_id: str, method: str, path: str, query: str, headers: dict[str, str], key: str | None, dialect: str
) -> dict[str, Any]:
    return {
        "id": entry_id,
        "ts": time.time(),
        "method": method,
        "path": path,
        "query": query,
        "headers": redact(headers),
        "key_hint": key[-4:] if key else None,
        "dialect": dialect,
        "_key": key,
    }


def public(entry: dict[str, Any]) -> dict[str, Any]:
    """The entry as the admin API shows it (``time`` and defaults filled in here, off the hot path)."""
    out = {"id": entry["id"], "time": iso_time(entry["ts"])}
    out.update((k, v) for k, v in entry.items() if k not in PRIVATE)
    for k, v in DEFAULTS.items():
        out.setdefault(k, v)
    return out


def iso_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
